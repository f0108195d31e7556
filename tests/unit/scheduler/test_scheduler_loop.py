"""The scheduler's event handlers and cycles without a server: queue and cache follow the informers,
a failed binding forgets the assumed pod and backs off, an unfit pod is parked until a node arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from scheduler_builders import make_node, make_pod

from kubelite.client import APIClient, ClientConfig
from kubelite.controlplane.scheduler.scheduler import Scheduler
from kubelite.controlplane.scheduler.scheduling_queue import ACTIVE, BACKOFF, UNSCHEDULABLE


@pytest.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    # nothing listens on port 9: every API call fails fast with a connection error
    client = APIClient(ClientConfig(server="http://127.0.0.1:9"), timeout=2, connect_timeout=1, max_retries=0)
    sched = Scheduler(client)
    sched.recorder._closed = True  # events would only be dropped with a warning; keep the test quiet
    try:
        yield sched
    finally:
        for task in list(sched._tasks):
            task.cancel()
        await client.close()


def pending(name: str, **requests: str) -> dict[str, Any]:
    pod = make_pod(name).requests(**requests).obj() if requests else make_pod(name).container().obj()
    pod["status"] = {"phase": "Pending"}
    return pod


def track(sched: Scheduler, pod: dict[str, Any]) -> None:
    """What the pod informer does before calling the handlers: keep the object in its store."""
    sched.pods.store.put(pod)
    sched.on_pod_add(pod)


async def test_failed_binding_forgets_the_assumed_pod_and_backs_off(scheduler: Scheduler) -> None:
    scheduler.on_node_add(make_node("n1").capacity(cpu="2", memory="1Gi").obj())
    pod = pending("p", cpu="1")
    track(scheduler, pod)
    info = scheduler.queue.pop_nowait()
    assert info is not None
    scheduler.schedule_one(info)
    assert scheduler.cache.is_assumed(pod)
    assert scheduler.cache.snapshot.columns.req_cpu[0] == 1000
    for task in list(scheduler._tasks):
        if task.get_name().startswith("bind-"):
            await task
    assert not scheduler.cache.is_assumed(pod)
    assert scheduler.cache.snapshot.columns.req_cpu[0] == 0
    assert scheduler.queue.where("default/p") == BACKOFF


async def test_unfit_pod_is_parked_until_a_node_that_can_help_arrives(scheduler: Scheduler) -> None:
    scheduler.on_node_add(make_node("small").capacity(cpu="1", memory="1Gi").obj())
    track(scheduler, pending("big", cpu="4"))
    info = scheduler.queue.pop_nowait()
    assert info is not None
    scheduler.schedule_one(info)
    assert scheduler.queue.where("default/big") == UNSCHEDULABLE
    # an assigned pod appearing cannot help a resource shortfall
    scheduler.on_pod_add(make_pod("other").node("small").obj())
    assert scheduler.queue.where("default/big") == UNSCHEDULABLE
    # a heartbeat-only node update does not either
    node = make_node("small").capacity(cpu="1", memory="1Gi").obj()
    beat = {**node, "status": {**node["status"], "conditions": [{"type": "Ready", "status": "True"}]}}
    scheduler.on_node_update(node, beat)
    assert scheduler.queue.where("default/big") == UNSCHEDULABLE
    scheduler.on_node_add(make_node("large").capacity(cpu="8", memory="1Gi").obj())
    assert scheduler.queue.where("default/big") in (ACTIVE, BACKOFF)


async def test_pods_that_are_not_ours_are_not_queued(scheduler: Scheduler) -> None:
    other = pending("other")
    other["spec"]["schedulerName"] = "someone-else"
    deleting = pending("deleting")
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    done = pending("done")
    done["status"]["phase"] = "Succeeded"
    for pod in (other, deleting, done):
        track(scheduler, pod)
    assert len(scheduler.queue) == 0
    bound = make_pod("bound").requests(cpu="1").node("n1").obj()
    track(scheduler, bound)
    assert len(scheduler.queue) == 0
    scheduler.on_node_add(make_node("n1").capacity(cpu="2", memory="1Gi").obj())
    assert scheduler.cache.snapshot.columns.req_cpu[0] == 1000


async def test_a_pod_bound_by_someone_else_leaves_the_queue(scheduler: Scheduler) -> None:
    pod = pending("p")
    track(scheduler, pod)
    assert scheduler.queue.where("default/p") == ACTIVE
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "n1"}}
    scheduler.on_pod_update(pod, bound)
    assert scheduler.queue.where("default/p") is None
    scheduler.on_pod_delete(bound)
    assert scheduler.cache.pod_count() == 0


async def test_a_pod_that_breaks_a_plugin_is_backed_off_and_the_loop_goes_on(scheduler: Scheduler) -> None:
    scheduler.on_node_add(make_node("n1").capacity(cpu="2", memory="1Gi").obj())
    broken = pending("broken")
    broken["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "lots"}}  # the API server would refuse it
    track(scheduler, broken)
    info = scheduler.queue.pop_nowait()
    assert info is not None
    scheduler.schedule_guarded(info)
    assert scheduler.queue.where("default/broken") == BACKOFF
    assert not scheduler.cache.is_assumed(broken)
