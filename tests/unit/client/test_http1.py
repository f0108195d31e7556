"""The lean HTTP/1.1 transport (``APIClient(lean_requests=True)``): the wire cases aiohttp handles for us.

A raw asyncio server sends exactly the bytes of each case (chunked, gzip, close-delimited, interim
answers, a server that closes idle connections); an aiohttp server checks that both transports put
the same request on the wire as the server sees it.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubelite.client.config import ClientConfig
from kubelite.client.rest import APIClient, APIConnectionError, APIStatusError

Answerer = Callable[[bytes, int], bytes | None]  # (request head+body, connection's request count) -> answer bytes


class RawServer:
    """Answers each request with the bytes ``answer`` returns (None: close the connection)."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.close_after_answer = False

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        count = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                count += 1
                answer = self.answer(head + body, count)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Answerer], Awaitable[tuple[RawServer, APIClient]]]]:
    servers: list[RawServer] = []
    clients: list[APIClient] = []

    async def start(answer: Answerer, **client_args: Any) -> tuple[RawServer, APIClient]:
        server = RawServer(answer)
        port = await server.start()
        servers.append(server)
        client = APIClient(ClientConfig(server=f"http://127.0.0.1:{port}"), lean_requests=True, max_retries=1,
                           **client_args)
        clients.append(client)
        return server, client

    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            assert server.server is not None
            server.server.close()


def _json_answer(obj: Any, *, status: str = "200 OK", extra: bytes = b"") -> bytes:
    body = orjson.dumps(obj)
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


CM = {"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v" * 3000}}


async def test_keep_alive_reuses_one_connection(raw_server: Any) -> None:
    server, client = await raw_server(lambda request, n: _json_answer(CM))
    for _ in range(5):
        assert await client.resource("", "v1", "configmaps").get("a", namespace="ns") == CM
    assert server.connections == 1 and len(server.requests) == 5


@pytest.mark.parametrize("answer", [
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"".join(f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n"
                            for part in (orjson.dumps(CM)[:10], orjson.dumps(CM)[10:]))
                 + b"0\r\nX-Trailer: t\r\n\r\n", id="chunked-with-extension-and-trailer"),
    pytest.param(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + f"{len(orjson.dumps(CM)):X}\r\n".encode() + orjson.dumps(CM) + b"\r\n0\r\n\r\n", id="chunked"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
                 + str(len(gzip.compress(orjson.dumps(CM)))).encode() + b"\r\n\r\n" + gzip.compress(orjson.dumps(CM)),
                 id="gzip"),
    pytest.param(b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: "
                 + str(len(zlib.compress(orjson.dumps(CM)))).encode() + b"\r\n\r\n" + zlib.compress(orjson.dumps(CM)),
                 id="deflate"),
    pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n" + _json_answer(CM), id="interim-answer-skipped"),
    pytest.param(b"HTTP/1.0 200 OK\r\n\r\n" + orjson.dumps(CM), id="body-until-the-connection-closes"),
])
async def test_answer_framings(raw_server: Any, answer: bytes) -> None:
    server, client = await raw_server(lambda request, n: answer)
    # an answer without a length ends with the connection: the server closes after it
    server.close_after_answer = b"Content-Length" not in answer and b"chunked" not in answer
    assert await client.resource("", "v1", "configmaps").get("a", namespace="ns") == CM
    # and the next request works too, on the same connection or (after a close) a new one
    assert await client.resource("", "v1", "configmaps").get("a", namespace="ns") == CM
    assert server.connections == (2 if server.close_after_answer else 1)


