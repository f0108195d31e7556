"""Userspace mode's endpoint choice, and the UDP conntrack clean-up decisions of the nftables mode."""

from __future__ import annotations

import pytest

from kubelite.agent.proxy import conntrack, nftables_proxier
from kubelite.agent.proxy.userspace_proxier import Balancer
from kubelite.native.nft_compiler import ServicePortSpec

A, B, C = ("10.42.0.5", 80), ("10.42.0.6", 80), ("10.42.0.7", 80)


def test_round_robin_cycles_through_endpoints() -> None:
    balancer = Balancer(endpoints=[A, B, C])
    assert [balancer.pick("1.1.1.1") for _ in range(6)] == [A, B, C, A, B, C]


def test_failed_endpoints_are_skipped() -> None:
    balancer = Balancer(endpoints=[A, B])
    assert balancer.pick("1.1.1.1", exclude=frozenset({A, B})) is None
    assert balancer.pick("1.1.1.1", exclude=frozenset({A})) == B


def test_client_ip_affinity_pins_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("kubelite.agent.proxy.userspace_proxier.time.monotonic", lambda: now[0])
    balancer = Balancer(endpoints=[A, B, C], affinity_timeout=10)
    first = balancer.pick("1.1.1.1")
    assert [balancer.pick("1.1.1.1") for _ in range(3)] == [first] * 3
    assert balancer.pick("2.2.2.2") != first, "another client is balanced"
    now[0] += 9
    assert balancer.pick("1.1.1.1") == first, "each connection refreshes the timeout"
    now[0] += 11
    assert balancer.pick("1.1.1.1") != first
    balancer.update([C], 10)
    assert balancer.pick("1.1.1.1") == C, "a pinned endpoint that went away is not used"


def udp(**kw: object) -> ServicePortSpec:
    base: dict[str, object] = dict(id="u1", protocol="udp", port=53, cluster_ips=("10.43.0.10",), external_ips=(),
                                   node_port=30053, internal_endpoints=(A, B), external_endpoints=(A, B))
    base.update(kw)
    return ServicePortSpec(**base)  # type: ignore[arg-type]


def test_udp_flows_to_removed_endpoints_are_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(conntrack, "_run", lambda args: calls.append(tuple(args)))
    nftables_proxier.clear_udp_flows([([udp()], [udp(internal_endpoints=(B,), external_endpoints=(B,))])])
    assert calls == [("-D", "-p", "udp", "--orig-dst", "10.43.0.10", "--dst-nat", "10.42.0.5"),
                     ("-D", "-p", "udp", "--orig-port-dst", "30053", "--dst-nat", "10.42.0.5")]


def test_udp_service_getting_endpoints_clears_its_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(conntrack, "_run", lambda args: calls.append(tuple(args)))
    nftables_proxier.clear_udp_flows([([udp(internal_endpoints=(), external_endpoints=())], [udp()])])
    assert calls == [("-D", "-p", "udp", "--orig-dst", "10.43.0.10"), ("-D", "-p", "udp", "--orig-port-dst", "30053")]
    calls.clear()
    nftables_proxier.clear_udp_flows([([udp(protocol="tcp")], [])])
    assert calls == [], "TCP connections end by themselves"


def test_mode_falls_back_to_userspace_when_nftables_is_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubelite.agent.proxy import service_proxy

    monkeypatch.setattr(service_proxy, "nftables_usable", lambda netns=None: "libnftables not found")
    assert service_proxy.choose_mode(requested="nftables") == "userspace"
    assert service_proxy.choose_mode(requested="userspace") == "userspace"
    monkeypatch.setattr(service_proxy, "nftables_usable", lambda netns=None: "")
    assert service_proxy.choose_mode(requested="nftables") == "nftables"
    with pytest.raises(ValueError, match='proxy mode "ipvs" is not one of nftables, userspace'):
        service_proxy.choose_mode(requested="ipvs")
