"""policy/v1 PodDisruptionBudgets (upstream ``pkg/apis/policy/validation``, ``ValidatePodDisruptionBudgetSpec``).

``minAvailable`` and ``maxUnavailable`` exclude each other; each is a non-negative integer or a
percentage of at most 100%. The status starts zeroed, as upstream's ``PrepareForCreate`` leaves it.
"""

from __future__ import annotations

from typing import Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import (
    Obj,
    validate_not_more_than_100_percent,
    validate_positive_int_or_percent,
)
from kubelite.controlplane.apiserver.strategy import Strategy

UNHEALTHY_POD_EVICTION_POLICIES: Final = ("AlwaysAllow", "IfHealthyBudget")


class PodDisruptionBudgetStrategy(Strategy):
    """policy/v1 PodDisruptionBudget."""

    def initial_status(self, obj: Obj) -> Obj | None:
        # the four counters have no omitempty upstream: a new PDB shows them as 0
        return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        path = Path("spec")
        if spec is None:
            return problems
        if not isinstance(spec, dict):
            return [*problems, FieldError.type_invalid(path, spec, "must be of type object")]
        min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
        if min_available is not None and max_unavailable is not None:
            problems.append(FieldError.invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
        for name, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
            problems.extend(validate_positive_int_or_percent(value, path.child(name)))
            problems.extend(validate_not_more_than_100_percent(value, path.child(name)))
        problems.extend(validation.validate_label_selector(spec.get("selector"), path.child("selector")))
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
            problems.append(FieldError.not_supported(path.child("unhealthyPodEvictionPolicy"), policy,
                                                     UNHEALTHY_POD_EVICTION_POLICIES))
        return problems
