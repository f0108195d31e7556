"""NodeInfo sums and upstream PodRequests (max(sum containers, max init) + overhead, sidecars)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler_builders import make_node, make_pod

from kubelite.api.quantity import QuantityError
from kubelite.controlplane.scheduler.nodeinfo import (
    _NON_ZERO_DEFAULTS,
    HostPort,
    NodeInfo,
    _pod_requests,
    build_node_infos,
    non_zero_requests,
    pod_requests,
)

MI = 1024**2


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param(make_pod().obj(), {}, id="no-containers"),
        pytest.param(make_pod().requests(cpu="100m", memory="1Mi").requests(cpu="1").obj(),
                     {"cpu": 1100, "memory": MI}, id="sum-of-containers"),
        pytest.param(make_pod().requests(cpu="100m").init_container(requests={"cpu": "2"}).obj(),
                     {"cpu": 2000}, id="init-larger-than-sum"),
        pytest.param(make_pod().requests(cpu="3").init_container(requests={"cpu": "2", "memory": "5Mi"}).obj(),
                     {"cpu": 3000, "memory": 5 * MI}, id="max-per-resource"),
        pytest.param(make_pod().requests(cpu="1").init_container(requests={"cpu": "500m"}, sidecar=True)
                     .init_container(requests={"cpu": "1"}).obj(),
                     {"cpu": 1500}, id="sidecar-adds-to-sum-and-to-later-inits"),
        pytest.param(make_pod().requests(cpu="1").init_container(requests={"cpu": "500m"}, sidecar=True)
                     .init_container(requests={"cpu": "2"}).obj(),
                     {"cpu": 2500}, id="init-after-sidecar-counts-both"),
        pytest.param(make_pod().requests(cpu="1").overhead(cpu="250m", memory="10Mi").obj(),
                     {"cpu": 1250, "memory": 10 * MI}, id="overhead-added"),
        pytest.param(make_pod().container(requests={"example.com/gpu": "2"}).obj(),
                     {"example.com/gpu": 2}, id="extended-resource"),
    ],
)
def test_pod_requests(pod: dict[str, Any], expected: dict[str, int]) -> None:
    assert pod_requests(pod) == expected


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        pytest.param(make_pod().container().obj(), (100, 200 * MI), id="best-effort-gets-defaults"),
        pytest.param(make_pod().requests(cpu="0").obj(), (0, 200 * MI), id="explicit-zero-kept"),
        pytest.param(make_pod().requests(cpu="1", memory="1Gi").container().obj(), (1100, 1024 * MI + 200 * MI),
                     id="defaults-per-container"),
        pytest.param(make_pod().obj(), (0, 0), id="no-containers"),
    ],
)
def test_non_zero_requests(pod: dict[str, Any], expected: tuple[int, int]) -> None:
    assert non_zero_requests(pod) == expected


def test_node_info_sums_pods() -> None:
    info = make_node("n1").capacity(cpu="4", memory="8Gi").image("nginx:1", "docker.io/library/nginx:1").info(
        make_pod("a").requests(cpu="500m", memory="1Gi").obj(),
        make_pod("b").container().host_port(8080).obj(),
    )
    assert info.name == "n1"
    assert (info.allocatable.milli_cpu, info.allocatable.memory, info.allocatable.allowed_pod_number) == (
        4000, 8 * 1024 * MI, 110)
    assert (info.requested.milli_cpu, info.requested.memory) == (500, 1024 * MI)
    # b: one best-effort container plus one container holding the port, both defaulted
    assert (info.non_zero_requested.milli_cpu, info.non_zero_requested.memory) == (700, 1024 * MI + 400 * MI)
    assert info.pod_count == 2
    assert info.used_ports == [HostPort(ip="0.0.0.0", protocol="TCP", port=8080)]
    assert info.image_names == {"nginx:1", "docker.io/library/nginx:1"}


def test_allocatable_falls_back_to_capacity() -> None:
    node = make_node("n1").obj()
    node["status"] = {"capacity": {"cpu": "2", "pods": "10"}}
    info = NodeInfo.build(node=node)
    assert (info.allocatable.milli_cpu, info.allocatable.allowed_pod_number) == (2000, 10)


def test_build_node_infos_assigns_running_pods_only() -> None:
    nodes = [make_node("n1").capacity(cpu="1").obj(), make_node("n2").capacity(cpu="1").obj()]
    pods = [
        make_pod("a").requests(cpu="100m").node("n1").obj(),
        make_pod("b").requests(cpu="200m").node("n1").phase("Succeeded").obj(),
        make_pod("c").requests(cpu="300m").node("n2").phase("Running").obj(),
        make_pod("d").requests(cpu="400m").obj(),  # pending, unbound
        make_pod("e").requests(cpu="500m").node("gone").obj(),
    ]
    infos = build_node_infos(nodes=nodes, pods=pods)
    assert [(i.name, i.pod_count, i.requested.milli_cpu) for i in infos] == [("n1", 1, 100), ("n2", 1, 300)]


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        pytest.param(HostPort("0.0.0.0", "TCP", 80), HostPort("10.0.0.1", "TCP", 80), True, id="wildcard-vs-ip"),
        pytest.param(HostPort("10.0.0.1", "TCP", 80), HostPort("10.0.0.2", "TCP", 80), False, id="different-ips"),
        pytest.param(HostPort("10.0.0.1", "TCP", 80), HostPort("10.0.0.1", "TCP", 80), True, id="same-ip"),
        pytest.param(HostPort("0.0.0.0", "TCP", 80), HostPort("0.0.0.0", "UDP", 80), False, id="protocols-differ"),
        pytest.param(HostPort("0.0.0.0", "TCP", 80), HostPort("0.0.0.0", "TCP", 81), False, id="ports-differ"),
    ],
)
def test_host_port_conflicts(a: HostPort, b: HostPort, conflict: bool) -> None:
    assert a.conflicts(b) is conflict
    assert b.conflicts(a) is conflict


def test_bad_quantity_names_object_and_field() -> None:
    pod = make_pod("bad").requests(cpu="lots").obj()
    with pytest.raises(QuantityError, match=r"pod 'bad': spec.containers\[c0\].resources.requests\[cpu\]"):
        pod_requests(pod)


_REQUESTS = st.fixed_dictionaries({}, optional={"cpu": st.sampled_from(["100m", "1", "250m"]),
                                                "memory": st.sampled_from(["1Mi", "1Gi"])})


@st.composite
def _pods(draw: st.DrawFn) -> dict[str, Any]:
    builder = make_pod(draw(st.sampled_from(["a", "b"])))
    for _ in range(draw(st.integers(0, 2))):
        builder = builder.container(requests=draw(_REQUESTS))
    if draw(st.booleans()):
        builder = builder.init_container(requests=draw(_REQUESTS), sidecar=draw(st.booleans()))
    if draw(st.booleans()):
        builder = builder.overhead(cpu="10m")
    return builder.obj()


@settings(max_examples=200, deadline=None)
@given(pods=st.lists(_pods(), min_size=1, max_size=30), picks=st.lists(st.integers(0, 29), max_size=60))
def test_cached_requests_equal_a_fresh_computation_also_for_assumed_copies(
        pods: list[dict[str, Any]], picks: list[int]) -> None:
    # the cache is keyed by the containers, init containers and overhead objects: a copy of a pod that
    # shares them (as the scheduler's assumed pod does) gets the same sums, any other pod its own
    copies = [{**pod, "spec": {**pod["spec"], "nodeName": "n1"}} for pod in pods]
    for pick in picks:
        for pod in (pods[pick % len(pods)], copies[pick % len(pods)], copy.deepcopy(pods[pick % len(pods)])):
            fresh = _pod_requests(copy.deepcopy(pod), non_missing=None)
            assert pod_requests(pod) == fresh
            assert non_zero_requests(pod) == (
                _pod_requests(copy.deepcopy(pod), non_missing=_NON_ZERO_DEFAULTS).get("cpu", 0),
                _pod_requests(copy.deepcopy(pod), non_missing=_NON_ZERO_DEFAULTS).get("memory", 0))
