"""NetworkPolicy allow/deny on real traffic: a real server's objects, the agent's pod network, busybox.

The pod-network component runs for a simulated node (its netlink, nftables and CNI server inside the
node's namespace). Three pods get addresses through the installed shim; Pod objects carrying those
addresses and labels are created in the API server, as a kubelet would report them. Then policies
come and go, and wget between the pods shows what passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cni_harness import httpd, in_ns, run, short_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from e2e_harness import Server, temporary_server

from kubelite.agent.config import AgentConfig
from kubelite.agent.network import CONFLIST_NAME, PodNetwork
from kubelite.client import APIClient, load_kubeconfig

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow]
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-netpol-it-") as srv:
        yield srv


@pytest.fixture
async def client(server: Server) -> AsyncIterator[APIClient]:
    async with APIClient(load_kubeconfig(server.kubeconfig)) as api:
        yield api


async def eventually(probe: Any, *, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT}s waiting for {what}")
        await asyncio.sleep(0.05)


def reaches(source: str, url: str, *, timeout: float = 15) -> bool:
    """wget from a pod: True on an answer, False when the connection is dropped (no answer in time)."""
    try:
        done = in_ns(source, "busybox", "wget", "-q", "-O", "-", url, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


async def add_pod(config: AgentConfig, netns: str, container_id: str) -> str:
    conflist = json.loads((config.cni_conf_dir / CONFLIST_NAME).read_text())
    net = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": container_id, "CNI_NETNS": f"/run/netns/{netns}",
           "CNI_IFNAME": "eth0", "CNI_PATH": str(config.cni_bin_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = await asyncio.create_subprocess_exec(str(config.cni_bin_dir / "bridge"), stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, env=env)
    out, _ = await proc.communicate(json.dumps(net).encode())
    assert proc.returncode == 0, out
    return str(json.loads(out)["ips"][0]["address"].split("/")[0])


async def test_policies_allow_and_deny_pod_traffic(client: APIClient, tmp_path: Path) -> None:
    nodes, pods = client.resource("", "v1", "nodes", namespaced=False), client.resource("", "v1", "pods")
    policies = client.resource("networking.k8s.io", "v1", "networkpolicies")
    me, ns = short_name("np-"), "default"
    node_netns = short_name("klnp-")
    pod_netns = {name: short_name(f"klp{name}-") for name in ("a", "b", "c")}
    for name in (node_netns, *pod_netns.values()):
        run("ip", "netns", "add", name)
    in_ns(node_netns, "ip", "link", "set", "lo", "up")
    in_ns(node_netns, "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1")
    in_ns(node_netns, "ip", "addr", "add", "192.168.213.1/24", "dev", "uplink0")
    for link in ("uplink0", "uplink1"):
        in_ns(node_netns, "ip", "link", "set", link, "up")
    await nodes.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": me},
                        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.213.1"}]}})
    config = AgentConfig(data_dir=tmp_path, server="https://unused", node_name=me, node_ip="192.168.213.1")
    network = PodNetwork(config=config, client=client, netns=f"/run/netns/{node_netns}")
    task = asyncio.create_task(network.run())
    created: list[str] = []
    try:
        await asyncio.wait_for(network.conflist_written.wait(), TIMEOUT)
        ips = {}
        for name, netns in pod_netns.items():
            ips[name] = await add_pod(config, netns, f"np{name}")
            pod_name = f"{me}-{name}"
            body = await pods.create({"apiVersion": "v1", "kind": "Pod",
                                      "metadata": {"name": pod_name, "namespace": ns, "labels": {"app": name}},
                                      "spec": {"nodeName": me, "containers": [
                                          {"name": "c", "image": "busybox",
                                           "ports": [{"name": "http", "containerPort": 8080}]}]}}, namespace=ns)
            created.append(pod_name)
            body["status"] = {"phase": "Running", "podIP": ips[name], "podIPs": [{"ip": ips[name]}]}
            await pods.update_status(body, namespace=ns)
        url = f"http://{ips['b']}:8080/"
        with httpd(pod_netns["b"], port=8080, body="b", workdir=tmp_path):
            assert reaches(pod_netns["a"], url) and reaches(pod_netns["c"], url)  # no policy: all open

            # ingress to b only from app=a on the named port "http"
            await policies.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                   "metadata": {"name": "b-from-a", "namespace": ns},
                                   "spec": {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
                                       {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}],
                                        "ports": [{"port": "http"}]}]}}, namespace=ns)
            await eventually(lambda: ips["b"] in _nft(node_netns, "ingress_isolated"), what="b isolated")
            assert reaches(pod_netns["a"], url)
            assert not reaches(pod_netns["c"], url, timeout=2)

            # a may send nothing at all
            await policies.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                                   "metadata": {"name": "a-deny-egress", "namespace": ns},
                                   "spec": {"podSelector": {"matchLabels": {"app": "a"}},
                                            "policyTypes": ["Egress"]}}, namespace=ns)
            await eventually(lambda: ips["a"] in _nft(node_netns, "egress_isolated"), what="a egress-isolated")
            assert not reaches(pod_netns["a"], url, timeout=2)

            # policies gone: open again
            await policies.delete("b-from-a", namespace=ns)
            await policies.delete("a-deny-egress", namespace=ns)
            await eventually(lambda: ips["b"] not in _nft(node_netns, "ingress_isolated")
                             and ips["a"] not in _nft(node_netns, "egress_isolated"), what="isolation to end")
            assert reaches(pod_netns["a"], url) and reaches(pod_netns["c"], url)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for pod_name in created:
            with contextlib.suppress(Exception):
                await pods.delete(pod_name, namespace=ns, grace_period_seconds=0)
        for name in ("b-from-a", "a-deny-egress"):
            with contextlib.suppress(Exception):
                await policies.delete(name, namespace=ns)
        with contextlib.suppress(Exception):
            await nodes.delete(me)
        for name in (*pod_netns.values(), node_netns):
            run("ip", "netns", "delete", name, check=False)


def _nft(netns: str, set_name: str) -> str:
    return in_ns(netns, "nft", "list", "set", "ip", "kubelite-netpol", set_name, check=False).stdout
