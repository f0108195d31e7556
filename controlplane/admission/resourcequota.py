"""ResourceQuota admission: refuse a write that would take a namespace past a quota's ``hard``, and charge
the quota atomically so two racing creates cannot both take its last slot.

Design
------
Upstream's quota admission (``plugin/pkg/admission/resourcequota`` + ``pkg/quota/v1/evaluator/core``):

* What is counted: any namespaced resource by ``count/<plural>.<group>`` (``count/deployments.apps``),
  pods (``pods``, compute ``requests.*``/``limits.*``; pods in a terminal phase do not count), services
  (``services``, ``services.nodeports``: one per port of a NodePort or LoadBalancer Service,
  ``services.loadbalancers``), persistent volume claims (``persistentvolumeclaims``, ``requests.storage``
  and the ``<class>.storageclass.storage.k8s.io/`` variants), configmaps, secrets, replication
  controllers, quotas, and ``count/<resource>`` of each.
* Scopes (``spec.scopes``, ``spec.scopeSelector``): Terminating/NotTerminating (activeDeadlineSeconds),
  BestEffort/NotBestEffort, PriorityClass (In/NotIn/Exists/DoesNotExist), CrossNamespacePodAffinity; a
  scoped quota tracks only the pods that match every scope, and no other resource.
* When: on a create, the new object's usage; on an update of the object itself (no subresource), the
  increase from the old object to the new (a Service turned into a NodePort, a claim grown). Pods are
  checked on create only (their resources are immutable), as upstream without in-place resize.
* Message: ``exceeded quota: <name>, requested: pods=1, used: pods=2, limited: pods=2``; a quota on
  compute resources requires every container to state them (``failed quota: <name>: must specify
  limits.cpu for: <containers>``).

The charge (upstream's quota evaluator ``checkQuotas`` + ``UpdateStatus``): for each quota that
constrains what the write adds, the current quota is read from the store (not the watch cache), ``used``
is the larger of its ``status.used`` and the usage counted in the watch cache (a create admitted a moment
ago is in the former before it reaches the latter), and, if the write fits, ``status.used`` is written
back with a resourceVersion precondition; a conflict means another write charged the quota in between,
so the whole check runs again on the newer quota. The quota loop in ``controlplane.auth.security``
recomputes ``status.used`` from the objects (``quota_used``), releasing charges of writes that failed
after admission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from kubelite.api.quantity import Quantity, QuantityError
from kubelite.controlplane.admission.chain import CREATE, AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]

COUNTED: Final = {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers",
                  "resourcequotas"}
COMPUTE: Final = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
SERVICE_KEYS: Final = ("services.nodeports", "services.loadbalancers")
CLAIM_KEYS: Final = ("requests.storage",)
STORAGE_CLASS_SUFFIX: Final = ".storageclass.storage.k8s.io/"
CHARGE_ATTEMPTS: Final = 10


def _q(value: Any) -> Quantity:
    try:
        return Quantity.parse(value)
    except (QuantityError, ValueError, TypeError):
        return Quantity(0)


def pod_counts(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def pod_usage(pod: Obj) -> dict[str, Quantity]:
    usage: dict[str, Quantity] = {"pods": Quantity(1), "count/pods": Quantity(1)}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        for bag, prefix in (("requests", "requests."), ("limits", "limits.")):
            for name in ("cpu", "memory"):
                value = (resources.get(bag) or {}).get(name)
                if value is not None:
                    usage[prefix + name] = usage.get(prefix + name, Quantity(0)) + _q(value)
    for name in ("cpu", "memory"):
        if "requests." + name in usage:
            usage[name] = usage["requests." + name]
    return usage


def service_usage(service: Obj) -> dict[str, Quantity]:
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    usage = {"services": Quantity(1), "count/services": Quantity(1)}
    kind = spec.get("type")
    if kind == "NodePort":
        usage["services.nodeports"] = Quantity(len(ports))
    elif kind == "LoadBalancer":
        # without node port allocation only the ports that name one explicitly take a node port
        if spec.get("allocateLoadBalancerNodePorts") is False:
            usage["services.nodeports"] = Quantity(sum(1 for p in ports if p.get("nodePort")))
        else:
            usage["services.nodeports"] = Quantity(len(ports))
        usage["services.loadbalancers"] = Quantity(1)
    return usage


def claim_usage(claim: Obj) -> dict[str, Quantity]:
    usage = {"persistentvolumeclaims": Quantity(1), "count/persistentvolumeclaims": Quantity(1)}
    spec = claim.get("spec") or {}
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is not None:
        usage["requests.storage"] = _q(storage)
    storage_class = spec.get("storageClassName")
    if storage_class:
        prefix = storage_class + STORAGE_CLASS_SUFFIX
        usage[prefix + "persistentvolumeclaims"] = Quantity(1)
        if storage is not None:
            usage[prefix + "requests.storage"] = _q(storage)
    return usage


def object_usage(resource: str, obj: Obj) -> dict[str, Quantity]:
    if resource == "pods":
        return pod_usage(obj) if pod_counts(obj) else {}
    if resource == "services":
        return service_usage(obj)
    if resource == "persistentvolumeclaims":
        return claim_usage(obj)
    return {resource: Quantity(1), f"count/{resource}": Quantity(1)}


def usage_of(resource: str, objects: list[Obj]) -> dict[str, Quantity]:
    total: dict[str, Quantity] = {}
    for obj in objects:
        for key, value in object_usage(resource, obj).items():
            total[key] = total.get(key, Quantity(0)) + value
    return total


def _resource_of(key: str) -> str | None:
    """The counted resource whose objects a ``hard`` key measures."""
    if key.startswith("count/"):
        return key[len("count/"):]
    if key in COUNTED:
        return key
    if key in COMPUTE:
        return "pods"
    if key in SERVICE_KEYS:
        return "services"
    if key in CLAIM_KEYS or STORAGE_CLASS_SUFFIX in key:
        return "persistentvolumeclaims"
    return None


def _increase(request: AdmissionRequest) -> dict[str, Quantity]:
    """What the write adds: the new object's usage, or on an update what grew since the old one."""
    wanted = object_usage(request.resource, request.obj)
    if request.operation == CREATE:
        return wanted
    before = object_usage(request.resource, request.old_obj or {})
    return {k: v - before.get(k, Quantity(0)) for k, v in wanted.items() if v > before.get(k, Quantity(0))}


