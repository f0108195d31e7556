"""Jobs: run pods until enough succeed (upstream ``pkg/controller/job``).

The work queue holds Job keys; a pod change queues its controlling Job. ``reconcile``:

* claims the pods (selector + controller reference, as the ReplicaSet controller does) and splits them
  into active (not finished, not being deleted), succeeded and failed;
* **finish conditions**: ``failed > backoffLimit`` (failed pods plus container restarts under
  ``restartPolicy: OnFailure``) -> ``Failed`` with reason ``BackoffLimitExceeded``; running longer than
  ``activeDeadlineSeconds`` since ``status.startTime`` -> ``Failed``/``DeadlineExceeded``; enough
  successes -> ``Complete`` (reason ``CompletionsReached``), plus ``completionTime``. Upstream's interim
  ``FailureTarget``/``SuccessCriteriaMet`` conditions are written together with the final one. A
  finished Job's remaining active pods are deleted;
* **NonIndexed**: with ``completions`` set, keep ``min(parallelism, completions - succeeded)`` pods
  active; without, keep ``parallelism`` until the first success, then let the others finish;
* **Indexed**: every index in ``[0, completions)`` that has neither succeeded nor an active pod gets a
  pod (up to ``parallelism`` active), named ``<job>-<index>-<random>``, with the
  ``batch.kubernetes.io/job-completion-index`` annotation and label, hostname ``<job>-<index>``, and
  ``JOB_COMPLETION_INDEX`` in every container's environment; ``status.completedIndexes`` lists the
  succeeded indexes in upstream's interval form (``"0-2,4"``);
* ``suspend: true`` deletes active pods and sets ``Suspended``; resuming resets ``startTime``;
* status: ``active``, ``ready``, ``succeeded``, ``failed``, ``terminating``, ``startTime``,
  ``completionTime``, ``completedIndexes``, conditions. Pods are created in slow-start batches.

**Tracking with finalizers** (upstream ``trackJobStatusAndRemoveFinalizers``): every pod is created with the
``batch.kubernetes.io/job-tracking`` finalizer, so a finished pod cannot disappear before it is counted.
``succeeded`` and ``failed`` are running totals; a finished pod (Succeeded; Failed; or deleted before it
finished, which counts as a failure) is first recorded by UID in ``status.uncountedTerminatedPods`` (Indexed
successes go straight into ``completedIndexes``), that status is written, then the pod's finalizer is removed,
then the UIDs whose pods no longer hold the finalizer move into the totals. A crash between any two steps
neither loses nor double-counts a pod; finalizer removals already sent are remembered until the cache shows
them (upstream's finalizer expectations). A Job being deleted, and pods whose Job is gone (orphans), get
their finalizers removed so that they can go.

**Pod failure policy** (upstream ``pod_failure_policy.go``): a failed pod matching a ``FailJob`` rule (exit
codes ``In``/``NotIn`` of a terminated container, or pod conditions) fails the Job with reason
``PodFailurePolicy`` and upstream's message; ``Ignore`` does not count the failure; ``Count`` (and no match)
counts it toward ``backoffLimit``.

**backoffLimitPerIndex** (Indexed): a replacement pod carries its index's failures so far in the
``batch.kubernetes.io/job-index-failure-count`` annotation; an index whose failures pass the limit (or whose pod
matched a ``FailIndex`` rule) joins ``status.failedIndexes`` and gets no more pods; more failed indexes than
``maxFailedIndexes`` fail the Job (``MaxFailedIndexesExceeded``), and once every index succeeded or failed a
Job with failed indexes fails (``FailedIndexes``).

**podReplacementPolicy**: ``TerminatingOrFailed`` (the default) replaces a pod as soon as it is terminating
and counts a deleted unfinished pod as failed; ``Failed`` (the default under a podFailurePolicy) waits for the
terminating pod to reach the Failed phase, which alone counts.

Not done: success policies, the ignored-failure count annotation.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, EventRecorder, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import (
    CONTROLLER_UID_INDEX,
    Expectations,
    claim,
    controller_ref,
    index_by_controller_uid,
    is_active,
    is_ready,
    now_rfc3339,
    parse_time,
    pod_from_template,
    restart_count,
    selector_of,
    slow_start,
    typed,
)
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "batch/v1"
KIND: Final = "Job"
INDEX_ANNOTATION: Final = "batch.kubernetes.io/job-completion-index"
INDEX_LABEL: Final = "batch.kubernetes.io/job-completion-index"
INDEX_ENV: Final = "JOB_COMPLETION_INDEX"
DEFAULT_BACKOFF_LIMIT: Final = 6
MAX_BATCH: Final = 500
TRACKING_FINALIZER: Final = "batch.kubernetes.io/job-tracking"
INDEX_FAILURE_ANNOTATION: Final = "batch.kubernetes.io/job-index-failure-count"
ORPHAN_PREFIX: Final = "orphan-pod:"  # queue keys for pods whose Job is gone but whose finalizer is not


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_index(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    value = (md.get("annotations") or {}).get(INDEX_ANNOTATION) or (md.get("labels") or {}).get(INDEX_LABEL)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Upstream ``isPodFailed``: Failed, or (unless only failed pods are replaced) deleted before it
    finished, which counts orphaned pods that never reach the Failed phase."""
    if phase(pod) == "Failed":
        return True
    spec = job.get("spec") or {}
    if spec.get("podReplacementPolicy") == "Failed" or spec.get("podFailurePolicy") is not None:
        return False
    return bool(pod["metadata"].get("deletionTimestamp")) and phase(pod) != "Succeeded"


