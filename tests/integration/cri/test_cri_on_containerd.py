"""kubelite's CRI layer against a real containerd + runc: pods, containers, exec, logs, images, restarts.

Also prints the "bare CRI floor": RunPodSandbox + CreateContainer + StartContainer latency issued
straight from RuntimeClient, which later pod-start benchmarks compare against.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import time
from datetime import datetime
from pathlib import Path

import pytest
from cri_harness import BUSYBOX_IMAGE, CriNode

from kubelite.cri import api_pb2
from kubelite.cri.client import CriNotFound, RuntimeClient
from kubelite.cri.images import PAUSE_IMAGE, ImageError, import_archive

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# CRI log format: "<RFC3339Nano timestamp> <stream> <P|F> <content>" (kubelet's pkg/kubelet/kuberuntime/logs).
CRI_LOG_LINE = re.compile(r"^(\S+) (stdout|stderr) ([PF]) (.*)$")


async def wait_for_state(client: RuntimeClient, container_id: str, state: int,
                         timeout: float = 10.0) -> api_pb2.ContainerStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = (await client.container_status(container_id=container_id)).status
        if status.state == state or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.05)


async def test_version_and_status(cri_node: CriNode) -> None:
    version = await cri_node.client.version()
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
    assert version.runtime_version.startswith("1.6.")
    status = await cri_node.client.status()
    conditions = {c.type: c for c in status.status.conditions}
    assert conditions["RuntimeReady"].status
    # no CNI config in our conf dir: pod networking is not ready, host-network pods still run
    assert not conditions["NetworkReady"].status


async def test_list_images_shows_pause_and_busybox(cri_node: CriNode) -> None:
    images = (await cri_node.client.list_images()).images
    tags = {tag for image in images for tag in image.repo_tags}
    assert {PAUSE_IMAGE, BUSYBOX_IMAGE} <= tags
    assert all(image.size > 0 and image.id.startswith("sha256:") for image in images)
    # usage figures come from containerd's periodic collection; where images live is known at once
    (fs,) = (await cri_node.client.image_fs_info()).image_filesystems
    assert fs.fs_id.mountpoint.startswith(str(cri_node.config.paths.root) + "/")


async def test_host_network_pod_lifecycle(cri_node: CriNode) -> None:
    client = cri_node.client
    sandbox_id, container_id, sandbox_config = await cri_node.run_container(
        "lifecycle", ["sh", "-c", "echo started; exec sleep 3600"])

    sandbox = (await client.pod_sandbox_status(pod_sandbox_id=sandbox_id)).status
    assert sandbox.state == api_pb2.SANDBOX_READY
    assert sandbox.linux.namespaces.options.network == api_pb2.NODE
    assert sandbox.metadata == sandbox_config.metadata

    status = await wait_for_state(client, container_id, api_pb2.CONTAINER_RUNNING)
    assert status.state == api_pb2.CONTAINER_RUNNING
    assert status.started_at > 0 and status.image.image.endswith(BUSYBOX_IMAGE)
    log_path = Path(sandbox_config.log_directory) / "lifecycle" / "0.log"
    assert status.log_path == str(log_path)

    echo = await client.exec_sync(container_id=container_id, cmd=["echo", "hi"], timeout=10)
    assert (echo.stdout, echo.stderr, echo.exit_code) == (b"hi\n", b"", 0)
    failing = await client.exec_sync(container_id=container_id, cmd=["sh", "-c", "echo oops >&2; exit 7"],
                                     timeout=10)
    assert (failing.stdout, failing.stderr, failing.exit_code) == (b"", b"oops\n", 7)

    deadline = time.monotonic() + 5
    while not (log_path.exists() and log_path.read_text()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    (line,) = log_path.read_text().splitlines()
    match = CRI_LOG_LINE.match(line)
    assert match, f"not a CRI log line: {line!r}"
    timestamp, stream, tag, content = match.groups()
    assert (stream, tag, content) == ("stdout", "F", "started")
    assert datetime.fromisoformat(timestamp[:26] + "+00:00").year >= 2024

    # `sleep` is PID 1 of its namespace and ignores SIGTERM: the runtime kills it when the grace ends.
    started = time.monotonic()
    await client.stop_container(container_id=container_id, timeout=1)
    assert time.monotonic() - started >= 0.9
    stopped = (await client.container_status(container_id=container_id)).status
    assert (stopped.state, stopped.exit_code) == (api_pb2.CONTAINER_EXITED, 128 + signal.SIGKILL)

    await client.remove_container(container_id=container_id)
    with pytest.raises(CriNotFound):
        await client.container_status(container_id=container_id)
    await client.stop_pod_sandbox(pod_sandbox_id=sandbox_id)
    assert (await client.pod_sandbox_status(pod_sandbox_id=sandbox_id)).status.state == api_pb2.SANDBOX_NOTREADY
    await client.remove_pod_sandbox(pod_sandbox_id=sandbox_id)
    remaining = (await client.list_pod_sandbox(filter=api_pb2.PodSandboxFilter(id=sandbox_id))).items
    assert list(remaining) == []


async def test_container_exit_code_is_reported(cri_node: CriNode) -> None:
    sandbox_id, container_id, _ = await cri_node.run_container("exits", ["sh", "-c", "exit 3"])
    try:
        status = await wait_for_state(cri_node.client, container_id, api_pb2.CONTAINER_EXITED)
        assert status.state == api_pb2.CONTAINER_EXITED
        assert status.exit_code == 3
        assert status.reason == "Error"
        # containerd stamps started_at after the start call returns: a quick exit may precede it
        assert status.finished_at > 0 and status.started_at > 0
        listed = (await cri_node.client.list_containers(filter=api_pb2.ContainerFilter(
            pod_sandbox_id=sandbox_id, state=api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_EXITED)))).containers
        assert [c.id for c in listed] == [container_id]
    finally:
        await cri_node.remove_pod(sandbox_id)


async def test_missing_image_gives_a_clear_error(cri_node: CriNode) -> None:
    missing = "kubelite.local/missing:1"
    assert not (await cri_node.client.image_status(image=missing)).HasField("image")
    sandbox_config = cri_node.sandbox_config("noimage")
    sandbox = await cri_node.client.run_pod_sandbox(config=sandbox_config)
    try:
        with pytest.raises(CriNotFound) as info:
            await cri_node.client.create_container(pod_sandbox_id=sandbox.pod_sandbox_id,
                                                   config=cri_node.container_config("c", ["true"], image=missing),
                                                   sandbox_config=sandbox_config)
        assert str(info.value) == f'CreateContainer: not found: failed to resolve image "{missing}": not found'
    finally:
        await cri_node.remove_pod(sandbox.pod_sandbox_id)


async def test_importing_a_broken_archive_fails_clearly(cri_node: CriNode) -> None:
    broken = cri_node.base / "broken.tar"
    broken.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(ImageError, match=r"importing .*broken\.tar into containerd at .* failed: ctr: .*tar"):
        await import_archive(broken, address=cri_node.config.address, snapshotter=cri_node.config.snapshotter)


async def test_crashed_containerd_is_restarted_and_containers_survive(cri_node: CriNode) -> None:
    sandbox_id, container_id, _ = await cri_node.run_container("survivor", ["sleep", "3600"])
    try:
        await wait_for_state(cri_node.client, container_id, api_pb2.CONTAINER_RUNNING)
        supervisor = cri_node.supervisor
        before, restarts = supervisor.pid, supervisor.restarts
        assert before is not None
        os.kill(before, signal.SIGKILL)  # our own containerd, by its PID
        deadline = time.monotonic() + 30
        while supervisor.restarts == restarts and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert supervisor.restarts == restarts + 1
        assert supervisor.pid not in (None, before)
        await cri_node.client.wait_ready(30)
        status = (await cri_node.client.container_status(container_id=container_id)).status
        assert status.state == api_pb2.CONTAINER_RUNNING  # the shim kept the container alive
    finally:
        await cri_node.remove_pod(sandbox_id)


async def test_bare_cri_floor_latency(cri_node: CriNode) -> None:
    """Not a pass/fail figure: printed for comparison with kubelite's own pod start later."""
    samples: list[float] = []
    sandboxes: list[str] = []
    try:
        for i in range(10):
            started = time.perf_counter()
            sandbox_id, container_id, _ = await cri_node.run_container(f"floor{i}", ["sleep", "3600"])
            samples.append(time.perf_counter() - started)
            sandboxes.append(sandbox_id)
            assert (await cri_node.client.container_status(container_id=container_id)).status.state \
                == api_pb2.CONTAINER_RUNNING
        teardown = time.perf_counter()
        for sandbox_id in sandboxes:
            await cri_node.remove_pod(sandbox_id)
        teardown_per_pod = (time.perf_counter() - teardown) / len(sandboxes)
        sandboxes.clear()
    finally:
        for sandbox_id in sandboxes:
            await cri_node.remove_pod(sandbox_id)
    deciles = statistics.quantiles(samples, n=10)
    print(f"\nbare CRI floor (host network, {cri_node.config.snapshotter}), RunPodSandbox+CreateContainer+"
          f"StartContainer over {len(samples)} pods: p50 {statistics.median(samples) * 1000:.0f} ms, "
          f"p90 {deciles[8] * 1000:.0f} ms; stop+remove {teardown_per_pod * 1000:.0f} ms per pod")
    assert len(samples) == 10
