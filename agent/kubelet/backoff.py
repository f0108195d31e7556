"""Per-key exponential back-off for container restarts and image pulls (client-go flowcontrol.Backoff).

Design: an entry per key (pod UID + container name, or pod UID + image) holds the current delay.
`in_backoff_since(key, t)` says whether an event at ``t`` (a container's finish time, a failed pull)
is still inside the delay; `next(key)` is called when the kubelet acts anyway and doubles the delay
(from ``base`` up to ``cap``). An entry idle for twice the cap starts over, as upstream does, so a
container that ran fine for ten minutes restarts at once after its next crash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, *, base: float, cap: float, clock: Callable[[], float] = time.time) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"back-off needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def next(self, key: str) -> float:
        """Record one more attempt for ``key``; returns the delay that now applies."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry is None or now - entry.last_update > 2 * self.cap:
            entry = self._entries[key] = _Entry(self.base, now)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last_update = now
        return entry.delay

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        entry = self._entries.get(key)
        if entry is None:
            return False
        now = self.clock()
        if now - entry.last_update > 2 * self.cap:
            return False
        return now - event_time < entry.delay

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until ``event_time + delay`` (0 when not in back-off)."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, event_time + entry.delay - self.clock())

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
