"""autoscaling/v1 <-> v2 HorizontalPodAutoscaler conversion: the CPU target maps, the rest survives in annotations."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.apiserver.autoscaling_v1 import METRICS, to_v1, to_v2
from kubelite.controlplane.apiserver.errors import APIError

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def v2(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 5, **spec}}


CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
MEMORY = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                        "averageValue": "100Mi"}}}


def test_kubectl_autoscales_v1_body_becomes_a_cpu_utilization_metric() -> None:
    body = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 2, "targetCPUUtilizationPercentage": 50}}
    converted = to_v2(body)
    assert converted["apiVersion"] == "autoscaling/v2"
    assert converted["spec"] == {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 2, "metrics": [CPU]}


def test_a_v2_object_reads_as_v1_with_its_status() -> None:
    obj = v2(metrics=[CPU])
    obj["status"] = {"currentReplicas": 2, "desiredReplicas": 3, "lastScaleTime": "2026-01-01T00:00:00Z",
                     "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                         "averageUtilization": 180, "averageValue": "90m"}}}],
                     "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"}]}
    out = to_v1(obj)
    assert out["apiVersion"] == "autoscaling/v1" and out["metadata"]["resourceVersion"] == "7"
    assert out["spec"] == {"scaleTargetRef": REF, "minReplicas": 1, "maxReplicas": 5,
                           "targetCPUUtilizationPercentage": 50}
    assert out["status"]["currentCPUUtilizationPercentage"] == 180 and out["status"]["desiredReplicas"] == 3
    assert "autoscaling.alpha.kubernetes.io/conditions" in out["metadata"]["annotations"]


@pytest.mark.parametrize("metrics", [[CPU, MEMORY], [MEMORY], []], ids=["cpu-and-memory", "memory", "none"])
def test_a_round_trip_through_v1_loses_nothing(metrics: list[dict[str, Any]]) -> None:
    obj = v2(metrics=metrics, behavior={"scaleDown": {"stabilizationWindowSeconds": 60}}) if metrics else v2()
    back = to_v2(to_v1(obj))
    assert back["spec"] == obj["spec"]
    assert "annotations" not in back["metadata"]


def test_other_metrics_travel_in_upstreams_annotation() -> None:
    assert METRICS in to_v1(v2(metrics=[MEMORY]))["metadata"]["annotations"]


def test_a_broken_annotation_is_a_clear_400() -> None:
    body = {"metadata": {"name": "web", "annotations": {METRICS: "{not json"}}, "spec": {"scaleTargetRef": REF}}
    with pytest.raises(APIError) as caught:
        to_v2(body)
    assert caught.value.code == 400 and METRICS in caught.value.message
