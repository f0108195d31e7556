"""When the proxy syncs: coalesced, rate-limited, periodically full, backing off after failures.

kube-proxy's ``BoundedFrequencyRunner`` plus the nftables proxier's ``needFullSync`` flag:

* ``request()`` only sets a flag; any number of requests between two syncs make one sync
  (coalescing), and two syncs start at least ``min_interval`` apart (rate limit);
* every ``full_interval`` seconds a full sync runs even without requests: it rewrites the whole table
  and so repairs drift (someone deleted a rule or the table);
* a failed sync sets ``need_full`` and is retried after an exponential back-off
  (``min_interval`` doubling up to ``max_backoff``); the retry is a full sync, since after a failure the
  kernel state is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

SyncFunc = Callable[[bool], Awaitable[None]]


class SyncRunner:
    def __init__(self, sync: SyncFunc, *, min_interval: float = 1.0, full_interval: float = 60.0,
                 max_backoff: float = 30.0) -> None:
        if min_interval < 0 or full_interval <= 0 or max_backoff <= 0:
            raise ValueError("sync intervals must be positive")
        self._sync = sync
        self.min_interval = min_interval
        self.full_interval = full_interval
        self.max_backoff = max_backoff
        self.need_full = True
        self._wake = asyncio.Event()
        self._last_start = float("-inf")
        self._last_full = float("-inf")
        self._failures = 0
        self.syncs = 0
        self.full_syncs = 0
        self.last_success = 0.0
        """Wall-clock time of the last successful sync (0: none yet)."""

    def request(self, *, full: bool = False) -> None:
        """Ask for a sync soon (a full one with ``full``)."""
        if full:
            self.need_full = True
        self._wake.set()

    async def run(self) -> None:
        """Sync until cancelled."""
        self._wake.set()
        while True:
            now = time.monotonic()
            until_full = self._last_full + self.full_interval - now
            if not self._wake.is_set() and until_full > 0:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that
                # arrives together with the event, and the proxy would not stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(until_full):
                        await self._wake.wait()
            wait = self._last_start + self._delay() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._wake.clear()
            full = self.need_full or time.monotonic() - self._last_full >= self.full_interval
            self._last_start = time.monotonic()
            try:
                await self._sync(full)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._failures += 1
                self.need_full = True
                log.exception("proxy sync failed (%d in a row); retrying with a full sync", self._failures)
                self._wake.set()
                continue
            self._failures = 0
            self.syncs += 1
            self.last_success = time.time()
            if full:
                self.need_full = False
                self.full_syncs += 1
                self._last_full = self._last_start

    def _delay(self) -> float:
        if self._failures == 0:
            return self.min_interval
        return float(min(self.max_backoff, max(self.min_interval, 0.5) * 2.0 ** (self._failures - 1)))
