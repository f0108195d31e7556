"""PodTopologySpread: hard skew, missing labels, minDomains, soft scoring, as upstream."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scheduler_builders import make_node, make_pod

from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, ScheduleResult, default_profile
from kubelite.controlplane.scheduler.framework import SNAPSHOT_KEY, Code, CycleState, Handle, ProfileError
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


# ---- default constraints (upstream's system defaults and defaultingType List) ----------------------

def owned(name: str, node: str | None = None, *, kind: str = "ReplicaSet", api: str = "apps/v1",
          labels: dict[str, str] | None = None) -> dict[str, Any]:
    builder = make_pod(name)
    if node:
        builder.node(node)
    pod = builder.obj()
    pod["metadata"]["labels"] = labels if labels is not None else {"app": "web", "pod-template-hash": "x"}
    if kind:
        pod["metadata"]["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": "web-x", "uid": "rs",
                                               "controller": True}]
    return pod


def handle_with(objects: dict[tuple[str, str], list[dict[str, Any]]]) -> Handle:
    def list_objects(resource: str, namespace: str) -> list[dict[str, Any]]:
        return [o for o in objects.get((resource, namespace), [])]

    def get_object(resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return next((o for o in objects.get((resource, namespace), []) if o["metadata"]["name"] == name), None)

    return Handle(list_objects=list_objects, get_object=get_object)


REPLICASET = {"metadata": {"name": "web-x", "namespace": "default"},
              "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "x"}}}}


def host_node(name: str, zone: str | None, *pods: dict[str, Any]) -> NodeInfo:
    builder = make_node(name).capacity(cpu="8", memory="8Gi").label("kubernetes.io/hostname", name)
    if zone:
        builder.label("topology.kubernetes.io/zone", zone)
    return builder.info(*pods)


def soft_scores(plugin: Any, pod: dict[str, Any], infos: list[NodeInfo]) -> list[int] | None:
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos(infos))
    status = plugin.pre_score(state=state, pod=pod, nodes=infos)
    if status is not None:
        assert status.code is Code.SKIP
        return None
    scores, status = plugin.score(state=state, pod=pod, nodes=infos)
    assert status is None
    plugin.normalize_score(state=state, pod=pod, scores=scores)
    return list(scores)


def test_system_defaults_spread_a_replicasets_pods() -> None:
    plugin = pod_topology_spread.new({}, handle_with({("replicasets", "default"): [REPLICASET]}))
    infos = [host_node("n1", "a", owned("w1", "n1"), owned("w2", "n1")), host_node("n2", "a"),
             host_node("n3", "b", owned("w3", "n3"))]
    scores = soft_scores(plugin, owned("new"), infos)
    assert scores is not None
    assert scores.index(max(scores)) == 1 and scores[0] < scores[2]  # the empty node first, the crowded last


def test_system_defaults_score_nodes_lacking_the_zone_label() -> None:
    plugin = pod_topology_spread.new({}, handle_with({("replicasets", "default"): [REPLICASET]}))
    infos = [host_node("n1", None, owned("w1", "n1")), host_node("n2", None)]
    # requireAllTopologies is false: hostname alone counts, 1 * log(2 + 2) + 3 - 1 = 3 vs 2 -> 100 * (5 - s) / 3
    assert soft_scores(plugin, owned("new"), infos) == [66, 100]


def test_a_service_selecting_the_pod_gives_the_selector() -> None:
    service = {"metadata": {"name": "svc", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}
    plugin = pod_topology_spread.new({}, handle_with({("services", "default"): [service]}))
    infos = [host_node("n1", "a", owned("w1", "n1", kind="")), host_node("n2", "a")]
    # hostname 1 * log(4) + 2 and zone 1 * log(3) + 4: 8 (rounded) vs 2 + 5.1 = 7 -> 100 * (15 - s) / 8
    assert soft_scores(plugin, owned("new", kind=""), infos) == [87, 100]
    # a pod nothing selects gets no default constraints
    assert soft_scores(plugin, owned("lonely", kind="", labels={"app": "db"}), infos) is None


def test_defaults_need_a_known_controller_and_yield_to_own_constraints() -> None:
    plugin = pod_topology_spread.new({}, handle_with({}))  # the ReplicaSet is not in the lister
    infos = [host_node("n1", "a", owned("w1", "n1")), host_node("n2", "a")]
    assert soft_scores(plugin, owned("new"), infos) is None
    rc = {"metadata": {"name": "web-x", "namespace": "default"}, "spec": {"selector": {"app": "web"}}}
    plugin = pod_topology_spread.new({}, handle_with({("replicationcontrollers", "default"): [rc]}))
    assert soft_scores(plugin, owned("new", kind="ReplicationController", api="v1"), infos) == [87, 100]
    own = owned("new", kind="ReplicationController", api="v1")
    own["spec"]["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": "absent",
                                                 "whenUnsatisfiable": "ScheduleAnyway",
                                                 "labelSelector": {"matchLabels": {"app": "web"}}}]
    assert soft_scores(plugin, own, infos) == [0, 0]  # its own constraint: both nodes lack the key


def test_list_defaulting_with_hard_default_constraints_filters() -> None:
    plugin = pod_topology_spread.new(
        {"defaultingType": "List",
         "defaultConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                 "whenUnsatisfiable": "DoNotSchedule"}]},
        handle_with({("replicasets", "default"): [REPLICASET]}))
    infos = [host_node("n1", "a", owned("w1", "n1")), host_node("n2", "a")]
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos(infos))
    _, status = plugin.pre_filter(state=state, pod=owned("new"))
    assert status is None
    assert plugin.filter(state=state, pod=owned("new"), node_info=infos[0]).code is Code.UNSCHEDULABLE  # type: ignore[union-attr]
    assert plugin.filter(state=state, pod=owned("new"), node_info=infos[1]) is None
    # a nominated pod of the set added to n2 (a what-if) evens the counts: n1 fits again
    clone = state.clone()
    trial = host_node("n2", "a", owned("nominated", "n2"))
    assert plugin.add_pod(state=clone, pod_to_schedule=owned("new"), pod_to_add=owned("nominated"),
                          node_info=trial) is None
    assert plugin.filter(state=clone, pod=owned("new"), node_info=infos[0]) is None
    assert plugin.filter(state=state, pod=owned("new"), node_info=infos[0]) is not None  # the original is untouched


@pytest.mark.parametrize(("args", "message"), [
    pytest.param({"defaultConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"}]},
                 "defaultingType: Invalid value: 'System': when .defaultConstraints are not empty", id="system+list"),
    pytest.param({"defaultingType": "Sometimes"}, "defaultingType: must be one of System, List", id="bad-type"),
    pytest.param({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "Maybe", "labelSelector": {}}]},
        "defaultConstraints[0].maxSkew: must be greater than zero, got 0; defaultConstraints[0].topologyKey: can not "
        "be empty; defaultConstraints[0].whenUnsatisfiable: must be one of DoNotSchedule, ScheduleAnyway, got "
        "'Maybe'; defaultConstraints[0].labelSelector: constraint must not define a selector", id="bad-constraint"),
    pytest.param({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"},
        {"maxSkew": 2, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"}]},
        "defaultConstraints[1]: Duplicate value: {k, DoNotSchedule}", id="duplicate"),
])
def test_bad_args_are_refused(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as err:
        pod_topology_spread.new(args)
    assert message in str(err.value)
