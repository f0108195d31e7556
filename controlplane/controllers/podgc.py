"""PodGC: delete pods nobody else will (upstream ``pkg/controller/podgc``), every ``period`` seconds:

* pods bound to a Node that does not exist (checked live, not only in the cache) are force-deleted
  (grace period 0) after being marked Failed with reason ``DeletionByPodGC``, as upstream does;
* pods being deleted that were never scheduled are force-deleted (no kubelet will confirm them);
* finished pods (Succeeded/Failed) beyond ``terminated_threshold`` (``--terminated-pod-gc-threshold``,
  12500) are deleted, oldest first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import is_terminal, now_rfc3339, parse_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PERIOD: Final = 20.0
TERMINATED_THRESHOLD: Final = 12500
KEY: Final = "podgc"


class PodGCController(Controller):
    name = "podgc"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None, period: float = PERIOD,
                 terminated_threshold: int = TERMINATED_THRESHOLD) -> None:
        super().__init__()
        if period <= 0:
            raise ValueError(f"period must be a positive number of seconds, got {period}")
        self.client = client
        self.period = period
        self.threshold = terminated_threshold
        self.pods_api = client.resource("", "v1", "pods")
        self.nodes_api = client.resource("", "v1", "nodes", namespaced=False)
        self.pods = self.shared(factory, "", "v1", "pods")
        self.nodes = self.shared(factory, "", "v1", "nodes", namespaced=False)

    async def run(self, *, workers: int | None = None) -> None:
        self.queue.add(KEY)
        await super().run(workers=1)  # one key: a second worker would only wait

    async def reconcile(self, key: str) -> float | None:
        pods = self.pods.store.list()
        await self._gc_terminated(pods)
        await self._gc_orphaned(pods)
        await self._gc_unscheduled_terminating(pods)
        return self.period

    async def _gc_terminated(self, pods: list[Obj]) -> None:
        if self.threshold <= 0:
            return
        finished = [p for p in pods if is_terminal(p) and not p["metadata"].get("deletionTimestamp")]
        excess = len(finished) - self.threshold
        if excess <= 0:
            return
        finished.sort(key=lambda p: parse_time(p["metadata"].get("creationTimestamp")) or 0.0)
        log.info("podgc: deleting %d finished pods over the threshold of %d", excess, self.threshold)
        await asyncio.gather(*(self._delete(p, grace=None) for p in finished[:excess]))

    async def _gc_orphaned(self, pods: list[Obj]) -> None:
        missing: dict[str, bool] = {}
        for pod in pods:
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or self.nodes.store.get(node) is not None:
                continue
            if node not in missing:
                try:
                    await self.nodes_api.get(node)
                    missing[node] = False
                except APIStatusError as exc:
                    if not is_not_found(exc):
                        raise
                    missing[node] = True
            if not missing[node]:
                continue
            md = pod["metadata"]
            log.info("podgc: deleting pod %s/%s bound to the missing node %s", md["namespace"], md["name"], node)
            if not is_terminal(pod):
                condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                             "message": "PodGC: node no longer exists", "lastTransitionTime": now_rfc3339()}
                try:
                    await self.pods_api.patch(md["name"], {"status": {"phase": "Failed", "conditions": [
                        *((pod.get("status") or {}).get("conditions") or []), condition]}},
                        namespace=md["namespace"], subresource="status")
                except APIStatusError as exc:
                    if not is_not_found(exc):
                        raise
            await self._delete(pod, grace=0)

    async def _gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._delete(pod, grace=0)

    async def _delete(self, pod: Obj, *, grace: int | None) -> None:
        md = pod["metadata"]
        try:
            await self.pods_api.delete(md["name"], namespace=md["namespace"], grace_period_seconds=grace,
                                       preconditions={"uid": md["uid"]})
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 409):
                raise
