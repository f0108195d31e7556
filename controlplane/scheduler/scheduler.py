"""The scheduler process: informers feed the queue and the cache; one loop schedules, tasks bind.

Upstream ``pkg/scheduler`` (scheduler.go, schedule_one.go, eventhandlers.go), as an asyncio program:

* **Informers** (``kubelite.client.SharedInformerFactory``) on Pods, Nodes and PodDisruptionBudgets.
  An unassigned pod whose ``spec.schedulerName`` names one of our profiles, and that is not being
  deleted, goes into the ``SchedulingQueue``; an assigned pod goes into the ``SchedulerCache``
  (confirming an assumption). Node changes and assigned-pod deletions are cluster events that move
  unschedulable pods back to the active or backoff queue.
* **Scheduling cycle** (``schedule_one``, synchronous, so it sees one consistent cache): pop the next
  pod, run its profile's Framework over the cache's live snapshot, **assume** the pod on the chosen
  node, run Reserve and Permit, and move on to the next pod at once.
* **Binding cycle** (upstream ``bindingCycle``, one task per pod, so the loop goes on while the API
  calls are in flight): wait while Permit plugins hold the pod (``WaitingPods``: every waiting plugin
  must allow it before its timeout; a rejection or timeout fails it as Unschedulable), then PreBind
  and Bind (DefaultBinder posts ``pods/binding``) under a bound of ``bind_concurrency`` concurrent
  bindings, so a burst cannot open more connections than the pool has. Success records a
  ``Scheduled`` event; failure runs Unreserve, forgets the assumption (freed room is an
  AssignedPodDelete event for the other pending pods, as upstream) and re-queues the pod.
* **Events** go through an ``EventRecorder`` with several writers (events of one pod in order, of
  different pods concurrently): recording never waits, so it never stalls scheduling.
* **Failures**: a pod no node fits gets ``PodScheduled=False`` (reason ``Unschedulable``, upstream's
  "0/N nodes are available: ..." message) through ``pods/status`` and a ``FailedScheduling`` Warning
  event, and waits in the unschedulable pods for a cluster event; an error of ours (reason
  ``SchedulerError``) goes to the backoff queue.

``SchedulerRunner`` runs one ``Scheduler`` at a time, under the ``kube-system/kube-scheduler``
Lease when ``leader_elect`` is set (a fresh scheduler per leadership term, as the controller manager).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubelite.client import (
    APIClient,
    APIConnectionError,
    APIStatusError,
    ClientConfig,
    EventRecorder,
    Informer,
    LeaderElector,
    LeaseLock,
    SharedInformerFactory,
    meta_namespace_key,
)
from kubelite.controlplane.scheduler.cache import SchedulerCache
from kubelite.controlplane.scheduler.config import SchedulerConfig
from kubelite.controlplane.scheduler.framework import (
    PERMIT_WAITS_KEY,
    Code,
    CycleState,
    FitError,
    Framework,
    Handle,
    PluginFactory,
    ScheduleFailure,
    Status,
    is_success,
)
from kubelite.controlplane.scheduler.listers import ClusterListers
from kubelite.controlplane.scheduler.nominator import Nominator
from kubelite.controlplane.scheduler.plugins import in_tree_registry
from kubelite.controlplane.scheduler.scheduling_queue import (
    ASSIGNED_POD_ADD,
    ASSIGNED_POD_DELETE,
    ASSIGNED_POD_UPDATE,
    NODE_ADD,
    NODE_UPDATE,
    QueuedPodInfo,
    SchedulingQueue,
)
from kubelite.controlplane.scheduler.waiting_pods import WaitingPod, WaitingPods
from kubelite.gc_tuning import CacheGcFreezer

log = logging.getLogger(__name__)

JSON = dict[str, Any]
COMPONENT = "default-scheduler"
LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-scheduler"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_ERROR = "SchedulerError"
CLEANUP_PERIOD = 1.0  # seconds between sweeps for expired assumed pods
MAX_MESSAGE = 1024  # upstream truncates event and condition messages (truncateMessage)
# PreBind+Bind calls in flight at once; the API client's pool (100 connections) also serves the
# informers' watches, the events and the status patches, so the bindings leave room for those
DEFAULT_BIND_CONCURRENCY = 48
# one Scheduled event per pod, as many writers as bindings in flight: on a busy server each request waits
# its turn, so fewer writers than bindings fall behind them and the recorder's queues overflow (events
# dropped; upstream writes each event in a goroutine of its own)
EVENT_WRITERS = DEFAULT_BIND_CONCURRENCY

# which rejecting plugins a cluster event can help (upstream EventsToRegister, simplified)
_HELPED_BY: dict[str, frozenset[str]] = {
    ASSIGNED_POD_DELETE: frozenset({"NodeResourcesFit", "NodePorts", "InterPodAffinity", "PodTopologySpread",
                                    "DefaultPreemption"}),
    ASSIGNED_POD_ADD: frozenset({"InterPodAffinity", "PodTopologySpread"}),
    ASSIGNED_POD_UPDATE: frozenset({"InterPodAffinity", "PodTopologySpread", "NodeResourcesFit"}),
}


def _assigned(pod: JSON) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminating(pod: JSON) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _truncate(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 3] + "..."


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    """One scheduler: ``await run()`` until cancelled."""

    def __init__(self, client: APIClient, *, config: SchedulerConfig | None = None,
                 rng: random.Random | None = None, queue: SchedulingQueue | None = None,
                 cache: SchedulerCache | None = None, bind_concurrency: int = DEFAULT_BIND_CONCURRENCY,
                 out_of_tree_registry: Mapping[str, Callable[[Handle], PluginFactory]] | None = None,
                 freeze_gc: bool = False) -> None:
        """``out_of_tree_registry``: more plugins by name, each a function of the Handle that returns the
        plugin's factory (upstream ``WithFrameworkOutOfTreeRegistry``); profiles enable them by name.
        ``freeze_gc``: exempt the loaded caches from the cyclic garbage collector (``gc.freeze``, again
        each time they doubled) and collect young objects less often; this acts on the whole process."""
        if bind_concurrency < 1:
            raise ValueError(f"bind_concurrency must be at least 1, got {bind_concurrency}")
        self.client = client
        self.config = config or SchedulerConfig()
        self.cache = cache or SchedulerCache()
        self.queue = queue or SchedulingQueue(initial_backoff=self.config.initial_backoff,
                                              max_backoff=self.config.max_backoff)
        self.informers = SharedInformerFactory(client)
        self.pods: Informer = self.informers.for_resource("", "v1", "pods")
        self.nodes: Informer = self.informers.for_resource("", "v1", "nodes", namespaced=False)
        self.pdbs: Informer = self.informers.for_resource("policy", "v1", "poddisruptionbudgets")
        self.recorder = EventRecorder(client, component=COMPONENT, host=socket.gethostname(), writers=EVENT_WRITERS)
        self.nominator = Nominator()
        self.listers = ClusterListers(self.informers)
        self.waiting_pods = WaitingPods()
        self.handle = Handle(client=client, snapshot=self.cache.snapshot, pdbs=self.pdbs.store.list,
                             recorder=self.recorder, nominator=self.nominator,
                             list_objects=self.listers.list_objects, get_object=self.listers.get_object,
                             waiting_pods=self.waiting_pods)
        self._binding_slots = asyncio.Semaphore(bind_concurrency)
        # binding cycles past Permit (bound by the semaphore or queued for it); the loop waits above this
        self._binding = 0
        self._max_binding = 2 * bind_concurrency
        self._binding_room = asyncio.Event()
        self.freeze_gc = freeze_gc
        self._gc = CacheGcFreezer()  # with freeze_gc
        registry = in_tree_registry(self.handle)
        self._in_tree = frozenset(registry)
        for name, make in (out_of_tree_registry or {}).items():
            if name in registry:
                raise ValueError(f"out-of-tree plugin {name!r} has the name of an in-tree plugin")
            registry[name] = make(self.handle)
        self.frameworks: dict[str, Framework] = {}
        for profile in self.config.profiles:
            self.frameworks[profile.scheduler_name] = Framework(
                profile=profile, registry=registry, rng=rng,
                percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score, handle=self.handle)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_cleanup = 0.0
        self.scheduled = 0  # pods bound by this scheduler (for benchmarks and tests)

    # ---- informer handlers ------------------------------------------------------------------------

    def _responsible(self, pod: JSON) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or COMPONENT
        return name in self.frameworks

    def _pending(self, pod: JSON) -> bool:
        """A pod for our queue: unassigned, ours, not being deleted, not finished."""
        return (not _assigned(pod) and self._responsible(pod) and not _terminating(pod)
                and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))

    def on_pod_add(self, pod: JSON) -> None:
        if _assigned(pod):
            self.cache.add_pod(pod)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_ADD, interested=self._helped(ASSIGNED_POD_ADD))
        elif self._pending(pod):
            self.nominator.add(pod)
            self.queue.add(pod)

    def on_pod_update(self, old: JSON, new: JSON) -> None:
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(new)
                self.nominator.delete(new)
            self.cache.update_pod(new)
            if old is not new:
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_UPDATE,
                                                         interested=self._helped(ASSIGNED_POD_UPDATE))
        elif self._pending(new):
            self.nominator.update(old, new)
            self.queue.update(old, new)
        else:
            self.nominator.delete(new)
            self.queue.delete(new)

    def on_pod_delete(self, pod: JSON) -> None:
        uid = (pod.get("metadata") or {}).get("uid")
        if uid:
            # a pod held at Permit that goes away fails its binding cycle now (upstream RejectWaitingPod)
            self.waiting_pods.reject(str(uid))
        if _assigned(pod) or self.cache.is_assumed(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE,
                                                     interested=self._helped(ASSIGNED_POD_DELETE))
        elif self.nominator.node_of(pod):
            # the room held for a nominated pod is free again (upstream treats it as an assigned pod's delete)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE,
                                                     interested=self._helped(ASSIGNED_POD_DELETE))
        self.nominator.delete(pod)
        self.queue.delete(pod)

    def on_node_add(self, node: JSON) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD)

    def on_node_update(self, old: JSON, new: JSON) -> None:
        self.cache.update_node(new)
        if _node_scheduling_view(old) != _node_scheduling_view(new):
            self.queue.move_all_to_active_or_backoff(NODE_UPDATE)

    def on_node_delete(self, node: JSON) -> None:
        self.cache.remove_node(node)

    def _helped(self, event: str) -> Any:
        # a plugin that is not in-tree registers no events with us: as upstream, it is taken to care
        # about all of them (an out-of-tree Permit plugin's rejection is retried on any event)
        helped, in_tree = _HELPED_BY[event], self._in_tree
        return lambda plugins: bool(plugins & helped) or not plugins <= in_tree

    # ---- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        registrations = [
            self.pods.add_handler(on_add=self.on_pod_add, on_update=self.on_pod_update, on_delete=self.on_pod_delete),
            self.nodes.add_handler(on_add=self.on_node_add, on_update=self.on_node_update,
                                   on_delete=self.on_node_delete),
        ]
        self.informers.start()
        try:
            await self.informers.wait_for_sync()
            for registration in registrations:
                await registration.wait_idle()
            log.info("scheduler: caches synced (%d nodes, %d pods pending); profiles: %s",
                     len(self.cache.snapshot), len(self.queue), ", ".join(self.frameworks))
            if self.freeze_gc:
                self._gc.start(len(self.pods.store) + len(self.nodes.store))
            while True:
                while self._binding >= self._max_binding:
                    # binding is the slower half: do not assume thousands of pods ahead of it
                    self._binding_room.clear()
                    await self._binding_room.wait()
                info = await self.queue.pop()
                if info is None:
                    return
                self.schedule_guarded(info)
                # let informer handlers and binding tasks run between cycles
                await asyncio.sleep(0)
        finally:
            self.queue.close()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.recorder.close(timeout=2.0)
            await self.informers.shutdown()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_guarded(self, info: QueuedPodInfo) -> None:
        """``schedule_one``, where a plugin bug or a corrupt object costs one pod a back-off, not the loop."""
        try:
            self.schedule_one(info)
        except Exception as exc:
            log.exception("scheduler: scheduling %s failed", info.key)
            self.cache.forget_pod(info.pod)
            self._failed(info, message=f"internal error: {type(exc).__name__}: {exc}", reason=REASON_ERROR,
                         cycle=self.queue.scheduling_cycle, error=True)

    def schedule_one(self, info: QueuedPodInfo) -> None:
        """One scheduling cycle (synchronous); the binding cycle continues in a task."""
        key = info.key
        current = self.pods.store.get(key)
        pod_uid = (info.pod.get("metadata") or {}).get("uid")
        if (current is None or (current.get("metadata") or {}).get("uid") != pod_uid or _assigned(current)
                or _terminating(current) or self.cache.is_assumed(current)):
            self.queue.done(key)  # deleted, bound or being deleted meanwhile: nothing to do
            return
        info.pod = current
        framework = self.frameworks.get((current.get("spec") or {}).get("schedulerName") or COMPONENT)
        if framework is None:
            self.queue.done(key)
            return
        now = time.monotonic()
        if now - self._last_cleanup >= CLEANUP_PERIOD:
            # upstream cleans the cache once a second, not per pod: it walks every assumed pod
            self._last_cleanup = now
            self.cache.cleanup_expired()
            if self.freeze_gc:
                self._gc.maybe_freeze(len(self.pods.store) + len(self.nodes.store))
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        result = framework.schedule(pod=current, nodes=self.cache.snapshot, state=state)
        if isinstance(result, FitError):
            plugins = {status.plugin for status in result.node_statuses.values() if status.plugin}
            self._failed(info, message=result.message, reason=REASON_UNSCHEDULABLE, cycle=cycle, plugins=plugins,
                         nominated=result.nominated_node_name)
            return
        if isinstance(result, ScheduleFailure):
            self._failed(info, message=result.message, reason=REASON_ERROR, cycle=cycle, error=True)
            return
        host = result.suggested_host
        assumed = self.cache.assume_pod(current, host)
        self.nominator.delete(current)  # upstream assume: the pod no longer holds a nomination
        status = framework.run_reserve(state=state, pod=assumed, node_name=host)
        if not is_success(status):
            assert status is not None
            self.cache.forget_pod(assumed)
            self._failed(info, message=f"running Reserve plugin {status.plugin!r}: {status.message}",
                         reason=REASON_ERROR, cycle=cycle, error=not status.is_rejected())
            return
        status, timeout = framework.run_permit(state=state, pod=assumed, node_name=host)
        waiting: WaitingPod | None = None
        if status is not None and status.code is Code.WAIT:
            # held until every waiting plugin allows it; the binding cycle waits, the loop goes on
            plugin_waits = state.read(PERMIT_WAITS_KEY, dict) or {status.plugin: timeout}
            waiting = WaitingPod(assumed, host, plugin_waits)
            self.waiting_pods.add(waiting)
        elif not is_success(status):
            assert status is not None
            framework.run_unreserve(state=state, pod=assumed, node_name=host)
            self.cache.forget_pod(assumed)
            rejected = status.is_rejected()
            self._failed(info, message=f"running Permit plugin {status.plugin!r}: {status.message or status.code.name}",
                         reason=REASON_UNSCHEDULABLE if rejected else REASON_ERROR, cycle=cycle,
                         plugins={status.plugin} if rejected and status.plugin else None, error=not rejected)
            return
        if waiting is None:
            self._binding += 1
        self._spawn(self._binding_cycle(framework, state, info, assumed, host, waiting), name=f"bind-{key}")

    async def _binding_cycle(self, framework: Framework, state: CycleState, info: QueuedPodInfo, assumed: JSON,
                             host: str, waiting: WaitingPod | None) -> None:
        """Upstream bindingCycle: WaitOnPermit, then PreBind and Bind; any failure undoes the assumption."""
        status: Status | None = None
        if waiting is not None:
            try:
                status = await waiting.wait()
            finally:
                self.waiting_pods.remove(waiting.uid)
            if status is not None:
                self._binding_failed(framework, state, info, assumed, host, status,
                                     message=status.message or f"rejected by Permit plugin {status.plugin!r}")
                return
            self._binding += 1
        try:
            async with self._binding_slots:
                try:
                    status = await framework.run_pre_bind(state=state, pod=assumed, node_name=host)
                    if is_success(status):
                        status = await framework.run_bind(state=state, pod=assumed, node_name=host)
                except (APIStatusError, APIConnectionError) as exc:
                    status = Status.of(Code.ERROR, str(exc))
        finally:
            self._binding -= 1
            if self._binding < self._max_binding:
                self._binding_room.set()
        if not is_success(status):
            assert status is not None
            self._binding_failed(framework, state, info, assumed, host, status,
                                 message=f"Binding rejected: {status.message}")
            return
        self.cache.finish_binding(assumed)
        self.queue.done(info.key)
        self.scheduled += 1
        meta = assumed.get("metadata") or {}
        self.recorder.event(dict(info.pod), event_type="Normal", reason="Scheduled",
                            message=f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {host}")

    def _binding_failed(self, framework: Framework, state: CycleState, info: QueuedPodInfo, assumed: JSON,
                        host: str, status: Status, *, message: str) -> None:
        """Upstream handleBindingCycleError: Unreserve, forget, tell the other pods, re-queue this one."""
        framework.run_unreserve(state=state, pod=assumed, node_name=host)
        self.cache.forget_pod(assumed)
        rejected = status.is_rejected()
        self._failed(info, message=message, reason=REASON_UNSCHEDULABLE if rejected else REASON_ERROR,
                     cycle=self.queue.scheduling_cycle, plugins={status.plugin} if rejected and status.plugin else None,
                     error=not rejected)
        # the room the assumed pod held is free again: to the other pending pods that is a pod deletion
        self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE, interested=self._helped(ASSIGNED_POD_DELETE),
                                                 exclude=info.key)

    def _failed(self, info: QueuedPodInfo, *, message: str, reason: str, cycle: int,
                plugins: set[str] | None = None, nominated: str = "", error: bool = False) -> None:
        """Upstream handleSchedulingFailure: requeue, record the event, update the pod's condition."""
        key = info.key
        current = self.pods.store.get(key)
        if current is None or _assigned(current):
            self.queue.done(key)  # deleted or bound by someone else meanwhile
            return
        info.pod = current
        if nominated:
            # hold the room at once; the status write that records it comes back through the informer
            self.nominator.add(current, node_name=nominated)
        if error:
            self.queue.add_backoff(info)
        else:
            self.queue.add_unschedulable(info, cycle=cycle, plugins=plugins or ())
        message = _truncate(message)
        log.info("scheduler: unable to schedule %s: %s", key, message)
        self.recorder.event(current, event_type="Warning", reason="FailedScheduling", message=message)
        self._spawn(self._update_condition(current, reason=reason, message=message, nominated=nominated),
                    name=f"status-{key}")

    async def _update_condition(self, pod: JSON, *, reason: str, message: str, nominated: str) -> None:
        status = pod.get("status") or {}
        existing = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        same_nomination = not nominated or status.get("nominatedNodeName") == nominated
        if (existing is not None and existing.get("status") == "False" and existing.get("reason") == reason
                and existing.get("message") == message and same_nomination):
            return  # nothing new to say (upstream updatePod skips this write too)
        transition = existing.get("lastTransitionTime") if existing and existing.get("status") == "False" else None
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": transition or _now_text()}
        patch: JSON = {"status": {"conditions": [condition]}}
        if nominated:
            patch["status"]["nominatedNodeName"] = nominated
        meta = pod.get("metadata") or {}
        try:
            await self.client.resource("", "v1", "pods").subresource("status").patch(
                str(meta.get("name")), patch, namespace=str(meta.get("namespace")), patch_type="strategic")
        except (APIStatusError, APIConnectionError) as exc:
            log.warning("scheduler: updating the PodScheduled condition of %s failed: %s",
                        meta_namespace_key(pod), exc)


