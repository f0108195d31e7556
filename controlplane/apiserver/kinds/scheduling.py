"""scheduling.k8s.io/v1 PriorityClasses (upstream ``pkg/apis/scheduling/validation`` and defaults).

User classes may not exceed one billion; names starting ``system-`` are reserved for the two
built-in classes with their fixed values. ``value`` and ``preemptionPolicy`` never change. That at
most one class is ``globalDefault`` is a cross-object rule upstream enforces in the Priority
admission plugin, not here.
"""

from __future__ import annotations

from typing import Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj
from kubelite.controlplane.apiserver.strategy import Strategy

HIGHEST_USER_DEFINABLE_PRIORITY: Final = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY: Final = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_PRIORITY_CLASS_PREFIX: Final = "system-"
# name -> (value, globalDefault) of upstream's SystemPriorityClasses()
SYSTEM_PRIORITY_CLASSES: Final = {
    "system-node-critical": (SYSTEM_CRITICAL_PRIORITY + 1000, False),
    "system-cluster-critical": (SYSTEM_CRITICAL_PRIORITY, False),
}
PREEMPTION_POLICIES: Final = ("PreemptLowerPriority", "Never")


def _known_system_class_error(name: str, value: object, global_default: bool) -> str | None:
    """Upstream IsKnownSystemPriorityClass's error, or None when the class is the built-in one."""
    known = SYSTEM_PRIORITY_CLASSES.get(name)
    if known is None:
        return f"{name} is not a known system priority class"
    if value != known[0]:
        return f"value of {name} PriorityClass must be {known[0]}"
    if global_default != known[1]:
        return f"globalDefault of {name} PriorityClass must be {'true' if known[1] else 'false'}"
    return None


class PriorityClassStrategy(Strategy):
    """scheduling.k8s.io/v1 PriorityClass (cluster-scoped)."""

    def refuse_delete(self, name: str) -> str | None:
        # upstream's priorityclass REST: the built-in classes stay (a deletecollection still removes them)
        return "this is a system priority class and cannot be deleted" if name in SYSTEM_PRIORITY_CLASSES else None

    def default(self, obj: Obj) -> None:
        super().default(obj)
        if obj.get("preemptionPolicy") is None:
            obj["preemptionPolicy"] = "PreemptLowerPriority"

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        name = str((obj.get("metadata") or {}).get("name", ""))
        value = obj.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(FieldError.type_invalid(Path("value"), value, "must be of type integer"))
            value = 0
        if name.startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
            error = _known_system_class_error(name, value, obj.get("globalDefault") is True)
            if error:
                problems.append(FieldError.forbidden(
                    Path("metadata", "name"),
                    f"priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system "
                    f"use only. error: {error}"))
        elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
            problems.append(FieldError.forbidden(
                Path("value"),
                f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"))
        policy = obj.get("preemptionPolicy")
        if policy is not None:
            if policy == "":
                problems.append(FieldError.required(Path("preemptionPolicy"), ""))
            elif policy not in PREEMPTION_POLICIES:
                problems.append(FieldError.not_supported(Path("preemptionPolicy"), policy, PREEMPTION_POLICIES))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        if new.get("value", 0) != old.get("value", 0):
            problems.append(FieldError.forbidden(Path("value"), "may not be changed in an update."))
        problems.extend(validation.validate_immutable_field(new.get("preemptionPolicy"), old.get("preemptionPolicy"),
                                                            Path("preemptionPolicy")))
        return problems
