"""ResourceQuota admission: refuse a create that would take a namespace past a quota's ``hard``.

Design
------
Upstream's quota admission for creates of pods, services, configmaps, secrets, persistent volume
claims and ``count/<resource>``: usage is computed from the watch cache at admission time (pods
in a terminal phase do not count), plus the new object; if any constrained resource would exceed
``spec.hard`` the request is refused with upstream's message
``exceeded quota: <name>, requested: pods=1, used: pods=2, limited: pods=2``. A quota on compute
resources requires every container to state them (``failed quota: <name>: must specify limits.cpu for:
<containers>``). ``status.used`` (``quota_used``) is kept by the quota loop in ``controlplane.auth.security``.

Known limit (documented in the README): two creates admitted at the same instant may both fit the
last slot; upstream serialises quota charges through a compare-and-swap on the quota's status.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api.quantity import Quantity, QuantityError
from kubelite.controlplane.admission.chain import AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]

COUNTED: Final = {"pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers",
                  "resourcequotas"}
COMPUTE: Final = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")


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


def usage_of(resource: str, objects: list[Obj]) -> dict[str, Quantity]:
    total: dict[str, Quantity] = {}
    for obj in objects:
        if resource == "pods":
            if not pod_counts(obj):
                continue
            parts = pod_usage(obj)
        else:
            parts = {resource: Quantity(1), f"count/{resource}": Quantity(1)}
        for key, value in parts.items():
            total[key] = total.get(key, Quantity(0)) + value
    return total


async def admit(request: AdmissionRequest) -> None:
    if request.group != "" or request.resource not in COUNTED or not request.namespace:
        return
    quotas = request.list_objects("/core/resourcequotas/", f"/core/resourcequotas/{request.namespace}/")
    if not quotas:
        return
    prefix = f"/core/{request.resource}/"
    existing = request.list_objects(prefix, f"{prefix}{request.namespace}/")
    used = usage_of(request.resource, existing)
    wanted = usage_of(request.resource, [request.obj])
    for quota in sorted(quotas, key=lambda q: q["metadata"]["name"]):
        name = quota["metadata"]["name"]
        hard = (quota.get("spec") or {}).get("hard") or {}
        if request.resource == "pods":
            missing = [k for k in hard if k in COMPUTE and k not in wanted]
            if missing:
                containers = ",".join(str(c.get("name")) for c in (request.obj.get("spec") or {}).get("containers")
                                      or [])
                raise AdmissionDenied(f"failed quota: {name}: must specify {','.join(sorted(missing))} for: "
                                      f"{containers}")
        over = [k for k in sorted(hard) if k in wanted and used.get(k, Quantity(0)) + wanted[k] > _q(hard[k])]
        if over:
            raise AdmissionDenied(f"exceeded quota: {name}, requested: {_fmt(over, wanted)}, used: "
                                  f"{_fmt(over, {k: used.get(k, Quantity(0)) for k in over})}, limited: "
                                  f"{_fmt(over, hard)}")


def _fmt(keys: list[str], values: dict[str, Any]) -> str:
    return ",".join(f"{k}={values[k]}" for k in keys)


def quota_used(hard: dict[str, Any], namespace: str, list_objects: Any) -> dict[str, str]:
    """``status.used`` of a quota with ``hard`` in ``namespace`` (upstream's resourcequota controller)."""
    resources: set[str] = set()
    for key in hard:
        if key.startswith("count/"):
            resources.add(key[len("count/"):])
        elif key in COUNTED:
            resources.add(key)
        elif key in COMPUTE:
            resources.add("pods")
    usage: dict[str, Quantity] = {}
    for resource in sorted(resources & COUNTED):
        prefix = f"/core/{resource}/"
        usage.update(usage_of(resource, list_objects(prefix, f"{prefix}{namespace}/")))
    return {key: str(usage.get(key, Quantity(0))) for key in hard}
