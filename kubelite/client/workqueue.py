"""Work queues for controllers, with client-go's ``util/workqueue`` semantics, on asyncio.

Design
------
A controller's informer handlers ``add`` object keys; worker tasks ``get`` a key, reconcile it and
call ``done``. The queue guarantees what makes a single ``reconcile(key)`` safe:

* **de-duplication**: a key added many times before a worker takes it is processed once (the
  ``dirty`` set);
* **one worker per key**: a key being processed is never handed to a second worker; if it is added
  again meanwhile it is queued once more when ``done`` is called (the ``processing`` set);
* **delays**: ``add_after(key, seconds)`` parks the key until then; parking it again with an
  earlier time moves it forward, a later time is ignored (client-go's delaying queue);
* **rate limiting**: ``add_rate_limited(key)`` delays by what the rate limiter says; ``forget(key)``
  ends the key's back-off after a success; ``num_requeues(key)`` is how many failures it had.

The default controller rate limiter is client-go's: the maximum of a per-item exponential back-off
(5 ms doubling up to 1000 s) and an overall token bucket (10 qps, burst 100) so that a storm of
failures cannot turn into a storm of requests.

Time comes from a ``Clock``. ``FakeClock`` lets tests step time explicitly; the queue never sleeps on
anything but its clock, so tests are exact and instant. Delayed keys are promoted lazily (on ``get``
and ``len``), so no background task exists and nothing needs starting.

After ``shutdown()`` additions are ignored, keys already queued are still handed out (so workers can
drain), and ``get()`` returns ``None`` once the queue is empty: the signal for a worker to exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


# ---- clocks ----------------------------------------------------------------------------------------


class Clock(Protocol):
    """Monotonic seconds and a sleep on the same time line."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when a test calls ``step``; sleepers wake when their time is reached."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    def step(self, seconds: float) -> None:
        """Advance time and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (step {seconds})")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (tests wait for a task to reach its sleep)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


# ---- rate limiters ---------------------------------------------------------------------------------


class RateLimiter(Protocol[T_contra]):
    def when(self, item: T_contra) -> float:
        """Seconds to wait before the item may be processed again; records one more failure."""
        ...

    def forget(self, item: T_contra) -> None:
        """The item succeeded: start its back-off from scratch next time."""
        ...

    def num_requeues(self, item: T_contra) -> int: ...


class ItemExponentialFailureRateLimiter(Generic[T]):
    """base * 2**failures per item, capped at ``max_delay`` (client-go's ItemExponentialFailureRateLimiter)."""

    def __init__(self, *, base_delay: float, max_delay: float) -> None:
        if base_delay < 0 or max_delay < 0:
            raise ValueError("base_delay and max_delay must be >= 0 seconds")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        exponent = self._failures.get(item, 0)
        self._failures[item] = exponent + 1
        try:
            backoff = self.base_delay * 2.0 ** exponent
        except OverflowError:  # after ~1000 failures; client-go caps the same way
            return self.max_delay
        return min(backoff, self.max_delay)

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter(Generic[T]):
    """``fast_delay`` for the first ``max_fast_attempts`` failures of an item, then ``slow_delay``."""

    def __init__(self, *, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        if fast_delay < 0 or slow_delay < 0 or max_fast_attempts < 0:
            raise ValueError("fast_delay, slow_delay and max_fast_attempts must be >= 0")
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        self._failures: dict[T, int] = {}

    def when(self, item: T) -> float:
        self._failures[item] = self._failures.get(item, 0) + 1
        return self.fast_delay if self._failures[item] <= self.max_fast_attempts else self.slow_delay

    def forget(self, item: T) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: T) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter(Generic[T]):
    """An overall token bucket (golang.org/x/time/rate semantics): each ``when`` reserves one token.

    The bucket starts full (``burst`` tokens) and refills at ``qps``; a reservation that drives it
    negative waits until the debt is paid. Per-item state does not exist, so ``num_requeues`` is 0.
    """

    def __init__(self, *, qps: float, burst: int, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError(f"qps must be > 0 and burst >= 1 (got qps={qps}, burst={burst})")
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: T) -> float:
        now = self._clock.now()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
        self._last = now
        self._tokens -= 1.0
        return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, item: T) -> None:
        return None

    def num_requeues(self, item: T) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """The longest delay of several limiters (every limiter records the failure)."""

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one rate limiter")
        self.limiters = limiters

    def when(self, item: T) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: T) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> MaxOfRateLimiter[Hashable]:
    """client-go's DefaultControllerRateLimiter: per-item 5ms..1000s exponential, overall 10 qps / burst 100."""
    return MaxOfRateLimiter[Hashable](
        ItemExponentialFailureRateLimiter[Hashable](base_delay=0.005, max_delay=1000.0),
        BucketRateLimiter[Hashable](qps=10.0, burst=100, clock=clock),
    )


