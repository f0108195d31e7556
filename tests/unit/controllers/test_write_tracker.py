"""WriteTracker: a reconcile waits while the cache is older than the controller's own writes."""

from __future__ import annotations

from kubelite.client import Store
from kubelite.controlplane.controllers.write_tracker import WriteTracker


def obj(name: str, rv: int) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


def test_waits_until_the_cache_shows_the_written_version_then_forgets() -> None:
    now = [0.0]
    tracker = WriteTracker(give_up=10, clock=lambda: now[0])
    store = Store()
    assert tracker.wait_for("ns/a", store) is None
    store.put(obj("s1", 5))
    tracker.wrote("ns/a", obj("s1", 7))
    assert tracker.wait_for("ns/a", store) is not None  # cache still at 5
    store.put(obj("s1", 7))
    assert tracker.wait_for("ns/a", store) is None
    assert tracker.wait_for("ns/a", store) is None  # forgotten once caught up


def test_a_deletion_is_awaited_and_a_lost_event_does_not_block_for_ever() -> None:
    now = [0.0]
    tracker = WriteTracker(give_up=10, clock=lambda: now[0])
    store = Store()
    store.put(obj("s1", 3))
    tracker.deleted("ns/a", obj("s1", 3))
    assert tracker.wait_for("ns/a", store) is not None
    now[0] = 11.0
    assert tracker.wait_for("ns/a", store) is None
