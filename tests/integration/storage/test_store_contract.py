"""The storage contract: every test here runs against SQLite and against a real etcd (``backend``).

Revisions are global per store and the etcd is shared by the session, so tests only compare
revisions with each other, never with absolute numbers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Protocol

import pytest

from kubelite.controlplane.storage import (
    MAX_VALUE_BYTES,
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageUnavailable,
    Store,
    ValueTooLargeError,
    WatchEvent,
)
from kubelite.controlplane.storage.compaction import CompactionPolicy

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

class Backend(Protocol):
    """The conftest ``backend`` fixture: opens (and later closes) stores over the same data."""

    name: str

    async def open(self, **options: object) -> Store: ...


async def take(watch: AsyncGenerator[WatchEvent, None], n: int, *, timeout: float = 10.0) -> list[WatchEvent]:
    """The next ``n`` events of ``watch``, failing the test if they do not come in time."""
    out: list[WatchEvent] = []

    async def run() -> None:
        while len(out) < n:
            out.append(await anext(watch))

    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        pytest.fail(f"expected {n} watch events within {timeout} s, got {len(out)} (revisions "
                    f"{[e.revision for e in out][-20:]} at the end)")
    return out


async def nothing_more(watch: AsyncGenerator[WatchEvent, None], *, wait: float = 0.3) -> None:
    try:
        event = await asyncio.wait_for(anext(watch), wait)
    except TimeoutError:
        return
    pytest.fail(f"unexpected watch event {event}")


# --- create / get / update / delete -----------------------------------------------------------------


async def test_create_then_get_returns_the_stored_revisions(store: Store) -> None:
    before = await store.current_revision()
    kv = await store.create("/pods/default/a", b"v1")
    assert kv == KeyValue("/pods/default/a", b"v1", kv.mod_revision, kv.mod_revision)
    assert kv.mod_revision > before
    assert await store.get("/pods/default/a") == kv
    assert await store.get("/pods/default/missing") is None
    assert await store.current_revision() >= kv.mod_revision


async def test_create_of_existing_key_fails_and_changes_nothing(store: Store) -> None:
    kv = await store.create("/k/a", b"v1")
    with pytest.raises(KeyExistsError) as err:
        await store.create("/k/a", b"v2")
    assert err.value.key == "/k/a"
    assert "/k/a" in str(err.value)
    assert await store.get("/k/a") == kv


async def test_update_at_current_revision_keeps_create_revision(store: Store) -> None:
    created = await store.create("/k/a", b"v1")
    updated = await store.update("/k/a", b"v2", expected_revision=created.mod_revision)
    assert updated.value == b"v2"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision
    assert await store.get("/k/a") == updated


@pytest.mark.parametrize(
    ("setup", "key", "expected_error"),
    [
        pytest.param("stale", "/k/a", ConflictError, id="stale-revision-conflicts"),
        pytest.param("none", "/k/missing", KeyNotFoundError, id="missing-key-not-found"),
        pytest.param("deleted", "/k/a", KeyNotFoundError, id="deleted-key-not-found"),
    ],
)
async def test_update_precondition_failures(store: Store, setup: str, key: str,
                                            expected_error: type[Exception]) -> None:
    first = await store.create("/k/a", b"v1")
    second = await store.update("/k/a", b"v2", expected_revision=first.mod_revision)
    if setup == "deleted":
        await store.delete("/k/a")
    with pytest.raises(expected_error) as err:
        await store.update(key, b"v3", expected_revision=first.mod_revision)
    if isinstance(err.value, ConflictError):
        assert (err.value.expected_revision, err.value.actual_revision) == (first.mod_revision, second.mod_revision)
        assert await store.get("/k/a") == second


async def test_delete_returns_last_state_at_the_deletion_revision(store: Store) -> None:
    created = await store.create("/k/a", b"v1")
    updated = await store.update("/k/a", b"v2", expected_revision=created.mod_revision)
    deleted = await store.delete("/k/a", expected_revision=updated.mod_revision)
    assert deleted.key == "/k/a"
    assert deleted.value == b"v2"
    assert deleted.create_revision == created.create_revision
    assert deleted.mod_revision > updated.mod_revision
    assert await store.get("/k/a") is None
    # A new key under the same name is a new generation.
    again = await store.create("/k/a", b"v3")
    assert again.create_revision == again.mod_revision > deleted.mod_revision


@pytest.mark.parametrize(
    ("key", "expected", "error"),
    [
        pytest.param("/k/missing", None, KeyNotFoundError, id="unconditional-missing"),
        pytest.param("/k/missing", 5, KeyNotFoundError, id="conditional-missing"),
        pytest.param("/k/a", "stale", ConflictError, id="stale-revision"),
    ],
)
async def test_delete_precondition_failures(store: Store, key: str, expected: int | str | None,
                                            error: type[Exception]) -> None:
    first = await store.create("/k/a", b"v1")
    second = await store.update("/k/a", b"v2", expected_revision=first.mod_revision)
    revision = first.mod_revision if expected == "stale" else expected
    assert revision is None or isinstance(revision, int)
    with pytest.raises(error):
        await store.delete(key, expected_revision=revision)
    assert await store.get("/k/a") == second


async def test_revisions_strictly_increase_across_keys_and_operations(store: Store) -> None:
    revs = [(await store.create(f"/k/{i}", b"x")).mod_revision for i in range(3)]
    revs.append((await store.update("/k/0", b"y", expected_revision=revs[0])).mod_revision)
    revs.append((await store.delete("/k/1")).mod_revision)
    assert revs == sorted(revs)
    assert len(set(revs)) == len(revs)


async def test_concurrent_updates_with_the_same_precondition_let_exactly_one_win(store: Store) -> None:
    base = await store.create("/k/contended", b"0")
    others = [store.create(f"/k/other-{i}", b"x") for i in range(30)]
    racers = [store.update("/k/contended", str(i).encode(), expected_revision=base.mod_revision)
              for i in range(30)]
    results = await asyncio.gather(*racers, *others, return_exceptions=True)
    race = results[:30]
    winners = [r for r in race if isinstance(r, KeyValue)]
    assert len(winners) == 1, race
    assert all(isinstance(r, ConflictError) for r in race if not isinstance(r, KeyValue))
    # Independent writes queued together are unaffected by their neighbours' failed preconditions.
    assert all(isinstance(r, KeyValue) for r in results[30:])
    assert await store.get("/k/contended") == winners[0]
    assert await store.count("/k/other-") == 30


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.create("no-slash", b""), id="key-without-slash"),
        pytest.param(lambda s: s.create("/", b""), id="root-key"),
        pytest.param(lambda s: s.create("/a\x00b", b""), id="nul-in-key"),
        pytest.param(lambda s: s.create("/a", "text"), id="str-value"),
        pytest.param(lambda s: s.create("/a", b"", ttl_seconds=0), id="zero-ttl"),
        pytest.param(lambda s: s.update("/a", b"", expected_revision=0), id="update-revision-0"),
        pytest.param(lambda s: s.delete("/a", expected_revision=-1), id="delete-negative-revision"),
        pytest.param(lambda s: s.list("pods"), id="prefix-without-slash"),
        pytest.param(lambda s: s.list("/", limit=-1), id="negative-limit"),
        pytest.param(lambda s: s.list("/", revision=-5), id="negative-revision"),
        pytest.param(lambda s: s.list("/", start_key="x"), id="bad-start-key"),
        pytest.param(lambda s: s.compact(-1), id="negative-compaction"),
        pytest.param(lambda s: anext(s.watch("/", after_revision=-1)), id="negative-watch-revision"),
    ],
)
async def test_malformed_arguments_raise_value_error(store: Store,
                                                     call: Callable[[Store], Awaitable[object]]) -> None:
    before = await store.current_revision()
    with pytest.raises(ValueError):
        await call(store)
    assert await store.current_revision() == before


async def test_value_over_the_size_limit_is_refused(store: Store) -> None:
    with pytest.raises(ValueTooLargeError) as err:
        await store.create("/k/big", b"x" * (MAX_VALUE_BYTES + 1))
    assert err.value.limit == MAX_VALUE_BYTES
    kv = await store.create("/k/big", b"x" * MAX_VALUE_BYTES)  # the limit itself is fine
    assert (await store.get("/k/big")) == kv


# --- list / count -----------------------------------------------------------------------------------


async def test_list_returns_keys_under_the_prefix_in_key_order(store: Store) -> None:
    names = ["/pods/ns/b", "/pods/ns/a", "/pods/ns/c/d", "/pods/ns2/a", "/podsx/a", "/pod/a", "/pods/ns/\u00e9"]
    random.Random(7).shuffle(names)
    for name in names:
        await store.create(name, name.encode())
    result = await store.list("/pods/ns/")
    assert [kv.key for kv in result.items] == ["/pods/ns/a", "/pods/ns/b", "/pods/ns/c/d", "/pods/ns/\u00e9"]
    assert all(kv.value == kv.key.encode() for kv in result.items)
    assert result.more is False
    assert result.revision == await store.current_revision()
    assert [kv.key for kv in (await store.list("/pods/")).items] == sorted(n for n in names if n.startswith("/pods/"))
    assert len((await store.list("/")).items) == len(names)
    assert await store.count("/pods/") == 5
    assert await store.count("/pods/ns/") == 4
    assert await store.count("/nothing/") == 0
    assert (await store.list("/nothing/")).items == []


@pytest.mark.parametrize(
    ("start_key", "limit", "keys", "more"),
    [
        pytest.param(None, 0, ["/p/a", "/p/b", "/p/c", "/p/d"], False, id="all"),
        pytest.param(None, 2, ["/p/a", "/p/b"], True, id="first-page"),
        pytest.param(None, 4, ["/p/a", "/p/b", "/p/c", "/p/d"], False, id="limit-equals-size"),
        pytest.param("/p/b", 2, ["/p/b", "/p/c"], True, id="start-key-inclusive"),
        pytest.param("/p/b\x00", 2, ["/p/c", "/p/d"], False, id="start-after-key"),
        pytest.param("/p/bb", 0, ["/p/c", "/p/d"], False, id="start-between-keys"),
        pytest.param("/a", 1, ["/p/a"], True, id="start-before-prefix"),
        pytest.param("/q", 0, [], False, id="start-after-prefix"),
    ],
)
async def test_list_start_key_and_limit(store: Store, start_key: str | None, limit: int, keys: list[str],
                                        more: bool) -> None:
    for name in ["/p/d", "/p/b", "/p/a", "/p/c", "/q/a"]:
        await store.create(name, b"")
    result = await store.list("/p/", start_key=start_key, limit=limit)
    assert [kv.key for kv in result.items] == keys
    assert result.more is more


async def test_paginated_list_at_a_revision_is_consistent_despite_concurrent_changes(store: Store) -> None:
    for name in ["/p/a", "/p/b", "/p/c", "/p/d", "/p/e"]:
        await store.create(name, b"old")
    first = await store.list("/p/", limit=2)
    assert [kv.key for kv in first.items] == ["/p/a", "/p/b"]
    # Change the rest of the range before reading page two.
    c = await store.get("/p/c")
    assert c is not None
    await store.update("/p/c", b"new", expected_revision=c.mod_revision)
    await store.delete("/p/d")
    await store.create("/p/bb", b"new")
    pages = [first]
    while pages[-1].more:
        nxt = await store.list("/p/", start_key=pages[-1].items[-1].key + "\x00", limit=2,
                               revision=first.revision)
        assert nxt.revision == first.revision
        pages.append(nxt)
    seen = [(kv.key, kv.value) for page in pages for kv in page.items]
    assert seen == [("/p/a", b"old"), ("/p/b", b"old"), ("/p/c", b"old"), ("/p/d", b"old"), ("/p/e", b"old")]
    now = await store.list("/p/")
    assert [(kv.key, kv.value) for kv in now.items] == [
        ("/p/a", b"old"), ("/p/b", b"old"), ("/p/bb", b"new"), ("/p/c", b"new"), ("/p/e", b"old")]


async def test_list_at_every_past_revision_matches_the_history(store: Store) -> None:
    """A seeded random history; the state after each write must be listable at its revision."""
    rng = random.Random(1234)
    live: dict[str, KeyValue] = {}
    history: list[tuple[int, dict[str, KeyValue]]] = []
    for i in range(60):
        key = f"/h/{rng.randrange(12):02d}"
        if key in live and rng.random() < 0.3:
            kv = await store.delete(key)
            del live[key]
        elif key in live:
            kv = await store.update(key, f"v{i}".encode(), expected_revision=live[key].mod_revision)
            live[key] = kv
        else:
            kv = await store.create(key, f"v{i}".encode())
            live[key] = kv
        history.append((kv.mod_revision, dict(live)))
    for revision, state in history:
        expected = [state[k] for k in sorted(state)]
        assert (await store.list("/h/", revision=revision)).items == expected
        # The same state, page by page.
        paged: list[KeyValue] = []
        start: str | None = None
        while True:
            page = await store.list("/h/", start_key=start, limit=3, revision=revision)
            paged.extend(page.items)
            if not page.more:
                break
            start = page.items[-1].key + "\x00"
        assert paged == expected, f"paged list at revision {revision}"


async def test_list_at_a_future_revision_is_refused(store: Store) -> None:
    current = await store.current_revision()
    with pytest.raises(FutureRevisionError) as err:
        await store.list("/", revision=current + 1000)
    assert err.value.requested == current + 1000
    assert err.value.current >= current


# --- watch ------------------------------------------------------------------------------------------


async def test_watch_replays_history_then_continues_live(store: Store) -> None:
    start = await store.current_revision()
    a = await store.create("/w/a", b"1")
    a2 = await store.update("/w/a", b"2", expected_revision=a.mod_revision)
    watch = store.watch("/w/", after_revision=start)
    try:
        replayed = await take(watch, 2)
        assert [(e.type, e.kv) for e in replayed] == [(EventType.PUT, a), (EventType.PUT, a2)]
        assert replayed[0].created and replayed[0].prev_kv is None
        assert not replayed[1].created and replayed[1].prev_kv == a
        b = await store.create("/w/b", b"3")
        gone = await store.delete("/w/a")
        live = await take(watch, 2)
        assert [(e.type, e.kv) for e in live] == [(EventType.PUT, b), (EventType.DELETE, gone)]
        assert live[1].prev_kv == a2
        assert live[1].kv == KeyValue("/w/a", b"2", a.create_revision, gone.mod_revision)
        assert not live[1].created
    finally:
        await watch.aclose()


@pytest.mark.parametrize(
    ("after", "expected_values"),
    [
        pytest.param("before-first", [b"1", b"2", b"3", b"4"], id="before-all"),
        pytest.param("first", [b"2", b"3", b"4"], id="after-first-excludes-it"),
        pytest.param("last", [b"4"], id="after-last-only-new"),
        pytest.param("future", [], id="future-revision-waits"),
    ],
)
async def test_watch_reports_changes_strictly_after_the_revision(store: Store, after: str,
                                                                 expected_values: list[bytes]) -> None:
    before = await store.current_revision()
    revs = [(await store.create(f"/w/{i}", str(i + 1).encode())).mod_revision for i in range(3)]
    after_revision = {"before-first": before, "first": revs[0], "last": revs[-1], "future": revs[-1] + 100}[after]
    watch = store.watch("/w/", after_revision=after_revision)
    try:
        if after == "last":
            await asyncio.sleep(0.1)  # the watch has not started yet; it must still not miss this
        await store.create("/w/3", b"4")
        got = await take(watch, len(expected_values))
        assert [e.kv.value for e in got] == expected_values
        assert all(e.revision > after_revision for e in got)
        await nothing_more(watch)
    finally:
        await watch.aclose()


async def test_watch_sees_only_its_prefix(store: Store) -> None:
    start = await store.current_revision()
    for name in ["/w/a", "/wx/a", "/w", "/v/a", "/w/b/c"]:
        await store.create(name, b"")
    watch = store.watch("/w/", after_revision=start)
    try:
        got = await take(watch, 2)
        assert [e.kv.key for e in got] == ["/w/a", "/w/b/c"]
        await nothing_more(watch)
    finally:
        await watch.aclose()


async def test_watch_during_many_concurrent_writers_has_no_gap_and_no_duplicate(store: Store) -> None:
    start = await store.current_revision()
    early = store.watch("/m/", after_revision=start)
    await store.create("/m/seed", b"")  # make sure `early` is live before the storm
    seed_events = await take(early, 1)

    async def writer(w: int) -> list[int]:
        revs = []
        kv = await store.create(f"/m/{w}", b"0")
        revs.append(kv.mod_revision)
        for i in range(1, 10):
            kv = await store.update(f"/m/{w}", str(i).encode(), expected_revision=kv.mod_revision)
            revs.append(kv.mod_revision)
        revs.append((await store.delete(f"/m/{w}")).mod_revision)
        return revs

    writers = [asyncio.create_task(writer(w)) for w in range(20)]
    await asyncio.sleep(0.01)
    # A watch started mid-storm from the beginning: replay from history, then hand over to live.
    late = store.watch("/m/", after_revision=start)
    try:
        written = sorted(r for revs in await asyncio.gather(*writers) for r in revs)
        got_early = await take(early, len(written))
        assert [e.revision for e in got_early] == written
        got_late = await take(late, 1 + len(written))
        assert [e.revision for e in got_late] == [seed_events[0].revision, *written]
        await nothing_more(early, wait=0.2)
        await nothing_more(late, wait=0.2)
    finally:
        await early.aclose()
        await late.aclose()


async def test_watch_ends_cleanly_when_the_store_closes(backend: Backend) -> None:
    store = await backend.open()
    watch = store.watch("/", after_revision=await store.current_revision())
    received: list[WatchEvent] = []

    async def consume() -> None:
        async for event in watch:
            received.append(event)

    task = asyncio.create_task(consume())
    await store.create("/c/a", b"")
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    await store.close()
    await asyncio.wait_for(task, 10)  # ended without an exception
    assert [e.kv.key for e in received] == ["/c/a"]
    with pytest.raises(StorageUnavailable):
        await store.get("/c/a")
    with pytest.raises(StorageUnavailable):
        await store.create("/c/b", b"")


# --- TTL --------------------------------------------------------------------------------------------


async def test_ttl_key_expires_with_a_delete_event_and_rewrite_without_ttl_keeps_it(store: Store) -> None:
    start = await store.current_revision()
    short = await store.create("/t/short", b"s", ttl_seconds=1)
    kept = await store.create("/t/kept", b"k", ttl_seconds=1)
    kept = await store.update("/t/kept", b"k2", expected_revision=kept.mod_revision)  # no TTL any more
    long = await store.create("/t/long", b"l", ttl_seconds=3600)
    watch = store.watch("/t/", after_revision=long.mod_revision)
    try:
        expired = (await take(watch, 1, timeout=15))[0]
        assert expired.type is EventType.DELETE
        assert expired.kv.key == "/t/short"
        assert expired.prev_kv == short
        assert expired.kv.mod_revision > start
        assert await store.get("/t/short") is None
        await nothing_more(watch, wait=1.0)  # /t/kept's old expiry has passed by now too
        assert await store.get("/t/kept") == kept
        assert await store.get("/t/long") == long
    finally:
        await watch.aclose()


# --- compaction -------------------------------------------------------------------------------------


async def test_compaction_drops_old_history_but_keeps_the_compaction_revision(store: Store) -> None:
    revs = [(await store.create(f"/c/{i}", b"")).mod_revision for i in range(5)]
    target = revs[2]
    await store.compact(target)
    with pytest.raises(CompactedError) as err:
        await store.list("/c/", revision=target - 1)
    assert (err.value.requested, err.value.compacted) == (target - 1, target)
    assert [kv.key for kv in (await store.list("/c/", revision=target)).items] == ["/c/0", "/c/1", "/c/2"]
    watch = store.watch("/c/", after_revision=target - 2)
    with pytest.raises(CompactedError) as err:
        await take(watch, 1)
    assert err.value.compacted == target
    # Resuming right after the compaction revision - 1 still sees the change made at it.
    watch = store.watch("/c/", after_revision=target - 1)
    try:
        got = await take(watch, 3)
        assert [e.revision for e in got] == revs[2:]
    finally:
        await watch.aclose()
    # Current state is untouched; compacting again (or older) is a no-op.
    assert await store.count("/c/") == 5
    await store.compact(target)
    await store.compact(revs[0])
    with pytest.raises(FutureRevisionError):
        await store.compact(revs[-1] + 1000)


async def test_periodic_compaction_keeps_the_last_revisions(backend: Backend) -> None:
    policy = CompactionPolicy(interval_seconds=0.1, retain_revisions=3, retain_seconds=None)
    store = await backend.open(compaction=policy)
    revs = [(await store.create(f"/pc/{i}", b"")).mod_revision for i in range(8)]
    for _ in range(100):
        try:
            await store.list("/pc/", revision=revs[0])
        except CompactedError as exc:
            assert exc.compacted >= revs[-1] - 3
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the periodic compactor did not compact within 5 s")
    assert len((await store.list("/pc/", revision=revs[-1] - 3)).items) == 5


# --- restart ----------------------------------------------------------------------------------------


async def test_data_and_history_survive_a_restart(backend: Backend) -> None:
    store = await backend.open()
    start = await store.current_revision()
    a = await store.create("/r/a", b"1")
    a2 = await store.update("/r/a", b"2", expected_revision=a.mod_revision)
    b = await store.create("/r/b", b"3")
    gone = await store.delete("/r/b")
    last = await store.current_revision()
    await store.close()

    reopened = await backend.open()
    assert await reopened.get("/r/a") == a2
    assert await reopened.get("/r/b") is None
    assert await reopened.current_revision() >= last
    assert (await reopened.list("/r/", revision=b.mod_revision)).items == [a2, b]
    watch = reopened.watch("/r/", after_revision=start)
    try:
        assert [e.revision for e in await take(watch, 4)] == [a.mod_revision, a2.mod_revision, b.mod_revision,
                                                               gone.mod_revision]
    finally:
        await watch.aclose()
    nxt = await reopened.create("/r/c", b"")
    assert nxt.mod_revision > last
