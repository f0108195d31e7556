"""CNI ADD+DEL latency: kubelite's plugins beside the reference Go plugins, same node, same run.

Run (as root):  python tests/bench/cni_bench.py [--pods 50] [--ip-masq]
A node namespace is created with two bridges: the reference ``bridge`` + ``host-local`` from
/usr/lib/cni (Debian containernetworking-plugins) on one, kubelite's (shim -> resident server, as
containerd calls them) on the other, with the same configuration (gateway, default route, hairpin,
MTU; the reference refuses hairpin and promiscuous mode together; masquerade only with --ip-masq).
For each pod namespace: time one ADD, then one DEL, for one implementation and then the other,
interleaved so that both see the same machine load. Prints p50/p99 of ADD, DEL and ADD+DEL for
both and kubelite's ratio to the reference (target: <= 1.5x). Everything it creates (namespaces,
the server process, temp dirs) is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFERENCE_DIR = Path("/usr/lib/cni")


@dataclass
class Series:
    name: str
    add: list[float] = field(default_factory=list)
    delete: list[float] = field(default_factory=list)

    @property
    def both(self) -> list[float]:
        return [a + d for a, d in zip(self.add, self.delete, strict=True)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


def line(name: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"{name:<36} n={len(values):<4} p50 {p50:>7.2f} ms   p99 {p99:>7.2f} ms"


def _run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True)


def config(name: str, bridge: str, subnet: str, data_dir: Path, *, ip_masq: bool) -> dict[str, Any]:
    return {"cniVersion": "1.0.0", "name": name, "type": "bridge", "bridge": bridge, "mtu": 1500, "isGateway": True,
            "isDefaultGateway": True, "ipMasq": ip_masq, "hairpinMode": True, "promiscMode": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "dataDir": str(data_dir)}}


def call(node_netns: str, plugin: Path, command: str, container_id: str, pod: str, conf: bytes,
         cni_path: Path) -> float:
    """One plugin execution from inside the node's network namespace; returns its wall time."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
           "CNI_NETNS": f"/run/netns/{pod}", "CNI_IFNAME": "eth0", "CNI_PATH": str(cni_path)}
    start = time.perf_counter()
    done = subprocess.run(["nsenter", f"--net=/run/netns/{node_netns}", str(plugin)], input=conf, env=env,
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{plugin} {command} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed


def nsenter_floor(node_netns: str, samples: int) -> list[float]:
    """What entering the namespace and exec'ing costs by itself (``true``), included in every figure."""
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        subprocess.run(["nsenter", f"--net=/run/netns/{node_netns}", "true"], check=True)
        out.append(time.perf_counter() - start)
    return out


@contextlib.contextmanager
def bench_node() -> Iterator[tuple[str, Path]]:
    name = f"klbench-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="klcnibench-"))
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, work
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def kubelite_server(node_netns: str, bin_dir: Path) -> Iterator[None]:
    from kubelite.cni.executables import install_plugins, socket_path

    install_plugins(bin_dir=bin_dir)
    sock = socket_path(bin_dir)
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{node_netns}", sys.executable, "-m", "kubelite.cni.server",
                             str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the kubelite CNI server did not start")
            time.sleep(0.02)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> dict[str, Series]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--ip-masq", action="store_true", help="masquerade on both (reference: iptables)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("cni_bench needs root (network namespaces)")
    if not (REFERENCE_DIR / "bridge").exists():
        raise SystemExit(f"reference plugins missing in {REFERENCE_DIR}: apt-get install containernetworking-plugins")
    ours, ref = Series("kubelite bridge+host-local"), Series("reference bridge+host-local")
    with bench_node() as (node, work):
        bin_dir = work / "cni" / "bin"
        with kubelite_server(node, bin_dir):
            ours_conf = json.dumps(config("kubelite", "kubelite0", "10.88.0.0/16", work / "ipam-kubelite",
                                          ip_masq=args.ip_masq)).encode()
            ref_conf = json.dumps(config("reference", "klref0", "10.89.0.0/16", work / "ipam-reference",
                                         ip_masq=args.ip_masq)).encode()
            pods = []
            try:
                for i in range(args.pods + 1):  # pod 0 warms both up (bridge creation, page cache)
                    pod = f"{node}-p{i}"
                    _run("ip", "netns", "add", pod)
                    pods.append(pod)
                    for series, plugin, conf, cni_path in ((ref, REFERENCE_DIR / "bridge", ref_conf, REFERENCE_DIR),
                                                           (ours, bin_dir / "bridge", ours_conf, bin_dir)):
                        ifname_id = f"bench{i}-{series is ours}"
                        add = call(node, plugin, "ADD", ifname_id, pod, conf, cni_path)
                        delete = call(node, plugin, "DEL", ifname_id, pod, conf, cni_path)
                        if i > 0:
                            series.add.append(add)
                            series.delete.append(delete)
            finally:
                for pod in pods:
                    subprocess.run(["ip", "netns", "delete", pod], check=False, capture_output=True)
        floor = nsenter_floor(node, 20)
    print(f"CNI ADD/DEL, {args.pods} pods, one node namespace, ipMasq={args.ip_masq}")
    print(line("floor: nsenter + exec true", floor))
    for series in (ref, ours):
        print(line(f"{series.name} ADD", series.add))
        print(line(f"{series.name} DEL", series.delete))
        print(line(f"{series.name} ADD+DEL", series.both))
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ratio = percentile(ours.both, q) / max(percentile(ref.both, q), 1e-9)
        print(f"kubelite / reference ADD+DEL {label}: {ratio:.2f}x (target <= 1.5x)")
    return {"kubelite": ours, "reference": ref}


if __name__ == "__main__":
    main()
