"""kubectl's v5.channel.k8s.io WebSocket bridged onto SPDY streams to a (fake) runtime streaming server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from kubelite.agent.kubelet import spdy, streaming

EXIT_3 = json.dumps({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                     "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}).encode()


async def runtime_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[str]) -> None:
    """A v4 remote command server: echoes stdin upper-cased on stdout; at stdin's end, exits 3."""
    framer, streams = spdy.Framer(), {}
    while True:
        try:
            frame = await framer.read(reader)
        except asyncio.IncompleteReadError:
            return
        if frame.kind == spdy.SYN_STREAM:
            kind = frame.headers["streamtype"][0]
            seen.append(kind)
            streams[kind] = frame.stream_id
            writer.write(framer.syn_reply(frame.stream_id, {}))
        elif frame.kind == 0 and frame.stream_id == streams.get("stdin"):
            if frame.data:
                writer.write(framer.data(streams["stdout"], frame.data.upper()))
            if frame.fin:
                writer.write(framer.data(streams["stderr"], b"bye"))
                writer.write(framer.data(streams["error"], EXIT_3, fin=True))
                writer.write(framer.goaway(0))
                await writer.drain()
                writer.close()
                return


@pytest_asyncio.fixture
async def kubelet() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], list[str]]]:
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"X-Stream-Protocol-Version: v4.channel.k8s.io" in head
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     b"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n")
        await runtime_session(reader, writer, seen)

    runtime = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{runtime.sockets[0].getsockname()[1]}/exec/token"

    async def exec_handler(request: web.Request) -> web.StreamResponse:
        try:
            return await streaming.serve_remote_command(request=request, url=url,
                                                        options=streaming.stream_options(request))
        except streaming.StreamRequestError as exc:
            return web.Response(status=exc.status, text=str(exc))

    app = web.Application()
    app.router.add_route("*", "/exec", exec_handler)
    try:
        async with TestClient(TestServer(app)) as client:
            yield client, seen
    finally:
        runtime.close()


async def test_v5_session_carries_stdin_end_and_the_exit_status(
        kubelet: tuple[TestClient[web.Request, web.Application], list[str]]) -> None:
    client, seen = kubelet
    async with client.ws_connect("/exec?stdin=1&stdout=1&stderr=1", protocols=["v5.channel.k8s.io"]) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        assert (await ws.receive_bytes(timeout=5)) == b"\x01"  # "connected", on the lowest writable channel
        await ws.send_bytes(b"\x00abc")
        assert (await ws.receive_bytes(timeout=5)) == b"\x01ABC"
        await ws.send_bytes(b"\xff\x00")  # v5 CLOSE of stdin
        messages = []
        while (message := await ws.receive(timeout=5)).type == WSMsgType.BINARY:
            messages.append(message.data)
        assert messages == [b"\x02bye", b"\x03" + EXIT_3]
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert seen == ["error", "stdin", "stdout", "stderr"]  # error stream first, as remotecommand clients do


async def test_no_upgrade_and_no_streams_are_refused(
        kubelet: tuple[TestClient[web.Request, web.Application], list[str]]) -> None:
    client, _ = kubelet
    response = await client.get("/exec?stdout=1")
    assert (response.status, await response.text()) == (400, "Upgrade request required")
    response = await client.get("/exec")
    assert "you must specify at least 1 of stdin, stdout, stderr" in await response.text()


def test_tty_drops_stderr_as_upstream() -> None:
    options = streaming.stream_options({"tty": "1", "stderr": "1", "stdout": "true"})
    assert (options.tty, options.stdout, options.stderr) == (True, True, False)
    with pytest.raises(streaming.StreamRequestError):
        streaming.stream_options({"tty": "1", "stderr": "1"})
