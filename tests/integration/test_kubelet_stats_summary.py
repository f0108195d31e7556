"""The Summary API and /metrics/resource on a real containerd: pod, container and emptyDir figures.

A pod is started directly over CRI the way the kubelet lays it out (CRI labels, log directory under the
agent's pod-logs, an emptyDir under ``<agent dir>/pods/<uid>/volumes``); its container writes 3 MiB into
the emptyDir and holds memory. StatsProvider must report what containerd and the file system say.
Containerd, its pods and the test's cgroups are cleaned up by tests/integration/cri/cri_harness.py.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import BUSYBOX_IMAGE, running_node

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.stats import StatsProvider, render_resource_metrics
from kubelite.cri import api_pb2

pytestmark = [pytest.mark.root, pytest.mark.integration]

MIB = 1024 * 1024


async def test_summary_reports_pod_container_and_empty_dir_usage_from_containerd() -> None:
    async with running_node() as node:
        config = AgentConfig(data_dir=node.base / "kubelet", server="https://127.0.0.1:6443", node_name="stats-node")
        uid = uuid.uuid4().hex
        volume = config.agent_dir / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / "scratch"
        volume.mkdir(parents=True)
        log_dir = config.pod_logs_dir / f"default_stats_{uid}"
        (log_dir / "app").mkdir(parents=True)
        namespaces = api_pb2.NamespaceOption(network=api_pb2.NODE, pid=api_pb2.CONTAINER, ipc=api_pb2.POD)
        sandbox_config = api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name="stats", uid=uid, namespace="default"),
            log_directory=str(log_dir), labels={"io.kubernetes.pod.uid": uid},
            linux=api_pb2.LinuxPodSandboxConfig(
                cgroup_parent=f"{node.cgroup_parent}/pod{uid}",
                security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=namespaces)))
        sandbox_id = (await node.client.run_pod_sandbox(config=sandbox_config)).pod_sandbox_id
        script = ("dd if=/dev/zero of=/scratch/blob bs=1M count=3 2>/dev/null; echo written; "
                  "x=$(head -c 2000000 /dev/zero | tr '\\0' a); while :; do sleep 1; done")
        container = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name="app"), image=api_pb2.ImageSpec(image=BUSYBOX_IMAGE),
            command=["sh", "-c", script], log_path="app/0.log",
            mounts=[api_pb2.Mount(container_path="/scratch", host_path=str(volume))],
            linux=api_pb2.LinuxContainerConfig(security_context=api_pb2.LinuxContainerSecurityContext(
                namespace_options=namespaces)))
        cid = (await node.client.create_container(pod_sandbox_id=sandbox_id, config=container,
                                                   sandbox_config=sandbox_config)).container_id
        await node.client.start_container(container_id=cid)
        deadline = time.monotonic() + 20
        while not ((volume / "blob").exists() and (volume / "blob").stat().st_size >= 3 * MIB):
            assert time.monotonic() < deadline, "the container did not write its emptyDir"
            await asyncio.sleep(0.1)

        provider = StatsProvider(config=config, runtime=node.client)
        await provider.summary()
        await asyncio.sleep(1.1)
        summary = await provider.summary()

        node_stats = summary["node"]
        assert node_stats["nodeName"] == "stats-node"
        assert 0 < node_stats["memory"]["workingSetBytes"] and 0 < node_stats["memory"]["availableBytes"]
        assert node_stats["cpu"]["usageNanoCores"] >= 0 and node_stats["fs"]["capacityBytes"] > 0
        # containerd measures snapshots in the background (stats_collect_period, 10 s): the figure may still be 0
        image_fs = node_stats["runtime"]["imageFs"]
        assert image_fs["usedBytes"] >= 0 and image_fs["capacityBytes"] >= image_fs["availableBytes"] > 0
        (pod,) = [p for p in summary["pods"] if p["podRef"]["uid"] == uid]
        assert pod["podRef"] == {"name": "stats", "namespace": "default", "uid": uid}
        (app,) = pod["containers"]
        assert app["name"] == "app"
        assert app["cpu"]["usageCoreNanoSeconds"] > 0 and "usageNanoCores" in app["cpu"]
        assert app["memory"]["workingSetBytes"] > 0 and app["memory"]["usageBytes"] >= app["memory"]["workingSetBytes"]
        assert app["logs"]["usedBytes"] > 0  # "written"
        assert pod["cpu"]["usageCoreNanoSeconds"] >= app["cpu"]["usageCoreNanoSeconds"]
        assert pod["memory"]["workingSetBytes"] >= app["memory"]["workingSetBytes"]
        assert pod["process_stats"]["process_count"] >= 2  # pause and the shell (at least)
        (scratch,) = pod["volume"]
        assert scratch["name"] == "scratch" and 3 * MIB <= scratch["usedBytes"] < 4 * MIB
        assert pod["ephemeral-storage"]["usedBytes"] >= 3 * MIB

        metrics = render_resource_metrics(summary)
        assert f'container_memory_working_set_bytes{{container="app",namespace="default",pod="stats"}} ' \
               f'{app["memory"]["workingSetBytes"]}' in metrics
        assert 'pod_cpu_usage_seconds_total{namespace="default",pod="stats"}' in metrics
