"""Recording core/v1 Events about objects, with client-go's ``tools/record`` semantics.

Design
------
``EventRecorder.event(obj, event_type=..., reason=..., message=...)`` never blocks and never raises:
it builds the Event and puts it on a bounded queue (1000, dropping when full, as the broadcaster's
``DropIfChannelFull``); a writer task sends them. Failures are logged, never raised into the
caller: a controller must not fail because the server refused an Event.

A busy component (the scheduler records one ``Scheduled`` event per pod, hundreds a second) asks for
``writers=N``: N writer tasks, each with its own queue, and the events of one object always go to the
same writer (by the object's UID or key). Writes about different objects then overlap on the
connection pool, as upstream's broadcaster writes each event in its own goroutine, while those about
one object stay in order, so the correlator's count and patch of an existing Event stay right.

The Event, as client-go's ``makeEvent`` builds it: ``involvedObject`` is the object reference (kind,
apiVersion, namespace, name, uid, resourceVersion), the name is ``<object name>.<unix nanos in
hex>``, the namespace is the object's (``default`` for cluster-scoped objects), ``source`` and
``reportingComponent``/``reportingInstance`` name the component and host, ``firstTimestamp`` =
``lastTimestamp``, ``count`` 1. The type must be ``Normal`` or ``Warning``.

Before writing, the ``EventCorrelator`` (client-go's ``events_cache.go``) does three things, with
the upstream defaults:

* **aggregation**: more than 10 events within 10 minutes about one object that differ only in
  message (same source, object, type, reason) are combined into one event whose message starts
  with "(combined from similar events): ";
* **de-duplication**: an event identical to one already written (same source, object, type,
  reason, message) is not created again: the existing Event's ``count`` is incremented and its
  ``lastTimestamp``/``message`` updated with a strategic-merge patch. If that Event has been
  deleted meanwhile (404), it is created again;
* **spam filtering**: per source and object, a token bucket of 25 events refilling one every
  5 minutes; events beyond it are dropped.

Writes that fail for transport reasons are retried up to 12 times, 10 s apart (the first wait is
randomised so that many clients do not retry in lockstep); a Status error from the server is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

from kubelite.api.meta import rfc3339, rfc3339_second
from kubelite.client.rest import APIClient, APIConnectionError, APIStatusError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
V = TypeVar("V")

EVENT_TYPE_NORMAL: Final = "Normal"
EVENT_TYPE_WARNING: Final = "Warning"
EVENT_TYPES: Final = (EVENT_TYPE_NORMAL, EVENT_TYPE_WARNING)

MAX_LRU_CACHE_ENTRIES: Final = 4096
AGGREGATE_MAX_EVENTS: Final = 10
AGGREGATE_INTERVAL_SECONDS: Final = 600.0
SPAM_BURST: Final = 25
SPAM_QPS: Final = 1.0 / 300.0
MAX_TRIES_PER_EVENT: Final = 12
RETRY_SLEEP_SECONDS: Final = 10.0
QUEUE_LENGTH: Final = 1000
AGGREGATE_MESSAGE_PREFIX: Final = "(combined from similar events): "


def object_reference(obj: Obj) -> Obj:
    """The ObjectReference of an API object (or an ObjectReference given as is).

    Raises ``ValueError`` when the object lacks kind, apiVersion or name, as client-go's
    ``reference.GetReference`` fails without type information.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected an API object (a dict), got {type(obj).__name__}")
    if "metadata" not in obj and obj.get("kind") and obj.get("name"):
        # already a reference (e.g. a pod's ownerReference turned into an ObjectReference)
        return {k: v for k, v in obj.items()
                if k in ("kind", "apiVersion", "namespace", "name", "uid", "resourceVersion", "fieldPath") and v}
    md = obj.get("metadata") or {}
    kind, api_version, name = obj.get("kind"), obj.get("apiVersion"), md.get("name")
    missing = [what for what, value in (("kind", kind), ("apiVersion", api_version), ("metadata.name", name))
               if not value]
    if missing:
        raise ValueError(f"the object has no {', '.join(missing)}")
    ref: Obj = {"kind": kind, "apiVersion": api_version, "name": name}
    for src, dst in (("namespace", "namespace"), ("uid", "uid"), ("resourceVersion", "resourceVersion")):
        if md.get(src):
            ref[dst] = md[src]
    return ref


