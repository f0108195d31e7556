"""The kubelet: drives the pods bound to this node to their spec on the container runtime.

Design (upstream pkg/kubelet/kubelet.go syncPod / syncTerminatingPod, level-triggered)
-------------------------------------------------------------------------------------
* An informer watches the pods with ``fieldSelector=spec.nodeName=<node>``; every add/update goes
  to that pod's worker (`PodWorkers`, latest update wins), a deletion from the API becomes a
  removal. PLEG relists the runtime every second and wakes the worker of each pod whose containers
  changed; a pod UID in the runtime that the API no longer has (orphaned sandboxes) gets a removal.
* `Kubelet.sync_pod` is level-triggered and idempotent: it reads the pod's runtime state (CRI
  labels, see runtime_state.py), computes actions (kuberuntime.py), executes them (sandbox, volumes,
  image, CreateContainer + StartContainer with CrashLoopBackOff / ImagePullBackOff back-off), reads the
  state again and writes the derived status (pod_status.py) through ``pods/status`` only when it
  changed. Nothing about a pod is remembered that the runtime or the API cannot tell again, except
  back-off timers and the reason a container could not start, so a restarted agent adopts its pods
  (same containers, same status) rather than restarting them.
* Termination: a pod with ``deletionTimestamp`` gets its containers stopped (StopContainer with the
  grace period: SIGTERM, then SIGKILL), its sandbox stopped, a final status, and then the kubelet
  deletes it with ``gracePeriodSeconds=0`` (uid precondition), as upstream. A pod removed from the
  API is stopped and its sandboxes, containers and volumes removed, and then its pod cgroup
  (pod_container_manager.py: the runtime leaves the pod level behind); a housekeeping sweep on the
  relist removes the pod cgroups of pods the kubelet does not know, as upstream's HandlePodCleanups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.backoff import Backoff
from kubelite.agent.kubelet.container_config import (
    ContainerConfigError,
    ResolvConf,
    container_config,
    pod_log_directory,
    resolve_env,
    sandbox_config,
    service_env_vars,
    verify_run_as_non_root,
)
from kubelite.agent.kubelet.eviction import EvictionManager
from kubelite.agent.kubelet.kuberuntime import ImagePuller, ImagePullError, PodActions, compute_pod_actions, go_duration
from kubelite.agent.kubelet.node_status import MachineInfo
from kubelite.agent.kubelet.pleg import CONTAINER_DIED, CONTAINER_STARTED, PLEG, PodLifecycleEvent
from kubelite.agent.kubelet.pod_container_manager import PodContainerManager
from kubelite.agent.kubelet.pod_status import generate_pod_status, now_rfc3339
from kubelite.agent.kubelet.pod_workers import PodWorkers, SyncResult
from kubelite.agent.kubelet.probes import ProbeManager, run_probe
from kubelite.agent.kubelet.runtime_state import EXITED, RUNNING, PodRuntime, RuntimeReader, SandboxRecord
from kubelite.agent.kubelet.volumes import VolumeError, VolumeManager
from kubelite.client import APIClient, APIConnectionError, APIStatusError, EventRecorder, Informer, is_not_found
from kubelite.cri import CriError, CriNotFound, RuntimeClient, RuntimeUnavailable

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MINIMUM_GRACE_PERIOD: Final = 2  # upstream minimumGracePeriodInSeconds
VOLUME_RETRY: Final = 2.0
HOUSEKEEPING_PERIOD: Final = 2.0  # upstream housekeepingPeriod: orphaned pod cgroups are swept this often
SERVICES_SYNC_TIMEOUT: Final = 30.0
_PLEG_STATES: Final = {CONTAINER_STARTED: RUNNING, CONTAINER_DIED: EXITED}
FRESH_EXIT_RESYNC: Final = 0.1  # seconds before a pod whose just-started container already exited syncs again
CONTAINER_ID_PREFIX: Final = "containerd://"


@dataclass(frozen=True)
class NodeFacts:
    host_ip: str
    memory_capacity: int
    allocatable: Mapping[str, str]
    systemd_cgroup: bool = False


class APILookup:
    """ConfigMaps and Secrets for env and volumes, read straight from the API (no cache yet)."""

    def __init__(self, client: APIClient) -> None:
        self.configmaps = client.resource("", "v1", "configmaps")
        self.secrets = client.resource("", "v1", "secrets")

    async def _get(self, resource: Any, namespace: str, name: str) -> Obj | None:
        try:
            obj: Obj = await resource.get(name, namespace=namespace)
        except APIStatusError as err:
            if is_not_found(err):
                return None
            raise ContainerConfigError(str(err)) from None
        except APIConnectionError as err:
            raise ContainerConfigError(str(err)) from None
        return obj

    async def get_configmap(self, namespace: str, name: str) -> Obj | None:
        return await self._get(self.configmaps, namespace, name)

    async def get_secret(self, namespace: str, name: str) -> Obj | None:
        return await self._get(self.secrets, namespace, name)


class TokenManager:
    """ServiceAccount tokens for projected volumes through TokenRequest, renewed at 80% of their life.

    upstream pkg/kubelet/token: one token per (pod, audience, expiry) bound to the pod, so it stops
    working when the pod goes. An API server without TokenRequest (404/405) makes the source skipped.
    """

    def __init__(self, client: APIClient) -> None:
        self.client = client
        self._cache: dict[tuple[str, str, int], tuple[str, float]] = {}

    async def token(self, pod: Mapping[str, Any], projection: Mapping[str, Any]) -> str | None:
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        audience = str(projection.get("audience") or "")
        seconds = int(projection.get("expirationSeconds") or 3607)
        key = (md["uid"], audience, seconds)
        cached = self._cache.get(key)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        body: Obj = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                     "spec": {"expirationSeconds": seconds,
                              "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": md["name"],
                                                 "uid": md["uid"]}}}
        if audience:
            body["spec"]["audiences"] = [audience]
        ns = md.get("namespace", "default")
        try:
            answer = await self.client.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/{account}/token",
                                               body=body)
        except APIStatusError as err:
            if err.status.get("code") in (404, 405) and "serviceaccounts" not in str(err.status.get("details", "")):
                return None
            raise ContainerConfigError(f"failed to fetch token: {err}") from None
        except APIConnectionError as err:
            raise ContainerConfigError(f"failed to fetch token: {err}") from None
        token = str((answer.get("status") or {}).get("token") or "")
        if not token:
            raise ContainerConfigError("failed to fetch token: the TokenRequest answer carries no token")
        self._cache[key] = (token, time.time() + 0.8 * seconds)
        return token

    def forget(self, uid: str) -> None:
        for key in [k for k in self._cache if k[0] == uid]:
            del self._cache[key]


def pods_differ_semantically(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether an update changes what a sync acts on (upstream config's podsDifferSemantically): spec, labels,
    annotations or deletion; a change of status alone does not (upstream's RECONCILE: no pod sync)."""
    if old.get("spec") != new.get("spec"):
        return True
    old_md, new_md = old.get("metadata") or {}, new.get("metadata") or {}
    return any(old_md.get(key) != new_md.get(key) for key in
               ("labels", "annotations", "deletionTimestamp", "deletionGracePeriodSeconds", "uid"))


