"""Resource fit and scoring over every candidate node at once (the scheduler's hot path).

The scheduler keeps node state as columns of 64-bit integers (``NodeColumns``): allocatable and
requested CPU (millicores) and memory (bytes), pod counts. ``fit`` is NodeResourcesFit's Filter for
cpu/memory/pods; ``allocated_score`` is its Score with the LeastAllocated or MostAllocated strategy;
``balanced_score`` is NodeResourcesBalancedAllocation's Score. The arithmetic is upstream's
(integer division, fractions capped at 1, standard deviation of two fractions as |a-b|/2).

The loops run in the Cython module ``_scoring`` when it was built; otherwise in the pure-Python twins
below, which define the semantics and are tested against the compiled kernel on random clusters.
"""

from __future__ import annotations

import warnings
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType

MAX_NODE_SCORE = 100


def _column() -> array[int]:
    return array("q")


@dataclass
class NodeColumns:
    """Per-node state as parallel int64 columns, index = node slot.

    ``req_*`` are the real requests (NodeResourcesFit's Filter, BalancedAllocation), ``nz_*`` the
    non-zero ones (LeastAllocated/MostAllocated count a container without requests as 100m/200Mi);
    ``blocked`` counts what keeps a pod without tolerations off the node (NoSchedule/NoExecute
    taints, cordon), ``prefer`` the PreferNoSchedule taints.
    """

    alloc_cpu: array[int] = field(default_factory=_column)
    alloc_mem: array[int] = field(default_factory=_column)
    alloc_pods: array[int] = field(default_factory=_column)
    req_cpu: array[int] = field(default_factory=_column)
    req_mem: array[int] = field(default_factory=_column)
    pod_count: array[int] = field(default_factory=_column)
    nz_cpu: array[int] = field(default_factory=_column)
    nz_mem: array[int] = field(default_factory=_column)
    blocked: array[int] = field(default_factory=_column)
    prefer: array[int] = field(default_factory=_column)

    def __len__(self) -> int:
        return len(self.alloc_cpu)

    def _all(self) -> tuple[array[int], ...]:
        return (self.alloc_cpu, self.alloc_mem, self.alloc_pods, self.req_cpu, self.req_mem, self.pod_count,
                self.nz_cpu, self.nz_mem, self.blocked, self.prefer)

    def append(self, *, alloc_cpu: int, alloc_mem: int, alloc_pods: int,
               req_cpu: int = 0, req_mem: int = 0, pod_count: int = 0, nz_cpu: int | None = None,
               nz_mem: int | None = None, blocked: int = 0, prefer: int = 0) -> int:
        """Add a node; returns its slot. The non-zero requests default to the real ones."""
        for column in self._all():
            column.append(0)
        slot = len(self.alloc_cpu) - 1
        self.set(slot, alloc_cpu=alloc_cpu, alloc_mem=alloc_mem, alloc_pods=alloc_pods, req_cpu=req_cpu,
                 req_mem=req_mem, pod_count=pod_count, nz_cpu=req_cpu if nz_cpu is None else nz_cpu,
                 nz_mem=req_mem if nz_mem is None else nz_mem, blocked=blocked, prefer=prefer)
        return slot

    def set(self, slot: int, *, alloc_cpu: int, alloc_mem: int, alloc_pods: int, req_cpu: int, req_mem: int,
            pod_count: int, nz_cpu: int, nz_mem: int, blocked: int, prefer: int) -> None:
        """Overwrite one node's row (the scheduler cache keeps the columns current this way)."""
        self.alloc_cpu[slot] = alloc_cpu
        self.alloc_mem[slot] = alloc_mem
        self.alloc_pods[slot] = alloc_pods
        self.req_cpu[slot] = req_cpu
        self.req_mem[slot] = req_mem
        self.pod_count[slot] = pod_count
        self.nz_cpu[slot] = nz_cpu
        self.nz_mem[slot] = nz_mem
        self.blocked[slot] = blocked
        self.prefer[slot] = prefer

    def move_last_to(self, slot: int) -> None:
        """Delete ``slot`` by moving the last row into it (O(1); the caller renumbers that node)."""
        for column in self._all():
            last = column.pop()
            if slot < len(column):
                column[slot] = last


# ---- pure-Python twins: the reference semantics -------------------------------------------------


