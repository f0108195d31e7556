"""Pod workers: one task per UID, the newest update wins while a sync runs, a removal is never replaced."""

from __future__ import annotations

import asyncio
from typing import Any

from kubelite.agent.kubelet.pod_workers import PodWorkers, SyncResult


def pod(version: int) -> dict[str, Any]:
    return {"metadata": {"uid": "u", "resourceVersion": str(version)}}


async def test_latest_update_wins_and_removal_finishes_the_worker() -> None:
    seen: list[tuple[str, bool]] = []
    gate = asyncio.Event()

    async def sync(uid: str, p: dict[str, Any] | None, removed: bool) -> SyncResult:
        seen.append((p["metadata"]["resourceVersion"] if p else "-", removed))
        if len(seen) == 1:
            await gate.wait()
        return SyncResult(finished=removed)

    workers = PodWorkers(sync=sync)
    workers.update("u", pod(1))
    await asyncio.sleep(0.01)
    for version in (2, 3, 4):  # arrive while the first sync runs: only the newest is synced
        workers.update("u", pod(version))
    gate.set()
    for _ in range(100):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.01)
    assert seen == [("1", False), ("4", False)]
    workers.update("u", pod(5), removed=True)
    workers.update("u", pod(6))  # a pending removal is never overwritten
    for _ in range(100):
        if "u" not in workers:
            break
        await asyncio.sleep(0.01)
    assert "u" not in workers
    assert seen[-1] == ("5", True)
    await workers.close()


async def test_a_failing_sync_is_retried_and_requeue_after_resyncs() -> None:
    calls = 0

    async def sync(uid: str, p: dict[str, Any] | None, removed: bool) -> SyncResult:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return SyncResult(requeue_after=0.01) if calls < 4 else SyncResult(finished=True)

    workers = PodWorkers(sync=sync, error_backoff=0.01)
    workers.update("u", pod(1))
    for _ in range(200):
        if "u" not in workers:
            break
        await asyncio.sleep(0.01)
    assert calls == 4
    await workers.close()


async def test_an_update_without_wake_is_seen_by_the_next_sync_but_starts_none() -> None:
    seen: list[str] = []

    async def sync(uid: str, p: dict[str, Any] | None, removed: bool) -> SyncResult:
        seen.append(p["metadata"]["resourceVersion"] if p else "-")
        return SyncResult(finished=removed)

    workers = PodWorkers(sync=sync)
    workers.update("u", pod(1))
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    workers.update("u", pod(2), wake=False)  # our own status write coming back on the watch
    for _ in range(10):
        await asyncio.sleep(0.01)
    assert seen == ["1"], "a status-only update must not start a sync"
    workers.wake("u")  # the next reason to sync (a PLEG event) sees the newest pod
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert seen == ["1", "2"]
    await workers.close()
