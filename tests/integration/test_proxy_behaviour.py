"""Service proxy behaviour on real network namespaces, in nftables mode and in userspace mode.

A client netns reaches Service addresses through a node netns running the proxier; backends are
separate namespaces behind a bridge (proxy_netns.py). The same behaviour tests run for both modes.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from proxy_netns import (
    BACKEND_IP6S,
    BACKEND_IPS,
    BRIDGE_IP,
    BRIDGE_IP6,
    CLIENT_IP,
    NODE_IP,
    NODE_IP6,
    TCP_PORT,
    UDP_PORT,
    Topology,
    connect_error,
    endpoint_slice,
    service,
    tcp_request,
    topology,
    udp_error,
    udp_request,
)

from kubelite.agent.proxy.nftables_proxier import NftablesProxier
from kubelite.agent.proxy.service_port import ServiceState
from kubelite.native.nft_compiler import TableConfig

pytestmark = [pytest.mark.root, pytest.mark.integration]

TCP = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": TCP_PORT}]
TCP_EP = [{"name": "http", "port": TCP_PORT, "protocol": "TCP"}]
UDP = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": UDP_PORT}]
UDP_EP = [{"name": "dns", "port": UDP_PORT, "protocol": "UDP"}]


@pytest.fixture(scope="module", params=["nftables", "userspace"])
def node(request: pytest.FixtureRequest) -> Iterator[tuple[Topology, str]]:
    with topology() as topo:
        topo.start_driver(request.param)
        topo.driver_call("sync", full=True)
        yield topo, request.param


def apply(topo: Topology, *objs: dict[str, Any], delete: bool = False) -> None:
    for obj in objs:
        kind = "service" if obj["kind"] == "Service" else "slice"
        topo.driver_call(f"delete_{kind}" if delete else kind, obj=obj)
    topo.driver_call("sync", full=False)


def names(replies: list[str]) -> list[str]:
    return [r.split()[0] for r in replies]


def test_cluster_ip_tcp_round_robin_reaches_every_backend(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("rr-tcp", "10.43.0.10", ports=TCP)
    es = endpoint_slice("rr-tcp", list(BACKEND_IPS), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.10", 80) for _ in range(6)]))
        assert Counter(got) == Counter({name: 2 for name in topo.names}), got
        assert got[:3] == got[3:], f"round robin repeats the same order: {got}"
    finally:
        apply(topo, svc, es, delete=True)


def test_cluster_ip_udp_reaches_every_backend(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("rr-udp", "10.43.0.11", ports=UDP)
    es = endpoint_slice("rr-udp", list(BACKEND_IPS), ports=UDP_EP)
    apply(topo, svc, es)
    try:
        got = names(topo.in_client(lambda: [udp_request("10.43.0.11", 53) for _ in range(6)]))
        assert Counter(got) == Counter({name: 2 for name in topo.names}), got
    finally:
        apply(topo, svc, es, delete=True)


def test_session_affinity_pins_a_client_then_expires(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("sticky", "10.43.0.12", ports=TCP, sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 2}})
    es = endpoint_slice("sticky", list(BACKEND_IPS[:2]), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        pinned = names(topo.in_client(lambda: [tcp_request("10.43.0.12", 80) for _ in range(5)]))
        assert len(set(pinned)) == 1, f"one client, one backend while affinity holds: {pinned}"
        # the affinity timeout is the behaviour under test: let it pass without traffic (that would refresh it)
        time.sleep(3)
        after = names(topo.in_client(lambda: [tcp_request("10.43.0.12", 80)]))
        assert after[0] != pinned[0], "after the timeout the next connection is balanced again"
    finally:
        apply(topo, svc, es, delete=True)


def test_node_port_works_from_outside(node: tuple[Topology, str]) -> None:
    topo, mode = node
    svc = service("np", "10.43.0.13", type_="NodePort",
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": TCP_PORT, "nodePort": 30080}])
    es = endpoint_slice("np", list(BACKEND_IPS), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        got = topo.in_client(lambda: [tcp_request(NODE_IP, 30080) for _ in range(3)])
        assert sorted(names(got)) == sorted(topo.names)
        if mode == "nftables":
            # externalTrafficPolicy Cluster: the source is masqueraded to the node
            assert {r.split()[1] for r in got} == {BRIDGE_IP}, got
    finally:
        apply(topo, svc, es, delete=True)


def test_endpoint_removal_reroutes(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("reroute", "10.43.0.14", ports=TCP)
    es = endpoint_slice("reroute", list(BACKEND_IPS), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        assert len(set(names(topo.in_client(lambda: [tcp_request("10.43.0.14", 80) for _ in range(3)])))) == 3
        apply(topo, endpoint_slice("reroute", [BACKEND_IPS[2]], ports=TCP_EP))
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.14", 80) for _ in range(4)]))
        assert got == [topo.names[2]] * 4
    finally:
        apply(topo, svc, es, delete=True)


def test_service_without_endpoints_rejects_fast(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("empty", "10.43.0.15", ports=TCP)
    not_ready = endpoint_slice("empty", [BACKEND_IPS[0]], ports=TCP_EP, ready=False)
    apply(topo, svc, not_ready)
    try:
        error, took = topo.in_client(lambda: connect_error("10.43.0.15", 80))
        assert error == "ConnectionRefusedError", error
        assert took < 1.0, f"rejected at once, not after a timeout ({took:.2f}s)"
    finally:
        apply(topo, svc, not_ready, delete=True)


def test_external_traffic_policy_local_keeps_client_address(node: tuple[Topology, str]) -> None:
    topo, mode = node
    if mode != "nftables":
        pytest.skip("a userspace forwarder always connects from the node")
    svc = service("local", "10.43.0.16", type_="NodePort", externalTrafficPolicy="Local",
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": TCP_PORT, "nodePort": 30081}])
    es = endpoint_slice("local", list(BACKEND_IPS[:2]), ports=TCP_EP)
    es["endpoints"][1]["nodeName"] = "another-node"
    apply(topo, svc, es)
    try:
        got = topo.in_client(lambda: [tcp_request(NODE_IP, 30081) for _ in range(3)])
        assert names(got) == [topo.names[0]] * 3, "only this node's endpoint serves external traffic"
        assert {r.split()[1] for r in got} == {CLIENT_IP}, "no masquerade with externalTrafficPolicy Local"
        # cluster traffic from outside the pod network is masqueraded and still uses every endpoint
        cluster = topo.in_client(lambda: [tcp_request("10.43.0.16", 80) for _ in range(2)])
        assert sorted(names(cluster)) == sorted(topo.names[:2])
        assert {r.split()[1] for r in cluster} == {BRIDGE_IP}
    finally:
        apply(topo, svc, es, delete=True)


def test_full_resync_repairs_drift(node: tuple[Topology, str]) -> None:
    topo, mode = node
    if mode != "nftables":
        pytest.skip("drift is a property of the kernel ruleset")
    svc = service("drift", "10.43.0.17", ports=TCP)
    es = endpoint_slice("drift", list(BACKEND_IPS), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        topo.nft_node("flush", "chain", "ip", "kubelite", "services")  # someone deletes our rules
        error, _ = topo.in_client(lambda: connect_error("10.43.0.17", 80, timeout=1))
        assert error != "connected"
        topo.driver_call("sync", full=True)
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.17", 80) for _ in range(3)]))
        assert sorted(got) == sorted(topo.names)
        text = topo.driver_call("metrics")["text"]
        assert "kubeproxy_sync_full_proxy_rules_duration_seconds_count" in text
    finally:
        apply(topo, svc, es, delete=True)


async def test_every_option_is_accepted_by_the_kernel(netns: str) -> None:
    """Random LB, --nodeport-addresses, SCTP, affinity, externalIPs and LoadBalancer IPs: full and delta apply."""
    state = ServiceState(node_name="node-a")
    proxier = NftablesProxier(state=state, netns=netns, config=TableConfig(
        lb="random", cluster_cidr="10.42.0.0/16", service_cidr="10.43.0.0/16", nodeport_addresses=("10.100.0.0/24",)))
    try:
        lb = service("lb", "10.43.1.1", type_="LoadBalancer", externalIPs=["192.0.2.10"],
                     externalTrafficPolicy="Local", sessionAffinity="ClientIP",
                     ports=[{"name": "s", "port": 9, "protocol": "SCTP", "targetPort": 9, "nodePort": 30900},
                            {"name": "u", "port": 53, "protocol": "UDP", "targetPort": 53, "nodePort": 30053}])
        lb["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}}
        es = endpoint_slice("lb", list(BACKEND_IPS), ports=[{"name": "s", "port": 9, "protocol": "SCTP"},
                                                           {"name": "u", "port": 53, "protocol": "UDP"}])
        state.set_service(lb)
        state.set_slice(es)
        await proxier.sync(True)
        listed = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "kubelite"],
                                capture_output=True, text=True, check=True).stdout
        assert "198.51.100.1 . sctp . 9 : goto affx-" in listed
        assert "numgen random mod 3" in listed
        assert "10.100.0.0/24" in listed
        state.set_slice(endpoint_slice("lb", list(BACKEND_IPS[:1]), ports=es["ports"]))
        await proxier.sync(False)
        state.delete_service(lb)
        await proxier.sync(False)
        listed = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "kubelite"],
                                capture_output=True, text=True, check=True).stdout
        assert "aff" not in listed and "198.51.100.1" not in listed, "every per-service object is gone"
        await proxier.sync(True)
    finally:
        proxier.close()


@pytest.mark.parametrize("family", ["IPv4", "IPv6"])
def test_udp_flow_follows_endpoint_removal(node: tuple[Topology, str], family: str) -> None:
    """One UDP socket (one 5-tuple) keeps talking after its endpoint is removed: it must reach the new one
    (nftables mode: its conntrack entry is deleted, with ``-f ipv6`` for IPv6)."""
    topo, _ = node
    v6 = family == "IPv6"
    vip, backends = ("fd00:43::18", BACKEND_IP6S) if v6 else ("10.43.0.18", BACKEND_IPS)
    svc = service("udp-move", vip, ports=UDP, ipFamilies=[family])
    apply(topo, svc, endpoint_slice("udp-move", [backends[0]], ports=UDP_EP, address_type=family))
    sock = topo.in_client(lambda: socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM))
    try:
        def ask() -> str:
            sock.settimeout(3)
            sock.sendto(b"hi", (vip, 53))
            return sock.recvfrom(2048)[0].decode().split()[0]

        assert topo.in_client(ask) == topo.names[0]
        apply(topo, endpoint_slice("udp-move", [backends[1]], ports=UDP_EP, address_type=family))
        assert topo.in_client(ask) == topo.names[1], "the stale conntrack entry was deleted"
    finally:
        sock.close()
        apply(topo, svc, endpoint_slice("udp-move", [], ports=UDP_EP, address_type=family), delete=True)


def test_hairpin_a_backend_reaches_itself_through_its_service(node: tuple[Topology, str]) -> None:
    topo, mode = node
    svc = service("hairpin", "10.43.0.19", ports=TCP)
    es = endpoint_slice("hairpin", [BACKEND_IPS[0]], ports=TCP_EP)
    apply(topo, svc, es)
    try:
        reply = topo.in_netns(topo.backends[0], lambda: tcp_request("10.43.0.19", 80))
        name, source = reply.split()
        assert name == topo.names[0]
        if mode == "nftables":
            assert source == BRIDGE_IP, "hairpin traffic is masqueraded, or the reply would never come back"
    finally:
        apply(topo, svc, es, delete=True)


# ---- IPv6 (the ip6 kubelite table; in userspace mode, IPv6 listeners) ---------------------------------------


def dual_stack(name: str, v4: str, v6: str, *, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return service(name, v4, ports=ports, clusterIPs=[v4, v6], ipFamilies=["IPv4", "IPv6"],
                   ipFamilyPolicy="RequireDualStack", **spec)


def test_ipv6_cluster_ip_tcp_and_udp_round_robin(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = dual_stack("dual", "10.43.0.20", "fd00:43::20", ports=TCP + UDP)
    v4 = endpoint_slice("dual", list(BACKEND_IPS), ports=TCP_EP + UDP_EP)
    v6 = endpoint_slice("dual", list(BACKEND_IP6S), ports=TCP_EP + UDP_EP, suffix="v6", address_type="IPv6")
    apply(topo, svc, v4, v6)
    try:
        got = names(topo.in_client(lambda: [tcp_request("fd00:43::20", 80) for _ in range(6)]))
        assert Counter(got) == Counter({name: 2 for name in topo.names}), got
        assert got[:3] == got[3:], f"round robin repeats the same order: {got}"
        got = names(topo.in_client(lambda: [udp_request("fd00:43::20", 53) for _ in range(6)]))
        assert Counter(got) == Counter({name: 2 for name in topo.names}), got
        # the IPv4 half of the same Service works beside it
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.20", 80) for _ in range(3)]))
        assert sorted(got) == sorted(topo.names)
    finally:
        apply(topo, svc, v4, v6, delete=True)


def test_ipv6_node_port_works_from_outside(node: tuple[Topology, str]) -> None:
    topo, mode = node
    svc = dual_stack("np6", "10.43.0.21", "fd00:43::21", type_="NodePort",
                     ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": TCP_PORT, "nodePort": 30090}])
    v6 = endpoint_slice("np6", list(BACKEND_IP6S), ports=TCP_EP, suffix="v6", address_type="IPv6")
    apply(topo, svc, v6)
    try:
        got = topo.in_client(lambda: [tcp_request(NODE_IP6, 30090) for _ in range(3)])
        assert sorted(names(got)) == sorted(topo.names)
        if mode == "nftables":
            assert {r.split()[1] for r in got} == {BRIDGE_IP6}, "externalTrafficPolicy Cluster masquerades"
        # no IPv4 endpoints: the IPv4 NodePort refuses (each family on its own, as upstream)
        error, took = topo.in_client(lambda: connect_error(NODE_IP, 30090))
        assert error == "ConnectionRefusedError" and took < 1.0, error
    finally:
        apply(topo, svc, v6, delete=True)


def test_ipv6_service_without_endpoints_rejects_fast(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("empty6", "fd00:43::22", ports=TCP + UDP, ipFamilies=["IPv6"])
    apply(topo, svc)
    try:
        error, took = topo.in_client(lambda: connect_error("fd00:43::22", 80))
        assert error == "ConnectionRefusedError" and took < 1.0, (error, took)
        error, took = topo.in_client(lambda: udp_error("fd00:43::22", 53))
        assert error == "ConnectionRefusedError" and took < 1.0, f"ICMPv6 port unreachable: {error} {took:.2f}s"
    finally:
        apply(topo, svc, delete=True)


def test_ipv6_hairpin_and_endpoint_removal(node: tuple[Topology, str]) -> None:
    topo, mode = node
    svc = service("hairpin6", "fd00:43::23", ports=TCP, ipFamilies=["IPv6"])
    es = endpoint_slice("hairpin6", list(BACKEND_IP6S[:2]), ports=TCP_EP, address_type="IPv6")
    apply(topo, svc, es)
    try:
        replies = topo.in_netns(topo.backends[0], lambda: [tcp_request("fd00:43::23", 80) for _ in range(2)])
        assert sorted(r.split()[0] for r in replies) == sorted(topo.names[:2])
        if mode == "nftables":
            mine = [r for r in replies if r.split()[0] == topo.names[0]]
            assert mine[0].split()[1] == BRIDGE_IP6, "hairpin traffic is masqueraded"
        apply(topo, endpoint_slice("hairpin6", [BACKEND_IP6S[2]], ports=TCP_EP, address_type="IPv6"))
        got = names(topo.in_client(lambda: [tcp_request("fd00:43::23", 80) for _ in range(3)]))
        assert got == [topo.names[2]] * 3
    finally:
        apply(topo, svc, es, delete=True)


# ---- the remaining Service features, as traffic --------------------------------------------------------------


def test_external_ips_and_load_balancer_ingress_reach_backends(node: tuple[Topology, str]) -> None:
    topo, mode = node
    svc = service("lb", "10.43.0.24", type_="LoadBalancer", externalIPs=["192.0.2.50"],
                  ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": TCP_PORT, "nodePort": 30082}])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}
    es = endpoint_slice("lb", list(BACKEND_IPS), ports=TCP_EP)
    apply(topo, svc, es)
    try:
        for address in ("192.0.2.50", "198.51.100.7"):
            got = topo.in_client(lambda a=address: [tcp_request(a, 80) for _ in range(3)])  # type: ignore[misc]
            assert sorted(names(got)) == sorted(topo.names), (address, got)
            if mode == "nftables":
                assert {r.split()[1] for r in got} == {BRIDGE_IP}, "external traffic (policy Cluster) is masqueraded"
    finally:
        apply(topo, svc, es, delete=True)


def test_internal_traffic_policy_local_uses_only_this_nodes_endpoints(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("itp", "10.43.0.25", ports=TCP, internalTrafficPolicy="Local")
    es = endpoint_slice("itp", list(BACKEND_IPS), ports=TCP_EP)
    for endpoint in es["endpoints"][1:]:
        endpoint["nodeName"] = "another-node"
    apply(topo, svc, es)
    try:
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.25", 80) for _ in range(3)]))
        assert got == [topo.names[0]] * 3, got
    finally:
        apply(topo, svc, es, delete=True)


def test_terminating_endpoints_serve_only_when_none_is_ready(node: tuple[Topology, str]) -> None:
    topo, _ = node
    svc = service("term", "10.43.0.26", ports=TCP)
    es = endpoint_slice("term", list(BACKEND_IPS[:2]), ports=TCP_EP)
    es["endpoints"][1]["conditions"] = {"ready": False, "serving": True, "terminating": True}
    apply(topo, svc, es)
    try:
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.26", 80) for _ in range(3)]))
        assert got == [topo.names[0]] * 3, "a ready endpoint exists: terminating ones get no new connections"
        es["endpoints"][0]["conditions"] = {"ready": False, "serving": False, "terminating": True}
        apply(topo, es)
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.26", 80) for _ in range(3)]))
        assert got == [topo.names[1]] * 3, "none ready: the serving terminating endpoint takes traffic"
    finally:
        apply(topo, svc, es, delete=True)


def test_sctp_ports_are_programmed_or_reported_unsupported(node: tuple[Topology, str]) -> None:
    """SCTP traffic cannot be sent here (no SCTP sockets in this kernel): the rules are checked instead, and
    userspace mode must say it cannot forward SCTP while the Service's other ports keep working."""
    topo, mode = node
    svc = service("sctp", "10.43.0.27", ports=[{"name": "s", "port": 9, "protocol": "SCTP", "targetPort": 9},
                                               *TCP])
    es = endpoint_slice("sctp", list(BACKEND_IPS), ports=[{"name": "s", "port": 9, "protocol": "SCTP"}, *TCP_EP])
    apply(topo, svc, es)
    try:
        if mode == "nftables":
            listed = topo.nft_node("list", "table", "ip", "kubelite")
            assert "10.43.0.27 . sctp . 9 : goto svc-" in listed
            assert "10.43.0.27 . 9 : 10.42.0.13 . 9" in listed and "map endpoints-sctp-2 {" in listed
        else:
            text = topo.driver_call("metrics")["text"]
            assert 'kubelite_proxy_unsupported_service_ports{protocol="sctp"} 1.0' in text
        got = names(topo.in_client(lambda: [tcp_request("10.43.0.27", 80) for _ in range(3)]))
        assert sorted(got) == sorted(topo.names)
    finally:
        apply(topo, svc, es, delete=True)


