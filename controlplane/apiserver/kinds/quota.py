"""core/v1 ResourceQuotas (upstream ``ValidateResourceQuota``/``Update`` in ``pkg/apis/core/validation``).

Every ``hard`` (and ``status.hard``/``status.used``) entry names a quota resource (a standard one, a
hugepages one, or a fully-qualified name such as ``count/deployments.apps``) and holds a quantity that
is not negative (whole for countable resources). Scopes are known ones, not contradictory, apply to the
resources listed, and never change after creation.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import validation
from kubelite.api.quantity import Quantity, QuantityError
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

COMPUTE: Final = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory",
                            "ephemeral-storage", "requests.ephemeral-storage", "limits.ephemeral-storage"})
COUNTS: Final = frozenset({"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
                           "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"})
STANDARD: Final = COMPUTE | COUNTS | {"requests.storage"}
SCOPES: Final = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                 "CrossNamespacePodAffinity")
CONFLICTING: Final = (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating"))


def _is_hugepages(name: str) -> bool:
    return name.startswith(("hugepages-", "requests.hugepages-"))


def _is_standard(name: str) -> bool:
    return name in STANDARD or _is_hugepages(name)


def _scope_fits(scope: str, resource: str) -> bool:
    """Upstream ``IsResourceQuotaScopeValidForResource``."""
    if scope in ("BestEffort", "CrossNamespacePodAffinity"):
        return resource == "pods"
    if scope in ("NotBestEffort", "Terminating", "NotTerminating", "PriorityClass"):
        return resource == "pods" or resource in COMPUTE or _is_hugepages(resource)
    return False


def validate_quota_resources(resources: Any, path: Path) -> list[FieldError]:
    problems: list[FieldError] = []
    for name, value in sorted(as_dict(resources).items()):
        rpath = path.key(str(name))
        messages = validation.is_qualified_name(str(name))
        problems.extend(FieldError.invalid(rpath, name, msg) for msg in messages)
        if not messages and "/" not in str(name) and not _is_standard(str(name)):
            problems.append(FieldError.invalid(rpath, name, "must be a standard resource for quota"))
        try:
            quantity = Quantity.parse(value)
        except (QuantityError, TypeError) as exc:
            problems.append(FieldError.invalid(rpath, value, str(exc)))
            continue
        if quantity.sign() < 0:
            problems.append(FieldError.invalid(rpath, value, "must be greater than or equal to 0"))
        countable = str(name) in COUNTS or str(name).startswith("count/")
        if countable and quantity.milli_value() % 1000:
            problems.append(FieldError.invalid(rpath, value, "must be an integer"))
    return problems


class ResourceQuotaStrategy(Strategy):
    """v1 ResourceQuota."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        problems.extend(validate_quota_resources(spec.get("hard"), Path("spec", "hard")))
        scopes = spec.get("scopes") if isinstance(spec.get("scopes"), list) else []
        spath = Path("spec", "scopes")
        for scope in scopes or []:
            if scope not in SCOPES:
                problems.append(FieldError.invalid(spath, scopes, "unsupported scope"))
            for resource in sorted(as_dict(spec.get("hard"))):
                if _is_standard(resource) and not _scope_fits(str(scope), resource):
                    problems.append(FieldError.invalid(spath, scopes, "unsupported scope applied to resource"))
        for pair in CONFLICTING:
            if all(s in (scopes or []) for s in pair):
                problems.append(FieldError.invalid(spath, scopes, "conflicting scopes"))
        problems.extend(validate_quota_resources(status.get("hard"), Path("status", "hard")))
        problems.extend(validate_quota_resources(status.get("used"), Path("status", "used")))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        scopes = as_dict(new.get("spec")).get("scopes")
        if (scopes or []) != (as_dict(old.get("spec")).get("scopes") or []):
            problems.append(FieldError.invalid(Path("spec", "scopes"), scopes, "field is immutable"))
        return problems
