"""The Summary API and /metrics/resource from a fake runtime and files standing in for /proc and cgroups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.stats import StatsProvider, du, node_memory, render_resource_metrics
from kubelite.cri import CriError, api_pb2


def _stat(cid: str, name: str, cpu: int, ws: int, ts: int = 2_000_000_000, layer: int = 0) -> api_pb2.ContainerStats:
    return api_pb2.ContainerStats(
        attributes=api_pb2.ContainerAttributes(id=cid, metadata=api_pb2.ContainerMetadata(name=name)),
        cpu=api_pb2.CpuUsage(timestamp=ts, usage_core_nano_seconds=api_pb2.UInt64Value(value=cpu)),
        memory=api_pb2.MemoryUsage(timestamp=ts, working_set_bytes=api_pb2.UInt64Value(value=ws),
                                   usage_bytes=api_pb2.UInt64Value(value=ws * 2)),
        writable_layer=api_pb2.FilesystemUsage(timestamp=ts, used_bytes=api_pb2.UInt64Value(value=layer),
                                               inodes_used=api_pb2.UInt64Value(value=3)))


class FakeRuntime:
    """One ready pod with an exited and a running instance of "app", plus a stopped pod."""

    def __init__(self, *, pod_stats: bool) -> None:
        self.pod_stats = pod_stats
        self.ts = 2_000_000_000
        self.cpu = 1_000_000

    async def list_pod_sandbox(self) -> Any:
        meta = api_pb2.PodSandboxMetadata(name="web", namespace="ns", uid="u1")
        return api_pb2.ListPodSandboxResponse(items=[
            api_pb2.PodSandbox(id="s1", state=api_pb2.SANDBOX_READY, created_at=1_700_000_000_000_000_000,
                               metadata=meta),
            api_pb2.PodSandbox(id="s0", state=api_pb2.SANDBOX_NOTREADY, created_at=1, metadata=meta)])

    async def list_containers(self) -> Any:
        return api_pb2.ListContainersResponse(containers=[
            api_pb2.Container(id="old", pod_sandbox_id="s1", state=api_pb2.CONTAINER_EXITED, created_at=5,
                              metadata=api_pb2.ContainerMetadata(name="app", attempt=0)),
            api_pb2.Container(id="new", pod_sandbox_id="s1", state=api_pb2.CONTAINER_RUNNING,
                              created_at=1_700_000_001_000_000_000,
                              metadata=api_pb2.ContainerMetadata(name="app", attempt=1)),
            api_pb2.Container(id="gone", pod_sandbox_id="s0", state=api_pb2.CONTAINER_EXITED, created_at=1,
                              metadata=api_pb2.ContainerMetadata(name="app"))])

    def _containers(self) -> list[api_pb2.ContainerStats]:
        return [_stat("old", "app", 99, 1), _stat("new", "app", self.cpu, 4096, self.ts, layer=8192),
                _stat("gone", "app", 5, 5)]

    async def list_container_stats(self) -> Any:
        return api_pb2.ListContainerStatsResponse(stats=self._containers())

    async def list_pod_sandbox_stats(self) -> Any:
        if not self.pod_stats:
            raise CriError("no", method="ListPodSandboxStats", code="UNIMPLEMENTED", details="", address="x")
        return api_pb2.ListPodSandboxStatsResponse(stats=[api_pb2.PodSandboxStats(
            attributes=api_pb2.PodSandboxAttributes(id="s1"),
            linux=api_pb2.LinuxPodSandboxStats(
                cpu=api_pb2.CpuUsage(timestamp=self.ts,
                                     usage_core_nano_seconds=api_pb2.UInt64Value(value=self.cpu * 2)),
                memory=api_pb2.MemoryUsage(timestamp=self.ts, working_set_bytes=api_pb2.UInt64Value(value=9999)),
                process=api_pb2.ProcessUsage(timestamp=self.ts, process_count=api_pb2.UInt64Value(value=2)),
                containers=self._containers()[:2]))])

    async def image_fs_info(self) -> Any:
        return api_pb2.ImageFsInfoResponse(image_filesystems=[api_pb2.FilesystemUsage(
            fs_id=api_pb2.FilesystemIdentifier(mountpoint="/"), used_bytes=api_pb2.UInt64Value(value=1234),
            inodes_used=api_pb2.UInt64Value(value=7))])


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    cfg = AgentConfig(data_dir=tmp_path / "data", server="https://127.0.0.1:6443", node_name="n1")
    volume = cfg.agent_dir / "pods" / "u1" / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    volume.mkdir(parents=True)
    (volume / "blob").write_bytes(b"x" * 100_000)
    (cfg.agent_dir / "pods" / "u1" / "volumes" / "kubernetes.io~configmap" / "cfg").mkdir(parents=True)
    logs = cfg.pod_logs_dir / "ns_web_u1" / "app"
    logs.mkdir(parents=True)
    (logs / "1.log").write_bytes(b"y" * 50_000)
    return cfg


async def test_summary_takes_pod_figures_from_the_pod_cgroup_and_the_newest_container(config: AgentConfig) -> None:
    runtime = FakeRuntime(pod_stats=True)
    provider = StatsProvider(config=config, runtime=runtime)  # type: ignore[arg-type]
    summary = await provider.summary()
    node = summary["node"]
    assert node["nodeName"] == "n1"
    assert node["cpu"]["usageCoreNanoSeconds"] > 0 and node["memory"]["workingSetBytes"] > 0
    assert node["memory"]["availableBytes"] > 0 and node["fs"]["capacityBytes"] >= node["fs"]["availableBytes"]
    assert node["runtime"]["imageFs"]["usedBytes"] == 1234 and node["runtime"]["imageFs"]["capacityBytes"] > 0
    assert node["rlimit"]["maxpid"] > 0 and node["rlimit"]["curproc"] > 0
    (pod,) = summary["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "ns", "uid": "u1"}
    assert pod["startTime"] == "2023-11-14T22:13:20Z"
    assert pod["memory"]["workingSetBytes"] == 9999 and pod["process_stats"] == {"process_count": 2}
    (container,) = pod["containers"]
    assert container["name"] == "app" and container["memory"]["workingSetBytes"] == 4096
    assert container["rootfs"]["usedBytes"] == 8192 and container["logs"]["usedBytes"] >= 50_000
    assert "usageNanoCores" not in container["cpu"]  # no previous sample yet
    volumes = {v["name"]: v for v in pod["volume"]}
    assert set(volumes) == {"scratch", "cfg"} and volumes["scratch"]["usedBytes"] >= 100_000
    assert volumes["scratch"]["capacityBytes"] > 0 and volumes["scratch"]["inodesUsed"] == 2
    assert pod["ephemeral-storage"]["usedBytes"] >= 8192 + 50_000 + 100_000

    runtime.ts, runtime.cpu = 3_000_000_000, 251_000_000  # one second later, a quarter core more
    again = await provider.summary()
    assert again["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 250_000_000
    assert again["pods"][0]["cpu"]["usageNanoCores"] == 500_000_000


async def test_without_pod_sandbox_stats_the_pod_is_the_sum_of_its_containers(config: AgentConfig) -> None:
    provider = StatsProvider(config=config, runtime=FakeRuntime(pod_stats=False))  # type: ignore[arg-type]
    (pod,) = (await provider.summary())["pods"]
    assert pod["memory"]["workingSetBytes"] == 4096 and pod["cpu"]["usageCoreNanoSeconds"] == 1_000_000
    assert [c["name"] for c in pod["containers"]] == ["app"]


def test_resource_metrics_are_upstreams_names_with_escaped_labels_and_millisecond_timestamps() -> None:
    summary = {"node": {"cpu": {"time": "2026-01-01T00:00:00Z", "usageCoreNanoSeconds": 1_500_000_000},
                        "memory": {"time": "2026-01-01T00:00:00Z", "workingSetBytes": 2048}},
               "pods": [{"podRef": {"name": 'we"b', "namespace": "ns", "uid": "u"},
                         "cpu": {"time": "2026-01-01T00:00:01Z", "usageCoreNanoSeconds": 2_000_000},
                         "memory": {"time": "2026-01-01T00:00:01Z", "workingSetBytes": 10},
                         "containers": [{"name": "app", "startTime": "2026-01-01T00:00:00Z",
                                         "cpu": {"time": "2026-01-01T00:00:01Z", "usageCoreNanoSeconds": 1_000_000},
                                         "memory": {"time": "2026-01-01T00:00:01Z", "workingSetBytes": 7}}]}]}
    text = render_resource_metrics(summary)
    assert "# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total 1.5 1767225600000" in text
    assert "node_memory_working_set_bytes 2048 1767225600000" in text
    assert 'container_cpu_usage_seconds_total{container="app",namespace="ns",pod="we\\"b"} 0.001 1767225601000' in text
    assert 'container_start_time_seconds{container="app",namespace="ns",pod="we\\"b"} 1767225600.0' in text
    assert 'pod_memory_working_set_bytes{namespace="ns",pod="we\\"b"} 10 1767225601000' in text
    assert text.endswith("resource_scrape_error 0\n")
    assert render_resource_metrics({}, scrape_error=True).endswith("resource_scrape_error 1\n")


def test_node_memory_is_the_root_cgroup_less_inactive_file_as_cadvisor(tmp_path: Path) -> None:
    proc, cgroup = tmp_path / "proc", tmp_path / "memory"
    proc.mkdir()
    cgroup.mkdir()
    (proc / "meminfo").write_text("MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    600 kB\n")
    (proc / "vmstat").write_text("pgfault 11\npgmajfault 2\n")
    (cgroup / "memory.usage_in_bytes").write_text("800000\n")
    (cgroup / "memory.stat").write_text("total_inactive_file 300000\ntotal_rss 123\n")
    memory = node_memory(proc=proc, memory_cgroup=cgroup)
    assert memory == {"capacity": 1_024_000, "usageBytes": 800_000, "workingSetBytes": 500_000,
                      "availableBytes": 524_000, "rssBytes": 123, "pageFaults": 11, "majorPageFaults": 2}
    (cgroup / "memory.usage_in_bytes").unlink()  # cgroup v2 host: from /proc/meminfo
    memory = node_memory(proc=proc, memory_cgroup=cgroup)
    assert memory["workingSetBytes"] == 400 * 1024 and memory["usageBytes"] == 900 * 1024


def test_du_counts_blocks_and_inodes_without_following_symlinks(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"z" * 10_000)
    (tmp_path / "d" / "link").symlink_to("/usr")
    used, inodes = du(tmp_path / "d")
    assert inodes == 3 and 10_000 <= used < 1_000_000
    assert du(tmp_path / "missing") == (0, 0)
