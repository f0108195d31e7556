"""Where the API server is and how to authenticate to it: kubeconfig files and in-cluster credentials.

Design
------
A ``ClientConfig`` is the resolved, flat answer to "which server, which CA, which credentials",
the same facts client-go's ``rest.Config`` carries. Two sources produce one:

* ``load_kubeconfig(path, context=...)`` reads a kubeconfig file as client-go's ``clientcmd`` does:
  the context (explicit, else ``current-context``) names a cluster and a user; ``*-data`` fields are
  base64 PEM and win over their file twins; relative file paths are resolved against the directory
  of the kubeconfig (client-go's ``ResolvePaths``).
* ``in_cluster_config()`` reads the ServiceAccount token and CA that the kubelet mounts under
  ``/var/run/secrets/kubernetes.io/serviceaccount`` and the ``KUBERNETES_SERVICE_HOST``/``_PORT``
  environment, as client-go's ``rest.InClusterConfig``.

Every problem is a ``ConfigError`` naming the file, the entry and the field, because a bad kubeconfig
is the most common way a component fails to start. Credential plugins (``exec``, ``auth-provider``)
are refused with a clear error rather than silently ignored.

The bearer token of a ``tokenFile`` is re-read at most once a minute (client-go's
``cachingTokenSource``), so rotated ServiceAccount tokens are picked up without a restart.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import os
import ssl
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# client-go re-reads a token file at most this often
TOKEN_FILE_CACHE_SECONDS: Final = 60.0


class ConfigError(ValueError):
    """A kubeconfig or in-cluster environment that cannot produce a working client; says what and where."""


@dataclass(kw_only=True)
class ClientConfig:
    """Everything needed to reach and authenticate to one API server.

    ``*_data`` fields hold PEM bytes; ``*_file`` fields hold paths. When both are set the data wins.
    Secrets are left out of ``repr`` so that logging a config never leaks them.
    """

    server: str
    ca_data: bytes | None = field(default=None, repr=False)
    ca_file: str | None = None
    client_cert_data: bytes | None = field(default=None, repr=False)
    client_cert_file: str | None = None
    client_key_data: bytes | None = field(default=None, repr=False)
    client_key_file: str | None = None
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    # the namespace of the kubeconfig context (or the pod's own namespace in-cluster)
    namespace: str = "default"
    _token_cache: tuple[float, str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_server_url(self.server, where="server")
        if (self.client_cert_data or self.client_cert_file) and not (self.client_key_data or self.client_key_file):
            raise ConfigError("a client certificate is set but no client key: set client_key_data or client_key_file")
        if (self.client_key_data or self.client_key_file) and not (self.client_cert_data or self.client_cert_file):
            raise ConfigError("a client key is set but no client certificate: set client_cert_data or "
                              "client_cert_file")
        if self.insecure_skip_tls_verify and (self.ca_data or self.ca_file):
            # client-go refuses the same combination: it is almost always a mistake
            raise ConfigError("insecure_skip_tls_verify cannot be combined with a certificate authority "
                              "(ca_data/ca_file): drop one of them")

    @property
    def uses_tls(self) -> bool:
        return urllib.parse.urlsplit(self.server).scheme == "https"

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: the cluster CA (or the system roots), the client certificate if any."""
        if self.insecure_skip_tls_verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            try:
                if self.ca_data:
                    context = ssl.create_default_context(cadata=self.ca_data.decode("ascii", "replace"))
                elif self.ca_file:
                    context = ssl.create_default_context(cafile=self.ca_file)
                else:
                    context = ssl.create_default_context()
            except (ssl.SSLError, OSError) as exc:
                source = "ca_data" if self.ca_data else f"ca_file {self.ca_file}"
                raise ConfigError(f"the certificate authority in {source} could not be loaded: {exc}")
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert_data or self.client_cert_file:
            self._load_client_certificate(context)
        return context

    def _load_client_certificate(self, context: ssl.SSLContext) -> None:
        # The ssl module only loads key pairs from files, so in-memory PEM goes through a private
        # directory (mode 0700) that exists only while loading.
        with tempfile.TemporaryDirectory(prefix="kubelite-client-") as tmp:
            cert_path = self.client_cert_file
            key_path = self.client_key_file
            if self.client_cert_data:
                cert_path = os.path.join(tmp, "client.crt")
                _write_private(cert_path, self.client_cert_data)
            if self.client_key_data:
                key_path = os.path.join(tmp, "client.key")
                _write_private(key_path, self.client_key_data)
            assert cert_path is not None and key_path is not None  # guaranteed by __post_init__
            try:
                context.load_cert_chain(cert_path, key_path)
            except (ssl.SSLError, OSError) as exc:
                raise ConfigError(f"the client certificate and key could not be loaded "
                                  f"(certificate {'data' if self.client_cert_data else cert_path}, "
                                  f"key {'data' if self.client_key_data else key_path}): {exc}")

    def authorization(self) -> str | None:
        """The Authorization header value, or None for certificate-only or anonymous access."""
        token = self.bearer_token()
        if token:
            return f"Bearer {token}"
        if self.username is not None and self.password is not None:
            raw = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    def bearer_token(self) -> str | None:
        """The token, re-reading ``token_file`` when the cached copy is older than a minute."""
        if self.token:
            return self.token
        if not self.token_file:
            return None
        now = time.monotonic()
        if self._token_cache is not None and now - self._token_cache[0] < TOKEN_FILE_CACHE_SECONDS:
            return self._token_cache[1]
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            if self._token_cache is not None:
                # keep using the last good token: a rotation may be replacing the file right now
                return self._token_cache[1]
            raise ConfigError(f"the bearer token file {self.token_file} could not be read: {exc.strerror or exc}")
        self._token_cache = (now, token)
        return token


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _check_server_url(server: str, *, where: str) -> None:
    parsed = urllib.parse.urlsplit(server)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ConfigError(f"{where}: {server!r} is not an absolute http(s) URL such as https://127.0.0.1:6443")
    try:
        _ = parsed.port
    except ValueError:
        raise ConfigError(f"{where}: {server!r} has an invalid port")


