"""Periodic compaction for any :class:`Store`: keep the last N revisions and/or T seconds of history.

Design
------
History (the change log in SQLite, old versions in etcd) exists only so that watches can resume and
paginated lists stay consistent; without compaction it grows forever (k3s's kine had lists slow down
to seconds as its log grew). kube-apiserver compacts etcd every 5 minutes to the revision it saw
5 minutes earlier; kine keeps the last 1000 revisions. :class:`CompactionPolicy` expresses both and
keeps whichever history is *longer*, so neither a burst of writes nor a quiet hour drops history a
client may still need.

Time-based retention needs "the revision as of T seconds ago". Rather than timestamping every log row,
the compactor samples ``(monotonic time, current revision)`` at each tick and compacts to the newest
sample that is at least T seconds old; the decision is the pure function :func:`compaction_target`.
Several API servers sharing one etcd may each run a compactor: compaction is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubelite.controlplane.storage.interface import StorageError

if TYPE_CHECKING:
    from kubelite.controlplane.storage.interface import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    """Compact every ``interval_seconds``, keeping at least ``retain_revisions`` revisions and at least
    ``retain_seconds`` of history; ``None`` disables that bound (at least one must be set)."""

    interval_seconds: float = 300.0
    retain_revisions: int | None = 1000
    retain_seconds: float | None = 300.0

    def __post_init__(self) -> None:
        if not self.interval_seconds > 0:
            raise ValueError(f"compaction interval_seconds must be > 0, got {self.interval_seconds!r}")
        if self.retain_revisions is None and self.retain_seconds is None:
            raise ValueError("compaction policy needs retain_revisions, retain_seconds, or both")
        if self.retain_revisions is not None and self.retain_revisions < 0:
            raise ValueError(f"compaction retain_revisions must be >= 0, got {self.retain_revisions!r}")
        if self.retain_seconds is not None and self.retain_seconds < 0:
            raise ValueError(f"compaction retain_seconds must be >= 0, got {self.retain_seconds!r}")


DEFAULT_COMPACTION = CompactionPolicy()


@dataclass(frozen=True, slots=True)
class RevisionSample:
    at: float  # time.monotonic()
    revision: int


def compaction_target(
    *, policy: CompactionPolicy, now: float, current: int, samples: Iterable[RevisionSample]
) -> int | None:
    """The revision to compact to now, or ``None`` when nothing may be dropped yet.

    Each bound gives the oldest revision it must keep; the smaller (older) one wins.
    """
    keep_from: list[int] = []
    if policy.retain_revisions is not None:
        keep_from.append(current - policy.retain_revisions)
    if policy.retain_seconds is not None:
        cutoff = now - policy.retain_seconds
        old_enough = [s.revision for s in samples if s.at <= cutoff]
        if not old_enough:
            return None  # we have not been watching long enough to know what T seconds ago was
        keep_from.append(max(old_enough))
    target = min(keep_from)
    return target if target > 1 else None


class PeriodicCompactor:
    """Runs ``store.compact`` on a timer until stopped; failures are logged and retried next tick."""

    def __init__(self, store: Store, policy: CompactionPolicy) -> None:
        self._store = store
        self._policy = policy
        self._samples: deque[RevisionSample] = deque()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="kubelite-storage-compactor"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except StorageError as exc:
                log.warning("storage compaction skipped: %s", exc)
            except Exception:  # a compactor bug must not take the server down; it retries next tick
                log.exception("storage compaction failed")
            await asyncio.sleep(self._policy.interval_seconds)

    async def tick(self) -> int | None:
        """Sample the current revision and compact if the policy allows; returns the target used."""
        now = time.monotonic()
        current = await self._store.current_revision()
        self._samples.append(RevisionSample(at=now, revision=current))
        target = compaction_target(policy=self._policy, now=now, current=current, samples=self._samples)
        self._prune(now)
        if target is not None:
            await self._store.compact(target)
            log.debug("storage compacted to revision %d (current %d)", target, current)
        return target

    def _prune(self, now: float) -> None:
        # Only the newest sample older than the retention window matters; drop the ones before it.
        if self._policy.retain_seconds is None:
            self._samples.clear()
            return
        cutoff = now - self._policy.retain_seconds
        while len(self._samples) >= 2 and self._samples[1].at <= cutoff:
            self._samples.popleft()
