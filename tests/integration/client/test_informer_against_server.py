"""Informers against a real kubelite server: sync, handlers, indexes, and a relist after 410 Gone."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from client_helpers import churn, wait_until

from kubelite.client import (
    APIClient,
    APIStatusError,
    Informer,
    Resource,
    SharedInformerFactory,
    WatchEvent,
    WatchStream,
    meta_namespace_key,
)
from kubelite.client.rest import Selector

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


def configmap(name: str, *, app: str | None = None, **data: str) -> Obj:
    md: Obj = {"name": name}
    if app:
        md["labels"] = {"app": app}
    return {"metadata": md, "data": dict(data)}


def by_app(obj: Obj) -> list[str]:
    app = ((obj.get("metadata") or {}).get("labels") or {}).get("app")
    return [app] if app else []


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.deleted: dict[str, Obj] = {}
        self.updated: list[tuple[Obj, Obj]] = []

    def on_add(self, obj: Obj) -> None:
        self.calls.append(("add", meta_namespace_key(obj)))

    def on_update(self, old: Obj, new: Obj) -> None:
        self.calls.append(("update", meta_namespace_key(new)))
        self.updated.append((old, new))

    def on_delete(self, obj: Obj) -> None:
        self.calls.append(("delete", meta_namespace_key(obj)))
        self.deleted[meta_namespace_key(obj)] = obj


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[None]:
    task = asyncio.create_task(informer.run())
    try:
        yield
    finally:
        informer.stop()
        await asyncio.wait_for(task, 10)


async def test_informer_syncs_then_follows_changes_with_indexes(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("a", app="web", v="1"), namespace=namespace)
    await cms.create(configmap("b", app="db"), namespace=namespace)
    informer = Informer(cms, namespace=namespace, indexers={"app": by_app})
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add, on_update=seen.on_update, on_delete=seen.on_delete)
    async with running(informer):
        assert await informer.wait_for_sync(timeout=5)
        await registration.wait_idle()
        assert registration.has_synced
        assert sorted(seen.calls) == [("add", f"{namespace}/a"), ("add", f"{namespace}/b")]
        assert [o["metadata"]["name"] for o in informer.store.by_index("app", "web")] == ["a"]
        assert len(informer.store.by_index("namespace", namespace)) == 2

        await cms.create(configmap("c", app="web"), namespace=namespace)
        await cms.patch("a", {"metadata": {"labels": {"app": "db"}}, "data": {"v": "2"}}, namespace=namespace)
        await cms.delete("b", namespace=namespace)
        await wait_until(lambda: len(seen.calls) == 5, what="three more notifications")
        await registration.wait_idle()
    assert seen.calls[2:] == [("add", f"{namespace}/c"), ("update", f"{namespace}/a"), ("delete", f"{namespace}/b")]
    old, new = seen.updated[0]
    assert (old["data"]["v"], new["data"]["v"]) == ("1", "2")
    assert sorted(informer.store.keys()) == [f"{namespace}/a", f"{namespace}/c"]
    assert [o["metadata"]["name"] for o in informer.store.by_index("app", "web")] == ["c"]
    assert [o["metadata"]["name"] for o in informer.store.by_index("app", "db")] == ["a"]
    stored = informer.store.get(f"{namespace}/a")
    assert stored is not None and stored["kind"] == "ConfigMap"


async def test_label_selected_informer_sees_objects_enter_and_leave(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    informer = Informer(cms, namespace=namespace, label_selector={"app": "web"})
    seen = Recorder()
    informer.add_handler(on_add=seen.on_add, on_delete=seen.on_delete)
    async with running(informer):
        assert await informer.wait_for_sync(timeout=5)
        await cms.create(configmap("x", app="db"), namespace=namespace)
        await cms.patch("x", {"metadata": {"labels": {"app": "web"}}}, namespace=namespace)  # enters
        await cms.patch("x", {"metadata": {"labels": {"app": "db"}}}, namespace=namespace)  # leaves
        await wait_until(lambda: len(seen.calls) == 2, what="enter and leave")
    assert seen.calls == [("add", f"{namespace}/x"), ("delete", f"{namespace}/x")]
    assert len(informer.store) == 0


class GatedWatches:
    """The real Resource, with a gate in front of every watch request so a test can hold watches off."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.gate = asyncio.Event()
        self.gate.set()
        self.current: WatchStream | None = None
        self.watch_versions: list[str | None] = []
        self.list_versions: list[str | None] = []

    @property
    def group_resource(self) -> str:
        return self.resource.group_resource

    async def list(self, *, namespace: str | None = None, label_selector: Selector = None,
                   field_selector: Selector = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None) -> Obj:
        self.list_versions.append(resource_version)
        return await self.resource.list(namespace=namespace, label_selector=label_selector,
                                        field_selector=field_selector, limit=limit, continue_token=continue_token,
                                        resource_version=resource_version)

    def watch(self, *, namespace: str | None = None, label_selector: Selector = None,
              field_selector: Selector = None, resource_version: str | None = None,
              allow_watch_bookmarks: bool = False, timeout_seconds: int | None = None) -> GatedStream:
        return GatedStream(self, dict(namespace=namespace, label_selector=label_selector,
                                      field_selector=field_selector, resource_version=resource_version,
                                      allow_watch_bookmarks=allow_watch_bookmarks, timeout_seconds=timeout_seconds))


