"""A real containerd runs pod sandboxes on kubelite's CNI plugins, called through the CRI.

containerd (own directories, as in the CRI tests) runs inside a simulated node namespace, with the
node's CNI bin dir holding kubelite's shims and the conflist the agent writes; the resident CNI server
runs in the same namespace. RunPodSandbox through kubelite.cri must give the sandbox an address from
the node's podCIDR and its hostPort a DNAT entry; RemovePodSandbox must release both.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from cni_harness import SimNode, in_ns, run, short_name, sim_node

sys.path.insert(0, str(Path(__file__).resolve().parent / "cri"))
from cri_harness import _release_host_state

from kubelite.agent.network import build_conflist, write_conflist
from kubelite.cri import api_pb2
from kubelite.cri.client import CriError, RuntimeClient
from kubelite.cri.containerd import ContainerdConfig, ContainerdSupervisor, RestartBackoff
from kubelite.cri.images import PAUSE_IMAGE, import_archive, pause_image_archive

pytestmark = [pytest.mark.root, pytest.mark.integration, pytest.mark.slow]
POD_CIDR = "10.42.99.0/24"


class Node:
    def __init__(self, sim: SimNode, client: RuntimeClient, base: Path, cgroup_parent: str) -> None:
        self.sim, self.client, self.base, self.cgroup_parent = sim, client, base, cgroup_parent


@pytest_asyncio.fixture
async def node() -> AsyncIterator[Node]:
    base = Path(tempfile.mkdtemp(prefix="klcnicd-"))
    cgroup_parent = f"/kubelite-test-{uuid.uuid4().hex[:12]}"
    with sim_node(POD_CIDR) as sim:
        # the node's CNI dirs are the simulated node's; the conflist is the agent's
        config = ContainerdConfig.detect(data_dir=base / "data", cni_bin_dir=sim.bin_dir,
                                         cni_conf_dir=base / "cni" / "conf")
        write_conflist(config.cni_conf_dir, build_conflist(pod_cidr=POD_CIDR, cluster_cidr="10.42.0.0/16", mtu=1500,
                                                           agent_dir=sim.base))
        # nsenter, not `ip netns exec`: containerd must stay in the host's mount namespace, or the pod
        # namespaces it bind-mounts under /run/netns are invisible to the CNI server
        wrapper = base / "containerd-in-node"
        wrapper.write_text(f"#!/bin/sh\nexec nsenter --net=/run/netns/{sim.netns} containerd \"$@\"\n")
        wrapper.chmod(0o755)
        supervisor = ContainerdSupervisor(config=config, binary=str(wrapper), backoff=RestartBackoff(initial=0.2))
        client = RuntimeClient(config.address, timeout=30)
        try:
            await supervisor.start()
            pause = pause_image_archive(output=base / "images" / "pause.tar")
            assert await import_archive(pause, address=config.address, snapshotter=config.snapshotter) == [PAUSE_IMAGE]
            await client.wait_ready(30)
            yield Node(sim, client, base, cgroup_parent)
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
                shutil.rmtree(base, ignore_errors=True)


def pod_config(node: Node, name: str) -> api_pb2.PodSandboxConfig:
    uid = uuid.uuid4().hex
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid, namespace="default", attempt=0),
        hostname=name,
        log_directory=str(node.base / "pods" / f"default_{name}_{uid}"),
        port_mappings=[api_pb2.PortMapping(protocol=api_pb2.TCP, container_port=80, host_port=18081)],
        linux=api_pb2.LinuxPodSandboxConfig(
            cgroup_parent=f"{node.cgroup_parent}/pod{uid}",
            security_context=api_pb2.LinuxSandboxSecurityContext(namespace_options=api_pb2.NamespaceOption(
                network=api_pb2.POD, pid=api_pb2.CONTAINER, ipc=api_pb2.POD))))


async def test_sandbox_gets_an_address_from_the_pod_cidr(node: Node) -> None:
    sandbox = await node.client.run_pod_sandbox(config=pod_config(node, short_name("cnipod-")))
    status = await node.client.pod_sandbox_status(pod_sandbox_id=sandbox.pod_sandbox_id)
    ip = status.status.network.ip
    assert ip and ipaddress.ip_address(ip) in ipaddress.ip_network(POD_CIDR), status
    assert node.sim.allocations() == [ip]
    hostports = in_ns(node.sim.netns, "nft", "list", "map", "ip", "kubelite-cni", "hostports").stdout
    assert f"tcp . 18081 : {ip} . 80" in hostports
    assert "kubelite0" in node.sim.host_links()

    await node.client.stop_pod_sandbox(pod_sandbox_id=sandbox.pod_sandbox_id)
    await node.client.remove_pod_sandbox(pod_sandbox_id=sandbox.pod_sandbox_id)
    assert node.sim.allocations() == []
    assert "18081" not in in_ns(node.sim.netns, "nft", "list", "map", "ip", "kubelite-cni", "hostports").stdout
    assert not [link for link in node.sim.host_links() if link.startswith("veth")]
    assert run("true").returncode == 0
