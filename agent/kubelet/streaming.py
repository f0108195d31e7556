"""Exec, attach and port-forward on the kubelet: the user's stream protocol onto the runtime's.

Design
------
CRI Exec/Attach/PortForward hand out a one-time URL on the runtime's streaming server (containerd's
copy of the kubelet's CRI streaming package). That server speaks SPDY/3.1 (remote command protocols
v1-v4, ``portforward.k8s.io``) and the ``channel.k8s.io`` WebSocket protocols up to v4. What the kubelet
does with a request depends on what the client offers:

* a SPDY upgrade, or a WebSocket the runtime understands (the official Python client's
  ``v4.channel.k8s.io`` exec and port-forward): proxied byte for byte (:mod:`kubelite.upgradeaware`),
  as upstream's kubelet proxies to its runtime;
* a ``v5.channel.k8s.io`` WebSocket (kubectl 1.30+ exec and attach): terminated here, because the
  runtime cannot read v5's CLOSE signal. Each channel maps onto one SPDY stream to the runtime
  (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize) and CLOSE of channel 0 becomes a FIN on the
  stdin stream, so ``kubectl cp`` and ``kubectl exec -i`` deliver end-of-file. The exit status the
  runtime writes on the error stream (a v4 ``Status``) goes out unchanged on channel 3;
* a ``SPDY/3.1+portforward.k8s.io`` WebSocket (kubectl 1.31+ port-forward): its binary messages carry
  a SPDY session; the bytes are carried to the runtime's SPDY port-forward endpoint and back.

Refusals happen before the client's upgrade is answered, as an HTTP error, so kubectl can fall back to
SPDY as it does against an upstream kubelet that refuses WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import WSMsgType, web

from kubelite.agent.kubelet import spdy
from kubelite.upgradeaware import UpgradeError, is_upgrade_request, proxy_upgrade, upstream_from_url

log = logging.getLogger(__name__)

V5_PROTOCOL: Final = "v5.channel.k8s.io"
PORT_FORWARD_TUNNEL_PROTOCOL: Final = "SPDY/3.1+portforward.k8s.io"
STREAM_CLOSE: Final = 255
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
STREAM_TYPES: Final = {STDIN: "stdin", STDOUT: "stdout", STDERR: "stderr", ERROR: "error", RESIZE: "resize"}


class StreamRequestError(Exception):
    """The request cannot be streamed; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StreamOptions:
    """Which standard streams a remote command uses (upstream's remotecommand Options)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _flag(value: str | None) -> bool:
    # The API server sends "1" (upstream's streamParams); direct callers often send "true".
    return value is not None and value.lower() in ("1", "true")


def stream_options(query: dict[str, str] | web.Request) -> StreamOptions:
    """Parse stdin/stdout/stderr/tty as upstream's NewOptions: tty suppresses stderr; one stream is required."""
    get = query.query.get if isinstance(query, web.Request) else query.get
    tty = _flag(get("tty"))
    stdin, stdout = _flag(get("stdin")), _flag(get("stdout"))
    stderr = _flag(get("stderr")) and not tty
    if not (stdin or stdout or stderr):
        raise StreamRequestError("you must specify at least 1 of stdin, stdout, stderr")
    return StreamOptions(stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)


def _offered_websocket_protocols(request: web.Request) -> list[str]:
    offered: list[str] = []
    for value in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered += [p.strip() for p in value.split(",") if p.strip()]
    return offered


def _is_websocket(request: web.Request) -> bool:
    return is_upgrade_request(request) and request.headers.get("Upgrade", "").lower() == "websocket"


async def _passthrough(request: web.Request, url: str) -> web.StreamResponse:
    """Hand the client's upgrade to the runtime unchanged (the client's query is appended for port lists)."""
    query = request.rel_url.raw_query_string  # still percent-encoded: it goes onto a request line
    target = url + (("&" if "?" in url else "?") + query if query else "")
    try:
        return await proxy_upgrade(request=request, upstream=upstream_from_url(target))
    except UpgradeError as exc:
        raise StreamRequestError(f"error proxying to the container runtime's streaming server: {exc}", status=502)


async def serve_remote_command(*, request: web.Request, url: str, options: StreamOptions) -> web.StreamResponse:
    """Serve an exec or attach whose runtime URL is ``url`` (from CRI Exec/Attach)."""
    if not is_upgrade_request(request):
        raise StreamRequestError("Upgrade request required")
    if _is_websocket(request) and V5_PROTOCOL in _offered_websocket_protocols(request):
        return await _bridge_v5(request=request, url=url, options=options)
    return await _passthrough(request, url)


async def serve_port_forward(*, request: web.Request, url: str) -> web.StreamResponse:
    """Serve a port-forward whose runtime URL is ``url`` (from CRI PortForward)."""
    if not is_upgrade_request(request):
        raise StreamRequestError("Upgrade request required")
    if _is_websocket(request) and PORT_FORWARD_TUNNEL_PROTOCOL in _offered_websocket_protocols(request):
        return await _tunnel_port_forward(request=request, url=url)
    return await _passthrough(request, url)


