"""Controller throughput: scale a Deployment 0 -> N on fake nodes, beside the API's pod-create floor.

Run:  python tests/bench/controllers_bench.py [--replicas 1000] [--nodes 10] [--clients 50]
One real `kubelite server` (controllers on, no agent) and, in this process, the fake node agent of
tests/e2e/fake_kubelet.py. Printed, from the same run:

* floor: N pods created straight through the API by ``--clients`` concurrent clients (pods/s) -- what
  the API server can absorb, the ceiling for any controller;
* controllers: the time from a ``kubectl scale``-equivalent patch of spec.replicas until N pods exist
  (pods created/s by the ReplicaSet controller, through the Deployment controller; no nodes exist yet,
  so the API server serves the controllers alone, as it served the floor's clients), and the ratio of
  that rate to the floor;
* then the fake nodes register and the time until the Deployment reports N ready replicas (scheduler,
  bindings and kubelet status writes included).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import start_server, stop_server
from fake_kubelet import FakeNodes

from kubelite.client import APIClient, APIStatusError, load_kubeconfig


@dataclass
class Figures:
    floor_pods_per_second: float
    created_seconds: float
    ready_seconds: float
    replicas: int

    @property
    def created_per_second(self) -> float:
        return self.replicas / self.created_seconds if self.created_seconds else 0.0

    def lines(self) -> list[str]:
        ratio = self.created_per_second / self.floor_pods_per_second if self.floor_pods_per_second else 0.0
        return [
            f"floor: API pod creates                {self.floor_pods_per_second:>9.1f} pods/s",
            f"deployment 0->{self.replicas:<5} pods created in {self.created_seconds:>7.2f} s   "
            f"{self.created_per_second:>9.1f} pods/s   ({ratio:.2f} x floor)",
            f"deployment 0->{self.replicas:<5} all ready in   {self.ready_seconds:>7.2f} s",
        ]


def pod_body(i: int) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"floor-{i}", "labels": {"app": "floor"}},
            # no scheduler serves this name: the floor's pods stay Pending and cost nothing afterwards
            "spec": {"schedulerName": "bench-floor-unscheduled", "containers": [{"name": "c", "image": "busybox"}]}}


async def floor(client: APIClient, *, count: int, clients: int) -> float:
    pods = client.resource("", "v1", "pods")
    await client.resource("", "v1", "namespaces", namespaced=False).create({"metadata": {"name": "floor"}})
    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            await pods.create(pod_body(i), namespace="floor")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return count / (time.perf_counter() - started)


async def scale_up(client: APIClient, *, replicas: int, timeout: float, nodes: FakeNodes) -> tuple[float, float]:
    deployments = client.resource("apps", "v1", "deployments")
    pods = client.resource("", "v1", "pods")
    await client.resource("", "v1", "namespaces", namespaced=False).create({"metadata": {"name": "bench"}})
    await deployments.create({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scale"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "scale"}},
                 "template": {"metadata": {"labels": {"app": "scale"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, namespace="bench")
    while True:  # let the controller settle on the empty Deployment first (its ReplicaSet exists)
        current = await deployments.get("scale", namespace="bench")
        if (current.get("status") or {}).get("observedGeneration") == current["metadata"].get("generation"):
            break
        await asyncio.sleep(0.1)
    listed = await pods.list(namespace="bench")
    seen: set[str] = set()
    created_at: list[float] = []
    started = time.perf_counter()

    async def count_pods() -> None:
        async with pods.watch(namespace="bench", resource_version=listed["metadata"]["resourceVersion"]) as stream:
            async for event_type, obj in stream:
                if event_type == "ADDED":
                    seen.add(obj["metadata"]["name"])
                    if len(seen) >= replicas:
                        created_at.append(time.perf_counter())
                        return

    counter = asyncio.create_task(count_pods())
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    for _ in range(20):
        try:
            await deployments.patch("scale", {"spec": {"replicas": replicas}}, namespace="bench")
            break
        except APIStatusError as exc:
            if not exc.is_conflict():
                raise
    await asyncio.wait_for(counter, timeout)
    created = created_at[0] - started
    # only now do nodes appear: the creation phase measured the controllers alone, not the scheduler and
    # kubelets writing bindings and pod status into the same API server
    await asyncio.to_thread(nodes.start)
    deadline = time.perf_counter() + timeout
    while True:
        status = (await deployments.get("scale", namespace="bench")).get("status") or {}
        if int(status.get("readyReplicas") or 0) >= replicas:
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {status.get('readyReplicas')} of {replicas} ready after {timeout}s")
        await asyncio.sleep(0.2)
    return created, time.perf_counter() - started


async def run(kubeconfig: Path, *, replicas: int, clients: int, timeout: float, nodes: FakeNodes) -> Figures:
    async with APIClient(load_kubeconfig(kubeconfig)) as client:
        floor_rate = await floor(client, count=replicas, clients=clients)
        created, ready = await scale_up(client, replicas=replicas, timeout=timeout, nodes=nodes)
    return Figures(floor_rate, created, ready, replicas)


def main(argv: list[str] | None = None) -> Figures:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients for the API floor")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-ctrl-bench-"))
    server = start_server(workdir)
    nodes = FakeNodes(server.kubeconfig, [f"bench-node-{i}" for i in range(args.nodes)], lease_interval=10.0)
    try:
        figures = asyncio.run(run(server.kubeconfig, replicas=args.replicas, clients=args.clients,
                                  timeout=args.timeout, nodes=nodes))
    finally:
        nodes.stop()
        stop_server(server)
        shutil.rmtree(workdir, ignore_errors=True)
    for line in figures.lines():
        print(line)
    return figures


if __name__ == "__main__":
    main()