class GatedStream:
    def __init__(self, owner: GatedWatches, params: dict[str, Any]) -> None:
        self.owner = owner
        self.params = params
        self.inner: WatchStream | None = None

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[WatchEvent]:
        await self.owner.gate.wait()
        self.owner.watch_versions.append(self.params["resource_version"])
        self.inner = self.owner.resource.watch(**self.params)
        self.owner.current = self.inner
        async for event in self.inner:
            yield event

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()


async def test_informer_relists_after_gone_and_reports_objects_deleted_meanwhile(
        client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    for name in ("a", "b", "c"):
        await cms.create(configmap(name, state=f"{name}-initial"), namespace=namespace)
    await cms.patch("b", {"data": {"state": "b-last-seen"}}, namespace=namespace)
    source = GatedWatches(cms)
    informer = Informer(source, namespace=namespace, backoff_initial=0.05, backoff_max=0.2)
    seen = Recorder()
    registration = informer.add_handler(on_add=seen.on_add, on_update=seen.on_update, on_delete=seen.on_delete)
    filler = f"f-{uuid.uuid4().hex[:8]}"
    namespaces = client.resource("", "v1", "namespaces", namespaced=False)
    await namespaces.create({"metadata": {"name": filler}})
    try:
        async with running(informer):
            assert await informer.wait_for_sync(timeout=5)
            await wait_until(lambda: source.current is not None, what="the first watch")
            version_before = informer.last_sync_resource_version
            # cut the informer off: hold new watches and end the current one
            source.gate.clear()
            assert source.current is not None
            await source.current.close()
            await registration.wait_idle()
            seen.calls.clear()
            # meanwhile: b is deleted, a changes, d appears, and 1000+ writes push it all out of the history
            await cms.delete("b", namespace=namespace)
            await cms.patch("a", {"data": {"state": "a-changed"}}, namespace=namespace)
            await cms.create(configmap("d"), namespace=namespace)
            await churn(client, namespace=filler, count=1010)
            source.gate.set()
            await wait_until(lambda: len(source.list_versions) == 2, timeout=10, what="the relist after 410")
            await wait_until(lambda: informer.store.get(f"{namespace}/d") is not None, what="the relisted state")
            await registration.wait_idle()
    finally:
        with contextlib.suppress(APIStatusError):
            await namespaces.delete(filler)
    assert source.watch_versions[1] == version_before, "the informer first tried to resume where it stopped"
    assert source.list_versions == ["0", None], "after 410 the relist is consistent (resourceVersion '')"
    assert sorted(informer.store.keys()) == [f"{namespace}/{n}" for n in ("a", "c", "d")]
    assert ("delete", f"{namespace}/b") in seen.calls
    assert seen.deleted[f"{namespace}/b"]["data"] == {"state": "b-last-seen"}, "the last known state is reported"
    assert ("add", f"{namespace}/d") in seen.calls and ("update", f"{namespace}/a") in seen.calls
    stored = informer.store.get(f"{namespace}/a")
    assert stored is not None and stored["data"]["state"] == "a-changed"


async def test_shared_informer_factory_shares_one_watch(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("one"), namespace=namespace)
    factory = SharedInformerFactory(client)
    first = factory.for_resource("", "v1", "configmaps", namespace=namespace)
    second = factory.informer(client.resource("", "v1", "configmaps"), namespace=namespace,
                              indexers={"app": by_app})
    assert first is second
    seen_a, seen_b = Recorder(), Recorder()
    first.add_handler(on_add=seen_a.on_add)
    second.add_handler(on_add=seen_b.on_add)
    factory.start()
    try:
        assert await factory.wait_for_sync(timeout=5)
        await cms.create(configmap("two", app="web"), namespace=namespace)
        await wait_until(lambda: len(seen_a.calls) == 2 and len(seen_b.calls) == 2, what="both handlers")
        assert [o["metadata"]["name"] for o in first.store.by_index("app", "web")] == ["two"]
    finally:
        await factory.shutdown()
    assert not first.running
