"""The nodes a scheduling cycle looks at: NodeInfos by slot, and the same state as int64 columns.

Upstream ``internal/cache/snapshot.go`` copies the cache's NodeInfos before each cycle. kubelite's
scheduling cycle is synchronous inside one asyncio loop, so nothing changes under it and the
scheduler cache hands out its live ``Snapshot`` instead of a copy; the cache keeps the columns
(``kubelite.native.scoring.NodeColumns``) current row by row, so resource Filter and Score run over
arrays without rebuilding anything per pod (the hot path, DESIGN.md).

A node's slot is stable until a node is removed: the last node then moves into the freed slot.
``Snapshot.from_infos`` builds one from plain NodeInfos (tests, preemption's what-if copies).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from kubelite.controlplane.scheduler.nodeinfo import NodeInfo
from kubelite.native.scoring import NodeColumns

HARD_EFFECTS = ("NoSchedule", "NoExecute")


def taint_counts(info: NodeInfo) -> tuple[int, int]:
    """(taints a pod must tolerate to land here, counting a cordon as one; PreferNoSchedule taints)."""
    spec = info.node.get("spec") or {}
    hard = 1 if spec.get("unschedulable") else 0
    prefer = 0
    for taint in spec.get("taints") or ():
        effect = taint.get("effect")
        if effect in HARD_EFFECTS:
            hard += 1
        elif effect == "PreferNoSchedule":
            prefer += 1
    return hard, prefer


class Snapshot(Sequence[NodeInfo]):
    """NodeInfos by slot plus their columns; a Sequence of NodeInfo for code that wants a list."""

    def __init__(self) -> None:
        self.infos: list[NodeInfo] = []
        self.columns = NodeColumns()
        self.slots: dict[str, int] = {}
        # slots a pod without tolerations cannot use, so plugins can look only at those
        self.blocked_slots: set[int] = set()
        self.prefer_slots: set[int] = set()
        # slots holding pods with pod (anti-)affinity terms / required anti-affinity (InterPodAffinity)
        self.affinity_slots: set[int] = set()
        self.anti_affinity_slots: set[int] = set()
        # how many nodes hold each image name (ImageLocality spreads an image's score by it)
        self.image_nodes: Counter[str] = Counter()
        self._images: list[frozenset[str]] = []

    @classmethod
    def from_infos(cls, infos: Iterable[NodeInfo]) -> Snapshot:
        snapshot = cls()
        for info in infos:
            snapshot.add(info)
        return snapshot

    def __len__(self) -> int:
        return len(self.infos)

    def __getitem__(self, index: int) -> NodeInfo:  # type: ignore[override]
        return self.infos[index]

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self.infos)

    def get(self, name: str) -> NodeInfo | None:
        slot = self.slots.get(name)
        return self.infos[slot] if slot is not None else None

    def add(self, info: NodeInfo) -> int:
        if info.name in self.slots:
            raise ValueError(f"node {info.name!r} is already in the snapshot")
        slot = len(self.infos)
        self.infos.append(info)
        self._images.append(frozenset())
        self.slots[info.name] = slot
        self.columns.append(alloc_cpu=0, alloc_mem=0, alloc_pods=0)
        self.refresh(slot)
        return slot

    def remove(self, name: str) -> NodeInfo | None:
        slot = self.slots.pop(name, None)
        if slot is None:
            return None
        info = self.infos[slot]
        self.image_nodes.subtract(self._images[slot])
        self._images[slot] = self._images[-1]
        self._images.pop()
        last = self.infos.pop()
        self.columns.move_last_to(slot)
        self.blocked_slots.discard(len(self.infos))
        self.prefer_slots.discard(len(self.infos))
        self.blocked_slots.discard(slot)
        self.prefer_slots.discard(slot)
        for slots in (self.affinity_slots, self.anti_affinity_slots):
            slots.discard(len(self.infos))
            slots.discard(slot)
        if last is not info:
            self.infos[slot] = last
            self.slots[last.name] = slot
            self.refresh(slot)
        return info

    def refresh(self, slot: int) -> None:
        """Rewrite the columns of ``slot`` from its NodeInfo (after any change to it)."""
        info = self.infos[slot]
        hard, prefer = taint_counts(info)
        alloc, req, nz = info.allocatable, info.requested, info.non_zero_requested
        self.columns.set(slot, alloc_cpu=alloc.milli_cpu, alloc_mem=alloc.memory,
                         alloc_pods=alloc.allowed_pod_number, req_cpu=req.milli_cpu, req_mem=req.memory,
                         pod_count=info.pod_count, nz_cpu=nz.milli_cpu, nz_mem=nz.memory, blocked=hard,
                         prefer=prefer)
        if self._images[slot] is not info.image_names:
            self.image_nodes.subtract(self._images[slot])
            self.image_nodes.update(info.image_names)
            self._images[slot] = info.image_names
        (self.blocked_slots.add if hard else self.blocked_slots.discard)(slot)
        (self.prefer_slots.add if prefer else self.prefer_slots.discard)(slot)
        (self.affinity_slots.add if info.pods_with_affinity else self.affinity_slots.discard)(slot)
        (self.anti_affinity_slots.add if info.pods_with_required_anti_affinity
         else self.anti_affinity_slots.discard)(slot)

    def refresh_node(self, name: str) -> None:
        slot = self.slots.get(name)
        if slot is not None:
            self.refresh(slot)
