"""Kubeconfigs: the k3s shape, input checks, atomic 0600 writes, and acceptance by the official Python
client and by the stock kubectl against a real HTTPS endpoint that requires the client certificate."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelite.controlplane.auth.kubeconfig import KubeconfigError, kubeconfig_yaml, write_kubeconfig
from kubelite.controlplane.auth.pki import ClusterPKI, ensure_pki

KUBECTL = shutil.which("kubectl")
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+kubelite",
    "gitCommit": "0",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "cpython",
    "platform": "linux/amd64",
}


@pytest.fixture(scope="module")
def cluster_pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    return ensure_pki(tls_dir=tmp_path_factory.mktemp("kubeconfig") / "tls", dns_names=[], ip_addresses=[])


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    """Another cluster's PKI: its certificates must not work against ``cluster_pki``."""
    return ensure_pki(tls_dir=tmp_path_factory.mktemp("other") / "tls", dns_names=[], ip_addresses=[])


def admin_kubeconfig(pki: ClusterPKI, *, server_url: str = "https://127.0.0.1:6443") -> str:
    return kubeconfig_yaml(
        server_url=server_url,
        ca_pem=pki.server_ca_pem(),
        client_cert_pem=pki.admin_cert.read_bytes(),
        client_key_pem=pki.admin_key.read_bytes(),
        token=None,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------------------------------------- shape


def test_admin_kubeconfig_has_exactly_the_k3s_shape(cluster_pki: ClusterPKI) -> None:
    ca, cert, key = (
        cluster_pki.server_ca_pem(),
        cluster_pki.admin_cert.read_bytes(),
        cluster_pki.admin_key.read_bytes(),
    )
    expected = (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {b64(ca)}\n"
        "    server: https://127.0.0.1:6443\n"
        "  name: default\n"
        "contexts:\n"
        "- context:\n"
        "    cluster: default\n"
        "    user: default\n"
        "  name: default\n"
        "current-context: default\n"
        "kind: Config\n"
        "preferences: {}\n"
        "users:\n"
        "- name: default\n"
        "  user:\n"
        f"    client-certificate-data: {b64(cert)}\n"
        f"    client-key-data: {b64(key)}\n"
    )
    assert admin_kubeconfig(cluster_pki) == expected


@pytest.mark.parametrize(
    ("with_cert", "token", "user_fields"),
    [
        pytest.param(True, None, {"client-certificate-data", "client-key-data"}, id="certificate"),
        pytest.param(False, "abc.def-123", {"token"}, id="token"),
        pytest.param(True, "abc.def-123", {"client-certificate-data", "client-key-data", "token"}, id="both"),
        pytest.param(False, None, set(), id="anonymous"),
    ],
)
def test_user_credentials(
    cluster_pki: ClusterPKI, with_cert: bool, token: str | None, user_fields: set[str]
) -> None:
    text = kubeconfig_yaml(
        server_url="https://10.0.0.5:6443",
        ca_pem=cluster_pki.server_ca_pem(),
        client_cert_pem=cluster_pki.admin_cert.read_bytes() if with_cert else None,
        client_key_pem=cluster_pki.admin_key.read_bytes() if with_cert else None,
        token=token,
    )
    user = yaml.safe_load(text)["users"][0]["user"]
    assert set(user) == user_fields
    if token is not None:
        assert user["token"] == token
    if with_cert:
        assert base64.b64decode(user["client-key-data"]) == cluster_pki.admin_key.read_bytes()


def test_names_are_configurable(cluster_pki: ClusterPKI) -> None:
    document = yaml.safe_load(
        kubeconfig_yaml(
            server_url="https://k.example:443",
            ca_pem=cluster_pki.server_ca_pem(),
            token="t0ken",
            cluster="prod",
            user="admin",
            context="prod-admin",
        )
    )
    assert document["clusters"][0]["name"] == "prod"
    assert document["users"][0]["name"] == "admin"
    assert document["contexts"] == [{"name": "prod-admin", "context": {"cluster": "prod", "user": "admin"}}]
    assert document["current-context"] == "prod-admin"


def other_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"server_url": "127.0.0.1:6443"}, "server_url must be an absolute URL", id="no-scheme"),
        pytest.param({"server_url": "ftp://h:21"}, "server_url must be an absolute URL", id="ftp"),
        pytest.param({"server_url": "https://"}, "server_url must be an absolute URL", id="no-host"),
        pytest.param({"server_url": "https://h:99999"}, "server_url has an invalid port", id="bad-port"),
        pytest.param({"ca_pem": b"not pem"}, "ca_pem must hold PEM certificates", id="bad-ca"),
        pytest.param({"client_key_pem": None}, "must be given together", id="cert-without-key"),
        pytest.param({"client_cert_pem": None}, "must be given together", id="key-without-cert"),
        pytest.param(
            {"client_key_pem": b"junk"}, "client_key_pem must be an unencrypted PEM private key", id="bad-key"
        ),
        pytest.param(
            {"client_key_pem": "OTHER"}, "is not the private key of the first certificate", id="key-mismatch"
        ),
        pytest.param(
            {"client_cert_pem": b"junk"}, "client_cert_pem must hold PEM certificates", id="bad-cert"
        ),
        pytest.param(
            {"token": "two words"},
            "token must be non-empty, printable and contain no whitespace",
            id="token-space",
        ),
        pytest.param({"token": "line\nbreak"}, "token must be non-empty", id="token-newline"),
        pytest.param({"token": ""}, "token must be non-empty", id="token-empty"),
        pytest.param({"cluster": ""}, "cluster must be a non-empty name", id="empty-cluster"),
        pytest.param(
            {"user": " admin"}, "user must be a non-empty name without surrounding spaces", id="padded-user"
        ),
        pytest.param({"context": "a\nb"}, "context must be a non-empty name", id="newline-context"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    cluster_pki: ClusterPKI, overrides: dict[str, object], message: str
) -> None:
    arguments: dict[str, Any] = {
        "server_url": "https://127.0.0.1:6443",
        "ca_pem": cluster_pki.server_ca_pem(),
        "client_cert_pem": cluster_pki.admin_cert.read_bytes(),
        "client_key_pem": cluster_pki.admin_key.read_bytes(),
        "token": None,
        **overrides,
    }
    if arguments["client_key_pem"] == "OTHER":
        arguments["client_key_pem"] = other_key_pem()
    with pytest.raises(KubeconfigError, match=re.escape(message)):
        kubeconfig_yaml(**arguments)


