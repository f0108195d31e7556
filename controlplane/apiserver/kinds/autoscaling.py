"""autoscaling/v2 HorizontalPodAutoscalers (upstream ``pkg/apis/autoscaling/validation`` and v2 defaults).

Defaults: ``minReplicas`` 1, one CPU utilization metric at 80% when none is given, and, when
``behavior`` is set, upstream's scale-up (0 s window, max of 4 pods or 100% per 15 s) and scale-down
(300 s window, 100% per 15 s) rules for whatever the client left out. Validation: replica bounds, the
scale target reference, the metric source types and their targets, scaling policies.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

METRIC_TYPES: Final = ("Object", "Pods", "Resource", "External", "ContainerResource")
TARGET_TYPES: Final = ("Utilization", "Value", "AverageValue")
POLICY_TYPES: Final = ("Pods", "Percent")
SELECT_POLICIES: Final = ("Max", "Min", "Disabled")
MAX_PERIOD_SECONDS: Final = 1800
MAX_STABILIZATION_SECONDS: Final = 3600
SCALE_UP: Final = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                   "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                {"type": "Percent", "value": 100, "periodSeconds": 15}]}
SCALE_DOWN: Final = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                     "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rules(given: Any, defaults: Obj) -> Obj:
    """Upstream ``copyHPAScalingRules``: the defaults, with every field the client set taking its place."""
    rules = copy.deepcopy(defaults)
    for key, value in as_dict(given).items():
        if value is not None:
            rules[key] = value
    return rules


def validate_target(target: Any, path: Path) -> list[FieldError]:
    target = as_dict(target)
    kind = target.get("type")
    if not kind:
        return [FieldError.required(path.child("type"), "must specify a metric target type")]
    if kind not in TARGET_TYPES:
        return [FieldError.not_supported(path.child("type"), kind, TARGET_TYPES)]
    problems: list[FieldError] = []
    utilization = _int(target.get("averageUtilization"))
    if utilization is not None and utilization < 1:
        problems.append(FieldError.invalid(path.child("averageUtilization"), utilization, "must be greater than 0"))
    if target.get("value") is None and target.get("averageValue") is None and target.get("averageUtilization") is None:
        problems.append(FieldError.required(path, "must set either a target raw value, a target average value, or "
                                                  "a target utilization"))
    return problems


def validate_metric(metric: Any, path: Path) -> list[FieldError]:
    metric = as_dict(metric)
    kind = metric.get("type")
    if not kind:
        return [FieldError.required(path.child("type"), "must specify a metric source type")]
    if kind not in METRIC_TYPES:
        return [FieldError.not_supported(path.child("type"), kind, METRIC_TYPES)]
    source_field = {"Object": "object", "Pods": "pods", "Resource": "resource", "External": "external",
                    "ContainerResource": "containerResource"}[str(kind)]
    source = metric.get(source_field)
    if not isinstance(source, dict):
        return [FieldError.required(path.child(source_field), "must populate information for the given metric "
                                                                "source")]
    spath = path.child(source_field)
    problems: list[FieldError] = []
    if kind in ("Resource", "ContainerResource"):
        if not source.get("name"):
            problems.append(FieldError.required(spath.child("name"), "must specify a resource name"))
        if kind == "ContainerResource" and not source.get("container"):
            problems.append(FieldError.required(spath.child("container"), "must specify a container"))
    elif not as_dict(source.get("metric")).get("name"):
        problems.append(FieldError.required(spath.child("metric", "name"), "must specify a metric name"))
    if kind == "Object":
        reference = as_dict(source.get("describedObject"))
        problems.extend(validate_reference(reference, spath.child("describedObject")))
    problems.extend(validate_target(source.get("target"), spath.child("target")))
    return problems


def validate_reference(ref: Obj, path: Path) -> list[FieldError]:
    """Upstream ``ValidateCrossVersionObjectReference``: kind and name, each a valid path segment."""
    problems: list[FieldError] = []
    for name in ("kind", "name"):
        value = str(ref.get(name) or "")
        if not value:
            problems.append(FieldError.required(path.child(name), ""))
        else:
            problems.extend(FieldError.invalid(path.child(name), value, msg)
                            for msg in validation.validate_path_segment_name(value, False))
    return problems


def validate_rules(rules: Any, path: Path) -> list[FieldError]:
    rules = as_dict(rules)
    problems: list[FieldError] = []
    window = _int(rules.get("stabilizationWindowSeconds"))
    if window is not None and not 0 <= window <= MAX_STABILIZATION_SECONDS:
        problems.append(FieldError.invalid(path.child("stabilizationWindowSeconds"), window,
                                           f"must be less than or equal to {MAX_STABILIZATION_SECONDS}"
                                           if window > 0 else "must be greater than or equal to zero"))
    policy = rules.get("selectPolicy")
    if policy is not None and policy not in SELECT_POLICIES:
        problems.append(FieldError.not_supported(path.child("selectPolicy"), policy, SELECT_POLICIES))
    policies = rules.get("policies") if isinstance(rules.get("policies"), list) else []
    if not policies and policy != "Disabled":
        problems.append(FieldError.required(path.child("policies"), "must specify at least one Policy"))
    for i, item in enumerate(policies or []):
        ppath = path.child("policies").index(i)
        entry = as_dict(item)
        if entry.get("type") not in POLICY_TYPES:
            problems.append(FieldError.not_supported(ppath.child("type"), entry.get("type"), POLICY_TYPES))
        value = _int(entry.get("value"))
        if value is None or value <= 0:
            problems.append(FieldError.invalid(ppath.child("value"), entry.get("value"), "must be greater than zero"))
        period = _int(entry.get("periodSeconds"))
        if period is None or period <= 0:
            problems.append(FieldError.invalid(ppath.child("periodSeconds"), entry.get("periodSeconds"),
                                               "must be greater than zero"))
        elif period > MAX_PERIOD_SECONDS:
            problems.append(FieldError.invalid(ppath.child("periodSeconds"), period,
                                               f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
    return problems


class HorizontalPodAutoscalerStrategy(Strategy):
    """autoscaling/v2 HorizontalPodAutoscaler."""

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        if spec.get("minReplicas") is None:
            spec["minReplicas"] = 1
        if not spec.get("metrics"):
            spec["metrics"] = [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            behavior["scaleUp"] = _rules(behavior.get("scaleUp"), SCALE_UP)
            behavior["scaleDown"] = _rules(behavior.get("scaleDown"), SCALE_DOWN)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        low, high = _int(spec.get("minReplicas")), _int(spec.get("maxReplicas"))
        if low is not None and low < 1:
            problems.append(FieldError.invalid(path.child("minReplicas"), low, "must be greater than or equal to 1"))
        if high is None or high < 1:
            problems.append(FieldError.invalid(path.child("maxReplicas"), spec.get("maxReplicas", 0),
                                               "must be greater than 0"))
        if low is not None and high is not None and high < low:
            problems.append(FieldError.invalid(path.child("maxReplicas"), high,
                                               "must be greater than or equal to `minReplicas`"))
        reference = validate_reference(as_dict(spec.get("scaleTargetRef")), path.child("scaleTargetRef"))
        if reference:
            return [*problems, *reference]
        metrics = spec.get("metrics") if isinstance(spec.get("metrics"), list) else []
        metric_problems = [e for i, m in enumerate(metrics or []) for e in validate_metric(m, path.child("metrics")
                                                                                               .index(i))]
        if metric_problems:
            return [*problems, *metric_problems]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for name in ("scaleUp", "scaleDown"):
                problems.extend(validate_rules(behavior.get(name), path.child("behavior", name)))
        return problems