def parse_indexes(text: Any) -> set[int]:
    """The inverse of :func:`format_indexes` (``"0-2,4"`` -> {0, 1, 2, 4}); bad parts are skipped."""
    indexes: set[int] = set()
    for part in str(text or "").split(","):
        first, _, last = part.strip().partition("-")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError:
            continue
        indexes.update(range(low, high + 1))
    return indexes


def account_finished_pods(job: Obj, pods: list[Obj], status: Obj, *, finished: Obj | None,
                          skip: set[str]) -> tuple[list[Obj], bool]:
    """Record in ``status`` the finished pods that still hold the tracking finalizer; return the pods whose
    finalizer may now go and whether ``status`` changed (upstream trackJobStatusAndRemoveFinalizers' loop).

    ``skip`` holds UIDs whose finalizer removal is already under way (counted before)."""
    spec = job.get("spec") or {}
    indexed = spec.get("completionMode") == "Indexed"
    completions = spec.get("completions")
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    succeeded_uids = list(uncounted.get("succeeded") or [])
    failed_uids = list(uncounted.get("failed") or [])
    done = parse_indexes(status.get("completedIndexes"))
    per_index = spec.get("backoffLimitPerIndex") if indexed else None
    failed_indexes = parse_indexes(status.get("failedIndexes"))
    deleting = bool(job["metadata"].get("deletionTimestamp"))
    release: list[Obj] = []
    changed = False
    for pod in pods:
        uid = str(pod["metadata"].get("uid"))
        if not has_tracking_finalizer(pod) or uid in skip:
            continue
        failed = is_pod_failed(pod, job)
        if not (deleting or finished is not None or phase(pod) == "Succeeded" or failed):
            continue  # still running: its finalizer stays until it finishes
        release.append(pod)
        index = pod_index(pod)
        in_range = index is not None and completions is not None and index < int(completions)
        if phase(pod) == "Succeeded" and uid not in failed_uids:
            if indexed:
                if index is not None and in_range and index not in done:
                    done.add(index)
                    changed = True
            elif uid not in succeeded_uids:
                succeeded_uids.append(uid)
                changed = True
        elif failed or (finished is not None and finished.get("type") == "Failed"):
            # when the Job has failed, every pod that had not finished counts as failed
            if uid not in failed_uids and (not indexed or in_range):
                _, counts, action = match_pod_failure_policy(spec.get("podFailurePolicy"), pod)
                if not counts:
                    continue  # an Ignore rule: the finalizer goes, the failure does not count
                failed_uids.append(uid)
                changed = True
                # backoffLimitPerIndex: the index fails once its failures pass the limit (or a FailIndex rule)
                if per_index is not None and index is not None and in_range and index not in failed_indexes and \
                        (action == "FailIndex" or index_failure_count(pod) + 1 > int(per_index)):
                    failed_indexes.add(index)
    uncounted["succeeded"], uncounted["failed"] = succeeded_uids, failed_uids
    if per_index is not None:
        status["failedIndexes"] = format_indexes({i for i in failed_indexes
                                                  if completions is None or i < int(completions)})
    if indexed:
        valid = {i for i in done if completions is None or i < int(completions)}
        if valid:
            status["completedIndexes"] = format_indexes(valid)
        else:
            status.pop("completedIndexes", None)
        status["succeeded"] = len(valid)
    return release, changed


