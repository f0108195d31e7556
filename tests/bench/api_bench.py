"""API server throughput and latency at N concurrent clients, beside the raw datastore floor.

Run:  python tests/bench/api_bench.py --backend sqlite|etcd [--clients 100] [--objects 2000] [--kind configmap|pod]
Prints, for create / get / list / watch-delivery: operations per second and p50/p99 latency, and the
floor measured in the same run (direct SQLite inserts with the same durability settings, or direct
etcd puts through the same async client). Upstream's SLO for mutating calls is p99 <= 1 s.

The server runs with --disable-controllers --disable-scheduler: this measures the API server, and the
in-process controllers (informers over loopback HTTPS that receive every event, e.g. the garbage
collector's) would otherwise share its event loop and core; --with-controllers measures the whole server.
Beside wall-clock figures, each API phase prints the server process's CPU time per operation (all its
threads, from /proc): on a loaded 2-core machine that is the steadier figure to compare across runs. The
SQLite floor waits mostly on fsync, so it does not fall when other processes take the CPU while the API
server (CPU-bound) does: the load average is printed so that ratios to the floor can be judged.

``--kind pod`` measures the writes a scheduled pod costs the API server, as the scheduler makes them:
Pod create (scheduler_perf's pod template: one container, requests 100m / 500Mi), pods/binding, and a
core/v1 ``Scheduled`` Event; then the three together per pod ("scheduled pod"), which is what bounds the
end-to-end scheduling throughput (issue 6 wants >= 680 pods/s).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import sqlite3
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import start_etcd, start_server, stop_process, stop_server


@dataclass
class Figures:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    server_cpu: float | None = None  # seconds of server CPU (user + system) spent in this phase

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000 if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
        cpu = f"   server cpu {self.server_cpu * 1000 / self.count:>6.2f} ms/op" if self.server_cpu is not None else ""
        return (f"{self.name:<28} {self.count:>7} ops {self.count / self.seconds:>9.1f} ops/s   "
                f"p50 {p50:>8.2f} ms   p99 {p99:>8.2f} ms{cpu}")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_ssl(kubeconfig: Path, workdir: Path) -> tuple[str, ssl.SSLContext]:
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    ca, cert, key = workdir / "ca.crt", workdir / "c.crt", workdir / "c.key"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return cluster["server"], context


async def run_phase(name: str, clients: int, per_client: int, op: Any, server_pid: int | None = None) -> Figures:
    latencies: list[float] = []

    async def worker(worker_id: int) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            await op(worker_id, i)
            latencies.append(time.perf_counter() - started)

    cpu = process_cpu(server_pid) if server_pid is not None else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    seconds = time.perf_counter() - started
    server_cpu = process_cpu(server_pid) - cpu if server_pid is not None else None
    return Figures(name, clients * per_client, seconds, latencies, server_cpu)


def pod_body(name: str) -> dict[str, Any]:
    """scheduler_perf's pod-default.yaml, as a client would create it."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"limits": {"cpu": "100m", "memory": "500Mi"},
                                                   "requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


def scheduled_event(pod: dict[str, Any], node: str) -> dict[str, Any]:
    """The core/v1 Event the scheduler records for a bound pod (kubelite.client.events' makeEvent)."""
    md = pod["metadata"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{md['name']}.{time.time_ns():x}", "namespace": md["namespace"]},
            "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": md["namespace"], "name": md["name"],
                               "uid": md["uid"], "resourceVersion": md["resourceVersion"]},
            "reason": "Scheduled", "message": f"Successfully assigned {md['namespace']}/{md['name']} to {node}",
            "type": "Normal", "source": {"component": "default-scheduler"}, "firstTimestamp": stamp,
            "lastTimestamp": stamp, "count": 1, "reportingComponent": "default-scheduler",
            "reportingInstance": "bench"}


