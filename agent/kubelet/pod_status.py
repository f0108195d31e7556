"""The Pod's status as the kubelet reports it, derived from the runtime's state (never remembered).

Design (upstream pkg/kubelet/kubelet_pods.go generateAPIPodStatus, getPhase,
convertToAPIContainerStatuses and pkg/kubelet/status/generate.go)
----------------------------------------------------------------------------------------
:func:`generate_pod_status` is pure: the pod (spec and the status last written), a `PodRuntime`
snapshot, the reasons the last sync recorded for containers it could not start (``waiting``:
ErrImagePull, CrashLoopBackOff, CreateContainerConfigError, ...), the probe verdicts and the node's
IP. It yields phase, the five conditions (PodReadyToStartContainers, Initialized, Ready,
ContainersReady, PodScheduled) with transition times kept while a status holds, init and regular
containerStatuses (state, lastState, restartCount, ready, started, image, imageID, containerID),
podIP(s), hostIP(s), startTime and qosClass.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from kubelite.agent.kubelet.container_config import qos_class
from kubelite.agent.kubelet.runtime_state import EXITED, RUNNING, ContainerRecord, PodRuntime

Obj = dict[str, Any]

CONTAINER_ID_PREFIX: Final = "containerd://"
KUBELET_CONDITIONS: Final = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def rfc3339_ns(ns: int) -> str | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ProbeVerdicts:
    """Per container ID: whether readiness and startup probes currently pass."""

    ready: dict[str, bool] = field(default_factory=dict)
    started: dict[str, bool] = field(default_factory=dict)


def _terminated(record: ContainerRecord) -> Obj:
    reason = record.reason or ("Completed" if record.exit_code == 0 else "Error")
    out: Obj = {"exitCode": record.exit_code, "reason": reason, "containerID": CONTAINER_ID_PREFIX + record.id}
    if record.message:
        out["message"] = record.message
    started = rfc3339_ns(record.started_at)
    finished = rfc3339_ns(record.finished_at)
    out["startedAt"] = started
    out["finishedAt"] = finished
    return out


def container_status(spec: Mapping[str, Any], runtime: PodRuntime, *, waiting: Mapping[str, tuple[str, str]],
                     probes: ProbeVerdicts, default_waiting: str) -> Obj:
    name = spec["name"]
    latest = runtime.latest(name)
    previous = runtime.previous(name)
    status: Obj = {"name": name, "image": spec.get("image", ""), "imageID": "", "restartCount": 0,
                   "ready": False, "started": False, "state": {}, "lastState": {}}
    reason, message = waiting.get(name, ("", ""))
    if latest is None:
        wait: Obj = {"reason": reason or default_waiting}
        if message:
            wait["message"] = message
        status["state"] = {"waiting": wait}
        return status
    status["containerID"] = CONTAINER_ID_PREFIX + latest.id
    status["imageID"] = latest.image_ref
    status["restartCount"] = latest.restart_count
    if latest.state == RUNNING:
        status["state"] = {"running": {"startedAt": rfc3339_ns(latest.started_at)}}
        status["started"] = probes.started.get(latest.id, True)
        status["ready"] = status["started"] and probes.ready.get(latest.id, True)
        if previous is not None and previous.state == EXITED:
            status["lastState"] = {"terminated": _terminated(previous)}
    elif latest.state == EXITED:
        if reason:
            wait = {"reason": reason}
            if message:
                wait["message"] = message
            status["state"] = {"waiting": wait}
            status["lastState"] = {"terminated": _terminated(latest)}
        else:
            status["state"] = {"terminated": _terminated(latest)}
            if previous is not None and previous.state == EXITED:
                status["lastState"] = {"terminated": _terminated(previous)}
    else:
        wait = {"reason": reason or "ContainerCreating"}
        if message:
            wait["message"] = message
        status["state"] = {"waiting": wait}
        if previous is not None and previous.state == EXITED:
            status["lastState"] = {"terminated": _terminated(previous)}
    return status


def pod_phase(pod: Mapping[str, Any], init_statuses: list[Obj], statuses: list[Obj]) -> str:
    """upstream getPhase."""
    restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    pending_init = failed_init = 0
    for st in init_statuses:
        state = st["state"]
        if "terminated" in state:
            if state["terminated"]["exitCode"] != 0:
                failed_init += 1
        elif "waiting" in state and "terminated" in st.get("lastState", {}) and \
                st["lastState"]["terminated"]["exitCode"] != 0:
            failed_init += 1
        else:
            pending_init += 1
    if failed_init and restart == "Never":
        return "Failed"
    if pending_init or failed_init:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for st in statuses:
        state = st["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"]["exitCode"] == 0:
                succeeded += 1
        elif "terminated" in st.get("lastState", {}):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def _unready_gates(spec: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """upstream's readiness-gate messages for gates whose condition is missing or not True."""
    present = {c.get("type"): c.get("status") for c in old.get("conditions") or []}
    messages = []
    for gate in spec.get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        if kind not in present:
            messages.append(f'corresponding condition of pod readiness gate "{kind}" does not exist.')
        elif present[kind] != "True":
            messages.append(f'the status of pod readiness gate "{kind}" is not "True", but {present[kind]}')
    return messages


