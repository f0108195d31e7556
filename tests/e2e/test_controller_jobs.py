"""Jobs with stock kubectl against a real server and the fake node agent (which finishes pods of
restartPolicy Never/OnFailure: Succeeded, or Failed when the command says `exit 1`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from controller_waits import dump_state, exists, get_json, wait_for
from e2e_harness import Server, raw_request
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def nodes(server: Server) -> Iterator[FakeNodes]:
    with FakeNodes(server.kubeconfig, ["job-node-a", "job-node-b"], run_seconds=0.3) as fake:
        yield fake


@pytest.fixture
def namespace(server: Server) -> Iterator[str]:
    name = f"job-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    yield name
    dump_state(server)
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)


def job(name: str, namespace: str, *, command: list[str], **spec: Any) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
                       "spec": {**spec, "template": {"spec": {"restartPolicy": "Never", "containers": [
                           {"name": "c", "image": "busybox", "command": command}]}}}})


def test_kubectl_create_job_runs_to_completion(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("create", "job", "once", "--image=busybox", *ns, "--", "true")
    server.kubectl("wait", "--for=condition=complete", "job/once", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "once", *ns)["status"]
    assert status["succeeded"] == 1 and status.get("active", 0) == 0
    assert status["startTime"] and status["completionTime"]
    assert "1/1" in server.kubectl("get", "job", "once", *ns).stdout


def test_completions_parallelism_and_indexed(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("five", namespace, command=["true"], completions=5, parallelism=2))
    server.kubectl("apply", "-f", "-", input=job("idx", namespace, command=["true"], completions=3, parallelism=3,
                                                   completionMode="Indexed"))
    server.kubectl("wait", "--for=condition=complete", "job/five", "job/idx", "--timeout=60s", *ns, timeout=90)
    assert get_json(server, "job", "five", *ns)["status"]["succeeded"] == 5
    idx = get_json(server, "job", "idx", *ns)
    assert idx["status"]["completedIndexes"] == "0-2"
    pods = get_json(server, "pods", "-l", "job-name=idx", *ns)["items"]
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods)
    assert indexes == ["0", "1", "2"]
    for pod in pods:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert pod["spec"]["hostname"] == f"idx-{index}"


def test_backoff_limit_fails_the_job(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("bad", namespace, command=["sh", "-c", "exit 1"], backoffLimit=1))
    server.kubectl("wait", "--for=condition=failed", "job/bad", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "bad", *ns)["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert status["failed"] == 2


TRACKING = "batch.kubernetes.io/job-tracking"


def test_counts_survive_pod_deletion_through_tracking_finalizers(server: Server, nodes: FakeNodes,
                                                                namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("tracked", namespace, command=["sh", "-c", "sleep 2"],
                                                   completions=2, parallelism=1))
    first = wait_for(lambda: [p for p in get_json(server, "pods", "-l", "job-name=tracked", *ns)["items"]
                              if p["status"].get("phase") == "Running"], what="a running pod")[0]
    assert TRACKING in first["metadata"]["finalizers"]
    # a running pod deleted by hand counts as a failure (its finalizer holds it until counted) and is replaced
    server.kubectl("delete", "pod", first["metadata"]["name"], "--wait=false", *ns)
    server.kubectl("wait", "--for=condition=complete", "job/tracked", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "tracked", *ns)["status"]
    assert (status["succeeded"], status["failed"]) == (2, 1), status
    assert not status.get("uncountedTerminatedPods"), status
    wait_for(lambda: not exists(server, "pod", first["metadata"]["name"], *ns), what="the deleted pod gone")
    pods = get_json(server, "pods", "-l", "job-name=tracked", *ns)["items"]
    assert len(pods) == 2 and not any(TRACKING in (p["metadata"].get("finalizers") or []) for p in pods)
    # the finished pods go; the Job's counts stay
    server.kubectl("delete", "pods", "-l", "job-name=tracked", *ns)
    for _ in range(10):
        status = get_json(server, "job", "tracked", *ns)["status"]
        assert (status["succeeded"], status["failed"]) == (2, 1), status
    assert "2/2" in server.kubectl("get", "job", "tracked", *ns).stdout

    # a pod whose Job is gone (deleted with --cascade=orphan) loses the finalizer, so it can go later
    server.kubectl("apply", "-f", "-", input=job("left", namespace, command=["sleep", "30"]))
    pod = wait_for(lambda: get_json(server, "pods", "-l", "job-name=left", *ns)["items"], what="the pod")[0]
    assert TRACKING in pod["metadata"]["finalizers"]
    server.kubectl("delete", "job", "left", "--cascade=orphan", *ns)
    wait_for(lambda: TRACKING not in (get_json(server, "pod", pod["metadata"]["name"], *ns)["metadata"]
                                      .get("finalizers") or []), what="the orphaned pod's finalizer removed")


def test_pod_failure_policy_fails_the_job_or_ignores_the_failure(server: Server, nodes: FakeNodes,
                                                                  namespace: str) -> None:
    ns = ["-n", namespace]
    on_exit_1 = {"operator": "In", "values": [1]}
    server.kubectl("apply", "-f", "-", input=job("fatal", namespace, command=["sh", "-c", "exit 1"], backoffLimit=6,
                                                   podFailurePolicy={"rules": [{"action": "FailJob",
                                                                                "onExitCodes": on_exit_1}]}))
    server.kubectl("apply", "-f", "-", input=job("tolerant", namespace, command=["sh", "-c", "exit 1"],
                                                   backoffLimit=0, podFailurePolicy={"rules": [
                                                       {"action": "Ignore", "onExitCodes": on_exit_1}]}))
    server.kubectl("wait", "--for=condition=failed", "job/fatal", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "fatal", *ns)["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    (pod,) = get_json(server, "pods", "-l", "job-name=fatal", *ns)["items"]
    assert failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (f"Container c for pod {namespace}/{pod['metadata']['name']} failed with exit code 1 "
                                 "matching FailJob rule at index 0")
    assert status["failed"] == 1, "one failure, not the backoff limit, ended it"
    # ignored failures do not count: with backoffLimit 0 the Job keeps replacing its failed pods
    wait_for(lambda: len([p for p in get_json(server, "pods", "-l", "job-name=tolerant", *ns)["items"]
                          if p["status"].get("phase") == "Failed"]) >= 3, what="three ignored failures")
    status = get_json(server, "job", "tolerant", *ns)["status"]
    assert not status.get("failed") and not any(c["type"] == "Failed" for c in status.get("conditions", [])), status
    server.kubectl("delete", "job", "tolerant", *ns)


def test_backoff_limit_per_index_fails_indexes_then_the_job(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("per-index", namespace, command=["sh", "-c", "exit 1"], completions=2,
                                                   parallelism=2, completionMode="Indexed", backoffLimitPerIndex=1))
    server.kubectl("apply", "-f", "-", input=job("capped", namespace, command=["sh", "-c", "exit 1"], completions=3,
                                                   parallelism=1, completionMode="Indexed", backoffLimitPerIndex=0,
                                                   maxFailedIndexes=0))
    server.kubectl("wait", "--for=condition=failed", "job/per-index", "job/capped", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "per-index", *ns)["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("FailedIndexes", "Job has failed indexes")
    assert (status["failedIndexes"], status["failed"]) == ("0,1", 4), "each index tried twice (one retry)"
    counts = sorted((p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"],
                     p["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"])
                    for p in get_json(server, "pods", "-l", "job-name=per-index", *ns)["items"])
    assert counts == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    capped = get_json(server, "job", "capped", *ns)["status"]
    failed = next(c for c in capped["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "MaxFailedIndexesExceeded"
    assert capped["failedIndexes"] == "0" and capped["failed"] == 1, "the first failed index ended it"


def test_pod_replacement_policy_failed_waits_for_the_terminating_pod(server: Server, nodes: FakeNodes,
                                                                      namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("patient", namespace, command=["sleep", "30"],
                                                   podReplacementPolicy="Failed"))
    first = wait_for(lambda: [p for p in get_json(server, "pods", "-l", "job-name=patient", *ns)["items"]
                              if p["status"].get("phase") == "Running"], what="a running pod")[0]["metadata"]["name"]
    # the fake agent is told to hold this pod's termination: the Job must not replace it meanwhile
    node = get_json(server, "pod", first, *ns)["spec"]["nodeName"]
    nodes.stop_node(node)
    try:
        server.kubectl("delete", "pod", first, "--wait=false", *ns)
        wait_for(lambda: get_json(server, "job", "patient", *ns)["status"].get("terminating") == 1,
                 what="the Job to count the terminating pod")
        assert [p["metadata"]["name"] for p in get_json(server, "pods", "-l", "job-name=patient", *ns)["items"]] \
            == [first], "no replacement while the pod is only terminating"
    finally:
        nodes.stopped_nodes.discard(node)
    # once it has failed (the agent, on its next resync, finishes the termination) it is counted and replaced
    wait_for(lambda: get_json(server, "job", "patient", *ns)["status"].get("failed") == 1
             and any(p["metadata"]["name"] != first
                     for p in get_json(server, "pods", "-l", "job-name=patient", *ns)["items"]),
             what="the failed pod counted and replaced")
    server.kubectl("delete", "job", "patient", *ns)


def test_an_evicted_pod_is_a_disruption_a_failure_policy_can_ignore(server: Server, nodes: FakeNodes,
                                                                    namespace: str) -> None:
    ns = ["-n", namespace]
    ignore_disruptions = {"rules": [{"action": "Ignore",
                                     "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}
    server.kubectl("apply", "-f", "-", input=job("evictable", namespace, command=["sleep", "30"], backoffLimit=0,
                                                   podFailurePolicy=ignore_disruptions))
    first = wait_for(lambda: [p for p in get_json(server, "pods", "-l", "job-name=evictable", *ns)["items"]
                              if p["status"].get("phase") == "Running"], what="a running pod")[0]["metadata"]["name"]
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": first, "namespace": namespace}}
    status, _ = raw_request(server, "POST", f"/api/v1/namespaces/{namespace}/pods/{first}/eviction",
                            json.dumps(body).encode())
    assert status == 201
    # the eviction marked the pod DisruptionTarget: its failure is ignored (backoffLimit 0 would fail the Job)
    wait_for(lambda: any(p["metadata"]["name"] != first and p["status"].get("phase") == "Running"
                         for p in get_json(server, "pods", "-l", "job-name=evictable", *ns)["items"]),
             what="the evicted pod replaced")
    status_now = get_json(server, "job", "evictable", *ns)["status"]
    assert not status_now.get("failed") and not any(c["type"] == "Failed" for c in status_now.get("conditions", []))
    server.kubectl("delete", "job", "evictable", *ns)


def test_ttl_after_finished_and_suspend(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("quick", namespace, command=["true"], ttlSecondsAfterFinished=1))
    server.kubectl("wait", "--for=condition=complete", "job/quick", "--timeout=60s", *ns, timeout=90)
    wait_for(lambda: not exists(server, "job", "quick", *ns), what="the Job deleted after its TTL")
    wait_for(lambda: not get_json(server, "pods", "-l", "job-name=quick", *ns)["items"],
             what="the Job's pods deleted with it")
    server.kubectl("apply", "-f", "-", input=job("late", namespace, command=["true"], suspend=True))
    wait_for(lambda: any(c["type"] == "Suspended" for c in get_json(server, "job", "late", *ns)
                         .get("status", {}).get("conditions", [])), what="the Suspended condition")
    assert not get_json(server, "pods", "-l", "job-name=late", *ns)["items"]


def test_active_deadline_fails_a_job_that_runs_too_long(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=job("slow", namespace, command=["sleep", "60"], activeDeadlineSeconds=2))
    server.kubectl("wait", "--for=condition=failed", "job/slow", "--timeout=60s", *ns, timeout=90)
    status = get_json(server, "job", "slow", *ns)["status"]
    assert next(c for c in status["conditions"] if c["type"] == "Failed")["reason"] == "DeadlineExceeded"
    wait_for(lambda: all(p["metadata"].get("deletionTimestamp") or p["status"].get("phase") != "Running"
                         for p in get_json(server, "pods", "-l", "job-name=slow", *ns)["items"]),
             what="the running pod deleted when the deadline passed")


def cronjob(name: str, namespace: str, *, command: list[str], **spec: Any) -> str:
    return json.dumps({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": namespace},
                       "spec": {"schedule": "@every 2s", **spec, "jobTemplate": {"spec": {"template": {"spec": {
                           "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox",
                                                                     "command": command}]}}}}}})


def owned_jobs(server: Server, namespace: str, owner: str) -> list[Obj]:
    return [j for j in get_json(server, "jobs", "-n", namespace)["items"]
            if any(r["name"] == owner for r in j["metadata"].get("ownerReferences") or [])]


def test_cronjob_runs_on_schedule_and_keeps_history_limits(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=cronjob("tick", namespace, command=["true"],
                                                     successfulJobsHistoryLimit=1))
    wait_for(lambda: get_json(server, "cronjob", "tick", *ns).get("status", {}).get("lastSuccessfulTime"),
             what="a scheduled Job completed")
    cj = get_json(server, "cronjob", "tick", *ns)
    assert cj["status"]["lastScheduleTime"]
    job = owned_jobs(server, namespace, "tick")[0]
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in job["metadata"]["annotations"]
    wait_for(lambda: get_json(server, "cronjob", "tick", *ns)["status"]["lastScheduleTime"]
             != cj["status"]["lastScheduleTime"], what="a second run")
    # successfulJobsHistoryLimit 1: finished Jobs beyond one are deleted
    wait_for(lambda: sum(1 for j in owned_jobs(server, namespace, "tick") if not j["metadata"].get(
        "deletionTimestamp") and any(c["type"] == "Complete" for c in j.get("status", {}).get("conditions", []))) <= 1,
        what="one finished Job kept")
    server.kubectl("patch", "cronjob", "tick", *ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')


def test_cronjob_forbid_skips_while_a_job_runs(server: Server, nodes: FakeNodes, namespace: str) -> None:
    ns = ["-n", namespace]
    server.kubectl("apply", "-f", "-", input=cronjob("slowtick", namespace, command=["sleep", "30"],
                                                     concurrencyPolicy="Forbid"))
    wait_for(lambda: owned_jobs(server, namespace, "slowtick"), what="the first run")
    wait_for(lambda: "JobAlreadyActive" in server.kubectl("get", "events", *ns).stdout,
             what="the next run skipped (Forbid)")
    assert len(owned_jobs(server, namespace, "slowtick")) == 1
    assert len(get_json(server, "cronjob", "slowtick", *ns)["status"]["active"]) == 1
    server.kubectl("patch", "cronjob", "slowtick", *ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
