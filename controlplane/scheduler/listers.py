"""What plugins read besides Nodes and Pods: Services, controllers and Namespaces, from informers.

Upstream plugins get listers from the scheduler's shared informer factory (framework.Handle's
SharedInformerFactory): PodTopologySpread's default constraints need the Services and the
ReplicaSet/StatefulSet/ReplicationController that select a pod (upstream helper.DefaultSelector), and
InterPodAffinity's ``namespaceSelector`` needs Namespace labels. ``ClusterListers`` starts one informer
per resource on the scheduler's factory and answers from their stores; the Handle carries its two
methods, so plugins never see the client.

ReplicationControllers are not listed: kubelite's API server does not serve them (an informer on a
resource the server lacks would never sync and would hold the scheduler at start), so the lookup of a
pod's controlling ReplicationController finds nothing, as for an RC that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kubelite.client import NAMESPACE_INDEX, Informer, SharedInformerFactory

# plural -> (group, version, namespaced)
LISTED: Final[Mapping[str, tuple[str, str, bool]]] = {
    "services": ("", "v1", True),
    "replicasets": ("apps", "v1", True),
    "statefulsets": ("apps", "v1", True),
    "namespaces": ("", "v1", False),
}


class ClusterListers:
    """Informer-backed ``list_objects(resource, namespace)`` and ``get_object(resource, namespace, name)``."""

    def __init__(self, informers: SharedInformerFactory) -> None:
        self._informers: dict[str, Informer] = {
            plural: informers.for_resource(group, version, plural, namespaced=namespaced)
            for plural, (group, version, namespaced) in LISTED.items()}

    def list_objects(self, resource: str, namespace: str) -> Sequence[Mapping[str, Any]]:
        """Objects of ``resource`` in ``namespace`` ("" for every namespace, or a cluster-scoped kind)."""
        informer = self._informers.get(resource)
        if informer is None:
            return []
        if namespace and LISTED[resource][2]:
            return informer.store.by_index(NAMESPACE_INDEX, namespace)
        return informer.store.list()

    def get_object(self, resource: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        informer = self._informers.get(resource)
        if informer is None:
            return None
        return informer.store.get_by_name(name, namespace=namespace or None)
