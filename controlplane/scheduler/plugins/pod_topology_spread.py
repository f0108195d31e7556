"""PodTopologySpread (upstream podtopologyspread): spread matching pods evenly across topology domains.

``spec.topologySpreadConstraints[]``: ``maxSkew``, ``topologyKey``, ``labelSelector`` (plus
``matchLabelKeys``: the pod's own values of those labels are added to the selector), ``minDomains``,
``nodeAffinityPolicy`` (Honor by default: only nodes matching the pod's nodeSelector/affinity count),
``nodeTaintsPolicy`` (Ignore by default), ``whenUnsatisfiable``.

Filter (``DoNotSchedule``), as upstream: PreFilter counts the matching pods (same namespace, not
terminating) per domain over every eligible node that has all the constraints' topology keys. A node
without a key is out ("node(s) didn't match pod topology spread constraints (missing required
label)"); otherwise placing the pod there must keep ``count + self-match - global minimum <= maxSkew``
(the minimum is 0 while fewer than ``minDomains`` domains exist) or the node is out ("node(s) didn't
match pod topology spread constraints").

Score (``ScheduleAnyway``): per constraint ``count * log(domains + 2) + maxSkew - 1``, rounded, then
normalized so that the node in the least crowded domains gets 100 (nodes lacking a key get 0).
Cluster-level default constraints (upstream's ``defaultConstraints`` for pods of Services and
ReplicaSets) are not applied: only the pod's own constraints count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.api.labels import LabelSelectorError, from_label_selector
from kubelite.controlplane.scheduler.framework import (
    MAX_NODE_SCORE,
    SNAPSHOT_KEY,
    Code,
    CycleState,
    PreFilterResult,
    ProfileError,
    Status,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.plugins import node_affinity
from kubelite.controlplane.scheduler.plugins.taint_toleration import first_untolerated, node_taints, pod_tolerations
from kubelite.controlplane.scheduler.snapshot import Snapshot

NAME = "PodTopologySpread"
ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
INVALID_SCORE = -1

Pair = tuple[str, str]
_SKIP = Status.of(Code.SKIP)


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: Any  # kubelite.api.labels.Selector
    min_domains: int
    honor_affinity: bool
    honor_taints: bool

    def includes(self, pod: JSON, info: NodeInfo) -> bool:
        """Upstream matchNodeInclusionPolicies."""
        if self.honor_affinity and not node_affinity.fits(pod, info):
            return False
        return not (self.honor_taints and first_untolerated(node_taints(info), pod_tolerations(pod),
                                                            effects={"NoSchedule", "NoExecute"}))


def constraints(pod: JSON, action: str) -> list[Constraint]:
    """The pod's constraints with ``whenUnsatisfiable == action``."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for raw in (pod.get("spec") or {}).get("topologySpreadConstraints") or ():
        if (raw.get("whenUnsatisfiable") or "DoNotSchedule") != action:
            continue
        selector_obj = dict(raw.get("labelSelector") or {})
        keys = [k for k in raw.get("matchLabelKeys") or () if k in labels]
        if keys:
            selector_obj["matchExpressions"] = [*(selector_obj.get("matchExpressions") or ()),
                                                *({"key": k, "operator": "In", "values": [labels[k]]} for k in keys)]
        try:
            selector = from_label_selector(selector_obj if raw.get("labelSelector") is not None or keys else None)
        except LabelSelectorError:
            continue  # the API server validates selectors; an odd one matches nothing here
        out.append(Constraint(max_skew=int(raw.get("maxSkew") or 1), topology_key=str(raw.get("topologyKey") or ""),
                              selector=selector, min_domains=int(raw.get("minDomains") or 1),
                              honor_affinity=(raw.get("nodeAffinityPolicy") or "Honor") == "Honor",
                              honor_taints=(raw.get("nodeTaintsPolicy") or "Ignore") == "Honor"))
    return out


def count_matching(pods: Sequence[JSON], selector: Any, namespace: str) -> int:
    """Upstream countPodsMatchSelector: same namespace, not terminating, labels match."""
    count = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("namespace") == namespace and not meta.get("deletionTimestamp") \
                and selector.matches(meta.get("labels") or {}):
            count += 1
    return count


def _has_keys(info: NodeInfo, cons: Sequence[Constraint]) -> bool:
    labels = info.labels
    return all(c.topology_key in labels for c in cons)


def _infos(state: CycleState, fallback: Sequence[NodeInfo]) -> Sequence[NodeInfo]:
    snapshot = state.read(SNAPSHOT_KEY, Snapshot)
    return snapshot.infos if snapshot is not None else list(fallback)


@dataclass
class _FilterState:
    constraints: list[Constraint]
    counts: dict[Pair, int]
    minimum: list[int]  # per constraint, the global minimum (after minDomains)


