"""Two candidates electing a leader on a real Lease: hand-over on release and after the lease expires."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from client_helpers import wait_until

from kubelite.client import APIClient, EventRecorder, LeaderElector, LeaseLock

pytestmark = [pytest.mark.integration]

LEASE_DURATION = 2.0
RENEW_DEADLINE = 1.5
RETRY_PERIOD = 0.3
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@dataclass
class Candidate:
    identity: str
    elector: LeaderElector
    leading: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    leaders_seen: list[str] = field(default_factory=list)
    started_at: float = 0.0
    task: asyncio.Task[None] | None = None


def candidate(client: APIClient, namespace: str, identity: str, *, release_on_cancel: bool = True,
              recorder: EventRecorder | None = None) -> Candidate:
    lock = LeaseLock(client, namespace=namespace, name="controller", identity=identity, event_recorder=recorder)
    holder: list[Candidate] = []

    async def lead() -> None:
        me = holder[0]
        me.started_at = asyncio.get_running_loop().time()
        me.leading.set()
        await asyncio.Event().wait()  # the guarded work runs until leadership ends

    def stopped() -> None:
        holder[0].stopped.set()

    def new_leader(name: str) -> None:
        holder[0].leaders_seen.append(name)

    elector = LeaderElector(lock, on_started_leading=lead, on_stopped_leading=stopped, on_new_leader=new_leader,
                            lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE, retry_period=RETRY_PERIOD,
                            release_on_cancel=release_on_cancel)
    holder.append(Candidate(identity, elector))
    return holder[0]


@contextlib.asynccontextmanager
async def running(*candidates: Candidate) -> AsyncIterator[None]:
    try:
        for c in candidates:
            c.task = asyncio.create_task(c.elector.run())
            await asyncio.sleep(0.05)  # a strict order: the first one wins the empty lease
        yield
    finally:
        for c in candidates:
            if c.task is not None:
                c.task.cancel()
        for c in candidates:
            if c.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(c.task, 5)


async def stop(c: Candidate) -> float:
    """Cancel a candidate's run (its release, if any, happens before this returns); the time it ended."""
    assert c.task is not None
    c.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await c.task
    return asyncio.get_running_loop().time()


async def test_released_leadership_moves_to_the_other_candidate_at_once(client: APIClient, namespace: str) -> None:
    recorder = EventRecorder(client, component="leader-test")
    first = candidate(client, namespace, "first", recorder=recorder)
    second = candidate(client, namespace, "second", recorder=recorder)
    leases = client.resource("coordination.k8s.io", "v1", "leases")
    try:
        async with running(first, second):
            await asyncio.wait_for(first.leading.wait(), 5)
            await asyncio.sleep(LEASE_DURATION + 0.5)  # longer than the lease: renewals keep it
            assert not second.leading.is_set(), "a renewed lease must not be taken over"
            lease = await leases.get("controller", namespace=namespace)
            spec = lease["spec"]
            assert spec["holderIdentity"] == "first"
            assert spec["leaseDurationSeconds"] == 2 and spec["leaseTransitions"] == 0
            assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
            assert spec["renewTime"] > spec["acquireTime"], "renewals move renewTime, not acquireTime"

            stopped_at = await stop(first)
            assert first.stopped.is_set()
            await asyncio.wait_for(second.leading.wait(), LEASE_DURATION)
            handover = second.started_at - stopped_at
            assert handover < RETRY_PERIOD * 2.2 + 0.5, f"hand-over took {handover:.2f}s after the release"
            lease = await leases.get("controller", namespace=namespace)
            assert lease["spec"]["holderIdentity"] == "second"
            assert lease["spec"]["leaseTransitions"] == 1
            assert lease["spec"]["leaseDurationSeconds"] == 2
        await wait_until(lambda: second.leaders_seen[-2:] == ["first", "second"], what="on_new_leader reports")
        assert second.stopped.is_set()
        await recorder.flush()
        events = await client.resource("", "v1", "events").list(namespace=namespace)
        messages = sorted(e["message"] for e in events["items"] if e["reason"] == "LeaderElection")
        assert "first became leader" in messages and "second became leader" in messages
        assert all(e["involvedObject"]["kind"] == "Lease" for e in events["items"])
    finally:
        await recorder.close()


async def test_a_crashed_leader_is_replaced_after_the_lease_expires(client: APIClient, namespace: str) -> None:
    # release_on_cancel=False: stopping behaves like a crash, the Lease still names the old leader
    first = candidate(client, namespace, "crashes", release_on_cancel=False)
    second = candidate(client, namespace, "waits")
    async with running(first, second):
        await asyncio.wait_for(first.leading.wait(), 5)
        await asyncio.sleep(0.5)
        stopped_at = await stop(first)
        lease = await client.resource("coordination.k8s.io", "v1", "leases").get("controller", namespace=namespace)
        assert lease["spec"]["holderIdentity"] == "crashes", "nothing was released"
        await asyncio.wait_for(second.leading.wait(), LEASE_DURATION + RETRY_PERIOD * 2.2 + 1.0)
        takeover = second.started_at - stopped_at
        # the successor waits out the lease measured from the last renewal it saw, then retries
        assert LEASE_DURATION - RETRY_PERIOD * 2.2 - 0.1 <= takeover <= LEASE_DURATION + RETRY_PERIOD * 2.2 + 1.0
        assert second.elector.is_leader() and second.elector.get_leader() == "waits"