def _least(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def _most(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def fit_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], alloc_pods: Sequence[int],
           req_cpu: Sequence[int], req_mem: Sequence[int], pod_count: Sequence[int],
           pod_cpu: int, pod_mem: int, out: bytearray) -> int:
    fits = 0
    for i in range(len(alloc_cpu)):
        ok = (pod_count[i] + 1 <= alloc_pods[i]
              and (pod_cpu == 0 or req_cpu[i] + pod_cpu <= alloc_cpu[i])
              and (pod_mem == 0 or req_mem[i] + pod_mem <= alloc_mem[i]))
        out[i] = ok
        fits += ok
    return fits


def allocated_score_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], req_cpu: Sequence[int],
                       req_mem: Sequence[int], pod_cpu: int, pod_mem: int, w_cpu: int, w_mem: int,
                       most: bool, out: array[int]) -> None:
    score = _most if most else _least
    wsum = w_cpu + w_mem
    for i in range(len(alloc_cpu)):
        s_cpu = score(req_cpu[i] + pod_cpu, alloc_cpu[i])
        s_mem = score(req_mem[i] + pod_mem, alloc_mem[i])
        out[i] = (s_cpu * w_cpu + s_mem * w_mem) // wsum if wsum else 0


def balanced_score_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], req_cpu: Sequence[int],
                      req_mem: Sequence[int], pod_cpu: int, pod_mem: int, out: array[int]) -> None:
    for i in range(len(alloc_cpu)):
        fractions = [min(1.0, (req + pod) / alloc)
                     for req, pod, alloc in ((req_cpu[i], pod_cpu, alloc_cpu[i]),
                                             (req_mem[i], pod_mem, alloc_mem[i]))
                     if alloc != 0]
        std = abs((fractions[0] - fractions[1]) / 2) if len(fractions) == 2 else 0.0
        out[i] = int((1.0 - std) * MAX_NODE_SCORE)


def fit_mask_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], alloc_pods: Sequence[int],
                req_cpu: Sequence[int], req_mem: Sequence[int], pod_count: Sequence[int],
                pod_cpu: int, pod_mem: int, mask: bytearray) -> int:
    left = 0
    for i in range(len(alloc_cpu)):
        if mask[i]:
            if (pod_count[i] + 1 <= alloc_pods[i]
                    and (pod_cpu == 0 or req_cpu[i] + pod_cpu <= alloc_cpu[i])
                    and (pod_mem == 0 or req_mem[i] + pod_mem <= alloc_mem[i])):
                left += 1
            else:
                mask[i] = 0
    return left


def select_py(mask: bytes | bytearray, start: int, limit: int, out: array[int]) -> tuple[int, int]:
    n = len(mask)
    found = scanned = 0
    i = start
    while scanned < n and found < limit:
        if mask[i]:
            out[found] = i
            found += 1
        scanned += 1
        i = i + 1 if i + 1 < n else 0
    return found, scanned


def allocated_score_at_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], req_cpu: Sequence[int],
                          req_mem: Sequence[int], idx: Sequence[int], count: int, pod_cpu: int, pod_mem: int,
                          w_cpu: int, w_mem: int, most: bool, out: array[int]) -> None:
    score = _most if most else _least
    wsum = w_cpu + w_mem
    for k in range(count):
        i = idx[k]
        s_cpu = score(req_cpu[i] + pod_cpu, alloc_cpu[i])
        s_mem = score(req_mem[i] + pod_mem, alloc_mem[i])
        out[k] = (s_cpu * w_cpu + s_mem * w_mem) // wsum if wsum else 0


def balanced_score_at_py(alloc_cpu: Sequence[int], alloc_mem: Sequence[int], req_cpu: Sequence[int],
                         req_mem: Sequence[int], idx: Sequence[int], count: int, pod_cpu: int, pod_mem: int,
                         out: array[int]) -> None:
    for k in range(count):
        i = idx[k]
        fractions = [min(1.0, (req + pod) / alloc)
                     for req, pod, alloc in ((req_cpu[i], pod_cpu, alloc_cpu[i]),
                                             (req_mem[i], pod_mem, alloc_mem[i]))
                     if alloc != 0]
        std = abs((fractions[0] - fractions[1]) / 2) if len(fractions) == 2 else 0.0
        out[k] = int((1.0 - std) * MAX_NODE_SCORE)


