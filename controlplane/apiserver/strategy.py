"""Per-kind behaviour for the generic registry: the only place kinds differ.

A ``Strategy`` answers what upstream's REST strategies answer: how an object is prepared on create
and update (status/spec split, server-set fields), defaulted, validated, which fields a field
selector may use, how it is deleted (grace period, finalizers) and whether it expires (Events).
``StrategySet`` maps each resource to its strategy; resources without a special one get the base.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from kubelite.api import crd_schema, openapi, types, validation
from kubelite.api.meta import meta
from kubelite.api.openapi import type_errors
from kubelite.api.openapi.definitions import UnknownDefinitionError
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.allocators import (
    AllocationError,
    NodePortAllocator,
    ServiceIPAllocator,
    node_ports,
    service_ips,
)
from kubelite.controlplane.apiserver.resources import ResourceInfo

Obj = dict[str, Any]


@dataclass(frozen=True)
class StrategyContext:
    """Shared services some strategies need (allocators live in the API server process)."""

    service_ips: ServiceIPAllocator | None = None
    node_ports: NodePortAllocator | None = None
    # upstream kube-apiserver --default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds
    not_ready_toleration_seconds: int = 300
    unreachable_toleration_seconds: int = 300


class Strategy:
    """Defaults shared by every kind; subclasses override the hooks they need."""

    default_propagation: ClassVar[str] = "Background"
    # upstream PrepareForCreate drops a client-sent status for kinds with a status subresource
    reset_status_on_create: ClassVar[bool] = True
    extra_field_labels: ClassVar[tuple[str, ...]] = ()

    def __init__(self, info: ResourceInfo, *, unknown_fields: Callable[[str, Obj], list[str]] | None,
                 context: StrategyContext | None = None) -> None:
        self.info = info
        self._unknown_fields = unknown_fields
        self.context = context or StrategyContext()

    def name_validator(self, name: str, prefix: bool) -> list[str]:
        """The kind's rule for metadata.name (upstream ValidateNameFunc); most kinds: DNS subdomain."""
        return validation.name_is_dns_subdomain(name, prefix)

    # -- create / update -------------------------------------------------------------------------

    def generate_name(self, prefix: str) -> str:
        return validation.generate_name(prefix)

    def check_unknown_fields(self, obj: Obj, mode: str) -> list[str]:
        """Apply fieldValidation: Strict -> 400; Warn -> warnings; Ignore -> silent. Drops them always."""
        if mode not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f'fieldValidation: Unsupported value: "{mode}": supported values: '
                                     '"Ignore", "Strict", "Warn"')
        if self.conforms(obj):
            return []  # the common case, told in one typed pass; the walks below word what is wrong
        self.check_types(obj)
        unknown = self.drop_unknown_fields(obj)
        if unknown and mode == "Strict":
            raise errors.bad_request(openapi.strict_decoding_error(unknown))
        return [openapi.unknown_field_message(p) for p in unknown] if mode == "Warn" else []

    def conforms(self, obj: Obj) -> bool:
        """Whether the body has only declared fields of the right types (kubelite.api.types), so that
        neither a type error nor an unknown field needs looking for."""
        if self._unknown_fields is None or not self.info.definition or self.info.custom:
            return False
        return types.conforms(self.info.definition, obj)

    def check_types(self, obj: Obj) -> None:
        """A value of the wrong JSON type fails the body with upstream's decode error (400), whatever
        fieldValidation says: upstream's decoder rejects it before validation runs."""
        if self._unknown_fields is None or not self.info.definition or self.info.custom:
            return
        try:
            problem = type_errors.first_type_error(self.info.definition, obj)
        except UnknownDefinitionError:
            return
        if problem is not None:
            kind = self.info.kind
            raise errors.bad_request(f'{kind} in version "{self.info.version}" cannot be handled as a {kind}: '
                                     f"{problem}")

    def drop_unknown_fields(self, obj: Obj) -> list[str]:
        """Remove the fields the kind's schema does not declare; their paths, upstream-formatted."""
        if self._unknown_fields is None or not self.info.definition:
            return []
        unknown = self._unknown_fields(self.info.definition, obj)
        for path in unknown:
            drop_path(obj, path)
        return unknown

    def prepare_for_create(self, obj: Obj) -> None:
        if self.info.has_status and self.reset_status_on_create:
            obj.pop("status", None)
            status = self.initial_status(obj)
            if status is not None:
                obj["status"] = status

    def initial_status(self, obj: Obj) -> Obj | None:
        return None

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        """A main-resource update cannot change status when status is a subresource."""
        if self.info.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return new

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """A status update changes only status (upstream ResetObjectMetaForStatus and spec reset)."""
        result = copy.deepcopy(old)
        if "status" in new:
            result["status"] = new["status"]
        else:
            result.pop("status", None)
        return result

    def default(self, obj: Obj) -> None:
        """Kind-specific defaulting (upstream SetDefaults_*)."""

    # -- validation ------------------------------------------------------------------------------

    def validate(self, obj: Obj) -> list[validation.FieldError]:
        return validation.validate_object_meta(meta(obj), namespaced=self.info.namespaced,
                                               name_validator=self.name_validator)

    def validate_update(self, new: Obj, old: Obj) -> list[validation.FieldError]:
        return validation.validate_object_meta_update(meta(new), meta(old))

    # -- reads -----------------------------------------------------------------------------------

    def present(self, obj: Obj) -> Obj:
        """The stored object as this version shows it (never mutates ``obj``: it may be cached)."""
        return obj

    def field_values(self, obj: Obj) -> dict[str, str]:
        md = obj.get("metadata") or {}
        values = {"metadata.name": str(md.get("name", ""))}
        if self.info.namespaced:
            values["metadata.namespace"] = str(md.get("namespace", ""))
        for path in self.extra_field_labels:
            values[path] = _lookup(obj, path)
        return values

    # -- delete ----------------------------------------------------------------------------------

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """Seconds the object lingers before removal; None or 0 = remove at once."""
        return None

    def refuse_delete(self, name: str) -> str | None:
        """Why a single delete of ``name`` is forbidden (upstream REST Delete overrides), or None."""
        return None

    def prepare_for_delete(self, obj: Obj) -> None:
        """Changes made when an object is marked for deletion."""

    def finalize_on_empty(self, obj: Obj) -> bool:
        """Whether a marked object whose finalizers emptied may now be removed."""
        return True

    def ttl_seconds(self, obj: Obj) -> int | None:
        return None

    # -- side effects around writes (allocations); the registry undoes them if the write fails -----

    async def before_create(self, obj: Obj, *, dry_run: bool) -> None:
        """Claim what the object needs (IPs, ports) before it is written."""

    async def undo_create(self, obj: Obj) -> None:
        """Release what ``before_create`` claimed when the write did not happen."""

    async def before_update(self, new: Obj, old: Obj, *, dry_run: bool) -> None:
        """Claim what an update newly needs."""

    async def after_update(self, new: Obj, old: Obj, *, written: bool) -> None:
        """Release what the old object held and the new does not (or, unwritten, what the new claimed)."""

    async def after_delete(self, obj: Obj) -> None:
        """Release what a removed object held."""


