"""Dual-stack Services as upstream: --service-cidr takes an IPv4 and an IPv6 range; ipFamilyPolicy and
ipFamilies decide which ClusterIPs a Service gets (stock kubectl against a real server)."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import Server, temporary_server

pytestmark = [pytest.mark.e2e]

V4, V6 = ipaddress.ip_network("10.43.0.0/16"), ipaddress.ip_network("fd00:43::/112")


@pytest.fixture(scope="module")
def dual() -> Iterator[Server]:
    with temporary_server("kubelite-dual-", "--service-cidr", f"{V4},{V6}") as srv:
        yield srv


def apply(server: Server, name: str, *, check: bool = True, **spec: Any) -> Any:
    body = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                       "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}})
    done = server.kubectl("apply", "-n", "default", "-f", "-", input=body, check=check)
    if not check:
        return done
    return json.loads(server.kubectl("get", "svc", name, "-o", "json").stdout)["spec"]


def name() -> str:
    return f"d{uuid.uuid4().hex[:6]}"


def test_single_stack_by_default_in_the_primary_family(dual: Server) -> None:
    spec = apply(dual, name())
    assert spec["ipFamilyPolicy"] == "SingleStack" and spec["ipFamilies"] == ["IPv4"]
    assert len(spec["clusterIPs"]) == 1 and ipaddress.ip_address(spec["clusterIP"]) in V4


def test_prefer_dual_stack_gets_one_ip_per_family(dual: Server) -> None:
    spec = apply(dual, name(), ipFamilyPolicy="PreferDualStack")
    assert spec["ipFamilies"] == ["IPv4", "IPv6"]
    v4, v6 = (ipaddress.ip_address(ip) for ip in spec["clusterIPs"])
    assert v4 in V4 and v6 in V6 and spec["clusterIP"] == str(v4)


def test_ipv6_first_and_ipv6_only(dual: Server) -> None:
    spec = apply(dual, name(), ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv6", "IPv4"])
    assert [ipaddress.ip_address(ip).version for ip in spec["clusterIPs"]] == [6, 4]
    only = apply(dual, name(), ipFamilies=["IPv6"])
    assert only["ipFamilyPolicy"] == "SingleStack" and ipaddress.ip_address(only["clusterIP"]) in V6
    # kubectl shows the primary ClusterIP
    row = dual.kubectl("get", "svc", "-n", "default", "--no-headers").stdout
    assert only["clusterIP"] in row


def test_upgrade_to_dual_stack_and_back_releases_the_second_ip(dual: Server) -> None:
    svc = name()
    first = apply(dual, svc)["clusterIP"]
    dual.kubectl("patch", "svc", svc, "-n", "default", "-p", '{"spec":{"ipFamilyPolicy":"PreferDualStack"}}')
    spec = json.loads(dual.kubectl("get", "svc", svc, "-o", "json").stdout)["spec"]
    assert spec["clusterIPs"][0] == first and len(spec["clusterIPs"]) == 2
    second = spec["clusterIPs"][1]
    dual.kubectl("patch", "svc", svc, "-n", "default", "--type", "merge", "-p", json.dumps(
        {"spec": {"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"], "clusterIPs": [first]}}))
    assert json.loads(dual.kubectl("get", "svc", svc, "-o", "json").stdout)["spec"]["clusterIPs"] == [first]
    # the IPv6 address went back to the pool: another Service may ask for it
    assert apply(dual, name(), ipFamilies=["IPv6"], clusterIP=second, clusterIPs=[second])["clusterIP"] == second


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"]},
                 "must contain exactly one entry when ipFamilyPolicy is SingleStack", id="single-with-two"),
    pytest.param({"ipFamilies": ["IPv6"], "clusterIP": "10.43.9.9"},
                 "expected an IPv6 value as indicated by `ipFamilies`", id="ip-of-the-other-family"),
    pytest.param({"ipFamilyPolicy": "DualStack"}, 'Unsupported value: "DualStack"', id="policy"),
    pytest.param({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv4"]}, "Duplicate value",
                 id="duplicate-family"),
    pytest.param({"ipFamilies": ["IPv6"], "clusterIP": "fd00:44::1"}, "is not in the valid range",
                 id="ipv6-out-of-range"),
])
def test_bad_dual_stack_specs_are_refused_and_change_nothing(dual: Server, spec: dict[str, Any],
                                                             message: str) -> None:
    svc = name()
    done = apply(dual, svc, check=False, **spec)
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert dual.kubectl("get", "svc", svc, check=False).returncode != 0


def test_single_stack_cluster_refuses_ipv6_and_required_dual_stack() -> None:
    with temporary_server("kubelite-single-") as single:
        done = apply(single, name(), check=False, ipFamilyPolicy="RequireDualStack")
        assert done.returncode != 0 and "this cluster is not configured for dual-stack services" in done.stderr
        done = apply(single, name(), check=False, ipFamilies=["IPv6"])
        assert done.returncode != 0 and "not configured on this cluster" in done.stderr
        spec = apply(single, name(), ipFamilyPolicy="PreferDualStack")
        assert spec["ipFamilies"] == ["IPv4"] and len(spec["clusterIPs"]) == 1, "prefer: what the cluster has"
