"""The binding cycle without a server: Permit plugins that wait hold a pod until they allow it, reject
it or time out; the scheduling loop goes on meanwhile; PreBind+Bind run under a concurrency bound."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from scheduler_builders import make_node, make_pod

from kubelite.client import APIClient, ClientConfig
from kubelite.controlplane.scheduler.config import SchedulerConfig
from kubelite.controlplane.scheduler.framework import Code, CycleState, ExtensionPoint, Handle, Status
from kubelite.controlplane.scheduler.plugins import default_profile
from kubelite.controlplane.scheduler.scheduler import Scheduler
from kubelite.controlplane.scheduler.scheduling_queue import BACKOFF, UNSCHEDULABLE


class Gang:
    """A test Permit plugin: every pod waits ``timeout`` seconds unless something allows it."""

    name = "Gang"
    answer: tuple[Status | None, float] = (Status.of(Code.WAIT), 30.0)

    def permit(self, *, state: CycleState, pod: Mapping[str, Any], node_name: str) -> tuple[Status | None, float]:
        return self.answer


class RecordingBinder:
    """A test Bind plugin: records each bind; holds it while ``gate`` is closed."""

    name = "RecordingBinder"

    def __init__(self) -> None:
        self.bound: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def bind(self, *, state: CycleState, pod: Mapping[str, Any], node_name: str) -> Status | None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.bound.append((pod["metadata"]["name"], node_name))
        return None


@pytest.fixture
async def parts() -> AsyncIterator[tuple[Scheduler, Gang, RecordingBinder]]:
    gang, binder = Gang(), RecordingBinder()
    base = default_profile()
    profile = dataclasses.replace(base, plugins={**base.plugins, ExtensionPoint.PERMIT: ["Gang"],
                                                 ExtensionPoint.BIND: ["RecordingBinder"]})
    registry = {"Gang": lambda handle: (lambda args: gang), "RecordingBinder": lambda handle: (lambda args: binder)}
    # nothing listens on port 9: the status writes of failed pods fail fast
    client = APIClient(ClientConfig(server="http://127.0.0.1:9"), timeout=2, connect_timeout=1, max_retries=0)
    sched = Scheduler(client, config=SchedulerConfig(profiles=[profile]), out_of_tree_registry=registry,
                      bind_concurrency=2)
    sched.recorder._closed = True  # events would only be dropped with a warning; keep the test quiet
    sched.on_node_add(make_node("n1").capacity(cpu="8", memory="8Gi").obj())
    try:
        yield sched, gang, binder
    finally:
        for task in list(sched._tasks):
            task.cancel()
        await client.close()


def submit(sched: Scheduler, name: str) -> dict[str, Any]:
    pod = make_pod(name).requests(cpu="1").obj()
    pod["status"] = {"phase": "Pending"}
    sched.pods.store.put(pod)
    sched.on_pod_add(pod)
    info = sched.queue.pop_nowait()
    assert info is not None and info.key == f"default/{name}"
    sched.schedule_one(info)
    return pod


async def binding_cycles_done(sched: Scheduler) -> None:
    tasks = [t for t in sched._tasks if t.get_name().startswith("bind-")]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_a_waiting_pod_is_bound_once_allowed_and_the_loop_goes_on_meanwhile(
        parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, _, binder = parts
    first, second = submit(sched, "a"), submit(sched, "b")  # the second cycle ran while the first waits
    await asyncio.sleep(0.01)
    assert len(sched.waiting_pods) == 2 and binder.bound == []
    assert sched.cache.is_assumed(first) and sched.cache.is_assumed(second)
    assert sched.cache.snapshot.columns.req_cpu[0] == 2000, "both hold their room while they wait"
    waiting = sched.handle.waiting_pods.get("uid-a")
    assert waiting is not None and waiting.pending_plugins() == ["Gang"] and waiting.node_name == "n1"
    sched.handle.waiting_pods.iterate(lambda wp: wp.allow("Gang"))
    await binding_cycles_done(sched)
    assert sorted(binder.bound) == [("a", "n1"), ("b", "n1")]
    assert len(sched.waiting_pods) == 0 and sched.scheduled == 2


async def test_a_pod_nobody_allows_times_out_is_forgotten_and_parked_as_unschedulable(
        parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, gang, binder = parts
    gang.answer = (Status.of(Code.WAIT), 0.05)
    pod = submit(sched, "lonely")
    await binding_cycles_done(sched)
    assert binder.bound == []
    assert not sched.cache.is_assumed(pod)
    assert sched.cache.snapshot.columns.req_cpu[0] == 0
    assert sched.queue.where("default/lonely") == UNSCHEDULABLE
    assert len(sched.waiting_pods) == 0


async def test_a_rejection_from_another_plugin_fails_the_waiting_pod(
        parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, _, binder = parts
    pod = submit(sched, "member")
    sched.handle.waiting_pods.iterate(lambda wp: wp.reject("Gang", "the gang lost a member"))
    await binding_cycles_done(sched)
    assert binder.bound == [] and not sched.cache.is_assumed(pod)
    assert sched.queue.where("default/member") == UNSCHEDULABLE


async def test_a_waiting_pod_that_is_deleted_is_released(parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, _, binder = parts
    pod = submit(sched, "gone")
    sched.pods.store.remove("default/gone")
    sched.on_pod_delete(pod)
    await binding_cycles_done(sched)
    assert binder.bound == [] and not sched.cache.is_assumed(pod)
    assert sched.queue.where("default/gone") is None
    assert sched.cache.snapshot.columns.req_cpu[0] == 0


async def test_a_permit_rejection_in_the_scheduling_cycle_parks_the_pod(
        parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, gang, _ = parts
    gang.answer = (Status.of(Code.UNSCHEDULABLE, "not now"), 0.0)
    pod = submit(sched, "refused")
    assert not sched.cache.is_assumed(pod)
    assert not [t for t in sched._tasks if t.get_name().startswith("bind-")], "no binding cycle"
    assert sched.queue.where("default/refused") == UNSCHEDULABLE
    gang.answer = (Status.of(Code.ERROR, "plugin broke"), 0.0)
    submit(sched, "broken")
    assert sched.queue.where("default/broken") == BACKOFF


async def test_bindings_run_concurrently_up_to_the_bound(parts: tuple[Scheduler, Gang, RecordingBinder]) -> None:
    sched, gang, binder = parts
    gang.answer = (None, 0.0)
    binder.gate.clear()
    for i in range(5):
        submit(sched, f"p{i}")
    await asyncio.sleep(0.05)
    assert binder.in_flight == 2, "bind_concurrency=2: the other three wait for a slot"
    binder.gate.set()
    await binding_cycles_done(sched)
    assert len(binder.bound) == 5 and binder.most_in_flight == 2


async def test_out_of_tree_plugins_may_not_shadow_in_tree_ones() -> None:
    client = APIClient(ClientConfig(server="http://127.0.0.1:9"))
    try:
        with pytest.raises(ValueError, match="DefaultBinder"):
            Scheduler(client, out_of_tree_registry={"DefaultBinder": lambda handle: (lambda args: handle)})
        with pytest.raises(ValueError, match="bind_concurrency"):
            Scheduler(client, bind_concurrency=0)
    finally:
        await client.close()


def test_the_handle_reaches_the_waiting_pods() -> None:
    assert "waiting_pods" in {f.name for f in dataclasses.fields(Handle)}


async def test_freeze_gc_freezes_when_synced_and_again_each_time_the_caches_doubled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from kubelite import gc_tuning

    freezes: list[int] = []
    client = APIClient(ClientConfig(server="http://127.0.0.1:9"), timeout=2, connect_timeout=1, max_retries=0)
    sched = Scheduler(client, freeze_gc=True)
    sched.recorder._closed = True
    monkeypatch.setattr(gc_tuning.gc, "freeze", lambda: freezes.append(len(sched.pods.store)))
    monkeypatch.setattr(gc_tuning.gc, "set_threshold", lambda *thresholds: None)
    try:
        sched.on_node_add(make_node("n1").capacity(cpu="8", memory="8Gi", pods="5000").obj())
        sched._gc.start(len(sched.pods.store) + len(sched.nodes.store))  # what run() does once synced
        assert freezes == [0]

        def cycle(name: str) -> None:
            pod = make_pod(name).container().obj()
            pod["status"] = {"phase": "Pending"}
            sched.pods.store.put(pod)
            sched.on_pod_add(pod)
            info = sched.queue.pop_nowait()
            assert info is not None
            sched._last_cleanup = 0.0  # the once-a-second sweep is due
            sched.schedule_one(info)

        for i in range(1500):
            sched.pods.store.put(make_pod(f"bound-{i}").node("n1").obj())
        cycle("a")
        assert freezes == [0], "1500 cached objects: not yet twice the 1000 floor"
        for i in range(1500, 2100):
            sched.pods.store.put(make_pod(f"bound-{i}").node("n1").obj())
        cycle("b")
        assert freezes == [0, 2102]
        cycle("c")
        assert freezes == [0, 2102], "not again until the caches doubled once more"
    finally:
        for task in list(sched._tasks):
            task.cancel()
        await client.close()
