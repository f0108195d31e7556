"""The in-tree plugin registry and the default profile built from it.

The default profile enables the plugins we have at the extension points and in the order of
upstream's default KubeSchedulerConfiguration, with upstream's score weights (TaintToleration 3,
NodeAffinity 2, the resource scorers 1); DefaultBinder binds. Plugins that talk to the API or read
the whole cluster get the scheduler's ``Handle``.
"""

from __future__ import annotations

from kubelite.controlplane.scheduler.framework import ExtensionPoint, Handle, PluginFactory, Profile
from kubelite.controlplane.scheduler.plugins import (
    balanced_allocation,
    default_binder,
    default_preemption,
    image_locality,
    inter_pod_affinity,
    node_affinity,
    node_label,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    taint_toleration,
)


def in_tree_registry(handle: Handle | None = None) -> dict[str, PluginFactory]:
    """Plugin name -> factory for every plugin in this package."""
    handle = handle if handle is not None else Handle()
    return {
        default_binder.NAME: default_binder.factory(handle),
        default_preemption.NAME: default_preemption.factory(handle),
        node_name.NAME: node_name.new,
        node_label.NAME: node_label.new,
        image_locality.NAME: image_locality.new,
        pod_topology_spread.NAME: pod_topology_spread.factory(handle),
        inter_pod_affinity.NAME: inter_pod_affinity.factory(handle),
        node_unschedulable.NAME: node_unschedulable.new,
        taint_toleration.NAME: taint_toleration.new,
        node_affinity.NAME: node_affinity.new,
        node_ports.NAME: node_ports.new,
        node_resources_fit.NAME: node_resources_fit.new,
        balanced_allocation.NAME: balanced_allocation.new,
    }


def default_profile(*, scheduler_name: str = "default-scheduler") -> Profile:
    """Upstream's default profile, restricted to the plugins in this package."""
    return Profile(
        scheduler_name=scheduler_name,
        plugins={
            ExtensionPoint.PRE_FILTER: [node_affinity.NAME, node_ports.NAME, node_resources_fit.NAME,
                                        pod_topology_spread.NAME, inter_pod_affinity.NAME],
            ExtensionPoint.FILTER: [node_unschedulable.NAME, node_name.NAME, taint_toleration.NAME,
                                    node_affinity.NAME, node_ports.NAME, node_resources_fit.NAME,
                                    pod_topology_spread.NAME, inter_pod_affinity.NAME],
            ExtensionPoint.POST_FILTER: [default_preemption.NAME],
            ExtensionPoint.PRE_SCORE: [taint_toleration.NAME, node_affinity.NAME, node_resources_fit.NAME,
                                       pod_topology_spread.NAME, inter_pod_affinity.NAME,
                                       balanced_allocation.NAME, image_locality.NAME],
            ExtensionPoint.SCORE: [taint_toleration.NAME, node_affinity.NAME, node_resources_fit.NAME,
                                   pod_topology_spread.NAME, inter_pod_affinity.NAME,
                                   balanced_allocation.NAME, image_locality.NAME],
            ExtensionPoint.BIND: [default_binder.NAME],
        },
        score_weights={taint_toleration.NAME: 3, node_affinity.NAME: 2, node_resources_fit.NAME: 1,
                       pod_topology_spread.NAME: 2, inter_pod_affinity.NAME: 2, balanced_allocation.NAME: 1,
                       image_locality.NAME: 1},
    )
