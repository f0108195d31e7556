"""Async CRI v1 client: the kubelet side of the Container Runtime Interface.

Design
------
`RuntimeClient` speaks gRPC (grpc.aio) to a runtime's unix socket: containerd's, normally the one
`ContainerdSupervisor` started under ``<data-dir>/agent/containerd/containerd.sock``. One channel
carries both CRI services, RuntimeService and ImageService, as the kubelet does.

* Every RPC kubelite uses has one typed method. Arguments are keyword-only and named after the
  request fields of ``cri/api.proto``; the return value is the response message itself
  (``api_pb2.*Response``), so callers read upstream's field names and nothing is re-declared.
* Deadlines follow the kubelet's (pkg/kubelet/cri/remote/remote_runtime.go): every call gets the
  client's ``timeout`` (the kubelet's --runtime-request-timeout, 2 minutes by default);
  StopContainer and ExecSync get their own grace/command timeout on top of it; PullImage has no
  deadline, since a large image legitimately takes long. ``rpc_timeout=`` overrides it per call.
* Failures become typed errors with a sentence a user can act on: `RuntimeUnavailable` when nothing
  answers on the socket (containerd down or not started yet), `RuntimeTimeout` when the deadline
  passed, `CriNotFound` for an unknown container/sandbox/image, `CriError` for the rest. Each
  carries the RPC name, the gRPC status code and the runtime's own message.
* Calls never wait for the socket to appear (gRPC's wait_for_ready stays off) so a dead runtime is
  reported at once; `wait_ready()` is the one place that waits.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Final, Self, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from kubelite.cri import api_pb2

__all__ = [
    "KUBELET_RUNTIME_API_VERSION",
    "CriError",
    "CriNotFound",
    "RuntimeClient",
    "RuntimeTimeout",
    "RuntimeUnavailable",
    "normalize_endpoint",
]

# What the kubelet sends in VersionRequest.version (kubeRuntimeAPIVersion).
KUBELET_RUNTIME_API_VERSION: Final = "0.1.0"
# The kubelet's --runtime-request-timeout default.
DEFAULT_TIMEOUT: Final = 120.0
# The kubelet's maxMsgSize: ListContainers on a busy node is larger than gRPC's 4 MiB default.
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024

_RUNTIME: Final = "/runtime.v1.RuntimeService/"
_IMAGE: Final = "/runtime.v1.ImageService/"

_Req = TypeVar("_Req", bound=Message)
_Resp = TypeVar("_Resp", bound=Message)


class CriError(Exception):
    """A CRI call failed. ``method`` is the RPC name, ``code`` the gRPC status code name."""

    def __init__(self, message: str, *, method: str, code: str, details: str, address: str) -> None:
        super().__init__(message)
        self.method = method
        self.code = code
        self.details = details
        self.address = address


class RuntimeUnavailable(CriError):
    """Nothing answers on the runtime socket: containerd is down, starting, or the path is wrong."""


class RuntimeTimeout(CriError):
    """The runtime did not answer before the call's deadline."""


class CriNotFound(CriError):
    """The runtime does not know the container, sandbox or image named in the request."""


def normalize_endpoint(endpoint: str) -> tuple[str, str]:
    """Return ``(grpc_target, socket_path)`` for ``unix:///path`` or an absolute ``/path``.

    The kubelet accepts only unix sockets on Linux; so do we.
    """
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://"):]
    elif "://" in endpoint:
        scheme = endpoint.split("://", 1)[0]
        raise ValueError(f"container runtime endpoint {endpoint!r}: scheme {scheme!r} is not supported; "
                         "use unix:///path/to/socket or an absolute socket path")
    else:
        path = endpoint
    if not path.startswith("/"):
        raise ValueError(f"container runtime endpoint {endpoint!r}: the socket path must be absolute "
                         "(e.g. unix:///var/lib/kubelite/agent/containerd/containerd.sock)")
    return f"unix://{path}", path


