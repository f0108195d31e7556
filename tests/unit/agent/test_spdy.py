"""SPDY/3.1 framing and the client connection, against a small SPDY server written with the same Framer.

(Interoperation with the real thing, containerd's Go SPDY server, is proven by
tests/e2e/test_kubectl_streaming_against_kubelet.py.)
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kubelite.agent.kubelet import spdy

Session = Callable[[asyncio.StreamReader, asyncio.StreamWriter, spdy.Framer], Awaitable[None]]


def test_header_dictionary_is_the_spdy3_one() -> None:
    # 1423 bytes ending in the spec's last entry; a wrong byte breaks every header block on the wire
    assert len(spdy.HEADER_DICTIONARY) == 1423
    assert spdy.HEADER_DICTIONARY.startswith(b"\x00\x00\x00\x07options")
    assert spdy.HEADER_DICTIONARY.endswith(b"utf-,*,enq=0.")
    assert zlib.adler32(spdy.HEADER_DICTIONARY) == 0xE3C6A7C2  # dictionary id a Go peer announces


async def test_frames_round_trip_between_two_framers() -> None:
    writer_side, reader_side = spdy.Framer(), spdy.Framer()
    stream = asyncio.StreamReader()
    stream.feed_data(writer_side.syn_stream(1, {"streamType": "error", "Port": ["80", "81"]}))
    stream.feed_data(writer_side.syn_stream(3, {"streamType": "stdin"}))  # second block: shared context
    stream.feed_data(writer_side.data(3, b"payload", fin=True))
    stream.feed_data(writer_side.ping(7))
    stream.feed_data(writer_side.rst_stream(5))
    stream.feed_data(writer_side.goaway(3))
    first = await reader_side.read(stream)
    assert (first.kind, first.stream_id, first.headers) == (spdy.SYN_STREAM, 1,
                                                            {"streamtype": ["error"], "port": ["80", "81"]})
    assert (await reader_side.read(stream)).headers == {"streamtype": ["stdin"]}
    data = await reader_side.read(stream)
    assert (data.kind, data.stream_id, data.data, data.fin) == (0, 3, b"payload", True)
    assert (await reader_side.read(stream)).value == 7
    assert (await reader_side.read(stream)).kind == spdy.RST_STREAM
    assert (await reader_side.read(stream)).kind == spdy.GOAWAY


async def test_a_wrong_version_is_a_protocol_error() -> None:
    stream = asyncio.StreamReader()
    stream.feed_data(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
    with pytest.raises(spdy.SpdyError, match="version 2"):
        await spdy.Framer().read(stream)


async def fake_server(session: Session, *, status: str = "101 Switching Protocols",
                      protocol: str = "v4.channel.k8s.io") -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Upgrade: SPDY/3.1" in head
        writer.write(f"HTTP/1.1 {status}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     f"X-Stream-Protocol-Version: {protocol}\r\n\r\n".encode())
        if status.startswith("101"):
            await session(reader, writer, spdy.Framer())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/exec/token"
    finally:
        server.close()


async def echo_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framer: spdy.Framer) -> None:
    """Accept streams; echo stdin onto stdout; on stdin's FIN write a Status on error and go away."""
    streams: dict[str, int] = {}
    while True:
        try:
            frame = await framer.read(reader)
        except asyncio.IncompleteReadError:
            return
        if frame.kind == spdy.SYN_STREAM:
            streams[frame.headers["streamtype"][0]] = frame.stream_id
            writer.write(framer.syn_reply(frame.stream_id, {}))
            if "stdout" in frame.headers["streamtype"]:
                writer.write(framer.ping(2))  # the client must answer pings
        elif frame.kind == spdy.PING:
            writer.write(framer.data(streams["stdout"], b"pong seen\n"))
        elif frame.kind == 0 and frame.stream_id == streams.get("stdin"):
            if frame.data:
                writer.write(framer.data(streams["stdout"], frame.data.upper()))
            if frame.fin:
                writer.write(framer.data(streams["stdout"], b"", fin=True))
                writer.write(framer.data(streams["error"], b'{"status":"Success"}', fin=True))
                writer.write(framer.goaway(0))
                await writer.drain()
                return


async def test_client_streams_data_half_closes_and_sees_goaway() -> None:
    async for url in fake_server(echo_session):
        connection, chosen = await spdy.dial(url, protocols=["v4.channel.k8s.io", "v3.channel.k8s.io"])
        assert chosen == "v4.channel.k8s.io"
        error = await connection.open_stream({"streamType": "error"})
        stdin = await connection.open_stream({"streamType": "stdin"})
        stdout = await connection.open_stream({"streamType": "stdout"})
        assert (error.id, stdin.id, stdout.id) == (1, 3, 5)
        assert await asyncio.wait_for(stdout.read(), 5) == b"pong seen\n"
        await stdin.write(b"hello")
        assert await asyncio.wait_for(stdout.read(), 5) == b"HELLO"
        await stdin.close()
        assert await asyncio.wait_for(stdout.read(), 5) == b""
        assert await asyncio.wait_for(error.read(), 5) == b'{"status":"Success"}'
        assert await asyncio.wait_for(error.read(), 5) == b""
        await asyncio.wait_for(connection.closed.wait(), 5)
        with pytest.raises(spdy.SpdyError):
            await stdin.write(b"too late")
        await connection.close()


async def test_a_refused_upgrade_is_reported() -> None:
    async for url in fake_server(echo_session, status="400 Bad Request"):
        with pytest.raises(spdy.SpdyError, match=r"refused the upgrade: HTTP/1\.1 400"):
            await spdy.dial(url, protocols=["v4.channel.k8s.io"])


async def test_nothing_listening_is_reported() -> None:
    with pytest.raises(spdy.SpdyError, match="cannot connect"):
        await spdy.dial("http://127.0.0.1:1/exec/x", protocols=["v4.channel.k8s.io"], timeout=2)
