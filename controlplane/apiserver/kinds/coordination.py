"""coordination.k8s.io/v1 Leases (upstream ``pkg/apis/coordination/validation``, ``ValidateLeaseSpec``).

Leases carry leader election and node heartbeats; validation only keeps the numbers sane.
"""

from __future__ import annotations

from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj
from kubelite.controlplane.apiserver.strategy import Strategy


class LeaseStrategy(Strategy):
    """coordination.k8s.io/v1 Lease."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        path = Path("spec")
        if spec is None:
            return problems
        if not isinstance(spec, dict):
            return [*problems, FieldError.type_invalid(path, spec, "must be of type object")]
        duration = spec.get("leaseDurationSeconds")
        if duration is not None:
            if isinstance(duration, bool) or not isinstance(duration, int):
                problems.append(FieldError.type_invalid(path.child("leaseDurationSeconds"), duration,
                                                        "must be of type integer"))
            elif duration <= 0:
                problems.append(FieldError.invalid(path.child("leaseDurationSeconds"), duration,
                                                   "must be greater than 0"))
        transitions = spec.get("leaseTransitions")
        if transitions is not None:
            if isinstance(transitions, bool) or not isinstance(transitions, int):
                problems.append(FieldError.type_invalid(path.child("leaseTransitions"), transitions,
                                                        "must be of type integer"))
            elif transitions < 0:
                problems.append(FieldError.invalid(path.child("leaseTransitions"), transitions,
                                                   "must be greater than or equal to 0"))
        return problems
