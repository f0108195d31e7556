"""CustomResourceDefinitions: their strategy, the resources they define, and those resources' strategy.

A CRD is stored like any object; ``CRDRegistrar`` watches CRDs through the watch cache and turns each
served version into a ``ResourceInfo`` in the ``ResourceTable`` (so discovery, routing and OpenAPI see
it within milliseconds), and removes it when the CRD goes. Deleting a CRD first deletes every custom
resource it defined (the ``customresourcecleanup`` finalizer, as upstream), then the CRD.

Custom resources are validated, pruned and defaulted by the version's structural schema
(``kubelite.api.crd_schema``); versions convert with upstream's ``None`` strategy (only apiVersion
changes). CEL validation rules (``x-kubernetes-validations``) are not evaluated yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import re
from typing import Any

from kubelite.api.meta import meta
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions
from kubelite.controlplane.apiserver.resources import SCALE, STATUS, ResourceInfo, ResourceTable, Subresource
from kubelite.controlplane.apiserver.strategy import CLEANUP_FINALIZER

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CRD_GROUP, CRD_PLURAL = "apiextensions.k8s.io", "customresourcedefinitions"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
PRESERVE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def definition_name(group: str, version: str, kind: str) -> str:
    """Upstream's OpenAPI name of a custom kind: the group reversed ('com.example.stable.v1.CronTab')."""
    return ".".join([*reversed(group.split(".")), version, kind])


def infos_for_crd(crd: Obj) -> list[ResourceInfo]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, kind, plural = spec.get("group", ""), names.get("kind", ""), names.get("plural", "")
    infos = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        config = version.get("subresources") or {}
        subs: list[Subresource] = []
        if "status" in config:
            subs.append(STATUS)
        if "scale" in config:
            subs.append(SCALE)
        infos.append(ResourceInfo(
            group, version["name"], kind, plural, spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(subs), generation=True, singular=names.get("singular") or kind.lower(),
            list_kind=names.get("listKind") or f"{kind}List",
            definition=definition_name(group, version["name"], kind), custom=True,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            scale_paths=config.get("scale")))
    return infos


def openapi_schemas(info: ResourceInfo) -> dict[str, Obj]:
    """The v2-style schemas of a custom kind and its list, as upstream publishes them."""
    schema = copy.deepcopy(info.schema) if info.schema else dict(PRESERVE)
    properties = dict(schema.get("properties") or {})
    properties["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of "
                                "this representation of an object."}
    properties["kind"] = {"type": "string", "description": "Kind is a string value representing the REST "
                          "resource this object represents."}
    properties["metadata"] = {"$ref": f"#/definitions/{META}ObjectMeta"}
    schema["properties"] = properties
    schema.setdefault("type", "object")
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    schema["x-kubernetes-group-version-kind"] = [gvk]
    list_schema = {
        "type": "object", "required": ["items"],
        "description": f"{info.list_kind} is a list of {info.kind}",
        "properties": {"apiVersion": properties["apiVersion"], "kind": properties["kind"],
                       "items": {"type": "array", "items": {"$ref": f"#/definitions/{info.definition}"}},
                       "metadata": {"$ref": f"#/definitions/{META}ListMeta"}},
        "x-kubernetes-group-version-kind": [{**gvk, "kind": info.list_kind}],
    }
    return {info.definition: schema, info.definition + "List": list_schema}


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Upstream's kube-aware version order: GA > beta > alpha, higher numbers first, others last."""
    match = _VERSION.match(version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)




class CRDRegistrar:
    """Keeps the resource table (and OpenAPI) in step with the stored CRDs; cleans up deleted ones."""

    def __init__(self, *, registry: Registry, table: ResourceTable, openapi: Any) -> None:
        self.registry = registry
        self.table = table
        self.openapi = openapi
        self._served: dict[str, list[ResourceInfo]] = {}
        self._cleanups: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        crds = self.table.get(CRD_GROUP, "v1", CRD_PLURAL)
        assert crds is not None
        prefix = crds.storage_prefix()
        initial, watcher, _ = await self.registry.cache.watch(prefix, prefix, after_revision=None, predicate=None)
        for event in initial:
            self.apply(event.type, event.obj)
        self._task = asyncio.create_task(self._follow(prefix, watcher), name="crd-registrar")

    async def _follow(self, prefix: str, watcher: Any) -> None:
        try:
            async for event in self.registry.cache.events(watcher, timeout=None):
                if event is not None:
                    self.apply(event.type, event.obj)
        finally:
            self.registry.cache.unwatch(prefix, watcher)

    async def close(self) -> None:
        for task in [self._task, *self._cleanups.values()]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def apply(self, event_type: str, crd: Obj) -> None:
        name = meta(crd).get("name", "")
        for info in self._served.pop(name, []):
            self.table.remove(info.group, info.version, info.plural)
        if event_type != "DELETED":
            ordered = sorted(infos_for_crd(crd), key=lambda i: version_priority(i.version))
            # the first version by priority is the preferred one
            infos = [info if index == 0 else dataclasses.replace(info, preferred=False)
                     for index, info in enumerate(ordered)]
            for info in infos:
                self.table.add(info)
            self._served[name] = infos
            if meta(crd).get("deletionTimestamp") and name not in self._cleanups:
                self._cleanups[name] = asyncio.create_task(self._cleanup(crd), name=f"crd-cleanup-{name}")
        self.table.sort_versions(version_priority)
        if self.openapi is not None:
            self.openapi.set_custom_schemas({k: v for infos in self._served.values() for info in infos
                                             for k, v in openapi_schemas(info).items()})

    async def _cleanup(self, crd: Obj) -> None:
        """Delete every custom resource of a deleted CRD, then drop the cleanup finalizer."""
        name = meta(crd)["name"]
        try:
            infos = self._served.get(name) or []
            if infos:
                info = infos[0]
                while True:
                    page = await self.registry.list(info, None)
                    if not page.items:
                        break
                    for obj in page.items:
                        with contextlib.suppress(errors.APIError):
                            await self.registry.delete(info, obj["metadata"].get("namespace"),
                                                       obj["metadata"]["name"], {})
                    await asyncio.sleep(0.2)
            crds = self.table.get(CRD_GROUP, "v1", CRD_PLURAL)
            assert crds is not None

            def drop(current: Obj) -> Obj:
                current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or []
                                                     if f != CLEANUP_FINALIZER]
                return current

            with contextlib.suppress(errors.APIError):
                await self.registry.update(crds, None, name, drop, WriteOptions(), precondition_from_body=False)
        except Exception:
            log.exception("cleaning up custom resources of CRD %s failed", name)
        finally:
            self._cleanups.pop(name, None)