def _lookup(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def drop_path(obj: Obj, path: str) -> None:
    """Remove the field at an upstream-style path ('spec.containers[0].foo') if present."""
    parts: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path):
        if name:
            parts.append(name)
        else:
            parts.append(int(index) if index.isdigit() else index)
    target: Any = obj
    for part in parts[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return
    last = parts[-1] if parts else None
    if isinstance(target, dict) and last in target:
        del target[last]


class NamespaceStrategy(Strategy):
    extra_field_labels = ("status.phase",)

    def name_validator(self, name: str, prefix: bool) -> list[str]:
        return validation.name_is_dns_label(name, prefix)

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Active"}

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        if not spec.get("finalizers"):
            spec["finalizers"] = ["kubernetes"]
        labels = meta(obj).setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = meta(obj).get("name", "")

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        new = super().prepare_for_update(new, old)
        # spec.finalizers change only through the finalize subresource
        new["spec"] = copy.deepcopy(old.get("spec", {}))
        return new

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        return None

    def prepare_for_delete(self, obj: Obj) -> None:
        obj.setdefault("status", {})["phase"] = "Terminating"

    def finalize_on_empty(self, obj: Obj) -> bool:
        return not (obj.get("spec") or {}).get("finalizers")


class NodeStrategy(Strategy):
    reset_status_on_create = False  # the kubelet registers its node with status
    extra_field_labels = ("spec.unschedulable",)


class PodStrategy(Strategy):
    extra_field_labels = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                          "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                          "status.nominatedNodeName")

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"phase": "Pending", "qosClass": qos_class(obj)}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        merge_affinity_label_keys(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        """Keep the priority admission set on create when an update leaves it out (upstream's Priority
        admission does this on update); validation refuses any other change to it."""
        new = super().prepare_for_update(new, old)
        new_spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(new_spec, dict):
            for name in ("priority", "preemptionPolicy"):
                if new_spec.get(name) is None and old_spec.get(name) is not None:
                    new_spec[name] = old_spec[name]
        return new

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("securityContext", {})
        spec.setdefault("enableServiceLinks", True)
        # priority and preemptionPolicy come from the Priority admission plugin (controlplane/admission/priority)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount", "default"))
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        add_default_toleration_seconds(spec, not_ready=self.context.not_ready_toleration_seconds,
                                       unreachable=self.context.unreachable_toleration_seconds)
        for group in ("initContainers", "containers"):
            for container in spec.get(group) or []:
                if not isinstance(container, dict):
                    continue
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                image = str(container.get("image", ""))
                latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
                container.setdefault("imagePullPolicy", "Always" if latest and "@" not in image
                                     else "IfNotPresent")
                container.setdefault("resources", {})
                for port in container.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")

    def validate(self, obj: Obj) -> list[validation.FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        path = validation.Path("spec")
        if not isinstance(spec, dict):
            return [*problems, validation.FieldError.required(path, "")]
        containers = spec.get("containers")
        if not containers:
            problems.append(validation.FieldError.required(path.child("containers"), ""))
        seen: set[str] = set()
        for group in ("initContainers", "containers"):
            for i, container in enumerate(spec.get(group) or []):
                cpath = path.child(group).index(i)
                if not isinstance(container, dict):
                    problems.append(validation.FieldError.invalid(cpath, container, "must be an object"))
                    continue
                problems.extend(check_list_item_name(container.get("name"), cpath.child("name"), seen,
                                                     required=True))
                if not container.get("image"):
                    problems.append(validation.FieldError.required(cpath.child("image"), ""))
        policy = spec.get("restartPolicy")
        if policy not in ("Always", "OnFailure", "Never"):
            problems.append(validation.FieldError.not_supported(path.child("restartPolicy"), policy,
                                                                ["Always", "OnFailure", "Never"]))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[validation.FieldError]:
        problems = super().validate_update(new, old)
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        mutable = ("activeDeadlineSeconds", "tolerations", "schedulingGates")
        def frozen(spec: Obj) -> Obj:
            clean = {k: v for k, v in spec.items() if k not in mutable}
            clean["containers"] = [{k: v for k, v in c.items() if k != "image"}
                                   for c in spec.get("containers") or [] if isinstance(c, dict)]
            clean["initContainers"] = [{k: v for k, v in c.items() if k != "image"}
                                       for c in spec.get("initContainers") or [] if isinstance(c, dict)]
            return clean
        if frozen(new_spec) != frozen(old_spec):
            problems.append(validation.FieldError.forbidden(
                validation.Path("spec"), "pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                "to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it "
                "was previously negative)"))
        return problems

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        # a pod that never reached a node, or already finished, goes at once (upstream CheckGracefulDelete)
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(int(requested), 0)
        return int(spec.get("terminationGracePeriodSeconds", 30))


IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")


def ip_family(ip: str) -> str:
    """"IPv4" or "IPv6" for an address, "" for anything else."""
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return ""


DEFAULT_TOLERATION_SECONDS = 300  # upstream's --default-{not-ready,unreachable}-toleration-seconds


def merge_affinity_label_keys(pod: Obj) -> None:
    """Upstream mutatePodAffinity (MatchLabelKeysInPodAffinity, on by default): for every pod (anti-)affinity
    term with a labelSelector, ``matchLabelKeys`` become ``key In (pod's value)`` and ``mismatchLabelKeys``
    ``key NotIn (pod's value)`` requirements, for the keys the pod's labels have; once, at creation."""
    spec = pod.get("spec")
    labels = (pod.get("metadata") or {}).get("labels")
    affinity = spec.get("affinity") if isinstance(spec, dict) else None
    if not isinstance(affinity, dict) or not isinstance(labels, dict):
        return
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind)
        if not isinstance(rules, dict):
            continue
        terms = list(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [w.get("podAffinityTerm") for w in rules.get("preferredDuringSchedulingIgnoredDuringExecution") or []
                  if isinstance(w, dict)]
        for term in terms:
            if not isinstance(term, dict) or not isinstance(term.get("labelSelector"), dict):
                continue
            for field, operator in (("matchLabelKeys", "In"), ("mismatchLabelKeys", "NotIn")):
                keys = term.get(field)
                for key in keys if isinstance(keys, list) else ():
                    if isinstance(key, str) and key in labels:
                        expressions = term["labelSelector"].setdefault("matchExpressions", [])
                        if isinstance(expressions, list):
                            expressions.append({"key": key, "operator": operator, "values": [labels[key]]})


def add_default_toleration_seconds(spec: Obj, *, not_ready: int = DEFAULT_TOLERATION_SECONDS,
                                   unreachable: int = DEFAULT_TOLERATION_SECONDS) -> None:
    """Upstream's DefaultTolerationSeconds admission: a pod that does not tolerate the not-ready or
    unreachable NoExecute taint already gets a toleration for it of 300 s by default (so the node lifecycle
    controller evicts it five minutes after its node fails, unless it says otherwise)."""
    tolerations = spec.get("tolerations")
    if tolerations is not None and not isinstance(tolerations, list):
        return  # validation reports it
    tolerations = list(tolerations or [])
    for key, seconds in (("node.kubernetes.io/not-ready", not_ready), ("node.kubernetes.io/unreachable", unreachable)):
        covered = any(isinstance(t, dict) and (t.get("key") in (key, None, "") and (
            t.get("key") == key or t.get("operator") == "Exists")) and t.get("effect") in ("NoExecute", None, "")
            for t in tolerations)
        if not covered:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})
    spec["tolerations"] = tolerations