async def bench_pods(url: str, context: ssl.SSLContext, clients: int, objects: int,
                     server_pid: int | None = None) -> list[Figures]:
    per_client = max(1, objects // clients)
    connector = aiohttp.TCPConnector(ssl=context, limit=clients * 2)
    base = f"{url}/api/v1/namespaces/default"
    json_headers = {"Content-Type": "application/json"}
    figures = []
    async with aiohttp.ClientSession(connector=connector) as session:
        # the ServiceAccount admission reads the pods' account: a cluster's controllers create it (this
        # server runs without them), and a missing one would send every create to the store
        async with session.post(f"{base}/serviceaccounts", data=orjson.dumps({"metadata": {"name": "default"}}),
                                headers=json_headers) as resp:
            assert resp.status in (201, 409), await resp.text()
        created: dict[str, dict[str, Any]] = {}

        async def create_pod(name: str) -> dict[str, Any]:
            async with session.post(f"{base}/pods", data=orjson.dumps(pod_body(name)), headers=json_headers) as resp:
                assert resp.status == 201, await resp.text()
                pod: dict[str, Any] = orjson.loads(await resp.read())
                return pod

        async def bind(name: str, node: str) -> None:
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
            async with session.post(f"{base}/pods/{name}/binding", data=orjson.dumps(binding),
                                    headers=json_headers) as resp:
                assert resp.status == 201, await resp.text()
                await resp.read()

        async def record(pod: dict[str, Any], node: str) -> None:
            async with session.post(f"{base}/events", data=orjson.dumps(scheduled_event(pod, node)),
                                    headers=json_headers) as resp:
                assert resp.status == 201, await resp.text()
                await resp.read()

        async def create(w: int, i: int) -> None:
            created[f"p-{w}-{i}"] = await create_pod(f"p-{w}-{i}")

        async def binding(w: int, i: int) -> None:
            await bind(f"p-{w}-{i}", f"node-{(w * per_client + i) % 5000}")

        async def event(w: int, i: int) -> None:
            await record(created[f"p-{w}-{i}"], f"node-{(w * per_client + i) % 5000}")

        async def scheduled(w: int, i: int) -> None:
            pod, node = await create_pod(f"s-{w}-{i}"), f"node-{(w * per_client + i) % 5000}"
            await bind(f"s-{w}-{i}", node)
            await record(pod, node)

        figures.append(await run_phase(f"pod create ({clients} clients)", clients, per_client, create, server_pid))
        figures.append(await run_phase(f"pod binding ({clients} clients)", clients, per_client, binding, server_pid))
        figures.append(await run_phase(f"event create ({clients} clients)", clients, per_client, event, server_pid))
        figures.append(await run_phase(f"scheduled pod: all 3 ({clients} cl.)", clients, per_client, scheduled,
                                       server_pid))
    return figures


async def bench_api(url: str, context: ssl.SSLContext, clients: int, objects: int,
                    server_pid: int | None = None) -> list[Figures]:
    per_client = max(1, objects // clients)
    connector = aiohttp.TCPConnector(ssl=context, limit=clients * 2)
    base = f"{url}/api/v1/namespaces/default/configmaps"
    figures = []
    async with aiohttp.ClientSession(connector=connector) as session:
        # watch delivery latency: one watcher, timestamps written into the objects
        delivered: list[float] = []
        async with session.get(base) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]

        async def watcher() -> None:
            async with session.get(f"{base}?watch=1&resourceVersion={rv}", timeout=aiohttp.ClientTimeout()) as resp:
                async for line in resp.content:
                    event = orjson.loads(line)
                    sent = float(event["object"].get("data", {}).get("t", "0"))
                    if event["type"] == "ADDED" and sent:
                        delivered.append(time.time() - sent)
                    if len(delivered) >= per_client * clients:
                        return

        watch_task = asyncio.create_task(watcher())
        await asyncio.sleep(0.2)

        async def create(w: int, i: int) -> None:
            body = {"metadata": {"name": f"b-{w}-{i}"}, "data": {"t": repr(time.time())}}
            async with session.post(base, data=orjson.dumps(body),
                                    headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 201, await resp.text()
                await resp.read()

        figures.append(await run_phase(f"api create ({clients} clients)", clients, per_client, create, server_pid))
        await asyncio.wait_for(watch_task, 60)
        figures.append(Figures("watch delivery (create->event)", len(delivered), figures[-1].seconds, delivered))

        async def get(w: int, i: int) -> None:
            async with session.get(f"{base}/b-{w}-{i}") as resp:
                assert resp.status == 200
                await resp.read()

        figures.append(await run_phase(f"api get ({clients} clients)", clients, per_client, get, server_pid))

        async def list_all(w: int, i: int) -> None:
            async with session.get(base) as resp:
                assert resp.status == 200
                await resp.read()

        figures.append(await run_phase(f"api list {per_client * clients} objs (10 clients)", 10, 5, list_all,
                                       server_pid))
    return figures


def sqlite_floor(workdir: Path, count: int) -> Figures:
    db = sqlite3.connect(workdir / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # the durability the store runs with
    db.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB)")
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        db.execute("INSERT INTO kv VALUES (?, ?)", (f"/k/{i}", b"x" * 300))
        latencies.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    db.close()
    return Figures("floor: direct sqlite insert", count, seconds, latencies)


async def sqlite_store_floor(workdir: Path, clients: int, count: int) -> Figures:
    """kubelite's own SqliteStore, ``clients`` concurrent creates: its writer commits whatever is queued
    in one transaction (group commit), so this beats one insert per transaction at high concurrency."""
    from kubelite.controlplane.storage import open_store

    (workdir / "store").mkdir()
    store = open_store("sqlite", data_dir=workdir / "store", compaction=None)
    await store.start()
    try:
        async def put(w: int, i: int) -> None:
            await store.create(f"/floor/{w}/{i}", b"x" * 300)

        figures = await run_phase(f"floor: SqliteStore create ({clients} cl.)", clients, max(1, count // clients), put)
        stats = store.stats  # type: ignore[attr-defined]
        if stats.transactions:
            figures.name = f"floor: SqliteStore ({clients} cl., {stats.writes / stats.transactions:.0f}/txn)"
        return figures
    finally:
        await store.close()


async def etcd_floor(endpoint: str, clients: int, count: int) -> Figures:
    import aetcd

    host, port = endpoint.split(":")
    async with aetcd.Client(host=host, port=int(port)) as client:
        async def put(w: int, i: int) -> None:
            await client.put(f"/floor/{w}/{i}".encode(), b"x" * 300)

        return await run_phase(f"floor: direct etcd put ({clients} clients)", clients, max(1, count // clients), put)


async def main_async(args: argparse.Namespace) -> list[Figures]:
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-bench-"))
    etcd = None
    server = None
    try:
        extra: list[str] = []
        floor: Figures
        floors: list[Figures] = []
        if args.backend == "etcd":
            etcd, endpoint = start_etcd(workdir)
            extra = ["--datastore-endpoint", f"etcd://{endpoint}"]
            floor = await etcd_floor(endpoint, args.clients, args.objects)
        else:
            floor = sqlite_floor(workdir, args.objects)
            floors.append(await sqlite_store_floor(workdir, args.clients, args.objects))
        (workdir / "server").mkdir()
        if not args.with_controllers:
            extra += ["--disable-controllers", "--disable-scheduler"]
        if args.aiohttp_edge:
            extra.append("--disable-lean-http")
        server = start_server(workdir / "server", *extra)
        url, context = client_ssl(server.kubeconfig, workdir)
        bench = bench_pods if args.kind == "pod" else bench_api
        figures = await bench(url, context, args.clients, args.objects, server.process.pid)
        return [floor, *floors, *figures]
    finally:
        if server is not None:
            stop_server(server)
        if etcd is not None:
            stop_process(etcd)
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[Figures]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "etcd"], default="sqlite")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--kind", choices=["configmap", "pod"], default="configmap",
                        help="configmap: create/get/list/watch; pod: Pod create, pods/binding, Event create")
    parser.add_argument("--with-controllers", action="store_true",
                        help="also run the scheduler and controllers in the server process, as a default server does")
    parser.add_argument("--aiohttp-edge", action="store_true",
                        help="the server answers every request through aiohttp (kubelite server --disable-lean-http), "
                             "for comparison with its lean HTTP/1.1 edge")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    figures = asyncio.run(main_async(args))
    mode = "API server with controllers and scheduler" if args.with_controllers else "API server alone"
    if args.aiohttp_edge:
        mode += ", aiohttp edge"
    print(f"\nkubelite API benchmark, kind={args.kind}, backend={args.backend}, {mode}, {os.cpu_count()} cpus, "
          f"1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    for fig in figures:
        print("  " + fig.line())
    return figures


if __name__ == "__main__":
    main()
