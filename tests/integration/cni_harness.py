"""Simulated nodes for the CNI integration tests: a network namespace per node, one per pod.

A `SimNode` is a namespace of its own with kubelite's plugins installed in a private bin dir and a
resident CNI server (``python -m kubelite.cni.server``) running *inside* the node's namespace, as the
agent would on a real node. The shims are executed from the host; they reach the server through
the socket (sockets on the filesystem are not bound to a network namespace). Everything a node
creates (bridge, veths, nft table) lives in its namespace, so deleting the namespaces removes it;
the server is stopped by PID and the directory removed, even when a test fails.
"""

from __future__ import annotations

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

from kubelite.cni.executables import install_plugins, socket_path

TIMEOUT = 20.0


def short_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def run(*cmd: str, check: bool = True, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout)


def in_ns(netns: str, *cmd: str, check: bool = True, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", netns, *cmd, check=check, timeout=timeout)


def wait_for(probe: Any, *, what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class SimNode:
    name: str
    netns: str
    base: Path
    pod_cidr: str
    cluster_cidr: str = "10.42.0.0/16"
    server: subprocess.Popen[bytes] | None = None
    pods: list[str] = field(default_factory=list)

    @property
    def bin_dir(self) -> Path:
        return self.base / "cni" / "bin"

    @property
    def ipam_dir(self) -> Path:
        return self.base / "cni" / "ipam"  # where the agent's conflist puts it (agent dir = base)

    def config(self, *, mtu: int = 1500, portmap: bool = False, version: str = "1.0.0") -> dict[str, Any]:
        bridge = {"type": "bridge", "bridge": "kubelite0", "mtu": mtu, "isGateway": True, "isDefaultGateway": True,
                  "ipMasq": True, "hairpinMode": True, "promiscMode": True, "clusterCIDR": self.cluster_cidr,
                  "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_cidr}]],
                           "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.ipam_dir)}}
        if not portmap:
            return {"cniVersion": version, "name": "kubelite", **bridge}
        return {"cniVersion": version, "name": "kubelite", "plugins": [
            bridge, {"type": "portmap", "capabilities": {"portMappings": True},
                     "dataDir": str(self.base / "portmap")}]}

    def add_pod(self) -> str:
        name = short_name("klpod-")
        run("ip", "netns", "add", name)
        self.pods.append(name)
        return name

    def allocations(self) -> list[str]:
        directory = self.ipam_dir / "kubelite"
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.name[0].isdigit())

    def host_links(self) -> list[str]:
        out = in_ns(self.netns, "ip", "-o", "link", "show").stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def start_server(self) -> None:
        sock = socket_path(self.bin_dir)
        # nsenter enters only the network namespace (`ip netns exec` would also give the server a mount
        # namespace of its own, where pod namespaces bind-mounted later by containerd may not show up)
        self.server = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.netns}", sys.executable, "-m",
                                        "kubelite.cni.server", str(sock)],
                                       stdout=subprocess.DEVNULL, stderr=open(self.base / "server.log", "ab"))
        wait_for(sock.exists, what=f"the CNI server socket {sock}")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
        self.server = None


def cni(node: SimNode, plugin: str, command: str, *, container_id: str = "", netns: str = "", ifname: str = "eth0",
        config: dict[str, Any] | bytes | None = None, direct: bool = False,
        extra_env: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """Run one CNI call through the installed shim (or ``direct``: the in-process fallback, in the node)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command, "CNI_PATH": str(node.bin_dir)}
    if container_id:
        env["CNI_CONTAINERID"] = container_id
    if netns:
        env["CNI_NETNS"] = f"/run/netns/{netns}"
    if ifname:
        env["CNI_IFNAME"] = ifname
    env.update(extra_env or {})
    stdin = config if isinstance(config, bytes) else json.dumps(config or {}).encode()
    cmd = [str(node.bin_dir / plugin)]
    if direct:
        cmd = ["ip", "netns", "exec", node.netns, str(node.bin_dir / "kubelite-cni-fallback"), plugin]
    done = subprocess.run(cmd, input=stdin, capture_output=True, env=env, timeout=TIMEOUT, check=False)
    body = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, body


@contextlib.contextmanager
def sim_node(pod_cidr: str, *, server: bool = True) -> Iterator[SimNode]:
    """A node namespace with plugins installed and (by default) its resident server running."""
    node = SimNode(name=short_name("n"), netns=short_name("klnode-"),
                   base=Path(tempfile.mkdtemp(prefix="klcni-")), pod_cidr=pod_cidr)
    run("ip", "netns", "add", node.netns)
    try:
        in_ns(node.netns, "ip", "link", "set", "lo", "up")
        in_ns(node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        install_plugins(bin_dir=node.bin_dir)
        if server:
            node.start_server()
        yield node
    finally:
        node.stop_server()
        for pod in node.pods:
            run("ip", "netns", "delete", pod, check=False)
        run("ip", "netns", "delete", node.netns, check=False)
        shutil.rmtree(node.base, ignore_errors=True)


def connect_nodes(a: SimNode, b: SimNode, *, subnet_prefix: str) -> tuple[str, str]:
    """A veth 'wire' between two node namespaces (one L2 segment); returns their addresses."""
    ifa, ifb = short_name("kla"), short_name("klb")
    run("ip", "link", "add", ifa, "netns", a.netns, "type", "veth", "peer", "name", ifb, "netns", b.netns)
    ip_a, ip_b = f"{subnet_prefix}.1", f"{subnet_prefix}.2"
    in_ns(a.netns, "ip", "addr", "add", f"{ip_a}/24", "dev", ifa)
    in_ns(b.netns, "ip", "addr", "add", f"{ip_b}/24", "dev", ifb)
    in_ns(a.netns, "ip", "link", "set", ifa, "up")
    in_ns(b.netns, "ip", "link", "set", ifb, "up")
    return ip_a, ip_b


@contextlib.contextmanager
def httpd(netns: str, *, port: int, body: str, workdir: Path) -> Iterator[None]:
    """busybox httpd serving ``body`` at /index.html inside ``netns``; stopped by PID afterwards."""
    root = workdir / f"www-{netns}-{port}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(body)
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "busybox", "httpd", "-f", "-p", str(port), "-h", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: f":{port} " in in_ns(netns, "busybox", "netstat", "-ltn").stdout,
                 what=f"httpd listening on {port} in {netns}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wget(netns: str, url: str, *, timeout: int = 15) -> str:
    # no -T: this busybox's wget crashes with it; the subprocess timeout bounds the wait instead
    try:
        done = in_ns(netns, "busybox", "wget", "-q", "-O", "-", url, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"wget {url} from {netns} timed out after {timeout}s")
    if done.returncode != 0:
        raise AssertionError(f"wget {url} from {netns} failed: {done.stderr.strip()}")
    return done.stdout
