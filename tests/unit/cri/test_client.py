"""RuntimeClient without root: endpoint parsing, a dead socket, and a small CRI server on a unix socket.

The server is a real grpc.aio server speaking our generated RuntimeService/ImageService, so requests
and errors cross a real gRPC connection; the real containerd is exercised in tests/integration/cri.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
import pytest_asyncio

from kubelite.cri import api_pb2, api_pb2_grpc
from kubelite.cri.client import (
    CriError,
    CriNotFound,
    RuntimeClient,
    RuntimeTimeout,
    RuntimeUnavailable,
    normalize_endpoint,
)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer than that
    path = Path(tempfile.mkdtemp(prefix="klcri-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(
    ("endpoint", "target", "path"),
    [
        pytest.param("unix:///run/x.sock", "unix:///run/x.sock", "/run/x.sock", id="unix-url"),
        pytest.param("/run/x.sock", "unix:///run/x.sock", "/run/x.sock", id="bare-path"),
    ],
)
def test_normalize_endpoint(endpoint: str, target: str, path: str) -> None:
    assert normalize_endpoint(endpoint) == (target, path)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        pytest.param("tcp://127.0.0.1:1234", "scheme 'tcp' is not supported", id="tcp"),
        pytest.param("npipe:////./pipe/x", "scheme 'npipe' is not supported", id="windows-pipe"),
        pytest.param("run/x.sock", "must be absolute", id="relative"),
        pytest.param("unix://run/x.sock", "must be absolute", id="unix-relative"),
    ],
)
def test_normalize_endpoint_rejects(endpoint: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_endpoint(endpoint)


async def test_missing_socket_is_runtime_unavailable(short_dir: Path) -> None:
    sock = short_dir / "absent.sock"
    async with RuntimeClient(str(sock), timeout=5) as client:
        with pytest.raises(RuntimeUnavailable) as info:
            await client.version()
    err = info.value
    assert f"socket {sock} does not exist" in str(err)
    assert "is containerd running?" in str(err)
    assert (err.method, err.code, err.address) == ("Version", "UNAVAILABLE", str(sock))


async def test_socket_without_listener_is_runtime_unavailable(short_dir: Path) -> None:
    sock = short_dir / "dead.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
        bound.bind(str(sock))  # bound, never listening: what a crashed runtime leaves behind
        async with RuntimeClient(f"unix://{sock}", timeout=5) as client:
            with pytest.raises(RuntimeUnavailable, match="connection refused"):
                await client.list_images()


async def test_wait_ready_gives_up_with_the_reason(short_dir: Path) -> None:
    async with RuntimeClient(str(short_dir / "absent.sock")) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RuntimeUnavailable, match=r"not ready within 0.3s: .*does not exist"):
            await client.wait_ready(0.3)
        assert loop.time() - started < 2


class FakeRuntime(api_pb2_grpc.RuntimeServiceServicer):
    """Answers like a runtime; records what it was sent and the deadline each call carried."""

    def __init__(self) -> None:
        self.requests: list[object] = []
        self.deadlines: dict[str, float | None] = {}
        self.runtime_ready = True

    # gRPC method names are CamelCase, as generated.
    async def Version(self, request: api_pb2.VersionRequest,
                      context: grpc.aio.ServicerContext[object, object]) -> api_pb2.VersionResponse:
        self.requests.append(request)
        return api_pb2.VersionResponse(version=request.version, runtime_name="fake", runtime_version="1.0",
                                       runtime_api_version="v1")

    async def Status(self, request: api_pb2.StatusRequest,
                     context: grpc.aio.ServicerContext[object, object]) -> api_pb2.StatusResponse:
        condition = api_pb2.RuntimeCondition(type="RuntimeReady", status=self.runtime_ready,
                                             reason="" if self.runtime_ready else "Starting")
        return api_pb2.StatusResponse(status=api_pb2.RuntimeStatus(conditions=[condition]))

    async def RunPodSandbox(self, request: api_pb2.RunPodSandboxRequest,
                            context: grpc.aio.ServicerContext[object, object]) -> api_pb2.RunPodSandboxResponse:
        self.requests.append(request)
        return api_pb2.RunPodSandboxResponse(pod_sandbox_id="sandbox-" + request.config.metadata.uid)

    async def ContainerStatus(self, request: api_pb2.ContainerStatusRequest,
                              context: grpc.aio.ServicerContext[object, object]) -> api_pb2.ContainerStatusResponse:
        # containerd's own wording for an unknown container
        await context.abort(grpc.StatusCode.NOT_FOUND,
                            f'an error occurred when try to find container "{request.container_id}": not found')
        raise AssertionError("abort returns never")

    async def StartContainer(self, request: api_pb2.StartContainerRequest,
                             context: grpc.aio.ServicerContext[object, object]) -> api_pb2.StartContainerResponse:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "container is in CONTAINER_EXITED state")
        raise AssertionError("abort returns never")

    async def ListContainers(self, request: api_pb2.ListContainersRequest,
                             context: grpc.aio.ServicerContext[object, object]) -> api_pb2.ListContainersResponse:
        await asyncio.sleep(5)  # slower than the caller's deadline
        return api_pb2.ListContainersResponse()

    async def ExecSync(self, request: api_pb2.ExecSyncRequest,
                       context: grpc.aio.ServicerContext[object, object]) -> api_pb2.ExecSyncResponse:
        self.deadlines["ExecSync"] = context.time_remaining()
        return api_pb2.ExecSyncResponse(stdout=" ".join(request.cmd).encode(), exit_code=0)

    async def StopContainer(self, request: api_pb2.StopContainerRequest,
                            context: grpc.aio.ServicerContext[object, object]) -> api_pb2.StopContainerResponse:
        self.deadlines["StopContainer"] = context.time_remaining()
        return api_pb2.StopContainerResponse()


class FakeImages(api_pb2_grpc.ImageServiceServicer):
    async def ImageStatus(self, request: api_pb2.ImageStatusRequest,
                          context: grpc.aio.ServicerContext[object, object]) -> api_pb2.ImageStatusResponse:
        if request.image.image == "kubelite.local/pause:3.10":
            return api_pb2.ImageStatusResponse(image=api_pb2.Image(id="sha256:1", repo_tags=[request.image.image]))
        return api_pb2.ImageStatusResponse()


@pytest_asyncio.fixture
async def fake_runtime(short_dir: Path) -> AsyncIterator[tuple[FakeRuntime, str]]:
    runtime = FakeRuntime()
    server = grpc.aio.server()
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(FakeImages(), server)
    address = f"unix://{short_dir / 'cri.sock'}"
    server.add_insecure_port(address)
    await server.start()
    try:
        yield runtime, address
    finally:
        await server.stop(grace=None)


async def test_typed_calls_round_trip(fake_runtime: tuple[FakeRuntime, str]) -> None:
    runtime, address = fake_runtime
    config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name="web", uid="u-1", namespace="default"),
        linux=api_pb2.LinuxPodSandboxConfig(security_context=api_pb2.LinuxSandboxSecurityContext(
            namespace_options=api_pb2.NamespaceOption(network=api_pb2.NODE))))
    async with RuntimeClient(address) as client:
        version = await client.version()
        response = await client.run_pod_sandbox(config=config, runtime_handler="runc")
        present = await client.image_status(image="kubelite.local/pause:3.10")
        absent = await client.image_status(image=api_pb2.ImageSpec(image="kubelite.local/nothing:1"))
    assert (version.version, version.runtime_name) == ("0.1.0", "fake")  # the kubelet's API version string
    assert response.pod_sandbox_id == "sandbox-u-1"
    sent = runtime.requests[-1]
    assert isinstance(sent, api_pb2.RunPodSandboxRequest)
    assert sent.config == config and sent.runtime_handler == "runc"
    assert present.image.repo_tags == ["kubelite.local/pause:3.10"]
    assert not absent.HasField("image")


@pytest.mark.parametrize(
    ("call", "error", "code", "text"),
    [
        pytest.param("container_status", CriNotFound, "NOT_FOUND", "ContainerStatus: not found", id="not-found"),
        pytest.param("start_container", CriError, "INVALID_ARGUMENT", "StartContainer failed (INVALID_ARGUMENT): "
                     "container is in CONTAINER_EXITED state", id="invalid-argument"),
    ],
)
async def test_runtime_errors_are_typed(fake_runtime: tuple[FakeRuntime, str], call: str, error: type[CriError],
                                        code: str, text: str) -> None:
    _, address = fake_runtime
    async with RuntimeClient(address) as client:
        with pytest.raises(error) as info:
            await getattr(client, call)(container_id="c-1")
    assert type(info.value) is error
    assert info.value.code == code
    assert text in str(info.value)


async def test_deadline_gives_runtime_timeout(fake_runtime: tuple[FakeRuntime, str]) -> None:
    _, address = fake_runtime
    async with RuntimeClient(address, timeout=0.2) as client:
        with pytest.raises(RuntimeTimeout, match=r"did not answer ListContainers within 0\.2s"):
            await client.list_containers()


async def test_exec_and_stop_deadlines_follow_the_kubelet(fake_runtime: tuple[FakeRuntime, str]) -> None:
    runtime, address = fake_runtime
    async with RuntimeClient(address, timeout=10) as client:
        await client.exec_sync(container_id="c", cmd=["echo", "hi"])  # no command timeout: no deadline
        unbounded = runtime.deadlines["ExecSync"]
        result = await client.exec_sync(container_id="c", cmd=["echo", "hi"], timeout=30)
        bounded = runtime.deadlines["ExecSync"]
        await client.stop_container(container_id="c", timeout=20)
        stop = runtime.deadlines["StopContainer"]
    assert result.stdout == b"echo hi"
    assert unbounded is None
    assert bounded is not None and 35 < bounded < 41  # command timeout + client timeout (gRPC rounds up)
    assert stop is not None and 25 < stop < 31  # grace period + client timeout


@pytest.mark.parametrize(
    ("call", "kwargs", "message"),
    [
        pytest.param("exec_sync", {"container_id": "c", "cmd": []}, "cmd must name a command", id="exec-empty"),
        pytest.param("exec_sync", {"container_id": "c", "cmd": ["x"], "timeout": -1}, "timeout must be >= 0",
                     id="exec-negative"),
        pytest.param("stop_container", {"container_id": "c", "timeout": -5}, "timeout must be >= 0",
                     id="stop-negative"),
        pytest.param("image_status", {"image": ""}, "image must name an image", id="image-empty"),
    ],
)
async def test_bad_arguments_are_refused_before_any_call(short_dir: Path, call: str, kwargs: dict[str, object],
                                                         message: str) -> None:
    async with RuntimeClient(str(short_dir / "absent.sock")) as client:
        with pytest.raises(ValueError, match=message):
            await getattr(client, call)(**kwargs)


async def test_wait_ready_waits_for_runtime_ready(fake_runtime: tuple[FakeRuntime, str]) -> None:
    runtime, address = fake_runtime
    runtime.runtime_ready = False
    async with RuntimeClient(address) as client:
        with pytest.raises(RuntimeUnavailable, match="RuntimeReady is false: Starting"):
            await client.wait_ready(0.3)
        runtime.runtime_ready = True
        version = await client.wait_ready(2)
    assert version.runtime_name == "fake"


def test_client_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        RuntimeClient("/run/x.sock", timeout=0)
