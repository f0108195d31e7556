"""InterPodAffinity: required affinity and anti-affinity (both sides), the first pod of a group, scoring."""

from __future__ import annotations

import random
from typing import Any

from scheduler_builders import make_node, make_pod

from kubelite.controlplane.apiserver.strategy import merge_affinity_label_keys
from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, ScheduleResult, default_profile
from kubelite.controlplane.scheduler.framework import SNAPSHOT_KEY, Code, CycleState, Handle
from kubelite.controlplane.scheduler.plugins import in_tree_registry, inter_pod_affinity
from kubelite.controlplane.scheduler.snapshot import Snapshot

HOST = "kubernetes.io/hostname"


def labelled(name: str, labels: dict[str, str], node: str | None = None, **affinity: Any) -> dict[str, Any]:
    builder = make_pod(name)
    if node:
        builder.node(node)
    pod = builder.obj()
    pod["metadata"]["labels"] = labels
    if affinity:
        pod["spec"]["affinity"] = affinity
    return pod


def term(labels: dict[str, str], key: str = HOST) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"requiredDuringSchedulingIgnoredDuringExecution": list(terms)}


def node(name: str, zone: str, *pods: dict[str, Any]) -> NodeInfo:
    return make_node(name).capacity(cpu="8", memory="8Gi").label("zone", zone).info(*pods)


def schedule(pod: dict[str, Any], infos: list[NodeInfo]) -> Any:
    fw = Framework(profile=default_profile(), registry=in_tree_registry(), rng=random.Random(5))
    return fw.schedule(pod=pod, nodes=infos)


def test_required_anti_affinity_keeps_pods_apart() -> None:
    infos = [node("n1", "a", labelled("db-0", {"app": "db"}, "n1")), node("n2", "a")]
    pod = labelled("db-1", {"app": "db"}, podAntiAffinity=required(term({"app": "db"})))
    assert schedule(pod, infos) == ScheduleResult(suggested_host="n2", evaluated_nodes=2, feasible_nodes=1)
    zone_wide = labelled("db-1", {"app": "db"}, podAntiAffinity=required(term({"app": "db"}, "zone")))
    result = schedule(zone_wide, infos)
    assert isinstance(result, FitError)
    assert result.message.startswith("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")


def test_existing_pods_anti_affinity_repels_the_incoming_pod() -> None:
    loner = labelled("loner", {"app": "loner"}, "n1", podAntiAffinity=required(term({"app": "web"})))
    infos = [node("n1", "a", loner), node("n2", "a")]
    assert schedule(labelled("web", {"app": "web"}), infos).suggested_host == "n2"
    result = schedule(labelled("web", {"app": "web"}), infos[:1])
    assert isinstance(result, FitError)
    assert result.message.startswith("0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity "
                                     "rules.")


def test_required_affinity_follows_the_zone_of_matching_pods() -> None:
    infos = [node("a1", "a", labelled("cache", {"app": "cache"}, "a1")), node("a2", "a"), node("b1", "b")]
    pod = labelled("web", {"app": "web"}, podAffinity=required(term({"app": "cache"}, "zone")))
    result = schedule(pod, infos)
    assert isinstance(result, ScheduleResult) and result.feasible_nodes == 2 and result.suggested_host in {"a1", "a2"}
    elsewhere = labelled("web", {"app": "web"}, podAffinity=required(term({"app": "nothing"}, "zone")))
    failed = schedule(elsewhere, infos)
    assert isinstance(failed, FitError)
    assert failed.message.startswith("0/3 nodes are available: 3 node(s) didn't match pod affinity rules.")


def test_the_first_pod_of_a_self_affine_group_may_go_anywhere() -> None:
    pod = labelled("first", {"app": "group"}, podAffinity=required(term({"app": "group"}, "zone")))
    result = schedule(pod, [node("a1", "a"), node("b1", "b")])
    assert isinstance(result, ScheduleResult) and result.feasible_nodes == 2


def test_namespaces_scope_the_terms() -> None:
    other = labelled("db-0", {"app": "db"}, "n1")
    other["metadata"]["namespace"] = "other"
    pod = labelled("db-1", {"app": "db"}, podAntiAffinity=required(term({"app": "db"})))
    assert schedule(pod, [node("n1", "a", other)]).suggested_host == "n1"
    everywhere = {**term({"app": "db"}), "namespaceSelector": {}}
    pod = labelled("db-1", {"app": "db"}, podAntiAffinity=required(everywhere))
    assert isinstance(schedule(pod, [node("n1", "a", other)]), FitError)


