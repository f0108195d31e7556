"""The scheduling queue: which pod is scheduled next, and when a failed one is tried again.

Upstream ``pkg/scheduler/internal/queue`` (PriorityQueue), reduced to what kubelite needs:

* **activeQ**: pods ready to be scheduled, popped highest ``spec.priority`` first, then oldest
  (the time the pod entered the queue), as upstream's PrioritySort queue-sort plugin orders them.
* **backoffQ**: pods that failed and wait out their back-off, ``initial * 2^(attempts-1)`` capped at
  ``maximum`` (upstream podInitialBackoffSeconds 1 s, podMaxBackoffSeconds 10 s). When the
  back-off expires the pod moves to activeQ.
* **unschedulable pods**: pods no node fits. They stay parked until a cluster event could make them
  schedulable (a node added or changed, an assigned pod deleted, ...): ``move_all_to_active_or_backoff``
  moves those whose rejecting plugins care about the event, to backoffQ when their back-off has not
  expired yet, else to activeQ. A pod parked longer than ``max_unschedulable`` (upstream 5 min) is
  retried anyway.
* **move requests during a cycle**: an event that arrives while a pod is being scheduled may be
  the one that would have made it fit. As upstream (``moveRequestCycle``), a pod that fails in a cycle
  that started before the latest move request goes to backoffQ rather than to the unschedulable pods.

Items are keyed by ``namespace/name``; a pod is in at most one of the three places. Heaps use lazy
deletion: an entry is valid only while it is the pod's current entry. The queue is used from one
asyncio loop; ``pop`` waits on an event with a timeout until the next back-off expiry.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = Mapping[str, Any]

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_UNSCHEDULABLE = 300.0

# cluster events (upstream framework.ClusterEvent labels)
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
FORCE_ACTIVATE = "ForceActivate"

ACTIVE, BACKOFF, UNSCHEDULABLE = "active", "backoff", "unschedulable"


def pod_priority(pod: JSON) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return int(value) if isinstance(value, int) else 0


def pod_queue_key(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@dataclass
class QueuedPodInfo:
    """A pod in the queue with its scheduling history (upstream framework.QueuedPodInfo)."""

    pod: JSON
    timestamp: float
    attempts: int = 0
    initial_attempt: float | None = None
    # plugins that rejected the pod last time: only events they care about re-queue it
    unschedulable_plugins: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return pod_queue_key(self.pod)


@dataclass
class _Entry:
    info: QueuedPodInfo
    where: str
    since: float  # when it entered its current place
    seq: int = 0
    backoff_expiry: float = 0.0
    heap_keys: tuple[Any, ...] = field(default=())


class SchedulingQueue:
    """activeQ, backoffQ and the unschedulable pods; see the module docstring."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic,
                 initial_backoff: float = DEFAULT_INITIAL_BACKOFF, max_backoff: float = DEFAULT_MAX_BACKOFF,
                 max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE) -> None:
        if not 0 < initial_backoff <= max_backoff:
            raise ValueError(f"back-off must satisfy 0 < initial ({initial_backoff}) <= max ({max_backoff})")
        self._now = now
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._entries: dict[str, _Entry] = {}
        # the unschedulable entries again, so that cluster events do not walk the whole queue
        self._parked: dict[str, _Entry] = {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self._move_request_cycle = -1
        self._in_flight: set[str] = set()

    # ---- inspection -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def where(self, key: str) -> str | None:
        """"active", "backoff", "unschedulable", or None when the pod is not queued."""
        entry = self._entries.get(key)
        return entry.where if entry is not None else None

    def pending(self) -> dict[str, list[str]]:
        """Keys per place (for tests and debugging), activeQ in pop order."""
        out: dict[str, list[str]] = {ACTIVE: [], BACKOFF: [], UNSCHEDULABLE: []}
        for key, entry in self._entries.items():
            out[entry.where].append(key)
        out[ACTIVE].sort(key=lambda k: self._entries[k].heap_keys)
        return out

    # ---- informer events ---------------------------------------------------------------------------

    def add(self, pod: JSON) -> None:
        """A new pending pod: straight to activeQ."""
        key = pod_queue_key(pod)
        entry = self._entries.get(key)
        if entry is not None:
            entry.info.pod = pod
            return
        if key in self._in_flight:
            return  # being scheduled; the outcome decides where it goes
        self._push_active(QueuedPodInfo(pod=pod, timestamp=self._now()))

    def update(self, old: JSON, new: JSON) -> None:
        """The pod changed. In activeQ/backoffQ it is updated in place; an unschedulable pod whose
        spec or labels changed may fit now, so it is moved (upstream isPodUpdated)."""
        key = pod_queue_key(new)
        entry = self._entries.get(key)
        if entry is None:
            if key not in self._in_flight:
                self.add(new)
            return
        entry.info.pod = new
        if entry.where == UNSCHEDULABLE and _scheduling_relevant(old) != _scheduling_relevant(new):
            self._move(entry)

    def delete(self, pod: JSON) -> None:
        key = pod_queue_key(pod)
        self._entries.pop(key, None)  # heap entries die lazily
        self._parked.pop(key, None)

    # ---- the scheduling loop's side ---------------------------------------------------------------

    def pop_nowait(self) -> QueuedPodInfo | None:
        """The next pod of activeQ (after promoting expired back-offs), or None when it is empty."""
        self.flush()
        while self._active:
            *_, seq, key = heapq.heappop(self._active)
            entry = self._entries.get(key)
            if entry is None or entry.where != ACTIVE or entry.seq != seq:
                continue
            del self._entries[key]
            self.scheduling_cycle += 1
            entry.info.attempts += 1
            if entry.info.initial_attempt is None:
                entry.info.initial_attempt = self._now()
            self._in_flight.add(key)
            return entry.info
        return None

    async def pop(self) -> QueuedPodInfo | None:
        """Wait for the next pod; None once the queue is closed."""
        while not self._closed:
            info = self.pop_nowait()
            if info is not None:
                return info
            self._wake.clear()
            timeout = self._next_deadline()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
        return None

    def done(self, key: str) -> None:
        """The cycle for ``key`` is over (bound, or put back by one of the add_* calls)."""
        self._in_flight.discard(key)

    def add_unschedulable(self, info: QueuedPodInfo, *, cycle: int, plugins: Iterable[str] = ()) -> None:
        """A pod no node fits: parked until an event may help, or to backoffQ when such an event
        already came during its cycle."""
        key = info.key
        self._in_flight.discard(key)
        if key in self._entries:
            return
        info.unschedulable_plugins = frozenset(plugins)
        if self._move_request_cycle >= cycle:
            self._push_backoff(info)
        else:
            entry = _Entry(info=info, where=UNSCHEDULABLE, since=self._now())
            self._entries[key] = self._parked[key] = entry

    def add_backoff(self, info: QueuedPodInfo) -> None:
        """A pod whose cycle failed for a reason of ours (an error): retry after its back-off."""
        self._in_flight.discard(info.key)
        if info.key not in self._entries:
            self._push_backoff(info)

    def move_all_to_active_or_backoff(self, event: str, *, interested: Callable[[frozenset[str]], bool] | None = None,
                                      exclude: str | None = None) -> int:
        """A cluster event: move the unschedulable pods it may help; returns how many moved.
        ``interested(plugins)`` says whether the event matters to a pod rejected by ``plugins``;
        a pod rejected by no named plugin is always moved. ``exclude``: the key of a pod the event is
        about, which it cannot help (an assumed pod forgotten after its binding cycle failed)."""
        moved = 0
        for key, entry in list(self._parked.items()):
            if key == exclude:
                continue
            plugins = entry.info.unschedulable_plugins
            if interested is None or not plugins or interested(plugins):
                self._move(entry)
                moved += 1
        self._move_request_cycle = self.scheduling_cycle
        return moved

    def flush(self) -> None:
        """Promote expired back-offs to activeQ; retry pods parked longer than max_unschedulable."""
        now = self._now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            entry = self._entries.get(key)
            if entry is None or entry.where != BACKOFF or entry.seq != seq:
                continue
            self._push_active(entry.info)
        # entries are parked in time order, so the first one is the oldest
        while self._parked:
            oldest = next(iter(self._parked.values()))
            if now - oldest.since <= self.max_unschedulable:
                break
            self._move(oldest)

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    # ---- internals ---------------------------------------------------------------------------------

    def backoff_duration(self, info: QueuedPodInfo) -> float:
        """initial * 2^(attempts-1), capped at max (upstream calculateBackoffDuration)."""
        duration = self.initial_backoff
        for _ in range(1, info.attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return duration

    def _push_active(self, info: QueuedPodInfo) -> None:
        seq = next(self._seq)
        keys = (-pod_priority(info.pod), info.timestamp, seq)
        self._entries[info.key] = _Entry(info=info, where=ACTIVE, since=self._now(), seq=seq, heap_keys=keys)
        heapq.heappush(self._active, (*keys, info.key))
        self._wake.set()

    def _push_backoff(self, info: QueuedPodInfo) -> None:
        self._push_backoff_until(info, self._now() + self.backoff_duration(info))

    def _move(self, entry: _Entry) -> None:
        """Out of the unschedulable pods: to backoffQ while its back-off lasts, else to activeQ."""
        info = entry.info
        del self._entries[info.key]
        self._parked.pop(info.key, None)
        # upstream isPodBackingoff: the back-off counts from when the pod last failed (was parked)
        expiry = entry.since + self.backoff_duration(info)
        if info.attempts and self._now() < expiry:
            self._push_backoff_until(info, expiry)
        else:
            self._push_active(info)

    def _push_backoff_until(self, info: QueuedPodInfo, expiry: float) -> None:
        seq = next(self._seq)
        self._entries[info.key] = _Entry(info=info, where=BACKOFF, since=self._now(), seq=seq,
                                         backoff_expiry=expiry)
        heapq.heappush(self._backoff, (expiry, seq, info.key))
        self._wake.set()

    def _next_deadline(self) -> float | None:
        now = self._now()
        deadlines = [next(iter(self._parked.values())).since + self.max_unschedulable - now] if self._parked else []
        if self._backoff:
            deadlines.append(self._backoff[0][0] - now)
        if not deadlines:
            return None
        return max(0.01, min(deadlines))


def _scheduling_relevant(pod: JSON) -> tuple[Any, ...]:
    """What of a pod the scheduler reads: a change elsewhere (status, resourceVersion, managedFields)
    cannot make it fit."""
    meta = pod.get("metadata") or {}
    return (meta.get("labels"), meta.get("annotations"), pod.get("spec"))
