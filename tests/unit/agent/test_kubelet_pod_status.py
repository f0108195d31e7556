"""The Pod status the kubelet derives: phase, conditions, container states and reasons, IPs, QoS."""

from __future__ import annotations

from typing import Any

import pytest
from kubelet_builders import RuntimeBuilder, make_pod

from kubelite.agent.kubelet.pod_status import ProbeVerdicts, generate_pod_status
from kubelite.agent.kubelet.runtime_state import PodRuntime

NOW = "2026-01-01T00:00:00Z"


def status(pod: dict[str, Any], state: PodRuntime, *, waiting: dict[str, tuple[str, str]] | None = None,
           probes: ProbeVerdicts | None = None) -> dict[str, Any]:
    return generate_pod_status(pod, state, waiting=waiting or {}, probes=probes or ProbeVerdicts(),
                               host_ip="192.0.2.10", now=NOW)


def conditions(st: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in st["conditions"]}


def test_a_pod_being_created_is_pending_and_container_creating() -> None:
    pod = make_pod()
    st = status(pod, PodRuntime(uid="uid-1"))
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert conditions(st) == {"PodReadyToStartContainers": "False", "Initialized": "True", "Ready": "False",
                              "ContainersReady": "False", "PodScheduled": "True"}
    assert st["qosClass"] == "BestEffort" and st["hostIP"] == "192.0.2.10" and "podIP" not in st


def test_running_pod_is_ready_with_ip_and_container_id() -> None:
    pod = make_pod()
    st = status(pod, RuntimeBuilder(pod).sandbox(ip="10.42.0.7").container("c", "running").build())
    assert st["phase"] == "Running" and conditions(st)["Ready"] == "True"
    c = st["containerStatuses"][0]
    assert c["ready"] and c["started"] and c["containerID"].startswith("containerd://c-")
    assert "running" in c["state"] and c["imageID"] == "sha256:abc"
    assert st["podIP"] == "10.42.0.7" and st["podIPs"] == [{"ip": "10.42.0.7"}]


def test_host_network_pod_ip_is_the_node_ip() -> None:
    pod = make_pod(hostNetwork=True)
    st = status(pod, RuntimeBuilder(pod).sandbox(ip="").container("c", "running").build())
    assert st["podIP"] == "192.0.2.10"


def test_crash_loop_shows_waiting_with_last_state_and_keeps_the_pod_running() -> None:
    pod = make_pod()
    state = RuntimeBuilder(pod).sandbox().container("c", "exited", exit_code=3, restart_count=2).build()
    st = status(pod, state, waiting={"c": ("CrashLoopBackOff", "back-off 20s restarting failed container=c")})
    c = st["containerStatuses"][0]
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert c["lastState"]["terminated"]["exitCode"] == 3 and c["lastState"]["terminated"]["reason"] == "Error"
    assert c["restartCount"] == 2 and st["phase"] == "Running"
    assert next(x for x in st["conditions"] if x["type"] == "Ready")["message"] == \
        "containers with unready status: [c]"


@pytest.mark.parametrize(("restart", "exit_code", "phase", "reason"), [
    pytest.param("Never", 0, "Succeeded", "Completed", id="succeeded"),
    pytest.param("Never", 1, "Failed", "Error", id="failed"),
    pytest.param("OnFailure", 0, "Succeeded", "Completed", id="onfailure-succeeded"),
])
def test_terminal_phases(restart: str, exit_code: int, phase: str, reason: str) -> None:
    pod = make_pod(restart=restart)
    st = status(pod, RuntimeBuilder(pod).sandbox().container("c", "exited", exit_code=exit_code).build())
    assert st["phase"] == phase
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == reason
    ready = next(x for x in st["conditions"] if x["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodCompleted"


def test_oom_killed_reason_comes_from_the_runtime() -> None:
    pod = make_pod(restart="Never")
    st = status(pod, RuntimeBuilder(pod).sandbox().container("c", "exited", exit_code=137, reason="OOMKilled")
                .build())
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    assert st["phase"] == "Failed"


def test_init_containers_gate_initialized_and_pod_initializing() -> None:
    pod = make_pod(init=[{"name": "i"}])
    st = status(pod, RuntimeBuilder(pod).sandbox().container("i", "running").build())
    assert st["phase"] == "Pending" and conditions(st)["Initialized"] == "False"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    failed = make_pod(init=[{"name": "i"}], restart="Never")
    st = status(failed, RuntimeBuilder(failed).sandbox().container("i", "exited", exit_code=1).build())
    assert st["phase"] == "Failed"


def test_readiness_probe_and_image_pull_reasons() -> None:
    pod = make_pod()
    state = RuntimeBuilder(pod).sandbox().container("c", "running").build()
    cid = state.containers[0].id
    st = status(pod, state, probes=ProbeVerdicts(ready={cid: False}))
    assert st["containerStatuses"][0]["ready"] is False and conditions(st)["Ready"] == "False"
    st = status(pod, PodRuntime(uid="uid-1"), waiting={"c": ("ErrImagePull", "failed to pull")})
    assert st["containerStatuses"][0]["state"]["waiting"] == {"reason": "ErrImagePull", "message": "failed to pull"}


def test_transition_times_and_start_time_are_kept() -> None:
    pod = make_pod()
    pod["status"] = {"startTime": "2025-01-01T00:00:00Z", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
        {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": "2025-01-02T00:00:00Z"}]}
    st = status(pod, PodRuntime(uid="uid-1"))
    assert st["startTime"] == "2025-01-01T00:00:00Z"
    scheduled = next(c for c in st["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["lastTransitionTime"] == "2025-01-01T00:00:00Z"
    assert any(c["type"] == "DisruptionTarget" for c in st["conditions"])


def test_readiness_gates_hold_ready_until_their_condition_is_true() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}])
    state = RuntimeBuilder(pod).sandbox().container("c", "running").build()
    st = status(pod, state)
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ReadinessGatesNotReady"
    assert ready["message"] == 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'
    assert conditions(st)["ContainersReady"] == "True"
    pod["status"] = {"conditions": [{"type": "example.com/lb", "status": "True"}]}
    st = status(pod, state)
    assert conditions(st)["Ready"] == "True" and conditions(st)["example.com/lb"] == "True"
