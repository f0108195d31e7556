"""Kubeconfig and in-cluster loading: what resolves, what fails and how the errors read."""

from __future__ import annotations

import base64
import datetime
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelite.client import config as config_module
from kubelite.client.config import (
    ClientConfig,
    ConfigError,
    default_kubeconfig_path,
    in_cluster_config,
    load_kubeconfig,
)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kubelite-client-config-") as tmp:
        yield Path(tmp)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def make_pki() -> dict[str, bytes]:
    """A CA and a client certificate signed by it, PEM encoded."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test-ca")).issuer_name(_name("test-ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("admin", "system:masters")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(ca_key, hashes.SHA256()))
    return {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "cert": cert.public_bytes(serialization.Encoding.PEM),
        "key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()),
        "other_key": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    }


PKI = make_pki()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(*, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
               context: dict[str, Any] | None = None, current: str | None = "default",
               extra_contexts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The shape kubelite (and k3s) writes, with overrides."""
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "default", "cluster": cluster if cluster is not None else {
            "server": "https://127.0.0.1:6443", "certificate-authority-data": b64(PKI["ca"])}}],
        "users": [{"name": "default", "user": user if user is not None else {
            "client-certificate-data": b64(PKI["cert"]), "client-key-data": b64(PKI["key"])}}],
        "contexts": [{"name": "default", "context": context if context is not None else
                      {"cluster": "default", "user": "default"}}, *(extra_contexts or [])],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def write(workdir: Path, doc: Any, name: str = "kubeconfig.yaml") -> Path:
    path = workdir / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


def test_loads_the_kubeconfig_kubelite_writes(workdir: Path) -> None:
    config = load_kubeconfig(write(workdir, kubeconfig()))
    assert config.server == "https://127.0.0.1:6443"
    assert config.ca_data == PKI["ca"]
    assert config.client_cert_data == PKI["cert"] and config.client_key_data == PKI["key"]
    assert config.namespace == "default"
    assert config.authorization() is None
    context = config.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert any(c["subject"] == ((("commonName", "test-ca"),),) for c in context.get_ca_certs())
    assert "client_key_data" not in repr(config) and PKI["key"].decode()[:40] not in repr(config)


def test_files_are_resolved_against_the_kubeconfig_directory(workdir: Path) -> None:
    (workdir / "pki").mkdir()
    for name in ("ca", "cert", "key"):
        (workdir / "pki" / f"{name}.pem").write_bytes(PKI[name])
    doc = kubeconfig(cluster={"server": "https://k:6443", "certificate-authority": "pki/ca.pem"},
                     user={"client-certificate": "pki/cert.pem", "client-key": str(workdir / "pki" / "key.pem")})
    config = load_kubeconfig(write(workdir, doc))
    assert config.ca_file == str(workdir / "pki" / "ca.pem")
    assert config.client_cert_file == str(workdir / "pki" / "cert.pem")
    assert config.client_key_file == str(workdir / "pki" / "key.pem")
    config.ssl_context()  # loads from the files


def test_an_explicit_context_wins_over_current_context(workdir: Path) -> None:
    doc = kubeconfig(extra_contexts=[{"name": "dev", "context": {"cluster": "default", "user": "default",
                                                                   "namespace": "team-a"}}])
    assert load_kubeconfig(write(workdir, doc)).namespace == "default"
    assert load_kubeconfig(write(workdir, doc), context="dev").namespace == "team-a"


def test_token_and_basic_auth_headers(workdir: Path) -> None:
    doc = kubeconfig(user={"token": "abc.def"})
    assert load_kubeconfig(write(workdir, doc)).authorization() == "Bearer abc.def"
    doc = kubeconfig(user={"username": "u", "password": "p"})
    assert load_kubeconfig(write(workdir, doc)).authorization() == "Basic " + b64(b"u:p")


