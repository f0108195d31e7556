"""Pod start-up latency: create -> Running through the API and kubelet, beside the bare CRI floor.

Run (as root):  python tests/bench/pod_startup.py [--pods 50]
One real ``kubelite server`` and one ``kubelite agent`` (its own containerd, busybox image already
imported) in a private directory. In the same run it measures:

* **floor**: ``--pods`` pods started directly over CRI, all at once: RunPodSandbox + CreateContainer
  + StartContainer per pod, as the kubelet would issue them, timed per pod;
* **kubelite**: ``--pods`` pods created through the API at once (spec.nodeName set, image present),
  each timed from its create request to the watch event that shows it Running.

Both use hostNetwork sandboxes (no CNI plugin in this run; the printed header says so), so the
comparison is kubelet overhead over the runtime's own cost. Target: p99 <= 1.5x the floor's p99 and
<= 5 s (upstream's pod start-up SLO). Everything started is stopped and removed afterwards.

Beside the latencies it prints the CPU each phase cost per pod (cgroup v1 cpuacct): the runtime's
(containerd, its shims and runc, moved into a cgroup of their own for the run, plus the pods' cgroups,
where runc's init runs) and the agent's and API server's own. On a small machine 50 simultaneous
starts are CPU-bound, so runtime CPU per pod x pods / cores is a lower bound for the floor's p99.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "cri"))
from cri_harness import _release_host_state
from e2e_harness import start_server, stop_server

from kubelite.client import APIClient, load_kubeconfig
from kubelite.cri import ContainerdPaths, RuntimeClient, api_pb2
from kubelite.cri.images import busybox_rootfs, pack_rootfs

IMAGE = "kubelite.local/busybox:bench"
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class CpuMeter:
    """CPU seconds of the runtime (a cpuacct cgroup holding containerd + the pods' cgroups) and of processes."""

    def __init__(self, *, cgroup_root: str, containerd_pid: int | None, processes: dict[str, int]) -> None:
        self.pods = CPUACCT / cgroup_root.lstrip("/")
        self.runtime = CPUACCT / f"{cgroup_root.lstrip('/')}-runtime"
        self.processes = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.enabled = CPUACCT.is_dir() and containerd_pid is not None
        if self.enabled:
            self.runtime.mkdir(exist_ok=True)
            # containerd only: the shims and runc it starts from now on are born in this cgroup
            (self.runtime / "cgroup.procs").write_text(str(containerd_pid))

    def _usage(self, cgroup: Path) -> float:
        try:
            return int((cgroup / "cpuacct.usage").read_text()) / 1e9
        except OSError:
            return 0.0

    def sample(self) -> dict[str, float]:
        out = {"runtime": self._usage(self.runtime) + self._usage(self.pods)} if self.enabled else {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                out[name] = times.user + times.system
        return out

    def measure(self, run: Callable[[Callable[[], None]], Figures], pods: int) -> tuple[Figures, dict[str, float]]:
        """Run ``run(started)``; CPU seconds per pod from now until it calls ``started`` (start-up only)."""
        before = self.sample()
        after: dict[str, float] = {}
        figures = run(lambda: after.update(self.sample()))
        return figures, {name: (after[name] - before[name]) / pods for name in after if name in before}

    def close(self) -> None:
        if not self.enabled:
            return
        deadline = time.monotonic() + 10
        while self.runtime.is_dir() and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.runtime.rmdir()  # empty once containerd and its shims are gone
            if self.runtime.is_dir():
                time.sleep(0.1)


@dataclass
class Figures:
    name: str
    latencies: list[float]

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * q))] if lat else float("nan")

    def line(self) -> str:
        return (f"{self.name:<58} n={len(self.latencies):>3}   p50 {self.percentile(0.5) * 1000:>8.1f} ms   "
                f"p99 {self.percentile(0.99) * 1000:>8.1f} ms")


