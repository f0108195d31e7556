"""Defaulting and validation of ResourceQuotas and HorizontalPodAutoscalers
(kubelite.controlplane.apiserver.kinds.{quota,autoscaling}); messages are upstream's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubelite.controlplane.apiserver.kinds import KIND_STRATEGIES
from kubelite.controlplane.apiserver.resources import BUILTIN_RESOURCES

Obj = dict[str, Any]
_INFOS = {(r.group, r.plural): r for r in BUILTIN_RESOURCES if r.preferred}


def run(group: str, plural: str, obj: Obj, change: Callable[[Obj], None] | None = None) -> tuple[Obj, list[str]]:
    strategy = KIND_STRATEGIES[(group, plural)](_INFOS[(group, plural)], unknown_fields=None)
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})["uid"] = "0f3a6f3e-1111-4222-8333-944445555666"
    strategy.prepare_for_create(obj)
    strategy.default(obj)
    problems = strategy.validate(obj)
    if change is None:
        return obj, [str(e) for e in problems]
    assert problems == []
    obj["metadata"]["resourceVersion"] = "5"
    new = copy.deepcopy(obj)
    change(new)
    new = strategy.prepare_for_update(new, obj)
    strategy.default(new)
    return new, [str(e) for e in [*strategy.validate(new), *strategy.validate_update(new, obj)]]


def quota(hard: Obj, scopes: list[str] | None = None) -> Obj:
    spec: Obj = {"hard": hard}
    if scopes is not None:
        spec["scopes"] = scopes
    return {"metadata": {"name": "q", "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(quota({"pods": "10", "requests.cpu": "2", "count/deployments.apps": "3"}), [], id="valid"),
    pytest.param(quota({"pods": "-1"}), ['spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0'],
                 id="negative"),
    pytest.param(quota({"pods": "1500m"}), ['spec.hard[pods]: Invalid value: "1500m": must be an integer'],
                 id="fractional-count"),
    pytest.param(quota({"gpus": "1"}), ['spec.hard[gpus]: Invalid value: "gpus": must be a standard resource for '
                                        "quota"], id="unknown-resource"),
    pytest.param(quota({"pods": "1"}, ["BestEffort", "NotBestEffort"]),
                 ['spec.scopes: Invalid value: ["BestEffort","NotBestEffort"]: conflicting scopes'], id="conflict"),
    pytest.param(quota({"requests.cpu": "1"}, ["BestEffort"]),
                 ['spec.scopes: Invalid value: ["BestEffort"]: unsupported scope applied to resource'],
                 id="scope-resource"),
    pytest.param(quota({"pods": "1"}, ["Sometimes"]),
                 ['spec.scopes: Invalid value: ["Sometimes"]: unsupported scope',
                  'spec.scopes: Invalid value: ["Sometimes"]: unsupported scope applied to resource'], id="bad-scope"),
])
def test_resource_quota_validation(obj: Obj, errors: list[str]) -> None:
    assert run("", "resourcequotas", obj)[1] == errors


def test_resource_quota_scopes_are_immutable() -> None:
    def change(new: Obj) -> None:
        new["spec"]["scopes"] = ["NotTerminating"]
    assert run("", "resourcequotas", quota({"pods": "1"}, ["Terminating"]), change)[1] == [
        'spec.scopes: Invalid value: ["NotTerminating"]: field is immutable']


def hpa(**spec: Any) -> Obj:
    base: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
    base.update(spec)
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": base}


def test_hpa_defaults() -> None:
    stored, errors = run("autoscaling", "horizontalpodautoscalers", hpa(behavior={"scaleDown": {
        "stabilizationWindowSeconds": 60}}))
    assert errors == []
    spec = stored["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    assert spec["behavior"]["scaleDown"] == {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                             "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert spec["behavior"]["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(hpa(minReplicas=3, maxReplicas=2),
                 ["spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`"],
                 id="max-below-min"),
    pytest.param(hpa(minReplicas=0), ["spec.minReplicas: Invalid value: 0: must be greater than or equal to 1"],
                 id="zero-min"),
    pytest.param(hpa(scaleTargetRef={"kind": "Deployment"}), ["spec.scaleTargetRef.name: Required value"],
                 id="no-target-name"),
    pytest.param(hpa(metrics=[{"type": "Magic"}]),
                 ['spec.metrics[0].type: Unsupported value: "Magic": supported values: "Object", "Pods", "Resource", '
                  '"External", "ContainerResource"'], id="metric-type"),
    pytest.param(hpa(metrics=[{"type": "Resource"}]),
                 ["spec.metrics[0].resource: Required value: must populate information for the given metric source"],
                 id="metric-source"),
    pytest.param(hpa(behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}),
                 ["spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero"],
                 id="policy-value"),
])
def test_hpa_validation(obj: Obj, errors: list[str]) -> None:
    assert run("autoscaling", "horizontalpodautoscalers", obj)[1] == errors


def limit_range(*limits: Obj) -> Obj:
    return {"metadata": {"name": "lr", "namespace": "default"}, "spec": {"limits": list(limits)}}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(limit_range({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "2"},
                              "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "200m"}}), [], id="valid"),
    pytest.param(limit_range({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}),
                 ['spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1'],
                 id="min-over-max"),
    pytest.param(limit_range({"type": "Container", "default": {"memory": "1Gi"}, "defaultRequest": {"memory": "2Gi"}}),
                 ['spec.limits[0].defaultRequest[memory]: Invalid value: "2Gi": default request value 2Gi is greater '
                  "than default limit value 1Gi"], id="request-over-limit"),
    pytest.param(limit_range({"type": "Pod", "default": {"cpu": "1"}, "max": {"cpu": "2"}}),
                 ["spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"], id="pod-default"),
    pytest.param(limit_range({"type": "PersistentVolumeClaim"}),
                 ["spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but "
                  "neither was provided"], id="pvc-no-storage"),
    pytest.param(limit_range({"type": "Container", "max": {"cpu": "1"}}, {"type": "Container", "max": {"cpu": "1"}}),
                 ['spec.limits[1].type: Duplicate value: "Container"'], id="duplicate-type"),
    pytest.param(limit_range({"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}}),
                 ['spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1'],
                 id="ratio-below-one"),
    pytest.param(limit_range({"type": "Container", "max": {"pods": "1"}}),
                 ['spec.limits[0].max[pods]: Invalid value: "pods": must be a standard resource for containers'],
                 id="container-resource"),
])
def test_limit_range_validation(obj: Obj, errors: list[str]) -> None:
    assert run("", "limitranges", obj)[1] == errors
