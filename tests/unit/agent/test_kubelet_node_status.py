"""The Node status the agent reports: Ready from the CRI, pressure, capacity, labels and taints."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from pathlib import Path
from typing import Any, cast

import pytest

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.node_status import (
    MachineInfo,
    NodeStatusManager,
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


class _FakeResource:
    """Records writes; answers as the API server would for a Node or a Lease."""

    def __init__(self, writes: list[tuple[float, str, dict[str, Any]]], stored: dict[str, Any]) -> None:
        self.writes = writes
        self.stored = stored  # the status the "server" holds, as the last write left it

    async def create(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.writes.append((time.monotonic(), "create", body))
        self.stored.update(copy.deepcopy(body.get("status") or {}))
        return {**body, "metadata": {**body["metadata"], "uid": "u1"}}

    async def patch(self, name: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.writes.append((time.monotonic(), "patch", body))
        self.stored.update(copy.deepcopy(body.get("status") or {}))
        return {"metadata": {"name": name, "uid": "u1"}, **body}

    async def get(self, name: str, **_: Any) -> dict[str, Any]:
        return {"metadata": {"name": name, "uid": "u1"}, "status": copy.deepcopy(self.stored)}

    def subresource(self, _name: str) -> _FakeResource:
        return self


class _FakeClient:
    def __init__(self) -> None:
        self.writes: list[tuple[float, str, dict[str, Any]]] = []
        self.node_status: dict[str, Any] = {}

    def resource(self, *_: Any, **__: Any) -> _FakeResource:
        return _FakeResource(self.writes, self.node_status)


class _FakeRuntime:
    """A runtime whose network turns ready when the test says so (the CNI config written after podCIDR)."""

    def __init__(self) -> None:
        self.network_ready = False

    async def version(self, **_: Any) -> api_pb2.VersionResponse:
        return api_pb2.VersionResponse(runtime_name="containerd", runtime_version="2.0")

    async def status(self, **_: Any) -> api_pb2.StatusResponse:
        return runtime_status(self.network_ready)

    async def list_images(self, **_: Any) -> api_pb2.ListImagesResponse:
        return api_pb2.ListImagesResponse()


def _ready_in(body: dict[str, Any]) -> str | None:
    conditions = body.get("status", {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == "Ready"), None)


async def test_a_node_registered_not_ready_reports_ready_as_soon_as_the_network_is(tmp_path: Path) -> None:
    # the periodic status write is far away: only the fast first-Ready path can write within the test's wait
    config = AgentConfig(data_dir=tmp_path, server="https://127.0.0.1:6443", node_name="n1", node_ip="10.0.0.1",
                         node_status_update_frequency=60.0)
    client, runtime = _FakeClient(), _FakeRuntime()
    manager = NodeStatusManager(config=config, client=cast(Any, client), runtime=cast(Any, runtime))
    task = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.registered.wait(), 10)
        assert _ready_in(next(body for _, verb, body in client.writes if verb == "create")) == "False"
        await asyncio.sleep(0.3)  # still not ready: nothing but the first periodic write and the Lease
        runtime.network_ready = True
        turned = time.monotonic()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while not any(_ready_in(body) == "True" for _, _, body in client.writes):
            assert loop.time() < deadline, f"no Ready=True status written within 2 s: {client.writes}"
            await asyncio.sleep(0.02)
        written = next(at for at, _, body in client.writes if _ready_in(body) == "True")
        assert written - turned < 1.0
        assert manager.reported_ready()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_conditions_the_node_controller_set_unknown_are_reported_again_at_once(tmp_path: Path) -> None:
    # upstream's tryUpdateNodeStatus compares with the server's Node: after a partition the kubelet must not
    # wait for its own status to change (or for the 5-minute report) to say Ready again
    config = AgentConfig(data_dir=tmp_path, server="https://127.0.0.1:6443", node_name="n1", node_ip="10.0.0.1")
    client, runtime = _FakeClient(), _FakeRuntime()
    runtime.network_ready = True
    manager = NodeStatusManager(config=config, client=cast(Any, client), runtime=cast(Any, runtime))
    await manager.register()
    assert not await manager.update_status()  # nothing changed: no write
    for cond in client.node_status["conditions"]:
        cond.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                     lastTransitionTime="2000-01-01T00:00:00Z")
    assert await manager.update_status()
    ready = next(c for c in client.node_status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] != "2000-01-01T00:00:00Z"
    assert not await manager.update_status()  # and then quiet again
