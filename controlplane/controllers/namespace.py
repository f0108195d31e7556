"""Namespace deletion: empty a terminating namespace, then finalize it (upstream's namespace controller).

When a Namespace is deleted the API server marks it Terminating and keeps it while its
``spec.finalizers`` holds ``kubernetes``. This controller deletes every namespaced object in it (every
resource discovery lists with ``deletecollection``, custom resources included), waits until nothing is
left (graceful pods and finalizers may take a while), then removes its own finalizer through the
``finalize`` subresource; the API server then removes the namespace.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite.client import APIClient, APIStatusError, Informer, Resource, is_not_found
from kubelite.controlplane.controllers.base import Controller

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"
RECHECK_SECONDS = 2.0


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: APIClient) -> None:
        super().__init__()
        self.client = client
        self.namespaces = client.resource("", "v1", "namespaces", namespaced=False)
        self.informer = Informer(self.namespaces)
        self.informer.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.informers.append(self.informer)

    async def reconcile(self, key: str) -> float | None:
        namespace = self.informer.store.get(key)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return None
        remaining = 0
        for resource in await self.namespaced_resources():
            remaining += await self._empty(resource, key)
        if remaining:
            log.info("namespace %s: %d objects still being deleted", key, remaining)
            return RECHECK_SECONDS
        await self._finalize(namespace)
        log.info("namespace %s: emptied and finalized", key)
        return None

    async def namespaced_resources(self) -> list[Resource]:
        """Every namespaced resource that can be listed and deleted by collection (discovery, as upstream)."""
        group_versions = ["v1"]
        groups = await self.client.request("GET", "/apis")
        for group in groups.get("groups") or []:
            group_versions.extend(v["groupVersion"] for v in group.get("versions") or [])
        resources: list[Resource] = []
        for gv in group_versions:
            path = f"/api/{gv}" if gv == "v1" else f"/apis/{gv}"
            try:
                listing = await self.client.request("GET", path)
            except APIStatusError as exc:
                if is_not_found(exc):  # a CRD version vanished since /apis was read
                    continue
                raise
            group, _, version = gv.rpartition("/")
            for entry in listing.get("resources") or []:
                verbs = set(entry.get("verbs") or [])
                if "/" in entry["name"] or not entry.get("namespaced") or not {"list", "deletecollection"} <= verbs:
                    continue
                resources.append(self.client.resource(group, version, entry["name"]))
        return _one_version_each(resources)

    async def _empty(self, resource: Resource, namespace: str) -> int:
        try:
            left = await resource.list(namespace=namespace)
            if not left.get("items"):
                return 0
            await resource.delete_collection(namespace=namespace)
            left = await resource.list(namespace=namespace)
        except APIStatusError as exc:
            if is_not_found(exc):
                return 0
            raise
        return len(left.get("items") or [])

    async def _finalize(self, namespace: dict[str, Any]) -> None:
        spec = dict(namespace.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        body = {**namespace, "spec": spec}
        try:
            await self.client.request("PUT", f"/api/v1/namespaces/{namespace['metadata']['name']}/finalize",
                                      body=body)
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise


def _one_version_each(resources: list[Resource]) -> list[Resource]:
    """Versions of one resource share storage: deleting through the first listed version is enough."""
    seen: set[str] = set()
    unique = []
    for resource in resources:
        if resource.group_resource not in seen:
            seen.add(resource.group_resource)
            unique.append(resource)
    return unique
