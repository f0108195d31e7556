"""kubelite.controlplane.storage: one async, revisioned key-value store interface, two backends.

See README.md in this folder and ``interface.py`` for the contract.
"""

from kubelite.controlplane.storage.compaction import DEFAULT_COMPACTION, CompactionPolicy, PeriodicCompactor
from kubelite.controlplane.storage.etcd import EtcdEndpoint, EtcdStore
from kubelite.controlplane.storage.factory import ACCEPTED_FORMS, open_store, parse_endpoint
from kubelite.controlplane.storage.interface import (
    MAX_VALUE_BYTES,
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
    Store,
    ValueTooLargeError,
    WatchEvent,
)
from kubelite.controlplane.storage.sqlite import SqliteStore

__all__ = [
    "ACCEPTED_FORMS",
    "DEFAULT_COMPACTION",
    "MAX_VALUE_BYTES",
    "CompactedError",
    "CompactionPolicy",
    "ConflictError",
    "EtcdEndpoint",
    "EtcdStore",
    "EventType",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "ListResult",
    "PeriodicCompactor",
    "SqliteStore",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "ValueTooLargeError",
    "WatchEvent",
    "open_store",
    "parse_endpoint",
]
