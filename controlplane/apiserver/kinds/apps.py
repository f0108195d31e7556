"""apps/v1 Deployments, ReplicaSets, DaemonSets and StatefulSets: defaulting and validation.

Follows upstream ``pkg/apis/apps/v1/defaults.go`` (``SetDefaults_Deployment``, ``_ReplicaSet``,
``_DaemonSet``, ``_StatefulSet``) and ``pkg/apis/apps/validation/validation.go``, with the apps/v1
rule of the REST strategies that ``spec.selector`` is immutable on update. Messages are upstream's,
including its quirks (a ReplicaSet's empty selector is "invalid for deployment").
"""

from __future__ import annotations

import copy
from typing import Any, Final

from kubelite.api.validation import FieldError, GoStruct, Path
from kubelite.controlplane.apiserver.kinds.workloads import (
    Obj,
    as_dict,
    default_pod_template,
    int_or_percent_value,
    selector_is_empty,
    selector_matches_template,
    selector_value,
    to_selector,
    validate_always_restart,
    validate_nonnegative,
    validate_not_more_than_100_percent,
    validate_pod_template,
    validate_positive_int_or_percent,
    validate_selector,
    validate_selector_immutable,
)
from kubelite.controlplane.apiserver.strategy import Strategy

SPEC: Final = Path("spec")


def _validate_template_for_replicas(spec: Obj, *, kind_word: str) -> list[FieldError]:
    """Upstream's selector + ValidatePodTemplateSpecForReplicaSet, shared by Deployment and ReplicaSet."""
    problems = validate_selector(spec.get("selector"), SPEC.child("selector"), kind_word=kind_word)
    selector = to_selector(spec.get("selector"))
    template_path = SPEC.child("template")
    template = spec.get("template")
    if selector is None:
        problems.append(FieldError.invalid(SPEC.child("selector"), selector_value(spec.get("selector")),
                                           "invalid label selector"))
        return problems
    if not selector.empty():
        problems.extend(selector_matches_template(selector, template, template_path))
    problems.extend(validate_pod_template(template, template_path))
    problems.extend(validate_always_restart(template, template_path))
    if as_dict(as_dict(template).get("spec")).get("activeDeadlineSeconds") is not None:
        problems.append(FieldError.forbidden(template_path.child("spec", "activeDeadlineSeconds"),
                                             "activeDeadlineSeconds in ReplicaSet is not Supported"))
    return problems


def _rolling_update_struct(rolling: Any) -> Any:
    # upstream prints the internal Go struct, whose fields carry no json tags
    if not isinstance(rolling, dict):
        return rolling
    return GoStruct((("MaxUnavailable", rolling.get("maxUnavailable")), ("MaxSurge", rolling.get("maxSurge"))))


class DeploymentStrategy(Strategy):
    """apps/v1 Deployment."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict):
            if not strategy.get("type"):
                strategy["type"] = "RollingUpdate"
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", "25%")
                    rolling.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        default_pod_template(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(SPEC, "")]
        problems.extend(validate_nonnegative(spec.get("replicas"), SPEC.child("replicas")))
        problems.extend(_validate_template_for_replicas(spec, kind_word="deployment"))
        problems.extend(self._validate_strategy(spec.get("strategy"), SPEC.child("strategy")))
        problems.extend(validate_nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        problems.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), SPEC.child("revisionHistoryLimit")))
        deadline = spec.get("progressDeadlineSeconds")
        if deadline is not None:
            problems.extend(validate_nonnegative(deadline, SPEC.child("progressDeadlineSeconds")))
            min_ready = spec.get("minReadySeconds") or 0
            if isinstance(deadline, int) and isinstance(min_ready, int) and deadline <= min_ready:
                problems.append(FieldError.invalid(SPEC.child("progressDeadlineSeconds"), deadline,
                                                   "must be greater than minReadySeconds"))
        return problems

    @staticmethod
    def _validate_strategy(strategy: Any, path: Path) -> list[FieldError]:
        strategy = as_dict(strategy)
        kind = strategy.get("type")
        rolling = strategy.get("rollingUpdate")
        if kind == "Recreate":
            if rolling is not None:
                return [FieldError.forbidden(path.child("rollingUpdate"),
                                             "may not be specified when strategy `type` is 'Recreate'")]
            return []
        if kind == "RollingUpdate":
            if not isinstance(rolling, dict):
                return [FieldError.required(path.child("rollingUpdate"), "this should be defaulted and never be nil")]
            rpath = path.child("rollingUpdate")
            unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
            problems = validate_positive_int_or_percent(unavailable, rpath.child("maxUnavailable"))
            problems.extend(validate_positive_int_or_percent(surge, rpath.child("maxSurge")))
            if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
                problems.append(FieldError.invalid(rpath.child("maxUnavailable"), unavailable,
                                                   "may not be 0 when `maxSurge` is 0"))
            problems.extend(validate_not_more_than_100_percent(unavailable, rpath.child("maxUnavailable")))
            return problems
        shown = GoStruct((("Type", kind or ""), ("RollingUpdate", _rolling_update_struct(rolling))))
        return [FieldError.not_supported(path, shown, ["Recreate", "RollingUpdate"])]

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old), *validate_selector_immutable(new, old)]


class ReplicaSetStrategy(Strategy):
    """apps/v1 ReplicaSet."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            default_pod_template(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(SPEC, "")]
        problems.extend(validate_nonnegative(spec.get("replicas"), SPEC.child("replicas")))
        problems.extend(validate_nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        # upstream's ReplicaSet message really says "deployment"
        problems.extend(_validate_template_for_replicas(spec, kind_word="deployment"))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old), *validate_selector_immutable(new, old)]


