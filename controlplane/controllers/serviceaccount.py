"""Default ServiceAccounts: every active Namespace has a ServiceAccount ``default`` (upstream's
serviceaccounts-controller, ``pkg/controller/serviceaccount/serviceaccounts_controller.go``).

The work queue holds namespace names. A Namespace added or updated is queued; a managed ServiceAccount
deleted queues its Namespace, so ``default`` comes back. The reconcile reads both caches: a Namespace
that is gone, terminating (``deletionTimestamp`` set or ``status.phase`` Terminating) or not yet Active
is left alone, as upstream; otherwise each managed ServiceAccount missing from the cache is created.

The cache may lag behind the server (an account created a moment ago by anyone, us included), so
AlreadyExists is success; a create refused because the namespace has started terminating meanwhile, or
was deleted, is success too: there is nothing left to ensure there.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, Informer, is_already_exists, is_not_found
from kubelite.controlplane.controllers.base import Controller

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_SERVICE_ACCOUNT: Final = "default"
NAMESPACE_TERMINATING_CAUSE: Final = "NamespaceTerminating"


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, client: APIClient, *, service_accounts: tuple[str, ...] = (DEFAULT_SERVICE_ACCOUNT,)) -> None:
        super().__init__()
        if not service_accounts:
            raise ValueError("service_accounts: name at least one ServiceAccount to keep in every namespace, "
                             f"e.g. ({DEFAULT_SERVICE_ACCOUNT!r},)")
        self.client = client
        self.managed = frozenset(service_accounts)
        self.namespaces = client.resource("", "v1", "namespaces", namespaced=False)
        self.service_accounts = client.resource("", "v1", "serviceaccounts")
        self.namespace_informer = Informer(self.namespaces)
        self.namespace_informer.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.sa_informer = Informer(self.service_accounts)
        # only a deleted account needs action; an updated one still exists (upstream also ignores adds)
        self.sa_informer.add_handler(on_delete=self._on_service_account_deleted)
        self.informers.extend([self.namespace_informer, self.sa_informer])

    def _on_service_account_deleted(self, sa: Obj) -> None:
        md = sa.get("metadata") or {}
        if md.get("name") in self.managed and md.get("namespace"):
            self.queue.add(str(md["namespace"]))

    async def reconcile(self, key: str) -> float | None:
        namespace = self.namespace_informer.store.get(key)
        if namespace is None or not is_active(namespace):
            return None
        for name in sorted(self.managed):
            if self.sa_informer.store.get(f"{key}/{name}") is not None:
                continue
            await self._create(namespace=key, name=name)
        return None

    async def _create(self, *, namespace: str, name: str) -> None:
        try:
            await self.service_accounts.create({"apiVersion": "v1", "kind": "ServiceAccount",
                                                "metadata": {"name": name, "namespace": namespace}},
                                               namespace=namespace)
        except APIStatusError as exc:
            if is_already_exists(exc) or is_not_found(exc) or _namespace_terminating(exc):
                return
            raise
        log.info("serviceaccount: created %s/%s", namespace, name)


def is_active(namespace: Obj) -> bool:
    """Not being deleted and Active (a namespace with no phase yet is treated as Active, as defaulting does)."""
    if (namespace.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return ((namespace.get("status") or {}).get("phase") or "Active") == "Active"


def _namespace_terminating(exc: APIStatusError) -> bool:
    causes = exc.details.get("causes") or []
    return any(c.get("reason") == NAMESPACE_TERMINATING_CAUSE or c.get("type") == NAMESPACE_TERMINATING_CAUSE
               for c in causes)
