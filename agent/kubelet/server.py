"""The kubelet's HTTPS server (port 10250): logs, exec, attach, port-forward, stats, metrics, health.

Design
------
Upstream's kubelet server, on aiohttp. The API server is its main client: ``kubectl logs|exec|attach|
port-forward|cp`` reach it through pods/log, pods/exec, pods/attach and pods/portforward, and
``kubectl get --raw /api/v1/nodes/N/proxy/...`` through nodes/proxy.

* Containers are found in the runtime, not in kubelet memory: CRI ListContainers filtered by the labels
  every kubelet puts on its containers (``io.kubernetes.pod.namespace|name``,
  ``io.kubernetes.container.name``). When several pods of one name exist (a deleted pod's containers not
  yet removed), the pod UID with the newest container wins; the newest attempt is the current container
  and the one before it the ``previous`` one.
* ``/containerLogs/{ns}/{pod}/{container}`` reads the CRI log file CRI ContainerStatus names
  (:mod:`streaming_logs`) and streams it chunked, following until the container stops.
* ``/exec``, ``/attach`` and ``/portForward`` ask the runtime for a streaming URL (CRI Exec, Attach,
  PortForward) and serve the client's upgrade against it (:mod:`streaming`).
* ``/stats/summary`` (the Summary API) and ``/metrics/resource`` (what metrics-server scrapes) come from
  :mod:`stats`: node, pods, containers and volumes from the runtime, cgroups and the file systems.
* Every request passes an authorizer first (upstream maps the path to ``nodes/{proxy,log,stats,metrics}``
  and the HTTP method to a verb, see :func:`request_attributes`): ``run_kubelet_server`` uses
  :class:`~kubelite.agent.kubelet.auth.KubeletAuthorizer` (client certificate from the cluster's client CA
  plus a SubjectAccessReview) when the client CA is beside the node credentials, else allows all.
* Serving certificate: a self-signed ECDSA certificate for the node's names and addresses kept under
  ``<agent dir>/kubelet/pki`` (the upstream kubelet's default without --tls-cert-file); re-issued when
  missing, expiring or not covering the node's current names. The API server does not verify it, as
  upstream's does not without --kubelet-certificate-authority.

Errors are plain text with upstream's status codes and messages; the API server turns them into Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet import streaming
from kubelite.agent.kubelet.auth import KubeletAuthorizer
from kubelite.agent.kubelet.stats import StatsProvider, render_resource_metrics
from kubelite.agent.kubelet.streaming_logs import LogOptions, parse_timestamp, read_logs
from kubelite.client import APIClient
from kubelite.cri import api_pb2
from kubelite.cri.client import CriError, CriNotFound, RuntimeClient
from kubelite.upgradeaware import is_upgrade_request

__all__ = ["KubeletServer", "RequestAttributes", "authorize", "ensure_serving_certificate", "request_attributes",
           "run_kubelet_server"]

log = logging.getLogger(__name__)

POD_NAME_LABEL: Final = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL: Final = "io.kubernetes.pod.namespace"
POD_UID_LABEL: Final = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL: Final = "io.kubernetes.container.name"
CERT_VALIDITY: Final = dt.timedelta(days=365)
CERT_RENEW_BEFORE: Final = dt.timedelta(days=30)


class KubeletError(Exception):
    """An error a client sees: ``status`` is the HTTP code, ``str()`` the plain-text body."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ---- authentication / authorization hook -----------------------------------------------------------
# (the real one is kubelite.agent.kubelet.auth.KubeletAuthorizer, chosen by run_kubelet_server)


@dataclass(frozen=True)
class RequestAttributes:
    """What a request does, as upstream's kubelet authorizer names it: ``verb`` on ``nodes/<subresource>``."""

    verb: str
    subresource: str
    node_name: str
    path: str


_VERBS: Final = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}


