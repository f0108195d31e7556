"""The disruption controller's arithmetic: scaled values, healthy counts, the disrupted-pods map, the
DisruptionAllowed condition, and expected counts from the pods' controllers (caches filled by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.client import APIClient, ClientConfig
from kubelite.controlplane.controllers.disruption import (
    DELETION_TIMEOUT,
    DisruptionController,
    DisruptionError,
    build_disrupted_pods,
    conditions_up_to_date,
    count_healthy,
    disruptions_allowed,
    scaled_value,
    set_condition,
    stale_disruption_wait,
)

Obj = dict[str, Any]
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NOW_TEXT = "2027-01-15T08:00:00Z"


def pod(name: str, *, ready: bool = True, deleting: bool = False, owner: Obj | None = None) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "labels": {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = NOW_TEXT
    if owner is not None:
        md["ownerReferences"] = [{**owner, "controller": True}]
    return {"metadata": md, "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("value", "total", "expected"), [
    pytest.param(2, 10, 2, id="int"),
    pytest.param("50%", 3, 2, id="percent-rounds-up"),
    pytest.param("0%", 7, 0, id="zero-percent"),
    pytest.param("100%", 7, 7, id="all"),
    pytest.param("10%", 0, 0, id="no-pods"),
])
def test_scaled_value_rounds_up_as_upstream(value: Any, total: int, expected: int) -> None:
    assert scaled_value(value, total) == expected


@pytest.mark.parametrize("value", [pytest.param("50", id="no-percent-sign"), pytest.param("x%", id="not-a-number"),
                                   pytest.param(True, id="bool"), pytest.param(1.5, id="float")])
def test_scaled_value_refuses_bad_values(value: Any) -> None:
    with pytest.raises(DisruptionError):
        scaled_value(value, 10)


def test_healthy_pods_exclude_unready_deleting_and_recently_evicted() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", deleting=True), pod("d"), pod("e")]
    disrupted = {"d": NOW_TEXT, "e": "2027-01-15T07:50:00Z"}  # e's eviction is older than the deletion timeout
    assert count_healthy(pods, disrupted, NOW) == 2  # a and e


def test_disrupted_pods_map_keeps_pending_entries_and_drops_confirmed_or_expired() -> None:
    pods = [pod("pending"), pod("deleting", deleting=True), pod("expired")]
    pdb = {"status": {"disruptedPods": {"pending": "2027-01-15T07:59:30Z", "deleting": NOW_TEXT,
                                        "expired": "2027-01-15T07:57:00Z", "gone": NOW_TEXT}}}
    kept, recheck, expired = build_disrupted_pods(pods, pdb, NOW)
    assert kept == {"pending": "2027-01-15T07:59:30Z"}
    assert recheck == NOW - 30 + DELETION_TIMEOUT
    assert [p["metadata"]["name"] for p in expired] == ["expired"]
    assert build_disrupted_pods(pods, {"status": {}}, NOW) == ({}, None, [])


@pytest.mark.parametrize(("healthy", "desired", "expected", "allowed"), [
    pytest.param(3, 2, 3, 1, id="one-spare"),
    pytest.param(1, 2, 3, 0, id="below-budget"),
    pytest.param(3, 0, 0, 0, id="no-pods-expected-is-safe"),
])
def test_disruptions_allowed(healthy: int, desired: int, expected: int, allowed: int) -> None:
    assert disruptions_allowed(current_healthy=healthy, desired_healthy=desired, expected=expected) == allowed


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    first = set_condition([], status="True", reason="SufficientPods", message="", generation=1, now="t1")
    assert first == [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "message": "",
                      "observedGeneration": 1, "lastTransitionTime": "t1"}]
    same = set_condition(first, status="True", reason="SufficientPods", message="", generation=2, now="t2")
    assert same[0]["lastTransitionTime"] == "t1" and same[0]["observedGeneration"] == 2
    flipped = set_condition(same, status="False", reason="InsufficientPods", message="", generation=2, now="t3")
    assert (flipped[0]["status"], flipped[0]["reason"], flipped[0]["lastTransitionTime"]) == \
        ("False", "InsufficientPods", "t3")


def test_conditions_up_to_date_follows_disruptions_allowed_and_generation() -> None:
    cond = {"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods"}
    pdb = {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "disruptionsAllowed": 1,
                                                     "conditions": [cond]}}
    assert conditions_up_to_date(pdb)
    assert not conditions_up_to_date({**pdb, "status": {**pdb["status"], "disruptionsAllowed": 0}})
    assert not conditions_up_to_date({**pdb, "metadata": {"generation": 3}})
    assert not conditions_up_to_date({**pdb, "status": {**pdb["status"], "conditions": []}})


@pytest.fixture
def controller() -> DisruptionController:
    # no request is made: the expected counts below come from the caches, filled by hand
    return DisruptionController(APIClient(ClientConfig(server="https://127.0.0.1:1")))


def owned_by(kind: str, name: str, uid: str, api_version: str = "apps/v1") -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def put(controller: DisruptionController, store: str, kind: str, name: str, uid: str, replicas: int,
        owner: Obj | None = None) -> None:
    md: Obj = {"name": name, "namespace": "ns", "uid": uid}
    if owner is not None:
        md["ownerReferences"] = [{**owner, "controller": True}]
    getattr(controller, store).store.put({"kind": kind, "metadata": md, "spec": {"replicas": replicas}})


async def test_expected_counts_from_deployments_replicasets_and_statefulsets(
        controller: DisruptionController) -> None:
    put(controller, "deployments", "Deployment", "web", "d1", 4)
    put(controller, "replicasets", "ReplicaSet", "web-abc", "rs1", 3, owner=owned_by("Deployment", "web", "d1"))
    put(controller, "replicasets", "ReplicaSet", "web-old", "rs2", 1, owner=owned_by("Deployment", "web", "d1"))
    put(controller, "replicasets", "ReplicaSet", "bare", "rs3", 2)
    put(controller, "statefulsets", "StatefulSet", "db", "s1", 5)
    pods = [pod("w1", owner=owned_by("ReplicaSet", "web-abc", "rs1")),
            pod("w2", owner=owned_by("ReplicaSet", "web-old", "rs2")),
            pod("b1", owner=owned_by("ReplicaSet", "bare", "rs3")),
            pod("s1", owner=owned_by("StatefulSet", "db", "s1"))]
    # the Deployment counts once (4) though its pods come from two ReplicaSets; + bare RS 2 + StatefulSet 5
    pdb: Obj = {"metadata": {"name": "p"}, "spec": {"maxUnavailable": "25%"}}
    assert await controller.expected_counts(pdb, pods) == (11, 11 - 3, [])
    pdb["spec"] = {"minAvailable": "50%"}
    assert await controller.expected_counts(pdb, pods) == (11, 6, [])
    pdb["spec"] = {"minAvailable": 3}  # an integer minAvailable counts the pods that exist
    assert await controller.expected_counts(pdb, pods) == (4, 3, [])


async def test_unmanaged_pods_are_reported_and_missing_controllers_fail_the_sync(
        controller: DisruptionController) -> None:
    pdb: Obj = {"metadata": {"name": "p"}, "spec": {"maxUnavailable": 1}}
    assert await controller.expected_counts(pdb, [pod("lonely")]) == (0, 0, ["lonely"])
    stale = pod("orphaned", owner=owned_by("ReplicaSet", "gone", "rs9"))
    with pytest.raises(DisruptionError, match='found no controllers for pod "orphaned"'):
        await controller.expected_counts(pdb, [stale])
    put(controller, "replicasets", "ReplicaSet", "gone", "another-uid", 2)  # same name, new object
    with pytest.raises(DisruptionError, match="found no controllers"):
        await controller.expected_counts(pdb, [stale])


@pytest.mark.parametrize(("condition", "extra", "expected"), [
    pytest.param({"status": "True", "reason": "EvictionByEvictionAPI", "lastTransitionTime": "2027-01-15T07:59:00Z"},
                 {}, 60.0, id="stale-in-a-minute"),
    pytest.param({"status": "True", "reason": "EvictionByEvictionAPI", "lastTransitionTime": "2027-01-15T07:50:00Z"},
                 {}, 0.0, id="stale-now"),
    pytest.param({"status": "True", "reason": "TerminationByKubelet"}, {}, None, id="kubelet-set-it"),
    pytest.param({"status": "False"}, {}, None, id="already-false"),
    pytest.param({"status": "True", "reason": "EvictionByEvictionAPI"}, {"deleting": True}, None, id="deleting"),
])
def test_stale_disruption_condition(condition: Obj, extra: Obj, expected: float | None) -> None:
    subject = pod("p", deleting=bool(extra.get("deleting")))
    subject["status"]["conditions"].append({"type": "DisruptionTarget", **condition})
    assert stale_disruption_wait(subject, NOW) == expected
