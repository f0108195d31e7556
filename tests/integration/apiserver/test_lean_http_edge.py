"""The lean HTTP/1.1 edge (controlplane/apiserver/http1_server.py) on a real API server over TLS.

One ``ControlPlane`` runs in the test's loop (SQLite, no controllers or scheduler). Requests go over raw
TLS connections so that the bytes on the wire are the test's: the same requests on a connection the lean
edge serves and on one handed to aiohttp (its first request is one the lean edge never takes) must get the
same answers; pipelined, trickled, chunked, oversized, malformed and upgrade-bound requests must be answered
as aiohttp answers them, and a connection can carry lean requests and then a watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubelite.client import load_kubeconfig
from kubelite.controlplane.apiserver import http1_server
from kubelite.controlplane.server import ControlPlane, ServerConfig

Answer = tuple[int, dict[str, str], bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Plane:
    def __init__(self, plane: ControlPlane, port: int, context: ssl.SSLContext, token: str | None) -> None:
        self.plane = plane
        self.port = port
        self.context = context
        self.token = token

    async def connect(self, *, anonymous: bool = False) -> Connection:
        """A connection with the admin's client certificate, or (``anonymous``) with none."""
        context = self.context
        if anonymous:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=context,
                                                       server_hostname="127.0.0.1")
        return Connection(reader, writer)


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[Plane]:
    port = _free_port()
    config = ServerConfig(data_dir=tmp_path / "data", write_kubeconfig=tmp_path / "admin.kubeconfig",
                          bind_address="127.0.0.1", secure_port=port, disable_controllers=True,
                          disable_scheduler=True)
    control = ControlPlane(config)
    try:
        await control.start()
        client = load_kubeconfig(tmp_path / "admin.kubeconfig")
        assert control.listener is not None  # the lean edge is the default
        yield Plane(control, port, client.ssl_context(), client.bearer_token())
    finally:
        await control.stop()


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> Answer:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 30)
        lines = head[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    async def exchange(self, data: bytes) -> Answer:
        await self.send(data)
        return await self.answer()

    async def closed_by_peer(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), 10) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def request(plane: Plane, method: str, target: str, body: Any = None, *, headers: dict[str, str] | None = None,
            content_type: str = "application/json", auth: bool = True) -> bytes:
    raw = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    fields = {"Host": "127.0.0.1", "User-Agent": "lean-edge-test/1.0", "Accept": "application/json"}
    if auth and plane.token:
        fields["Authorization"] = f"Bearer {plane.token}"
    if body is not None:
        fields.update({"Content-Type": content_type, "Content-Length": str(len(raw))})
    fields.update(headers or {})  # the test's own values replace the defaults
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # a path the lean edge leaves to aiohttp


async def aiohttp_connection(plane: Plane) -> Connection:
    connection = await plane.connect()
    status, headers, body = await connection.exchange(HEALTHZ)
    assert (status, body) == (200, b"ok")
    assert "aiohttp" in headers.get("server", "")  # from here on the connection is aiohttp's
    return connection


VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "time")


def normalized(body: bytes, name: str) -> Any:
    """A JSON answer with the connection's own object name and the per-write values taken out."""
    if not body.startswith((b"{", b"[")):
        return body
    text = body.decode().replace(name, "NAME") if name else body.decode()

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("X" if k in VOLATILE else scrub(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub(orjson.loads(text))


def script(plane: Plane, name: str) -> list[tuple[str, bytes]]:
    ns = "/api/v1/namespaces/default"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"set": name}},
          "data": {"k": "v"}}
    return [
        ("version", request(plane, "GET", "/version")),
        ("get namespace", request(plane, "GET", "/api/v1/namespaces/default")),
        ("create", request(plane, "POST", f"{ns}/configmaps", cm)),
        ("create again", request(plane, "POST", f"{ns}/configmaps", cm)),
        ("get", request(plane, "GET", f"{ns}/configmaps/{name}")),
        ("get as table", request(plane, "GET", f"{ns}/configmaps/{name}",
                                 headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})),
        ("list by label (percent-encoded query)", request(plane, "GET", f"{ns}/configmaps?labelSelector=set%3D{name}")),
        ("merge patch", request(plane, "PATCH", f"{ns}/configmaps/{name}", {"data": {"k": "w"}},
                                content_type="application/merge-patch+json")),
        ("unknown field warns", request(plane, "PUT", f"{ns}/configmaps/{name}",
                                        {**cm, "data": {"k": "x"}, "bogus": 1})),
        ("strict unknown field", request(plane, "PUT", f"{ns}/configmaps/{name}?fieldValidation=Strict",
                                         {**cm, "bogus": 1})),
        ("yaml body", request(plane, "POST", f"{ns}/configmaps",
                              f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-y\n".encode(),
                              content_type="application/yaml")),
        ("bad json", request(plane, "POST", f"{ns}/configmaps", b"{not json")),
        ("unsupported media type", request(plane, "POST", f"{ns}/configmaps", b"x", content_type="text/plain")),
        ("no such object", request(plane, "GET", f"{ns}/configmaps/{name}-missing")),
        ("no such resource", request(plane, "GET", f"{ns}/bogus")),
        ("put on a collection", request(plane, "PUT", f"{ns}/configmaps", cm)),
        ("delete", request(plane, "DELETE", f"{ns}/configmaps/{name}")),
        ("delete with options body", request(plane, "DELETE", f"{ns}/configmaps/{name}-y",
                                             {"kind": "DeleteOptions", "apiVersion": "v1",
                                              "gracePeriodSeconds": 0})),
    ]


