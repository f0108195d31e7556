"""Byte-for-byte upgrade proxying (kubelite.upgradeaware) between a raw client and a raw upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from kubelite.upgradeaware import UpgradeError, Upstream, proxy_upgrade, upstream_from_url


@pytest_asyncio.fixture
async def upstream() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers 101 and echoes upper-cased bytes, or 403 with a Status for paths containing "refuse"."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        if b"refuse" in head.split(b"\r\n")[0]:
            body = b'{"kind":"Status","code":403}'
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test/1\r\n"
                         b"X-Stream-Protocol-Version: v9\r\nX-Secret: no\r\n\r\n")
            while data := await reader.read(1024):
                writer.write(data.upper())
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], heads
    finally:
        server.close()


@pytest_asyncio.fixture
async def proxy(upstream: tuple[int, list[bytes]]) -> AsyncIterator[int]:
    port = upstream[0]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await proxy_upgrade(request=request, upstream=Upstream("127.0.0.1", port, request.path_qs))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server:
        assert server.port is not None
        yield server.port


async def request_upgrade(port: int, path: str) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test/1\r\n"
                 "X-Stream-Protocol-Version: v9\r\nAuthorization: Bearer secret\r\nContent-Length: 0\r\n\r\n".encode())
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5), reader, writer


async def test_bytes_flow_both_ways_after_101(proxy: int, upstream: tuple[int, list[bytes]]) -> None:
    head, reader, writer = await request_upgrade(proxy, "/exec/x?command=ls")
    assert head.startswith(b"HTTP/1.1 101")
    assert b"X-Stream-Protocol-Version: v9" in head and b"X-Secret" not in head
    forwarded = upstream[1][0]
    assert forwarded.startswith(b"POST /exec/x?command=ls HTTP/1.1")
    assert b"Authorization" not in forwarded  # the first hop's credentials stay behind
    for word in (b"hello", b"world" * 50_000):
        writer.write(word)
        got = b""
        while len(got) < len(word):
            got += await asyncio.wait_for(reader.read(65536), 5)
        assert got == word.upper()
    writer.close()


async def test_a_refusal_is_relayed_as_a_response(proxy: int) -> None:
    head, reader, writer = await request_upgrade(proxy, "/refuse")
    assert head.startswith(b"HTTP/1.1 403")
    assert b"application/json" in head
    assert b'"code":403' in await asyncio.wait_for(reader.read(1000), 5)
    writer.close()


def test_upstream_urls() -> None:
    target = upstream_from_url("http://127.0.0.1:3000/exec/abc?x=1")
    assert (target.host, target.port, target.path_qs, target.ssl) == ("127.0.0.1", 3000, "/exec/abc?x=1", None)
    assert upstream_from_url("https://[::1]/p").ssl is not None
    with pytest.raises(UpgradeError, match="only http"):
        upstream_from_url("ftp://h/p")
