"""The storage contract every backend implements: keys, revisions, values, watch events, errors.

Design
------
The API server sees storage as an ordered map ``key -> bytes`` with one global, strictly increasing
*revision* counter per store (etcd's model). Every successful write takes the next revision; an
object's ``mod_revision`` becomes its ``metadata.resourceVersion``. Because revisions are global, a
list is consistent "as of" a revision and a watch can resume "after" one with no gap and no duplicate.

The shapes deliberately mirror etcd v3 (``create_revision``, ``mod_revision``, PUT/DELETE events with
the previous value), so the etcd backend is a thin mapping and the SQLite backend reproduces etcd's
observable behaviour, including its compaction rules:

* ``compact(R)`` keeps the state *at* ``R`` readable: ``list(revision=R)`` works, ``revision < R``
  raises :class:`CompactedError`;
* a watch resumes with the changes *after* ``after_revision``, i.e. from ``after_revision + 1``;
  that is possible while ``after_revision + 1 >= R`` (the change made at ``R`` itself is kept).

Keys are ``str`` starting with ``/`` (``/pods/default/nginx``); prefixes for ``list``/``count``/
``watch`` start with ``/`` too (``/`` is "everything"). Values are opaque ``bytes`` up to
:data:`MAX_VALUE_BYTES` (etcd's default request limit, so both backends refuse the same objects).

Argument mistakes (a malformed key, a negative revision) raise ``ValueError``: they are bugs in the
caller. Outcomes a caller must handle (the key exists, the revision moved on, the history is gone,
the datastore is down) are :class:`StorageError` subclasses carrying the facts as attributes.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# etcd's default --max-request-bytes is 1.5 MiB for the whole request; keep headroom for the key and
# the protobuf envelope so a value accepted here is also accepted by etcd.
MAX_VALUE_BYTES = 1_500_000


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One stored key: its value and the revisions that created and last modified it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change, as a watch reports it.

    For PUT, ``kv`` is the new state and ``prev_kv`` the state before (``None`` on creation).
    For DELETE, ``kv`` holds the key, its last value and ``create_revision``, with ``mod_revision``
    set to the deletion revision; ``prev_kv`` is the state that was deleted.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        """The revision of the change (the watch resumes after it)."""
        return self.kv.mod_revision

    @property
    def created(self) -> bool:
        """True when this PUT created the key (rather than updating it)."""
        return self.type is EventType.PUT and self.kv.create_revision == self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of keys in key order, consistent as of ``revision``; ``more`` says a next page exists."""

    items: list[KeyValue]
    revision: int
    more: bool


class StorageError(Exception):
    """Base class of every storage outcome a caller is expected to handle."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class ConflictError(StorageError):
    """The key's ``mod_revision`` is not the one the caller based its change on."""

    def __init__(self, key: str, expected_revision: int, actual_revision: int) -> None:
        super().__init__(
            f"key {key!r} was modified: expected mod_revision {expected_revision}, "
            f"found {actual_revision}"
        )
        self.key = key
        self.expected_revision = expected_revision
        self.actual_revision = actual_revision


class CompactedError(StorageError):
    """The history needed for ``requested`` was compacted away (the API server answers 410 Gone).

    ``compacted`` is the store's compaction revision, or 0 when the backend could not tell.
    """

    def __init__(self, requested: int, compacted: int) -> None:
        oldest = f"revision {compacted}" if compacted else "unknown"
        super().__init__(
            f"revision {requested} has been compacted; the oldest available revision is {oldest}"
        )
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """A read or compaction named a revision the store has not reached yet."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(
            f"revision {requested} is in the future; the current revision is {current}"
        )
        self.requested = requested
        self.current = current


class ValueTooLargeError(StorageError):
    def __init__(self, key: str, size: int, limit: int = MAX_VALUE_BYTES) -> None:
        super().__init__(f"value for key {key!r} is {size} bytes; the limit is {limit} bytes")
        self.key = key
        self.size = size
        self.limit = limit


class StorageUnavailable(StorageError):
    """The datastore cannot be reached or has been closed; the operation may be retried later."""


@runtime_checkable
class Store(Protocol):
    """An async, revisioned key-value store (see the module docstring for the semantics)."""

    async def start(self) -> None:
        """Open the datastore; every other method needs a started store."""

    async def close(self) -> None:
        """Release everything; running watches end cleanly, later calls raise StorageUnavailable."""

    async def get(self, key: str) -> KeyValue | None:
        """The current state of ``key``, or ``None``."""

    async def list(
        self, prefix: str, *, start_key: str | None = None, limit: int = 0, revision: int = 0
    ) -> ListResult:
        """Keys under ``prefix`` (and ``>= start_key``) in key order, at most ``limit`` (0 = all).

        ``revision`` 0 reads the current state; otherwise the state as of that past revision
        (:class:`CompactedError` if compacted, :class:`FutureRevisionError` if not reached yet).
        """

    async def count(self, prefix: str) -> int:
        """How many keys exist under ``prefix`` now."""

    async def create(self, key: str, value: bytes, *, ttl_seconds: int | None = None) -> KeyValue:
        """Store a new key (:class:`KeyExistsError` if present); ``ttl_seconds`` makes it expire."""

    async def update(
        self, key: str, value: bytes, *, expected_revision: int, ttl_seconds: int | None = None
    ) -> KeyValue:
        """Replace the value if ``mod_revision == expected_revision``.

        :class:`KeyNotFoundError` if absent, :class:`ConflictError` if modified since. The TTL is
        set anew by each write: ``None`` leaves the key without expiry (etcd's lease semantics).
        """

    async def delete(self, key: str, *, expected_revision: int | None = None) -> KeyValue:
        """Delete the key (optionally only at ``expected_revision``); returns the deleted state with
        ``mod_revision`` set to the deletion revision, like the DELETE watch event."""

    def watch(self, prefix: str, *, after_revision: int) -> AsyncGenerator[WatchEvent, None]:
        """Every change under ``prefix`` with revision ``> after_revision`` in revision order, then
        live changes. Raises :class:`CompactedError` (on iteration) if that history is gone. Ends
        cleanly on ``aclose()`` or when the store closes."""
        ...

    async def current_revision(self) -> int:
        """The revision of the latest committed change."""

    async def compact(self, revision: int) -> None:
        """Discard history before ``revision`` (no-op if already compacted that far)."""
