"""PLEG: the pod lifecycle event generator. A relist of the runtime finds what changed, per pod.

Design (upstream pkg/kubelet/pleg/generic.go)
---------------------------------------------
Every ``pleg_relist_period`` (1 s) the relister lists all sandboxes and containers once (two CRI
calls, whatever the number of pods), reduces them to ``{pod uid: {id: state}}`` and diffs that with
the previous relist in the pure :func:`generate_events`. Each event names a pod UID; the kubelet
hands it to that pod's worker, which re-reads the pod's runtime state and syncs. A pod UID seen in
the runtime but unknown to the kubelet is reported to ``on_orphan`` (its sandboxes get cleaned up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from kubelite.agent.kubelet.runtime_state import (
    CREATED,
    EXITED,
    KUBELET_MANAGED_LABEL,
    POD_UID_LABEL,
    RUNNING,
    UNKNOWN,
)
from kubelite.cri import CriError, RuntimeClient, api_pb2

log = logging.getLogger(__name__)

CONTAINER_STARTED: Final = "ContainerStarted"
CONTAINER_DIED: Final = "ContainerDied"
CONTAINER_REMOVED: Final = "ContainerRemoved"
CONTAINER_CHANGED: Final = "ContainerChanged"
NON_EXISTENT: Final = "non-existent"

RuntimeSnapshot = Mapping[str, Mapping[str, str]]
"""pod uid -> {sandbox or container id -> state (created, running, exited, unknown)}."""


@dataclass(frozen=True)
class PodLifecycleEvent:
    uid: str
    type: str
    id: str


def _events_for(uid: str, cid: str, old: str, new: str) -> list[PodLifecycleEvent]:
    # upstream generateEvents: the transition decides the event(s)
    if new == old:
        return []
    if new == RUNNING:
        return [PodLifecycleEvent(uid, CONTAINER_STARTED, cid)]
    if new == EXITED:
        return [PodLifecycleEvent(uid, CONTAINER_DIED, cid)]
    if new == UNKNOWN:
        return [PodLifecycleEvent(uid, CONTAINER_CHANGED, cid)]
    if new == NON_EXISTENT:
        if old == EXITED:
            return [PodLifecycleEvent(uid, CONTAINER_REMOVED, cid)]
        return [PodLifecycleEvent(uid, CONTAINER_DIED, cid), PodLifecycleEvent(uid, CONTAINER_REMOVED, cid)]
    if new == CREATED:
        return []
    return [PodLifecycleEvent(uid, CONTAINER_CHANGED, cid)]


def generate_events(old: RuntimeSnapshot, new: RuntimeSnapshot) -> list[PodLifecycleEvent]:
    """The lifecycle events that turn relist ``old`` into relist ``new`` (pure)."""
    events: list[PodLifecycleEvent] = []
    for uid in sorted(set(old) | set(new)):
        before, after = old.get(uid, {}), new.get(uid, {})
        for cid in sorted(set(before) | set(after)):
            events.extend(_events_for(uid, cid, before.get(cid, NON_EXISTENT), after.get(cid, NON_EXISTENT)))
    return events


_SANDBOX_STATES: Final = {api_pb2.SANDBOX_READY: RUNNING, api_pb2.SANDBOX_NOTREADY: EXITED}
_CONTAINER_STATES: Final = {api_pb2.CONTAINER_CREATED: CREATED, api_pb2.CONTAINER_RUNNING: RUNNING,
                            api_pb2.CONTAINER_EXITED: EXITED, api_pb2.CONTAINER_UNKNOWN: UNKNOWN}


async def relist(runtime: RuntimeClient) -> dict[str, dict[str, str]]:
    """One snapshot of every pod this kubelet manages: sandboxes and containers with their states."""
    managed = {KUBELET_MANAGED_LABEL: "true"}
    sandboxes = (await runtime.list_pod_sandbox(filter=api_pb2.PodSandboxFilter(label_selector=managed))).items
    containers = (await runtime.list_containers(filter=api_pb2.ContainerFilter(label_selector=managed))).containers
    snapshot: dict[str, dict[str, str]] = {}
    for sb in sandboxes:
        uid = sb.labels.get(POD_UID_LABEL, "")
        snapshot.setdefault(uid, {})[sb.id] = _SANDBOX_STATES.get(sb.state, UNKNOWN)
    for c in containers:
        uid = c.labels.get(POD_UID_LABEL, "")
        snapshot.setdefault(uid, {})[c.id] = _CONTAINER_STATES.get(c.state, UNKNOWN)
    return snapshot


class PLEG:
    """Relists every ``period`` seconds and reports events per pod UID to ``on_event``."""

    def __init__(self, *, runtime: RuntimeClient, period: float,
                 on_event: Callable[[PodLifecycleEvent], None],
                 on_relist: Callable[[Mapping[str, Mapping[str, str]]], Awaitable[None]] | None = None) -> None:
        self.runtime = runtime
        self.period = period
        self.on_event = on_event
        self.on_relist = on_relist
        self.snapshot: dict[str, dict[str, str]] = {}
        self.healthy = False

    async def relist_once(self) -> None:
        new = await relist(self.runtime)
        for event in generate_events(self.snapshot, new):
            self.on_event(event)
        self.snapshot = new
        if self.on_relist is not None:
            await self.on_relist(new)

    async def run(self) -> None:
        while True:
            try:
                await self.relist_once()
                self.healthy = True
            except CriError as err:
                self.healthy = False
                log.warning("PLEG relist failed: %s", err)
            await asyncio.sleep(self.period)
