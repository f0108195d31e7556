"""core/v1 LimitRanges (upstream ``ValidateLimitRange`` in ``pkg/apis/core/validation``).

Each limit has a type (Pod, Container, PersistentVolumeClaim or a qualified name), used once; resource
names fit the type; ``min <= defaultRequest <= default <= max`` per resource; a Pod limit has no
defaults; a PVC limit bounds storage; ``maxLimitRequestRatio`` is at least 1 and within max/min; and
resources that cannot be overcommitted (extended resources, hugepages) need equal default and
defaultRequest.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import validation
from kubelite.api.quantity import Quantity, QuantityError
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

LIMIT_TYPES: Final = ("Pod", "Container", "PersistentVolumeClaim")
CONTAINER_RESOURCES: Final = ("cpu", "memory", "ephemeral-storage")
BOUNDS: Final = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")


def _overcommit_allowed(name: str) -> bool:
    """Upstream ``IsOvercommitAllowed``: native resources (no domain, or kubernetes.io) but not hugepages."""
    native = "/" not in name or name.startswith("kubernetes.io/")
    return native and not name.startswith(("hugepages-", "requests.hugepages-"))


def _resource_name_errors(name: str, limit_type: str, path: Path) -> list[FieldError]:
    messages = validation.is_qualified_name(name)
    if messages:
        return [FieldError.invalid(path, name, msg) for msg in messages]
    if "/" in name:
        return []
    if limit_type in ("Pod", "Container"):
        if name not in CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            return [FieldError.invalid(path, name, "must be a standard resource for containers")]
    elif name not in (*CONTAINER_RESOURCES, "storage", "pods") and not name.startswith(("hugepages-", "requests.")):
        return [FieldError.invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def _quantities(bag: Any, limit_type: str, path: Path, problems: list[FieldError]) -> dict[str, Quantity]:
    parsed: dict[str, Quantity] = {}
    for name, value in sorted(as_dict(bag).items()):
        rpath = path.key(str(name))
        problems.extend(_resource_name_errors(str(name), limit_type, rpath))
        try:
            parsed[str(name)] = Quantity.parse(value)
        except (QuantityError, TypeError) as exc:
            problems.append(FieldError.invalid(rpath, value, str(exc)))
    return parsed


class LimitRangeStrategy(Strategy):
    """v1 LimitRange."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        limits = as_dict(obj.get("spec")).get("limits")
        seen: set[str] = set()
        for i, item in enumerate(limits if isinstance(limits, list) else []):
            ipath = Path("spec", "limits").index(i)
            limit = as_dict(item)
            kind = str(limit.get("type") or "")
            messages = validation.is_qualified_name(kind)
            problems.extend(FieldError.invalid(ipath.child("type"), kind, msg) for msg in messages)
            if not messages and "/" not in kind and kind not in LIMIT_TYPES:
                problems.append(FieldError.invalid(ipath.child("type"), kind,
                                                   "must be a standard limit type or fully qualified"))
            if kind in seen:
                problems.append(FieldError.duplicate(ipath.child("type"), kind))
            seen.add(kind)
            if kind == "Pod":
                for name in ("default", "defaultRequest"):
                    if limit.get(name):
                        problems.append(FieldError.forbidden(ipath.child(name), "may not be specified when `type` is "
                                                                                "'Pod'"))
            bags = {name: _quantities(limit.get(name) if kind != "Pod" or name not in ("default", "defaultRequest")
                                      else None, kind, ipath.child(name), problems) for name in BOUNDS}
            if kind == "PersistentVolumeClaim" and "storage" not in bags["min"] and "storage" not in bags["max"]:
                problems.append(FieldError.required(ipath.child("limits"), "either minimum or maximum storage value "
                                                                           "is required, but neither was provided"))
            problems.extend(self._bounds(bags, ipath))
        return problems

    @staticmethod
    def _bounds(bags: dict[str, dict[str, Quantity]], path: Path) -> list[FieldError]:
        low, high, limit, request, ratio = (bags[name] for name in ("min", "max", "default", "defaultRequest",
                                                                    "maxLimitRequestRatio"))
        problems: list[FieldError] = []
        for key in sorted({*high, *low, *limit, *request, *ratio}):
            lo, hi, lim, req, rat = (bag.get(key) for bag in (low, high, limit, request, ratio))
            if lo is not None and hi is not None and lo.cmp(hi) > 0:
                problems.append(FieldError.invalid(path.child("min").key(key), str(lo),
                                                   f"min value {lo} is greater than max value {hi}"))
            if req is not None and lo is not None and lo.cmp(req) > 0:
                problems.append(FieldError.invalid(path.child("defaultRequest").key(key), str(req),
                                                   f"min value {lo} is greater than default request value {req}"))
            if req is not None and hi is not None and req.cmp(hi) > 0:
                problems.append(FieldError.invalid(path.child("defaultRequest").key(key), str(req),
                                                   f"default request value {req} is greater than max value {hi}"))
            if req is not None and lim is not None and req.cmp(lim) > 0:
                problems.append(FieldError.invalid(path.child("defaultRequest").key(key), str(req),
                                                   f"default request value {req} is greater than default limit "
                                                   f"value {lim}"))
            if lim is not None and lo is not None and lo.cmp(lim) > 0:
                problems.append(FieldError.invalid(path.child("default").key(key), str(lo),
                                                   f"min value {lo} is greater than default value {lim}"))
            if lim is not None and hi is not None and lim.cmp(hi) > 0:
                problems.append(FieldError.invalid(path.child("default").key(key), str(hi),
                                                   f"default value {lim} is greater than max value {hi}"))
            if rat is not None and rat.cmp(1) < 0:
                problems.append(FieldError.invalid(path.child("maxLimitRequestRatio").key(key), str(rat),
                                                   f"ratio {rat} is less than 1"))
            if rat is not None and lo is not None and hi is not None and lo.milli_value() > 0:
                bound = hi.milli_value() / lo.milli_value()
                if rat.milli_value() / 1000 > bound:
                    problems.append(FieldError.invalid(path.child("maxLimitRequestRatio").key(key), str(rat),
                                                       f"ratio {rat} is greater than max/min = {bound:f}"))
            if not _overcommit_allowed(key) and lim is not None and req is not None and lim.cmp(req) != 0:
                problems.append(FieldError.invalid(path.child("defaultRequest").key(key), str(req),
                                                   f"default value {lim} must equal to defaultRequest value {req} "
                                                   f"in {key}"))
        return problems
