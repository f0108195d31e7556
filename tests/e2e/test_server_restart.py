"""A server restarted on its data dir comes back with its objects (the bootstrap objects already exist)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from e2e_harness import start_server, stop_server

pytestmark = [pytest.mark.e2e]


def test_server_restarts_on_its_own_data_dir() -> None:
    with tempfile.TemporaryDirectory(prefix="kle-restart-") as tmp:
        data_dir = Path(tmp)
        first = start_server(data_dir)
        try:
            first.kubectl("create", "configmap", "survivor", "--from-literal=a=b")
            ip = first.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout
        finally:
            stop_server(first)
        first.kubeconfig.unlink()  # the harness takes a (re)written kubeconfig as "the server answers"
        second = start_server(data_dir)
        try:
            assert second.kubectl("get", "configmap", "survivor", "-o", "jsonpath={.data.a}").stdout == "b"
            assert second.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout == ip
            assert second.kubectl("get", "endpointslice", "kubernetes", "-o",
                                  "jsonpath={.endpoints[0].conditions.ready}").stdout == "true"
        finally:
            stop_server(second)
