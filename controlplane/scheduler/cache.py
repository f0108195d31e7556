"""The scheduler cache: nodes with the pods on them, including pods only assumed to be there.

Upstream ``pkg/scheduler/internal/cache``. A pod the scheduler has chosen a node for is **assumed**
at once (its requests count on that node), so the next cycle does not hand the same room to another
pod while the binding is still in flight. Then:

* the informer reports the pod bound (``add_pod`` with ``spec.nodeName``): the assumption is
  **confirmed** and replaced by the real object;
* binding fails: ``forget_pod`` removes it;
* binding succeeded but the informer never confirms (the pod was deleted meanwhile, a lost watch
  event): after ``finish_binding`` the assumption **expires** ``ttl`` seconds later
  (``cleanup_expired``), so a lost event cannot leak capacity forever.

Assigned pods can arrive before their Node (informers are independent): they are kept aside and
added when the node appears. Pods in phase Succeeded/Failed hold no resources and are dropped.
Every change rewrites the node's row in the ``Snapshot`` columns (O(1) per change).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.controlplane.scheduler.nodeinfo import JSON, NodeInfo
from kubelite.controlplane.scheduler.snapshot import Snapshot

log = logging.getLogger(__name__)

# upstream once used 15 minutes (today: never). Deletions and relists already clear assumptions, so
# only a lost watch event ends here; a short TTL would drop bindings the informer is merely late to report
DEFAULT_ASSUMED_TTL = 900.0


def pod_uid(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


def is_terminal(pod: JSON) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


@dataclass
class _PodState:
    pod: JSON
    node_name: str
    assumed: bool
    deadline: float | None = None  # set once binding finished; None while binding is in flight


class SchedulerCache:
    """Nodes and their (assumed or confirmed) pods; the live ``snapshot`` the cycle reads."""

    def __init__(self, *, ttl: float = DEFAULT_ASSUMED_TTL, now: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._now = now
        self.snapshot = Snapshot()
        self._pods: dict[str, _PodState] = {}
        self._assumed: set[str] = set()  # uids of assumed pods: cleanup looks only at these
        self._orphans: dict[str, dict[str, JSON]] = {}  # node name -> uid -> pod, for nodes not seen yet

    # ---- nodes -------------------------------------------------------------------------------------

    def add_node(self, node: JSON) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        existing = self.snapshot.get(name)
        if existing is not None:
            self.update_node(node)
            return
        info = NodeInfo.build(node=node)
        for pod in self._orphans.pop(name, {}).values():
            info.add_pod(pod)
        self.snapshot.add(info)

    def update_node(self, node: JSON) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        info = self.snapshot.get(name)
        if info is None:
            self.add_node(node)
            return
        info.set_node(node)
        self.snapshot.refresh_node(name)

    def remove_node(self, node: JSON) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        info = self.snapshot.remove(name)
        if info is not None and info.pods:
            # upstream keeps a deleted node's pods until they go; they come back if the node does
            self._orphans[name] = {pod_uid(p): p for p in info.pods}

    def node_names(self) -> list[str]:
        return [info.name for info in self.snapshot.infos]

    # ---- pods --------------------------------------------------------------------------------------

    def is_assumed(self, pod: JSON) -> bool:
        state = self._pods.get(pod_uid(pod))
        return state is not None and state.assumed

    def pod_count(self) -> int:
        return len(self._pods)

    def assume_pod(self, pod: JSON, node_name: str) -> dict[str, Any]:
        """Account for ``pod`` on ``node_name`` before it is bound; returns the assumed copy
        (with ``spec.nodeName`` set). Raises ValueError when the pod is already in the cache."""
        uid = pod_uid(pod)
        if uid in self._pods:
            raise ValueError(f"pod {uid} is already in the scheduler cache")
        assumed = dict(pod)
        assumed["spec"] = {**(pod.get("spec") or {}), "nodeName": node_name}
        self._place(assumed, node_name)
        self._pods[uid] = _PodState(pod=assumed, node_name=node_name, assumed=True)
        self._assumed.add(uid)
        return assumed

    def finish_binding(self, pod: JSON) -> None:
        """The binding call returned: the assumption now expires unless the informer confirms it."""
        state = self._pods.get(pod_uid(pod))
        if state is not None and state.assumed:
            state.deadline = self._now() + self.ttl

    def forget_pod(self, pod: JSON) -> None:
        """Binding failed: undo the assumption."""
        uid = pod_uid(pod)
        state = self._pods.get(uid)
        if state is None or not state.assumed:
            return
        del self._pods[uid]
        self._assumed.discard(uid)
        self._unplace(state.pod, state.node_name)

    def add_pod(self, pod: JSON) -> None:
        """The informer saw an assigned pod: confirm an assumption or add it."""
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        if not node_name:
            return
        uid = pod_uid(pod)
        state = self._pods.get(uid)
        if state is not None:
            if state.node_name == node_name and not is_terminal(pod):
                # the informer confirming an assumption, or a status update: with the spec unchanged the
                # node's sums and columns stay as they are and only the object is swapped (NodeInfo.replace_pod)
                info = self.snapshot.get(node_name)
                if info is not None and info.replace_pod(state.pod, pod):
                    self._pods[uid] = _PodState(pod=pod, node_name=node_name, assumed=False)
                    self._assumed.discard(uid)
                    return
            self._unplace(state.pod, state.node_name)
            del self._pods[uid]
            self._assumed.discard(uid)
        if is_terminal(pod):
            return
        self._place(pod, node_name)
        self._pods[uid] = _PodState(pod=pod, node_name=node_name, assumed=False)

    def update_pod(self, pod: JSON) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: JSON) -> None:
        uid = pod_uid(pod)
        state = self._pods.pop(uid, None)
        self._assumed.discard(uid)
        if state is not None:
            self._unplace(state.pod, state.node_name)

    def cleanup_expired(self) -> list[JSON]:
        """Drop assumptions whose binding finished more than ``ttl`` seconds ago without confirmation."""
        now = self._now()
        expired = [state for uid in self._assumed if (state := self._pods[uid]).deadline is not None
                   and state.deadline <= now]
        for state in expired:
            uid = pod_uid(state.pod)
            log.warning("scheduler cache: assumed pod %s on %s expired without confirmation", uid, state.node_name)
            del self._pods[uid]
            self._assumed.discard(uid)
            self._unplace(state.pod, state.node_name)
        return [s.pod for s in expired]

    def pods_on(self, node_name: str) -> list[JSON]:
        info = self.snapshot.get(node_name)
        return list(info.pods) if info is not None else []

    # ---- internals ---------------------------------------------------------------------------------

    def _place(self, pod: JSON, node_name: str) -> None:
        info = self.snapshot.get(node_name)
        if info is None:
            self._orphans.setdefault(node_name, {})[pod_uid(pod)] = pod
            return
        info.add_pod(pod)
        self.snapshot.refresh_node(node_name)

    def _unplace(self, pod: JSON, node_name: str) -> None:
        info = self.snapshot.get(node_name)
        if info is None:
            orphans = self._orphans.get(node_name)
            if orphans is not None:
                orphans.pop(pod_uid(pod), None)
                if not orphans:
                    del self._orphans[node_name]
            return
        info.remove_pod(pod)
        self.snapshot.refresh_node(node_name)