def gather_py(column: Sequence[int], idx: Sequence[int], count: int, out: array[int]) -> None:
    for k in range(count):
        out[k] = column[idx[k]]


def normalize_py(scores: array[int], count: int, reverse: bool) -> None:
    highest = max(scores[:count], default=0)
    if highest <= 0:
        if reverse:
            for k in range(count):
                scores[k] = MAX_NODE_SCORE
        return
    for k in range(count):
        scaled = MAX_NODE_SCORE * scores[k] // highest
        scores[k] = MAX_NODE_SCORE - scaled if reverse else scaled


def add_weighted_py(total: array[int], scores: Sequence[int], count: int, weight: int) -> None:
    for k in range(count):
        total[k] += scores[k] * weight


def best_py(total: Sequence[int], count: int) -> tuple[int, int]:
    top, ties = 0, 0
    for k in range(count):
        if ties == 0 or total[k] > top:
            top, ties = total[k], 1
        elif total[k] == top:
            ties += 1
    return top, ties


def nth_best_py(total: Sequence[int], count: int, top: int, nth: int) -> int:
    for k in range(count):
        if total[k] == top:
            if nth == 0:
                return k
            nth -= 1
    return -1


def _load_kernel() -> ModuleType | None:
    try:
        from kubelite.native import _scoring
    except ImportError as exc:
        warnings.warn(f"kubelite.native._scoring is not compiled ({exc}); using the pure-Python twin",
                      RuntimeWarning, stacklevel=2)
        return None
    return _scoring


_kernel = _load_kernel()
IMPLEMENTATION = "cython" if _kernel is not None else "python"


class Kernel:
    """The batch functions of one implementation (``KERNEL`` is the compiled one when built,
    ``PURE`` always the twins): the scheduler calls them through this, benchmarks compare both."""

    def __init__(self, module: ModuleType | None) -> None:
        self.name = "cython" if module is not None else "python"
        self.fit_mask = module.fit_mask if module is not None else fit_mask_py
        self.select = module.select if module is not None else select_py
        self.allocated_score_at = module.allocated_score_at if module is not None else allocated_score_at_py
        self.balanced_score_at = module.balanced_score_at if module is not None else balanced_score_at_py
        self.gather = module.gather if module is not None else gather_py
        self.normalize = module.normalize if module is not None else normalize_py
        self.add_weighted = module.add_weighted if module is not None else add_weighted_py
        self.best = module.best if module is not None else best_py
        self.nth_best = module.nth_best if module is not None else nth_best_py


KERNEL = Kernel(_kernel)
PURE = Kernel(None)


# ---- the API everything imports ----------------------------------------------------------------


def fit(nodes: NodeColumns, *, pod_cpu: int, pod_mem: int) -> tuple[bytearray, int]:
    """Which nodes have room for one more pod with these requests: (mask, number that fit)."""
    out = bytearray(len(nodes))
    impl = _kernel.fit if _kernel is not None else fit_py
    n = impl(nodes.alloc_cpu, nodes.alloc_mem, nodes.alloc_pods, nodes.req_cpu, nodes.req_mem,
             nodes.pod_count, pod_cpu, pod_mem, out)
    return out, n


def allocated_score(nodes: NodeColumns, *, pod_cpu: int, pod_mem: int, w_cpu: int = 1, w_mem: int = 1,
                    most: bool = False) -> array[int]:
    """LeastAllocated (default) or MostAllocated score, 0..100, for every node."""
    if w_cpu < 0 or w_mem < 0:
        raise ValueError(f"resource weights must be non-negative, got cpu={w_cpu} memory={w_mem}")
    out = array("q", bytes(8 * len(nodes)))
    impl = _kernel.allocated_score if _kernel is not None else allocated_score_py
    impl(nodes.alloc_cpu, nodes.alloc_mem, nodes.req_cpu, nodes.req_mem, pod_cpu, pod_mem,
         w_cpu, w_mem, most, out)
    return out


def balanced_score(nodes: NodeColumns, *, pod_cpu: int, pod_mem: int) -> array[int]:
    """BalancedAllocation score, 0..100, for every node."""
    out = array("q", bytes(8 * len(nodes)))
    impl = _kernel.balanced_score if _kernel is not None else balanced_score_py
    impl(nodes.alloc_cpu, nodes.alloc_mem, nodes.req_cpu, nodes.req_mem, pod_cpu, pod_mem, out)
    return out