def _fmt(keys: list[str], values: dict[str, Any]) -> str:
    return ",".join(f"{k}={values[k]}" for k in keys)


def _best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = container.get("resources") or {}
        if any(name in (resources.get(bag) or {}) for bag in ("requests", "limits") for name in ("cpu", "memory")):
            return False
    return True


def _cross_namespace_affinity(pod: Obj) -> bool:
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        rules = affinity.get(kind) or {}
        terms = [*(rules.get("requiredDuringSchedulingIgnoredDuringExecution") or []),
                 *((t or {}).get("podAffinityTerm") or {} for t in
                   rules.get("preferredDuringSchedulingIgnoredDuringExecution") or [])]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


def _scope_matches(scope: str, operator: str, values: list[str], pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        return {"In": name in values, "NotIn": name not in values, "Exists": bool(name),
                "DoesNotExist": not name}.get(operator, False)
    deadline = spec.get("activeDeadlineSeconds")
    found = {"Terminating": deadline is not None and deadline >= 0, "NotTerminating": deadline is None,
             "BestEffort": _best_effort(pod), "NotBestEffort": not _best_effort(pod),
             "CrossNamespacePodAffinity": _cross_namespace_affinity(pod)}.get(scope, False)
    return found if operator in ("Exists", "In") else not found


def scope_filter(spec: Obj | None) -> Callable[[str, Obj], bool]:
    """Whether an object of a resource is tracked by a quota with ``spec`` (its ``scopes`` and
    ``scopeSelector``, upstream's pod scopes; a scoped quota tracks pods only)."""
    spec = spec or {}
    terms: list[tuple[str, str, list[str]]] = [(str(scope), "Exists", []) for scope in spec.get("scopes") or []]
    terms += [(str(e.get("scopeName")), str(e.get("operator")), list(e.get("values") or []))
              for e in (spec.get("scopeSelector") or {}).get("matchExpressions") or []]

    def tracks(resource: str, obj: Obj) -> bool:
        if not terms:
            return True
        return resource == "pods" and all(_scope_matches(scope, op, values, obj) for scope, op, values in terms)
    return tracks


def _object_count_prefix(key: str) -> str | None:
    """``count/<plural>[.<group>]`` -> that resource's storage prefix (upstream's generic object count)."""
    if not key.startswith("count/"):
        return None
    plural, _, group = key[len("count/"):].partition(".")
    return f"/{group or 'core'}/{plural}/" if plural else None


async def admit(request: AdmissionRequest) -> None:
    if not request.namespace or request.subresource:
        return
    counted_here = request.group == "" and request.resource in COUNTED
    if not counted_here and request.operation != CREATE:
        return
    if counted_here and request.operation != CREATE and request.resource not in ("services",
                                                                                    "persistentvolumeclaims"):
        return
    quotas = request.list_objects("/core/resourcequotas/", f"/core/resourcequotas/{request.namespace}/")
    if not quotas:
        return
    if not counted_here:
        # any other namespaced resource is counted by ``count/<plural>.<group>`` (``count/<plural>`` in core)
        key = f"count/{request.resource}.{request.group}" if request.group else f"count/{request.resource}"
        if not any(key in ((q.get("spec") or {}).get("hard") or {}) for q in quotas):
            return
        prefix = f"/{request.group or 'core'}/{request.resource}/"
        count = len(request.list_objects(prefix, f"{prefix}{request.namespace}/"))
        for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            if key in ((quota.get("spec") or {}).get("hard") or {}) and \
                    scope_filter(quota.get("spec"))(request.resource, request.obj):
                await _charge(request, quota["metadata"]["name"], {key: Quantity(1)}, {key: Quantity(count)})
        return
    wanted = _increase(request)
    if not wanted:
        return
    quotas = [q for q in quotas if scope_filter(q.get("spec"))(request.resource, request.obj)]
    if request.resource == "pods":
        for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            hard = (quota.get("spec") or {}).get("hard") or {}
            missing = [k for k in hard if k in COMPUTE and k not in wanted]
            if missing:
                containers = ",".join(str(c.get("name")) for c in (request.obj.get("spec") or {}).get("containers")
                                      or [])
                raise AdmissionDenied(f"failed quota: {quota['metadata']['name']}: must specify "
                                      f"{','.join(sorted(missing))} for: {containers}")
    prefix = f"/core/{request.resource}/"
    existing = request.list_objects(prefix, f"{prefix}{request.namespace}/")
    for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
        hard = (quota.get("spec") or {}).get("hard") or {}
        if not any(k in wanted for k in hard):
            continue
        tracks = scope_filter(quota.get("spec"))
        counted = usage_of(request.resource, [o for o in existing if tracks(request.resource, o)])
        await _charge(request, quota["metadata"]["name"], wanted, counted)


async def _charge(request: AdmissionRequest, name: str, wanted: dict[str, Quantity],
                  counted: dict[str, Quantity]) -> None:
    """Check one quota and, unless dry-run, charge it with a compare-and-swap on its status."""
    key = f"/core/resourcequotas/{request.namespace}/{name}"
    for _ in range(CHARGE_ATTEMPTS):
        quota = await (request.read_fresh or request.get_object)(key)
        if quota is None:
            return  # deleted meanwhile: it constrains nothing any more
        hard = (quota.get("spec") or {}).get("hard") or {}
        recorded = (quota.get("status") or {}).get("used") or {}
        keys = sorted(k for k in hard if k in wanted)
        used = {k: max(_q(recorded.get(k, "0")), counted.get(k, Quantity(0))) for k in keys}
        over = [k for k in keys if used[k] + wanted[k] > _q(hard[k])]
        if over:
            raise AdmissionDenied(f"exceeded quota: {name}, requested: {_fmt(over, wanted)}, used: "
                                  f"{_fmt(over, used)}, limited: {_fmt(over, hard)}")
        if request.dry_run or request.write_quota_used is None:
            return
        charged = {**{k: str(v) for k, v in recorded.items()}, **{k: str(used[k] + wanted[k]) for k in keys}}
        if await request.write_quota_used(request.namespace, name, str(quota["metadata"].get("resourceVersion", "")),
                                          charged):
            return
    raise AdmissionDenied(f"failed quota: {name}: the quota is being changed by too many requests at once; "
                          "try again")


def quota_used(hard: dict[str, Any], namespace: str, list_objects: Any, *, spec: Obj | None = None
               ) -> dict[str, str]:
    """``status.used`` of a quota with ``hard`` (and the scopes of ``spec``) in ``namespace`` (upstream's
    resourcequota controller)."""
    tracks = scope_filter(spec)
    resources = {r for r in (_resource_of(key) for key in hard) if r in COUNTED}
    usage: dict[str, Quantity] = {}
    for resource in sorted(resources):
        prefix = f"/core/{resource}/"
        usage.update(usage_of(resource, [o for o in list_objects(prefix, f"{prefix}{namespace}/")
                                         if tracks(resource, o)]))
    for key in hard:
        generic = _object_count_prefix(key)
        if key not in usage and generic is not None:
            plural = generic.split("/")[2]
            usage[key] = Quantity(sum(1 for o in list_objects(generic, f"{generic}{namespace}/")
                                      if tracks(plural, o)))
    return {key: str(usage.get(key, Quantity(0))) for key in hard}


def larger(value: str, other: str | None) -> str:
    """The larger of two ``status.used`` values (``other`` may be missing)."""
    return value if other is None or _q(value) >= _q(other) else other
