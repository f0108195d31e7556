"""REST client: paths, argument checks, Status errors, and wire handling against a local HTTP server.

The local aiohttp server sends exactly the bytes a case needs (a watch line split across chunks, a
429 with Retry-After, a proxy's HTML error page); API semantics are covered against a real kubelite
server in tests/integration/client.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubelite import __version__
from kubelite.client.config import ClientConfig
from kubelite.client.rest import (
    APIClient,
    APIConnectionError,
    APIStatusError,
    is_already_exists,
    is_conflict,
    is_gone,
    is_not_found,
    selector_text,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def offline() -> APIClient:
    return APIClient(ClientConfig(server="http://127.0.0.1:9"))


# ---- paths -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gvr", "namespaced", "kwargs", "path"), [
    pytest.param(("", "v1", "pods"), True, {}, "/api/v1/pods", id="core-all-namespaces"),
    pytest.param(("", "v1", "pods"), True, {"namespace": "ns"}, "/api/v1/namespaces/ns/pods", id="core-namespaced"),
    pytest.param(("", "v1", "pods"), True, {"namespace": "ns", "name": "p", "subresource": "binding"},
                 "/api/v1/namespaces/ns/pods/p/binding", id="core-subresource"),
    pytest.param(("", "v1", "nodes"), False, {"name": "n1", "subresource": "status"},
                 "/api/v1/nodes/n1/status", id="cluster-scoped"),
    pytest.param(("", "v1", "namespaces"), False, {"name": "ns", "subresource": "finalize"},
                 "/api/v1/namespaces/ns/finalize", id="namespace-finalize"),
    pytest.param(("apps", "v1", "deployments"), True, {"namespace": "ns", "name": "d", "subresource": "scale"},
                 "/apis/apps/v1/namespaces/ns/deployments/d/scale", id="named-group"),
    pytest.param(("coordination.k8s.io", "v1", "leases"), True, {"namespace": "kube-system", "name": "l"},
                 "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l", id="dotted-group"),
])
def test_paths_follow_upstream_routes(gvr: tuple[str, str, str], namespaced: bool, kwargs: dict[str, str],
                                      path: str) -> None:
    group, version, plural = gvr
    assert offline().resource(group, version, plural, namespaced=namespaced).path(**kwargs) == path


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"namespace": "ns", "name": "a/b"}, "name 'a/b' may not contain '/'", id="slash-in-name"),
    pytest.param({"namespace": "ns", "name": ".."}, "name may not be '..'", id="dot-dot"),
    pytest.param({"namespace": "", "name": "a"}, "namespace may not be empty", id="empty-namespace"),
    pytest.param({"namespace": "ns", "name": "a%2f"}, "may not contain '%'", id="percent"),
    pytest.param({"namespace": "ns", "subresource": "status"}, "subresource 'status' needs an object name",
                 id="subresource-without-name"),
])
def test_bad_path_segments_are_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        offline().resource("", "v1", "configmaps").path(**kwargs)


def test_cluster_scoped_resources_refuse_a_namespace() -> None:
    with pytest.raises(ValueError, match="nodes is cluster-scoped: do not pass a namespace"):
        offline().resource("", "v1", "nodes", namespaced=False).path(namespace="ns")


async def test_namespaced_calls_need_a_namespace() -> None:
    pods = offline().resource("", "v1", "pods")
    with pytest.raises(ValueError, match="pods is namespaced: pass namespace="):
        await pods.get("p")
    with pytest.raises(ValueError, match="delete_collection needs namespace="):
        await pods.delete_collection()


@pytest.mark.parametrize(("selector", "text"), [
    pytest.param(None, None, id="none"),
    pytest.param("app=web,tier!=db", "app=web,tier!=db", id="string"),
    pytest.param({"tier": "front", "app": "web"}, "app=web,tier=front", id="mapping-sorted"),
])
def test_selector_text(selector: Any, text: str | None) -> None:
    assert selector_text(selector, what="label_selector") == text


# ---- argument checks (refused before any request) ------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"patch_type": "yaml"}, 'patch_type: unsupported value "yaml": supported values: "json", "merge"',
                 id="unknown-type"),
    pytest.param({"patch_type": "json"}, "a json patch must be a list of operations", id="json-needs-list"),
    pytest.param({"patch_type": "apply"}, "field_manager is required for apply patches", id="apply-needs-manager"),
    pytest.param({"patch_type": "merge", "force": True}, "force may only be given for apply patches",
                 id="force-needs-apply"),
])
async def test_patch_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await offline().resource("", "v1", "configmaps").patch("a", {"data": {}}, namespace="ns", **kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"propagation_policy": "Cascade"},
                 'propagation_policy: unsupported value "Cascade": supported values: "Orphan", "Background", '
                 '"Foreground"', id="bad-policy"),
    pytest.param({"grace_period_seconds": -1}, "grace_period_seconds must be >= 0", id="negative-grace"),
    pytest.param({"preconditions": {"generation": "1"}}, r"preconditions: unsupported keys \['generation'\]",
                 id="bad-precondition"),
])
async def test_delete_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await offline().resource("", "v1", "configmaps").delete("a", namespace="ns", **kwargs)


async def test_update_needs_a_name() -> None:
    with pytest.raises(ValueError, match=r"the update body needs metadata\.name"):
        await offline().resource("", "v1", "configmaps").update({"metadata": {"namespace": "ns"}})


def test_client_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_connections must be at least 1"):
        APIClient(ClientConfig(server="http://h"), max_connections=0)


# ---- Status errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "body", "reason", "message_part", "predicate"), [
    pytest.param(404, orjson.dumps({"kind": "Status", "code": 404, "reason": "NotFound",
                                    "message": 'pods "p" not found', "details": {"name": "p"}}),
                 "NotFound", 'pods "p" not found', is_not_found, id="status-404"),
    pytest.param(409, orjson.dumps({"kind": "Status", "code": 409, "reason": "AlreadyExists", "message": "exists"}),
                 "AlreadyExists", "exists", is_already_exists, id="already-exists"),
    pytest.param(409, orjson.dumps({"kind": "Status", "code": 409, "reason": "Conflict", "message": "modified"}),
                 "Conflict", "modified", is_conflict, id="conflict"),
    pytest.param(410, orjson.dumps({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}),
                 "Expired", "too old", is_gone, id="expired"),
    pytest.param(502, b"<html>Bad Gateway</html>", "InternalError",
                 "the server responded with the status code 502 (GET https://h/api): <html>Bad Gateway</html>",
                 None, id="proxy-html"),
    pytest.param(404, b"404 page not found", "NotFound", "the server could not find the requested resource",
                 is_not_found, id="plain-404"),
])
def test_status_errors(code: int, body: bytes, reason: str, message_part: str,
                       predicate: Callable[[BaseException], bool] | None) -> None:
    error = APIStatusError.from_response(code, body, method="GET", url="https://h/api")
    assert (error.code, error.reason) == (code, reason)
    assert message_part in str(error)
    assert error.status["kind"] == "Status"
    if predicate is not None:
        assert predicate(error)
    others = {is_not_found, is_already_exists, is_conflict, is_gone} - {predicate}
    assert not any(check(error) for check in others)


# ---- wire handling against a local server ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=[False, True], ids=["aiohttp", "lean"])
async def local_server(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[str, str, Handler],
                                                                                Awaitable[APIClient]]]:
    """Start a loopback HTTP server with the given routes; returns a client for it (each case runs
    with aiohttp's transport and with the lean one: the answers must be the same)."""
    runners: list[web.AppRunner] = []
    clients: list[APIClient] = []

    async def start(method: str, path: str, handler: Handler) -> APIClient:
        app = web.Application()
        app.router.add_route(method, path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        client = APIClient(ClientConfig(server=f"http://127.0.0.1:{port}", token="t0k"), max_retries=2,
                           lean_requests=request.param)
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            await client.close()
        for runner in runners:
            await runner.cleanup()


def _event(kind: str, name: str, rv: int, **extra: Any) -> bytes:
    return orjson.dumps({"type": kind, "object": {"kind": "ConfigMap", "metadata": {
        "name": name, "resourceVersion": str(rv)}, **extra}}) + b"\n"


async def test_watch_reassembles_lines_across_chunks_and_big_objects(local_server: Any) -> None:
    big = "x" * (3 * 1024 * 1024)
    payload = _event("ADDED", "a", 5) + b"\n" + _event("MODIFIED", "big", 6, data={"blob": big}) + \
        _event("BOOKMARK", "", 9)

    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.query["watch"] == "true"
        assert request.query["resourceVersion"] == "4"
        assert request.query["allowWatchBookmarks"] == "true"
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for start in range(0, len(payload), 7777):  # lines split at arbitrary places
            await response.write(payload[start:start + 7777])
        return response

    client = await local_server("GET", "/api/v1/namespaces/ns/configmaps", handler)
    stream = client.resource("", "v1", "configmaps").watch(namespace="ns", resource_version="4",
                                                           allow_watch_bookmarks=True, timeout_seconds=30)
    async with stream:
        events = [event async for event in stream]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("MODIFIED", "big"),
                                                                        ("BOOKMARK", "")]
    assert len(events[1].object["data"]["blob"]) == len(big)
    assert stream.resource_version == "9"


async def test_watch_error_event_raises_the_status(local_server: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(_event("ADDED", "a", 5))
        await response.write(orjson.dumps({"type": "ERROR", "object": {
            "kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 1 (5)"}}) + b"\n")
        return response

    client = await local_server("GET", "/api/v1/configmaps", handler)
    seen: list[str] = []
    with pytest.raises(APIStatusError, match=r"too old resource version: 1 \(5\)") as info:
        async for event in client.resource("", "v1", "configmaps").watch(resource_version="1"):
            seen.append(event.type)
    assert info.value.is_gone()
    assert seen == ["ADDED"]


async def test_watch_refused_by_the_server_raises_at_first_read(local_server: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"kind": "Status", "code": 400, "reason": "BadRequest",
                                  "message": "unable to parse requirement"}, status=400)

    client = await local_server("GET", "/api/v1/pods", handler)
    with pytest.raises(APIStatusError, match="unable to parse requirement"):
        async for _ in client.resource("", "v1", "pods").watch(label_selector="=="):
            pass


async def test_requests_carry_user_agent_accept_and_authorization(local_server: Any) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        seen["body"] = (await request.read()).decode()
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "a"}}, status=201)

    client = await local_server("POST", "/api/v1/namespaces/ns/configmaps", handler)
    await client.resource("", "v1", "configmaps").create({"metadata": {"name": "a", "namespace": "ns"}})
    assert seen["User-Agent"] == f"kubelite/{__version__}"
    assert seen["Accept"] == "application/json"
    assert seen["Authorization"] == "Bearer t0k"
    assert seen["Content-Type"] == "application/json"
    assert orjson.loads(seen["body"]) == {"metadata": {"name": "a", "namespace": "ns"}}


