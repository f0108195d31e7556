"""A node in network namespaces for the service proxy's integration tests.

Topology (every namespace, interface and process made here is removed by ``Topology.close``)::

    client netns  10.100.0.2 --veth-- 10.100.0.1  node netns  (proxy rules / userspace proxy)
                  fd00:100::2             fd00:100::1
                                                  br 10.42.0.1/24, fd00:42::1/64
                                   backend netns's 10.42.0.11, .12, .13 and fd00:42::11, ::12, ::13
                                   (TCP and UDP name servers on both families)

Backends answer every TCP connection and every UDP datagram with ``<name> <peer address>`` so a test
sees which endpoint it reached and whether its source was masqueraded. The proxy runs in the node
netns as ``proxy_driver.py`` (nftables or userspace mode), fed Services and EndpointSlices on stdin.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from kubelite.agent.proxy.nftables_proxier import enter_netns

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
NODE_IP = "10.100.0.1"
CLIENT_IP = "10.100.0.2"
BRIDGE_IP = "10.42.0.1"
BACKEND_IPS = ("10.42.0.11", "10.42.0.12", "10.42.0.13")
NODE_IP6 = "fd00:100::1"
CLIENT_IP6 = "fd00:100::2"
BRIDGE_IP6 = "fd00:42::1"
BACKEND_IP6S = ("fd00:42::11", "fd00:42::12", "fd00:42::13")
TCP_PORT = 8080
UDP_PORT = 9053

BACKEND_SERVER = textwrap.dedent("""
    import socket, sys, threading
    name = sys.argv[1]
    def dual(kind):  # one socket for both families; IPv4 peers show as ::ffff:a.b.c.d
        srv = socket.socket(socket.AF_INET6, kind); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return srv
    def peer_ip(peer):
        return peer[0].removeprefix("::ffff:")
    def tcp():
        srv = dual(socket.SOCK_STREAM)
        srv.bind(("::", int(sys.argv[2]))); srv.listen(64)
        while True:
            conn, peer = srv.accept()
            with conn:
                conn.sendall(f"{name} {peer_ip(peer)}".encode())
    def udp():
        srv = dual(socket.SOCK_DGRAM); srv.bind(("::", int(sys.argv[3])))
        while True:
            data, peer = srv.recvfrom(2048)
            srv.sendto(f"{name} {peer_ip(peer)}".encode(), peer)
    threading.Thread(target=udp, daemon=True).start()
    print("ready", flush=True)
    tcp()