def request_attributes(request: web.Request, node_name: str) -> RequestAttributes:
    """Map a request to authorizer attributes as upstream's kubelet (server/auth.go) does."""
    path = request.path
    subresource = "proxy"
    for prefix, name in (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/spec", "spec"),
                         ("/pods", "pods")):
        if path == prefix or path.startswith(prefix + "/"):
            subresource = name
            break
    return RequestAttributes(_VERBS.get(request.method, request.method.lower()), subresource, node_name, path)


Authorizer = Callable[[web.Request, RequestAttributes], Awaitable[None]]


async def authorize(request: web.Request, attributes: RequestAttributes) -> None:
    """The kubelet's authentication and authorization hook: raise ``KubeletError(..., status=401|403)``.

    Allows every request for now. The security work replaces it (``run_kubelet_server(authorizer=...)``)
    with a client-certificate check against the cluster's client CA plus a SubjectAccessReview for
    ``attributes`` (``/healthz`` stays open, as upstream).
    """
    return None


# ---- serving certificate ----------------------------------------------------------------------------


def _node_sans(config: AgentConfig) -> tuple[list[str], list[str]]:
    names = sorted({config.node_name, socket.gethostname(), "localhost"} - {""})
    ips = sorted({"127.0.0.1", *([config.node_ip] if config.node_ip else [])})
    return names, ips


def ensure_serving_certificate(*, config: AgentConfig, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """The kubelet's serving certificate and key files, (re-)issued self-signed when needed."""
    moment = now or dt.datetime.now(dt.UTC)
    pki = config.agent_dir / "kubelet" / "pki"
    pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = pki / "kubelet.crt", pki / "kubelet.key"
    names, ips = _node_sans(config)
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            covered = (set(names) <= set(sans.get_values_for_type(x509.DNSName))
                       and {ipaddress.ip_address(i) for i in ips} <= set(sans.get_values_for_type(x509.IPAddress)))
            if covered and cert.not_valid_after_utc - moment > CERT_RENEW_BEFORE:
                return cert_path, key_path
        except (ValueError, x509.ExtensionNotFound):
            log.warning("kubelet serving certificate %s is unreadable; issuing a new one", cert_path)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{config.node_name}@{int(moment.timestamp())}")])
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - dt.timedelta(hours=1)).not_valid_after(moment + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]),
            critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_tmp, cert_tmp = key_path.with_suffix(".key.tmp"), cert_path.with_suffix(".crt.tmp")
    key_tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    key_tmp.chmod(0o600)
    cert_tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_tmp.replace(key_path)
    cert_tmp.replace(cert_path)
    return cert_path, key_path


# ---- the server ---------------------------------------------------------------------------------------


def _query_int(query: Any, name: str, *, minimum: int) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise KubeletError(f"{name}: invalid value {value!r}: must be an integer")
    if number < minimum:
        raise KubeletError(f"{name}: invalid value {number}: must be greater than or equal to {minimum}")
    return number


def _query_bool(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("true", "1")


def log_options(query: Any, *, now: dt.datetime | None = None) -> LogOptions:
    """PodLogOptions from a query string, validated as upstream (ValidatePodLogOptions)."""
    tail = _query_int(query, "tailLines", minimum=0)
    limit = _query_int(query, "limitBytes", minimum=1)
    since_seconds = _query_int(query, "sinceSeconds", minimum=1)
    since_time = query.get("sinceTime") or None
    if since_seconds is not None and since_time is not None:
        raise KubeletError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: dt.datetime | None = None
    if since_seconds is not None:
        since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=since_seconds)
    elif since_time is not None:
        try:
            since = parse_timestamp(since_time)
        except ValueError as exc:
            raise KubeletError(f"sinceTime: {exc}")
    stream = query.get("stream") or "All"
    if stream not in ("All", "Stdout", "Stderr", "stdout", "stderr"):
        raise KubeletError(f'stream: Unsupported value: "{stream}": supported values: "All", "Stdout", "Stderr"')
    return LogOptions(follow=_query_bool(query, "follow"), tail_lines=tail, since=since,
                      timestamps=_query_bool(query, "timestamps"), limit_bytes=limit,
                      stream=stream.lower() if stream != "All" else "All")


