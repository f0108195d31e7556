"""ReplicaSets: keep ``spec.replicas`` pods matching the selector (upstream ``pkg/controller/replicaset``).

The work queue holds ReplicaSet keys. A pod change queues its controlling ReplicaSet, or, for an orphan,
every ReplicaSet in its namespace whose selector matches it (one of them may adopt it). The reconcile:

1. claims pods (``pod_control.claim``): keeps the ones it controls that still match, releases the ones
   that no longer match, adopts matching orphans;
2. unless creations/deletions it asked for are still missing from the cache (``Expectations``),
   creates the missing pods in slow-start batches (1, 2, 4, ...; at most 500 per sync) or deletes the
   surplus, the pods ``deletion_rank`` puts first (unscheduled, pending, not ready, newer first);
3. writes ``status`` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration and the ReplicaFailure condition when creating failed) when it changed.

Events as upstream: ``SuccessfulCreate``/``SuccessfulDelete`` ("Created pod: NAME"), ``FailedCreate``.
A ReplicaSet with ``minReadySeconds`` is looked at again when its next pod becomes available.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, EventRecorder, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import (
    BURST_REPLICAS,
    CONTROLLER_UID_INDEX,
    Expectations,
    claim,
    controller_ref,
    deletion_rank,
    index_by_controller_uid,
    is_active,
    is_available,
    is_ready,
    pod_from_template,
    ready_since,
    selector_of,
    slow_start,
    typed,
)
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "apps/v1"
KIND: Final = "ReplicaSet"


def replica_status(rs: Obj, pods: list[Obj], *, now: float, error: str | None = None) -> Obj:
    """Upstream ``calculateStatus``."""
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    fully = sum(1 for p in pods if all((p["metadata"].get("labels") or {}).get(k) == v
                                       for k, v in template_labels.items()))
    status: Obj = {
        "replicas": len(pods),
        "fullyLabeledReplicas": fully,
        "readyReplicas": sum(1 for p in pods if is_ready(p)),
        "availableReplicas": sum(1 for p in pods if is_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 0),
    }
    old_conditions = [c for c in (rs.get("status") or {}).get("conditions") or [] if c.get("type") != "ReplicaFailure"]
    old_failure = next((c for c in (rs.get("status") or {}).get("conditions") or []
                        if c.get("type") == "ReplicaFailure"), None)
    if error is not None:
        reason = "FailedDelete" if error.startswith("delete") else "FailedCreate"
        stamp = (old_failure or {}).get("lastTransitionTime") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        old_conditions.append({"type": "ReplicaFailure", "status": "True", "reason": reason, "message": error,
                               "lastTransitionTime": stamp})
    if old_conditions:
        status["conditions"] = old_conditions
    # omit zero counters as upstream's omitempty does, so kubectl output and diffs look the same
    return {k: v for k, v in status.items() if v or k == "replicas"}


def next_availability_check(rs: Obj, pods: list[Obj], now: float) -> float | None:
    """Seconds until the next Ready pod becomes available under minReadySeconds."""
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = [since + min_ready - now for p in pods if (since := ready_since(p)) is not None
             and since + min_ready > now]
    return max(min(waits), 0.1) if waits else None


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 5

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None, burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__()
        self.client = client
        self.burst = burst_replicas
        self.pods_api = client.resource("", "v1", "pods")
        self.rs_api = client.resource("apps", "v1", "replicasets")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="replicaset-controller",
                                                                 host=socket.gethostname())
        self.replicasets = self.shared(factory, "apps", "v1", "replicasets",
                                       indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.pods = self.shared(factory, "", "v1", "pods", indexers={CONTROLLER_UID_INDEX: index_by_controller_uid})
        self.expectations = Expectations()
        self.tracker = WriteTracker()  # our status writes the cache has not shown yet
        self.replicasets.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                     on_delete=self._rs_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    def _rs_deleted(self, rs: Obj) -> None:
        self.expectations.forget(self._key(rs))
        self.enqueue(rs)

    @staticmethod
    def _key(obj: Obj) -> str:
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != KIND or not str(ref.get("apiVersion", "")).startswith("apps/"):
            return None
        rs = self.replicasets.store.get(f"{pod['metadata']['namespace']}/{ref['name']}")
        if rs is None or rs["metadata"].get("uid") != ref.get("uid"):
            return None
        return self._key(rs)

    def _queue_matching(self, pod: Obj) -> None:
        labels_ = pod["metadata"].get("labels") or {}
        for rs in self.replicasets.store.by_index("namespace", str(pod["metadata"].get("namespace"))):
            if selector_of(rs).matches(labels_):
                self.enqueue(rs)

    def _pod_added(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if pod["metadata"].get("deletionTimestamp"):
            if key:
                self.expectations.lower(key, deletes=1)
                self.queue.add(key)
            return
        if key:
            self.expectations.lower(key, adds=1)
            self.queue.add(key)
        elif controller_ref(pod) is None:
            self._queue_matching(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._owner_key(new)
        old_key = self._owner_key(old)
        if old_key and old_key != key:
            self.queue.add(old_key)
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp") and key:
            self.expectations.lower(key, deletes=1)
        if key:
            self.queue.add(key)
        elif controller_ref(new) is None:
            self._queue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        key = self._owner_key(pod)
        if key:
            if not pod["metadata"].get("deletionTimestamp"):
                self.expectations.lower(key, deletes=1)
            self.queue.add(key)

    async def reconcile(self, key: str) -> float | None:
        wait = self.tracker.wait_for(key, self.replicasets.store)
        if wait is not None:
            return wait
        rs = self.replicasets.store.get(key)
        if rs is None:
            self.expectations.forget(key)
            return None
        rs = typed(rs, api_version=API_VERSION, kind=KIND)
        namespace = rs["metadata"]["namespace"]
        candidates = [p for p in self.pods.store.by_index("namespace", namespace) if is_active(p)]
        pods = await claim(owner=rs, owner_api_version=API_VERSION, owner_kind=KIND, candidates=candidates,
                           resource=self.pods_api, selector=selector_of(rs))
        error: str | None = None
        if self.expectations.satisfied(key) and not rs["metadata"].get("deletionTimestamp"):
            error = await self._manage(key, rs, pods)
        now = time.time()
        status = replica_status(rs, pods, now=now, error=error)
        if status != (rs.get("status") or {}):
            await self._update_status(rs, status)
        if error is not None:
            raise RuntimeError(error)
        return next_availability_check(rs, pods, now)

    async def _update_status(self, rs: Obj, status: Obj) -> None:
        """Upstream ``updateReplicaSetStatus``: on a conflict, once more on a fresh read, keeping our status."""
        for attempt in range(2):
            try:
                written = await self.rs_api.update_status({**rs, "status": status})
            except APIStatusError as exc:
                if is_not_found(exc):
                    return
                if not exc.is_conflict() or attempt:
                    raise
                rs = await self.rs_api.get(rs["metadata"]["name"], namespace=rs["metadata"]["namespace"])
                continue
            self.tracker.wrote(self._key(rs), written)
            return

    async def _manage(self, key: str, rs: Obj, pods: list[Obj]) -> str | None:
        wanted = int((rs.get("spec") or {}).get("replicas", 1) or 0)
        diff = len(pods) - wanted
        if diff < 0:
            count = min(-diff, self.burst)
            self.expectations.expect(key, adds=count)
            created, error = await slow_start(count, lambda: self._create(rs))
            if created < count:
                # the pods that were never created will not show up: stop waiting for them
                self.expectations.lower(key, adds=count - created)
            if error is not None:
                message = _describe(error)
                self.recorder.event(rs, event_type="Warning", reason="FailedCreate",
                                    message=f"Error creating: {message}")
                return f"create pods: {message}"
        elif diff > 0:
            count = min(diff, self.burst)
            victims = sorted(pods, key=deletion_rank)[:count]
            self.expectations.expect(key, deletes=count)
            results = await asyncio.gather(*(self._delete(rs, pod) for pod in victims), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                self.expectations.lower(key, deletes=len(failures))
                return f"delete pods: {_describe(failures[0])}"
        return None

    async def _create(self, rs: Obj) -> None:
        template = (rs.get("spec") or {}).get("template") or {}
        pod = pod_from_template(template, owner=rs, api_version=API_VERSION, kind=KIND)
        created = await self.pods_api.create(pod, namespace=rs["metadata"]["namespace"])
        self.recorder.event(rs, event_type="Normal", reason="SuccessfulCreate",
                            message=f"Created pod: {created['metadata']['name']}")

    async def _delete(self, rs: Obj, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.pods_api.delete(md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
        except APIStatusError as exc:
            if is_not_found(exc) or exc.code == 409:
                self.expectations.lower(self._key(rs), deletes=1)
                return
            raise
        self.recorder.event(rs, event_type="Normal", reason="SuccessfulDelete", message=f"Deleted pod: {md['name']}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, APIStatusError):
        return exc.message or str(exc)
    return str(exc) or type(exc).__name__
