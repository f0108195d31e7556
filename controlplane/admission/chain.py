"""The admission chain: upstream's plugins, run by the registry on every create, in upstream's order.

Design
------
The registry calls ``Admission.admit_create(info, namespace, obj, dry_run=)`` after defaulting and
before validation; the request's user is not threaded through the registry's signature but read from
the ``current_user`` context variable, which the HTTP edge sets for the task serving the request
(each aiohttp request runs in its own task, so it cannot leak into another request).

Plugins are small modules, each with one ``admit(request)`` function that may change ``request.obj``
(mutating plugins come first), append a warning, or raise ``AdmissionDenied`` (a 403 ``Forbidden``
with upstream's message ``<resource> "<name>" is forbidden: <reason>``). Order, as upstream's
recommended ``--enable-admission-plugins``: NamespaceLifecycle (in the registry), NodeRestriction,
ServiceAccount, LimitRanger, PodSecurity, ResourceQuota.

Plugins read other objects (ServiceAccounts, LimitRanges, ResourceQuotas, Namespaces, Pods) from
the watch cache through ``AdmissionRequest.list_objects``/``get_object``; they never write.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.controlplane.auth.authentication import UserInfo

Obj = dict[str, Any]

current_user: Final[contextvars.ContextVar[UserInfo | None]] = contextvars.ContextVar("kubelite_user", default=None)


class AdmissionDenied(Exception):
    """403 Forbidden: ``message`` is the reason after ``... is forbidden: ``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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

    @property
    def name(self) -> str:
        md = self.obj.get("metadata") or {}
        return str(md.get("name") or md.get("generateName") or "")


Plugin = Callable[[AdmissionRequest], Awaitable[None]]


class Admission:
    def __init__(self, *, plugins: list[Plugin], list_objects: Callable[[str, str], list[Obj]],
                 get_object: Callable[[str], Awaitable[Obj | None]]) -> None:
        self.plugins = plugins
        self.list_objects = list_objects
        self.get_object = get_object

    async def admit_create(self, *, group: str, resource: str, kind: str, namespace: str | None, obj: Obj,
                           dry_run: bool) -> list[str]:
        """Run every plugin on a new object; returns warnings; raises ``AdmissionDenied``."""
        request = AdmissionRequest(group, resource, kind, namespace or "", obj, current_user.get(), dry_run,
                                   self.list_objects, self.get_object)
        for plugin in self.plugins:
            await plugin(request)
        return request.warnings
