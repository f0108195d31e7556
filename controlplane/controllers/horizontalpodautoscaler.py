"""HorizontalPodAutoscaler: scale a workload's replicas to hold a resource metric at its target
(upstream ``pkg/controller/podautoscaler``: horizontal.go and replica_calculator.go).

Design
------
Every HPA is reconciled when it changes and again every sync period (``--horizontal-pod-autoscaler-sync-period``,
15 s), since the metrics it reads change without any event. One reconcile:

1. reads the target's ``scale`` subresource (the kind's plural from a fixed table for the built-ins, else
   from discovery: a custom resource with a scale subresource works too); failure: ``AbleToScale=False
   FailedGetScale``;
2. a target at 0 replicas with ``minReplicas`` > 0 is left alone (``ScalingActive=False ScalingDisabled``);
   outside ``[minReplicas, maxReplicas]`` it is brought to the nearer bound at once;
3. else each metric proposes a replica count (:func:`resource_replicas` / :func:`raw_resource_replicas`: the
   replica calculator, with its 0.1 tolerance and its handling of missing, unready and ignored pods) from
   the ``metrics.k8s.io`` PodMetrics of the pods that the scale's ``status.selector`` matches; the largest
   proposal wins; if any metric failed a scale-down is not allowed, and if all failed nothing changes
   (``ScalingActive=False FailedGetResourceMetric``);
4. the proposal goes through the behavior (:class:`Behavior`, defaults as the v2 API's: scale up with no
   stabilization, by at most max(4 pods, 100 %) per 15 s; scale down stabilized over 300 s, by at most 100 %
   per 15 s), which sets ``AbleToScale`` (``ReadyForNewScale``/``ScaleUpStabilized``/``ScaleDownStabilized``)
   and ``ScalingLimited`` (``DesiredWithinRange``/``TooManyReplicas``/``ScaleUpLimit``/...);
5. a changed count is written through the scale subresource, with the Event ``SuccessfulRescale``
   ("New size: N; reason: cpu resource utilization (percentage of request) above target") and
   ``lastScaleTime``; the status (currentReplicas, desiredReplicas, currentMetrics, conditions,
   observedGeneration) is written when it changed.

Recommendations and scale events (for stabilization windows and rate policies) are kept in memory per HPA,
as upstream does; a restart forgets them, which only makes the first decisions after it less damped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from kubelite.api import labels as label_selectors
from kubelite.api.meta import rfc3339
from kubelite.api.quantity import Quantity, QuantityError
from kubelite.client import APIClient, APIStatusError, EventRecorder, SharedInformerFactory
from kubelite.client.informer import NAMESPACE_INDEX
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import parse_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]

TOLERANCE: Final = 0.1
CPU_INITIALIZATION_PERIOD: Final = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY: Final = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
DEFAULT_SYNC_PERIOD: Final = 15.0
SCALE_RESOURCES: Final = {("apps", "Deployment"): "deployments", ("apps", "ReplicaSet"): "replicasets",
                          ("apps", "StatefulSet"): "statefulsets", ("", "ReplicationController"):
                          "replicationcontrollers"}


class MetricError(Exception):
    """A metric could not give a replica count (upstream's error text is the message)."""


# ---- the replica calculator (pure) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PodSample:
    """One pod's usage of a resource, in milli-units, with the time and window of its sample (seconds)."""

    value: int
    timestamp: float = 0.0
    window: float = 0.0


def _within_tolerance(ratio: float) -> bool:
    return abs(1.0 - ratio) <= TOLERANCE


def _condition(pod: Obj, kind: str) -> Obj | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == kind), None)


