"""Pod volumes: the atomic writer, configMap/secret/downwardAPI/projected content, hostPath checks, mounts."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from kubelet_builders import make_pod

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.volumes import VolumeError, VolumeManager, write_atomic


class Lookup:
    def __init__(self) -> None:
        self.cms: dict[str, Any] = {"site": {"data": {"index.html": "hi", "other": "x"}}}
        self.secrets: dict[str, Any] = {"s": {"data": {"pw": base64.b64encode(b"hunter2").decode()}}}

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.cms.get(name)

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)


def manager(tmp_path: Path, lookup: Lookup | None = None) -> VolumeManager:
    config = AgentConfig(data_dir=tmp_path, server="https://127.0.0.1:6443", node_name="n1")
    return VolumeManager(config=config, lookup=lookup or Lookup(), allocatable={"cpu": "2", "memory": "4Gi"})


def test_write_atomic_swaps_data_and_removes_stale_names(tmp_path: Path) -> None:
    target = tmp_path / "v"
    assert write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert (target / "a").read_bytes() == b"1" and (target / "dir" / "b").read_bytes() == b"2"
    assert os.readlink(target / "a") == "..data/a"
    assert not write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})  # unchanged: no rewrite
    assert write_atomic(target, {"a": (b"new", 0o644)})
    assert (target / "a").read_bytes() == b"new" and not (target / "dir").exists()
    assert len([p for p in target.iterdir() if p.name.startswith("..") and p.is_dir()
                and not p.is_symlink()]) == 1


async def test_configmap_secret_downward_and_projected_content(tmp_path: Path) -> None:
    pod = make_pod({"name": "c", "resources": {"limits": {"memory": "64Mi"}}}, volumes=[
        {"name": "cm", "configMap": {"name": "site", "items": [{"key": "index.html", "path": "www/index.html"}]}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
        {"name": "dw", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                 "divisor": "1Mi"}}]}},
        {"name": "pj", "projected": {"sources": [{"configMap": {"name": "site"}}, {"secret": {"name": "s"}}]}},
        {"name": "scratch", "emptyDir": {}}])
    vm = manager(tmp_path)
    paths = await vm.setup(pod, host_ip="192.0.2.1")
    assert (paths["cm"] / "www" / "index.html").read_text() == "hi" and not (paths["cm"] / "other").exists()
    assert (paths["sec"] / "pw").read_text() == "hunter2"
    assert oct((paths["sec"] / "pw").stat().st_mode & 0o777) == oct(0o400)
    assert (paths["dw"] / "name").read_text() == "p" and (paths["dw"] / "mem").read_text() == "64"
    assert sorted(p.name for p in paths["pj"].iterdir() if not p.name.startswith("..")) == ["index.html", "other",
                                                                                            "pw"]
    assert paths["scratch"].is_dir()
    mounts = vm.mounts_for(pod, {"name": "c", "volumeMounts": [{"name": "cm", "mountPath": "/www",
                                                                "readOnly": True}]}, paths)
    assert [(m.container_path, m.readonly) for m in mounts] == [("/www", True), ("/etc/hosts", False)]
    vm.teardown("uid-1")
    assert not vm.pod_dir("uid-1").exists()


@pytest.mark.parametrize(("volume", "message"), [
    pytest.param({"name": "v", "configMap": {"name": "absent"}}, 'configmap "absent" not found', id="no-cm"),
    pytest.param({"name": "v", "configMap": {"name": "site", "items": [{"key": "nokey", "path": "x"}]}},
                 'has no key "nokey"', id="no-key"),
    pytest.param({"name": "v", "configMap": {"name": "site", "items": [{"key": "other", "path": "../x"}]}},
                 "must be relative", id="escape"),
    pytest.param({"name": "v", "hostPath": {"path": "/nonexistent-kubelite", "type": "Directory"}},
                 "is not a Directory", id="hostpath-type"),
    pytest.param({"name": "v", "nfs": {"server": "x", "path": "/"}}, "unsupported volume type", id="nfs"),
])
async def test_volume_errors(tmp_path: Path, volume: dict[str, Any], message: str) -> None:
    with pytest.raises(VolumeError, match=message):
        await manager(tmp_path).setup(make_pod(volumes=[volume]), host_ip="192.0.2.1")


async def test_optional_sources_and_host_path_create(tmp_path: Path) -> None:
    target = tmp_path / "made" / "here"
    pod = make_pod(volumes=[{"name": "v", "configMap": {"name": "absent", "optional": True}},
                            {"name": "h", "hostPath": {"path": str(target), "type": "DirectoryOrCreate"}}])
    paths = await manager(tmp_path).setup(pod, host_ip="192.0.2.1")
    assert target.is_dir() and paths["h"] == target


async def test_etc_hosts_names_the_pod_and_its_subdomain_fqdn(tmp_path: Path) -> None:
    pod = make_pod(hostname="web-0", subdomain="web", hostAliases=[{"ip": "192.0.2.9", "hostnames": ["a", "b"]}])
    pod["status"] = {"podIP": "10.42.0.5"}
    vm = manager(tmp_path)
    await vm.setup(pod, host_ip="192.0.2.1")
    hosts = (vm.pod_dir("uid-1") / "etc-hosts").read_text().splitlines()
    assert "10.42.0.5\tweb-0.web.ns.svc.cluster.local\tweb-0" in hosts and "192.0.2.9\ta\tb" in hosts
    assert hosts[1] == "127.0.0.1\tlocalhost"


def test_termination_message_from_the_file_or_the_log_tail(tmp_path: Path) -> None:
    from kubelite.agent.kubelet.runtime_state import termination_message
    from kubelite.cri import api_pb2

    message_file = tmp_path / "msg"
    message_file.write_text("bye")
    log = tmp_path / "0.log"
    log.write_text("".join(f"2026-01-01T00:00:00Z stdout F line {i}\n" for i in range(100)))
    annotations = {"io.kubernetes.container.terminationMessagePath": "/dev/termination-log"}
    mount = api_pb2.Mount(container_path="/dev/termination-log", host_path=str(message_file))
    status = api_pb2.ContainerStatus(annotations=annotations, mounts=[mount], exit_code=1, log_path=str(log))
    assert termination_message(status) == "bye"
    message_file.write_text("")
    assert termination_message(status) == ""  # policy File: no fallback
    fallback = dict(annotations, **{"io.kubernetes.container.terminationMessagePolicy": "FallbackToLogsOnError"})
    status = api_pb2.ContainerStatus(annotations=fallback, mounts=[mount], exit_code=1, log_path=str(log))
    tail = termination_message(status)
    assert tail.endswith("line 99") and tail.splitlines()[0] == "line 20"  # the last 80 lines
    status.exit_code = 0
    assert termination_message(status) == ""  # only failures fall back to the log
