"""The Node authorizer: a kubelet may touch only what its own pods need (upstream's node authorizer).

Design
------
A node authenticates as ``system:node:<name>`` in ``system:nodes``. For the objects that hold other
workloads' secrets (Secrets, ConfigMaps, PersistentVolumeClaims, PersistentVolumes, ServiceAccount
tokens) a read is allowed only when a pod bound to that node (``spec.nodeName``) references the object;
upstream keeps a graph, kubelite walks the pods of the watch cache on demand (the pods of one namespace,
or of the node, which is what a kubelet asks about). Everything else a node does is checked against
upstream's ``system:node`` rules, with NodeRestriction's identity checks folded in: a node may change
only its own Node object and status, its own Lease in ``kube-node-lease``, and the status of pods
bound to it. The agent's service proxy and network policy controller share the node's identity, so their
reads (Services, EndpointSlices, NetworkPolicies, Namespaces) are allowed too. Outside these rules it
has no opinion, so RBAC may still grant more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from kubelite.controlplane.auth.authentication import NODES, UserInfo
from kubelite.controlplane.auth.authorization import Attributes, Decision
from kubelite.controlplane.auth.bootstrap_policy import CLUSTER_ROLES
from kubelite.controlplane.auth.rbac import GRANTS_REMEMBERED, Grant, grant_allows, rules_grant

_UNKNOWN: Final[Any] = object()  # no grant remembered yet (None is a grant: ANY_NAME)

Obj = dict[str, Any]

NODE_PREFIX: Final = "system:node:"
GRAPH_RESOURCES: Final = frozenset({"secrets", "configmaps", "persistentvolumeclaims", "persistentvolumes"})
# upstream's system:node rules, plus what the other components of a kubelite agent read with the same
# node identity (k3s gives its kube-proxy a separate certificate; kubelite's agent has one): the service
# proxy's Services/EndpointSlices, and the network policy controller's NetworkPolicies and Namespaces
AGENT_RULES: Final = [
    {"verbs": ["get", "list", "watch"], "apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]},
    {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["endpoints", "namespaces"]},
    {"verbs": ["get", "list", "watch"], "apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"]},
]
NODE_RULES: Final = [*next(r["rules"] for r in CLUSTER_ROLES if r["name"] == "system:node"), *AGENT_RULES]


def node_name(user: UserInfo) -> str | None:
    """The node a user is, or None (upstream's NodeIdentifier)."""
    if NODES not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    name = user.name[len(NODE_PREFIX):]
    return name or None


def pod_references(pod: Obj) -> set[tuple[str, str]]:
    """(resource, name) of every Secret, ConfigMap, PVC and ServiceAccount a pod uses."""
    spec = pod.get("spec") or {}
    refs: set[tuple[str, str]] = set()
    for secret in spec.get("imagePullSecrets") or []:
        if isinstance(secret, dict) and secret.get("name"):
            refs.add(("secrets", secret["name"]))
    if spec.get("serviceAccountName"):
        refs.add(("serviceaccounts", spec["serviceAccountName"]))
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, dict):
            continue
        if (volume.get("secret") or {}).get("secretName"):
            refs.add(("secrets", volume["secret"]["secretName"]))
        if (volume.get("configMap") or {}).get("name"):
            refs.add(("configmaps", volume["configMap"]["name"]))
        if (volume.get("persistentVolumeClaim") or {}).get("claimName"):
            refs.add(("persistentvolumeclaims", volume["persistentVolumeClaim"]["claimName"]))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                refs.add(("secrets", source["secret"]["name"]))
            if (source.get("configMap") or {}).get("name"):
                refs.add(("configmaps", source["configMap"]["name"]))
        for kind in ("cephfs", "rbd", "iscsi", "azureFile", "flexVolume", "csi", "scaleIO", "storageos"):
            ref = (volume.get(kind) or {}).get("secretRef") or {}
            if ref.get("name"):
                refs.add(("secrets", ref["name"]))
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or []),
                  *(spec.get("ephemeralContainers") or [])]
    for container in containers:
        for source in container.get("envFrom") or []:
            if (source.get("secretRef") or {}).get("name"):
                refs.add(("secrets", source["secretRef"]["name"]))
            if (source.get("configMapRef") or {}).get("name"):
                refs.add(("configmaps", source["configMapRef"]["name"]))
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            if (value_from.get("secretKeyRef") or {}).get("name"):
                refs.add(("secrets", value_from["secretKeyRef"]["name"]))
            if (value_from.get("configMapKeyRef") or {}).get("name"):
                refs.add(("configmaps", value_from["configMapKeyRef"]["name"]))
    return refs


