"""Informers: a local, indexed cache of one resource kept current by list+watch, with change handlers.

Design (client-go ``tools/cache``, reduced to what asyncio needs)
------------------------------------------------------------------
* **Reflector** (``Informer._reflect``): list, then watch from the list's resourceVersion with
  ``allowWatchBookmarks``; every event moves ``last_sync_resource_version`` forward, so a watch that
  ends (server timeout, restart) resumes exactly where it stopped. A 410 Gone/Expired means the
  server no longer has that history: relist at once, consistently (resourceVersion ""), as client-go
  does after ``isLastSyncResourceVersionUnavailable``. Connection failures re-watch from the last
  version after a jittered exponential back-off (0.8 s doubling to 30 s); other failures relist after
  the back-off. Watches carry a random ``timeoutSeconds`` between ``min_watch_timeout`` and twice it,
  so that a fleet of clients does not reconnect in lockstep.
* **Store** (``Store``, client-go's thread-safe store + indexer): objects keyed ``namespace/name``
  (``name`` for cluster-scoped ones), with named indexes ``name -> fn(obj) -> [values]``; the
  ``namespace`` index is always present.
* **Replace on relist** (DeltaFIFO's ``Replace``): every listed object is an add (new) or an update
  (known); every cached object missing from the list is deleted and its handlers get the last known
  object: the "DeletedFinalStateUnknown" case, where the deletion happened while we were not
  watching and the final state is unknown.
* **Handlers** (sharedIndexInformer's processorListener): each registered handler has its own
  unbounded queue and task, so a slow handler delays only itself and sees every change in order.
  A handler added to a running informer first receives an add for every cached object. Handlers may
  be plain functions or coroutines; an exception in one is logged and does not stop the others.
* **Resync**: every ``resync_period`` seconds each cached object is re-delivered as an update with
  ``old is new``, so level-triggered controllers re-check everything periodically.

The store is mutated and notifications are queued in one synchronous step, so handlers see changes
in exactly the order the store went through them. Objects in the store are shared: never mutate
them, copy first (``copy.deepcopy``), as client-go requires.

``SharedInformerFactory`` hands out one informer per (resource, namespace, selectors), so the
controllers of one process share a single watch per resource.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from kubelite.client.rest import (
    APIClient,
    APIConnectionError,
    APIStatusError,
    Resource,
    Selector,
    WatchEvent,
    selector_text,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]
AddHandler = Callable[[Obj], object]
UpdateHandler = Callable[[Obj, Obj], object]
DeleteHandler = Callable[[Obj], object]

NAMESPACE_INDEX: Final = "namespace"
MIN_WATCH_TIMEOUT: Final = 300.0  # client-go's minWatchTimeout (5 minutes)
PAGE_SIZE: Final = 500


def meta_namespace_key(obj: Obj) -> str:
    """client-go's MetaNamespaceKeyFunc: ``namespace/name``, or ``name`` without a namespace."""
    md = obj.get("metadata") or {}
    name = md.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"object has no metadata.name: {str(obj)[:200]}")
    namespace = md.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """The (namespace, name) of a store key; namespace None for cluster-scoped keys."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, key)


def namespace_index(obj: Obj) -> list[str]:
    """The built-in ``namespace`` index (cluster-scoped objects index under "")."""
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


class Store:
    """Objects by key, plus named indexes; safe to share as long as nobody mutates the objects."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, name: str, *, namespace: str | None = None) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    @property
    def indexers(self) -> dict[str, IndexFunc]:
        return dict(self._indexers)

    def by_index(self, index_name: str, value: str) -> builtins.list[Obj]:
        """The objects whose index function ``index_name`` yields ``value``."""
        return [self._items[key] for key in self.index_keys(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> builtins.list[str]:
        index = self._indices.get(index_name)
        if index is None:
            raise KeyError(f'index "{index_name}" does not exist; indexes: {", ".join(sorted(self._indices))}')
        return sorted(index.get(value, ()))

    def index_values(self, index_name: str) -> builtins.list[str]:
        """Every value the index currently holds (client-go's ListIndexFuncValues)."""
        index = self._indices.get(index_name)
        if index is None:
            raise KeyError(f'index "{index_name}" does not exist; indexes: {", ".join(sorted(self._indices))}')
        return sorted(value for value, keys in index.items() if keys)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes (also on a filled store: they are built now). Re-adding a name needs the same function."""
        for name, func in indexers.items():
            existing = self._indexers.get(name)
            if existing is not None:
                if existing is not func:
                    raise ValueError(f'index "{name}" already exists with a different function')
                continue
            self._indexers[name] = func
            index: dict[str, set[str]] = {}
            self._indices[name] = index
            for key, obj in self._items.items():
                for value in self._values(name, func, obj, key):
                    index.setdefault(value, set()).add(key)

    def put(self, obj: Obj) -> tuple[str, Obj | None]:
        """Insert or replace ``obj``; returns its key and the object it replaced."""
        key = meta_namespace_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self._indexers.items():
            for value in self._values(name, func, obj, key):
                self._indices[name].setdefault(value, set()).add(key)
        return key, old

    def remove(self, key: str) -> Obj | None:
        """Delete by key; returns the object that was there."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in self._values(name, func, obj, key):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    @staticmethod
    def _values(name: str, func: IndexFunc, obj: Obj, key: str) -> builtins.list[str]:
        try:
            return list(func(obj))
        except Exception:
            # client-go panics here; a cache must not die on one odd object, so it is left unindexed
            log.exception('index function "%s" failed for %s; the object is not indexed under it', name, key)
            return []


# ---- what an informer needs from the API -----------------------------------------------------------


class EventStream(Protocol):
    def __aiter__(self) -> AsyncIterator[WatchEvent]: ...

    async def close(self) -> None: ...


class ListerWatcher(Protocol):
    """The two calls an informer makes; ``Resource`` implements them (tests may pass a fake)."""

    @property
    def group_resource(self) -> str: ...

    async def list(self, *, namespace: str | None = None, label_selector: Selector = None,
                   field_selector: Selector = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> Obj: ...

    def watch(self, *, namespace: str | None = None, label_selector: Selector = None,
              field_selector: Selector = None, resource_version: str | None = None,
              allow_watch_bookmarks: bool = False, timeout_seconds: int | None = None) -> EventStream: ...


# ---- handlers --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Notification:
    kind: str  # "add" | "update" | "delete"
    obj: Obj
    old: Obj | None = None


class HandlerRegistration:
    """One registered handler set: its own queue and task (client-go's processorListener)."""

    def __init__(self, *, on_add: AddHandler | None, on_update: UpdateHandler | None,
                 on_delete: DeleteHandler | None, name: str) -> None:
        self.on_add = on_add
        self.on_update = on_update
        self.on_delete = on_delete
        self.name = name
        self._queue: asyncio.Queue[_Notification] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._enqueued = 0
        self._processed = 0
        self._sync_target: int | None = None

    @property
    def has_synced(self) -> bool:
        """True once this handler has been given every object of the informer's initial list."""
        return self._sync_target is not None and self._processed >= self._sync_target

    async def wait_idle(self) -> None:
        """Wait until every notification queued so far has been handled."""
        await self._queue.join()

    def _push(self, notification: _Notification) -> None:
        self._queue.put_nowait(notification)
        self._enqueued += 1

    def _mark_sync_point(self) -> None:
        self._sync_target = self._enqueued

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"informer-handler-{self.name}")

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # what was never delivered is dropped, so that wait_idle() callers are not left hanging
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    async def _run(self) -> None:
        while True:
            notification = await self._queue.get()
            try:
                await self._deliver(notification)
            except asyncio.CancelledError:
                raise
            except Exception:
                key = (notification.obj.get("metadata") or {}).get("name", "?")
                log.exception("informer %s: %s handler failed for %s", self.name, notification.kind, key)
            finally:
                self._processed += 1
                self._queue.task_done()

    async def _deliver(self, notification: _Notification) -> None:
        result: object = None
        if notification.kind == "add" and self.on_add is not None:
            result = self.on_add(notification.obj)
        elif notification.kind == "update" and self.on_update is not None:
            assert notification.old is not None
            result = self.on_update(notification.old, notification.obj)
        elif notification.kind == "delete" and self.on_delete is not None:
            result = self.on_delete(notification.obj)
        if inspect.isawaitable(result):
            await result


# ---- the informer ----------------------------------------------------------------------------------


class _Backoff:
    """Exponential back-off with full jitter on top (client-go: 800ms doubling to 30s, jitter 1.0)."""

    def __init__(self, *, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * 2)
        return delay * (1 + random.random())

    def reset(self) -> None:
        self._next = self.initial


class Informer:
    """A list+watch cache of one resource with change handlers; ``await run()`` until ``stop()``."""

    def __init__(self, resource: ListerWatcher, *, namespace: str | None = None, label_selector: Selector = None,
                 field_selector: Selector = None, resync_period: float | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None, min_watch_timeout: float = MIN_WATCH_TIMEOUT,
                 backoff_initial: float = 0.8, backoff_max: float = 30.0, page_size: int = PAGE_SIZE) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError(f"resync_period must be a positive number of seconds or None, got {resync_period}")
        if min_watch_timeout < 1:
            raise ValueError(f"min_watch_timeout must be at least 1 second, got {min_watch_timeout}")
        self.resource = resource
        self.namespace = namespace
        self.label_selector = selector_text(label_selector, what="label_selector")
        self.field_selector = selector_text(field_selector, what="field_selector")
        self.resync_period = resync_period
        self.min_watch_timeout = min_watch_timeout
        self.page_size = page_size
        self.store = Store(indexers)
        self.last_sync_resource_version = ""
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._relist_consistent = False
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._finished = False
        self.description = resource.group_resource + (f" in {namespace}" if namespace else "")

    def __repr__(self) -> str:
        return f"Informer({self.description})"

    # -- public API --

    @property
    def has_synced(self) -> bool:
        """The initial list is in the store (client-go's HasSynced)."""
        return self._synced.is_set()

    async def wait_for_sync(self, *, timeout: float | None = None) -> bool:
        """Wait for the initial list; False on timeout or if the informer stopped first."""
        synced = asyncio.ensure_future(self._synced.wait())
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((synced, stopped), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (synced, stopped):
                waiter.cancel()
        return self._synced.is_set()

    def add_handler(self, *, on_add: AddHandler | None = None, on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> HandlerRegistration:
        """Register change handlers; on a running informer they first get an add per cached object."""
        if on_add is None and on_update is None and on_delete is None:
            raise ValueError("add_handler needs at least one of on_add, on_update, on_delete")
        registration = HandlerRegistration(on_add=on_add, on_update=on_update, on_delete=on_delete,
                                           name=self.description)
        self._handlers.append(registration)
        if self._synced.is_set():
            for obj in self.store.list():
                registration._push(_Notification("add", obj))
            registration._mark_sync_point()
        if self._running:
            registration._start()
        return registration

    async def remove_handler(self, registration: HandlerRegistration) -> None:
        if registration in self._handlers:
            self._handlers.remove(registration)
        await registration._stop()

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self.store.add_indexers(indexers)

    def stop(self) -> None:
        """Ask ``run()`` to end; it stops the watch and the handler tasks."""
        self._stopped.set()

    @property
    def running(self) -> bool:
        return self._running

    async def run(self) -> None:
        """List, watch and dispatch until ``stop()`` (or cancellation). An informer runs once."""
        if self._running or self._finished:
            raise RuntimeError(f"informer {self.description} is already running or has run; create a new one")
        self._running = True
        for registration in self._handlers:
            registration._start()
        tasks = [asyncio.create_task(self._reflect(), name=f"reflector-{self.description}")]
        if self.resync_period is not None:
            tasks.append(asyncio.create_task(self._resync_loop(self.resync_period),
                                             name=f"resync-{self.description}"))
        stop_waiter = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((stop_waiter, *tasks), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_waiter.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    try:
                        await task
                    except Exception:
                        log.exception("informer %s: internal task failed", self.description)
            for registration in self._handlers:
                await registration._stop()
            self._running = False
            self._finished = True
            self._stopped.set()

    # -- reflector --

    async def _reflect(self) -> None:
        backoff = _Backoff(initial=self._backoff_initial, maximum=self._backoff_max)
        while True:
            try:
                await self._list_and_replace()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next()
                log.warning("informer %s: list failed (%s); retrying in %.1fs", self.description,
                            _explain(exc), delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            while True:
                try:
                    received = await self._watch_once()
                except asyncio.CancelledError:
                    raise
                except APIStatusError as exc:
                    if exc.is_gone():
                        log.info("informer %s: resourceVersion %s is too old (%s); relisting", self.description,
                                 self.last_sync_resource_version, exc.message)
                        self._relist_consistent = True
                        break
                    delay = backoff.next()
                    log.warning("informer %s: watch failed (%s); relisting in %.1fs", self.description,
                                _explain(exc), delay)
                    await asyncio.sleep(delay)
                    break
                except APIConnectionError as exc:
                    delay = backoff.next()
                    log.warning("informer %s: watch failed (%s); watching again in %.1fs", self.description,
                                _explain(exc), delay)
                    await asyncio.sleep(delay)
                    continue
                except Exception as exc:
                    delay = backoff.next()
                    log.warning("informer %s: watch failed (%s); relisting in %.1fs", self.description,
                                _explain(exc), delay)
                    await asyncio.sleep(delay)
                    break
                if received:
                    backoff.reset()
                else:
                    # a watch that ends at once with nothing in it ("very short watch"): do not spin
                    await asyncio.sleep(backoff.next())

    async def _list_and_replace(self) -> None:
        # client-go's relistResourceVersion: "0" (any cached state) for the first list, the last
        # version for later ones, "" (a consistent read) when that version is gone
        if self._relist_consistent:
            version = ""
        else:
            version = self.last_sync_resource_version or "0"
        if version == "":
            listing = await self._list_pages()
        else:
            listing = await self.resource.list(namespace=self.namespace, label_selector=self.label_selector,
                                               field_selector=self.field_selector, resource_version=version)
        items = listing.get("items") or []
        kind = str(listing.get("kind") or "")
        api_version = listing.get("apiVersion")
        # list items may come without kind/apiVersion; fill them so objects look the same as watched ones
        item_kind = kind[:-4] if kind.endswith("List") else ""
        for item in items:
            if item_kind and not item.get("kind"):
                item["kind"] = item_kind
            if api_version and not item.get("apiVersion"):
                item["apiVersion"] = api_version
        self._replace(items, str((listing.get("metadata") or {}).get("resourceVersion") or ""))
        self._relist_consistent = False

    async def _list_pages(self) -> Obj:
        items: list[Obj] = []
        token: str | None = None
        while True:
            try:
                page = await self.resource.list(namespace=self.namespace, label_selector=self.label_selector,
                                                field_selector=self.field_selector, limit=self.page_size,
                                                continue_token=token)
            except APIStatusError as exc:
                if not (exc.is_gone() and token):
                    raise
                # the snapshot behind the continue token expired: one unpaged list instead
                return await self.resource.list(namespace=self.namespace, label_selector=self.label_selector,
                                                field_selector=self.field_selector)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return {**page, "items": items}

    def _replace(self, items: Iterable[Obj], resource_version: str) -> None:
        listed: set[str] = set()
        for obj in items:
            try:
                key, old = self.store.put(obj)
            except ValueError as exc:
                log.error("informer %s: listed object skipped: %s", self.description, exc)
                continue
            listed.add(key)
            self._distribute(_Notification("update", obj, old) if old is not None else _Notification("add", obj))
        for key in self.store.keys():
            if key not in listed:
                # deleted while we were not watching: the final state is unknown, the last known is given
                last = self.store.remove(key)
                if last is not None:
                    self._distribute(_Notification("delete", last))
        self.last_sync_resource_version = resource_version
        if not self._synced.is_set():
            for registration in self._handlers:
                registration._mark_sync_point()
            self._synced.set()
            log.debug("informer %s: synced %d objects at resourceVersion %s", self.description, len(self.store),
                      resource_version)

    async def _watch_once(self) -> bool:
        """One watch request, applied to the store; True if it delivered anything."""
        timeout = int(self.min_watch_timeout * (1 + random.random()))
        stream = self.resource.watch(namespace=self.namespace, label_selector=self.label_selector,
                                     field_selector=self.field_selector,
                                     resource_version=self.last_sync_resource_version,
                                     allow_watch_bookmarks=True, timeout_seconds=timeout)
        received = False
        try:
            async for event_type, obj in stream:
                received = True
                self._apply(event_type, obj)
        finally:
            await stream.close()
        return received

    def _apply(self, event_type: str, obj: Obj) -> None:
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if event_type in ("ADDED", "MODIFIED"):
            try:
                _, old = self.store.put(obj)
            except ValueError as exc:
                log.error("informer %s: watched object skipped: %s", self.description, exc)
                return
            self._distribute(_Notification("update", obj, old) if old is not None else _Notification("add", obj))
        elif event_type == "DELETED":
            try:
                key = meta_namespace_key(obj)
            except ValueError as exc:
                log.error("informer %s: deletion of an unnamed object ignored: %s", self.description, exc)
                return
            # the watch carries the object's final state, which is what handlers get; a deletion of
            # an object never cached is dropped, as DeltaFIFO drops it
            if self.store.remove(key) is not None:
                self._distribute(_Notification("delete", obj))
        elif event_type != "BOOKMARK":
            log.warning("informer %s: unknown watch event type %r ignored", self.description, event_type)
            return
        if version:
            self.last_sync_resource_version = version

    def _distribute(self, notification: _Notification) -> None:
        for registration in self._handlers:
            registration._push(notification)

    async def _resync_loop(self, period: float) -> None:
        await self._synced.wait()
        while True:
            await asyncio.sleep(period)
            for obj in self.store.list():
                self._distribute(_Notification("update", obj, obj))


def _explain(exc: BaseException) -> str:
    if isinstance(exc, APIStatusError):
        return f"{exc.code} {exc.reason}: {exc.message}"
    return str(exc) or type(exc).__name__


# ---- shared informers ------------------------------------------------------------------------------


class SharedInformerFactory:
    """One informer per (resource, namespace, selectors) for a whole process; start them together."""

    def __init__(self, client: APIClient, *, resync_period: float | None = None,
                 min_watch_timeout: float = MIN_WATCH_TIMEOUT) -> None:
        self.client = client
        self.resync_period = resync_period
        self.min_watch_timeout = min_watch_timeout
        self._informers: dict[tuple[str, str, str, str | None, str, str], Informer] = {}
        self._tasks: dict[Informer, asyncio.Task[None]] = {}
        self._shut_down = False

    def informer(self, resource: Resource, *, namespace: str | None = None, label_selector: Selector = None,
                 field_selector: Selector = None, resync_period: float | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None) -> Informer:
        """The shared informer for this selection, created on first request; extra indexers are added."""
        labels = selector_text(label_selector, what="label_selector") or ""
        fields = selector_text(field_selector, what="field_selector") or ""
        key = (resource.group, resource.version, resource.plural, namespace, labels, fields)
        informer = self._informers.get(key)
        if informer is None:
            informer = Informer(resource, namespace=namespace, label_selector=labels or None,
                                field_selector=fields or None,
                                resync_period=resync_period if resync_period is not None else self.resync_period,
                                indexers=indexers, min_watch_timeout=self.min_watch_timeout)
            self._informers[key] = informer
        elif indexers:
            informer.add_indexers(indexers)
        return informer

    def for_resource(self, group: str, version: str, plural: str, *, namespaced: bool = True,
                     namespace: str | None = None, label_selector: Selector = None, field_selector: Selector = None,
                     indexers: Mapping[str, IndexFunc] | None = None) -> Informer:
        """Shorthand: ``for_resource("", "v1", "pods")``."""
        return self.informer(self.client.resource(group, version, plural, namespaced=namespaced),
                             namespace=namespace, label_selector=label_selector, field_selector=field_selector,
                             indexers=indexers)

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Run every informer not yet running (call again after requesting more informers)."""
        if self._shut_down:
            raise RuntimeError("this SharedInformerFactory was shut down; informers run once, create a new factory")
        for informer in self._informers.values():
            if informer not in self._tasks:
                self._tasks[informer] = asyncio.create_task(informer.run(), name=f"informer-{informer.description}")

    async def wait_for_sync(self, *, timeout: float | None = None) -> bool:
        """Wait until every started informer has synced; False if one did not within ``timeout``."""
        started = list(self._tasks)
        if not started:
            return True
        results = await asyncio.gather(*(informer.wait_for_sync(timeout=timeout) for informer in started))
        return all(results)

    async def shutdown(self) -> None:
        """Stop every informer and wait for them to finish."""
        self._shut_down = True
        for informer in self._tasks:
            informer.stop()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