def test_preferred_terms_score_by_weight_and_normalize_between_min_and_max() -> None:
    plugin = inter_pod_affinity.new({})
    infos = [node("a1", "a", labelled("cache", {"app": "cache"}, "a1")), node("b1", "b"),
             node("c1", "c", labelled("noisy", {"app": "noisy"}, "c1"))]
    pod = labelled("web", {"app": "web"}, podAffinity={"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "podAffinityTerm": term({"app": "cache"}, "zone")}]},
        podAntiAffinity={"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 20, "podAffinityTerm": term({"app": "noisy"}, "zone")}]})
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos(infos))
    assert plugin.pre_score(state=state, pod=pod, nodes=infos) is None
    scores, status = plugin.score(state=state, pod=pod, nodes=infos)
    assert status is None and scores == [80, 0, -20]
    plugin.normalize_score(state=state, pod=pod, scores=scores)
    assert scores == [100, 20, 0]


def test_nothing_to_do_skips_the_plugin() -> None:
    plugin = inter_pod_affinity.new({})
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos([node("n1", "a", make_pod("plain").node("n1").obj())]))
    _, status = plugin.pre_filter(state=state, pod=make_pod().obj())
    assert status is not None and status.code is Code.SKIP
    skipped = plugin.pre_score(state=state, pod=make_pod().obj(), nodes=[])
    assert skipped is not None and skipped.code is Code.SKIP


# ---- namespaceSelector, matchLabelKeys / mismatchLabelKeys, nominated pods ------------------------

def in_namespace(pod: dict[str, Any], namespace: str) -> dict[str, Any]:
    pod["metadata"]["namespace"] = namespace
    return pod


NAMESPACES = [{"metadata": {"name": "prod", "labels": {"env": "prod"}}},
              {"metadata": {"name": "prod-2", "labels": {"env": "prod"}}},
              {"metadata": {"name": "dev", "labels": {"env": "dev"}}}]


def with_namespaces(pod: dict[str, Any], infos: list[NodeInfo]) -> Any:
    handle = Handle(list_objects=lambda resource, namespace: NAMESPACES if resource == "namespaces" else [])
    fw = Framework(profile=default_profile(), registry=in_tree_registry(handle), rng=random.Random(5))
    return fw.schedule(pod=pod, nodes=infos)


def test_namespace_selector_picks_the_namespaces_by_their_labels() -> None:
    infos = [node("n1", "a", in_namespace(labelled("db", {"app": "db"}, "n1"), "prod-2")),
             node("n2", "a", in_namespace(labelled("db", {"app": "db"}, "n2"), "dev")), node("n3", "a")]
    near_prod = {**term({"app": "db"}), "namespaceSelector": {"matchLabels": {"env": "prod"}}}
    pod = labelled("web", {"app": "web"}, podAffinity=required(near_prod))
    assert with_namespaces(pod, infos).suggested_host == "n1"
    away = labelled("web", {"app": "web"}, podAntiAffinity=required(near_prod))
    assert with_namespaces(away, infos).feasible_nodes == 2  # n2's db is in dev, not selected
    # listed namespaces and the selector add up
    both = {**near_prod, "namespaces": ["dev"]}
    assert with_namespaces(labelled("web", {"app": "web"}, podAntiAffinity=required(both)), infos) == \
        ScheduleResult(suggested_host="n3", evaluated_nodes=3, feasible_nodes=1)


def test_existing_pods_terms_with_a_namespace_selector_apply_to_the_incoming_pod() -> None:
    guard = {**term({"app": "web"}), "namespaceSelector": {"matchLabels": {"env": "prod"}}}
    infos = [node("n1", "a", in_namespace(labelled("guard", {"app": "guard"}, "n1",
                                                   podAntiAffinity=required(guard)), "dev")), node("n2", "a")]
    assert with_namespaces(in_namespace(labelled("web", {"app": "web"}), "prod"), infos).suggested_host == "n2"
    assert with_namespaces(in_namespace(labelled("web", {"app": "web"}), "dev"), infos).feasible_nodes == 2


def test_match_and_mismatch_label_keys_narrow_the_selector_by_the_pods_own_values() -> None:
    """The API server merges the keys at creation (as upstream); the scheduler then sees plain selectors."""
    def created(pod: dict[str, Any]) -> dict[str, Any]:
        merge_affinity_label_keys(pod)
        return pod

    infos = [node("n1", "a", labelled("v1", {"app": "web", "rev": "1"}, "n1")),
             node("n2", "a", labelled("v2", {"app": "web", "rev": "2"}, "n2")), node("n3", "a")]
    same_rev = {**term({"app": "web"}), "matchLabelKeys": ["rev"]}
    pod = created(labelled("new", {"app": "web", "rev": "2"}, podAffinity=required(same_rev)))
    assert pod["spec"]["affinity"]["podAffinity"][inter_pod_affinity.REQUIRED][0]["labelSelector"] == {
        "matchLabels": {"app": "web"}, "matchExpressions": [{"key": "rev", "operator": "In", "values": ["2"]}]}
    assert schedule(pod, infos).suggested_host == "n2"
    other_rev = {**term({"app": "web"}), "mismatchLabelKeys": ["rev"]}
    pod = created(labelled("new", {"app": "web", "rev": "2"}, podAntiAffinity=required(other_rev)))
    assert schedule(pod, infos).feasible_nodes == 2  # only n1 (rev 1) is avoided
    # a key the pod does not carry adds nothing
    pod = created(labelled("new", {"app": "web"},
                           podAntiAffinity=required({**term({"app": "web"}), "matchLabelKeys": ["rev"]})))
    assert schedule(pod, infos).suggested_host == "n3"


def test_add_pod_counts_a_nominated_pod() -> None:
    plugin = inter_pod_affinity.new({})
    infos = [node("n1", "a"), node("n2", "a")]
    pod = labelled("db-1", {"app": "db"}, podAntiAffinity=required(term({"app": "db"})))
    state = CycleState()
    state.write(SNAPSHOT_KEY, Snapshot.from_infos(infos))
    assert plugin.pre_filter(state=state, pod=pod)[1] is None
    assert plugin.filter(state=state, pod=pod, node_info=infos[0]) is None
    clone = state.clone()
    trial = node("n1", "a", labelled("db-0", {"app": "db"}, "n1"))
    assert plugin.add_pod(state=clone, pod_to_schedule=pod, pod_to_add=labelled("db-0", {"app": "db"}),
                          node_info=trial) is None
    assert plugin.filter(state=clone, pod=pod, node_info=trial).code is Code.UNSCHEDULABLE  # type: ignore[union-attr]
    assert plugin.filter(state=state, pod=pod, node_info=infos[0]) is None  # the original is untouched
