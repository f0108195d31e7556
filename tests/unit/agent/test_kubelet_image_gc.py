"""Image GC: only above the high threshold, unused images least recently used first, down to the low one."""

from __future__ import annotations

from typing import Any

from kubelite.agent.kubelet.image_gc import ImageGC
from kubelite.cri import PAUSE_IMAGE, api_pb2


class FakeRuntime:
    def __init__(self) -> None:
        self.images = [api_pb2.Image(id="sha256:pause", repo_tags=[PAUSE_IMAGE], size=1),
                       api_pb2.Image(id="sha256:used", repo_tags=["used:1"], size=40),
                       api_pb2.Image(id="sha256:old", repo_tags=["old:1"], size=30),
                       api_pb2.Image(id="sha256:new", repo_tags=["new:1"], size=30)]
        self.containers = [api_pb2.Container(id="c1", image_ref="sha256:used")]
        self.removed: list[str] = []

    async def list_images(self) -> api_pb2.ListImagesResponse:
        return api_pb2.ListImagesResponse(images=[i for i in self.images if i.id not in self.removed])

    async def list_containers(self) -> api_pb2.ListContainersResponse:
        return api_pb2.ListContainersResponse(containers=self.containers)

    async def remove_image(self, *, image: str) -> api_pb2.RemoveImageResponse:
        self.removed.append(image)
        return api_pb2.RemoveImageResponse()


async def test_collects_only_when_full_and_least_recently_used_first() -> None:
    clock = [1000.0]
    runtime: Any = FakeRuntime()
    usage = [50, 100]
    gc = ImageGC(runtime=runtime, usage=lambda: (usage[0], usage[1]), min_age=60, clock=lambda: clock[0])
    runtime.images[3].size = 30
    await gc.detect()
    clock[0] += 30
    gc.images["sha256:old"].last_used = 1001.0  # used once, long ago; "new" never used but seen later
    gc.images["sha256:new"].first_seen = 1010.0
    assert await gc.collect() == []  # 50% < 85%
    usage[0] = 90
    assert await gc.collect() == []  # nothing old enough yet (min_age)
    clock[0] += 100
    removed = await gc.collect()
    assert removed == ["sha256:old"]  # 90 - 30 = 60 <= 80: enough; the in-use and pause images stay
    usage[0] = 95
    assert await gc.collect() == ["sha256:new"]
    assert "sha256:used" not in runtime.removed and "sha256:pause" not in runtime.removed
