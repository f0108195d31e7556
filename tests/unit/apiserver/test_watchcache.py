"""ResourceCache: lists in key order, limited to a namespace's prefix, and kept current by events; the
WatchCache takes an object a writer handed over for exactly its own write."""

from __future__ import annotations

import random
from typing import cast

import orjson

from kubelite.controlplane.apiserver.watchcache import (
    ADDED,
    DELETED,
    MODIFIED,
    CacheEvent,
    ResourceCache,
    WatchCache,
    decode,
)
from kubelite.controlplane.storage import EventType, KeyValue, Store, WatchEvent

PREFIX = "/core/configmaps/"


def _key(namespace: str, name: str) -> str:
    return f"{PREFIX}{namespace}/{name}"


def _cache(keys: list[str]) -> ResourceCache:
    cache = ResourceCache(PREFIX, capacity=100, oldest_revision=1)
    for revision, key in enumerate(keys, start=2):
        cache.apply(CacheEvent(ADDED, key, {"metadata": {"name": key.rsplit("/", 1)[1]}, "k": key}, None, revision))
    return cache


def test_list_of_the_resource_is_in_key_order() -> None:
    keys = [_key(f"ns{i % 7}", f"n-{i}") for i in range(200)]
    random.Random(4).shuffle(keys)
    cache = _cache(keys)
    assert [o["k"] for o in cache.list(PREFIX)] == sorted(keys)


def test_list_of_a_namespace_has_only_its_objects_in_key_order() -> None:
    keys = [_key(ns, f"n-{i}") for i in range(30) for ns in ("a", "ab", "b")]
    random.Random(5).shuffle(keys)
    cache = _cache(keys)
    # "a/" must not match namespace "ab"
    assert [o["k"] for o in cache.list(f"{PREFIX}a/")] == sorted(k for k in keys if k.startswith(f"{PREFIX}a/"))
    assert cache.list(f"{PREFIX}missing/") == []


def test_list_follows_modifications_and_deletions() -> None:
    cache = _cache([_key("a", "x"), _key("a", "y")])
    cache.apply(CacheEvent(MODIFIED, _key("a", "x"), {"k": _key("a", "x"), "v": 2}, None, 10))
    cache.apply(CacheEvent(DELETED, _key("a", "y"), {"k": _key("a", "y")}, None, 11))
    assert cache.list(PREFIX) == [{"k": _key("a", "x"), "v": 2}]


def _fed_by_hand() -> WatchCache:
    """A watch cache that is never started: the tests feed it store events directly."""
    return WatchCache(cast(Store, object()))


def _put(key: str, value: bytes, revision: int, created: bool) -> WatchEvent:
    return WatchEvent(EventType.PUT, KeyValue(key, value, revision if created else 2, revision), None)


def test_a_handed_over_object_is_taken_for_the_event_of_exactly_its_write() -> None:
    cache = _fed_by_hand()
    key = _key("a", "x")
    obj = {"metadata": {"name": "x"}, "data": {"k": "v"}}
    value = orjson.dumps(obj)
    cache.hand_over(key, value, obj)
    cache._dispatch(_put(key, value, 5, created=True))
    cached = cache.get(PREFIX, key)
    assert cached is obj and obj["metadata"]["resourceVersion"] == "5"
    assert cached == decode(KeyValue(key, value, 5, 5))
    # taken once: the next write's event is parsed
    cache._dispatch(_put(key, value, 6, created=False))
    assert cache.get(PREFIX, key) is not obj and cache.get(PREFIX, key) == {**obj, "metadata": {
        "name": "x", "resourceVersion": "6"}}


def test_equal_bytes_of_another_write_are_parsed_not_matched() -> None:
    cache = _fed_by_hand()
    key = _key("a", "x")
    obj = {"metadata": {"name": "x"}}
    value = orjson.dumps(obj)
    cache.hand_over(key, value, obj)
    other = bytes(bytearray(value))  # equal content, another object: another write's (or etcd's) bytes
    cache._dispatch(_put(key, other, 7, created=True))
    assert cache.get(PREFIX, key) is not obj and cache.get(PREFIX, key) == {"metadata": {
        "name": "x", "resourceVersion": "7"}}
    assert "resourceVersion" not in obj, "an object not taken is not touched"


def test_withdraw_ends_only_its_own_offer() -> None:
    cache = _fed_by_hand()
    key = _key("a", "x")
    first, second = {"metadata": {"name": "x"}, "n": 1}, {"metadata": {"name": "x"}, "n": 2}
    first_value, second_value = orjson.dumps(first), orjson.dumps(second)
    cache.hand_over(key, first_value, first)
    cache.hand_over(key, second_value, second)  # a second writer of the key replaces the offer
    cache.withdraw(key, first_value)
    cache._dispatch(_put(key, second_value, 3, created=True))
    assert cache.get(PREFIX, key) is second
    cache.hand_over(key, first_value, first)
    cache.withdraw(key, first_value)
    cache._dispatch(_put(key, first_value, 4, created=False))
    assert cache.get(PREFIX, key) is not first and cache.get(PREFIX, key) == {"metadata": {
        "name": "x", "resourceVersion": "4"}, "n": 1}