async def floor(socket: Path, pods: int, cgroup_root: str, logs: Path, *, concurrency: int,
                started: Callable[[], None] = lambda: None) -> Figures:
    """RunPodSandbox + CreateContainer + StartContainer for ``pods`` pods, ``concurrency`` at a time, over CRI."""
    gate = asyncio.Semaphore(concurrency)
    async with RuntimeClient(f"unix://{socket}") as cri:
        async def one(i: int) -> tuple[float, str]:
            async with gate:
                return await start(i)

        async def start(i: int) -> tuple[float, str]:
            uid = uuid.uuid4().hex
            sandbox = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name=f"floor-{i}", uid=uid, namespace="bench"),
                log_directory=str(logs / uid), labels={"bench": "floor"},
                linux=api_pb2.LinuxPodSandboxConfig(
                    cgroup_parent=f"{cgroup_root}/floor/pod{uid}",
                    security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=api_pb2.NamespaceOption(
                        network=api_pb2.NODE, pid=api_pb2.CONTAINER, ipc=api_pb2.POD))))
            container = api_pb2.ContainerConfig(
                metadata=api_pb2.ContainerMetadata(name="c"), image=api_pb2.ImageSpec(image=IMAGE),
                command=["sleep", "3600"], log_path="c/0.log",
                linux=api_pb2.LinuxContainerConfig(security_context=api_pb2.LinuxContainerSecurityContext(
                    namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE, pid=api_pb2.CONTAINER,
                                                              ipc=api_pb2.POD))))
            started = time.perf_counter()
            sandbox_id = (await cri.run_pod_sandbox(config=sandbox)).pod_sandbox_id
            cid = (await cri.create_container(pod_sandbox_id=sandbox_id, config=container,
                                              sandbox_config=sandbox)).container_id
            await cri.start_container(container_id=cid)
            return time.perf_counter() - started, sandbox_id

        results = await asyncio.gather(*(one(i) for i in range(pods)))
        started()
        for _, sandbox_id in results:
            await cri.stop_pod_sandbox(pod_sandbox_id=sandbox_id)
            await cri.remove_pod_sandbox(pod_sandbox_id=sandbox_id)
    how = "all at once" if concurrency >= pods else "one at a time"
    return Figures(f"floor ({how}): CRI RunPodSandbox+Create+StartContainer", [r[0] for r in results])


async def through_kubelite(kubeconfig: Path, node: str, pods: int,
                           started: Callable[[], None] = lambda: None) -> Figures:
    """Create ``pods`` pods at once through the API; time each create -> Running (seen on a watch)."""
    async with APIClient(load_kubeconfig(kubeconfig), max_connections=pods + 5) as client:
        resource = client.resource("", "v1", "pods")
        listed = await resource.list(namespace="default")
        version = listed["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        running: dict[str, float] = {}
        done = asyncio.Event()

        async def watch() -> None:
            async with resource.watch(namespace="default", resource_version=version,
                                      field_selector=f"spec.nodeName={node}") as stream:
                async for event in stream:
                    pod = event.object
                    name = pod["metadata"]["name"]
                    if (pod.get("status") or {}).get("phase") == "Running" and name not in running:
                        running[name] = time.perf_counter()
                        if len(running) == pods:
                            done.set()
                            return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)

        async def create(i: int) -> None:
            name = f"bench-{i}"
            body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                    "spec": {"nodeName": node, "hostNetwork": True, "terminationGracePeriodSeconds": 0,
                             "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "3600"]}]}}
            sent[name] = time.perf_counter()
            await resource.create(body, namespace="default")

        await asyncio.gather(*(create(i) for i in range(pods)))
        try:
            await asyncio.wait_for(done.wait(), 120)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        started()
        await asyncio.gather(*(resource.delete(f"bench-{i}", namespace="default") for i in range(pods)))
    return Figures("kubelite: create -> Running through the API and kubelet", [running[n] - sent[n] for n in sent])


def _agent(base: Path, data_dir: Path, port: int, kubeconfig: Path, node: str,
           cgroup_root: str) -> subprocess.Popen[bytes]:
    with (base / "agent.log").open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kubelite", "agent", "--data-dir", str(data_dir), "--server",
             f"https://127.0.0.1:{port}", "--kubeconfig", str(kubeconfig), "--node-name", node, "--node-ip",
             "127.0.0.1", "--cgroup-root", cgroup_root, "--disable", "kubelet-server", "--disable", "pod-network",
             "--disable", "proxy"], stdout=out, stderr=subprocess.STDOUT)


