"""run_proxy against a real kubelite server: Services and EndpointSlices made with stock kubectl become
working Service addresses in a node netns (nftables programmed from the agent's process); the server is
dual-stack, so one Service gets an IPv4 and an IPv6 ClusterIP and both carry traffic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from proxy_netns import BACKEND_IP6S, BACKEND_IPS, TCP_PORT, Topology, connect_error, tcp_request, topology

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import Server, free_port, temporary_server

from kubelite.agent.config import AgentConfig
from kubelite.agent.proxy import metrics_text, run_proxy
from kubelite.client import APIClient, load_kubeconfig

pytestmark = [pytest.mark.root, pytest.mark.integration]
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-proxy-it-", "--disable-controllers", "--service-cidr",
                          "10.43.0.0/16,fd00:43::/112") as srv:
        yield srv


@pytest.fixture
async def node_with_proxy(server: Server, tmp_path: Path) -> AsyncIterator[tuple[Topology, int]]:
    """The netns node with run_proxy programming it, and the port of the proxy's metrics server."""
    with topology() as topo:
        config = AgentConfig(data_dir=tmp_path, server=f"https://127.0.0.1:{server.port}", node_name="node-a",
                             cluster_cidr="10.42.0.0/16,fd00:42::/64", service_cidr="10.43.0.0/16,fd00:43::/112")
        async with APIClient(load_kubeconfig(server.kubeconfig)) as client:
            port = free_port()
            task = asyncio.create_task(run_proxy(config=config, client=client, netns=topo.node, metrics_port=port))
            try:
                yield topo, port
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def eventually(check: Callable[[], T], accept: Callable[[T], bool], timeout: float = 20.0) -> T:
    """Run the blocking ``check`` off the loop (the proxy runs on it) until ``accept`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            result = await asyncio.to_thread(check)
            if accept(result):
                return result
            await asyncio.sleep(0.1)


def manifest(*objs: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objs)})


async def test_kubectl_service_and_endpoint_slice_become_a_working_cluster_ip(
        server: Server, node_with_proxy: tuple[Topology, int]) -> None:
    topo, metrics_port = node_with_proxy
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"ipFamilyPolicy": "PreferDualStack",
                    "ports": [{"name": "http", "port": 80, "targetPort": TCP_PORT}]}}
    es = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
          "metadata": {"name": "web-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
          "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-a"}
                        for ip in BACKEND_IPS[:2]],
          "ports": [{"name": "http", "port": TCP_PORT, "protocol": "TCP"}]}
    es6 = {**es, "addressType": "IPv6", "metadata": {**es["metadata"], "name": "web-v6"},
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-a"}
                         for ip in BACKEND_IP6S[1:]]}
    await asyncio.to_thread(server.kubectl, "apply", "-f", "-", input=manifest(svc, es, es6))
    try:
        got = await asyncio.to_thread(server.kubectl, "get", "service", "web", "-o", "jsonpath={.spec.clusterIPs}")
        cluster_ip, cluster_ip6 = json.loads(got.stdout)

        def two_requests(address: str) -> list[str]:
            try:
                return topo.in_client(lambda: [tcp_request(address, 80, timeout=1)[:9] for _ in range(2)])
            except OSError:
                return []

        reached = await eventually(lambda: two_requests(cluster_ip), lambda r: len(r) == 2)
        assert sorted(reached) == ["backend-0", "backend-1"], reached
        reached = await eventually(lambda: two_requests(cluster_ip6), lambda r: len(r) == 2)
        assert sorted(reached) == ["backend-1", "backend-2"], f"the IPv6 slice's endpoints: {reached}"

        await asyncio.to_thread(server.kubectl, "delete", "endpointslice", "web-1")
        refused = await eventually(lambda: topo.in_client(lambda: connect_error(cluster_ip, 80, timeout=1)),
                                   lambda r: r[0] == "ConnectionRefusedError")
        assert refused[1] < 1.0
        text = metrics_text().decode()
        assert "kubeproxy_sync_proxy_rules_last_timestamp_seconds" in text
        assert 'kubelite_proxy_mode{mode="nftables"} 1.0' in text
        base = f"http://127.0.0.1:{metrics_port}"
        served = await asyncio.to_thread(lambda: urllib.request.urlopen(f"{base}/metrics", timeout=5).read())
        assert b"kubeproxy_sync_proxy_rules_duration_seconds_bucket" in served
        health = await asyncio.to_thread(lambda: json.load(urllib.request.urlopen(f"{base}/healthz", timeout=5)))
        assert health["lastUpdated"] > 0
    finally:
        await asyncio.to_thread(server.kubectl, "delete", "service", "web", "--ignore-not-found")
