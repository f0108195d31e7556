"""NodeResourcesFit (upstream noderesources.Fit): room for the pod's requests, and a score.

Filter (upstream fitsRequest): one more pod must fit under ``pods`` ("Too many pods"); each of cpu,
memory, ephemeral-storage and every other requested resource (extended resources, hugepages) must fit
in allocatable minus requested ("Insufficient <name>"). All shortfalls are reported together; when a
request exceeds the node's whole allocatable the status is UnschedulableAndUnresolvable, since no
preemption could help. Extended resources can be ignored by name or by group (args
``ignoredResources`` / ``ignoredResourceGroups``).

Score: ``scoringStrategy.type`` LeastAllocated (default) or MostAllocated over cpu and memory with
weights, computed for all nodes at once by ``kubelite.native.scoring.allocated_score``. As upstream,
scoring counts containers without requests as 100m cpu / 200Mi memory (non-zero requests).
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.controlplane.scheduler.framework import (
    Code,
    CycleState,
    PreFilterResult,
    ProfileError,
    Status,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import (
    CPU,
    EPHEMERAL_STORAGE,
    JSON,
    MEMORY,
    NodeInfo,
    Resource,
    non_zero_requests,
    pod_resource,
)
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel, NodeColumns, allocated_score

NAME = "NodeResourcesFit"
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
_STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED)
_SCORED_RESOURCES = (CPU, MEMORY)
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
_ARG_KEYS = ("ignoredResources", "ignoredResourceGroups", "scoringStrategy")


@dataclass(frozen=True)
class Shortfall:
    """One resource the node lacks (upstream InsufficientResource)."""

    resource: str
    reason: str
    unresolvable: bool


def _is_extended(name: str) -> bool:
    # upstream IsExtendedResourceName: domain-qualified, not in the kubernetes.io namespace, not
    # hugepages or other native resources
    return "/" in name and not name.split("/", 1)[0].endswith("kubernetes.io") and not name.startswith("requests.")


def insufficient_resources(*, request: Resource, node_info: NodeInfo, ignored: frozenset[str] = frozenset(),
                           ignored_groups: frozenset[str] = frozenset()) -> list[Shortfall]:
    """Every resource the node cannot give the pod (empty when it fits)."""
    short: list[Shortfall] = []
    alloc, used = node_info.allocatable, node_info.requested
    if node_info.pod_count + 1 > alloc.allowed_pod_number:
        short.append(Shortfall(resource="pods", reason="Too many pods", unresolvable=False))
    if request.is_zero():
        return short
    for name, wanted in ((CPU, request.milli_cpu), (MEMORY, request.memory),
                         (EPHEMERAL_STORAGE, request.ephemeral_storage)):
        if wanted > 0 and wanted > alloc.get(name) - used.get(name):
            short.append(Shortfall(resource=name, reason=f"Insufficient {name}", unresolvable=wanted > alloc.get(name)))
    for name in sorted(request.scalar):  # sorted: stable reasons (upstream iterates a Go map)
        wanted = request.scalar[name]
        if wanted == 0:
            continue
        if _is_extended(name) and (name in ignored or name.split("/", 1)[0] in ignored_groups):
            continue
        if wanted > alloc.get(name) - used.get(name):
            short.append(Shortfall(resource=name, reason=f"Insufficient {name}", unresolvable=wanted > alloc.get(name)))
    return short


class NodeResourcesFit:
    name = NAME

    def __init__(self, *, ignored: frozenset[str], ignored_groups: frozenset[str], most_allocated: bool,
                 weights: Mapping[str, int]) -> None:
        self._ignored = ignored
        self._ignored_groups = ignored_groups
        self._most = most_allocated
        self._w_cpu = weights.get(CPU, 0)
        self._w_mem = weights.get(MEMORY, 0)

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        state.write(_PRE_FILTER_KEY, pod_resource(pod))
        return None, None

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        request = state.read(_PRE_FILTER_KEY, Resource)
        if request is None:
            return missing_state(NAME, _PRE_FILTER_KEY)
        short = insufficient_resources(request=request, node_info=node_info, ignored=self._ignored,
                                       ignored_groups=self._ignored_groups)
        if not short:
            return None
        code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if any(s.unresolvable for s in short) else Code.UNSCHEDULABLE
        return Status.of(code, *(s.reason for s in short))

    def filter_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, mask: bytearray,
                     kernel: Kernel) -> bool:
        request = state.read(_PRE_FILTER_KEY, Resource)
        if request is None or request.ephemeral_storage or any(request.scalar.values()):
            return False  # only pods, cpu and memory are columns; the per-node Filter checks the rest
        cols = snapshot.columns
        kernel.fit_mask(cols.alloc_cpu, cols.alloc_mem, cols.alloc_pods, cols.req_cpu, cols.req_mem, cols.pod_count,
                        request.milli_cpu, request.memory, mask)
        return True

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        state.write(_PRE_SCORE_KEY, non_zero_requests(pod))
        return None

    def score_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int], count: int,
                    kernel: Kernel) -> array[int] | None:
        request = state.read(_PRE_SCORE_KEY, tuple)
        if request is None:
            return None
        cols = snapshot.columns
        out = array("q", bytes(8 * count))
        kernel.allocated_score_at(cols.alloc_cpu, cols.alloc_mem, cols.nz_cpu, cols.nz_mem, idx, count, request[0],
                                  request[1], self._w_cpu, self._w_mem, self._most, out)
        return out

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        request = state.read(_PRE_SCORE_KEY, tuple)
        if request is None:
            return [], missing_state(NAME, _PRE_SCORE_KEY)
        columns = NodeColumns()
        for info in nodes:
            columns.append(alloc_cpu=info.allocatable.milli_cpu, alloc_mem=info.allocatable.memory,
                           alloc_pods=info.allocatable.allowed_pod_number,
                           req_cpu=info.non_zero_requested.milli_cpu, req_mem=info.non_zero_requested.memory,
                           pod_count=info.pod_count)
        pod_cpu, pod_mem = request
        scores = allocated_score(columns, pod_cpu=pod_cpu, pod_mem=pod_mem, w_cpu=self._w_cpu, w_mem=self._w_mem,
                                 most=self._most)
        return list(scores), None


def _string_list(args: Mapping[str, Any], key: str) -> frozenset[str]:
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{key}: must be a list of strings, got {value!r}")
    return frozenset(value)


def new(args: Mapping[str, Any]) -> NodeResourcesFit:
    """Build from NodeResourcesFitArgs (``ignoredResources``, ``ignoredResourceGroups``,
    ``scoringStrategy: {type, resources: [{name, weight}]}``)."""
    unknown = sorted(set(args) - set(_ARG_KEYS))
    if unknown:
        raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_ARG_KEYS)}")
    strategy = args.get("scoringStrategy") or {}
    kind = strategy.get("type", LEAST_ALLOCATED)
    if kind not in _STRATEGIES:
        raise ProfileError(f"scoringStrategy.type: unsupported value {kind!r}; supported: {', '.join(_STRATEGIES)}")
    weights: dict[str, int] = {}
    for i, entry in enumerate(strategy.get("resources") or [{"name": CPU, "weight": 1}, {"name": MEMORY, "weight": 1}]):
        name, weight = entry.get("name"), entry.get("weight", 1)
        if name not in _SCORED_RESOURCES:
            raise ProfileError(f"scoringStrategy.resources[{i}].name: unsupported value {name!r}; "
                               f"supported: {', '.join(_SCORED_RESOURCES)}")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise ProfileError(f"scoringStrategy.resources[{i}].weight: must be an integer in 1..100, got {weight!r}")
        if name in weights:
            raise ProfileError(f"scoringStrategy.resources[{i}].name: duplicate resource {name!r}")
        weights[name] = weight
    return NodeResourcesFit(ignored=_string_list(args, "ignoredResources"),
                            ignored_groups=_string_list(args, "ignoredResourceGroups"),
                            most_allocated=kind == MOST_ALLOCATED, weights=weights)
