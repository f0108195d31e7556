"""NodeResourcesBalancedAllocation (upstream noderesources.BalancedAllocation): prefer nodes whose
cpu and memory would be used in equal fractions after placing the pod.

Score = (1 - std of the two used fractions) * 100, computed over all nodes at once by
``kubelite.native.scoring.balanced_score``. Unlike LeastAllocated it uses the real requests, not the
non-zero ones (upstream ``useRequested: true``), and it Skips pods that request neither cpu nor memory.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import Code, CycleState, Status, missing_state
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo, pod_resource
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel, NodeColumns, balanced_score

NAME = "NodeResourcesBalancedAllocation"
_PRE_SCORE_KEY = f"PreScore{NAME}"


class BalancedAllocation:
    name = NAME

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        request = pod_resource(pod)
        if request.milli_cpu == 0 and request.memory == 0:
            return Status.of(Code.SKIP)
        state.write(_PRE_SCORE_KEY, (request.milli_cpu, request.memory))
        return None

    def score_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int], count: int,
                    kernel: Kernel) -> array[int] | None:
        request = state.read(_PRE_SCORE_KEY, tuple)
        if request is None:
            return None
        cols = snapshot.columns
        out = array("q", bytes(8 * count))
        kernel.balanced_score_at(cols.alloc_cpu, cols.alloc_mem, cols.req_cpu, cols.req_mem, idx, count, request[0],
                                 request[1], out)
        return out

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        request = state.read(_PRE_SCORE_KEY, tuple)
        if request is None:
            return [], missing_state(NAME, _PRE_SCORE_KEY)
        columns = NodeColumns()
        for info in nodes:
            columns.append(alloc_cpu=info.allocatable.milli_cpu, alloc_mem=info.allocatable.memory,
                           alloc_pods=info.allocatable.allowed_pod_number, req_cpu=info.requested.milli_cpu,
                           req_mem=info.requested.memory, pod_count=info.pod_count)
        pod_cpu, pod_mem = request
        return list(balanced_score(columns, pod_cpu=pod_cpu, pod_mem=pod_mem)), None


def new(args: Mapping[str, Any]) -> BalancedAllocation:
    return BalancedAllocation()
