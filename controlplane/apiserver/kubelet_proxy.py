"""The API server's way to a node's kubelet: pods/log, pods/exec, pods/attach, pods/portforward, nodes/proxy.

Design
------
Upstream's connect subresources (pkg/registry/core/pod/strategy.go LogLocation/streamLocation, the
UpgradeAwareProxyHandler). Every request first resolves what it names, with upstream's errors:

* the pod (404 ``pods "x" not found``); for log/exec/attach the container: empty picks the pod's only
  container, else 400 ``a container name must be specified for pod P, choose one of: [a b]``; an unknown
  name is 400 ``container X is not valid for pod P`` (init and ephemeral containers count);
* the node: ``spec.nodeName`` (exec/attach/port-forward without one are 400 ``pod P does not have a host
  assigned``; logs of an unscheduled pod are empty, as upstream), then the Node's address
  (InternalIP, else ExternalIP, else Hostname) and ``status.daemonEndpoints.kubeletEndpoint.Port``
  (10250 when unset);
* the kubelet URL, with the query rebuilt from the parsed options as upstream's streamParams does
  (``stdin=1``, ``command=...``, ``port=80,443``): nothing of the client's query is passed on unparsed.

Then it connects with the API server's kubelet client certificate (``CN=kube-apiserver-kubelet-client``,
``O=system:masters``). Logs are streamed chunk by chunk (``-f`` follows for as long as the kubelet
sends); exec, attach and port-forward are upgrades proxied byte for byte (:mod:`kubelite.upgradeaware`),
so whatever stream protocol kubectl and the kubelet agree on passes through. A kubelet error becomes a
Status with the kubelet's code and its text as the message, as upstream's response checker does. The
kubelet's serving certificate is not verified (upstream without --kubelet-certificate-authority).

Handlers record ``verb``/``resource``/``subresource``/``namespace``/``name`` on the request for the
metrics and authorization layers, with upstream's verb mapping for connect requests (GET→get,
POST→create, ...).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from kubelite.api.validation import FieldError
from kubelite.api.validation import Path as FieldPath
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.registry import Registry
from kubelite.controlplane.apiserver.resources import ResourceTable
from kubelite.controlplane.auth.pki import KEY_MODE, ClusterPKI, write_file_atomically
from kubelite.upgradeaware import UpgradeError, is_upgrade_request, proxy_upgrade, upstream_from_url

__all__ = ["KubeletProxy", "ensure_kubelet_client_certificate"]

Obj = dict[str, Any]
DEFAULT_KUBELET_PORT: Final = 10250
ADDRESS_PREFERENCE: Final = ("InternalIP", "ExternalIP", "Hostname")
CONNECT_VERBS: Final = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                        "DELETE": "delete", "OPTIONS": "options"}
REASONS: Final = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                  409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
                  503: "ServiceUnavailable", 504: "Timeout"}
POD_SUBRESOURCES: Final = ("log", "exec", "attach", "portforward")
KUBELET_CLIENT_CN: Final = "kube-apiserver-kubelet-client"
KUBELET_CLIENT_GROUPS: Final = ("system:masters",)
KUBELET_CLIENT_CERT: Final = "client-kube-apiserver-kubelet.crt"
KUBELET_CLIENT_KEY: Final = "client-kube-apiserver-kubelet.key"
RENEW_BEFORE: Final = dt.timedelta(days=90)


def ensure_kubelet_client_certificate(pki: ClusterPKI, *, now: dt.datetime | None = None) -> tuple[Path, Path]:
    """The API server's client certificate for kubelets, issued by the client CA when missing or stale.

    Kept beside the PKI (``client-kube-apiserver-kubelet.{crt,key}``); re-issued with a new key when it
    is not the client CA's, names another subject, or expires within 90 days.
    """
    moment = now or dt.datetime.now(dt.UTC)
    cert_path, key_path = pki.tls_dir / KUBELET_CLIENT_CERT, pki.tls_dir / KUBELET_CLIENT_KEY
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.client_ca_pem()))
            names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            if (names and names[0].value == KUBELET_CLIENT_CN
                    and cert.not_valid_after_utc - moment > RENEW_BEFORE):
                return cert_path, key_path
        except (ValueError, TypeError, InvalidSignature):
            pass
    cert_pem, key_pem = pki.issue_client_cert(common_name=KUBELET_CLIENT_CN, organizations=KUBELET_CLIENT_GROUPS,
                                              now=moment)
    write_file_atomically(key_path, key_pem, mode=KEY_MODE)
    write_file_atomically(cert_path, cert_pem, mode=0o644)
    return cert_path, key_path


def _bool(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


def _int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer')


def container_names(pod: Obj) -> list[str]:
    """Init containers, containers, ephemeral containers: upstream's VisitContainers order."""
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or ()]


