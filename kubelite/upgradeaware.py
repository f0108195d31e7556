"""Proxy an HTTP upgrade byte for byte: upstream's ``UpgradeAwareHandler``, for aiohttp servers.

Design
------
Two hops of ``kubectl exec|attach|port-forward`` forward a client's upgrade request to another server
and, once that server answers ``101 Switching Protocols``, copy bytes both ways until one side closes:
the API server to the node's kubelet (pods/exec, pods/attach, pods/portforward), and the kubelet to
the container runtime's streaming server (SPDY, and the WebSocket protocols the runtime speaks itself).
Nothing here interprets the upgraded protocol, so every version the two ends agree on passes
(SPDY/3.1 with the v1-v5 channel protocols, channel.k8s.io WebSockets, SPDY tunnelled in WebSocket).

* Only the request line, the query and the upgrade handshake headers (``Upgrade``, ``Sec-WebSocket-*``,
  ``X-Stream-Protocol-Version``) travel; credentials of the first hop never reach the second.
* A non-101 answer is relayed as an ordinary response (status, content type, body up to 1 MiB), so an
  upstream ``Status`` error reaches the client unchanged and the client can fall back (kubectl retries
  with SPDY when a WebSocket upgrade is refused).
* After 101 the connection is taken from aiohttp the way its own WebSocketResponse does it: the 101 head
  goes out through a StreamResponse, the protocol's payload parser is replaced by a feeder that writes
  client bytes straight into the upstream socket, and upstream bytes go to the client transport with
  drain. A client that writes faster than upstream reads has its transport paused until upstream drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["UpgradeError", "Upstream", "is_upgrade_request", "proxy_upgrade", "upstream_from_url"]

# Request headers that make up an upgrade handshake; everything else of the client's request stays behind.
HANDSHAKE_REQUEST_HEADERS: Final = (
    "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions", "X-Stream-Protocol-Version", "Origin",
)
HANDSHAKE_RESPONSE_HEADERS: Final = (
    "Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
    "X-Stream-Protocol-Version",
)
MAX_HEAD_BYTES: Final = 64 * 1024
MAX_ERROR_BODY: Final = 1024 * 1024
CHUNK: Final = 64 * 1024
HIGH_WATER: Final = 256 * 1024


class UpgradeError(Exception):
    """The upstream could not be reached or did not answer HTTP; ``str()`` says which and why."""


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    path_qs: str
    ssl: ssl.SSLContext | None = None


def upstream_from_url(url: str, *, ssl_context: ssl.SSLContext | None = None) -> Upstream:
    """``http(s)://host:port/path?query`` as an :class:`Upstream` (https needs ``ssl_context``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpgradeError(f"cannot proxy to {url!r}: only http:// and https:// URLs with a host are supported")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path_qs = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl_context if parts.scheme == "https" else None
    if parts.scheme == "https" and context is None:
        context = ssl.create_default_context()
    return Upstream(parts.hostname, port, path_qs, context)


def is_upgrade_request(request: web.Request) -> bool:
    connection = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in connection and bool(request.headers.get("Upgrade"))


def _host_header(upstream: Upstream) -> str:
    host = f"[{upstream.host}]" if ":" in upstream.host else upstream.host
    return f"{host}:{upstream.port}"


def _request_head(request: web.Request, upstream: Upstream, extra: Mapping[str, str]) -> bytes:
    lines = [f"{request.method} {upstream.path_qs} HTTP/1.1", f"Host: {_host_header(upstream)}",
             "Connection: Upgrade", "Content-Length: 0"]
    for name in HANDSHAKE_REQUEST_HEADERS:
        lines += [f"{name}: {value}" for value in request.headers.getall(name, [])]
    lines += [f"{name}: {value}" for name, value in extra.items()]
    for line in lines:
        if "\r" in line or "\n" in line:
            raise UpgradeError("a forwarded header contains a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise UpgradeError("the upstream's response head is larger than 64 KiB")
    except asyncio.IncompleteReadError:
        raise UpgradeError("the upstream closed the connection before answering")
    lines = raw.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or not status_line[1].isdigit():
        raise UpgradeError(f"the upstream did not answer HTTP: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return int(status_line[1]), status_line[2] if len(status_line) > 2 else "", headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    found = {name.lower(): value for name, value in headers}
    if "content-length" in found and found["content-length"].isdigit():
        return await reader.read(min(int(found["content-length"]), MAX_ERROR_BODY))
    if found.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while len(body) < MAX_ERROR_BODY:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            body += await reader.readexactly(size)
            await reader.readline()
        return body
    return await reader.read(MAX_ERROR_BODY)


class _ClientFeeder:
    """Stands in for aiohttp's payload parser: every byte the client sends goes to the upstream socket."""

    def __init__(self, *, upstream: asyncio.StreamWriter, client: asyncio.Transport) -> None:
        self.upstream = upstream
        self.client = client
        self.paused = False
        self.eof = asyncio.Event()
        self._resuming: asyncio.Task[None] | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self.upstream.is_closing():
            self.upstream.write(data)
            if not self.paused and self.upstream.transport.get_write_buffer_size() > HIGH_WATER:
                self.paused = True
                self.client.pause_reading()
                self._resuming = asyncio.ensure_future(self._resume())
        return False, b""

    async def _resume(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.upstream.drain()
        self.paused = False
        if not self.client.is_closing():
            self.client.resume_reading()

    def feed_eof(self) -> None:
        self.eof.set()
        if self.upstream.is_closing():
            return
        if self.upstream.can_write_eof():
            with contextlib.suppress(OSError):
                self.upstream.write_eof()
        else:
            self.upstream.close()


async def proxy_upgrade(*, request: web.Request, upstream: Upstream, extra_headers: Mapping[str, str] | None = None,
                        connect_timeout: float = 10.0) -> web.StreamResponse:
    """Forward ``request``'s upgrade to ``upstream``; after 101, copy bytes until either side closes.

    Raises :class:`UpgradeError` when the upstream cannot be reached or does not answer HTTP.
    """
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(upstream.host, upstream.port, ssl=upstream.ssl, limit=MAX_HEAD_BYTES),
            connect_timeout)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise UpgradeError(f"cannot connect to {_host_header(upstream)}: {exc or type(exc).__name__}")
    try:
        writer.write(_request_head(request, upstream, extra_headers or {}))
        status, reason, headers = await asyncio.wait_for(_read_head(reader), connect_timeout)
        if status != 101:
            body = await asyncio.wait_for(_read_body(reader, headers), connect_timeout)
            content_type = next((v for n, v in headers if n.lower() == "content-type"), "text/plain")
            writer.close()
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as exc:
        writer.close()
        raise UpgradeError(f"{_host_header(upstream)} failed during the upgrade handshake: "
                           f"{exc or type(exc).__name__}")
    except BaseException:
        writer.close()
        raise

    response = web.StreamResponse(status=101, reason=reason or "Switching Protocols")
    for name, value in headers:
        if name.title() in HANDSHAKE_RESPONSE_HEADERS or name in HANDSHAKE_RESPONSE_HEADERS:
            response.headers.add(name, value)
    await response.prepare(request)
    transport = request.transport
    if transport is None:  # the client went away during the handshake
        writer.close()
        return response
    feeder = _ClientFeeder(upstream=writer, client=transport)
    request.protocol.keep_alive(False)
    # aiohttp types its parser slot as a WebSocketReader; anything with feed_data/feed_eof serves.
    request.protocol.set_parser(cast(Any, feeder))
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data or transport.is_closing():
                break
            transport.write(data)
            await request.writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError):
            await writer.wait_closed()
        transport.close()
    return response
