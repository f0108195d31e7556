"""autoscaling/v1 HorizontalPodAutoscalers, served by conversion from the stored autoscaling/v2 objects.

Design (upstream pkg/apis/autoscaling/v1/conversion.go)
-------------------------------------------------------
HPAs are stored once, in autoscaling/v2 (the preferred version); ``kubectl autoscale`` (1.32) and older
clients speak autoscaling/v1. Each v1 request is turned into a v2 one on the way in and its answer back
into v1 on the way out, through the same registry (admission, validation, storage, resourceVersions):

* v1 ``spec.targetCPUUtilizationPercentage`` <-> the v2 ``Resource`` cpu ``Utilization`` metric;
  ``status.currentCPUUtilizationPercentage`` <-> that metric's current ``averageUtilization``;
* what v1 cannot say is kept in annotations, as upstream does, so a v1 round trip loses nothing:
  ``autoscaling.alpha.kubernetes.io/metrics`` (the other metric specs), ``.../current-metrics``,
  ``.../conditions`` and ``.../behavior`` (JSON, v2 shape);
* get, list (label and field selectors, all namespaces), create, update (PUT), patch (JSON, merge,
  strategic merge on the v1 view, which is then converted back; server-side apply of a v1 configuration),
  delete, and the same writes on .../status; watch (from a resourceVersion or with the initial state,
  bookmarks, timeoutSeconds) streams the v2 watch cache's events converted.

Discovery lists v1 after v2 (non-preferred, no OpenAPI write paths beyond what the table says).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from aiohttp import web

from kubelite.api import fields as field_selectors
from kubelite.api import labels as label_selectors
from kubelite.api.openapi import merge_schema_for
from kubelite.controlplane.apiserver import errors, tables
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions
from kubelite.controlplane.apiserver.request import apply_patch
from kubelite.controlplane.apiserver.resources import STATUS, ResourceInfo, ResourceTable
from kubelite.controlplane.apiserver.watchcache import TooNew, TooOld, WatchClosed

__all__ = ["HPA_V1", "AutoscalingV1", "to_v1", "to_v2"]

Obj = dict[str, Any]
ANNOTATION: Final = "autoscaling.alpha.kubernetes.io/"
METRICS, CURRENT, CONDITIONS, BEHAVIOR = (ANNOTATION + n for n in ("metrics", "current-metrics", "conditions",
                                                                   "behavior"))
HPA_V1: Final = ResourceInfo("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
                             short_names=("hpa",), categories=("all",), subresources=(STATUS,), generation=True,
                             preferred=False, definition="io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
                             verbs=("create", "delete", "get", "list", "patch", "update", "watch"))
ROOT: Final = "/apis/autoscaling/v1"
BOOKMARK_INTERVAL: Final = 30.0
PATCH_TYPES: Final = ("application/json-patch+json", "application/merge-patch+json",
                      "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _is_cpu_utilization(metric: Obj) -> bool:
    resource = metric.get("resource") or {}
    return bool(metric.get("type") == "Resource" and resource.get("name") == "cpu"
                and (resource.get("target") or {}).get("type") == "Utilization")


def to_v1(obj: Obj) -> Obj:
    """A stored (v2) HPA as autoscaling/v1."""
    md = json.loads(json.dumps(obj.get("metadata") or {}))
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    annotations: dict[str, str] = dict(md.get("annotations") or {})
    out_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    others = []
    for metric in spec.get("metrics") or ():
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in out_spec:
            out_spec["targetCPUUtilizationPercentage"] = metric["resource"]["target"].get("averageUtilization")
        else:
            others.append(metric)
    if others:
        annotations[METRICS] = json.dumps(others, separators=(",", ":"))
    if spec.get("behavior"):
        annotations[BEHAVIOR] = json.dumps(spec["behavior"], separators=(",", ":"))
    out_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                              "desiredReplicas") if k in status}
    out_status.setdefault("currentReplicas", 0)
    out_status.setdefault("desiredReplicas", 0)
    current_others = []
    for metric in status.get("currentMetrics") or ():
        resource = metric.get("resource") or {}
        value = (resource.get("current") or {}).get("averageUtilization")
        if metric.get("type") == "Resource" and resource.get("name") == "cpu" and value is not None:
            out_status["currentCPUUtilizationPercentage"] = value
        else:
            current_others.append(metric)
    if current_others:
        annotations[CURRENT] = json.dumps(current_others, separators=(",", ":"))
    if status.get("conditions"):
        annotations[CONDITIONS] = json.dumps(status["conditions"], separators=(",", ":"))
    if annotations:
        md["annotations"] = annotations
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": md, "spec": out_spec,
            "status": out_status}


def _annotation(annotations: dict[str, str], key: str) -> Any:
    raw = annotations.pop(key, None)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.bad_request(f"metadata.annotations[{key}]: Invalid value: not valid JSON") from None


def to_v2(obj: Obj) -> Obj:
    """An autoscaling/v1 HPA as the v2 object the registry stores."""
    if not isinstance(obj.get("spec", {}), dict) or not isinstance(obj.get("metadata", {}), dict):
        raise errors.bad_request("spec and metadata must be objects")
    md = json.loads(json.dumps(obj.get("metadata") or {}))
    annotations: dict[str, str] = dict(md.get("annotations") or {})
    spec = dict(obj.get("spec") or {})
    status = dict(obj.get("status") or {})
    target = spec.pop("targetCPUUtilizationPercentage", None)
    metrics: list[Obj] = []
    if target is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": target}}})
    metrics += _annotation(annotations, METRICS) or []
    if metrics:
        spec["metrics"] = metrics
    behavior = _annotation(annotations, BEHAVIOR)
    if behavior:
        spec["behavior"] = behavior
    current_cpu = status.pop("currentCPUUtilizationPercentage", None)
    current: list[Obj] = []
    if current_cpu is not None:
        current.append({"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": current_cpu}}})
    current += _annotation(annotations, CURRENT) or []
    if current:
        status["currentMetrics"] = current
    conditions = _annotation(annotations, CONDITIONS)
    if conditions:
        status["conditions"] = conditions
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    out: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": md, "spec": spec}
    if status:
        out["status"] = status
    return out


def _json(body: Obj, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers={"Content-Type": "application/json"})


class AutoscalingV1:
    """The routes of autoscaling/v1 horizontalpodautoscalers; the server's body parser and write options."""

    def __init__(self, *, registry: Registry, table: ResourceTable, read_body: Callable[..., Awaitable[Any]],
                 write_options: Callable[[web.Request], WriteOptions]) -> None:
        self.registry = registry
        self.table = table
        self.read_body = read_body
        self.write_options = write_options

    def register(self) -> None:
        self.table.add(HPA_V1)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", f"{ROOT}/horizontalpodautoscalers", self.collection)
        router.add_route("*", f"{ROOT}/namespaces/{{namespace}}/horizontalpodautoscalers", self.collection)
        router.add_route("*", f"{ROOT}/namespaces/{{namespace}}/horizontalpodautoscalers/{{name}}", self.item)
        router.add_route("*", f"{ROOT}/namespaces/{{namespace}}/horizontalpodautoscalers/{{name}}/status",
                         self.item)

    @property
    def _v2(self) -> ResourceInfo:
        info = self.table.get("autoscaling", "v2", "horizontalpodautoscalers")
        assert info is not None
        return info

    def _render(self, request: web.Request, objects: list[Obj], *, single: bool, status: int = 200,
                resource_version: str = "") -> web.Response:
        accept = request.headers.get("Accept", "")
        if "as=Table" in accept and "g=meta.k8s.io" in accept:
            return _json(tables.to_table(group="autoscaling", resource="horizontalpodautoscalers", objects=objects,
                                         include_object=request.query.get("includeObject", "Metadata"),
                                         resource_version=resource_version, continue_token=None, remaining=None,
                                         now=datetime.now(UTC), no_headers=False), status)
        if single:
            return _json(objects[0], status)
        return _json({"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v1",
                      "metadata": {"resourceVersion": resource_version}, "items": objects}, status)

    def _not_allowed(self, request: web.Request) -> errors.APIError:
        return errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                         f"({request.method} horizontalpodautoscalers.autoscaling/v1; use "
                                         "autoscaling/v2)")

    async def _watch(self, request: web.Request, namespace: str | None,
                     predicate: Callable[[Obj], bool]) -> web.StreamResponse:
        """The v2 objects' watch, each event's object converted (as app.py's watch, without Tables)."""
        query = request.query
        rv_text = query.get("resourceVersion", "")
        initial_wanted = query.get("sendInitialEvents", "").lower() in ("true", "1")
        try:
            after = None if rv_text in ("", "0") or initial_wanted else int(rv_text)
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError:
            raise errors.bad_request(f'resourceVersion: Invalid value: "{rv_text}": must be an integer') from None
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        info = self._v2
        prefix, key_prefix = info.storage_prefix(), info.namespace_prefix(namespace)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            initial, watcher, revision = await self.registry.cache.watch(prefix, key_prefix, after_revision=after,
                                                                          predicate=predicate)
        except TooOld as exc:
            await response.prepare(request)
            await response.write(orjson.dumps({"type": "ERROR", "object": errors.resource_gone(
                exc.requested, exc.oldest).status()}) + b"\n")
            return response
        except TooNew as exc:
            raise errors.APIError(504, "Timeout", str(exc)) from None
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout else None

        def line(kind: str, obj: Obj) -> bytes:
            return orjson.dumps({"type": kind, "object": obj}, option=orjson.OPT_APPEND_NEWLINE)

        def bookmark(rv: int, *, initial_end: bool = False) -> Obj:
            md: Obj = {"resourceVersion": str(rv)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": md}

        try:
            chunk = b"".join(line(e.type, to_v1(e.obj)) for e in initial)
            if initial_wanted and bookmarks:
                chunk += line("BOOKMARK", bookmark(revision, initial_end=True))
            if chunk:
                await response.write(chunk)
            last = revision
            # a tick no longer than what is left, so an idle watch still ends on time
            tick = BOOKMARK_INTERVAL if deadline is None else max(0.05, min(BOOKMARK_INTERVAL, deadline - loop.time()))
            async for item in self.registry.cache.events(watcher, timeout=tick):
                if deadline is not None and loop.time() >= deadline:
                    break
                if item is None:
                    if bookmarks:
                        await response.write(line("BOOKMARK", bookmark(max(last, self.registry.cache.revision))))
                    continue
                last = item.revision
                await response.write(line(item.type, to_v1(item.obj)))
            return response
        except (WatchClosed, ConnectionResetError, asyncio.CancelledError):
            return response
        finally:
            self.registry.cache.unwatch(prefix, watcher)

    async def collection(self, request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("namespace")
        request["resource"] = "horizontalpodautoscalers"
        if request.method == "GET":
            request["verb"] = "list"
            try:
                labels = label_selectors.parse(request.query.get("labelSelector", ""))
                fsel = field_selectors.parse(request.query.get("fieldSelector", ""))
            except (label_selectors.LabelSelectorError, field_selectors.FieldSelectorError) as exc:
                raise errors.bad_request(str(exc))
            for name in fsel.fields():
                if name not in ("metadata.name", "metadata.namespace"):
                    raise errors.bad_request(f"field label not supported: {name}")

            def matches(obj: Obj) -> bool:
                md = obj.get("metadata") or {}
                return bool(labels.matches(md.get("labels") or {}) and fsel.matches(
                    {"metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", "")}))

            if request.query.get("watch", "").lower() in ("true", "1"):
                request["verb"] = "watch"
                return await self._watch(request, namespace, matches)
            page = await self.registry.list(self._v2, namespace, predicate=matches)
            return self._render(request, [to_v1(o) for o in page.items], single=False,
                                resource_version=page.resource_version)
        if request.method == "POST" and namespace:
            request["verb"] = "create"
            body = await self.read_body(request)
            if not isinstance(body, dict):
                raise errors.bad_request("the body must be a JSON object")
            result = await self.registry.create(self._v2, namespace, to_v2(body), self.write_options(request))
            return self._render(request, [to_v1(result.obj)], single=True, status=201)
        raise self._not_allowed(request)

    async def item(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        subresource = "status" if request.path.endswith("/status") else ""
        request["resource"] = "horizontalpodautoscalers"
        if request.method == "GET":
            request["verb"] = "get"
            return self._render(request, [to_v1(await self.registry.get(self._v2, namespace, name))], single=True)
        if request.method == "PUT":
            request["verb"] = "update"
            body = await self.read_body(request)
            if not isinstance(body, dict):
                raise errors.bad_request("the body must be a JSON object")
            wanted = to_v2(body)
            result = await self.registry.update(self._v2, namespace, name,
                                                lambda _old: json.loads(json.dumps(wanted)),
                                                self.write_options(request), subresource=subresource)
            return self._render(request, [to_v1(result.obj)], single=True)
        if request.method == "PATCH":
            request["verb"] = "patch"
            return await self._patch(request, namespace, name, subresource)
        if request.method == "DELETE" and not subresource:
            request["verb"] = "delete"
            body = await self.read_body(request) if request.can_read_body else {}
            deleted = await self.registry.delete(self._v2, namespace, name, body if isinstance(body, dict) else {})
            return self._render(request, [to_v1(deleted.obj)], single=True)
        raise self._not_allowed(request)

    async def _patch(self, request: web.Request, namespace: str, name: str, subresource: str) -> web.Response:
        ctype = request.content_type
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media_type(ctype)
        body = await self.read_body(request, allow_patch=True)
        opts = self.write_options(request)
        if ctype == "application/apply-patch+yaml":
            if not isinstance(body, dict):
                raise errors.bad_request("the applied configuration must be an object")
            if "fieldManager" not in request.query:
                raise errors.APIError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                      "Required value: is required for apply patch")
            force = request.query.get("force", "").lower() in ("true", "1")
            applied = await self.registry.apply(self._v2, namespace, name, to_v2(body), opts, force=force,
                                                subresource=subresource)
            return self._render(request, [to_v1(applied.obj)], single=True, status=201 if applied.created else 200)

        # the packaged upstream definitions have only the v2 kind; its patch metadata (ObjectMeta's merge keys;
        # the spec's fields are plain values and maps) is the v1 kind's too. The OpenAPI package's schema
        # satisfies the patch module's protocol (app.py passes it the same way).
        schema: Any = merge_schema_for("io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler")

        def apply(current: Obj) -> Obj:
            view = to_v1(current)  # the patch is written against the v1 object the client sees
            return to_v2(apply_patch(view, body, content_type=ctype, merge_schema=schema))

        result = await self.registry.update(self._v2, namespace, name, apply, opts, subresource=subresource)
        return self._render(request, [to_v1(result.obj)], single=True)
