"""Informer and Store logic against a scripted list/watch source (the server is covered by integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from kubelite.client.config import ClientConfig
from kubelite.client.informer import Informer, SharedInformerFactory, Store, meta_namespace_key, split_key
from kubelite.client.rest import APIClient, APIConnectionError, APIStatusError, Selector, WatchEvent

Obj = dict[str, Any]


def cm(name: str, rv: int, *, namespace: str = "ns", labels: dict[str, str] | None = None, **data: str) -> Obj:
    md: Obj = {"name": name, "namespace": namespace, "resourceVersion": str(rv)}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": dict(data)}


def listing(rv: int, *items: Obj, cont: str = "") -> Obj:
    md: Obj = {"resourceVersion": str(rv)}
    if cont:
        md["continue"] = cont
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": md, "items": list(items)}


def status(code: int, reason: str, message: str = "") -> APIStatusError:
    return APIStatusError({"kind": "Status", "code": code, "reason": reason, "message": message or reason})


class FakeStream:
    """One watch: the test pushes events (or an exception, or None for a clean end of stream)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.queue: asyncio.Queue[WatchEvent | Exception | None] = asyncio.Queue()
        self.closed = False

    def push(self, item: WatchEvent | Exception | None) -> None:
        self.queue.put_nowait(item)

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WatchEvent]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True


