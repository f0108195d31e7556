"""The disruption controller against a real server (its own controllers off): a budget over pods a custom
resource controls takes that resource's desired scale through its `scale` subresource (found by discovery),
and a budget whose pods' controller has no scale subresource fails safe (SyncFailed, nothing allowed)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from controller_harness import eventually, running

from kubelite.client import APIClient, APIStatusError
from kubelite.controlplane.controllers.disruption import DisruptionController

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]
GROUP = "disruption.kubelite.test"


def crd(plural: str, kind: str, *, scale: bool) -> Obj:
    version: Obj = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    if scale:
        version["subresources"] = {"scale": {"specReplicasPath": ".spec.replicas",
                                             "statusReplicasPath": ".status.replicas"}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced", "versions": [version],
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind}}}


@pytest.fixture
async def namespace(client: APIClient) -> AsyncIterator[str]:
    name = f"pdb-{uuid.uuid4().hex[:8]}"
    namespaces = client.resource("", "v1", "namespaces", namespaced=False)
    await namespaces.create({"metadata": {"name": name}})
    crds = client.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
    for plural, kind, scale in (("scalers", "Scaler", True), ("fixeds", "Fixed", False)):
        with contextlib.suppress(APIStatusError):  # already there from an earlier test of this module
            await crds.create(crd(plural, kind, scale=scale))
    yield name
    pods = client.resource("", "v1", "pods")
    for pod in (await pods.list(namespace=name))["items"]:
        with contextlib.suppress(APIStatusError):
            await pods.delete(pod["metadata"]["name"], namespace=name, grace_period_seconds=0)
    with contextlib.suppress(APIStatusError):
        await namespaces.delete(name)


async def custom_object(client: APIClient, plural: str, kind: str, namespace: str, replicas: int) -> Obj:
    resource = client.resource(GROUP, "v1", plural)

    async def served() -> Obj | None:
        try:
            created: Obj = await resource.create({"apiVersion": f"{GROUP}/v1", "kind": kind,
                                                  "metadata": {"name": "owner"}, "spec": {"replicas": replicas}},
                                                 namespace=namespace)
            return created
        except APIStatusError as exc:
            if exc.code == 404:
                return None  # the CRD is not established yet
            raise

    result: Obj = await eventually(served, what=f"the {plural} CRD served")
    return result


async def ready_pods(client: APIClient, namespace: str, owner: Obj, count: int) -> None:
    pods = client.resource("", "v1", "pods")
    md = owner["metadata"]
    for i in range(count):
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"p{i}", "labels": {"app": "guarded"},
                             "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                                  "name": md["name"], "uid": md["uid"], "controller": True}]},
                "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "busybox"}]}}
        await pods.create(body, namespace=namespace)
        await pods.patch(f"p{i}", {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}]}}, namespace=namespace, subresource="status")


async def budget(client: APIClient, namespace: str, max_unavailable: Any) -> None:
    await client.resource("policy", "v1", "poddisruptionbudgets").create(
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "budget"},
         "spec": {"selector": {"matchLabels": {"app": "guarded"}}, "maxUnavailable": max_unavailable}},
        namespace=namespace)


async def status_of(client: APIClient, namespace: str) -> Obj:
    pdb = await client.resource("policy", "v1", "poddisruptionbudgets").get("budget", namespace=namespace)
    status: Obj = pdb.get("status") or {}
    return status


async def test_percentage_of_a_custom_resource_scale(client: APIClient, namespace: str) -> None:
    owner = await custom_object(client, "scalers", "Scaler", namespace, replicas=5)
    await ready_pods(client, namespace, owner, 4)
    await budget(client, namespace, "40%")
    async with running(DisruptionController(client)):
        async def computed() -> Obj | None:
            status = await status_of(client, namespace)
            return status if status.get("expectedPods") == 5 else None

        status = await eventually(computed, what="the budget computed from the Scaler's scale")
    # 40% of 5 rounds up to 2 unavailable: 3 must stay healthy, 4 are, so one may go
    assert (status["desiredHealthy"], status["currentHealthy"], status["disruptionsAllowed"]) == (3, 4, 1)
    assert status["conditions"][0]["reason"] == "SufficientPods"


async def test_a_controller_without_scale_fails_safe(client: APIClient, namespace: str) -> None:
    owner = await custom_object(client, "fixeds", "Fixed", namespace, replicas=3)
    await ready_pods(client, namespace, owner, 3)
    await budget(client, namespace, 1)
    async with running(DisruptionController(client)):
        async def failed() -> Obj | None:
            status = await status_of(client, namespace)
            return status if status.get("conditions") else None

        status = await eventually(failed, what="the budget failed safe")
        condition = status["conditions"][0]
        assert (condition["status"], condition["reason"]) == ("False", "SyncFailed")
        assert condition["message"] == f"fixeds.{GROUP} does not implement the scale subresource"
        assert status["disruptionsAllowed"] == 0
        # synced again (the budget changed), the remembered discovery answer fails it the same way
        pdbs = client.resource("policy", "v1", "poddisruptionbudgets")
        await pdbs.patch("budget", {"spec": {"maxUnavailable": 2}}, namespace=namespace)
        events = client.resource("", "v1", "events")

        async def failed_twice() -> bool:
            items = (await events.list(namespace=namespace))["items"]
            return any(e["reason"] == "CalculateExpectedPodCountFailed" and e.get("count", 1) >= 2
                       and "does not implement the scale subresource" in e["message"] for e in items)

        await eventually(failed_twice, what="the second sync to fail with the same message")
    status = await status_of(client, namespace)
    assert status["conditions"][0]["message"] == f"fixeds.{GROUP} does not implement the scale subresource"