def pod_full_name(pod: Mapping[str, Any]) -> str:
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', 'default')}({md['uid']})"


class Kubelet:
    def __init__(self, *, config: AgentConfig, client: APIClient, runtime: RuntimeClient, node: NodeFacts,
                 recorder: EventRecorder | None = None) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.node = node
        self.pods = client.resource("", "v1", "pods")
        self.recorder = recorder
        self.lookup = APILookup(client)
        self.reader = RuntimeReader(runtime)
        self.images = ImagePuller(runtime=runtime, lookup=self.lookup)
        self.tokens = TokenManager(client)
        self.volumes = VolumeManager(config=config, lookup=self.lookup, allocatable=node.allocatable,
                                     token_source=self.tokens.token)
        self.backoff = Backoff(base=config.crash_loop_backoff_base, cap=config.crash_loop_backoff_max)
        self.pull_backoff = Backoff(base=config.crash_loop_backoff_base, cap=config.crash_loop_backoff_max)
        self._pull_failed_at: dict[str, float] = {}
        self.probes = ProbeManager(runtime=runtime, on_change=self._wake, on_failure=self._on_probe_failure)
        self.workers = PodWorkers(sync=self.sync_pod)
        self.waiting: dict[str, dict[str, tuple[str, str]]] = {}
        """pod uid -> container name -> (reason, message) the last sync could not start it for."""
        self.written: dict[str, Obj] = {}
        self.evicted: set[str] = set()
        """UIDs of pods evicted under node pressure: never started again, their status is final."""
        self.eviction = EvictionManager(runtime=runtime, read_info=lambda: MachineInfo.read(config.data_dir),
                                        active_pods=self.informer_pods, evict=self.evict_pod)
        self._synced_states: dict[str, dict[str, str]] = {}
        """pod uid -> {sandbox/container id: state} as its last sync read them (PLEG de-duplication)."""
        self._starting: set[str] = set()
        """pod uids whose sync is starting things and has not read the runtime back yet."""
        self.host_dns = ResolvConf.host()
        self.informer = Informer(self.pods, field_selector=f"spec.nodeName={config.node_name}")
        self.services = Informer(client.resource("", "v1", "services"))
        self.pleg = PLEG(runtime=runtime, period=config.pleg_relist_period, on_event=self._on_pleg,
                         on_relist=self._on_relist)
        # the systemd driver's pod slices are systemd's to remove; with cgroupfs they are ours
        self.pod_cgroups: PodContainerManager | None = (
            None if node.systemd_cgroup else PodContainerManager(cgroup_root=config.cgroup_root))
        self._housekept = 0.0

    # ---- event sources ------------------------------------------------------------------------------

    def _wake(self, uid: str) -> None:
        self.workers.wake(uid)

    def informer_pods(self) -> list[Obj]:
        return self.informer.store.list()

    async def evict_pod(self, pod: Obj, message: str) -> None:
        """Kill ``pod`` at once and mark it Failed/Evicted (upstream's hard eviction)."""
        uid = pod["metadata"]["uid"]
        self.evicted.add(uid)
        self.event(pod, "Warning", "Evicted", message)
        state = await self.reader.read_pod_runtime(uid)
        await self.kill_pod(pod, state, grace=MINIMUM_GRACE_PERIOD)
        md = pod["metadata"]
        conditions = [c for c in (pod.get("status") or {}).get("conditions") or []
                      if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                           "message": message, "lastTransitionTime": now_rfc3339(), "lastProbeTime": None})
        status = {"phase": "Failed", "reason": "Evicted", "message": message, "conditions": conditions}
        try:
            await self.pods.subresource("status").patch(md["name"], {"status": status},
                                                        namespace=md.get("namespace", "default"))
        except APIStatusError as err:
            if not is_not_found(err):
                raise

    def service_env(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """Service variables for the pod: its namespace's Services (enableServiceLinks, default true) and
        the API server's ``kubernetes`` Service, as upstream's getServiceEnvVarMap."""
        ns = pod["metadata"].get("namespace", "default")
        links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
        chosen = [s for s in self.services.store.list()
                  if (links and s["metadata"].get("namespace") == ns)
                  or (s["metadata"].get("namespace") == "default" and s["metadata"]["name"] == "kubernetes")]
        return service_env_vars(chosen)

    def _on_probe_failure(self, uid: str, container: str, kind: str, output: str) -> None:
        pod = next((p for p in self.informer.store.list() if p["metadata"]["uid"] == uid), None)
        self.event(pod, "Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {output.strip()}"[:1024],
                   f"spec.containers{{{container}}}")

    def _on_pleg(self, event: PodLifecycleEvent) -> None:
        # a change the pod's last sync already saw (the container it just started) needs no new sync
        expected = _PLEG_STATES.get(event.type)
        if expected is not None and self._synced_states.get(event.uid, {}).get(event.id) == expected:
            return
        # nor does a start while the sync that made it is still running: it reads the runtime back afterwards
        if event.type == CONTAINER_STARTED and event.uid in self._starting:
            return
        self.workers.wake(event.uid)

    async def _on_relist(self, snapshot: Mapping[str, Mapping[str, str]]) -> None:
        if not self.informer.has_synced:
            return
        known = {pod["metadata"]["uid"] for pod in self.informer.store.list()}
        for uid in snapshot:
            if uid and uid not in known and uid not in self.workers:
                log.info("cleaning up orphaned sandboxes/containers of pod %s (not in the API)", uid)
                self.workers.update(uid, None, removed=True)
        if self.pod_cgroups is not None and time.monotonic() - self._housekept >= HOUSEKEEPING_PERIOD:
            self._housekept = time.monotonic()
            # a pod the API, a worker or the runtime still has keeps its cgroup; remove_pod takes it later
            active = known | set(snapshot) | set(self.workers.uids())
            for uid in await asyncio.to_thread(self.pod_cgroups.cleanup_orphans, active):
                log.info("removed the cgroup of pod %s (no longer on this node)", uid)

    def _on_add(self, pod: Obj) -> None:
        self.workers.update(pod["metadata"]["uid"], pod)

    def _on_update(self, old: Obj, pod: Obj) -> None:
        # a status-only change (mostly our own status write coming back) needs no sync: the next sync sees it
        self.workers.update(pod["metadata"]["uid"], pod, wake=pods_differ_semantically(old, pod))

    def _on_delete(self, pod: Obj) -> None:
        self.workers.update(pod["metadata"]["uid"], pod, removed=True)

    def event(self, pod: Mapping[str, Any] | None, kind: str, reason: str, message: str,
              field_path: str = "") -> None:
        if self.recorder is None or pod is None:
            return
        involved = {"apiVersion": "v1", "kind": "Pod", "metadata": dict(pod["metadata"])}
        if field_path:
            involved["fieldPath"] = field_path
        self.recorder.event(involved, event_type=kind, reason=reason, message=message)

    # ---- running ------------------------------------------------------------------------------------

    async def run(self) -> None:
        self.informer.add_handler(on_add=self._on_add, on_update=self._on_update, on_delete=self._on_delete)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.services.run(), name="kubelet-service-informer")
                # upstream refuses to build env vars before Services were read once; wait for them first
                await self.services.wait_for_sync(timeout=SERVICES_SYNC_TIMEOUT)
                group.create_task(self.informer.run(), name="kubelet-pod-informer")
                group.create_task(self.pleg.run(), name="kubelet-pleg")
                group.create_task(self.eviction.run(), name="kubelet-eviction")
        finally:
            self.informer.stop()
            self.services.stop()
            await self.workers.close()
            await self.probes.close()

    # ---- one pod ------------------------------------------------------------------------------------

    async def sync_pod(self, uid: str, pod: Obj | None, removed: bool) -> SyncResult:
        try:
            state = await self.reader.read_pod_runtime(uid)
        except RuntimeUnavailable as err:
            log.warning("pod %s: %s", uid, err)
            return SyncResult(requeue_after=2.0)
        if removed or pod is None:
            await self.kill_pod(pod, state, grace=self._grace(pod))
            await self.remove_pod(uid, await self.reader.read_pod_runtime(uid))
            return SyncResult(finished=True)
        if pod["metadata"].get("deletionTimestamp"):
            return await self.terminate_pod(pod, state)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") or uid in self.evicted:
            # a finished pod never runs again (upstream): make sure nothing is left running
            await self.kill_pod(pod, state, grace=self._grace(pod))
            return SyncResult()
        before = {c.id for c in state.containers}
        self._starting.add(uid)
        try:
            requeue = await self.apply_actions(pod, state)
            state = await self.reader.read_pod_runtime(uid)
        finally:
            self._starting.discard(uid)
        if any(c.state == EXITED and c.id not in before for c in state.containers):
            # a container this sync started has exited already: this sync saw the exit, so the relist's
            # ContainerDied for it wakes nobody (_on_pleg); sync again at once to restart it or start its back-off
            requeue = FRESH_EXIT_RESYNC if requeue is None else min(requeue, FRESH_EXIT_RESYNC)
        self._synced_states[uid] = {**{sb.id: RUNNING if sb.ready else EXITED for sb in state.sandboxes},
                                    **{c.id: c.state for c in state.containers}}
        self.probes.sync(pod, state, pod_ip=self._pod_ip(pod, state))
        status = await self.write_status(pod, state)
        if status is not None and status["phase"] in ("Succeeded", "Failed"):
            await self.kill_pod(pod, state, grace=self._grace(pod))
        return SyncResult(requeue_after=requeue)

    def _grace(self, pod: Mapping[str, Any] | None) -> int:
        if pod is None:
            return MINIMUM_GRACE_PERIOD
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        return max(int(grace), MINIMUM_GRACE_PERIOD)

    def _pod_ip(self, pod: Mapping[str, Any], state: PodRuntime) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return self.node.host_ip
        sandbox = state.sandbox
        return sandbox.ip if sandbox is not None and sandbox.ready else ""

    async def apply_actions(self, pod: Obj, state: PodRuntime) -> float | None:
        uid = pod["metadata"]["uid"]
        actions: PodActions = compute_pod_actions(pod, state, liveness_failed=self.probes.liveness_failed)
        waiting = self.waiting.setdefault(uid, {})
        requeue: list[float] = []
        for cid, why in actions.kill.items():
            record = next((c for c in state.containers if c.id == cid), None)
            name = record.name if record else cid
            self.event(pod, "Normal", "Killing", f"Stopping container {name}: {why}"[:1024],
                       f"spec.containers{{{name}}}")
            await self._stop_container(cid, self._grace(pod), pod=pod, name=name, state=state)
            self.probes.liveness_failed.pop(cid, None)
        if actions.done or not (actions.create_sandbox or actions.start):
            return None
        attempt = actions.sandbox_attempt if actions.create_sandbox else (state.sandbox.attempt if state.sandbox
                                                                          else 0)
        sb_config = sandbox_config(pod, config=self.config, attempt=attempt, host_dns=self.host_dns,
                                   systemd=self.node.systemd_cgroup)
        if actions.create_sandbox:
            for old in state.sandboxes:
                with contextlib.suppress(CriError):
                    await self.runtime.stop_pod_sandbox(pod_sandbox_id=old.id)
            pod_log_directory(self.config, pod).mkdir(parents=True, exist_ok=True)
            try:
                sandbox_id = (await self.runtime.run_pod_sandbox(config=sb_config)).pod_sandbox_id
            except CriError as err:
                message = f"Failed to create pod sandbox: {err.details or err}"
                self.event(pod, "Warning", "FailedCreatePodSandBox", message)
                for c in actions.start:
                    waiting[c["name"]] = ("ContainerCreating", "")
                delay = self.backoff.next(f"{uid}/sandbox")
                return delay
            self.backoff.reset(f"{uid}/sandbox")
            # old sandboxes stay (stopped) until the pod goes: their containers carry the restart counts
            network = (await self.runtime.pod_sandbox_status(pod_sandbox_id=sandbox_id)).status.network
            state.sandboxes.insert(0, SandboxRecord(
                id=sandbox_id, attempt=attempt, ready=True, created_at=time.time_ns(), name=pod["metadata"]["name"],
                namespace=pod["metadata"].get("namespace", "default"), ip=network.ip,
                additional_ips=[ip.ip for ip in network.additional_ips]))
        sandbox = state.sandbox
        if sandbox is None:
            return 1.0
        sandbox_id = sandbox.id
        pod_ip = self._pod_ip(pod, state)
        if pod_ip and (pod.get("status") or {}).get("podIP") != pod_ip:
            pod = dict(pod, status=dict(pod.get("status") or {}, podIP=pod_ip))
        try:
            volume_paths = await self.volumes.setup(pod, host_ip=self.node.host_ip)
        except VolumeError as err:
            self.event(pod, "Warning", "FailedMount", f"MountVolume.SetUp failed for {err}")
            for c in actions.start:
                waiting[c["name"]] = ("ContainerCreating", "")
            return VOLUME_RETRY
        for container in actions.start:
            wait = await self._start_container(pod, container, state, sandbox_id=sandbox_id, sb_config=sb_config,
                                               volume_paths=volume_paths, pod_ip=pod_ip)
            if wait is not None:
                requeue.append(wait)
        await self._collect_garbage(state)
        return min(requeue) if requeue else None

    async def _start_container(self, pod: Obj, container: Obj, state: PodRuntime, *, sandbox_id: str,
                               sb_config: Any, volume_paths: Mapping[str, Any], pod_ip: str) -> float | None:
        uid = pod["metadata"]["uid"]
        name = container["name"]
        field_path = f"spec.containers{{{name}}}"
        waiting = self.waiting.setdefault(uid, {})
        previous = state.latest(name)
        if previous is not None and previous.state == EXITED:
            key = f"{uid}/{name}"
            finished = previous.finished_at / 1e9 if previous.finished_at else time.time()
            if self.backoff.in_backoff_since(key, finished):
                delay = self.backoff.get(key)
                message = f"back-off {go_duration(delay)} restarting failed container={name} pod={pod_full_name(pod)}"
                if waiting.get(name, ("",))[0] != "CrashLoopBackOff":
                    self.event(pod, "Warning", "BackOff", "Back-off restarting failed container "
                               f"{name} in pod {pod_full_name(pod)}", field_path)
                waiting[name] = ("CrashLoopBackOff", message)
                return self.backoff.remaining(key, finished) + 0.05
            self.backoff.next(key)
        image = container.get("image", "")
        pull_key = f"{uid}/{image}"
        if pull_key in self._pull_failed_at and self.pull_backoff.in_backoff_since(pull_key,
                                                                                   self._pull_failed_at[pull_key]):
            waiting[name] = ("ImagePullBackOff", f'Back-off pulling image "{image}"')
            self.event(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', field_path)
            self.event(pod, "Warning", "Failed", "Error: ImagePullBackOff", field_path)
            return self.pull_backoff.remaining(pull_key, self._pull_failed_at[pull_key]) + 0.05
        try:
            started = time.monotonic()
            pulled = await self.images.ensure(
                pod, container, sb_config,
                on_pull=lambda: self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"', field_path))
            if pulled:
                self.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in '
                           f"{time.monotonic() - started:.3f}s", field_path)
            self._pull_failed_at.pop(pull_key, None)
            self.pull_backoff.reset(pull_key)
        except ImagePullError as err:
            waiting[name] = (err.reason, err.message)
            if err.reason == "ErrImagePull":
                self.event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {err.message}', field_path)
            else:
                self.event(pod, "Warning", "Failed", err.message, field_path)
            self.event(pod, "Warning", "Failed", f"Error: {err.reason}", field_path)
            if err.reason == "ErrImagePull":
                self._pull_failed_at[pull_key] = time.time()
                # look again halfway through the back-off: that sync shows ImagePullBackOff until the retry,
                # the sequence users see upstream (ErrImagePull, ImagePullBackOff, ErrImagePull, ...)
                return self.pull_backoff.next(pull_key) / 2
            # ErrImageNeverPull and the like: look again later (the image may be imported meanwhile)
            return self.pull_backoff.next(f"{pull_key}/absent") + 0.05
        except CriError as err:
            waiting[name] = ("ErrImagePull", str(err))
            return 2.0
        attempt = 0
        any_previous = state.latest(name)
        if any_previous is not None:
            attempt = any_previous.restart_count + 1
        try:
            env = await resolve_env(container, pod, lookup=self.lookup, allocatable=self.node.allocatable,
                                    pod_ip=pod_ip, pod_ips=[pod_ip] if pod_ip else [], host_ip=self.node.host_ip,
                                    service_env=self.service_env(pod))
            await self._verify_non_root(container, pod)
            mounts = self.volumes.mounts_for(pod, container, volume_paths)
            mounts.extend(self.volumes.termination_log_mount(pod, container))
            config = container_config(container, pod, attempt=attempt, env=env, mounts=mounts,
                                      memory_capacity=self.node.memory_capacity)
        except (ContainerConfigError, VolumeError) as err:
            waiting[name] = ("CreateContainerConfigError", str(err))
            self.event(pod, "Warning", "Failed", f"Error: {err}", field_path)
            return 2.0
        try:
            created = await self.runtime.create_container(pod_sandbox_id=sandbox_id, config=config,
                                                          sandbox_config=sb_config)
        except CriError as err:
            waiting[name] = ("CreateContainerError", err.details or str(err))
            self.event(pod, "Warning", "Failed", f"Error: {err.details or err}", field_path)
            return 2.0
        self.event(pod, "Normal", "Created", f"Created container {name}", field_path)
        try:
            await self.runtime.start_container(container_id=created.container_id)
        except CriError as err:
            waiting[name] = ("RunContainerError", err.details or str(err))
            self.event(pod, "Warning", "Failed", f"Error: {err.details or err}", field_path)
            return None
        waiting.pop(name, None)
        self.event(pod, "Normal", "Started", f"Started container {name}", field_path)
        post_start = (container.get("lifecycle") or {}).get("postStart")
        if post_start:
            why = await self._run_hook(post_start, container=container, container_id=created.container_id,
                                       pod_ip=pod_ip, timeout=self._grace(pod))
            if why:
                # upstream: a failed postStart hook kills the container, which then restarts per policy
                self.event(pod, "Warning", "FailedPostStartHook", f"PostStartHook failed: {why}"[:1024], field_path)
                await self._stop_container(created.container_id, self._grace(pod), pod=pod, name=name)
        return None

    def _container_spec(self, pod: Mapping[str, Any] | None, name: str) -> Obj | None:
        spec = (pod or {}).get("spec") or {}
        return next((c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
                     if c["name"] == name), None)

    async def _run_hook(self, handler: Mapping[str, Any], *, container: Mapping[str, Any], container_id: str,
                        pod_ip: str, timeout: float) -> str:
        """Run a lifecycle handler (exec, httpGet, sleep); "" on success, else why it failed."""
        if "sleep" in handler:
            await asyncio.sleep(min(float(handler["sleep"].get("seconds", 0)), timeout))
            return ""
        probe = dict(handler, timeoutSeconds=max(int(timeout), 1))
        result = await run_probe(probe, container=container, container_id=container_id, pod_ip=pod_ip,
                                 runtime=self.runtime)
        return "" if result.success else (result.output or "the handler failed")

    async def _verify_non_root(self, container: Obj, pod: Obj) -> None:
        psc = (pod.get("spec") or {}).get("securityContext") or {}
        csc = container.get("securityContext") or {}
        if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
            return
        try:
            image = (await self.runtime.image_status(image=container.get("image", ""))).image
        except CriError as err:
            raise ContainerConfigError(f"cannot verify the image's user: {err}") from None
        image_uid = image.uid.value if image.HasField("uid") else None
        verify_run_as_non_root(container, pod, image_uid=image_uid, image_user=image.username)

    async def _stop_container(self, container_id: str, grace: int, *, pod: Mapping[str, Any] | None = None,
                              name: str = "", state: PodRuntime | None = None) -> None:
        """preStop (within the grace period), then StopContainer: SIGTERM, SIGKILL when the rest of it ends."""
        spec = self._container_spec(pod, name) if name else None
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and pod is not None and spec is not None:
            started = time.monotonic()
            pod_ip = self._pod_ip(pod, state) if state is not None else ""
            try:
                why = await asyncio.wait_for(self._run_hook(pre_stop, container=spec, container_id=container_id,
                                                            pod_ip=pod_ip, timeout=grace), grace)
            except TimeoutError:
                why = f"PreStop hook did not complete within {grace}s"
            if why:
                self.event(pod, "Warning", "FailedPreStopHook", f"PreStopHook failed: {why}"[:1024],
                           f"spec.containers{{{name}}}")
            grace = max(int(grace - (time.monotonic() - started)), MINIMUM_GRACE_PERIOD)
        with contextlib.suppress(CriNotFound):
            await self.runtime.stop_container(container_id=container_id, timeout=grace)

    async def _collect_garbage(self, state: PodRuntime) -> None:
        """Keep the newest two exited instances per container name (logs --previous needs one)."""
        seen: dict[str, int] = {}
        doomed = []
        for record in state.containers:
            if record.state != EXITED:
                continue
            seen[record.name] = seen.get(record.name, 0) + 1
            if seen[record.name] > 2:
                doomed.append(record.id)
        for cid in doomed:
            with contextlib.suppress(CriError):
                await self.runtime.remove_container(container_id=cid)
        self.reader.forget(doomed)

    async def kill_pod(self, pod: Mapping[str, Any] | None, state: PodRuntime, *, grace: int) -> None:
        """Stop every running container (concurrently, with ``grace``), then the sandboxes."""
        running = state.running()
        for record in running:
            self.event(pod, "Normal", "Killing", f"Stopping container {record.name}",
                       f"spec.containers{{{record.name}}}")
        await asyncio.gather(*(self._stop_container(r.id, grace, pod=pod, name=r.name, state=state) for r in running))
        for sandbox in state.sandboxes:
            if sandbox.ready:
                with contextlib.suppress(CriNotFound):
                    await self.runtime.stop_pod_sandbox(pod_sandbox_id=sandbox.id)
        if pod is not None:
            self.probes.stop_pod(pod["metadata"]["uid"])

    async def remove_pod(self, uid: str, state: PodRuntime) -> None:
        for record in state.containers:
            with contextlib.suppress(CriNotFound):
                await self.runtime.remove_container(container_id=record.id)
        for sandbox in state.sandboxes:
            with contextlib.suppress(CriNotFound):
                await self.runtime.stop_pod_sandbox(pod_sandbox_id=sandbox.id)
                await self.runtime.remove_pod_sandbox(pod_sandbox_id=sandbox.id)
        self.reader.forget([c.id for c in state.containers])
        self.probes.stop_pod(uid)
        await asyncio.to_thread(self.volumes.teardown, uid)
        if self.pod_cgroups is not None:
            await asyncio.to_thread(self.pod_cgroups.destroy, uid)
        self.backoff.forget_prefix(f"{uid}/")
        self.pull_backoff.forget_prefix(f"{uid}/")
        for key in [k for k in self._pull_failed_at if k.startswith(f"{uid}/")]:
            del self._pull_failed_at[key]
        self.waiting.pop(uid, None)
        self.written.pop(uid, None)
        self._synced_states.pop(uid, None)
        self.tokens.forget(uid)
        self.evicted.discard(uid)

    async def terminate_pod(self, pod: Obj, state: PodRuntime) -> SyncResult:
        uid = pod["metadata"]["uid"]
        await self.kill_pod(pod, state, grace=self._grace(pod))
        state = await self.reader.read_pod_runtime(uid)
        self.waiting.pop(uid, None)
        with contextlib.suppress(APIStatusError, APIConnectionError):
            await self.write_status(pod, state)
        md = pod["metadata"]
        try:
            await self.pods.delete(md["name"], namespace=md.get("namespace", "default"), grace_period_seconds=0,
                                   preconditions={"uid": uid})
        except APIStatusError as err:
            if not is_not_found(err) and err.status.get("code") != 409:
                raise
        await self.remove_pod(uid, state)
        return SyncResult(finished=True)

    async def write_status(self, pod: Obj, state: PodRuntime) -> Obj | None:
        uid = pod["metadata"]["uid"]
        if uid in self.evicted:
            return None  # the eviction wrote the final status
        status = generate_pod_status(pod, state, waiting=self.waiting.get(uid, {}), probes=self.probes.verdicts,
                                     host_ip=self.node.host_ip)
        old: Obj = self.written.get(uid) or pod.get("status") or {}
        if old == status:
            return status
        patch = dict(status)
        for key in old:
            if key not in status:
                patch[key] = None
        md = pod["metadata"]
        try:
            await self.pods.subresource("status").patch(md["name"], {"status": patch},
                                                        namespace=md.get("namespace", "default"))
        except APIStatusError as err:
            if is_not_found(err):
                return None
            raise
        self.written[uid] = status
        return status
