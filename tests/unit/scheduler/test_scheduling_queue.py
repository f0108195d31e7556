"""The scheduling queue: priority order, back-off, unschedulable pods and cluster events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scheduler_builders import make_pod

from kubelite.controlplane.scheduler.scheduling_queue import (
    ACTIVE,
    BACKOFF,
    NODE_ADD,
    UNSCHEDULABLE,
    SchedulingQueue,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pod(name: str, *, priority: int | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    obj = make_pod(name).obj()
    if priority is not None:
        obj["spec"]["priority"] = priority
    if labels:
        obj["metadata"]["labels"] = labels
    return obj


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(clock: Clock) -> SchedulingQueue:
    return SchedulingQueue(now=clock)


def test_active_queue_pops_highest_priority_then_oldest(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("low-old", priority=0))
    clock.t += 1
    queue.add(pod("high", priority=100))
    clock.t += 1
    queue.add(pod("low-new", priority=0))
    order = []
    while (info := queue.pop_nowait()) is not None:
        order.append(info.pod["metadata"]["name"])
        queue.done(info.key)
    assert order == ["high", "low-old", "low-new"]


def test_adding_a_queued_pod_again_updates_it_in_place(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queue.add(pod("a", labels={"v": "2"}))
    assert len(queue) == 1
    info = queue.pop_nowait()
    assert info is not None and info.pod["metadata"]["labels"] == {"v": "2"}


@pytest.mark.parametrize(("attempts", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)])
def test_backoff_doubles_from_one_second_up_to_ten(queue: SchedulingQueue, attempts: int, expected: float) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    info.attempts = attempts
    assert queue.backoff_duration(info) == expected


def test_error_goes_to_backoff_and_returns_when_it_expires(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add_backoff(info)
    assert queue.where("default/a") == BACKOFF
    clock.t += 0.9
    assert queue.pop_nowait() is None
    clock.t += 0.2
    again = queue.pop_nowait()
    assert again is not None and again.attempts == 2


def test_unschedulable_pod_waits_for_an_event_that_can_help(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add_unschedulable(info, cycle=queue.scheduling_cycle, plugins=["NodeResourcesFit"])
    assert queue.where("default/a") == UNSCHEDULABLE
    clock.t += 60
    assert queue.pop_nowait() is None  # no event, no retry (until the 5 minute flush)
    assert queue.move_all_to_active_or_backoff("AssignedPodAdd", interested=lambda p: "InterPodAffinity" in p) == 0
    assert queue.where("default/a") == UNSCHEDULABLE
    assert queue.move_all_to_active_or_backoff(NODE_ADD) == 1
    assert queue.where("default/a") == ACTIVE  # its 1 s back-off is long over


def test_event_right_after_the_failure_sends_the_pod_to_backoff(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add_unschedulable(info, cycle=queue.scheduling_cycle)
    clock.t += 0.5
    queue.move_all_to_active_or_backoff(NODE_ADD)
    assert queue.where("default/a") == BACKOFF
    clock.t += 0.6
    assert queue.pop_nowait() is not None


def test_event_during_the_cycle_skips_the_unschedulable_pods(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    cycle = queue.scheduling_cycle
    queue.move_all_to_active_or_backoff(NODE_ADD)  # a node came while "a" was being scheduled
    queue.add_unschedulable(info, cycle=cycle)
    assert queue.where("default/a") == BACKOFF


def test_unschedulable_pods_are_retried_after_five_minutes(queue: SchedulingQueue, clock: Clock) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add_unschedulable(info, cycle=queue.scheduling_cycle)
    clock.t += 299
    assert queue.pop_nowait() is None
    clock.t += 2
    assert queue.pop_nowait() is not None


def test_spec_change_moves_an_unschedulable_pod_but_status_change_does_not(queue: SchedulingQueue) -> None:
    old = pod("a")
    queue.add(old)
    info = queue.pop_nowait()
    assert info is not None
    queue.add_unschedulable(info, cycle=queue.scheduling_cycle)
    status_only = {**old, "status": {"conditions": [{"type": "PodScheduled", "status": "False"}]}}
    queue.update(old, status_only)
    assert queue.where("default/a") == UNSCHEDULABLE
    relabelled = {**status_only, "metadata": {**old["metadata"], "labels": {"x": "y"}}}
    queue.update(status_only, relabelled)
    assert queue.where("default/a") in (ACTIVE, BACKOFF)


def test_deleted_pod_leaves_every_queue(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    queue.delete(pod("a"))
    assert len(queue) == 0
    assert queue.pop_nowait() is None


def test_a_pod_being_scheduled_is_not_queued_twice(queue: SchedulingQueue) -> None:
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add(pod("a"))  # an informer update while it is in flight
    assert len(queue) == 0
    queue.done(info.key)
    queue.add(pod("a"))
    assert len(queue) == 1


def test_bad_backoff_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="back-off"):
        SchedulingQueue(initial_backoff=5, max_backoff=1)


async def test_pop_waits_for_a_pod_and_returns_none_when_closed() -> None:
    queue = SchedulingQueue()
    waiter = asyncio.create_task(queue.pop())
    await asyncio.sleep(0)
    queue.add(pod("a"))
    info = await asyncio.wait_for(waiter, timeout=5)
    assert info is not None and info.key == "default/a"
    closed = asyncio.create_task(queue.pop())
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(closed, timeout=5) is None


async def test_pop_wakes_up_when_a_backoff_expires() -> None:
    queue = SchedulingQueue(initial_backoff=0.05, max_backoff=0.1)
    queue.add(pod("a"))
    info = queue.pop_nowait()
    assert info is not None
    queue.add_backoff(info)
    again = await asyncio.wait_for(queue.pop(), timeout=5)
    assert again is not None and again.key == "default/a"