# ---- the queue -------------------------------------------------------------------------------------


class WorkQueue(Generic[T]):
    """A de-duplicating, delaying, rate-limited work queue (client-go's RateLimitingInterface)."""

    def __init__(self, *, rate_limiter: RateLimiter[T] | None = None, clock: Clock | None = None,
                 name: str = "") -> None:
        self.name = name
        self._clock: Clock = clock or RealClock()
        self._rate_limiter: RateLimiter[T] = rate_limiter or default_controller_rate_limiter(clock=self._clock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        # delayed items: a heap of (ready_at, seq, item) plus the current ready time per item
        self._waiting: list[tuple[float, int, T]] = []
        self._ready_at: dict[T, float] = {}
        self._seq = itertools.count()
        self._getters: list[asyncio.Future[None]] = []
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False

    def __len__(self) -> int:
        """Items ready to be handed out (not those being processed or still delayed)."""
        self._promote_ready()
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        """Items handed out and not yet ``done``."""
        return len(self._processing)

    @property
    def waiting(self) -> int:
        """Items parked by ``add_after``/``add_rate_limited`` whose time has not come."""
        self._promote_ready()
        return len(self._ready_at)

    # -- basic queue --

    def add(self, item: T) -> None:
        """Queue ``item`` unless it is already queued; a processing item is queued again after ``done``."""
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_getters()

    async def get(self) -> T | None:
        """The next item, waiting for one; ``None`` once shut down and drained."""
        while True:
            self._promote_ready()
            if self._queue:
                item = self._queue.popleft()
                self._processing.add(item)
                self._dirty.discard(item)
                return item
            if self._shutting_down:
                return None
            await self._wait_for_change()

    def done(self, item: T) -> None:
        """Processing of ``item`` finished; if it was added meanwhile, it is queued again now."""
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_getters()
        elif not self._processing:
            self._wake(self._idle_waiters)

    def shutdown(self) -> None:
        """Stop accepting items and delayed items; waiting ``get`` calls return once the queue is empty."""
        self._shutting_down = True
        self._waiting.clear()
        self._ready_at.clear()
        self._wake_getters()

    async def shutdown_with_drain(self) -> None:
        """``shutdown()``, then wait until every handed-out item is ``done`` (ShutDownWithDrain)."""
        self.shutdown()
        while self._processing:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(future)
            try:
                await future
            finally:
                with contextlib.suppress(ValueError):
                    self._idle_waiters.remove(future)

    # -- delaying --

    def add_after(self, item: T, delay: float) -> None:
        """Queue ``item`` after ``delay`` seconds; an earlier pending time for it wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(item)
            return
        ready_at = self._clock.now() + delay
        current = self._ready_at.get(item)
        if current is not None and current <= ready_at:
            return
        self._ready_at[item] = ready_at
        # the superseded heap entry stays and is skipped when popped (its time no longer matches)
        heapq.heappush(self._waiting, (ready_at, next(self._seq), item))
        self._wake_getters()  # a getter may need to sleep less now

    # -- rate limiting --

    def add_rate_limited(self, item: T) -> None:
        """Queue ``item`` when the rate limiter allows: the back-off after a failed attempt."""
        self.add_after(item, self._rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """The item succeeded: its failures are no longer counted (its back-off restarts at the base)."""
        self._rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self._rate_limiter.num_requeues(item)

    # -- internals --

    def _promote_ready(self) -> None:
        if not self._waiting:
            return
        now = self._clock.now()
        while self._waiting and self._waiting[0][0] <= now:
            ready_at, _, item = heapq.heappop(self._waiting)
            if self._ready_at.get(item) != ready_at:
                continue  # superseded by an earlier add_after
            del self._ready_at[item]
            self.add(item)

    async def _wait_for_change(self) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._getters.append(waiter)
        sleeper: asyncio.Task[None] | None = None
        next_ready = self._next_ready()
        if next_ready is not None:
            sleeper = asyncio.ensure_future(self._clock.sleep(next_ready - self._clock.now()))
        try:
            if sleeper is None:
                await waiter
            else:
                await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            with contextlib.suppress(ValueError):
                self._getters.remove(waiter)
            if not waiter.done():
                waiter.cancel()
            if sleeper is not None and not sleeper.done():
                sleeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sleeper

    def _next_ready(self) -> float | None:
        while self._waiting and self._ready_at.get(self._waiting[0][2]) != self._waiting[0][0]:
            heapq.heappop(self._waiting)  # drop superseded entries
        return self._waiting[0][0] if self._waiting else None

    def _wake_getters(self) -> None:
        # every getter re-checks: cheap in asyncio, and no wake-up is lost to a cancelled getter
        self._wake(self._getters)

    @staticmethod
    def _wake(futures: list[asyncio.Future[None]]) -> None:
        for future in futures:
            if not future.done():
                future.set_result(None)


RateLimitingQueue = WorkQueue
