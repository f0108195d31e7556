"""How etcd endpoints become a gRPC target, and key-root normalisation (pure, no etcd needed)."""

from __future__ import annotations

import pytest

from kubelite.controlplane.storage.etcd import EtcdEndpoint, check_root, grpc_target


@pytest.mark.parametrize(
    ("endpoints", "resolved", "target"),
    [
        pytest.param([EtcdEndpoint("etcd.local", 2379)], None, "etcd.local:2379", id="one-name-grpc-resolves"),
        pytest.param([EtcdEndpoint("::1", 2379)], None, "[::1]:2379", id="one-ipv6-bracketed"),
        pytest.param([EtcdEndpoint("a", 1), EtcdEndpoint("b", 2)], [["10.0.0.1"], ["10.0.0.2", "::2"]],
                     "ipv4:10.0.0.1:1,10.0.0.2:2", id="ipv4-preferred"),
        pytest.param([EtcdEndpoint("a", 1), EtcdEndpoint("b", 2)], [["fd00::1"], ["fd00::2"]],
                     "ipv6:[fd00::1]:1,[fd00::2]:2", id="ipv6-only"),
        pytest.param([EtcdEndpoint("localhost", 1), EtcdEndpoint("127.0.0.1", 1)], [["127.0.0.1"], ["127.0.0.1"]],
                     "ipv4:127.0.0.1:1", id="duplicates-collapsed"),
    ],
)
def test_grpc_target(endpoints: list[EtcdEndpoint], resolved: list[list[str]] | None, target: str) -> None:
    assert grpc_target(endpoints, resolved) == target


def test_grpc_target_refuses_mixed_only_families() -> None:
    with pytest.raises(ValueError, match="mix IPv4-only and IPv6-only"):
        grpc_target([EtcdEndpoint("a"), EtcdEndpoint("b")], [["10.0.0.1"], ["fd00::1"]])


@pytest.mark.parametrize(
    ("root", "normalised"),
    [
        pytest.param("/registry", "/registry", id="default"),
        pytest.param("/registry/", "/registry", id="trailing-slash"),
        pytest.param("", "", id="no-root"),
        pytest.param("/a/b", "/a/b", id="nested"),
    ],
)
def test_check_root(root: str, normalised: str) -> None:
    assert check_root(root) == normalised


def test_check_root_refuses_relative() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        check_root("registry")
