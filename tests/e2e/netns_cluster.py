"""A real multi-node kubelite cluster on one host: every node is a network namespace the test made.

Layout (all names carry a random suffix, nothing is created in the host's network namespace):

    <p>-lab   a namespace holding the bridge `lan` that plays the nodes' L2 switch and gateway (10.254.0.1)
    <p>-n1    node 1: `kubelite server --disable-agent` and `kubelite agent` (10.254.0.2)
    <p>-n2..  more nodes: `kubelite agent` only (10.254.0.3, ...)

Each node gets a veth pair whose outer end is plugged into `lan` inside the lab namespace, so the
nodes share an L2 segment (host-gw routing works). Processes enter only the node's *network*
namespace (`nsenter --net`), not a new mount namespace: `ip netns exec` would remount /sys and hide
the cgroup hierarchies runc needs. Every agent runs its own containerd under its own data dir and
puts its pods under its own cgroup root, so everything a node made can be found and released.

`netns_cluster()` tears down in the order that leaves the host clean even when a test failed:
workloads deleted through the API (the kubelets stop their pods, CNI DEL runs), leftover sandboxes
removed through each node's CRI socket, processes stopped by PID, then shims, mounts and cgroups of
each node released (cri_harness), and finally the namespaces deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "cri"))
from cri_harness import _release_host_state

from kubelite.cri import ContainerdPaths
from kubelite.cri.client import CriError, RuntimeClient
from kubelite.cri.images import busybox_rootfs, pack_rootfs

BUSYBOX_IMAGE = "kubelite.local/busybox:e2e"
LAN_PREFIX = "10.254.0"
SERVER_PORT = 6443


def _run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def wait_for(what: str, probe: Callable[[], Any], *, timeout: float = 90, logs: Callable[[], str] = lambda: "") -> Any:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` and the logs otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs()}")


@dataclass
class Node:
    name: str
    netns: str
    ip: str
    data_dir: Path
    cgroup_root: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def nsenter(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{self.netns}", "--", *argv]

    def run(self, *argv: str, timeout: float = 30, check: bool = False) -> subprocess.CompletedProcess[str]:
        """A command inside this node's network namespace (host filesystem, host PID namespace)."""
        return _run(*self.nsenter(*argv), timeout=timeout, check=check)

    def http_get(self, url: str, *, timeout: float = 5) -> tuple[bool, str]:
        """GET ``url`` from this node's network namespace: (succeeded, body or error)."""
        script = ("import sys, urllib.request\n"
                  "print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode(), end='')")
        done = self.run(sys.executable, "-I", "-c", script, url, str(timeout), timeout=timeout + 10)
        return (done.returncode == 0, done.stdout if done.returncode == 0 else done.stderr.strip()[-500:])

    @property
    def agent_log(self) -> Path:
        return self.data_dir / "agent.log"


@dataclass
class Cluster:
    base: Path
    nodes: list[Node]
    kubeconfig: Path
    server_log: Path

    @property
    def server_node(self) -> Node:
        return self.nodes[0]

    def logs(self) -> str:
        parts = [f"--- server log tail:\n{self.server_log.read_text()[-3000:]}" if self.server_log.exists() else ""]
        for node in self.nodes:
            if node.agent_log.exists():
                parts.append(f"--- {node.name} agent log tail:\n{node.agent_log.read_text()[-3000:]}")
        return "\n".join(parts)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Stock kubectl inside node 1's network namespace, where the API server listens."""
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), HOME=str(self.base))
        done = subprocess.run(self.server_node.nsenter("kubectl", *args), input=input, capture_output=True,
                              text=True, env=env, timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}\n{self.logs()}")
        return done

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))

    def wait(self, what: str, probe: Callable[[], Any], timeout: float = 120) -> Any:
        return wait_for(what, probe, timeout=timeout, logs=self.logs)


def _make_network(prefix: str, count: int) -> tuple[str, list[str]]:
    lab = f"{prefix}-lab"
    _run("ip", "netns", "add", lab)
    _run("ip", "-n", lab, "link", "set", "lo", "up")
    _run("ip", "-n", lab, "link", "add", "lan", "type", "bridge")
    _run("ip", "-n", lab, "link", "set", "lan", "up")
    # the lab plays the nodes' gateway too: a default route is what every real host has, and a node's
    # own traffic to a Service IP needs a route before the proxy's DNAT rewrites the destination
    _run("ip", "-n", lab, "addr", "add", f"{LAN_PREFIX}.1/24", "dev", "lan")
    names = []
    for index in range(1, count + 1):
        netns = f"{prefix}-n{index}"
        _run("ip", "netns", "add", netns)
        names.append(netns)
        _run("ip", "-n", netns, "link", "set", "lo", "up")
        _run("ip", "-n", lab, "link", "add", f"p{index}", "type", "veth", "peer", "name", "eth0", "netns", netns)
        _run("ip", "-n", lab, "link", "set", f"p{index}", "master", "lan", "up")
        _run("ip", "-n", netns, "addr", "add", f"{LAN_PREFIX}.{index + 1}/24", "dev", "eth0")
        _run("ip", "-n", netns, "link", "set", "eth0", "up")
        _run("ip", "-n", netns, "route", "add", "default", "via", f"{LAN_PREFIX}.1")
    return lab, names


def _busybox_archives(base: Path, extra_tags: tuple[str, ...]) -> list[Path]:
    rootfs = busybox_rootfs(base / "busybox-rootfs")
    return [pack_rootfs(rootfs, tag=tag, output=base / f"busybox-{i}.tar")
            for i, tag in enumerate((BUSYBOX_IMAGE, *extra_tags))]


