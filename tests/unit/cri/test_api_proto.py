"""cri/api.proto and its generated modules: upstream's wire contract, current code, installable ranges."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from kubelite.cri import api_pb2

CRI_DIR = Path(api_pb2.__file__).resolve().parent
REPO = CRI_DIR.parent

RUNTIME_RPCS = {
    "Version", "Status", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
    "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ListContainers",
    "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog", "ExecSync", "Exec", "Attach",
    "PortForward", "ContainerStats", "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats",
}
IMAGE_RPCS = {"ListImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo"}


def test_services_carry_exactly_the_rpcs_kubelite_uses() -> None:
    services = api_pb2.DESCRIPTOR.services_by_name
    assert set(services) == {"RuntimeService", "ImageService"}
    assert {m.name for m in services["RuntimeService"].methods} == RUNTIME_RPCS
    assert {m.name for m in services["ImageService"].methods} == IMAGE_RPCS
    # the gRPC paths containerd serves: /runtime.v1.RuntimeService/Version, ...
    assert services["RuntimeService"].full_name == "runtime.v1.RuntimeService"
    for service in services.values():
        for method in service.methods:
            assert method.input_type.name == f"{method.name}Request"
            assert not method.server_streaming and not method.client_streaming


# Spot checks against upstream kubernetes/cri-api api.proto (numbers never change there); the full
# comparison is `bash cri/generate.sh --compare-upstream <upstream api.proto>`.
@pytest.mark.parametrize(
    ("message", "field", "number"),
    [
        pytest.param("PodSandboxConfig", "linux", 8, id="sandbox-linux"),
        pytest.param("PodSandboxConfig", "log_directory", 3, id="sandbox-log-dir"),
        pytest.param("LinuxSandboxSecurityContext", "run_as_group", 8, id="sandbox-run-as-group"),
        pytest.param("LinuxSandboxSecurityContext", "supplemental_groups_policy", 11, id="sandbox-groups-policy"),
        pytest.param("LinuxSandboxSecurityContext", "seccomp_profile_path", 7, id="sandbox-deprecated-seccomp"),
        pytest.param("LinuxContainerSecurityContext", "run_as_group", 12, id="container-run-as-group"),
        pytest.param("LinuxContainerSecurityContext", "supplemental_groups_policy", 17, id="container-groups-policy"),
        pytest.param("LinuxContainerSecurityContext", "apparmor_profile", 9, id="container-deprecated-apparmor"),
        pytest.param("ContainerConfig", "CDI_devices", 17, id="cdi-devices-upstream-spelling"),
        pytest.param("ContainerConfig", "stop_signal", 18, id="config-stop-signal"),
        pytest.param("ContainerStatus", "stop_signal", 19, id="status-stop-signal"),
        pytest.param("ContainerStatus", "image_id", 17, id="status-image-id"),
        pytest.param("ContainerStatus", "user", 18, id="status-user"),
        pytest.param("Container", "image_id", 10, id="container-image-id"),
        pytest.param("Mount", "uidMappings", 6, id="mount-camelcase-uid"),
        pytest.param("Mount", "gidMappings", 7, id="mount-camelcase-gid"),
        pytest.param("Mount", "image", 9, id="mount-image-volume"),
        pytest.param("Mount", "mount_options", 11, id="mount-options"),
        pytest.param("ImageSpec", "user_specified_image", 18, id="imagespec-user-specified"),
        pytest.param("ImageSpec", "runtime_handler", 19, id="imagespec-handler"),
        pytest.param("ImageSpec", "image_ref", 20, id="imagespec-image-ref"),
        pytest.param("LinuxContainerResources", "memory_swap_limit_in_bytes", 10, id="swap-limit"),
        pytest.param("PsiStats", "Full", 1, id="psi-capitalised"),
        pytest.param("PsiData", "Avg300", 4, id="psi-avg300"),
        pytest.param("MemoryUsage", "psi", 8, id="memory-psi"),
        pytest.param("StatusResponse", "features", 4, id="status-features"),
        pytest.param("PodSandboxStatusResponse", "containers_statuses", 3, id="sandbox-status-containers"),
        pytest.param("ExecSyncResponse", "exit_code", 3, id="exec-exit-code"),
    ],
)
def test_field_numbers_are_upstreams(message: str, field: str, number: int) -> None:
    descriptor = api_pb2.DESCRIPTOR.message_types_by_name[message]
    assert descriptor.fields_by_name[field].number == number


@pytest.mark.parametrize(
    ("message", "number"),
    [
        pytest.param("PodSandboxConfig", 9, id="sandbox-config"),
        pytest.param("ContainerConfig", 16, id="container-config"),
        pytest.param("ContainerResources", 2, id="container-resources"),
        pytest.param("UpdateContainerResourcesRequest", 3, id="update-resources"),
        pytest.param("PodSandboxStats", 3, id="sandbox-stats"),
    ],
)
def test_left_out_windows_fields_are_reserved(message: str, number: int) -> None:
    proto = descriptor_pb2.DescriptorProto()
    api_pb2.DESCRIPTOR.message_types_by_name[message].CopyToProto(proto)
    assert "windows" in proto.reserved_name
    assert any(r.start <= number < r.end for r in proto.reserved_range)
    assert all(f.number != number for f in proto.field)


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        # field 1 (string "c"), field 2 (varint 1)
        pytest.param(api_pb2.ContainerMetadata(name="c", attempt=1), b"\x0a\x01c\x10\x01", id="container-metadata"),
        # StopContainerRequest.timeout is field 2, a varint
        pytest.param(api_pb2.StopContainerRequest(container_id="x", timeout=30), b"\x0a\x01x\x10\x1e", id="stop"),
        # NamespaceOption.network = NODE (2) is field 1, an enum varint
        pytest.param(api_pb2.NamespaceOption(network=api_pb2.NODE), b"\x08\x02", id="host-network"),
        # ImageSpec.image_ref is field 20: tag (20 << 3 | 2) = 162 = varint a2 01
        pytest.param(api_pb2.ImageSpec(image_ref="r"), b"\xa2\x01\x01r", id="imagespec-field-20"),
    ],
)
def test_encoding_matches_the_wire_format(message: api_pb2.ContainerMetadata, wire: bytes) -> None:
    assert message.SerializeToString() == wire
    assert type(message).FromString(wire) == message


def test_generated_module_is_current_with_the_proto() -> None:
    # Compile cri/api.proto as cri/generate.sh does and compare with the descriptor in api_pb2.py.
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kubelite" / "cri"
        src.mkdir(parents=True)
        (src / "api.proto").write_bytes((CRI_DIR / "api.proto").read_bytes())
        out = Path(tmp) / "api.pb"
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", tmp, f"--descriptor_set_out={out}",
                        "kubelite/cri/api.proto"], check=True, capture_output=True)
        compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    # protoc adds derived JSON names to descriptor sets; the generated module does not embed them.
    for message in _all_messages(compiled.message_type):
        for field in message.field:
            field.ClearField("json_name")
    committed = descriptor_pb2.FileDescriptorProto()
    api_pb2.DESCRIPTOR.CopyToProto(committed)
    assert committed == compiled, "cri/api_pb2*.py are stale: run `bash cri/generate.sh`"


def _all_messages(
    messages: list[descriptor_pb2.DescriptorProto],
) -> list[descriptor_pb2.DescriptorProto]:
    found = []
    for message in messages:
        found.append(message)
        found.extend(_all_messages(list(message.nested_type)))
    return found


def _lower_bound(requirements: list[str], name: str) -> tuple[int, ...]:
    for requirement in requirements:
        match = re.fullmatch(rf"{re.escape(name)}>=([0-9.]+),<([0-9]+)", requirement.replace(" ", ""))
        if match:
            return tuple(int(x) for x in match.group(1).split("."))
    raise AssertionError(f"pyproject.toml has no `{name}>=X,<Y` requirement")


def test_dependency_ranges_accept_the_generated_code() -> None:
    # The generated modules refuse to import on a runtime older than the one they were generated
    # for; every version pyproject.toml allows must be at least that new.
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = pyproject["project"]["dependencies"]
    pb2 = (CRI_DIR / "api_pb2.py").read_text()
    grpc_stub = (CRI_DIR / "api_pb2_grpc.py").read_text()
    protobuf_version = re.search(r"# Protobuf Python Version: ([0-9.]+)", pb2)
    grpc_version = re.search(r"GRPC_GENERATED_VERSION = '([0-9.]+)'", grpc_stub)
    assert protobuf_version and grpc_version
    assert _lower_bound(deps, "protobuf") >= tuple(int(x) for x in protobuf_version.group(1).split("."))
    assert _lower_bound(deps, "grpcio") >= tuple(int(x) for x in grpc_version.group(1).split("."))