def move_uncounted(status: Obj, *, still_tracked: set[str]) -> None:
    """Upstream ``cleanUncountedPodsWithoutFinalizers``: UIDs whose pods no longer hold the finalizer (or are
    gone) join the totals."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    for field in ("succeeded", "failed"):
        uids = list(uncounted.get(field) or [])
        kept = [uid for uid in uids if uid in still_tracked]
        # (Indexed successes never pass through here: completedIndexes counts them)
        status[field] = int(status.get(field) or 0) + len(uids) - len(kept)
        uncounted[field] = kept
    for field in ("succeeded", "failed"):
        if not uncounted[field]:
            del uncounted[field]


def format_indexes(indexes: set[int]) -> str:
    """Upstream's completedIndexes form (``orderedIntervals.String``): sorted, runs of three or more as ``a-b``,
    a run of two as ``a,b``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]},{ordered[j]}" if j == i + 1
                     else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def finished_condition(job: Obj) -> Obj | None:
    conditions: list[Obj] = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
    return None


def _matching_exit(pod: Obj, requirement: Obj) -> Obj | None:
    """Upstream ``matchOnExitCodes``: the first terminated container (regular, then init) whose non-zero
    exit code meets the requirement."""
    status = pod.get("status") or {}
    values = {int(v) for v in requirement.get("values") or [] if isinstance(v, int)}
    for group in ("containerStatuses", "initContainerStatuses"):
        for container in status.get(group) or []:
            terminated = (container.get("state") or {}).get("terminated")
            if not terminated:
                continue  # still terminating: no exit code to match
            name = requirement.get("containerName")
            code = int(terminated.get("exitCode") or 0)
            if (name is None or name == container.get("name")) and code != 0 and \
                    (code in values) == (requirement.get("operator") == "In"):
                return dict(container)
    return None


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> tuple[str | None, bool, str | None]:
    """Upstream ``matchPodFailurePolicy``: (FailJob message, whether the failure counts, matched action)."""
    md = pod.get("metadata") or {}
    for index, rule in enumerate((policy or {}).get("rules") or []):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            container = _matching_exit(pod, rule["onExitCodes"])
            if container is None:
                continue
            code = container["state"]["terminated"].get("exitCode")
            what = (f"Container {container.get('name')} for pod {md.get('namespace')}/{md.get('name')} failed with "
                    f"exit code {code} matching {action} rule at index {index}")
        elif rule.get("onPodConditions") is not None:
            conditions = (pod.get("status") or {}).get("conditions") or []
            found = next((c for c in conditions for want in rule["onPodConditions"]
                          if c.get("type") == want.get("type") and c.get("status") == want.get("status", "True")),
                         None)
            if found is None:
                continue
            what = (f"Pod {md.get('namespace')}/{md.get('name')} has condition {found.get('type')} matching "
                    f"{action} rule at index {index}")
        else:
            continue
        if action == "Ignore":
            return None, False, action
        if action == "Count":
            return None, True, action
        if action == "FailJob":
            return what, True, action
        if action == "FailIndex":
            return None, True, action
    return None, True, None


def index_failure_count(pod: Obj) -> int:
    """The failures of the pod's index before this pod (upstream's job-index-failure-count annotation)."""
    try:
        return max(int(((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_FAILURE_ANNOTATION) or 0), 0)
    except ValueError:
        return 0


def fail_job_message(job: Obj, pods: list[Obj]) -> str | None:
    """Upstream ``getFailJobMessage``: the message of the first failed pod a FailJob rule matches."""
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    if policy is None:
        return None
    for pod in pods:
        if is_pod_failed(pod, job):
            message, _, _ = match_pod_failure_policy(policy, pod)
            if message is not None:
                return message
    return None


def new_condition(kind: str, reason: str, message: str) -> Obj:
    stamp = now_rfc3339()
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastProbeTime": stamp,
            "lastTransitionTime": stamp}