def test_token_file_is_reread_after_the_cache_expires(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = workdir / "token"
    token.write_text("first\n")
    config = load_kubeconfig(write(workdir, kubeconfig(user={"tokenFile": "token"})))
    assert config.authorization() == "Bearer first"
    token.write_text("second")
    assert config.authorization() == "Bearer first", "cached for a minute"
    monkeypatch.setattr(config_module, "TOKEN_FILE_CACHE_SECONDS", 0.0)
    assert config.authorization() == "Bearer second"
    token.unlink()
    assert config.authorization() == "Bearer second", "a vanished file keeps the last good token"


def test_unreadable_token_file_is_a_clear_error(workdir: Path) -> None:
    config = load_kubeconfig(write(workdir, kubeconfig(user={"tokenFile": "missing-token"})))
    with pytest.raises(ConfigError, match=r"bearer token file .*missing-token could not be read"):
        config.authorization()


@pytest.mark.parametrize(("doc", "message"), [
    pytest.param("a: [", "not valid YAML", id="bad-yaml"),
    pytest.param("- 1\n- 2\n", "must be a YAML mapping", id="not-a-mapping"),
    pytest.param(kubeconfig(current=None), "no context given and current-context is not set; contexts: default",
                 id="no-context"),
    pytest.param(kubeconfig(current="prod"), 'context "prod" not found; contexts: default', id="unknown-context"),
    pytest.param(kubeconfig(context={"cluster": "nope", "user": "default"}),
                 'refers to cluster "nope", which is not defined; clusters: default', id="unknown-cluster"),
    pytest.param(kubeconfig(context={"cluster": "default", "user": "nobody"}),
                 'refers to user "nobody", which is not defined; users: default', id="unknown-user"),
    pytest.param(kubeconfig(cluster={}), r"clusters\[name=default\]\.cluster\.server is missing", id="no-server"),
    pytest.param(kubeconfig(cluster={"server": "127.0.0.1:6443"}), "is not an absolute http", id="relative-server"),
    pytest.param(kubeconfig(cluster={"server": "https://h:99999"}), "invalid port", id="bad-port"),
    pytest.param(kubeconfig(cluster={"server": "https://h", "certificate-authority-data": "%%%"}),
                 r"certificate-authority-data is not valid base64", id="bad-base64"),
    pytest.param(kubeconfig(user={"exec": {"command": "aws"}}), r"user\.exec: credential plugins are not supported",
                 id="exec-plugin"),
    pytest.param(kubeconfig(user={"client-certificate-data": b64(PKI["cert"])}),
                 "a client certificate is set but no client key", id="cert-without-key"),
    pytest.param(kubeconfig(cluster={"server": "https://h", "insecure-skip-tls-verify": True,
                                     "certificate-authority-data": b64(PKI["ca"])}),
                 "insecure_skip_tls_verify cannot be combined with a certificate authority", id="insecure-with-ca"),
    pytest.param({"clusters": "x"}, "clusters must be a list", id="clusters-not-a-list"),
    pytest.param({"contexts": [{"context": {}}]}, r"contexts\[0\] needs a name", id="unnamed-context"),
])
def test_kubeconfig_errors_say_what_and_where(workdir: Path, doc: Any, message: str) -> None:
    path = write(workdir, doc)
    with pytest.raises(ConfigError, match=message) as info:
        load_kubeconfig(path)
    assert str(path) in str(info.value)


def test_missing_kubeconfig(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope\.yaml: no such file"):
        load_kubeconfig(workdir / "nope.yaml")


@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"ca_data": b"not a certificate"}, "certificate authority in ca_data could not be loaded",
                 id="bad-ca"),
    pytest.param({"client_cert_data": PKI["cert"], "client_key_data": PKI["other_key"]},
                 "client certificate and key could not be loaded", id="key-does-not-match"),
])
def test_ssl_context_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientConfig(server="https://h:6443", **overrides).ssl_context()


def test_insecure_skip_tls_verify_disables_verification() -> None:
    context = ClientConfig(server="https://h:6443", insecure_skip_tls_verify=True).ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def make_service_account(workdir: Path, *, token: str = "sa-token\n", namespace: str | None = "apps") -> Path:
    sa = workdir / "sa"
    sa.mkdir()
    (sa / "token").write_text(token)
    (sa / "ca.crt").write_bytes(PKI["ca"])
    if namespace is not None:
        (sa / "namespace").write_text(namespace)
    return sa


@pytest.mark.parametrize(("host", "server"), [
    pytest.param("10.43.0.1", "https://10.43.0.1:443", id="ipv4"),
    pytest.param("fd00::1", "https://[fd00::1]:443", id="ipv6"),
    pytest.param("kubernetes.default.svc", "https://kubernetes.default.svc:443", id="dns"),
])
def test_in_cluster_config(workdir: Path, host: str, server: str) -> None:
    sa = make_service_account(workdir)
    config = in_cluster_config(environ={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"},
                               service_account_dir=sa)
    assert config.server == server
    assert config.ca_file == str(sa / "ca.crt")
    assert config.authorization() == "Bearer sa-token"
    assert config.namespace == "apps"
    config.ssl_context()


@pytest.mark.parametrize(("environ", "sa_kwargs", "message"), [
    pytest.param({}, {}, "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined", id="not-in-a-pod"),
    pytest.param({"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "https"}, {},
                 "KUBERNETES_SERVICE_PORT: 'https' is not a port number", id="bad-port"),
    pytest.param({"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "443"}, {"token": ""},
                 "token .* is empty", id="empty-token"),
])
def test_in_cluster_config_errors(workdir: Path, environ: dict[str, str], sa_kwargs: dict[str, Any],
                                  message: str) -> None:
    sa = make_service_account(workdir, **sa_kwargs)
    with pytest.raises(ConfigError, match=message):
        in_cluster_config(environ=environ, service_account_dir=sa)


def test_in_cluster_config_without_a_mounted_token(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"ServiceAccount token .*token cannot be read"):
        in_cluster_config(environ={"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "443"},
                          service_account_dir=workdir / "absent")


@pytest.mark.parametrize(("environ", "expected"), [
    pytest.param({"KUBECONFIG": "/a/one:/b/two", "HOME": "/home/x"}, "/a/one", id="first-of-KUBECONFIG"),
    pytest.param({"HOME": "/home/x"}, "/home/x/.kube/config", id="home"),
])
def test_default_kubeconfig_path(environ: dict[str, str], expected: str) -> None:
    assert str(default_kubeconfig_path(environ)) == expected
