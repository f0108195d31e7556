"""The Node object of this agent: registration, status (conditions, capacity, addresses) and the Lease.

Design (upstream pkg/kubelet/kubelet_node_status.go and nodelease)
------------------------------------------------------------------
* **Registration**: the Node is created with labels (``kubernetes.io/hostname``, ``kubernetes.io/os``,
  ``kubernetes.io/arch``, their ``beta.kubernetes.io`` twins and ``--node-label``), the
  ``--node-taint`` taints (applied only at creation, as ``--register-with-taints``) and a full status.
  When the Node already exists (agent restart) its well-known labels are reconciled and it is kept.
* **Status** is a pure function of what the host and the runtime say (:func:`node_status`): capacity
  and allocatable from psutil (cpu, memory, ``pods`` = 110, ``ephemeral-storage`` of the data dir's
  filesystem), addresses (InternalIP, Hostname), nodeInfo, ``daemonEndpoints`` and the four
  conditions. Ready follows the CRI ``Status`` RPC with upstream's reasons and messages
  (``KubeletReady`` / ``KubeletNotReady`` "container runtime network not ready: NetworkReady=false
  ..."); the pressure conditions compare free memory, disk and PIDs against the kubelet's default
  hard eviction thresholds. Every ``node_status_update_frequency`` the status is recomputed and
  written when anything but the heartbeats changed, or at least every 5 minutes
  (nodeStatusReportFrequency), since the Lease carries liveness.
* **Fast first Ready** (upstream ``fastStatusUpdateOnce``): a node usually registers Ready=False, since
  its pod network can only be configured once the Node has a ``podCIDR``. Until it has reported Ready
  (at most ``NODE_READY_GRACE_PERIOD``), the runtime's Status is polled every 100 ms and the status is
  written the moment the node would be Ready, instead of at the next ``node_status_update_frequency``
  tick: pods (and the not-ready taints, which follow Ready) wait for the network, not for a timer.
* **Lease** ``kube-node-lease/<node>``: renewed every 10 s with ``leaseDurationSeconds`` 40, owned by
  the Node so that it goes away with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import psutil

from kubelite.agent.config import AgentConfig
from kubelite.client import APIClient, APIConnectionError, APIStatusError, is_already_exists, is_not_found
from kubelite.cri import CriError, RuntimeClient, api_pb2
from kubelite.host_address import primary_ip

log = logging.getLogger(__name__)

Obj = dict[str, Any]

MAX_PODS: Final = 110
MAX_NODE_IMAGES: Final = 50
LEASE_DURATION_SECONDS: Final = 40
LEASE_RENEW_INTERVAL: Final = 10.0
NODE_STATUS_REPORT_FREQUENCY: Final = 300.0
FAST_STATUS_INTERVAL: Final = 0.1
NODE_READY_GRACE_PERIOD: Final = 120.0
# The kubelet's default hard eviction thresholds: memory.available<100Mi, nodefs.available<10%,
# pid.available is compared against 10% of pid_max here.
MEMORY_PRESSURE_BYTES: Final = 100 * 1024 * 1024
DISK_PRESSURE_FRACTION: Final = 0.10
PID_PRESSURE_FRACTION: Final = 0.10
KUBELET_VERSION: Final = "v1.32.0"
"""The Kubernetes API version this kubelet implements (what `kubectl get nodes` shows as VERSION)."""

_GO_ARCH: Final = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
                   "s390x": "s390x", "riscv64": "riscv64"}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """metav1.MicroTime as upstream writes it (Lease renewTime)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    return _GO_ARCH.get(machine, machine)


def node_ip(config: AgentConfig) -> str:
    return config.node_ip or primary_ip()


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


@dataclass(frozen=True)
class MachineInfo:
    """What the host offers, read once per status computation (cheap: psutil and /proc)."""

    cpus: int
    memory_bytes: int
    memory_available: int
    disk_bytes: int
    disk_free: int
    pid_max: int
    pids: int
    kernel: str
    os_image: str
    machine_id: str
    boot_id: str
    architecture: str

    @classmethod
    def read(cls, data_dir: Path) -> MachineInfo:
        mem = psutil.virtual_memory()
        data_dir.mkdir(parents=True, exist_ok=True)
        disk = psutil.disk_usage(str(data_dir))
        pid_max = int(_read("/proc/sys/kernel/pid_max") or 32768)
        return cls(cpus=os.cpu_count() or 1, memory_bytes=mem.total, memory_available=mem.available,
                   disk_bytes=disk.total, disk_free=disk.free, pid_max=pid_max, pids=len(psutil.pids()),
                   kernel=platform.release(), os_image=os_image(), machine_id=_read("/etc/machine-id"),
                   boot_id=_read("/proc/sys/kernel/random/boot_id"), architecture=go_arch())


