"""Pod networking on a node: see pod_network.py (CNI, conflist, routes) and network_policy.py."""

from kubelite.agent.network.pod_network import (
    BRIDGE,
    CONFLIST_NAME,
    VXLAN_DEVICE,
    PodNetwork,
    RouteReconciler,
    build_conflist,
    node_ip,
    peers_of,
    pod_cidr,
    run_pod_network,
    vtep_mac,
    write_conflist,
)

__all__ = [
    "BRIDGE",
    "CONFLIST_NAME",
    "VXLAN_DEVICE",
    "PodNetwork",
    "RouteReconciler",
    "build_conflist",
    "node_ip",
    "peers_of",
    "pod_cidr",
    "run_pod_network",
    "vtep_mac",
    "write_conflist",
]
