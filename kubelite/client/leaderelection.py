"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's ``tools/leaderelection``.

Design
------
Candidates race to write their identity into one Lease. The API server's optimistic concurrency
(every update carries the resourceVersion it read) makes the write atomic: of two candidates that
read the same Lease, only one update succeeds.

* **Timing** (defaults 15 s / 10 s / 2 s as upstream): a candidate may take over a Lease whose
  holder has not renewed for ``lease_duration``; the leader retries its renewal every
  ``retry_period`` and gives up leadership if it could not renew for ``renew_deadline``. The
  constructor validates as ``NewLeaderElector`` does: lease_duration > renew_deadline >
  retry_period * 1.2 (the jitter factor), all positive.
* **Clock skew**: like upstream, expiry is judged on the *local* monotonic clock, from the moment
  this process last saw the record change, never from the timestamps written in the Lease (those
  come from another machine's clock). ``acquireTime``/``renewTime`` are still written as MicroTime
  for humans and tools.
* **Records**: ``leaseTransitions`` counts changes of holder; a renewing leader keeps its
  ``acquireTime``.
* **Callbacks**: ``on_started_leading`` runs as a task while we lead and is cancelled (and awaited)
  when leadership ends; ``on_stopped_leading`` runs when ``run()`` ends, also when this candidate
  never led (upstream defers it in ``Run``); ``on_new_leader(identity)`` whenever the observed
  holder changes, including the first one seen.
* **ReleaseOnCancel**: when ``run()`` is cancelled (or renewal fails) the leader clears
  ``holderIdentity`` and sets a 1 s duration, so another candidate takes over at its next retry
  instead of waiting out the lease. The guarded work has already been cancelled by then, so two
  leaders never act at once.

Fencing is not provided (nor is it upstream): a leader that stalls longer than the lease may briefly
overlap with its successor; callers keep their writes idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from kubelite.api.meta import rfc3339_micro
from kubelite.client.rest import APIClient, APIConnectionError, APIStatusError, check_segment

log = logging.getLogger(__name__)

Obj = dict[str, Any]

JITTER_FACTOR: Final = 1.2
DEFAULT_LEASE_DURATION: Final = 15.0
DEFAULT_RENEW_DEADLINE: Final = 10.0
DEFAULT_RETRY_PERIOD: Final = 2.0


class LeaderElectionConfigError(ValueError):
    """Timings or callbacks that cannot work; the message says which and why."""


@dataclass(frozen=True)
class LeaderElectionRecord:
    """What a lock stores (client-go's resourcelock.LeaderElectionRecord)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str | None = None  # MicroTime text, kept verbatim so renewals do not rewrite it
    renew_time: str | None = None
    leader_transitions: int = 0

    def to_lease_spec(self) -> Obj:
        spec: Obj = {"holderIdentity": self.holder_identity, "leaseDurationSeconds": self.lease_duration_seconds,
                     "leaseTransitions": self.leader_transitions}
        if self.acquire_time is not None:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time is not None:
            spec["renewTime"] = self.renew_time
        return spec

    @classmethod
    def from_lease_spec(cls, spec: Obj | None) -> LeaderElectionRecord:
        spec = spec or {}
        return cls(holder_identity=str(spec.get("holderIdentity") or ""),
                   lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime"), renew_time=spec.get("renewTime"),
                   leader_transitions=int(spec.get("leaseTransitions") or 0))


class ResourceLock(Protocol):
    """Where the record lives (client-go's resourcelock.Interface)."""

    @property
    def identity(self) -> str: ...

    def describe(self) -> str: ...

    async def get(self) -> LeaderElectionRecord:
        """The current record; ``APIStatusError`` 404 when the lock object does not exist."""
        ...

    async def create(self, record: LeaderElectionRecord) -> None: ...

    async def update(self, record: LeaderElectionRecord) -> None:
        """Write over the object last read or written (its resourceVersion is the precondition)."""
        ...

    def record_event(self, message: str) -> None:
        """Report a transition ("became leader", "stopped leading"); may do nothing."""
        ...


class LeaseLock:
    """A ``coordination.k8s.io/v1`` Lease as the lock (client-go's LeaseLock)."""

    def __init__(self, client: APIClient, *, namespace: str, name: str, identity: str,
                 event_recorder: _Recorder | None = None) -> None:
        check_segment(namespace, what="lease namespace")
        check_segment(name, what="lease name")
        if not identity:
            raise LeaderElectionConfigError("identity must not be empty: it is what the Lease records as holder")
        self._leases = client.resource("coordination.k8s.io", "v1", "leases")
        self.namespace = namespace
        self.name = name
        self._identity = identity
        self._lease: Obj | None = None
        self._recorder = event_recorder

    @property
    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def get(self) -> LeaderElectionRecord:
        self._lease = await self._leases.get(self.name, namespace=self.namespace)
        return LeaderElectionRecord.from_lease_spec(self._lease.get("spec"))

    async def create(self, record: LeaderElectionRecord) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace}, "spec": record.to_lease_spec()}
        self._lease = await self._leases.create(body, namespace=self.namespace)

    async def update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise RuntimeError("lease not initialized, call get or create first")
        lease = copy.deepcopy(self._lease)
        lease["spec"] = record.to_lease_spec()
        self._lease = await self._leases.update(lease, namespace=self.namespace)

    def record_event(self, message: str) -> None:
        """'<identity> became leader' events on the Lease, as upstream's LeaseLock records them."""
        if self._recorder is None or self._lease is None:
            return
        md = self._lease.get("metadata") or {}
        self._recorder.event({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md},
                             event_type="Normal", reason="LeaderElection", message=f"{self._identity} {message}")


