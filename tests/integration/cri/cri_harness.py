"""A real containerd of our own for the CRI integration tests, and everything to leave the host clean.

`running_node` (behind the `cri_node` fixture of conftest.py) starts containerd through
ContainerdSupervisor in a fresh directory under /tmp (its own root, state, socket; never the system
containerd), imports kubelite's pause image and a packed busybox image, and yields a `CriNode` with
a connected RuntimeClient. Afterwards, even when a test failed, it:
removes every sandbox through the CRI, stops containerd by its PID, kills shims and container
processes that are provably ours (shims by our socket path, processes by our cgroup parent), unmounts
whatever is still mounted under the directory, removes the cgroups our pods created, and deletes
the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from kubelite.cri import api_pb2
from kubelite.cri.client import CriError, RuntimeClient
from kubelite.cri.containerd import ContainerdConfig, ContainerdSupervisor, RestartBackoff
from kubelite.cri.images import PAUSE_IMAGE, busybox_rootfs, import_archive, pack_rootfs, pause_image_archive

BUSYBOX_IMAGE = "kubelite.local/busybox:test"


@dataclass
class CriNode:
    base: Path
    config: ContainerdConfig
    supervisor: ContainerdSupervisor
    client: RuntimeClient
    cgroup_parent: str

    def sandbox_config(self, name: str) -> api_pb2.PodSandboxConfig:
        """A host-network pod (no CNI plugin is needed), logging under our directory."""
        uid = uuid.uuid4().hex
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid, namespace="default", attempt=0),
            log_directory=str(self.base / "pods" / f"default_{name}_{uid}"),
            labels={"io.kubernetes.pod.name": name},
            linux=api_pb2.LinuxPodSandboxConfig(
                cgroup_parent=f"{self.cgroup_parent}/pod{uid}",
                security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=api_pb2.NamespaceOption(
                    network=api_pb2.NODE, pid=api_pb2.CONTAINER, ipc=api_pb2.POD))))

    @staticmethod
    def container_config(name: str, command: list[str], *, image: str = BUSYBOX_IMAGE) -> api_pb2.ContainerConfig:
        return api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name=name, attempt=0),
            image=api_pb2.ImageSpec(image=image),
            command=command,
            log_path=f"{name}/0.log",
            linux=api_pb2.LinuxContainerConfig(security_context=api_pb2.LinuxContainerSecurityContext(
                namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE, pid=api_pb2.CONTAINER,
                                                          ipc=api_pb2.POD))))

    async def run_container(self, name: str, command: list[str]) -> tuple[str, str, api_pb2.PodSandboxConfig]:
        """RunPodSandbox + CreateContainer + StartContainer; returns (sandbox id, container id, sandbox config)."""
        sandbox_config = self.sandbox_config(name)
        sandbox = await self.client.run_pod_sandbox(config=sandbox_config)
        container = await self.client.create_container(pod_sandbox_id=sandbox.pod_sandbox_id,
                                                        config=self.container_config(name, command),
                                                        sandbox_config=sandbox_config)
        await self.client.start_container(container_id=container.container_id)
        return sandbox.pod_sandbox_id, container.container_id, sandbox_config

    async def remove_pod(self, sandbox_id: str) -> None:
        await self.client.stop_pod_sandbox(pod_sandbox_id=sandbox_id)
        await self.client.remove_pod_sandbox(pod_sandbox_id=sandbox_id)


def _mountinfo() -> list[tuple[str, str]]:
    """(mount point, filesystem type) for every mount this process sees, octal escapes decoded."""
    result = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, after = line.split(" - ", 1)
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), before.split()[4])
        result.append((point, after.split()[0]))
    return result


def _shim_socket(argv: list[bytes]) -> Path | None:
    """Where containerd 1.6 put the socket of the shim started with ``argv``.

    runtime/v2/shim/util_unix.go SocketAddress: /run/containerd/s/<hex sha256 of "<address>/<ns>/<id>">.
    A shim removes it when it exits normally; a killed one cannot.
    """
    def value(flag: bytes) -> str | None:
        return os.fsdecode(argv[argv.index(flag) + 1]) if flag in argv[:-1] else None

    address, namespace, shim_id = value(b"-address"), value(b"-namespace"), value(b"-id")
    if not (address and namespace and shim_id):
        return None
    digest = hashlib.sha256(os.path.join(address, namespace, shim_id).encode()).hexdigest()
    return Path("/run/containerd/s") / digest


def _kill_our_processes(socket_path: Path, cgroup_dirs: list[Path]) -> None:
    victims: set[int] = set()
    shim_sockets: list[Path] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # the shims our containerd started carry its socket: `containerd-shim-runc-v2 ... -address <sock>`
        if argv and b"containerd-shim" in argv[0] and os.fsencode(str(socket_path)) in argv:
            victims.add(int(entry.name))
            if (shim_socket := _shim_socket(argv)) is not None:
                shim_sockets.append(shim_socket)
    for cgroup in cgroup_dirs:
        for procs in cgroup.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                victims.update(int(pid) for pid in procs.read_text().split())
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for shim_socket in shim_sockets:
        with contextlib.suppress(FileNotFoundError):
            shim_socket.unlink()


def _release_host_state(base: Path, socket_path: Path, cgroup_parent: str) -> None:
    cgroup_dirs = [Path(point) / cgroup_parent.lstrip("/") for point, fstype in _mountinfo()
                   if fstype in ("cgroup", "cgroup2")]
    _kill_our_processes(socket_path, [d for d in cgroup_dirs if d.is_dir()])
    # Deepest first, and only paths under our own directory.
    ours = sorted({point for point, _ in _mountinfo() if point == str(base) or point.startswith(f"{base}/")},
                  key=lambda p: p.count("/"), reverse=True)
    for point in ours:
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    for cgroup in cgroup_dirs:
        if not cgroup.is_dir():
            continue
        for directory, _, _ in os.walk(cgroup, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
    shutil.rmtree(base, ignore_errors=True)


async def _wait_for_image(client: RuntimeClient, ref: str) -> None:
    # The CRI plugin learns about imported images from containerd's events, a moment later.
    for _ in range(200):
        if (await client.image_status(image=ref)).HasField("image"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the CRI does not list {ref} 10s after it was imported")


@contextlib.asynccontextmanager
async def running_node() -> AsyncIterator[CriNode]:
    """Start containerd in a fresh directory with both images imported; clean everything up afterwards."""
    # Short and under /tmp: containerd's socket path must fit in 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="klcri-"))
    cgroup_parent = f"/kubelite-test-{uuid.uuid4().hex[:12]}"
    config = ContainerdConfig.detect(data_dir=base / "data", cni_bin_dir=base / "cni" / "bin",
                                     cni_conf_dir=base / "cni" / "conf")
    supervisor = ContainerdSupervisor(config=config, backoff=RestartBackoff(initial=0.2))
    client = RuntimeClient(config.address, timeout=30)
    try:
        await supervisor.start()
        images = base / "images"
        pause = pause_image_archive(output=images / "pause.tar")
        busybox = pack_rootfs(busybox_rootfs(images / "busybox"), tag=BUSYBOX_IMAGE, cmd=["sh"],
                              output=images / "busybox.tar")
        assert await import_archive(pause, address=config.address, snapshotter=config.snapshotter) == [PAUSE_IMAGE]
        assert await import_archive(busybox, address=config.address,
                                    snapshotter=config.snapshotter) == [BUSYBOX_IMAGE]
        await client.wait_ready(30)
        for ref in (PAUSE_IMAGE, BUSYBOX_IMAGE):
            await _wait_for_image(client, ref)
        yield CriNode(base=base, config=config, supervisor=supervisor, client=client, cgroup_parent=cgroup_parent)
    finally:
        try:
            if supervisor.pid is not None:
                with contextlib.suppress(CriError):
                    for sandbox in (await client.list_pod_sandbox()).items:
                        with contextlib.suppress(CriError):
                            await client.stop_pod_sandbox(pod_sandbox_id=sandbox.id)
                            await client.remove_pod_sandbox(pod_sandbox_id=sandbox.id)
            await client.close()
        finally:
            await supervisor.stop()
            _release_host_state(base, config.paths.socket, cgroup_parent)
