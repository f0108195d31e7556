"""The Node status the agent reports: Ready from the CRI, pressure, capacity, labels and taints."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.node_status import (
    MachineInfo,
    merge_conditions,
    node_labels,
    node_status,
    parse_taint,
    ready_condition,
    without_heartbeats,
)
from kubelite.cri import api_pb2

CONFIG = AgentConfig(data_dir=Path("/tmp/x"), server="https://127.0.0.1:6443", node_name="n1",
                     node_labels={"pool": "a"}, kubelet_port=10555)
INFO = MachineInfo(cpus=4, memory_bytes=8 * 1024**3, memory_available=4 * 1024**3, disk_bytes=100 * 1024**3,
                   disk_free=50 * 1024**3, pid_max=4096, pids=100, kernel="6.1.0", os_image="Debian GNU/Linux 12",
                   machine_id="m", boot_id="b", architecture="amd64")


def runtime_status(network: bool, message: str = "cni plugin not initialized") -> api_pb2.StatusResponse:
    return api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=[
        api_pb2.RuntimeCondition(type="RuntimeReady", status=True),
        api_pb2.RuntimeCondition(type="NetworkReady", status=network, reason="" if network else
                                 "NetworkPluginNotReady", message="" if network else message)]))


def test_ready_follows_the_runtime_with_upstream_words() -> None:
    assert ready_condition(runtime_status(True))["reason"] == "KubeletReady"
    not_ready = ready_condition(runtime_status(False))
    assert not_ready["status"] == "False" and not_ready["reason"] == "KubeletNotReady"
    assert not_ready["message"] == ("container runtime network not ready: NetworkReady=false "
                                    "reason:NetworkPluginNotReady message:cni plugin not initialized")
    down = ready_condition(None, "socket gone")
    assert down["status"] == "False" and "socket gone" in down["message"]


def test_node_status_fields() -> None:
    st = node_status(config=CONFIG, info=INFO, address="192.0.2.5", runtime_version="containerd://1.6.20",
                     runtime=runtime_status(True))
    assert st["capacity"] == {"cpu": "4", "memory": "8388608Ki", "pods": "110", "ephemeral-storage": "104857600Ki"}
    assert st["allocatable"] == st["capacity"]
    assert st["addresses"] == [{"type": "InternalIP", "address": "192.0.2.5"}, {"type": "Hostname", "address": "n1"}]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10555}}
    assert st["nodeInfo"]["containerRuntimeVersion"] == "containerd://1.6.20"
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}


def test_pressure_conditions_trip_at_the_hard_thresholds() -> None:
    low = MachineInfo(**{**INFO.__dict__, "memory_available": 50 * 1024**2, "disk_free": 1, "pids": 4000})
    st = node_status(config=CONFIG, info=low, address="a", runtime_version="", runtime=runtime_status(True))
    assert {c["type"]: c["reason"] for c in st["conditions"] if c["status"] == "True" and c["type"] != "Ready"} == {
        "MemoryPressure": "KubeletHasInsufficientMemory", "DiskPressure": "KubeletHasDiskPressure",
        "PIDPressure": "KubeletHasInsufficientPID"}


def test_heartbeats_do_not_count_as_change_and_transitions_are_kept() -> None:
    first = merge_conditions([], [{"type": "Ready", "status": "True"}], now="t1")
    second = merge_conditions(first, [{"type": "Ready", "status": "True"}], now="t2")
    assert second[0]["lastTransitionTime"] == "t1" and second[0]["lastHeartbeatTime"] == "t2"
    assert without_heartbeats({"conditions": first}) == without_heartbeats({"conditions": second})
    flipped = merge_conditions(second, [{"type": "Ready", "status": "False"}], now="t3")
    assert flipped[0]["lastTransitionTime"] == "t3"


def test_labels() -> None:
    labels = node_labels(CONFIG, architecture="arm64")
    assert labels["kubernetes.io/hostname"] == "n1" and labels["kubernetes.io/arch"] == "arm64"
    assert labels["beta.kubernetes.io/os"] == "linux" and labels["pool"] == "a"


@pytest.mark.parametrize(("text", "taint"), [
    ("k=v:NoSchedule", {"key": "k", "value": "v", "effect": "NoSchedule"}),
    ("k:NoExecute", {"key": "k", "effect": "NoExecute"}),
    ("example.com/k=a:b:PreferNoSchedule", {"key": "example.com/k", "value": "a:b", "effect": "PreferNoSchedule"}),
])
def test_parse_taint(text: str, taint: dict[str, str]) -> None:
    assert parse_taint(text) == taint


@pytest.mark.parametrize("text", ["k=v", "k=v:Sometimes", ":NoSchedule"])
def test_bad_taints_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="--node-taint"):
        parse_taint(text)


def test_node_images_largest_first_and_capped() -> None:
    from kubelite.agent.kubelet.node_status import node_images

    images = [api_pb2.Image(id=f"sha256:{i}", repo_tags=[f"img:{i}"], size=i) for i in range(60)]
    images.append(api_pb2.Image(id="sha256:untagged", size=10**9))
    listed = node_images(images)
    assert len(listed) == 50 and listed[0] == {"names": ["img:59"], "sizeBytes": 59}
