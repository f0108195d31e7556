"""Pod workers: one asyncio task per pod UID drives that pod; only the newest update waits.

Design (upstream pkg/kubelet/pod_workers.go, "latest update wins")
------------------------------------------------------------------
`PodWorkers.update` hands a pod (or, once it was deleted from the API, its removal) to the pod's
worker and returns at once. While a worker syncs, further updates only replace the one pending
update, so a burst of watch events costs one extra sync, and a pending removal is never replaced by
an older spec. A worker also re-syncs on `wake` (a PLEG event, a probe flip) and after the delay the
sync asked for (a back-off expiring), and otherwise every ``resync_period`` seconds. When the sync
reports the pod finished (removed and cleaned up), the worker ends and forgets the UID. An update that
changes nothing the sync acts on (``wake=False``: the kubelet's own status write coming back on the watch,
upstream's RECONCILE) only replaces the pod the next sync will see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass
class SyncResult:
    finished: bool = False
    """The pod is gone from the API and the node: the worker can end."""
    requeue_after: float | None = None
    """Sync again after this many seconds (a back-off ends), even without news."""


SyncFunc = Callable[[str, Obj | None, bool], Awaitable[SyncResult]]
"""(uid, last known pod, removed from the API) -> what to do next."""


@dataclass
class _Worker:
    pod: Obj | None
    removed: bool
    wake: asyncio.Event
    task: asyncio.Task[None] | None = None


class PodWorkers:
    def __init__(self, *, sync: SyncFunc, resync_period: float = 60.0, error_backoff: float = 2.0) -> None:
        self.sync = sync
        self.resync_period = resync_period
        self.error_backoff = error_backoff
        self._workers: dict[str, _Worker] = {}

    def __contains__(self, uid: object) -> bool:
        return uid in self._workers

    def uids(self) -> list[str]:
        return list(self._workers)

    def update(self, uid: str, pod: Obj | None, *, removed: bool = False, wake: bool = True) -> None:
        worker = self._workers.get(uid)
        if worker is None:
            worker = self._workers[uid] = _Worker(pod=pod, removed=removed, wake=asyncio.Event())
            worker.task = asyncio.create_task(self._run(uid, worker), name=f"pod-worker-{uid}")
        elif not worker.removed:
            # latest update wins; a pending removal is never overwritten
            worker.pod = pod if pod is not None else worker.pod
            worker.removed = removed
        if wake or removed:
            worker.wake.set()

    def wake(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wake.set()

    async def _run(self, uid: str, worker: _Worker) -> None:
        try:
            while True:
                worker.wake.clear()
                try:
                    result = await self.sync(uid, worker.pod, worker.removed)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("syncing pod %s failed; retrying in %.1fs", uid, self.error_backoff)
                    result = SyncResult(requeue_after=self.error_backoff)
                if result.finished:
                    return
                timeout = self.resync_period if result.requeue_after is None else \
                    min(max(result.requeue_after, 0.05), self.resync_period)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.wake.wait(), timeout)
        finally:
            if self._workers.get(uid) is worker:
                del self._workers[uid]

    async def close(self) -> None:
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
