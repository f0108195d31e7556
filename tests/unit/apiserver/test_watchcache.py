"""ResourceCache: lists in key order, limited to a namespace's prefix, and kept current by events."""

from __future__ import annotations

import random

from kubelite.controlplane.apiserver.watchcache import ADDED, DELETED, MODIFIED, CacheEvent, ResourceCache

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
