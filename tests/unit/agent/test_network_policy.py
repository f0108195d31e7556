"""NetworkPolicy compilation: which pods are isolated, and which rules allow what."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.agent.network.network_policy import compile_ruleset, pod_info


def pod(name: str, ip: str, *, ns: str = "default", ports: list[dict[str, Any]] | None = None,
        **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": ports or []}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def policy(name: str, spec: dict[str, Any], ns: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


PODS = [pod("a", "10.42.1.2", app="a"), pod("b", "10.42.1.3", app="b",
                                             ports=[{"name": "http", "containerPort": 8080}]),
        pod("c", "10.42.2.4", app="c"), pod("x", "10.42.1.9", ns="other", app="a")]
NAMESPACES = [namespace("default"), namespace("other", team="x")]


def rules(policies: list[dict[str, Any]], pods: list[dict[str, Any]] = PODS) -> list[str]:
    text = compile_ruleset(policies=policies, pods=pods, namespaces=NAMESPACES, local_cidr="10.42.1.0/24")
    return [line.removeprefix("add ") for line in text.splitlines()]


def test_no_policy_isolates_nothing() -> None:
    out = rules([])
    assert not any(line.startswith("element") for line in out)
    assert out[-1] == "rule ip kubelite-netpol ingress drop"


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param({"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 8080}]}]},
        "rule ip kubelite-netpol ingress ip daddr 10.42.1.3 ip saddr 10.42.1.2 meta l4proto tcp th dport 8080 accept",
        id="pod-selector-and-port"),
    pytest.param({"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}]},
        "rule ip kubelite-netpol ingress ip daddr 10.42.1.3 ip saddr 10.42.1.9 accept", id="namespace-selector"),
    pytest.param({"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "10.42.0.0/16", "except": ["10.42.2.0/24"]}}],
         "ports": [{"protocol": "UDP", "port": 53, "endPort": 60}]}]},
        "rule ip kubelite-netpol ingress ip daddr 10.42.1.3 ip saddr 10.42.0.0/16 ip saddr != 10.42.2.0/24 "
        "meta l4proto udp th dport 53-60 accept", id="ip-block-except-range"),
    pytest.param({"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [{"ports": [{"port": "http"}]}]},
                 "rule ip kubelite-netpol ingress ip daddr 10.42.1.3 meta l4proto tcp th dport 8080 accept",
                 id="named-port"),
    pytest.param({"podSelector": {}, "ingress": [{}]},
                 "rule ip kubelite-netpol ingress ip daddr { 10.42.1.2, 10.42.1.3 } accept", id="allow-all"),
])
def test_ingress_rules(spec: dict[str, Any], expected: str) -> None:
    out = rules([policy("p", spec)])
    assert expected in out, "\n".join(out)
    assert any(line.startswith("element ip kubelite-netpol ingress_isolated") for line in out)


def test_deny_all_egress_isolates_and_allows_nothing() -> None:
    out = rules([policy("deny", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]})])
    assert "element ip kubelite-netpol egress_isolated { 10.42.1.2 }" in out
    assert [line for line in out if " egress " in line and "rule" in line] == ["rule ip kubelite-netpol egress drop"]
    assert not any("ingress_isolated {" in line for line in out if line.startswith("element"))


def test_egress_rules_return_so_that_ingress_is_checked_too() -> None:
    out = rules([policy("e", {"podSelector": {"matchLabels": {"app": "a"}}, "egress": [
        {"to": [{"podSelector": {"matchLabels": {"app": "c"}}}]}]})])
    assert "rule ip kubelite-netpol egress ip saddr 10.42.1.2 ip daddr 10.42.2.4 return" in out


def test_remote_pods_are_peers_but_not_targets() -> None:
    out = rules([policy("p", {"podSelector": {"matchLabels": {"app": "c"}}, "ingress": []})])
    assert not any(line.startswith("element") for line in out)  # c runs on another node


def test_peers_selecting_nothing_allow_nothing() -> None:
    out = rules([policy("p", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"app": "nobody"}}}]}]})])
    assert [line for line in out if line.startswith("rule ip kubelite-netpol ingress")] == [
        "rule ip kubelite-netpol ingress drop"]


def test_pods_without_pod_network_address_are_ignored() -> None:
    host = pod("h", "192.168.1.1")
    host["spec"]["hostNetwork"] = True
    done = pod("d", "10.42.1.7")
    done["status"]["phase"] = "Succeeded"
    assert pod_info(host) is None and pod_info(done) is None
    assert pod_info(pod("v6", "fd00::1")) is None
