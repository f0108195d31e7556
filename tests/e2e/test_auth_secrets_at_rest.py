"""Secrets are encrypted at rest: their bytes appear neither in the SQLite files nor in etcd, while
kubectl reads them back unchanged. A custom EncryptionConfiguration (aescbc, secretbox) is honoured."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from e2e_harness import Server, start_etcd, stop_process, temporary_server

MARKER = "plaintext-marker-7f3a9c"


def create_and_read_back(server: Server) -> None:
    server.kubectl("create", "secret", "generic", "db", f"--from-literal=password={MARKER}")
    got = json.loads(server.kubectl("get", "secret", "db", "-o", "json").stdout)
    assert base64.b64decode(got["data"]["password"]).decode() == MARKER


def sqlite_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (data_dir / "server" / "db").iterdir() if p.is_file())


def test_sqlite_holds_no_plaintext_secret() -> None:
    with temporary_server("kubelite-enc-") as server:
        create_and_read_back(server)
        server.kubectl("create", "configmap", "visible", f"--from-literal=x={MARKER}-cm")
        raw = sqlite_bytes(server.data_dir)
        assert b"k8s:enc:aesgcm:v1:aesgcmkey:" in raw
        assert MARKER.encode() not in raw.replace(f"{MARKER}-cm".encode(), b"")
        assert base64.b64encode(MARKER.encode()) not in raw
        assert (server.data_dir / "server" / "cred" / "encryption-config.json").stat().st_mode & 0o777 == 0o600


def test_custom_aescbc_and_secretbox_configuration(tmp_path: Path) -> None:
    config = tmp_path / "enc.yaml"
    config.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aescbc": {"keys": [{"name": "mykey", "secret": base64.b64encode(os.urandom(32)).decode()}]}},
            {"identity": {}}]},
            {"resources": ["configmaps"], "providers": [
                {"secretbox": {"keys": [{"name": "boxkey", "secret": base64.b64encode(os.urandom(32)).decode()}]}},
                {"identity": {}}]}]}))
    with temporary_server("kubelite-enc-cbc-", "--encryption-provider-config", str(config)) as server:
        create_and_read_back(server)
        server.kubectl("create", "configmap", "boxed", f"--from-literal=x={MARKER}-cm")
        got = json.loads(server.kubectl("get", "configmap", "boxed", "-o", "json").stdout)
        assert got["data"] == {"x": f"{MARKER}-cm"}
        raw = sqlite_bytes(server.data_dir)
        assert b"k8s:enc:aescbc:v1:mykey:" in raw and b"k8s:enc:secretbox:v1:boxkey:" in raw
        assert base64.b64encode(MARKER.encode()) not in raw and f"{MARKER}-cm".encode() not in raw


@pytest.mark.skipif(shutil.which("etcd") is None or shutil.which("etcdctl") is None, reason="etcd not installed")
def test_etcd_holds_no_plaintext_secret() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kubelite-enc-etcd-"))
    etcd, endpoint = start_etcd(workdir)
    try:
        with temporary_server("kubelite-enc-etcd-srv-", "--datastore-endpoint", f"etcd://{endpoint}") as server:
            create_and_read_back(server)
            dump = subprocess.run(["etcdctl", f"--endpoints=http://{endpoint}", "get", "", "--prefix"],
                                  capture_output=True, timeout=30, check=True,
                                  env=dict(os.environ, ETCDCTL_API="3")).stdout
            assert b"k8s:enc:aesgcm:v1:aesgcmkey:" in dump
            assert base64.b64encode(MARKER.encode()) not in dump and MARKER.encode() not in dump
    finally:
        stop_process(etcd)
        shutil.rmtree(workdir, ignore_errors=True)