class _Recorder(Protocol):
    def event(self, involved: Obj, *, event_type: str, reason: str, message: str) -> None: ...


Callback = Callable[[], object]


class LeaderElector:
    """Runs the election for one candidate; ``await run()`` until cancelled or leadership is lost."""

    def __init__(self, lock: ResourceLock, *, on_started_leading: Callable[[], Awaitable[None]],
                 on_stopped_leading: Callback, on_new_leader: Callable[[str], object] | None = None,
                 lease_duration: float = DEFAULT_LEASE_DURATION, renew_deadline: float = DEFAULT_RENEW_DEADLINE,
                 retry_period: float = DEFAULT_RETRY_PERIOD, release_on_cancel: bool = True,
                 name: str = "") -> None:
        validate_timings(lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period)
        if on_started_leading is None:
            raise LeaderElectionConfigError("on_started_leading callback must not be None")
        if on_stopped_leading is None:
            raise LeaderElectionConfigError("on_stopped_leading callback must not be None")
        if lock is None:
            raise LeaderElectionConfigError("lock must not be None")
        self.lock = lock
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_on_cancel = release_on_cancel
        self.name = name or lock.describe()
        self.observed_record = LeaderElectionRecord()
        self._observed_time = 0.0  # local monotonic time the observed record last changed
        self._reported_leader = ""
        self._background: set[asyncio.Task[None]] = set()

    # -- state --

    def is_leader(self) -> bool:
        """The last observed record names this candidate."""
        return self.observed_record.holder_identity == self.lock.identity

    def get_leader(self) -> str:
        """The last observed holder ('' when none has been seen)."""
        return self.observed_record.holder_identity

    def _now(self) -> float:
        return time.monotonic()

    def _is_lease_valid(self, now: float) -> bool:
        return self._observed_time + self.observed_record.lease_duration_seconds > now

    def _set_observed(self, record: LeaderElectionRecord) -> None:
        self.observed_record = record
        self._observed_time = self._now()

    # -- the loop --

    async def run(self) -> None:
        """Acquire, lead while renewing, then release (``release_on_cancel``) and report the end."""
        try:
            if not await self._acquire():
                return
            leading = asyncio.create_task(self._lead(), name=f"leading-{self.name}")
            try:
                await self._renew()
            finally:
                # the guarded work stops before the lease is given up, so no two leaders overlap
                leading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await leading
                if self.release_on_cancel:
                    await self._release_quietly()
        finally:
            await self._call("on_stopped_leading", self.on_stopped_leading)

    async def _lead(self) -> None:
        try:
            await self.on_started_leading()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leader election %s: on_started_leading failed", self.name)

    async def _acquire(self) -> bool:
        log.info("leader election %s: %s attempting to acquire the lease", self.name, self.lock.identity)
        while True:
            succeeded = await self._try_guarded()
            self._maybe_report_transition()
            if succeeded:
                log.info("leader election %s: %s acquired the lease", self.name, self.lock.identity)
                self._record_event("became leader")
                return True
            # wait.JitterUntil: period * (1 + rand * jitter)
            await asyncio.sleep(self.retry_period * (1 + random.random() * JITTER_FACTOR))

    async def _renew(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = loop.time() + self.renew_deadline
            renewed = False
            while True:  # wait.PollImmediateUntil(retry_period) within the renew deadline
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    renewed = await asyncio.wait_for(self.try_acquire_or_renew(), remaining)
                except TimeoutError:
                    renewed = False
                    break
                except Exception:
                    log.exception("leader election %s: renewal attempt failed", self.name)
                    renewed = False
                if renewed:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(self.retry_period, remaining))
            self._maybe_report_transition()
            if not renewed:
                log.info("leader election %s: failed to renew the lease within %.1fs; stopping leading",
                         self.name, self.renew_deadline)
                self._record_event("stopped leading")
                return
            await asyncio.sleep(self.retry_period)

    async def _try_guarded(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leader election %s: acquisition attempt failed", self.name)
            return False

    async def try_acquire_or_renew(self) -> bool:
        """One attempt (upstream's tryAcquireOrRenew); True when this candidate holds the lease after it."""
        wall = rfc3339_micro(datetime.now(UTC))
        record = LeaderElectionRecord(holder_identity=self.lock.identity,
                                      lease_duration_seconds=int(self.lease_duration),
                                      acquire_time=wall, renew_time=wall)
        # 1. fast path: the leader renews over what it wrote last time without reading first
        if self.is_leader() and self._is_lease_valid(self._now()):
            renewal = replace(record, acquire_time=self.observed_record.acquire_time,
                              leader_transitions=self.observed_record.leader_transitions)
            try:
                await self.lock.update(renewal)
            except (APIStatusError, APIConnectionError, RuntimeError) as exc:
                log.info("leader election %s: optimistic renewal failed (%s); reading the lease", self.name, exc)
            else:
                self._set_observed(renewal)
                return True
        # 2. read (or create) the record
        try:
            current = await self.lock.get()
        except APIConnectionError as exc:
            log.warning("leader election %s: cannot read the lease: %s", self.name, exc)
            return False
        except APIStatusError as exc:
            if not exc.is_not_found():
                log.warning("leader election %s: cannot read the lease: %s", self.name, exc)
                return False
            try:
                await self.lock.create(record)
            except (APIStatusError, APIConnectionError) as create_exc:
                log.info("leader election %s: cannot create the lease: %s", self.name, create_exc)
                return False
            self._set_observed(record)
            return True
        # 3. someone else's unexpired lease: only note when it last changed
        if current != self.observed_record:
            self._set_observed(current)
        if current.holder_identity and self._is_lease_valid(self._now()) and not self.is_leader():
            log.debug("leader election %s: lease held by %s and not yet expired", self.name,
                      current.holder_identity)
            return False
        # 4. take over or renew
        if self.is_leader():
            record = replace(record, acquire_time=current.acquire_time,
                             leader_transitions=current.leader_transitions)
        else:
            record = replace(record, leader_transitions=current.leader_transitions + 1)
        try:
            await self.lock.update(record)
        except (APIStatusError, APIConnectionError) as exc:
            log.info("leader election %s: cannot update the lease: %s", self.name, exc)
            return False
        self._set_observed(record)
        return True

    async def release(self) -> bool:
        """Give the lease up if we hold it: empty holder, 1 s duration (upstream's release)."""
        if not self.is_leader():
            return True
        wall = rfc3339_micro(datetime.now(UTC))
        record = LeaderElectionRecord(holder_identity="", lease_duration_seconds=1, acquire_time=wall,
                                      renew_time=wall, leader_transitions=self.observed_record.leader_transitions)
        try:
            await self.lock.update(record)
        except (APIStatusError, APIConnectionError, RuntimeError) as exc:
            log.warning("leader election %s: failed to release the lease: %s", self.name, exc)
            return False
        self._set_observed(record)
        log.info("leader election %s: %s released the lease", self.name, self.lock.identity)
        return True

    async def _release_quietly(self) -> None:
        try:
            await asyncio.wait_for(self.release(), self.renew_deadline)
        except Exception as exc:
            log.warning("leader election %s: failed to release the lease: %s", self.name, exc)

    def _maybe_report_transition(self) -> None:
        holder = self.observed_record.holder_identity
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        if self.on_new_leader is not None:
            callback = self.on_new_leader
            # upstream calls it in a goroutine: a slow callback must not delay renewals
            task = asyncio.create_task(self._call("on_new_leader", lambda: callback(holder)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _record_event(self, message: str) -> None:
        try:
            self.lock.record_event(message)
        except Exception:
            log.exception("leader election %s: recording the event %r failed", self.name, message)

    async def _call(self, what: str, callback: Callback) -> None:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("leader election %s: %s failed", self.name, what)


def validate_timings(*, lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """NewLeaderElector's checks, with the values in the message."""
    if lease_duration <= renew_deadline:
        raise LeaderElectionConfigError(f"lease_duration ({lease_duration}s) must be greater than renew_deadline "
                                        f"({renew_deadline}s)")
    if renew_deadline <= JITTER_FACTOR * retry_period:
        raise LeaderElectionConfigError(f"renew_deadline ({renew_deadline}s) must be greater than retry_period*"
                                        f"{JITTER_FACTOR} ({retry_period}s * {JITTER_FACTOR} = "
                                        f"{retry_period * JITTER_FACTOR:g}s)")
    if lease_duration <= 0:
        raise LeaderElectionConfigError(f"lease_duration must be greater than zero, got {lease_duration}")
    if renew_deadline <= 0:
        raise LeaderElectionConfigError(f"renew_deadline must be greater than zero, got {renew_deadline}")
    if retry_period <= 0:
        raise LeaderElectionConfigError(f"retry_period must be greater than zero, got {retry_period}")
    if lease_duration < 1:
        # the Lease stores whole seconds; 0 would make every lease look expired to other candidates
        raise LeaderElectionConfigError(f"lease_duration must be at least 1s (the Lease stores whole seconds), "
                                        f"got {lease_duration}")
