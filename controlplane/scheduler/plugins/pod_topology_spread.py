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

Default constraints, as upstream: a pod without constraints of its own gets the cluster's defaults
(``defaultingType: System``, the default: hostname maxSkew 3 and zone maxSkew 5, both
ScheduleAnyway; ``List``: the args' ``defaultConstraints``) when it belongs to something that spreads
it: the selector is upstream's DefaultSelector, the merged selectors of the Services in its namespace
that select it and of its controlling ReplicaSet, StatefulSet or ReplicationController (read through
the Handle's listers). A pod that nothing selects gets none. With the system defaults a node missing
a topology label still scores by the keys it has (upstream requireAllTopologies is false then).

PreFilter extension ``add_pod`` keeps the counts right when the framework adds a nominated pod to a
node in a what-if.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubelite.api.labels import LabelSelectorError, Selector, from_label_selector, selector_from_set
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
from kubelite.controlplane.scheduler.plugins import node_affinity
from kubelite.controlplane.scheduler.plugins.taint_toleration import first_untolerated, node_taints, pod_tolerations
from kubelite.controlplane.scheduler.snapshot import Snapshot

NAME = "PodTopologySpread"
ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SYSTEM, LIST = "System", "List"
ACTIONS = ("DoNotSchedule", "ScheduleAnyway")
# upstream systemDefaultConstraints (pkg/scheduler/framework/plugins/podtopologyspread/plugin.go)
SYSTEM_DEFAULT_CONSTRAINTS: tuple[Mapping[str, Any], ...] = (
    {"topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 3},
    {"topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway", "maxSkew": 5},
)
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


def constraints(pod: JSON, action: str, raws: Sequence[Mapping[str, Any]] | None = None,
                selector: Selector | None = None) -> list[Constraint]:
    """The pod's constraints (or ``raws``, with ``selector`` for all) with ``whenUnsatisfiable == action``."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for raw in (pod.get("spec") or {}).get("topologySpreadConstraints") or () if raws is None else raws:
        if (raw.get("whenUnsatisfiable") or "DoNotSchedule") != action:
            continue
        if selector is not None:
            out.append(Constraint(max_skew=int(raw.get("maxSkew") or 1), topology_key=str(raw.get("topologyKey")),
                                  selector=selector, min_domains=1, honor_affinity=True, honor_taints=False))
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


def default_selector(pod: JSON, handle: Handle) -> Selector:
    """Upstream helper.DefaultSelector: the selectors of the Services selecting the pod, merged, plus
    that of its controlling ReplicationController (a label map) or ReplicaSet/StatefulSet (a
    LabelSelector); empty when nothing selects the pod."""
    meta = pod.get("metadata") or {}
    namespace, labels = str(meta.get("namespace") or ""), meta.get("labels") or {}
    merged: dict[str, str] = {}
    for service in handle.list_objects("services", namespace):
        wanted = (service.get("spec") or {}).get("selector")
        if wanted and selector_from_set(wanted).matches(labels):
            merged.update(wanted)
    selector = selector_from_set(merged)
    owner = next((ref for ref in meta.get("ownerReferences") or () if ref.get("controller")), None)
    if owner is None:
        return selector
    group = str(owner.get("apiVersion") or "").rpartition("/")[0]
    kind, name = (group, owner.get("kind")), str(owner.get("name") or "")
    if kind == ("", "ReplicationController"):
        rc = handle.get_object("replicationcontrollers", namespace, name)
        if rc is not None:
            merged.update((rc.get("spec") or {}).get("selector") or {})
            selector = selector_from_set(merged)
    elif kind in (("apps", "ReplicaSet"), ("apps", "StatefulSet")):
        resource = "replicasets" if kind[1] == "ReplicaSet" else "statefulsets"
        controller = handle.get_object(resource, namespace, name)
        if controller is not None:
            try:
                other = from_label_selector((controller.get("spec") or {}).get("selector"))
            except LabelSelectorError:
                return selector
            selector = selector.add(*other.requirements)
    return selector


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


def _minimums(cons: Sequence[Constraint], counts: Mapping[Pair, int]) -> list[int]:
    """Per constraint, the global minimum count over its domains (0 while fewer than minDomains)."""
    minimum = []
    for c in cons:
        values = [n for (key, _), n in counts.items() if key == c.topology_key]
        minimum.append(0 if len(values) < c.min_domains or not values else min(values))
    return minimum


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

    def __init__(self, *, handle: Handle | None = None, defaults: Sequence[Mapping[str, Any]] = (),
                 system_defaulted: bool = False) -> None:
        self._handle = handle if handle is not None else Handle()
        self._defaults = tuple(defaults)
        self._default_actions = frozenset(str(d.get("whenUnsatisfiable")) for d in defaults)
        self.system_defaulted = system_defaulted

    def _constraints(self, pod: JSON, action: str) -> tuple[list[Constraint], bool]:
        """The constraints that apply (the pod's own, else the defaults with its DefaultSelector), and
        whether they are the system defaults (upstream's requireAllTopologies is then false)."""
        if (pod.get("spec") or {}).get("topologySpreadConstraints"):
            return constraints(pod, action), False
        if action not in self._default_actions:
            return [], False
        selector = default_selector(pod, self._handle)
        if selector.empty():
            return [], False
        return constraints(pod, action, self._defaults, selector), self.system_defaulted

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        cons, _ = self._constraints(pod, "DoNotSchedule")
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
        state.write(_PRE_FILTER_KEY, _FilterState(cons, counts, _minimums(cons, counts)))
        return None, None

    def add_pod(self, *, state: CycleState, pod_to_schedule: JSON, pod_to_add: JSON,
                node_info: NodeInfo) -> Status | None:
        """Upstream preFilterState.updateWithPod(+1), into a new state value (``state`` is a clone)."""
        pre = state.read(_PRE_FILTER_KEY, _FilterState)
        if pre is None:
            return None
        meta = pod_to_add.get("metadata") or {}
        if meta.get("namespace") != (pod_to_schedule.get("metadata") or {}).get("namespace") \
                or not _has_keys(node_info, pre.constraints):
            return None
        counts = dict(pre.counts)
        labels = meta.get("labels") or {}
        for c in pre.constraints:
            if c.selector.matches(labels) and c.includes(pod_to_schedule, node_info):
                pair = (c.topology_key, node_info.labels[c.topology_key])
                counts[pair] = counts.get(pair, 0) + 1
        state.write(_PRE_FILTER_KEY, _FilterState(pre.constraints, counts, _minimums(pre.constraints, counts)))
        return None

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
        cons, system_defaulted = self._constraints(pod, "ScheduleAnyway")
        if not cons:
            return _SKIP
        require_all = not system_defaulted
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        ignored: set[str] = set()
        counts: dict[Pair, int] = {}
        sizes = [0] * len(cons)
        for info in nodes:
            if require_all and not _has_keys(info, cons):
                ignored.add(info.name)
                continue
            for i, c in enumerate(cons):
                if c.topology_key == HOSTNAME:
                    continue  # counted per node in Score
                pair = (c.topology_key, info.labels.get(c.topology_key, ""))
                if pair not in counts:
                    counts[pair] = 0
                    sizes[i] += 1
        for i, c in enumerate(cons):
            if c.topology_key == HOSTNAME:
                sizes[i] = len(nodes) - len(ignored)
        for info in _infos(state, nodes):
            if require_all and not _has_keys(info, cons):
                continue
            for c in cons:
                if c.topology_key == HOSTNAME or not c.includes(pod, info):
                    continue
                pair = (c.topology_key, info.labels.get(c.topology_key, ""))
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


def _default_constraint_problems(index: int, raw: Any) -> list[str]:
    """Upstream validateDefaultConstraints for one entry."""
    where = f"defaultConstraints[{index}]"
    if not isinstance(raw, Mapping):
        return [f"{where}: must be an object"]
    problems = []
    skew = raw.get("maxSkew")
    if not isinstance(skew, int) or isinstance(skew, bool) or skew <= 0:
        problems.append(f"{where}.maxSkew: must be greater than zero, got {skew!r}")
    if not raw.get("topologyKey"):
        problems.append(f"{where}.topologyKey: can not be empty")
    if raw.get("whenUnsatisfiable") not in ACTIONS:
        problems.append(f"{where}.whenUnsatisfiable: must be one of {', '.join(ACTIONS)}, got "
                        f"{raw.get('whenUnsatisfiable')!r}")
    if raw.get("labelSelector") is not None:
        problems.append(f"{where}.labelSelector: constraint must not define a selector, as they deduced for each pod")
    return problems


def new(args: Mapping[str, Any], handle: Handle | None = None) -> PodTopologySpread:
    """From PodTopologySpreadArgs: ``defaultingType`` System (default) or List, ``defaultConstraints``
    (only with List; upstream refuses them with System)."""
    unknown = sorted(set(args) - {"defaultConstraints", "defaultingType"})
    if unknown:
        raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: defaultConstraints, defaultingType")
    defaulting = args.get("defaultingType") or SYSTEM
    if defaulting not in (SYSTEM, LIST):
        raise ProfileError(f"defaultingType: must be one of {SYSTEM}, {LIST}, got {defaulting!r}")
    given = args.get("defaultConstraints") or []
    if not isinstance(given, list):
        raise ProfileError("defaultConstraints: must be a list")
    if defaulting == SYSTEM:
        if given:
            raise ProfileError(f"defaultingType: Invalid value: {SYSTEM!r}: when .defaultConstraints are not empty")
        return PodTopologySpread(handle=handle, defaults=SYSTEM_DEFAULT_CONSTRAINTS, system_defaulted=True)
    problems = [problem for i, raw in enumerate(given) for problem in _default_constraint_problems(i, raw)]
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(given):
        if isinstance(raw, Mapping):
            pair = (str(raw.get("topologyKey")), str(raw.get("whenUnsatisfiable")))
            if pair in seen:
                problems.append(f"defaultConstraints[{i}]: Duplicate value: {{{pair[0]}, {pair[1]}}}")
            seen.add(pair)
    if problems:
        raise ProfileError("; ".join(problems))
    return PodTopologySpread(handle=handle, defaults=given)


def factory(handle: Handle) -> Any:
    """The registry's factory: the plugin reads Services and controllers through ``handle``."""
    def build(args: Mapping[str, Any]) -> PodTopologySpread:
        return new(args, handle)

    return build
