"""What the container runtime holds for each pod: sandboxes and containers, read through CRI labels.

Design (upstream pkg/kubelet/kuberuntime labels.go and kubecontainer.PodStatus)
--------------------------------------------------------------------------------
Every sandbox and container the kubelet creates carries upstream's CRI labels
(``io.kubernetes.pod.name``/``.namespace``/``.uid``, ``io.kubernetes.container.name``), so this
kubelet (after a restart), the kubelet server (logs, exec) and other tools find them; the
annotations carry what the kubelet needs to remember across restarts without any local database:
the container's spec hash, its restart count and the pod's grace period. The runtime is the only
source of truth: `read_pod_runtime` rebuilds a `PodRuntime` from ListPodSandbox + ListContainers
filtered by the pod's UID, plus ContainerStatus (exit codes, times) for each container. Exited
containers never change, so their statuses are cached by ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from kubelite.cri import CriNotFound, RuntimeClient, api_pb2

POD_NAME_LABEL: Final = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL: Final = "io.kubernetes.pod.namespace"
POD_UID_LABEL: Final = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL: Final = "io.kubernetes.container.name"
KUBELET_MANAGED_LABEL: Final = "io.kubernetes.kubelet.managed"  # not upstream: ours, to find what we own
CONTAINER_HASH_ANNOTATION: Final = "io.kubernetes.container.hash"
CONTAINER_RESTART_COUNT_ANNOTATION: Final = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH_ANNOTATION: Final = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY_ANNOTATION: Final = "io.kubernetes.container.terminationMessagePolicy"
POD_GRACE_ANNOTATION: Final = "io.kubernetes.pod.terminationGracePeriod"

CREATED: Final = "created"
RUNNING: Final = "running"
EXITED: Final = "exited"
UNKNOWN: Final = "unknown"
_STATE_NAMES: Final = {api_pb2.CONTAINER_CREATED: CREATED, api_pb2.CONTAINER_RUNNING: RUNNING,
                       api_pb2.CONTAINER_EXITED: EXITED, api_pb2.CONTAINER_UNKNOWN: UNKNOWN}


def container_hash(container: Mapping[str, Any]) -> str:
    """A stable hash of a container's spec: a change (say a new image) makes the kubelet restart it."""
    return hashlib.sha256(orjson.dumps(container, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def pod_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    md = pod["metadata"]
    return {POD_NAME_LABEL: md["name"], POD_NAMESPACE_LABEL: md.get("namespace", "default"),
            POD_UID_LABEL: md["uid"], KUBELET_MANAGED_LABEL: "true"}


@dataclass
class SandboxRecord:
    id: str
    attempt: int
    ready: bool
    created_at: int
    name: str
    namespace: str
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)


@dataclass
class ContainerRecord:
    id: str
    name: str
    attempt: int
    state: str
    sandbox_id: str
    created_at: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""
    image_ref: str = ""
    restart_count: int = 0
    hash: str = ""
    grace_seconds: int = 30


@dataclass
class PodRuntime:
    """One pod's sandboxes and containers, newest first."""

    uid: str
    sandboxes: list[SandboxRecord] = field(default_factory=list)
    containers: list[ContainerRecord] = field(default_factory=list)

    @property
    def sandbox(self) -> SandboxRecord | None:
        return self.sandboxes[0] if self.sandboxes else None

    def latest(self, name: str) -> ContainerRecord | None:
        for record in self.containers:
            if record.name == name:
                return record
        return None

    def previous(self, name: str) -> ContainerRecord | None:
        seen = False
        for record in self.containers:
            if record.name == name:
                if seen:
                    return record
                seen = True
        return None

    def running(self) -> list[ContainerRecord]:
        return [c for c in self.containers if c.state in (RUNNING, UNKNOWN)]

    @property
    def empty(self) -> bool:
        return not self.sandboxes and not self.containers


MAX_TERMINATION_MESSAGE: Final = 4096
MAX_FALLBACK_LOG_BYTES: Final = 2048
FALLBACK_LOG_LINES: Final = 80


def _tail_of_cri_log(path: str) -> str:
    """The last lines of a CRI log file (``<time> <stream> <tag> <text>``), texts only."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            lines = f.read().decode(errors="replace").splitlines()[-FALLBACK_LOG_LINES:]
    except OSError:
        return ""
    texts = [line.split(" ", 3)[3] if line.count(" ") >= 3 else line for line in lines]
    return "\n".join(texts)[-MAX_FALLBACK_LOG_BYTES:]


def termination_message(status: api_pb2.ContainerStatus) -> str:
    """upstream getTerminationMessage: the file mounted at terminationMessagePath, or (policy
    FallbackToLogsOnError, failed, empty file) the tail of the container's log."""
    path = status.annotations.get(TERMINATION_MESSAGE_PATH_ANNOTATION, "")
    message = ""
    for mount in status.mounts:
        if path and mount.container_path == path:
            try:
                with open(mount.host_path, "rb") as f:
                    message = f.read(MAX_TERMINATION_MESSAGE).decode(errors="replace")
            except OSError:
                message = ""
            break
    policy = status.annotations.get(TERMINATION_MESSAGE_POLICY_ANNOTATION, "File")
    if not message and policy == "FallbackToLogsOnError" and status.exit_code != 0 and status.log_path:
        message = _tail_of_cri_log(status.log_path)
    return message


class RuntimeReader:
    """Reads `PodRuntime` snapshots; caches the statuses of exited containers (they never change)."""

    def __init__(self, runtime: RuntimeClient) -> None:
        self.runtime = runtime
        self._exited: dict[str, ContainerRecord] = {}

    async def read_pod_runtime(self, uid: str) -> PodRuntime:
        selector = {POD_UID_LABEL: uid}
        sandboxes = (await self.runtime.list_pod_sandbox(
            filter=api_pb2.PodSandboxFilter(label_selector=selector))).items
        containers = (await self.runtime.list_containers(
            filter=api_pb2.ContainerFilter(label_selector=selector))).containers
        pod = PodRuntime(uid=uid)
        for sb in sorted(sandboxes, key=lambda s: (s.metadata.attempt, s.created_at), reverse=True):
            pod.sandboxes.append(SandboxRecord(id=sb.id, attempt=sb.metadata.attempt,
                                               ready=sb.state == api_pb2.SANDBOX_READY, created_at=sb.created_at,
                                               name=sb.metadata.name, namespace=sb.metadata.namespace))
        latest = pod.sandbox
        if latest is not None and latest.ready:
            try:
                status = (await self.runtime.pod_sandbox_status(pod_sandbox_id=latest.id)).status
            except CriNotFound:
                latest.ready = False
            else:
                latest.ip = status.network.ip
                latest.additional_ips = [ip.ip for ip in status.network.additional_ips]
                latest.ready = status.state == api_pb2.SANDBOX_READY
        records = []
        for c in containers:
            record = await self._container(c)
            if record is not None:
                records.append(record)
        records.sort(key=lambda r: (r.attempt, r.created_at), reverse=True)
        pod.containers = records
        live = {c.id for c in containers}
        for cid in [cid for cid, rec in self._exited.items() if rec.sandbox_id in {s.id for s in pod.sandboxes}
                    and cid not in live]:
            del self._exited[cid]
        return pod

    async def _container(self, c: api_pb2.Container) -> ContainerRecord | None:
        cached = self._exited.get(c.id)
        if cached is not None:
            return cached
        try:
            st = (await self.runtime.container_status(container_id=c.id)).status
        except CriNotFound:
            return None
        annotations = st.annotations
        record = ContainerRecord(
            id=st.id, name=st.metadata.name, attempt=st.metadata.attempt, state=_STATE_NAMES.get(st.state, UNKNOWN),
            sandbox_id=c.pod_sandbox_id, created_at=st.created_at, started_at=st.started_at,
            finished_at=st.finished_at, exit_code=st.exit_code, reason=st.reason, message=st.message,
            image=st.image.image, image_ref=st.image_ref,
            restart_count=int(annotations.get(CONTAINER_RESTART_COUNT_ANNOTATION, st.metadata.attempt) or 0),
            hash=annotations.get(CONTAINER_HASH_ANNOTATION, ""),
            grace_seconds=int(annotations.get(POD_GRACE_ANNOTATION, 30) or 30))
        if record.state == EXITED:
            extra = termination_message(st)
            if extra:
                record.message = f"{record.message}: {extra}" if record.message else extra
            self._exited[c.id] = record
        return record

    def forget(self, container_ids: list[str]) -> None:
        for cid in container_ids:
            self._exited.pop(cid, None)