class KubeletServer:
    """Request handlers over one runtime connection; ``app()`` builds the aiohttp application."""

    def __init__(self, *, config: AgentConfig, runtime: RuntimeClient, client: APIClient | None,
                 authorizer: Authorizer = authorize) -> None:
        self.config = config
        self.runtime = runtime
        self.client = client
        self.authorizer = authorizer
        self.metrics = CollectorRegistry()
        self.requests = Counter("kubelet_http_requests", "HTTP requests served by the kubelet, by path and code",
                                ["path", "code"], registry=self.metrics)
        self.running_pods = Gauge("kubelet_running_pods", "Number of pods with a running sandbox",
                                  registry=self.metrics)
        self.running_containers = Gauge("kubelet_running_containers", "Number of containers by state",
                                        ["container_state"], registry=self.metrics)
        self.stats = StatsProvider(config=config, runtime=runtime)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._edge])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        for verb in ("exec", "attach"):
            app.router.add_route("*", f"/{verb}/{{namespace}}/{{pod}}/{{container}}", self.remote_command)
            app.router.add_route("*", f"/{verb}/{{namespace}}/{{pod}}/{{uid}}/{{container}}", self.remote_command)
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self.port_forward)
        app.router.add_route("*", "/portForward/{namespace}/{pod}/{uid}", self.port_forward)
        app.router.add_get("/stats/summary", self.stats_summary)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/metrics/resource", self.resource_metrics)
        return app

    @web.middleware
    async def _edge(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            if request.path != "/healthz":
                await self.authorizer(request, request_attributes(request, self.config.node_name))
            response = await handler(request)
        except KubeletError as exc:
            response = web.Response(status=exc.status, text=str(exc) + "\n")
        except streaming.StreamRequestError as exc:
            response = web.Response(status=exc.status, text=str(exc) + "\n")
        except CriError as exc:
            response = web.Response(status=500, text=f"{exc}\n")
        except web.HTTPException as exc:
            response = web.Response(status=exc.status, text=f"{exc.reason}\n")
        route = request.match_info.route.resource
        self.requests.labels(route.canonical if route is not None else "-", str(response.status)).inc()
        return response

    # ---- containers -------------------------------------------------------------------------------

    async def _containers(self, namespace: str, pod: str, container: str, uid: str = "") -> list[api_pb2.Container]:
        """The containers named ``container`` of pod ``namespace/pod``, oldest first, newest pod UID only
        (or the pod UID ``uid`` when a request names one)."""
        labels = {POD_NAMESPACE_LABEL: namespace, POD_NAME_LABEL: pod, CONTAINER_NAME_LABEL: container}
        if uid:
            labels[POD_UID_LABEL] = uid
        found = list((await self.runtime.list_containers(
            filter=api_pb2.ContainerFilter(label_selector=labels))).containers)
        if not found:
            return []
        newest_uid = max(found, key=lambda c: c.created_at).labels.get(POD_UID_LABEL, "")
        mine = [c for c in found if c.labels.get(POD_UID_LABEL, "") == newest_uid]
        return sorted(mine, key=lambda c: (c.metadata.attempt, c.created_at))

    async def _pod_exists(self, namespace: str, pod: str) -> bool:
        sandboxes = await self.runtime.list_pod_sandbox(filter=api_pb2.PodSandboxFilter(
            label_selector={POD_NAMESPACE_LABEL: namespace, POD_NAME_LABEL: pod}))
        return bool(sandboxes.items)

    async def _waiting_reason(self, namespace: str, pod: str, container: str) -> str:
        """Why the container has not started, from the pod's status in the API (best effort)."""
        if self.client is None:
            return ""
        with contextlib.suppress(Exception):
            obj = await self.client.resource("", "v1", "pods").get(pod, namespace=namespace)
            for status in (*obj.get("status", {}).get("initContainerStatuses", ()),
                           *obj.get("status", {}).get("containerStatuses", ())):
                if status.get("name") == container:
                    return str(status.get("state", {}).get("waiting", {}).get("reason", ""))
        return ""

    async def _current(self, namespace: str, pod: str, container: str, *, previous: bool = False,
                       uid: str = "") -> api_pb2.Container:
        containers = await self._containers(namespace, pod, container, uid)
        if not containers:
            if not await self._pod_exists(namespace, pod):
                raise KubeletError(f'pod "{namespace}/{pod}" not found', status=404)
            reason = await self._waiting_reason(namespace, pod, container) or "ContainerCreating"
            raise KubeletError(f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
        if previous:
            if len(containers) < 2:
                raise KubeletError(f'previous terminated container "{container}" in pod "{pod}" not found')
            return containers[-2]
        return containers[-1]

    async def _running(self, namespace: str, pod: str, container: str, uid: str = "") -> api_pb2.Container:
        current = await self._current(namespace, pod, container, uid=uid)
        if current.state != api_pb2.CONTAINER_RUNNING:
            raise KubeletError(f'container "{container}" in pod "{pod}" is not running', status=400)
        return current

    # ---- handlers ---------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        options = log_options(request.query)
        container = await self._current(namespace, pod, name, previous=_query_bool(request.query, "previous"))
        status = (await self.runtime.container_status(container_id=container.id)).status
        path = Path(status.log_path)
        if not status.log_path or not path.exists():
            raise KubeletError(f'container "{name}" in pod "{pod}" has no log file', status=404)

        async def still_running() -> bool:
            with contextlib.suppress(CriError):
                current = (await self.runtime.container_status(container_id=container.id)).status
                return current.state == api_pb2.CONTAINER_RUNNING
            return False

        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            async for chunk in read_logs(path=path, options=options, still_running=still_running):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def remote_command(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        options = streaming.stream_options(request)
        if not is_upgrade_request(request):  # before asking the runtime for a session nobody would use
            raise KubeletError("Upgrade request required")
        verb = request.path.split("/", 2)[1]
        container = await self._running(namespace, pod, name, request.match_info.get("uid", ""))
        if verb == "exec":
            command = request.query.getall("command", [])
            if not command:
                raise KubeletError("you must specify at least one command for the container")
            url = (await self.runtime.exec(container_id=container.id, cmd=command, tty=options.tty,
                                           stdin=options.stdin, stdout=options.stdout,
                                           stderr=options.stderr)).url
        else:
            url = (await self.runtime.attach(container_id=container.id, stdin=options.stdin, tty=options.tty,
                                             stdout=options.stdout, stderr=options.stderr)).url
        return await streaming.serve_remote_command(request=request, url=url, options=options)

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        if not is_upgrade_request(request):
            raise KubeletError("Upgrade request required")
        labels = {POD_NAMESPACE_LABEL: namespace, POD_NAME_LABEL: pod}
        if uid := request.match_info.get("uid", ""):
            labels[POD_UID_LABEL] = uid
        sandboxes = (await self.runtime.list_pod_sandbox(filter=api_pb2.PodSandboxFilter(
            label_selector=labels))).items
        ready = sorted((s for s in sandboxes if s.state == api_pb2.SANDBOX_READY), key=lambda s: s.created_at)
        if not ready:
            raise KubeletError(f'pod "{namespace}/{pod}" not found' if not sandboxes
                               else f'pod "{namespace}/{pod}" has no running sandbox', status=404)
        ports = [int(p) for p in request.query.get("port", "").split(",") if p.strip().isdigit()]
        try:
            url = (await self.runtime.port_forward(pod_sandbox_id=ready[-1].id, port=ports)).url
        except CriNotFound:
            raise KubeletError(f'pod "{namespace}/{pod}" not found', status=404)
        return await streaming.serve_port_forward(request=request, url=url)

    # ---- stats and metrics ------------------------------------------------------------------------

    async def summary(self) -> dict[str, Any]:
        """The Summary API document (stats/v1alpha1 Summary) for this node (stats.py)."""
        return await self.stats.summary()

    async def stats_summary(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(await self.summary()), content_type="application/json")

    async def resource_metrics(self, request: web.Request) -> web.Response:
        """``/metrics/resource``: what metrics-server scrapes (stats.render_resource_metrics)."""
        try:
            text = render_resource_metrics(await self.summary())
        except CriError as err:
            log.warning("resource metrics: %s", err)
            text = render_resource_metrics({}, scrape_error=True)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def prometheus(self, request: web.Request) -> web.Response:
        with contextlib.suppress(CriError):
            sandboxes = (await self.runtime.list_pod_sandbox()).items
            self.running_pods.set(sum(1 for s in sandboxes if s.state == api_pb2.SANDBOX_READY))
            containers = (await self.runtime.list_containers()).containers
            for state, label in ((api_pb2.CONTAINER_RUNNING, "running"), (api_pb2.CONTAINER_EXITED, "exited"),
                                 (api_pb2.CONTAINER_CREATED, "created"), (api_pb2.CONTAINER_UNKNOWN, "unknown")):
                self.running_containers.labels(label).set(sum(1 for c in containers if c.state == state))
        return web.Response(body=generate_latest(self.metrics),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _rfc3339(nanoseconds: int) -> str:
    return dt.datetime.fromtimestamp(nanoseconds / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def start_kubelet_server(*, config: AgentConfig, runtime: RuntimeClient, client: APIClient | None,
                               authorizer: Authorizer = authorize, host: str = "0.0.0.0",
                               client_ca: Path | None = None) -> web.AppRunner:
    """Start listening on ``host:config.kubelet_port`` (HTTPS); the caller cleans the runner up.

    With ``client_ca`` (the cluster's client CA), client certificates signed by it are verified during
    the TLS handshake and offered to ``authorizer`` as the transport's ``peercert``; a client without
    one still connects (``/healthz`` is public), so the authorizer decides, as upstream's kubelet does.
    """
    cert, key = ensure_serving_certificate(config=config)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
    server = KubeletServer(config=config, runtime=runtime, client=client, authorizer=authorizer)
    runner = web.AppRunner(server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, config.kubelet_port, ssl_context=context, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    log.info("kubelet server listening on https://%s:%d", host, config.kubelet_port)
    return runner


async def run_kubelet_server(*, config: AgentConfig, runtime: RuntimeClient, client: APIClient,
                             authorizer: Authorizer = authorize, client_ca: Path | None = None) -> None:
    """Serve the kubelet API on ``config.kubelet_port`` until cancelled (see :func:`start_kubelet_server`).

    With the default hook and the cluster's client CA beside the node credentials
    (``<agent dir>/client-ca.crt``, written by the join and by ``kubelite server`` for its embedded agent),
    callers need a client certificate from that CA and a SubjectAccessReview allowing them
    (:class:`kubelite.agent.kubelet.auth.KubeletAuthorizer`), as upstream's kubelet with webhook auth.
    """
    if authorizer is authorize:
        found = client_ca or (config.agent_dir / "client-ca.crt")
        if found.is_file():
            client_ca = found
            authorizer = KubeletAuthorizer.for_client(client, error=lambda message, status: KubeletError(
                message, status=status))
        else:
            log.warning("kubelet server: no client CA at %s: the kubelet API is not authenticated", found)
    runner = await start_kubelet_server(config=config, runtime=runtime, client=client, authorizer=authorizer,
                                        client_ca=client_ca)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
