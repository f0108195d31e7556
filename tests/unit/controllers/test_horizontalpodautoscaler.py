"""The HPA's replica calculator and behaviors, case by case against upstream's rules."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controlplane.controllers.horizontalpodautoscaler import (
    Behavior,
    History,
    MetricError,
    PodSample,
    Policy,
    Rules,
    limit_rate,
    limit_without_behavior,
    pod_samples,
    raw_resource_replicas,
    record_scale_event,
    resource_replicas,
    set_condition,
    stabilize,
    stabilize_without_behavior,
)

NOW = 1_000_000.0
LONG_AGO = "1970-01-01T00:00:00Z"  # started and ready long before NOW: past the CPU initialization period


def pod(name: str, *, cpu: str | None = "100m", phase: str = "Running", ready: str = "True",
        deleting: bool = False, started: str = LONG_AGO) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu}} if cpu is not None else {}
    md: dict[str, Any] = {"name": name, "namespace": "default"}
    if deleting:
        md["deletionTimestamp"] = LONG_AGO
    return {"metadata": md, "spec": {"containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": phase, "startTime": started,
                       "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": LONG_AGO}]}}


def samples(**milli: int) -> dict[str, PodSample]:
    return {name: PodSample(value, NOW - 1, 15.0) for name, value in milli.items()}


@pytest.mark.parametrize(("usage", "target", "current", "expected"), [
    pytest.param({"a": 100, "b": 100}, 50, 2, 4, id="double-the-target-doubles"),
    pytest.param({"a": 52, "b": 52}, 50, 2, 2, id="within-tolerance-keeps"),
    pytest.param({"a": 10, "b": 10}, 50, 2, 1, id="a-fifth-of-the-target-shrinks"),
    pytest.param({"a": 300}, 50, 1, 6, id="one-busy-pod"),
])
def test_resource_replicas_is_ceil_of_current_times_usage_over_target(usage: dict[str, int], target: int,
                                                                       current: int, expected: int) -> None:
    pods = [pod(name) for name in usage]
    replicas, utilization, raw = resource_replicas(current_replicas=current, target_utilization=target,
                                                   resource="cpu", pods=pods, metrics=samples(**usage), now=NOW)
    assert replicas == expected
    assert utilization == sum(usage.values()) * 100 // (100 * len(usage))
    assert raw == sum(usage.values()) // len(usage)


def test_missing_pods_count_as_full_use_on_a_scale_down() -> None:
    # a: 10% of its request; b has no metrics: treated as 100% (the target is below 100), so no scale down
    pods = [pod("a"), pod("b")]
    replicas, _, _ = resource_replicas(current_replicas=2, target_utilization=50, resource="cpu", pods=pods,
                                       metrics=samples(a=10), now=NOW)
    assert replicas == 2


def test_missing_pods_count_as_idle_on_a_scale_up() -> None:
    pods = [pod("a"), pod("b")]
    replicas, _, _ = resource_replicas(current_replicas=2, target_utilization=50, resource="cpu", pods=pods,
                                       metrics=samples(a=200), now=NOW)
    assert replicas == 4  # (200 + 0) / 200 requested = 100% vs 50% over 2 pods


def test_unready_pods_count_as_idle_on_a_scale_up_and_pending_ones_are_ignored() -> None:
    pods = [pod("a"), pod("b", ready="False", started="1970-01-01T00:16:00Z"), pod("p", phase="Pending"),
            pod("d", deleting=True), pod("f", phase="Failed")]
    replicas, _, _ = resource_replicas(current_replicas=2, target_utilization=50, resource="cpu", pods=pods,
                                       metrics=samples(a=200, b=900, p=900, d=900, f=900), now=NOW)
    assert replicas == 4  # b is unready (it never was ready since it started): it counts 0, not 900


def test_a_pod_still_starting_counts_only_after_a_whole_window_of_readiness() -> None:
    starting = pod("a", started="1970-01-12T13:45:00Z")  # within 5 minutes of NOW (1970-01-12T13:46:40Z)
    starting["status"]["conditions"][0]["lastTransitionTime"] = "1970-01-12T13:46:30Z"
    with pytest.raises(MetricError, match="did not receive metrics for targeted pods"):
        resource_replicas(current_replicas=1, target_utilization=50, resource="cpu", pods=[starting],
                          metrics={"a": PodSample(200, NOW - 5, 15.0)}, now=NOW)
    replicas, _, _ = resource_replicas(current_replicas=1, target_utilization=50, resource="cpu", pods=[starting],
                                       metrics={"a": PodSample(200, NOW, 5.0)}, now=NOW)
    assert replicas == 4


@pytest.mark.parametrize(("pods", "message"), [
    pytest.param([], "no pods returned by selector", id="no-pods"),
    pytest.param([pod("a", cpu=None)], "missing request for cpu in container c of Pod a", id="no-request"),
])
def test_errors_say_what_upstream_says(pods: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(MetricError, match=message):
        resource_replicas(current_replicas=1, target_utilization=50, resource="cpu", pods=pods,
                          metrics=samples(a=10), now=NOW)


def test_an_average_value_target_divides_the_mean_usage_by_it() -> None:
    pods = [pod("a"), pod("b")]
    replicas, usage = raw_resource_replicas(current_replicas=2, target_milli=100, resource="cpu", pods=pods,
                                            metrics=samples(a=300, b=100), now=NOW)
    assert (replicas, usage) == (4, 200)


def test_pod_samples_sum_containers_and_can_pick_one() -> None:
    items = [{"metadata": {"name": "a"}, "timestamp": "1970-01-01T00:00:10Z", "window": "15s",
              "containers": [{"name": "x", "usage": {"cpu": "250m", "memory": "1Mi"}},
                             {"name": "y", "usage": {"cpu": "500000n", "memory": "1Mi"}}]}]
    assert pod_samples(items, "cpu") == {"a": PodSample(250 + 1, 10.0, 15.0)}
    assert pod_samples(items, "cpu", "x") == {"a": PodSample(250, 10.0, 15.0)}
    assert pod_samples(items, "memory")["a"].value == 2 * 1024 * 1024 * 1000


def test_scale_down_is_held_by_the_highest_recommendation_in_the_window() -> None:
    behavior, history = Behavior(), History()
    assert stabilize(history, desired=6, current=6, behavior=behavior, now=NOW)[0] == 6
    replicas, reason, _ = stabilize(history, desired=2, current=6, behavior=behavior, now=NOW + 60)
    assert (replicas, reason) == (6, "ScaleDownStabilized")
    assert stabilize(history, desired=2, current=6, behavior=behavior, now=NOW + 400)[0] == 2


def test_scale_up_is_stabilized_only_with_a_window() -> None:
    behavior = Behavior(up=Rules(60, "Max", (Policy("Percent", 100, 15),)))
    history = History()
    stabilize(history, desired=2, current=2, behavior=behavior, now=NOW)
    assert stabilize(history, desired=8, current=2, behavior=behavior, now=NOW + 10)[0] == 2
    assert stabilize(History(), desired=8, current=2, behavior=Behavior(), now=NOW)[0] == 8


@pytest.mark.parametrize(("desired", "current", "expected", "reason"), [
    pytest.param(20, 2, 6, "ScaleUpLimit", id="max-of-4-pods-and-100-percent"),
    pytest.param(20, 10, 10, "TooManyReplicas", id="max-replicas"),
    pytest.param(5, 4, 5, "DesiredWithinRange", id="within"),
    pytest.param(0, 4, 1, "TooFewReplicas", id="min-replicas"),
])
def test_default_rate_policies(desired: int, current: int, expected: int, reason: str) -> None:
    replicas, why, _ = limit_rate(History(), desired=desired, current=current, min_replicas=1, max_replicas=10,
                                  behavior=Behavior(), now=NOW)
    assert (replicas, why) == (expected, reason)


def test_recent_scale_events_use_up_the_policy_budget() -> None:
    behavior = Behavior(up=Rules(0, "Max", (Policy("Pods", 2, 60),)),
                        down=Rules(0, "Max", (Policy("Percent", 50, 60),)))
    history = History()
    record_scale_event(history, behavior=behavior, previous=2, new=4, now=NOW)
    # two pods were added 10 s ago: the period started at 2, so 2 + 2 = 4 is all that is allowed
    assert limit_rate(history, desired=9, current=4, min_replicas=1, max_replicas=10, behavior=behavior,
                      now=NOW + 10)[:2] == (4, "ScaleUpLimit")
    assert limit_rate(history, desired=9, current=4, min_replicas=1, max_replicas=10, behavior=behavior,
                      now=NOW + 61)[0] == 6
    assert limit_rate(History(), desired=1, current=8, min_replicas=1, max_replicas=10, behavior=behavior,
                      now=NOW)[:2] == (4, "ScaleDownLimit")


def test_a_disabled_direction_never_moves() -> None:
    behavior = Behavior(down=Rules(0, "Disabled", (Policy("Percent", 100, 15),)))
    assert limit_rate(History(), desired=1, current=5, min_replicas=1, max_replicas=10, behavior=behavior,
                      now=NOW)[0] == 5


def test_without_behavior_upstream_limits_to_double_or_four_and_holds_downscales_five_minutes() -> None:
    assert limit_without_behavior(desired=50, current=3, min_replicas=1, max_replicas=100)[:2] == (6, "ScaleUpLimit")
    assert limit_without_behavior(desired=50, current=1, min_replicas=1, max_replicas=100)[0] == 4
    assert limit_without_behavior(desired=50, current=3, min_replicas=1, max_replicas=5)[:2] == (5, "TooManyReplicas")
    history = History()
    assert stabilize_without_behavior(history, desired=5, now=NOW) == 5
    assert stabilize_without_behavior(history, desired=1, now=NOW + 100) == 5
    assert stabilize_without_behavior(history, desired=1, now=NOW + 400) == 1


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    status: dict[str, Any] = {}
    set_condition(status, "AbleToScale", "True", "A", "a", "t1")
    set_condition(status, "AbleToScale", "True", "B", "b", "t2")
    assert status["conditions"] == [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "t1",
                                     "reason": "B", "message": "b"}]
    set_condition(status, "AbleToScale", "False", "C", "c", "t3")
    assert status["conditions"][0]["lastTransitionTime"] == "t3"


# ---- one reconcile against a fake API -----------------------------------------------------------------


class FakeScale:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    async def get(self, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        if name not in self.api.replicas:
            from kubelite.client import APIStatusError
            raise APIStatusError({"kind": "Status", "code": 404, "reason": "NotFound",
                                  "message": f'deployments.apps "{name}" not found'})
        return {"spec": {"replicas": self.api.replicas[name]}, "status": {"replicas": self.api.replicas[name],
                                                                           "selector": "app=web"}}

    async def update(self, body: dict[str, Any], *, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.api.replicas[name] = body["spec"]["replicas"]
        return body


class FakeResource:
    def __init__(self, api: FakeAPI, group: str, version: str, plural: str, namespaced: bool) -> None:
        self.api = api
        self.group, self.version, self.plural, self.namespaced = group, version, plural, namespaced
        self.group_resource = f"{plural}.{group}" if group else plural

    def subresource(self, name: str) -> FakeScale:
        return FakeScale(self.api)

    async def update_status(self, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        self.api.statuses.append(body["status"])
        return body


class FakeAPI:
    """What the controller calls: resources (scale, HPA status) and GETs of PodMetrics."""

    def __init__(self, usage_milli: dict[str, int]) -> None:
        self.replicas = {"web": 2}
        self.usage = usage_milli
        self.statuses: list[dict[str, Any]] = []

    def resource(self, group: str, version: str, plural: str, *, namespaced: bool = True) -> FakeResource:
        return FakeResource(self, group, version, plural, namespaced)

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert path == "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
        return {"items": [{"metadata": {"name": name}, "timestamp": "1970-01-01T00:00:00Z", "window": "15s",
                           "containers": [{"name": "c", "usage": {"cpu": f"{milli}m"}}]}
                          for name, milli in self.usage.items()]}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, involved: dict[str, Any], *, event_type: str, reason: str, message: str) -> None:
        assert involved["kind"] == "HorizontalPodAutoscaler"
        self.events.append((event_type, reason, message))


def _controller(api: FakeAPI, target: str = "web") -> tuple[Any, Recorder]:
    from kubelite.controlplane.controllers.horizontalpodautoscaler import HorizontalPodAutoscalerController

    recorder = Recorder()
    controller = HorizontalPodAutoscalerController(api, recorder=recorder)  # type: ignore[arg-type]
    controller.hpas.store.put({"metadata": {"name": "hpa", "namespace": "default", "generation": 1},
                               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": target},
                                        "minReplicas": 1, "maxReplicas": 10, "metrics": [CPU_50]}})
    for name in api.usage:
        p = pod(name)
        p["metadata"]["labels"] = {"app": "web"}
        controller.pods.store.put(p)
    return controller, recorder


CPU_50 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}


async def test_a_reconcile_scales_through_the_scale_subresource_and_reports_it() -> None:
    api = FakeAPI({"a": 150, "b": 150})  # 150% of a 100m request against a 50% target: 2 -> 6
    controller, recorder = _controller(api)
    assert await controller.reconcile("default/hpa") == controller.sync_period
    assert api.replicas["web"] == 4  # no behavior: at most max(2 x 2, 4) in one step
    status = api.statuses[-1]
    assert status["desiredReplicas"] == 4 and status["currentReplicas"] == 2 and status["lastScaleTime"]
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 150, "averageValue": "150m"}}}]
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {"AbleToScale": ("True", "SucceededRescale"), "ScalingActive": ("True", "ValidMetricFound"),
                          "ScalingLimited": ("True", "ScaleUpLimit")}
    assert recorder.events == [("Normal", "SuccessfulRescale",
                                "New size: 4; reason: cpu resource utilization (percentage of request) above target")]


async def test_a_missing_target_is_failed_get_scale_and_nothing_else() -> None:
    api = FakeAPI({"a": 150})
    controller, recorder = _controller(api, target="ghost")
    await controller.reconcile("default/hpa")
    (status,) = api.statuses
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("AbleToScale", "False", "FailedGetScale")]
    assert recorder.events == [("Warning", "FailedGetScale", 'deployments.apps "ghost" not found')]
    assert api.replicas == {"web": 2}
