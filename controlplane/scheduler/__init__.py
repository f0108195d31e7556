"""The scheduler framework (extension points, cycle) and its in-tree plugins; pure code, no API I/O."""

from kubelite.controlplane.scheduler.framework import (
    Code,
    CycleState,
    ExtensionPoint,
    FitError,
    Framework,
    Profile,
    ProfileError,
    ScheduleFailure,
    ScheduleResult,
    Status,
)
from kubelite.controlplane.scheduler.nodeinfo import NodeInfo, build_node_infos, pod_requests
from kubelite.controlplane.scheduler.plugins import default_profile, in_tree_registry

__all__ = [
    "Code",
    "CycleState",
    "ExtensionPoint",
    "FitError",
    "Framework",
    "NodeInfo",
    "Profile",
    "ProfileError",
    "ScheduleFailure",
    "ScheduleResult",
    "Status",
    "build_node_infos",
    "default_profile",
    "in_tree_registry",
    "pod_requests",
]
