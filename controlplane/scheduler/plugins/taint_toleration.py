"""TaintToleration (upstream tainttoleration): taints repel pods that do not tolerate them.

Filter: the first NoSchedule/NoExecute taint the pod does not tolerate rejects the node, with
upstream's reason "node(s) had untolerated taint {key: value}". Score: the number of PreferNoSchedule
taints the pod does not tolerate (counting only tolerations with effect PreferNoSchedule or empty),
normalized reversed so that the node with the fewest gets 100.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import (
    Code,
    CycleState,
    Status,
    default_normalize_score,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel

NAME = "TaintToleration"
_STATE_KEY = f"PreScore{NAME}"


def tolerates_taint(toleration: JSON, taint: JSON) -> bool:
    """Upstream Toleration.ToleratesTaint: empty effect matches every effect, empty key with
    operator Exists matches every key; Equal (the default) compares values."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(taint: JSON, tolerations: Iterable[JSON]) -> bool:
    return any(tolerates_taint(t, taint) for t in tolerations)


def pod_tolerations(pod: JSON) -> list[JSON]:
    return list((pod.get("spec") or {}).get("tolerations") or ())


def node_taints(node_info: NodeInfo) -> list[JSON]:
    return list((node_info.node.get("spec") or {}).get("taints") or ())


def first_untolerated(taints: Iterable[JSON], tolerations: Sequence[JSON], *, effects: set[str]) -> JSON | None:
    """The first taint with one of ``effects`` that no toleration tolerates (upstream
    FindMatchingUntoleratedTaint)."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(taint, tolerations):
            return taint
    return None


class TaintToleration:
    name = NAME

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        taint = first_untolerated(node_taints(node_info), pod_tolerations(pod), effects={"NoSchedule", "NoExecute"})
        if taint is None:
            return None
        return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                         f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}")

    def filter_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, mask: bytearray,
                     kernel: Kernel) -> bool:
        # only nodes with NoSchedule/NoExecute taints (the snapshot's blocked slots) can reject a pod
        for slot in snapshot.blocked_slots:
            if mask[slot] and self.filter(state=state, pod=pod, node_info=snapshot.infos[slot]) is not None:
                mask[slot] = 0
        return True

    def score_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, idx: array[int], count: int,
                    kernel: Kernel) -> array[int] | None:
        prefer = state.read(_STATE_KEY, list)
        if prefer is None:
            return None
        # untolerated PreferNoSchedule taints per slot: only the snapshot's prefer slots have any
        per_slot = array("q", bytes(8 * len(snapshot)))
        for slot in snapshot.prefer_slots:
            per_slot[slot] = sum(1 for taint in node_taints(snapshot.infos[slot])
                                 if taint.get("effect") == "PreferNoSchedule" and not tolerated(taint, prefer))
        out = array("q", bytes(8 * count))
        kernel.gather(per_slot, idx, count, out)
        kernel.normalize(out, count, True)
        return out

    def pre_score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> Status | None:
        prefer = [t for t in pod_tolerations(pod) if (t.get("effect") or "") in ("", "PreferNoSchedule")]
        state.write(_STATE_KEY, prefer)
        return None

    def score(self, *, state: CycleState, pod: JSON, nodes: Sequence[NodeInfo]) -> tuple[list[int], Status | None]:
        prefer = state.read(_STATE_KEY, list)
        if prefer is None:
            return [], missing_state(NAME, _STATE_KEY)
        return [sum(1 for taint in node_taints(info)
                    if taint.get("effect") == "PreferNoSchedule" and not tolerated(taint, prefer))
                for info in nodes], None

    def normalize_score(self, *, state: CycleState, pod: JSON, scores: list[int]) -> Status | None:
        default_normalize_score(scores=scores, reverse=True)
        return None


def new(args: Mapping[str, Any]) -> TaintToleration:
    return TaintToleration()
