"""Pods that a Permit plugin asked to wait: the binding cycle holds them until every plugin allows.

Upstream ``pkg/scheduler/framework/runtime/waiting_pods_map.go``. When Permit plugins answer
``Wait`` (and none rejects), the assumed pod becomes a ``WaitingPod`` with one timer per waiting
plugin, capped at 15 minutes (upstream ``maxTimeout``). Other plugins (a co-scheduling plugin that
lets a whole gang go at once, preemption rejecting a victim) reach it through ``Handle.waiting_pods``:

* ``allow(plugin)`` stops that plugin's timer; when no plugin is pending any more the pod is let through;
* ``reject(plugin, message)`` stops every timer and fails the pod as Unschedulable with ``message``;
* a plugin's timer expiring rejects it with upstream's "rejected due to timeout after waiting 1s at
  plugin Gang".

The binding cycle awaits ``wait()``: the pod's first verdict wins (upstream's one-slot channel), and
later calls are no-ops. Everything runs on one asyncio loop, so no locks are needed; the timers are
``loop.call_later`` handles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubelite.controlplane.scheduler.framework import Code, Status

JSON = Mapping[str, Any]
MAX_WAIT = 15 * 60.0  # upstream maxTimeout: no plugin makes a pod wait longer


def _format_wait(seconds: float) -> str:
    """A duration as Go's time.Duration prints whole and fractional seconds (1s, 1.5s, 100ms)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 60:
        minutes, rest = divmod(seconds, 60)
        return f"{int(minutes)}m{rest:g}s"
    return f"{seconds:g}s"


class WaitingPod:
    """One assumed pod held at Permit (upstream framework.WaitingPod)."""

    def __init__(self, pod: JSON, node_name: str, plugin_waits: Mapping[str, float]) -> None:
        if not plugin_waits:
            raise ValueError("a waiting pod needs at least one plugin to wait for")
        self.pod = pod
        self.node_name = node_name
        loop = asyncio.get_running_loop()
        self._verdict: asyncio.Future[Status | None] = loop.create_future()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        for plugin, seconds in plugin_waits.items():
            wait = min(max(seconds, 0.0), MAX_WAIT)
            message = f"rejected due to timeout after waiting {_format_wait(wait)} at plugin {plugin}"
            self._timers[plugin] = loop.call_later(wait, self.reject, plugin, message)

    @property
    def uid(self) -> str:
        return str((self.pod.get("metadata") or {}).get("uid") or "")

    def pending_plugins(self) -> list[str]:
        """The plugins that have neither allowed the pod nor timed out yet."""
        return sorted(self._timers)

    def allow(self, plugin: str) -> None:
        """``plugin`` lets the pod go; it is bound once every waiting plugin has allowed it."""
        timer = self._timers.pop(plugin, None)
        if timer is not None:
            timer.cancel()
        if not self._timers and not self._verdict.done():
            self._verdict.set_result(None)

    def reject(self, plugin: str, message: str) -> None:
        """Fail the pod as Unschedulable; its assumption is undone and it is re-queued."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if not self._verdict.done():
            self._verdict.set_result(Status.of(Code.UNSCHEDULABLE, message, plugin=plugin))

    async def wait(self) -> Status | None:
        """The verdict: None once allowed, an Unschedulable status once rejected or timed out."""
        return await asyncio.shield(self._verdict)


class WaitingPods:
    """The waiting pods by UID (upstream waitingPodsMap), shared by the scheduler and the plugins."""

    def __init__(self) -> None:
        self._pods: dict[str, WaitingPod] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def add(self, waiting: WaitingPod) -> None:
        self._pods[waiting.uid] = waiting

    def remove(self, uid: str) -> None:
        self._pods.pop(uid, None)

    def get(self, uid: str) -> WaitingPod | None:
        """Upstream Handle.GetWaitingPod."""
        return self._pods.get(uid)

    def __iter__(self) -> Iterator[WaitingPod]:
        return iter(list(self._pods.values()))

    def iterate(self, callback: Callable[[WaitingPod], object]) -> None:
        """Upstream Handle.IterateOverWaitingPods: callback may allow or reject as it goes."""
        for waiting in list(self._pods.values()):
            callback(waiting)

    def reject(self, uid: str, *, plugin: str = "", message: str = "removed") -> bool:
        """Upstream Handle.RejectWaitingPod: True if a pod with that UID was waiting."""
        waiting = self._pods.get(uid)
        if waiting is None:
            return False
        waiting.reject(plugin, message)
        return True
