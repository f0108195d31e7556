"""NodePorts (upstream nodeports): a pod asking for host ports fits only where they are free.

PreFilter collects the pod's host ports once (and Skips the Filter when there are none); Filter
checks them against the ports the node's pods use, with upstream's conflict rule (same protocol and
port, same address or either bound to 0.0.0.0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubelite.controlplane.scheduler.framework import (
    Code,
    CycleState,
    PreFilterResult,
    Status,
    missing_state,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, HostPort, NodeInfo, pod_host_ports

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"
_STATE_KEY = f"PreFilter{NAME}"


def fits(wanted: Sequence[HostPort], node_info: NodeInfo) -> bool:
    return not any(w.conflicts(used) for w in wanted for used in node_info.used_ports)


class NodePorts:
    name = NAME

    def pre_filter(self, *, state: CycleState, pod: JSON) -> tuple[PreFilterResult | None, Status | None]:
        ports = pod_host_ports(pod)
        if not ports:
            return None, Status.of(Code.SKIP)
        state.write(_STATE_KEY, ports)
        return None, None

    def filter(self, *, state: CycleState, pod: JSON, node_info: NodeInfo) -> Status | None:
        wanted = state.read(_STATE_KEY, list)
        if wanted is None:
            return missing_state(NAME, _STATE_KEY)
        if fits(wanted, node_info):
            return None
        return Status.of(Code.UNSCHEDULABLE, ERR_REASON)


def new(args: Mapping[str, Any]) -> NodePorts:
    return NodePorts()