async def test_bytes_on_an_idle_connection_retire_it(raw_server: Any) -> None:
    # some servers say 408 on a connection they are about to close; the next answer must not be that
    server, client = await raw_server(lambda request, n: _json_answer(CM) + b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    configmaps = client.resource("", "v1", "configmaps")
    assert await configmaps.get("a", namespace="ns") == CM
    await asyncio.sleep(0.05)
    assert await configmaps.get("a", namespace="ns") == CM
    assert server.connections == 2


async def test_connection_close_retires_the_connection(raw_server: Any) -> None:
    server, client = await raw_server(lambda request, n: _json_answer(CM, extra=b"Connection: close\r\n"))
    for _ in range(3):
        assert await client.resource("", "v1", "configmaps").get("a", namespace="ns") == CM
    assert server.connections == 3


async def test_a_kept_connection_the_server_dropped_is_retried_for_idempotent_methods_only(raw_server: Any) -> None:
    # the server answers one request per connection; the second request on it is read and dropped
    # (as a server's keep-alive timeout races with a new request)
    server, client = await raw_server(lambda request, n: _json_answer(CM) if n == 1 else None)
    configmaps = client.resource("", "v1", "configmaps")
    assert await configmaps.get("a", namespace="ns") == CM
    assert await configmaps.get("a", namespace="ns") == CM  # dropped on the kept connection, sent again
    assert server.connections == 2 and len(server.requests) == 3
    # a POST is not repeated (aiohttp does not either): the caller decides
    with pytest.raises(APIConnectionError, match=r"POST .*/api/v1/namespaces/ns/configmaps: the server closed"):
        await configmaps.create({"metadata": {"name": "b", "namespace": "ns"}})
    assert server.connections == 2
    assert await configmaps.get("a", namespace="ns") == CM  # a new connection, kept
    # a GET is sent again once only: dropped on the kept connection, then on a fresh one
    server.answer = lambda request, n: None
    with pytest.raises(APIConnectionError, match=r"GET .*: the server closed the connection before answering"):
        await configmaps.get("a", namespace="ns")
    assert server.connections == 4


async def test_timeouts_and_garbage_are_connection_errors(raw_server: Any) -> None:
    def never(request: bytes, n: int) -> bytes | None:
        return b""

    _, client = await raw_server(never, timeout=0.2)
    with pytest.raises(APIConnectionError, match="the request timed out"):
        await client.resource("", "v1", "configmaps").get("a", namespace="ns")
    _, client = await raw_server(lambda request, n: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(APIConnectionError, match=r"not an HTTP/1\.x status line"):
        await client.resource("", "v1", "configmaps").get("a", namespace="ns")


async def test_status_errors_and_retry_after(raw_server: Any) -> None:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 409, "reason": "AlreadyExists",
              "message": 'configmaps "a" already exists'}
    calls: list[int] = []

    def answer(request: bytes, n: int) -> bytes:
        calls.append(n)
        if len(calls) == 1:
            return _json_answer({"kind": "Status", "code": 503}, status="503 Service Unavailable",
                                extra=b"Retry-After: 0\r\n")
        return _json_answer(status, status="409 Conflict")

    _, client = await raw_server(answer)
    with pytest.raises(APIStatusError) as caught:
        await client.resource("", "v1", "configmaps").create({"metadata": {"name": "a", "namespace": "ns"}})
    assert caught.value.is_already_exists() and len(calls) == 2


@pytest.mark.parametrize("lean", [False, True], ids=["aiohttp", "lean"])
async def test_both_transports_send_the_same_request(lean: bool) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update(path=request.path, query=list(request.query.items()), method=request.method,
                    headers={k: v for k, v in request.headers.items()
                             if k in ("User-Agent", "Accept", "Authorization", "Content-Type", "Content-Length")},
                    body=await request.read())
        return web.json_response({"kind": "Status", "status": "Success"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = APIClient(ClientConfig(server=f"http://127.0.0.1:{port}", token="t0k"), lean_requests=lean)
    try:
        await client.resource("apps", "v1", "deployments").delete_collection(
            namespace="n-1", label_selector="app in (a b, c),tier!=db", field_selector="metadata.name=x&y")
        assert seen == {
            "path": "/apis/apps/v1/namespaces/n-1/deployments",
            "query": [("labelSelector", "app in (a b, c),tier!=db"), ("fieldSelector", "metadata.name=x&y")],
            "method": "DELETE",
            "headers": {"User-Agent": seen["headers"]["User-Agent"], "Accept": "application/json",
                        "Authorization": "Bearer t0k", "Content-Type": "application/json",
                        "Content-Length": str(len(seen["body"]))},
            "body": orjson.dumps({"kind": "DeleteOptions", "apiVersion": "v1"}),
        }
        await client.request("GET", "/api/v1/namespaces/ns/configmaps/a b")
        assert seen["path"] == "/api/v1/namespaces/ns/configmaps/a b"
        await client.request("POST", "/api/v1/namespaces/ns/configmaps")
        assert seen["method"] == "POST" and seen["body"] == b""
        # a query written into the path is kept, and params join it
        await client.request("POST", "/api/v1/namespaces/ns/pods/p/binding?dryRun=All", params=[("fieldManager", "m")])
        assert (seen["path"], seen["query"]) == ("/api/v1/namespaces/ns/pods/p/binding",
                                                 [("dryRun", "All"), ("fieldManager", "m")])
    finally:
        await client.close()
        await runner.cleanup()


async def test_the_pool_bounds_connections_and_a_wait_for_one_counts_against_the_timeout() -> None:
    peers: set[Any] = set()

    async def slow(request: web.Request) -> web.StreamResponse:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        await asyncio.sleep(0.3)
        return web.json_response(CM)

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/configmaps/a", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = ClientConfig(server=f"http://127.0.0.1:{port}")
    client = APIClient(config, lean_requests=True, max_connections=1)
    hurried = APIClient(config, lean_requests=True, max_connections=1, timeout=0.75)
    try:
        configmaps = client.resource("", "v1", "configmaps")
        assert await asyncio.gather(*(configmaps.get("a", namespace="ns") for _ in range(3))) == [CM] * 3
        assert len(peers) == 1  # one after the other on the one connection
        outcomes = await asyncio.gather(*(hurried.resource("", "v1", "configmaps").get("a", namespace="ns")
                                          for _ in range(3)), return_exceptions=True)
        # the first is answered at 0.3 s, the second (if the host is not slow) at 0.6 s; the third
        # would be at 0.9 s, past the 0.75 s that include its wait for the connection
        assert outcomes[0] == CM
        assert isinstance(outcomes[2], APIConnectionError) and "timed out" in str(outcomes[2])
        # the pool is whole again afterwards
        assert await hurried.resource("", "v1", "configmaps").get("a", namespace="ns") == CM
    finally:
        await client.close()
        await hurried.close()
        await runner.cleanup()
