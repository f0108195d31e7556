"""The admission chain: upstream's plugins, run by the registry on every create and update, in upstream's order.

Design
------
The registry calls ``Admission.admit_create(...)`` after defaulting and validation of a new object and
``Admission.admit_update(...)`` on an update (any subresource) that changes the stored object, with the
old object beside the new one: each plugin looks at ``request.operation`` and ``request.subresource`` and
acts where upstream's plugin does (PodSecurity on a pod's significant changes and ephemeral containers,
NodeRestriction on a node's labels and taints, ResourceQuota and LimitRanger on claims and Services whose
usage changes). Deletes go through ``Admission.admit_delete`` to the plugins that act on them only
(NamespaceLifecycle's immortal namespaces, NodeRestriction's own-node check). The request's user is not
threaded through the registry's signature but read from the ``current_user`` context variable, which the
HTTP edge sets for the task serving the request (each aiohttp request runs in its own task, so it cannot
leak into another request).

Plugins are small modules, each with one ``admit(request)`` function that may change ``request.obj``
(mutating plugins come first), append a warning, or raise ``AdmissionDenied`` (a 403 ``Forbidden``
with upstream's message ``<resource> "<name>" is forbidden: <reason>``). Order, as upstream's
recommended ``--enable-admission-plugins``: NamespaceLifecycle (in the registry), NodeRestriction,
ServiceAccount, LimitRanger, PodSecurity, Priority, ResourceQuota.

Audit annotations a plugin adds (``request.audit_annotations``, e.g. PodSecurity's
``pod-security.kubernetes.io/audit-violations``) are collected in the ``audit_annotations`` context
variable, which the HTTP edge starts empty for each request and writes into the request's audit event.

Plugins read other objects (ServiceAccounts, LimitRanges, ResourceQuotas, Namespaces, Pods) from
the watch cache through ``AdmissionRequest.list_objects``/``get_object``; they never write.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.api.validation import FieldError
from kubelite.controlplane.auth.authentication import UserInfo

Obj = dict[str, Any]

current_user: Final[contextvars.ContextVar[UserInfo | None]] = contextvars.ContextVar("kubelite_user", default=None)
# this request's audit annotations (the edge sets a fresh dict per request; None outside a request)
audit_annotations: Final[contextvars.ContextVar[dict[str, str] | None]] = contextvars.ContextVar(
    "kubelite_audit_annotations", default=None)

CREATE: Final = "CREATE"
UPDATE: Final = "UPDATE"
DELETE: Final = "DELETE"


class AdmissionDenied(Exception):
    """403 Forbidden: ``message`` is the reason after ``... is forbidden: ``; with ``invalid`` field errors
    a 422 Invalid instead (upstream's plugins answer bad values of fields they own that way)."""

    def __init__(self, message: str, *, invalid: tuple[FieldError, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.invalid = invalid


# (namespace, quota name, resourceVersion it was read at, status.used) -> written (False: conflict)
QuotaWriter = Callable[[str, str, str, dict[str, str]], Awaitable[bool]]


@dataclass
class AdmissionRequest:
    group: str
    resource: str
    kind: str
    namespace: str
    obj: Obj
    user: UserInfo | None
    dry_run: bool
    # (storage prefix, key prefix) -> cached objects; (storage key) -> object
    list_objects: Callable[[str, str], list[Obj]]
    get_object: Callable[[str], Awaitable[Obj | None]]
    warnings: list[str] = field(default_factory=list)
    operation: str = CREATE
    old_obj: Obj | None = None  # the stored object, on an update
    subresource: str = ""
    audit_annotations: dict[str, str] = field(default_factory=dict)
    # the store's current object (not the cache's), and a status write of a quota's ``used`` with a
    # resourceVersion precondition (False: a conflict); ResourceQuota charges through them when given
    read_fresh: Callable[[str], Awaitable[Obj | None]] | None = None
    write_quota_used: QuotaWriter | None = None

    @property
    def name(self) -> str:
        md = self.obj.get("metadata") or {}
        return str(md.get("name") or md.get("generateName") or "")


Plugin = Callable[[AdmissionRequest], Awaitable[None]]


class Admission:
    def __init__(self, *, plugins: list[Plugin], list_objects: Callable[[str, str], list[Obj]],
                 get_object: Callable[[str], Awaitable[Obj | None]],
                 read_fresh: Callable[[str], Awaitable[Obj | None]] | None = None,
                 write_quota_used: QuotaWriter | None = None, delete_plugins: list[Plugin] | None = None) -> None:
        self.plugins = plugins
        # the few plugins that act on deletes (upstream's NamespaceLifecycle, NodeRestriction); the others
        # never see one, so none of them has to tell a delete's bare name from an object
        self.delete_plugins = delete_plugins or []
        self.list_objects = list_objects
        self.get_object = get_object
        self.read_fresh = read_fresh
        self.write_quota_used = write_quota_used

    async def admit_create(self, *, group: str, resource: str, kind: str, namespace: str | None, obj: Obj,
                           dry_run: bool) -> list[str]:
        """Run every plugin on a new object; returns warnings; raises ``AdmissionDenied``."""
        request = AdmissionRequest(group, resource, kind, namespace or "", obj, current_user.get(), dry_run,
                                   self.list_objects, self.get_object, read_fresh=self.read_fresh,
                                   write_quota_used=self.write_quota_used)
        return await self._run(request)

    async def admit_update(self, *, group: str, resource: str, kind: str, namespace: str | None, obj: Obj,
                           old_obj: Obj, subresource: str, dry_run: bool) -> list[str]:
        """Run every plugin on an update that changes ``old_obj`` into ``obj``; returns warnings; raises
        ``AdmissionDenied``."""
        request = AdmissionRequest(group, resource, kind, namespace or "", obj, current_user.get(), dry_run,
                                   self.list_objects, self.get_object, operation=UPDATE, old_obj=old_obj,
                                   subresource=subresource, read_fresh=self.read_fresh,
                                   write_quota_used=self.write_quota_used)
        return await self._run(request)

    async def admit_delete(self, *, group: str, resource: str, kind: str, namespace: str | None, name: str,
                           dry_run: bool) -> None:
        """Run every plugin on a delete of ``name`` (``request.obj`` holds only its name); raises
        ``AdmissionDenied``."""
        if not self.delete_plugins:
            return
        request = AdmissionRequest(group, resource, kind, namespace or "", {"metadata": {"name": name}},
                                   current_user.get(), dry_run, self.list_objects, self.get_object, operation=DELETE)
        for plugin in self.delete_plugins:
            await plugin(request)

    async def _run(self, request: AdmissionRequest) -> list[str]:
        try:
            for plugin in self.plugins:
                await plugin(request)
        finally:
            # annotations are audited whether the request was admitted or denied (upstream does too)
            if request.audit_annotations:
                annotations = audit_annotations.get()
                if annotations is not None:
                    annotations.update(request.audit_annotations)
        return request.warnings