async def test_lean_answers_are_aiohttp_answers(plane: Plane) -> None:
    lean = await plane.connect()
    handed = await aiohttp_connection(plane)
    try:
        for (what, lean_request), (_, aiohttp_request) in zip(script(plane, "lean-cm"), script(plane, "aio-cm"),
                                                             strict=True):
            lean_status, lean_headers, lean_body = await lean.exchange(lean_request)
            status, headers, body = await handed.exchange(aiohttp_request)
            assert lean_status == status, what
            assert "server" not in lean_headers, what  # the answer came from the lean edge
            for volatile in ("date", "server", "content-length"):
                lean_headers.pop(volatile, None)
                headers.pop(volatile, None)
            assert lean_headers == headers, what
            assert normalized(lean_body, "lean-cm") == normalized(body, "aio-cm"), what
    finally:
        await lean.close()
        await handed.close()


async def test_anonymous_requests_get_the_same_answers(plane: Plane) -> None:
    lean = await plane.connect(anonymous=True)
    handed = await plane.connect(anonymous=True)
    try:
        assert (await handed.exchange(HEALTHZ))[0] == 200
        cases = [("/api/v1/namespaces/default/configmaps", None, 401), ("/version", None, 200),
                 ("/apis/apps/v1/deployments", None, 401), ("/api/v1/namespaces/default/configmaps", "nope", 401)]
        if plane.token:  # the admin kubeconfig's token, when it has one, on a connection without a certificate
            cases.append(("/api/v1/namespaces/default/configmaps", plane.token, 200))
        for what, bearer, expected in cases:
            sent = {"Authorization": f"Bearer {bearer}"} if bearer else None
            lean_status, lean_headers, lean_body = await lean.exchange(
                request(plane, "GET", what, auth=False, headers=sent))
            status, headers, body = await handed.exchange(request(plane, "GET", what, auth=False, headers=sent))
            assert "server" not in lean_headers and "aiohttp" in headers["server"]
            assert lean_status == status == expected, what
            assert normalized(lean_body, "") == normalized(body, ""), what
    finally:
        await lean.close()
        await handed.close()


async def test_pipelined_and_trickled_requests(plane: Plane) -> None:
    connection = await plane.connect()
    try:
        names = [f"pipe-{i}" for i in range(3)]
        burst = b"".join(request(plane, "POST", "/api/v1/namespaces/default/configmaps",
                                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}})
                         for n in names)
        await connection.send(burst)
        for n in names:  # answered in order
            status, _, body = await connection.answer()
            assert status == 201 and orjson.loads(body)["metadata"]["name"] == n
        slow = request(plane, "POST", "/api/v1/namespaces/default/configmaps",
                       {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "trickled"}, "data": {"a": "b"}})
        for i in range(len(slow)):
            await connection.send(slow[i:i + 1])
        status, _, body = await connection.answer()
        assert status == 201 and orjson.loads(body)["data"] == {"a": "b"}
    finally:
        await connection.close()


