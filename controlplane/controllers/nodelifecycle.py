"""Node lifecycle: notice dead kubelets, taint their nodes, evict what does not tolerate it (upstream
``pkg/controller/nodelifecycle`` and its NoExecute taint manager, ``pkg/controller/tainteviction``).

**Health.** A kubelet proves it is alive by renewing its Lease in ``kube-node-lease`` (and by posting
node status). The controller remembers, on its own monotonic clock, when it last *saw* either change
(upstream's ``probeTimestamp``: remote clocks are never compared with ours). A node not heard from for
``grace_period`` seconds (``--node-monitor-grace-period``, 40 s) gets every condition (Ready,
MemoryPressure, DiskPressure, PIDPressure) set to ``Unknown`` with reason ``NodeStatusUnknown``, and the
Ready condition of its pods set to False (``MarkPodsNotReady``). A node just seen for the first time
gets the full grace period, as after a controller restart.

**Taints** (``TaintNodesByCondition`` and the NoExecute taints), derived from the Ready condition:
Ready=False -> ``node.kubernetes.io/not-ready`` NoSchedule + NoExecute; Ready=Unknown ->
``node.kubernetes.io/unreachable`` NoSchedule + NoExecute; Ready=True -> neither. NoExecute taints carry
``timeAdded``.

**Eviction.** A pod on a node with NoExecute taints is deleted at once when some taint has no matching
toleration, otherwise when the shortest ``tolerationSeconds`` among the matching tolerations has passed
since the taint's ``timeAdded`` (a toleration without seconds tolerates forever). The API server gives
pods ``tolerationSeconds: 300`` for both taints by default (DefaultTolerationSeconds), so workloads move
after five minutes unless they say otherwise. An Event ``TaintManagerEviction`` records each eviction;
the pods' controllers create replacements, which the scheduler keeps off the tainted node.

The reconcile runs per node: on every Node or Lease change and every ``monitor_period`` seconds. The
taints therefore follow the Ready condition on the Node update that changes it (upstream's
``doNoScheduleTaintingPass`` per node update), while the periodic pass is what notices silence (Lease
expiry). A node's own writes are tracked (``WriteTracker``): a reconcile started by an event the cache
received before our last taint write waits for the cache to show it instead of writing the taints again
from the stale copy (which would also restart the NoExecute ``timeAdded`` clock of pending evictions).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any, Final

from kubelite.client import APIClient, APIStatusError, EventRecorder, SharedInformerFactory, is_not_found
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.pod_control import (
    NODE_NAME_INDEX,
    index_by_node_name,
    now_rfc3339,
    parse_time,
    typed,
)
from kubelite.controlplane.controllers.write_tracker import WriteTracker

log = logging.getLogger(__name__)

Obj = dict[str, Any]

GRACE_PERIOD: Final = 40.0
MONITOR_PERIOD: Final = 5.0
UNREACHABLE: Final = "node.kubernetes.io/unreachable"
NOT_READY: Final = "node.kubernetes.io/not-ready"
NODE_CONDITIONS: Final = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
LEASE_NAMESPACE: Final = "kube-node-lease"


def condition(node: Obj, kind: str) -> Obj | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def ready_status(node: Obj) -> str:
    ready = condition(node, "Ready")
    return str(ready.get("status")) if ready else "Unknown"


def wanted_taint_keys(node: Obj) -> set[str]:
    status = ready_status(node)
    if status == "False":
        return {NOT_READY}
    if status == "Unknown" and condition(node, "Ready") is not None:
        return {UNREACHABLE}
    return set()


def toleration_matches(toleration: Obj, taint: Obj) -> bool:
    """Upstream ``Toleration.ToleratesTaint``."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    if not toleration.get("key") and operator != "Exists":
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_delay(pod: Obj, taints: list[Obj], now: float) -> float | None:
    """Seconds until ``pod`` must go because of NoExecute ``taints`` (0: now), or None: tolerated forever."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or [] if isinstance(t, dict)]
    deadline: float | None = None
    for taint in taints:
        matching = [t for t in tolerations if toleration_matches(t, taint)]
        if not matching:
            return 0.0
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if not seconds:
            continue  # tolerated forever
        added = parse_time(taint.get("timeAdded")) or now
        at = added + max(min(int(s) for s in seconds), 0)
        deadline = at if deadline is None else min(deadline, at)
    if deadline is None:
        return None
    return max(deadline - now, 0.0)


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, client: APIClient, *, factory: SharedInformerFactory | None = None,
                 grace_period: float = GRACE_PERIOD, monitor_period: float = MONITOR_PERIOD,
                 recorder: EventRecorder | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        if grace_period <= 0 or monitor_period <= 0:
            raise ValueError(f"grace_period and monitor_period must be positive seconds, got {grace_period} and "
                             f"{monitor_period}")
        self.client = client
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self.clock = clock
        self.nodes_api = client.resource("", "v1", "nodes", namespaced=False)
        self.pods_api = client.resource("", "v1", "pods")
        self.recorder: EventRecorder = recorder or EventRecorder(client, component="node-controller",
                                                                 host=socket.gethostname())
        self.nodes = self.shared(factory, "", "v1", "nodes", namespaced=False)
        self.leases = self.shared(factory, "coordination.k8s.io", "v1", "leases")
        self.pods = self.shared(factory, "", "v1", "pods", indexers={NODE_NAME_INDEX: index_by_node_name})
        # node name -> (what we last saw of its heartbeat, when we saw it change, on our clock)
        self.health: dict[str, tuple[tuple[Any, ...], float]] = {}
        self.tracker = WriteTracker()  # our writes to Nodes the cache has not shown yet
        self.nodes.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.leases.add_handler(on_add=self._lease_changed, on_update=lambda _o, n: self._lease_changed(n))
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n))

    def _lease_changed(self, lease: Obj) -> None:
        if lease["metadata"].get("namespace") == LEASE_NAMESPACE:
            self.queue.add(str(lease["metadata"]["name"]))

    def _pod_changed(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and not pod["metadata"].get("deletionTimestamp"):
            self.queue.add(str(node))

    def _heartbeat(self, name: str, node: Obj) -> tuple[Any, ...]:
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        ready = condition(node, "Ready") or {}
        return ((lease or {}).get("spec", {}).get("renewTime"), ready.get("lastHeartbeatTime"), ready.get("status"))

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.store.get(key)
        if node is None:
            self.health.pop(key, None)
            self.tracker.forget(key)
            return None
        if (lag := self.tracker.wait_for(key, self.nodes.store)) is not None:
            return lag  # the cache is older than our last write to this node
        now = self.clock()
        beat = self._heartbeat(key, node)
        seen = self.health.get(key)
        if seen is None or seen[0] != beat:
            self.health[key] = (beat, now)
            seen = self.health[key]
        silent_for = now - seen[1]
        if silent_for > self.grace_period and ready_status(node) != "Unknown":
            node = await self._mark_unknown(node)
            await self._mark_pods_not_ready(key)
        node = await self._sync_taints(node)
        wait = await self._evict(node)
        # look again at the next monitor tick, when the grace period would run out, or when an eviction is due
        delays = [self.monitor_period, *([wait] if wait is not None else [])]
        if silent_for <= self.grace_period:
            delays.append(self.grace_period - silent_for + 0.05)
        return max(min(delays), 0.05)

    async def _mark_unknown(self, node: Obj) -> Obj:
        stamp = now_rfc3339()
        conditions = []
        existing = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        for kind in NODE_CONDITIONS:
            current = existing.pop(kind, None) or {"type": kind, "lastHeartbeatTime": stamp}
            conditions.append({**current, "status": "Unknown", "reason": "NodeStatusUnknown",
                               "message": "Kubelet stopped posting node status.",
                               "lastTransitionTime": stamp if current.get("status") != "Unknown"
                               else current.get("lastTransitionTime", stamp)})
        conditions.extend(existing.values())
        log.info("nodelifecycle: node %s stopped posting status; conditions are Unknown", node["metadata"]["name"])
        self.recorder.event(typed(node, api_version="v1", kind="Node"), event_type="Normal",
                            reason="NodeNotReady", message=f"Node {node['metadata']['name']} status is now: "
                                                           "NodeNotReady")
        result: Obj = await self.nodes_api.patch(node["metadata"]["name"], {"status": {"conditions": conditions}},
                                                 subresource="status")
        self.tracker.wrote(node["metadata"]["name"], result)
        return result

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node_name):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                continue
            updated = [{**c, "status": "False", "lastTransitionTime": now_rfc3339()} if c.get("type") == "Ready" else c
                       for c in conditions]
            md = pod["metadata"]
            try:
                await self.pods_api.patch(md["name"], {"status": {"conditions": updated}}, namespace=md["namespace"],
                                          subresource="status")
            except APIStatusError as exc:
                if not is_not_found(exc):
                    raise

    async def _sync_taints(self, node: Obj) -> Obj:
        wanted = wanted_taint_keys(node)
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
        ours = {UNREACHABLE, NOT_READY}
        kept = [t for t in taints if t.get("key") not in ours or t.get("key") in wanted]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        for key in sorted(wanted):
            if (key, "NoSchedule") not in have:
                kept.append({"key": key, "effect": "NoSchedule"})
            if (key, "NoExecute") not in have:
                kept.append({"key": key, "effect": "NoExecute", "timeAdded": now_rfc3339()})
        if kept == taints:
            return node
        log.info("nodelifecycle: node %s taints now %s", node["metadata"]["name"],
                 [f"{t.get('key')}:{t.get('effect')}" for t in kept])
        result: Obj = await self.nodes_api.patch(node["metadata"]["name"], {"spec": {"taints": kept or None}})
        self.tracker.wrote(node["metadata"]["name"], result)
        return result

    async def _evict(self, node: Obj) -> float | None:
        """Delete pods that do not tolerate the node's NoExecute taints; seconds until the next is due."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        now = time.time()
        next_due: float | None = None
        for pod in self.pods.store.by_index(NODE_NAME_INDEX, node["metadata"]["name"]):
            md = pod["metadata"]
            if md.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            delay = eviction_delay(pod, taints, now)
            if delay is None:
                continue
            if delay > 0:
                next_due = delay if next_due is None else min(next_due, delay)
                continue
            self.recorder.event(typed(pod, api_version="v1", kind="Pod"), event_type="Normal",
                                reason="TaintManagerEviction",
                                message=f"Marking for deletion Pod {md['namespace']}/{md['name']}")
            try:
                await self.pods_api.delete(md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
            except APIStatusError as exc:
                if not (is_not_found(exc) or exc.code == 409):
                    raise
        return next_due