def _socket_problem(path: str) -> str:
    """Why a unix socket at ``path`` cannot be reached, in words; "" if a connect succeeds.

    Blocking, but a unix-socket connect is answered at once (accepted or refused), so it is only
    called on the error path to turn gRPC's generic UNAVAILABLE into a precise reason.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"socket {path} does not exist"
    except OSError as err:
        return f"cannot stat {path}: {err.strerror}"
    if not stat.S_ISSOCK(mode):
        return f"{path} exists but is not a unix socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(path)
        except ConnectionRefusedError:
            return f"nothing is listening on {path} (connection refused)"
        except OSError as err:
            return f"cannot connect to {path}: {err.strerror or err}"
    return ""


class RuntimeClient:
    """Typed async client for the CRI RuntimeService and ImageService on one unix socket.

    Use as ``async with RuntimeClient("unix:///.../containerd.sock") as cri: ...`` or call
    `close()`. The gRPC channel is opened lazily on the first call, in the running event loop.
    """

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError(f"RuntimeClient timeout must be > 0 seconds, got {timeout}")
        self.target, self.socket_path = normalize_endpoint(endpoint)
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; the client can be used again afterwards (it reconnects)."""
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.target, options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                # An http_proxy in the environment must never capture the runtime socket.
                ("grpc.enable_http_proxy", 0),
            ])
        return self._channel

    async def _call(self, path: str, request: _Req, response_type: type[_Resp], *,
                    rpc_timeout: float | None) -> _Resp:
        method = path.rsplit("/", 1)[-1]
        rpc = self._open().unary_unary(path, request_serializer=type(request).SerializeToString,
                                       response_deserializer=response_type.FromString)
        try:
            return await rpc(request, timeout=rpc_timeout, wait_for_ready=False)
        except grpc.aio.AioRpcError as err:
            raise self._error(method, err, rpc_timeout) from None

    def _error(self, method: str, err: grpc.aio.AioRpcError, rpc_timeout: float | None) -> CriError:
        code = err.code()
        details = err.details() or ""
        fields = {"method": method, "code": code.name, "details": details, "address": self.socket_path}
        if code == grpc.StatusCode.UNAVAILABLE:
            reason = _socket_problem(self.socket_path) or details
            return RuntimeUnavailable(
                f"container runtime at {self.socket_path} is unavailable ({reason}) during {method}; "
                "is containerd running? (the kubelite agent starts its own unless "
                "--container-runtime-endpoint is given)", **fields)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return RuntimeTimeout(f"container runtime at {self.socket_path} did not answer {method} within "
                                  f"{rpc_timeout:g}s", **fields)
        if code == grpc.StatusCode.NOT_FOUND:
            return CriNotFound(f"{method}: not found: {details}", **fields)
        return CriError(f"{method} failed ({code.name}): {details}", **fields)

    def _deadline(self, rpc_timeout: float | None) -> float:
        return self.timeout if rpc_timeout is None else rpc_timeout

    # ---- readiness --------------------------------------------------------------------------------

    async def wait_ready(self, timeout: float) -> api_pb2.VersionResponse:
        """Wait until the runtime answers Version and reports RuntimeReady; return its version.

        Raises `RuntimeUnavailable` (with the last problem seen) when ``timeout`` seconds pass first.
        NetworkReady is not awaited: it needs a CNI config, which host-network pods do without.
        """
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeUnavailable(
                    f"container runtime at {self.socket_path} was not ready within {timeout:g}s: {last}",
                    method="Version", code="UNAVAILABLE", details=last, address=self.socket_path)
            try:
                version = await self.version(rpc_timeout=min(remaining, 2.0))
                status = await self.status(rpc_timeout=min(max(deadline - time.monotonic(), 0.1), 2.0))
            except CriError as err:
                last = str(err)
            else:
                ready = [c for c in status.status.conditions if c.type == "RuntimeReady"]
                if ready and ready[0].status:
                    return version
                last = (f"RuntimeReady is false: {ready[0].reason} {ready[0].message}".strip()
                        if ready else "the runtime reports no RuntimeReady condition")
            await asyncio.sleep(min(0.1, max(deadline - time.monotonic(), 0)))

    # ---- RuntimeService: runtime ------------------------------------------------------------------

    async def version(self, *, api_version: str = KUBELET_RUNTIME_API_VERSION,
                      rpc_timeout: float | None = None) -> api_pb2.VersionResponse:
        """Runtime name and version, and the CRI API version it speaks."""
        return await self._call(_RUNTIME + "Version", api_pb2.VersionRequest(version=api_version),
                                api_pb2.VersionResponse, rpc_timeout=self._deadline(rpc_timeout))

    async def status(self, *, verbose: bool = False, rpc_timeout: float | None = None) -> api_pb2.StatusResponse:
        """Runtime conditions (RuntimeReady, NetworkReady), handlers and features."""
        return await self._call(_RUNTIME + "Status", api_pb2.StatusRequest(verbose=verbose),
                                api_pb2.StatusResponse, rpc_timeout=self._deadline(rpc_timeout))

    # ---- RuntimeService: pod sandboxes ------------------------------------------------------------

    async def run_pod_sandbox(self, *, config: api_pb2.PodSandboxConfig, runtime_handler: str = "",
                              rpc_timeout: float | None = None) -> api_pb2.RunPodSandboxResponse:
        """Create and start a pod sandbox; the response carries its ID."""
        request = api_pb2.RunPodSandboxRequest(config=config, runtime_handler=runtime_handler)
        return await self._call(_RUNTIME + "RunPodSandbox", request, api_pb2.RunPodSandboxResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def stop_pod_sandbox(self, *, pod_sandbox_id: str,
                               rpc_timeout: float | None = None) -> api_pb2.StopPodSandboxResponse:
        """Stop every process of the sandbox and free its network (idempotent)."""
        request = api_pb2.StopPodSandboxRequest(pod_sandbox_id=pod_sandbox_id)
        return await self._call(_RUNTIME + "StopPodSandbox", request, api_pb2.StopPodSandboxResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def remove_pod_sandbox(self, *, pod_sandbox_id: str,
                                 rpc_timeout: float | None = None) -> api_pb2.RemovePodSandboxResponse:
        """Remove the sandbox and its containers (idempotent)."""
        request = api_pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_sandbox_id)
        return await self._call(_RUNTIME + "RemovePodSandbox", request, api_pb2.RemovePodSandboxResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def pod_sandbox_status(self, *, pod_sandbox_id: str, verbose: bool = False,
                                 rpc_timeout: float | None = None) -> api_pb2.PodSandboxStatusResponse:
        """Status of one sandbox; `CriNotFound` when the runtime does not know it."""
        request = api_pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_sandbox_id, verbose=verbose)
        return await self._call(_RUNTIME + "PodSandboxStatus", request, api_pb2.PodSandboxStatusResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def list_pod_sandbox(self, *, filter: api_pb2.PodSandboxFilter | None = None,
                               rpc_timeout: float | None = None) -> api_pb2.ListPodSandboxResponse:
        """Sandboxes matching ``filter`` (all of them without one)."""
        return await self._call(_RUNTIME + "ListPodSandbox", api_pb2.ListPodSandboxRequest(filter=filter),
                                api_pb2.ListPodSandboxResponse, rpc_timeout=self._deadline(rpc_timeout))

    # ---- RuntimeService: containers ---------------------------------------------------------------

    async def create_container(self, *, pod_sandbox_id: str, config: api_pb2.ContainerConfig,
                               sandbox_config: api_pb2.PodSandboxConfig,
                               rpc_timeout: float | None = None) -> api_pb2.CreateContainerResponse:
        """Create a container in a sandbox; ``sandbox_config`` is the one RunPodSandbox was given."""
        request = api_pb2.CreateContainerRequest(pod_sandbox_id=pod_sandbox_id, config=config,
                                                 sandbox_config=sandbox_config)
        return await self._call(_RUNTIME + "CreateContainer", request, api_pb2.CreateContainerResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def start_container(self, *, container_id: str,
                              rpc_timeout: float | None = None) -> api_pb2.StartContainerResponse:
        """Start a created container."""
        return await self._call(_RUNTIME + "StartContainer", api_pb2.StartContainerRequest(container_id=container_id),
                                api_pb2.StartContainerResponse, rpc_timeout=self._deadline(rpc_timeout))

    async def stop_container(self, *, container_id: str, timeout: int,
                             rpc_timeout: float | None = None) -> api_pb2.StopContainerResponse:
        """Stop a container: its stop signal, then SIGKILL after ``timeout`` seconds (idempotent).

        The call's deadline is the grace period plus the client timeout, as in the kubelet.
        """
        if timeout < 0:
            raise ValueError(f"StopContainer {container_id}: timeout must be >= 0 seconds, got {timeout}")
        request = api_pb2.StopContainerRequest(container_id=container_id, timeout=timeout)
        return await self._call(_RUNTIME + "StopContainer", request, api_pb2.StopContainerResponse,
                                rpc_timeout=self._deadline(rpc_timeout) + timeout)

    async def remove_container(self, *, container_id: str,
                               rpc_timeout: float | None = None) -> api_pb2.RemoveContainerResponse:
        """Remove a container, killing it first if it runs (idempotent)."""
        request = api_pb2.RemoveContainerRequest(container_id=container_id)
        return await self._call(_RUNTIME + "RemoveContainer", request, api_pb2.RemoveContainerResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def list_containers(self, *, filter: api_pb2.ContainerFilter | None = None,
                              rpc_timeout: float | None = None) -> api_pb2.ListContainersResponse:
        """Containers matching ``filter`` (all of them without one)."""
        return await self._call(_RUNTIME + "ListContainers", api_pb2.ListContainersRequest(filter=filter),
                                api_pb2.ListContainersResponse, rpc_timeout=self._deadline(rpc_timeout))

    async def container_status(self, *, container_id: str, verbose: bool = False,
                               rpc_timeout: float | None = None) -> api_pb2.ContainerStatusResponse:
        """Status of one container; `CriNotFound` when the runtime does not know it."""
        request = api_pb2.ContainerStatusRequest(container_id=container_id, verbose=verbose)
        return await self._call(_RUNTIME + "ContainerStatus", request, api_pb2.ContainerStatusResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def update_container_resources(
        self, *, container_id: str, linux: api_pb2.LinuxContainerResources | None = None,
        annotations: Mapping[str, str] | None = None, rpc_timeout: float | None = None,
    ) -> api_pb2.UpdateContainerResourcesResponse:
        """Change a running container's cgroup limits."""
        request = api_pb2.UpdateContainerResourcesRequest(container_id=container_id, linux=linux,
                                                          annotations=annotations)
        return await self._call(_RUNTIME + "UpdateContainerResources", request,
                                api_pb2.UpdateContainerResourcesResponse, rpc_timeout=self._deadline(rpc_timeout))

    async def reopen_container_log(self, *, container_id: str,
                                   rpc_timeout: float | None = None) -> api_pb2.ReopenContainerLogResponse:
        """Make the runtime reopen the container's log file (after the kubelet rotated it)."""
        request = api_pb2.ReopenContainerLogRequest(container_id=container_id)
        return await self._call(_RUNTIME + "ReopenContainerLog", request, api_pb2.ReopenContainerLogResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    # ---- RuntimeService: exec, attach, port-forward -----------------------------------------------

    async def exec_sync(self, *, container_id: str, cmd: Sequence[str], timeout: int = 0,
                        rpc_timeout: float | None = None) -> api_pb2.ExecSyncResponse:
        """Run ``cmd`` in the container and collect its output and exit code.

        ``timeout`` (seconds, 0 = none) bounds the command inside the runtime; as in the kubelet the
        call's deadline is that plus the client timeout, and there is none when ``timeout`` is 0.
        """
        if not cmd:
            raise ValueError(f"ExecSync {container_id}: cmd must name a command, got an empty list")
        if timeout < 0:
            raise ValueError(f"ExecSync {container_id}: timeout must be >= 0 seconds, got {timeout}")
        if rpc_timeout is None:
            rpc_timeout = self.timeout + timeout if timeout else None
        request = api_pb2.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
        return await self._call(_RUNTIME + "ExecSync", request, api_pb2.ExecSyncResponse, rpc_timeout=rpc_timeout)

    async def exec(self, *, container_id: str, cmd: Sequence[str], tty: bool = False, stdin: bool = False,
                   stdout: bool = True, stderr: bool = True,
                   rpc_timeout: float | None = None) -> api_pb2.ExecResponse:
        """Prepare a streaming exec; the response's ``url`` is the runtime's streaming endpoint."""
        request = api_pb2.ExecRequest(container_id=container_id, cmd=list(cmd), tty=tty, stdin=stdin,
                                      stdout=stdout, stderr=stderr)
        return await self._call(_RUNTIME + "Exec", request, api_pb2.ExecResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def attach(self, *, container_id: str, stdin: bool = False, tty: bool = False, stdout: bool = True,
                     stderr: bool = True, rpc_timeout: float | None = None) -> api_pb2.AttachResponse:
        """Prepare a streaming attach; the response's ``url`` is the runtime's streaming endpoint."""
        request = api_pb2.AttachRequest(container_id=container_id, stdin=stdin, tty=tty, stdout=stdout,
                                        stderr=stderr)
        return await self._call(_RUNTIME + "Attach", request, api_pb2.AttachResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def port_forward(self, *, pod_sandbox_id: str, port: Sequence[int],
                           rpc_timeout: float | None = None) -> api_pb2.PortForwardResponse:
        """Prepare a streaming port-forward into the sandbox; the response's ``url`` is the endpoint."""
        request = api_pb2.PortForwardRequest(pod_sandbox_id=pod_sandbox_id, port=list(port))
        return await self._call(_RUNTIME + "PortForward", request, api_pb2.PortForwardResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    # ---- RuntimeService: stats --------------------------------------------------------------------

    async def container_stats(self, *, container_id: str,
                              rpc_timeout: float | None = None) -> api_pb2.ContainerStatsResponse:
        """CPU, memory and writable-layer usage of one container."""
        request = api_pb2.ContainerStatsRequest(container_id=container_id)
        return await self._call(_RUNTIME + "ContainerStats", request, api_pb2.ContainerStatsResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def list_container_stats(self, *, filter: api_pb2.ContainerStatsFilter | None = None,
                                   rpc_timeout: float | None = None) -> api_pb2.ListContainerStatsResponse:
        """Usage of the running containers matching ``filter``."""
        request = api_pb2.ListContainerStatsRequest(filter=filter)
        return await self._call(_RUNTIME + "ListContainerStats", request, api_pb2.ListContainerStatsResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def pod_sandbox_stats(self, *, pod_sandbox_id: str,
                                rpc_timeout: float | None = None) -> api_pb2.PodSandboxStatsResponse:
        """Usage of one pod sandbox and its containers."""
        request = api_pb2.PodSandboxStatsRequest(pod_sandbox_id=pod_sandbox_id)
        return await self._call(_RUNTIME + "PodSandboxStats", request, api_pb2.PodSandboxStatsResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def list_pod_sandbox_stats(self, *, filter: api_pb2.PodSandboxStatsFilter | None = None,
                                     rpc_timeout: float | None = None) -> api_pb2.ListPodSandboxStatsResponse:
        """Usage of the pod sandboxes matching ``filter``."""
        request = api_pb2.ListPodSandboxStatsRequest(filter=filter)
        return await self._call(_RUNTIME + "ListPodSandboxStats", request, api_pb2.ListPodSandboxStatsResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    # ---- ImageService -----------------------------------------------------------------------------

    async def list_images(self, *, filter: api_pb2.ImageFilter | None = None,
                          rpc_timeout: float | None = None) -> api_pb2.ListImagesResponse:
        """Images the runtime has (in its CRI namespace, k8s.io for containerd)."""
        return await self._call(_IMAGE + "ListImages", api_pb2.ListImagesRequest(filter=filter),
                                api_pb2.ListImagesResponse, rpc_timeout=self._deadline(rpc_timeout))

    async def image_status(self, *, image: str | api_pb2.ImageSpec, verbose: bool = False,
                           rpc_timeout: float | None = None) -> api_pb2.ImageStatusResponse:
        """Status of one image; an absent image gives a response without ``image`` (not an error)."""
        request = api_pb2.ImageStatusRequest(image=_image_spec(image), verbose=verbose)
        return await self._call(_IMAGE + "ImageStatus", request, api_pb2.ImageStatusResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def pull_image(self, *, image: str | api_pb2.ImageSpec, auth: api_pb2.AuthConfig | None = None,
                         sandbox_config: api_pb2.PodSandboxConfig | None = None,
                         rpc_timeout: float | None = None) -> api_pb2.PullImageResponse:
        """Pull an image from its registry; no deadline unless ``rpc_timeout`` is given."""
        request = api_pb2.PullImageRequest(image=_image_spec(image), auth=auth, sandbox_config=sandbox_config)
        return await self._call(_IMAGE + "PullImage", request, api_pb2.PullImageResponse, rpc_timeout=rpc_timeout)

    async def remove_image(self, *, image: str | api_pb2.ImageSpec,
                           rpc_timeout: float | None = None) -> api_pb2.RemoveImageResponse:
        """Remove an image and all its tags (idempotent)."""
        request = api_pb2.RemoveImageRequest(image=_image_spec(image))
        return await self._call(_IMAGE + "RemoveImage", request, api_pb2.RemoveImageResponse,
                                rpc_timeout=self._deadline(rpc_timeout))

    async def image_fs_info(self, *, rpc_timeout: float | None = None) -> api_pb2.ImageFsInfoResponse:
        """Usage of the filesystem(s) holding images and container layers."""
        return await self._call(_IMAGE + "ImageFsInfo", api_pb2.ImageFsInfoRequest(), api_pb2.ImageFsInfoResponse,
                                rpc_timeout=self._deadline(rpc_timeout))


def _image_spec(image: str | api_pb2.ImageSpec) -> api_pb2.ImageSpec:
    if isinstance(image, api_pb2.ImageSpec):
        return image
    if not image:
        raise ValueError("image must name an image reference or ID, got an empty string")
    return api_pb2.ImageSpec(image=image)
