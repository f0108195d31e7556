"""NodeRestriction: a node may create only mirror pods bound to itself, and change only its own Node,
never its taints nor labels outside the kubelet's set.

Design
------
Upstream's ``plugin/pkg/admission/noderestriction`` for a ``system:node:<name>`` user (the Node
authorizer already limits which objects a node may touch at all):

* Pods: created only with the ``kubernetes.io/config.mirror`` annotation, ``spec.nodeName`` equal to
  itself, at most one owner (its own Node, by uid, as controller) and no ServiceAccount, Secret, ConfigMap
  or PVC references; a status update only of a pod bound to itself; no other pod update.
* Nodes: only the one named after itself; at creation no label it may not set, on an update (any
  subresource) no change to ``spec.taints`` (it could steer workloads to itself by dropping one) and no
  added, changed or removed label it may not set.

Labels a node may not set (``getForbiddenLabels``): anything under ``node-restriction.kubernetes.io/``
(reserved for admins to mark nodes for isolation), and any other ``kubernetes.io``/``k8s.io`` label that
is not one of the kubelet's own (``kubernetes.io/hostname``, ``os``, ``arch``, instance type, topology
and failure-domain zone/region) or under the ``kubelet.kubernetes.io``/``node.kubernetes.io`` namespaces.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.controlplane.admission.chain import CREATE, DELETE, AdmissionDenied, AdmissionRequest
from kubelite.controlplane.auth.node_authorizer import node_name, pod_references

Obj = dict[str, Any]

KUBELET_LABELS: Final = frozenset({
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
    "beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch"})
KUBELET_LABEL_NAMESPACES: Final = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_RESTRICTION_NAMESPACE: Final = "node-restriction.kubernetes.io"


def _in_namespace(key: str, namespace: str) -> bool:
    prefix = key.partition("/")[0] if "/" in key else ""
    return prefix == namespace or prefix.endswith("." + namespace)


def is_kubelet_label(key: str) -> bool:
    return key in KUBELET_LABELS or any(_in_namespace(key, ns) for ns in KUBELET_LABEL_NAMESPACES)


def forbidden_labels(keys: set[str]) -> list[str]:
    """The labels of ``keys`` a node may not set on itself, sorted (upstream's getForbiddenLabels)."""
    return sorted(k for k in keys if _in_namespace(k, NODE_RESTRICTION_NAMESPACE) or (
        (_in_namespace(k, "kubernetes.io") or _in_namespace(k, "k8s.io")) and not is_kubelet_label(k)))


def modified_labels(new: dict[str, str], old: dict[str, str]) -> set[str]:
    """Keys added, removed or given another value."""
    return {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}


def _labels(obj: Obj | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _admit_node(request: AdmissionRequest, node: str) -> None:
    name = request.name if request.operation == CREATE else str(request.obj["metadata"].get("name", ""))
    if name != node:
        raise AdmissionDenied(f'node "{node}" is not allowed to modify node "{name}"')
    if request.operation == DELETE:
        return
    if request.operation == CREATE:
        forbidden = forbidden_labels(set(_labels(request.obj)))
        if forbidden:
            raise AdmissionDenied(f'node "{node}" is not allowed to set the following labels: {", ".join(forbidden)}')
        return
    old = request.old_obj or {}
    if ((request.obj.get("spec") or {}).get("taints") or []) != ((old.get("spec") or {}).get("taints") or []):
        raise AdmissionDenied(f'node "{node}" is not allowed to modify taints')
    forbidden = forbidden_labels(modified_labels(_labels(request.obj), _labels(old)))
    if forbidden:
        raise AdmissionDenied(f'node "{node}" is not allowed to modify labels: {", ".join(forbidden)}')


async def _admit_pod(request: AdmissionRequest, node: str) -> None:
    pod = request.obj
    if request.operation == DELETE:
        return  # which pods a node may delete (those bound to it) is the Node authorizer's answer
    if request.operation != CREATE:
        if request.subresource == "status":
            old_node = ((request.old_obj or {}).get("spec") or {}).get("nodeName")
            if old_node != node:
                raise AdmissionDenied(f'node "{node}" can only update pod status for pods with spec.nodeName set '
                                      "to itself")
            return
        if request.subresource == "":
            raise AdmissionDenied(f'unexpected operation "UPDATE", node "{node}" can only create and delete mirror '
                                  "pods")
        return
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if "kubernetes.io/config.mirror" not in annotations:
        raise AdmissionDenied(f'pod does not have "kubernetes.io/config.mirror" annotation, node "{node}" can '
                              "only create mirror pods")
    if (pod.get("spec") or {}).get("nodeName") != node:
        raise AdmissionDenied(f'node "{node}" can only create pods with spec.nodeName set to itself')
    await _check_owner(request, node)
    # a mirror pod may reference no other API object: its node could read them through it
    kinds = {kind for kind, _ in pod_references(pod)}
    if "serviceaccounts" in kinds:
        raise AdmissionDenied(f'node "{node}" can not create pods that reference a service account')
    for kind in ("secrets", "configmaps", "persistentvolumeclaims"):
        if kind in kinds:
            raise AdmissionDenied(f'node "{node}" can not create pods that reference {kind}')


async def _check_owner(request: AdmissionRequest, node: str) -> None:
    """A mirror pod's only owner may be its Node, as a controller, without blockOwnerDeletion."""
    owners = (request.obj.get("metadata") or {}).get("ownerReferences") or []
    if len(owners) > 1:
        raise AdmissionDenied(f'node "{node}" can only create pods with a single owner reference set to itself')
    if not owners:
        return
    owner = owners[0]
    if owner.get("apiVersion") != "v1" or owner.get("kind") != "Node" or owner.get("name") != node:
        raise AdmissionDenied(f'node "{node}" can only create pods with an owner reference set to itself')
    if owner.get("controller") is not True:
        raise AdmissionDenied(f'node "{node}" can only create pods with a controller owner reference set to itself')
    if owner.get("blockOwnerDeletion") is True:
        raise AdmissionDenied(f'node "{node}" must not set blockOwnerDeletion on an owner reference')
    stored = await request.get_object(f"/core/nodes/{node}")
    uid = ((stored or {}).get("metadata") or {}).get("uid")
    if uid != owner.get("uid"):
        raise AdmissionDenied(f"node {node} UID mismatch: expected {owner.get('uid')} got {uid}")


async def admit(request: AdmissionRequest) -> None:
    if request.user is None or request.group != "":
        return
    node = node_name(request.user)
    if node is None:
        return
    if request.resource == "nodes":
        _admit_node(request, node)
    elif request.resource == "pods":
        await _admit_pod(request, node)
