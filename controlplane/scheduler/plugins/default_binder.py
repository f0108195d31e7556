"""DefaultBinder (upstream defaultbinder): bind through the ``pods/binding`` subresource.

The API server sets ``spec.nodeName`` and the PodScheduled condition; a 409 (the pod was bound or
deleted meanwhile) or any other failure comes back as an Error status, so the scheduler forgets the
assumed pod and retries it after a back-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.client import APIConnectionError, APIStatusError
from kubelite.controlplane.scheduler.framework import Code, CycleState, Handle, Status
from kubelite.controlplane.scheduler.nodeinfo import JSON

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    async def bind(self, *, state: CycleState, pod: JSON, node_name: str) -> Status | None:
        client = self._handle.client
        if client is None:
            return Status.of(Code.ERROR, "no API client to bind with")
        meta = pod.get("metadata") or {}
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node_name}}
        try:
            await client.resource("", "v1", "pods").subresource("binding").create(
                str(meta.get("name")), binding, namespace=str(meta.get("namespace")))
        except (APIStatusError, APIConnectionError) as exc:
            return Status.of(Code.ERROR, f"binding rejected: {exc}")
        return None


def factory(handle: Handle) -> Any:
    def new(args: Mapping[str, Any]) -> DefaultBinder:
        return DefaultBinder(handle)

    return new
