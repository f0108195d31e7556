"""The resources the API server serves: names, scope, verbs and subresources, as upstream publishes them.

``ResourceInfo`` is everything the generic REST machinery needs to know about a kind to route, store
and describe it in discovery; per-kind behaviour (defaulting, validation, status/spec split) lives in
strategies, never here. Custom resources from CRDs become ``ResourceInfo`` values too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""  # set when the subresource's kind lives in another group (scale, eviction)
    version: str = ""


STATUS = Subresource("status", "", ("get", "patch", "update"))  # kind "" = the parent's kind
SCALE = Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    subresources: tuple[Subresource, ...] = ()
    # metadata.generation counts spec changes (upstream strategies that set Generation on create)
    generation: bool = False
    singular: str = ""
    list_kind: str = ""
    definition: str = ""  # OpenAPI definition name, e.g. io.k8s.api.core.v1.Pod
    preferred: bool = True  # the preferred version of its group for this resource
    # custom resources: the CRD version's openAPIV3Schema, printer columns and scale paths
    custom: bool = False
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    scale_paths: dict[str, str] | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())
        if not self.list_kind:
            object.__setattr__(self, "list_kind", self.kind + "List")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``pods`` or ``deployments.apps``: how upstream names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        return any(s.name == "status" for s in self.subresources)

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def storage_prefix(self) -> str:
        """Key prefix of this resource's objects; all versions of a resource share one."""
        return f"/{self.group or 'core'}/{self.plural}/"

    def storage_key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix()}{namespace}/{name}"
        return f"{self.storage_prefix()}{name}"

    def namespace_prefix(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.storage_prefix()}{namespace}/"
        return self.storage_prefix()


def _core(kind: str, plural: str, namespaced: bool = True, **kw: object) -> ResourceInfo:
    return ResourceInfo("", "v1", kind, plural, namespaced, definition=f"io.k8s.api.core.v1.{kind}",
                        **kw)  # type: ignore[arg-type]


def _api(group: str, version: str, kind: str, plural: str, namespaced: bool = True,
         **kw: object) -> ResourceInfo:
    package = {
        "apps": "apps", "batch": "batch", "discovery.k8s.io": "discovery", "coordination.k8s.io":
        "coordination", "rbac.authorization.k8s.io": "rbac", "scheduling.k8s.io": "scheduling",
        "policy": "policy", "events.k8s.io": "events", "certificates.k8s.io": "certificates",
        "networking.k8s.io": "networking", "autoscaling": "autoscaling", "storage.k8s.io": "storage",
    }.get(group)
    definition = (f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}.{kind}"
                  if group == "apiextensions.k8s.io" else f"io.k8s.api.{package}.{version}.{kind}")
    return ResourceInfo(group, version, kind, plural, namespaced, definition=definition,
                        **kw)  # type: ignore[arg-type]


BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    _core("Namespace", "namespaces", False, short_names=("ns",), subresources=(STATUS,)),
    _core("Node", "nodes", False, short_names=("no",),
          subresources=(STATUS, Subresource("proxy", "NodeProxyOptions",
                                            ("create", "delete", "get", "patch", "update")))),
    # log/exec/attach/portforward (and nodes/proxy) are served by apiserver/kubelet_proxy.py
    _core("Pod", "pods", short_names=("po",), categories=("all",),
          subresources=(STATUS, Subresource("binding", "Binding", ("create",)),
                        Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
                        Subresource("log", "Pod", ("get",)),
                        Subresource("exec", "PodExecOptions", ("create", "get")),
                        Subresource("attach", "PodAttachOptions", ("create", "get")),
                        Subresource("portforward", "PodPortForwardOptions", ("create", "get")))),
    _core("Service", "services", short_names=("svc",), categories=("all",), subresources=(STATUS,)),
    _core("Endpoints", "endpoints", short_names=("ep",), singular="endpoints"),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",),
          subresources=(Subresource("token", "TokenRequest", ("create",), "authentication.k8s.io", "v1"),)),
    _core("Event", "events", short_names=("ev",)),
    _core("LimitRange", "limitranges", short_names=("limits",)),
    _core("ResourceQuota", "resourcequotas", short_names=("quota",), subresources=(STATUS,)),
    _core("PersistentVolume", "persistentvolumes", False, short_names=("pv",), subresources=(STATUS,)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), subresources=(STATUS,)),
    _api("apps", "v1", "Deployment", "deployments", short_names=("deploy",), categories=("all",),
         subresources=(STATUS, SCALE), generation=True),
    _api("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=("all",),
         subresources=(STATUS, SCALE), generation=True),
    _api("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=("all",),
         subresources=(STATUS,), generation=True),
    _api("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), categories=("all",),
         subresources=(STATUS, SCALE), generation=True),
    _api("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _api("batch", "v1", "Job", "jobs", categories=("all",), subresources=(STATUS,), generation=True),
    _api("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=("all",),
         subresources=(STATUS,), generation=True),
    _api("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _api("coordination.k8s.io", "v1", "Lease", "leases"),
    _api("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _api("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _api("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _api("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _api("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
         short_names=("crd", "crds"), subresources=(STATUS,), generation=True),
    _api("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, short_names=("pc",),
         generation=True),
    _api("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
         subresources=(STATUS,), generation=True),
    _api("events.k8s.io", "v1", "Event", "events", short_names=("ev",)),
    _api("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", False,
         short_names=("csr",), subresources=(STATUS, Subresource("approval", "", ("get", "patch", "update")))),
    _api("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",),
         generation=True),
    _api("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), subresources=(STATUS,),
         generation=True),
    _api("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _api("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
         categories=("all",), subresources=(STATUS,), generation=True),
    _api("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short_names=("sc",)),
    # create-only kinds that are answered, never stored (controlplane.auth.reviews); no OpenAPI paths
    *(ResourceInfo(group, "v1", kind, plural, namespaced, verbs=("create",)) for group, kind, plural, namespaced in (
        ("authentication.k8s.io", "TokenReview", "tokenreviews", False),
        ("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", False),
        ("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", False),
        ("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
        ("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
        ("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", True))),
)

# preferred version first, as discovery lists them (only groups serving several versions need an entry)
GROUP_VERSIONS: dict[str, tuple[str, ...]] = {}


class ResourceTable:
    """Lookup of served resources by (group, version, plural); CRDs add and remove entries at run time."""

    def __init__(self, resources: Iterable[ResourceInfo] = BUILTIN_RESOURCES) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._group_versions: dict[str, list[str]] = {}
        for info in resources:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        self._by_gvr[(info.group, info.version, info.plural)] = info
        versions = self._group_versions.setdefault(info.group, [])
        if info.version not in versions:
            versions.append(info.version)
            preferred_order = GROUP_VERSIONS.get(info.group)
            if preferred_order:
                versions.sort(key=lambda v: preferred_order.index(v) if v in preferred_order else 99)

    def sort_versions(self, key: Callable[[str], Any]) -> None:
        """Order each group's versions by ``key`` (upstream's version priority puts the preferred first)."""
        for group, versions in self._group_versions.items():
            if group not in GROUP_VERSIONS:
                versions.sort(key=key)

    def remove(self, group: str, version: str, plural: str) -> None:
        self._by_gvr.pop((group, version, plural), None)
        if not any(g == group and v == version for g, v, _ in self._by_gvr):
            versions = self._group_versions.get(group, [])
            if version in versions:
                versions.remove(version)
            if not versions:
                self._group_versions.pop(group, None)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._by_gvr.values()))

    def groups(self) -> list[str]:
        """API groups other than core, in a stable order (built-ins first, as registered)."""
        return [g for g in self._group_versions if g]

    def versions(self, group: str) -> list[str]:
        return list(self._group_versions.get(group, []))

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [r for (g, v, _), r in self._by_gvr.items() if g == group and v == version]

    def storage_resources(self) -> list[ResourceInfo]:
        """One entry per stored resource (versions of one resource share storage)."""
        seen: dict[tuple[str, str], ResourceInfo] = {}
        for info in self._by_gvr.values():
            key = (info.group, info.plural)
            if key not in seen or info.preferred:
                seen[key] = info
        return list(seen.values())
