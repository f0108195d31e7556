"""Service proxy sync cost at cluster scale, beside the floor: `nft -f` of the same ruleset text.

Run (root; everything happens in a network namespace made and removed here):
    python tests/bench/proxy_bench.py [--services 10000] [--endpoints 5] [--changes 20]

Prints: the event handling that fills the proxy's state (EndpointSlices are parsed when they
arrive, as kube-proxy's EndpointSliceCache does); the first full sync (state -> specs -> compile ->
render -> one libnftables transaction into an empty table) beside `nft -f` of exactly that text by
the nft binary into an empty table; a periodic full resync over the live table beside `nft -f` of
its text over the live table; the median one-endpoint-change sync; and the rule compiler over every
service port, Cython kernel vs its pure-Python twin.
Targets: full sync <= 1.5x the floor; one change <= 1/50 of a full sync.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kubelite.agent.proxy.nftables_proxier import NftablesProxier
from kubelite.agent.proxy.service_port import ServiceState
from kubelite.native import nft_compiler
from kubelite.native.nft_compiler import TableConfig


@dataclass
class Figure:
    name: str
    seconds: float
    note: str = ""
    cpu: float = 0.0
    """CPU seconds (user + system) spent on it: robust where other work shares the machine."""

    def line(self) -> str:
        cpu = f"{self.cpu * 1000:>10.1f} ms cpu" if self.cpu else " " * 17
        return f"{self.name:<52} {self.seconds * 1000:>10.1f} ms wall {cpu}   {self.note}"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Timer:
    """Wall and CPU time of this process (every thread, so libnftables' work too)."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def service(i: int) -> dict[str, Any]:
    ip = f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"
    return {"metadata": {"name": f"svc-{i}", "namespace": "bench"},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}


def endpoint_slice(i: int, endpoints: int, *, generation: int = 0) -> dict[str, Any]:
    base = i * endpoints + generation * 7
    ips = [f"10.{(base + k) // 65536 % 32 + 160}.{(base + k) // 256 % 256}.{(base + k) % 256}"
           for k in range(endpoints)]
    return {"metadata": {"name": f"svc-{i}-x", "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "n1"} for ip in ips],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def nft_file(netns: str, text: str) -> tuple[float, float]:
    """(wall, cpu) seconds of `nft -f` applying ``text`` in ``netns``."""
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(text)
    try:
        start, cpu = time.perf_counter(), children_cpu()
        subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", f.name], check=True, capture_output=True,
                       timeout=600)
        return time.perf_counter() - start, children_cpu() - cpu
    finally:
        os.unlink(f.name)


def delete_table(netns: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "ip", nft_compiler.TABLE], check=False,
                   capture_output=True)


def compile_all(specs: list[nft_compiler.ServicePortSpec], *, pure: bool) -> float:
    start = time.perf_counter()
    if pure:
        for spec in specs:
            nft_compiler.compile_service_py(spec, "inc")
    else:
        assert nft_compiler._kernel is not None, "the Cython kernel is not built"
        kernel = nft_compiler._kernel
        for spec in specs:
            kernel.compile_service(spec, "inc")
    return time.perf_counter() - start


async def run(args: argparse.Namespace) -> list[Figure]:
    netns = f"klbench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    state = ServiceState(node_name="n1")
    proxier = NftablesProxier(state=state, netns=netns, config=TableConfig(
        cluster_cidr="10.42.0.0/16", service_cidr="10.96.0.0/12"))
    try:
        objects = [(service(i), endpoint_slice(i, args.endpoints)) for i in range(args.services)]
        with Timer() as events:  # what the informer handlers do as objects arrive (slices are parsed here)
            for svc, es in objects:
                state.set_service(svc)
                state.set_slice(es)
        with Timer() as full:
            await proxier.sync(True)
        first_text = proxier.last_text
        delete_table(netns)
        floor, floor_cpu = nft_file(netns, first_text)
        elements = proxier.rules.counts()["elements"]

        with Timer() as resync:
            await proxier.sync(True)
        resync_floor, resync_floor_cpu = nft_file(netns, proxier.last_text)

        changes = []
        for n in range(args.changes):
            i = (n * 7919) % args.services
            es = endpoint_slice(i, args.endpoints)
            es["endpoints"][0]["addresses"] = [f"10.200.{n // 256 % 256}.{n % 256}"]
            state.set_slice(es)
            start = time.perf_counter()
            await proxier.sync(False)
            changes.append(time.perf_counter() - start)
        change = statistics.median(changes)
        delta_lines = len(proxier.last_text.splitlines())

        specs = [spec for key in state.keys() for spec in state.specs(key)]
        cython = compile_all(specs, pure=False)
        pure = compile_all(specs, pure=True)
    finally:
        proxier.close()
        subprocess.run(["ip", "netns", "delete", netns], check=False)
    return [
        Figure(f"event handling: {args.services} Services + slices", events.wall,
               "before any sync, as informer events arrive", cpu=events.cpu),
        Figure("floor: nft -f of the full text, empty table", floor, f"{len(first_text) / 1e6:.1f} MB text",
               cpu=floor_cpu),
        Figure("full sync (first, empty table)", full.wall,
               f"{full.wall / floor:.2f}x floor wall, {full.cpu / floor_cpu:.2f}x cpu; {elements} elements",
               cpu=full.cpu),
        Figure("floor: nft -f of the resync text, live table", resync_floor, cpu=resync_floor_cpu),
        Figure("full resync over the live table", resync.wall,
               f"{resync.wall / resync_floor:.2f}x floor wall, {resync.cpu / resync_floor_cpu:.2f}x cpu",
               cpu=resync.cpu),
        Figure("one-endpoint change sync (median)", change,
               f"1/{full.wall / change:.0f} of a full sync; {delta_lines} nft commands"),
        Figure(f"compile {len(specs)} service ports, Cython", cython, f"{pure / cython:.2f}x faster than pure"),
        Figure(f"compile {len(specs)} service ports, pure Python", pure),
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(f"\nkubelite service proxy benchmark: {args.services} services x {args.endpoints} endpoints, "
          f"compiler {nft_compiler.IMPLEMENTATION}, {os.cpu_count()} cpus")
    for fig in figures:
        print("  " + fig.line())
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
