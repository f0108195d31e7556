"""The pod-network component's pure parts: peers from Nodes, VTEP MACs, the conflist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubelite.agent.config import AgentConfig
from kubelite.agent.network import (
    CONFLIST_NAME,
    PodNetwork,
    RouteReconciler,
    build_conflist,
    node_ip,
    peers_of,
    pod_cidr,
    vtep_mac,
    write_conflist,
)


def node(name: str, *, ip: str | None = "192.168.1.1", cidr: str | None = "10.42.1.0/24") -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name}, "spec": {}, "status": {"addresses": []}}
    if cidr:
        body["spec"]["podCIDR"] = cidr
    if ip:
        body["status"]["addresses"] = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": ip}]
    return body


def test_peers_are_the_other_nodes_with_cidr_and_address() -> None:
    nodes = [node("me"), node("b", ip="192.168.1.3", cidr="10.42.3.0/24"), node("a", ip="192.168.1.2"),
             node("no-cidr", cidr=None), node("no-ip", ip=None)]
    nodes[2]["spec"]["podCIDR"] = "10.42.2.0/24"
    peers = peers_of(nodes, self_name="me")
    assert [(p.name, p.ip, str(p.pod_cidr)) for p in peers] == [("a", "192.168.1.2", "10.42.2.0/24"),
                                                                 ("b", "192.168.1.3", "10.42.3.0/24")]


def test_node_address_and_cidr_prefer_ipv4_internal() -> None:
    body = node("x", ip="fd00::1")
    body["status"]["addresses"].append({"type": "ExternalIP", "address": "203.0.113.9"})
    body["spec"] = {"podCIDRs": ["fd00:42::/64", "10.42.9.0/24"]}
    assert node_ip(body) == "203.0.113.9" and pod_cidr(body) == "10.42.9.0/24"


def test_vtep_macs_are_stable_unicast_and_distinct() -> None:
    mac = vtep_mac("node-a")
    assert mac == vtep_mac("node-a") != vtep_mac("node-b")
    first = int(mac.split(":")[0], 16)
    assert first & 1 == 0 and first & 2 == 2  # unicast, locally administered


def test_conflist_and_its_atomic_write(tmp_path: Path) -> None:
    conflist = build_conflist(pod_cidr="10.42.5.0/24", cluster_cidr="10.42.0.0/16", mtu=1450, agent_dir=tmp_path)
    assert conflist["name"] == "kubelite" and conflist["cniVersion"] == "1.0.0"
    bridge, portmap = conflist["plugins"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.42.5.0/24"}]] and bridge["mtu"] == 1450
    assert portmap["capabilities"] == {"portMappings": True}
    assert write_conflist(tmp_path, conflist) is True
    assert write_conflist(tmp_path, conflist) is False  # unchanged: not rewritten (containerd watches the dir)
    assert json.loads((tmp_path / CONFLIST_NAME).read_text()) == conflist
    assert [p.name for p in tmp_path.iterdir()] == [CONFLIST_NAME]


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    config = AgentConfig(data_dir=tmp_path, server="https://x", node_name="n", pod_network_backend="ipip")
    with pytest.raises(ValueError, match="host-gw, vxlan"):
        PodNetwork(config=config, client=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ipip"):
        RouteReconciler(backend="ipip", self_name="n", local_ip="1.2.3.4", own_pod_cidr="10.42.0.0/24", ipr=None)
