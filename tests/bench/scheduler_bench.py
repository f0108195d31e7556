"""Scheduler throughput and latency, modelled on upstream scheduler_perf SchedulingBasic.

Run:  python tests/bench/scheduler_bench.py [--mode algorithm|e2e|both] [--nodes 5000] [--placed 1000]
                                             [--pods 10000] [--pure-pods 1000] [--clients 50]
                                             [--scheduler embedded|standalone|precreated ...]

Nodes are upstream's node-default.yaml (4 cpu, 32Gi, 110 pods), pods its pod-default.yaml (100m cpu,
500Mi requests). ``placed`` pods are bound before measuring; then ``pods`` pods are scheduled.

* ``algorithm``: the scheduling cycle alone (Framework over the SchedulerCache's snapshot, then assume),
  once with the compiled kernel and once with its pure-Python twin in the same run; prints pods/s,
  p50/p99 per-pod latency and the speed-up. The twin is slow at 5000 nodes, so it schedules
  ``--pure-pods`` pods (its throughput does not depend on how many).
* ``e2e``: a real ``kubelite server`` on SQLite in a temporary data dir (no controllers); Nodes created
  through the API; a watch on pods records when each one is bound. Three runs:
  ``embedded`` (the scheduler inside the server) and ``standalone`` (``kubelite scheduler`` as its own
  process) measure as upstream's scheduler_perf does: ``--clients`` concurrent clients create the pods
  while the scheduler runs, SchedulingThroughput is sampled once a second over the measured phase
  (first create to last binding), and the rate the creates went in at is printed as the baseline of
  the same run (pods cannot be scheduled faster than they arrive). ``precreated``: every measured pod
  exists before ``kubelite scheduler`` starts, which isolates scheduling and binding from the creates
  (first to last binding).
  Each prints pods/s, the per-second throughput percentiles, p50/p99 create-to-bound latency
  (upstream's SLI), and the API server's and the scheduler's CPU time per pod in the measured phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from kubelite.controlplane.scheduler import Framework, ScheduleResult, default_profile, in_tree_registry
from kubelite.controlplane.scheduler.cache import SchedulerCache
from kubelite.native.scoring import KERNEL, PURE, Kernel

Obj = dict[str, Any]


@dataclass
class Figures:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0  # this process's CPU time: a figure that other load on the host does not skew
    server_cpu: float = 0.0  # e2e: the API server's CPU time during the measured phase
    scheduler_cpu: float = 0.0  # e2e: the standalone scheduler's CPU time during the measured phase

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.count / self.cpu_seconds if self.cpu_seconds else 0.0

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else 0.0

    def line(self) -> str:
        cpu = f"   ({self.cpu_rate:.1f} pods per CPU-second)" if self.cpu_seconds else ""
        return (f"{self.name:<40} {self.count:>6} pods {self.rate:>9.1f} pods/s   "
                f"p50 {self.percentile(0.5):>8.3f} ms   p99 {self.percentile(0.99):>8.3f} ms{cpu}")


def node_obj(i: int) -> Obj:
    resources = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    name = f"node-{i:05}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod_obj(name: str, namespace: str = "default", node: str | None = None) -> Obj:
    requests = {"cpu": "100m", "memory": "500Mi"}
    spec: Obj = {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                 "ports": [{"containerPort": 80}],
                                 "resources": {"requests": requests, "limits": requests}}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"}, "spec": spec}


# ---- (a) the algorithm alone ------------------------------------------------------------------------


def run_algorithm(*, kernel: Kernel, nodes: int, placed: int, pods: int, seed: int = 1) -> Figures:
    cache = SchedulerCache()
    for i in range(nodes):
        cache.add_node(node_obj(i))
    rng = random.Random(seed)
    for i in range(placed):
        cache.add_pod(pod_obj(f"placed-{i}", node=f"node-{rng.randrange(nodes):05}"))
    framework = Framework(profile=default_profile(), registry=in_tree_registry(), rng=random.Random(seed),
                          kernel=kernel)
    incoming = [pod_obj(f"measured-{i}") for i in range(pods)]
    latencies: list[float] = []
    clock = time.perf_counter
    start, cpu_start = clock(), time.process_time()
    for pod in incoming:
        t0 = clock()
        result = framework.schedule(pod=pod, nodes=cache.snapshot)
        if not isinstance(result, ScheduleResult):
            raise AssertionError(f"benchmark pod did not fit: {result}")
        cache.assume_pod(pod, result.suggested_host)
        latencies.append(clock() - t0)
    seconds, cpu_seconds = clock() - start, time.process_time() - cpu_start
    return Figures(f"algorithm {kernel.name} {nodes} nodes", pods, seconds, latencies, cpu_seconds)


# ---- (b) end to end through a real server -----------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (from /proc: no dependency, works for any PID)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_standalone_scheduler(kubeconfig: Path) -> subprocess.Popen[bytes]:
    # the scheduler in its own process, on the second core (DESIGN.md: "Processes")
    return subprocess.Popen([sys.executable, "-m", "kubelite", "scheduler", "--kubeconfig", str(kubeconfig)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run_e2e(*, nodes: int, placed: int, pods: int, clients: int, standalone: bool = False,
                  precreated: bool = False, aiohttp_edge: bool = False) -> Figures:
    """One end-to-end run; ``precreated``: all measured pods exist before the (standalone) scheduler starts.

    Concurrent (upstream scheduler_perf): the scheduler runs while ``clients`` create the measured pods;
    SchedulingThroughput is sampled once a second over the measured phase (first create to last
    binding). Pre-created: the scheduler starts with a full queue, which isolates scheduling + binding
    from the creates; the measured phase runs from its first binding to its last.
    """
    from e2e_harness import start_server, stop_server

    from kubelite.client import APIClient, load_kubeconfig

    standalone = standalone or precreated
    data_dir = Path(tempfile.mkdtemp(prefix="kubelite-sched-bench-"))
    flags = (["--disable-controllers"] + (["--disable-scheduler"] if standalone else [])
             + (["--disable-lean-http"] if aiohttp_edge else []))
    try:
        server = start_server(data_dir, *flags)
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    scheduler: subprocess.Popen[bytes] | None = None
    if standalone and not precreated:
        scheduler = _start_standalone_scheduler(server.kubeconfig)
    try:
        # a loaded server (the scheduler inside it, a burst of creates) may take long to answer one request
        async with APIClient(load_kubeconfig(server.kubeconfig), max_connections=clients + 10,
                             timeout=300.0) as client:
            node_api = client.resource("", "v1", "nodes", namespaced=False)
            pod_api = client.resource("", "v1", "pods")

            async def fan_out(items: list[Obj], create: Any) -> None:
                queue: asyncio.Queue[Obj] = asyncio.Queue()
                for item in items:
                    queue.put_nowait(item)

                async def worker() -> None:
                    while not queue.empty():
                        await create(queue.get_nowait())

                await asyncio.gather(*(worker() for _ in range(clients)))

            await fan_out([node_obj(i) for i in range(nodes)], node_api.create)
            rng = random.Random(1)
            placed_pods = [pod_obj(f"placed-{i}", node=f"node-{rng.randrange(nodes):05}") for i in range(placed)]
            for pod in placed_pods:
                del pod["metadata"]["uid"]
            await fan_out(placed_pods, lambda p: pod_api.create(p, namespace="default"))

            created: dict[str, float] = {}
            bound: dict[str, float] = {}
            done = asyncio.Event()
            listing = await pod_api.list(namespace="default", limit=1)
            version = listing["metadata"]["resourceVersion"]

            async def watch() -> None:
                async with pod_api.watch(namespace="default", resource_version=version, timeout_seconds=3600) as stream:
                    async for event in stream:
                        obj = event.object
                        name = obj["metadata"]["name"]
                        if name.startswith("measured-") and obj["spec"].get("nodeName") and name not in bound:
                            if not bound and precreated:
                                # the measured phase starts at the first binding, after the scheduler's start-up
                                cpu_at_first_binding.extend(_phase_cpu())
                            bound[name] = time.perf_counter()
                            if len(bound) == pods:
                                done.set()
                                return

            samples: list[int] = []
            cpu_at_first_binding: list[float] = []

            def _phase_cpu() -> tuple[float, float]:
                return (_cpu_seconds(server.process.pid), _cpu_seconds(scheduler.pid) if scheduler is not None else 0.0)

            async def sample() -> None:
                # upstream's throughput collector: pods scheduled in each one-second interval
                last = 0
                while True:
                    await asyncio.sleep(1.0)
                    if bound or not precreated:
                        samples.append(len(bound) - last)
                    last = len(bound)

            watcher = asyncio.create_task(watch())
            measured = [pod_obj(f"measured-{i}") for i in range(pods)]
            for pod in measured:
                del pod["metadata"]["uid"]

            async def create(pod: Obj) -> None:
                created[pod["metadata"]["name"]] = time.perf_counter()
                await pod_api.create(pod, namespace="default")

            server_cpu0, scheduler_cpu0 = _phase_cpu()
            start = time.perf_counter()
            sampler = asyncio.create_task(sample()) if not precreated else None
            await fan_out(measured, create)
            creates_done = time.perf_counter()
            if precreated:
                scheduler = _start_standalone_scheduler(server.kubeconfig)
                sampler = asyncio.create_task(sample())
            await asyncio.wait_for(done.wait(), timeout=max(300.0, pods / 5))
            # the scheduler's work for a pod ends with its Scheduled event, which may trail the binding:
            # CPU is counted until every measured pod's event is written (no events go to other objects here)
            event_api = client.resource("", "v1", "events")
            drain_start = time.perf_counter()
            written = 0
            while time.perf_counter() - drain_start < 120.0:
                page = await event_api.list(namespace="default", limit=1)
                written = len(page["items"]) + int(page["metadata"].get("remainingItemCount") or 0)
                if written >= pods:
                    break
                await asyncio.sleep(0.25)
            drained = time.perf_counter() - drain_start
            if cpu_at_first_binding:
                server_cpu0, scheduler_cpu0 = cpu_at_first_binding
            server_cpu = _cpu_seconds(server.process.pid) - server_cpu0
            scheduler_cpu = _cpu_seconds(scheduler.pid) - scheduler_cpu0 if scheduler is not None else 0.0
            assert sampler is not None
            sampler.cancel()
            watcher.cancel()
            first = min(bound.values()) if precreated else start
            seconds = max(bound.values()) - first
            latencies = [bound[name] - created[name] for name in bound]
            if precreated:
                where = "pre-created pods"
            else:
                where = "standalone scheduler" if standalone else "embedded scheduler"
                print(f"  (baseline: the {pods} creates went in at {pods / (creates_done - start):.1f} creates/s, "
                      "while the scheduler ran: no throughput can exceed the rate pods arrive)", flush=True)
            per_second = sorted(samples) or [0]
            print(f"  (SchedulingThroughput per second: average {pods / seconds if seconds else 0:.1f}, "
                  f"p50 {per_second[len(per_second) // 2]}, p90 {per_second[int(len(per_second) * 0.9)]}, "
                  f"p99 {per_second[int(len(per_second) * 0.99)]}, max {per_second[-1]} pods)", flush=True)
            print(f"  ({written} Scheduled events written by {drained:.1f} s after the last binding; CPU "
                  "below counted until then)", flush=True)
            print(f"  (server CPU {server_cpu / pods * 1000:.2f} ms per pod"
                  + (f", scheduler CPU {scheduler_cpu / pods * 1000:.2f} ms per pod" if scheduler else "")
                  + (" (the scheduler runs inside the server)" if not standalone else "") + ")", flush=True)
            if aiohttp_edge:
                where += ", aiohttp edge"
            return Figures(f"end-to-end sqlite {nodes} nodes, {where}", pods, seconds, latencies,
                           server_cpu=server_cpu, scheduler_cpu=scheduler_cpu)
    finally:
        if scheduler is not None:
            _stop(scheduler)
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--mode", choices=["algorithm", "e2e", "both"], default="both")
    parser.add_argument("--nodes", type=int, action="append", help="node counts (default: 5000 and 500)")
    parser.add_argument("--placed", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--pure-pods", type=int, default=1000, help="pods the pure-Python twin schedules")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--scheduler", action="append", choices=["embedded", "standalone", "precreated"],
                        help="e2e runs: the scheduler inside kubelite server, as kubelite scheduler, or kubelite "
                             "scheduler started after all measured pods exist (default: all three)")
    parser.add_argument("--aiohttp-edge", action="store_true",
                        help="e2e runs: the server answers every request through aiohttp (kubelite server "
                             "--disable-lean-http), for comparison with its lean HTTP/1.1 edge")
    args = parser.parse_args(argv)
    node_counts = args.nodes or [5000, 500]
    e2e_runs = args.scheduler or ["embedded", "standalone", "precreated"]
    figures: list[Figures] = []
    for nodes in node_counts:
        if args.mode in ("algorithm", "both"):
            compiled = run_algorithm(kernel=KERNEL, nodes=nodes, placed=args.placed, pods=args.pods)
            pure = run_algorithm(kernel=PURE, nodes=nodes, placed=args.placed, pods=min(args.pods, args.pure_pods))
            figures += [compiled, pure]
            print(compiled.line(), flush=True)
            print(pure.line(), flush=True)
            print(f"{'speed-up cython / pure twin':<40} {compiled.rate / pure.rate:>6.1f}x wall, "
                  f"{compiled.cpu_rate / pure.cpu_rate:.1f}x CPU time", flush=True)
        if args.mode in ("e2e", "both"):
            for run in e2e_runs:
                e2e = asyncio.run(run_e2e(nodes=nodes, placed=args.placed, pods=args.pods, clients=args.clients,
                                          standalone=run == "standalone", precreated=run == "precreated",
                                          aiohttp_edge=args.aiohttp_edge))
                figures.append(e2e)
                print(e2e.line(), flush=True)
    return figures


if __name__ == "__main__":
    main()