def check_list_item_name(name: Any, path: validation.Path, seen: set[str], *,
                         required: bool) -> list[validation.FieldError]:
    """A list item's name (container, port): present if required, a DNS label, unique in the list."""
    if not name:
        return [validation.FieldError.required(path, "")] if required else []
    problems = [validation.FieldError.invalid(path, name, msg) for msg in validation.is_dns1123_label(str(name))]
    if str(name) in seen:
        problems.append(validation.FieldError.duplicate(path, name))
    seen.add(str(name))
    return problems


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from container requests and limits (upstream GetPodQOS)."""
    containers = [c for group in ("initContainers", "containers")
                  for c in (pod.get("spec") or {}).get(group) or [] if isinstance(c, dict)]
    any_set = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for resource in ("cpu", "memory"):
            limit = limits.get(resource)
            request = requests.get(resource, limit)
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
SERVICE_PROTOCOLS = ("TCP", "UDP", "SCTP")


class ServiceStrategy(Strategy):
    """Services: upstream defaulting, the essential validation, ClusterIP and NodePort allocation."""

    def name_validator(self, name: str, prefix: bool) -> list[str]:
        return validation.name_is_dns1035_label(name, prefix)

    def initial_status(self, obj: Obj) -> Obj | None:
        return {"loadBalancer": {}}

    def default(self, obj: Obj) -> None:
        spec = obj.setdefault("spec", {})
        kind = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["sessionAffinity"] == "ClientIP":
            client_ip = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
            client_ip.setdefault("timeoutSeconds", 10800)
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "targetPort" not in port and "port" in port:
                    port["targetPort"] = port["port"]
        if kind == "ExternalName":
            return
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if kind in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("clusterIP") != "None" or spec.get("selector"):
            self._default_ip_families(spec)

    def _default_ip_families(self, spec: Obj) -> None:
        """Upstream's initIPFamilyFields: ipFamilies from the given clusterIPs, else the cluster's primary
        family; a dual-stack policy on a dual-stack cluster adds the other family."""
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        configured = self.context.service_ips.families if self.context.service_ips is not None else ["IPv4"]
        if not spec.get("ipFamilies"):
            given = [ip_family(ip) for ip in spec.get("clusterIPs") or [] if ip_family(ip)]
            spec["ipFamilies"] = given or [configured[0]]
        families = spec["ipFamilies"]
        if spec["ipFamilyPolicy"] in ("PreferDualStack", "RequireDualStack") and isinstance(families, list) and \
                len(families) == 1 and len(configured) == 2:
            families.append(next(f for f in configured if f != families[0]))

    def _validate_ip_families(self, spec: Obj, problems: list[validation.FieldError]) -> None:
        path = validation.Path("spec")
        policy = spec.get("ipFamilyPolicy")
        if policy is None:
            return
        if policy not in IP_FAMILY_POLICIES:
            problems.append(validation.FieldError.not_supported(path.child("ipFamilyPolicy"), policy,
                                                                list(IP_FAMILY_POLICIES)))
            return
        families = spec.get("ipFamilies")
        if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
            problems.append(validation.FieldError.invalid(path.child("ipFamilies"), families,
                                                          "must be a list of IP families"))
            return
        configured = self.context.service_ips.families if self.context.service_ips is not None else ["IPv4"]
        for i, family in enumerate(families):
            if family not in ("IPv4", "IPv6"):
                problems.append(validation.FieldError.not_supported(path.child("ipFamilies").index(i), family,
                                                                    ["IPv4", "IPv6"]))
            elif family in families[:i]:
                problems.append(validation.FieldError.duplicate(path.child("ipFamilies").index(i), family))
            elif family not in configured:
                problems.append(validation.FieldError.invalid(path.child("ipFamilies").index(i), family,
                                                              "not configured on this cluster"))
        if len(families) > 2:
            problems.append(validation.FieldError.invalid(path.child("ipFamilies"), families,
                                                          "may specify no more than one IP for each IP family"))
        if policy == "SingleStack" and len(families) > 1:
            problems.append(validation.FieldError.invalid(path.child("ipFamilies"), families,
                                                          "must contain exactly one entry when ipFamilyPolicy is "
                                                          "SingleStack"))
        if policy == "RequireDualStack" and len(configured) < 2:
            problems.append(validation.FieldError.invalid(path.child("ipFamilyPolicy"), policy,
                                                          "this cluster is not configured for dual-stack services"))
        cluster_ips = spec.get("clusterIPs") or []
        if spec.get("clusterIP") == "None":
            return
        if len(cluster_ips) > len(families):
            problems.append(validation.FieldError.invalid(path.child("clusterIPs"), cluster_ips,
                                                          "may not have more IPs than ipFamilies"))
        for i, ip in enumerate(cluster_ips):
            family = ip_family(ip) if isinstance(ip, str) else ""
            if not family:
                problems.append(validation.FieldError.invalid(path.child("clusterIPs").index(i), ip,
                                                              "must be a valid IP address"))
            elif i < len(families) and family != families[i]:
                problems.append(validation.FieldError.invalid(path.child("clusterIPs").index(i), ip,
                                                              f"expected an {families[i]} value as indicated by "
                                                              "`ipFamilies`"))

    def validate(self, obj: Obj) -> list[validation.FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec") or {}
        path = validation.Path("spec")
        kind = spec.get("type")
        if kind not in SERVICE_TYPES:
            problems.append(validation.FieldError.not_supported(path.child("type"), kind, list(SERVICE_TYPES)))
            return problems
        if kind == "ExternalName":
            external = spec.get("externalName")
            if not external:
                problems.append(validation.FieldError.required(path.child("externalName"), ""))
            else:
                for msg in validation.is_dns1123_subdomain(str(external)):
                    problems.append(validation.FieldError.invalid(path.child("externalName"), external, msg))
        ports = spec.get("ports") or []
        headless = spec.get("clusterIP") == "None"
        if not ports and kind != "ExternalName" and not headless:
            problems.append(validation.FieldError.required(path.child("ports"), ""))
        names: set[str] = set()
        for i, port in enumerate(ports):
            ppath = path.child("ports").index(i)
            if not isinstance(port, dict):
                problems.append(validation.FieldError.invalid(ppath, port, "must be an object"))
                continue
            problems.extend(check_list_item_name(port.get("name"), ppath.child("name"), names,
                                                 required=len(ports) > 1))
            number = port.get("port")
            if not isinstance(number, int) or isinstance(number, bool):
                problems.append(validation.FieldError.required(ppath.child("port"), ""))
            else:
                for msg in validation.is_valid_port_num(number):
                    problems.append(validation.FieldError.invalid(ppath.child("port"), number, msg))
            if port.get("protocol") not in SERVICE_PROTOCOLS:
                problems.append(validation.FieldError.not_supported(ppath.child("protocol"), port.get("protocol"),
                                                                    list(SERVICE_PROTOCOLS)))
            if port.get("nodePort") and kind not in ("NodePort", "LoadBalancer"):
                problems.append(validation.FieldError.forbidden(
                    ppath.child("nodePort"), f"may not be used when `type` is '{kind}'"))
        policy = spec.get("sessionAffinity")
        if policy not in ("None", "ClientIP"):
            problems.append(validation.FieldError.not_supported(path.child("sessionAffinity"), policy,
                                                                ["ClientIP", "None"]))
        if kind != "ExternalName":
            self._validate_ip_families(spec, problems)
        return problems

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        new = super().prepare_for_update(new, old)
        # upstream patchAllocatedValues: an update that omits the allocated IP or node ports keeps them
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        if spec.get("type") != "ExternalName" and old_spec.get("type") != "ExternalName":
            if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                spec["clusterIP"] = old_spec["clusterIP"]
                spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            previous = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                        for p in old_spec.get("ports") or [] if isinstance(p, dict)}
            for port in spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    kept = previous.get((port.get("port"), port.get("protocol", "TCP")))
                    if kept:
                        port["nodePort"] = kept
        return new

    def validate_update(self, new: Obj, old: Obj) -> list[validation.FieldError]:
        problems = super().validate_update(new, old)
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        if "ExternalName" not in (spec.get("type"), old_spec.get("type")) and old_spec.get("clusterIP") and \
                spec.get("clusterIP") != old_spec.get("clusterIP"):
            problems.append(validation.FieldError.invalid(validation.Path("spec", "clusterIPs").index(0),
                                                          spec.get("clusterIPs") or [], "may not change once set"))
        return problems

    def _owner(self, obj: Obj) -> str:
        md = obj.get("metadata") or {}
        return f"{md.get('namespace')}/{md.get('name')}"

    async def _allocate(self, obj: Obj, held_ips: list[str], held_ports: list[int], *, dry_run: bool) -> None:
        spec = obj.setdefault("spec", {})
        ips, ports = self.context.service_ips, self.context.node_ports
        kind = spec.get("type", "ClusterIP")
        claimed_ips: list[str] = []
        claimed_ports: list[int] = []
        try:
            if kind != "ExternalName" and spec.get("clusterIP") != "None" and ips is not None:
                # one address per ipFamilies entry (dual stack: two), in that order; given ones are claimed
                given = list(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
                allocated: list[str] = []
                for i, family in enumerate(spec.get("ipFamilies") or [ips.families[0]]):
                    wanted = given[i] if i < len(given) else ""
                    if not wanted:
                        wanted = await ips.allocate(self._owner(obj), dry_run=dry_run, family=family)
                        if not dry_run:
                            claimed_ips.append(wanted)
                    elif wanted not in held_ips and not dry_run:
                        await ips.claim(wanted, self._owner(obj))
                        claimed_ips.append(wanted)
                    allocated.append(wanted)
                spec["clusterIP"] = allocated[0]
                spec["clusterIPs"] = allocated
            elif kind == "ExternalName":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            if kind in ("NodePort", "LoadBalancer") and ports is not None and \
                    spec.get("allocateLoadBalancerNodePorts", True) is not False:
                for i, port in enumerate(spec.get("ports") or []):
                    if not isinstance(port, dict):
                        continue
                    number = port.get("nodePort")
                    if not number:
                        number = await ports.allocate(self._owner(obj), dry_run=dry_run)
                        if not dry_run:
                            claimed_ports.append(number)
                    elif number not in held_ports and number not in claimed_ports and not dry_run:
                        try:
                            await ports.claim(int(number), self._owner(obj))
                        except AllocationError as exc:
                            raise errors.invalid("Service", "", str((obj.get("metadata") or {}).get("name")), [
                                validation.FieldError.invalid(validation.Path("spec", "ports").index(i).child(
                                    "nodePort"), number, str(exc))])
                        claimed_ports.append(int(number))
                    port["nodePort"] = number
        except AllocationError as exc:
            await self._release(claimed_ips, claimed_ports)
            raise errors.invalid("Service", "", str((obj.get("metadata") or {}).get("name")), [
                validation.FieldError.invalid(validation.Path("spec", "clusterIPs"), spec.get("clusterIPs") or [],
                                              str(exc))])
        except errors.APIError:
            await self._release(claimed_ips, claimed_ports)
            raise

    async def _release(self, ips: list[str], ports: list[int]) -> None:
        if self.context.service_ips is not None:
            for ip in ips:
                await self.context.service_ips.release(ip)
        if self.context.node_ports is not None:
            for port in ports:
                await self.context.node_ports.release(port)

    async def before_create(self, obj: Obj, *, dry_run: bool) -> None:
        await self._allocate(obj, [], [], dry_run=dry_run)

    async def undo_create(self, obj: Obj) -> None:
        await self._release(service_ips(obj), node_ports(obj))

    async def before_update(self, new: Obj, old: Obj, *, dry_run: bool) -> None:
        await self._allocate(new, service_ips(old), node_ports(old), dry_run=dry_run)

    async def after_update(self, new: Obj, old: Obj, *, written: bool) -> None:
        if written:
            gone_ips = [ip for ip in service_ips(old) if ip not in service_ips(new)]
            gone_ports = [p for p in node_ports(old) if p not in node_ports(new)]
        else:
            gone_ips = [ip for ip in service_ips(new) if ip not in service_ips(old)]
            gone_ports = [p for p in node_ports(new) if p not in node_ports(old)]
        await self._release(gone_ips, gone_ports)

    async def after_delete(self, obj: Obj) -> None:
        await self._release(service_ips(obj), node_ports(obj))


class SecretStrategy(Strategy):
    extra_field_labels = ("type",)

    def default(self, obj: Obj) -> None:
        obj.setdefault("type", "Opaque")


class EventStrategy(Strategy):
    extra_field_labels = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                          "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                          "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

    def ttl_seconds(self, obj: Obj) -> int | None:
        return 3600  # upstream --event-ttl default


class RBACStrategy(Strategy):
    def name_validator(self, name: str, prefix: bool) -> list[str]:
        return validation.validate_path_segment_name(name, prefix)


CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceStrategy(Strategy):
    """Custom resources: schema-driven pruning, defaulting and validation."""

    def present(self, obj: Obj) -> Obj:
        # upstream's "None" conversion between versions of a CRD: only apiVersion changes
        if obj.get("apiVersion") == self.info.api_version:
            return obj
        return {**obj, "apiVersion": self.info.api_version}

    def drop_unknown_fields(self, obj: Obj) -> list[str]:
        # the CRD version's structural schema prunes (upstream's pruning), no OpenAPI definition
        return crd_schema.prune(obj, self.info.schema) if self.info.schema is not None else []

    def default(self, obj: Obj) -> None:
        if self.info.schema is not None:
            crd_schema.default(obj, self.info.schema)

    def validate(self, obj: Obj) -> list[validation.FieldError]:
        problems = super().validate(obj)
        if self.info.schema is not None:
            # the whole object: the schema may constrain metadata.name/generateName
            problems.extend(crd_schema.validate(obj, self.info.schema))
        return problems


class CRDStrategy(Strategy):
    """CustomResourceDefinition objects themselves (upstream apiextensions validation, in short)."""

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        finalizers = meta(obj).setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)

    def initial_status(self, obj: Obj) -> Obj | None:
        return self._status(obj, {})

    def prepare_for_update(self, new: Obj, old: Obj) -> Obj:
        new = super().prepare_for_update(new, old)
        new["status"] = self._status(new, old.get("status") or {})
        return new

    @staticmethod
    def _status(crd: Obj, old: Obj) -> Obj:
        spec = crd.get("spec") or {}
        stored = list(old.get("storedVersions") or [])
        for version in spec.get("versions") or []:
            if version.get("storage") and version.get("name") not in stored:
                stored.append(version["name"])
        now = meta(crd).get("creationTimestamp")
        conditions = [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ]
        return {"conditions": old.get("conditions") or conditions, "acceptedNames": spec.get("names") or {},
                "storedVersions": stored}

    def validate(self, obj: Obj) -> list[validation.FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec") or {}
        path = validation.Path("spec")
        names = spec.get("names") or {}
        group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
        if not group:
            problems.append(validation.FieldError.required(path.child("group"), ""))
        elif "." not in group:
            problems.append(validation.FieldError.invalid(path.child("group"), group,
                                                          "should be a domain with at least one dot"))
        if not plural:
            problems.append(validation.FieldError.required(path.child("names", "plural"), ""))
        else:
            for msg in validation.is_dns1035_label(plural):
                problems.append(validation.FieldError.invalid(path.child("names", "plural"), plural, msg))
        if not kind:
            problems.append(validation.FieldError.required(path.child("names", "kind"), ""))
        name = meta(obj).get("name", "")
        if plural and group and name != f"{plural}.{group}":
            problems.append(validation.FieldError.invalid(validation.Path("metadata", "name"), name,
                                                          'must be spec.names.plural+"."+spec.group'))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            problems.append(validation.FieldError.not_supported(path.child("scope"), spec.get("scope"),
                                                                ["Cluster", "Namespaced"]))
        versions = spec.get("versions") or []
        if not versions:
            problems.append(validation.FieldError.required(path.child("versions"), "must have exactly one version "
                                                           "marked as storage version"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            problems.append(validation.FieldError.invalid(path.child("versions"), versions,
                                                          "must have exactly one version marked as storage version"))
        seen: set[str] = set()
        for i, version in enumerate(versions):
            vpath = path.child("versions").index(i)
            vname = version.get("name", "")
            if vname in seen:
                problems.append(validation.FieldError.duplicate(vpath.child("name"), vname))
            seen.add(vname)
            for msg in validation.is_dns1035_label(vname):
                problems.append(validation.FieldError.invalid(vpath.child("name"), vname, msg))
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            spath = vpath.child("schema", "openAPIV3Schema")
            if schema is None:
                problems.append(validation.FieldError.required(spath, "schemas are required"))
                continue
            problems.extend(crd_schema.check_structural_errors(
                schema, path=spath, status_subresource="status" in (version.get("subresources") or {})))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[validation.FieldError]:
        problems = super().validate_update(new, old)
        for field in ("group", "scope"):
            old_value, new_value = (old.get("spec") or {}).get(field), (new.get("spec") or {}).get(field)
            if old_value != new_value:
                problems.append(validation.FieldError.invalid(validation.Path("spec", field), new_value,
                                                              "field is immutable"))
        return problems



SPECIAL: dict[tuple[str, str], type[Strategy]] = {
    ("", "namespaces"): NamespaceStrategy,
    ("", "nodes"): NodeStrategy,
    ("", "pods"): PodStrategy,
    ("", "services"): ServiceStrategy,
    ("", "secrets"): SecretStrategy,
    ("", "events"): EventStrategy,
    ("events.k8s.io", "events"): EventStrategy,
    ("rbac.authorization.k8s.io", "roles"): RBACStrategy,
    ("rbac.authorization.k8s.io", "clusterroles"): RBACStrategy,
    ("rbac.authorization.k8s.io", "rolebindings"): RBACStrategy,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): RBACStrategy,
    ("apiextensions.k8s.io", "customresourcedefinitions"): CRDStrategy,
}


class StrategySet:
    def __init__(self, *, unknown_fields: Callable[[str, Obj], list[str]] | None = None,
                 context: StrategyContext | None = None) -> None:
        self._unknown_fields = unknown_fields
        self._context = context or StrategyContext()
        # the per-kind strategies build on this module, so they are imported here, not at its top
        from kubelite.controlplane.apiserver.kinds import KIND_STRATEGIES

        self._special: dict[tuple[str, str], type[Strategy]] = {**SPECIAL, **KIND_STRATEGIES}
        self._cache: dict[tuple[str, str, str], Strategy] = {}

    def for_resource(self, info: ResourceInfo) -> Strategy:
        key = (info.group, info.version, info.plural)
        strategy = self._cache.get(key)
        if strategy is None or strategy.info is not info:
            cls = CustomResourceStrategy if info.custom else self._special.get((info.group, info.plural), Strategy)
            strategy = cls(info, unknown_fields=self._unknown_fields, context=self._context)
            self._cache[key] = strategy
        return strategy
