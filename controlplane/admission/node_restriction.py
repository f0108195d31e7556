"""NodeRestriction: a node may create only mirror pods bound to itself and only its own Node.

Design
------
Upstream's ``plugin/pkg/admission/noderestriction`` for creates (the Node authorizer already limits
updates to the node's own objects): a ``system:node:<name>`` user may create a Pod only with the
``kubernetes.io/config.mirror`` annotation, ``spec.nodeName`` equal to itself and no ServiceAccount,
Secret, ConfigMap or PVC references; and a Node only named after itself.
"""

from __future__ import annotations

from kubelite.controlplane.admission.chain import AdmissionDenied, AdmissionRequest
from kubelite.controlplane.auth.node_authorizer import node_name, pod_references


async def admit(request: AdmissionRequest) -> None:
    if request.user is None or request.group != "":
        return
    node = node_name(request.user)
    if node is None:
        return
    if request.resource == "nodes":
        if request.name != node:
            raise AdmissionDenied(f'node "{node}" is not allowed to modify node "{request.name}"')
    elif request.resource == "pods":
        pod = request.obj
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        if "kubernetes.io/config.mirror" not in annotations:
            raise AdmissionDenied(f'pod does not have "kubernetes.io/config.mirror" annotation, node "{node}" can '
                                  "only create mirror pods")
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise AdmissionDenied(f'node "{node}" can only create pods with spec.nodeName set to itself')
        if pod_references(pod):
            raise AdmissionDenied(f'node "{node}" can not create pods that reference secrets, configmaps, '
                                  "persistentvolumeclaims or service accounts")
