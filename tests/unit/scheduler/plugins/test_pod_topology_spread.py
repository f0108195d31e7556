"""PodTopologySpread: hard skew, missing labels, minDomains, soft scoring, as upstream."""

from __future__ import annotations

import random
from typing import Any

from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, ScheduleResult, default_profile
from kubelite.controlplane.scheduler.framework import SNAPSHOT_KEY, Code, CycleState
from kubelite.controlplane.scheduler.plugins import in_tree_registry, pod_topology_spread
from kubelite.controlplane.scheduler.snapshot import Snapshot


def web(name: str, node: str | None = None, **constraint: Any) -> dict[str, Any]:
    builder = make_pod(name).requests(cpu="100m")
    if node:
        builder.node(node)
    pod = builder.obj()
    pod["metadata"]["labels"] = {"app": "web"}
    if constraint:
        pod["spec"]["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "zone",
                                                     "whenUnsatisfiable": "DoNotSchedule",
                                                     "labelSelector": {"matchLabels": {"app": "web"}}, **constraint}]
    return pod


def zone_node(name: str, zone: str | None, *pods: dict[str, Any]) -> NodeInfo:
    builder = make_node(name).capacity(cpu="8", memory="8Gi")
    if zone:
        builder.label("zone", zone)
    return builder.info(*pods)


def schedule(pod: dict[str, Any], infos: list[NodeInfo]) -> ScheduleResult | FitError:
    fw = Framework(profile=default_profile(), registry=in_tree_registry(), rng=random.Random(3))
    result = fw.schedule(pod=pod, nodes=infos)
    assert isinstance(result, ScheduleResult | FitError)
    return result


def test_hard_constraint_sends_the_pod_to_the_emptier_zone() -> None:
    infos = [zone_node("a1", "a", web("w1", "a1"), web("w2", "a1")), zone_node("a2", "a"), zone_node("b1", "b")]
    result = schedule(web("new", topologyKey="zone"), infos)
    assert result == ScheduleResult(suggested_host="b1", evaluated_nodes=3, feasible_nodes=1)


def test_skew_and_missing_labels_are_reported() -> None:
    infos = [zone_node("a1", "a", web("w1", "a1")), zone_node("nolabel", None),
             make_node("b-full").capacity(cpu="0", memory="8Gi").label("zone", "b").info()]
    result = schedule(web("new", topologyKey="zone"), infos)
    assert isinstance(result, FitError)
    assert result.message.startswith(
        "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match pod topology spread constraints, "
        "1 node(s) didn't match pod topology spread constraints (missing required label).")


def test_min_domains_counts_missing_domains_as_empty() -> None:
    infos = [zone_node("a1", "a", web("w1", "a1")), zone_node("b1", "b", web("w2", "b1"))]
    assert isinstance(schedule(web("new", topologyKey="zone"), infos), ScheduleResult)
    result = schedule(web("new", topologyKey="zone", minDomains=3), infos)
    assert isinstance(result, FitError)
    assert "2 node(s) didn't match pod topology spread constraints" in result.message


def test_node_affinity_policy_honor_ignores_nodes_the_pod_cannot_use() -> None:
    # the pod may not go to zone c, so with Honor its empty domain does not set the minimum to 0
    infos = [zone_node("a1", "a", web("w1", "a1"), web("w2", "a1")), zone_node("c1", "c")]
    pod = web("new", topologyKey="zone")
    pod["spec"]["nodeSelector"] = {"zone": "a"}
    assert schedule(pod, infos) == ScheduleResult(suggested_host="a1", evaluated_nodes=2, feasible_nodes=1)
    pod["spec"]["topologySpreadConstraints"][0]["nodeAffinityPolicy"] = "Ignore"
    assert isinstance(schedule(pod, infos), FitError)


def test_soft_constraint_scores_the_least_crowded_host_highest() -> None:
    plugin = pod_topology_spread.new({})
    infos = [zone_node("n1", "a", web("w1", "n1"), web("w2", "n1")), zone_node("n2", "a"),
             zone_node("n3", "a", web("w3", "n3"))]
    pod = web("new", topologyKey="kubernetes.io/hostname", whenUnsatisfiable="ScheduleAnyway")
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos(infos))
    assert plugin.pre_score(state=state, pod=pod, nodes=infos) is None
    scores, status = plugin.score(state=state, pod=pod, nodes=infos)
    assert status is None
    plugin.normalize_score(state=state, pod=pod, scores=scores)
    # counts 2, 0, 1 with weight log(3 + 2): raw 3, 0, 2 -> 100 * (3 + 0 - s) / 3
    assert scores == [0, 100, 33]


def test_no_constraints_skip_the_plugin() -> None:
    plugin = pod_topology_spread.new({})
    state = CycleState()
    _, status = plugin.pre_filter(state=state, pod=make_pod().obj())
    assert status is not None and status.code is Code.SKIP
    assert plugin.pre_score(state=state, pod=make_pod().obj(), nodes=[]).code is Code.SKIP  # type: ignore[union-attr]