""")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def nsx(netns: str, *args: str) -> None:
    sh("ip", "netns", "exec", netns, *args)


class Topology:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.node = f"klpx-n-{tag}"
        self.client = f"klpx-c-{tag}"
        self.backends = [f"klpx-b{i}-{tag}" for i in range(len(BACKEND_IPS))]
        self.names = [f"backend-{i}" for i in range(len(BACKEND_IPS))]
        self._procs: list[subprocess.Popen[str]] = []
        self._executor: ThreadPoolExecutor | None = None
        self.driver: subprocess.Popen[str] | None = None

    def create(self) -> None:
        for ns in (self.node, self.client, *self.backends):
            sh("ip", "netns", "add", ns)
            # no IPv6 duplicate address detection on any interface made here (link-local addresses too):
            # while an address is tentative, neighbour discovery and first packets are lost
            nsx(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
        sh("ip", "link", "add", "klpxc0", "netns", self.client, "type", "veth", "peer", "name", "klpxn0",
           "netns", self.node)
        nsx(self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        nsx(self.node, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        nsx(self.node, "ip", "link", "set", "lo", "up")
        nsx(self.node, "ip", "addr", "add", f"{NODE_IP}/24", "dev", "klpxn0")
        # nodad: IPv6 addresses usable at once (no duplicate address detection wait)
        nsx(self.node, "ip", "addr", "add", f"{NODE_IP6}/64", "dev", "klpxn0", "nodad")
        nsx(self.node, "ip", "link", "set", "klpxn0", "up")
        nsx(self.node, "ip", "link", "add", "br0", "type", "bridge")
        nsx(self.node, "ip", "addr", "add", f"{BRIDGE_IP}/24", "dev", "br0")
        nsx(self.node, "ip", "addr", "add", f"{BRIDGE_IP6}/64", "dev", "br0", "nodad")
        nsx(self.node, "ip", "link", "set", "br0", "up")
        nsx(self.client, "ip", "link", "set", "lo", "up")
        nsx(self.client, "ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "klpxc0")
        nsx(self.client, "ip", "addr", "add", f"{CLIENT_IP6}/64", "dev", "klpxc0", "nodad")
        nsx(self.client, "ip", "link", "set", "klpxc0", "up")
        nsx(self.client, "ip", "route", "add", "default", "via", NODE_IP)
        nsx(self.client, "ip", "-6", "route", "add", "default", "via", NODE_IP6)
        # a real node has a default route: without one, service IPs are unroutable before the proxy's filter
        nsx(self.node, "ip", "route", "add", "default", "via", CLIENT_IP)
        nsx(self.node, "ip", "-6", "route", "add", "default", "via", CLIENT_IP6)
        for i, (ns, ip, ip6) in enumerate(zip(self.backends, BACKEND_IPS, BACKEND_IP6S, strict=True)):
            sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"klpxb{i}", "netns",
               self.node)
            nsx(self.node, "ip", "link", "set", f"klpxb{i}", "master", "br0", "up")
            # as kubelite's CNI bridge does (hairpinMode): with bridge netfilter on, a DNATed packet going
            # back to the port it came from is bridged, and needs hairpin mode on that port
            nsx(self.node, "ip", "link", "set", f"klpxb{i}", "type", "bridge_slave", "hairpin", "on")
            nsx(ns, "ip", "link", "set", "lo", "up")
            nsx(ns, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
            nsx(ns, "ip", "addr", "add", f"{ip6}/64", "dev", "eth0", "nodad")
            nsx(ns, "ip", "link", "set", "eth0", "up")
            nsx(ns, "ip", "route", "add", "default", "via", BRIDGE_IP)
            nsx(ns, "ip", "-6", "route", "add", "default", "via", BRIDGE_IP6)
            proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", BACKEND_SERVER, self.names[i],
                                     str(TCP_PORT), str(UDP_PORT)], stdout=subprocess.PIPE, text=True)
            self._procs.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        self._executor = ThreadPoolExecutor(1, initializer=enter_netns, initargs=(self.client,))

    def start_driver(self, mode: str, *args: str) -> None:
        self.driver = subprocess.Popen(
            ["ip", "netns", "exec", self.node, sys.executable, str(HERE / "proxy_driver.py"), mode, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def driver_call(self, op: str, **fields: Any) -> dict[str, Any]:
        assert self.driver is not None and self.driver.stdin is not None and self.driver.stdout is not None
        self.driver.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.driver.stdin.flush()
        line = self.driver.stdout.readline()
        if not line:
            raise AssertionError(f"proxy driver exited ({self.driver.wait(5)})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise AssertionError(f"proxy driver: {reply['error']}")
        return reply

    def in_client(self, func: Callable[[], T]) -> T:
        assert self._executor is not None
        return self._executor.submit(func).result(timeout=60)

    def in_netns(self, netns: str, func: Callable[[], T]) -> T:
        """Run ``func`` on a fresh thread inside ``netns`` (e.g. a backend calling its own Service)."""
        with ThreadPoolExecutor(1, initializer=enter_netns, initargs=(netns,)) as pool:
            return pool.submit(func).result(timeout=60)

    def nft_node(self, *args: str) -> str:
        return subprocess.run(["ip", "netns", "exec", self.node, "nft", *args], capture_output=True, text=True,
                              check=True, timeout=30).stdout

    def close(self) -> None:
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.driver_call("exit")
            with contextlib.suppress(Exception):
                self.driver.wait(10)
            if self.driver.poll() is None:
                self.driver.kill()
                self.driver.wait()
        for proc in self._procs:
            proc.kill()
            proc.wait()
        if self._executor is not None:
            self._executor.shutdown()
        for ns in (self.node, self.client, *self.backends):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


@contextlib.contextmanager
def topology() -> Iterator[Topology]:
    topo = Topology()
    try:
        topo.create()
        yield topo
    finally:
        topo.close()


# ---- client side (runs on the client netns thread) ----------------------------------------------------


def tcp_request(ip: str, port: int, timeout: float = 3.0) -> str:
    with socket.create_connection((ip, port), timeout=timeout) as conn:
        chunks = []
        while data := conn.recv(1024):
            chunks.append(data)
    return b"".join(chunks).decode()


def udp_request(ip: str, port: int, timeout: float = 3.0) -> str:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(b"hi", (ip, port))
        data, _ = sock.recvfrom(2048)
    return data.decode()


def udp_error(ip: str, port: int, timeout: float = 5.0) -> tuple[str, float]:
    """How a UDP request fails (exception class name: an ICMP unreachable is ConnectionRefusedError on a
    connected socket) and how long it took."""
    start = time.monotonic()
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((ip, port))
        try:
            sock.send(b"hi")
            sock.recv(2048)
            return "answered", time.monotonic() - start
        except OSError as exc:
            return type(exc).__name__, time.monotonic() - start


def connect_error(ip: str, port: int, timeout: float = 5.0) -> tuple[str, float]:
    """How a TCP connect fails (exception class name) and how long it took."""
    start = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return "connected", time.monotonic() - start
    except ConnectionRefusedError:
        return "ConnectionRefusedError", time.monotonic() - start
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}", time.monotonic() - start


# ---- API objects ----------------------------------------------------------------------------------------


def service(name: str, cluster_ip: str, *, ports: list[dict[str, Any]], type_: str = "ClusterIP",
            **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports, **spec}}


def endpoint_slice(service_name: str, ips: list[str], *, ports: list[dict[str, Any]],
                   node_name: str = "node-a", ready: bool = True, suffix: str = "abc",
                   address_type: str = "IPv4") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": f"{service_name}-{suffix}", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": service_name}},
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}, "nodeName": node_name} for ip in ips],
            "ports": ports}
