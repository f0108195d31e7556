"""Pod to pod across two simulated nodes, over host-gw routes and over VXLAN.

Two node namespaces joined by a veth "wire" (one L2 segment), each with its own bridge and pods
from kubelite's plugins; the agent's RouteReconciler programs each node from the same Node list the
API server would serve. A busybox httpd in a pod on one node answers a wget from a pod on the other.
Removing a Node from the list removes its routes (and VXLAN neighbours) again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from cni_harness import SimNode, cni, connect_nodes, httpd, in_ns, run, short_name, sim_node, wget

from kubelite.agent.network import VXLAN_DEVICE, RouteReconciler, peers_of, vtep_mac
from kubelite.cni import netlink

pytestmark = [pytest.mark.root, pytest.mark.integration]


def node_object(name: str, ip: str, pod_cidr: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]}}


@pytest.fixture
def two_nodes() -> Iterator[tuple[SimNode, SimNode, str, str]]:
    with sim_node("10.42.11.0/24") as a, sim_node("10.42.12.0/24") as b:
        ip_a, ip_b = connect_nodes(a, b, subnet_prefix="192.168.211")
        yield a, b, ip_a, ip_b


def pod_on(node: SimNode, container_id: str, *, mtu: int) -> tuple[str, str]:
    pod = node.add_pod()
    rc, result = cni(node, "bridge", "ADD", container_id=container_id, netns=pod, config=node.config(mtu=mtu))
    assert rc == 0 and result is not None, result
    return pod, result["ips"][0]["address"].split("/")[0]


@pytest.mark.parametrize("backend", ["host-gw", "vxlan"])
def test_pod_reaches_pod_on_another_node(two_nodes: tuple[SimNode, SimNode, str, str], backend: str) -> None:
    a, b, ip_a, ip_b = two_nodes
    nodes = [node_object(a.name, ip_a, a.pod_cidr), node_object(b.name, ip_b, b.pod_cidr)]
    mtu = 1450 if backend == "vxlan" else 1500
    pod_a, pod_a_ip = pod_on(a, "xa", mtu=mtu)
    pod_b, pod_b_ip = pod_on(b, "xb", mtu=mtu)
    with netlink.in_netns(f"/run/netns/{a.netns}") as ipr_a, netlink.in_netns(f"/run/netns/{b.netns}") as ipr_b:
        rec_a = RouteReconciler(backend=backend, self_name=a.name, local_ip=ip_a, own_pod_cidr=a.pod_cidr, ipr=ipr_a)
        rec_b = RouteReconciler(backend=backend, self_name=b.name, local_ip=ip_b, own_pod_cidr=b.pod_cidr, ipr=ipr_b)
        rec_a.reconcile(peers_of(nodes, self_name=a.name))
        rec_b.reconcile(peers_of(nodes, self_name=b.name))
        rec_a.reconcile(peers_of(nodes, self_name=a.name))  # idempotent: a second pass changes nothing

        routes_a = in_ns(a.netns, "ip", "route", "show", "proto", "200").stdout
        if backend == "host-gw":
            assert f"{b.pod_cidr} via {ip_b}" in routes_a
        else:
            assert f"{b.pod_cidr} via 10.42.12.0 dev {VXLAN_DEVICE} onlink" in routes_a
            assert vtep_mac(b.name) in in_ns(a.netns, "bridge", "fdb", "show", "dev", VXLAN_DEVICE).stdout
            assert "vxlan id 1" in in_ns(a.netns, "ip", "-d", "link", "show", VXLAN_DEVICE).stdout

        with httpd(pod_b, port=8080, body=f"pod on {b.name}", workdir=b.base):
            assert wget(pod_a, f"http://{pod_b_ip}:8080/") == f"pod on {b.name}"
        # inside the cluster CIDR the pod's own address arrives (no masquerade) ...
        tracked = in_ns(b.netns, "conntrack", "-L", "-p", "tcp", "--dport", "8080", check=False).stdout
        assert f"src={pod_a_ip} dst={pod_b_ip}" in tracked and f"dst={pod_a_ip}" in tracked.split("dport=8080")[1]
        # ... leaving it (to node b's own address), the source is node a's address
        with httpd(b.netns, port=8090, body="node b", workdir=b.base):
            assert wget(pod_a, f"http://{ip_b}:8090/") == "node b"
        tracked = in_ns(a.netns, "conntrack", "-L", "-p", "tcp", "--dport", "8090", check=False).stdout
        assert f"src={pod_a_ip} dst={ip_b}" in tracked and f"src={ip_b} dst={ip_a}" in tracked

        # node b leaves the cluster: its route (and VXLAN peer) go away on a
        rec_a.reconcile(peers_of(nodes[:1], self_name=a.name))
        assert in_ns(a.netns, "ip", "route", "show", "proto", "200").stdout.strip() == ""
        if backend == "vxlan":
            assert vtep_mac(b.name) not in in_ns(a.netns, "bridge", "fdb", "show", "dev", VXLAN_DEVICE).stdout
        # switching backends leaves no device of the other behind
        RouteReconciler(backend="host-gw", self_name=a.name, local_ip=ip_a, own_pod_cidr=a.pod_cidr,
                        ipr=ipr_a).reconcile(peers_of(nodes, self_name=a.name))
        assert VXLAN_DEVICE not in a.host_links()
        assert f"{b.pod_cidr} via {ip_b}" in in_ns(a.netns, "ip", "route", "show", "proto", "200").stdout


def test_reconciler_keeps_routes_it_does_not_own(two_nodes: tuple[SimNode, SimNode, str, str]) -> None:
    a, _, ip_a, ip_b = two_nodes
    in_ns(a.netns, "ip", "route", "add", "10.99.0.0/24", "via", ip_b)  # somebody else's route
    with netlink.in_netns(f"/run/netns/{a.netns}") as ipr_a:
        RouteReconciler(backend="host-gw", self_name=a.name, local_ip=ip_a, own_pod_cidr=a.pod_cidr,
                        ipr=ipr_a).reconcile([])
    assert "10.99.0.0/24 via" in in_ns(a.netns, "ip", "route").stdout


def test_vxlan_crosses_a_router_where_host_gw_cannot() -> None:
    """Nodes on two subnets joined by a router namespace: not one L2, so only VXLAN carries pod traffic."""
    router = short_name("klrtr-")
    run("ip", "netns", "add", router)
    try:
        with sim_node("10.42.21.0/24") as a, sim_node("10.42.22.0/24") as b:
            in_ns(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            for node, subnet in ((a, "192.168.221"), (b, "192.168.222")):
                inner, outer = short_name("kln"), short_name("klr")
                run("ip", "link", "add", inner, "netns", node.netns, "type", "veth", "peer", "name", outer,
                    "netns", router)
                in_ns(router, "ip", "addr", "add", f"{subnet}.1/24", "dev", outer)
                in_ns(router, "ip", "link", "set", outer, "up")
                in_ns(node.netns, "ip", "addr", "add", f"{subnet}.2/24", "dev", inner)
                in_ns(node.netns, "ip", "link", "set", inner, "up")
                in_ns(node.netns, "ip", "route", "add", "default", "via", f"{subnet}.1")
            ip_a, ip_b = "192.168.221.2", "192.168.222.2"
            nodes = [node_object(a.name, ip_a, a.pod_cidr), node_object(b.name, ip_b, b.pod_cidr)]
            pod_a, _ = pod_on(a, "ra", mtu=1450)
            pod_b, pod_b_ip = pod_on(b, "rb", mtu=1450)
            with netlink.in_netns(f"/run/netns/{a.netns}") as ipr_a, \
                    netlink.in_netns(f"/run/netns/{b.netns}") as ipr_b:
                for rec, node, ip, ipr in ((a, a, ip_a, ipr_a), (b, b, ip_b, ipr_b)):
                    RouteReconciler(backend="host-gw", self_name=node.name, local_ip=ip, own_pod_cidr=rec.pod_cidr,
                                    ipr=ipr).reconcile(peers_of(nodes, self_name=node.name))
                with httpd(pod_b, port=8080, body="over the router", workdir=b.base):
                    # host-gw: the peer is no next hop on a shared link, so it gets no route (and a warning)
                    assert in_ns(a.netns, "ip", "route", "show", "proto", "200").stdout.strip() == ""
                    assert not _reaches(pod_a, f"http://{pod_b_ip}:8080/")
                    for node, ip, ipr in ((a, ip_a, ipr_a), (b, ip_b, ipr_b)):
                        RouteReconciler(backend="vxlan", self_name=node.name, local_ip=ip, own_pod_cidr=node.pod_cidr,
                                        ipr=ipr).reconcile(peers_of(nodes, self_name=node.name))
                    assert wget(pod_a, f"http://{pod_b_ip}:8080/") == "over the router"
    finally:
        run("ip", "netns", "delete", router, check=False)


def _reaches(netns: str, url: str) -> bool:
    try:
        return in_ns(netns, "busybox", "wget", "-q", "-O", "-", url, check=False, timeout=2).returncode == 0
    except subprocess.TimeoutExpired:
        return False
