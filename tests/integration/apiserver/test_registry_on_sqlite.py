"""The generic registry and watch cache over a real SQLite store: semantics below the HTTP edge."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.openapi_service import OpenAPIService
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions, encode
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable
from kubelite.controlplane.apiserver.strategy import StrategySet
from kubelite.controlplane.apiserver.watchcache import WatchCache, decode
from kubelite.controlplane.storage import open_store

pytestmark = [pytest.mark.integration]

TABLE = ResourceTable()


def res(group: str, version: str, plural: str) -> ResourceInfo:
    info = TABLE.get(group, version, plural)
    assert info is not None
    return info


NS, CM, PODS, DEPLOY = (res("", "v1", "namespaces"), res("", "v1", "configmaps"), res("", "v1", "pods"),
                        res("apps", "v1", "deployments"))
OPTS = WriteOptions()


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    store = open_store("sqlite", data_dir=tmp_path, compaction=None)
    await store.start()
    cache = WatchCache(store, capacity=50)
    await cache.start()
    reg = Registry(store=store, cache=cache,
                   strategies=StrategySet(unknown_fields=OpenAPIService(TABLE).unknown_fields))
    await reg.create(NS, None, {"metadata": {"name": "default"}}, OPTS)
    try:
        yield reg
    finally:
        await cache.close()
        await store.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": dict(data)}


async def test_create_sets_server_fields_and_get_reads_back(registry: Registry) -> None:
    created = (await registry.create(CM, "default", cm("a", k="v"), OPTS)).obj
    md = created["metadata"]
    assert md["namespace"] == "default" and md["uid"] and md["creationTimestamp"]
    assert created["apiVersion"] == "v1" and created["kind"] == "ConfigMap"
    assert int(md["resourceVersion"]) > 0
    assert await registry.get(CM, "default", "a") == created


async def test_list_is_consistent_right_after_a_write(registry: Registry) -> None:
    for i in range(20):
        await registry.create(CM, "default", cm(f"c{i:02d}"), OPTS)
        page = await registry.list(CM, "default")
        assert len(page.items) == i + 1, "a list after a write must include it (read-your-writes)"


async def test_update_conflict_and_noop(registry: Registry) -> None:
    first = (await registry.create(CM, "default", cm("a", k="1"), OPTS)).obj
    second = (await registry.update(CM, "default", "a", lambda o: {**o, "data": {"k": "2"}}, OPTS)).obj
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    with pytest.raises(errors.APIError) as exc:
        await registry.update(CM, "default", "a", lambda o: {**first, "data": {"k": "3"}}, OPTS)
    assert exc.value.code == 409 and "the object has been modified" in exc.value.message
    same = (await registry.update(CM, "default", "a", lambda o: o, OPTS)).obj
    assert same["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"], "no-op writes nothing"


async def test_a_patch_overtaken_by_another_write_is_reapplied_not_refused(registry: Registry) -> None:
    """A read-modify-write whose resourceVersion came from the object it read (a PATCH without one) is
    retried on a newer object when another writer got in between (upstream GuaranteedUpdate); one whose
    resourceVersion the client sent (a PUT) still gets 409."""
    await registry.create(CM, "default", cm("raced", k="1"), OPTS)
    store = registry.store
    original = store.update
    raced = False

    async def overtaken(key: str, value: bytes, **kwargs: Any) -> Any:
        nonlocal raced
        if not raced:  # another writer commits between our read and our write
            raced = True
            current = await store.get(key)
            assert current is not None
            other = {**orjson.loads(current.value)}
            other["data"] = {**other.get("data", {}), "other": "x"}
            await original(key, orjson.dumps(other), expected_revision=current.mod_revision)
        return await original(key, value, **kwargs)

    store.update = overtaken  # type: ignore[method-assign]
    try:
        patched = (await registry.update(CM, "default", "raced",
                                         lambda o: {**o, "data": {**o.get("data", {}), "k": "2"}}, OPTS)).obj
        assert raced and patched["data"] == {"k": "2", "other": "x"}
        raced = False
        stale = patched
        with pytest.raises(errors.APIError) as exc:
            await registry.update(CM, "default", "raced", lambda o: {**stale, "data": {"k": "3"}}, OPTS)
        assert exc.value.code == 409
    finally:
        store.update = original  # type: ignore[method-assign]


async def test_generation_counts_spec_changes_only(registry: Registry) -> None:
    deploy = {"metadata": {"name": "d"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
              "template": {"metadata": {"labels": {"a": "b"}},
                           "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    obj = (await registry.create(DEPLOY, "default", deploy, OPTS)).obj
    assert obj["metadata"]["generation"] == 1
    labelled = (await registry.update(DEPLOY, "default", "d", lambda o: {
        **o, "metadata": {**o["metadata"], "labels": {"x": "y"}}}, OPTS)).obj
    assert labelled["metadata"]["generation"] == 1
    scaled = (await registry.update(DEPLOY, "default", "d", lambda o: {
        **o, "spec": {**o["spec"], "replicas": 3}}, OPTS)).obj
    assert scaled["metadata"]["generation"] == 2
    status = (await registry.update(DEPLOY, "default", "d", lambda o: {**o, "status": {"replicas": 3}}, OPTS,
                                    subresource="status")).obj
    assert status["metadata"]["generation"] == 2 and status["status"] == {"replicas": 3}
    ignored = (await registry.update(DEPLOY, "default", "d", lambda o: {**o, "status": {"replicas": 9}},
                                     OPTS)).obj
    assert ignored["status"] == {"replicas": 3}, "main resource updates cannot change status"


async def test_pod_is_defaulted_validated_and_gracefully_deleted(registry: Registry) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    created = (await registry.create(PODS, "default", pod, OPTS)).obj
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    with pytest.raises(errors.APIError) as exc:
        await registry.create(PODS, "default", {"metadata": {"name": "q"}, "spec": {"containers": [{}]}}, OPTS)
    assert exc.value.code == 422
    fields = {c["field"] for c in exc.value.details["causes"]}  # type: ignore[index]
    assert fields == {"spec.containers[0].name", "spec.containers[0].image"}
    # an unscheduled pod is deleted at once; a scheduled one lingers for its grace period
    assert (await registry.delete(PODS, "default", "p", {})).gone
    await registry.create(PODS, "default", {**pod, "spec": {**pod["spec"], "nodeName": "n1"}}, OPTS)
    marked = await registry.delete(PODS, "default", "p", {})
    assert not marked.gone
    assert marked.obj["metadata"]["deletionGracePeriodSeconds"] == 30
    assert (await registry.delete(PODS, "default", "p", {"gracePeriodSeconds": 0})).gone


async def test_finalizers_hold_deletion_until_removed(registry: Registry) -> None:
    await registry.create(CM, "default", {**cm("f"), "metadata": {"name": "f", "finalizers": ["x.io/hold"]}}, OPTS)
    result = await registry.delete(CM, "default", "f", {})
    assert not result.gone and result.obj["metadata"]["deletionTimestamp"]
    def drop(o: dict[str, Any]) -> dict[str, Any]:
        o["metadata"]["finalizers"] = []
        return o
    await registry.update(CM, "default", "f", drop, OPTS)
    with pytest.raises(errors.APIError) as exc:
        await registry.get(CM, "default", "f")
    assert exc.value.code == 404


async def test_watch_resume_and_too_old(registry: Registry) -> None:
    base = (await registry.list(CM, "default")).resource_version
    for i in range(3):
        await registry.create(CM, "default", cm(f"w{i}"), OPTS)
    initial, watcher, _ = await registry.cache.watch(CM.storage_prefix(), CM.namespace_prefix("default"),
                                                     after_revision=int(base), predicate=None)
    assert [(e.type, e.obj["metadata"]["name"]) for e in initial] == [("ADDED", "w0"), ("ADDED", "w1"),
                                                                       ("ADDED", "w2")]
    await registry.delete(CM, "default", "w1", {})
    event = await asyncio.wait_for(watcher.queue.get(), 5)
    assert event is not None and (event.type, event.obj["metadata"]["name"]) == ("DELETED", "w1")
    registry.cache.unwatch(CM.storage_prefix(), watcher)
    for i in range(60):  # overflow the 50-event window
        await registry.create(CM, "default", cm(f"x{i}"), OPTS)
    await registry.list(CM, "default")
    from kubelite.controlplane.apiserver.watchcache import TooOld

    with pytest.raises(TooOld):
        await registry.cache.watch(CM.storage_prefix(), CM.namespace_prefix("default"),
                                   after_revision=int(base), predicate=None)


async def test_paginated_list_is_consistent_across_pages(registry: Registry) -> None:
    for i in range(10):
        await registry.create(CM, "default", cm(f"p{i}"), OPTS)
    first = await registry.list(CM, "default", limit=4)
    assert [o["metadata"]["name"] for o in first.items] == ["p0", "p1", "p2", "p3"]
    assert first.remaining == 6
    await registry.create(CM, "default", cm("p35"), OPTS)  # after the first page: not in this list
    second = await registry.list(CM, "default", limit=4, continue_token=first.continue_token)
    third = await registry.list(CM, "default", limit=4, continue_token=second.continue_token)
    names = [o["metadata"]["name"] for o in first.items + second.items + third.items]
    assert names == [f"p{i}" for i in range(10)]
    assert third.continue_token == ""
    assert second.resource_version == first.resource_version


async def test_namespace_must_exist_and_not_terminate(registry: Registry) -> None:
    with pytest.raises(errors.APIError) as exc:
        await registry.create(CM, "nope", cm("a"), OPTS)
    assert (exc.value.code, exc.value.message) == (404, 'namespaces "nope" not found')
    await registry.create(NS, None, {"metadata": {"name": "going"}}, OPTS)
    await registry.delete(NS, None, "going", {})
    with pytest.raises(errors.APIError) as exc:
        await registry.create(CM, "going", cm("a"), OPTS)
    assert exc.value.code == 403 and "being terminated" in exc.value.message


async def test_dry_run_writes_nothing(registry: Registry) -> None:
    await registry.create(CM, "default", cm("dry"), WriteOptions(dry_run=True))
    with pytest.raises(errors.APIError):
        await registry.get(CM, "default", "dry")


async def test_cache_keeps_going_past_non_object_values(registry: Registry) -> None:
    # allocation claims (internal) and any stray non-JSON value must not stall lists and watches
    await registry.store.create("/kubelite/serviceips/10.43.0.9", b"default/svc")
    await registry.store.create("/core/configmaps/default/garbage", b"\x00not json")
    created = (await registry.create(CM, "default", cm("after"), OPTS)).obj
    page = await asyncio.wait_for(registry.list(CM, "default"), 2)
    assert "after" in [o["metadata"]["name"] for o in page.items]
    assert int(page.resource_version) >= int(created["metadata"]["resourceVersion"])


async def test_binding_sets_node_and_condition_once(registry: Registry) -> None:
    pod = {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await registry.create(PODS, "default", pod, OPTS)

    def bind(current: dict[str, Any]) -> dict[str, Any]:
        current["spec"]["nodeName"] = "n1"
        current["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
        return current

    bound = (await registry.update(PODS, "default", "b", bind, OPTS, subresource="binding",
                                   precondition_from_body=False)).obj
    assert bound["spec"]["nodeName"] == "n1"
    assert bound["status"]["conditions"] == [{"type": "PodScheduled", "status": "True"}]
    # a plain update still may not move the pod
    with pytest.raises(errors.APIError) as exc:
        await registry.update(PODS, "default", "b", lambda o: {**o, "spec": {**o["spec"], "nodeName": "n2"}}, OPTS)
    assert exc.value.code == 422


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def _stored_pod(registry: Registry, name: str) -> dict[str, Any]:
    kv = await registry.store.get(PODS.storage_key("default", name))
    assert kv is not None
    return decode(kv)


async def test_bind_assigns_the_node_from_the_cached_pod_and_hands_it_to_the_cache(registry: Registry) -> None:
    created = (await registry.create(PODS, "default", _pod("b"), OPTS)).obj
    key = PODS.storage_key("default", "b")
    cached_before = registry.cache.get(PODS.storage_prefix(), key)
    assert cached_before is not None
    untouched = copy.deepcopy(cached_before)
    bound = await registry.bind(PODS, "default", "b", node="n1", annotations={"a": "b"})
    assert cached_before == untouched, "binding must not change the cached pod it started from"
    assert bound["spec"]["nodeName"] == "n1" and bound["metadata"]["annotations"] == {"a": "b"}
    assert [c["type"] for c in bound["status"]["conditions"]] == ["PodScheduled"]
    assert int(bound["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stored = await _stored_pod(registry, "b")
    assert stored == bound == await registry.get(PODS, "default", "b")
    # the cache took the written pod itself, equal to what it would have parsed
    assert registry.cache.get(PODS.storage_prefix(), key) is bound
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "b", node="n2")
    assert (exc.value.code, exc.value.message) == (409, 'Operation cannot be fulfilled on pods/binding "b": pod b '
                                                   'is already assigned to node "n1"')


async def test_bind_refusals_and_preconditions(registry: Registry) -> None:
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "missing", node="n1")
    assert exc.value.code == 404
    await registry.create(PODS, "default", _pod("c"), OPTS)
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "c", node="n1", uid="other")
    assert exc.value.code == 409 and "UID in precondition: other" in exc.value.message
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "c", node="n1", resource_version="1")
    assert exc.value.code == 409 and exc.value.message.endswith(errors.MODIFIED)
    dry = await registry.bind(PODS, "default", "c", node="n1", dry_run=True)
    assert dry["spec"]["nodeName"] == "n1" and "nodeName" not in (await _stored_pod(registry, "c"))["spec"]
    gated = {**_pod("g"), "spec": {**_pod("g")["spec"], "schedulingGates": [{"name": "x.io/wait"}]}}
    await registry.create(PODS, "default", gated, OPTS)
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "g", node="n1")
    assert exc.value.code == 409 and "non-empty .spec.schedulingGates" in exc.value.message


async def test_bind_from_a_stale_cached_pod_keeps_the_newer_write(registry: Registry,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    await registry.create(PODS, "default", _pod("s"), OPTS)
    key = PODS.storage_key("default", "s")
    stale = registry.cache.get(PODS.storage_prefix(), key)
    assert stale is not None
    # another server wrote a label the cache has not seen yet
    newer = await _stored_pod(registry, "s")
    newer["metadata"]["labels"] = {"app": "x"}
    await registry.store.update(key, encode(newer), expected_revision=int(stale["metadata"]["resourceVersion"]))
    monkeypatch.setattr(registry.cache, "get", lambda prefix, k: stale if k == key else None)
    bound = await registry.bind(PODS, "default", "s", node="n1")
    stored = await _stored_pod(registry, "s")
    assert stored["metadata"]["labels"] == {"app": "x"} and stored["spec"]["nodeName"] == "n1"
    assert stored == bound


async def test_bind_refused_by_a_stale_cached_pod_is_decided_on_the_store(registry: Registry,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # the cache still shows an old pod of the same name, assigned and of another UID; the store's is new
    await registry.create(PODS, "default", _pod("r"), OPTS)
    await registry.bind(PODS, "default", "r", node="n1")
    key = PODS.storage_key("default", "r")
    stale = registry.cache.get(PODS.storage_prefix(), key)
    assert stale is not None and stale["spec"]["nodeName"] == "n1"
    assert (await registry.delete(PODS, "default", "r", {"gracePeriodSeconds": 0})).gone
    fresh = (await registry.create(PODS, "default", _pod("r"), OPTS)).obj
    monkeypatch.setattr(registry.cache, "get", lambda prefix, k: stale if k == key else None)
    bound = await registry.bind(PODS, "default", "r", node="n2", uid=fresh["metadata"]["uid"])
    assert bound["spec"]["nodeName"] == "n2" and bound["metadata"]["uid"] == fresh["metadata"]["uid"]
    # and a refusal that holds on the store's pod too is still answered
    with pytest.raises(errors.APIError) as exc:
        await registry.bind(PODS, "default", "r", node="n3")
    assert exc.value.code == 409 and 'already assigned to node "n2"' in exc.value.message


def _serve_stale(registry: Registry, monkeypatch: pytest.MonkeyPatch, key: str, stale: dict[str, Any]) -> None:
    """The watch cache lags behind the store for ``key`` (another server wrote, or events are queued)."""
    real_get = registry.cache.get
    monkeypatch.setattr(registry.cache, "get", lambda prefix, k: stale if k == key else real_get(prefix, k))


async def test_update_starts_from_the_cached_object_without_reading_the_store(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    await registry.create(CM, "default", cm("u", k="1"), OPTS)
    reads: list[str] = []
    real_get = registry.store.get

    async def counting_get(key: str) -> Any:
        reads.append(key)
        return await real_get(key)

    monkeypatch.setattr(registry.store, "get", counting_get)
    updated = (await registry.update(CM, "default", "u", lambda o: {**o, "data": {"k": "2"}}, OPTS)).obj
    assert reads == [] and updated["data"] == {"k": "2"}
    assert updated == registry.cache.get(CM.storage_prefix(), CM.storage_key("default", "u"))


async def test_update_from_a_stale_cached_object_is_decided_on_the_store(
        registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    first = (await registry.create(CM, "default", cm("v", k="1"), OPTS)).obj
    key = CM.storage_key("default", "v")
    stale = registry.cache.get(CM.storage_prefix(), key)
    assert stale is not None
    newer = (await registry.update(CM, "default", "v", lambda o: {**o, "data": {"k": "2"}},
                                   OPTS)).obj
    _serve_stale(registry, monkeypatch, key, stale)
    # a PUT carrying the store's resourceVersion is accepted, not refused on the cached one
    put = {**newer, "data": {"k": "3"}}
    assert (await registry.update(CM, "default", "v", lambda _o: copy.deepcopy(put), OPTS)).obj["data"] == {"k": "3"}
    # one carrying the stale resourceVersion is refused (by the store's object, not the cached one)
    with pytest.raises(errors.APIError) as exc:
        await registry.update(CM, "default", "v", lambda _o: {**copy.deepcopy(first), "data": {"k": "4"}}, OPTS)
    assert exc.value.code == 409
    # a change that is none for the cached copy is one for the store's object: it is written
    back = await registry.update(CM, "default", "v", lambda o: {**o, "data": {"k": "1"}}, OPTS)
    assert back.obj["data"] == {"k": "1"}
    assert decode(await registry.store.get(key))["data"] == {"k": "1"}  # type: ignore[arg-type]
    # a patch made on the stale copy is made again on the newer object: the write keeps what came between
    labelled = (await registry.update(CM, "default", "v", lambda o: {**o, "metadata": {
        **o["metadata"], "labels": {"a": "b"}}}, OPTS)).obj
    assert labelled["data"] == {"k": "1"} and labelled["metadata"]["labels"] == {"a": "b"}
    assert labelled == decode(await registry.store.get(key))  # type: ignore[arg-type]
