"""The lean HTTP/1.1 edge of the API server: one-shot requests answered without aiohttp's machinery.

Why: a binding or an Event costs the API server ~0.2 ms of CPU in aiohttp's request and response
objects, middleware chain, router, stream reader and writer, against ~0.1 ms for TLS and the socket;
at hundreds of writes a second that was a fifth of the server. The listener speaks HTTP/1.1 itself
for the requests that need no more than a parse, one handler call and one write, and hands every
other connection to aiohttp's own protocol, with the bytes it has read, from the request it could
not take on. aiohttp then serves that connection to its end, exactly as if it had accepted it.

A request stays here when all of these hold, else its connection goes to aiohttp:

* a well-formed HTTP/1.1 request line (``GET|POST|PUT|PATCH|DELETE``, an origin-form target with no
  ``%`` in its path and no ``#``) and header block (token names, no folded lines, no control
  characters), at most ``MAX_HEAD_BYTES`` of it;
* a ``Host`` header, no header twice; no ``Transfer-Encoding``, ``Upgrade``, ``Expect`` or ``TE``; a
  ``Connection`` header naming only ``keep-alive`` or ``close``; a ``Content-Length`` of digits only, at
  most ``MAX_BODY_BYTES``;
* ``APIServer.lean_handler`` gives it a handler: the router's choice would be the same handler, and
  it answers with one ``web.Response`` (no watches, logs, exec/attach/port-forward, proxies, extra
  routes, discovery roots, /openapi).

The handler runs through ``APIServer.serve``, the same edge aiohttp's middleware runs: authentication,
authorization, ``Status`` errors, request metrics and audit are the same. The answer is that
``web.Response``'s status, reason and headers, ``Content-Length`` and ``Date``, and its body; a
request on a connection is answered before the next is read (pipelined requests wait in order), the
connection closes after ``Connection: close`` and after ``KEEPALIVE_TIMEOUT`` seconds idle, as
aiohttp's do, and a client that stops reading stops the connection's next request until its answers
drain.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any, Final, cast

from aiohttp import web
from aiohttp.helpers import parse_content_type
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.app import LEAN_METHODS, MAX_BODY_BYTES, APIServer, status_response
from kubelite.controlplane.apiserver.request import EdgeRequest

log = logging.getLogger(__name__)

MAX_HEAD_BYTES: Final = 8190  # aiohttp's max_line_size and max_field_size: a longer head is aiohttp's to refuse
KEEPALIVE_TIMEOUT: Final = 75.0  # aiohttp's default: an idle connection closes after this many seconds
# past this many unread bytes on a connection (requests a client pipelined while one is served), reading
# pauses until they are taken
MAX_BUFFERED: Final = MAX_BODY_BYTES + 2 * MAX_HEAD_BYTES

# one header line: a token name, a colon, the value without its surrounding blanks; obs-fold, a blank
# before the colon, control characters other than tab: no match (aiohttp refuses or decides those)
_HEADER_LINE: Final = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*((?:[\x21-\x7e\x80-\xff]"
                                 rb"(?:[\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?)?)[ \t]*")
_TARGET: Final = re.compile(rb"/[\x21-\x22\x24-\x7e]*")  # origin-form, printable ASCII, no '#'
_METHODS: Final = frozenset(method.encode("ascii") for method in LEAN_METHODS)  # as they arrive
# request headers that belong to aiohttp (message framing, upgrades, interim answers)
_HAND_OVER_HEADERS: Final = frozenset({"transfer-encoding", "upgrade", "expect", "te"})
_EMPTY_QUERY: Final = MultiDictProxy(MultiDict[str]())
_DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"  # RFC 9110, as aiohttp reads a missing header

LeanHandler = Callable[[EdgeRequest], Awaitable[web.StreamResponse]]


class LeanRequest(dict[str, Any]):
    """A request read off a lean connection, with the ``EdgeRequest`` members aiohttp's requests have
    and their meaning (``query`` parsed by yarl, ``content_type`` by aiohttp's own parser); the dict
    holds the per-request values handlers set (``request["user"]``)."""

    __slots__ = ("_body", "_query", "headers", "method", "path", "query_string", "transport")

    def __init__(self, *, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str],
                 body: bytes, transport: asyncio.Transport) -> None:
        super().__init__()
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.transport: asyncio.Transport | None = transport
        self._body = body
        self._query: MultiDictProxy[str] | None = None

    @property
    def query(self) -> MultiDictProxy[str]:
        if self._query is None:
            self._query = URL.build(query_string=self.query_string, encoded=True).query \
                if self.query_string else _EMPTY_QUERY
        return self._query

    @property
    def rel_url(self) -> URL:
        return URL.build(path=self.path, query_string=self.query_string, encoded=True)

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        if raw is None:
            return _DEFAULT_CONTENT_TYPE
        return _content_type(raw)

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        return None if raw is None else int(raw)

    @property
    def body_exists(self) -> bool:
        return bool(self._body)

    @property
    def can_read_body(self) -> bool:
        return bool(self._body)

    @property
    def remote(self) -> str | None:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        if isinstance(peer, (list, tuple)):
            return str(peer[0])
        return None

    async def read(self) -> bytes:
        return self._body


_content_types: dict[str, str] = {}


def _content_type(raw: str) -> str:
    """The media type of a Content-Type value as aiohttp's ``request.content_type`` reads it (memoized:
    a few values recur)."""
    found = _content_types.get(raw)
    if found is None:
        if len(_content_types) >= 256:
            _content_types.clear()
        found = _content_types[raw] = parse_content_type(raw)[0]
    return found


class _Date:
    """The ``Date`` header value, formatted once a second."""

    second = -1
    value = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls.second:
            cls.value = formatdate(second, usegmt=True).encode()
            cls.second = second
        return cls.value


class HeadError(Exception):
    """The response cannot be written as HTTP/1.1 (a CR or LF in a header): answered as a 500."""


def encode_response(response: web.Response, *, keep_alive: bool) -> bytes:
    """Status line, headers and body of a complete ``web.Response``, as aiohttp would write them."""
    body = response.body
    if body is None:
        body = b""
    elif not isinstance(body, (bytes, bytearray)):
        raise HeadError(f"a lean answer needs its body in bytes, not {type(body).__name__}")
    if response.chunked or response.compression:
        raise HeadError("a lean answer can be neither chunked nor compressed")
    lines = [f"HTTP/1.1 {response.status} {response.reason}"]
    has_type = False
    for name, value in response.headers.items():
        lowered = name.lower()
        if lowered in ("content-length", "transfer-encoding", "connection", "date"):
            continue  # this writer's to set
        if lowered == "content-type":
            has_type = True
        lines.append(f"{name}: {value}")
    if not has_type and body:
        lines.append(f"Content-Type: {_DEFAULT_CONTENT_TYPE}")
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = "\r\n".join(lines)
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        raise HeadError("a newline or carriage return in the status line or a header")
    return b"".join((head.encode("utf-8"), b"\r\nDate: ", _Date.now(), b"\r\n\r\n", body))


class _Connection(asyncio.Protocol):
    """One accepted connection, while it is the lean edge's."""

    def __init__(self, server: LeanHTTPServer) -> None:
        self._server = server
        self._loop = server.loop
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._busy = False  # a request's handler runs or its answer is not written yet
        self._write_paused = False
        self._read_paused = False
        self._eof = False
        self._closed = False
        self._handed_over = False
        self._last_active = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None  # the request being served
        # the head of the request whose body is still arriving: its end, what it says, its handler
        self._pending: tuple[int, tuple[str, str, str, CIMultiDictProxy[str], int, bool], LeanHandler] | None = None

    # ---- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, TLS or TCP (uvloop's implement asyncio.Transport without subclassing it)
        self.transport = cast(asyncio.Transport, transport)
        self._server.connections.add(self)
        if self._server.closing:
            self.close()
            return
        self._idle_timer = self._loop.call_at(self._last_active + KEEPALIVE_TIMEOUT, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next()
        elif len(self._buffer) > MAX_BUFFERED and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        # the transport closes itself after this (TLS always does): an answer in progress is dropped, as
        # aiohttp drops it
        self._eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if not self._busy and not self._closed:
            self._next()

    # ---- requests -------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self._server.connections.discard(self)
            self.transport.close()

    def idle(self) -> bool:
        return not self._busy

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._closed or self._handed_over:
            return
        due = self._last_active + KEEPALIVE_TIMEOUT
        if not self._busy and self._loop.time() >= due:
            self.close()
            return
        self._idle_timer = self._loop.call_at(max(due, self._loop.time() + 1.0), self._check_idle)

    def _next(self) -> None:
        """Take the next complete request in the buffer: serve it here, or hand the connection over."""
        if self._closed or self._write_paused or self._handed_over:
            return
        buffer = self._buffer
        if not buffer:
            return
        if self._pending is not None:
            end, parsed, handler = self._pending
        else:
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES + 3:
                    self._hand_over()  # a head too long, or no HTTP at all: aiohttp answers
                return
            found = _parse_head(bytes(buffer[:end]))
            if found is None:
                self._hand_over()
                return
            parsed = found
            lean = self._server.api.lean_handler(parsed[0], parsed[1], parsed[2])
            if lean is None:
                self._hand_over()
                return
            handler = lean
        method, path, query_string, headers, length, keep_alive = parsed
        start = end + 4
        if len(buffer) < start + length:
            self._pending = (end, parsed, handler)
            if self._read_paused and self.transport is not None:  # the body is still to come: read it
                self._read_paused = False
                self.transport.resume_reading()
            return
        self._pending = None
        body = bytes(buffer[start:start + length])
        del buffer[:start + length]
        if self._read_paused and len(buffer) <= MAX_BUFFERED and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()
        assert self.transport is not None
        request = LeanRequest(method=method, path=path, query_string=query_string, headers=headers, body=body,
                              transport=self.transport)
        self._busy = True
        # held here: the loop keeps only a weak reference to a task
        self._task = self._loop.create_task(self._serve(request, handler, keep_alive))

    async def _serve(self, request: LeanRequest, handler: LeanHandler, keep_alive: bool) -> None:
        try:
            try:
                response = await self._server.api.serve(request, handler)
            except web.HTTPException as exc:  # as aiohttp answers one a handler raises
                response = web.Response(status=exc.status, reason=exc.reason, text=exc.text, headers=exc.headers)
            if not isinstance(response, web.Response):
                raise HeadError(f"a lean handler answered with a {type(response).__name__}")
            data = encode_response(response, keep_alive=keep_alive)
        except (ConnectionResetError, asyncio.CancelledError):
            self.close()
            return
        except Exception:
            log.exception("internal error serving %s %s", request.method, request.path)
            data = encode_response(status_response(errors.internal("an unexpected error; see the server log")),
                                   keep_alive=keep_alive)
        self._busy = False
        self._task = None
        self._last_active = self._loop.time()
        if self._closed or self.transport is None:
            return
        self.transport.write(data)
        if not keep_alive:
            self.close()
            return
        if self._server.closing:
            self.close()
            return
        self._next()

    def _hand_over(self) -> None:
        """Give the connection, with every byte read and not yet served, to a new aiohttp protocol."""
        transport = self.transport
        assert transport is not None and not self._busy
        self._handed_over = True
        self._server.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        handler = self._server.fallback()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        data = bytes(self._buffer)
        self._buffer.clear()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        if data:
            handler.data_received(data)
        if self._eof:
            handler.eof_received()


def _parse_head(head: bytes) -> tuple[str, str, str, CIMultiDictProxy[str], int, bool] | None:
    """Method, path, query string, headers, body length and keep-alive of a request head the lean edge
    serves; None when aiohttp is to take it."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return None
    method, target, version = parts
    if version != b"HTTP/1.1" or method not in _METHODS or not _TARGET.fullmatch(target):
        return None
    raw_path, _, raw_query = target.partition(b"?")
    if b"%" in raw_path:
        return None  # percent-decoding is yarl's, through aiohttp
    fields: list[tuple[str, str]] = []
    length = 0
    seen: set[str] = set()
    keep_alive = True
    memo = _header_lines
    for line in lines[1:]:
        found = memo.get(line, _UNSEEN)
        if found is _UNSEEN:
            found = _header_line(line)
            if len(line) <= HEADER_MEMO_LINE:
                if len(memo) >= HEADER_MEMO_SIZE:
                    memo.clear()
                memo[line] = found
        if found is None:
            return None
        name, value, lowered = found
        if lowered in _HAND_OVER_HEADERS or lowered in seen:
            return None  # aiohttp refuses some headers twice (Host, Content-Length ...): it decides on all repeats
        seen.add(lowered)
        if lowered == "content-length":
            if not value.isdigit() or not value.isascii():
                return None
            length = int(value)
            if length > MAX_BODY_BYTES:
                return None  # aiohttp answers 413
        elif lowered == "connection":
            for part in value.split(","):
                token = part.strip().lower()
                if token == "close":
                    keep_alive = False
                elif token != "keep-alive":
                    return None
        fields.append((name, value))
    if "host" not in seen:
        return None  # aiohttp answers 400: HTTP/1.1 requires Host
    return (method.decode("ascii"), raw_path.decode("ascii"), raw_query.decode("ascii"),
            CIMultiDictProxy(CIMultiDict(fields)), length, keep_alive)


# header lines seen before -> (name, value, lower-case name), None for a line the lean edge does not take: a
# client sends the same Host, User-Agent, Accept, Authorization ... lines on every request
HEADER_MEMO_SIZE: Final = 4096
HEADER_MEMO_LINE: Final = 2048  # longer lines are parsed each time: the memo holds at most ~8 MiB
_header_lines: dict[bytes, tuple[str, str, str] | None] = {}
_UNSEEN: Final[Any] = object()


def _header_line(line: bytes) -> tuple[str, str, str] | None:
    match = _HEADER_LINE.fullmatch(line)
    if match is None:
        return None
    name = match.group(1).decode("ascii")
    return name, match.group(2).decode("utf-8", "surrogateescape"), name.lower()


class LeanHTTPServer:
    """The API server's listener: connections start on the lean edge; ``fallback`` makes the aiohttp
    protocol a connection is handed to (``web.AppRunner.server``, which also closes those at shutdown)."""

    def __init__(self, *, api: APIServer, fallback: Callable[[], asyncio.Protocol]) -> None:
        self.api = api
        self.fallback = fallback
        self.loop = asyncio.get_running_loop()
        self.connections: set[_Connection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, *, ssl_context: Any, backlog: int = 1024) -> None:
        self._server = await self.loop.create_server(lambda: _Connection(self), host, port, ssl=ssl_context,
                                                     reuse_address=True, backlog=backlog)

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    async def close(self, timeout: float = 2.0) -> None:
        """Stop accepting; close idle lean connections now and busy ones once answered (``timeout`` at
        most). Connections handed to aiohttp are the runner's to close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.idle():
                connection.close()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            self._server = None
