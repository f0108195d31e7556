"""Node lifecycle and PodGC controllers against a real server (its own controllers off) with the fake node
agent: a node whose kubelet stops goes Ready=Unknown, gets the unreachable taints, and its pods are
evicted according to their tolerations; pods of missing nodes and finished pods over the threshold go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from controller_harness import eventually, running
from e2e_harness import Server
from fake_kubelet import FakeNodes

from kubelite.client import APIClient, APIStatusError
from kubelite.controlplane.controllers.nodelifecycle import NodeLifecycleController, eviction_delay
from kubelite.controlplane.controllers.podgc import PodGCController

pytestmark = [pytest.mark.integration]

Obj = dict[str, Any]


@pytest.fixture
async def namespace(client: APIClient) -> AsyncIterator[str]:
    name = f"nl-{uuid.uuid4().hex[:8]}"
    namespaces = client.resource("", "v1", "namespaces", namespaced=False)
    await namespaces.create({"metadata": {"name": name}})
    yield name
    pods = client.resource("", "v1", "pods")
    for pod in (await pods.list(namespace=name))["items"]:
        with contextlib.suppress(APIStatusError):
            await pods.delete(pod["metadata"]["name"], namespace=name, grace_period_seconds=0)
    with contextlib.suppress(APIStatusError):
        await namespaces.delete(name)


def pod(name: str, *, node: str, tolerations: list[Obj] | None = None, restart: str = "Always") -> Obj:
    spec: Obj = {**({"nodeName": node} if node else {}), "restartPolicy": restart,
                 "containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def unreachable(seconds: int | None) -> Obj:
    toleration: Obj = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return toleration


@pytest.mark.parametrize(("tolerations", "expected"), [
    pytest.param([], 0.0, id="no-toleration-now"),
    pytest.param([unreachable(None)], None, id="forever"),
    pytest.param([unreachable(30)], 30.0, id="thirty-seconds"),
    # as upstream's getMinTolerationTime: the shortest bounded toleration decides, even beside an unbounded one
    pytest.param([unreachable(30), {"operator": "Exists"}], 30.0, id="bounded-beside-unbounded"),
    pytest.param([unreachable(30), unreachable(5)], 5.0, id="shortest-wins"),
])
def test_eviction_delay(tolerations: list[Obj], expected: float | None) -> None:
    taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert eviction_delay({"spec": {"tolerations": tolerations}}, [taint], now) == expected


async def test_dead_node_goes_unknown_is_tainted_and_pods_are_evicted_by_toleration(
        client: APIClient, server: Server, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    nodes = client.resource("", "v1", "nodes", namespaced=False)
    fake = FakeNodes(server.kubeconfig, ["nl-dead", "nl-alive"], lease_interval=0.3)
    await asyncio.to_thread(fake.start)
    try:
        for body in (pod("evict-now", node="nl-dead", tolerations=[unreachable(0)]),
                     pod("evict-soon", node="nl-dead", tolerations=[unreachable(1)]),
                     pod("stays", node="nl-dead", tolerations=[unreachable(None)]),
                     pod("elsewhere", node="nl-alive", tolerations=[])):
            await pods.create(body, namespace=namespace)

        async def all_running() -> bool:
            items = (await pods.list(namespace=namespace))["items"]
            return len(items) == 4 and all(p.get("status", {}).get("phase") == "Running" for p in items)

        await eventually(all_running, what="four running pods")
        async with running(NodeLifecycleController(client, grace_period=1.5, monitor_period=0.3)):
            fake.stop_node("nl-dead")

            async def dead_node_tainted() -> Obj | None:
                node: Obj = await nodes.get("nl-dead")
                keys = {(t["key"], t["effect"]) for t in node.get("spec", {}).get("taints") or []}
                return node if keys == {("node.kubernetes.io/unreachable", "NoSchedule"),
                                        ("node.kubernetes.io/unreachable", "NoExecute")} else None

            node = await eventually(dead_node_tainted, what="nl-dead tainted unreachable", timeout=20)
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")

            async def deleting(name: str) -> bool:
                return bool((await pods.get(name, namespace=namespace))["metadata"].get("deletionTimestamp"))

            await eventually(lambda: deleting("evict-now"), what="the pod tolerating 0s evicted")
            await eventually(lambda: deleting("evict-soon"), what="the pod tolerating 1s evicted", timeout=20)
            stays = await pods.get("stays", namespace=namespace)
            assert not stays["metadata"].get("deletionTimestamp")
            assert any(c["type"] == "Ready" and c["status"] == "False" for c in stays["status"]["conditions"])
            alive = await nodes.get("nl-alive")
            assert not alive.get("spec", {}).get("taints")
            assert not (await pods.get("elsewhere", namespace=namespace))["metadata"].get("deletionTimestamp")
    finally:
        await asyncio.to_thread(fake.stop)


async def test_podgc_removes_pods_of_missing_nodes_and_finished_pods_over_the_threshold(
        client: APIClient, server: Server, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    fake = FakeNodes(server.kubeconfig, ["gc-worker"], run_seconds=0.05)
    await asyncio.to_thread(fake.start)
    try:
        await pods.create(pod("ghost", node="no-such-node"), namespace=namespace)
        for i in range(4):
            await pods.create(pod(f"done-{i}", node="gc-worker", restart="Never"), namespace=namespace)
            await asyncio.sleep(1.05)  # distinct creation seconds: "oldest first" is well defined

        async def finished() -> bool:
            items = (await pods.list(namespace=namespace))["items"]
            return sum(1 for p in items if p.get("status", {}).get("phase") == "Succeeded") == 4

        await eventually(finished, what="four finished pods")
        async with running(PodGCController(client, period=0.2, terminated_threshold=2)):
            async def collected() -> list[str] | None:
                names = sorted(p["metadata"]["name"] for p in (await pods.list(namespace=namespace))["items"])
                return names if names == ["done-2", "done-3"] else None

            await eventually(collected, what="the ghost pod and the two oldest finished pods deleted")
    finally:
        await asyncio.to_thread(fake.stop)


async def test_pods_get_default_toleration_seconds_unless_they_tolerate_the_taints(
        client: APIClient, namespace: str) -> None:
    pods = client.resource("", "v1", "pods")
    plain = await pods.create(pod("plain", node="", tolerations=[{"key": "other", "operator": "Exists"}]),
                              namespace=namespace)
    own = await pods.create(pod("own", node="", tolerations=[unreachable(7)]), namespace=namespace)
    defaults = {("node.kubernetes.io/not-ready", 300), ("node.kubernetes.io/unreachable", 300)}
    got = {(t.get("key"), t.get("tolerationSeconds")) for t in plain["spec"]["tolerations"]}
    assert defaults <= got and ("other", None) in got
    got = {(t.get("key"), t.get("tolerationSeconds")) for t in own["spec"]["tolerations"]}
    assert got == {("node.kubernetes.io/unreachable", 7), ("node.kubernetes.io/not-ready", 300)}


def _ready(status: str) -> Obj:
    return {"conditions": [{"type": "Ready", "status": status, "reason": "KubeletReady" if status == "True" else
                            "KubeletNotReady", "message": "", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}]}


def _controller_taints(node: Obj) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in node.get("spec", {}).get("taints") or []
            if t["key"].startswith("node.kubernetes.io/")}


async def test_not_ready_taints_follow_the_ready_condition_on_the_node_update(client: APIClient) -> None:
    """A kubelet registers Ready=False and turns Ready a moment later: the taints follow each change at once
    (on the Node update event, as upstream's doNoScheduleTaintingPass), not at the next monitor pass."""
    nodes = client.resource("", "v1", "nodes", namespaced=False)
    name = f"nl-prompt-{uuid.uuid4().hex[:6]}"
    not_ready = {("node.kubernetes.io/not-ready", "NoSchedule"), ("node.kubernetes.io/not-ready", "NoExecute")}
    # a monitor period far beyond the test's waits: only the update events can explain what happens
    async with running(NodeLifecycleController(client, monitor_period=60.0)):
        await nodes.create({"metadata": {"name": name}, "status": _ready("False")})
        try:
            async def tainted() -> Obj | None:
                node: Obj = await nodes.get(name)
                return node if _controller_taints(node) == not_ready else None

            node = await eventually(tainted, what="not-ready taints on the new Ready=False node", timeout=2)
            added = next(t["timeAdded"] for t in node["spec"]["taints"] if t["effect"] == "NoExecute")
            await nodes.subresource("status").patch(name, {"status": _ready("True")})

            async def untainted() -> bool:
                return not _controller_taints(await nodes.get(name))

            await eventually(untainted, what="the node that turned Ready untainted", timeout=2)
            await nodes.subresource("status").patch(name, {"status": _ready("False")})
            node = await eventually(tainted, what="not-ready taints back on the node that turned NotReady",
                                    timeout=2)
            assert next(t["timeAdded"] for t in node["spec"]["taints"] if t["effect"] == "NoExecute") >= added
        finally:
            await nodes.delete(name)


async def test_taints_are_written_once_although_events_from_before_the_write_arrive_after_it(
        client: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    """At registration the kubelet, node IPAM and the Lease all touch the node at once: events that the cache
    got before it showed the controller's taint write must not make it write the taints again (restarting
    the NoExecute ``timeAdded`` clock) from its stale copy."""
    caplog.set_level(logging.INFO, logger="kubelite.controlplane.controllers.nodelifecycle")
    nodes = client.resource("", "v1", "nodes", namespaced=False)
    name = f"nl-once-{uuid.uuid4().hex[:6]}"
    controller = NodeLifecycleController(client, monitor_period=60.0)
    async with running(controller):
        await nodes.create({"metadata": {"name": name}, "status": _ready("False")})
        try:
            for i in range(12):
                await nodes.patch(name, {"metadata": {"labels": {f"burst-{i}": "x"}}})
            latest = int((await nodes.get(name))["metadata"]["resourceVersion"])

            async def settled() -> bool:
                cached = controller.nodes.store.get(name)
                return (cached is not None and int(cached["metadata"]["resourceVersion"]) >= latest
                        and bool(_controller_taints(cached)) and len(controller.queue) == 0
                        and controller.queue.processing == 0)

            await eventually(settled, what="the controller's cache caught up and its queue idle", timeout=5)
            writes = [r.getMessage() for r in caplog.records if f"node {name} taints now" in r.getMessage()]
            assert len(writes) == 1, writes
        finally:
            await nodes.delete(name)
