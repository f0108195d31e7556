"""Services + EndpointSlices -> ServicePortSpecs: upstream's proxy semantics, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.agent.proxy.service_port import ServiceState, service_port_id, service_port_specs

PORTS = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]


def svc(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"clusterIP": "10.43.0.10", "clusterIPs": ["10.43.0.10"], "ports": PORTS, **spec}
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": body}


def ep(ip: str, *, node: str = "n1", ready: bool | None = True, serving: bool | None = None,
       terminating: bool | None = None) -> dict[str, Any]:
    cond = {k: v for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating)) if v is not None}
    return {"addresses": [ip], "conditions": cond, "nodeName": node}


def es(*endpoints: dict[str, Any], name: str = "web-1", port: int = 8080, port_name: str = "http",
       address_type: str = "IPv4") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": address_type, "endpoints": list(endpoints),
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}


def one(service: dict[str, Any], *slices: dict[str, Any]) -> Any:
    specs = service_port_specs(service, slices, node_name="n1")
    assert len(specs) == 1
    return specs[0]


@pytest.mark.parametrize("service", [
    pytest.param(svc(clusterIP="None", clusterIPs=["None"]), id="headless"),
    pytest.param(svc(type="ExternalName", externalName="example.com"), id="external-name"),
])
def test_not_proxied(service: dict[str, Any]) -> None:
    assert service_port_specs(service, [es(ep("10.42.0.5"))], node_name="n1") == []


def test_cluster_ip_with_ready_endpoints_in_address_order_deduplicated() -> None:
    s = one(svc(), es(ep("10.42.0.9"), ep("10.42.0.10")), es(ep("10.42.0.9"), name="web-2"))
    assert s.cluster_ips == ("10.43.0.10",)
    assert s.internal_endpoints == (("10.42.0.9", 8080), ("10.42.0.10", 8080))
    assert s.id == service_port_id("default", "web", "http", "TCP")
    assert s.protocol == "tcp" and s.port == 80 and s.node_port == 0 and s.affinity_timeout == 0


def test_slices_of_other_ports_and_families_are_ignored() -> None:
    s = one(svc(), es(ep("10.42.0.5"), port_name="metrics"), es(ep("fd00::5"), name="v6", address_type="IPv6"))
    assert s.internal_endpoints == () and s.internal_empty == "reject"


def test_terminating_endpoints_serve_only_when_none_is_ready() -> None:
    terminating = ep("10.42.0.6", ready=False, serving=True, terminating=True)
    s = one(svc(), es(ep("10.42.0.5"), terminating))
    assert s.internal_endpoints == (("10.42.0.5", 8080),)
    s = one(svc(), es(ep("10.42.0.5", ready=False), terminating))
    assert s.internal_endpoints == (("10.42.0.6", 8080),)
    s = one(svc(), es(ep("10.42.0.6", ready=False, serving=False, terminating=True)))
    assert s.internal_endpoints == () and s.internal_empty == "reject"


def test_node_port_and_load_balancer_addresses() -> None:
    ports = [{**PORTS[0], "nodePort": 30080}]
    service = svc(type="LoadBalancer", ports=ports, externalIPs=["192.0.2.1"])
    service["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}, {"ip": "198.51.100.8", "ipMode": "Proxy"},
                                                      {"hostname": "lb.example"}]}}
    s = one(service, es(ep("10.42.0.5")))
    assert s.node_port == 30080
    assert s.external_ips == ("192.0.2.1", "198.51.100.7")
    assert s.external_masquerade is True


def test_node_port_of_a_cluster_ip_service_is_not_opened() -> None:
    assert one(svc(ports=[{**PORTS[0], "nodePort": 30080}]), es(ep("10.42.0.5"))).node_port == 0


def test_external_traffic_policy_local() -> None:
    service = svc(type="NodePort", ports=[{**PORTS[0], "nodePort": 30080}], externalTrafficPolicy="Local")
    s = one(service, es(ep("10.42.0.5", node="n2"), ep("10.42.0.6")))
    assert s.internal_endpoints == (("10.42.0.5", 8080), ("10.42.0.6", 8080))
    assert s.external_endpoints == (("10.42.0.6", 8080),)
    assert s.external_masquerade is False
    s = one(service, es(ep("10.42.0.5", node="n2")))
    assert s.external_endpoints == () and s.external_empty == "drop", "endpoints elsewhere: drop, not reject"


def test_internal_traffic_policy_local() -> None:
    s = one(svc(internalTrafficPolicy="Local"), es(ep("10.42.0.5", node="n2"), ep("10.42.0.6")))
    assert s.internal_endpoints == (("10.42.0.6", 8080),)
    s = one(svc(internalTrafficPolicy="Local"), es(ep("10.42.0.5", node="n2")))
    assert s.internal_endpoints == () and s.internal_empty == "drop"


@pytest.mark.parametrize(("config", "timeout"), [
    pytest.param(None, 10800, id="default"),
    pytest.param({"clientIP": {"timeoutSeconds": 30}}, 30, id="configured"),
])
def test_client_ip_affinity(config: dict[str, Any] | None, timeout: int) -> None:
    service = svc(sessionAffinity="ClientIP", **({"sessionAffinityConfig": config} if config else {}))
    assert one(service, es(ep("10.42.0.5"))).affinity_timeout == timeout


def test_state_marks_services_dirty_and_moves_relabelled_slices() -> None:
    state = ServiceState(node_name="n1")
    state.set_service(svc())
    state.set_slice(es(ep("10.42.0.5")))
    assert state.take_changes() == {"default/web"}
    assert state.specs("default/web")[0].internal_endpoints == (("10.42.0.5", 8080),)
    moved = es(ep("10.42.0.5"))
    moved["metadata"]["labels"]["kubernetes.io/service-name"] = "api"
    state.set_slice(moved)
    assert state.take_changes() == {"default/web", "default/api"}
    assert state.specs("default/web")[0].internal_endpoints == ()
    state.delete_service(svc())
    assert state.take_changes() == {"default/web"} and state.specs("default/web") == []


def test_malformed_service_is_skipped_not_fatal() -> None:
    state = ServiceState(node_name="n1")
    state.set_service({"metadata": {"name": "bad", "namespace": "default"}, "spec": {"clusterIP": "10.43.0.9",
                                                                                     "ports": "not-a-list"}})
    assert state.specs("default/bad") == []


def test_dual_stack_service_gets_one_spec_per_family_from_slices_of_that_family() -> None:
    service = svc(clusterIPs=["10.43.0.10", "fd00:43:0:0::10"], ipFamilies=["IPv4", "IPv6"],
                  ipFamilyPolicy="RequireDualStack", type="NodePort", externalTrafficPolicy="Local",
                  externalIPs=["192.0.2.1", "2001:db8::1"],
                  ports=[{**PORTS[0], "nodePort": 30080}])
    v4, v6 = service_port_specs(service, [
        es(ep("10.42.0.5"), ep("10.42.0.6", node="n2")),
        es(ep("fd00:42::0005", node="n2"), name="web-v6", address_type="IPv6")], node_name="n1")
    assert (v4.family, v4.cluster_ips, v4.external_ips) == ("ip", ("10.43.0.10",), ("192.0.2.1",))
    assert v4.internal_endpoints == (("10.42.0.5", 8080), ("10.42.0.6", 8080))
    assert v4.external_endpoints == (("10.42.0.5", 8080),), "Local: this node's IPv4 endpoint"
    assert (v6.family, v6.cluster_ips, v6.external_ips) == ("ip6", ("fd00:43::10",), ("2001:db8::1",)), "canonical"
    assert v6.internal_endpoints == (("fd00:42::5", 8080),)
    assert v6.external_endpoints == () and v6.external_empty == "drop", "categorised per family, as upstream"
    assert v6.node_port == 30080 and v6.id == v4.id + "-v6"


def test_single_stack_ipv6_service_and_fqdn_slices() -> None:
    s = one(svc(clusterIP="fd00:43::10", clusterIPs=["fd00:43::10"], ipFamilies=["IPv6"]),
            es(ep("10.42.0.5")), es(ep("fd00:42::5"), name="v6", address_type="IPv6"),
            es(ep("web.example.com"), name="fqdn", address_type="FQDN"))
    assert s.family == "ip6" and s.internal_endpoints == (("fd00:42::5", 8080),)