def generate_pod_status(pod: Mapping[str, Any], runtime: PodRuntime, *, waiting: Mapping[str, tuple[str, str]],
                        probes: ProbeVerdicts, host_ip: str, now: str | None = None) -> Obj:
    spec = pod.get("spec") or {}
    old: Obj = copy.deepcopy(pod.get("status") or {})
    init_specs = spec.get("initContainers") or []
    init_statuses = [container_status(c, runtime, waiting=waiting, probes=probes, default_waiting="PodInitializing")
                     for c in init_specs]
    init_done = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0
                    for s in init_statuses)
    statuses = [container_status(c, runtime, waiting=waiting, probes=probes,
                                 default_waiting="ContainerCreating" if init_done else "PodInitializing")
                for c in spec.get("containers") or []]
    for st in init_statuses:
        # init containers are never "ready" while running (upstream); done ones are
        st["ready"] = "terminated" in st["state"] and st["state"]["terminated"]["exitCode"] == 0
        st["started"] = "running" in st["state"]
    phase = pod_phase(pod, init_statuses, statuses)
    sandbox = runtime.sandbox
    host_network = bool(spec.get("hostNetwork"))
    sandbox_ready = sandbox is not None and sandbox.ready
    terminal = phase in ("Succeeded", "Failed")
    unready = [s["name"] for s in statuses if not s["ready"]]
    incomplete = [s["name"] for s, c in zip(init_statuses, init_specs, strict=True) if not s["ready"]]
    conditions = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _condition("Initialized", not incomplete, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(incomplete)}]"),
    ]
    if terminal:
        conditions += [_condition("Ready", False, "PodCompleted"), _condition("ContainersReady", False, "PodCompleted")]
    else:
        message = f"containers with unready status: [{' '.join(unready)}]"
        gates = _unready_gates(spec, old)
        if unready or not gates:
            ready = _condition("Ready", not unready, "ContainersNotReady", message)
        else:
            ready = _condition("Ready", False, "ReadinessGatesNotReady", "; ".join(gates))
        conditions += [ready, _condition("ContainersReady", not unready, "ContainersNotReady", message)]
    conditions.append(_condition("PodScheduled", True))
    stamp = now or now_rfc3339()
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    for cond in conditions:
        before = previous.get(cond["type"])
        cond["lastTransitionTime"] = (before.get("lastTransitionTime") or stamp
                                      if before and before.get("status") == cond["status"] else stamp)
    # conditions others own (DisruptionTarget, readiness gates) stay as they are
    conditions += [c for t, c in previous.items() if t not in KUBELET_CONDITIONS]
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "startTime": old.get("startTime") or stamp, "qosClass": qos_class(pod),
                   "containerStatuses": statuses}
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    pod_ip = host_ip if host_network else (sandbox.ip if sandbox is not None and sandbox.ready else "")
    if not pod_ip and terminal:
        pod_ip = old.get("podIP", "")  # a finished pod keeps the address it had (upstream)
    if pod_ip:
        ips = [pod_ip] + ([] if host_network or sandbox is None else sandbox.additional_ips)
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": ip} for ip in ips]
    for key in ("nominatedNodeName", "reason", "message", "resize"):
        if key in old:
            status[key] = old[key]
    return status


def status_differs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    return dict(old or {}) != dict(new)
