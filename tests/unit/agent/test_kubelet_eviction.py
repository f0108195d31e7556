"""Eviction under pressure: thresholds, upstream's ranking and message, one pod per round."""

from __future__ import annotations

from typing import Any

from kubelite.agent.kubelet.eviction import EvictionManager, Pressure, eviction_message, pressure, rank
from kubelite.agent.kubelet.node_status import MachineInfo
from kubelite.cri import api_pb2

MI = 1024 * 1024
INFO = MachineInfo(cpus=2, memory_bytes=4096 * MI, memory_available=2048 * MI, disk_bytes=1000 * MI,
                   disk_free=500 * MI, pid_max=4096, pids=10, kernel="", os_image="", machine_id="", boot_id="",
                   architecture="amd64")


def pod(name: str, *, request: str | None = None, priority: int = 0) -> dict[str, Any]:
    resources = {"requests": {"memory": request}} if request else {}
    return {"metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"priority": priority, "containers": [{"name": "c", "resources": resources}]},
            "status": {"phase": "Running"}}


def with_info(**changes: int) -> MachineInfo:
    return MachineInfo(**{**INFO.__dict__, **changes})


def test_thresholds() -> None:
    assert pressure(INFO) is None
    memory = pressure(with_info(memory_available=50 * MI))
    assert memory is not None and memory.resource == "memory" and memory.threshold == "100Mi"
    disk = pressure(with_info(disk_free=50 * MI))
    assert disk is not None and disk.resource == "ephemeral-storage"


def test_rank_prefers_pods_over_their_requests_then_low_priority_then_usage() -> None:
    pods = [pod("within", request="500Mi"), pod("over-high-prio", priority=1000), pod("over-small"),
            pod("over-big")]
    usage = {"within": 100 * MI, "over-high-prio": 900 * MI, "over-small": 10 * MI, "over-big": 800 * MI}
    assert [p["metadata"]["name"] for p in rank(pods, usage, "memory")] == [
        "over-big", "over-small", "over-high-prio", "within"]


def test_eviction_message_as_upstream() -> None:
    message = eviction_message(Pressure("memory", "100Mi", 50 * MI), pod("p"), {"c": 300 * MI})
    assert message == ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "
                       "Container c was using 307200Ki, request is 0, has larger consumption of memory.")


class FakeRuntime:
    async def list_container_stats(self) -> api_pb2.ListContainerStatsResponse:
        def stat(uid: str, used: int) -> api_pb2.ContainerStats:
            return api_pb2.ContainerStats(
                attributes=api_pb2.ContainerAttributes(id=uid, metadata=api_pb2.ContainerMetadata(name="c"),
                                                       labels={"io.kubernetes.pod.uid": uid}),
                memory=api_pb2.MemoryUsage(working_set_bytes=api_pb2.UInt64Value(value=used)))

        return api_pb2.ListContainerStatsResponse(stats=[stat("a", 10 * MI), stat("b", 200 * MI)])


async def test_one_pod_per_round_only_under_pressure() -> None:
    evicted: list[tuple[str, str]] = []
    info = [INFO]

    async def evict(victim: dict[str, Any], message: str) -> None:
        evicted.append((victim["metadata"]["name"], message))

    runtime: Any = FakeRuntime()
    done = pod("done")
    done["status"]["phase"] = "Succeeded"
    manager = EvictionManager(runtime=runtime, read_info=lambda: info[0], active_pods=lambda: [pod("a"), pod("b"),
                                                                                              done], evict=evict)
    assert await manager.synchronize() is None and evicted == []
    info[0] = with_info(memory_available=20 * MI)
    victim = await manager.synchronize()
    assert victim is not None and victim["metadata"]["name"] == "b"
    assert evicted[0][1].startswith("The node was low on resource: memory.")