def node_labels(config: AgentConfig, *, architecture: str) -> dict[str, str]:
    labels = {
        "kubernetes.io/hostname": config.node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": architecture,
    }
    labels.update(config.node_labels)
    return labels


def parse_taint(text: str) -> Obj:
    """``key[=value]:Effect`` (as ``--node-taint``/``--register-with-taints``) to a Taint."""
    head, sep, effect = text.rpartition(":")
    if not sep or not head:
        raise ValueError(f"--node-taint {text!r}: expected key[=value]:Effect")
    if effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise ValueError(f"--node-taint {text!r}: effect {effect!r} is not one of NoSchedule, PreferNoSchedule, "
                         "NoExecute")
    key, _, value = head.partition("=")
    taint: Obj = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def _condition(kind: str, status: bool, reason: str, message: str) -> Obj:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message}


def ready_condition(runtime: api_pb2.StatusResponse | None, runtime_error: str = "") -> Obj:
    """Ready as upstream's ReadyCondition setter words it, from the CRI Status answer."""
    if runtime is None:
        return _condition("Ready", False, "KubeletNotReady",
                          f"container runtime is down: {runtime_error or 'no status'}")
    problems = []
    conditions = {c.type: c for c in runtime.status.conditions}
    for kind, what in (("RuntimeReady", "container runtime status check may not have completed yet"),
                       ("NetworkReady", "container runtime network not ready")):
        cond = conditions.get(kind)
        if cond is None:
            problems.append(f"{what}: {kind} missing")
        elif not cond.status:
            problems.append(f"{what}: {kind}=false reason:{cond.reason} message:{cond.message}")
    if problems:
        return _condition("Ready", False, "KubeletNotReady", ", ".join(problems))
    return _condition("Ready", True, "KubeletReady", "kubelet is posting ready status")


def pressure_conditions(info: MachineInfo) -> list[Obj]:
    memory = info.memory_available < MEMORY_PRESSURE_BYTES
    disk = info.disk_bytes > 0 and info.disk_free < info.disk_bytes * DISK_PRESSURE_FRACTION
    pid = info.pid_max - info.pids < info.pid_max * PID_PRESSURE_FRACTION
    return [
        _condition("MemoryPressure", memory, "KubeletHasInsufficientMemory" if memory else
                   "KubeletHasSufficientMemory",
                   "kubelet has insufficient memory available" if memory else
                   "kubelet has sufficient memory available"),
        _condition("DiskPressure", disk, "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure",
                   "kubelet has disk pressure" if disk else "kubelet has no disk pressure"),
        _condition("PIDPressure", pid, "KubeletHasInsufficientPID" if pid else "KubeletHasSufficientPID",
                   "kubelet has insufficient PID available" if pid else "kubelet has sufficient PID available"),
    ]


def merge_conditions(old: list[Obj], new: list[Obj], *, now: str) -> list[Obj]:
    """Stamp heartbeat times; keep lastTransitionTime while a condition's status stays the same."""
    previous = {c.get("type"): c for c in old}
    merged = []
    for cond in new:
        before = previous.get(cond["type"])
        stamped = dict(cond, lastHeartbeatTime=now)
        stamped["lastTransitionTime"] = (before.get("lastTransitionTime", now)
                                         if before and before.get("status") == cond["status"] else now)
        merged.append(stamped)
    return merged


