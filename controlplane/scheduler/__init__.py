"""kube-scheduler for kubelite: the framework (extension points, cycle) and in-tree plugins, plus the
queue, cache and process (``scheduler.py``) that talk to the API server.

The framework runs without a server (tests and the benchmark use it alone); only DefaultBinder and
DefaultPreemption reach the API, through the ``Handle`` the scheduler gives them.
"""

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