# ---------------------------------------------------------------------------------------------- writing


def test_write_creates_parents_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "kubelite" / "kubeconfig.yaml"
    previous = os.umask(0o022)
    try:
        write_kubeconfig(target, "apiVersion: v1\n")
    finally:
        os.umask(previous)
    assert target.read_text() == "apiVersion: v1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["kubeconfig.yaml"]


def test_write_replaces_an_existing_file_atomically_and_tightens_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "kubeconfig.yaml"
    target.write_text("old")
    target.chmod(0o644)
    old_inode = target.stat().st_ino
    write_kubeconfig(str(target), "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # a rename put a new file in place: a reader holding the old one never sees a mix
    assert target.stat().st_ino != old_inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig.yaml"]


def test_write_into_a_file_instead_of_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "etc"
    blocker.write_text("a file")
    expected = f"cannot write kubeconfig {blocker}/kubeconfig.yaml"
    with pytest.raises(KubeconfigError, match=re.escape(expected)):
        write_kubeconfig(blocker / "kubeconfig.yaml", "x")


# ---------------------------------------------------------------------------------------------- real clients


class _VersionHandler(http.server.BaseHTTPRequestHandler):
    """Answers GET /version like kube-apiserver, naming the verified client certificate's user."""

    users: list[str]

    def do_GET(self) -> None:
        assert isinstance(self.connection, ssl.SSLSocket)
        der = self.connection.getpeercert(binary_form=True)
        user = ""
        if der:
            names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            user = str(names[0].value)
        self.users.append(user)
        # kubectl asks for /version?timeout=..., the Python client for /version/
        if urllib.parse.urlsplit(self.path).path.rstrip("/") != "/version":
            self.send_error(404, explain=f"no {self.path}")
            return
        body = json.dumps(VERSION).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def https_apiserver(pki: ClusterPKI) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS endpoint on 127.0.0.1 (a free port the kernel picks) presenting the serving certificate
    and requiring a client certificate from the client CA; yields (URL, users seen)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    ctx.load_verify_locations(cafile=pki.client_ca_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    users: list[str] = []
    handler = type("Handler", (_VersionHandler,), {"users": users})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="https-test-apiserver", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", users
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=15)
        assert not thread.is_alive()


def test_official_client_config_loader_accepts_the_kubeconfig(
    cluster_pki: ClusterPKI, tmp_path: Path
) -> None:
    from kubernetes import client, config

    path = tmp_path / "kubeconfig.yaml"
    write_kubeconfig(path, admin_kubeconfig(cluster_pki, server_url="https://127.0.0.1:6443"))
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)  # type: ignore[no-untyped-call]
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.verify_ssl is True
    # the loader materialises the *-data fields as files for urllib3; they must hold our bytes
    assert configuration.ssl_ca_cert and configuration.cert_file and configuration.key_file
    assert Path(configuration.ssl_ca_cert).read_bytes() == cluster_pki.server_ca_pem()
    assert Path(configuration.cert_file).read_bytes() == cluster_pki.admin_cert.read_bytes()
    assert Path(configuration.key_file).read_bytes() == cluster_pki.admin_key.read_bytes()


