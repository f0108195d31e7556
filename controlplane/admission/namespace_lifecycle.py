"""NamespaceLifecycle: the namespaces a cluster cannot work without may not be deleted.

Design
------
Upstream's ``plugin/pkg/admission/namespace/lifecycle`` for deletes: ``default``, ``kube-system`` and
``kube-public`` are immortal (403 ``this namespace may not be deleted``). Its other half, no new objects
in a namespace that does not exist or is being terminated, is the registry's
``_check_namespace_accepts`` (it runs before the chain, from the watch cache with a store fallback).
"""

from __future__ import annotations

from typing import Final

from kubelite.controlplane.admission.chain import DELETE, AdmissionDenied, AdmissionRequest

IMMORTAL: Final = frozenset({"default", "kube-system", "kube-public"})


async def admit(request: AdmissionRequest) -> None:
    if request.operation == DELETE and request.group == "" and request.resource == "namespaces" and \
            request.name in IMMORTAL:
        raise AdmissionDenied("this namespace may not be deleted")
