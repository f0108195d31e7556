"""API server throughput and latency at N concurrent clients, beside the raw datastore floor.

Run:  python tests/bench/api_bench.py --backend sqlite|etcd [--clients 100] [--objects 2000]
Prints, for create / get / list / watch-delivery: operations per second and p50/p99 latency, and the
floor measured in the same run (direct SQLite inserts with the same durability settings, or direct
etcd puts through the same async client). Upstream's SLO for mutating calls is p99 <= 1 s.
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

    def line(self) -> str:
        lat = sorted(self.latencies)
        p50 = lat[len(lat) // 2] * 1000 if lat else 0.0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
        return (f"{self.name:<28} {self.count:>7} ops {self.count / self.seconds:>9.1f} ops/s   "
                f"p50 {p50:>8.2f} ms   p99 {p99:>8.2f} ms")


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


async def run_phase(name: str, clients: int, per_client: int, op: Any) -> Figures:
    latencies: list[float] = []

    async def worker(worker_id: int) -> None:
        for i in range(per_client):
            started = time.perf_counter()
            await op(worker_id, i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return Figures(name, clients * per_client, time.perf_counter() - started, latencies)


async def bench_api(url: str, context: ssl.SSLContext, clients: int, objects: int) -> list[Figures]:
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

        figures.append(await run_phase(f"api create ({clients} clients)", clients, per_client, create))
        await asyncio.wait_for(watch_task, 60)
        figures.append(Figures("watch delivery (create->event)", len(delivered), figures[-1].seconds, delivered))

        async def get(w: int, i: int) -> None:
            async with session.get(f"{base}/b-{w}-{i}") as resp:
                assert resp.status == 200
                await resp.read()

        figures.append(await run_phase(f"api get ({clients} clients)", clients, per_client, get))

        async def list_all(w: int, i: int) -> None:
            async with session.get(base) as resp:
                assert resp.status == 200
                await resp.read()

        figures.append(await run_phase(f"api list {per_client * clients} objs (10 clients)", 10, 5, list_all))
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
        if args.backend == "etcd":
            etcd, endpoint = start_etcd(workdir)
            extra = ["--datastore-endpoint", f"etcd://{endpoint}"]
            floor = await etcd_floor(endpoint, args.clients, args.objects)
        else:
            floor = sqlite_floor(workdir, args.objects)
        (workdir / "server").mkdir()
        server = start_server(workdir / "server", *extra)
        url, context = client_ssl(server.kubeconfig, workdir)
        figures = await bench_api(url, context, args.clients, args.objects)
        return [floor, *figures]
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
    args = parser.parse_args(argv)
    figures = asyncio.run(main_async(args))
    print(f"\nkubelite API benchmark, backend={args.backend}, {os.cpu_count()} cpus")
    for fig in figures:
        print("  " + fig.line())
    return figures


if __name__ == "__main__":
    main()