async def test_retry_after_is_honoured(local_server: Any) -> None:
    calls: list[float] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) < 3:
            return web.json_response({"kind": "Status", "code": 429, "reason": "TooManyRequests", "message": "slow"},
                                     status=429, headers={"Retry-After": "0.05"})
        return web.json_response({"kind": "ConfigMap", "metadata": {"name": "a"}})

    client = await local_server("GET", "/api/v1/namespaces/ns/configmaps/a", handler)
    assert (await client.resource("", "v1", "configmaps").get("a", namespace="ns"))["metadata"]["name"] == "a"
    assert len(calls) == 3
    assert calls[2] - calls[1] >= 0.04


async def test_retries_are_bounded(local_server: Any) -> None:
    calls: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        return web.json_response({"kind": "Status", "code": 503, "reason": "ServiceUnavailable", "message": "busy"},
                                 status=503, headers={"Retry-After": "0"})

    client = await local_server("GET", "/api/v1/namespaces/ns/configmaps/a", handler)
    with pytest.raises(APIStatusError, match="busy"):
        await client.resource("", "v1", "configmaps").get("a", namespace="ns")
    assert len(calls) == 3  # the first try and max_retries=2


async def test_delete_sends_delete_options(local_server: Any) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen["body"] = orjson.loads(await request.read())
        return web.json_response({"kind": "Status", "status": "Success"})

    client = await local_server("DELETE", "/apis/apps/v1/namespaces/ns/deployments/d", handler)
    await client.resource("apps", "v1", "deployments").delete(
        "d", namespace="ns", grace_period_seconds=0, propagation_policy="Foreground",
        preconditions={"uid": "u1", "resourceVersion": "7"}, dry_run=True)
    assert seen["body"] == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                            "propagationPolicy": "Foreground", "preconditions": {"uid": "u1", "resourceVersion": "7"},
                            "dryRun": ["All"]}


@pytest.mark.parametrize("lean", [False, True], ids=["aiohttp", "lean"])
async def test_an_unreachable_server_is_a_connection_error(lean: bool) -> None:
    client = APIClient(ClientConfig(server=f"http://127.0.0.1:{free_port()}"), connect_timeout=2, lean_requests=lean)
    try:
        with pytest.raises(APIConnectionError, match=r"GET http://127\.0\.0\.1:\d+/api/v1/nodes/n: "):
            await client.resource("", "v1", "nodes", namespaced=False).get("n")
        with pytest.raises(APIConnectionError):
            async for _ in client.resource("", "v1", "nodes", namespaced=False).watch():
                pass
    finally:
        await client.close()