def group_pods(pods: Iterable[Obj], metrics: Mapping[str, PodSample], resource: str, *,
               now: float) -> tuple[int, set[str], set[str], set[str]]:
    """Upstream groupPods: (ready count, unready, missing, ignored) pod names."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        name = str(pod["metadata"]["name"])
        phase = (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase in ("Failed", "Pending"):
            ignored.add(name)
            continue
        sample = metrics.get(name)
        if sample is None:
            missing.add(name)
            continue
        if resource == "cpu":
            condition = _condition(pod, "Ready")
            start = parse_time((pod.get("status") or {}).get("startTime"))
            if condition is None or start is None:
                is_unready = True
            else:
                transition = parse_time(condition.get("lastTransitionTime")) or 0.0
                if start + CPU_INITIALIZATION_PERIOD > now:
                    # still starting: its sample counts only if it was taken a whole window after it got ready
                    is_unready = condition.get("status") == "False" or sample.timestamp < transition + sample.window
                else:
                    # unready and never ready since it started
                    is_unready = (condition.get("status") == "False"
                                  and start + INITIAL_READINESS_DELAY > transition)
            if is_unready:
                unready.add(name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: Iterable[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Each pod's request of ``resource`` in milli-units (one container's when ``container`` is set)."""
    out: dict[str, int] = {}
    for pod in pods:
        name = str(pod["metadata"]["name"])
        total = 0
        for c in (pod.get("spec") or {}).get("containers") or ():
            if container and c.get("name") != container:
                continue
            request = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if request is None:
                raise MetricError(f"missing request for {resource} in container {c.get('name')} of Pod {name}")
            try:
                total += Quantity.parse(request).milli_value()
            except QuantityError as exc:
                raise MetricError(f"invalid request for {resource} in container {c.get('name')} of Pod {name}: "
                                  f"{exc}") from None
        out[name] = total
    return out


def utilization_ratio(metrics: Mapping[str, PodSample], requests: Mapping[str, int],
                      target: int) -> tuple[float, int, int]:
    """Upstream GetResourceUtilizationRatio: (ratio, utilization %, average raw usage in milli-units)."""
    used = requested = entries = 0
    for name, sample in metrics.items():
        if name not in requests:
            continue
        used += sample.value
        requested += requests[name]
        entries += 1
    if requested == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = used * 100 // requested
    return utilization / target, utilization, used // entries