# ---- v5.channel.k8s.io over WebSocket, bridged to SPDY streams ------------------------------------


async def _bridge_v5(*, request: web.Request, url: str, options: StreamOptions) -> web.WebSocketResponse:
    try:
        connection, chosen = await spdy.dial(url, protocols=["v4.channel.k8s.io"])
    except spdy.SpdyError as exc:
        raise StreamRequestError(str(exc), status=502)
    try:
        if chosen != "v4.channel.k8s.io":
            raise StreamRequestError(f"the container runtime chose stream protocol {chosen!r}; "
                                     "v4.channel.k8s.io is required", status=502)
        # Error stream first, as the remote command clients create them (the server counts replies).
        wanted = [ERROR] + [c for c, on in ((STDIN, options.stdin), (STDOUT, options.stdout),
                                            (STDERR, options.stderr), (RESIZE, options.tty)) if on]
        streams: dict[int, spdy.SpdyStream] = {}
        for channel in wanted:
            streams[channel] = await connection.open_stream({"streamType": STREAM_TYPES[channel]})
    except (spdy.SpdyError, StreamRequestError):
        await connection.close()
        raise
    ws = web.WebSocketResponse(protocols=(V5_PROTOCOL,), max_msg_size=0)
    try:
        await ws.prepare(request)
        # As upstream's WebSocket server: an empty frame on the lowest writable channel says "connected".
        await ws.send_bytes(bytes([STDOUT if options.stdout else STDERR if options.stderr else ERROR]))
        await _run_bridge(ws, streams)
    finally:
        await connection.close()
        if not ws.closed:
            await ws.close()
    return ws


async def _pump_out(ws: web.WebSocketResponse, stream: spdy.SpdyStream, channel: int) -> bytes:
    """Copy a runtime stream to the client; the error channel is collected and returned instead."""
    collected = b""
    while True:
        data = await stream.read()
        if not data:
            return collected
        if channel == ERROR:
            collected += data
        elif not ws.closed:
            await ws.send_bytes(bytes([channel]) + data)


async def _pump_in(ws: web.WebSocketResponse, streams: dict[int, spdy.SpdyStream]) -> None:
    """Client messages to the runtime: stdin and resize data, and v5 CLOSE of stdin."""
    async for message in ws:
        if message.type != WSMsgType.BINARY or not message.data:
            continue
        channel, payload = message.data[0], message.data[1:]
        if channel == STREAM_CLOSE:
            if payload and (target := streams.get(payload[0])) is not None:
                with contextlib.suppress(spdy.SpdyError):
                    await target.close()
            continue
        stream = streams.get(channel)
        if stream is not None and channel in (STDIN, RESIZE) and payload and not stream.local_closed:
            with contextlib.suppress(spdy.SpdyError):
                await stream.write(payload)


async def _run_bridge(ws: web.WebSocketResponse, streams: dict[int, spdy.SpdyStream]) -> None:
    outputs = [asyncio.ensure_future(_pump_out(ws, streams[c], c)) for c in (STDOUT, STDERR, ERROR) if c in streams]
    inbound = asyncio.ensure_future(_pump_in(ws, streams))
    try:
        finished: asyncio.Future[list[bytes]] = asyncio.gather(*outputs)
        waiting: set[asyncio.Future[Any]] = {finished, inbound}
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if finished not in done:
            # The client went away first: stop the session (closing the SPDY connection ends it).
            finished.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finished
            return
        status = outputs[-1].result()
        if status and not ws.closed:
            await ws.send_bytes(bytes([ERROR]) + status)
    finally:
        inbound.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await inbound


# ---- SPDY tunnelled in WebSocket binary messages (port-forward) -----------------------------------


async def _tunnel_port_forward(*, request: web.Request, url: str) -> web.WebSocketResponse:
    try:
        reader, writer, chosen = await spdy.upgrade(url, protocols=["portforward.k8s.io"])
    except spdy.SpdyError as exc:
        raise StreamRequestError(str(exc), status=502)
    if chosen != "portforward.k8s.io":
        writer.close()
        raise StreamRequestError(f"the container runtime chose port-forward protocol {chosen!r}", status=502)
    ws = web.WebSocketResponse(protocols=(PORT_FORWARD_TUNNEL_PROTOCOL,), max_msg_size=0)
    try:
        await ws.prepare(request)

        async def runtime_to_client() -> None:
            while data := await reader.read(64 * 1024):
                await ws.send_bytes(data)

        async def client_to_runtime() -> None:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    writer.write(message.data)
                    await writer.drain()

        tasks = [asyncio.ensure_future(runtime_to_client()), asyncio.ensure_future(client_to_runtime())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await task
    finally:
        writer.close()
        if not ws.closed:
            await ws.close()
    return ws
