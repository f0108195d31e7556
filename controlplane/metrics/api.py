"""metrics.k8s.io/v1beta1 served by the API server itself: NodeMetrics and PodMetrics (``kubectl top``).

Design (metrics-server pkg/api)
-------------------------------
Upstream serves this group from metrics-server behind an APIService; kubelite serves it natively with
the same wire format, so ``kubectl top`` and the HPA controller cannot tell the difference. The group's
two resources are registered in the :class:`ResourceTable` with verbs ``get``/``list`` only (so legacy
and aggregated discovery list them, and no controller tries to watch or delete them), and their paths
are routed here before the generic resource handler, which would otherwise look for them in storage.

A request is answered as metrics-server answers it: the Nodes or Pods it names are read from the
registry first (namespace, ``labelSelector``, ``fieldSelector`` on ``metadata.name``/``metadata.namespace``
applied there), then each gets the latest usage from :class:`MetricsStorage`; objects without metrics
yet are left out of a list and are a 404 on a get. CPU is a quantity in nanocores (``12345n``, put in
canonical form as Go's ``resource.Quantity`` would), memory one in bytes (binary SI), ``window`` a Go
duration. A ``Table`` (``kubectl get podmetrics``) has metrics-server's columns. Authentication and
RBAC happen in the server's middleware like for any resource (``metrics.k8s.io`` pods/nodes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import orjson
from aiohttp import web

from kubelite.api import fields as field_selectors
from kubelite.api import labels as label_selectors
from kubelite.api.quantity import Quantity, QuantityFormat
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.openapi_service import OpenAPIService
from kubelite.controlplane.apiserver.registry import Registry
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable
from kubelite.controlplane.metrics.storage import MetricsStorage, ResourceUsage

__all__ = ["GROUP", "METRICS_RESOURCES", "MetricsAPI", "go_duration"]

Obj = dict[str, Any]
GROUP: Final = "metrics.k8s.io"
VERSION: Final = "v1beta1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
DEFINITIONS: Final = "io.k8s.metrics.pkg.apis.metrics.v1beta1."
METRICS_RESOURCES: Final = (
    ResourceInfo(GROUP, VERSION, "NodeMetrics", "nodes", False, verbs=("get", "list"),
                 definition=DEFINITIONS + "NodeMetrics"),
    ResourceInfo(GROUP, VERSION, "PodMetrics", "pods", True, verbs=("get", "list"),
                 definition=DEFINITIONS + "PodMetrics"),
)
ROOT: Final = f"/apis/{API_VERSION}"
TABLE_COLUMNS: Final = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
    {"name": "CPU", "type": "string", "format": "", "description": "CPU usage", "priority": 0},
    {"name": "Memory", "type": "string", "format": "", "description": "Memory usage", "priority": 0},
    {"name": "Window", "type": "string", "format": "", "description": "Interval of the measurement", "priority": 0},
]


def _schemas() -> dict[str, Obj]:
    """OpenAPI schemas of the two kinds and their lists, as metrics-server publishes them."""
    meta = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1."
    quantity = {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}
    usage = {"type": "object", "additionalProperties": quantity,
             "description": "The memory and cpu usage of the object"}
    common = {"apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this "
                             "representation of an object."},
              "kind": {"type": "string", "description": "Kind is a string value representing the REST resource "
                       "this object represents."}}
    timing = {"timestamp": {"$ref": meta + "Time"}, "window": {"type": "string", "description": "The window of "
                                                              "time the usage is averaged over"}}
    out: dict[str, Obj] = {}
    for kind, body in (
            ("NodeMetrics", {"usage": usage}),
            ("PodMetrics", {"containers": {"type": "array", "description": "Metrics for all containers",
                                           "items": {"type": "object", "required": ["name", "usage"],
                                                     "properties": {"name": {"type": "string"}, "usage": usage}}}})):
        gvk = {"group": GROUP, "version": VERSION, "kind": kind}
        out[DEFINITIONS + kind] = {
            "type": "object", "description": f"{kind} sets resource usage metrics of a "
            f"{'node' if kind == 'NodeMetrics' else 'pod'}.",
            "required": ["timestamp", "window", *body],
            "properties": {**common, "metadata": {"$ref": meta + "ObjectMeta"}, **timing, **body},
            "x-kubernetes-group-version-kind": [gvk]}
        out[DEFINITIONS + kind + "List"] = {
            "type": "object", "required": ["items"], "description": f"{kind}List is a list of {kind}.",
            "properties": {**common, "metadata": {"$ref": meta + "ListMeta"},
                           "items": {"type": "array", "items": {"$ref": f"#/definitions/{DEFINITIONS}{kind}"}}},
            "x-kubernetes-group-version-kind": [{**gvk, "kind": kind + "List"}]}
    return out


METRICS_SCHEMAS: Final = _schemas()


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String()`` writes it ("15s", "1m0.5s", "250ms")."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _trim(nanos / size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _trim(rest / 1e9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def cpu_quantity(nanocores: int) -> str:
    return Quantity.from_scaled(max(0, nanocores), -9).canonical()


def memory_quantity(memory_bytes: int) -> str:
    return Quantity(max(0, memory_bytes), QuantityFormat.BINARY_SI).canonical()


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(obj: Obj, now: str) -> Obj:
    md = obj.get("metadata") or {}
    out: Obj = {"name": md.get("name", "")}
    if md.get("namespace"):
        out["namespace"] = md["namespace"]
    out["creationTimestamp"] = now
    if md.get("labels"):
        out["labels"] = dict(md["labels"])
    return out


def node_metrics(node: Obj, usage: ResourceUsage, now: str) -> Obj:
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": _metadata(node, now),
            "timestamp": _rfc3339(usage.timestamp), "window": go_duration(usage.window),
            "usage": {"cpu": cpu_quantity(usage.nanocores), "memory": memory_quantity(usage.memory_bytes)}}


class MetricsAPI:
    """The routes of metrics.k8s.io/v1beta1; :meth:`register` adds its resources to the table."""

    def __init__(self, *, registry: Registry, table: ResourceTable, storage: MetricsStorage) -> None:
        self.registry = registry
        self.table = table
        self.storage = storage

    def register(self, *, openapi: OpenAPIService | None = None) -> None:
        """Serve the group: discovery (the table) and, given the server's OpenAPI service, its documents."""
        if openapi is not None:
            openapi.add_schemas(METRICS_SCHEMAS)
        for info in METRICS_RESOURCES:
            self.table.add(info)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", f"{ROOT}/nodes", self.nodes)
        router.add_route("*", f"{ROOT}/nodes/{{name}}", self.nodes)
        router.add_route("*", f"{ROOT}/pods", self.pods)
        router.add_route("*", f"{ROOT}/namespaces/{{namespace}}/pods", self.pods)
        router.add_route("*", f"{ROOT}/namespaces/{{namespace}}/pods/{{name}}", self.pods)

    # ---- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _check(request: web.Request, resource: str) -> None:
        request["resource"] = resource
        name = request.match_info.get("name", "")
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                            f"({request.method} {resource}.{GROUP})")
        watch = request.query.get("watch", "").lower() in ("true", "1")
        request["verb"] = "get" if name else ("watch" if watch else "list")
        if watch:
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                            f"(watch {resource}.{GROUP})")

    @staticmethod
    def _predicate(request: web.Request, namespaced: bool) -> Any:
        try:
            selector = label_selectors.parse(request.query.get("labelSelector", ""))
        except label_selectors.LabelSelectorError as exc:
            raise errors.bad_request(str(exc))
        try:
            fsel = field_selectors.parse(request.query.get("fieldSelector", ""))
        except field_selectors.FieldSelectorError as exc:
            raise errors.bad_request(str(exc))
        allowed = ("metadata.name", "metadata.namespace") if namespaced else ("metadata.name",)
        for fieldname in fsel.fields():
            if fieldname not in allowed:
                raise errors.bad_request(f"field label not supported: {fieldname}")

        def matches(obj: Obj) -> bool:
            md = obj.get("metadata") or {}
            return bool(selector.matches(md.get("labels") or {}) and fsel.matches(
                {"metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "")}))

        return matches

    def _respond(self, request: web.Request, kind: str, items: list[Obj], single: bool) -> web.Response:
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept and "g=meta.k8s.io" in accept:
            rows = []
            for item in items:
                if kind == "NodeMetrics":
                    cpu, memory = item["usage"]["cpu"], item["usage"]["memory"]
                else:
                    cpu_total = sum(Quantity.parse(c["usage"]["cpu"]).scaled_value(-9) for c in item["containers"])
                    memory_total = sum(Quantity.parse(c["usage"]["memory"]).value() for c in item["containers"])
                    cpu, memory = cpu_quantity(cpu_total), memory_quantity(memory_total)
                partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                           "metadata": item["metadata"]}
                rows.append({"cells": [item["metadata"]["name"], cpu, memory, item["window"]],
                             "object": partial if "includeObject=Object" not in str(request.rel_url) else item})
            body: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": ""},
                         "columnDefinitions": TABLE_COLUMNS, "rows": rows}
        elif single:
            body = items[0]
        else:
            body = {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
        return web.Response(body=orjson.dumps(body), headers={"Content-Type": "application/json"})

    # ---- handlers -------------------------------------------------------------------------------

    async def nodes(self, request: web.Request) -> web.Response:
        self._check(request, "nodes")
        info = self.table.get("", "v1", "nodes")
        assert info is not None
        name = request.match_info.get("name", "")
        now = _rfc3339(dt.datetime.now(dt.UTC).timestamp())
        if name:
            try:
                node = await self.registry.get(info, None, name)
            except errors.APIError as exc:
                if exc.code == 404:  # metrics-server passes its node lister's error on
                    raise errors.not_found("node", name)
                raise
            usage = self.storage.node(name)
            if usage is None:
                raise errors.not_found(f"nodes.{GROUP}", name)
            return self._respond(request, "NodeMetrics", [node_metrics(node, usage, now)], True)
        page = await self.registry.list(info, None, predicate=self._predicate(request, False))
        items = []
        for node in page.items:
            usage = self.storage.node(str(node["metadata"]["name"]))
            if usage is not None:
                items.append(node_metrics(node, usage, now))
        return self._respond(request, "NodeMetrics", items, False)

    def _pod_metrics(self, pod: Obj, now: str) -> Obj | None:
        md = pod.get("metadata") or {}
        found = self.storage.pod(str(md.get("namespace", "")), str(md.get("name", "")))
        if found is None:
            return None
        timestamp, window, containers = found
        return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": _metadata(pod, now),
                "timestamp": _rfc3339(timestamp), "window": go_duration(window),
                "containers": [{"name": c.name, "usage": {"cpu": cpu_quantity(c.nanocores),
                                                          "memory": memory_quantity(c.memory_bytes)}}
                               for c in containers]}

    async def pods(self, request: web.Request) -> web.Response:
        self._check(request, "pods")
        info = self.table.get("", "v1", "pods")
        assert info is not None
        namespace = request.match_info.get("namespace") or None
        name = request.match_info.get("name", "")
        request["namespace"] = namespace or ""
        now = _rfc3339(dt.datetime.now(dt.UTC).timestamp())
        if name:
            try:
                pod = await self.registry.get(info, namespace, name)
            except errors.APIError as exc:
                if exc.code == 404:  # metrics-server passes its pod lister's error on
                    raise errors.not_found("pod", name)
                raise
            metrics = self._pod_metrics(pod, now)
            if metrics is None:
                raise errors.not_found(f"pods.{GROUP}", f"{namespace}/{name}")
            return self._respond(request, "PodMetrics", [metrics], True)
        page = await self.registry.list(info, namespace, predicate=self._predicate(request, True))
        items = [m for m in (self._pod_metrics(p, now) for p in page.items) if m is not None]
        return self._respond(request, "PodMetrics", items, False)
