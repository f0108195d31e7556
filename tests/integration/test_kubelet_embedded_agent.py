"""`kubelite server` runs its own agent: the node registers, `kubelite images` packs into its containerd,
a pod runs on it, and stopping the server stops the agent (containers are cleaned up by the test).

The server is started like tests/e2e/e2e_harness.py does, but without --disable-agent; the embedded
agent gets a free kubelet port and no pod network or service proxy (hostNetwork pods only), so it
cannot clash with anything else on this host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state
from e2e_harness import free_port

from kubelite.cri import ContainerdPaths
from kubelite.cri.images import busybox_rootfs

pytestmark = [pytest.mark.root, pytest.mark.integration]

IMAGE = "kubelite.local/packed:embedded"


def _kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent)))


def _wait(what: str, probe: Any, log: Path, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-3000:] if log.exists() else ''}")


def test_server_runs_an_embedded_agent_that_runs_pods() -> None:
    base = Path(tempfile.mkdtemp(prefix="kle-"))
    data_dir = base / "d"
    data_dir.mkdir()
    node = f"emb-{uuid.uuid4().hex[:8]}"
    kubeconfig = base / "kubeconfig.yaml"
    server_log = base / "server.log"
    agent_log = data_dir / "agent" / "agent.log"
    port = free_port()
    kubelet_port = free_port()
    with server_log.open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "kubelite", "server", "--data-dir", str(data_dir), "--bind-address", "127.0.0.1",
             "--secure-port", str(port), "--write-kubeconfig", str(kubeconfig), "--node-name", node,
             "--node-ip", "127.0.0.1", "--kubelet-port", str(kubelet_port), "--flannel-backend", "none",
             "--disable-kube-proxy"], stdout=out, stderr=subprocess.STDOUT)
    agent_pid = None
    pod_uid = ""
    try:
        _wait("the embedded agent's node", lambda: _kubectl(kubeconfig, "get", "node", node).returncode == 0
              if kubeconfig.exists() else False, agent_log)
        children = psutil.Process(server.pid).children()
        agents = [c for c in children if "agent" in c.cmdline()]
        assert len(agents) == 1
        agent_pid = agents[0].pid
        assert "--kubelet-port" in agents[0].cmdline() and "--disable=proxy" in agents[0].cmdline()

        # kubelite images pack / list act on this node's containerd
        packed = subprocess.run([sys.executable, "-m", "kubelite", "images", "pack",
                                 str(busybox_rootfs(base / "rootfs")), "--tag", IMAGE, "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=120, check=False)
        assert packed.returncode == 0, packed.stderr
        listed = subprocess.run([sys.executable, "-m", "kubelite", "images", "list", "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert listed.returncode == 0, listed.stderr
        header, *rows = listed.stdout.splitlines()
        assert header.split()[:2] == ["IMAGE", "TAG"]
        assert any(r.split()[:2] == ["kubelite.local/packed", "embedded"] for r in rows), listed.stdout
        assert any(r.startswith("kubelite.local/pause") for r in rows)

        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "emb", "namespace": "default"},
               "spec": {"nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]}}
        assert _kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(pod)).returncode == 0

        def running() -> bool:
            done = _kubectl(kubeconfig, "get", "pod", "emb", "-o", "json")
            return done.returncode == 0 and json.loads(done.stdout).get("status", {}).get("phase") == "Running"

        _wait("the pod to run on the embedded agent", running, agent_log)
        pod_uid = json.loads(_kubectl(kubeconfig, "get", "pod", "emb", "-o", "json").stdout)["metadata"]["uid"]

        # the kubelet API authenticates callers: the API server (client certificate + SubjectAccessReview)
        # gets through, an anonymous caller gets 401
        exec_ = _kubectl(kubeconfig, "exec", "emb", "--", "echo", "through-the-kubelet")
        assert exec_.returncode == 0 and "through-the-kubelet" in exec_.stdout, exec_.stderr
        anonymous = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                                    f"https://127.0.0.1:{kubelet_port}/pods"], capture_output=True, text=True,
                                   timeout=30, check=False)
        assert anonymous.stdout == "401"
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        try:
            if agent_pid is not None:
                # the server stops its agent on the way out
                assert not psutil.pid_exists(agent_pid) or psutil.Process(agent_pid).status() == psutil.STATUS_ZOMBIE
        finally:
            # the agent used the default cgroup root (/kubepods), which other agents may share: release only
            # our pod's cgroup, then the shared parents if (and only if) they are empty
            _release_host_state(base, ContainerdPaths.for_data_dir(data_dir).socket,
                                f"/kubepods/besteffort/pod{pod_uid}" if pod_uid else f"/kubepods/{uuid.uuid4()}")
            shutil.rmtree(base, ignore_errors=True)
            for hierarchy in Path("/sys/fs/cgroup").iterdir():
                for parent in ("kubepods/besteffort", "kubepods"):
                    with contextlib.suppress(OSError):
                        (hierarchy / parent).rmdir()