async def test_sctp_rules_of_both_families_load_with_the_nft_binary(netns: str) -> None:
    """The text the proxier writes for SCTP Services (ClusterIP, NodePort, affinity, IPv4 and IPv6) is
    accepted by ``nft -f`` and listed back."""
    state = ServiceState(node_name="node-a")
    proxier = NftablesProxier(state=state, netns=netns, config=TableConfig(
        cluster_cidr="10.42.0.0/16,fd00:42::/64", service_cidr="10.43.0.0/16,fd00:43::/112"))
    ports = [{"name": "s", "port": 9, "protocol": "SCTP", "targetPort": 9, "nodePort": 30909}]
    slice_ports = [{"name": "s", "port": 9, "protocol": "SCTP"}]
    plain = service("plain", "10.43.2.1", type_="NodePort", ports=ports, clusterIPs=["10.43.2.1", "fd00:43::2:1"])
    sticky = service("sticky", "fd00:43::2:2", ports=[{**ports[0], "nodePort": None}], sessionAffinity="ClientIP")
    try:
        for obj in (plain, sticky):
            state.set_service(obj)
        for name, ips, family in (("plain", BACKEND_IPS, "IPv4"), ("plain", BACKEND_IP6S, "IPv6"),
                                  ("sticky", BACKEND_IP6S, "IPv6")):
            state.set_slice(endpoint_slice(name, list(ips), ports=slice_ports, suffix=family.lower(),
                                           address_type=family))
        await proxier.sync(True)
        text = proxier.last_text
        for family in ("ip", "ip6"):
            subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", family, "kubelite"], check=True)
        subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=text, text=True, check=True,
                       capture_output=True)
        v4 = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip", "kubelite"],
                            capture_output=True, text=True, check=True).stdout
        v6 = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "table", "ip6", "kubelite"],
                            capture_output=True, text=True, check=True).stdout
        assert "10.43.2.1 . sctp . 9 : goto svc-" in v4 and "sctp . 30909 : goto np-" in v4
        assert "numgen inc mod 3 vmap @nppick-sctp-3" in v4
        assert "dnat ip to sctp dport map @nodeport-endpoints-sctp-2" in v4
        assert "fd00:43::2:1 . sctp . 9 : goto svc-" in v6
        assert "fd00:43::2:2 . sctp . 9 : goto aff-" in v6
        assert "meta l4proto sctp dnat to [fd00:42::11]:9" in v6, "nft lists an ip6 dnat without the family"
    finally:
        proxier.close()


def test_round_robin_is_exact_per_service_when_services_interleave(node: tuple[Topology, str]) -> None:
    """Two Services with as many endpoints, called alternately: each still alternates between its own two
    backends (a counter shared by both would give each Service one backend only)."""
    topo, _ = node
    one, two = service("rr-a", "10.43.0.28", ports=TCP), service("rr-b", "10.43.0.29", ports=TCP)
    slices = [endpoint_slice(name, list(BACKEND_IPS[:2]), ports=TCP_EP) for name in ("rr-a", "rr-b")]
    apply(topo, one, two, *slices)
    try:
        replies = names(topo.in_client(
            lambda: [tcp_request(ip, 80) for _ in range(4) for ip in ("10.43.0.28", "10.43.0.29")]))
        for got in (replies[0::2], replies[1::2]):
            assert sorted(got[:2]) == sorted(topo.names[:2]) and got[:2] == got[2:], replies
    finally:
        apply(topo, one, two, *slices, delete=True)