async def test_a_watch_after_lean_requests_is_handed_to_aiohttp(plane: Plane) -> None:
    connection = await plane.connect()
    try:
        status, headers, body = await connection.exchange(
            request(plane, "GET", "/api/v1/namespaces/default/configmaps"))
        assert status == 200 and "server" not in headers
        version = orjson.loads(body)["metadata"]["resourceVersion"]
        # the watch is pipelined behind one more lean request: both must be answered, in order
        await connection.send(request(plane, "GET", "/version") + request(
            plane, "GET", f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={version}"))
        assert (await connection.answer())[0] == 200
        head = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200") and b"aiohttp" in head
        other = await plane.connect()
        try:
            created = await other.exchange(request(plane, "POST", "/api/v1/namespaces/default/configmaps",
                                                   {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "watched"}}))
            assert created[0] == 201
        finally:
            await other.close()
        size = int((await asyncio.wait_for(connection.reader.readuntil(b"\r\n"), 30))[:-2], 16)
        event = orjson.loads(await connection.reader.readexactly(size))
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "watched"
    finally:
        await connection.close()


async def test_requests_the_lean_edge_leaves_to_aiohttp(plane: Plane) -> None:
    target = "/api/v1/namespaces/default/configmaps"
    body = orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chunked"}})
    chunked = (f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {plane.token}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + \
        f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    connection = await plane.connect()
    try:
        status, headers, answer = await connection.exchange(chunked)
        assert status == 201 and "aiohttp" in headers["server"]
        assert orjson.loads(answer)["metadata"]["name"] == "chunked"
    finally:
        await connection.close()

    too_big = http1_server.MAX_BODY_BYTES + 1
    connection = await plane.connect()
    try:
        await connection.send((f"POST {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {plane.token}\r\n"
                               f"Content-Type: application/json\r\nContent-Length: {too_big}\r\n\r\n").encode()
                              + b" " * too_big)
        status, headers, answer = await connection.answer()
        assert status == 413 and orjson.loads(answer)["reason"] == "RequestEntityTooLarge"
    finally:
        await connection.close()

    for garbage in (b"HELLO\r\n\r\n", b"GET /version HTTP/1.1\r\nBad Header\r\n\r\n",
                    b"GET /version HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"):
        connection = await plane.connect()
        try:
            status, headers, _ = await connection.exchange(garbage)
            assert status == 400 and "aiohttp" in headers["server"], garbage
        finally:
            await connection.close()

    connection = await plane.connect()
    try:  # a header sent twice: aiohttp's (it refuses some repeats, e.g. Host, and reads the others)
        status, headers, answer = await connection.exchange(
            request(plane, "GET", "/version").replace(b"\r\n\r\n", b"\r\nAccept: */*\r\n\r\n"))
        assert status == 200 and orjson.loads(answer)["major"] == "1" and "aiohttp" in headers["server"]
    finally:
        await connection.close()

    connection = await plane.connect()
    try:  # HTTP/1.0: aiohttp's, which answers and closes
        status, headers, answer = await connection.exchange(b"GET /version HTTP/1.0\r\n\r\n")
        assert status == 200 and orjson.loads(answer)["major"] == "1" and "aiohttp" in headers["server"]
    finally:
        await connection.close()

    connection = await plane.connect()
    try:  # a kubelet subresource path (pods/log) goes through aiohttp's router
        status, headers, answer = await connection.exchange(request(plane, "GET",
                                                                    "/api/v1/namespaces/default/pods/p/log"))
        assert status == 404 and "aiohttp" in headers["server"]
    finally:
        await connection.close()


async def test_connection_close_and_idle_timeout(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    connection = await plane.connect()
    try:
        status, headers, _ = await connection.exchange(request(plane, "GET", "/version",
                                                               headers={"Connection": "close"}))
        assert status == 200 and headers["connection"] == "close"
        assert await connection.closed_by_peer()
    finally:
        await connection.close()

    monkeypatch.setattr(http1_server, "KEEPALIVE_TIMEOUT", 0.5)
    connection = await plane.connect()
    try:
        assert (await connection.exchange(request(plane, "GET", "/version")))[0] == 200
        assert await connection.closed_by_peer()  # idle past the keep-alive timeout
    finally:
        await connection.close()


async def test_stop_answers_the_request_in_progress(plane: Plane) -> None:
    connection = await plane.connect()
    try:
        assert (await connection.exchange(request(plane, "GET", "/version")))[0] == 200
        idle = await plane.connect()
        assert (await idle.exchange(request(plane, "GET", "/version")))[0] == 200
        listener = plane.plane.listener
        assert listener is not None
        await connection.send(request(plane, "GET", "/api/v1/namespaces"))
        answer = asyncio.create_task(connection.answer())
        # close once the server has the request (it is being served, or already answered)
        while not answer.done() and all(c.idle() for c in listener.connections):
            await asyncio.sleep(0.001)
        await listener.close(timeout=5.0)
        status, _, _ = await answer
        assert status == 200
        assert await idle.closed_by_peer()
        assert await connection.closed_by_peer()
        await idle.close()
    finally:
        await connection.close()
