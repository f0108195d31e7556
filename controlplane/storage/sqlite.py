"""The embedded default store: one SQLite file in WAL mode, one writer thread, in-process watch fan-out.

Design
------
Tables (schema version 1)::

    kv   (key TEXT PRIMARY KEY, value BLOB, create_rev, mod_rev, expires_at REAL NULL)
         the current state, one row per live key: get is one index lookup, list is an index range
         scan in key order; expires_at (unix time) is set for TTL keys and indexed (partial index).
    log  (rev INTEGER PRIMARY KEY, key, type 0=PUT 1=DELETE, value BLOB NULL, create_rev, prev_rev,
          prev_value BLOB NULL)
         one row per revision: the change made at ``rev``. ``value`` is the state after the change
         (NULL for DELETE), ``prev_rev``/``prev_value`` the state before (0/NULL if the key was new).
         Used only to replay watches and to answer list-at-past-revision; compaction deletes rows
         with ``rev < compacted`` (in chunks, so a large compaction never stalls writers).
    meta (name TEXT PRIMARY KEY, value INTEGER): schema, revision, compacted.

Unlike k3s's kine, the normal list path never reads the log (kine derives current state from its log
with ``MAX(id) ... GROUP BY name``, which slows down as history grows). A list *at a past revision R*
reads the current rows and undoes the log rows after R (each key's earliest change after R carries
the state it replaced, ``prev_value``), so it costs O(changes since R), not O(history).

Writes go through one dedicated thread that owns the only write connection. It takes every queued
write at once (up to ``max_batch``) and applies them in one transaction -- group commit: one fsync for
many writes -- checking each write's precondition on its own, so a failed precondition fails only that
write. The revision counter lives in that thread and is stored in ``meta`` in the same transaction,
which is why a second process must never write the same file (an ``flock`` on ``<db>.lock`` refuses
it). With ``synchronous=FULL`` a write that returned is on disk, surviving a process or power loss.

After commit, the batch's events and results go to the event loop in one callback: events are
published to watchers first, then the callers' futures complete, so a caller that sees its write
return finds it in every watch and in ``current_revision()``. Reads use a small pool of reader
threads with their own connections (WAL lets them run beside the writer); each read is one read
transaction, so a list and the revision it reports come from the same snapshot (a ``get``, one
indexed SELECT, is its own read transaction without BEGIN/COMMIT).

A watch registers with the in-process hub, noting the last published revision H, then replays
``(after_revision, H]`` from the log and continues with the live events buffered since registration
(all ``> H``): no gap, no duplicate. A watcher that falls more than ``watch_buffer`` events behind is
dropped from the hub and catches up from the log again, so a slow consumer costs disk reads, not
unbounded memory (and gets CompactedError if it fell behind the compaction, as with etcd).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from kubelite.controlplane.storage.compaction import CompactionPolicy, PeriodicCompactor
from kubelite.controlplane.storage.interface import (
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    StorageUnavailable,
    WatchEvent,
)
from kubelite.controlplane.storage.keys import (
    check_expected_revision,
    check_key,
    check_prefix,
    check_revision,
    check_start_key,
    check_ttl,
    check_value,
    key_range,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1
_PUT, _DELETE = 0, 1
# Rows per watch-replay read and per compaction delete: big enough to be efficient, small enough that
# neither holds a read snapshot or the write lock for long.
REPLAY_PAGE = 1000
COMPACT_CHUNK = 5000
EXPIRE_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,
    type       INTEGER NOT NULL,
    value      BLOB,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER NOT NULL,
    prev_value BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class WriteStats:
    """Counters of the writer thread: ``transactions`` < ``writes`` shows group commit at work."""

    transactions: int
    writes: int


# --- pure helpers ---------------------------------------------------------------------------------


def state_at_revision(
    *, current: Sequence[KeyValue], changes: Mapping[str, KeyValue | None], limit: int
) -> tuple[list[KeyValue], bool]:
    """Merge current rows with the undo information of later changes into a past state.

    ``current`` are current rows in key order (the first ``limit + 1 + len(changes)`` of the range
    suffice); ``changes`` maps each key changed after the target revision to its state at that
    revision (``None``: absent then). Returns the first ``limit`` keys (0 = all) and whether more exist.
    """
    merged: dict[str, KeyValue] = {kv.key: kv for kv in current if kv.key not in changes}
    for key, state in changes.items():
        if state is not None:
            merged[key] = state
    keys = sorted(merged)
    if limit and len(keys) > limit:
        return [merged[k] for k in keys[:limit]], True
    return [merged[k] for k in keys], False


def event_from_log_row(
    rev: int, key: str, kind: int, value: bytes | None, create_rev: int, prev_rev: int,
    prev_value: bytes | None,
) -> WatchEvent:
    """The watch event recorded by one ``log`` row."""
    prev = KeyValue(key, prev_value or b"", create_rev, prev_rev) if prev_rev else None
    if kind == _DELETE:
        return WatchEvent(EventType.DELETE, KeyValue(key, prev_value or b"", create_rev, rev), prev)
    return WatchEvent(EventType.PUT, KeyValue(key, value or b"", create_rev, rev), prev)


def _range_sql(high: str | None) -> str:
    return "key >= ?" if high is None else "key >= ? AND key < ?"


def _range_args(low: str, high: str | None) -> tuple[str, ...]:
    return (low,) if high is None else (low, high)


# --- the writer thread ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Create:
    key: str
    value: bytes
    ttl: int | None
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Update:
    key: str
    value: bytes
    expected: int
    ttl: int | None
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Delete:
    key: str
    expected: int | None
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Compact:
    revision: int
    future: asyncio.Future[Any]


_Op = _Create | _Update | _Delete | _Compact
_STOP = object()
# (future, result, error): exactly one of result/error is meaningful.
_Outcome = tuple["asyncio.Future[Any]", object, BaseException | None]
_Deliver = Callable[[list[WatchEvent], list[_Outcome]], None]


def _connect(path: Path, *, synchronous: str, query_only: bool) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a read is exactly one snapshot and a
    # batch exactly one transaction. check_same_thread=False: the closing thread may close it.
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA busy_timeout = 10000")
    if query_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise StorageUnavailable(f"sqlite database {path}: cannot use WAL journal mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA journal_size_limit = 67108864")
    return conn


class _Writer:
    """Owns the write connection and the revision counter; runs in its own thread."""

    def __init__(self, path: Path, *, synchronous: str, max_batch: int) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.conn: sqlite3.Connection | None = None
        self.revision = 0
        self.compacted = 0
        self.next_expiry: float | None = None
        self.compact_below = 0  # log rows below this revision still have to be deleted
        self.transactions = 0
        self.writes = 0
        self.deliver: _Deliver | None = None

    # -- setup (called once, from a worker thread, before run())

    def open(self) -> None:
        conn = _connect(self.path, synchronous=self.synchronous, query_only=False)
        try:
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            if not meta:
                # Revision 1 is the empty store, as in etcd: both backends count alike, and no object
                # gets resourceVersion "0" (which means "any version" in Kubernetes list requests).
                conn.executemany(
                    "INSERT INTO meta (name, value) VALUES (?, ?)",
                    [("schema", SCHEMA_VERSION), ("revision", 1), ("compacted", 0)],
                )
                meta = {"schema": SCHEMA_VERSION, "revision": 1, "compacted": 0}
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise StorageUnavailable(f"sqlite database {self.path} cannot be opened: {exc}") from None
        if meta.get("schema") != SCHEMA_VERSION:
            conn.close()
            raise StorageUnavailable(
                f"sqlite database {self.path} has schema version {meta.get('schema')}, "
                f"this kubelite understands version {SCHEMA_VERSION}"
            )
        self.conn = conn
        self.revision = int(meta["revision"])
        self.compacted = int(meta["compacted"])
        self.compact_below = self.compacted
        self._refresh_next_expiry()

    # -- the thread body

    def run(self) -> None:
        assert self.conn is not None
        try:
            stop = False
            while not stop:
                batch: list[_Op] = []
                try:
                    first = self.queue.get(timeout=self._idle_timeout())
                except queue.Empty:
                    first = None
                if first is _STOP:
                    stop = True
                elif first is not None:
                    batch.append(first)  # type: ignore[arg-type]
                    while len(batch) < self.max_batch:
                        try:
                            nxt = self.queue.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is _STOP:
                            stop = True
                            break
                        batch.append(nxt)  # type: ignore[arg-type]
                try:
                    expire = self.next_expiry is not None and self.next_expiry <= time.time()
                    if batch or expire:
                        self._commit(batch, expire=expire)
                    if self.compact_below and not stop:
                        self._compact_chunk()
                except Exception:  # a bug here must not kill the only writer and hang every caller
                    log.exception("sqlite writer: unexpected failure (continuing)")
        finally:
            self.conn.close()
            self.conn = None

    def _idle_timeout(self) -> float:
        if self.compact_below:
            return 0.001  # keep deleting compacted log rows, but let queued writes go first
        if self.next_expiry is None:
            return 60.0
        return min(60.0, max(0.0, self.next_expiry - time.time()) + 0.001)

    def _commit(self, batch: list[_Op], *, expire: bool) -> None:
        conn = self.conn
        assert conn is not None
        saved = (self.revision, self.compacted, self.compact_below, self.next_expiry)
        events: list[WatchEvent] = []
        outcomes: list[_Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                try:
                    result = self._apply(conn, op, events)
                except StorageError as exc:
                    outcomes.append((op.future, None, exc))
                else:
                    outcomes.append((op.future, result, None))
            if expire:
                self._expire(conn, events)
            if self.revision != saved[0]:
                conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self.revision,))
            conn.execute("COMMIT")
        except Exception as exc:  # sqlite3.Error (disk full, I/O) or a bug: the whole batch fails
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.revision, self.compacted, self.compact_below, self.next_expiry = saved
            log.error("sqlite write transaction failed: %s", exc)
            err = StorageUnavailable(f"sqlite write to {self.path} failed, nothing was written: {exc}")
            events = []
            outcomes = [(op.future, None, err) for op in batch]
        else:
            self.transactions += 1
            self.writes += len(events)
        if self.deliver is not None:
            self.deliver(events, outcomes)

    # -- one operation inside the batch transaction; precondition failures raise before writing

    def _apply(self, conn: sqlite3.Connection, op: _Op, events: list[WatchEvent]) -> object:
        if isinstance(op, _Compact):
            self._apply_compact(conn, op.revision)
            return None
        row = conn.execute("SELECT value, create_rev, mod_rev FROM kv WHERE key = ?", (op.key,)).fetchone()
        if isinstance(op, _Create):
            if row is not None:
                raise KeyExistsError(op.key)
            rev = self.revision + 1
            expires_at = self._expires_at(op.ttl)
            self._note_expiry(expires_at)
            conn.execute(
                "INSERT INTO kv (key, value, create_rev, mod_rev, expires_at) VALUES (?, ?, ?, ?, ?)",
                (op.key, op.value, rev, rev, expires_at),
            )
            conn.execute(
                "INSERT INTO log (rev, key, type, value, create_rev, prev_rev, prev_value)"
                " VALUES (?, ?, ?, ?, ?, 0, NULL)",
                (rev, op.key, _PUT, op.value, rev),
            )
            self.revision = rev
            kv = KeyValue(op.key, op.value, rev, rev)
            events.append(WatchEvent(EventType.PUT, kv, None))
            return kv
        if row is None:
            raise KeyNotFoundError(op.key)
        old_value, create_rev, mod_rev = bytes(row[0]), int(row[1]), int(row[2])
        if op.expected is not None and op.expected != mod_rev:
            raise ConflictError(op.key, op.expected, mod_rev)
        prev = KeyValue(op.key, old_value, create_rev, mod_rev)
        rev = self.revision + 1
        if isinstance(op, _Update):
            expires_at = self._expires_at(op.ttl)
            self._note_expiry(expires_at)
            conn.execute(
                "UPDATE kv SET value = ?, mod_rev = ?, expires_at = ? WHERE key = ?",
                (op.value, rev, expires_at, op.key),
            )
            conn.execute(
                "INSERT INTO log (rev, key, type, value, create_rev, prev_rev, prev_value)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rev, op.key, _PUT, op.value, create_rev, mod_rev, old_value),
            )
            self.revision = rev
            kv = KeyValue(op.key, op.value, create_rev, rev)
            events.append(WatchEvent(EventType.PUT, kv, prev))
            return kv
        self._delete_row(conn, prev, rev)
        deleted = KeyValue(op.key, old_value, create_rev, rev)
        events.append(WatchEvent(EventType.DELETE, deleted, prev))
        return deleted

    def _delete_row(self, conn: sqlite3.Connection, prev: KeyValue, rev: int) -> None:
        conn.execute("DELETE FROM kv WHERE key = ?", (prev.key,))
        conn.execute(
            "INSERT INTO log (rev, key, type, value, create_rev, prev_rev, prev_value)"
            " VALUES (?, ?, ?, NULL, ?, ?, ?)",
            (rev, prev.key, _DELETE, prev.create_revision, prev.mod_revision, prev.value),
        )
        self.revision = rev

    def _apply_compact(self, conn: sqlite3.Connection, revision: int) -> None:
        if revision > self.revision:
            raise FutureRevisionError(revision, self.revision)
        if revision <= self.compacted:
            return  # idempotent: several compactors may race to the same target
        conn.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (revision,))
        self.compacted = revision
        # The rows are deleted after commit, chunk by chunk, between write batches.
        self.compact_below = revision

    def _compact_chunk(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            oldest = conn.execute("SELECT MIN(rev) FROM log").fetchone()[0]
            if oldest is None or oldest >= self.compact_below:
                self.compact_below = 0
                return
            upto = min(self.compact_below, int(oldest) + COMPACT_CHUNK)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM log WHERE rev < ?", (upto,))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            log.warning("sqlite compaction of the change log failed, will retry: %s", exc)
            self.compact_below = 0  # retried from meta.compacted at the next compact() or restart

    # -- TTL

    @staticmethod
    def _expires_at(ttl: int | None) -> float | None:
        return None if ttl is None else time.time() + ttl

    def _note_expiry(self, expires_at: float | None) -> None:
        if expires_at is not None and (self.next_expiry is None or expires_at < self.next_expiry):
            self.next_expiry = expires_at

    def _expire(self, conn: sqlite3.Connection, events: list[WatchEvent]) -> None:
        now = time.time()
        rows = conn.execute(
            "SELECT key, value, create_rev, mod_rev FROM kv"
            " WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?",
            (now, EXPIRE_CHUNK),
        ).fetchall()
        for key, value, create_rev, mod_rev in rows:
            prev = KeyValue(str(key), bytes(value), int(create_rev), int(mod_rev))
            rev = self.revision + 1
            self._delete_row(conn, prev, rev)
            deleted = KeyValue(prev.key, prev.value, prev.create_revision, rev)
            events.append(WatchEvent(EventType.DELETE, deleted, prev))
        self._refresh_next_expiry(conn)

    def _refresh_next_expiry(self, conn: sqlite3.Connection | None = None) -> None:
        conn = conn or self.conn
        assert conn is not None
        nxt = conn.execute("SELECT MIN(expires_at) FROM kv WHERE expires_at IS NOT NULL").fetchone()[0]
        self.next_expiry = None if nxt is None else float(nxt)


# --- watch fan-out (event-loop thread only) -------------------------------------------------------


class _Watcher:
    __slots__ = ("buffer", "closed", "high", "limit", "low", "overflowed", "wakeup")

    def __init__(self, low: str, high: str | None, limit: int) -> None:
        self.low = low
        self.high = high
        self.limit = limit
        self.buffer: deque[WatchEvent] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def matches(self, key: str) -> bool:
        return key >= self.low and (self.high is None or key < self.high)

    def push(self, event: WatchEvent) -> bool:
        if len(self.buffer) >= self.limit:
            # Too far behind: drop the buffer; the watch catches up from the log instead.
            self.buffer.clear()
            self.overflowed = True
            self.wakeup.set()
            return False
        self.buffer.append(event)
        self.wakeup.set()
        return True

    async def next(self) -> WatchEvent | None:
        """The next live event; ``None`` when the watch must re-sync from the log or has closed."""
        while not self.buffer and not self.overflowed and not self.closed:
            self.wakeup.clear()
            await self.wakeup.wait()
        if self.buffer:
            return self.buffer.popleft()
        return None


class _Hub:
    def __init__(self) -> None:
        self.published = 0
        self.watchers: set[_Watcher] = set()

    def register(self, watcher: _Watcher) -> int:
        watcher.buffer.clear()
        watcher.overflowed = False
        self.watchers.add(watcher)
        return self.published

    def unregister(self, watcher: _Watcher) -> None:
        self.watchers.discard(watcher)

    def publish(self, events: list[WatchEvent]) -> None:
        for event in events:
            self.published = event.revision
            key = event.kv.key
            for watcher in [w for w in self.watchers if w.matches(key)]:
                if not watcher.push(event):
                    self.watchers.discard(watcher)

    def close(self) -> None:
        for watcher in self.watchers:
            watcher.closed = True
            watcher.wakeup.set()
        self.watchers.clear()


# --- the store ------------------------------------------------------------------------------------


class SqliteStore:
    """:class:`~kubelite.controlplane.storage.interface.Store` on one SQLite file (see module doc)."""

    def __init__(
        self,
        path: Path,
        *,
        compaction: CompactionPolicy | None = None,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        readers: int = 4,
        max_batch: int = 512,
        watch_buffer: int = 10_000,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', got {synchronous!r}")
        if readers < 1 or max_batch < 1 or watch_buffer < 1:
            raise ValueError("readers, max_batch and watch_buffer must be >= 1")
        self.path = Path(path)
        self._synchronous = synchronous
        self._readers_count = readers
        self._max_batch = max_batch
        self._watch_buffer = watch_buffer
        self._compaction = compaction
        self._compactor: PeriodicCompactor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: _Writer | None = None
        self._thread: threading.Thread | None = None
        # reader threads take (future, function, args) from one queue and answer on the loop
        self._read_queue: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue())
        self._readers: list[threading.Thread] = []
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._hub = _Hub()
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @property
    def stats(self) -> WriteStats:
        w = self._writer
        return WriteStats(transactions=w.transactions, writes=w.writes) if w else WriteStats(0, 0)

    # -- lifecycle

    async def start(self) -> None:
        if self._writer is not None:
            raise RuntimeError(f"{self!r} is already started")
        if self._closed:
            raise StorageUnavailable(f"{self!r} is closed")
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._prepare_files)
        writer = _Writer(self.path, synchronous=self._synchronous, max_batch=self._max_batch)
        try:
            await asyncio.to_thread(writer.open)
        except BaseException:
            self._release_lock()
            raise
        writer.deliver = self._deliver_from_thread
        self._writer = writer
        self._hub.published = writer.revision
        self._readers = [threading.Thread(target=self._serve_reads, name=f"kubelite-sqlite-read-{n}", daemon=True)
                         for n in range(self._readers_count)]
        for reader in self._readers:
            reader.start()
        self._thread = threading.Thread(target=writer.run, name="kubelite-sqlite-writer", daemon=True)
        self._thread.start()
        if self._compaction is not None:
            self._compactor = PeriodicCompactor(self, self._compaction)
            self._compactor.start()

    def _prepare_files(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The database holds every Secret: create it private; SQLite gives its -wal/-shm files the
        # same mode as the database file.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageUnavailable(
                f"sqlite database {self.path} is in use by another process (lock {lock_path} is held); "
                "only one kubelite server may use a data directory"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub.close()
        if self._compactor is not None:
            await self._compactor.stop()
        if self._writer is not None and self._thread is not None:
            # Writes queued before close are still applied and answered; STOP comes after them.
            self._writer.queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)
        if self._readers:
            # reads queued before close are still answered; each reader ends at its None
            for _ in self._readers:
                self._read_queue.put(None)
            for reader in self._readers:
                await asyncio.to_thread(reader.join)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        self._release_lock()

    def _require_open(self) -> None:
        if self._closed:
            raise StorageUnavailable(f"{self!r} is closed")
        if self._writer is None:
            raise StorageUnavailable(f"{self!r} is not started; call start() first")

    # -- writes

    def _submit(self, make: Callable[[asyncio.Future[Any]], _Op]) -> asyncio.Future[Any]:
        self._require_open()
        assert self._loop is not None and self._writer is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._writer.queue.put(make(future))
        return future

    def _deliver_from_thread(self, events: list[WatchEvent], outcomes: list[_Outcome]) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._deliver, events, outcomes)
        except RuntimeError:  # the loop is gone (interpreter shutdown); nobody is waiting any more
            pass

    def _deliver(self, events: list[WatchEvent], outcomes: list[_Outcome]) -> None:
        self._hub.publish(events)
        for future, result, error in outcomes:
            if future.done():  # the caller was cancelled; the write itself stands, as with etcd
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def create(self, key: str, value: bytes, *, ttl_seconds: int | None = None) -> KeyValue:
        check_key(key)
        check_value(key, value)
        check_ttl(ttl_seconds)
        result: KeyValue = await self._submit(lambda f: _Create(key, value, ttl_seconds, f))
        return result

    async def update(
        self, key: str, value: bytes, *, expected_revision: int, ttl_seconds: int | None = None
    ) -> KeyValue:
        check_key(key)
        check_value(key, value)
        check_expected_revision(key, expected_revision)
        check_ttl(ttl_seconds)
        result: KeyValue = await self._submit(
            lambda f: _Update(key, value, expected_revision, ttl_seconds, f)
        )
        return result

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        check_key(key)
        if expected_revision is not None:
            check_expected_revision(key, expected_revision)
        result: KeyValue = await self._submit(lambda f: _Delete(key, expected_revision, f))
        return result

    async def compact(self, revision: int) -> None:
        check_revision(revision, what="compaction revision")
        await self._submit(lambda f: _Compact(revision, f))

    async def current_revision(self) -> int:
        self._require_open()
        return self._hub.published

    # -- reads

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = _connect(self.path, synchronous=self._synchronous, query_only=True)
            self._reader_local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _in_snapshot(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    def _serve_reads(self) -> None:
        """A reader thread: runs queued reads on its own connection, answers each on the event loop.

        One queue and one ``call_soon_threadsafe`` per answer: a ThreadPoolExecutor with
        ``run_in_executor`` made a concurrent Future (with its Condition), a work item and a chained
        asyncio Future per read, several times the cost of the point read itself.
        """
        loop = self._loop
        assert loop is not None
        while (item := self._read_queue.get()) is not None:
            future, fn, args = item
            try:
                try:
                    result = fn(*args)
                except BaseException as exc:  # answered to the caller, whatever it is
                    loop.call_soon_threadsafe(_fail, future, exc)
                else:
                    loop.call_soon_threadsafe(_succeed, future, result)
            except RuntimeError:  # the loop is gone (interpreter shutdown); nobody is waiting any more
                return

    async def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a reader thread; a read the disk holds up never stops the event loop."""
        self._require_open()
        assert self._loop is not None
        future: asyncio.Future[T] = self._loop.create_future()
        self._read_queue.put((future, fn, args))
        try:
            return await future
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"sqlite read from {self.path} failed: {exc}") from None

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._on_reader(self._in_snapshot, fn, *args)

    async def get(self, key: str) -> KeyValue | None:
        check_key(key)
        # A point read is one indexed SELECT, its own read transaction: no BEGIN/COMMIT around it. It
        # stays on a reader thread: a read the disk holds up must never stop the event loop.
        return await self._on_reader(self._point_read, key)

    def _point_read(self, key: str) -> KeyValue | None:
        return _read_get(self._reader(), key)

    async def list(
        self, prefix: str, *, start_key: str | None = None, limit: int = 0, revision: int = 0
    ) -> ListResult:
        check_prefix(prefix)
        if start_key is not None:
            check_start_key(start_key)
        check_revision(limit, what="limit")
        check_revision(revision, what="revision")
        return await self._read(_read_list, prefix, start_key, limit, revision)

    async def count(self, prefix: str) -> int:
        check_prefix(prefix)
        return await self._read(_read_count, prefix)

    # -- watch

    async def watch(self, prefix: str, *, after_revision: int) -> AsyncGenerator[WatchEvent, None]:
        check_prefix(prefix)
        check_revision(after_revision, what="after_revision")
        self._require_open()
        low, high = key_range(prefix)
        watcher = _Watcher(low, high, self._watch_buffer)
        pos = after_revision
        try:
            while not watcher.closed:
                upto = self._hub.register(watcher)
                # Replay (pos, upto] from the log; the first read also checks pos against compaction.
                while True:
                    try:
                        page = await self._read(_read_log, low, high, pos, upto, REPLAY_PAGE)
                    except StorageUnavailable:
                        if watcher.closed:
                            return  # the store closed while we were replaying: end cleanly
                        raise
                    for event in page:
                        yield event
                        pos = event.revision
                    if len(page) < REPLAY_PAGE:
                        pos = max(pos, upto)
                        break
                # Then live events, all > upto; skip what the replay already covered.
                while (live := await watcher.next()) is not None:
                    if live.revision > pos:
                        yield live
                        pos = live.revision
                # None: overflowed (re-register and catch up from pos) or closed (loop ends).
        finally:
            self._hub.unregister(watcher)


