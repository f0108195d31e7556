"""A lean HTTP/1.1 keep-alive transport for one-shot API requests (``APIClient(lean_requests=True)``).

Why: a process that makes hundreds of small API calls a second (the scheduler: one ``pods/binding``
and one Event per pod) spent more CPU in aiohttp's client machinery than in scheduling: ~0.25 ms per
request in request/response objects, URL building, cookie and header handling, timers and stream
readers, against ~0.05 ms for writing one request and parsing its answer. This transport does only
what the API client needs, with the same results:

* a bounded pool (``limit`` connections, the most recently used reused first, closed after
  ``keepalive`` seconds idle) of connections to one server, over TLS when ``ssl`` is given;
* one request at a time per connection: ``Host``, the caller's headers, ``Content-Length``; the
  answer is read by ``Content-Length``, chunked transfer coding, or to the end of the connection,
  decoded from gzip/deflate if the server chose to (it should not: no ``Accept-Encoding`` is sent);
  1xx interim answers are skipped; ``Connection: close`` (or an HTTP/1.0 answer) retires the connection;
* as aiohttp, a request that fails on a *reused* connection before any answer came (the server
  closed it while idle) is sent again once on a fresh connection, for idempotent methods only.

Failures raise ``OSError`` (incl. ``ssl.SSLError`` and ``ConnectionError``), ``TimeoutError`` or
``HTTPProtocolError``; ``APIClient`` turns them into ``APIConnectionError`` as it does aiohttp's.
Watches and other streams stay on aiohttp.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import Final, cast

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
MAX_HEAD_BYTES: Final = 1 << 20  # an answer's status line and headers; more is a broken peer


class HTTPProtocolError(Exception):
    """The peer's bytes are not an HTTP/1.x answer (or the connection ended inside one)."""


class ServerDisconnected(ConnectionError):
    """The connection ended before the whole answer arrived."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header keeps its last value
    body: bytes


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; ``exchange`` sends a request and waits for its answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._received = False  # any byte of the current answer
        self._head_request = False
        # parse state of the current answer
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._length: int | None = None  # Content-Length; None: chunked or to the end
        self._chunked = False
        self._chunk_left: int | None = None  # bytes left of the current chunk (+2 for its CRLF)
        self._chunks: list[bytes] = []
        self.keep_alive = True

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # bytes while no request is out (a server's 408 before it closes an idle connection): the
            # connection can no longer tell whose answer is whose, so it is never used again
            self.keep_alive = False
            self.close()
            return
        self._buffer += data
        self._received = True
        try:
            self._parse()
        except HTTPProtocolError as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost finishes or fails the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers is not None and self._length is None and not self._chunked:
            self._finish(bytes(self._buffer))  # an answer delimited by the end of the connection
            return
        error = ServerDisconnected("the server closed the connection before answering"
                                   if not self._received else "the server closed the connection mid-answer")
        if exc is not None:
            error.__cause__ = exc
        self._fail(error)

    # -- one exchange --

    async def exchange(self, request: bytes, *, head: bool, deadline: float) -> Answer:
        """Send ``request``; its answer, or TimeoutError when none came by ``deadline`` (loop time)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._received = False
        self._head_request = head
        self._headers = None
        # one timer, not asyncio.timeout(): that costs several times more per request
        timer = loop.call_at(deadline, self._fail, TimeoutError("the request timed out"))
        self.transport.write(request)
        try:
            answer: Answer = await waiter
            return answer
        finally:
            timer.cancel()
            self._waiter = None

    @property
    def received_any(self) -> bool:
        return self._received

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: BaseException) -> None:
        self.keep_alive = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()

    def _finish(self, body: bytes) -> None:
        headers = self._headers
        assert headers is not None
        encoding = headers.get("content-encoding", "").strip().lower()
        if body and encoding in ("gzip", "x-gzip", "deflate"):
            try:
                # 47: a gzip or zlib header, whichever it is; a raw deflate stream needs -15
                body = zlib.decompress(body, 47) if encoding != "deflate" or body[:1] == b"\x78" \
                    else zlib.decompress(body, -15)
            except zlib.error as exc:
                self._fail(HTTPProtocolError(f"cannot decode the {encoding} answer: {exc}"))
                return
        if self._buffer:
            self.keep_alive = False  # bytes nobody asked for: the connection is out of step
        waiter, self._waiter = self._waiter, None  # bytes after the answer find no request: see data_received
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, headers, body))

    def _parse(self) -> None:
        buffer = self._buffer
        while self._headers is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise HTTPProtocolError("the answer's headers are too large")
                return
            lines = bytes(buffer[:end]).split(b"\r\n")
            del buffer[:end + 4]
            version, _, rest = lines[0].partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise HTTPProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
            status = int(code)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if not sep:
                    raise HTTPProtocolError(f"a malformed header line: {line[:100]!r}")
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            if 100 <= status < 200 and status != 101:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._status, self._headers = status, headers
            connection = headers.get("connection", "").lower()
            if version == b"HTTP/1.0":
                self.keep_alive = "keep-alive" in connection
            else:
                self.keep_alive = "close" not in connection
            self._chunked = False
            self._chunks = []
            self._chunk_left = None
            if self._head_request or status in (204, 304):
                self._length = 0
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                self._length, self._chunked = None, True
            elif "content-length" in headers:
                try:
                    self._length = int(headers["content-length"])
                except ValueError:
                    raise HTTPProtocolError(f"a bad Content-Length: {headers['content-length']!r}") from None
                if self._length < 0:
                    raise HTTPProtocolError(f"a bad Content-Length: {headers['content-length']!r}")
            else:
                self._length = None
                self.keep_alive = False  # the body ends with the connection
                return
        if self._length is not None:
            if len(buffer) >= self._length:
                body = bytes(buffer[:self._length])
                del buffer[:self._length]
                self._finish(body)
            return
        if self._chunked:
            self._parse_chunks()

    def _parse_chunks(self) -> None:
        buffer = self._buffer
        while True:
            if self._chunk_left is None:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise HTTPProtocolError(f"a bad chunk size: {size_text[:40]!r}") from None
                if size == 0:
                    # the last chunk; then optional trailer lines and an empty line
                    if buffer[end + 2:end + 4] == b"\r\n":
                        del buffer[:end + 4]
                    else:
                        trailers_end = buffer.find(b"\r\n\r\n", end + 2)
                        if trailers_end < 0:
                            return
                        del buffer[:trailers_end + 4]
                    self._finish(b"".join(self._chunks))
                    return
                del buffer[:end + 2]
                self._chunk_left = size + 2
            if len(buffer) < self._chunk_left:
                return
            self._chunks.append(bytes(buffer[:self._chunk_left - 2]))
            del buffer[:self._chunk_left]
            self._chunk_left = None


