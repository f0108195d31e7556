"""Job tracking with finalizers: which finished pods are recorded as uncounted, which lose the finalizer, and
how released UIDs move into the totals (no pod lost, none counted twice)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.controllers.job import (
    TRACKING_FINALIZER,
    account_finished_pods,
    format_indexes,
    match_pod_failure_policy,
    move_uncounted,
    parse_indexes,
)

Obj = dict[str, Any]


def job(**spec: Any) -> Obj:
    return {"metadata": {"name": "j", "namespace": "ns", "uid": "job-uid"}, "spec": spec}


def pod(uid: str, phase: str, *, tracked: bool = True, deleting: bool = False, index: int | None = None) -> Obj:
    md: Obj = {"name": f"p-{uid}", "namespace": "ns", "uid": uid}
    if tracked:
        md["finalizers"] = [TRACKING_FINALIZER]
    if deleting:
        md["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if index is not None:
        md["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    return {"metadata": md, "status": {"phase": phase}}


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["uid"] for p in pods]


def test_finished_pods_are_recorded_then_released() -> None:
    pods = [pod("ok", "Succeeded"), pod("bad", "Failed"), pod("run", "Running"), pod("gone", "Running", deleting=True),
            pod("old", "Succeeded", tracked=False), pod("busy", "Succeeded")]
    status: Obj = {"succeeded": 3, "failed": 1}
    release, changed = account_finished_pods(job(completions=9), pods, status, finished=None, skip={"busy"})
    assert changed
    assert names(release) == ["ok", "bad", "gone"]  # running pods keep it; untracked and in-flight are skipped
    assert status["uncountedTerminatedPods"] == {"succeeded": ["ok"], "failed": ["bad", "gone"]}
    assert (status["succeeded"], status["failed"]) == (3, 1), "totals move only once the finalizers are gone"
    # the same pods seen again (the finalizer patch not yet in the cache) are not recorded twice
    again, changed = account_finished_pods(job(completions=9), pods, status, finished=None, skip={"busy"})
    assert not changed and names(again) == ["ok", "bad", "gone"]
    # the finalizer left "ok" and "gone"; "bad" still holds it (its removal failed): only two move
    move_uncounted(status, still_tracked={"bad", "run"})
    assert (status["succeeded"], status["failed"]) == (4, 2)
    assert status["uncountedTerminatedPods"] == {"failed": ["bad"]}


def test_a_failed_job_counts_unfinished_pods_as_failed_and_a_complete_one_does_not() -> None:
    pods = [pod("run", "Running"), pod("ok", "Succeeded")]
    status: Obj = {}
    release, _ = account_finished_pods(job(), pods, status, finished={"type": "Failed"}, skip=set())
    assert names(release) == ["run", "ok"]
    assert status["uncountedTerminatedPods"] == {"succeeded": ["ok"], "failed": ["run"]}
    status = {}
    release, _ = account_finished_pods(job(), pods, status, finished={"type": "Complete"}, skip=set())
    assert names(release) == ["run", "ok"]
    assert status["uncountedTerminatedPods"] == {"succeeded": ["ok"], "failed": []}


def test_only_failed_pods_count_when_replacement_policy_is_failed() -> None:
    status: Obj = {}
    release, changed = account_finished_pods(job(podReplacementPolicy="Failed"),
                                             [pod("gone", "Running", deleting=True)], status, finished=None, skip=set())
    assert (release, changed) == ([], False)


def test_indexed_successes_go_into_completed_indexes() -> None:
    pods = [pod("a", "Succeeded", index=0), pod("b", "Succeeded", index=2), pod("c", "Succeeded", index=7),
            pod("d", "Succeeded", index=2)]
    status: Obj = {"completedIndexes": "1", "succeeded": 1}
    release, changed = account_finished_pods(job(completions=4, completionMode="Indexed"), pods, status,
                                             finished=None, skip=set())
    assert changed and len(release) == 4
    assert (status["completedIndexes"], status["succeeded"]) == ("0-2", 3)
    assert status["uncountedTerminatedPods"] == {"succeeded": [], "failed": []}


@pytest.mark.parametrize("indexes", [set(), {0}, {0, 1, 2, 5, 7, 8}, {3, 9}])
def test_parse_indexes_inverts_format(indexes: set[int]) -> None:
    assert parse_indexes(format_indexes(indexes)) == indexes


def exited(code: int, *, name: str = "c", init: bool = False, conditions: list[Obj] | None = None) -> Obj:
    status: Obj = {"phase": "Failed", "conditions": conditions or []}
    status["initContainerStatuses" if init else "containerStatuses"] = [
        {"name": name, "state": {"terminated": {"exitCode": code}}}]
    return {"metadata": {"name": "p", "namespace": "ns"}, "status": status}


@pytest.mark.parametrize(("rules", "pod", "expected"), [
    pytest.param([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [3]}}], exited(3),
                 ("Container c for pod ns/p failed with exit code 3 matching FailJob rule at index 0", True, "FailJob"),
                 id="fail-job-on-exit-code"),
    pytest.param([{"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [3]}}], exited(5),
                 (None, False, "Ignore"), id="ignore-not-in"),
    pytest.param([{"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [3]}}], exited(3),
                 (None, True, None), id="not-in-excludes-listed-code"),
    pytest.param([{"action": "Count", "onExitCodes": {"containerName": "other", "operator": "In", "values": [1]}},
                  {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1]}}], exited(1, init=True),
                 ("Container c for pod ns/p failed with exit code 1 matching FailJob rule at index 1", True,
                  "FailJob"), id="container-name-and-init-containers"),
    pytest.param([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}],
                 exited(1, conditions=[{"type": "DisruptionTarget", "status": "True"}]), (None, False, "Ignore"),
                 id="ignore-disruption"),
    pytest.param([{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0]}}], exited(0),
                 (None, True, None), id="exit-code-zero-never-matches"),
])
def test_pod_failure_policy_rules_as_upstream(rules: list[Obj], pod: Obj,
                                              expected: tuple[str | None, bool, str | None]) -> None:
    assert match_pod_failure_policy({"rules": rules}, pod) == expected


def test_an_index_fails_once_its_failures_pass_the_per_index_limit() -> None:
    first = pod("a", "Failed", index=0)
    retried = pod("b", "Failed", index=1)
    retried["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] = "1"
    spec = {"completions": 3, "completionMode": "Indexed", "backoffLimitPerIndex": 1}
    status: Obj = {}
    account_finished_pods(job(**spec), [first, retried], status, finished=None, skip=set())
    assert status["failedIndexes"] == "1", "index 0 has a retry left; index 1 used it"
    assert status["uncountedTerminatedPods"]["failed"] == ["a", "b"]
    # a FailIndex rule fails the index at its first failure
    status = {}
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [7]}}]}
    fatal = exited(7)
    fatal["metadata"].update(uid="c", annotations={"batch.kubernetes.io/job-completion-index": "2"},
                             finalizers=[TRACKING_FINALIZER])
    account_finished_pods(job(**spec, podFailurePolicy=policy), [fatal], status, finished=None, skip=set())
    assert status["failedIndexes"] == "2"
