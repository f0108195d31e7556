"""The node IPAM controller against a real kubelite server: distinct pod CIDRs, existing ones kept, freed
ranges reused, and a Warning Event when the cluster CIDR is exhausted.

The server runs with ``--disable-controllers`` so that only the controller under test touches Nodes; the
controller runs in the test's event loop. Each test uses its own cluster CIDR and node names and deletes
its Nodes afterwards, so tests sharing the module's server do not see each other's allocations.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from controller_harness import eventually, running

from kubelite.client import APIClient, APIStatusError, Resource
from kubelite.controlplane.controllers.nodeipam import NodeIPAMController

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


@pytest.fixture
async def nodes(client: APIClient) -> AsyncIterator[Resource]:
    """The nodes resource; every Node is deleted afterwards (the module's server holds only this file's Nodes)."""
    resource = client.resource("", "v1", "nodes", namespaced=False)
    yield resource
    for node in (await resource.list())["items"]:
        with contextlib.suppress(APIStatusError):
            await resource.delete(node["metadata"]["name"])


def node_body(name: str, *, pod_cidr: str | None = None) -> Obj:
    body: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                 "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}
    if pod_cidr is not None:
        body["spec"] = {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    return body


async def pod_cidr_of(nodes: Resource, name: str) -> str | None:
    spec = (await nodes.get(name)).get("spec") or {}
    cidr = spec.get("podCIDR")
    if cidr is not None:
        assert spec.get("podCIDRs") == [cidr], f"node {name}: podCIDRs {spec.get('podCIDRs')} != [{cidr}]"
    return str(cidr) if cidr else None


async def warnings_about(client: APIClient, name: str, reason: str) -> list[Obj]:
    events = (await client.resource("", "v1", "events").list(namespace="default"))["items"]
    return [e for e in events if e["involvedObject"]["name"] == name and e["reason"] == reason
            and e["type"] == "Warning" and e["involvedObject"]["kind"] == "Node"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_nodes_without_a_pod_cidr_get_distinct_blocks_of_the_cluster_cidr(
        client: APIClient, nodes: Resource) -> None:
    names = [unique("ipam") for _ in range(4)]
    async with running(NodeIPAMController(client, cluster_cidr="10.60.0.0/16", node_mask=24)):
        for name in names:
            await nodes.create(node_body(name))
        cidrs = [await eventually(functools.partial(pod_cidr_of, nodes, name), what=f"a pod CIDR on {name}")
                 for name in names]
    networks = [ipaddress.IPv4Network(c) for c in cidrs]
    assert len(set(networks)) == len(names), f"pod CIDRs are not distinct: {cidrs}"
    assert all(n.prefixlen == 24 and n.subnet_of(ipaddress.IPv4Network("10.60.0.0/16")) for n in networks), cidrs
    assert sorted(cidrs) == [f"10.60.{i}.0/24" for i in range(4)], "the lowest free blocks are used"


@pytest.mark.parametrize(("existing", "warning", "next_free"), [
    pytest.param("10.61.0.0/24", None, "10.61.1.0/24", id="inside-the-cluster-cidr-is-skipped"),
    pytest.param("10.61.0.0/23", None, "10.61.2.0/24", id="a-larger-block-blocks-every-block-it-covers"),
    pytest.param("192.168.7.0/24", "PodCIDROutsideClusterCIDR", "10.61.0.0/24", id="outside-is-kept-with-a-warning"),
])
async def test_a_node_keeps_the_pod_cidr_it_has(client: APIClient, nodes: Resource, existing: str,
                                                 warning: str | None, next_free: str) -> None:
    holder, newcomer = unique("holder"), unique("newcomer")
    await nodes.create(node_body(holder, pod_cidr=existing))
    async with running(NodeIPAMController(client, cluster_cidr="10.61.0.0/16", node_mask=24)):
        await nodes.create(node_body(newcomer))
        assert await eventually(lambda: pod_cidr_of(nodes, newcomer), what="a pod CIDR on the newcomer") == next_free
        if warning is not None:
            [event] = await eventually(lambda: warnings_about(client, holder, warning), what=f"a {warning} event")
            assert existing in event["message"] and "10.61.0.0/16" in event["message"]
    assert await pod_cidr_of(nodes, holder) == existing


async def test_two_nodes_holding_overlapping_cidrs_are_reported(client: APIClient, nodes: Resource) -> None:
    first, second = unique("first"), unique("second")
    await nodes.create(node_body(first, pod_cidr="10.62.4.0/24"))
    await nodes.create(node_body(second, pod_cidr="10.62.4.0/24"))
    async with running(NodeIPAMController(client, cluster_cidr="10.62.0.0/16", node_mask=24)):
        events = await eventually(lambda: warnings_about(client, second, "PodCIDRConflict"),
                                  what="a PodCIDRConflict event")
    assert first in events[0]["message"]
    assert (await pod_cidr_of(nodes, first), await pod_cidr_of(nodes, second)) == ("10.62.4.0/24", "10.62.4.0/24")


async def test_a_deleted_nodes_range_is_handed_out_again(client: APIClient, nodes: Resource) -> None:
    a, b, c = unique("a"), unique("b"), unique("c")
    async with running(NodeIPAMController(client, cluster_cidr="10.63.0.0/16", node_mask=24)):
        await nodes.create(node_body(a))
        assert await eventually(lambda: pod_cidr_of(nodes, a), what="a pod CIDR on a") == "10.63.0.0/24"
        await nodes.create(node_body(b))
        assert await eventually(lambda: pod_cidr_of(nodes, b), what="a pod CIDR on b") == "10.63.1.0/24"
        await nodes.delete(a)
        await nodes.create(node_body(c))
        assert await eventually(lambda: pod_cidr_of(nodes, c), what="a pod CIDR on c") == "10.63.0.0/24"
    assert await pod_cidr_of(nodes, b) == "10.63.1.0/24"


async def test_an_exhausted_cluster_cidr_warns_and_allocates_once_a_range_is_freed(
        client: APIClient, nodes: Resource) -> None:
    # a /30 cut into /31s has exactly two blocks
    first, second, third = unique("x"), unique("y"), unique("z")
    async with running(NodeIPAMController(client, cluster_cidr="10.64.0.0/30", node_mask=31)):
        for name in (first, second):
            await nodes.create(node_body(name))
            await eventually(functools.partial(pod_cidr_of, nodes, name), what=f"a pod CIDR on {name}")
        await nodes.create(node_body(third))
        [event] = await eventually(lambda: warnings_about(client, third, "CIDRNotAvailable"),
                                   what="a CIDRNotAvailable event")
        assert "10.64.0.0/30" in event["message"] and third in event["message"]
        assert await pod_cidr_of(nodes, third) is None
        freed = await pod_cidr_of(nodes, first)
        await nodes.delete(first)
        assert await eventually(lambda: pod_cidr_of(nodes, third), what="the freed range on the third node") == freed


@pytest.mark.parametrize(("cidr", "mask", "message"), [
    pytest.param("10.0.0.0/33", 24, "is not a network in CIDR notation", id="bad-cidr"),
    pytest.param("10.0.0.1/16", 24, "no host bits set", id="host-bits"),
    pytest.param("10.0.0.0/16", 16, "must be longer than the cluster CIDR's prefix /16", id="mask-too-short"),
    pytest.param("10.0.0.0/16", 33, "at most /32", id="mask-too-long"),
    pytest.param("10.0.0.0/8", 25, "at most 16 bits", id="too-many-blocks"),
])
async def test_bad_cluster_cidr_settings_are_refused_with_a_clear_message(client: APIClient, cidr: str, mask: int,
                                                                         message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        NodeIPAMController(client, cluster_cidr=cidr, node_mask=mask)