class ConnectionPool:
    """Keep-alive connections to one server (``host``:``port``), at most ``limit`` at once."""

    def __init__(self, *, host: str, port: int, ssl_context: ssl.SSLContext | None, server_hostname: str | None,
                 limit: int, keepalive: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.limit = limit
        self.keepalive = keepalive
        self._idle: list[_Connection] = []
        self._active = 0  # requests holding a connection slot
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    async def request(self, method: str, request: bytes, *, deadline: float, connect_timeout: float) -> Answer:
        """Send the complete request bytes; the answer, or TimeoutError at ``deadline`` (loop time)."""
        if self._closed:
            raise ConnectionError("the connection pool is closed")
        loop = asyncio.get_running_loop()
        while self._active >= self.limit:
            await self._wait_for_slot(loop, deadline)
        self._active += 1
        try:
            retried = False
            while True:
                connection = self._reuse()
                reused = connection is not None
                if connection is None:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise TimeoutError("the request timed out")
                    connection = await self._connect(min(connect_timeout, remaining))
                done = False
                try:
                    answer = await connection.exchange(request, head=method == "HEAD", deadline=deadline)
                    done = True
                except ServerDisconnected:
                    if (reused and not retried and not connection.received_any
                            and method in IDEMPOTENT_METHODS):
                        retried = True  # the server had closed it while idle: once more on a new one
                        continue
                    raise
                finally:
                    if done and connection.keep_alive and not connection.closed and not self._closed:
                        connection.idle_since = time.monotonic()
                        self._idle.append(connection)
                    elif not connection.closed:
                        connection.close()  # failed, cancelled (timeout) or retired: never reused
                return answer
        finally:
            self._active -= 1
            self._wake_one()

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Wait until a slot may be free (the caller checks again) or raise TimeoutError at ``deadline``."""
        waiter: asyncio.Future[None] = loop.create_future()
        self._slot_waiters.append(waiter)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._wake_one()  # woken and then cancelled: the wake-up goes to the next one
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                self._slot_waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and connection.keep_alive and now - connection.idle_since < self.keepalive:
                return connection
            connection.close()
        return None

    async def _connect(self, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl_context,
                                   server_hostname=self.server_hostname if self.ssl_context else None),
            timeout)
        return protocol

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("the request timed out"))
