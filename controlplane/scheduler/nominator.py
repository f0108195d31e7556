"""The nominator: which pending pods are nominated to which node (upstream ``internal/queue`` nominator).

Preemption frees room on a node for a pod and nominates it there (``status.nominatedNodeName``); until
that pod is bound, other pods of lower or equal priority must not take the room. The Framework asks
the nominator for the pods nominated to a node when it filters (upstream
RunFilterPluginsWithNominatedPods), so it needs an index by node, kept current from two sources:

* the pod informer: a pending pod whose ``status.nominatedNodeName`` is set (``add``/``update``/``delete``);
* the scheduler itself, the moment preemption nominates a node (``add(pod, node_name=...)``), before its
  status write comes back; an update that arrives without the field meanwhile keeps the nomination
  (upstream UpdateNominatedPod), one that names another node replaces it.

A pod leaves the index when it is assumed or bound (``delete``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JSON = Mapping[str, Any]


def _uid(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}")


def nominated_node(pod: JSON) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "")


class Nominator:
    """Pods nominated to nodes, by node name; the latest object of each pod."""

    def __init__(self) -> None:
        self._by_node: dict[str, dict[str, JSON]] = {}
        self._node_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._node_of)

    def add(self, pod: JSON, *, node_name: str = "") -> None:
        """Nominate ``pod`` to ``node_name`` (default: its ``status.nominatedNodeName``); without
        either, the pod is not nominated anywhere."""
        self.delete(pod)
        node = node_name or nominated_node(pod)
        if not node:
            return
        uid = _uid(pod)
        self._node_of[uid] = node
        self._by_node.setdefault(node, {})[uid] = pod

    def update(self, old: JSON, new: JSON) -> None:
        """The informer's update of a pending pod. A nomination made in memory survives an update that
        does not name a node yet (the status write is still on its way)."""
        node = nominated_node(new)
        if not node and not nominated_node(old):
            node = self._node_of.get(_uid(new), "")
        self.add(new, node_name=node)

    def delete(self, pod: JSON) -> None:
        uid = _uid(pod)
        node = self._node_of.pop(uid, None)
        if node is None:
            return
        pods = self._by_node[node]
        pods.pop(uid, None)
        if not pods:
            del self._by_node[node]

    def node_of(self, pod: JSON) -> str:
        return self._node_of.get(_uid(pod), "")

    def pods_for_node(self, node_name: str) -> Sequence[JSON]:
        return list(self._by_node.get(node_name, {}).values())

    def nodes(self) -> Mapping[str, Mapping[str, JSON]]:
        """Node name -> uid -> pod, for the few nodes that have nominated pods (do not mutate)."""
        return self._by_node
