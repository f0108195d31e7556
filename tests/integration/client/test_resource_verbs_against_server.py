"""Resource handles against a real kubelite server: CRUD, errors, patch types, subresources, watch, 410."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_helpers import churn

from kubelite.client import APIClient, APIStatusError, load_kubeconfig

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


def configmap(name: str, *, labels: dict[str, str] | None = None, **data: str) -> Obj:
    md: Obj = {"name": name}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": dict(data)}


async def test_create_get_update_delete_roundtrip(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    created = await cms.create(configmap("a", k="1"), namespace=namespace)
    assert created["metadata"]["namespace"] == namespace and created["metadata"]["uid"]
    fetched = await cms.get("a", namespace=namespace)
    assert fetched["data"] == {"k": "1"}
    fetched["data"]["k"] = "2"
    updated = await cms.update(fetched)  # namespace from metadata.namespace
    assert updated["data"] == {"k": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    await cms.delete("a", namespace=namespace)
    with pytest.raises(APIStatusError) as info:
        await cms.get("a", namespace=namespace)
    assert info.value.is_not_found() and info.value.code == 404
    assert info.value.message == 'configmaps "a" not found'


async def test_conflicts_and_already_exists(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    first = await cms.create(configmap("a"), namespace=namespace)
    with pytest.raises(APIStatusError) as exists:
        await cms.create(configmap("a"), namespace=namespace)
    assert exists.value.is_already_exists() and exists.value.code == 409
    await cms.patch("a", {"data": {"moved": "on"}}, namespace=namespace)
    with pytest.raises(APIStatusError) as stale:
        await cms.update(first)  # carries the old resourceVersion
    assert stale.value.is_conflict()
    assert "the object has been modified" in stale.value.message


@pytest.mark.parametrize(("patch_type", "body", "expected"), [
    pytest.param("merge", {"data": {"b": "2", "a": None}}, {"b": "2"}, id="merge"),
    pytest.param("json", [{"op": "add", "path": "/data/b", "value": "2"}, {"op": "remove", "path": "/data/a"}],
                 {"b": "2"}, id="json"),
    pytest.param("strategic", {"data": {"b": "2"}}, {"a": "1", "b": "2"}, id="strategic"),
])
async def test_patch_types(client: APIClient, namespace: str, patch_type: Any, body: Any,
                           expected: dict[str, str]) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("p", a="1"), namespace=namespace)
    patched = await cms.patch("p", body, namespace=namespace, patch_type=patch_type)
    assert patched["data"] == expected


async def test_strategic_merge_patch_merges_lists_by_key(client: APIClient, namespace: str) -> None:
    deployments = client.resource("apps", "v1", "deployments")
    labels = {"app": "web"}
    await deployments.create({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "side:1"}]}}}}, namespace=namespace)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "side:2"}]}}}}
    patched = await deployments.patch("web", patch, namespace=namespace, patch_type="strategic")
    images = {c["name"]: c["image"] for c in patched["spec"]["template"]["spec"]["containers"]}
    assert images == {"app": "app:1", "sidecar": "side:2"}, "containers merge by name, none is lost"


async def test_apply_patch_is_sent_as_server_side_apply(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    try:
        applied = await cms.patch("applied", configmap("applied", k="v"), namespace=namespace, patch_type="apply",
                                  field_manager="kubelite-test", force=True)
    except APIStatusError as exc:
        if exc.code == 415 and "apply" in exc.message:
            pytest.skip(f"this server does not serve server-side apply yet: {exc.message}")
        raise
    assert applied["data"] == {"k": "v"}


async def test_list_with_selectors_and_pages(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    for i in range(5):
        await cms.create(configmap(f"c{i}", labels={"tier": "front" if i % 2 else "back"}), namespace=namespace)
    front = await cms.list(namespace=namespace, label_selector={"tier": "front"})
    assert sorted(o["metadata"]["name"] for o in front["items"]) == ["c1", "c3"]
    named = await cms.list(namespace=namespace, field_selector="metadata.name=c4")
    assert [o["metadata"]["name"] for o in named["items"]] == ["c4"]
    page = await cms.list(namespace=namespace, limit=2)
    assert len(page["items"]) == 2 and page["metadata"].get("continue")
    everything = await cms.list_all(namespace=namespace, page_size=2)
    assert sorted(o["metadata"]["name"] for o in everything["items"]) == [f"c{i}" for i in range(5)]
    assert "continue" not in everything["metadata"] and everything["metadata"]["resourceVersion"]
    with pytest.raises(APIStatusError) as bad:
        await cms.list(namespace=namespace, label_selector="tier in (")
    assert bad.value.code == 400


async def test_delete_preconditions_and_collection(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    created = await cms.create(configmap("a"), namespace=namespace)
    with pytest.raises(APIStatusError) as wrong_uid:
        await cms.delete("a", namespace=namespace, preconditions={"uid": "not-the-uid"})
    assert wrong_uid.value.is_conflict() and "Precondition failed" in wrong_uid.value.message
    await cms.delete("a", namespace=namespace, preconditions={"uid": created["metadata"]["uid"]},
                     propagation_policy="Background", grace_period_seconds=0)
    for name, tier in (("x", "gone"), ("y", "gone"), ("z", "kept")):
        await cms.create(configmap(name, labels={"tier": tier}), namespace=namespace)
    deleted = await cms.delete_collection(namespace=namespace, label_selector="tier=gone")
    assert sorted(o["metadata"]["name"] for o in deleted["items"]) == ["x", "y"]
    left = await cms.list(namespace=namespace)
    assert [o["metadata"]["name"] for o in left["items"]] == ["z"]


async def test_dry_run_writes_nothing(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("ghost"), namespace=namespace, dry_run=True)
    with pytest.raises(APIStatusError) as info:
        await cms.get("ghost", namespace=namespace)
    assert info.value.is_not_found()


async def test_status_and_scale_subresources(client: APIClient, namespace: str) -> None:
    deployments = client.resource("apps", "v1", "deployments")
    labels = {"app": "s"}
    created = await deployments.create({"metadata": {"name": "s"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        namespace=namespace)
    created["status"] = {"replicas": 1, "readyReplicas": 1}
    created["spec"]["replicas"] = 9  # ignored by the status subresource
    after_status = await deployments.update_status(created)
    assert after_status["status"]["readyReplicas"] == 1 and after_status["spec"]["replicas"] == 1
    scale = deployments.subresource("scale")
    current = await scale.get("s", namespace=namespace)
    assert current["kind"] == "Scale" and current["spec"]["replicas"] == 1
    current["spec"]["replicas"] = 3
    assert (await scale.update(current, namespace=namespace))["spec"]["replicas"] == 3
    patched = await scale.patch("s", {"spec": {"replicas": 4}}, namespace=namespace)
    assert patched["spec"]["replicas"] == 4
    assert (await deployments.get("s", namespace=namespace))["spec"]["replicas"] == 4


async def test_binding_subresource_assigns_a_node(client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    await pods.create({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
                      namespace=namespace)
    await pods.subresource("binding").create("p", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                                   "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}},
                                             namespace=namespace)
    assert (await pods.get("p", namespace=namespace))["spec"]["nodeName"] == "n1"


async def test_cluster_scoped_resources(client: APIClient) -> None:
    classes = client.resource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
    created = await classes.create({"metadata": {"name": "client-test-high"}, "value": 1000})
    assert "namespace" not in created["metadata"]
    assert (await classes.get("client-test-high"))["value"] == 1000
    await classes.delete("client-test-high")


async def test_watch_delivers_changes_after_a_version(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    start = await cms.create(configmap("w", v="0"), namespace=namespace)
    await cms.patch("w", {"data": {"v": "1"}}, namespace=namespace)
    await cms.create(configmap("other", labels={"skip": "yes"}), namespace=namespace)
    await cms.delete("w", namespace=namespace)
    events: list[tuple[str, str]] = []
    stream = cms.watch(namespace=namespace, resource_version=start["metadata"]["resourceVersion"],
                       label_selector="skip!=yes", timeout_seconds=1)
    async with stream:
        async for event in stream:  # ends when the server's timeoutSeconds elapses
            events.append((event.type, event.object["metadata"]["name"]))
    assert events == [("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_from_now_sees_live_changes_and_by_name(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("existing"), namespace=namespace)
    listed = await cms.list(namespace=namespace)
    stream = cms.watch(namespace=namespace, name="target", resource_version=listed["metadata"]["resourceVersion"],
                       timeout_seconds=10)
    seen: list[tuple[str, str]] = []

    async def consume() -> None:
        async for event in stream:
            seen.append((event.type, event.object["metadata"]["name"]))
            if event.type == "DELETED":
                return

    consumer = asyncio.create_task(consume())
    try:
        await cms.create(configmap("ignored"), namespace=namespace)
        await cms.create(configmap("target"), namespace=namespace)
        await cms.delete("target", namespace=namespace)
        await asyncio.wait_for(consumer, 5)
    finally:
        consumer.cancel()
        await stream.close()
    assert seen == [("ADDED", "target"), ("DELETED", "target")]


async def test_watch_without_version_starts_with_the_current_state(client: APIClient, namespace: str) -> None:
    cms = client.resource("", "v1", "configmaps")
    await cms.create(configmap("one"), namespace=namespace)
    async with cms.watch(namespace=namespace, timeout_seconds=1) as stream:
        events = [(e.type, e.object["metadata"]["name"]) async for e in stream]
    assert events == [("ADDED", "one")]


async def test_watch_from_a_compacted_version_raises_gone(client: APIClient, namespace: str) -> None:
    """The server keeps 1000 events per resource: after more writes, the old version is gone (410)."""
    cms = client.resource("", "v1", "configmaps")
    old = await cms.create(configmap("old"), namespace=namespace)
    await churn(client, namespace=namespace, count=1010)
    stream = cms.watch(namespace=namespace, resource_version=old["metadata"]["resourceVersion"], timeout_seconds=5)
    with pytest.raises(APIStatusError) as info:
        async with stream:
            async for _ in stream:
                pass
    assert info.value.is_gone() and info.value.code == 410
    assert "too old resource version" in info.value.message


async def test_a_client_from_the_admin_kubeconfig_reaches_the_server(server: Any) -> None:
    config = load_kubeconfig(server.kubeconfig)
    assert config.server.startswith("https://127.0.0.1:")
    async with APIClient(config) as api:
        namespaces = await api.resource("", "v1", "namespaces", namespaced=False).list()
    assert {"default", "kube-system"} <= {n["metadata"]["name"] for n in namespaces["items"]}
