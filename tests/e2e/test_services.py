"""Services get a ClusterIP from --service-cidr and node ports from 30000-32767, as upstream."""

from __future__ import annotations

import ipaddress
import json
import uuid

import pytest
from e2e_harness import Server

pytestmark = [pytest.mark.e2e]


def service(name: str, **spec: object) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                       "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}})


def test_kubernetes_service_points_at_the_api_server(server: Server) -> None:
    svc = json.loads(server.kubectl("get", "svc", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == "10.43.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    ep = json.loads(server.kubectl("get", "endpoints", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert ep["subsets"][0]["ports"][0]["port"] == server.port


def test_cluster_ips_are_unique_in_range_and_released(server: Server) -> None:
    names = [f"s{uuid.uuid4().hex[:6]}" for _ in range(8)]
    ips = []
    for name in names:
        server.kubectl("apply", "-n", "default", "-f", "-", input=service(name))
        ips.append(json.loads(server.kubectl("get", "svc", name, "-o", "json").stdout)["spec"]["clusterIP"])
    assert len(set(ips)) == len(ips)
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.43.0.0/16") for ip in ips)
    assert "10.43.0.1" not in ips
    # a taken IP cannot be requested again; once its Service is deleted it can
    taken = ips[0]
    clash = server.kubectl("apply", "-n", "default", "-f", "-", input=service("clash", clusterIP=taken), check=False)
    assert clash.returncode != 0 and "provided IP is already allocated" in clash.stderr
    server.kubectl("delete", "svc", names[0])
    server.kubectl("apply", "-n", "default", "-f", "-", input=service("reuse", clusterIP=taken))
    assert json.loads(server.kubectl("get", "svc", "reuse", "-o", "json").stdout)["spec"]["clusterIP"] == taken


def test_apply_again_keeps_the_allocated_ip_and_table_shows_it(server: Server) -> None:
    name = f"k{uuid.uuid4().hex[:6]}"
    server.kubectl("apply", "-n", "default", "-f", "-", input=service(name))
    first = json.loads(server.kubectl("get", "svc", name, "-o", "json").stdout)["spec"]["clusterIP"]
    out = server.kubectl("apply", "-n", "default", "-f", "-", input=service(name, sessionAffinity="ClientIP"))
    assert "configured" in out.stdout
    svc = json.loads(server.kubectl("get", "svc", name, "-o", "json").stdout)
    assert svc["spec"]["clusterIP"] == first
    assert svc["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] == 10800
    row = server.kubectl("get", "svc", name, "--no-headers").stdout.split()
    assert row[:5] == [name, "ClusterIP", first, "<none>", "80/TCP"]


def test_node_ports_allocated_and_conflicts_rejected(server: Server) -> None:
    name = f"np{uuid.uuid4().hex[:6]}"
    server.kubectl("apply", "-n", "default", "-f", "-", input=service(name, type="NodePort"))
    port = json.loads(server.kubectl("get", "svc", name, "-o", "json").stdout)["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    other = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name + "b"},
                        "spec": {"type": "NodePort", "ports": [{"port": 81, "nodePort": port}]}})
    clash = server.kubectl("apply", "-n", "default", "-f", "-", input=other, check=False)
    assert clash.returncode != 0 and "provided port is already allocated" in clash.stderr
    assert server.kubectl("get", "svc", name + "b", check=False).returncode == 1


def test_headless_and_external_name_get_no_ip(server: Server) -> None:
    server.kubectl("apply", "-n", "default", "-f", "-", input=service("headless", clusterIP="None"))
    assert json.loads(server.kubectl("get", "svc", "headless", "-o", "json").stdout)["spec"]["clusterIP"] == "None"
    ext = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                      "spec": {"type": "ExternalName", "externalName": "example.com"}})
    server.kubectl("apply", "-n", "default", "-f", "-", input=ext)
    assert "clusterIP" not in json.loads(server.kubectl("get", "svc", "ext", "-o", "json").stdout)["spec"]


def test_invalid_service_rejected(server: Server) -> None:
    bad = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad"},
                      "spec": {"ports": [{"port": 80}, {"port": 81}], "type": "Weird"}})
    out = server.kubectl("apply", "-n", "default", "-f", "-", input=bad, check=False)
    assert out.returncode != 0
    assert 'spec.type: Unsupported value: "Weird"' in out.stderr
