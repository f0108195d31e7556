"""NodeUnschedulable (upstream nodeunschedulable): cordoned nodes (``spec.unschedulable``) take only
pods that tolerate the ``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.controlplane.scheduler.framework import Code, CycleState, Status
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.plugins.taint_toleration import pod_tolerations, tolerated
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel

NAME = "NodeUnschedulable"
ERR_REASON = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
_UNSCHEDULABLE_TAINT: JSON = {"key": TAINT_NODE_UNSCHEDULABLE, "effect": "NoSchedule"}


def fits(pod: JSON, node_info: NodeInfo) -> bool:
    if not bool((node_info.node.get("spec") or {}).get("unschedulable")):
        return True
    return tolerated(_UNSCHEDULABLE_TAINT, pod_tolerations(pod))


class NodeUnschedulable:
    name = NAME

    def filter_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, mask: bytearray,
                     kernel: Kernel) -> bool:
        # a cordoned node is one of the snapshot's blocked slots: only those need a look
        for slot in snapshot.blocked_slots:
            if mask[slot] and not fits(pod, snapshot.infos[slot]):
                mask[slot] = 0
        return True

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        if fits(pod, node_info):
            return None
        return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)


def new(args: Mapping[str, Any]) -> NodeUnschedulable:
    return NodeUnschedulable()
