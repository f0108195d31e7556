"""A containerd that is down: the node goes NotReady, the agent keeps running, and everything recovers.

The agent runs with ``--container-runtime-endpoint`` against a containerd this test starts itself
(kubelite's own config in a private directory), so the test can stop that containerd by its PID and
keep it down as long as it likes, then start it again on the same state. Afterwards everything is
removed as in test_kubelet_pods.py (agent and containerd by PID, shims, mounts, cgroups, directory).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state
from e2e_harness import Server, start_server, stop_server

from kubelite.agent.kubelet.pod_container_manager import cgroup_mount_points
from kubelite.cri import RuntimeClient
from kubelite.cri.client import CriError
from kubelite.cri.containerd import ContainerdConfig
from kubelite.cri.images import busybox_rootfs, pack_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration]

BUSYBOX = "kubelite.local/busybox:runtime-down"


class Runtime:
    """containerd with kubelite's config, started and stopped by this test (by PID)."""

    def __init__(self, base: Path) -> None:
        self.config = ContainerdConfig.detect(data_dir=base / "rt", cni_bin_dir=base / "cni" / "bin",
                                              cni_conf_dir=base / "cni" / "conf")
        self.config.write()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.config.paths.log.open("ab") as log:
            self.process = subprocess.Popen(["containerd", "--config", str(self.config.paths.config)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)

        async def ready() -> None:
            async with RuntimeClient(self.config.address, timeout=2) as cri:
                await cri.wait_ready(30)

        asyncio.run(ready())

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(what: str, probe: Callable[[], Any], log: Path, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\nagent log:\n{log.read_text()[-4000:]}")


def _get(server: Server, kind: str, name: str) -> dict[str, Any] | None:
    done = server.kubectl("get", kind, name, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _ready(node: dict[str, Any] | None) -> tuple[str, str] | None:
    for cond in (node or {}).get("status", {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return cond["status"], cond.get("message", "")
    return None


def _pod(name: str, node: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                       "spec": {"nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]}})


@pytest.fixture
def setup() -> Iterator[tuple[Server, Runtime, subprocess.Popen[bytes], str, Path]]:
    base = Path(tempfile.mkdtemp(prefix="klrd-"))
    cgroup_root = f"/kubelite-test-{uuid.uuid4().hex[:12]}"
    (base / "s").mkdir()
    server = start_server(base / "s")
    runtime = Runtime(base)
    agent: subprocess.Popen[bytes] | None = None
    node = f"rd-{uuid.uuid4().hex[:8]}"
    log = base / "agent.log"
    try:
        images = base / "d" / "agent" / "images"
        images.mkdir(parents=True)
        pack_rootfs(busybox_rootfs(base / "busybox"), tag=BUSYBOX, cmd=["sh"], output=images / "busybox.tar")
        runtime.start()
        with log.open("ab") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "kubelite", "agent", "--data-dir", str(base / "d"), "--server",
                 f"https://127.0.0.1:{server.port}", "--kubeconfig", str(server.kubeconfig), "--node-name", node,
                 "--node-ip", "127.0.0.1", "--cgroup-root", cgroup_root, "--container-runtime-endpoint",
                 runtime.config.address, "--disable", "kubelet-server", "--disable", "pod-network",
                 "--disable", "proxy"], stdout=out, stderr=subprocess.STDOUT)
        yield server, runtime, agent, node, log
    finally:
        try:
            if agent is not None and agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                try:
                    agent.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    agent.kill()
                    agent.wait()
            if runtime.process is None:
                # the pods' shims and containers outlived the stopped containerd: remove them through the CRI
                runtime.start()

            async def remove_sandboxes() -> None:
                async with RuntimeClient(runtime.config.address, timeout=30) as cri:
                    for sandbox in (await cri.list_pod_sandbox()).items:
                        try:
                            await cri.stop_pod_sandbox(pod_sandbox_id=sandbox.id)
                            await cri.remove_pod_sandbox(pod_sandbox_id=sandbox.id)
                        except CriError:
                            pass

            try:
                asyncio.run(remove_sandboxes())
            except CriError:
                pass
            runtime.stop()
        finally:
            stop_server(server)
            _release_host_state(base, runtime.config.paths.socket, cgroup_root)
            for hierarchy in cgroup_mount_points():
                top = hierarchy / cgroup_root.lstrip("/")
                if top.is_dir():
                    shutil.rmtree(top, ignore_errors=True)  # rmdir-only tree: leftover empty cgroups
            shutil.rmtree(base, ignore_errors=True)


def test_a_stopped_containerd_makes_the_node_not_ready_and_pods_recover_when_it_is_back(
        setup: tuple[Server, Runtime, subprocess.Popen[bytes], str, Path]) -> None:
    server, runtime, agent, node, log = setup
    # no pod network in this test (hostNetwork pods): Ready stays False for the network, never for the runtime
    _wait("the node to report its runtime up", lambda: (r := _ready(_get(server, "node", node)))
          and "container runtime is down" not in r[1], log, 90)
    server.kubectl("apply", "-f", "-", input=_pod("before", node))
    before = _wait("pod before to run", lambda: (p := _get(server, "pod", "before"))
                   and p["status"].get("phase") == "Running" and p, log)
    container_id = before["status"]["containerStatuses"][0]["containerID"]

    runtime.stop()  # by our own PID; the pod's shim and container live on without it
    ready = _wait("the node to say its runtime is down", lambda: (r := _ready(_get(server, "node", node)))
                  and "container runtime is down" in r[1] and r, log, 40)
    assert ready[0] == "False", ready
    server.kubectl("apply", "-f", "-", input=_pod("during", node))
    uid = _wait("pod during to exist", lambda: (p := _get(server, "pod", "during")) and p["metadata"]["uid"], log)
    # the kubelet retries the pod against the down runtime with back-off; none of that may end the agent
    _wait("two retries of pod during", lambda: log.read_text().count(f"pod {uid}: ") >= 2, log, 30)
    assert agent.poll() is None, log.read_text()[-4000:]
    during = _get(server, "pod", "during")
    assert during is not None and during["status"].get("phase", "Pending") == "Pending"

    runtime.start()  # same state: containerd finds the running pod again
    _wait("the node to report its runtime up again", lambda: (r := _ready(_get(server, "node", node)))
          and "container runtime is down" not in r[1], log, 40)
    _wait("pod during to run", lambda: (p := _get(server, "pod", "during"))
          and p["status"].get("phase") == "Running", log)
    after = _get(server, "pod", "before")
    assert after is not None and after["status"]["phase"] == "Running"
    status = after["status"]["containerStatuses"][0]
    assert status["containerID"] == container_id and status["restartCount"] == 0, status
    assert agent.poll() is None
