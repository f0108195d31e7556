"""SyncRunner: coalescing, rate limit, periodic full syncs, full retry with back-off after a failure."""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from kubelite.agent.proxy.sync_runner import SyncRunner


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.005)


async def test_first_sync_is_full_and_requests_coalesce() -> None:
    calls: list[bool] = []

    async def sync(full: bool) -> None:
        calls.append(full)

    runner = SyncRunner(sync, min_interval=0.2, full_interval=60)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: calls == [True])
        for _ in range(20):
            runner.request()
        await wait_for(lambda: len(calls) == 2)
        await asyncio.sleep(0.3)
        assert calls == [True, False], "twenty requests between two syncs make one partial sync"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_syncs_are_rate_limited() -> None:
    starts: list[float] = []

    async def sync(full: bool) -> None:
        starts.append(asyncio.get_running_loop().time())

    runner = SyncRunner(sync, min_interval=0.15, full_interval=60)
    task = asyncio.create_task(runner.run())
    try:
        for seen in range(3):
            await wait_for(lambda seen=seen: len(starts) > seen)
            runner.request()
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(gap >= 0.14 for gap in gaps), gaps
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_failure_forces_a_full_sync_after_back_off() -> None:
    calls: list[bool] = []

    async def sync(full: bool) -> None:
        calls.append(full)
        if len(calls) == 2:
            raise RuntimeError("nft said no")

    runner = SyncRunner(sync, min_interval=0.05, full_interval=60)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(calls) == 1)
        runner.request()
        await wait_for(lambda: len(calls) == 3)
        assert calls == [True, False, True]
        assert runner.need_full is False and runner.full_syncs == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_periodic_full_sync_without_requests() -> None:
    calls: list[bool] = []

    async def sync(full: bool) -> None:
        calls.append(full)

    runner = SyncRunner(sync, min_interval=0.01, full_interval=0.1)
    task = asyncio.create_task(runner.run())
    try:
        await wait_for(lambda: len(calls) >= 3)
        assert all(calls[:3])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