class DaemonSetStrategy(Strategy):
    """apps/v1 DaemonSet."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            if not strategy.get("type"):
                strategy["type"] = "RollingUpdate"
            if strategy["type"] == "RollingUpdate":
                rolling = strategy.setdefault("rollingUpdate", {})
                if isinstance(rolling, dict):
                    rolling.setdefault("maxUnavailable", 1)
                    rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
        default_pod_template(spec)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(SPEC, "")]
        template_path = SPEC.child("template")
        template = spec.get("template")
        # upstream's DaemonSet order: selector syntax, template match, then emptiness; a missing
        # selector is not "required" here, it just matches nothing
        raw_selector = spec.get("selector")
        problems.extend(validate_selector(raw_selector, SPEC.child("selector"), kind_word="daemonset",
                                          required=False, check_empty=False))
        selector = to_selector(raw_selector)
        if selector is not None:
            problems.extend(selector_matches_template(selector, template, template_path))
        if isinstance(raw_selector, dict) and selector_is_empty(raw_selector):
            problems.append(FieldError.invalid(SPEC.child("selector"), selector_value(raw_selector),
                                               "empty selector is invalid for daemonset"))
        problems.extend(validate_pod_template(template, template_path))
        problems.extend(validate_always_restart(template, template_path))
        deadline = as_dict(as_dict(template).get("spec")).get("activeDeadlineSeconds")
        if deadline is not None:
            problems.append(FieldError.invalid(template_path.child("spec", "activeDeadlineSeconds"), deadline,
                                               "activeDeadlineSeconds must be nil for daemonset"))
        problems.extend(validate_nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        problems.extend(validate_nonnegative(spec.get("templateGeneration"), SPEC.child("templateGeneration")))
        problems.extend(self._validate_update_strategy(spec.get("updateStrategy"), SPEC.child("updateStrategy")))
        problems.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), SPEC.child("revisionHistoryLimit")))
        return problems

    @staticmethod
    def _validate_update_strategy(strategy: Any, path: Path) -> list[FieldError]:
        strategy = as_dict(strategy)
        kind = strategy.get("type")
        if kind == "OnDelete":
            return []
        if kind == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if not isinstance(rolling, dict):
                return [FieldError.required(path.child("rollingUpdate"), "")]
            rpath = path.child("rollingUpdate")
            unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
            problems = validate_positive_int_or_percent(unavailable, rpath.child("maxUnavailable"))
            problems.extend(validate_positive_int_or_percent(surge, rpath.child("maxSurge")))
            problems.extend(validate_not_more_than_100_percent(unavailable, rpath.child("maxUnavailable")))
            problems.extend(validate_not_more_than_100_percent(surge, rpath.child("maxSurge")))
            has_unavailable = int_or_percent_value(unavailable) != 0
            has_surge = int_or_percent_value(surge) != 0
            if has_unavailable and has_surge:
                problems.append(FieldError.invalid(rpath.child("maxSurge"), surge,
                                                   "may not be set when maxUnavailable is non-zero"))
            elif not has_unavailable and not has_surge:
                problems.append(FieldError.required(rpath.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
            return problems
        rolling = _rolling_update_struct(strategy.get("rollingUpdate"))
        shown = GoStruct((("Type", kind or ""), ("RollingUpdate", rolling)))
        return [FieldError.not_supported(path, shown, ["RollingUpdate", "OnDelete"])]

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old), *validate_selector_immutable(new, old)]


# spec fields a StatefulSet update may change (upstream ValidateStatefulSetUpdate)
_STATEFULSET_MUTABLE: Final = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                               "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_RETENTION_POLICIES: Final = ("Retain", "Delete")


class StatefulSetStrategy(Strategy):
    """apps/v1 StatefulSet."""

    def default(self, obj: Obj) -> None:
        super().default(obj)
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        if not spec.get("podManagementPolicy"):
            spec["podManagementPolicy"] = "OrderedReady"
        strategy = spec.setdefault("updateStrategy", {})
        if isinstance(strategy, dict):
            if not strategy.get("type"):
                strategy["type"] = "RollingUpdate"
                strategy.setdefault("rollingUpdate", {})
            rolling = strategy.get("rollingUpdate")
            if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
                rolling.setdefault("partition", 0)
        retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        if isinstance(retention, dict):
            for when in ("whenDeleted", "whenScaled"):
                if not retention.get(when):
                    retention[when] = "Retain"
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        default_pod_template(spec)
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict) and isinstance(claim.get("spec"), dict):
                claim["spec"].setdefault("volumeMode", "Filesystem")

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [*problems, FieldError.required(SPEC, "")]
        policy = spec.get("podManagementPolicy")
        if not policy:
            problems.append(FieldError.required(SPEC.child("podManagementPolicy"), ""))
        elif policy not in ("OrderedReady", "Parallel"):
            problems.append(FieldError.invalid(SPEC.child("podManagementPolicy"), policy,
                                               "must be 'OrderedReady' or 'Parallel'"))
        problems.extend(self._validate_update_strategy(as_dict(spec.get("updateStrategy"))))
        retention = spec.get("persistentVolumeClaimRetentionPolicy")
        if isinstance(retention, dict):
            rpath = SPEC.child("persistentVolumeClaimRetentionPolicy")
            for when in ("whenDeleted", "whenScaled"):
                if retention.get(when) not in _RETENTION_POLICIES:
                    problems.append(FieldError.not_supported(rpath.child(when), retention.get(when) or "",
                                                             _RETENTION_POLICIES))
        problems.extend(validate_nonnegative(spec.get("replicas"), SPEC.child("replicas")))
        problems.extend(validate_nonnegative(spec.get("minReadySeconds"), SPEC.child("minReadySeconds")))
        ordinals = spec.get("ordinals")
        if isinstance(ordinals, dict):
            problems.extend(validate_nonnegative(ordinals.get("start"), SPEC.child("ordinals", "start")))
        problems.extend(validate_selector(spec.get("selector"), SPEC.child("selector"), kind_word="statefulset"))
        selector = to_selector(spec.get("selector"))
        template_path = SPEC.child("template")
        template = spec.get("template")
        if selector is None:
            problems.append(FieldError.invalid(SPEC.child("selector"), selector_value(spec.get("selector")), ""))
        else:
            if not selector.empty():
                problems.extend(selector_matches_template(selector, template, template_path))
            problems.extend(validate_pod_template(template, template_path))
        problems.extend(validate_always_restart(template, template_path))
        if as_dict(as_dict(template).get("spec")).get("activeDeadlineSeconds") is not None:
            problems.append(FieldError.forbidden(template_path.child("spec", "activeDeadlineSeconds"),
                                                 "activeDeadlineSeconds in StatefulSet is not Supported"))
        return problems

    @staticmethod
    def _validate_update_strategy(strategy: Obj) -> list[FieldError]:
        path = SPEC.child("updateStrategy")
        kind = strategy.get("type")
        rolling = strategy.get("rollingUpdate")
        if not kind:
            return [FieldError.required(path, "")]
        if kind == "OnDelete":
            if rolling is not None:
                return [FieldError.invalid(path.child("rollingUpdate"), rolling,
                                           "only allowed for updateStrategy 'RollingUpdate'")]
            return []
        if kind == "RollingUpdate":
            if isinstance(rolling, dict):
                rpath = path.child("rollingUpdate")
                problems = validate_nonnegative(rolling.get("partition"), rpath.child("partition"))
                unavailable = rolling.get("maxUnavailable")
                if unavailable is not None:
                    problems.extend(validate_positive_int_or_percent(unavailable, rpath.child("maxUnavailable")))
                    if int_or_percent_value(unavailable) == 0:
                        problems.append(FieldError.invalid(rpath.child("maxUnavailable"), unavailable,
                                                           "cannot be 0"))
                    problems.extend(validate_not_more_than_100_percent(unavailable, rpath.child("maxUnavailable")))
                return problems
            return []
        return [FieldError.invalid(path, GoStruct((("Type", kind), ("RollingUpdate", rolling))),
                                   "must be 'RollingUpdate' or 'OnDelete'")]

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        def frozen(obj: Obj) -> Obj:
            spec = copy.deepcopy(as_dict(obj.get("spec")))
            for key in _STATEFULSET_MUTABLE:
                spec.pop(key, None)
            return spec
        if frozen(new) != frozen(old):
            problems.append(FieldError.forbidden(SPEC, "updates to statefulset spec for fields other than 'replicas',"
                                                 " 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
                                                 "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                                                 "are forbidden"))
        return problems


class ControllerRevisionStrategy(Strategy):
    """apps/v1 ControllerRevision (upstream ``ValidateControllerRevision``/``Update``): data is
    mandatory and immutable, the revision number is not negative."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        if obj.get("data") is None:
            problems.append(FieldError.required(Path("data"), "data is mandatory"))
        revision = obj.get("revision")
        if isinstance(revision, int) and not isinstance(revision, bool) and revision < 0:
            problems.append(FieldError.invalid(Path("revision"), revision, "must be greater than or equal to 0"))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        if new.get("data") != old.get("data"):
            problems.append(FieldError.invalid(Path("data"), new.get("data"), "field is immutable"))
        return problems
