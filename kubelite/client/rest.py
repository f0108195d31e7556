"""The REST client: one keep-alive aiohttp session per API server, typed handles per resource.

Design
------
``APIClient`` owns one ``aiohttp.ClientSession`` (a bounded connection pool with keep-alive, TLS from
the ``ClientConfig``, ``User-Agent: kubelite/<version>``) and turns every non-2xx answer into an
``APIStatusError`` carrying the server's ``Status`` (code, reason, message, details), as client-go's
``StatusError`` does; transport failures become ``APIConnectionError``. Answers of 429 or 5xx that
carry ``Retry-After`` are retried after that delay, up to ``max_retries`` times (client-go's
``checkWait``/``maxRetries`` behaviour), because the server asked for exactly that.

``client.resource(group, version, plural, namespaced=...)`` returns a ``Resource``: the verbs of the
Kubernetes API on the paths upstream routes (core group under ``/api/v1``, others under
``/apis/<group>/<version>``, namespaced objects under ``namespaces/<ns>/``). Objects are plain JSON
dicts as on the wire; responses are requested as JSON.

``Resource.watch()`` returns a ``WatchStream``: an async iterator of ``WatchEvent(type, object)``
read from the chunked response line by line (no per-line size limit, objects may be megabytes). An
``ERROR`` event raises ``APIStatusError`` (410 Gone/Expired when the resourceVersion is too old), so a
reflector can tell "relist" from "the stream simply ended" (``StopAsyncIteration``).

Path segments (names, namespaces, subresources) are validated, never escaped: a name with ``/`` would
address a different object, so it is refused like client-go's ``IsValidPathSegmentName``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import types
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple

import aiohttp
import orjson

from kubelite import __version__
from kubelite.client.config import ClientConfig
from kubelite.client.http1 import ConnectionPool, HTTPProtocolError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Params = list[tuple[str, str]]
Selector = str | Mapping[str, str] | None
PatchType = Literal["json", "merge", "strategic", "apply"]

USER_AGENT: Final = f"kubelite/{__version__}"
PATCH_CONTENT_TYPES: Final[dict[str, str]] = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
PROPAGATION_POLICIES: Final = ("Orphan", "Background", "Foreground")
# Reasons client-go reports when the server's answer carries no Status (errors.NewGenericServerResponse)
_GENERIC_REASONS: Final[dict[int, tuple[str, str]]] = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "the server has asked for the client to provide credentials"),
    403: ("Forbidden", "the server does not allow access to the requested resource"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    406: ("NotAcceptable", "the server was unable to respond with a content type that the client supports"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Gone", "the server reports the resource is gone"),
    413: ("RequestEntityTooLarge", "the server rejected the request because it is too large"),
    415: ("UnsupportedMediaType", "the server was unable to handle the media type sent by the client"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
    500: ("InternalError", "an error on the server has prevented the request from succeeding"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted"),
}
# the longest Retry-After we honour; a server asking for more is treated as failing now
MAX_RETRY_AFTER_SECONDS: Final = 60.0
# what a path segment may hold unescaped (RFC 3986 pchar): what yarl leaves alone in aiohttp's URLs
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"
_PLAIN_PATH: Final = re.compile(r"[A-Za-z0-9/._~-]*")


class APIStatusError(Exception):
    """The API server answered with a failure ``Status``; ``str()`` is its message, as kubectl prints it."""

    def __init__(self, status: Obj) -> None:
        self.status: Obj = status
        self.code: int = int(status.get("code") or 0)
        self.reason: str = str(status.get("reason") or "")
        self.message: str = str(status.get("message") or "")
        details = status.get("details")
        self.details: Obj = details if isinstance(details, dict) else {}
        super().__init__(self.message or f"the server answered {self.code} {self.reason}")

    def __repr__(self) -> str:
        return f"APIStatusError(code={self.code}, reason={self.reason!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, code: int, body: bytes, *, method: str, url: str) -> APIStatusError:
        """Use the Status the server sent; otherwise describe the HTTP code as client-go does."""
        try:
            decoded = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            decoded.setdefault("code", code)
            return cls(decoded)
        reason, text = _GENERIC_REASONS.get(code, ("InternalError" if code >= 500 else "BadRequest",
                                                    f"the server responded with the status code {code}"))
        snippet = body[:256].decode("utf-8", "replace").strip()
        message = f"{text} ({method} {url})" + (f": {snippet}" if snippet else "")
        return cls({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": message, "reason": reason, "code": code})

    def is_not_found(self) -> bool:
        return self.code == 404 and self.reason in ("NotFound", "")

    def is_conflict(self) -> bool:
        return self.code == 409 and self.reason in ("Conflict", "")

    def is_already_exists(self) -> bool:
        return self.code == 409 and self.reason == "AlreadyExists"

    def is_gone(self) -> bool:
        """410: the requested resourceVersion (or continue token) is older than the server keeps."""
        return self.code == 410

    def is_invalid(self) -> bool:
        return self.code == 422


class APIConnectionError(Exception):
    """The request never got an HTTP answer: connection refused or reset, TLS failure, timeout."""


def is_not_found(err: BaseException) -> bool:
    return isinstance(err, APIStatusError) and err.is_not_found()


def is_conflict(err: BaseException) -> bool:
    return isinstance(err, APIStatusError) and err.is_conflict()


def is_already_exists(err: BaseException) -> bool:
    return isinstance(err, APIStatusError) and err.is_already_exists()


def is_gone(err: BaseException) -> bool:
    return isinstance(err, APIStatusError) and err.is_gone()


def is_invalid(err: BaseException) -> bool:
    return isinstance(err, APIStatusError) and err.is_invalid()


def check_segment(value: str, *, what: str) -> str:
    """A name usable as one URL path segment (apimachinery's IsValidPathSegmentName)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} may not be empty")
    if value in (".", ".."):
        raise ValueError(f"{what} may not be {value!r}")
    for bad in ("/", "%"):
        if bad in value:
            raise ValueError(f"{what} {value!r} may not contain {bad!r}")
    return value


def selector_text(selector: Selector, *, what: str) -> str | None:
    """A selector as the query parameter: strings pass through, mappings become 'k=v,k2=v2'."""
    if selector is None:
        return None
    if isinstance(selector, str):
        return selector
    if isinstance(selector, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    raise ValueError(f"{what} must be a string such as 'app=web,tier!=db' or a mapping of equalities")


class APIClient:
    """An async client for one API server; use as ``async with APIClient(config) as client``."""

    def __init__(self, config: ClientConfig, *, user_agent: str = USER_AGENT, max_connections: int = 100,
                 timeout: float = 30.0, connect_timeout: float = 10.0, max_retries: int = 10,
                 lean_requests: bool = False) -> None:
        """``lean_requests``: send one-shot requests (everything but watches and streams) over the
        lean HTTP/1.1 transport of ``kubelite.client.http1`` (a pool of its own, ``max_connections``
        too) instead of aiohttp's client, which costs several times the CPU per request; answers,
        errors and retries are the same. For processes whose CPU goes into many small calls."""
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be positive numbers of seconds")
        self.config = config
        self.user_agent = user_agent
        self.max_connections = max_connections
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_retries = max_retries
        self.base_url = config.server.rstrip("/")
        # built eagerly so that a bad CA or key fails at construction, not at the first request
        self._ssl = config.ssl_context() if config.uses_tls else None
        self._session: aiohttp.ClientSession | None = None
        self.lean_requests = lean_requests
        self._pool: ConnectionPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        parts = urllib.parse.urlsplit(self.base_url)
        self._target_prefix = parts.path  # a server URL may carry a path (a proxy's prefix)
        self._host_header = parts.netloc.rpartition("@")[2]
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)

    async def __aenter__(self) -> APIClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: types.TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        # created lazily: aiohttp sessions belong to the running event loop
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=self._ssl if self._ssl else False,
                                             keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def resource(self, group: str, version: str, plural: str, *, namespaced: bool = True) -> Resource:
        """The handle for one resource, e.g. ``resource("apps", "v1", "deployments")``."""
        return Resource(self, group=group, version=version, plural=plural, namespaced=namespaced)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        authorization = self.config.authorization()
        if authorization:
            headers["Authorization"] = authorization
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _request_kwargs(self) -> dict[str, Any]:
        if self.config.tls_server_name:
            return {"server_hostname": self.config.tls_server_name}
        return {}

    async def request(self, method: str, path: str, *, params: Params | None = None, body: Any = None,
                      content_type: str = "application/json", timeout: float | None = None) -> Any:
        """One API call; the decoded JSON answer, or ``APIStatusError``/``APIConnectionError``."""
        data = orjson.dumps(body) if body is not None else None
        url = self.base_url + path
        attempt = 0
        while True:
            if self.lean_requests:
                status, raw, retry_after = await self._lean_exchange(method, url, path, params, data, content_type,
                                                                     timeout)
            else:
                try:
                    async with self.session.request(
                            method, url, params=params, data=data,
                            headers=self._headers(content_type if data is not None else None),
                            timeout=aiohttp.ClientTimeout(total=timeout or self.timeout, connect=self.connect_timeout),
                            **self._request_kwargs()) as response:
                        raw = await response.read()
                        status = response.status
                        retry_after = _retry_after(response) if status == 429 or status >= 500 else None
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise APIConnectionError(f"{method} {url}: {_describe(exc)}") from exc
            if 200 <= status < 300:
                if not raw:
                    return {}
                try:
                    return orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise APIConnectionError(f"{method} {url}: the answer is not JSON: {exc}") from exc
            if retry_after is not None and attempt < self.max_retries:
                attempt += 1
                log.info("%s %s answered %d; retrying in %.1fs as the server asked (attempt %d of %d)",
                         method, url, status, retry_after, attempt, self.max_retries)
                await asyncio.sleep(retry_after)
                continue
            raise APIStatusError.from_response(status, raw, method=method, url=url)

    async def _lean_exchange(self, method: str, url: str, path: str, params: Params | None, data: bytes | None,
                             content_type: str, timeout: float | None) -> tuple[int, bytes, float | None]:
        """One exchange over the lean transport: (status, body, Retry-After when it counts)."""
        # the API's paths are plain names: quoting is only needed (and only done) for anything else
        target = self._target_prefix + (path if _PLAIN_PATH.fullmatch(path) else _quote_path(path))
        if params:
            target += ("&" if "?" in target else "?") + urllib.parse.urlencode(params, quote_via=urllib.parse.quote,
                                                                             safe="")
        head = (f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\nUser-Agent: {self.user_agent}\r\n"
                "Accept: application/json\r\n")
        authorization = self.config.authorization()
        if authorization:
            head += f"Authorization: {authorization}\r\n"
        if data is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            head += "Content-Length: 0\r\n"
        if head.count("\n") != head.count("\r\n") or head.count("\r") != head.count("\r\n"):
            raise ValueError("a header value holds a line break (the user agent or the credentials)")
        request = (head + "\r\n").encode("utf-8") + (data or b"")
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool_loop is not loop:
            # connections belong to an event loop, as aiohttp's sessions do
            self._pool_loop = loop
            self._pool = ConnectionPool(host=self._host, port=self._port, ssl_context=self._ssl,
                                        server_hostname=self.config.tls_server_name or self._host,
                                        limit=self.max_connections)
        try:
            answer = await self._pool.request(method, request, deadline=loop.time() + (timeout or self.timeout),
                                              connect_timeout=self.connect_timeout)
        except (OSError, TimeoutError, HTTPProtocolError) as exc:
            raise APIConnectionError(f"{method} {url}: {_describe(exc)}") from exc
        status = answer.status
        retry_after = (_retry_after_value(answer.headers.get("retry-after"))
                       if status == 429 or status >= 500 else None)
        return status, answer.body, retry_after

    async def open_stream(self, path: str, *, params: Params, timeout: float | None) -> aiohttp.ClientResponse:
        """A GET whose body is read incrementally (watch); the caller must release the response."""
        url = self.base_url + path
        # no read timeout: an idle watch is normal; ``timeout`` bounds the whole stream instead
        client_timeout = aiohttp.ClientTimeout(total=timeout, connect=self.connect_timeout, sock_read=None)
        try:
            response = await self.session.get(url, params=params, headers=self._headers(None),
                                              timeout=client_timeout, **self._request_kwargs())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise APIConnectionError(f"GET {url}: {_describe(exc)}") from exc
        if response.status != 200:
            try:
                raw = await response.read()
            except (aiohttp.ClientError, TimeoutError):
                raw = b""
            finally:
                response.release()
            raise APIStatusError.from_response(response.status, raw, method="GET", url=url)
        return response


def _quote_path(path: str) -> str:
    """A path (with a query, if the caller wrote one) as aiohttp sends it: unsafe characters escaped,
    ``%XX`` escapes kept, the query's separators left alone."""
    path, sep, query = path.partition("?")
    quoted = urllib.parse.quote(path, safe=_PATH_SAFE + "%")
    return quoted + sep + urllib.parse.quote(query, safe=_PATH_SAFE + "%?") if sep else quoted


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    return _retry_after_value(response.headers.get("Retry-After"))


def _retry_after_value(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return 1.0  # client-go waits one second when the header is not a number
    if seconds < 0 or seconds > MAX_RETRY_AFTER_SECONDS:
        return None
    return seconds


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the request timed out"
    return str(exc) or type(exc).__name__


class WatchEvent(NamedTuple):
    """One watch event: ADDED, MODIFIED, DELETED or BOOKMARK, and the object."""

    type: str
    object: Obj


class WatchStream:
    """The events of one watch request; iterate it, and close it (or use ``async with``) when done.

    The request is sent on the first iteration. Iteration ends when the server closes the stream
    (``timeoutSeconds`` elapsed, server shutdown); an ``ERROR`` event raises ``APIStatusError``.
    """

    def __init__(self, client: APIClient, path: str, params: Params, *, timeout: float | None) -> None:
        self._client = client
        self._path = path
        self._params = params
        self._timeout = timeout
        self._response: aiohttp.ClientResponse | None = None
        self._buffer = bytearray()
        self._closed = False
        self.resource_version: str = next((v for k, v in params if k == "resourceVersion"), "")

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: types.TracebackType | None) -> None:
        await self.close()

    def __aiter__(self) -> WatchStream:
        return self

    async def close(self) -> None:
        self._closed = True
        if self._response is not None:
            response, self._response = self._response, None
            # close, not release: the rest of an endless stream must not be drained into the pool
            response.close()

    @property
    def closed(self) -> bool:
        return self._closed

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        if self._response is None:
            self._response = await self._client.open_stream(self._path, params=self._params, timeout=self._timeout)
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[:newline + 1]
                if not line.strip():
                    continue
                return self._decode(line)
            try:
                chunk = await self._response.content.readany()
            except (aiohttp.ClientError, TimeoutError) as exc:
                if self._closed:  # closed by our own close() from another task
                    raise StopAsyncIteration
                await self.close()
                raise APIConnectionError(f"watch {self._path}: the stream broke: {_describe(exc)}") from exc
            if self._closed:
                raise StopAsyncIteration
            if not chunk:
                tail = bytes(self._buffer).strip()
                self._buffer.clear()
                if tail:
                    return self._decode(tail)
                await self.close()
                raise StopAsyncIteration
            self._buffer.extend(chunk)

    def _decode(self, line: bytes) -> WatchEvent:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise APIConnectionError(f"watch {self._path}: undecodable event: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise APIConnectionError(f"watch {self._path}: an event without a type: {line[:200]!r}")
        obj = event.get("object")
        if not isinstance(obj, dict):
            obj = {}
        if event["type"] == "ERROR":
            status = dict(obj)
            status.setdefault("kind", "Status")
            raise APIStatusError(status)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = str(rv)
        return WatchEvent(event["type"], obj)


class Resource:
    """The verbs of one API resource (e.g. apps/v1 deployments) on upstream's paths."""

    def __init__(self, client: APIClient, *, group: str, version: str, plural: str, namespaced: bool) -> None:
        if group:
            check_segment(group, what="group")
        self.client = client
        self.group = group
        self.version = check_segment(version, what="version")
        self.plural = check_segment(plural, what="resource")
        self.namespaced = namespaced

    def __repr__(self) -> str:
        return f"Resource({self.api_version} {self.plural}{'' if self.namespaced else ', cluster-scoped'})"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path for the collection, one object, or one object's subresource."""
        parts = ["apis", self.group, self.version] if self.group else ["api", self.version]
        if namespace is not None:
            if not self.namespaced:
                raise ValueError(f"{self.group_resource} is cluster-scoped: do not pass a namespace")
            parts += ["namespaces", check_segment(namespace, what="namespace")]
        parts.append(self.plural)
        if name is not None:
            parts.append(check_segment(name, what="name"))
        if subresource is not None:
            if name is None:
                raise ValueError(f"subresource {subresource!r} needs an object name")
            parts.append(check_segment(subresource, what="subresource"))
        return "/" + "/".join(parts)

    def _namespace_for(self, namespace: str | None, body: Obj | None = None) -> str | None:
        """The namespace of a single-object request: the argument, else the object's own."""
        if not self.namespaced:
            if namespace is not None:
                raise ValueError(f"{self.group_resource} is cluster-scoped: do not pass a namespace")
            return None
        if namespace is None and body is not None:
            namespace = (body.get("metadata") or {}).get("namespace") or None
        if namespace is None:
            raise ValueError(f"{self.group_resource} is namespaced: pass namespace= "
                             "(or set metadata.namespace in the object)")
        return namespace

    @staticmethod
    def _name_of(body: Obj, *, what: str) -> str:
        if not isinstance(body, dict):
            raise ValueError(f"the {what} body must be an object (a dict), got {type(body).__name__}")
        name = (body.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"the {what} body needs metadata.name")
        return name

    @staticmethod
    def _write_params(*, dry_run: bool, field_manager: str | None, field_validation: str | None) -> Params:
        params: Params = []
        if dry_run:
            params.append(("dryRun", "All"))
        if field_manager:
            params.append(("fieldManager", field_manager))
        if field_validation is not None:
            if field_validation not in ("Strict", "Warn", "Ignore"):
                raise ValueError(f'field_validation: unsupported value "{field_validation}": supported values: '
                                 '"Strict", "Warn", "Ignore"')
            params.append(("fieldValidation", field_validation))
        return params

    # ---- reads ---------------------------------------------------------------------------------

    async def get(self, name: str, *, namespace: str | None = None) -> Obj:
        path = self.path(namespace=self._namespace_for(namespace), name=name)
        result: Obj = await self.client.request("GET", path)
        return result

    async def list(self, *, namespace: str | None = None, label_selector: Selector = None,
                   field_selector: Selector = None, limit: int | None = None, continue_token: str | None = None,
                   resource_version: str | None = None, resource_version_match: str | None = None) -> Obj:
        """One page of the collection (all namespaces when ``namespace`` is None)."""
        params = _selector_params(label_selector, field_selector)
        if limit is not None:
            if limit < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            params.append(("limit", str(limit)))
        if continue_token:
            params.append(("continue", continue_token))
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if resource_version_match is not None:
            params.append(("resourceVersionMatch", resource_version_match))
        result: Obj = await self.client.request("GET", self.path(namespace=namespace), params=params)
        return result

    async def list_all(self, *, namespace: str | None = None, label_selector: Selector = None,
                       field_selector: Selector = None, page_size: int = 500) -> Obj:
        """The whole collection, fetched in pages of ``page_size`` (client-go's ListPager).

        All pages come from one snapshot (the continue token pins the revision). If the token expires
        (410) midway, the collection is fetched again in one unpaged request, as the pager falls back.
        """
        items: list[Obj] = []
        token: str | None = None
        first: Obj | None = None
        while True:
            try:
                page = await self.list(namespace=namespace, label_selector=label_selector,
                                       field_selector=field_selector, limit=page_size, continue_token=token)
            except APIStatusError as exc:
                if not (exc.is_gone() and token):
                    raise
                log.info("continue token of %s expired while paging; listing in full", self.group_resource)
                return await self.list(namespace=namespace, label_selector=label_selector,
                                       field_selector=field_selector)
            first = first or page
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                metadata = {k: v for k, v in (page.get("metadata") or {}).items()
                            if k not in ("continue", "remainingItemCount")}
                return {**first, "metadata": metadata, "items": items}

    def watch(self, *, namespace: str | None = None, name: str | None = None, label_selector: Selector = None,
              field_selector: Selector = None, resource_version: str | None = None,
              allow_watch_bookmarks: bool = False, timeout_seconds: int | None = None,
              send_initial_events: bool | None = None) -> WatchStream:
        """A watch on the collection (or on the one object ``name``, as client-go watches by name).

        ``resource_version``: None or "0" starts with synthetic ADDED events for what exists; a list's
        resourceVersion resumes exactly after it. Too old a version raises 410 on the first read.
        """
        if name is not None:
            check_segment(name, what="name")
            by_name = f"metadata.name={name}"
            text = selector_text(field_selector, what="field_selector")
            field_selector = f"{text},{by_name}" if text else by_name
        params: Params = [("watch", "true"), *_selector_params(label_selector, field_selector)]
        if resource_version is not None:
            params.append(("resourceVersion", resource_version))
        if allow_watch_bookmarks:
            params.append(("allowWatchBookmarks", "true"))
        if send_initial_events is not None:
            params.append(("sendInitialEvents", "true" if send_initial_events else "false"))
            if send_initial_events:
                params.append(("resourceVersionMatch", "NotOlderThan"))
        stream_timeout: float | None = None
        if timeout_seconds is not None:
            if timeout_seconds < 0:
                raise ValueError(f"timeout_seconds must be >= 0, got {timeout_seconds}")
            params.append(("timeoutSeconds", str(timeout_seconds)))
            # the server ends the stream at timeoutSeconds; the margin catches a server that went silent
            stream_timeout = timeout_seconds + 30.0
        return WatchStream(self.client, self.path(namespace=namespace), params, timeout=stream_timeout)

    # ---- writes --------------------------------------------------------------------------------

    async def create(self, body: Obj, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None, field_validation: str | None = None) -> Obj:
        if not isinstance(body, dict):
            raise ValueError(f"the create body must be an object (a dict), got {type(body).__name__}")
        path = self.path(namespace=self._namespace_for(namespace, body))
        params = self._write_params(dry_run=dry_run, field_manager=field_manager, field_validation=field_validation)
        result: Obj = await self.client.request("POST", path, params=params, body=body)
        return result

    async def update(self, body: Obj, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None, field_validation: str | None = None) -> Obj:
        """PUT the whole object; its metadata.resourceVersion (if set) is the optimistic-lock precondition."""
        return await self._put(body, namespace=namespace, subresource=None, dry_run=dry_run,
                               field_manager=field_manager, field_validation=field_validation)

    async def update_status(self, body: Obj, *, namespace: str | None = None, dry_run: bool = False,
                            field_manager: str | None = None) -> Obj:
        """PUT to the status subresource: the server keeps the spec, takes the status."""
        return await self._put(body, namespace=namespace, subresource="status", dry_run=dry_run,
                               field_manager=field_manager, field_validation=None)

    async def _put(self, body: Obj, *, namespace: str | None, subresource: str | None, dry_run: bool,
                   field_manager: str | None, field_validation: str | None) -> Obj:
        name = self._name_of(body, what="update")
        path = self.path(namespace=self._namespace_for(namespace, body), name=name, subresource=subresource)
        params = self._write_params(dry_run=dry_run, field_manager=field_manager, field_validation=field_validation)
        result: Obj = await self.client.request("PUT", path, params=params, body=body)
        return result

    async def patch(self, name: str, body: Obj | Sequence[Obj], *, namespace: str | None = None,
                    patch_type: PatchType = "merge", field_manager: str | None = None, force: bool | None = None,
                    dry_run: bool = False, subresource: str | None = None) -> Obj:
        """PATCH with a JSON patch (a list of operations), a merge, strategic-merge or apply patch.

        ``apply`` is server-side apply: ``field_manager`` is required and ``force`` takes over fields
        other managers own. ``force`` is only meaningful for apply, as upstream enforces.
        """
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f'patch_type: unsupported value "{patch_type}": supported values: '
                             + ", ".join(f'"{t}"' for t in PATCH_CONTENT_TYPES))
        if patch_type == "json":
            if not isinstance(body, list):
                raise ValueError("a json patch must be a list of operations, e.g. "
                                 '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
        elif not isinstance(body, dict):
            raise ValueError(f"a {patch_type} patch must be an object (a dict), got {type(body).__name__}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("field_manager is required for apply patches (server-side apply records who "
                             "owns each field)")
        if force is not None and patch_type != "apply":
            raise ValueError("force may only be given for apply patches")
        path = self.path(namespace=self._namespace_for(namespace), name=name, subresource=subresource)
        params = self._write_params(dry_run=dry_run, field_manager=field_manager, field_validation=None)
        if force is not None:
            params.append(("force", "true" if force else "false"))
        result: Obj = await self.client.request("PATCH", path, params=params, body=body, content_type=content_type)
        return result

    async def delete(self, name: str, *, namespace: str | None = None, grace_period_seconds: int | None = None,
                     propagation_policy: str | None = None, preconditions: Mapping[str, str] | None = None,
                     dry_run: bool = False) -> Obj:
        """DELETE one object; the answer is the object (still terminating) or a Success Status."""
        path = self.path(namespace=self._namespace_for(namespace), name=name)
        options = _delete_options(grace_period_seconds=grace_period_seconds,
                                  propagation_policy=propagation_policy, preconditions=preconditions,
                                  dry_run=dry_run)
        result: Obj = await self.client.request("DELETE", path, body=options)
        return result

    async def delete_collection(self, *, namespace: str | None = None, label_selector: Selector = None,
                                field_selector: Selector = None, grace_period_seconds: int | None = None,
                                propagation_policy: str | None = None, dry_run: bool = False) -> Obj:
        """DELETE every selected object of a namespace (or of a cluster-scoped resource)."""
        if self.namespaced and namespace is None:
            raise ValueError(f"{self.group_resource} is namespaced: delete_collection needs namespace= "
                             "(upstream serves deletecollection per namespace only)")
        options = _delete_options(grace_period_seconds=grace_period_seconds,
                                  propagation_policy=propagation_policy, preconditions=None, dry_run=dry_run)
        params = _selector_params(label_selector, field_selector)
        result: Obj = await self.client.request("DELETE", self.path(namespace=namespace), params=params,
                                                body=options)
        return result

    def subresource(self, name: str) -> Subresource:
        """A subresource handle: status, scale, binding, eviction, finalize, ..."""
        return Subresource(self, check_segment(name, what="subresource"))


class Subresource:
    """Verbs on ``<object>/<subresource>``: GET/PUT/PATCH for status and scale, POST for binding and eviction."""

    def __init__(self, parent: Resource, name: str) -> None:
        self.parent = parent
        self.name = name

    def __repr__(self) -> str:
        return f"Subresource({self.parent.group_resource}/{self.name})"

    async def get(self, name: str, *, namespace: str | None = None) -> Obj:
        parent = self.parent
        path = parent.path(namespace=parent._namespace_for(namespace), name=name, subresource=self.name)
        result: Obj = await parent.client.request("GET", path)
        return result

    async def create(self, name: str, body: Obj, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None) -> Obj:
        """POST to the subresource of object ``name`` (pods/binding, pods/eviction)."""
        parent = self.parent
        if not isinstance(body, dict):
            raise ValueError(f"the {self.name} body must be an object (a dict), got {type(body).__name__}")
        path = parent.path(namespace=parent._namespace_for(namespace), name=name, subresource=self.name)
        params = Resource._write_params(dry_run=dry_run, field_manager=field_manager, field_validation=None)
        result: Obj = await parent.client.request("POST", path, params=params, body=body)
        return result

    async def update(self, body: Obj, *, name: str | None = None, namespace: str | None = None,
                     dry_run: bool = False, field_manager: str | None = None) -> Obj:
        """PUT to the subresource (status, scale, finalize); the object name defaults to metadata.name."""
        parent = self.parent
        target = name or Resource._name_of(body, what=self.name)
        path = parent.path(namespace=parent._namespace_for(namespace, body if parent.namespaced else None),
                           name=target, subresource=self.name)
        params = Resource._write_params(dry_run=dry_run, field_manager=field_manager, field_validation=None)
        result: Obj = await parent.client.request("PUT", path, params=params, body=body)
        return result

    async def patch(self, name: str, body: Obj | Sequence[Obj], *, namespace: str | None = None,
                    patch_type: PatchType = "merge", field_manager: str | None = None, force: bool | None = None,
                    dry_run: bool = False) -> Obj:
        return await self.parent.patch(name, body, namespace=namespace, patch_type=patch_type,
                                       field_manager=field_manager, force=force, dry_run=dry_run,
                                       subresource=self.name)


def _selector_params(label_selector: Selector, field_selector: Selector) -> Params:
    params: Params = []
    labels = selector_text(label_selector, what="label_selector")
    if labels:
        params.append(("labelSelector", labels))
    fields = selector_text(field_selector, what="field_selector")
    if fields:
        params.append(("fieldSelector", fields))
    return params


def _delete_options(*, grace_period_seconds: int | None, propagation_policy: str | None,
                    preconditions: Mapping[str, str] | None, dry_run: bool) -> Obj:
    options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if grace_period_seconds is not None:
        if grace_period_seconds < 0:
            raise ValueError(f"grace_period_seconds must be >= 0, got {grace_period_seconds}")
        options["gracePeriodSeconds"] = grace_period_seconds
    if propagation_policy is not None:
        if propagation_policy not in PROPAGATION_POLICIES:
            raise ValueError(f'propagation_policy: unsupported value "{propagation_policy}": supported values: '
                             + ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES))
        options["propagationPolicy"] = propagation_policy
    if preconditions:
        unknown = set(preconditions) - {"uid", "resourceVersion"}
        if unknown:
            raise ValueError(f"preconditions: unsupported keys {sorted(unknown)}: supported keys: "
                             '"uid", "resourceVersion"')
        options["preconditions"] = dict(preconditions)
    if dry_run:
        options["dryRun"] = ["All"]
    return options

