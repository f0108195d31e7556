"""The default RBAC policy every cluster starts with (upstream's ``rbac/bootstrappolicy``).

Design
------
Upstream's roles and bindings, written as data: ``cluster-admin``; the user-facing ``admin``,
``edit`` and ``view`` built by aggregation from ``system:aggregate-to-*`` (so a CRD's roles labelled
``rbac.authorization.k8s.io/aggregate-to-view: "true"`` join ``view``); discovery, basic-user and
public-info roles bound to everyone; the component roles (``system:node``, ``system:kube-scheduler``,
``system:kube-controller-manager``, ``system:node-proxier``, ``system:node-bootstrapper``,
``system:certificates.k8s.io:certificatesigningrequests:nodeclient`` ...) and their bindings.

Like upstream's ``ensure-rbac-bootstrap-roles`` post-start hook, :func:`ensure_policy` creates what is
missing and puts back lost permissions on roles and bindings that carry
``rbac.authorization.kubernetes.io/autoupdate: "true"``; an operator who set it to ``"false"`` keeps
their edits. kubelite's additions (join tokens may request node certificates, which are auto-approved)
are the bindings kubeadm creates for the same purpose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

Obj = dict[str, Any]
Rule = dict[str, Any]

RW: Final = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
READ: Final = ["get", "list", "watch"]
WRITE: Final = ["create", "delete", "deletecollection", "patch", "update"]
LABELS: Final = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE: Final = "rbac.authorization.kubernetes.io/autoupdate"
AGG: Final = "rbac.authorization.k8s.io/aggregate-to-"


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> Rule:
    out: Rule = {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}
    if names:
        out["resourceNames"] = names
    return out


def url_rule(verbs: list[str], urls: list[str]) -> Rule:
    return {"verbs": list(verbs), "nonResourceURLs": list(urls)}


EVENTS: Final = rule(["create", "update", "patch"], ["", "events.k8s.io"], ["events"])

_VIEW = [
    rule(READ, [""], ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                      "services", "services/status", "endpoints", "persistentvolumeclaims",
                      "persistentvolumeclaims/status", "configmaps"]),
    rule(READ, [""], ["limitranges", "resourcequotas", "bindings", "events", "replicationcontrollers/status",
                      "pods/log", "pods/status", "resourcequotas/status", "namespaces/status"]),
    rule(READ, [""], ["namespaces"]),
    rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
    rule(READ, ["apps"], ["controllerrevisions", "statefulsets", "statefulsets/scale", "statefulsets/status",
                          "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                          "deployments/status", "replicasets", "replicasets/scale", "replicasets/status"]),
    rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
    rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
    rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                "deployments/status", "ingresses", "ingresses/status", "networkpolicies",
                                "replicasets", "replicasets/scale", "replicasets/status",
                                "replicationcontrollers/scale"]),
    rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
]
_EDIT = [
    rule(["create", "delete", "deletecollection", "patch", "update", "get", "list", "watch"], [""],
         ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    rule(["create"], [""], ["pods/eviction"]),
    rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
    rule(WRITE, [""],
         ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
          "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"]),
    rule(["create"], [""], ["serviceaccounts/token"]),
    rule(["impersonate"], [""], ["serviceaccounts"]),
    rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
                           "replicasets/scale", "statefulsets", "statefulsets/scale"]),
    rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
    rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
    rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                 "ingresses", "networkpolicies", "replicasets", "replicasets/scale",
                                 "replicationcontrollers/scale"]),
    rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
    rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
    rule(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
         ["coordination.k8s.io"], ["leases"]),
]
_ADMIN = [
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    rule(RW, ["rbac.authorization.k8s.io"], ["rolebindings", "roles"]),
]

_NODE = [
    rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
    rule(READ, [""], ["services"]),
    rule(["create", "get", "list", "watch"], [""], ["nodes"]),
    rule(["patch", "update"], [""], ["nodes/status"]),
    rule(["patch", "update"], [""], ["nodes"]),
    rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"]),
    rule(READ, [""], ["pods"]),
    rule(["create", "delete"], [""], ["pods"]),
    rule(["patch", "update"], [""], ["pods/status"]),
    rule(["create"], [""], ["pods/eviction"]),
    rule(["get"], [""], ["configmaps", "secrets"]),
    rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
    rule(["get"], [""], ["endpoints"]),
    rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
    rule(["delete", "get", "update", "create", "patch", "list", "watch"], ["coordination.k8s.io"], ["leases"]),
    rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
    rule(["create"], [""], ["serviceaccounts/token"]),
    rule(["get", "list", "watch"], ["node.k8s.io"], ["runtimeclasses"]),
]

CLUSTER_ROLES: Final[list[Obj]] = [
    {"name": "cluster-admin", "rules": [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])]},
    {"name": "system:discovery", "rules": [url_rule(["get"], [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
        "/version", "/version/"])]},
    {"name": "system:monitoring", "rules": [url_rule(["get"], [
        "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"])]},
    {"name": "system:basic-user", "rules": [
        rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]},
    {"name": "system:public-info-viewer", "rules": [url_rule(["get"], [
        "/healthz", "/livez", "/readyz", "/version", "/version/"])]},
    {"name": "admin", "aggregate": "admin"},
    {"name": "edit", "aggregate": "edit", "labels": {f"{AGG}admin": "true"}},
    {"name": "view", "aggregate": "view", "labels": {f"{AGG}edit": "true"}},
    {"name": "system:aggregate-to-admin", "rules": _ADMIN, "labels": {f"{AGG}admin": "true"}},
    {"name": "system:aggregate-to-edit", "rules": _EDIT, "labels": {f"{AGG}edit": "true"}},
    {"name": "system:aggregate-to-view", "rules": _VIEW, "labels": {f"{AGG}view": "true"}},
    # metrics-server's role for the metrics.k8s.io group the API server serves itself (kubectl top)
    {"name": "system:aggregated-metrics-reader", "rules": [rule(READ, ["metrics.k8s.io"], ["nodes", "pods"])],
     "labels": {f"{AGG}admin": "true", f"{AGG}edit": "true", f"{AGG}view": "true"}},
    {"name": "system:heapster", "rules": [rule(READ, [""], ["events", "namespaces", "nodes", "pods"]),
                                          rule(READ, ["extensions"], ["deployments"])]},
    {"name": "system:node", "rules": _NODE},
    {"name": "system:node-problem-detector", "rules": [
        rule(["get"], [""], ["nodes"]), rule(["patch"], [""], ["nodes/status"]), EVENTS]},
    {"name": "system:kubelet-api-admin", "rules": [
        rule(["get", "list", "watch"], [""], ["nodes"]), rule(["proxy"], [""], ["nodes"]),
        rule(["*"], [""], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"])]},
    {"name": "system:node-bootstrapper", "rules": [
        rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"])]},
    {"name": "system:auth-delegator", "rules": [
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]},
    {"name": "system:kube-aggregator", "rules": [rule(READ, [""], ["endpoints", "services"])]},
    {"name": "system:kube-controller-manager", "rules": [
        EVENTS,
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-controller-manager"]),
        rule(["create"], [""], ["secrets", "serviceaccounts"]),
        rule(["delete"], [""], ["secrets"]),
        rule(["get"], [""], ["configmaps", "namespaces", "secrets", "serviceaccounts"]),
        rule(["update"], [""], ["secrets", "serviceaccounts"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        rule(["list", "watch"], ["*"], ["*"]),
        rule(["create"], [""], ["serviceaccounts/token"])]},
    {"name": "system:kube-scheduler", "rules": [
        EVENTS,
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
        rule(READ, [""], ["nodes"]),
        rule(["delete", "get", "list", "watch"], [""], ["pods"]),
        rule(["create"], [""], ["bindings", "pods/binding"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(READ, ["", "apps"], ["replicationcontrollers", "services"]),
        rule(READ, ["apps", "extensions"], ["replicasets"]),
        rule(READ, ["apps"], ["statefulsets"]),
        rule(READ, ["policy"], ["poddisruptionbudgets"]),
        rule(READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        rule(READ, ["storage.k8s.io"], ["csinodes", "csidrivers", "csistoragecapacities", "storageclasses"]),
        rule(READ, [""], ["namespaces"])]},
    {"name": "system:node-proxier", "rules": [
        rule(["list", "watch"], [""], ["endpoints", "services"]),
        rule(["get", "list", "watch"], [""], ["nodes"]),
        EVENTS,
        rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])]},
    {"name": "system:kube-dns", "rules": [rule(["list", "watch"], [""], ["endpoints", "services"])]},
    {"name": "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "rules": [
        rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/nodeclient"])]},
    {"name": "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "rules": [
        rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"])]},
    {"name": "system:service-account-issuer-discovery", "rules": [
        url_rule(["get"], ["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                           "/openid/v1/jwks", "/openid/v1/jwks/"])]},
]

# (binding name, role name, [(kind, name)])
CLUSTER_ROLE_BINDINGS: Final[list[tuple[str, str, list[tuple[str, str]]]]] = [
    ("cluster-admin", "cluster-admin", [("Group", "system:masters")]),
    ("system:monitoring", "system:monitoring", [("Group", "system:monitoring")]),
    ("system:discovery", "system:discovery", [("Group", "system:authenticated")]),
    ("system:basic-user", "system:basic-user", [("Group", "system:authenticated")]),
    ("system:public-info-viewer", "system:public-info-viewer",
     [("Group", "system:authenticated"), ("Group", "system:unauthenticated")]),
    ("system:node-proxier", "system:node-proxier", [("User", "system:kube-proxy")]),
    ("system:kube-controller-manager", "system:kube-controller-manager",
     [("User", "system:kube-controller-manager")]),
    ("system:kube-dns", "system:kube-dns", [("ServiceAccount", "kube-system/kube-dns")]),
    ("system:kube-scheduler", "system:kube-scheduler", [("User", "system:kube-scheduler")]),
    ("system:node", "system:node", []),
    ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
     [("Group", "system:serviceaccounts")]),
    # kubeadm's bindings for the TLS bootstrap of nodes, which kubelite's join tokens use
    ("kubelite:kubelet-bootstrap", "system:node-bootstrapper", [("Group", "system:bootstrappers")]),
    ("kubelite:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
     [("Group", "system:bootstrappers")]),
    ("kubelite:node-autoapprove-certificate-rotation",
     "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [("Group", "system:nodes")]),
]


def _meta(name: str, labels: dict[str, Any] | None = None) -> Obj:
    merged = {**LABELS, **{k: v for k, v in (labels or {}).items() if v}}
    return {"name": name, "labels": merged, "annotations": {AUTOUPDATE: "true"}}


def cluster_role_objects() -> list[Obj]:
    out: list[Obj] = []
    for spec in CLUSTER_ROLES:
        obj: Obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": _meta(spec["name"], spec.get("labels"))}
        if "aggregate" in spec:
            obj["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": {f"{AGG}{spec['aggregate']}": "true"}}]}
            obj["rules"] = []
        else:
            obj["rules"] = spec["rules"]
        out.append(obj)
    return out


def _subject(kind: str, name: str) -> Obj:
    if kind == "ServiceAccount":
        namespace, _, sa = name.partition("/")
        return {"kind": "ServiceAccount", "name": sa, "namespace": namespace}
    return {"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": name}


def cluster_role_binding_objects() -> list[Obj]:
    out: list[Obj] = []
    for name, role, subjects in CLUSTER_ROLE_BINDINGS:
        obj: Obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": _meta(name),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}}
        if subjects:
            obj["subjects"] = [_subject(k, n) for k, n in subjects]
        out.append(obj)
    return out


Getter = Callable[[str, str], Awaitable[Obj | None]]
Creator = Callable[[str, Obj], Awaitable[None]]
Updater = Callable[[str, str, Callable[[Obj], Obj]], Awaitable[None]]


async def ensure_policy(*, get: Getter, create: Creator, update: Updater) -> list[str]:
    """Create missing default roles and bindings; restore lost permissions where autoupdate is on.
    ``get(resource, name)``, ``create(resource, obj)``, ``update(resource, name, mutate)`` work on
    ``clusterroles`` / ``clusterrolebindings``. Returns what it changed, for the log."""
    changed: list[str] = []
    for resource, objects, field_names in (("clusterroles", cluster_role_objects(), ("rules",)),
                                           ("clusterrolebindings", cluster_role_binding_objects(),
                                            ("subjects",))):
        for wanted in objects:
            name = wanted["metadata"]["name"]
            live = await get(resource, name)
            if live is None:
                await create(resource, wanted)
                changed.append(f"{resource}/{name}")
                continue
            if (live["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
                continue
            if "aggregationRule" in wanted:
                continue  # the aggregation controller owns its rules
            missing = {f: [x for x in wanted.get(f) or [] if x not in (live.get(f) or [])] for f in field_names}
            if not any(missing.values()):
                continue

            def add(current: Obj, missing: dict[str, list[Any]] = missing) -> Obj:
                for f, items in missing.items():
                    current[f] = [*(current.get(f) or []), *[x for x in items if x not in (current.get(f) or [])]]
                return current

            await update(resource, name, add)
            changed.append(f"{resource}/{name}")
    return changed
