"""metrics.k8s.io/v1beta1 handlers: lists and gets of NodeMetrics/PodMetrics, selectors, errors, Table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable
from kubelite.controlplane.metrics.api import MetricsAPI
from kubelite.controlplane.metrics.storage import MetricsPoint, MetricsStorage, NodeBatch

Obj = dict[str, Any]


@dataclass
class Page:
    items: list[Obj]


class FakeRegistry:
    def __init__(self, objects: dict[str, list[Obj]]) -> None:
        self.objects = objects

    async def get(self, info: ResourceInfo, namespace: str | None, name: str) -> Obj:
        for obj in self.objects[info.plural]:
            if obj["metadata"]["name"] == name and obj["metadata"].get("namespace") == namespace:
                return obj
        raise errors.not_found(info.group_resource, name)

    async def list(self, info: ResourceInfo, namespace: str | None, *, predicate: Any = None) -> Page:
        return Page([o for o in self.objects[info.plural] if namespace in (None, o["metadata"].get("namespace"))
                     and (predicate is None or predicate(o))])


def _obj(name: str, namespace: str | None = None, **labels: str) -> Obj:
    md: Obj = {"name": name, "labels": labels}
    if namespace:
        md["namespace"] = namespace
    return {"metadata": md}


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    storage = MetricsStorage()
    for stamp, cpu in ((100.0, 1.0), (115.0, 4.0)):
        storage.store("n1", NodeBatch(node=MetricsPoint(stamp, cpu * 10, 2 * 1024**3), containers={
            ("default", "web", "app"): MetricsPoint(stamp, cpu, 8 * 1024**2),
            ("other", "db", "main"): MetricsPoint(stamp, cpu / 2, 1024**2)}))
    registry = FakeRegistry({"nodes": [_obj("n1", role="a"), _obj("n2")],
                             "pods": [_obj("web", "default", app="web"), _obj("db", "other", app="db"),
                                      _obj("new", "default", app="web")]})
    table = ResourceTable()
    api = MetricsAPI(registry=registry, table=table, storage=storage)  # type: ignore[arg-type]
    api.register()
    app = web.Application()

    @web.middleware
    async def status(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.APIError as exc:
            return web.json_response(exc.status(), status=exc.code)

    app.middlewares.append(status)
    api.add_routes(app.router)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_node_metrics_list_only_nodes_with_two_samples(client: TestClient) -> None:
    body = await (await client.get("/apis/metrics.k8s.io/v1beta1/nodes")).json()
    assert body["kind"] == "NodeMetricsList" and [i["metadata"]["name"] for i in body["items"]] == ["n1"]
    (n1,) = body["items"]
    assert n1["usage"] == {"cpu": "2", "memory": "2Gi"} and n1["window"] == "15s"  # 30 core-s in 15 s
    assert n1["timestamp"] == "1970-01-01T00:01:55Z" and n1["metadata"]["labels"] == {"role": "a"}


async def test_pod_metrics_by_namespace_and_label_selector(client: TestClient) -> None:
    body = await (await client.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb")).json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == [("default", "web")]
    assert body["items"][0]["containers"] == [{"name": "app", "usage": {"cpu": "200m", "memory": "8Mi"}}]
    body = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods")).json()
    assert [i["metadata"]["name"] for i in body["items"]] == ["db"]
    one = await (await client.get("/apis/metrics.k8s.io/v1beta1/namespaces/other/pods/db")).json()
    assert one["kind"] == "PodMetrics" and one["containers"][0]["usage"]["cpu"] == "100m"


@pytest.mark.parametrize(("path", "code", "message"), [
    ("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/new", 404,
     'pods.metrics.k8s.io "default/new" not found'),
    ("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/ghost", 404, 'pod "ghost" not found'),
    ("/apis/metrics.k8s.io/v1beta1/nodes/n2", 404, 'nodes.metrics.k8s.io "n2" not found'),
    ("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=%3D%3D", 400, ""),
    ("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dx", 400,
     "field label not supported: spec.nodeName"),
    ("/apis/metrics.k8s.io/v1beta1/pods?watch=true", 405, "watch pods.metrics.k8s.io"),
])
async def test_errors_are_upstreams_statuses(client: TestClient, path: str, code: int, message: str) -> None:
    response = await client.get(path)
    body = await response.json()
    assert response.status == code and body["kind"] == "Status" and message in body["message"]


async def test_writes_are_not_allowed(client: TestClient) -> None:
    response = await client.delete("/apis/metrics.k8s.io/v1beta1/nodes/n1")
    assert response.status == 405


async def test_a_table_has_metrics_servers_columns(client: TestClient) -> None:
    response = await client.get("/apis/metrics.k8s.io/v1beta1/pods",
                                headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    body = await response.json()
    assert [c["name"] for c in body["columnDefinitions"]] == ["Name", "CPU", "Memory", "Window"]
    assert [r["cells"] for r in body["rows"]] == [["web", "200m", "8Mi", "15s"], ["db", "100m", "1Mi", "15s"]]


def test_the_group_is_in_discovery() -> None:
    table = ResourceTable()
    MetricsAPI(registry=None, table=table, storage=MetricsStorage()).register()  # type: ignore[arg-type]
    assert "metrics.k8s.io" in table.groups()
    assert {i.plural: i.verbs for i in table.in_group_version("metrics.k8s.io", "v1beta1")} == {
        "nodes": ("get", "list"), "pods": ("get", "list")}