def validate_container(container: str, pod: Obj) -> str:
    """The container a request means, or upstream's 400 (strategy.go validateContainer)."""
    name = pod["metadata"]["name"]
    if not container:
        containers = (pod.get("spec") or {}).get("containers") or []
        if len(containers) == 1:
            return str(containers[0]["name"])
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(container_names(pod))}]")
    if container not in container_names(pod):
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def log_params(query: Any, name: str) -> dict[str, str]:
    """PodLogOptions from the query, validated as upstream's ValidatePodLogOptions; the kubelet's query."""
    tail, limit, since_seconds = (_int_param(query, n) for n in ("tailLines", "limitBytes", "sinceSeconds"))
    since_time = query.get("sinceTime") or None
    problems: list[FieldError] = []
    if tail is not None and tail < 0:
        problems.append(FieldError.invalid(FieldPath("tailLines"), tail, "must be greater than or equal to 0"))
    if limit is not None and limit < 1:
        problems.append(FieldError.invalid(FieldPath("limitBytes"), limit, "must be greater than 0"))
    if since_seconds is not None and since_time is not None:
        problems.append(FieldError.forbidden(None, "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif since_seconds is not None and since_seconds < 1:
        problems.append(FieldError.invalid(FieldPath("sinceSeconds"), since_seconds, "must be greater than 0"))
    stream = query.get("stream")
    if stream is not None and stream not in ("All", "Stdout", "Stderr"):
        problems.append(FieldError.not_supported(FieldPath("stream"), stream, ["All", "Stdout", "Stderr"]))
    if problems:
        raise errors.invalid("PodLogOptions", "", name, problems)
    params: dict[str, str] = {}
    for flag in ("follow", "previous", "timestamps"):
        if _bool(query.get(flag)):
            params[flag] = "true"
    for key, number in (("sinceSeconds", since_seconds), ("tailLines", tail), ("limitBytes", limit)):
        if number is not None:
            params[key] = str(number)
    if since_time is not None:
        params["sinceTime"] = since_time
    if stream is not None:
        params["stream"] = stream
    return params


def stream_params(query: Any, subresource: str) -> list[tuple[str, str]]:
    """Upstream's streamParams: the kubelet query of an exec, attach or port-forward."""
    params: list[tuple[str, str]] = []
    if subresource in ("exec", "attach"):
        for flag in ("stdin", "stdout", "stderr", "tty"):
            if _bool(query.get(flag)):
                params.append((flag, "1"))
        if subresource == "exec":
            params += [("command", c) for c in query.getall("command", [])]
    else:
        ports: list[str] = []
        for raw in query.getall("ports", []):
            for part in raw.split(","):
                if not part.strip().isdigit() or not 1 <= int(part) <= 65535:
                    raise errors.bad_request(f'ports: Invalid value: "{part}": must be a port number in 1-65535')
                ports.append(str(int(part)))
        if ports:
            params.append(("port", ",".join(ports)))
    return params


def kubelet_address(node: Obj) -> tuple[str, int]:
    """(host, port) of the node's kubelet from its status."""
    found = kubelet_endpoint(node)
    if found is None:
        raise errors.bad_request(f"node {node['metadata']['name']} has no address in status.addresses")
    return found


def kubelet_endpoint(node: Obj) -> tuple[str, int] | None:
    """``kubelet_address``, or None when the node has no address yet."""
    status = node.get("status") or {}
    listed = status.get("addresses")
    if not listed:
        return None
    addresses = {a.get("type"): a.get("address") for a in listed if a.get("address")}
    host = next((addresses[t] for t in ADDRESS_PREFERENCE if addresses.get(t)), "")
    if not host:
        return None
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
    return host, int(port)


def _join_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _status_from_kubelet(code: int, body: bytes) -> errors.APIError:
    text = body.decode("utf-8", "replace").strip()
    with contextlib.suppress(ValueError):
        decoded = orjson.loads(body)
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            return errors.APIError(int(decoded.get("code") or code),
                                   str(decoded.get("reason") or REASONS.get(code, "")),
                                   str(decoded.get("message") or text), decoded.get("details"))
    return errors.APIError(code, REASONS.get(code, "InternalError" if code >= 500 else "BadRequest"),
                           text or f"the kubelet answered {code}")


def _dial_error(message: str) -> errors.APIError:
    # upstream's responder turns a plain error into a 500 Status with reason "" (StatusReasonUnknown):
    # kubectl prints "Error from server: error dialing backend: ..."
    return errors.APIError(500, "", message)


class KubeletProxy:
    """Routes for the kubelet-backed subresources; ``add_routes`` registers them before the generic ones."""

    def __init__(self, *, registry: Registry, table: ResourceTable, client_cert: Path | None = None,
                 client_key: Path | None = None, connect_timeout: float = 10.0) -> None:
        self.registry = registry
        self.table = table
        self.connect_timeout = connect_timeout
        context = ssl.create_default_context()
        # Upstream verifies the kubelet's serving certificate only with --kubelet-certificate-authority.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if client_cert is not None and client_key is not None:
            context.load_cert_chain(str(client_cert), str(client_key))
        self.ssl = context

    @staticmethod
    def may_claim(path: str) -> bool:
        """Whether ``add_routes``' routes could match ``path`` (True for some they do not: the lean HTTP
        edge hands those to aiohttp's router, which decides)."""
        return path.rpartition("/")[2] in POD_SUBRESOURCES or "/proxy" in path

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # one route for the four: the router tries each route under /api/v1/namespaces on every namespaced
        # request (a create, a binding ...) before it reaches the generic ones
        subresources = "|".join(POD_SUBRESOURCES)
        router.add_route("*", f"/api/v1/namespaces/{{namespace}}/pods/{{name}}/{{subresource:{subresources}}}",
                         self.pod_subresource)
        router.add_route("*", "/api/v1/nodes/{name}/proxy", self.node_proxy)
        router.add_route("*", "/api/v1/nodes/{name}/proxy/{path:.*}", self.node_proxy)

    def _record(self, request: web.Request, *, resource: str, subresource: str, namespace: str, name: str) -> None:
        request["resource"] = resource
        request["subresource"] = subresource
        request["namespace"] = namespace
        request["name"] = name
        request["verb"] = CONNECT_VERBS.get(request.method, request.method.lower())

    async def _get(self, plural: str, namespace: str | None, name: str) -> Obj:
        info = self.table.get("", "v1", plural)
        assert info is not None
        return await self.registry.get(info, namespace, name)

    async def _kubelet(self, node_name: str) -> tuple[str, int]:
        return kubelet_address(await self._get("nodes", None, node_name))

    # ---- pods/* ---------------------------------------------------------------------------------

    async def pod_subresource(self, request: web.Request) -> web.StreamResponse:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        subresource = request.path.rsplit("/", 1)[1]
        self._record(request, resource="pods", subresource=subresource, namespace=namespace, name=name)
        allowed = ("GET",) if subresource == "log" else ("GET", "POST")
        if request.method not in allowed:
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                            f"({request.method} pods/{subresource})")
        query = request.query
        if subresource == "log":
            params = log_params(query, name)  # option errors come before the lookup, as upstream
            pod = await self._get("pods", namespace, name)
            container = validate_container(query.get("container", ""), pod)
            node_name = (pod.get("spec") or {}).get("nodeName", "")
            if not node_name:
                return web.Response(body=b"", content_type="text/plain")
            host, port = await self._kubelet(node_name)
            url = (f"https://{_join_host(host, port)}/containerLogs/{namespace}/{name}/{container}"
                   + (f"?{urlencode(params)}" if params else ""))
            return await self._stream_logs(request, url)
        pod = await self._get("pods", namespace, name)
        path = f"/portForward/{namespace}/{name}"
        if subresource != "portforward":
            container = validate_container(query.get("container", ""), pod)
            path = f"/{subresource}/{namespace}/{name}/{container}"
        stream_query = stream_params(query, subresource)
        node_name = (pod.get("spec") or {}).get("nodeName", "")
        if not node_name:
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        if not is_upgrade_request(request):
            raise errors.bad_request("Upgrade request required")
        host, port = await self._kubelet(node_name)
        url = f"https://{_join_host(host, port)}{path}" + (f"?{urlencode(stream_query)}" if stream_query else "")
        return await self._upgrade(request, url)

    async def _stream_logs(self, request: web.Request, url: str) -> web.StreamResponse:
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(url, ssl=self.ssl)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise _dial_error(f"error dialing backend: {exc or type(exc).__name__}")
            async with upstream:
                if upstream.status != 200:
                    raise _status_from_kubelet(upstream.status, await upstream.content.read(64 * 1024))
                response = web.StreamResponse(headers={"Content-Type": "text/plain"})
                response.enable_chunked_encoding()
                await response.prepare(request)
                with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                await response.write_eof()
                return response

    async def _upgrade(self, request: web.Request, url: str) -> web.StreamResponse:
        try:
            return await proxy_upgrade(request=request, upstream=upstream_from_url(url, ssl_context=self.ssl),
                                       connect_timeout=self.connect_timeout)
        except UpgradeError as exc:
            raise _dial_error(f"error dialing backend: {exc}")

    # ---- nodes/proxy ----------------------------------------------------------------------------

    async def node_proxy(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self._record(request, resource="nodes", subresource="proxy", namespace="", name=name)
        host, port = await self._kubelet(name)
        # the raw (still percent-encoded) remainder after .../proxy: it goes onto a request line
        raw = request.rel_url.raw_path
        path = raw[raw.find("/proxy", len("/api/v1/nodes/")) + len("/proxy"):] or "/"
        query = request.rel_url.raw_query_string  # still percent-encoded: it goes onto a request line
        url = f"https://{_join_host(host, port)}{path}" + (f"?{query}" if query else "")
        if is_upgrade_request(request):
            return await self._upgrade(request, url)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout)
        body = await request.read() if request.can_read_body else None
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("accept", "content-type")}
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.request(request.method, url, data=body, headers=headers, ssl=self.ssl,
                                                 allow_redirects=False)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise _dial_error(f"error dialing backend: {exc or type(exc).__name__}")
            async with upstream:
                response = web.StreamResponse(status=upstream.status, headers={
                    "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream")})
                response.enable_chunked_encoding()
                await response.prepare(request)
                with contextlib.suppress(aiohttp.ClientError, ConnectionError):
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                await response.write_eof()
                return response
