"""NodeName: a pod that names its node (``spec.nodeName``) fits only there (upstream nodename)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.controlplane.scheduler.framework import Code, CycleState, Status
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot
from kubelite.native.scoring import Kernel

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: JSON, node_info: NodeInfo) -> bool:
    wanted = (pod.get("spec") or {}).get("nodeName")
    return not wanted or wanted == node_info.name


class NodeName:
    name = NAME

    def filter_batch(self, *, state: CycleState, pod: JSON, snapshot: Snapshot, mask: bytearray,
                     kernel: Kernel) -> bool:
        # the scheduler only sees pods without spec.nodeName, which every node accepts
        return not (pod.get("spec") or {}).get("nodeName")

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        if fits(pod, node_info):
            return None
        return Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)


def new(args: Mapping[str, Any]) -> NodeName:
    return NodeName()