class FakeListerWatcher:
    """Lists answer from a script (the last entry repeats); every watch call opens a FakeStream."""

    group_resource = "configmaps"

    def __init__(self, *lists: Obj | Exception) -> None:
        self.lists: list[Obj | Exception] = list(lists)
        self.list_calls: list[dict[str, Any]] = []
        self.streams: list[FakeStream] = []

    async def list(self, *, namespace: str | None = None, label_selector: Selector = None,
                   field_selector: Selector = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> Obj:
        self.list_calls.append({"namespace": namespace, "label_selector": label_selector, "limit": limit,
                                "continue_token": continue_token, "resource_version": resource_version})
        answer = self.lists.pop(0) if len(self.lists) > 1 else self.lists[0]
        if isinstance(answer, Exception):
            raise answer
        # a deep-enough copy: the informer stores these objects
        return {**answer, "items": [dict(item) for item in answer["items"]]}

    def watch(self, *, namespace: str | None = None, label_selector: Selector = None,
              field_selector: Selector = None, resource_version: str | None = None,
              allow_watch_bookmarks: bool = False, timeout_seconds: int | None = None) -> FakeStream:
        stream = FakeStream({"namespace": namespace, "resource_version": resource_version,
                             "allow_watch_bookmarks": allow_watch_bookmarks, "timeout_seconds": timeout_seconds})
        self.streams.append(stream)
        return stream


class Recorder:
    """Handlers that write down what they were told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.deleted: list[Obj] = []

    def on_add(self, obj: Obj) -> None:
        self.calls.append(("add", meta_namespace_key(obj), obj["metadata"]["resourceVersion"]))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.calls.append(("update", meta_namespace_key(new), old["metadata"]["resourceVersion"],
                           new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: Obj) -> None:
        self.calls.append(("delete", meta_namespace_key(obj), obj["metadata"]["resourceVersion"]))
        self.deleted.append(obj)


async def until(condition: Callable[[], bool], *, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(informer.run())
    try:
        yield task
    finally:
        informer.stop()
        await asyncio.wait_for(task, 2)


def make_informer(source: FakeListerWatcher, **kwargs: Any) -> Informer:
    kwargs.setdefault("backoff_initial", 0.001)
    kwargs.setdefault("backoff_max", 0.002)
    return Informer(source, namespace="ns", **kwargs)


# ---- reflector and handlers -----------------------------------------------------------------------


async def test_initial_list_fills_the_store_and_calls_on_add() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7)))
    informer = make_informer(source, min_watch_timeout=60)
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add)
    async with running(informer):
        assert await informer.wait_for_sync(timeout=2)
        await registration.wait_idle()
        assert informer.has_synced and registration.has_synced
        assert sorted(informer.store.keys()) == ["ns/a", "ns/b"]
        assert seen.calls == [("add", "ns/a", "5"), ("add", "ns/b", "7")]
        await until(lambda: len(source.streams) == 1)
    assert source.list_calls[0]["resource_version"] == "0", "the first list may be served from the watch cache"
    watch = source.streams[0].params
    assert watch["resource_version"] == "10"
    assert watch["allow_watch_bookmarks"] is True
    assert 60 <= watch["timeout_seconds"] <= 120
    assert source.streams[0].closed


async def test_watch_events_update_store_and_handlers() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7)))
    informer = make_informer(source)
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add, on_update=seen.on_update, on_delete=seen.on_delete)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        stream = source.streams[0]
        stream.push(WatchEvent("ADDED", cm("c", 11)))
        stream.push(WatchEvent("MODIFIED", cm("a", 12, x="1")))
        stream.push(WatchEvent("DELETED", cm("b", 13)))
        stream.push(WatchEvent("DELETED", cm("never-seen", 14)))  # unknown: no handler call
        stream.push(WatchEvent("BOOKMARK", {"kind": "ConfigMap", "metadata": {"resourceVersion": "20"}}))
        await until(lambda: informer.last_sync_resource_version == "20")
        await registration.wait_idle()
    assert seen.calls[2:] == [("add", "ns/c", "11"), ("update", "ns/a", "5", "12"), ("delete", "ns/b", "13")]
    assert sorted(informer.store.keys()) == ["ns/a", "ns/c"]
    stored = informer.store.get("ns/a")
    assert stored is not None and stored["data"] == {"x": "1"}


async def test_a_watch_that_ends_resumes_from_the_last_version_without_relisting() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5)))
    informer = make_informer(source)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(WatchEvent("MODIFIED", cm("a", 15)))
        source.streams[0].push(None)  # the server's timeoutSeconds elapsed
        await until(lambda: len(source.streams) == 2)
    assert len(source.list_calls) == 1
    assert source.streams[1].params["resource_version"] == "15"


async def test_gone_relists_consistently_and_reports_objects_deleted_meanwhile() -> None:
    source = FakeListerWatcher(
        listing(10, cm("a", 5), cm("b", 7, owner="x")),
        # after 410: b vanished while we were not watching, c appeared, a is unchanged
        listing(50, cm("a", 5), cm("c", 40)),
    )
    informer = make_informer(source)
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add, on_update=seen.on_update, on_delete=seen.on_delete)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(status(410, "Expired", "too old resource version: 10 (30)"))
        await until(lambda: len(source.streams) == 2)
        await registration.wait_idle()
    relist = source.list_calls[1]
    assert relist["resource_version"] is None and relist["limit"] == 500, "a consistent, paged relist"
    assert seen.calls[2:] == [("update", "ns/a", "5", "5"), ("add", "ns/c", "40"), ("delete", "ns/b", "7")]
    assert seen.deleted[-1]["data"] == {"owner": "x"}, "on_delete gets the last known state of the vanished object"
    assert sorted(informer.store.keys()) == ["ns/a", "ns/c"]
    assert source.streams[1].params["resource_version"] == "50"


async def test_consistent_relist_follows_continue_tokens() -> None:
    source = FakeListerWatcher(
        listing(10, cm("a", 5)),
        listing(60, cm("a", 5), cont="page2"),
        listing(60, cm("b", 55)),
    )
    informer = make_informer(source)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(status(410, "Gone"))
        await until(lambda: len(source.streams) == 2)
    assert [c["continue_token"] for c in source.list_calls[1:]] == [None, "page2"]
    assert sorted(informer.store.keys()) == ["ns/a", "ns/b"]
    assert informer.last_sync_resource_version == "60"


async def test_connection_failure_rewatches_from_the_same_version() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5)))
    informer = make_informer(source)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(APIConnectionError("connection reset"))
        await until(lambda: len(source.streams) == 2)
    assert len(source.list_calls) == 1
    assert source.streams[1].params["resource_version"] == "10"


async def test_other_watch_errors_relist_from_the_last_version() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5)), listing(12, cm("a", 12)))
    informer = make_informer(source)
    async with running(informer):
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(status(500, "InternalError"))
        await until(lambda: len(source.streams) == 2)
    assert source.list_calls[1]["resource_version"] == "10"


async def test_a_failing_list_is_retried() -> None:
    source = FakeListerWatcher(APIConnectionError("refused"), status(503, "ServiceUnavailable"), listing(3, cm("a", 2)))
    informer = make_informer(source)
    async with running(informer):
        assert await informer.wait_for_sync(timeout=2)
    assert len(source.list_calls) == 3


async def test_a_handler_added_after_sync_first_gets_every_cached_object() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7)))
    informer = make_informer(source)
    async with running(informer):
        assert await informer.wait_for_sync(timeout=2)
        late = Recorder()
        registration = informer.add_handler(on_add=late.on_add)
        await registration.wait_idle()
        assert registration.has_synced
        assert sorted(late.calls) == [("add", "ns/a", "5"), ("add", "ns/b", "7")]


async def test_a_failing_handler_does_not_stop_delivery() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7)))
    informer = make_informer(source)
    delivered: list[str] = []

    def explode_on_a(obj: Obj) -> None:
        if obj["metadata"]["name"] == "a":
            raise RuntimeError("handler bug")
        delivered.append(obj["metadata"]["name"])

    registration = informer.add_handler(on_add=explode_on_a)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
        await registration.wait_idle()
    assert delivered == ["b"]


async def test_async_handlers_are_awaited_in_order() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7), cm("c", 8)))
    informer = make_informer(source)
    delivered: list[str] = []

    async def slow(obj: Obj) -> None:
        await asyncio.sleep(0.01 if obj["metadata"]["name"] == "a" else 0)
        delivered.append(obj["metadata"]["name"])

    registration = informer.add_handler(on_add=slow)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
        await registration.wait_idle()
    assert delivered == ["a", "b", "c"]


async def test_resync_redelivers_every_object_as_an_update() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5)))
    informer = make_informer(source, resync_period=0.02)
    seen = Recorder()
    informer.add_handler(on_update=seen.on_update)
    async with running(informer):
        await until(lambda: len(seen.calls) >= 2)
    assert seen.calls[0] == ("update", "ns/a", "5", "5")


async def test_removed_handler_gets_nothing_more() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5)))
    informer = make_informer(source)
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
        await registration.wait_idle()
        await informer.remove_handler(registration)
        await until(lambda: len(source.streams) == 1)
        source.streams[0].push(WatchEvent("ADDED", cm("z", 11)))
        await until(lambda: informer.store.get("ns/z") is not None)
    assert seen.calls == [("add", "ns/a", "5")]


async def test_wait_for_sync_returns_false_when_stopped_first() -> None:
    source = FakeListerWatcher(APIConnectionError("never up"))
    informer = make_informer(source, backoff_initial=5, backoff_max=5)
    task = asyncio.create_task(informer.run())
    try:
        waiter = asyncio.create_task(informer.wait_for_sync())
        await asyncio.sleep(0.01)
        informer.stop()
        assert await asyncio.wait_for(waiter, 2) is False
    finally:
        informer.stop()
        await asyncio.wait_for(task, 2)


async def test_wait_for_sync_times_out() -> None:
    informer = make_informer(FakeListerWatcher(listing(1)))
    assert await informer.wait_for_sync(timeout=0.01) is False


async def test_an_informer_runs_once() -> None:
    source = FakeListerWatcher(listing(10))
    informer = make_informer(source)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
        with pytest.raises(RuntimeError, match="already running"):
            await informer.run()
    with pytest.raises(RuntimeError, match="create a new one"):
        await informer.run()


async def test_list_items_without_kind_get_it_from_the_list() -> None:
    bare = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1"}}
    source = FakeListerWatcher(listing(10, bare))
    informer = make_informer(source)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
    stored = informer.store.get("ns/a")
    assert stored is not None and (stored["kind"], stored["apiVersion"]) == ("ConfigMap", "v1")


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"resync_period": 0}, "resync_period", id="zero-resync"),
    pytest.param({"min_watch_timeout": 0.5}, "min_watch_timeout", id="short-watch-timeout"),
])
def test_informer_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Informer(FakeListerWatcher(listing(1)), **kwargs)  # type: ignore[arg-type]


def test_add_handler_needs_a_handler() -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_informer(FakeListerWatcher(listing(1))).add_handler()


# ---- store -----------------------------------------------------------------------------------------


def by_app(obj: Obj) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return [labels["app"]] if "app" in labels else []


@pytest.mark.parametrize(("obj", "key"), [
    pytest.param({"metadata": {"name": "a", "namespace": "ns"}}, "ns/a", id="namespaced"),
    pytest.param({"metadata": {"name": "node1"}}, "node1", id="cluster-scoped"),
])
def test_meta_namespace_key(obj: Obj, key: str) -> None:
    assert meta_namespace_key(obj) == key
    namespace, name = split_key(key)
    assert name == obj["metadata"]["name"]
    assert namespace == obj["metadata"].get("namespace")


def test_meta_namespace_key_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        meta_namespace_key({"metadata": {}})


def test_store_indexes_follow_updates_and_deletes() -> None:
    store = Store({"app": by_app})
    store.put(cm("a", 1, labels={"app": "web"}))
    store.put(cm("b", 1, labels={"app": "web"}, namespace="other"))
    store.put(cm("c", 1, labels={"app": "db"}))
    assert [o["metadata"]["name"] for o in store.by_index("app", "web")] == ["a", "b"]
    assert store.index_values("app") == ["db", "web"]
    assert [o["metadata"]["name"] for o in store.by_index("namespace", "ns")] == ["a", "c"]
    _, old = store.put(cm("a", 2, labels={"app": "db"}))
    assert old is not None and old["metadata"]["resourceVersion"] == "1"
    assert store.index_keys("app", "web") == ["other/b"]
    assert store.index_keys("app", "db") == ["ns/a", "ns/c"]
    store.remove("other/b")
    assert store.index_values("app") == ["db"]
    assert store.by_index("namespace", "other") == []
    assert len(store) == 2 and "ns/a" in store
    assert store.get_by_name("a", namespace="ns") is store.get("ns/a")


def test_store_builds_an_index_added_later() -> None:
    store = Store()
    store.put(cm("a", 1, labels={"app": "web"}))
    store.add_indexers({"app": by_app})
    assert store.index_keys("app", "web") == ["ns/a"]
    store.add_indexers({"app": by_app})  # the same function again is fine
    with pytest.raises(ValueError, match='index "app" already exists'):
        store.add_indexers({"app": lambda obj: []})


def test_store_unknown_index_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match='index "nope" does not exist; indexes: app, namespace'):
        Store({"app": by_app}).by_index("nope", "x")


def test_store_survives_a_failing_index_function() -> None:
    def broken(obj: Obj) -> list[str]:
        raise RuntimeError("bug")

    store = Store({"broken": broken})
    store.put(cm("a", 1))
    assert store.get("ns/a") is not None
    assert store.index_values("broken") == []


# ---- shared informer factory -------------------------------------------------------------------------


@pytest.fixture
def offline_client() -> Iterator[APIClient]:
    # never connects: the factory only builds informers here
    yield APIClient(ClientConfig(server="http://127.0.0.1:9"))


def test_factory_shares_one_informer_per_selection(offline_client: APIClient) -> None:
    factory = SharedInformerFactory(offline_client)
    pods = offline_client.resource("", "v1", "pods")
    first = factory.informer(pods)
    assert factory.informer(offline_client.resource("", "v1", "pods")) is first
    assert factory.for_resource("", "v1", "pods") is first
    assert factory.informer(pods, namespace="kube-system") is not first
    assert factory.informer(pods, label_selector={"app": "web"}) is factory.informer(pods, label_selector="app=web")
    assert factory.informer(pods, field_selector="spec.nodeName=n1") is not first
    assert len(factory.informers) == 4


def test_factory_adds_indexers_to_an_existing_informer(offline_client: APIClient) -> None:
    factory = SharedInformerFactory(offline_client)
    pods = offline_client.resource("", "v1", "pods")
    informer = factory.informer(pods)
    factory.informer(pods, indexers={"app": by_app})
    assert set(informer.store.indexers) == {"namespace", "app"}


async def test_factory_wait_for_sync_with_nothing_started(offline_client: APIClient) -> None:
    assert await SharedInformerFactory(offline_client).wait_for_sync(timeout=0.1)


async def test_a_stopped_informer_does_not_leave_wait_idle_hanging() -> None:
    source = FakeListerWatcher(listing(10, cm("a", 5), cm("b", 7)))
    informer = make_informer(source)
    release = asyncio.Event()

    async def blocked(obj: Obj) -> None:
        await release.wait()

    registration = informer.add_handler(on_add=blocked)
    async with running(informer):
        await informer.wait_for_sync(timeout=2)
    await asyncio.wait_for(registration.wait_idle(), 1)


async def test_factory_cannot_start_again_after_shutdown(offline_client: APIClient) -> None:
    factory = SharedInformerFactory(offline_client)
    await factory.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        factory.start()
