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
    """Per-node resource state as parallel int64 columns, index = node slot."""

    alloc_cpu: array[int] = field(default_factory=_column)
    alloc_mem: array[int] = field(default_factory=_column)
    alloc_pods: array[int] = field(default_factory=_column)
    req_cpu: array[int] = field(default_factory=_column)
    req_mem: array[int] = field(default_factory=_column)
    pod_count: array[int] = field(default_factory=_column)

    def __len__(self) -> int:
        return len(self.alloc_cpu)

    def append(self, *, alloc_cpu: int, alloc_mem: int, alloc_pods: int,
               req_cpu: int = 0, req_mem: int = 0, pod_count: int = 0) -> int:
        """Add a node; returns its slot."""
        self.alloc_cpu.append(alloc_cpu)
        self.alloc_mem.append(alloc_mem)
        self.alloc_pods.append(alloc_pods)
        self.req_cpu.append(req_cpu)
        self.req_mem.append(req_mem)
        self.pod_count.append(pod_count)
        return len(self.alloc_cpu) - 1


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