def test_official_client_config_loader_accepts_a_token_kubeconfig(
    cluster_pki: ClusterPKI, tmp_path: Path
) -> None:
    from kubernetes import client, config

    path = tmp_path / "kubeconfig.yaml"
    write_kubeconfig(
        path,
        kubeconfig_yaml(
            server_url="https://127.0.0.1:6443",
            ca_pem=cluster_pki.server_ca_pem(),
            token="abc.0123456789abcdef",
        ),
    )
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)  # type: ignore[no-untyped-call]
    # the key name under which the client keeps it changed across versions ("authorization", "BearerToken")
    assert list(configuration.api_key.values()) == ["Bearer abc.0123456789abcdef"]
    assert configuration.cert_file is None


def test_official_client_talks_tls_with_the_kubeconfig(cluster_pki: ClusterPKI, tmp_path: Path) -> None:
    from kubernetes import client, config

    with https_apiserver(cluster_pki) as (url, users):
        path = tmp_path / "kubeconfig.yaml"
        write_kubeconfig(path, admin_kubeconfig(cluster_pki, server_url=url))
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(path), client_configuration=configuration)  # type: ignore[no-untyped-call]
        with client.ApiClient(configuration) as api:
            version = client.VersionApi(api).get_code(_request_timeout=10)
    assert version.git_version == "v1.32.0+kubelite"
    assert users == ["system:admin"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_reads_the_kubeconfig(cluster_pki: ClusterPKI, tmp_path: Path) -> None:
    assert KUBECTL is not None
    path = tmp_path / "kubeconfig.yaml"
    write_kubeconfig(path, admin_kubeconfig(cluster_pki))
    run = subprocess.run(
        [KUBECTL, "--kubeconfig", str(path), "config", "view", "--raw", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    view = json.loads(run.stdout)
    assert view["current-context"] == "default"
    assert view["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert view["users"][0]["user"]["client-key-data"] == b64(cluster_pki.admin_key.read_bytes())


def run_kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--request-timeout=10s", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(home)},
        check=False,
    )


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_authenticates_over_tls_with_the_admin_kubeconfig(
    cluster_pki: ClusterPKI, tmp_path: Path
) -> None:
    with https_apiserver(cluster_pki) as (url, users):
        path = tmp_path / "kubeconfig.yaml"
        write_kubeconfig(path, admin_kubeconfig(cluster_pki, server_url=url))
        run = run_kubectl(path, tmp_path, "get", "--raw", "/version")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["gitVersion"] == "v1.32.0+kubelite"
    assert users and set(users) == {"system:admin"}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize(
    ("wrong", "stderr_pattern"),
    [
        pytest.param("ca", "certificate signed by unknown authority", id="other-clusters-ca"),
        pytest.param(
            "client-cert", "remote error: tls: unknown certificate authority", id="other-clusters-client-cert"
        ),
    ],
)
def test_kubectl_fails_with_another_clusters_credentials(
    cluster_pki: ClusterPKI, other_pki: ClusterPKI, tmp_path: Path, wrong: str, stderr_pattern: str
) -> None:
    with https_apiserver(cluster_pki) as (url, users):
        text = kubeconfig_yaml(
            server_url=url,
            ca_pem=(other_pki if wrong == "ca" else cluster_pki).server_ca_pem(),
            client_cert_pem=(other_pki if wrong == "client-cert" else cluster_pki).admin_cert.read_bytes(),
            client_key_pem=(other_pki if wrong == "client-cert" else cluster_pki).admin_key.read_bytes(),
        )
        path = tmp_path / "kubeconfig.yaml"
        write_kubeconfig(path, text)
        run = run_kubectl(path, tmp_path, "get", "--raw", "/version")
    assert run.returncode != 0
    assert re.search(stderr_pattern, run.stderr), run.stderr
    assert users == []
