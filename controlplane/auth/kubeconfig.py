"""Kubeconfig files for the cluster's users, in the shape k3s writes and client-go/kubectl read.

Design
------
The admin kubeconfig (``--write-kubeconfig``, default ``/etc/kubelite/kubeconfig.yaml``) must be
accepted unchanged by the stock ``kubectl`` and by the official Python client, so it is exactly what
k3s writes to ``/etc/rancher/k3s/k3s.yaml``: one cluster, one user and one context all named
``default``, credentials embedded as base64 ``*-data`` fields (the file stands alone and can be
copied to another machine), keys in alphabetical order as client-go's ``clientcmd.Write`` emits them::

    apiVersion: v1
    clusters:
    - cluster:
        certificate-authority-data: LS0t...
        server: https://127.0.0.1:6443
      name: default
    contexts:
    - context:
        cluster: default
        user: default
      name: default
    current-context: default
    kind: Config
    preferences: {}
    users:
    - name: default
      user:
        client-certificate-data: LS0t...
        client-key-data: LS0t...

A user may authenticate with a client certificate, a bearer token, both (client-go allows the pair),
or neither (anonymous). Inputs are checked before anything is produced, so a kubeconfig that would
only fail later inside kubectl (a key that does not belong to the certificate, a token with a line
break, a relative server URL) is refused here with a :class:`KubeconfigError` naming the field.

The file is written atomically with mode 0600 (the CIS benchmark's requirement, which k3s follows),
replacing any previous file so a rotated admin certificate never leaves a half-written kubeconfig.
"""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path
from typing import Any, Final

import yaml
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from kubelite.controlplane.auth.pki import write_file_atomically

KUBECONFIG_MODE: Final = 0o600


class KubeconfigError(ValueError):
    """An input that would produce a kubeconfig kubectl cannot use; the message names the field."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_name(value: str, *, field: str) -> None:
    if not value or value != value.strip() or any(ch in value for ch in "\r\n"):
        raise KubeconfigError(f"{field} must be a non-empty name without surrounding spaces, got {value!r}")


def _check_server_url(server_url: str) -> None:
    parsed = urllib.parse.urlsplit(server_url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise KubeconfigError(
            f"server_url must be an absolute URL such as https://127.0.0.1:6443, got {server_url!r}"
        )
    try:
        _ = parsed.port
    except ValueError:
        raise KubeconfigError(f"server_url has an invalid port: {server_url!r}")


def _load_certs(pem: bytes, *, field: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise KubeconfigError(f"{field} must hold PEM certificates ({exc})")


def _spki_of_cert(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_client_cert(cert_pem: bytes, key_pem: bytes) -> None:
    leaf = _load_certs(cert_pem, field="client_cert_pem")[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KubeconfigError(f"client_key_pem must be an unencrypted PEM private key ({exc})")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if public != _spki_of_cert(leaf):
        raise KubeconfigError(
            "client_key_pem is not the private key of the first certificate in client_cert_pem"
        )


def kubeconfig_yaml(
    *,
    server_url: str,
    ca_pem: bytes,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    token: str | None = None,
    cluster: str = "default",
    user: str = "default",
    context: str = "default",
) -> str:
    """A complete kubeconfig with one cluster, user and context; ``current-context`` is ``context``.

    ``ca_pem`` is the CA bundle that signs the API server's certificate; ``client_cert_pem`` and
    ``client_key_pem`` go together (the certificate PEM may carry its chain after the leaf).
    """
    _check_server_url(server_url)
    _check_name(cluster, field="cluster")
    _check_name(user, field="user")
    _check_name(context, field="context")
    _load_certs(ca_pem, field="ca_pem")
    if (client_cert_pem is None) != (client_key_pem is None):
        raise KubeconfigError("client_cert_pem and client_key_pem must be given together or not at all")
    credentials: dict[str, str] = {}
    if client_cert_pem is not None and client_key_pem is not None:
        _check_client_cert(client_cert_pem, client_key_pem)
        credentials["client-certificate-data"] = _b64(client_cert_pem)
        credentials["client-key-data"] = _b64(client_key_pem)
    if token is not None:
        # The token becomes an HTTP header value: no whitespace, no control characters.
        if not token or any(ch.isspace() or not ch.isprintable() for ch in token):
            raise KubeconfigError("token must be non-empty, printable and contain no whitespace")
        credentials["token"] = token
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": credentials}],
    }
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False)


def write_kubeconfig(path: Path | str, content: str) -> None:
    """Write ``content`` to ``path`` atomically with mode 0600, creating missing parent directories."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(target, content.encode("utf-8"), mode=KUBECONFIG_MODE)
    except OSError as exc:
        raise KubeconfigError(f"cannot write kubeconfig {target}: {exc.strerror or exc}")