def node_status(*, config: AgentConfig, info: MachineInfo, address: str, runtime_version: str,
                runtime: api_pb2.StatusResponse | None, runtime_error: str = "",
                old_conditions: list[Obj] | None = None, images: list[Obj] | None = None) -> Obj:
    """The Node's status from host facts and the runtime's answer (pure but for the clock)."""
    capacity = {"cpu": str(info.cpus), "memory": f"{info.memory_bytes // 1024}Ki", "pods": str(MAX_PODS),
                "ephemeral-storage": f"{info.disk_bytes // 1024}Ki"}
    conditions = [*pressure_conditions(info), ready_condition(runtime, runtime_error)]
    status: Obj = {
        "capacity": capacity,
        "allocatable": dict(capacity),
        "conditions": merge_conditions(old_conditions or [], conditions, now=now_rfc3339()),
        "addresses": [{"type": "InternalIP", "address": address},
                      {"type": "Hostname", "address": config.node_name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
        "nodeInfo": {
            "machineID": info.machine_id, "systemUUID": info.machine_id, "bootID": info.boot_id,
            "kernelVersion": info.kernel, "osImage": info.os_image,
            "containerRuntimeVersion": runtime_version, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": info.architecture,
        },
    }
    if images is not None:
        status["images"] = images
    return status


def node_images(images: Sequence[api_pb2.Image]) -> list[Obj]:
    """``status.images``: the largest images first, at most 50 (upstream nodeStatusMaxImages)."""
    ordered = sorted((i for i in images if i.repo_tags or i.repo_digests), key=lambda i: i.size, reverse=True)
    return [{"names": [*i.repo_digests, *i.repo_tags], "sizeBytes": int(i.size)} for i in ordered[:MAX_NODE_IMAGES]]


def without_heartbeats(status: Mapping[str, Any]) -> Obj:
    """The status with heartbeat times removed: what decides whether a write is needed."""
    out = copy.deepcopy(dict(status))
    for cond in out.get("conditions") or []:
        cond.pop("lastHeartbeatTime", None)
    return out


def condition_states(conditions: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, Any, Any]]:
    """Each condition's type -> (status, reason, message): what a status write must bring up to date."""
    return {str(c.get("type")): (c.get("status"), c.get("reason"), c.get("message")) for c in conditions}


class NodeStatusManager:
    """Registers the Node and keeps its status and Lease current; `run()` until cancelled."""

    def __init__(self, *, config: AgentConfig, client: APIClient, runtime: RuntimeClient) -> None:
        self.config = config
        self.client = client
        self.runtime = runtime
        self.nodes = client.resource("", "v1", "nodes", namespaced=False)
        self.leases = client.resource("coordination.k8s.io", "v1", "leases")
        self.address = node_ip(config)
        self.node_uid = ""
        self._last_status: Obj | None = None
        self._last_report = 0.0
        self.registered = asyncio.Event()

    async def _runtime_facts(self) -> tuple[str, api_pb2.StatusResponse | None, str]:
        try:
            version = await self.runtime.version(rpc_timeout=5)
            status = await self.runtime.status(rpc_timeout=5)
        except CriError as err:
            return "", None, str(err)
        return f"{version.runtime_name}://{version.runtime_version}", status, ""

    async def _images(self) -> list[Obj] | None:
        try:
            images = (await self.runtime.list_images(rpc_timeout=5)).images
        except CriError:
            return None
        return node_images(images)

    async def compute_status(self, *, server_conditions: list[Obj] | None = None) -> Obj:
        version, status, error = await self._runtime_facts()
        info = await asyncio.to_thread(MachineInfo.read, self.config.data_dir)
        # transition times follow what the API holds (the node controller may have set Unknown meanwhile)
        old = server_conditions if server_conditions is not None else \
            (self._last_status or {}).get("conditions") or []
        return node_status(config=self.config, info=info, address=self.address, runtime_version=version,
                           runtime=status, runtime_error=error, old_conditions=old, images=await self._images())

    async def register(self) -> Obj:
        status = await self.compute_status()
        info_arch = status["nodeInfo"]["architecture"]
        labels = node_labels(self.config, architecture=info_arch)
        body: Obj = {"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": self.config.node_name, "labels": labels},
                     "spec": {}, "status": status}
        taints = [parse_taint(t) for t in self.config.node_taints]
        if taints:
            body["spec"]["taints"] = taints
        try:
            node = await self.nodes.create(body)
            log.info("registered node %s (%s)", self.config.node_name, self.address)
        except APIStatusError as err:
            if not is_already_exists(err):
                raise
            # re-registration: reconcile the well-known labels, keep everything else the admin set
            node = await self.nodes.patch(self.config.node_name, {"metadata": {"labels": labels}})
            node = await self.nodes.subresource("status").patch(self.config.node_name, {"status": status})
            log.info("node %s already registered; labels and status reconciled", self.config.node_name)
        self.node_uid = node["metadata"]["uid"]
        self._last_status = status
        self._last_report = time.monotonic()
        self.registered.set()
        return node

    async def update_status(self, *, force: bool = False) -> bool:
        """Write the status when it changed (or the report frequency elapsed); True when written.

        "Changed" is judged against the Node the API server holds, as upstream's tryUpdateNodeStatus does:
        after a partition the node lifecycle controller has set the conditions to Unknown, and the kubelet
        must report Ready again at once, not when its own last report differs or five minutes pass.
        """
        server_conditions = await self._server_conditions()
        status = await self.compute_status(server_conditions=server_conditions)
        due = time.monotonic() - self._last_report >= NODE_STATUS_REPORT_FREQUENCY
        server_differs = server_conditions is not None and \
            condition_states(server_conditions) != condition_states(status.get("conditions") or [])
        if not force and not due and not server_differs and self._last_status is not None and \
                without_heartbeats(status) == without_heartbeats(self._last_status):
            return False
        try:
            await self.nodes.subresource("status").patch(self.config.node_name, {"status": status})
        except APIStatusError as err:
            if is_not_found(err):
                # the Node was deleted under us: register again, as the kubelet does on restart
                await self.register()
                return True
            raise
        self._last_status = status
        self._last_report = time.monotonic()
        return True

    async def _server_conditions(self) -> list[Obj] | None:
        """The Node's conditions as the API server has them; None when it cannot say (we then judge alone)."""
        try:
            node = await self.nodes.get(self.config.node_name)
        except APIStatusError:
            return None
        return list((node.get("status") or {}).get("conditions") or [])

    def reported_ready(self) -> bool:
        """Whether the last status written said Ready=True."""
        conditions = (self._last_status or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    async def would_be_ready(self) -> bool:
        """Whether the runtime would make the node Ready now: one CRI Status call, cheap enough for 100 ms."""
        try:
            status = await self.runtime.status(rpc_timeout=5)
        except CriError:
            return False
        return bool(ready_condition(status)["status"] == "True")

    async def renew_lease(self) -> None:
        name = self.config.node_name
        spec = {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now_micro()}
        try:
            await self.leases.patch(name, {"spec": spec}, namespace="kube-node-lease")
        except APIStatusError as err:
            if not is_not_found(err):
                raise
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                                      "uid": self.node_uid}]},
                    "spec": spec}
            with contextlib.suppress(APIStatusError):
                await self.leases.create(body, namespace="kube-node-lease")

    async def run(self) -> None:
        delay = 0.5
        while not self.registered.is_set():
            try:
                await self.register()
            except (APIStatusError, APIConnectionError) as err:
                log.warning("registering node %s failed (%s); retrying in %.1fs", self.config.node_name, err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 7.0)
        next_lease = next_status = 0.0
        fast_until = time.monotonic() + NODE_READY_GRACE_PERIOD
        while True:
            now = time.monotonic()
            fast = now < fast_until and not self.reported_ready()
            try:
                if now >= next_lease:
                    await self.renew_lease()
                    next_lease = now + LEASE_RENEW_INTERVAL
                if fast and now < next_status and await self.would_be_ready():
                    log.info("node %s: runtime and network ready; reporting Ready now", self.config.node_name)
                    next_status = now
                if now >= next_status:
                    await self.update_status()
                    next_status = now + self.config.node_status_update_frequency
            except (APIStatusError, APIConnectionError) as err:
                log.warning("node %s: status/lease update failed: %s", self.config.node_name, err)
                next_lease = min(next_lease, now + 2.0)
                next_status = min(next_status, now + 2.0)
            wake = min(next_lease, next_status, *([now + FAST_STATUS_INTERVAL] if fast else []))
            await asyncio.sleep(max(0.05, wake - time.monotonic()))


async def run_node_status(*, config: AgentConfig, client: APIClient, runtime: RuntimeClient) -> None:
    """Register this node, then keep its status and Lease current until cancelled."""
    await NodeStatusManager(config=config, client=client, runtime=runtime).run()
