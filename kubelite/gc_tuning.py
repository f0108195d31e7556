"""Cyclic-GC tuning for processes that hold large, long-lived caches of API objects.

The API server's watch cache and the scheduler's informers hold every object as acyclic JSON (dicts,
lists, strings). CPython's cyclic collector would walk all of them again at each full collection, and
its default young threshold (700 allocations) promotes the short-lived objects of requests in flight,
which brings the next full collection sooner. Measured here: a fifth of the API server's CPU under a
create/bind storm, a quarter of the scheduler's. So such a process:

- collects young objects every ``YOUNG_THRESHOLD`` allocations instead of 700 (a request's objects
  mostly die by reference count before the collector looks at them);
- exempts what is alive once its caches are loaded from the collector (``gc.freeze``), and again each
  time the cached objects doubled, so freezes stay few (log2 of the growth).

Frozen objects are still freed by reference counting; only a frozen object that later became part of
a garbage *cycle* would stay (cached API objects never form cycles).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # CPython's default is 700
MIN_OBJECTS = 1000  # freeze again at 2000 cached objects, 4000, ...


class CacheGcFreezer:
    """Freezes the heap when the count of cached objects first seen and each time it doubled."""

    def __init__(self, *, min_objects: int = MIN_OBJECTS) -> None:
        self.min_objects = min_objects
        self.frozen_at = 0  # cached objects at the last freeze
        self.freezes = 0

    def start(self, cached: int) -> None:
        """The caches are loaded: raise the young threshold and freeze what is alive."""
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        self._freeze(cached)

    def maybe_freeze(self, cached: int) -> bool:
        """Freeze again if the caches doubled since the last freeze; whether it did."""
        if cached < 2 * self.frozen_at:
            return False
        self._freeze(cached)
        return True

    def _freeze(self, cached: int) -> None:
        gc.freeze()
        self.freezes += 1
        self.frozen_at = max(self.min_objects, cached)