async def _wait_node_and_image(kubeconfig: Path, node: str, socket: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with APIClient(load_kubeconfig(kubeconfig)) as client:
        nodes = client.resource("", "v1", "nodes", namespaced=False)
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                await nodes.get(node)
                async with RuntimeClient(f"unix://{socket}") as cri:
                    if (await cri.image_status(image=IMAGE)).HasField("image"):
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"node {node} did not register with {IMAGE} present within {timeout:g}s")


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("pod_startup: needs root (containerd)")
    base = Path(tempfile.mkdtemp(prefix="klb-"))
    data_dir = base / "d"
    cgroup_root = f"/kubelite-bench-{uuid.uuid4().hex[:10]}"
    socket = ContainerdPaths.for_data_dir(data_dir).socket
    node = f"bench-{uuid.uuid4().hex[:6]}"
    (base / "s").mkdir()
    server = start_server(base / "s")
    agent = None
    meter: CpuMeter | None = None
    try:
        images = data_dir / "agent" / "images"
        images.mkdir(parents=True)
        pack_rootfs(busybox_rootfs(base / "busybox"), tag=IMAGE, cmd=["sh"], output=images / "busybox.tar")
        agent = _agent(base, data_dir, server.port, server.kubeconfig, node, cgroup_root)
        asyncio.run(_wait_node_and_image(server.kubeconfig, node, socket))
        containerd = next((p.pid for p in psutil.Process(agent.pid).children() if p.name() == "containerd"), None)
        meter = CpuMeter(cgroup_root=cgroup_root, containerd_pid=containerd,
                         processes={"agent": agent.pid, "API server": server.process.pid})
        sequential, cpu_sequential = meter.measure(lambda mark: asyncio.run(floor(
            socket, min(args.pods, 10), cgroup_root, base / "floor-logs", concurrency=1, started=mark)),
            min(args.pods, 10))
        at_once, cpu_floor = meter.measure(lambda mark: asyncio.run(floor(
            socket, args.pods, cgroup_root, base / "floor-logs", concurrency=args.pods, started=mark)), args.pods)
        kubelite, cpu_kubelite = meter.measure(lambda mark: asyncio.run(through_kubelite(
            server.kubeconfig, node, args.pods, started=mark)), args.pods)
        figures = [at_once, kubelite]
        cores = os.cpu_count() or 1
        print(f"pod start-up, {args.pods} pods at once, image present, hostNetwork sandboxes (no CNI in this run), "
              f"{cores} cores, load average {os.getloadavg()[0]:.1f}")
        for f, cpu in ((sequential, cpu_sequential), (at_once, cpu_floor), (kubelite, cpu_kubelite)):
            print(f.line())
            print("    CPU per pod started: " + (", ".join(f"{k} {v * 1000:.0f} ms" for k, v in cpu.items()) or "n/a"))
        if "runtime" in cpu_floor:
            print(f"runtime CPU alone bounds {args.pods} simultaneous starts on {cores} cores to >= "
                  f"{cpu_floor['runtime'] * args.pods / cores:.1f} s (if nothing else ran)")
        ratio = figures[1].percentile(0.99) / figures[0].percentile(0.99)
        print(f"p99 ratio kubelite/floor: {ratio:.2f}x (target <= 1.5x, and p99 <= 5 s: "
              f"{'met' if ratio <= 1.5 and figures[1].percentile(0.99) <= 5 else 'NOT met'})")
        return figures
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=30)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        stop_server(server)
        _release_host_state(base, socket, cgroup_root)
        if meter is not None:
            meter.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
