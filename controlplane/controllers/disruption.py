"""Disruption controller: keeps each PodDisruptionBudget's status current (upstream ``pkg/controller/disruption``).

The eviction subresource (pods/eviction, ``kubectl drain``) only reads and charges ``status.disruptionsAllowed``;
this controller is what makes that number mean something. Per budget, level-triggered from pod and budget events:

* the pods are those of the budget's namespace its selector matches (an empty selector matches every pod,
  a missing one none, as upstream's v1 semantics);
* ``expectedPods`` and ``desiredHealthy``: an integer ``minAvailable`` needs that many healthy pods out of the
  pods that exist; a percentage ``minAvailable`` or any ``maxUnavailable`` is taken of the pods' controllers'
  desired scale: the Deployment above a ReplicaSet, a ReplicaSet alone, a StatefulSet, or any other owner
  through its ``scale`` subresource (found by discovery). Percentages round up, as upstream. A pod with a
  controller that cannot be found fails the sync; a pod without one is "unmanaged" (Warning event);
* ``currentHealthy`` counts Ready pods that are not being deleted and not in ``disruptedPods``: the pods the
  eviction handler promised to delete. An entry the pod's deletion has not confirmed within two minutes
  (upstream ``DeletionTimeout``) is dropped again, and the budget looked at when the next one would expire;
* ``disruptionsAllowed = currentHealthy - desiredHealthy`` (never below 0, and 0 while no pod is expected),
  ``observedGeneration``, and the ``DisruptionAllowed`` condition (SufficientPods / InsufficientPods);
* when the counts cannot be computed the budget is failed safe: ``disruptionsAllowed: 0`` and
  ``DisruptionAllowed=False`` reason ``SyncFailed`` with the error, so no eviction passes on a guess.

A pod the eviction marked ``DisruptionTarget=True`` but that was not deleted within two minutes (upstream
``stalePodDisruptionTimeout``) gets the condition set back to False, so a Job's podFailurePolicy does not
mistake its later failure for the disruption.

Status is written with the cached resourceVersion (as upstream's UpdateStatus), so a concurrent eviction
charge is never overwritten: the write conflicts and the budget is recomputed from the newer object.
"""

from __future__ import annotations

import copy
import logging
import math
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from kubelite.api import labels
from kubelite.client import APIClient, APIStatusError, EventRecorder, SharedInformerFactory, is_not_found
from kubelite.client.informer import NAMESPACE_INDEX
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import controller_ref, is_ready, parse_time, typed

log = logging.getLogger(__name__)

Obj = dict[str, Any]

API_VERSION: Final = "policy/v1"
KIND: Final = "PodDisruptionBudget"
DELETION_TIMEOUT: Final = 120.0  # upstream DeletionTimeout: an eviction not followed by a deletion is forgotten
CONDITION: Final = "DisruptionAllowed"
SUFFICIENT_PODS: Final = "SufficientPods"
INSUFFICIENT_PODS: Final = "InsufficientPods"
SYNC_FAILED: Final = "SyncFailed"
STALE_DISRUPTION_TIMEOUT: Final = 120.0
STALE_PREFIX: Final = "stale-pod:"  # queue keys of pods whose DisruptionTarget condition may be stale


class DisruptionError(Exception):
    """The budget's counts cannot be computed (bad spec, a pod whose controller is missing, ...)."""


def scaled_value(value: Any, total: int, *, round_up: bool = True) -> int:
    """Upstream ``intstr.GetScaledValueFromIntOrPercent``: an int as is, ``"N%"`` of ``total``."""
    if isinstance(value, bool):
        raise DisruptionError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if not value.endswith("%"):
            raise DisruptionError(f'invalid value for IntOrString: invalid type: string is not a percentage: "{value}"')
        try:
            percent = int(value[:-1])
        except ValueError as exc:
            raise DisruptionError(f'invalid value "{value}": {exc}') from exc
        scaled = percent * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    raise DisruptionError(f"invalid value for IntOrString: {value!r}")