# --- read transactions (reader threads) -----------------------------------------------------------


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the caller may have been cancelled
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _meta(conn: sqlite3.Connection) -> tuple[int, int]:
    rows = conn.execute("SELECT name, value FROM meta WHERE name IN ('revision', 'compacted')").fetchall()
    meta = dict(rows)
    return int(meta["revision"]), int(meta["compacted"])


def _row_kv(row: tuple[Any, ...]) -> KeyValue:
    return KeyValue(str(row[0]), bytes(row[1]), int(row[2]), int(row[3]))


def _read_get(conn: sqlite3.Connection, key: str) -> KeyValue | None:
    row = conn.execute("SELECT key, value, create_rev, mod_rev FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else _row_kv(row)


def _read_count(conn: sqlite3.Connection, prefix: str) -> int:
    low, high = key_range(prefix)
    row = conn.execute(f"SELECT COUNT(*) FROM kv WHERE {_range_sql(high)}", _range_args(low, high)).fetchone()
    return int(row[0])


def _read_list(
    conn: sqlite3.Connection, prefix: str, start_key: str | None, limit: int, revision: int
) -> ListResult:
    current, compacted = _meta(conn)
    if revision:
        if revision > current:
            raise FutureRevisionError(revision, current)
        if revision < compacted:
            raise CompactedError(revision, compacted)
    at = revision or current
    low, high = key_range(prefix, start_key)
    changes: dict[str, KeyValue | None] = {}
    if at < current:
        # Each key's earliest change after `at` records the state it replaced (SQLite returns the bare
        # columns of the MIN(rev) row).
        for key, _rev, create_rev, prev_rev, prev_value in conn.execute(
            f"SELECT key, MIN(rev), create_rev, prev_rev, prev_value FROM log"
            f" WHERE rev > ? AND {_range_sql(high)} GROUP BY key",
            (at, *_range_args(low, high)),
        ):
            changes[str(key)] = (
                KeyValue(str(key), bytes(prev_value), int(create_rev), int(prev_rev)) if prev_rev else None
            )
    fetch = limit + 1 + len(changes) if limit else -1
    rows = conn.execute(
        f"SELECT key, value, create_rev, mod_rev FROM kv WHERE {_range_sql(high)} ORDER BY key LIMIT ?",
        (*_range_args(low, high), fetch),
    ).fetchall()
    items, more = state_at_revision(current=[_row_kv(r) for r in rows], changes=changes, limit=limit)
    return ListResult(items=items, revision=at, more=more)


def _read_log(
    conn: sqlite3.Connection, low: str, high: str | None, after: int, upto: int, page: int
) -> list[WatchEvent]:
    _current, compacted = _meta(conn)
    if after + 1 < compacted:
        raise CompactedError(after, compacted)
    rows = conn.execute(
        "SELECT rev, key, type, value, create_rev, prev_rev, prev_value FROM log"
        f" WHERE rev > ? AND rev <= ? AND {_range_sql(high)} ORDER BY rev LIMIT ?",
        (after, upto, *_range_args(low, high), page),
    ).fetchall()
    return [
        event_from_log_row(int(r[0]), str(r[1]), int(r[2]), r[3], int(r[4]), int(r[5]), r[6]) for r in rows
    ]
