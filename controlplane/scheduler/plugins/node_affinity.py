"""NodeAffinity (upstream nodeaffinity): ``spec.nodeSelector`` and ``spec.affinity.nodeAffinity``.

Filter: every nodeSelector label must be equal on the node, and, when required terms are given, at
least one term must match (terms are ORed, the requirements inside a term ANDed). A term with no
requirements, or with an invalid one (Gt/Lt value that is not one integer, matchFields on a field
other than metadata.name), matches nothing, as upstream's lazy-error selector does.
PreFilter narrows the search to the named nodes when every required term pins metadata.name In.
Score: the sum of the weights of the preferred terms the node matches, normalized to 0..100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import (
    Code,
    CycleState,
    PreFilterResult,
    Status,
    default_normalize_score,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
_PRE_SCORE_KEY = f"PreScore{NAME}"
_NAME_FIELD = "metadata.name"


def _as_int(text: str) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return None


def requirement_matches(requirement: JSON, values_of: Mapping[str, str]) -> bool:
    """One NodeSelectorRequirement against a label (or field) map."""
    key = requirement.get("key", "")
    operator = requirement.get("operator", "")
    values: list[str] = list(requirement.get("values") or ())
    present = key in values_of
    if operator == "In":
        return present and values_of[key] in values
    if operator == "NotIn":
        return not present or values_of[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt"):
        if len(values) != 1 or not present:
            return False
        bound, actual = _as_int(values[0]), _as_int(values_of[key])
        if bound is None or actual is None:
            return False
        return actual > bound if operator == "Gt" else actual < bound
    return False


def term_matches(term: JSON, node_info: NodeInfo) -> bool:
    """A NodeSelectorTerm: all matchExpressions on labels and matchFields on metadata.name."""
    expressions = list(term.get("matchExpressions") or ())
    fields = list(term.get("matchFields") or ())
    if not expressions and not fields:
        return False
    for field in fields:
        # upstream accepts only metadata.name with In/NotIn in matchFields
        if field.get("key") != _NAME_FIELD or field.get("operator") not in ("In", "NotIn"):
            return False
    labels = node_info.labels
    field_values = {_NAME_FIELD: node_info.name}
    return (all(requirement_matches(r, labels) for r in expressions)
            and all(requirement_matches(f, field_values) for f in fields))


def _node_affinity(pod: JSON) -> JSON:
    return ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


def _required_terms(pod: JSON) -> list[JSON] | None:
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    return list(required.get("nodeSelectorTerms") or ())


def fits(pod: JSON, node_info: NodeInfo) -> bool:
    """Upstream RequiredNodeAffinity.Match: nodeSelector and the required terms."""
    selector: Mapping[str, str] = (pod.get("spec") or {}).get("nodeSelector") or {}
    labels = node_info.labels
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    terms = _required_terms(pod)
    if terms is None:
        return True
    return any(term_matches(term, node_info) for term in terms)


def _pinned_node_names(terms: Sequence[JSON]) -> frozenset[str] | None:
    """Node names the required terms allow when each pins metadata.name In (upstream
    getPodNodeNames); None when some term does not, so every node has to be filtered."""
    names: set[str] = set()
    for term in terms:
        pinned: set[str] | None = None
        for field in term.get("matchFields") or ():
            if field.get("key") == _NAME_FIELD and field.get("operator") == "In":
                values = set(field.get("values") or ())
                pinned = values if pinned is None else pinned & values
        if pinned is None:
            return None
        names |= pinned
    return frozenset(names)


class NodeAffinity:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        terms = _required_terms(pod)
        if terms is None and not (pod.get("spec") or {}).get("nodeSelector"):
            return None, Status.of(Code.SKIP)
        if not terms:
            return None, None
        names = _pinned_node_names(terms)
        if names is None:
            return None, None
        if not names:
            return None, Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_CONFLICT)
        return PreFilterResult(node_names=names), None

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        if fits(pod, node_info):
            return None
        return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_POD)

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        preferred = list(_node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or ())
        if not preferred:
            return Status.of(Code.SKIP)
        state.write(_PRE_SCORE_KEY, preferred)
        return None

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        preferred = state.read(_PRE_SCORE_KEY, list)
        if preferred is None:
            return [], missing_state(NAME, _PRE_SCORE_KEY)
        return [sum(int(term.get("weight") or 0) for term in preferred
                    if term_matches(term.get("preference") or {}, info))
                for info in nodes], None

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None:
        default_normalize_score(scores=scores, reverse=False)
        return None


def new(args: Mapping[str, Any]) -> NodeAffinity:
    return NodeAffinity()