def budget_selector(pdb: Obj) -> labels.Selector:
    """The budget's selector (v1: ``{}`` matches every pod, a missing selector none)."""
    try:
        return labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
    except labels.LabelSelectorError as exc:
        raise DisruptionError(f"invalid selector: {exc}") from exc


def count_healthy(pods: list[Obj], disrupted: dict[str, str], now: float) -> int:
    """Upstream ``countHealthyPods``: Ready pods not being deleted and not about to be."""
    healthy = 0
    for pod in pods:
        md = pod["metadata"]
        if md.get("deletionTimestamp"):
            continue
        since = parse_time(disrupted.get(md["name"]))
        if since is not None and since + DELETION_TIMEOUT > now:
            continue
        if is_ready(pod):
            healthy += 1
    return healthy


def build_disrupted_pods(pods: list[Obj], pdb: Obj, now: float) -> tuple[dict[str, str], float | None, list[Obj]]:
    """Upstream ``buildDisruptedPodMap``: the entries still awaiting their pod's deletion, the earliest time one
    of them expires, and the pods whose entry expired (they get a NotDeleted event)."""
    recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck: float | None = None
    expired: list[Obj] = []
    if not recorded:
        return kept, None, expired
    for pod in pods:
        md = pod["metadata"]
        if md.get("deletionTimestamp") or md["name"] not in recorded:
            continue  # being deleted already (the entry's job is done), or never evicted
        stamp = recorded[md["name"]]
        expected_deletion = (parse_time(stamp) or 0.0) + DELETION_TIMEOUT
        if expected_deletion < now:
            expired.append(pod)
            continue
        kept[md["name"]] = stamp
        recheck = expected_deletion if recheck is None else min(recheck, expected_deletion)
    return kept, recheck, expired


def disruptions_allowed(*, current_healthy: int, desired_healthy: int, expected: int) -> int:
    # expected > 0: a budget whose pods appear before it was synced stays safe until it is
    return max(current_healthy - desired_healthy, 0) if expected > 0 else 0


def set_condition(conditions: list[Obj], *, status: str, reason: str, message: str, generation: int,
                  now: str) -> list[Obj]:
    """Upstream ``meta.SetStatusCondition`` for the DisruptionAllowed condition: the transition time moves
    only when the status changes."""
    result = [dict(c) for c in conditions if isinstance(c, dict)]
    for condition in result:
        if condition.get("type") == CONDITION:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = now
            condition.update(status=status, reason=reason, message=message, observedGeneration=generation)
            return result
    result.append({"type": CONDITION, "status": status, "reason": reason, "message": message,
                   "observedGeneration": generation, "lastTransitionTime": now})
    return result


def allowed_condition(allowed: int) -> tuple[str, str]:
    return ("True", SUFFICIENT_PODS) if allowed > 0 else ("False", INSUFFICIENT_PODS)


def conditions_up_to_date(pdb: Obj) -> bool:
    """Upstream ``pdbhelper.ConditionsAreUpToDate``."""
    status = pdb.get("status") or {}
    if status.get("observedGeneration") != pdb["metadata"].get("generation"):
        return False
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == CONDITION:
            want_status, want_reason = allowed_condition(int(status.get("disruptionsAllowed") or 0))
            return condition.get("status") == want_status and condition.get("reason") == want_reason
    return False


