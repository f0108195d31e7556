"""The shape every controller shares: informers feed a rate-limited, de-duplicating work queue, and
``reconcile(key)`` compares desired with actual and writes the difference (CONVENTIONS.md).

A reconcile that raises is retried with the queue's per-item exponential back-off (a 409 Conflict, which
only means the cache lagged behind the server, is retried shortly without growing it); one that returns
``requeue_after`` seconds is looked at again then; success forgets the item's back-off history.
Reconciles are idempotent, so re-running after a crash or a duplicate event is always safe.

Informers are either the controller's own (``self.informers``: started and stopped by ``run``) or
shared through a ``SharedInformerFactory`` (``self.shared_informers``: one watch per resource for the
whole manager, started by the first controller to run and shut down by the manager), as
kube-controller-manager shares one informer factory between its controllers.

A controller that records Events sets ``self.recorder``; ``run`` closes it when the controller stops, so
no subclass overrides ``run`` just for that. ``workers`` is the class's default number of reconcile workers
(upstream's ``--concurrent-*-syncs``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from kubelite.client import APIStatusError, EventRecorder, Informer, SharedInformerFactory, WorkQueue

log = logging.getLogger(__name__)

IndexFunc = Callable[[dict[str, Any]], list[str]]
CONFLICT_RETRY_SECONDS = 0.1


class Controller(abc.ABC):
    """Subclasses set ``name``, create informers in ``__init__`` and implement ``reconcile``."""

    name = "controller"
    workers = 2

    def __init__(self) -> None:
        self.recorder: EventRecorder | None = None
        self.queue: WorkQueue[str] = WorkQueue(name=self.name)
        self.informers: list[Informer] = []
        self.shared_informers: list[Informer] = []
        self.factory: SharedInformerFactory | None = None
        self._owns_factory = False

    def shared(self, factory: SharedInformerFactory | None, group: str, version: str, plural: str, *,
               namespaced: bool = True, indexers: Mapping[str, IndexFunc] | None = None) -> Informer:
        """An informer from ``factory`` (or a private one when None) that ``run`` waits for."""
        if factory is None:
            if self.factory is None:
                self.factory, self._owns_factory = SharedInformerFactory(self._client()), True
            factory = self.factory
        else:
            self.factory = factory
        informer = factory.for_resource(group, version, plural, namespaced=namespaced, indexers=indexers)
        if informer not in self.shared_informers:
            self.shared_informers.append(informer)
        return informer

    def _client(self) -> Any:
        client = getattr(self, "client", None)
        if client is None:
            raise RuntimeError(f"{self.name}: set self.client before asking for shared informers")
        return client

    @abc.abstractmethod
    async def reconcile(self, key: str) -> float | None:
        """Drive ``key`` toward its desired state; return seconds until it should be looked at again."""

    def enqueue(self, obj: dict[str, Any]) -> None:
        md = obj.get("metadata") or {}
        key = f"{md['namespace']}/{md['name']}" if md.get("namespace") else str(md.get("name", ""))
        if key:
            self.queue.add(key)

    async def run(self, *, workers: int | None = None) -> None:
        workers = self.workers if workers is None else workers
        tasks = [asyncio.create_task(informer.run(), name=f"{self.name}-informer") for informer in self.informers]
        if self.factory is not None:
            self.factory.start()  # idempotent: starts only the informers not yet running
        try:
            for informer in [*self.informers, *self.shared_informers]:
                await informer.wait_for_sync()
            log.info("%s: caches synced, starting %d workers", self.name, workers)
            await asyncio.gather(*(self._worker() for _ in range(workers)))
        finally:
            self.queue.shutdown()
            if self.factory is not None and self._owns_factory:
                await self.factory.shutdown()
            for informer in self.informers:
                informer.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.recorder is not None:
                await self.recorder.close()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            if key is None:
                return
            try:
                again = await self.reconcile(key)
            except asyncio.CancelledError:
                raise
            except APIStatusError as exc:
                if exc.is_conflict():
                    # the cache was older than the server: look again once it has caught up, without
                    # growing the back-off (a conflict is not a failure of this item)
                    log.debug("%s: %s changed meanwhile; retrying", self.name, key)
                    self.queue.add_after(key, CONFLICT_RETRY_SECONDS)
                else:
                    log.warning("%s: reconciling %s failed (will retry): %s", self.name, key, exc)
                    self.queue.add_rate_limited(key)
            except Exception as exc:
                log.warning("%s: reconciling %s failed (will retry): %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if again is not None:
                    self.queue.add_after(key, again)
            finally:
                self.queue.done(key)
