"""The watch cache: every object of every resource in memory, fed by ONE watch on the whole store.

Lists and watches are served from here, never from the store (DESIGN.md). One store watch over the
whole key space means every resource cache advances with the *global* revision: after the dispatcher
applied revision R, every cache is exact at R. A consistent list is therefore "wait until the
dispatcher reached the store's current revision, then read memory"; no per-resource progress
notifications are needed.

Each resource cache keeps the newest ``capacity`` events so that a watch can resume from a recent
resourceVersion; older ones get 410 Expired, as upstream. Watchers are bounded queues: a watcher too
slow to keep up is closed (its client re-lists), never allowed to stall the dispatcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubelite.controlplane.storage import CompactedError, EventType, KeyValue, Store, WatchEvent

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def decode(kv: KeyValue, revision: int | None = None) -> Obj:
    """A stored value as an API object, with metadata.resourceVersion from the store revision."""
    obj: Obj = orjson.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision if revision is not None
                                                            else kv.mod_revision)
    return obj


# keys under this prefix are kubelite's own bookkeeping (allocation claims), not API objects
INTERNAL_PREFIX = "/kubelite/"


def resource_prefix(key: str) -> str:
    """'/apps/deployments/ns/name' -> '/apps/deployments/'."""
    parts = key.split("/", 3)
    return f"/{parts[1]}/{parts[2]}/" if len(parts) >= 3 else key


@dataclass(slots=True)
class CacheEvent:
    type: str
    key: str
    obj: Obj
    prev: Obj | None
    revision: int
    # the watch stream's line for this event as stored (``{"type": ..., "object": obj}`` + newline), made by
    # the first watcher that sends it plain and reused by the others (upstream's cachingObject)
    line: bytes | None = None


class WatchClosed(Exception):
    """The watcher fell too far behind and was dropped; the client must re-list."""


@dataclass(eq=False)
class Watcher:
    key_prefix: str
    predicate: Filter | None
    queue: asyncio.Queue[CacheEvent | None] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False

    def pending(self) -> bool:
        """Whether the next item of ``WatchCache.events`` is already here (it will not wait)."""
        return not self.queue.empty()

    def offer(self, event: CacheEvent) -> None:
        if self.overflowed or not event.key.startswith(self.key_prefix):
            return
        translated = self._translate(event)
        if translated is None:
            return
        try:
            self.queue.put_nowait(translated)
        except asyncio.QueueFull:
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    def _translate(self, event: CacheEvent) -> CacheEvent | None:
        """Selectors turn updates into ADDED/DELETED when an object enters or leaves the selection."""
        if self.predicate is None:
            return event
        now = event.type != DELETED and self.predicate(event.obj)
        before = event.prev is not None and self.predicate(event.prev)
        if event.type == DELETED:
            return event if before else None
        if now and before:
            return event
        if now:
            return CacheEvent(ADDED, event.key, event.obj, None, event.revision)
        if before:
            return CacheEvent(DELETED, event.key, event.obj, event.prev, event.revision)
        return None


class ResourceCache:
    """Objects and recent events of one resource (one key prefix)."""

    def __init__(self, prefix: str, *, capacity: int, oldest_revision: int) -> None:
        self.prefix = prefix
        self.objects: dict[str, Obj] = {}
        self.events: deque[CacheEvent] = deque(maxlen=capacity)
        # a watch may resume from any revision >= oldest_revision
        self.oldest_revision = oldest_revision
        self.watchers: set[Watcher] = set()

    def apply(self, event: CacheEvent) -> None:
        if event.type == DELETED:
            self.objects.pop(event.key, None)
        else:
            self.objects[event.key] = event.obj
        if len(self.events) == self.events.maxlen:
            self.oldest_revision = self.events[0].revision
        self.events.append(event)
        for watcher in list(self.watchers):
            watcher.offer(event)

    def list(self, key_prefix: str) -> list[Obj]:
        """The objects under ``key_prefix`` in key order (a namespace, or the whole resource)."""
        objects = self.objects
        if not objects:
            return []  # admission plugins list quotas, limit ranges, priority classes on every create
        # filter before sorting, and sort the keys alone: a namespace's list no longer sorts every
        # object of the resource, and string comparison beats comparing (key, object) tuples
        if key_prefix == self.prefix:
            keys = sorted(objects)
        else:
            keys = sorted(key for key in objects if key.startswith(key_prefix))
        return [objects[key] for key in keys]


class WatchCache:
    """All resource caches and the single store watch that feeds them."""

    def __init__(self, store: Store, *, capacity: int = 1000) -> None:
        self._store = store
        self._capacity = capacity
        self._caches: dict[str, ResourceCache] = {}
        self.revision = 0
        self._tick = asyncio.Event()  # set (and replaced) whenever the revision advances and someone waits
        self._waiting = 0  # wait_for calls waiting on _tick
        self._task: asyncio.Task[None] | None = None
        # objects a writer in this process offers for its own write's event: key -> (value, object)
        self._handed: dict[str, tuple[bytes, Obj]] = {}

    async def start(self) -> None:
        initial = await self._store.list("/")
        self.revision = initial.revision
        self._load(initial.items)
        self._task = asyncio.create_task(self._run(), name="watch-cache")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for cache in self._caches.values():
            for watcher in list(cache.watchers):
                with contextlib.suppress(asyncio.QueueFull):
                    watcher.queue.put_nowait(None)

    def hand_over(self, key: str, value: bytes, obj: Obj) -> None:
        """Offer ``obj`` for the event of the write of exactly ``value`` (this bytes object), so the cache
        need not parse the bytes the writer just made from it; until ``withdraw``.

        The writer promises that ``obj`` is what ``decode`` would give for that event but its
        resourceVersion (plain JSON that ``value`` is the encoding of), and that nobody changes it from
        now on but to set that same resourceVersion. The offer is matched by identity: a store event
        whose value is this very object is this write's, committed at the event's revision (the SQLite
        store hands the written bytes through; an event of another write, or bytes the store made anew,
        as etcd's, is parsed as always). One offer per key: a second writer of the key replaces it.
        """
        self._handed[key] = (value, obj)

    def withdraw(self, key: str, value: bytes) -> None:
        """End the offer made for ``value`` (the write returned or failed), if the cache did not take it."""
        offered = self._handed.get(key)
        if offered is not None and offered[0] is value:
            del self._handed[key]

    def object_count(self) -> int:
        """Objects held in all resource caches."""
        return sum(len(cache.objects) for cache in self._caches.values())

    def _cache_for(self, prefix: str) -> ResourceCache:
        cache = self._caches.get(prefix)
        if cache is None:
            cache = ResourceCache(prefix, capacity=self._capacity, oldest_revision=self.revision)
            self._caches[prefix] = cache
        return cache

    async def _run(self) -> None:
        while True:
            try:
                async for event in self._store.watch("/", after_revision=self.revision):
                    self._dispatch(event)
                    if self._waiting:
                        tick, self._tick = self._tick, asyncio.Event()
                        tick.set()
            except asyncio.CancelledError:
                raise
            except CompactedError:
                # we fell behind compaction: rebuild from a fresh list (watchers are told to re-list)
                log.warning("watch cache fell behind compaction; relisting")
                await self._relist()
            except Exception as exc:  # store hiccup: retry; lists wait for freshness meanwhile
                log.warning("watch cache: store watch failed (%s); retrying", exc)
                await asyncio.sleep(0.5)

    async def _relist(self) -> None:
        fresh = await self._store.list("/")
        for cache in self._caches.values():
            cache.objects.clear()
            cache.events.clear()
            cache.oldest_revision = fresh.revision
            for watcher in list(cache.watchers):
                watcher.overflowed = True
                with contextlib.suppress(asyncio.QueueFull):
                    watcher.queue.put_nowait(None)
        self.revision = fresh.revision
        self._load(fresh.items)

    def _load(self, items: list[KeyValue]) -> None:
        for kv in items:
            if kv.key.startswith(INTERNAL_PREFIX):
                continue
            try:
                obj = decode(kv)
            except orjson.JSONDecodeError:
                log.error("watch cache: %s does not hold a JSON object; skipped", kv.key)
                continue
            self._cache_for(resource_prefix(kv.key)).objects[kv.key] = obj

    def _dispatch(self, event: WatchEvent) -> None:
        kv = event.kv
        self.revision = kv.mod_revision
        if kv.key.startswith(INTERNAL_PREFIX):
            return
        try:
            self._apply(event)
        except orjson.JSONDecodeError:
            # one bad value must not stall every list and watch behind it
            log.error("watch cache: %s does not hold a JSON object; event at revision %d skipped",
                      kv.key, kv.mod_revision)

    def _apply(self, event: WatchEvent) -> None:
        kv = event.kv
        cache = self._cache_for(resource_prefix(kv.key))
        # the cache holds exactly the previous state; decode the store's copy only when it does not
        prev = cache.objects.get(kv.key)
        if prev is None and event.prev_kv is not None:
            prev = decode(event.prev_kv)
        if event.type is EventType.DELETE:
            # the store hands the last value with the deletion revision, as upstream reports it
            cache.apply(CacheEvent(DELETED, kv.key, decode(kv), prev, kv.mod_revision))
        else:
            kind = ADDED if event.created or kv.key not in cache.objects else MODIFIED
            offered = self._handed.get(kv.key) if self._handed else None
            if offered is not None and offered[0] is kv.value:
                del self._handed[kv.key]
                obj = offered[1]
                obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
            else:
                obj = decode(kv)
            cache.apply(CacheEvent(kind, kv.key, obj, prev, kv.mod_revision))

    async def wait_for(self, revision: int, *, timeout: float = 3.0) -> bool:
        """Wait until the cache has applied ``revision``; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.revision < revision:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._tick.wait(), remaining)
            finally:
                self._waiting -= 1
        return True

    async def consistent_list(self, prefix: str, key_prefix: str) -> tuple[list[Obj], int]:
        """Objects under ``key_prefix`` exactly as of the store's current revision, and that revision."""
        current = await self._store.current_revision()
        if not await self.wait_for(current):
            # revisions moved outside our key space (shared etcd): read the store directly
            result = await self._store.list(key_prefix)
            return [decode(kv) for kv in result.items], result.revision
        return self._cache_for(prefix).list(key_prefix), self.revision

    def get(self, prefix: str, key: str) -> Obj | None:
        """One cached object, or None (which may only mean the cache has not seen it yet)."""
        cache = self._caches.get(prefix)
        return cache.objects.get(key) if cache is not None else None

    def snapshot(self, prefix: str, key_prefix: str) -> tuple[list[Obj], int]:
        """Whatever the cache holds now (resourceVersion=0 semantics: any recent state)."""
        return self._cache_for(prefix).list(key_prefix), self.revision

    async def watch(self, prefix: str, key_prefix: str, *, after_revision: int | None,
                    predicate: Filter | None) -> tuple[list[CacheEvent], Watcher, int]:
        """Register a watcher. Returns (events to send first, the watcher, revision they lead up to).

        ``after_revision`` None: the current state as synthetic ADDED events, then live changes.
        A revision older than the cache keeps raises ``TooOld`` (410 Expired for the client).
        """
        cache = self._cache_for(prefix)
        if after_revision is not None and after_revision > self.revision:
            if not await self.wait_for(after_revision):
                raise TooNew(after_revision, self.revision)
        watcher = Watcher(key_prefix, predicate)
        if after_revision is None:
            initial = [CacheEvent(ADDED, key, obj, None, int(obj["metadata"]["resourceVersion"]))
                       for key, obj in sorted(cache.objects.items()) if key.startswith(key_prefix)
                       and (predicate is None or predicate(obj))]
        else:
            if after_revision < cache.oldest_revision:
                raise TooOld(after_revision, cache.oldest_revision)
            initial = []
            replay = Watcher(key_prefix, predicate, asyncio.Queue())
            for event in cache.events:
                if event.revision > after_revision:
                    replay.offer(event)
            while not replay.queue.empty():
                item = replay.queue.get_nowait()
                if item is not None:
                    initial.append(item)
        cache.watchers.add(watcher)
        return initial, watcher, self.revision

    def unwatch(self, prefix: str, watcher: Watcher) -> None:
        self._cache_for(prefix).watchers.discard(watcher)

    async def events(self, watcher: Watcher, *, timeout: float | None) -> AsyncIterator[CacheEvent | None]:
        """Live events of a watcher; yields None when ``timeout`` passes with nothing (for bookmarks).

        The next item comes without suspending exactly when ``watcher.queue`` is not empty, so a consumer
        may batch its output until then (``Watcher.pending``)."""
        while True:
            # an event already queued is taken without wait_for, which would wrap the get in a new
            # task and a timer per event: under a write storm most events are already waiting
            try:
                item = watcher.queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout)
                except TimeoutError:
                    yield None
                    continue
            if item is None:
                if watcher.overflowed:
                    raise WatchClosed()
                return
            yield item


class TooOld(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class TooNew(Exception):
    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}")
        self.requested = requested
        self.current = current
