"""NodeLabel (upstream nodelabel, the seeds' CalculateNodeLabelPriority): prefer or avoid nodes by
label, and optionally require or forbid labels, from configuration (NodeLabelArgs).

Args: ``presentLabels`` / ``absentLabels`` (Filter: the node must have every present label and none
of the absent ones: "node(s) didn't have the requested labels"), ``presentLabelsPreference`` /
``absentLabelsPreference`` (Score: 100 per preferred label present or avoided label absent, averaged
over the preferences, as upstream). A label may not be both present and absent in one pair of lists.
The plugin is not in the default profile: enable it in a KubeSchedulerConfiguration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import MAX_NODE_SCORE, Code, CycleState, ProfileError, Status
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo

NAME = "NodeLabel"
ERR_REASON = "node(s) didn't have the requested labels"
_ARG_KEYS = ("presentLabels", "absentLabels", "presentLabelsPreference", "absentLabelsPreference")


def _labels(args: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ProfileError(f"{key}: must be a list of label names, got {value!r}")
    return tuple(value)


class NodeLabel:
    name = NAME

    def __init__(self, *, present: Sequence[str], absent: Sequence[str], prefer_present: Sequence[str],
                 prefer_absent: Sequence[str]) -> None:
        self._present, self._absent = tuple(present), tuple(absent)
        self._prefer_present, self._prefer_absent = tuple(prefer_present), tuple(prefer_absent)

    def fits(self, node_info: NodeInfo) -> bool:
        labels = node_info.labels
        return all(k in labels for k in self._present) and not any(k in labels for k in self._absent)

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        if self.fits(node_info):
            return None
        return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        size = len(self._prefer_present) + len(self._prefer_absent)
        if size == 0:
            return [0] * len(nodes), None
        scores = []
        for info in nodes:
            labels = info.labels
            score = sum(MAX_NODE_SCORE for k in self._prefer_present if k in labels)
            score += sum(MAX_NODE_SCORE for k in self._prefer_absent if k not in labels)
            scores.append(score // size)
        return scores, None


def new(args: Mapping[str, Any]) -> NodeLabel:
    unknown = sorted(set(args) - set(_ARG_KEYS))
    if unknown:
        raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_ARG_KEYS)}")
    present, absent = _labels(args, "presentLabels"), _labels(args, "absentLabels")
    prefer_present, prefer_absent = _labels(args, "presentLabelsPreference"), _labels(args, "absentLabelsPreference")
    for a, b, what in ((present, absent, "presentLabels/absentLabels"),
                       (prefer_present, prefer_absent, "presentLabelsPreference/absentLabelsPreference")):
        both = sorted(set(a) & set(b))
        if both:
            raise ProfileError(f"{what}: label {both[0]!r} is in both the present and the absent list")
    return NodeLabel(present=present, absent=absent, prefer_present=prefer_present, prefer_absent=prefer_absent)
