"""Why the service proxy's load-balancing shape is what it is: three nftables shapes, same services.

Run (root; everything happens in network namespaces made and removed here):
    python tests/bench/proxy_lb_shape_bench.py [--services 10000] [--endpoints 5]

Each shape is written as one `nft -f` transaction into an empty table (first load) and then applied
again over the live table (what a periodic full resync does), by the nft binary:

* shared: one load-balancing chain per endpoint count, ``dnat ... numgen inc mod N map @endpoints``;
  services with as many endpoints share its numgen counter (round robin not exact per service);
* per-service-lookup: a chain per service whose rule looks the endpoint up in the one big map itself
  (exact per service; every such rule references the big map);
* per-service-pick (what kubelite.native.nft_compiler writes): a chain per service with its own
  ``numgen inc mod N vmap @pick-N``; the pick map is shared by services with N endpoints and jumps to
  one DNAT chain per endpoint index, which looks up that index's endpoint map.

Prints wall and CPU seconds per shape and each shape's ratio to per-service-pick.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

T = "ip kubelite-shape"
SHAPES = ("shared", "per-service-lookup", "per-service-pick")


@dataclass
class Figure:
    shape: str
    first: float
    first_cpu: float
    again: float
    again_cpu: float


def service_ip(i: int) -> str:
    return f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"


def endpoint_ip(b: int) -> str:
    return f"10.{b // 65536 % 32 + 160}.{b // 256 % 256}.{b % 256}"


def elements(name: str, items: list[str]) -> str:
    return "".join(f"add element {T} {name} {{ {', '.join(items[s:s + 1000])} }}\n" for s in range(0, len(items), 1000))


def ruleset(shape: str, services: int, n: int) -> str:
    out = [f"add table {T}\n", f"add chain {T} pre {{ type nat hook prerouting priority dstnat ; }}\n",
           f"add map {T} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; }}\n",
           f"flush map {T} service-ips\n"]
    svc: list[str] = []
    if shape == "per-service-pick":
        out.append(f"add map {T} pick-{n} {{ typeof numgen inc mod 2 : verdict ; }}\nflush map {T} pick-{n}\n")
        per_index: list[list[str]] = [[] for _ in range(n)]
        for k in range(n):
            out.append(f"add map {T} endpoints-{k} {{ typeof ip daddr . tcp dport : ip daddr . tcp dport ; }}\n"
                       f"flush map {T} endpoints-{k}\nadd chain {T} idx-{k}\nflush chain {T} idx-{k}\n"
                       f"add rule {T} idx-{k} dnat ip to ip daddr . tcp dport map @endpoints-{k}\n")
        for i in range(services):
            ip = service_ip(i)
            out.append(f"add chain {T} svc-{i}\nflush chain {T} svc-{i}\n"
                       f"add rule {T} svc-{i} numgen inc mod {n} vmap @pick-{n}\n")
            svc.append(f"{ip} . tcp . 80 : goto svc-{i}")
            for k in range(n):
                per_index[k].append(f"{ip} . 80 : {endpoint_ip(i * n + k)} . 8080")
        tail = [elements(f"pick-{n}", [f"{k} : goto idx-{k}" for k in range(n)])]
        tail += [elements(f"endpoints-{k}", per_index[k]) for k in range(n)]
    else:
        lookup = f"dnat ip to ip daddr . tcp dport . numgen inc mod {n} map @endpoints"
        decl = "typeof ip daddr . tcp dport . numgen inc mod 2 : ip daddr . tcp dport ;"
        out.append(f"add map {T} endpoints {{ {decl} }}\nflush map {T} endpoints\n")
        if shape == "shared":
            out.append(f"add chain {T} lb-{n}\nflush chain {T} lb-{n}\nadd rule {T} lb-{n} {lookup}\n")
        eps: list[str] = []
        for i in range(services):
            ip = service_ip(i)
            if shape == "shared":
                svc.append(f"{ip} . tcp . 80 : goto lb-{n}")
            else:
                out.append(f"add chain {T} svc-{i}\nflush chain {T} svc-{i}\nadd rule {T} svc-{i} {lookup}\n")
                svc.append(f"{ip} . tcp . 80 : goto svc-{i}")
            eps += [f"{ip} . 80 . {k} : {endpoint_ip(i * n + k)} . 8080" for k in range(n)]
        tail = [elements("endpoints", eps)]
    out.append(f"flush chain {T} pre\nadd rule {T} pre ip daddr . meta l4proto . th dport vmap @service-ips\n")
    return "".join(out) + elements("service-ips", svc) + "".join(tail)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nft_file(netns: str, path: str) -> tuple[float, float]:
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", path], check=True, capture_output=True, timeout=1200)
    return time.perf_counter() - start, children_cpu() - cpu


def measure(shape: str, services: int, n: int) -> Figure:
    netns = f"klshape-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
        f.write(ruleset(shape, services, n))
    try:
        first, first_cpu = nft_file(netns, f.name)
        again, again_cpu = nft_file(netns, f.name)
    finally:
        os.unlink(f.name)
        subprocess.run(["ip", "netns", "delete", netns], check=False)
    return Figure(shape, first, first_cpu, again, again_cpu)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, default=10000)
    parser.add_argument("--endpoints", type=int, default=5)
    args = parser.parse_args(argv)
    figures = [measure(shape, args.services, args.endpoints) for shape in SHAPES]
    ref = figures[-1]
    print(f"\nload-balancing shapes: {args.services} services x {args.endpoints} endpoints, nft -f, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")
    for fig in figures:
        print(f"  {fig.shape:<20} first {fig.first:7.2f} s wall {fig.first_cpu:7.2f} s cpu "
              f"({fig.first_cpu / ref.first_cpu:5.2f}x pick)   again {fig.again:7.2f} s wall "
              f"{fig.again_cpu:7.2f} s cpu ({fig.again_cpu / ref.again_cpu:5.2f}x pick)")
    return figures


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