# ---- kubeconfig ------------------------------------------------------------------------------------


def load_kubeconfig(path: str | os.PathLike[str], *, context: str | None = None) -> ClientConfig:
    """Resolve ``context`` (default: the file's current-context) of the kubeconfig at ``path``."""
    file = Path(path)
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise ConfigError(f"kubeconfig {file}: no such file")
    except OSError as exc:
        raise ConfigError(f"kubeconfig {file}: cannot be read: {exc.strerror or exc}")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {file}: not valid YAML: {exc}")
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {file}: must be a YAML mapping with clusters, users and contexts")
    return _resolve(doc, file=file, context=context)


def _named_entries(doc: Mapping[str, Any], section: str, inner: str, *, file: Path) -> dict[str, dict[str, Any]]:
    raw = doc.get(section) or []
    if not isinstance(raw, list):
        raise ConfigError(f"kubeconfig {file}: {section} must be a list")
    entries: dict[str, dict[str, Any]] = {}
    for position, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"kubeconfig {file}: {section}[{position}] needs a name")
        body = entry.get(inner) or {}
        if not isinstance(body, dict):
            raise ConfigError(f"kubeconfig {file}: {section}[name={entry['name']}].{inner} must be a mapping")
        entries[entry["name"]] = body
    return entries


def _resolve(doc: Mapping[str, Any], *, file: Path, context: str | None) -> ClientConfig:
    contexts = _named_entries(doc, "contexts", "context", file=file)
    clusters = _named_entries(doc, "clusters", "cluster", file=file)
    users = _named_entries(doc, "users", "user", file=file)
    name = context or doc.get("current-context") or ""
    if not name:
        raise ConfigError(f"kubeconfig {file}: no context given and current-context is not set; "
                          f"contexts: {_listing(contexts)}")
    if name not in contexts:
        raise ConfigError(f'kubeconfig {file}: context "{name}" not found; contexts: {_listing(contexts)}')
    ctx = contexts[name]
    cluster_name = ctx.get("cluster") or ""
    if cluster_name not in clusters:
        raise ConfigError(f'kubeconfig {file}: context "{name}" refers to cluster "{cluster_name}", which is '
                          f"not defined; clusters: {_listing(clusters)}")
    cluster = clusters[cluster_name]
    user_name = ctx.get("user") or ""
    if user_name and user_name not in users:
        raise ConfigError(f'kubeconfig {file}: context "{name}" refers to user "{user_name}", which is not '
                          f"defined; users: {_listing(users)}")
    user = users.get(user_name, {})
    base = file.parent
    cluster_where = f'kubeconfig {file}: clusters[name={cluster_name}].cluster'
    user_where = f'kubeconfig {file}: users[name={user_name}].user'

    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f"{cluster_where}.server is missing: it must be the API server URL, "
                          "e.g. https://127.0.0.1:6443")
    _check_server_url(server, where=f"{cluster_where}.server")
    for unsupported in ("exec", "auth-provider"):
        if user.get(unsupported):
            raise ConfigError(f"{user_where}.{unsupported}: credential plugins are not supported by "
                              "kubelite's client; use a client certificate or a token")
    try:
        return ClientConfig(
            server=server.rstrip("/"),
            ca_data=_data(cluster, "certificate-authority-data", where=cluster_where),
            ca_file=_path(cluster, "certificate-authority", base),
            client_cert_data=_data(user, "client-certificate-data", where=user_where),
            client_cert_file=_path(user, "client-certificate", base),
            client_key_data=_data(user, "client-key-data", where=user_where),
            client_key_file=_path(user, "client-key", base),
            token=_text(user, "token", where=user_where),
            token_file=_path(user, "tokenFile", base),
            username=_text(user, "username", where=user_where),
            password=_text(user, "password", where=user_where),
            insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
            tls_server_name=_text(cluster, "tls-server-name", where=cluster_where),
            namespace=str(ctx.get("namespace") or "default"),
        )
    except ConfigError as exc:
        raise ConfigError(f'kubeconfig {file}, context "{name}": {exc}')


