"""kubelite.gc_tuning: the young threshold is raised once, and the heap frozen when the caches are
loaded and each time they doubled."""

from __future__ import annotations

import gc

import pytest

from kubelite import gc_tuning
from kubelite.gc_tuning import YOUNG_THRESHOLD, CacheGcFreezer


def test_freezes_at_start_and_each_time_the_cached_objects_doubled(monkeypatch: pytest.MonkeyPatch) -> None:
    freezes: list[int] = []
    thresholds: list[tuple[int, ...]] = []
    cached = 0
    monkeypatch.setattr(gc_tuning.gc, "freeze", lambda: freezes.append(cached))
    monkeypatch.setattr(gc_tuning.gc, "set_threshold", lambda *t: thresholds.append(t))
    freezer = CacheGcFreezer(min_objects=100)
    cached = 10
    freezer.start(cached)
    assert freezes == [10]
    assert thresholds == [(YOUNG_THRESHOLD, *gc.get_threshold()[1:])]
    cached = 199
    assert not freezer.maybe_freeze(cached), "under twice the floor of 100"
    cached = 200
    assert freezer.maybe_freeze(cached)
    cached = 399
    assert not freezer.maybe_freeze(cached)
    cached = 400
    assert freezer.maybe_freeze(cached)
    assert freezes == [10, 200, 400]
    assert freezer.freezes == 3


def test_a_real_freeze_moves_the_live_objects_out_of_the_collected_generations() -> None:
    cache = [{"metadata": {"name": f"o-{i}"}} for i in range(1000)]
    before = gc.get_freeze_count()
    try:
        CacheGcFreezer()._freeze(len(cache))  # the freeze alone, without the threshold
        assert gc.get_freeze_count() >= before + len(cache)
    finally:
        gc.unfreeze()
