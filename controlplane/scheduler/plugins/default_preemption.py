"""DefaultPreemption (upstream defaultpreemption + framework/preemption): when no node fits a pod,
find a node where deleting lower-priority pods would make room, delete them, and nominate the node.

PostFilter, as upstream's Evaluator.Preempt:

1. **Eligibility**: ``preemptionPolicy: Never`` pods do not preempt; a pod whose nominated node still
   has a terminating lower-priority pod waits for it rather than preempting again.
2. **Candidates**: nodes whose Filter status was not UnschedulableAndUnresolvable (preemption cannot
   help the others: "Preemption is not helpful for scheduling"). On each, remove every pod of lower
   priority; if the pod still does not fit, the node is out. Otherwise add the removed pods back one
   by one, most important first (higher priority, then earlier start), those whose PodDisruptionBudget
   would be violated first; a pod that can come back without breaking the fit is reprieved, the rest
   are the victims. A victim matching a PDB whose ``status.disruptionsAllowed`` is used up counts as a
   violation.
3. **Choice** (upstream pickOneNodeForPreemption): fewest PDB violations, then the lowest
   highest-victim priority, the lowest sum of victim priorities, the fewest victims, the latest start
   time of the most important victims, then the first.
4. **Preemption**: the victims are deleted through the API (as upstream: a plain delete, with each
   pod's own grace period) with a ``Preempted`` event each; the result nominates the node, which the
   scheduler writes into the pod's ``status.nominatedNodeName``. The pod is retried when the victims
   are gone (an assigned-pod deletion is a cluster event). Pods of lower priority nominated to the
   same node lose their nomination (cleared in their status), so they look for room elsewhere.

When no node can be freed the status says why, in upstream's words ("preemption: 0/3 nodes are
available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.").
The what-if checks go through ``Framework.run_filter``, which accounts for the pods already
nominated to the node (upstream SelectVictimsOnNode uses RunFilterPluginsWithNominatedPods), and the
nominated pod's room is then held against other pods of lower or equal priority until it is bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.labels import LabelSelectorError, from_label_selector
from kubelite.client import APIConnectionError, APIStatusError
from kubelite.controlplane.scheduler.framework import (
    FRAMEWORK_KEY,
    SNAPSHOT_KEY,
    Code,
    CycleState,
    FitError,
    Handle,
    PostFilterResult,
    ProfileError,
    Status,
    pod_key,
)
from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.scheduling_queue import pod_priority
from kubelite.controlplane.scheduler.snapshot import Snapshot

log = logging.getLogger(__name__)

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass
class Candidate:
    node_name: str
    victims: list[JSON] = field(default_factory=list)
    violations: int = 0


def _start_time(pod: JSON) -> str:
    status = pod.get("status") or {}
    return str(status.get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp") or "")


def _importance(pod: JSON) -> tuple[int, str]:
    """Sort key, most important first: higher priority, then the earlier start (upstream MoreImportantPod)."""
    return (-pod_priority(pod), _start_time(pod))


def split_by_pdb(pods: Sequence[JSON], pdbs: Sequence[Mapping[str, Any]]) -> tuple[list[JSON], list[JSON]]:
    """Upstream filterPodsWithPDBViolation: (pods whose eviction would violate a PDB, the others)."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    violating: list[JSON] = []
    fine: list[JSON] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        violated = False
        if labels:
            for i, pdb in enumerate(pdbs):
                pdb_meta = pdb.get("metadata") or {}
                if pdb_meta.get("namespace") != meta.get("namespace"):
                    continue
                raw = (pdb.get("spec") or {}).get("selector")
                try:
                    selector = from_label_selector(raw)
                except LabelSelectorError:
                    continue
                # a nil or empty selector matches nothing here (upstream checks selector.Empty())
                if not raw or not selector.requirements or not selector.matches(labels):
                    continue
                if meta.get("name") in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else fine).append(pod)
    return violating, fine