def stale_disruption_wait(pod: Obj, now: float) -> float | None:
    """Upstream ``nonTerminatingPodHasStaleDisruptionCondition``: None when the pod has no DisruptionTarget
    condition to clean (or it is being deleted, finished, or the kubelet set it), else seconds until it is stale."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "DisruptionTarget":
            if condition.get("status") != "True" or condition.get("reason") == "TerminationByKubelet":
                return None
            since = parse_time(condition.get("lastTransitionTime")) or now
            return max(since + STALE_DISRUPTION_TIMEOUT - now, 0.0)
    return None


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DisruptionController(Controller):
    name = "disruption"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 recorder: EventRecorder | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.client = client
        self.clock = clock
        self.pdbs_api = client.resource("policy", "v1", "poddisruptionbudgets")
        self.pods_api = client.resource("", "v1", "pods")
        # upstream's event source for this controller is "controllermanager"
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="controllermanager",
                                                                 host=socket.gethostname())
        self.pdbs = self.shared(factory, "policy", "v1", "poddisruptionbudgets")
        self.pods = self.shared(factory, "", "v1", "pods")
        self.replicasets = self.shared(factory, "apps", "v1", "replicasets")
        self.deployments = self.shared(factory, "apps", "v1", "deployments")
        self.statefulsets = self.shared(factory, "apps", "v1", "statefulsets")
        self.pdbs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n),
                              on_delete=self._pod_changed)
        # (apiVersion, kind) -> (plural when it has a scale subresource, group resource for messages)
        self._scale_resources: dict[tuple[str, str], tuple[str | None, str]] = {}

    # ---- events ----

    def budgets_for(self, pod: Obj) -> list[Obj]:
        """The budgets in the pod's namespace whose selector matches it (upstream GetPodPodDisruptionBudgets)."""
        md = pod.get("metadata") or {}
        pod_labels = md.get("labels") or {}
        found = []
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, str(md.get("namespace") or "")):
            try:
                if budget_selector(pdb).matches(pod_labels):
                    found.append(pdb)
            except DisruptionError:
                continue  # an invalid selector matches nothing
        return found

    def _pod_changed(self, pod: Obj) -> None:
        wait = stale_disruption_wait(pod, self.clock())
        if wait is not None:
            md = pod["metadata"]
            self.queue.add_after(f"{STALE_PREFIX}{md.get('namespace')}/{md.get('name')}", wait)
        budgets = self.budgets_for(pod)
        if not budgets:
            return
        if len(budgets) > 1:
            md = pod["metadata"]
            message = (f'Pod "{md.get("namespace")}"/"{md.get("name")}" matches multiple PodDisruptionBudgets.  '
                       f'Chose "{budgets[0]["metadata"]["name"]}" arbitrarily.')
            self.recorder.event(typed(pod, api_version="v1", kind="Pod"), event_type="Warning",
                                reason="MultiplePodDisruptionBudgets", message=message)
        self.enqueue(budgets[0])

    # ---- expected scale ----

    async def _scale_resource(self, api_version: str, kind: str) -> str:
        """The plural of ``kind`` in ``api_version``, which must have a scale subresource (discovery, remembered
        per kind: a kind without one keeps failing the same way)."""
        if (api_version, kind) not in self._scale_resources:
            path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            try:
                listing = await self.client.request("GET", path)
            except APIStatusError as exc:
                if is_not_found(exc):
                    raise DisruptionError(f'no matches for kind "{kind}" in version "{api_version}"') from exc
                raise
            resources = listing.get("resources") or []
            plural = next((str(r["name"]) for r in resources
                           if r.get("kind") == kind and "/" not in str(r.get("name"))), None)
            if plural is None:
                raise DisruptionError(f'no matches for kind "{kind}" in version "{api_version}"')
            scalable = any(r.get("name") == f"{plural}/scale" for r in resources)
            group = api_version.partition("/")[0] if "/" in api_version else ""
            self._scale_resources[(api_version, kind)] = (plural if scalable else None,
                                                          f"{plural}.{group}" if group else plural)
        plural_or_none, group_resource = self._scale_resources[(api_version, kind)]
        if plural_or_none is None:
            raise DisruptionError(f"{group_resource} does not implement the scale subresource")
        return plural_or_none

    async def _controller_scale(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        """(controller UID, desired replicas) for a pod's controller reference, or None when it is gone
        (upstream's finders, in their order)."""
        api_version, kind, name, uid = (str(ref.get("apiVersion") or ""), ref.get("kind"), ref.get("name"),
                                        ref.get("uid"))
        group = api_version.partition("/")[0] if "/" in api_version else ""
        if kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self.replicasets.store.get(f"{namespace}/{name}")
            if rs is None or rs["metadata"].get("uid") != uid:
                return None
            owner = controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                deployment = self.deployments.store.get(f"{namespace}/{owner.get('name')}")
                if deployment is None or deployment["metadata"].get("uid") != owner.get("uid"):
                    return None
                return str(owner["uid"]), _replicas(deployment)
            return str(uid), _replicas(rs)
        if kind == "StatefulSet" and group == "apps":
            sts = self.statefulsets.store.get(f"{namespace}/{name}")
            if sts is None or sts["metadata"].get("uid") != uid:
                return None
            return str(uid), _replicas(sts)
        plural = await self._scale_resource(api_version, str(kind))
        path = (f"/apis/{api_version}" if group else f"/api/{api_version}") + \
            f"/namespaces/{namespace}/{plural}/{name}/scale"
        try:
            scale = await self.client.request("GET", path)
        except APIStatusError as exc:
            if is_not_found(exc):
                return None
            raise
        if (scale.get("metadata") or {}).get("uid") != uid:
            return None
        return str(uid), int((scale.get("spec") or {}).get("replicas") or 0)

    async def expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        """Upstream ``getExpectedScale``: the sum of the desired scale of the pods' controllers, and the
        names of the pods that have no controller."""
        scales: dict[str, int] = {}
        seen_refs: set[str] = set()
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if str(ref.get("uid")) in seen_refs:
                continue
            found = await self._controller_scale(ref, pod["metadata"]["namespace"])
            if found is None:
                raise DisruptionError(f'found no controllers for pod "{pod["metadata"]["name"]}"')
            seen_refs.add(str(ref.get("uid")))
            scales[found[0]] = found[1]
        return sum(scales.values()), unmanaged

    async def expected_counts(self, pdb: Obj, pods: list[Obj]) -> tuple[int, int, list[str]]:
        """Upstream ``getExpectedPodCount``: (expectedPods, desiredHealthy, unmanaged pod names)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = await self.expected_scale(pods)
            max_unavailable = scaled_value(spec["maxUnavailable"], expected)
            return expected, max(expected - max_unavailable, 0), unmanaged
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available, []
        if isinstance(min_available, str):
            expected, unmanaged = await self.expected_scale(pods)
            return expected, scaled_value(min_available, expected), unmanaged
        return 0, 0, []

    # ---- reconcile ----

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(STALE_PREFIX):
            return await self._clear_stale_disruption(key.removeprefix(STALE_PREFIX))
        cached = self.pdbs.store.get(key)
        if cached is None:
            return None
        pdb = typed(copy.deepcopy(cached), api_version=API_VERSION, kind=KIND)
        try:
            return await self._try_sync(pdb)
        except DisruptionError as exc:
            log.info("disruption: %s: %s", key, exc)
            await self._fail_safe(pdb, str(exc))
            return None

    async def _clear_stale_disruption(self, pod_key: str) -> float | None:
        """Upstream ``syncStalePodDisruption``: DisruptionTarget back to False on a pod that was not deleted."""
        cached = self.pods.store.get(pod_key)
        if cached is None:
            return None
        wait = stale_disruption_wait(cached, self.clock())
        if wait is None or wait > 0:
            return wait
        pod = copy.deepcopy(cached)
        conditions = [c for c in pod["status"].get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "False", "lastProbeTime": None,
                           "lastTransitionTime": _now_rfc3339()})
        pod["status"]["conditions"] = conditions
        try:
            await self.pods_api.update_status(typed(pod, api_version="v1", kind="Pod"))
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise
        log.info("disruption: reset the stale DisruptionTarget condition of pod %s", pod_key)
        return None

    async def _try_sync(self, pdb: Obj) -> float | None:
        md = pdb["metadata"]
        selector = budget_selector(pdb)
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, md["namespace"])
                if selector.matches((p.get("metadata") or {}).get("labels") or {})]
        if not pods:
            self.recorder.event(pdb, event_type="Normal", reason="NoPods", message="No matching pods found")
        try:
            expected, desired, unmanaged = await self.expected_counts(pdb, pods)
        except DisruptionError as exc:
            self.recorder.event(pdb, event_type="Warning", reason="CalculateExpectedPodCountFailed",
                                message=f"Failed to calculate the number of expected pods: {exc}")
            raise
        if unmanaged:
            self.recorder.event(pdb, event_type="Warning", reason="UnmanagedPods", message=(
                f"Pods selected by this PodDisruptionBudget (selector: {_describe_selector(pdb)}) were found to be "
                "unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in "
                'undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to '
                "an integer value."))
        now = self.clock()
        disrupted, recheck, expired = build_disrupted_pods(pods, pdb, now)
        for pod in expired:
            # upstream's message names the namespace twice; the budget's name is what a reader needs
            self.recorder.event(typed(pod, api_version="v1", kind="Pod"), event_type="Warning", reason="NotDeleted",
                                message=f"Pod was expected by PDB {md['namespace']}/{md['name']} to be deleted "
                                        "but it wasn't")
        healthy = count_healthy(pods, disrupted, now)
        await self._update_status(pdb, current_healthy=healthy, desired_healthy=desired, expected=expected,
                                  disrupted=disrupted)
        return None if recheck is None else max(recheck - now, 0.0)

    async def _update_status(self, pdb: Obj, *, current_healthy: int, desired_healthy: int, expected: int,
                             disrupted: dict[str, str]) -> None:
        allowed = disruptions_allowed(current_healthy=current_healthy, desired_healthy=desired_healthy,
                                      expected=expected)
        status = pdb.get("status") or {}
        generation = int(pdb["metadata"].get("generation") or 1)
        if (status.get("currentHealthy") == current_healthy and status.get("desiredHealthy") == desired_healthy
                and status.get("expectedPods") == expected and status.get("disruptionsAllowed") == allowed
                and (status.get("disruptedPods") or {}) == disrupted
                and status.get("observedGeneration") == generation and conditions_up_to_date(pdb)):
            return
        cond_status, reason = allowed_condition(allowed)
        new_status: Obj = {"currentHealthy": current_healthy, "desiredHealthy": desired_healthy,
                           "expectedPods": expected, "disruptionsAllowed": allowed,
                           "observedGeneration": generation,
                           "conditions": set_condition(status.get("conditions") or [], status=cond_status,
                                                       reason=reason, message="", generation=generation,
                                                       now=_now_rfc3339())}
        if disrupted:
            new_status["disruptedPods"] = disrupted
        await self._write_status(pdb, new_status)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        """Upstream ``failSafe``: when the counts cannot be computed, allow no disruption at all."""
        status = dict(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        status["conditions"] = set_condition(status.get("conditions") or [], status="False", reason=SYNC_FAILED,
                                             message=message, generation=int(status.get("observedGeneration") or 0),
                                             now=_now_rfc3339())
        await self._write_status(pdb, status)

    async def _write_status(self, pdb: Obj, status: Obj) -> None:
        body = {**pdb, "status": status}
        try:
            await self.pdbs_api.update_status(body, namespace=pdb["metadata"]["namespace"])
        except APIStatusError as exc:
            if not is_not_found(exc):
                raise  # a conflict: an eviction charged the budget meanwhile; recomputed from the newer object


def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _describe_selector(pdb: Obj) -> str:
    selector = (pdb.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        values = ",".join(expression.get("values") or [])
        parts.append(f"{expression.get('key')} {str(expression.get('operator', '')).lower()} ({values})")
    return "&".join(parts) if parts else "<none>"
