"""Leader election logic: timing validation, record conversion, acquire/renew/release decisions.

The lock here is an in-memory stand-in with the API server's optimistic concurrency (an update
must carry the version it read); the real Lease round trip is covered by the integration tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.client.leaderelection import (
    LeaderElectionConfigError,
    LeaderElectionRecord,
    LeaderElector,
    validate_timings,
)
from kubelite.client.rest import APIStatusError


class LeaseServer:
    """One Lease's record and version, shared by several FakeLocks."""

    def __init__(self) -> None:
        self.record: LeaderElectionRecord | None = None
        self.version = 0
        self.writes: list[LeaderElectionRecord] = []

    def write(self, record: LeaderElectionRecord) -> None:
        self.record = record
        self.version += 1
        self.writes.append(record)


def conflict() -> APIStatusError:
    return APIStatusError({"kind": "Status", "code": 409, "reason": "Conflict",
                           "message": "the object has been modified"})


class FakeLock:
    def __init__(self, server: LeaseServer, identity: str) -> None:
        self.server = server
        self._identity = identity
        self.seen_version: int | None = None
        self.events: list[str] = []

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return "ns/lease"

    async def get(self) -> LeaderElectionRecord:
        if self.server.record is None:
            raise APIStatusError({"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"})
        self.seen_version = self.server.version
        return self.server.record

    async def create(self, record: LeaderElectionRecord) -> None:
        if self.server.record is not None:
            raise APIStatusError({"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "exists"})
        self.server.write(record)
        self.seen_version = self.server.version

    async def update(self, record: LeaderElectionRecord) -> None:
        if self.seen_version is None:
            raise RuntimeError("lease not initialized, call get or create first")
        if self.seen_version != self.server.version:
            raise conflict()
        self.server.write(record)
        self.seen_version = self.server.version

    def record_event(self, message: str) -> None:
        self.events.append(message)


async def idle() -> None:
    pass


def elector(lock: FakeLock, **kwargs: Any) -> LeaderElector:
    kwargs.setdefault("on_started_leading", idle)
    kwargs.setdefault("on_stopped_leading", lambda: None)
    kwargs.setdefault("lease_duration", 2.0)
    kwargs.setdefault("renew_deadline", 1.5)
    kwargs.setdefault("retry_period", 0.05)
    return LeaderElector(lock, **kwargs)


@pytest.mark.parametrize(("lease", "renew", "retry", "message"), [
    pytest.param(10, 10, 2, r"lease_duration \(10s\) must be greater than renew_deadline \(10s\)", id="lease<=renew"),
    pytest.param(15, 2.4, 2, r"renew_deadline \(2.4s\) must be greater than retry_period\*1.2", id="renew<=retry*1.2"),
    pytest.param(15, 10, 0, "retry_period must be greater than zero", id="zero-retry"),
    pytest.param(0.9, 0.5, 0.1, "lease_duration must be at least 1s", id="sub-second-lease"),
])
def test_timings_are_validated_as_upstream(lease: float, renew: float, retry: float, message: str) -> None:
    with pytest.raises(LeaderElectionConfigError, match=message):
        validate_timings(lease_duration=lease, renew_deadline=renew, retry_period=retry)


def test_default_timings_are_upstreams_and_valid() -> None:
    candidate = LeaderElector(FakeLock(LeaseServer(), "a"), on_started_leading=idle, on_stopped_leading=lambda: None)
    assert (candidate.lease_duration, candidate.renew_deadline, candidate.retry_period) == (15.0, 10.0, 2.0)
    assert candidate.release_on_cancel


def test_record_round_trips_through_the_lease_spec() -> None:
    record = LeaderElectionRecord(holder_identity="a", lease_duration_seconds=15,
                                  acquire_time="2024-01-01T00:00:00.000001Z", renew_time="2024-01-01T00:00:05.5Z",
                                  leader_transitions=3)
    spec = record.to_lease_spec()
    assert spec == {"holderIdentity": "a", "leaseDurationSeconds": 15, "leaseTransitions": 3,
                    "acquireTime": "2024-01-01T00:00:00.000001Z", "renewTime": "2024-01-01T00:00:05.5Z"}
    assert LeaderElectionRecord.from_lease_spec(spec) == record
    assert LeaderElectionRecord.from_lease_spec(None) == LeaderElectionRecord()


async def test_the_first_candidate_creates_the_lease() -> None:
    server = LeaseServer()
    candidate = elector(FakeLock(server, "a"))
    assert await candidate.try_acquire_or_renew()
    assert candidate.is_leader() and candidate.get_leader() == "a"
    assert server.record is not None
    assert server.record.holder_identity == "a"
    assert server.record.lease_duration_seconds == 2
    assert server.record.leader_transitions == 0
    assert server.record.acquire_time == server.record.renew_time
    assert server.record.acquire_time is not None and server.record.acquire_time.endswith("Z")


async def test_a_valid_lease_held_by_another_is_not_taken() -> None:
    server = LeaseServer()
    assert await elector(FakeLock(server, "a")).try_acquire_or_renew()
    other = elector(FakeLock(server, "b"))
    assert not await other.try_acquire_or_renew()
    assert other.get_leader() == "a" and not other.is_leader()
    assert len(server.writes) == 1


async def test_renewal_keeps_acquire_time_and_transitions() -> None:
    server = LeaseServer()
    leader = elector(FakeLock(server, "a"))
    assert await leader.try_acquire_or_renew()
    first = server.record
    await asyncio.sleep(0.002)
    assert await leader.try_acquire_or_renew()
    assert server.record is not None and first is not None
    assert server.record.acquire_time == first.acquire_time
    assert server.record.renew_time != first.renew_time
    assert server.record.leader_transitions == 0


async def test_an_expired_lease_is_taken_over_and_counted_as_a_transition() -> None:
    server = LeaseServer()
    assert await elector(FakeLock(server, "a")).try_acquire_or_renew()
    other = elector(FakeLock(server, "b"))
    assert not await other.try_acquire_or_renew()  # observes a's record: the lease clock starts now
    other._observed_time -= 3  # the lease (2 s) ran out without a renewal being observed
    assert await other.try_acquire_or_renew()
    assert server.record is not None
    assert server.record.holder_identity == "b"
    assert server.record.leader_transitions == 1


async def test_a_renewal_seen_resets_the_expiry_clock() -> None:
    server = LeaseServer()
    leader = elector(FakeLock(server, "a"))
    assert await leader.try_acquire_or_renew()
    other = elector(FakeLock(server, "b"))
    assert not await other.try_acquire_or_renew()
    other._observed_time -= 1.5
    await asyncio.sleep(0.002)
    assert await leader.try_acquire_or_renew()  # renewTime changes the record
    assert not await other.try_acquire_or_renew(), "the changed record restarts b's lease clock"
    other._observed_time -= 1.5
    assert not await other.try_acquire_or_renew()


class RacingLock(FakeLock):
    """Another candidate writes the Lease between this one's read and its update."""

    async def get(self) -> LeaderElectionRecord:
        record = await super().get()
        self.server.write(LeaderElectionRecord(holder_identity="b", lease_duration_seconds=2, renew_time="t"))
        return record


async def test_a_lost_race_is_a_failed_attempt() -> None:
    server = LeaseServer()
    assert await elector(FakeLock(server, "a")).try_acquire_or_renew()
    racer = elector(RacingLock(server, "c"))
    racer.observed_record = server.record or LeaderElectionRecord()
    racer._observed_time -= 10  # a's lease looks expired to c
    assert not await racer.try_acquire_or_renew(), "the update after b's write must conflict"
    assert not racer.is_leader()
    assert server.record is not None and server.record.holder_identity == "b"


async def test_release_clears_the_holder_so_others_take_over_at_once() -> None:
    server = LeaseServer()
    leader = elector(FakeLock(server, "a"))
    assert await leader.try_acquire_or_renew()
    other = elector(FakeLock(server, "b"))
    assert not await other.try_acquire_or_renew()
    assert await leader.release()
    assert server.record is not None
    assert server.record.holder_identity == "" and server.record.lease_duration_seconds == 1
    assert not leader.is_leader()
    assert await other.try_acquire_or_renew(), "an empty holder may be taken without waiting"
    assert server.record.holder_identity == "b" and server.record.leader_transitions == 1


async def test_release_by_a_non_leader_writes_nothing() -> None:
    server = LeaseServer()
    assert await elector(FakeLock(server, "b")).release()
    assert server.writes == []


async def test_run_leads_until_cancelled_then_releases_and_reports() -> None:
    server = LeaseServer()
    lock = FakeLock(server, "a")
    started, cancelled = asyncio.Event(), asyncio.Event()
    stopped: list[bool] = []
    leaders: list[str] = []

    async def lead() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    candidate = elector(lock, on_started_leading=lead, on_stopped_leading=lambda: stopped.append(True),
                        on_new_leader=leaders.append)
    task = asyncio.create_task(candidate.run())
    try:
        await asyncio.wait_for(started.wait(), 2)
        await asyncio.sleep(0.15)  # a few renewals
        assert len(server.writes) >= 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert cancelled.is_set(), "the guarded work is cancelled before the lease is given up"
    assert stopped == [True]
    assert server.record is not None and server.record.holder_identity == ""
    await asyncio.sleep(0)
    assert leaders == ["a"]
    assert lock.events == ["became leader"]


async def test_losing_the_lease_stops_leading() -> None:
    server = LeaseServer()
    lock = FakeLock(server, "a")
    stopped = asyncio.Event()
    candidate = elector(lock, on_stopped_leading=stopped.set, renew_deadline=0.2, lease_duration=1.0,
                        retry_period=0.02)
    task = asyncio.create_task(candidate.run())
    try:
        await asyncio.sleep(0.05)
        assert candidate.is_leader()
        # someone else overwrites the Lease: every renewal from now on conflicts and sees b holding it
        server.write(LeaderElectionRecord(holder_identity="b", lease_duration_seconds=60, renew_time="x"))
        await asyncio.wait_for(stopped.wait(), 2)
        await asyncio.wait_for(task, 2)
    finally:
        task.cancel()
    assert not candidate.is_leader()
    assert server.record is not None and server.record.holder_identity == "b", "release must not clear b's lease"
    assert lock.events == ["became leader", "stopped leading"]


async def test_on_stopped_leading_runs_even_if_never_leading() -> None:
    server = LeaseServer()
    server.write(LeaderElectionRecord(holder_identity="other", lease_duration_seconds=60, renew_time="x"))
    stopped: list[bool] = []
    candidate = elector(FakeLock(server, "a"), on_stopped_leading=lambda: stopped.append(True))
    task = asyncio.create_task(candidate.run())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped == [True]
    assert server.record is not None and server.record.holder_identity == "other"
