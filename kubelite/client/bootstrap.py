"""Node TLS bootstrap: from a join token to a node client certificate and a kubeconfig.

Design
------
What ``kubelite agent --server URL --token T`` does before anything else (k3s's agent bootstrap plus
upstream's kubelet TLS bootstrap):

1. Fetch the cluster CA from ``URL/cacerts`` *without* trusting the connection. When the token is in
   k3s's full form ``K10<sha256>::<user>:<secret>``, the CA bytes must hash to ``<sha256>`` or nothing
   is trusted (this is what makes the first contact safe); a bare token trusts the CA it gets.
2. Generate a P-256 key and a CSR for ``CN=system:node:<name>, O=system:nodes`` and create a
   certificates.k8s.io/v1 ``CertificateSigningRequest`` (signer
   ``kubernetes.io/kube-apiserver-client-kubelet``) authenticated by the token's secret. The server
   auto-approves it for join tokens and signs it.
3. Wait for ``status.certificate`` (a Denied or Failed condition is an error), then write
   ``ca.crt``, ``client-ca.crt`` (for the kubelet server to verify its callers), ``client-kubelet.key``/
   ``.crt`` and ``kubelet.kubeconfig`` (mode 0600) in ``directory``.

It is idempotent: a kubeconfig already in ``directory`` for the same server and node, whose certificate
is signed by the current CA and valid for more than 10% of its lifetime, is reused as it is.

An agent given a kubeconfig instead of a token (``kubelite agent --kubeconfig K``, and the server's
embedded agent) still needs the client CA: ``ensure_client_ca`` fetches it from ``/cacerts?ca=client``
over a connection verified with the kubeconfig's CA (never over an unverified one: whoever chose that CA
would choose who may call the kubelet) and writes it beside the agent's state.

Every failure is a ``BootstrapError`` with one line saying what went wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hashlib
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any, Final

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubelite.client.config import ClientConfig
from kubelite.client.rest import APIClient, APIConnectionError, APIStatusError

KUBECONFIG_NAME: Final = "kubelet.kubeconfig"
CLIENT_CA_NAME: Final = "client-ca.crt"  # beside the kubeconfig: the kubelet server's client_ca
SIGNER: Final = "kubernetes.io/kube-apiserver-client-kubelet"
WAIT_SECONDS: Final = 60.0


class BootstrapError(Exception):
    """The agent cannot obtain node credentials; the message says why."""


def split_token(token: str) -> tuple[str, str]:
    """(secret, expected CA hash or '') from a join token (the same rules as the server's parser)."""
    text = token.strip()
    if not text or any(c.isspace() for c in text):
        raise BootstrapError("the join token is empty or contains white space")
    if text.startswith("K10"):
        head, sep, creds = text.partition("::")
        digest = head[3:]
        _, colon, secret = creds.partition(":")
        if not sep or len(digest) != 64 or not colon or not secret:
            raise BootstrapError("a K10 join token must look like K10<64 hex digits>::server:<secret>")
        return secret, digest.lower()
    return text, ""


async def fetch_ca(*, server: str, expected_hash: str, timeout: float = 10.0) -> bytes:
    """The CA bundle from ``/cacerts``, checked against ``expected_hash`` when given."""
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # verified below by hash (or trusted on first use)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(server.rstrip("/") + "/cacerts", ssl=insecure) as response:
            if response.status != 200:
                raise BootstrapError(f"{server}/cacerts answered HTTP {response.status}")
            ca = await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise BootstrapError(f"cannot reach {server}: {exc or type(exc).__name__}") from None
    if expected_hash and hashlib.sha256(ca).hexdigest() != expected_hash:
        raise BootstrapError(f"the CA served by {server} does not match the hash in the join token: refusing to "
                             "trust it (wrong server, or someone in between)")
    try:
        if not x509.load_pem_x509_certificates(ca):
            raise ValueError("no certificate")
    except ValueError:
        raise BootstrapError(f"{server}/cacerts did not return PEM certificates") from None
    return ca


async def fetch_client_ca(*, server: str, ca_pem: bytes | None, timeout: float = 10.0) -> bytes:
    """The cluster's client CA (what the kubelet verifies the API server's client certificate with), over
    a connection verified with the server CA (None: the system's roots)."""
    context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else ssl.create_default_context()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
                session.get(server.rstrip("/") + "/cacerts", params={"ca": "client"}, ssl=context) as response:
            if response.status != 200:
                raise BootstrapError(f"{server}/cacerts?ca=client answered HTTP {response.status}")
            return await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise BootstrapError(f"cannot fetch the client CA from {server}: {exc or type(exc).__name__}") from None


async def ensure_client_ca(*, config: ClientConfig, path: Path) -> Path:
    """The cluster's client CA at ``path``, fetched with the credentials-free trust of ``config`` (its CA data
    or file, else the system's roots). When the server cannot be reached a CA already at ``path`` is kept;
    with none there, or a kubeconfig that skips TLS verification, it is a ``BootstrapError``."""
    if config.insecure_skip_tls_verify:
        raise BootstrapError("the kubeconfig skips TLS verification: the cluster's client CA cannot be trusted "
                             "over such a connection, and without it the kubelet API would be open to anyone")
    ca_pem = config.ca_data
    if ca_pem is None and config.ca_file:
        try:
            ca_pem = Path(config.ca_file).read_bytes()
        except OSError as exc:
            raise BootstrapError(f"{config.ca_file}: {exc.strerror or exc}") from None
    try:
        client_ca = await fetch_client_ca(server=config.server, ca_pem=ca_pem)
        if not x509.load_pem_x509_certificates(client_ca):
            raise ValueError("no certificate")
    except ValueError:
        raise BootstrapError(f"{config.server}/cacerts?ca=client did not return PEM certificates") from None
    except BootstrapError:
        if path.is_file():
            return path
        raise
    _write(path, client_ca, 0o644)
    return path


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def kubeconfig_text(*, server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "default",
           "clusters": [{"name": "default", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
           "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
           "users": [{"name": "default", "user": {"client-certificate-data": b64(cert_pem),
                                                  "client-key-data": b64(key_pem)}}]}
    return yaml.safe_dump(doc, sort_keys=True)


def _reusable(path: Path, *, server: str, ca_pem: bytes, node_name: str) -> bool:
    try:
        doc = yaml.safe_load(path.read_text())
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        if cluster["server"] != server or base64.b64decode(cluster["certificate-authority-data"]) != ca_pem:
            return False
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    except (OSError, KeyError, IndexError, TypeError, ValueError, binascii.Error, yaml.YAMLError):
        return False
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != f"system:node:{node_name}":
        return False
    now = dt.datetime.now(dt.UTC)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - now > lifetime / 10


def _csr(node_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node_name}")])).sign(key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return request.public_bytes(serialization.Encoding.PEM), key_pem


def _conditions(csr: dict[str, Any]) -> dict[str, str]:
    return {str(c.get("type")): str(c.get("message") or c.get("reason") or "")
            for c in (csr.get("status") or {}).get("conditions") or []}


async def bootstrap_node_credentials(*, server: str, token: str, node_name: str, directory: Path,
                                     wait_seconds: float = WAIT_SECONDS) -> Path:
    """Obtain (or reuse) this node's client certificate; returns the path of its kubeconfig."""
    if not node_name or node_name != node_name.lower() or any(c.isspace() or c == "/" for c in node_name):
        raise BootstrapError(f'invalid node name "{node_name}": use a lower-case DNS name')
    secret, expected_hash = split_token(token)
    ca_pem = await fetch_ca(server=server, expected_hash=expected_hash)
    directory = Path(directory)
    kubeconfig = directory / KUBECONFIG_NAME
    if _reusable(kubeconfig, server=server, ca_pem=ca_pem, node_name=node_name):
        return kubeconfig
    request_pem, key_pem = _csr(node_name)
    name = "node-csr-" + hashlib.sha256(request_pem).hexdigest()[:20]
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request_pem).decode(), "signerName": SIGNER,
                     "usages": ["digital signature", "client auth"]}}
    async with APIClient(ClientConfig(server=server, ca_data=ca_pem, token=secret), max_retries=2) as client:
        csrs = client.resource("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
        try:
            await csrs.create(body)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_seconds
            while True:
                csr = await csrs.get(name)
                conditions = _conditions(csr)
                for bad in ("Denied", "Failed"):
                    if bad in conditions:
                        raise BootstrapError(f"the node certificate request {name} was {bad.lower()}: "
                                             f"{conditions[bad]}")
                certificate = (csr.get("status") or {}).get("certificate")
                if certificate:
                    break
                if loop.time() >= deadline:
                    raise BootstrapError(f"the node certificate request {name} was not signed within "
                                         f"{wait_seconds:.0f}s (is it approved? `kubectl certificate approve {name}`)")
                await asyncio.sleep(0.2)
        except APIStatusError as exc:
            if exc.code == 401:
                raise BootstrapError(f"{server} refused the join token (401 Unauthorized)") from None
            raise BootstrapError(f"{server}: {exc}") from None
        except APIConnectionError as exc:
            raise BootstrapError(f"cannot reach {server}: {exc}") from None
    cert_pem = base64.b64decode(certificate)
    client_ca = await fetch_client_ca(server=server, ca_pem=ca_pem)
    _write(directory / "ca.crt", ca_pem, 0o644)
    _write(directory / CLIENT_CA_NAME, client_ca, 0o644)
    _write(directory / "client-kubelet.key", key_pem, 0o600)
    _write(directory / "client-kubelet.crt", cert_pem, 0o644)
    _write(kubeconfig, kubeconfig_text(server=server, ca_pem=ca_pem, cert_pem=cert_pem, key_pem=key_pem).encode(),
           0o600)
    return kubeconfig
