"""Nominated pods: the nominator's index, and filtering that leaves room for pods nominated to a node
(upstream RunFilterPluginsWithNominatedPods), both with the kernel fast path and per node."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from scheduler_builders import make_node, make_pod

from kubelite.client import APIClient, ClientConfig
from kubelite.controlplane.scheduler import FitError, Framework, NodeInfo, ScheduleResult, default_profile
from kubelite.controlplane.scheduler.framework import CycleState, Handle
from kubelite.controlplane.scheduler.nominator import Nominator
from kubelite.controlplane.scheduler.plugins import in_tree_registry
from kubelite.controlplane.scheduler.scheduler import Scheduler
from kubelite.controlplane.scheduler.scheduling_queue import ACTIVE, BACKOFF, UNSCHEDULABLE

Obj = dict[str, Any]


def prio(builder: Any, priority: int, *, nominated: str = "") -> Obj:
    pod: Obj = builder.obj()
    pod["spec"]["priority"] = priority
    if nominated:
        pod["status"] = {"nominatedNodeName": nominated}
    return pod


def framework(nominator: Nominator) -> Framework:
    handle = Handle(nominator=nominator)
    return Framework(profile=default_profile(), registry=in_tree_registry(handle), rng=random.Random(3),
                     handle=handle)


def test_nominator_index_follows_adds_updates_and_deletes() -> None:
    nominator = Nominator()
    pod = prio(make_pod("p"), 10, nominated="n1")
    nominator.add(pod)
    assert [p["metadata"]["name"] for p in nominator.pods_for_node("n1")] == ["p"]
    # an update without the field keeps a nomination made in memory (the status write is on its way)
    plain = prio(make_pod("q"), 10)
    nominator.add(plain, node_name="n2")
    nominator.update(plain, prio(make_pod("q"), 10))
    assert nominator.node_of(plain) == "n2"
    # an update naming another node moves it; one that clears the field drops it
    nominator.update(pod, prio(make_pod("p"), 10, nominated="n3"))
    assert nominator.node_of(pod) == "n3" and not nominator.pods_for_node("n1")
    nominator.update(prio(make_pod("p"), 10, nominated="n3"), prio(make_pod("p"), 10))
    assert nominator.node_of(pod) == ""
    nominator.delete(plain)
    assert len(nominator) == 0 and not nominator.nodes()


def two_nodes() -> list[NodeInfo]:
    return [make_node(name).capacity(cpu="2", memory="4Gi").info() for name in ("n1", "n2")]


@pytest.mark.parametrize(("incoming", "expected"), [
    pytest.param(5, "n2", id="lower-priority-keeps-off"),
    pytest.param(10, "n2", id="equal-priority-keeps-off"),
    pytest.param(11, None, id="higher-priority-may-take-it"),
])
def test_room_held_for_a_nominated_pod(incoming: int, expected: str | None) -> None:
    nominator = Nominator()
    nominator.add(prio(make_pod("vip").requests(cpu="2"), 10, nominated="n1"))
    fw = framework(nominator)
    for _ in range(5):  # whichever node the scan starts on
        result = fw.schedule(pod=prio(make_pod("other").requests(cpu="1"), incoming), nodes=two_nodes())
        assert isinstance(result, ScheduleResult)
        if expected is not None:
            assert result.suggested_host == expected


def test_nominated_pod_goes_to_its_node_and_ignores_itself() -> None:
    nominator = Nominator()
    vip = prio(make_pod("vip").requests(cpu="2"), 10, nominated="n1")
    nominator.add(vip)
    result = framework(nominator).schedule(pod=vip, nodes=two_nodes())
    assert isinstance(result, ScheduleResult) and result.suggested_host == "n1"
    assert result.evaluated_nodes == 1  # the nominated node is tried first, alone


def test_every_node_held_gives_the_fit_error_with_the_nominated_pods() -> None:
    nominator = Nominator()
    nominator.add(prio(make_pod("a").requests(cpu="2"), 10, nominated="n1"))
    nominator.add(prio(make_pod("b").requests(cpu="2"), 10, nominated="n2"))
    result = framework(nominator).schedule(pod=prio(make_pod("late").requests(cpu="1"), 0), nodes=two_nodes())
    assert isinstance(result, FitError)
    assert result.message.startswith("0/2 nodes are available: 2 Insufficient cpu.")


def test_per_node_filters_see_nominated_pods_too() -> None:
    # host ports are checked per node, not in the kernel
    nominator = Nominator()
    nominator.add(prio(make_pod("web").host_port(80), 10, nominated="n1"))
    fw = framework(nominator)
    for _ in range(4):
        result = fw.schedule(pod=prio(make_pod("other").host_port(80), 0), nodes=two_nodes())
        assert isinstance(result, ScheduleResult) and result.suggested_host == "n2"


def test_run_filter_accounts_for_nominated_pods() -> None:
    """Preemption's what-if checks go through run_filter: they must leave the room held too."""
    nominator = Nominator()
    nominator.add(prio(make_pod("vip").requests(cpu="2"), 10, nominated="n1"))
    fw = framework(nominator)
    info = two_nodes()[0]
    for priority, fits in ((0, False), (20, True)):
        pod = prio(make_pod("p").requests(cpu="1"), priority)
        state = CycleState()
        fw.schedule(pod=pod, nodes=[info], state=state)  # runs PreFilter into state
        status = fw.run_filter(state=state, pod=pod, node_info=info)
        assert (status is None) == fits
        if not fits:
            assert status is not None and status.reasons == ("Insufficient cpu",)


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


async def test_scheduler_holds_the_room_until_the_nominated_pod_goes(scheduler: Scheduler) -> None:
    scheduler.on_node_add(make_node("n1").capacity(cpu="2", memory="4Gi").obj())
    vip = prio(make_pod("vip").requests(cpu="2"), 10, nominated="n1")
    scheduler.nominator.add(vip)  # as the informer does for a pending pod with status.nominatedNodeName
    low = prio(make_pod("low").requests(cpu="1"), 0)
    low["status"] = {"phase": "Pending"}
    scheduler.pods.store.put(low)
    scheduler.on_pod_add(low)
    info = scheduler.queue.pop_nowait()
    assert info is not None and info.key == "default/low"
    scheduler.schedule_one(info)
    assert scheduler.queue.where("default/low") == UNSCHEDULABLE
    assert not scheduler.cache.is_assumed(low)
    # the nominated pod is deleted before it was bound: the room is free, the parked pod is retried
    scheduler.on_pod_delete(vip)
    assert len(scheduler.nominator) == 0
    assert scheduler.queue.where("default/low") in (ACTIVE, BACKOFF)


def test_preemption_clears_lower_priority_nominations_on_its_node() -> None:
    nominator = Nominator()
    low = prio(make_pod("low-nominee").requests(cpu="1"), 1, nominated="n1")
    peer = prio(make_pod("peer-nominee").requests(cpu="1"), 50, nominated="n1")
    nominator.add(low)
    nominator.add(peer)
    victim = prio(make_pod("victim").requests(cpu="2").node("n1"), 0)
    infos = [make_node("n1").capacity(cpu="2", memory="4Gi").info(victim)]
    result = framework(nominator).schedule(pod=prio(make_pod("vip").requests(cpu="1"), 50), nodes=infos)
    assert isinstance(result, FitError) and result.nominated_node_name == "n1"
    # the lower-priority nominee must look elsewhere; an equal-priority one keeps its place
    assert nominator.node_of(low) == "" and nominator.node_of(peer) == "n1"
