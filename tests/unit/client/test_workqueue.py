"""Work queue semantics (client-go util/workqueue) on a fake clock: exact, instant, deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from kubelite.client.workqueue import (
    BucketRateLimiter,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    WorkQueue,
    default_controller_rate_limiter,
)


async def settle() -> None:
    """Let every ready task run until nothing changes (several hops: sleep -> wait -> get)."""
    for _ in range(10):
        await asyncio.sleep(0)


def make_queue(clock: FakeClock | None = None) -> tuple[WorkQueue[str], FakeClock]:
    clock = clock or FakeClock()
    return WorkQueue[str](clock=clock), clock


# ---- basic queue -------------------------------------------------------------------------------------


async def test_an_item_added_twice_is_handed_out_once() -> None:
    queue, _ = make_queue()
    for item in ("a", "b", "a", "a", "c", "b"):
        queue.add(item)
    assert len(queue) == 3
    got = [await queue.get() for _ in range(3)]
    assert got == ["a", "b", "c"]
    assert len(queue) == 0


async def test_an_item_readded_while_processing_waits_for_done() -> None:
    queue, _ = make_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")  # changed again while a worker reconciles it
    assert len(queue) == 0, "must not be handed to a second worker while processing"
    second = asyncio.create_task(queue.get())
    await settle()
    assert not second.done()
    queue.done("a")
    assert await asyncio.wait_for(second, 1) == "a"


async def test_done_without_readd_does_not_requeue() -> None:
    queue, _ = make_queue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0
    assert queue.processing == 0


async def test_many_workers_never_hold_the_same_item_at_once() -> None:
    queue, _ = make_queue()
    holding: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            if item in holding:
                overlaps.append(item)
            holding.add(item)
            await asyncio.sleep(0)
            if len(processed) < 40:
                queue.add(item)  # changed again while being processed
            await asyncio.sleep(0)
            processed.append(item)
            holding.discard(item)
            queue.done(item)

    for name in ("x", "y", "z"):
        queue.add(name)
    workers = [asyncio.create_task(worker()) for _ in range(5)]
    try:
        for _ in range(200):
            await asyncio.sleep(0)
            if len(processed) >= 40 and len(queue) == 0 and queue.processing == 0:
                break
        queue.shutdown()
        await asyncio.wait_for(asyncio.gather(*workers), 2)
    finally:
        for task in workers:
            task.cancel()
    assert overlaps == []
    assert len(processed) >= 40


async def test_get_waits_for_an_add() -> None:
    queue, _ = make_queue()
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    queue.add("a")
    assert await asyncio.wait_for(getter, 1) == "a"


# ---- shutdown ----------------------------------------------------------------------------------------


async def test_shutdown_drains_queued_items_then_returns_none() -> None:
    queue, _ = make_queue()
    queue.add("a")
    queue.add("b")
    queue.shutdown()
    queue.add("c")  # ignored after shutdown
    assert queue.shutting_down
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert await queue.get() is None


async def test_shutdown_wakes_waiting_getters() -> None:
    queue, _ = make_queue()
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await settle()
    queue.shutdown()
    assert await asyncio.wait_for(asyncio.gather(*getters), 1) == [None, None, None]


async def test_shutdown_drops_delayed_items() -> None:
    queue, clock = make_queue()
    queue.add_after("later", 1.0)
    queue.shutdown()
    clock.step(5)
    assert await queue.get() is None


async def test_shutdown_with_drain_waits_for_items_in_flight() -> None:
    queue, _ = make_queue()
    queue.add("a")
    assert await queue.get() == "a"
    drain = asyncio.create_task(queue.shutdown_with_drain())
    await settle()
    assert not drain.done()
    queue.done("a")
    await asyncio.wait_for(drain, 1)


# ---- delaying ----------------------------------------------------------------------------------------


async def test_add_after_hands_the_item_out_when_its_time_comes() -> None:
    queue, clock = make_queue()
    queue.add_after("a", 1.0)
    getter = asyncio.create_task(queue.get())
    await settle()
    assert not getter.done()
    assert queue.waiting == 1
    clock.step(0.999)
    await settle()
    assert not getter.done()
    clock.step(0.001)
    assert await asyncio.wait_for(getter, 1) == "a"


@pytest.mark.parametrize(("first", "second", "ready_at"), [
    pytest.param(5.0, 1.0, 1.0, id="earlier-time-wins"),
    pytest.param(1.0, 5.0, 1.0, id="later-time-ignored"),
])
async def test_add_after_twice_keeps_the_earlier_time(first: float, second: float, ready_at: float) -> None:
    queue, clock = make_queue()
    queue.add_after("a", first)
    queue.add_after("a", second)
    clock.step(ready_at - 0.01)
    assert len(queue) == 0
    clock.step(0.01)
    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    clock.step(10)
    assert len(queue) == 0, "the superseded time must not queue the item again"


@pytest.mark.parametrize("delay", [pytest.param(0.0, id="zero"), pytest.param(-1.0, id="negative")])
async def test_add_after_without_delay_adds_at_once(delay: float) -> None:
    queue, _ = make_queue()
    queue.add_after("a", delay)
    assert len(queue) == 1


async def test_delayed_items_come_out_in_time_order() -> None:
    queue, clock = make_queue()
    queue.add_after("c", 3)
    queue.add_after("a", 1)
    queue.add_after("b", 2)
    clock.step(3)
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_getter_sleeping_for_a_late_item_wakes_for_an_earlier_one() -> None:
    queue, clock = make_queue()
    queue.add_after("late", 10)
    getter = asyncio.create_task(queue.get())
    await settle()
    queue.add_after("soon", 1)
    await settle()
    clock.step(1)
    assert await asyncio.wait_for(getter, 1) == "soon"


async def test_a_delayed_item_already_queued_is_not_duplicated() -> None:
    queue, clock = make_queue()
    queue.add("a")
    queue.add_after("a", 1)
    clock.step(1)
    assert len(queue) == 1


# ---- rate limiting -----------------------------------------------------------------------------------


def test_exponential_limiter_doubles_from_base_and_caps() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=0.005, max_delay=1000.0)
    delays = [limiter.when("a") for _ in range(20)]
    assert delays[:5] == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08])
    assert delays[-1] == 1000.0
    assert limiter.num_requeues("a") == 20
    assert limiter.when("b") == pytest.approx(0.005), "items back off independently"
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)


def test_exponential_limiter_survives_huge_failure_counts() -> None:
    limiter = ItemExponentialFailureRateLimiter[str](base_delay=0.005, max_delay=1000.0)
    for _ in range(1100):
        last = limiter.when("a")
    assert last == 1000.0


def test_fast_slow_limiter() -> None:
    limiter = ItemFastSlowRateLimiter[str](fast_delay=0.1, slow_delay=5.0, max_fast_attempts=2)
    assert [limiter.when("a") for _ in range(4)] == [0.1, 0.1, 5.0, 5.0]
    limiter.forget("a")
    assert limiter.when("a") == 0.1


def test_bucket_limiter_allows_the_burst_then_paces_at_qps() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter[str](qps=10, burst=100, clock=clock)
    assert [bucket.when(str(i)) for i in range(100)] == [0.0] * 100
    assert bucket.when("x") == pytest.approx(0.1)
    assert bucket.when("y") == pytest.approx(0.2)
    clock.step(0.2)  # the debt is paid
    assert bucket.when("z") == pytest.approx(0.1)
    assert bucket.num_requeues("x") == 0


def test_bucket_limiter_refills_up_to_burst_only() -> None:
    clock = FakeClock()
    bucket = BucketRateLimiter[str](qps=1, burst=2, clock=clock)
    clock.step(100)
    assert [bucket.when("a") for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


def test_default_controller_rate_limiter_is_max_of_exponential_and_bucket() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock=clock)
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.01)
    assert limiter.num_requeues("a") == 2
    # 98 more failures of other items use up the burst of 100; then the bucket dominates
    for i in range(98):
        limiter.when(f"other-{i}")
    assert limiter.when("fresh") == pytest.approx(0.1)
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_max_of_needs_a_limiter() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter[Hashable]()


@pytest.mark.parametrize("kwargs", [
    pytest.param({"qps": 0, "burst": 1}, id="zero-qps"),
    pytest.param({"qps": 1, "burst": 0}, id="zero-burst"),
])
def test_bucket_limiter_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="qps must be > 0 and burst >= 1"):
        BucketRateLimiter[str](qps=kwargs["qps"], burst=int(kwargs["burst"]))


async def test_add_rate_limited_backs_off_per_failure_and_forget_resets() -> None:
    clock = FakeClock()
    queue = WorkQueue[str](clock=clock, rate_limiter=default_controller_rate_limiter(clock=clock))
    expected = [0.005, 0.01, 0.02]
    for delay in expected:
        queue.add_rate_limited("a")
        clock.step(delay - 0.001)
        assert len(queue) == 0
        clock.step(0.001)
        assert await queue.get() == "a"
        queue.done("a")
    assert queue.num_requeues("a") == 3
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a")
    clock.step(0.005)
    assert len(queue) == 1


async def test_fake_clock_rejects_going_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        FakeClock().step(-1)