def _counted_samples(pods: list[Obj], metrics: Mapping[str, PodSample], resource: str, *,
                     now: float | None) -> tuple[dict[str, PodSample], int, set[str], set[str]]:
    """The samples that count (upstream groupPods, then removeMetricsForPods of the ignored and unready):
    (samples, ready count, unready, missing); refuses as upstream when there is nothing to count."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    samples = dict(metrics)
    ready, unready, missing, ignored = group_pods(pods, samples, resource, now=time.time() if now is None else now)
    for name in ignored | unready:
        samples.pop(name, None)
    if not samples:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    return samples, ready, unready, missing


def _replicas_after_guesses(current_replicas: int, ratio: float, new_ratio: float, count: int) -> int:
    """Upstream's second pass, with missing/unready pods guessed: no change if the guesses flip the
    direction or land within tolerance, nor a move against the first ratio's direction."""
    if _within_tolerance(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current_replicas
    replicas = math.ceil(new_ratio * count)
    if (new_ratio < 1.0 and replicas > current_replicas) or (new_ratio > 1.0 and replicas < current_replicas):
        return current_replicas
    return replicas


def resource_replicas(*, current_replicas: int, target_utilization: int, resource: str, pods: list[Obj],
                      metrics: Mapping[str, PodSample], container: str = "",
                      now: float | None = None) -> tuple[int, int, int]:
    """Upstream GetResourceReplicas: (replicas, utilization %, average raw usage in milli-units)."""
    samples, ready, unready, missing = _counted_samples(pods, metrics, resource, now=now)
    requests = pod_requests(pods, resource, container)
    ratio, utilization, raw = utilization_ratio(samples, requests, target_utilization)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if _within_tolerance(ratio):
            return current_replicas, utilization, raw
        return math.ceil(ratio * ready), utilization, raw
    if missing:
        if ratio < 1.0:
            # scaling down: a pod without metrics counts as using its full request (or the target if larger)
            fallback = max(100, target_utilization)
            for name in missing:
                samples[name] = PodSample(requests[name] * fallback // 100)
        elif ratio > 1.0:
            for name in missing:  # scaling up: a pod without metrics counts as idle
                samples[name] = PodSample(0)
    if scale_up_with_unready:
        for name in unready:
            samples[name] = PodSample(0)
    new_ratio, _, _ = utilization_ratio(samples, requests, target_utilization)
    return _replicas_after_guesses(current_replicas, ratio, new_ratio, len(samples)), utilization, raw


def raw_resource_replicas(*, current_replicas: int, target_milli: int, resource: str, pods: list[Obj],
                          metrics: Mapping[str, PodSample], now: float | None = None) -> tuple[int, int]:
    """Upstream GetRawResourceReplicas (an AverageValue target): (replicas, average usage in milli-units)."""
    samples, ready, unready, missing = _counted_samples(pods, metrics, resource, now=now)

    def usage_ratio() -> tuple[float, int]:
        usage = sum(s.value for s in samples.values()) // len(samples)
        return usage / target_milli, usage

    ratio, usage = usage_ratio()
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if _within_tolerance(ratio):
            return current_replicas, usage
        return math.ceil(ratio * ready), usage
    if missing:
        for name in missing:
            samples[name] = PodSample(target_milli if ratio < 1.0 else 0)
    if scale_up_with_unready:
        for name in unready:
            samples[name] = PodSample(0)
    new_ratio, _ = usage_ratio()
    return _replicas_after_guesses(current_replicas, ratio, new_ratio, len(samples)), usage


# ---- behavior: stabilization windows and rate policies (pure, with the history passed in) ------------


@dataclass(frozen=True, slots=True)
class Policy:
    type: str  # Pods | Percent
    value: int
    period: int


@dataclass(frozen=True, slots=True)
class Rules:
    stabilization: int
    select: str  # Max | Min | Disabled
    policies: tuple[Policy, ...]


DEFAULT_SCALE_UP: Final = Rules(0, "Max", (Policy("Pods", 4, 15), Policy("Percent", 100, 15)))
DEFAULT_SCALE_DOWN: Final = Rules(300, "Max", (Policy("Percent", 100, 15),))


def _rules(raw: Obj | None, default: Rules) -> Rules:
    if not raw:
        return default
    policies = tuple(Policy(str(p.get("type")), int(p.get("value") or 0), int(p.get("periodSeconds") or 0))
                     for p in raw.get("policies") or ()) or default.policies
    window = raw.get("stabilizationWindowSeconds")
    return Rules(default.stabilization if window is None else int(window), str(raw.get("selectPolicy") or "Max"),
                 policies)


@dataclass(frozen=True, slots=True)
class Behavior:
    up: Rules = DEFAULT_SCALE_UP
    down: Rules = DEFAULT_SCALE_DOWN

    @classmethod
    def of(cls, hpa: Obj) -> Behavior:
        raw = (hpa.get("spec") or {}).get("behavior") or {}
        return cls(_rules(raw.get("scaleUp"), DEFAULT_SCALE_UP), _rules(raw.get("scaleDown"), DEFAULT_SCALE_DOWN))


@dataclass(slots=True)
class ScaleEvent:
    change: int
    timestamp: float
    outdated: bool = False


@dataclass(slots=True)
class History:
    """What one HPA's past decisions were: recommendations (for windows) and scale events (for rates)."""

    recommendations: list[tuple[int, float]] = field(default_factory=list)
    ups: list[ScaleEvent] = field(default_factory=list)
    downs: list[ScaleEvent] = field(default_factory=list)


def stabilize(history: History, *, desired: int, current: int, behavior: Behavior, now: float) -> tuple[int, str, str]:
    """Upstream stabilizeRecommendationWithBehaviors; records ``desired`` in the history.

    Going up, the lowest recommendation within the scale-up window wins; going down, the highest within
    the scale-down window (so a brief dip never removes pods that the last five minutes wanted).
    """
    pick: Callable[[int, int], int]
    if desired >= current:
        window, pick = behavior.up.stabilization, min
        reason, message = "ScaleUpStabilized", ("recent recommendations were lower than current one, applying the "
                                                "lowest recent recommendation")
    else:
        window, pick = behavior.down.stabilization, max
        reason, message = "ScaleDownStabilized", ("recent recommendations were higher than current one, applying "
                                                  "the highest recent recommendation")
    obsolete = now - max(behavior.up.stabilization, behavior.down.stabilization)
    cutoff = now - window
    recommendation, old_index = desired, -1
    for index, (earlier, stamp) in enumerate(history.recommendations):
        if stamp > cutoff:
            recommendation = pick(earlier, recommendation)
        if stamp < obsolete:
            old_index = index
    if old_index >= 0:
        history.recommendations[old_index] = (desired, now)
    else:
        history.recommendations.append((desired, now))
    return recommendation, reason, message


def _change_in_period(period: int, events: list[ScaleEvent], now: float) -> int:
    cutoff = now - period
    return sum(e.change for e in events if e.timestamp > cutoff and not e.outdated)


def scale_up_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick: Callable[[int, int], int] = min if rules.select == "Min" else max
    result: int | None = None
    for policy in rules.policies:
        start = current - _change_in_period(policy.period, history.ups, now)
        proposed = (start + policy.value if policy.type == "Pods"
                    else math.ceil(start * (1 + policy.value / 100)))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def scale_down_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    pick: Callable[[int, int], int] = max if rules.select == "Min" else min
    result: int | None = None
    for policy in rules.policies:
        start = current + _change_in_period(policy.period, history.downs, now)
        proposed = (start - policy.value if policy.type == "Pods"
                    else int(start * (1 - policy.value / 100)))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def limit_rate(history: History, *, desired: int, current: int, min_replicas: int, max_replicas: int,
               behavior: Behavior, now: float) -> tuple[int, str, str]:
    """Upstream convertDesiredReplicasWithBehaviorRate: (replicas, ScalingLimited reason, message)."""
    if desired > current:
        limit = max(scale_up_limit(current, history, behavior.up, now), current)
        if max_replicas > limit:
            allowed, reason, message = limit, "ScaleUpLimit", ("the desired replica count is increasing faster "
                                                               "than the maximum scale rate")
        else:
            allowed, reason, message = max_replicas, "TooManyReplicas", ("the desired replica count is more than "
                                                                         "the maximum replica count")
        if desired > allowed:
            return allowed, reason, message
    elif desired < current:
        limit = min(scale_down_limit(current, history, behavior.down, now), current)
        if min_replicas < limit:
            allowed, reason, message = limit, "ScaleDownLimit", ("the desired replica count is decreasing faster "
                                                                 "than the maximum scale rate")
        else:
            allowed, reason, message = min_replicas, "TooFewReplicas", ("the desired replica count is less than "
                                                                        "the minimum replica count")
        if desired < allowed:
            return allowed, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


DOWNSCALE_STABILIZATION: Final = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization


def stabilize_without_behavior(history: History, *, desired: int, now: float) -> int:
    """Upstream stabilizeRecommendation (an HPA without spec.behavior): the highest recommendation of the
    last five minutes, this one included; records ``desired``."""
    cutoff = now - DOWNSCALE_STABILIZATION
    recommendation = max([desired, *(r for r, stamp in history.recommendations if stamp > cutoff)])
    old = next((i for i, (_, stamp) in enumerate(history.recommendations) if stamp <= cutoff), -1)
    if old >= 0:
        history.recommendations[old] = (desired, now)
    else:
        history.recommendations.append((desired, now))
    return recommendation


def limit_without_behavior(*, desired: int, current: int, min_replicas: int,
                           max_replicas: int) -> tuple[int, str, str]:
    """Upstream convertDesiredReplicasWithRules: at most max(2 x current, 4) in one step, within [min, max]."""
    scale_up_limit = max(2 * current, 4)
    if max_replicas > scale_up_limit:
        maximum, reason, message = scale_up_limit, "ScaleUpLimit", ("the desired replica count is increasing "
                                                                     "faster than the maximum scale rate")
    else:
        maximum, reason, message = max_replicas, "TooManyReplicas", ("the desired replica count is more than the "
                                                                     "maximum replica count")
    if desired < min_replicas:
        return min_replicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
    if desired > maximum:
        return maximum, reason, message
    return desired, "DesiredWithinRange", "the desired count is within the acceptable range"


def record_scale_event(history: History, *, behavior: Behavior, previous: int, new: int, now: float) -> None:
    """Upstream storeScaleEvent: remember a rescale for the rate policies (reusing an outdated slot)."""
    events, rules = (history.ups, behavior.up) if new > previous else (history.downs, behavior.down)
    longest = max((p.period for p in rules.policies), default=0)
    for event in events:
        if event.timestamp < now - longest:
            event.outdated = True
    slot = next((e for e in events if e.outdated), None)
    change = abs(new - previous)
    if slot is not None:
        slot.change, slot.timestamp, slot.outdated = change, now, False
    else:
        events.append(ScaleEvent(change, now))


# ---- the controller ---------------------------------------------------------------------------------


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: str) -> None:
    """Set one condition; its lastTransitionTime moves only when the status does (upstream setCondition)."""
    conditions: list[Obj] = status.setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != value:
                condition["lastTransitionTime"] = now
            condition.update(status=value, reason=reason, message=message)
            return
    conditions.append({"type": kind, "status": value, "lastTransitionTime": now, "reason": reason,
                       "message": message})


def _metric_description(metric: Obj) -> tuple[str, str, str, Obj]:
    """(resource, container, human name, target) of a Resource or ContainerResource metric spec."""
    kind = metric.get("type")
    if kind == "Resource":
        spec = metric.get("resource") or {}
        container, label = "", f"{spec.get('name')} resource"
    elif kind == "ContainerResource":
        spec = metric.get("containerResource") or {}
        container, label = str(spec.get("container") or ""), f"{spec.get('name')} container resource"
    else:
        raise MetricError(f"unsupported metric source type \"{kind}\" (kubelite serves only the resource "
                          "metrics API)")
    return str(spec.get("name") or ""), container, label, spec.get("target") or {}


def pod_samples(pod_metrics: Iterable[Obj], resource: str, container: str = "") -> dict[str, PodSample]:
    """PodMetrics items as samples: the containers' usage summed, in milli-units (upstream metrics client)."""
    out: dict[str, PodSample] = {}
    for item in pod_metrics:
        total, found = 0, False
        for c in item.get("containers") or ():
            if container and c.get("name") != container:
                continue
            usage = (c.get("usage") or {}).get(resource)
            if usage is None:
                continue
            total += Quantity.parse(usage).milli_value()
            found = True
        if not found:
            continue
        window = str(item.get("window") or "0s")
        out[str(item["metadata"]["name"])] = PodSample(total, parse_time(item.get("timestamp")) or 0.0,
                                                       _go_seconds(window))
    return out


def _go_seconds(text: str) -> float:
    """A Go duration string ("15s", "1m0.5s", "500ms") in seconds; unparseable text is 0."""
    import re

    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", text):
        total += float(number) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                                  "h": 3600.0}[unit]
    return total