class DefaultPreemption:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self._background: set[asyncio.Task[None]] = set()

    # ---- PostFilter -------------------------------------------------------------------------------

    def post_filter(self, *, state: CycleState, pod: JSON,
                    node_statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]:
        framework = state.read(FRAMEWORK_KEY, object)
        snapshot = state.read(SNAPSHOT_KEY, Snapshot)
        if framework is None or snapshot is None:
            return None, Status.of(Code.ERROR, "the framework did not provide its snapshot", plugin=NAME)
        infos: Sequence[NodeInfo] = snapshot.infos
        spec = pod.get("spec") or {}
        if spec.get("preemptionPolicy") == "Never":
            return None, Status.of(Code.UNSCHEDULABLE, "preemption: not eligible due to preemptionPolicy=Never.")
        priority = pod_priority(pod)
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            info = next((i for i in infos if i.name == nominated), None)
            if info is not None and any((p.get("metadata") or {}).get("deletionTimestamp")
                                        and pod_priority(p) < priority for p in info.pods):
                return None, Status.of(Code.UNSCHEDULABLE,
                                       "preemption: not eligible due to a terminating pod on the nominated node.")
        pdbs = list(self._handle.pdbs())
        statuses: dict[str, Status] = {}
        candidates: list[Candidate] = []
        for info in infos:
            status = node_statuses.get(info.name)
            if status is not None and status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                statuses[info.name] = Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NOT_HELPFUL)
                continue
            candidate, failure = self.select_victims(framework, state=state, pod=pod, info=info, pdbs=pdbs)
            if candidate is not None:
                candidates.append(candidate)
            elif failure is not None:
                statuses[info.name] = failure
        if not candidates:
            fit = FitError(pod_key=pod_key(pod), num_all_nodes=len(infos), node_statuses=statuses)
            return None, Status.of(Code.UNSCHEDULABLE, f"preemption: {fit.message}")
        best = pick_one(candidates)
        self._preempt(pod, best)
        return PostFilterResult(nominated_node_name=best.node_name), None

    def select_victims(self, framework: Any, *, state: CycleState, pod: JSON, info: NodeInfo,
                       pdbs: Sequence[Mapping[str, Any]]) -> tuple[Candidate | None, Status | None]:
        """Upstream SelectVictimsOnNode: the fewest lower-priority pods whose removal lets ``pod`` fit."""
        priority = pod_priority(pod)
        lower = sorted((p for p in info.pods if pod_priority(p) < priority), key=_importance)
        if not lower:
            return None, Status.of(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NO_VICTIMS)
        lower_ids = {id(p) for p in lower}
        trial = NodeInfo.build(node=info.node, pods=[p for p in info.pods if id(p) not in lower_ids])
        status = framework.run_filter(state=state, pod=pod, node_info=trial)
        if status is not None:
            return None, status
        violating, fine = split_by_pdb(lower, pdbs)
        candidate = Candidate(node_name=info.name)

        def reprieve(victim: JSON) -> bool:
            trial.add_pod(victim)
            if framework.run_filter(state=state, pod=pod, node_info=trial) is None:
                return True
            trial.remove_pod(victim)
            candidate.victims.append(victim)
            return False

        for victim in violating:
            if not reprieve(victim):
                candidate.violations += 1
        for victim in fine:
            reprieve(victim)
        candidate.victims.sort(key=_importance)
        return candidate, None

    # ---- acting on the choice ---------------------------------------------------------------------

    def _preempt(self, pod: JSON, candidate: Candidate) -> None:
        client = self._handle.client
        meta = pod.get("metadata") or {}
        for nominated in self._lower_nominated(pod, candidate.node_name):
            # upstream prepareCandidate: lower-priority pods nominated here may no longer fit; clearing
            # their nomination lets them look elsewhere (the nominator forgets it at once)
            self._handle.nominator.delete(nominated)
            self._spawn(self._clear_nomination(client, nominated))
        for victim in candidate.victims:
            victim_meta = victim.get("metadata") or {}
            log.info("preemption: deleting %s/%s on %s for %s", victim_meta.get("namespace"),
                     victim_meta.get("name"), candidate.node_name, pod_key(pod))
            if self._handle.recorder is not None:
                self._handle.recorder.event(victim, event_type="Normal", reason="Preempted",
                                            message=f"Preempted by pod {meta.get('uid')} on node "
                                                    f"{candidate.node_name}")
            waiting = self._handle.waiting_pods
            if waiting is not None and waiting.reject(str(victim_meta.get("uid")), plugin=self.name,
                                                      message="preempted"):
                continue  # upstream prepareCandidate: a victim held at Permit is rejected there, not deleted
            self._spawn(self._delete(client, victim))

    def _lower_nominated(self, pod: JSON, node_name: str) -> list[JSON]:
        nominator = self._handle.nominator
        if nominator is None:
            return []
        priority = pod_priority(pod)
        return [p for p in nominator.pods_for_node(node_name) if pod_priority(p) < priority]

    def _spawn(self, coro: Any) -> None:
        """Run an API call in the background (none without a client or a loop: unit tests)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._handle.client is None or loop is None:
            coro.close()
            return
        task = loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _clear_nomination(client: Any, pod: JSON) -> None:
        meta = pod.get("metadata") or {}
        try:
            await client.resource("", "v1", "pods").subresource("status").patch(
                str(meta.get("name")), {"status": {"nominatedNodeName": None}}, namespace=meta.get("namespace"),
                patch_type="strategic")
        except (APIStatusError, APIConnectionError) as exc:
            log.warning("preemption: clearing the nomination of %s/%s failed: %s", meta.get("namespace"),
                        meta.get("name"), exc)

    @staticmethod
    async def _delete(client: Any, victim: JSON) -> None:
        meta = victim.get("metadata") or {}
        try:
            await client.resource("", "v1", "pods").delete(str(meta.get("name")), namespace=meta.get("namespace"),
                                                           preconditions={"uid": meta.get("uid")})
        except (APIStatusError, APIConnectionError) as exc:
            log.warning("preemption: deleting victim %s/%s failed: %s", meta.get("namespace"), meta.get("name"), exc)


def pick_one(candidates: Sequence[Candidate]) -> Candidate:
    """Upstream pickOneNodeForPreemption, criteria in order; ties go to the first candidate."""

    def key(c: Candidate) -> tuple[int, int, int, int, str]:
        priorities = [pod_priority(v) for v in c.victims]
        highest = max(priorities, default=-(2**31))
        top = [v for v in c.victims if pod_priority(v) == highest]
        earliest = min((_start_time(v) for v in top), default="")
        # the latest "earliest start" wins: negate by sorting on an inverted string key below
        return (c.violations, highest, sum(p + 2**31 for p in priorities), len(c.victims), earliest)

    best = candidates[0]
    best_key = key(best)
    for candidate in candidates[1:]:
        k = key(candidate)
        if k[:4] < best_key[:4] or (k[:4] == best_key[:4] and k[4] > best_key[4]):
            best, best_key = candidate, k
    return best


def factory(handle: Handle) -> Any:
    def new(args: Mapping[str, Any]) -> DefaultPreemption:
        unknown = sorted(set(args) - {"minCandidateNodesPercentage", "minCandidateNodesAbsolute"})
        if unknown:
            raise ProfileError(f"unknown field(s) {', '.join(unknown)}; allowed: minCandidateNodesAbsolute, "
                               "minCandidateNodesPercentage")
        return DefaultPreemption(handle)

    return new
