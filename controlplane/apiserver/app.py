"""The HTTP edge of the API server (aiohttp): parse, authenticate, call the registry, encode.

Handlers stay thin: they turn a request into plain values (``Target``, options, body dict), call the
typed core (``Registry``) and encode what it returns as JSON, a ``Table`` or a watch stream. Every
failure leaves as an upstream ``Status`` object; no traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import yaml
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, generate_latest

from kubelite import __version__
from kubelite.api import fields as field_selectors
from kubelite.api import labels as label_selectors
from kubelite.api import managed_fields, protobuf
from kubelite.controlplane.admission import chain as admission
from kubelite.controlplane.apiserver import discovery, errors, openapi_service, tables
from kubelite.controlplane.apiserver.kubelet_proxy import KubeletProxy
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions, WriteResult, copy_json
from kubelite.controlplane.apiserver.request import (
    EdgeRequest,
    Target,
    apply_patch,
    parse_path,
    path_parts,
    query_bool,
    query_int,
)
from kubelite.controlplane.apiserver.request_metrics import RequestMetrics
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable
from kubelite.controlplane.apiserver.watchcache import CacheEvent, Filter, TooNew, TooOld, WatchClosed
from kubelite.controlplane.auth import csr, impersonation
from kubelite.controlplane.auth.audit import AuditLog
from kubelite.controlplane.auth.authentication import AuthenticationError, Authenticator, UserInfo
from kubelite.controlplane.auth.authorization import Authorizers, Decision, forbidden_status, request_attributes
from kubelite.controlplane.auth.reviews import REVIEW_RESOURCES, ReviewError, Reviews
from kubelite.controlplane.auth.serviceaccount_token import ServiceAccountTokens, TokenRequestError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = TypeVar("R", bound=EdgeRequest)

MAX_BODY_BYTES = 3 * 1024 * 1024  # upstream's default request body limit
KUBERNETES_VERSION = (1, 32, 0)
# anonymous callers reach only these (/cacerts: the server CA, which a joining agent checks against its
# token's hash before trusting it, as k3s serves it)
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/cacerts"})
BOOKMARK_INTERVAL = 30.0
# at most this many watch events are joined into one write
WATCH_BATCH = 256

_MAJOR, _MINOR, _PATCH = KUBERNETES_VERSION
# /version never changes while the server runs: encoded once
VERSION_BODY = orjson.dumps({
    "major": str(_MAJOR), "minor": str(_MINOR), "gitVersion": f"v{_MAJOR}.{_MINOR}.{_PATCH}+kubelite.{__version__}",
    "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
    "goVersion": "python3", "compiler": "cpython", "platform": "linux/amd64"})

# the answer to a pods/binding or an eviction that succeeds (upstream's Status); encoded once
CREATED_STATUS = orjson.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "code": 201})

# the methods the lean HTTP edge serves (``APIServer.lean_handler``)
LEAN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

JSON_TYPES = ("application/json", "")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")


User = UserInfo  # the authenticated caller (controlplane.auth.authentication)

# per-request memos keyed by what a client sends (User-Agent, Accept, query options): each maps a value to
# what a pure function makes of it; a map that reaches this size starts again, so odd clients cannot grow it
MEMO_SIZE = 1024

# the representations ``render``/``list``/``watch`` choose by the Accept header
PLAIN, TABLE, PARTIAL_METADATA = 0, 1, 2


def warning_header(warnings: list[str]) -> str:
    """RFC 7234 warn-values as upstream sends them: code 299, agent '-', quoted text."""
    return ", ".join('299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings)


# the header sets of json_response, one per content type (a handful: JSON and the discovery media types);
# aiohttp copies the headers it is given, so a response never shares or changes these
_JSON_HEADERS: dict[str, CIMultiDict[str]] = {"application/json": CIMultiDict({"Content-Type": "application/json"})}


def json_response(body: Obj, status: int = 200, *, content_type: str = "application/json",
                  warnings: list[str] | None = None) -> web.Response:
    headers = _JSON_HEADERS.get(content_type)
    if headers is None:
        headers = _JSON_HEADERS[content_type] = CIMultiDict({"Content-Type": content_type})
    if warnings:
        headers = headers.copy()
        headers["Warning"] = warning_header(warnings)
    return web.Response(body=orjson.dumps(body), status=status, headers=headers)


def status_response(error: errors.APIError) -> web.Response:
    return json_response(error.status(), error.code)


def wants_table(accept: str) -> bool:
    for part in accept.split(","):
        params = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
        if part.strip().split(";")[0] in ("application/json", "*/*", "application/*"):
            return False
    return False


def wants_partial_metadata(accept: str) -> bool:
    return "as=PartialObjectMetadata" in accept


def representation(accept: str) -> int:
    """TABLE, PARTIAL_METADATA or PLAIN for an Accept header (a Table wins, as in ``render``)."""
    if wants_table(accept):
        return TABLE
    if wants_partial_metadata(accept):
        return PARTIAL_METADATA
    return PLAIN


class APIServer:
    def __init__(self, *, registry: Registry, table: ResourceTable, advertise_address: str,
                 authenticator: Authenticator | None = None, authorizer: Authorizers | None = None,
                 service_account_tokens: ServiceAccountTokens | None = None, ca_pem: bytes = b"",
                 client_ca_pem: bytes = b"", audit_log: AuditLog | None = None,
                 openapi: Any = None) -> None:
        self.registry = registry
        self.table = table
        self.advertise_address = advertise_address
        # without an authorizer every authenticated caller may do everything (unit tests, old callers)
        self.authenticator = authenticator if authenticator is not None else Authenticator()
        self.authorizer = authorizer
        self.reviews = Reviews(authenticator=self.authenticator, authorizer=authorizer or Authorizers([]))
        self.service_account_tokens = service_account_tokens
        self.ca_pem = ca_pem
        self.audit_log = audit_log
        self.client_ca_pem = client_ca_pem
        self.openapi = openapi
        # the kubelet-backed subresources (pods/log|exec|attach|portforward, nodes/proxy); set by the server
        self.kubelet_proxy: KubeletProxy | None = None
        # more paths served ahead of the generic resource routes (metrics.k8s.io, autoscaling/v1), with the
        # path prefix they may claim (requests below it always take aiohttp's router); ``add_extra_routes``
        self.extra_routes: list[tuple[str, Callable[[web.UrlDispatcher], None]]] = []
        self.metrics = CollectorRegistry()
        # apiserver_request_total and apiserver_request_duration_seconds
        self.request_metrics = RequestMetrics(self.metrics)
        self._representations: dict[str, int] = {}  # Accept header -> representation(accept)
        self._user_agent_managers: dict[str, str] = {}  # User-Agent -> its default field manager
        # (dryRun, fieldValidation, fieldManager) -> the WriteOptions (frozen: one instance serves every request)
        self._write_options: dict[tuple[bool, str, str], WriteOptions] = {}
        self._closing = asyncio.Event()

    # ---- application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._edge], client_max_size=MAX_BODY_BYTES)
        if self.kubelet_proxy is not None:  # before the generic /api routes, which would claim these paths
            self.kubelet_proxy.add_routes(app.router)
        for _prefix, add_routes in self.extra_routes:
            add_routes(app.router)
        app.router.add_get("/version", self.version)
        app.router.add_get("/cacerts", self.cacerts)
        for path in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(path, self.health)
        app.router.add_get("/metrics", self.prometheus)
        app.router.add_get("/api", self.api_versions)
        app.router.add_get("/api/", self.api_versions)
        app.router.add_get("/apis", self.api_groups)
        app.router.add_get("/apis/", self.api_groups)
        app.router.add_get("/openapi/v2", self.openapi_v2)
        app.router.add_get("/openapi/v3", self.openapi_v3_index)
        app.router.add_get("/openapi/v3/{gv:.+}", self.openapi_v3)
        app.router.add_route("*", "/api/{tail:.+}", self.resource)
        app.router.add_route("*", "/apis/{tail:.+}", self.resource)
        app.on_shutdown.append(self._on_shutdown)
        return app

    def add_extra_routes(self, prefix: str, add_routes: Callable[[web.UrlDispatcher], None]) -> None:
        """Routes ``add_routes`` registers ahead of the generic ones, all below the path ``prefix``."""
        if not prefix.startswith("/apis/") or prefix.endswith("/"):
            raise ValueError(f"an extra route prefix is a path below /apis/ without a trailing slash: {prefix!r}")
        self.extra_routes.append((prefix, add_routes))

    def lean_handler(self, method: str, path: str, query_string: str) -> Callable[[EdgeRequest], Awaitable[
            web.StreamResponse]] | None:
        """The handler a request may have without aiohttp, when aiohttp's router would give it that same
        handler and it answers in one piece (``http1_server``); None: the request takes aiohttp's router.

        Left to aiohttp: watches (``watch`` anywhere in the query, or a ``/watch/`` path), the kubelet-backed
        subresources and every path that could be one (their streams and upgrades), the extra routes'
        prefixes, the discovery roots and /openapi (negotiated and gzip answers), HEAD and other methods.
        The choice only ever hands more to aiohttp than it must: aiohttp answers every request right.
        """
        if method not in LEAN_METHODS:
            return None
        if path == "/version":
            return self.version if method == "GET" else None
        if not ((path.startswith("/api/") and len(path) > 5) or (path.startswith("/apis/") and len(path) > 6)):
            return None
        if "watch" in query_string or "/watch/" in path:
            return None
        if self.kubelet_proxy is not None and self.kubelet_proxy.may_claim(path):
            return None
        for prefix, _add_routes in self.extra_routes:
            if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
                return None
        return self.resource

    async def _on_shutdown(self, app: web.Application) -> None:
        self._closing.set()

    @web.middleware
    async def _edge(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        return await self.serve(request, handler)

    async def serve(self, request: R, handler: Callable[[R], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """One request through the edge: authenticate, impersonate, authorize, ``handler``, errors as
        ``Status``, request metrics and audit. Both edges call it: aiohttp's (the ``_edge`` middleware)
        and the lean one (``http1_server``)."""
        started = time.monotonic()
        received = datetime.now(UTC) if self.audit_log is not None else None  # for the audit event only
        try:
            if request.path not in PUBLIC_PATHS:
                user = await self.authenticate(request)
                if user is None:
                    raise errors.unauthorized()
                user = self.impersonate(request, user)
                request["user"] = user
                admission.current_user.set(user)  # this request's task only: admission plugins read it
                admission.audit_annotations.set({})  # what admission plugins want in this request's audit event
                self.authorize(request, user)
            response = await handler(request)
        except errors.APIError as exc:
            response = status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            response = status_response(errors.too_large(MAX_BODY_BYTES))
        except web.HTTPException as exc:
            if exc.status == 404:
                response = status_response(errors.path_not_found(request.path))
            elif exc.status == 405:
                response = status_response(errors.method_not_allowed(
                    f"the server does not allow this method on the requested resource ({request.method})"))
            else:
                raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            response = status_response(errors.internal("an unexpected error; see the server log"))
        resource = request["resource"] if "resource" in request else "-"
        verb = request["verb"] if "verb" in request else request.method.lower()
        self.request_metrics.observe(verb, resource, response.status, time.monotonic() - started)
        if received is not None and "attributes" in request:
            await self._audit(request, response, received)
        return response

    async def _audit(self, request: EdgeRequest, response: web.StreamResponse, received: datetime) -> None:
        assert self.audit_log is not None
        attributes, decision, reason = request["attributes"]
        try:
            body = await request.read() if request.body_exists else None
        except Exception:  # the body was already consumed by a stream or the client went away
            body = None
        if body and request.content_type == protobuf.CONTENT_TYPE:
            try:  # upstream logs the decoded object whatever the wire format
                body = orjson.dumps(protobuf.decode(body))
            except (protobuf.ProtobufError, ValueError):
                body = None
        peer = request.remote or ""
        self.audit_log.record(attributes=attributes, uri=str(request.rel_url), source_ip=peer,
                              user_agent=request.headers.get("User-Agent", ""), code=response.status,
                              received=received, request_body=body,
                              response_body=response.body if isinstance(response, web.Response) and
                              isinstance(response.body, bytes) else None,
                              decision=decision, reason=reason, annotations=admission.audit_annotations.get())

    async def authenticate(self, request: EdgeRequest) -> UserInfo | None:
        """The caller (None: no credentials); a credential that is presented but invalid is a 401."""
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        try:
            return await self.authenticator.authenticate(peercert=peercert,
                                                         authorization=request.headers.get("Authorization"))
        except AuthenticationError as exc:
            # the reason stays in the log: a client learns only that it is not authenticated
            log.info("unauthenticated %s %s: %s", request.method, request.path, exc)
            raise errors.unauthorized()

    def impersonate(self, request: EdgeRequest, user: UserInfo) -> UserInfo:
        """``kubectl --as``: run as another identity when the caller may impersonate it."""
        if not impersonation.wants_impersonation(request.headers):
            return user
        try:
            return impersonation.impersonate(user=user, headers=request.headers,
                                             group_values=request.headers.getall(impersonation.GROUP, []),
                                             authorizer=self.authorizer or Authorizers([]))
        except impersonation.ImpersonationForbidden as exc:
            raise errors.APIError(403, "Forbidden", str(exc), {"name": exc.attributes.name,
                                                                "kind": exc.attributes.resource})
        except ValueError as exc:
            raise errors.bad_request(str(exc))

    def authorize(self, request: EdgeRequest, user: UserInfo) -> None:
        """Raise 403 with upstream's message unless the authorizer allows the request."""
        attributes = request_attributes(user, request.method, request.path, request.query)
        if self.authorizer is None:
            request["attributes"] = (attributes, "", "")
            return
        decision, reason = self.authorizer.authorize(attributes)
        request["attributes"] = (attributes, "allow" if decision is Decision.ALLOW else "forbid", reason)
        if decision is not Decision.ALLOW:
            request["verb"] = attributes.verb
            body = forbidden_status(attributes, reason)
            raise errors.APIError(403, "Forbidden", body["message"], body.get("details"))

    # ---- non-resource endpoints --------------------------------------------------------------

    async def version(self, request: EdgeRequest) -> web.Response:
        return web.Response(body=VERSION_BODY, headers=_JSON_HEADERS["application/json"])

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def cacerts(self, request: web.Request) -> web.Response:
        """The server CA (k3s's /cacerts); ``?ca=client``: the client CA, which kubelets verify callers with."""
        pem = self.client_ca_pem if request.query.get("ca") == "client" else self.ca_pem
        if not pem:
            raise errors.path_not_found(request.path)
        return web.Response(body=pem, headers={"Content-Type": "text/plain; charset=utf-8"})

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    def _aggregated_media(self, request: web.Request) -> str | None:
        accept = request.headers.get("Accept", "")
        for part in accept.split(","):
            media = part.strip().replace(" ", "")
            if "as=APIGroupDiscoveryList" in media and "g=apidiscovery.k8s.io" in media:
                if "v=v2beta1" in media:
                    return "v2beta1"
                if "v=v2" in media:
                    return "v2"
            elif media.split(";")[0] in ("application/json", "*/*"):
                return None
        return None

    def _discovery(self, request: web.Request, *, legacy: bool, plain: Obj) -> web.Response:
        """The aggregated document when the client asks for it (kubectl 1.32 does), else ``plain``."""
        media = self._aggregated_media(request)
        if media:
            return json_response(discovery.aggregated(self.table, legacy=legacy, media_version=media),
                                 content_type=f"application/json;g=apidiscovery.k8s.io;v={media};"
                                              "as=APIGroupDiscoveryList")
        return json_response(plain)

    async def api_versions(self, request: web.Request) -> web.Response:
        return self._discovery(request, legacy=True, plain=discovery.api_versions(self.advertise_address))

    async def api_groups(self, request: web.Request) -> web.Response:
        return self._discovery(request, legacy=False, plain=discovery.api_group_list(self.table))

    async def openapi_v2(self, request: web.Request) -> web.Response:
        """JSON or gnostic protobuf by the Accept header (kubectl asks for protobuf), with ETags, as upstream."""
        if self.openapi is None:
            raise errors.path_not_found(request.path)
        representation = openapi_service.negotiate_v2(request.headers.get("Accept", ""))
        if representation is None:
            raise errors.not_acceptable("/openapi/v2 is served as application/json or "
                                        f"{openapi_service.V2_PROTOBUF_CONTENT_TYPE}")
        try:
            encoded = await self.openapi.v2_encoded_async(representation)
        except openapi_service.OpenAPIEncodingError as exc:
            log.error("cannot encode /openapi/v2 as protobuf: %s", exc)
            raise errors.service_unavailable(f"the OpenAPI v2 document cannot be encoded as protobuf: {exc}")
        headers = encoded.headers()
        if encoded.not_modified(if_none_match=request.headers.get("If-None-Match"),
                                if_modified_since=request.headers.get("If-Modified-Since")):
            del headers["Content-Type"]
            return web.Response(status=304, headers=headers)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=encoded.gzipped(), headers=headers)
        return web.Response(body=encoded.body, headers=headers)

    async def openapi_v3_index(self, request: web.Request) -> web.Response:
        if self.openapi is None:
            raise errors.path_not_found(request.path)
        return json_response(self.openapi.v3_index())

    async def openapi_v3(self, request: web.Request) -> web.Response:
        if self.openapi is None:
            raise errors.path_not_found(request.path)
        document = self.openapi.v3(request.match_info["gv"])
        if document is None:
            raise errors.path_not_found(request.path)
        return json_response(document)

    # ---- resources ---------------------------------------------------------------------------

    async def resource(self, request: EdgeRequest) -> web.StreamResponse:
        path = request.path
        parts = path_parts(path)
        # group and version documents
        if parts[0] == "api" and len(parts) == 2:
            body = discovery.api_resource_list(self.table, "", parts[1])
            if body is None:
                raise errors.path_not_found(request.path)
            return json_response(body)
        if parts[0] == "apis" and len(parts) == 2:
            group_doc = discovery.api_group(self.table, parts[1])
            if group_doc is None:
                raise errors.path_not_found(request.path)
            return json_response(group_doc)
        if parts[0] == "apis" and len(parts) == 3:
            body = discovery.api_resource_list(self.table, parts[1], parts[2])
            if body is None:
                raise errors.path_not_found(request.path)
            return json_response(body)

        target = parse_path(self.table, path, parts)
        request["resource"] = target.info.plural
        if (target.info.group, target.info.plural) in REVIEW_RESOURCES or (
                target.info.group == "" and target.info.plural == "serviceaccounts" and target.subresource == "token"):
            return await self.security_request(request, target)
        method = request.method
        q = request.query
        if method == "GET":
            if target.legacy_watch or ("watch" in q and query_bool(q["watch"])):
                request["verb"] = "watch"
                if not isinstance(request, web.Request):  # lean_handler leaves every watch to aiohttp
                    raise errors.internal("a watch reached the lean HTTP edge")
                return await self.watch(request, target)
            if target.name:
                request["verb"] = "get"
                return await self.get(request, target)
            request["verb"] = "list"
            return await self.list(request, target)
        if target.legacy_watch:
            raise errors.method_not_allowed("watch paths only support GET")
        if method == "POST":
            request["verb"] = "create"
            return await self.create(request, target)
        if method == "PUT" and target.name:
            request["verb"] = "update"
            return await self.replace(request, target)
        if method == "PATCH" and target.name:
            request["verb"] = "patch"
            return await self.patch(request, target)
        if method == "DELETE":
            request["verb"] = "delete" if target.name else "deletecollection"
            return await (self.delete(request, target) if target.name else self.delete_collection(request, target))
        raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                        f"({method} {target.info.group_resource})")

    # -- helpers --

    async def read_body(self, request: EdgeRequest, *, allow_patch: bool = False) -> Any:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        raw = await request.read()
        if len(raw) > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        ctype = request.content_type
        if allow_patch and ctype in PATCH_TYPES:
            if ctype == "application/apply-patch+yaml":
                return _load_yaml(raw)
            return _load_json(raw)
        if ctype in JSON_TYPES or (ctype == "application/octet-stream" and raw[:1] in (b"{", b"[")):
            return _load_json(raw)
        if ctype in YAML_TYPES:
            return _load_yaml(raw)
        if ctype == protobuf.CONTENT_TYPE:
            # kubectl's typed clients (create namespace|configmap|deployment ...) send protobuf
            try:
                return protobuf.decode(raw)
            except (protobuf.ProtobufError, ValueError) as exc:
                raise errors.bad_request(f"the body of the request could not be decoded as protobuf: {exc}")
        raise errors.unsupported_media_type(ctype)

    def write_options(self, request: EdgeRequest) -> WriteOptions:
        q = request.query
        dry_run = q.getall("dryRun", [])
        for value in dry_run:
            if value != "All":
                raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        manager = q.get("fieldManager")
        if manager is not None and (not manager or len(manager) > 128):
            raise errors.APIError(422, "Invalid", f'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Invalid '
                                  f'value: "{manager}": must be between 1 and 128 characters')
        if manager is None:
            manager = self._default_field_manager(request.headers.get("User-Agent", ""))
        key = (bool(dry_run), q.get("fieldValidation", "Warn") or "Warn", manager)
        options = self._write_options.get(key)
        if options is None:
            if len(self._write_options) >= MEMO_SIZE:
                self._write_options.clear()
            options = self._write_options[key] = WriteOptions(dry_run=key[0], field_validation=key[1],
                                                              field_manager=manager)
        return options

    def _default_field_manager(self, user_agent: str) -> str:
        manager = self._user_agent_managers.get(user_agent)
        if manager is None:
            if len(self._user_agent_managers) >= MEMO_SIZE:
                self._user_agent_managers.clear()
            manager = self._user_agent_managers[user_agent] = managed_fields.default_field_manager(user_agent)
        return manager

    def representation(self, request: EdgeRequest) -> int:
        """What the Accept header asks for: PLAIN, TABLE or PARTIAL_METADATA (memoized by header value)."""
        accept = request.headers.get("Accept", "")
        chosen = self._representations.get(accept)
        if chosen is None:
            if len(self._representations) >= MEMO_SIZE:
                self._representations.clear()
            chosen = self._representations[accept] = representation(accept)
        return chosen

    def predicate(self, request: EdgeRequest, info: ResourceInfo) -> Filter | None:
        label_text = request.query.get("labelSelector", "")
        field_text = request.query.get("fieldSelector", "")
        checks: list[Filter] = []
        if label_text:
            try:
                selector = label_selectors.parse(label_text)
            except label_selectors.LabelSelectorError as exc:
                raise errors.bad_request(str(exc))
            checks.append(lambda obj: selector.matches((obj.get("metadata") or {}).get("labels") or {}))
        if field_text:
            strategy = self.registry.strategies.for_resource(info)
            try:
                fsel = field_selectors.parse(field_text)
            except field_selectors.FieldSelectorError as exc:
                raise errors.bad_request(str(exc))
            sample = strategy.field_values({"metadata": {}})
            for fieldname in fsel.fields():
                if fieldname not in sample:
                    raise errors.bad_request(f'field label not supported: {fieldname}')
            checks.append(lambda obj: fsel.matches(strategy.field_values(obj)))
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda obj: all(check(obj) for check in checks)

    def render(self, request: EdgeRequest, target: Target, obj: Obj, status: int = 200,
               warnings: list[str] | None = None) -> web.Response:
        chosen = self.representation(request)
        if chosen == TABLE:
            table = self.table_for(target.info, [obj], request.query.get("includeObject", "Metadata"),
                                   str(obj.get("metadata", {}).get("resourceVersion", "")))
            return json_response(table, status, warnings=warnings)
        if chosen == PARTIAL_METADATA:
            return json_response(_partial(obj), status, warnings=warnings)
        return json_response(obj, status, warnings=warnings)

    def table_for(self, info: ResourceInfo, objects: list[Obj], include_object: str, resource_version: str,
                  continue_token: str | None = None, remaining: int | None = None, no_headers: bool = False) -> Obj:
        return tables.to_table(group=info.group, resource=info.plural, objects=objects, include_object=include_object,
                               resource_version=resource_version, continue_token=continue_token,
                               remaining=remaining, now=datetime.now(UTC), no_headers=no_headers,
                               additional_printer_columns=list(info.printer_columns) if info.custom else None)

    # -- verbs --

    async def get(self, request: EdgeRequest, target: Target) -> web.Response:
        obj = await self.registry.get(target.info, target.namespace, target.name)
        if target.subresource == "scale":
            return json_response(to_scale(target.info, obj))
        return self.render(request, target, obj)

    async def list(self, request: EdgeRequest, target: Target) -> web.Response:
        q = request.query
        page = await self.registry.list(
            target.info, target.namespace, predicate=self.predicate(request, target.info),
            limit=query_int("limit", q.get("limit")) or 0, continue_token=q.get("continue", ""),
            resource_version=q.get("resourceVersion", ""),
            resource_version_match=q.get("resourceVersionMatch", ""))
        chosen = self.representation(request)
        if chosen == TABLE:
            return json_response(self.table_for(target.info, page.items, q.get("includeObject", "Metadata"),
                                                page.resource_version, page.continue_token or None, page.remaining))
        list_meta: Obj = {"resourceVersion": page.resource_version}
        if page.continue_token:
            list_meta["continue"] = page.continue_token
            if page.remaining is not None:
                list_meta["remainingItemCount"] = page.remaining
        if chosen == PARTIAL_METADATA:
            return json_response({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": list_meta, "items": [_partial(o) for o in page.items]})
        return json_response({"kind": target.info.list_kind, "apiVersion": target.info.api_version,
                              "metadata": list_meta, "items": page.items})

    async def create(self, request: EdgeRequest, target: Target) -> web.Response:
        info = target.info
        if target.name:
            if target.subresource == "binding" and info.plural == "pods":
                return await self.bind(request, target)
            if target.subresource == "eviction" and info.plural == "pods":
                return await self.evict(request, target)
            raise errors.method_not_allowed(f"POST is not supported on {info.group_resource} by name")
        if info.namespaced and target.namespace is None:
            raise errors.method_not_allowed(f"POST requires a namespace for {info.group_resource}")
        body = await self.read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        if info.plural == "certificatesigningrequests" and "user" in request:
            csr.set_requester(body, request["user"])
        # the decoded body is this request's alone: the registry may fill it in place
        result = await self.registry.create(info, target.namespace, body, self.write_options(request),
                                            handed_over=True)
        return self.render(request, target, result.obj, 201, result.warnings)

    async def replace(self, request: EdgeRequest, target: Target) -> web.Response:
        body = await self.read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the body must be a JSON object")
        opts = self.write_options(request)
        info = target.info
        if target.subresource == "scale":
            return await self.update_scale(request, target, lambda _scale: copy_json(body), opts)
        if target.subresource == "finalize":
            return await self.finalize_namespace(request, target, body, opts)
        # a fresh copy per attempt: the registry fills server fields into what it is given
        result = await self.registry.update(info, target.namespace, target.name, lambda _old: copy_json(body),
                                            opts, subresource=target.subresource)
        return self.render(request, target, result.obj, 200, result.warnings)

    async def patch(self, request: EdgeRequest, target: Target) -> web.Response:
        ctype = request.content_type
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media_type(ctype)
        body = await self.read_body(request, allow_patch=True)
        opts = self.write_options(request)
        info = target.info
        if ctype == "application/apply-patch+yaml":
            if not isinstance(body, dict):
                raise errors.bad_request("the applied configuration must be an object")
            if "fieldManager" not in request.query:
                raise errors.APIError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                      "Required value: is required for apply patch")
            result = await self.registry.apply(info, target.namespace, target.name, body, opts,
                                               force=query_bool(request.query.get("force")) if "force" in
                                               request.query else False, subresource=target.subresource)
            return self.render(request, target, result.obj, 201 if result.created else 200, result.warnings)
        merge_schema: Any = None
        if ctype == "application/strategic-merge-patch+json":
            merge_schema = self.openapi.merge_schema(info) if self.openapi is not None else None
            if merge_schema is None:
                # upstream answers the same for custom resources: they have no patch metadata
                raise errors.unsupported_media_type(f"{ctype} is not supported for {info.group_resource}")

        def apply(current: Obj) -> Obj:
            return apply_patch(current, body, content_type=ctype, merge_schema=merge_schema)

        if target.subresource == "scale":
            return await self.update_scale(request, target, apply, opts)
        result = await self.registry.update(info, target.namespace, target.name, apply, opts,
                                            subresource=target.subresource)
        return self.render(request, target, result.obj, 200, result.warnings)

    async def delete(self, request: EdgeRequest, target: Target) -> web.Response:
        options = await self.delete_options(request)
        result = await self.registry.delete(target.info, target.namespace, target.name, options)
        return self.render(request, target, result.obj, 200 if result.gone else 202)

    async def delete_options(self, request: EdgeRequest) -> Obj:
        options: Obj = {}
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                body = _load_json(raw) if request.content_type != "application/yaml" else _load_yaml(raw)
                if not isinstance(body, dict):
                    raise errors.bad_request("DeleteOptions must be a JSON object")
                options.update(body)
        q = request.query
        if "gracePeriodSeconds" in q:
            options["gracePeriodSeconds"] = query_int("gracePeriodSeconds", q["gracePeriodSeconds"])
        if "propagationPolicy" in q:
            options["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            options["orphanDependents"] = query_bool(q["orphanDependents"])
        if q.getall("dryRun", []):
            options["dryRun"] = q.getall("dryRun")
        return options

    async def delete_collection(self, request: EdgeRequest, target: Target) -> web.Response:
        options = await self.delete_options(request)
        page = await self.registry.list(target.info, target.namespace, predicate=self.predicate(request, target.info))
        deleted = []
        for obj in page.items:
            md = obj["metadata"]
            try:
                result = await self.registry.delete(target.info, md.get("namespace"), md["name"], options,
                                                    collection=True)
            except errors.APIError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(result.obj)
        return json_response({"kind": target.info.list_kind, "apiVersion": target.info.api_version,
                              "metadata": {"resourceVersion": page.resource_version}, "items": deleted})

    # -- subresources --

    async def security_request(self, request: EdgeRequest, target: Target) -> web.Response:
        """The create-only kinds of controlplane.auth: reviews and serviceaccounts/token."""
        if request.method != "POST":
            raise errors.method_not_allowed(f"the server does not allow this method on the requested resource "
                                            f"({request.method} {target.info.group_resource})")
        request["verb"] = "create"
        body = await self.read_body(request)
        try:
            if target.subresource == "token":
                if self.service_account_tokens is None:
                    raise errors.path_not_found(request.path)
                sa = await self.registry.get(target.info, target.namespace, target.name)
                return json_response(await self.service_account_tokens.token_request(
                    service_account=sa, body=body, user=request["user"] if "user" in request else None), 201)
            user = request["user"] if "user" in request else None
            if user is None:
                user = UserInfo("system:anonymous", "", ("system:unauthenticated",))
            answer = await self.reviews.review(group=target.info.group, resource=target.info.plural,
                                               namespace=target.namespace, body=body, user=user)
            return json_response(answer, 201)
        except TokenRequestError as exc:
            raise errors.APIError(exc.code, {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(
                exc.code, "Invalid"), f'TokenRequest.authentication.k8s.io "{target.name}" is invalid: {exc}'
                if exc.code == 422 else str(exc),
                {"name": target.name, "group": "authentication.k8s.io", "kind": "TokenRequest",
                 "causes": [{"reason": exc.reason, "message": str(exc).partition(": ")[2], "field": exc.field}]}
                if exc.code == 422 else None)
        except ReviewError as exc:
            raise errors.APIError(exc.code, "Invalid" if exc.code == 422 else "BadRequest", str(exc),
                                  {"kind": exc.kind, "causes": [{"field": exc.field}]} if exc.code == 422 else None)

    async def bind(self, request: EdgeRequest, target: Target) -> web.Response:
        """pods/binding (upstream BindingREST.Create): validate the Binding, then assign the pod in storage."""
        body = await self.read_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("target"), dict):
            raise errors.bad_request("a Binding needs target.name")
        binding_md: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        if binding_md.get("name") != target.name:
            raise errors.bad_request("name in URL does not match name in Binding object")
        node = str(body["target"].get("name") or "")
        if not node:
            raise errors.APIError(422, "Invalid", f'Binding "{target.name}" is invalid: target.name: '
                                  "Required value")
        kind = body["target"].get("kind") or ""
        if kind not in ("", "Node"):
            raise errors.APIError(422, "Invalid", f'Binding "{target.name}" is invalid: target.kind: Unsupported '
                                  f'value: "{kind}": supported values: "Node", "<empty>"')
        annotations = binding_md.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise errors.bad_request("metadata.annotations of a Binding must map strings to strings")
        await self.registry.bind(target.info, str(target.namespace), target.name, node=node,
                                 uid=str(binding_md.get("uid") or ""),
                                 resource_version=str(binding_md.get("resourceVersion") or ""),
                                 annotations=annotations, dry_run=self.write_options(request).dry_run)
        return web.Response(body=CREATED_STATUS, status=201, headers=_JSON_HEADERS["application/json"])

    async def evict(self, request: EdgeRequest, target: Target) -> web.Response:
        """policy/v1 Eviction: delete the pod unless a PodDisruptionBudget forbids it (upstream's rules)."""
        body = await self.read_body(request)
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise errors.bad_request("the body must be a policy/v1 Eviction")
        eviction_md = body.get("metadata")
        if not isinstance(eviction_md, dict) or eviction_md.get("name") != target.name:
            raise errors.bad_request("name in URL does not match name in Eviction object")  # upstream's check
        pod = await self.registry.get(target.info, target.namespace, target.name)
        options = dict(body.get("deleteOptions") or {})
        phase = (pod.get("status") or {}).get("phase")
        uncharged_budget = None
        if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
            uncharged_budget = await self._charge_disruption_budget(pod, options)
        user_precondition = bool((options.get("preconditions") or {}).get("resourceVersion"))
        if uncharged_budget is not None and not user_precondition:
            # an unready pod deleted without charging its budget: only if it has not turned Ready since
            options["preconditions"] = {**(options.get("preconditions") or {}),
                                        "resourceVersion": pod["metadata"].get("resourceVersion")}
        try:
            await self._add_disruption_target(target, options)
            await self.registry.delete(target.info, target.namespace, target.name, options)
        except errors.APIError as exc:
            if exc.code == 409 and uncharged_budget is not None and not user_precondition:
                raise _budget_still_processing(uncharged_budget) from exc
            raise
        return web.Response(body=CREATED_STATUS, status=201, headers=_JSON_HEADERS["application/json"])

    async def _add_disruption_target(self, target: Target, options: Obj) -> None:
        """Upstream addConditionAndDeletePod: the evicted pod gets the DisruptionTarget condition (what a Job's
        podFailurePolicy can match) before it is deleted, checked against the delete's preconditions; a
        resourceVersion precondition then moves to the version this write made."""
        if options.get("dryRun") == ["All"]:
            return
        pre = options.get("preconditions") or {}

        def add(pod: Obj) -> Obj:
            md = pod["metadata"]
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise errors.conflict("pods", target.name, f"the UID in the precondition ({pre['uid']}) does not "
                                      f"match the UID in record ({md.get('uid')}). The object might have been "
                                      "deleted and then recreated")
            if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
                raise errors.conflict("pods", target.name, f"the ResourceVersion in the precondition "
                                      f"({pre['resourceVersion']}) does not match the ResourceVersion in record "
                                      f"({md.get('resourceVersion')}). The object might have been modified")
            status = pod.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
            old = next((c for c in conditions if c.get("type") == "DisruptionTarget"), None)
            if old is not None and old.get("status") == "True" and old.get("reason") == "EvictionByEvictionAPI":
                return pod  # already marked: nothing to write
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            status["conditions"] = [c for c in conditions if c.get("type") != "DisruptionTarget"] + [
                {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                 "message": "Eviction API: evicting", "lastProbeTime": None,
                 "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "True" else stamp}]
            return pod

        written = await self.registry.update(target.info, target.namespace, target.name, add, WriteOptions(),
                                             subresource="status", precondition_from_body=False)
        if pre.get("resourceVersion"):
            options["preconditions"] = {**pre, "resourceVersion": written.obj["metadata"].get("resourceVersion")}

    async def _charge_disruption_budget(self, pod: Obj, options: Obj) -> str | None:
        """Charge the pod's budget one disruption (upstream checkAndDecrement); raise when it allows none.

        Returns the budget's name when the pod is unready and may go without a charge (upstream: the
        budget's unhealthyPodEvictionPolicy is AlwaysAllow, or it is healthy enough without this pod), so the
        caller deletes it only at the version judged here."""
        pdbs = self.table.get("policy", "v1", "poddisruptionbudgets")
        if pdbs is None:
            return None
        labels = pod["metadata"].get("labels") or {}
        namespace = pod["metadata"].get("namespace")
        matching = []
        for candidate in (await self.registry.list(pdbs, namespace)).items:
            try:
                selector = label_selectors.from_label_selector((candidate.get("spec") or {}).get("selector"))
            except label_selectors.LabelSelectorError:
                continue  # an invalid selector matches no pod
            if selector.matches(labels):
                matching.append(candidate)
        if not matching:
            return None
        if len(matching) > 1:
            raise errors.APIError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                                  "eviction subresource does not support.")
        pdb = matching[0]
        name = str(pdb["metadata"]["name"])
        status = pdb.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (pod.get("status") or {}).get("conditions") or [] if isinstance(c, dict))
        if not ready:
            if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
                return name
            if int(status.get("currentHealthy") or 0) >= int(status.get("desiredHealthy") or 0) > 0:
                return name

        def charge(current: Obj) -> Obj:
            st = current.setdefault("status", {})
            if int(st.get("observedGeneration") or 0) < int(current["metadata"].get("generation") or 1):
                raise _budget_still_processing(name)
            allowed = int(st.get("disruptionsAllowed") or 0)
            if allowed < 0:
                raise errors.forbidden("poddisruptionbudgets.policy", name, "pdb disruptions allowed is negative")
            if len(st.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
                raise errors.forbidden("poddisruptionbudgets.policy", name, "DisruptedPods map too big - too many "
                                       "evictions not confirmed by PDB controller")
            if allowed == 0:
                raise errors.APIError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's "
                                      "disruption budget.", {"causes": [{"reason": "DisruptionBudget", "message":
                                      f"The disruption budget {name} needs {int(st.get('desiredHealthy') or 0)} "
                                      f"healthy pods and has {int(st.get('currentHealthy') or 0)} currently"}]})
            st["disruptionsAllowed"] = allowed - 1
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if allowed == 1:  # none left: the DisruptionAllowed condition turns False as upstream's helper sets it
                conditions = [c for c in st.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
                old: Obj = next((c for c in st.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), {})
                conditions.append({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
                                   "message": "", "observedGeneration": st.get("observedGeneration"),
                                   "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == "False"
                                   else now})
                st["conditions"] = conditions
            st.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now
            return current

        # the budget is charged first, read-check-write at one revision, so concurrent evictions cannot
        # overspend it
        dry_run = WriteOptions(dry_run=options.get("dryRun") == ["All"])
        await self.registry.update(pdbs, namespace, name, charge, dry_run, subresource="status",
                                   precondition_from_body=False)
        return None

    async def update_scale(self, request: EdgeRequest, target: Target, change: Callable[[Obj], Any],
                           opts: WriteOptions) -> web.Response:
        info = target.info

        def apply(obj: Obj) -> Obj:
            scale = change(to_scale(info, obj))
            if not isinstance(scale, dict):
                raise errors.bad_request("the body must be a Scale object")
            replicas = (scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.APIError(422, "Invalid", f'Scale.autoscaling "{target.name}" is invalid: '
                                      f"spec.replicas: Invalid value: {replicas}: must be greater than or "
                                      "equal to 0")
            rv = (scale.get("metadata") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"].get("resourceVersion"):
                raise errors.conflict(info.group_resource, target.name, errors.MODIFIED)
            _path_set(obj, scale_paths(info)["specReplicasPath"], replicas)
            return obj

        result: WriteResult = await self.registry.update(info, target.namespace, target.name, apply, opts,
                                                         precondition_from_body=False)
        return json_response(to_scale(info, result.obj))

    async def finalize_namespace(self, request: EdgeRequest, target: Target, body: Obj,
                                 opts: WriteOptions) -> web.Response:
        finalizers = (body.get("spec") or {}).get("finalizers") or []

        def apply(ns: Obj) -> Obj:
            ns.setdefault("spec", {})["finalizers"] = list(finalizers)
            return ns

        result = await self.registry.update(target.info, None, target.name, apply, opts,
                                            subresource="finalize", precondition_from_body=False)
        return json_response(result.obj)

    # -- watch --

    async def watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        q = request.query
        info = target.info
        rv_text = q.get("resourceVersion", "")
        send_initial = query_bool(q.get("sendInitialEvents")) if "sendInitialEvents" in q else None
        after: int | None
        if rv_text in ("", "0") or send_initial:
            after = None
        else:
            try:
                after = int(rv_text)
            except ValueError:
                raise errors.bad_request(f'resourceVersion: Invalid value: "{rv_text}": must be an integer')
        predicate = self.predicate(request, info)
        if target.name:
            predicate = _named(target.name, predicate)
        timeout = query_int("timeoutSeconds", q.get("timeoutSeconds"))
        bookmarks = query_bool(q.get("allowWatchBookmarks")) if "allowWatchBookmarks" in q else False
        table = self.representation(request) == TABLE
        prefix, key_prefix = info.storage_prefix(), info.namespace_prefix(target.namespace)

        response = web.StreamResponse(headers={"Content-Type": "application/json",
                                               "Transfer-Encoding": "chunked"})
        try:
            initial, watcher, revision = await self.registry.cache.watch(prefix, key_prefix, after_revision=after,
                                                                          predicate=predicate)
        except TooOld as exc:
            await response.prepare(request)
            await response.write(orjson.dumps({"type": "ERROR", "object": errors.resource_gone(
                exc.requested, exc.oldest).status()}) + b"\n")
            return response
        except TooNew as exc:
            raise errors.APIError(504, "Timeout", str(exc))
        await response.prepare(request)
        include = q.get("includeObject", "Metadata")
        present = self.registry.strategies.for_resource(info).present
        sent_headers = [False]
        last_rv = revision
        # events that are already queued go out in one write (one chunk, one TLS record) instead of one
        # each: the bytes on the wire are the same lines, the per-write cost is paid once per burst
        unsent: list[bytes] = []

        def encode(kind: str, obj: Obj) -> None:
            if kind not in ("BOOKMARK", "ERROR"):
                obj = present(obj)
                if table:
                    # upstream sends the column definitions with the first event only
                    obj = self.table_for(info, [obj], include, str(obj["metadata"].get("resourceVersion", "")),
                                         no_headers=sent_headers[0])
                    sent_headers[0] = True
            unsent.append(orjson.dumps({"type": kind, "object": obj}, option=orjson.OPT_APPEND_NEWLINE))

        async def flush() -> None:
            if unsent:
                data = b"".join(unsent)
                unsent.clear()
                await response.write(data)

        async def send(kind: str, obj: Obj) -> None:
            encode(kind, obj)
            await flush()

        def encode_event(event: CacheEvent) -> None:
            """``encode`` of a cache event; its plain line is made once for all the watchers that send it."""
            if table or present(event.obj) is not event.obj:
                encode(event.type, event.obj)
                return
            line = event.line
            if line is None:
                line = event.line = orjson.dumps({"type": event.type, "object": event.obj},
                                                 option=orjson.OPT_APPEND_NEWLINE)
            unsent.append(line)

        def bookmark(rv: int, *, initial_end: bool = False) -> Obj:
            md: Obj = {"resourceVersion": str(rv)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": info.kind, "apiVersion": info.api_version, "metadata": md}

        deadline = asyncio.get_running_loop().time() + timeout if timeout else None
        try:
            for event in initial:
                encode_event(event)
                if len(unsent) >= WATCH_BATCH:
                    await flush()
            if send_initial and bookmarks:
                encode("BOOKMARK", bookmark(revision, initial_end=True))
            await flush()
            async for item in self.registry.cache.events(watcher, timeout=_tick(deadline)):
                if self._closing.is_set():
                    break
                if deadline is not None and asyncio.get_running_loop().time() >= deadline:
                    break
                if item is None:
                    if bookmarks:
                        await send("BOOKMARK", bookmark(max(last_rv, self.registry.cache.revision)))
                    continue
                last_rv = item.revision
                encode_event(item)
                if not watcher.pending() or len(unsent) >= WATCH_BATCH:
                    await flush()  # before the next item can make us wait
            await flush()
        except WatchClosed:
            with contextlib.suppress(ConnectionResetError):
                await flush()  # what was taken before the watcher overflowed still goes out
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.registry.cache.unwatch(prefix, watcher)
        return response


MAX_DISRUPTED_PODS = 2000  # upstream MaxDisruptedPodSize: evictions the disruption controller has not confirmed


def _budget_still_processing(name: str) -> errors.APIError:
    """Upstream createTooManyRequestsError: the budget's status is behind its spec, or the pod changed."""
    return errors.APIError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                           "budget.", {"causes": [{"reason": "DisruptionBudget", "message": f"The disruption budget "
                                                   f"{name} is still being processed by the server."}],
                                       "retryAfterSeconds": 10})


def _named(name: str, also: Filter | None) -> Filter:
    """A watch on one object: kubectl get NAME -w watches the collection with this filter."""

    def matches(obj: Obj) -> bool:
        return bool(obj["metadata"].get("name") == name and (also is None or also(obj)))

    return matches


def _tick(deadline: float | None) -> float:
    if deadline is None:
        return BOOKMARK_INTERVAL
    remaining = deadline - asyncio.get_event_loop().time()
    return max(0.05, min(BOOKMARK_INTERVAL, remaining))


def _partial(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


DEFAULT_SCALE_PATHS = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}


def _path_get(obj: Obj, path: str) -> Any:
    value: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _path_set(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    target = obj
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def scale_paths(info: ResourceInfo) -> dict[str, str]:
    return {**DEFAULT_SCALE_PATHS, **(info.scale_paths or {})}


def to_scale(info: ResourceInfo, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of an object (built-ins: spec/status replicas; CRDs: their paths)."""
    md = obj.get("metadata") or {}
    paths = scale_paths(info)
    if info.custom:
        selector_text = str(_path_get(obj, paths["labelSelectorPath"]) or "") if "labelSelectorPath" in paths else ""
        replicas = _path_get(obj, paths["specReplicasPath"])
    else:
        match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        replicas = (obj.get("spec") or {}).get("replicas", 1)
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in md},
            "spec": {"replicas": replicas if isinstance(replicas, int) else 0},
            "status": {"replicas": _path_get(obj, paths["statusReplicasPath"]) or 0, "selector": selector_text}}


def _load_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"the body of the request could not be decoded as JSON: {exc}")


def _load_yaml(raw: bytes) -> Any:
    try:
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise errors.bad_request(f"the body of the request could not be decoded as YAML: {exc}")


def make_ssl_context(*, cert_file: str, key_file: str, client_ca_file: str) -> ssl.SSLContext:
    """TLS 1.2+ serving context; client certificates are optional but verified against the client CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(client_ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context

