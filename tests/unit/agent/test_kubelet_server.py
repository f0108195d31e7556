"""The kubelet server's handlers over a fake runtime: container lookup, logs, errors, stats, the auth hook."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.server import (
    KubeletError,
    KubeletServer,
    RequestAttributes,
    ensure_serving_certificate,
    log_options,
)
from kubelite.cri import api_pb2

LABELS = {"io.kubernetes.pod.namespace": "ns", "io.kubernetes.pod.name": "web", "io.kubernetes.pod.uid": "u1"}


class FakeRuntime:
    """Answers the CRI calls the server makes from a fixed set of containers and sandboxes."""

    def __init__(self, logs: Path) -> None:
        self.sandboxes = [api_pb2.PodSandbox(id="s1", state=api_pb2.SANDBOX_READY, created_at=1,
                                             metadata=api_pb2.PodSandboxMetadata(name="web", namespace="ns", uid="u1"),
                                             labels=LABELS)]
        self.containers = []
        self.paths: dict[str, str] = {}
        for attempt, state in ((0, api_pb2.CONTAINER_EXITED), (1, api_pb2.CONTAINER_RUNNING)):
            cid = f"c{attempt}"
            path = logs / f"{attempt}.log"
            path.write_bytes(f"2026-01-01T00:00:0{attempt}Z stdout F attempt {attempt}\n".encode())
            self.paths[cid] = str(path)
            self.containers.append(api_pb2.Container(
                id=cid, pod_sandbox_id="s1", state=state, created_at=10 + attempt,
                metadata=api_pb2.ContainerMetadata(name="app", attempt=attempt),
                labels={**LABELS, "io.kubernetes.container.name": "app"}))

    async def list_containers(self, *, filter: api_pb2.ContainerFilter | None = None) -> Any:
        wanted = dict(filter.label_selector) if filter is not None else {}
        return api_pb2.ListContainersResponse(containers=[
            c for c in self.containers if all(c.labels.get(k) == v for k, v in wanted.items())])

    async def list_pod_sandbox(self, *, filter: api_pb2.PodSandboxFilter | None = None) -> Any:
        wanted = dict(filter.label_selector) if filter is not None else {}
        return api_pb2.ListPodSandboxResponse(items=[
            s for s in self.sandboxes if all(s.labels.get(k) == v for k, v in wanted.items())])

    async def container_status(self, *, container_id: str) -> Any:
        container = next(c for c in self.containers if c.id == container_id)
        return api_pb2.ContainerStatusResponse(status=api_pb2.ContainerStatus(
            id=container_id, state=container.state, log_path=self.paths[container_id]))

    async def list_container_stats(self) -> Any:
        return api_pb2.ListContainerStatsResponse(stats=[api_pb2.ContainerStats(
            attributes=api_pb2.ContainerAttributes(id="c1", metadata=api_pb2.ContainerMetadata(name="app")),
            cpu=api_pb2.CpuUsage(timestamp=2_000_000_000, usage_core_nano_seconds=api_pb2.UInt64Value(value=5_000)),
            memory=api_pb2.MemoryUsage(timestamp=2_000_000_000, working_set_bytes=api_pb2.UInt64Value(value=4096)))])

    async def list_pod_sandbox_stats(self) -> Any:
        containers = (await self.list_container_stats()).stats
        return api_pb2.ListPodSandboxStatsResponse(stats=[api_pb2.PodSandboxStats(
            attributes=api_pb2.PodSandboxAttributes(id="s1"),
            linux=api_pb2.LinuxPodSandboxStats(
                cpu=api_pb2.CpuUsage(timestamp=2_000_000_000, usage_core_nano_seconds=api_pb2.UInt64Value(value=7_000)),
                memory=api_pb2.MemoryUsage(timestamp=2_000_000_000, working_set_bytes=api_pb2.UInt64Value(value=8192)),
                containers=containers))])

    async def image_fs_info(self) -> Any:
        return api_pb2.ImageFsInfoResponse()


def agent_config(tmp_path: Path) -> AgentConfig:
    return AgentConfig(data_dir=tmp_path / "data", server="https://127.0.0.1:6443", node_name="n1",
                       node_ip="10.1.2.3")


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    denied: list[RequestAttributes] = []

    async def authorizer(request: web.Request, attributes: RequestAttributes) -> None:
        if request.headers.get("X-Deny"):
            denied.append(attributes)
            raise KubeletError(f"Forbidden (user=x, verb={attributes.verb}, resource=nodes, "
                               f"subresource={attributes.subresource})", status=403)

    server = KubeletServer(config=agent_config(tmp_path), runtime=FakeRuntime(tmp_path),  # type: ignore[arg-type]
                           client=None, authorizer=authorizer)
    async with TestClient(TestServer(server.app())) as test_client:
        yield test_client


async def test_logs_of_the_current_and_the_previous_container(client: TestClient[Any, Any]) -> None:
    response = await client.get("/containerLogs/ns/web/app")
    assert (response.status, await response.text()) == (200, "attempt 1\n")
    response = await client.get("/containerLogs/ns/web/app?previous=true&timestamps=true")
    assert await response.text() == "2026-01-01T00:00:00Z attempt 0\n"


@pytest.mark.parametrize(("path", "status", "text"), [
    pytest.param("/containerLogs/ns/gone/app", 404, 'pod "ns/gone" not found', id="no-pod"),
    pytest.param("/containerLogs/ns/web/other", 400, 'container "other" in pod "web" is waiting to start: '
                 "ContainerCreating", id="no-container"),
    pytest.param("/containerLogs/ns/web/app?tailLines=-2", 400, "tailLines: invalid value -2", id="bad-tail"),
    pytest.param("/containerLogs/ns/web/app?sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z", 400,
                 "at most one of `sinceTime` or `sinceSeconds` may be specified", id="both-since"),
    pytest.param("/exec/ns/web/app?command=ls&stdout=1", 400, "Upgrade request required", id="exec-no-upgrade"),
    pytest.param("/exec/ns/web/app?command=ls", 400, "you must specify at least 1 of stdin, stdout, stderr",
                 id="exec-no-streams"),
    pytest.param("/portForward/ns/web", 400, "Upgrade request required", id="port-forward-no-upgrade"),
])
async def test_errors_are_upstream_messages(client: TestClient[Any, Any], path: str, status: int, text: str) -> None:
    response = await client.get(path)
    assert response.status == status
    assert text in await response.text()


async def test_authorizer_hook_sees_upstream_attributes_and_healthz_stays_open(client: TestClient[Any, Any]) -> None:
    response = await client.get("/stats/summary", headers={"X-Deny": "1"})
    assert response.status == 403
    assert "verb=get, resource=nodes, subresource=stats" in await response.text()
    response = await client.post("/exec/ns/web/app?command=ls&stdout=1", headers={"X-Deny": "1"})
    assert "verb=create, resource=nodes, subresource=proxy" in await response.text()
    assert (await client.get("/healthz", headers={"X-Deny": "1"})).status == 200


async def test_stats_summary_groups_containers_by_pod(client: TestClient[Any, Any]) -> None:
    summary = await (await client.get("/stats/summary")).json()
    assert summary["node"]["nodeName"] == "n1"
    assert summary["node"]["memory"]["availableBytes"] > 0
    (pod,) = summary["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "ns", "uid": "u1"}
    (container,) = pod["containers"]
    assert container["name"] == "app"
    assert container["cpu"]["usageCoreNanoSeconds"] == 5000 and container["memory"]["workingSetBytes"] == 4096
    assert pod["memory"]["workingSetBytes"] == 8192  # the pod cgroup's own figure (sandbox included)
    metrics = await (await client.get("/metrics/resource")).text()
    assert 'container_memory_working_set_bytes{container="app",namespace="ns",pod="web"} 4096 2000' in metrics
    assert "resource_scrape_error 0" in metrics


def test_log_options_parse_since_and_stream() -> None:
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    options = log_options({"sinceSeconds": "60", "stream": "Stderr", "follow": "true"}, now=now)
    assert (options.since, options.stream, options.follow) == (now - dt.timedelta(minutes=1), "stderr", True)
    with pytest.raises(KubeletError, match="stream: Unsupported value"):
        log_options({"stream": "stdin"})


def test_serving_certificate_is_reused_until_the_names_change(tmp_path: Path) -> None:
    config = agent_config(tmp_path)
    cert, key = ensure_serving_certificate(config=config)
    first = cert.read_bytes()
    loaded = x509.load_pem_x509_certificate(first)
    sans = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "n1" in sans.get_values_for_type(x509.DNSName)
    assert key.stat().st_mode & 0o777 == 0o600
    assert ensure_serving_certificate(config=config)[0].read_bytes() == first
    moved = AgentConfig(data_dir=config.data_dir, server=config.server, node_name="n1", node_ip="10.9.9.9")
    assert ensure_serving_certificate(config=moved)[0].read_bytes() != first


def _ca_and_client(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A throw-away client CA and a client certificate CN=alice it signed (cert, key files)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-client-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    paths = (tmp_path / "ca.crt", tmp_path / "alice.crt", tmp_path / "alice.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


async def test_with_a_client_ca_the_hook_sees_verified_client_certificates(tmp_path: Path) -> None:
    import ssl

    import aiohttp

    from kubelite.agent.kubelet.server import start_kubelet_server

    ca, cert, key = _ca_and_client(tmp_path)
    seen: list[str] = []

    async def authorizer(request: web.Request, attributes: RequestAttributes) -> None:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(rdn[0] for rdn in peer["subject"]) if peer else {}
        if "commonName" not in subject:
            raise KubeletError("Unauthorized", status=401)
        seen.append(subject["commonName"])

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = AgentConfig(data_dir=tmp_path / "data", server="https://127.0.0.1:6443", node_name="n1",
                         kubelet_port=port)
    runner = await start_kubelet_server(config=config, runtime=FakeRuntime(tmp_path), client=None,  # type: ignore[arg-type]
                                        authorizer=authorizer, host="127.0.0.1", client_ca=ca)
    try:
        anonymous = ssl.create_default_context()
        anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
        alice = ssl.create_default_context()
        alice.check_hostname, alice.verify_mode = False, ssl.CERT_NONE
        alice.load_cert_chain(str(cert), str(key))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{port}/healthz", ssl=anonymous) as response:
                assert response.status == 200
            async with session.get(f"https://127.0.0.1:{port}/stats/summary", ssl=anonymous) as response:
                assert response.status == 401
            async with session.get(f"https://127.0.0.1:{port}/stats/summary", ssl=alice) as response:
                assert response.status == 200
        assert seen == ["alice"]
    finally:
        await runner.cleanup()


async def test_a_request_naming_another_pod_uid_finds_nothing(client: TestClient[Any, Any]) -> None:
    upgrade = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}
    response = await client.post("/portForward/ns/web/not-the-uid", headers=upgrade)
    assert (response.status, await response.text()) == (404, 'pod "ns/web" not found\n')