class NodeAuthorizer:
    """``list_objects(key_prefix)`` returns cached objects under a storage key prefix."""

    def __init__(self, list_objects: Callable[[str, str], list[Obj]],
                 get_object: Callable[[str, str], Obj | None] | None = None) -> None:
        self.list_objects = list_objects
        # (storage prefix, key) -> the cached object: a kubelet's pod status update looks up one pod, which
        # listing (and sorting) its whole namespace would cost as much as the namespace has pods
        self.get_object = get_object
        self._grants: dict[tuple[str, str, str, str], Grant] = {}

    def _pod(self, namespace: str, name: str) -> Obj | None:
        if self.get_object is not None:  # a pod's key is its namespace and name
            return self.get_object("/core/pods/", f"/core/pods/{namespace}/{name}")
        return next((p for p in self.list_objects("/core/pods/", f"/core/pods/{namespace}/")
                     if p["metadata"].get("name") == name), None)

    def _pods_on(self, node: str, namespace: str) -> Iterable[Obj]:
        prefix = f"/core/pods/{namespace}/" if namespace else "/core/pods/"
        return (p for p in self.list_objects("/core/pods/", prefix) if (p.get("spec") or {}).get("nodeName") == node)

    def _related(self, node: str, attributes: Attributes) -> bool:
        if attributes.resource == "persistentvolumes":
            claims = {(p["metadata"].get("namespace"), name) for p in self._pods_on(node, "")
                      for kind, name in pod_references(p) if kind == "persistentvolumeclaims"}
            for claim in self.list_objects("/core/persistentvolumeclaims/", "/core/persistentvolumeclaims/"):
                md = claim["metadata"]
                if (md.get("namespace"), md.get("name")) in claims and \
                        (claim.get("spec") or {}).get("volumeName") == attributes.name:
                    return True
            return False
        wanted = (attributes.resource, attributes.name)
        return any(wanted in pod_references(p) for p in self._pods_on(node, attributes.namespace))

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        node = node_name(attributes.user)
        if node is None or not attributes.resource_request:
            return Decision.NO_OPINION, ""
        resource, verb, name = attributes.resource, attributes.verb, attributes.name
        if attributes.api_group == "" and resource in GRAPH_RESOURCES and not attributes.subresource:
            if verb not in ("get", "list", "watch") or not name:
                return Decision.NO_OPINION, "can only read individual resources of this type"
            if self._related(node, attributes):
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"
        if attributes.api_group == "" and resource == "serviceaccounts" and attributes.subresource == "token":
            if verb == "create" and self._related(node, Attributes(attributes.user, "get", True,
                                                                     namespace=attributes.namespace,
                                                                     resource="serviceaccounts", name=name)):
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"
        if attributes.api_group == "" and resource == "nodes" and verb in ("update", "patch", "delete"):
            if name != node:
                return Decision.NO_OPINION, f"node '{node}' cannot modify node '{name}'"
        if attributes.api_group == "" and resource == "pods" and (
                attributes.subresource == "status" or verb == "delete") and verb in ("update", "patch", "delete"):
            pod = self._pod(attributes.namespace, name)
            # a pod that is gone is the handler's 404, as upstream (a kubelet retrying a delete must learn it)
            if pod is not None and (pod.get("spec") or {}).get("nodeName") != node:
                return Decision.NO_OPINION, f"node '{node}' can only update pods bound to it"
        if attributes.api_group == "coordination.k8s.io" and resource == "leases" and verb not in (
                "create", "list", "watch"):
            if attributes.namespace != "kube-node-lease" or name != node:
                return Decision.NO_OPINION, f"node '{node}' can only access its own lease"
        # NODE_RULES never change, so what they grant to a request (its name aside) is remembered for good
        key = (verb, attributes.api_group, resource, attributes.subresource)
        grant = self._grants.get(key, _UNKNOWN)
        if grant is _UNKNOWN:
            grant = rules_grant(NODE_RULES, attributes)
            if len(self._grants) >= GRANTS_REMEMBERED:
                self._grants.clear()
            self._grants[key] = grant
        if grant_allows(grant, name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Obj], list[Obj]]:
        if node_name(user) is None:
            return [], []
        return [dict(r) for r in NODE_RULES if r.get("resources")], []