@dataclass
class _ScoreState:
    constraints: list[Constraint]
    counts: dict[Pair, int]
    weights: list[float]
    ignored: frozenset[str]


class PodTopologySpread:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        if not (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return None, _SKIP
        cons = constraints(pod, "DoNotSchedule")
        if not cons:
            return None, _SKIP
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        counts: dict[Pair, int] = {}
        for info in _infos(state, []):
            if not _has_keys(info, cons):
                continue
            for c in cons:
                if not c.includes(pod, info):
                    continue
                pair = (c.topology_key, info.labels[c.topology_key])
                counts[pair] = counts.get(pair, 0) + count_matching(info.pods, c.selector, namespace)
        minimum = []
        for c in cons:
            values = [n for (key, _), n in counts.items() if key == c.topology_key]
            domains = len(values)
            minimum.append(0 if domains < c.min_domains or not values else min(values))
        state.write(_PRE_FILTER_KEY, _FilterState(cons, counts, minimum))
        return None, None

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        pre = state.read(_PRE_FILTER_KEY, _FilterState)
        if pre is None:
            return missing_state(NAME, _PRE_FILTER_KEY)
        labels = node_info.labels
        pod_labels = (pod.get("metadata") or {}).get("labels") or {}
        for c, minimum in zip(pre.constraints, pre.minimum, strict=True):
            value = labels.get(c.topology_key)
            if value is None:
                return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_MISSING_LABEL)
            self_match = 1 if c.selector.matches(pod_labels) else 0
            skew = pre.counts.get((c.topology_key, value), 0) + self_match - minimum
            if skew > c.max_skew:
                return Status.of(Code.UNSCHEDULABLE, ERR_CONSTRAINTS)
        return None

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        if not (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return _SKIP
        cons = constraints(pod, "ScheduleAnyway")
        if not cons:
            return _SKIP
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        ignored: set[str] = set()
        counts: dict[Pair, int] = {}
        sizes = [0] * len(cons)
        for info in nodes:
            if not _has_keys(info, cons):
                ignored.add(info.name)
                continue
            for i, c in enumerate(cons):
                if c.topology_key == HOSTNAME:
                    continue  # counted per node in Score
                pair = (c.topology_key, info.labels[c.topology_key])
                if pair not in counts:
                    counts[pair] = 0
                    sizes[i] += 1
        for i, c in enumerate(cons):
            if c.topology_key == HOSTNAME:
                sizes[i] = len(nodes) - len(ignored)
        for info in _infos(state, nodes):
            if not _has_keys(info, cons):
                continue
            for c in cons:
                if c.topology_key == HOSTNAME or not c.includes(pod, info):
                    continue
                pair = (c.topology_key, info.labels[c.topology_key])
                if pair in counts:
                    counts[pair] += count_matching(info.pods, c.selector, namespace)
        weights = [math.log(size + 2) for size in sizes]
        state.write(_PRE_SCORE_KEY, _ScoreState(cons, counts, weights, frozenset(ignored)))
        return None

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        pre = state.read(_PRE_SCORE_KEY, _ScoreState)
        if pre is None:
            return [], missing_state(NAME, _PRE_SCORE_KEY)
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        out = []
        for info in nodes:
            if info.name in pre.ignored:
                out.append(INVALID_SCORE)
                continue
            total = 0.0
            for c, weight in zip(pre.constraints, pre.weights, strict=True):
                value = info.labels.get(c.topology_key)
                if value is None:
                    continue
                if c.topology_key == HOSTNAME:
                    count = count_matching(info.pods, c.selector, namespace)
                else:
                    count = pre.counts.get((c.topology_key, value), 0)
                total += count * weight + (c.max_skew - 1)
            out.append(round(total))
        return out, None

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None:
        """Upstream: 100 * (max + min - score) / max over the scored nodes; ignored nodes get 0."""
        valid = [s for s in scores if s != INVALID_SCORE]
        if not valid:
            scores[:] = [0] * len(scores)
            return None
        low, high = min(valid), max(valid)
        for i, score in enumerate(scores):
            if score == INVALID_SCORE:
                scores[i] = 0
            elif high == 0:
                scores[i] = MAX_NODE_SCORE
            else:
                scores[i] = MAX_NODE_SCORE * (high + low - score) // high
        return None


def new(args: Mapping[str, Any]) -> PodTopologySpread:
    unknown = sorted(set(args) - {"defaultConstraints", "defaultingType"})
    if unknown:
        raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: defaultConstraints, defaultingType")
    if args.get("defaultConstraints"):
        raise ProfileError("defaultConstraints: not supported by kubelite yet; set topologySpreadConstraints on pods")
    return PodTopologySpread()
