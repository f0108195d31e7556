"""A Permit plugin that waits, against a real `kubelite server`: a gang of pods is held until its last
member is scheduled and then bound together through pods/binding; a gang that never completes times
out and its pod says so, as upstream words it ("rejected due to timeout after waiting 1s at plugin Gang")."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from e2e_harness import Server, temporary_server

from kubelite.client import APIClient, load_kubeconfig
from kubelite.controlplane.scheduler.config import SchedulerConfig
from kubelite.controlplane.scheduler.framework import Code, CycleState, ExtensionPoint, Handle, Status
from kubelite.controlplane.scheduler.plugins import default_profile
from kubelite.controlplane.scheduler.scheduler import Scheduler

Obj = dict[str, Any]
GANG_TIMEOUT = 1.0


class Gang:
    """Co-scheduling in miniature: pods labelled ``gang=<name>`` wait until ``gang-size`` of them are
    assumed, then all of them are allowed at once (as the coscheduling plugin does upstream)."""

    name = "Gang"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def permit(self, *, state: CycleState, pod: Mapping[str, Any], node_name: str) -> tuple[Status | None, float]:
        meta = pod.get("metadata") or {}
        gang = (meta.get("labels") or {}).get("gang")
        if not gang:
            return None, 0.0
        size = int((meta.get("annotations") or {}).get("gang-size", "1"))
        members = [wp for wp in self.handle.waiting_pods
                   if (wp.pod.get("metadata") or {}).get("labels", {}).get("gang") == gang]
        if len(members) + 1 < size:
            return Status.of(Code.WAIT), GANG_TIMEOUT
        for member in members:
            member.allow(self.name)
        return None, 0.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-permit-", "--disable-scheduler", "--disable-controllers") as srv:
        yield srv


@pytest.fixture
async def cluster(server: Server) -> AsyncIterator[tuple[APIClient, Scheduler, str]]:
    """The API client, a scheduler in this process with the Gang Permit plugin, and a namespace with one node."""
    base = default_profile()
    profile = dataclasses.replace(base, plugins={**base.plugins, ExtensionPoint.PERMIT: ["Gang"]})
    namespace = f"gang-{uuid.uuid4().hex[:8]}"
    async with APIClient(load_kubeconfig(server.kubeconfig)) as client:
        await client.resource("", "v1", "namespaces", namespaced=False).create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        resources = {"cpu": "8", "memory": "16Gi", "pods": "110"}
        nodes = client.resource("", "v1", "nodes", namespaced=False)
        await nodes.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{namespace}-node"},
                            "status": {"capacity": resources, "allocatable": resources}})
        scheduler = Scheduler(client, config=SchedulerConfig(profiles=[profile]),
                              out_of_tree_registry={"Gang": lambda handle: (lambda args: Gang(handle))})
        running = asyncio.create_task(scheduler.run())
        try:
            yield client, scheduler, namespace
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await nodes.delete(f"{namespace}-node")
            await client.resource("", "v1", "namespaces", namespaced=False).delete(namespace)


def member(name: str, gang: str, size: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"gang": gang}, "annotations": {"gang-size": str(size)}},
            "spec": {"containers": [{"name": "main", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m"}}}]}}


async def wait_for(probe: Callable[[], Any], *, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe() if asyncio.iscoroutinefunction(probe) else probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_gang_is_held_at_permit_and_bound_together(cluster: tuple[APIClient, Scheduler, str]) -> None:
    client, scheduler, namespace = cluster
    pods = client.resource("", "v1", "pods")
    for name in ("a", "b"):
        await pods.create(member(name, "trio", 3), namespace=namespace)
    await wait_for(lambda: len(scheduler.waiting_pods) == 2, what="two members waiting at Permit")
    for name in ("a", "b"):
        assert not (await pods.get(name, namespace=namespace))["spec"].get("nodeName"), "held, not bound"
    await pods.create(member("c", "trio", 3), namespace=namespace)

    async def all_bound() -> bool:
        return all([(await pods.get(n, namespace=namespace))["spec"].get("nodeName") for n in ("a", "b", "c")])

    await wait_for(all_bound, what="the whole gang bound")
    assert len(scheduler.waiting_pods) == 0


async def test_a_gang_that_never_completes_times_out_as_unschedulable(
        cluster: tuple[APIClient, Scheduler, str]) -> None:
    client, scheduler, namespace = cluster
    pods = client.resource("", "v1", "pods")
    await pods.create(member("alone", "pair", 2), namespace=namespace)

    async def condition() -> Obj | None:
        status = (await pods.get("alone", namespace=namespace)).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"
                     and c["status"] == "False"), None)

    found = await wait_for(condition, what="PodScheduled=False on the lone member")
    assert found["reason"] == "Unschedulable"
    assert found["message"] == "rejected due to timeout after waiting 1s at plugin Gang"
    assert not (await pods.get("alone", namespace=namespace))["spec"].get("nodeName")
    assert not scheduler.cache.is_assumed(await pods.get("alone", namespace=namespace)), "its room is free again"

    async def failed() -> list[Obj]:
        # events are written in the background, after the condition
        listed = await client.resource("", "v1", "events").list(
            namespace=namespace, field_selector="involvedObject.name=alone")
        return [e for e in listed["items"] if e["reason"] == "FailedScheduling"]

    warning = (await wait_for(failed, what="a FailedScheduling event"))[0]
    assert warning["type"] == "Warning" and "rejected due to timeout" in warning["message"]