def _listing(entries: Mapping[str, object]) -> str:
    return ", ".join(sorted(entries)) or "(none)"


def _data(section: Mapping[str, Any], key: str, *, where: str) -> bytes | None:
    value = section.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}.{key} is not valid base64")


def _path(section: Mapping[str, Any], key: str, base: Path) -> str | None:
    value = section.get(key)
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else base / path)


def _text(section: Mapping[str, Any], key: str, *, where: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string")
    return value


def default_kubeconfig_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``, as kubectl looks them up."""
    env = os.environ if environ is None else environ
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return Path(listed[0])
    return Path(env.get("HOME") or Path.home()) / ".kube" / "config"


# ---- in-cluster ------------------------------------------------------------------------------------


def in_cluster_config(*, environ: Mapping[str, str] | None = None,
                      service_account_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """The config of a pod: the API server from the environment, the mounted ServiceAccount credentials."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError("unable to load in-cluster configuration: KUBERNETES_SERVICE_HOST and "
                          "KUBERNETES_SERVICE_PORT must be defined (this process is not running in a pod)")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"KUBERNETES_SERVICE_PORT: {port!r} is not a port number (1-65535)")
    sa_dir = Path(service_account_dir)
    token_path, ca_path = sa_dir / "token", sa_dir / "ca.crt"
    try:
        token = token_path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"unable to load in-cluster configuration: the ServiceAccount token {token_path} "
                          f"cannot be read: {exc.strerror or exc}")
    if not token:
        raise ConfigError(f"unable to load in-cluster configuration: the ServiceAccount token {token_path} "
                          "is empty")
    if not ca_path.is_file():
        raise ConfigError(f"unable to load in-cluster configuration: the cluster CA {ca_path} does not exist")
    namespace = "default"
    with contextlib.suppress(OSError):
        namespace = (sa_dir / "namespace").read_text().strip() or "default"
    config = ClientConfig(server=f"https://{_join_host(host)}:{port}", ca_file=str(ca_path),
                          token_file=str(token_path), namespace=namespace)
    # prime the cache with what we just read so the first request does not read the file again
    config._token_cache = (time.monotonic(), token)
    return config


def _join_host(host: str) -> str:
    """IPv6 literals need brackets in a URL (Go's net.JoinHostPort)."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host
