"""The cycle's batch path (column masks and scores in the kernel) agrees with the per-node plugins;
percentageOfNodesToScore as upstream."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, ScheduleResult, default_profile
from kubelite.controlplane.scheduler.framework import CycleState
from kubelite.controlplane.scheduler.plugins import in_tree_registry
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import KERNEL, PURE, Kernel


def framework(*, kernel: Kernel = KERNEL, seed: int = 1, percentage: int = 0) -> Framework:
    return Framework(profile=default_profile(), registry=in_tree_registry(), rng=random.Random(seed),
                     kernel=kernel, percentage_of_nodes_to_score=percentage)


node_spec = st.fixed_dictionaries({
    "cpu": st.integers(0, 8), "mem": st.integers(0, 8), "pods": st.integers(0, 4),
    "used_cpu": st.integers(0, 8), "used": st.integers(0, 3),
    "taint": st.sampled_from(["", "NoSchedule", "NoExecute", "PreferNoSchedule"]),
    "cordon": st.booleans(),
})
pod_spec = st.fixed_dictionaries({
    "cpu": st.integers(0, 6), "mem": st.integers(0, 6), "tolerate": st.booleans(),
})


def build_node(i: int, spec: dict[str, Any]) -> NodeInfo:
    builder = make_node(f"n{i}").capacity(cpu=str(spec["cpu"]), memory=f"{spec['mem']}Gi", pods=str(spec["pods"]))
    if spec["taint"]:
        builder.taint("dedicated", "x", effect=spec["taint"])
    if spec["cordon"]:
        builder.unschedulable()
    pods = [make_pod(f"n{i}-p{j}").requests(cpu=f"{spec['used_cpu'] * 1000 // max(spec['used'], 1)}m").node(
        f"n{i}").obj() for j in range(spec["used"])]
    return builder.info(*pods)


def build_pod(spec: dict[str, Any]) -> dict[str, Any]:
    builder = make_pod("incoming")
    if spec["cpu"] or spec["mem"]:
        builder.requests(cpu=str(spec["cpu"]), memory=f"{spec['mem']}Gi")
    else:
        builder.container()
    if spec["tolerate"]:
        builder.toleration("dedicated", operator="Exists")
    return builder.obj()


@settings(max_examples=150, deadline=None)
@given(nodes=st.lists(node_spec, min_size=1, max_size=12), pod=pod_spec, seed=st.integers(0, 1000))
def test_batch_path_agrees_with_per_node_filters_and_both_kernels(nodes: list[dict[str, Any]], pod: dict[str, Any],
                                                                 seed: int) -> None:
    infos = [build_node(i, spec) for i, spec in enumerate(nodes)]
    obj = build_pod(pod)
    reference = framework()
    per_node_fits = []
    state = CycleState()
    _, _, skipped = reference._run_pre_filter(state=state, pod=obj)
    filters = [p for p in reference._filter if p.name not in skipped]
    for info in infos:
        if reference._run_filter(filters=filters, state=state, pod=obj, node_info=info) is None:
            per_node_fits.append(info.name)
    compiled = framework(kernel=KERNEL, seed=seed).schedule(pod=obj, nodes=infos)
    pure = framework(kernel=PURE, seed=seed).schedule(pod=obj, nodes=infos)
    assert compiled == pure
    if per_node_fits:
        assert isinstance(compiled, ScheduleResult)
        assert compiled.feasible_nodes == len(per_node_fits)
        assert compiled.suggested_host in per_node_fits
    else:
        assert isinstance(compiled, FitError)
        assert compiled.message.startswith(f"0/{len(infos)} nodes are available:")


def test_a_request_beyond_the_columns_falls_back_to_the_per_node_filter() -> None:
    infos = [make_node("gpu").capacity(cpu="4", memory="4Gi").extended("example.com/gpu", "1").info(),
             make_node("plain").capacity(cpu="4", memory="4Gi").info()]
    pod = make_pod().container(requests={"cpu": "1", "example.com/gpu": "1"}).obj()
    result = framework().schedule(pod=pod, nodes=infos)
    assert result == ScheduleResult(suggested_host="gpu", evaluated_nodes=2, feasible_nodes=1)


@pytest.mark.parametrize(("nodes", "percentage", "expected"), [
    pytest.param(50, 0, 50, id="small-cluster-all"),
    pytest.param(100, 0, 100, id="never-below-100"),
    pytest.param(1000, 0, 420, id="adaptive-42pct"),
    pytest.param(5000, 0, 500, id="adaptive-10pct"),
    pytest.param(10000, 0, 500, id="adaptive-floor-5pct"),
    pytest.param(5000, 100, 5000, id="configured-100"),
    pytest.param(5000, 1, 100, id="configured-but-at-least-100"),
])
def test_num_feasible_nodes_to_find_is_upstreams(nodes: int, percentage: int, expected: int) -> None:
    assert framework(percentage=percentage).num_feasible_nodes_to_find(nodes) == expected


def test_filtering_stops_at_the_target_and_the_next_cycle_starts_after_it() -> None:
    snapshot = Snapshot.from_infos(make_node(f"n{i:03}").capacity(cpu="8", memory="8Gi").info() for i in range(1000))
    fw = framework()
    pod = make_pod().requests(cpu="1").obj()
    first = fw.schedule(pod=pod, nodes=snapshot)
    assert isinstance(first, ScheduleResult)
    assert (first.evaluated_nodes, first.feasible_nodes) == (420, 420)
    assert int(first.suggested_host[1:]) < 420
    second = fw.schedule(pod=pod, nodes=snapshot)
    assert isinstance(second, ScheduleResult)
    assert 420 <= int(second.suggested_host[1:]) < 840
