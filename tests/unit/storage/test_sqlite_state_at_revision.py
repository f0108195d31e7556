"""The pure parts of the SQLite store: undoing later changes to list a past revision, and log rows
as watch events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.controlplane.storage.interface import EventType, KeyValue, WatchEvent
from kubelite.controlplane.storage.sqlite import event_from_log_row, state_at_revision


def kv(key: str, rev: int, value: bytes = b"v") -> KeyValue:
    return KeyValue(key, value, rev, rev)


@pytest.mark.parametrize(
    ("current", "changes", "limit", "keys", "more"),
    [
        pytest.param([kv("/a", 2), kv("/b", 3)], {}, 0, ["/a", "/b"], False, id="no-changes"),
        pytest.param([kv("/a", 2), kv("/c", 9)], {"/c": None}, 0, ["/a"], False, id="created-later-removed"),
        pytest.param([kv("/a", 2)], {"/b": kv("/b", 3)}, 0, ["/a", "/b"], False, id="deleted-later-restored"),
        pytest.param([kv("/a", 2), kv("/b", 3), kv("/c", 4)], {"/a": None}, 1, ["/b"], True, id="limit-after-undo"),
        pytest.param([kv("/b", 3)], {"/a": kv("/a", 1)}, 1, ["/a"], True, id="restored-key-sorts-first"),
    ],
)
def test_state_at_revision(current: list[KeyValue], changes: dict[str, KeyValue | None], limit: int,
                           keys: list[str], more: bool) -> None:
    items, has_more = state_at_revision(current=current, changes=changes, limit=limit)
    assert [i.key for i in items] == keys
    assert has_more is more


def test_updated_key_shows_its_old_value() -> None:
    items, _ = state_at_revision(current=[KeyValue("/a", b"new", 2, 9)], changes={"/a": KeyValue("/a", b"old", 2, 2)},
                                 limit=0)
    assert items == [KeyValue("/a", b"old", 2, 2)]


names = st.sampled_from([f"/k/{c}" for c in "abcdefghij"])


@given(
    past=st.dictionaries(names, st.integers(1, 50)),
    now=st.dictionaries(names, st.integers(51, 100)),
    limit=st.integers(0, 6),
)
def test_a_window_of_current_rows_is_enough(past: dict[str, int], now: dict[str, int], limit: int) -> None:
    """The store reads only the first ``limit + 1 + len(changes)`` current rows; that must suffice."""
    state_then = {k: kv(k, r) for k, r in past.items()}
    # Every key whose state differs between then and now was changed after "then".
    changes = {k: state_then.get(k) for k in set(past) | set(now) if past.get(k) != now.get(k)}
    current_rows = [kv(k, now[k]) for k in sorted(now)]
    window = current_rows[: limit + 1 + len(changes)] if limit else current_rows
    items, more = state_at_revision(current=window, changes=changes, limit=limit)
    expected = [state_then[k] for k in sorted(state_then)]
    if limit:
        assert items == expected[:limit]
        assert more == (len(expected) > limit)
    else:
        assert items == expected
        assert more is False


@pytest.mark.parametrize(
    ("row", "event"),
    [
        pytest.param((5, "/a", 0, b"v1", 5, 0, None),
                     WatchEvent(EventType.PUT, KeyValue("/a", b"v1", 5, 5), None), id="create"),
        pytest.param((7, "/a", 0, b"v2", 5, 5, b"v1"),
                     WatchEvent(EventType.PUT, KeyValue("/a", b"v2", 5, 7), KeyValue("/a", b"v1", 5, 5)), id="update"),
        pytest.param((9, "/a", 1, None, 5, 7, b"v2"),
                     WatchEvent(EventType.DELETE, KeyValue("/a", b"v2", 5, 9), KeyValue("/a", b"v2", 5, 7)),
                     id="delete-carries-last-value"),
    ],
)
def test_event_from_log_row(row: tuple[int, str, int, bytes | None, int, int, bytes | None],
                            event: WatchEvent) -> None:
    assert event_from_log_row(*row) == event
    assert event.created == (row[2] == 0 and row[5] == 0)
