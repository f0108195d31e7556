"""InterPodAffinity (upstream interpodaffinity): place pods near, or away from, pods with given labels.

A term (``podAffinity``/``podAntiAffinity``) names pods by ``labelSelector`` in ``namespaces`` plus
the namespaces whose labels match ``namespaceSelector`` (``{}``: every namespace; neither given: the
owner's namespace) and a ``topologyKey``: "near" means on a node with the same value of that label.
``matchLabelKeys`` / ``mismatchLabelKeys`` need nothing here: the API server merges them into the
labelSelector when the pod is created (``PodStrategy.prepare_for_create``), as upstream. Namespace
labels come from the Handle's Namespace lister; a selector is resolved to namespace names once per
term, as upstream's mergeAffinityTermNamespacesIfNotEmpty.

Filter (required terms), from counts made once in PreFilter over the cluster, as upstream:

* **existing pods' anti-affinity**: a node is out when a pod already in its topology domain has a
  required anti-affinity term matching the incoming pod ("node(s) didn't satisfy existing pods
  anti-affinity rules");
* **the pod's anti-affinity**: out when a matching pod is in the node's domain ("node(s) didn't match
  pod anti-affinity rules");
* **the pod's affinity**: every term needs a matching pod in the node's domain, except for the first
  pod of a group, which matches its own terms and finds no pod anywhere ("node(s) didn't match pod
  affinity rules", UnschedulableAndUnresolvable).

Score (preferred terms): the weights of the pod's preferred (anti-)affinity terms, plus those of the
existing pods' preferred terms matching the pod, and ``hardPodAffinityWeight`` (default 1) for their
required affinity terms, summed per topology domain, then normalized to 0..100 between min and max.

Only nodes holding pods with affinity terms are visited for the existing pods' side (the snapshot
tracks them), so a cluster without pod affinity pays nothing for this plugin. The PreFilter
extension ``add_pod`` keeps the counts right when the framework adds a nominated pod to a node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.api.labels import LabelSelectorError, from_label_selector
from kubelite.controlplane.scheduler.framework import (
    MAX_NODE_SCORE,
    SNAPSHOT_KEY,
    Code,
    CycleState,
    Handle,
    PreFilterResult,
    ProfileError,
    Status,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot

NAME = "InterPodAffinity"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
_PRE_FILTER_KEY = f"PreFilter{NAME}"
_PRE_SCORE_KEY = f"PreScore{NAME}"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"

Pair = tuple[str, str]
_SKIP = Status.of(Code.SKIP)


@dataclass(frozen=True)
class Term:
    """A PodAffinityTerm resolved against its owner pod."""

    topology_key: str
    namespaces: frozenset[str] | None  # None: every namespace
    selector: Any  # kubelite.api.labels.Selector
    weight: int = 0

    def matches(self, pod: JSON) -> bool:
        meta = pod.get("metadata") or {}
        if self.namespaces is not None and meta.get("namespace", "") not in self.namespaces:
            return False
        return bool(self.selector.matches(meta.get("labels") or {}))


NamespaceLister = Callable[[str, str], Sequence[Mapping[str, Any]]]


def _no_namespaces(resource: str, namespace: str) -> Sequence[Mapping[str, Any]]:
    return []


def _term(raw: JSON, owner: JSON, weight: int = 0, list_objects: NamespaceLister = _no_namespaces) -> Term | None:
    meta = owner.get("metadata") or {}
    owner_ns = meta.get("namespace", "")
    namespaces: frozenset[str] | None = frozenset(raw.get("namespaces") or ())
    ns_selector = raw.get("namespaceSelector")
    try:
        selector = from_label_selector(raw.get("labelSelector"))
        if ns_selector is not None and not ns_selector.get("matchLabels") and not ns_selector.get("matchExpressions"):
            namespaces = None  # {} selects every namespace
        elif ns_selector is not None:
            wanted = from_label_selector(ns_selector)
            chosen = {str((ns.get("metadata") or {}).get("name", "")) for ns in list_objects("namespaces", "")
                      if wanted.matches((ns.get("metadata") or {}).get("labels") or {})}
            namespaces = frozenset(namespaces | chosen) if namespaces is not None else None
        elif not namespaces:
            namespaces = frozenset({owner_ns})
    except LabelSelectorError:
        return None
    return Term(topology_key=str(raw.get("topologyKey") or ""), namespaces=namespaces, selector=selector,
                weight=weight)


def _affinity(pod: JSON) -> JSON:
    return (pod.get("spec") or {}).get("affinity") or {}


def required_terms(pod: JSON, kind: str, list_objects: NamespaceLister = _no_namespaces) -> list[Term]:
    terms = [_term(raw, pod, 0, list_objects) for raw in (_affinity(pod).get(kind) or {}).get(REQUIRED) or ()]
    return [t for t in terms if t is not None]


def preferred_terms(pod: JSON, kind: str, list_objects: NamespaceLister = _no_namespaces) -> list[Term]:
    out = []
    for weighted in (_affinity(pod).get(kind) or {}).get(PREFERRED) or ():
        term = _term(weighted.get("podAffinityTerm") or {}, pod, int(weighted.get("weight") or 0), list_objects)
        if term is not None:
            out.append(term)
    return out


def _terminating(pod: JSON) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


@dataclass
class _PreFilterState:
    affinity: list[Term]
    anti_affinity: list[Term]
    affinity_counts: Counter[Pair]
    anti_affinity_counts: Counter[Pair]
    existing_anti_affinity_counts: Counter[Pair]


class InterPodAffinity:
    name = NAME

    def __init__(self, *, hard_pod_affinity_weight: int, handle: Handle | None = None) -> None:
        self._hard_weight = hard_pod_affinity_weight
        self._list = (handle if handle is not None else Handle()).list_objects

    # ---- Filter -----------------------------------------------------------------------------------

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        snapshot = state.read(SNAPSHOT_KEY, Snapshot)
        if snapshot is not None and not snapshot.anti_affinity_slots and not _affinity(pod):
            return None, _SKIP  # the common case, decided without building anything
        infos: Sequence[NodeInfo] = snapshot.infos if snapshot is not None else []
        affinity = required_terms(pod, "podAffinity", self._list)
        anti = required_terms(pod, "podAntiAffinity", self._list)
        anti_slots = getattr(snapshot, "anti_affinity_slots", None)
        if not affinity and not anti and anti_slots is not None and not anti_slots:
            return None, Status.of(Code.SKIP)
        existing: Counter[Pair] = Counter()
        watched = [infos[i] for i in sorted(anti_slots)] if anti_slots is not None else infos
        for info in watched:
            for other in info.pods_with_required_anti_affinity:
                for term in required_terms(other, "podAntiAffinity", self._list):
                    value = info.labels.get(term.topology_key)
                    if value is not None and term.matches(pod):
                        existing[(term.topology_key, value)] += 1
        affinity_counts: Counter[Pair] = Counter()
        anti_counts: Counter[Pair] = Counter()
        if affinity or anti:
            for info in infos:
                for other in info.pods:
                    if _terminating(other):
                        continue
                    if affinity and all(term.matches(other) for term in affinity):
                        for term in affinity:
                            value = info.labels.get(term.topology_key)
                            if value is not None:
                                affinity_counts[(term.topology_key, value)] += 1
                    for term in anti:
                        value = info.labels.get(term.topology_key)
                        if value is not None and term.matches(other):
                            anti_counts[(term.topology_key, value)] += 1
        state.write(_PRE_FILTER_KEY, _PreFilterState(affinity, anti, affinity_counts, anti_counts, existing))
        return None, None

    def add_pod(self, *, state: CycleState, pod_to_schedule: JSON, pod_to_add: JSON,
                node_info: NodeInfo) -> Status | None:
        """Upstream preFilterState.updateWithPod(+1), into a new state value (``state`` is a clone)."""
        pre = state.read(_PRE_FILTER_KEY, _PreFilterState)
        if pre is None:
            return None
        labels = node_info.labels
        existing = Counter(pre.existing_anti_affinity_counts)
        for term in required_terms(pod_to_add, "podAntiAffinity", self._list):
            value = labels.get(term.topology_key)
            if value is not None and term.matches(pod_to_schedule):
                existing[(term.topology_key, value)] += 1
        affinity = Counter(pre.affinity_counts)
        if pre.affinity and all(term.matches(pod_to_add) for term in pre.affinity):
            for term in pre.affinity:
                value = labels.get(term.topology_key)
                if value is not None:
                    affinity[(term.topology_key, value)] += 1
        anti = Counter(pre.anti_affinity_counts)
        for term in pre.anti_affinity:
            value = labels.get(term.topology_key)
            if value is not None and term.matches(pod_to_add):
                anti[(term.topology_key, value)] += 1
        state.write(_PRE_FILTER_KEY, _PreFilterState(pre.affinity, pre.anti_affinity, affinity, anti, existing))
        return None

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        pre = state.read(_PRE_FILTER_KEY, _PreFilterState)
        if pre is None:
            return missing_state(NAME, _PRE_FILTER_KEY)
        labels = node_info.labels
        if pre.existing_anti_affinity_counts and any(
                pre.existing_anti_affinity_counts.get((k, v), 0) > 0 for k, v in labels.items()):
            return Status.of(Code.UNSCHEDULABLE, ERR_EXISTING_ANTI_AFFINITY)
        for term in pre.anti_affinity:
            value = labels.get(term.topology_key)
            if value is not None and pre.anti_affinity_counts.get((term.topology_key, value), 0) > 0:
                return Status.of(Code.UNSCHEDULABLE, ERR_ANTI_AFFINITY)
        if pre.affinity:
            satisfied = all(labels.get(t.topology_key) is not None
                            and pre.affinity_counts.get((t.topology_key, labels[t.topology_key]), 0) > 0
                            for t in pre.affinity)
            if not satisfied:
                # the first pod of a group: nothing matches anywhere yet, and it matches its own terms
                first = (not pre.affinity_counts and all(t.matches(pod) for t in pre.affinity)
                         and all(t.topology_key in labels for t in pre.affinity))
                if not first:
                    return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_AFFINITY)
        return None

    # ---- Score ------------------------------------------------------------------------------------

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        snapshot = state.read(SNAPSHOT_KEY, Snapshot)
        if snapshot is not None and not snapshot.affinity_slots and not _affinity(pod):
            return _SKIP
        infos: Sequence[NodeInfo] = snapshot.infos if snapshot is not None else list(nodes)
        preferred = preferred_terms(pod, "podAffinity", self._list)
        preferred_anti = preferred_terms(pod, "podAntiAffinity", self._list)
        affinity_slots = getattr(snapshot, "affinity_slots", None)
        if not preferred and not preferred_anti and affinity_slots is not None and not affinity_slots:
            return Status.of(Code.SKIP)
        scores: Counter[Pair] = Counter()

        def add(terms: Iterable[Term], target: JSON, info: NodeInfo, sign: int) -> None:
            for term in terms:
                value = info.labels.get(term.topology_key)
                if value is not None and term.matches(target):
                    scores[(term.topology_key, value)] += sign * term.weight

        if preferred or preferred_anti:
            for info in infos:
                for other in info.pods:
                    add(preferred, other, info, 1)
                    add(preferred_anti, other, info, -1)
        watched = [infos[i] for i in sorted(affinity_slots)] if affinity_slots is not None else infos
        for info in watched:
            for other in info.pods_with_affinity:
                add(preferred_terms(other, "podAffinity", self._list), pod, info, 1)
                add(preferred_terms(other, "podAntiAffinity", self._list), pod, info, -1)
                if self._hard_weight:
                    hard = [Term(t.topology_key, t.namespaces, t.selector, self._hard_weight)
                            for t in required_terms(other, "podAffinity", self._list)]
                    add(hard, pod, info, 1)
        if not scores:
            return Status.of(Code.SKIP)
        state.write(_PRE_SCORE_KEY, scores)
        return None

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        scores = state.read(_PRE_SCORE_KEY, Counter)
        if scores is None:
            return [], missing_state(NAME, _PRE_SCORE_KEY)
        return [sum(scores.get((k, v), 0) for k, v in info.labels.items()) for info in nodes], None

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None:
        """Upstream: (score - min) * 100 / (max - min); all equal -> 0."""
        if not scores:
            return None
        low, high = min(scores), max(scores)
        span = high - low
        for i, score in enumerate(scores):
            # upstream computes this in floating point and truncates
            scores[i] = int(MAX_NODE_SCORE * ((score - low) / span)) if span else 0
        return None


def new(args: Mapping[str, Any], handle: Handle | None = None) -> InterPodAffinity:
    unknown = sorted(set(args) - {"hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"})
    if unknown:
        raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: hardPodAffinityWeight, "
                           "ignorePreferredTermsOfExistingPods")
    weight = args.get("hardPodAffinityWeight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise ProfileError(f"hardPodAffinityWeight: must be an integer in 0..100, got {weight!r}")
    return InterPodAffinity(hard_pod_affinity_weight=weight, handle=handle)


def factory(handle: Handle) -> Any:
    """The registry's factory: namespace labels come through ``handle``."""
    def build(args: Mapping[str, Any]) -> InterPodAffinity:
        return new(args, handle)

    return build
