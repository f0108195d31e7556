"""Image garbage collection by disk usage (upstream pkg/kubelet/images/image_gc_manager.go).

Design: every ``period`` seconds `ImageGC.detect` lists images and containers; an image any container
(running or not) refers to is "in use" and its last-used time is now, others keep the time they were
last seen in use (or first seen). When the filesystem holding the images is at or above
``high_percent`` full, unused images are removed least recently used first, never the sandbox
(pause) image, pinned images, or images younger than ``min_age``, until usage would drop to
``low_percent`` (upstream's defaults: 85 % and 80 %, minimum age 2 minutes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

from kubelite.agent.config import AgentConfig
from kubelite.cri import PAUSE_IMAGE, CriError, RuntimeClient

log = logging.getLogger(__name__)

HIGH_PERCENT: Final = 85
LOW_PERCENT: Final = 80
MIN_AGE: Final = 120.0
PERIOD: Final = 300.0


@dataclass
class _Record:
    first_seen: float
    last_used: float
    size: int


class ImageGC:
    def __init__(self, *, runtime: RuntimeClient, usage: Callable[[], tuple[int, int]],
                 high_percent: int = HIGH_PERCENT, low_percent: int = LOW_PERCENT, min_age: float = MIN_AGE,
                 clock: Callable[[], float] = time.time) -> None:
        if not 0 <= low_percent < high_percent <= 100:
            raise ValueError(f"image GC needs 0 <= low < high <= 100, got low={low_percent} high={high_percent}")
        self.runtime = runtime
        self.usage = usage
        """(used bytes, capacity bytes) of the filesystem holding the images."""
        self.high = high_percent
        self.low = low_percent
        self.min_age = min_age
        self.clock = clock
        self.images: dict[str, _Record] = {}

    async def detect(self) -> set[str]:
        """Refresh the records; returns the IDs of images in use."""
        now = self.clock()
        images = (await self.runtime.list_images()).images
        containers = (await self.runtime.list_containers()).containers
        in_use = {c.image_ref for c in containers} | {c.image.image for c in containers}
        protected = {img.id for img in images if img.pinned or PAUSE_IMAGE in img.repo_tags}
        current = set()
        for img in images:
            current.add(img.id)
            record = self.images.setdefault(img.id, _Record(first_seen=now, last_used=0.0, size=int(img.size)))
            record.size = int(img.size)
            names = {img.id, *img.repo_tags, *img.repo_digests}
            if names & in_use or img.id in protected:
                record.last_used = now
                in_use.add(img.id)
        for gone in set(self.images) - current:
            del self.images[gone]
        return in_use | protected

    async def collect(self) -> list[str]:
        """Free space when usage is at or above the high threshold; returns the removed image IDs."""
        in_use = await self.detect()
        used, capacity = self.usage()
        if capacity <= 0 or used * 100 < self.high * capacity:
            return []
        to_free = used - capacity * self.low // 100
        now = self.clock()
        candidates = sorted((r.last_used or r.first_seen, image_id) for image_id, r in self.images.items()
                            if image_id not in in_use and now - self.images[image_id].first_seen >= self.min_age)
        removed: list[str] = []
        for _, image_id in candidates:
            if to_free <= 0:
                break
            try:
                await self.runtime.remove_image(image=image_id)
            except CriError as err:
                log.warning("image GC: removing %s failed: %s", image_id, err)
                continue
            to_free -= self.images.pop(image_id).size
            removed.append(image_id)
        log.info("image GC: usage %d%% >= %d%%: removed %d image(s)", used * 100 // capacity, self.high, len(removed))
        return removed


def _usage_of(path: Path) -> Callable[[], tuple[int, int]]:
    def usage() -> tuple[int, int]:
        path.mkdir(parents=True, exist_ok=True)
        du = psutil.disk_usage(str(path))
        return du.total - du.free, du.total  # upstream: 100 - available*100/capacity

    return usage


async def run_image_gc(*, config: AgentConfig, runtime: RuntimeClient, period: float = PERIOD) -> None:
    """Collect unused images whenever the data dir's filesystem is too full, until cancelled."""
    gc = ImageGC(runtime=runtime, usage=_usage_of(config.agent_dir))
    while True:
        try:
            await gc.collect()
        except CriError as err:
            log.warning("image GC: %s", err)
        await asyncio.sleep(period)
