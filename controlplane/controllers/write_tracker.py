"""Writes a controller made that its informer cache has not shown yet (upstream's EndpointSliceTracker and
the generation checks of ``staleness``, in one small form).

A controller that reconciles from a cache must not act on a cache older than its own last writes: it
would create the same object twice or undo an update. After each write the controller records the
object's new resourceVersion (or its deletion) under the work item's key; ``wait_for`` says how long to
wait before reconciling that key again while the cache still lags, and forgets a key once the cache
caught up (or after ``give_up`` seconds, in case an event was lost and a relist will repair it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from kubelite.client import Store

Obj = dict[str, Any]

RETRY_SECONDS: Final = 0.1
GIVE_UP_SECONDS: Final = 10.0


def _version(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


class WriteTracker:
    def __init__(self, *, give_up: float = GIVE_UP_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        # key -> (since, {object key in the store: resourceVersion written, or -1 for deleted})
        self._pending: dict[str, tuple[float, dict[str, int]]] = {}
        self._give_up = give_up
        self._clock = clock

    def _entry(self, key: str) -> dict[str, int]:
        if key not in self._pending:
            self._pending[key] = (self._clock(), {})
        return self._pending[key][1]

    def wrote(self, key: str, obj: Obj | None) -> None:
        if obj is None:
            return
        md = obj["metadata"]
        store_key = f"{md['namespace']}/{md['name']}" if md.get("namespace") else str(md["name"])
        self._entry(key)[store_key] = _version(obj)

    def deleted(self, key: str, obj: Obj) -> None:
        md = obj["metadata"]
        store_key = f"{md['namespace']}/{md['name']}" if md.get("namespace") else str(md["name"])
        self._entry(key)[store_key] = -1

    def wait_for(self, key: str, store: Store) -> float | None:
        """Seconds to wait before reconciling ``key``, or None when the cache reflects every write."""
        entry = self._pending.get(key)
        if entry is None:
            return None
        since, writes = entry
        lagging = False
        for store_key, version in writes.items():
            cached = store.get(store_key)
            if (version < 0 and cached is not None) or (version >= 0 and _version(cached) < version
                                                        and cached is not None) or (version >= 0 and cached is None):
                lagging = True
                break
        if not lagging or self._clock() - since > self._give_up:
            del self._pending[key]
            return None
        return RETRY_SECONDS

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)
