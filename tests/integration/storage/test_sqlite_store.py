"""What only the SQLite store promises: crash durability, group commit, one process per file, private
files, a bounded change log, catch-up of slow watchers, TTLs that survive a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubelite.controlplane.storage import EventType, KeyValue, SqliteStore, StorageUnavailable

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

WRITER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from kubelite.controlplane.storage import SqliteStore

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    await store.start()
    n = 0
    async def one(i: int) -> None:
        kv = await store.create(f"/crash/{i:06d}", b"payload")
        print(kv.key, kv.mod_revision, flush=True)
    while True:  # until killed
        await asyncio.gather(*(one(n + j) for j in range(25)))
        n += 25

asyncio.run(main())
"""


async def test_every_acknowledged_write_survives_a_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acknowledged: dict[str, int] = {}
    try:
        assert proc.stdout is not None
        while len(acknowledged) < 300:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            if not line:
                assert proc.stderr is not None
                pytest.fail(f"writer exited early: {proc.stderr.read()}")
            key, rev = line.split()
            acknowledged[key] = int(rev)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: more writes are queued and in flight
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    store = SqliteStore(path)
    await store.start()
    try:
        found = {kv.key: kv.mod_revision for kv in (await store.list("/crash/")).items}
        missing = {k: r for k, r in acknowledged.items() if found.get(k) != r}
        assert not missing, f"acknowledged writes lost or changed after kill -9: {sorted(missing)[:10]}"
        assert await store.current_revision() >= max(acknowledged.values())
    finally:
        await store.close()


async def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    try:
        before = store.stats
        results = await asyncio.gather(*(store.create(f"/g/{i:04d}", b"x") for i in range(300)))
        after = store.stats
        assert after.writes - before.writes == 300
        assert after.transactions - before.transactions < 100, after
        revs = sorted(kv.mod_revision for kv in results)
        assert revs == list(range(revs[0], revs[0] + 300))  # one revision each, no holes
    finally:
        await store.close()


async def test_a_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "state.db")
    await first.start()
    second = SqliteStore(tmp_path / "state.db")
    try:
        with pytest.raises(StorageUnavailable, match="in use by another process"):
            await second.start()
    finally:
        await first.close()
    await second.start()  # free once the first one closed
    await second.close()


async def test_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "server" / "db" / "state.db"
    store = SqliteStore(path)
    await store.start()
    try:
        await store.create("/secrets/ns/s", b"token")
        for file in (path, path.with_name("state.db-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        await store.close()


def _log_rows(path: Path) -> tuple[int | None, int]:
    conn = sqlite3.connect(path)
    try:
        oldest, count = conn.execute("SELECT MIN(rev), COUNT(*) FROM log").fetchone()
        return oldest, count
    finally:
        conn.close()


async def test_compaction_deletes_the_change_log_below_the_revision(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    await store.start()
    try:
        kv = await store.create("/l/a", b"0")
        for i in range(200):
            kv = await store.update("/l/a", str(i).encode(), expected_revision=kv.mod_revision)
        target = kv.mod_revision - 10
        await store.compact(target)
        deadline = time.monotonic() + 5
        while _log_rows(path) != (target, 11) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert _log_rows(path) == (target, 11)
        assert await store.get("/l/a") == kv
    finally:
        await store.close()


async def test_a_slow_watcher_catches_up_from_the_log_without_gaps(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db", watch_buffer=4)
    await store.start()
    watch = store.watch("/s/", after_revision=await store.current_revision())
    try:
        first = await store.create("/s/first", b"")
        assert (await anext(watch)).kv == first  # the watch is live now
        written = [(await store.create(f"/s/{i:03d}", b"")).mod_revision for i in range(50)]
        # White-box: the hub dropped this watcher when its buffer overflowed.
        assert not store._hub.watchers
        got = [(await asyncio.wait_for(anext(watch), 5)).revision for _ in written]
        assert got == written
        late = await store.create("/s/late", b"")
        assert (await asyncio.wait_for(anext(watch), 5)).kv == late  # and it is live again
    finally:
        await watch.aclose()
        await store.close()


async def test_ttl_keys_expire_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    await store.start()
    kv = await store.create("/e/a", b"v", ttl_seconds=1)
    await store.close()
    await asyncio.sleep(1.2)
    store = SqliteStore(path)
    await store.start()
    watch = store.watch("/e/", after_revision=kv.mod_revision)
    try:
        event = await asyncio.wait_for(anext(watch), 5)
        assert event.type is EventType.DELETE
        assert event.prev_kv == kv
        assert await store.get("/e/a") is None
    finally:
        await watch.aclose()
        await store.close()


async def test_a_database_from_a_newer_kubelite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    await store.start()
    await store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = 99 WHERE name = 'schema'")
    conn.close()
    store = SqliteStore(path)
    with pytest.raises(StorageUnavailable, match="schema version 99"):
        await store.start()
    await store.close()


async def test_a_fresh_store_starts_at_revision_one_like_etcd(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    try:
        assert await store.current_revision() == 1
        assert await store.create("/f/a", b"") == KeyValue("/f/a", b"", 2, 2)
    finally:
        await store.close()


async def test_reads_queued_before_close_are_answered_and_cancelled_reads_are_dropped(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db", readers=2)
    await store.start()
    for i in range(50):
        await store.create(f"/r/{i:03d}", f"v{i}".encode())
    reads = [asyncio.ensure_future(store.get(f"/r/{i:03d}")) for i in range(50)]
    lists = [asyncio.ensure_future(store.list("/r/", limit=5)) for _ in range(5)]
    await asyncio.sleep(0)  # every read is queued
    reads[7].cancel()  # a caller that went away: its answer is dropped, the other reads go on
    await store.close()
    for i, read in enumerate(reads):
        if i == 7:
            assert read.cancelled()
            continue
        kv = await read
        assert kv is not None and kv.value == f"v{i}".encode()
    for listed in lists:
        assert [kv.key for kv in (await listed).items] == [f"/r/{i:03d}" for i in range(5)]
    with pytest.raises(StorageUnavailable):
        await store.get("/r/000")


async def test_a_failing_read_is_storage_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db", readers=1)
    await store.start()
    try:
        await store.create("/x/a", b"1")
        original = store._point_read

        def broken(key: str) -> KeyValue | None:
            raise sqlite3.OperationalError("disk I/O error")

        store._point_read = broken  # type: ignore[method-assign]
        with pytest.raises(StorageUnavailable, match="disk I/O error"):
            await store.get("/x/a")
        store._point_read = original  # type: ignore[method-assign]
        assert (await store.get("/x/a")) is not None, "the reader thread survives a failed read"
    finally:
        await store.close()
