"""ImageLocality (upstream imagelocality): prefer nodes that already hold the pod's images.

Score (upstream): for each container image (init containers included) present on the node, its size
scaled by the fraction of nodes holding it (so an image everywhere does not favour anyone); the sum,
clamped between 23 MiB and 1000 MiB per container, is mapped linearly onto 0..100. Image names are
normalized as upstream does: a name without tag or digest means ``:latest``. The snapshot counts the
nodes per image incrementally; a pod whose images no node holds scores 0 everywhere without a loop.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import MAX_NODE_SCORE, CycleState, Status, missing_state
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
_STATE_KEY = f"PreScore{NAME}"


def normalized_image_name(name: str) -> str:
    """Upstream normalizedImageName: add ``:latest`` when the name has neither tag nor digest."""
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in name:
        return f"{name}:latest"
    return name


def pod_images(pod: JSON) -> list[str]:
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    return [normalized_image_name(str(c.get("image") or "")) for c in containers]


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    sum_scores = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


class ImageLocality:
    name = NAME

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        state.write(_STATE_KEY, pod_images(pod))
        return None

    def _scores(self, images: list[str], infos: Sequence[NodeInfo], *, image_nodes: Mapping[str, int],
                total: int) -> list[int]:
        scores = []
        for info in infos:
            total_size = 0
            for image in images:
                size = info.image_sizes.get(image)
                if size is not None:
                    total_size += int(size * (image_nodes.get(image, 0) / total))
            scores.append(calculate_priority(total_size, len(images)))
        return scores

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        images = state.read(_STATE_KEY, list)
        if images is None:
            return [], missing_state(NAME, _STATE_KEY)
        if not images:
            return [0] * len(nodes), None
        counts: dict[str, int] = {}
        for info in nodes:
            for image in set(images) & info.image_names:
                counts[image] = counts.get(image, 0) + 1
        return self._scores(images, nodes, image_nodes=counts, total=len(nodes)), None

    def score_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int], count: int,
                    kernel: Kernel) -> array[int] | None:
        images = state.read(_STATE_KEY, list)
        if images is None:
            return None
        out = array("q", bytes(8 * count))
        if not images or not any(snapshot.image_nodes[image] > 0 for image in images):
            return out  # no node holds any of them: 0 everywhere (the clamp maps 0 to 0)
        scores = self._scores(images, [snapshot.infos[idx[k]] for k in range(count)],
                              image_nodes=snapshot.image_nodes, total=len(snapshot))
        for k, score in enumerate(scores):
            out[k] = score
        return out


def new(args: Mapping[str, Any]) -> ImageLocality:
    return ImageLocality()