def _involved(hpa: Obj) -> Obj:
    # informer objects may come without type information; an Event needs it
    return {**hpa, "kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2"}


class HorizontalPodAutoscalerController(Controller):
    name = "horizontalpodautoscaler"
    workers = 5  # upstream --concurrent-horizontal-pod-autoscaler-syncs

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 sync_period: float = DEFAULT_SYNC_PERIOD, recorder: EventRecorder | None = None) -> None:
        super().__init__()
        self.client = client
        self.sync_period = sync_period
        self.hpa_api = client.resource("autoscaling", "v2", "horizontalpodautoscalers")
        self.hpas = self.shared(factory, "autoscaling", "v2", "horizontalpodautoscalers")
        self.pods = self.shared(factory, "", "v1", "pods")
        self.hpas.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                              on_delete=self._forget)
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="horizontal-pod-autoscaler")
        self.history: dict[str, History] = {}
        self._plurals: dict[tuple[str, str], str] = {}

    def _forget(self, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        self.history.pop(f"{md.get('namespace')}/{md.get('name')}", None)

    async def _plural(self, api_version: str, kind: str) -> str:
        group, _, version = api_version.rpartition("/")
        known = SCALE_RESOURCES.get((group, kind))
        if known:
            return known
        cached = self._plurals.get((api_version, kind))
        if cached:
            return cached
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        document = await self.client.request("GET", path)
        for resource in document.get("resources") or ():
            if resource.get("kind") == kind and "/" not in str(resource.get("name")):
                self._plurals[(api_version, kind)] = str(resource["name"])
                return str(resource["name"])
        raise MetricError(f"no resource of kind {kind} in {api_version}")

    async def reconcile(self, key: str) -> float | None:
        hpa = self.hpas.store.get(key)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            self.history.pop(key, None)
            return None
        await self._reconcile(key, hpa)
        return self.sync_period

    async def _reconcile(self, key: str, hpa: Obj) -> None:
        now, stamp = time.time(), rfc3339()
        spec = hpa.get("spec") or {}
        namespace = str(hpa["metadata"]["namespace"])
        status: Obj = {k: v for k, v in (hpa.get("status") or {}).items()}
        status["conditions"] = [dict(c) for c in status.get("conditions") or ()]
        original = {"status": hpa.get("status") or {}}
        ref = spec.get("scaleTargetRef") or {}
        reference = f"{ref.get('kind')}/{ref.get('name')}"
        min_replicas = int(spec.get("minReplicas", 1) if spec.get("minReplicas") is not None else 1)
        max_replicas = int(spec.get("maxReplicas") or 0)
        scale_api = None
        try:
            plural = await self._plural(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
            group, _, version = str(ref.get("apiVersion") or "").rpartition("/")
            scale_api = self.client.resource(group, version, plural).subresource("scale")
            scale = await scale_api.get(str(ref.get("name")), namespace=namespace)
        except (APIStatusError, MetricError) as exc:
            message = f"the HPA controller was unable to get the target's current scale: {exc}"
            self.recorder.event(_involved(hpa), event_type="Warning", reason="FailedGetScale", message=str(exc))
            set_condition(status, "AbleToScale", "False", "FailedGetScale", message, stamp)
            await self._write_status(hpa, original, status)
            return
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", stamp)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        status["currentReplicas"] = current  # upstream reports the scale's spec.replicas
        # upstream recordInitialRecommendation: the first decision is stabilized against today's size
        history = self.history.setdefault(key, History())
        if not history.recommendations:
            history.recommendations.append((current, now))
        status["observedGeneration"] = hpa["metadata"].get("generation")
        rescale, reason = False, ""
        desired = current
        if current == 0 and min_replicas != 0:
            desired = 0
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero", stamp)
        elif current > max_replicas:
            desired, rescale, reason = max_replicas, True, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, rescale, reason = min_replicas, True, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                proposal, metric_name, metric_statuses = await self._replicas_for_metrics(
                    hpa, scale, current, namespace, status, stamp)
            except MetricError as exc:
                await self._write_status(hpa, original, status)
                log.info("horizontalpodautoscaler: %s: %s", key, exc)
                return
            status["currentMetrics"] = metric_statuses
            set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                          f"the HPA was able to successfully calculate a replica count from {metric_name}", stamp)
            if (spec.get("behavior") or None) is None:
                stabilized = stabilize_without_behavior(history, desired=proposal, now=now)
                why, message = "ScaleDownStabilized", ("recent recommendations were higher than current one, "
                                                       "applying the highest recent recommendation")
            else:
                behavior = Behavior.of(hpa)
                stabilized, why, message = stabilize(history, desired=proposal, current=current,
                                                     behavior=behavior, now=now)
            if stabilized != proposal:
                set_condition(status, "AbleToScale", "True", why, message, stamp)
            else:
                set_condition(status, "AbleToScale", "True", "ReadyForNewScale",
                              "recommended size matches current size", stamp)
            if (spec.get("behavior") or None) is None:
                desired, why, message = limit_without_behavior(desired=stabilized, current=current,
                                                               min_replicas=min_replicas, max_replicas=max_replicas)
            else:
                desired, why, message = limit_rate(history, desired=stabilized, current=current,
                                                   min_replicas=min_replicas, max_replicas=max_replicas,
                                                   behavior=behavior, now=now)
            set_condition(status, "ScalingLimited", "False" if desired == stabilized else "True", why, message,
                          stamp)
            rescale = desired != current
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if rescale and scale_api is not None:
            body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": ref.get("name"), "namespace": namespace}, "spec": {"replicas": desired}}
            try:
                await scale_api.update(body, name=str(ref.get("name")), namespace=namespace)
            except APIStatusError as exc:
                self.recorder.event(_involved(hpa), event_type="Warning", reason="FailedRescale",
                                    message=f"New size: {desired}; reason: {reason}; error: {exc}")
                set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {exc}", stamp)
                await self._write_status(hpa, original, status)
                raise
            set_condition(status, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}", stamp)
            self.recorder.event(_involved(hpa), event_type="Normal", reason="SuccessfulRescale",
                                message=f"New size: {desired}; reason: {reason}")
            if spec.get("behavior"):
                record_scale_event(self.history.setdefault(key, History()), behavior=Behavior.of(hpa),
                                   previous=current, new=desired, now=now)
            log.info("horizontalpodautoscaler: %s: %s %d -> %d (%s)", key, reference, current, desired, reason)
            status["lastScaleTime"] = stamp
        status["desiredReplicas"] = desired if rescale else current
        await self._write_status(hpa, original, status)

    async def _replicas_for_metrics(self, hpa: Obj, scale: Obj, current: int, namespace: str, status: Obj,
                                    stamp: str) -> tuple[int, str, list[Obj]]:
        """Upstream computeReplicasForMetrics: the largest proposal, its metric's name, the metric statuses."""
        selector_text = str((scale.get("status") or {}).get("selector") or "")
        if not selector_text:
            message = "the HPA target's scale is missing a selector"
            self.recorder.event(_involved(hpa), event_type="Warning", reason="SelectorRequired",
                                message="selector is required")
            set_condition(status, "ScalingActive", "False", "InvalidSelector", message, stamp)
            raise MetricError(message)
        try:
            selector = label_selectors.parse(selector_text)
        except label_selectors.LabelSelectorError as exc:
            self.recorder.event(_involved(hpa), event_type="Warning", reason="InvalidSelector", message=str(exc))
            set_condition(status, "ScalingActive", "False", "InvalidSelector",
                          f"the HPA target's scale has an invalid selector: {exc}", stamp)
            raise MetricError(str(exc)) from None
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selector.matches(p["metadata"].get("labels") or {})]
        metric_specs = (hpa.get("spec") or {}).get("metrics") or [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                         "averageUtilization": 80}}}]
        best, best_name, statuses, invalid, first_error = -1, "", [], 0, ""
        for metric in metric_specs:
            try:
                replicas, name, metric_status = await self._replicas_for_metric(
                    metric, current, namespace, selector_text, pods)
            except (MetricError, APIStatusError, QuantityError) as exc:
                invalid += 1
                first_error = first_error or str(exc)
                kind = "FailedGetContainerResourceMetric" if metric.get("type") == "ContainerResource" \
                    else "FailedGetResourceMetric"
                self.recorder.event(_involved(hpa), event_type="Warning", reason=kind, message=str(exc))
                set_condition(status, "ScalingActive", "False", kind,
                              f"the HPA was unable to compute the replica count: {exc}", stamp)
                continue
            statuses.append(metric_status)
            if replicas > best:
                best, best_name = replicas, name
        if invalid >= len(metric_specs) or (invalid and best < current):
            raise MetricError(f"invalid metrics ({invalid} invalid out of {len(metric_specs)}), first error is: "
                              f"{first_error}")
        return best, best_name, statuses

    async def _replicas_for_metric(self, metric: Obj, current: int, namespace: str, selector: str,
                                   pods: list[Obj]) -> tuple[int, str, Obj]:
        resource, container, label, target = _metric_description(metric)
        try:
            listing = await self.client.request("GET", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods",
                                                params=[("labelSelector", selector)])
        except APIStatusError as exc:
            raise MetricError(f"unable to get metrics for resource {resource}: unable to fetch metrics from "
                              f"resource metrics API: {exc}") from None
        samples = pod_samples(listing.get("items") or (), resource, container)
        if not samples:
            raise MetricError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                              "metrics API")
        source: Obj = {"name": resource}
        if container:
            source["container"] = container
        key = "containerResource" if container else "resource"
        kind = "ContainerResource" if container else "Resource"
        if target.get("type") == "Utilization" or target.get("averageUtilization") is not None:
            utilization_target = int(target.get("averageUtilization") or 0)
            if utilization_target <= 0:
                raise MetricError(f"invalid resource target utilization for {resource}")
            replicas, utilization, raw = resource_replicas(current_replicas=current,
                                                           target_utilization=utilization_target, resource=resource,
                                                           pods=pods, metrics=samples, container=container)
            source["current"] = {"averageUtilization": utilization,
                                 "averageValue": Quantity.from_milli(raw).canonical()}
            return replicas, f"{label} utilization (percentage of request)", {"type": kind, key: source}
        if target.get("averageValue") is None:
            raise MetricError(f"invalid resource metric source: neither a utilization target nor a value target "
                              f"was set for {resource}")
        target_milli = Quantity.parse(target["averageValue"]).milli_value()
        if container:
            samples = pod_samples(listing.get("items") or (), resource, container)
        replicas, usage = raw_resource_replicas(current_replicas=current, target_milli=target_milli,
                                                resource=resource, pods=pods, metrics=samples)
        source["current"] = {"averageValue": Quantity.from_milli(usage).canonical()}
        return replicas, label, {"type": kind, key: source}

    async def _write_status(self, hpa: Obj, original: Obj, status: Obj) -> None:
        status.setdefault("desiredReplicas", 0)  # not omitempty upstream
        if status == original["status"]:
            return
        body = {**hpa, "status": status}
        try:
            await self.hpa_api.update_status(body, namespace=hpa["metadata"]["namespace"])
        except APIStatusError as exc:
            if exc.is_not_found():
                return
            raise