def _start(node: Node, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(node.nsenter(sys.executable, "-m", "kubelite", *argv), stdout=out,
                                   stderr=subprocess.STDOUT)
    node.processes.append(process)
    return process


def _stop(process: subprocess.Popen[bytes], timeout: float = 40) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _remove_sandboxes(socket: Path) -> None:
    if not socket.exists():
        return
    with contextlib.suppress(CriError, OSError):
        async with RuntimeClient(f"unix://{socket}", timeout=10) as runtime:
            for sandbox in (await runtime.list_pod_sandbox()).items:
                with contextlib.suppress(CriError):
                    await runtime.stop_pod_sandbox(pod_sandbox_id=sandbox.id)
                    await runtime.remove_pod_sandbox(pod_sandbox_id=sandbox.id)


@contextlib.contextmanager
def netns_cluster(nodes: int = 1, *, server_flags: tuple[str, ...] = (), agent_flags: tuple[str, ...] = (),
                  extra_image_tags: tuple[str, ...] = ()) -> Iterator[Cluster]:
    """Start a cluster of ``nodes`` nodes (node 1 also runs the control plane); tear it down afterwards.

    Every node has the busybox image as ``BUSYBOX_IMAGE`` and under each of ``extra_image_tags`` (a rolling
    update needs a second image)."""
    suffix = uuid.uuid4().hex[:6]
    prefix = f"kle{suffix}"
    base = Path(tempfile.mkdtemp(prefix="kle-cluster-"))
    lab = ""
    cluster_nodes: list[Node] = []
    try:
        lab, netns_names = _make_network(prefix, nodes)
        archives = _busybox_archives(base, extra_image_tags)
        for index, netns in enumerate(netns_names, start=1):
            data_dir = base / f"n{index}"
            (data_dir / "agent" / "images").mkdir(parents=True)
            for archive in archives:
                shutil.copy(archive, data_dir / "agent" / "images" / archive.name)
            cluster_nodes.append(Node(name=f"{prefix}-n{index}", netns=netns, ip=f"{LAN_PREFIX}.{index + 1}",
                                      data_dir=data_dir, cgroup_root=f"/{prefix}-n{index}"))
        first = cluster_nodes[0]
        kubeconfig = base / "kubeconfig.yaml"
        cluster = Cluster(base=base, nodes=cluster_nodes, kubeconfig=kubeconfig, server_log=base / "server.log")
        server = _start(first, ["server", "--data-dir", str(first.data_dir), "--bind-address", "0.0.0.0",
                                "--secure-port", str(SERVER_PORT), "--write-kubeconfig", str(kubeconfig),
                                "--node-name", first.name, "--node-ip", first.ip, "--tls-san", first.ip,
                                "--disable-agent", *server_flags], cluster.server_log)
        wait_for("the API server's kubeconfig", lambda: kubeconfig.exists() or server.poll() is not None,
                 timeout=60)
        if server.poll() is not None:
            raise AssertionError(f"kubelite server exited {server.returncode}:\n{cluster.logs()}")
        server_url = f"https://{first.ip}:{SERVER_PORT}"
        # agents join as users do: with the server's node token (K10<CA hash>::server:<secret>), which
        # gets each one its own system:node:<name> certificate
        token_file = first.data_dir / "server" / "node-token"
        wait_for("the server's node token", token_file.exists, timeout=30)
        for node in cluster_nodes:
            _start(node, ["agent", "--data-dir", str(node.data_dir), "--server", server_url,
                          "--token-file", str(token_file), "--node-name", node.name, "--node-ip", node.ip,
                          "--cgroup-root", node.cgroup_root, *agent_flags], node.agent_log)

        def all_ready() -> bool:
            done = cluster.kubectl("get", "nodes", "-o", "json", check=False)
            if done.returncode != 0:
                return False
            ready = {n["metadata"]["name"] for n in json.loads(done.stdout)["items"]
                     if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
            return ready >= {n.name for n in cluster_nodes}

        cluster.wait("every node to be Ready", all_ready, timeout=120)
        yield cluster
    finally:
        _teardown(base, cluster_nodes, prefix, lab)


def _teardown(base: Path, nodes: list[Node], prefix: str, lab: str) -> None:
    kubeconfig = base / "kubeconfig.yaml"
    server_alive = bool(nodes) and bool(nodes[0].processes) and nodes[0].processes[0].poll() is None
    if server_alive and kubeconfig.exists():
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(base))
        for what in ("deployments,replicasets,daemonsets,statefulsets,jobs", "pods"):
            subprocess.run(nodes[0].nsenter("kubectl", "delete", what, "--all", "--all-namespaces", "--wait=true",
                                            "--timeout=60s"), capture_output=True, env=env, timeout=90, check=False)
    for node in nodes:
        asyncio.run(_remove_sandboxes(ContainerdPaths.for_data_dir(node.data_dir).socket))
    for node in reversed(nodes):  # agents first, the server (node 1's first process) last
        for process in reversed(node.processes):
            _stop(process)
    for node in nodes:
        _release_host_state(node.data_dir, ContainerdPaths.for_data_dir(node.data_dir).socket, node.cgroup_root)
    for node in nodes:
        subprocess.run(["ip", "netns", "delete", node.netns], capture_output=True, check=False)
    if lab:
        subprocess.run(["ip", "netns", "delete", lab], capture_output=True, check=False)
    # a node namespace that never got a Node object (start-up failed early) is still named by prefix
    for leftover in Path("/var/run/netns").glob(f"{prefix}-*"):
        subprocess.run(["ip", "netns", "delete", leftover.name], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)
