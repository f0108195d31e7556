"""The same API on a real etcd: `kubelite server --datastore-endpoint etcd://...` with stock kubectl."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from e2e_harness import Server, start_etcd, start_server, stop_process, stop_server

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd is not installed")]


@pytest.fixture(scope="module")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("etcd-backed")
    etcd, endpoint = start_etcd(workdir)
    try:
        (workdir / "server").mkdir()
        server = start_server(workdir / "server", "--datastore-endpoint", f"etcd://{endpoint}")
        try:
            yield server, endpoint
        finally:
            stop_server(server)
    finally:
        stop_process(etcd)


def test_crud_list_and_watch_on_etcd(etcd_server: tuple[Server, str]) -> None:
    server, endpoint = etcd_server
    server.kubectl("create", "namespace", "on-etcd")
    server.kubectl("create", "configmap", "one", "-n", "on-etcd", "--from-literal=a=1")
    server.kubectl("create", "deployment", "web", "-n", "on-etcd", "--image=busybox", "--replicas=2")
    server.kubectl("scale", "deploy", "web", "-n", "on-etcd", "--replicas=3")
    deploy = json.loads(server.kubectl("get", "deploy", "web", "-n", "on-etcd", "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 3 and deploy["metadata"]["generation"] == 2
    names = server.kubectl("get", "cm,deploy", "-n", "on-etcd", "-o", "name").stdout.split()
    assert "configmap/one" in names and "deployment.apps/web" in names

    watcher = subprocess.Popen(["kubectl", "get", "cm", "-n", "on-etcd", "-w", "--output-watch-events",
                                "--no-headers"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, KUBECONFIG=str(server.kubeconfig)))
    try:
        assert watcher.stdout is not None
        stream = watcher.stdout

        def next_event() -> list[str]:
            # every namespace also holds the published kube-root-ca.crt, as upstream
            while (line := stream.readline().split())[1:2] == ["kube-root-ca.crt"]:
                pass
            return line

        first = next_event()  # the existing object, from the initial list
        server.kubectl("create", "configmap", "two", "-n", "on-etcd", "--from-literal=b=2")
        second = next_event()
    finally:
        watcher.kill()
        watcher.wait()
    assert first[:2] == ["ADDED", "one"] and second[:2] == ["ADDED", "two"]

    # the objects really live in etcd, under the /registry prefix
    keys = subprocess.run(["etcdctl", "--endpoints", endpoint, "get", "/registry/", "--prefix", "--keys-only"],
                          capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"), check=True)
    assert "/registry/core/configmaps/on-etcd/one" in keys.stdout

    server.kubectl("delete", "deploy", "web", "-n", "on-etcd")
    assert server.kubectl("get", "deploy", "web", "-n", "on-etcd", check=False).returncode == 1