class _LRU(Generic[V]):
    """A tiny least-recently-used map (groupcache/lru as upstream uses)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, V] = OrderedDict()

    def get(self, key: str) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)


def _source(event: Obj) -> tuple[str, str]:
    source = event.get("source") or {}
    return str(source.get("component") or ""), str(source.get("host") or "")


def _involved(event: Obj) -> Obj:
    value = event.get("involvedObject")
    return value if isinstance(value, dict) else {}


def event_key(event: Obj) -> str:
    """getEventKey: source, involved object, type, reason and message."""
    ref = _involved(event)
    return "".join([*_source(event), str(ref.get("kind", "")), str(ref.get("namespace", "")),
                    str(ref.get("name", "")), str(ref.get("fieldPath", "")), str(ref.get("uid", "")),
                    str(ref.get("apiVersion", "")), str(event.get("type", "")), str(event.get("reason", "")),
                    str(event.get("message", ""))])


def spam_key(event: Obj) -> str:
    """getSpamKey: source and involved object."""
    ref = _involved(event)
    return "".join([*_source(event), str(ref.get("kind", "")), str(ref.get("namespace", "")),
                    str(ref.get("name", "")), str(ref.get("uid", "")), str(ref.get("apiVersion", ""))])


def aggregate_key(event: Obj) -> tuple[str, str]:
    """EventAggregatorByReasonFunc: (key without the message, the message)."""
    ref = _involved(event)
    key = "".join([*_source(event), str(ref.get("kind", "")), str(ref.get("namespace", "")),
                   str(ref.get("name", "")), str(ref.get("uid", "")), str(ref.get("apiVersion", "")),
                   str(event.get("type", "")), str(event.get("reason", "")),
                   str(event.get("reportingComponent", "")), str(event.get("reportingInstance", ""))])
    return key, str(event.get("message", ""))


@dataclass
class _AggregateRecord:
    local_keys: set[str] = field(default_factory=set)
    last_timestamp: float = float("-inf")


@dataclass(frozen=True)
class _EventLog:
    count: int
    first_timestamp: str
    name: str
    resource_version: str


@dataclass
class _TokenBucket:
    tokens: float
    last: float


@dataclass(frozen=True)
class CorrelateResult:
    event: Obj | None
    patch: Obj | None = None  # strategic-merge patch for an existing Event; None means create
    skip: bool = False


class EventCorrelator:
    """Aggregation, de-duplication and spam filtering of events before they are written."""

    def __init__(self, *, clock: Callable[[], float] = time.time, cache_size: int = MAX_LRU_CACHE_ENTRIES,
                 max_events: int = AGGREGATE_MAX_EVENTS, max_interval: float = AGGREGATE_INTERVAL_SECONDS,
                 spam_burst: int = SPAM_BURST, spam_qps: float = SPAM_QPS) -> None:
        self._clock = clock
        self.max_events = max_events
        self.max_interval = max_interval
        self.spam_burst = spam_burst
        self.spam_qps = spam_qps
        self._aggregates: _LRU[_AggregateRecord] = _LRU(cache_size)
        self._observed: _LRU[_EventLog] = _LRU(cache_size)
        self._spam: _LRU[_TokenBucket] = _LRU(cache_size)

    def correlate(self, event: Obj) -> CorrelateResult:
        aggregated, key = self._aggregate(event)
        observed, patch = self._observe(aggregated, key)
        if self._filtered(observed):
            return CorrelateResult(None, None, skip=True)
        return CorrelateResult(observed, patch)

    def update_state(self, event: Obj) -> None:
        """Remember what the server returned (name, resourceVersion, count) for the next duplicate."""
        md = event.get("metadata") or {}
        self._observed.put(event_key(event), _EventLog(
            count=int(event.get("count") or 1), first_timestamp=str(event.get("firstTimestamp") or ""),
            name=str(md.get("name") or ""), resource_version=str(md.get("resourceVersion") or "")))

    def _aggregate(self, event: Obj) -> tuple[Obj, str]:
        now = self._clock()
        full_key = event_key(event)
        agg_key, local_key = aggregate_key(event)
        record = self._aggregates.get(agg_key) or _AggregateRecord()
        if now - record.last_timestamp > self.max_interval:
            record = _AggregateRecord()
        record.local_keys.add(local_key)
        record.last_timestamp = now
        self._aggregates.put(agg_key, record)
        if len(record.local_keys) < self.max_events:
            return event, full_key
        record.local_keys.pop()  # keep the set from growing past the threshold
        stamp = rfc3339(datetime.fromtimestamp(now, UTC))
        ref = _involved(event)
        combined: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{ref.get('name', '')}.{int(now * 1e9):x}",
                         "namespace": (event.get("metadata") or {}).get("namespace")},
            "involvedObject": ref, "reason": event.get("reason"), "type": event.get("type"),
            "message": AGGREGATE_MESSAGE_PREFIX + str(event.get("message", "")),
            "source": event.get("source"), "count": 1, "firstTimestamp": stamp, "lastTimestamp": stamp,
            "reportingComponent": event.get("reportingComponent", ""),
            "reportingInstance": event.get("reportingInstance", ""),
        }
        return combined, agg_key

    def _observe(self, event: Obj, key: str) -> tuple[Obj, Obj | None]:
        # only top-level fields and metadata change below: copying those two levels leaves the caller's event alone
        event = {**event, "metadata": dict(event.get("metadata") or {})}
        last = self._observed.get(key)
        patch: Obj | None = None
        if last is not None and last.count > 0:
            md = event.setdefault("metadata", {})
            md["name"] = last.name
            if last.resource_version:
                md["resourceVersion"] = last.resource_version
            event["firstTimestamp"] = last.first_timestamp
            event["count"] = last.count + 1
            patch = {"count": event["count"], "lastTimestamp": event.get("lastTimestamp"),
                     "message": event.get("message")}
        md = event.get("metadata") or {}
        self._observed.put(key, _EventLog(count=int(event.get("count") or 1),
                                          first_timestamp=str(event.get("firstTimestamp") or ""),
                                          name=str(md.get("name") or ""),
                                          resource_version=str(md.get("resourceVersion") or "")))
        return event, patch

    def _filtered(self, event: Obj) -> bool:
        """True when the source+object token bucket is empty (the event is dropped)."""
        now = self._clock()
        key = spam_key(event)
        bucket = self._spam.get(key) or _TokenBucket(tokens=float(self.spam_burst), last=now)
        bucket.tokens = min(float(self.spam_burst), bucket.tokens + max(0.0, now - bucket.last) * self.spam_qps)
        bucket.last = now
        self._spam.put(key, bucket)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return False
        return True


class EventRecorder:
    """Writes Events for one component (and host) through ``writers`` background tasks (default one)."""

    def __init__(self, client: APIClient, *, component: str, host: str = "",
                 correlator: EventCorrelator | None = None, queue_length: int = QUEUE_LENGTH,
                 max_tries: int = MAX_TRIES_PER_EVENT, retry_sleep: float = RETRY_SLEEP_SECONDS,
                 writers: int = 1) -> None:
        if not component:
            raise ValueError("component must name who reports the events, e.g. 'kubelite-scheduler'")
        if writers < 1:
            raise ValueError(f"writers must be at least 1, got {writers}")
        self.component = component
        self.host = host
        self.max_tries = max_tries
        self.retry_sleep = retry_sleep
        self.correlator = correlator or EventCorrelator()
        self._events = client.resource("", "v1", "events")
        # one queue per writer; each bounded by queue_length
        self._queues: list[asyncio.Queue[Obj]] = [asyncio.Queue(maxsize=queue_length) for _ in range(writers)]
        self._writers: list[asyncio.Task[None] | None] = [None] * writers
        self._closed = False

    # -- recording (synchronous, never raises) --

    def event(self, involved: Obj, *, event_type: str, reason: str, message: str,
              annotations: dict[str, str] | None = None) -> None:
        """Record an event about ``involved``; returns at once, the write happens in the background."""
        try:
            self._record(involved, event_type=event_type, reason=reason, message=message, annotations=annotations)
        except Exception:
            log.exception("event recorder %s: dropping event %s %s", self.component, event_type, reason)

    def _record(self, involved: Obj, *, event_type: str, reason: str, message: str,
                annotations: dict[str, str] | None) -> None:
        if self._closed:
            log.warning("event recorder %s is closed; dropping event %s %s: %s", self.component, event_type,
                        reason, message)
            return
        try:
            ref = object_reference(involved)
        except ValueError as exc:
            log.error("event recorder %s: could not construct a reference to the object (%s); will not report "
                      "event %s %s: %s", self.component, exc, event_type, reason, message)
            return
        if event_type not in EVENT_TYPES:
            log.error("event recorder %s: unsupported event type %r (allowed: Normal, Warning); will not report "
                      "event %s: %s", self.component, event_type, reason, message)
            return
        event = self.make_event(ref, event_type=event_type, reason=reason, message=message,
                                annotations=annotations)
        shard = hash(ref.get("uid") or (ref.get("namespace"), ref["name"])) % len(self._queues)
        self._ensure_writer(shard)
        queue = self._queues[shard]
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event recorder %s: %d events pending; dropping %s %s about %s/%s", self.component,
                        queue.qsize(), event_type, reason, ref.get("namespace", ""), ref["name"])

    def make_event(self, ref: Obj, *, event_type: str, reason: str, message: str,
                   annotations: dict[str, str] | None = None, now_ns: int | None = None) -> Obj:
        """The Event client-go's makeEvent builds (without correlation)."""
        nanos = time.time_ns() if now_ns is None else now_ns
        # a busy recorder (the scheduler) makes hundreds of events a second: one text per second
        stamp = rfc3339_second(nanos // 1_000_000_000)
        metadata: Obj = {"name": f"{ref['name']}.{nanos:x}", "namespace": ref.get("namespace") or "default"}
        if annotations:
            metadata["annotations"] = dict(annotations)
        source: Obj = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {"apiVersion": "v1", "kind": "Event", "metadata": metadata, "involvedObject": dict(ref),
                "reason": reason, "message": message, "type": event_type, "source": source,
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": self.component, "reportingInstance": self.host}

    # -- lifecycle --

    def start(self) -> None:
        """Start the writer tasks (done automatically by the first event inside a running loop)."""
        for shard in range(len(self._queues)):
            self._ensure_writer(shard)

    def _ensure_writer(self, shard: int) -> None:
        writer = self._writers[shard]
        if writer is None or writer.done():
            self._writers[shard] = asyncio.get_running_loop().create_task(
                self._run(self._queues[shard]), name=f"events-{self.component}-{shard}")

    async def flush(self) -> None:
        """Wait until every event recorded so far has been written (or given up on)."""
        for queue in self._queues:
            await queue.join()

    async def close(self, *, timeout: float = 5.0) -> None:
        """Stop accepting events, give pending ones ``timeout`` seconds, then stop the writers."""
        self._closed = True
        running = [writer for writer in self._writers if writer is not None]
        if not running:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), timeout)
        for writer in running:
            writer.cancel()
        for writer in running:
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        self._writers = [None] * len(self._queues)

    # -- writing --

    async def _run(self, queue: asyncio.Queue[Obj]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._record_to_sink(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event recorder %s: writing an event failed", self.component)
            finally:
                queue.task_done()

    async def _record_to_sink(self, event: Obj) -> None:
        result = self.correlator.correlate(event)
        if result.skip or result.event is None:
            log.debug("event recorder %s: event %s about %s filtered as spam", self.component, event.get("reason"),
                      _involved(event).get("name"))
            return
        tries = 0
        while not await self._write(result.event, result.patch):
            tries += 1
            if tries >= self.max_tries:
                log.error("event recorder %s: unable to write event %s about %s (retry limit exceeded)",
                          self.component, result.event.get("reason"), _involved(result.event).get("name"))
                return
            # the first wait is random so that clients do not all retry together after an outage
            await asyncio.sleep(self.retry_sleep * random.random() if tries == 1 else self.retry_sleep)

    async def _write(self, event: Obj, patch: Obj | None) -> bool:
        """One attempt; True when done (written, or refused for good), False to retry."""
        md = event.get("metadata") or {}
        namespace = str(md.get("namespace") or "default")
        try:
            written: Obj | None = None
            if patch is not None:
                try:
                    written = await self._events.patch(str(md["name"]), patch, namespace=namespace,
                                                       patch_type="strategic")
                except APIStatusError as exc:
                    if not exc.is_not_found():
                        raise
                    written = None  # deleted meanwhile (TTL): create it again
            if written is None:
                # only metadata changes, so a shallow copy is enough (the event stays as the correlator knows it)
                body = {**event, "metadata": {k: v for k, v in md.items() if k != "resourceVersion"}}
                written = await self._events.create(body, namespace=namespace)
        except APIStatusError as exc:
            causes = {c.get("type") or c.get("reason") for c in exc.details.get("causes") or []}
            if exc.is_already_exists() or "NamespaceTerminating" in causes:
                log.debug("event recorder %s: server rejected event (%s); not retrying", self.component, exc)
            else:
                log.error("event recorder %s: server rejected event %s about %s: %s (will not retry)",
                          self.component, event.get("reason"), _involved(event).get("name"), exc)
            return True
        except APIConnectionError as exc:
            log.warning("event recorder %s: unable to write event (%s); may retry", self.component, exc)
            return False
        self.correlator.update_state(written)
        return True
