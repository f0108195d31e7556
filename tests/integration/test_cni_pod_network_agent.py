"""The agent's pod-network component against a real kubelite server, on a simulated node.

`PodNetwork` (what ``run_pod_network`` runs) is started with its netlink work and CNI server inside a
node namespace; the server's node IPAM controller gives the Nodes their podCIDRs. The test sees the
conflist appear with this node's podCIDR, a pod get an address from it through the installed shim
and the resident server, and the route to a peer Node come and go with that Node object.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cni_harness import in_ns, run, short_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from e2e_harness import Server, temporary_server

from kubelite.agent.config import AgentConfig
from kubelite.agent.network import CONFLIST_NAME, PodNetwork
from kubelite.client import APIClient, load_kubeconfig

pytestmark = [pytest.mark.root, pytest.mark.integration]
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-podnet-it-") as srv:
        yield srv


@pytest.fixture
async def client(server: Server) -> AsyncIterator[APIClient]:
    async with APIClient(load_kubeconfig(server.kubeconfig)) as api:
        yield api


@pytest.fixture
def node_netns(tmp_path: Path) -> Iterator[str]:
    name = short_name("klnet-")
    run("ip", "netns", "add", name)
    try:
        in_ns(name, "ip", "link", "set", "lo", "up")
        # no dummy driver on these hosts: a veth pair inside the node stands in for its uplink
        in_ns(name, "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1")
        in_ns(name, "ip", "link", "set", "uplink1", "up")
        in_ns(name, "ip", "addr", "add", "192.168.212.1/24", "dev", "uplink0")
        in_ns(name, "ip", "link", "set", "uplink0", "up")
        yield name
    finally:
        run("ip", "netns", "delete", name, check=False)


def node_body(name: str, ip: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


async def eventually(probe: Any, *, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_pod_network_follows_the_nodes(client: APIClient, node_netns: str, tmp_path: Path) -> None:
    nodes = client.resource("", "v1", "nodes", namespaced=False)
    me, peer = short_name("self-"), short_name("peer-")
    await nodes.create(node_body(me, "192.168.212.1"))
    config = AgentConfig(data_dir=tmp_path, server="https://unused", node_name=me, node_ip="192.168.212.1")
    runtime = KnownSandboxes({"agentpod"})
    network = PodNetwork(config=config, client=client, runtime=runtime,  # type: ignore[arg-type]
                         netns=f"/run/netns/{node_netns}")
    network.gc_interval, network.gc_min_age = 0.2, 0.5
    task = asyncio.create_task(network.run())
    pod = short_name("klpod-")
    run("ip", "netns", "add", pod)
    try:
        conflist_path = config.cni_conf_dir / CONFLIST_NAME
        await eventually(conflist_path.exists, what="the conflist")
        my_cidr = (await nodes.get(me))["spec"]["podCIDR"]
        conflist = json.loads(conflist_path.read_text())
        assert conflist["name"] == "kubelite" and conflist["cniVersion"] == "1.0.0"
        bridge, portmap = conflist["plugins"]
        assert bridge["bridge"] == "kubelite0" and bridge["ipam"]["ranges"] == [[{"subnet": my_cidr}]]
        assert portmap["type"] == "portmap" and portmap["capabilities"] == {"portMappings": True}
        assert in_ns(node_netns, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
        # masquerade for the podCIDR exists before any pod, and comes back after a flush of the table
        masq = ("nft", "list", "set", "ip", "kubelite-cni", "masq_sources")
        await eventually(lambda: my_cidr in in_ns(node_netns, *masq, check=False).stdout, what="masquerade")
        in_ns(node_netns, "nft", "delete", "table", "ip", "kubelite-cni")
        network._kick()
        await eventually(lambda: my_cidr in in_ns(node_netns, *masq, check=False).stdout, what="the table back")

        # a pod gets an address from the podCIDR through the installed shim and the resident server
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "agentpod", "CNI_NETNS": f"/run/netns/{pod}",
               "CNI_IFNAME": "eth0", "CNI_PATH": str(config.cni_bin_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        net = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **bridge}
        out = await cni_add(config, env, net)
        address = ipaddress.ip_interface(json.loads(out)["ips"][0]["address"])
        assert address.ip in ipaddress.ip_network(my_cidr)
        assert "kubelite0" in in_ns(node_netns, "ip", "link").stdout  # made in the node, not on the host

        # an attachment whose sandbox the runtime does not know (a crash between ADD and containerd's
        # bookkeeping) is released by the agent's GC once it is old enough; the known one stays
        ghost_pod = short_name("klghost-")
        run("ip", "netns", "add", ghost_pod)
        try:
            await cni_add(config, dict(env, CNI_CONTAINERID="ghost", CNI_NETNS=f"/run/netns/{ghost_pod}"), net)
            await eventually(lambda: "ghost" in network.collected, what="the GC to release the ghost")
            ipam_dir = config.agent_dir / "cni" / "ipam" / "kubelite"
            held = [p.read_bytes() for p in ipam_dir.iterdir() if p.name[0].isdigit()]
            assert held == [b"agentpod\r\neth0"]
            assert "eth0" not in in_ns(ghost_pod, "ip", "link").stdout  # its veth went with the DEL
        finally:
            run("ip", "netns", "delete", ghost_pod, check=False)

        # a peer node appears: a route to its podCIDR; it leaves: the route goes
        await nodes.create(node_body(peer, "192.168.212.2"))
        peer_cidr = await eventually(lambda: _pod_cidr(nodes, peer), what="the peer's podCIDR")
        await eventually(lambda: f"{peer_cidr} via 192.168.212.2" in _routes(node_netns), what="the peer route")
        # the peer's address changes: the route follows
        body = await nodes.get(peer)
        body["status"]["addresses"] = [{"type": "InternalIP", "address": "192.168.212.3"}]
        await nodes.update_status(body)
        await eventually(lambda: f"{peer_cidr} via 192.168.212.3" in _routes(node_netns), what="the route to change")
        assert "192.168.212.2" not in _routes(node_netns)
        await nodes.delete(peer)
        await eventually(lambda: peer_cidr not in _routes(node_netns), what="the peer route to go")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        run("ip", "netns", "delete", pod, check=False)
        with contextlib.suppress(Exception):
            await nodes.delete(me)
        with contextlib.suppress(Exception):
            await nodes.delete(peer)
    assert not (config.cni_bin_dir.parent / "cni.sock").exists(), "the CNI server stops with the component"


class KnownSandboxes:
    """Stands in for the CRI RuntimeClient: the GC only lists sandboxes (real containerd: test_cni_containerd)."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = ids

    async def list_pod_sandbox(self) -> Any:
        return SimpleNamespace(items=[SimpleNamespace(id=i) for i in self.ids])


async def cni_add(config: AgentConfig, env: dict[str, str], net: dict[str, Any]) -> bytes:
    proc = await asyncio.create_subprocess_exec(str(config.cni_bin_dir / "bridge"), stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, env=env)
    out, _ = await proc.communicate(json.dumps(net).encode())
    assert proc.returncode == 0, out
    return out


async def _pod_cidr(nodes: Any, name: str) -> str:
    return str((await nodes.get(name)).get("spec", {}).get("podCIDR", ""))


def _routes(netns: str) -> str:
    return in_ns(netns, "ip", "route", "show", "proto", "200").stdout
