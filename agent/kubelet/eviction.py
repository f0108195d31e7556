"""Eviction under node pressure with upstream's hard thresholds (pkg/kubelet/eviction).

Design: every ``period`` seconds the manager compares what the node has left with the kubelet's
default hard thresholds, ``memory.available<100Mi`` and ``nodefs.available<10%``. Under pressure it
evicts one pod per round, ranked as upstream ranks them: pods whose usage exceeds their requests
first, then lower priority, then larger usage above requests (memory: working set from CRI
ListContainerStats; disk: writable layers). The pod is killed without grace and marked
``phase: Failed``, ``reason: Evicted`` with upstream's message, and stays so (the kubelet never
restarts a failed pod). Node conditions (MemoryPressure/DiskPressure) come from node_status.py.
Pure parts (`pressure`, `rank`, `eviction_message`) are unit-tested; the loop is wired by the kubelet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubelite.agent.kubelet.node_status import DISK_PRESSURE_FRACTION, MEMORY_PRESSURE_BYTES, MachineInfo
from kubelite.agent.kubelet.runtime_state import POD_UID_LABEL
from kubelite.api.quantity import Quantity
from kubelite.cri import CriError, RuntimeClient

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MEMORY: Final = "memory"
EPHEMERAL_STORAGE: Final = "ephemeral-storage"
PERIOD: Final = 10.0


@dataclass(frozen=True)
class Pressure:
    resource: str
    threshold: str
    available: int


def pressure(info: MachineInfo) -> Pressure | None:
    """The resource under pressure by the hard thresholds, memory first (upstream's order)."""
    if info.memory_available < MEMORY_PRESSURE_BYTES:
        return Pressure(MEMORY, "100Mi", info.memory_available)
    if info.disk_bytes > 0 and info.disk_free < info.disk_bytes * DISK_PRESSURE_FRACTION:
        return Pressure(EPHEMERAL_STORAGE, f"{int(info.disk_bytes * DISK_PRESSURE_FRACTION) // 1024}Ki",
                        info.disk_free)
    return None


def _request(pod: Mapping[str, Any], resource: str) -> int:
    total = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        value = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        if value is not None:
            total += Quantity.parse(value).value()
    return total


def rank(pods: Sequence[Obj], usage: Mapping[str, int], resource: str) -> list[Obj]:
    """Eviction order: usage above requests first, then lower priority, then more usage above requests."""
    def key(pod: Mapping[str, Any]) -> tuple[int, int, int]:
        used = usage.get(pod["metadata"]["uid"], 0)
        over = used - _request(pod, resource)
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        return (0 if over > 0 else 1, priority, -over)

    return sorted(pods, key=key)


def eviction_message(pressure_: Pressure, pod: Mapping[str, Any], container_usage: Mapping[str, int]) -> str:
    """upstream's evictionMessage."""
    message = (f"The node was low on resource: {pressure_.resource}. Threshold quantity: {pressure_.threshold}, "
               f"available: {pressure_.available // 1024}Ki. ")
    for c in (pod.get("spec") or {}).get("containers") or []:
        used = container_usage.get(c["name"])
        if used is None:
            continue
        request = ((c.get("resources") or {}).get("requests") or {}).get(pressure_.resource, "0")
        if used > Quantity.parse(request).value():
            message += (f"Container {c['name']} was using {used // 1024}Ki, request is {request}, has larger "
                        f"consumption of {pressure_.resource}. ")
    return message.strip()


class EvictionManager:
    def __init__(self, *, runtime: RuntimeClient, read_info: Callable[[], MachineInfo],
                 active_pods: Callable[[], list[Obj]], evict: Callable[[Obj, str], Awaitable[None]]) -> None:
        self.runtime = runtime
        self.read_info = read_info
        self.active_pods = active_pods
        self.evict = evict

    async def usage(self, resource: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Per pod UID, and per pod UID and container name, bytes of ``resource`` in use."""
        stats = (await self.runtime.list_container_stats()).stats
        pods: dict[str, int] = {}
        containers: dict[str, dict[str, int]] = {}
        for s in stats:
            uid = s.attributes.labels.get(POD_UID_LABEL, "")
            used = (s.memory.working_set_bytes.value if resource == MEMORY
                    else s.writable_layer.used_bytes.value)
            pods[uid] = pods.get(uid, 0) + used
            containers.setdefault(uid, {})[s.attributes.metadata.name] = used
        return pods, containers

    async def synchronize(self) -> Obj | None:
        """One round: evict at most one pod when a threshold is crossed; returns it."""
        info = await asyncio.to_thread(self.read_info)
        found = pressure(info)
        if found is None:
            return None
        candidates = [p for p in self.active_pods() if (p.get("status") or {}).get("phase") not in
                      ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]
        if not candidates:
            log.warning("node is low on %s but no pod can be evicted", found.resource)
            return None
        pods, containers = await self.usage(found.resource)
        victim = rank(candidates, pods, found.resource)[0]
        message = eviction_message(found, victim, containers.get(victim["metadata"]["uid"], {}))
        log.warning("evicting pod %s/%s: %s", victim["metadata"].get("namespace"), victim["metadata"]["name"],
                    message)
        await self.evict(victim, message)
        return victim

    async def run(self, period: float = PERIOD) -> None:
        while True:
            try:
                await self.synchronize()
            except CriError as err:
                log.warning("eviction manager: %s", err)
            await asyncio.sleep(period)