class JobController(Controller):
    name = "job"
    workers = 3

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.jobs_api = client.resource("batch", "v1", "jobs")
        self.pods_api = client.resource("", "v1", "pods")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="job-controller",
                                                                 host=socket.gethostname())
        self.jobs = self.shared(factory, "batch", "v1", "jobs")
        self.pods = self.shared(factory, "", "v1", "pods", indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.expectations = Expectations()
        self.tracker = WriteTracker()
        # Job key -> UIDs of pods whose finalizer removal was sent but is not in the cache yet
        self.removing: dict[str, set[str]] = {}
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self._deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_deleted)

    def _deleted(self, job: Obj) -> None:
        key = f"{job['metadata']['namespace']}/{job['metadata']['name']}"
        self.expectations.forget(key)
        self.tracker.forget(key)
        self.removing.pop(key, None)
        for pod in self.pods.store.by_index(CONTROLLER_UID_INDEX, str(job["metadata"].get("uid"))):
            self._queue_if_orphan(pod)

    def _queue_if_orphan(self, pod: Obj) -> None:
        if has_tracking_finalizer(pod) and self._orphaned(pod):
            self.queue.add(ORPHAN_PREFIX + f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")

    def _orphaned(self, pod: Obj) -> bool:
        """The pod's controlling Job is not in the cache (or it has none)."""
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != KIND:
            return True
        job = self.jobs.store.get(f"{pod['metadata']['namespace']}/{ref['name']}")
        return job is None or job["metadata"].get("uid") != ref.get("uid")

    def _job_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != KIND:
            return None
        return f"{pod['metadata']['namespace']}/{ref['name']}"

    def _pod_added(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key:
            self.expectations.lower(key, adds=1)
            self.queue.add(key)
        self._queue_if_orphan(pod)

    def _pod_changed(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key:
            self.queue.add(key)
        self._queue_if_orphan(pod)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key:
            self.expectations.lower(key, deletes=1)
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(ORPHAN_PREFIX):
            await self._release_orphan(key.removeprefix(ORPHAN_PREFIX))
            return None
        wait = self.tracker.wait_for(key, self.jobs.store)
        if wait is not None:
            return wait
        cached = self.jobs.store.get(key)
        if cached is None:
            return None
        job = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        spec = job.get("spec") or {}
        namespace = job["metadata"]["namespace"]
        candidates = [p for p in self.pods.store.by_index("namespace", namespace)
                      if not p["metadata"].get("deletionTimestamp") or controller_ref(p)]
        pods = await claim(owner=job, owner_api_version=API_VERSION, owner_kind=KIND, candidates=candidates,
                           resource=self.pods_api, selector=selector_of(job))
        skip = self._removals_in_flight(key, pods)
        active = [p for p in pods if is_active(p)]
        terminating = [p for p in pods
                       if p["metadata"].get("deletionTimestamp") and phase(p) not in ("Succeeded", "Failed")]
        status: Obj = copy.deepcopy(job.get("status") or {})
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        now = time.time()
        requeue: float | None = None

        if job["metadata"].get("deletionTimestamp"):
            # a Job being deleted (foreground): count what finished and let every pod go
            await self._track(key, job, pods, status, finished=finished_condition(job), skip=skip)
            return None
        if finished_condition(job) is not None:
            # a finished Job only lets its leftover pods go and keeps its counts current
            await self._delete_pods(key, job, active)
            self._count(status, active=[], terminating=terminating)
            await self._track(key, job, pods, status, finished=finished_condition(job), skip=skip)
            return None

        suspended = bool(spec.get("suspend"))
        if suspended:
            await self._delete_pods(key, job, active)
            active = []
            if not any(c.get("type") == "Suspended" and c.get("status") == "True"
                       for c in status.get("conditions") or []):
                status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Suspended"]
                status["conditions"].append(new_condition("Suspended", "JobSuspended", "Job suspended"))
                self.recorder.event(job, event_type="Normal", reason="Suspended", message="Job suspended")
            status.pop("startTime", None)
        else:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in status.get("conditions") or []):
                status["conditions"] = [{**c, "status": "False", "reason": "JobResumed", "message": "Job resumed",
                                         "lastTransitionTime": now_rfc3339()} if c.get("type") == "Suspended" else c
                                        for c in status.get("conditions") or []]
                self.recorder.event(job, event_type="Normal", reason="Resumed", message="Job resumed")
            status.setdefault("startTime", now_rfc3339())

        # the totals so far: counted, uncounted, and the pods finishing now (upstream's succeeded/failed)
        preview = copy.deepcopy(status)
        account_finished_pods(job, pods, preview, finished=None, skip=skip)
        unc = preview.get("uncountedTerminatedPods") or {}
        succeeded_total = (int(preview.get("succeeded") or 0) if indexed
                           else int(preview.get("succeeded") or 0) + len(unc.get("succeeded") or []))
        failed_total = int(preview.get("failed") or 0) + len(unc.get("failed") or [])
        done_indexes = parse_indexes(preview.get("completedIndexes")) if indexed else set()
        per_index = spec.get("backoffLimitPerIndex") if indexed else None
        failed_indexes = parse_indexes(preview.get("failedIndexes")) if per_index is not None else set()
        max_failed_indexes = spec.get("maxFailedIndexes")

        failures = failed_total + sum(restart_count(p) for p in active
                                      if (p.get("spec") or {}).get("restartPolicy") == "OnFailure")
        backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
                            if spec.get("backoffLimit") is not None else DEFAULT_BACKOFF_LIMIT)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        finish: Obj | None = None
        target = next((c for c in status.get("conditions") or [] if c.get("type") == "FailureTarget"
                       and c.get("status") == "True"), None)
        message = fail_job_message(job, pods) if not suspended else None
        if target is not None and spec.get("podFailurePolicy") is not None:
            finish = new_condition("Failed", str(target.get("reason")), str(target.get("message")))
        elif message is not None:
            finish = new_condition("Failed", "PodFailurePolicy", message)
        elif not suspended and max_failed_indexes is not None and len(failed_indexes) > int(max_failed_indexes):
            finish = new_condition("Failed", "MaxFailedIndexesExceeded",
                                   "Job has exceeded the specified maximal number of failed indexes")
        elif failed_indexes and len(done_indexes | failed_indexes) >= int(completions or 0) and \
                not [p for p in active if pod_index(p) not in failed_indexes]:
            finish = new_condition("Failed", "FailedIndexes", "Job has failed indexes")
        elif not suspended and per_index is None and failures > backoff_limit:
            finish = new_condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif not suspended and deadline is not None and started is not None and now - started >= int(deadline):
            finish = new_condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        elif self._complete(indexed=indexed, completions=completions, succeeded=succeeded_total, active=active,
                            done_indexes=done_indexes):
            finish = new_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        if finish is not None:
            await self._delete_pods(key, job, active)
            interim = "FailureTarget" if finish["type"] == "Failed" else "SuccessCriteriaMet"
            status["conditions"] = [c for c in status.get("conditions") or []
                                    if c.get("type") not in (interim, finish["type"])]
            status["conditions"].extend([{**finish, "type": interim}, finish])
            if finish["type"] == "Complete":
                status["completionTime"] = now_rfc3339()
                self.recorder.event(job, event_type="Normal", reason="Completed", message="Job completed")
            else:
                self.recorder.event(job, event_type="Warning", reason=finish["reason"], message=finish["message"])
            active = []
        elif not suspended and self.expectations.satisfied(key):
            await self._manage(key, job, active=active, succeeded=succeeded_total, parallelism=parallelism,
                               completions=completions, indexed=indexed, done_indexes=done_indexes,
                               failed_indexes=failed_indexes, pods=pods)
            if deadline is not None and started is not None:
                requeue = max(started + int(deadline) - now, 0.1)
        self._count(status, active=active, terminating=terminating)
        await self._track(key, job, pods, status, finished=finish, skip=skip)
        return requeue

    def _removals_in_flight(self, key: str, pods: list[Obj]) -> set[str]:
        """UIDs whose finalizer removal was sent and is not yet reflected in the cache."""
        pending = self.removing.get(key)
        if not pending:
            return set()
        still = {str(p["metadata"].get("uid")) for p in pods if has_tracking_finalizer(p)}
        pending &= still
        if not pending:
            self.removing.pop(key, None)
        return set(pending)

    async def _track(self, key: str, job: Obj, pods: list[Obj], status: Obj, *, finished: Obj | None,
                     skip: set[str]) -> None:
        """Write the counts with finalizers (upstream flushUncountedAndRemoveFinalizers): record newly finished
        pods as uncounted, remove their finalizers, then move the released UIDs into the totals."""
        release, changed = account_finished_pods(job, pods, status, finished=finished, skip=skip)
        if changed:
            job = await self._write_status(key, job, status)
        released = await self._remove_finalizers(key, release)
        still_tracked = {str(p["metadata"].get("uid")) for p in pods if has_tracking_finalizer(p)} - released
        move_uncounted(status, still_tracked=still_tracked)
        status.setdefault("uncountedTerminatedPods", {})
        await self._write_status(key, job, status)

    async def _drop_finalizer(self, pod: Obj) -> bool:
        """Patch the tracking finalizer off ``pod``: True when it is gone (or the pod is), False when another
        pod has that name now (the UID in the patch no longer matches: ours is gone too, the cache will say)."""
        md = pod["metadata"]
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER], "uid": md.get("uid")}}
        try:
            await self.pods_api.patch(md["name"], patch, namespace=md["namespace"], patch_type="strategic")
        except APIStatusError as exc:
            if is_not_found(exc):
                return True
            if exc.code == 409:
                return False
            raise
        return True

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        """Remove the tracking finalizer from ``pods``; the UIDs it is gone from (or whose pod is gone)."""
        released: set[str] = set()
        results = await asyncio.gather(*(self._drop_finalizer(p) for p in pods), return_exceptions=True)
        for pod, result in zip(pods, results, strict=True):
            if result is True:
                uid = str(pod["metadata"].get("uid"))
                released.add(uid)
                self.removing.setdefault(key, set()).add(uid)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return released

    async def _release_orphan(self, pod_key: str) -> None:
        pod = self.pods.store.get(pod_key)
        if pod is None or not has_tracking_finalizer(pod) or not self._orphaned(pod):
            return
        log.info("job: removing the tracking finalizer of orphaned pod %s", pod_key)
        await self._drop_finalizer(pod)

    @staticmethod
    def _complete(*, indexed: bool, completions: Any, succeeded: int, active: list[Obj],
                  done_indexes: set[int]) -> bool:
        if completions is None:
            return succeeded > 0 and not active
        if indexed:
            return len(done_indexes) >= int(completions)
        return succeeded >= int(completions)

    @staticmethod
    def _count(status: Obj, *, active: list[Obj], terminating: list[Obj]) -> None:
        """The pod counts derived from the pods that exist (the totals are kept by ``_track``)."""
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = len(terminating)

    async def _manage(self, key: str, job: Obj, *, active: list[Obj], succeeded: int, parallelism: int,
                      completions: Any, indexed: bool, done_indexes: set[int], failed_indexes: set[int],
                      pods: list[Obj]) -> None:
        # podReplacementPolicy Failed: a terminating pod is replaced only once it has failed (upstream's
        # default when a podFailurePolicy is set); TerminatingOrFailed replaces it as soon as it terminates
        spec = job.get("spec") or {}
        only_failed = (spec.get("podReplacementPolicy") or
                       ("Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed")) == "Failed"
        held = [p for p in pods if p["metadata"].get("deletionTimestamp") and phase(p) not in ("Succeeded", "Failed")
                ] if only_failed else []
        if indexed:
            total = int(completions or 0)
            running = {i for p in [*active, *held] if (i := pod_index(p)) is not None}
            # duplicates of one index (a lagging cache, a user's copy): keep one
            seen: set[int] = set()
            extra = []
            for pod in sorted(active, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
                index = pod_index(pod)
                if index is None or index >= total or index in seen or index in done_indexes or \
                        index in failed_indexes:
                    extra.append(pod)
                else:
                    seen.add(index)
            missing = [i for i in range(total)
                       if i not in done_indexes and i not in running and i not in failed_indexes]
            room = max(parallelism - (len(active) - len(extra)) - len(held), 0)
            await self._delete_pods(key, job, extra)
            todo = missing[:min(room, MAX_BATCH)]
            if todo:
                # a replacement carries its index's failures so far (upstream getNewIndexFailureCounts)
                failures: dict[int, int] = {}
                policy = (job.get("spec") or {}).get("podFailurePolicy")
                for pod in pods:
                    index = pod_index(pod)
                    if index is not None and is_pod_failed(pod, job) and match_pod_failure_policy(policy, pod)[1]:
                        failures[index] = max(failures.get(index, 0), index_failure_count(pod) + 1)
                await self._create_pods(key, job, todo, failures=failures)
            return
        if completions is None:
            wanted = 0 if succeeded else parallelism
        else:
            wanted = max(min(parallelism, int(completions) - succeeded), 0)
        if len(active) > wanted:
            victims = sorted(active, key=lambda p: (phase(p) == "Running", is_ready(p),
                                                    p["metadata"].get("creationTimestamp") or ""))
            await self._delete_pods(key, job, victims[:len(active) - wanted])
        elif len(active) + len(held) < wanted:
            await self._create_pods(key, job, [None] * min(wanted - len(active) - len(held), MAX_BATCH))

    async def _create_pods(self, key: str, job: Obj, indexes: Sequence[int | None], *,
                           failures: dict[int, int] | None = None) -> None:
        self.expectations.expect(key, adds=len(indexes))
        queue = list(indexes)

        async def create_one() -> None:
            index = queue.pop(0)
            pod = pod_from_template((job.get("spec") or {}).get("template") or {}, owner=job,
                                    api_version=API_VERSION, kind=KIND,
                                    generate_name=f"{job['metadata']['name']}-" + (f"{index}-" if index is not None
                                                                                   else ""))
            md = pod["metadata"]
            md["finalizers"] = [*(f for f in md.get("finalizers") or [] if f != TRACKING_FINALIZER),
                                TRACKING_FINALIZER]
            if index is not None:
                md.setdefault("annotations", {})[INDEX_ANNOTATION] = str(index)
                if (job.get("spec") or {}).get("backoffLimitPerIndex") is not None:
                    md["annotations"][INDEX_FAILURE_ANNOTATION] = str((failures or {}).get(index, 0))
                md.setdefault("labels", {})[INDEX_LABEL] = str(index)
                spec = pod["spec"]
                spec.setdefault("hostname", f"{job['metadata']['name']}-{index}")
                for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                    env = [e for e in container.get("env") or [] if e.get("name") != INDEX_ENV]
                    env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
                        "fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}})
                    container["env"] = env
            created = await self.pods_api.create(pod, namespace=job["metadata"]["namespace"])
            self.recorder.event(job, event_type="Normal", reason="SuccessfulCreate",
                                message=f"Created pod: {created['metadata']['name']}")

        done, error = await slow_start(len(indexes), create_one)
        if done < len(indexes):
            self.expectations.lower(key, adds=len(indexes) - done)
        if error is not None:
            message = error.message if isinstance(error, APIStatusError) else str(error)
            self.recorder.event(job, event_type="Warning", reason="FailedCreate", message=f"Error creating: {message}")
            raise error

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        if not pods:
            return
        self.expectations.expect(key, deletes=len(pods))

        async def delete(pod: Obj) -> None:
            md = pod["metadata"]
            try:
                await self.pods_api.delete(md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
            except APIStatusError as exc:
                self.expectations.lower(key, deletes=1)
                if not (is_not_found(exc) or exc.code == 409):
                    raise
                return
            self.recorder.event(job, event_type="Normal", reason="SuccessfulDelete",
                                message=f"Deleted pod: {md['name']}")

        await asyncio.gather(*(delete(p) for p in pods))

    async def _write_status(self, key: str, job: Obj, status: Obj) -> Obj:
        """Write ``status`` (unless unchanged); the Job as written, for a second write in the same sync."""
        if status == (job.get("status") or {}):
            return job
        try:
            written: Obj = await self.jobs_api.update_status({**job, "status": status})
        except APIStatusError as exc:
            if is_not_found(exc):
                return job
            raise
        self.tracker.wrote(key, written)
        return {**job, "metadata": written["metadata"], "status": copy.deepcopy(written.get("status") or {})}
