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

Not done: pod-failure and success policies, ``backoffLimitPerIndex``, ``podReplacementPolicy`` and the
``batch.kubernetes.io/job-tracking`` finalizers (counts come from the pods that still exist, so a
finished pod deleted by hand stops being counted).
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


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_index(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    value = (md.get("annotations") or {}).get(INDEX_ANNOTATION) or (md.get("labels") or {}).get(INDEX_LABEL)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def format_indexes(indexes: set[int]) -> str:
    """Upstream's completedIndexes form: sorted, consecutive runs as ``a-b``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def finished_condition(job: Obj) -> Obj | None:
    conditions: list[Obj] = (job.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition
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
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self._deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_deleted)

    def _deleted(self, job: Obj) -> None:
        key = f"{job['metadata']['namespace']}/{job['metadata']['name']}"
        self.expectations.forget(key)
        self.tracker.forget(key)

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

    def _pod_changed(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key:
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._job_key(pod)
        if key:
            self.expectations.lower(key, deletes=1)
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
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
        active = [p for p in pods if is_active(p)]
        succeeded = [p for p in pods if phase(p) == "Succeeded"]
        failed = [p for p in pods if phase(p) == "Failed"]
        terminating = [p for p in pods
                       if p["metadata"].get("deletionTimestamp") and phase(p) not in ("Succeeded", "Failed")]
        status: Obj = copy.deepcopy(job.get("status") or {})
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        now = time.time()
        requeue: float | None = None

        if finished_condition(job) is not None:
            # a finished Job only lets its leftover pods go and keeps its counts current
            await self._delete_pods(key, job, active)
            self._count(status, active=[], succeeded=succeeded, failed=failed, terminating=terminating,
                        indexed=indexed, completions=completions)
            await self._write_status(key, job, status)
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

        failures = len(failed) + sum(restart_count(p) for p in pods
                                     if (p.get("spec") or {}).get("restartPolicy") == "OnFailure")
        backoff_limit = int(spec.get("backoffLimit", DEFAULT_BACKOFF_LIMIT)
                            if spec.get("backoffLimit") is not None else DEFAULT_BACKOFF_LIMIT)
        deadline = spec.get("activeDeadlineSeconds")
        started = parse_time(status.get("startTime"))
        done_indexes = {i for p in succeeded if (i := pod_index(p)) is not None and
                        (completions is None or i < int(completions))}
        finish: Obj | None = None
        if not suspended and failures > backoff_limit:
            finish = new_condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif not suspended and deadline is not None and started is not None and now - started >= int(deadline):
            finish = new_condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        elif self._complete(indexed=indexed, completions=completions, succeeded=succeeded, active=active,
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
            await self._manage(key, job, active=active, succeeded=succeeded, parallelism=parallelism,
                               completions=completions, indexed=indexed, done_indexes=done_indexes)
            if deadline is not None and started is not None:
                requeue = max(started + int(deadline) - now, 0.1)
        self._count(status, active=active, succeeded=succeeded, failed=failed, terminating=terminating,
                    indexed=indexed, completions=completions)
        await self._write_status(key, job, status)
        return requeue

    @staticmethod
    def _complete(*, indexed: bool, completions: Any, succeeded: list[Obj], active: list[Obj],
                  done_indexes: set[int]) -> bool:
        if completions is None:
            return bool(succeeded) and not active
        if indexed:
            return len(done_indexes) >= int(completions)
        return len(succeeded) >= int(completions)

    @staticmethod
    def _count(status: Obj, *, active: list[Obj], succeeded: list[Obj], failed: list[Obj],
               terminating: list[Obj], indexed: bool, completions: Any) -> None:
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["succeeded"] = len(succeeded)
        status["failed"] = len(failed)
        status["terminating"] = len(terminating)
        status.setdefault("uncountedTerminatedPods", {})
        if indexed:
            indexes = {i for p in succeeded if (i := pod_index(p)) is not None and
                       (completions is None or i < int(completions))}
            if indexes:
                status["completedIndexes"] = format_indexes(indexes)
            else:
                status.pop("completedIndexes", None)

    async def _manage(self, key: str, job: Obj, *, active: list[Obj], succeeded: list[Obj], parallelism: int,
                      completions: Any, indexed: bool, done_indexes: set[int]) -> None:
        if indexed:
            total = int(completions or 0)
            running = {i for p in active if (i := pod_index(p)) is not None}
            # duplicates of one index (a lagging cache, a user's copy): keep one
            seen: set[int] = set()
            extra = []
            for pod in sorted(active, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
                index = pod_index(pod)
                if index is None or index >= total or index in seen or index in done_indexes:
                    extra.append(pod)
                else:
                    seen.add(index)
            missing = [i for i in range(total) if i not in done_indexes and i not in running]
            room = max(parallelism - (len(active) - len(extra)), 0)
            await self._delete_pods(key, job, extra)
            todo = missing[:min(room, MAX_BATCH)]
            if todo:
                await self._create_pods(key, job, todo)
            return
        if completions is None:
            wanted = 0 if succeeded else parallelism
        else:
            wanted = max(min(parallelism, int(completions) - len(succeeded)), 0)
        if len(active) > wanted:
            victims = sorted(active, key=lambda p: (phase(p) == "Running", is_ready(p),
                                                    p["metadata"].get("creationTimestamp") or ""))
            await self._delete_pods(key, job, victims[:len(active) - wanted])
        elif len(active) < wanted:
            await self._create_pods(key, job, [None] * min(wanted - len(active), MAX_BATCH))

    async def _create_pods(self, key: str, job: Obj, indexes: Sequence[int | None]) -> None:
        self.expectations.expect(key, adds=len(indexes))
        queue = list(indexes)

        async def create_one() -> None:
            index = queue.pop(0)
            pod = pod_from_template((job.get("spec") or {}).get("template") or {}, owner=job,
                                    api_version=API_VERSION, kind=KIND,
                                    generate_name=f"{job['metadata']['name']}-" + (f"{index}-" if index is not None
                                                                                   else ""))
            if index is not None:
                md = pod["metadata"]
                md.setdefault("annotations", {})[INDEX_ANNOTATION] = str(index)
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

    async def _write_status(self, key: str, job: Obj, status: Obj) -> None:
        if status == (job.get("status") or {}):
            return
        try:
            written = await self.jobs_api.update_status({**job, "status": status})
        except APIStatusError as exc:
            if is_not_found(exc):
                return
            raise
        self.tracker.wrote(key, written)