def _node_scheduling_view(node: JSON) -> tuple[Any, ...]:
    """What of a Node the plugins read; heartbeats (conditions, timestamps) do not re-queue pods."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    return (meta.get("labels"), node.get("spec"), status.get("allocatable"), status.get("capacity"),
            status.get("images"))


class SchedulerRunner:
    """Runs a Scheduler, under the kube-system/kube-scheduler Lease when ``leader_elect``."""

    def __init__(self, client: APIClient, *, config: SchedulerConfig | None = None, leader_elect: bool = False,
                 identity: str = "", freeze_gc: bool = False) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.leader_elect = leader_elect
        self.freeze_gc = freeze_gc
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.current: Scheduler | None = None

    async def _run_scheduler(self) -> None:
        self.current = Scheduler(self.client, config=self.config, freeze_gc=self.freeze_gc)
        await self.current.run()

    async def run(self) -> None:
        if not self.leader_elect:
            await self._run_scheduler()
            return
        lock = LeaseLock(self.client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=self.identity)
        while True:
            elector = LeaderElector(lock, on_started_leading=self._run_scheduler,
                                    on_stopped_leading=lambda: log.info("scheduler: lost the lease"),
                                    name="kube-scheduler")
            await elector.run()
            await asyncio.sleep(1.0)


def run_standalone(*, client_config: ClientConfig, config: SchedulerConfig | None, leader_elect: bool) -> None:
    """``kubelite scheduler``: run until SIGINT/SIGTERM against the server in ``client_config``."""
    logging.basicConfig(level=os.environ.get("KUBELITE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signo in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signo, stop.set)
        # one pods/binding and one Event per pod: aiohttp's client machinery cost more CPU than the scheduling
        async with APIClient(client_config, lean_requests=True) as client:
            runner = asyncio.create_task(SchedulerRunner(client, config=config, leader_elect=leader_elect,
                                                         freeze_gc=True).run())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (runner, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    asyncio.run(main())
