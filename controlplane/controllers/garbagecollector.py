"""The garbage collector: delete objects whose owners are gone (upstream ``pkg/controller/garbagecollector``).

**Graph.** Every resource that discovery lists with list, watch and delete (Events excepted, as upstream
ignores them) gets an informer, from the manager's shared factory (one watch per resource for all
controllers); discovery is re-read every ``rediscovery_period`` seconds so that new
custom resources are watched too. Their handlers keep an ownership graph in memory: per object UID its
identity (resource, namespace, name), its ownerReferences, whether it is being deleted and with which
finalizers, and the reverse edges owner UID -> dependent UIDs.

**Work.** The queue holds UIDs. Handlers queue:

* a dependent whose owner is not in the graph (it may be gone, or not yet seen: the check decides);
* every dependent of an object that was deleted, or that entered foreground deletion;
* an object being deleted with the ``orphan`` or ``foregroundDeletion`` finalizer, and such an owner
  again when one of its dependents goes away or drops its reference.

``reconcile(uid)`` is upstream's ``attemptToDeleteItem`` / ``attemptToOrphan``:

* ``orphan`` finalizer: remove the owner's reference from every dependent, then the finalizer;
* ``foregroundDeletion`` finalizer: when no dependent with ``blockOwnerDeletion`` is left, remove the
  finalizer (the API server then deletes the owner); until then queue the blocking dependents;
* otherwise classify each owner reference as *solid* (the owner exists and is not waiting),
  *dangling* (absent, or another object with that name: the UID differs) or *waiting* (the owner is being
  deleted in the foreground). With a solid owner the dangling/waiting references are patched away; with
  none the object is deleted, in the foreground when an owner waits and it has dependents itself,
  otherwise with the propagation its own finalizers ask for (Background by default). Deletions carry a
  UID precondition, so a re-created object of the same name is never deleted by mistake.

Owners missing from the graph are looked up live (GET by the owner reference's apiVersion and kind,
mapped to a resource through discovery); a not-found owner UID is remembered as absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.client import (
    APIClient,
    APIStatusError,
    HandlerRegistration,
    Informer,
    Resource,
    SharedInformerFactory,
    is_not_found,
)
from kubelite.controlplane.controllers.base import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

ORPHAN: Final = "orphan"
FOREGROUND: Final = "foregroundDeletion"
REDISCOVERY_SECONDS: Final = 30.0
IGNORED: Final = frozenset({("", "events"), ("events.k8s.io", "events")})


@dataclass
class Node:
    uid: str
    resource: Resource
    namespace: str | None
    name: str
    owners: list[Obj] = field(default_factory=list)
    deleting: bool = False
    finalizers: tuple[str, ...] = ()

    @property
    def deleting_dependents(self) -> bool:
        return self.deleting and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        return self.deleting and ORPHAN in self.finalizers


@dataclass(frozen=True)
class KindInfo:
    resource: Resource
    namespaced: bool


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 4

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 rediscovery_period: float = REDISCOVERY_SECONDS) -> None:
        super().__init__()
        self.client = client
        # the manager's factory (shared watches) or a private one that run() shuts down
        self.factory = factory or SharedInformerFactory(client)
        self._owns_factory = factory is None
        self.rediscovery_period = rediscovery_period
        self.nodes: dict[str, Node] = {}
        self.dependents: dict[str, set[str]] = {}
        self.kinds: dict[tuple[str, str], KindInfo] = {}  # (apiVersion, kind) -> resource
        self.absent: set[str] = set()  # owner UIDs known not to exist
        self._watched: dict[tuple[str, str], tuple[Informer, HandlerRegistration]] = {}

    # ---- discovery and informers ----

    async def discover(self) -> list[tuple[Resource, str]]:
        """(resource, kind) for every resource with list, watch and delete, one version per group."""
        found: list[tuple[Resource, str]] = []
        group_versions: list[tuple[str, str]] = [("", "v1")]
        groups = await self.client.request("GET", "/apis")
        kinds: dict[tuple[str, str], KindInfo] = {}
        all_versions: list[tuple[str, str, bool]] = [("", "v1", True)]
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            for version in group.get("versions") or []:
                all_versions.append((group["name"], version["version"], version["version"] == preferred))
        for group_name, version, preferred in all_versions:
            if preferred and (group_name, version) not in group_versions:
                group_versions.append((group_name, version))
        for group_name, version, preferred in all_versions:
            path = f"/api/{version}" if not group_name else f"/apis/{group_name}/{version}"
            try:
                listing = await self.client.request("GET", path)
            except APIStatusError as exc:
                if is_not_found(exc):
                    continue
                raise
            api_version = f"{group_name}/{version}" if group_name else version
            for entry in listing.get("resources") or []:
                if "/" in entry["name"]:
                    continue
                resource = self.client.resource(group_name, version, entry["name"],
                                                 namespaced=bool(entry.get("namespaced")))
                kinds[(api_version, entry["kind"])] = KindInfo(resource, bool(entry.get("namespaced")))
                verbs = set(entry.get("verbs") or [])
                if preferred and {"list", "watch", "delete"} <= verbs and (group_name, entry["name"]) not in IGNORED:
                    found.append((resource, entry["kind"]))
        self.kinds = kinds
        return found

    async def _sync_informers(self, resources: list[tuple[Resource, str]]) -> list[Informer]:
        """Watch every discovered resource (through the shared factory: one watch per resource for the
        whole manager); stop listening to resources that went away."""
        assert self.factory is not None
        wanted = {(r.group, r.plural): r for r, _ in resources}
        started = []
        for key, resource in wanted.items():
            if key in self._watched:
                continue
            informer = self.factory.informer(resource)
            observe = _Observer(self, resource)
            registration = informer.add_handler(on_add=observe.add, on_update=observe.update, on_delete=self._forget)
            self._watched[key] = (informer, registration)
            started.append(informer)
        for key in [k for k in self._watched if k not in wanted]:
            informer, registration = self._watched.pop(key)
            await informer.remove_handler(registration)
        self.factory.start()
        return started

    async def run(self, *, workers: int | None = None) -> None:
        informers = await self._sync_informers(await self.discover())
        rediscover = asyncio.create_task(self._rediscover_loop())
        try:
            for informer in informers:
                await informer.wait_for_sync()
            log.info("garbagecollector: watching %d resources", len(self._watched))
            await super().run(workers=workers)
        finally:
            rediscover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rediscover
            for informer, registration in self._watched.values():
                with contextlib.suppress(Exception):
                    await informer.remove_handler(registration)
            self._watched.clear()

    async def _rediscover_loop(self) -> None:
        while True:
            await asyncio.sleep(self.rediscovery_period)
            try:
                await self._sync_informers(await self.discover())
            except Exception as exc:  # the API may be briefly unreachable; keep the graph we have
                log.warning("garbagecollector: rediscovery failed: %s", exc)

    # ---- the graph ----

    def _observe(self, obj: Obj, resource: Resource) -> None:
        md = obj.get("metadata") or {}
        uid = md.get("uid")
        if not uid:
            return
        owners = [r for r in md.get("ownerReferences") or [] if isinstance(r, dict) and r.get("uid")]
        node = self.nodes.get(uid)
        old_owners = {r["uid"]: r for r in node.owners} if node else {}
        was_deleting_dependents = node.deleting_dependents if node else False
        node = Node(uid=uid, resource=resource, namespace=md.get("namespace"), name=md["name"], owners=owners,
                    deleting=bool(md.get("deletionTimestamp")), finalizers=tuple(md.get("finalizers") or ()))
        self.nodes[uid] = node
        self.absent.discard(uid)
        new_owners = {r["uid"]: r for r in owners}
        for owner_uid in old_owners.keys() - new_owners.keys():
            self.dependents.get(owner_uid, set()).discard(uid)
            owner = self.nodes.get(owner_uid)
            if owner is not None and owner.deleting_dependents:
                self.queue.add(owner_uid)
        for owner_uid in new_owners:
            self.dependents.setdefault(owner_uid, set()).add(uid)
            owner = self.nodes.get(owner_uid)
            if owner is None or owner.deleting_dependents:
                self.queue.add(uid)  # is the owner gone, or waiting for us?
        if node.deleting_dependents and not was_deleting_dependents:
            for dependent in self.dependents.get(uid, set()):
                self.queue.add(dependent)
        if node.deleting_dependents or node.orphaning:
            self.queue.add(uid)

    def _forget(self, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        uid = str(md.get("uid") or "")
        node = self.nodes.pop(uid, None) if uid else None
        if node is None:
            return
        for ref in node.owners:
            self.dependents.get(ref["uid"], set()).discard(uid)
            owner = self.nodes.get(ref["uid"])
            if owner is not None and owner.deleting_dependents:
                self.queue.add(ref["uid"])
        for dependent in self.dependents.get(uid, set()):
            self.queue.add(dependent)

    # ---- reconcile ----

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.get(key)
        if node is None:
            return None
        if node.orphaning:
            await self._orphan_dependents(node)
            return None
        if node.deleting_dependents:
            return await self._process_deleting_dependents(node)
        if node.deleting or not node.owners:
            return None  # on its way out already: its dependents are handled when it is gone
        solid: list[Obj] = []
        dangling: list[Obj] = []
        waiting: list[Obj] = []
        for ref in node.owners:
            state = await self._owner_state(ref, node)
            {"solid": solid, "dangling": dangling, "waiting": waiting}[state].append(ref)
        if solid:
            if dangling or waiting:
                remove = {r["uid"] for r in [*dangling, *waiting]}
                await self._patch_owners(node, [r for r in node.owners if r["uid"] not in remove])
            return None
        latest = await self._get(node)
        if latest is None or latest["metadata"].get("uid") != node.uid:
            return None
        if {r["uid"] for r in latest["metadata"].get("ownerReferences") or []} != {r["uid"] for r in node.owners}:
            return 0.1  # its owners changed meanwhile: look again with the fresh cache
        if waiting and self.dependents.get(node.uid):
            policy = "Foreground"
        else:
            finalizers = latest["metadata"].get("finalizers") or []
            policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
        log.info("garbagecollector: deleting %s %s/%s (owners gone or deleting; propagation %s)",
                 node.resource.group_resource, node.namespace or "", node.name, policy)
        try:
            await node.resource.delete(node.name, namespace=node.namespace, propagation_policy=policy,
                                       preconditions={"uid": node.uid})
        except APIStatusError as exc:
            if not (is_not_found(exc) or exc.code == 409):
                raise
        return None

    async def _owner_state(self, ref: Obj, node: Node) -> str:
        owner = self.nodes.get(ref["uid"])
        if owner is not None:
            return "waiting" if owner.deleting_dependents else "solid"
        if ref["uid"] in self.absent:
            return "dangling"
        info = self.kinds.get((str(ref.get("apiVersion")), str(ref.get("kind"))))
        if info is None:
            with contextlib.suppress(Exception):
                await self.discover()
            info = self.kinds.get((str(ref.get("apiVersion")), str(ref.get("kind"))))
        if info is None:
            return "solid"  # an unknown kind: never delete on a guess
        try:
            live = await info.resource.get(str(ref["name"]), namespace=node.namespace if info.namespaced else None)
        except APIStatusError as exc:
            if is_not_found(exc):
                self.absent.add(ref["uid"])
                return "dangling"
            raise
        if live["metadata"].get("uid") != ref["uid"]:
            self.absent.add(ref["uid"])
            return "dangling"
        md = live["metadata"]
        return "waiting" if md.get("deletionTimestamp") and FOREGROUND in (md.get("finalizers") or []) else "solid"

    async def _process_deleting_dependents(self, node: Node) -> float | None:
        blocking = []
        for dep_uid in self.dependents.get(node.uid, set()):
            dependent = self.nodes.get(dep_uid)
            if dependent is None:
                continue
            ref = next((r for r in dependent.owners if r["uid"] == node.uid), None)
            if ref is not None and ref.get("blockOwnerDeletion"):
                blocking.append(dependent)
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND)
            return None
        for dependent in blocking:
            if not dependent.deleting_dependents:
                self.queue.add(dependent.uid)
        return None

    async def _orphan_dependents(self, node: Node) -> None:
        for dep_uid in list(self.dependents.get(node.uid, set())):
            dependent = self.nodes.get(dep_uid)
            if dependent is None:
                continue
            await self._patch_owners(dependent, [r for r in dependent.owners if r["uid"] != node.uid])
        await self._remove_finalizer(node, ORPHAN)

    async def _get(self, node: Node) -> Obj | None:
        try:
            obj: Obj = await node.resource.get(node.name, namespace=node.namespace)
        except APIStatusError as exc:
            if is_not_found(exc):
                return None
            raise
        return obj

    async def _patch_owners(self, node: Node, owners: list[Obj]) -> None:
        try:
            await node.resource.patch(node.name, {"metadata": {"ownerReferences": owners or None}},
                                      namespace=node.namespace)
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        latest = await self._get(node)
        if latest is None or latest["metadata"].get("uid") != node.uid:
            return
        finalizers = [f for f in latest["metadata"].get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": finalizers or None,
                              "resourceVersion": latest["metadata"].get("resourceVersion")}}
        try:
            await node.resource.patch(node.name, patch, namespace=node.namespace)
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise


class _Observer:
    """Informer handlers that feed one resource's objects into the graph."""

    def __init__(self, gc: GarbageCollector, resource: Resource) -> None:
        self.gc = gc
        self.resource = resource

    def add(self, obj: Obj) -> None:
        self.gc._observe(obj, self.resource)

    def update(self, _old: Obj, new: Obj) -> None:
        self.gc._observe(new, self.resource)
