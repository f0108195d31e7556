"""LimitRanger: default resource requests/limits and min/max from the namespace's LimitRanges.

Design
------
Upstream's ``plugin/pkg/admission/limitranger`` for pods: for each ``LimitRange`` item of type
``Container``, a container without a limit gets ``default``, without a request gets
``defaultRequest`` (or its limit, as upstream), then every request/limit must lie within
``min``/``max`` and the limit/request ratio within ``maxLimitRequestRatio``; items of type ``Pod``
bound the sum over containers. Violations are one 403 listing each, in upstream's words
("maximum cpu usage per Container is 1, but limit is 2").

As upstream, pods are checked on create only (their containers' resources cannot change afterwards), and
PersistentVolumeClaims on create and on every update of the claim (an expansion may not pass ``max``): items
of type ``PersistentVolumeClaim`` bound ``spec.resources.requests.storage`` by ``min`` and ``max``.
"""

from __future__ import annotations

from typing import Any

from kubelite.api.quantity import Quantity, QuantityError
from kubelite.controlplane.admission.chain import CREATE, AdmissionDenied, AdmissionRequest

Obj = dict[str, Any]


def _q(value: Any) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except (QuantityError, ValueError, TypeError):
        return None


def apply_defaults(pod: Obj, item: Obj) -> None:
    default, default_request = item.get("default") or {}, item.get("defaultRequest") or {}
    for container in [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]:
        resources = container.setdefault("resources", {})
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        for name, value in default.items():
            limits.setdefault(name, value)
        for name, value in default_request.items():
            requests.setdefault(name, value)
        for name, value in limits.items():
            requests.setdefault(name, value)  # a limit without a request requests the limit, as upstream
        if limits:
            resources["limits"] = limits
        if requests:
            resources["requests"] = requests


def violations(pod: Obj, item: Obj) -> list[str]:
    kind = item.get("type")
    problems: list[str] = []
    containers = [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]
    if kind == "Container":
        subjects = [((c.get("resources") or {}).get("requests") or {}, (c.get("resources") or {}).get("limits") or {})
                    for c in containers]
    elif kind == "Pod":
        requests: dict[str, Quantity] = {}
        limits: dict[str, Quantity] = {}
        for c in pod["spec"].get("containers") or []:
            for bag, out in (((c.get("resources") or {}).get("requests") or {}, requests),
                             ((c.get("resources") or {}).get("limits") or {}, limits)):
                for name, value in bag.items():
                    q = _q(value)
                    if q is not None:
                        out[name] = out.get(name, Quantity(0)) + q
        subjects = [({k: str(v) for k, v in requests.items()}, {k: str(v) for k, v in limits.items()})]
    else:
        return []
    for requested, limited in subjects:
        for name, bound in (item.get("min") or {}).items():
            low = _q(bound)
            if low is None:
                continue
            raw = requested.get(name)
            value = _q(raw)
            if value is None:
                problems.append(f"minimum {name} usage per {kind} is {bound}.  No request is specified")
            elif value < low:
                problems.append(f"minimum {name} usage per {kind} is {bound}, but request is {raw}")
        for name, bound in (item.get("max") or {}).items():
            high = _q(bound)
            value = _q(limited.get(name))
            if high is None:
                continue
            if value is None:
                problems.append(f"maximum {name} usage per {kind} is {bound}.  No limit is specified")
            elif value > high:
                problems.append(f"maximum {name} usage per {kind} is {bound}, but limit is {limited[name]}")
        for name, bound in (item.get("maxLimitRequestRatio") or {}).items():
            problem = ratio_violation(kind, name, bound, requested.get(name), limited.get(name))
            if problem:
                problems.append(problem)
    return problems


def ratio_violation(kind: str, name: str, bound: Any, request: Any, limit: Any) -> str | None:
    """Upstream's limitRequestRatioConstraint: limit/request at most ``bound`` (compared in milli-units)."""
    enforced = _q(bound)
    if enforced is None:
        return None
    req, lim = _q(request), _q(limit)
    if req is None or req.is_zero():
        return f"{name} max limit to request ratio per {kind} is {bound}, but no request is specified or request is 0"
    if lim is None or lim.is_zero():
        return f"{name} max limit to request ratio per {kind} is {bound}, but no limit is specified or limit is 0"
    observed = lim.milli_value() / req.milli_value()
    if observed * 1000 > enforced.milli_value():
        return f"{name} max limit to request ratio per {kind} is {bound}, but provided ratio is {observed:f}"
    return None


def claim_violations(claim: Obj, item: Obj) -> list[str]:
    """Upstream's PersistentVolumeClaimValidateLimitFunc: the claim's requests within min and max."""
    if item.get("type") != "PersistentVolumeClaim":
        return []
    requested = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    problems: list[str] = []
    for bag, word in (("min", "minimum"), ("max", "maximum")):
        for name, bound in (item.get(bag) or {}).items():
            limit, value = _q(bound), _q(requested.get(name))
            if limit is None:
                continue
            if value is None:
                problems.append(f"{word} {name} usage per PersistentVolumeClaim is {bound}.  No request is specified")
            elif (value < limit) if bag == "min" else (value > limit):
                problems.append(f"{word} {name} usage per PersistentVolumeClaim is {bound}, but request is "
                                f"{requested[name]}")
    return problems


def _deny(problems: list[str]) -> None:
    if problems:
        raise AdmissionDenied("[" + ", ".join(problems) + "]" if len(problems) > 1 else problems[0])


async def admit(request: AdmissionRequest) -> None:
    if request.group != "" or request.subresource:
        return
    if request.resource == "persistentvolumeclaims":
        ranges = request.list_objects("/core/limitranges/", f"/core/limitranges/{request.namespace}/")
        _deny([p for lr in ranges for item in ((lr.get("spec") or {}).get("limits") or [])
               for p in claim_violations(request.obj, item)])
        return
    if request.resource != "pods" or request.operation != CREATE:
        return
    ranges = request.list_objects("/core/limitranges/", f"/core/limitranges/{request.namespace}/")
    if not ranges:
        return
    pod = request.obj
    pod.setdefault("spec", {})
    items = [item for lr in ranges for item in ((lr.get("spec") or {}).get("limits") or [])]
    for item in items:
        if item.get("type") == "Container":
            apply_defaults(pod, item)
    _deny([p for item in items for p in violations(pod, item)])
