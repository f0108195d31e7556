"""Probes: one attempt per handler (exec through a fake runtime, httpGet/tcpSocket on loopback) and the
thresholds that flip a verdict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from kubelet_builders import RuntimeBuilder, make_pod

from kubelite.agent.kubelet.probes import ProbeManager, run_probe
from kubelite.cri import api_pb2


class FakeRuntime:
    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.calls: list[list[str]] = []

    async def exec_sync(self, *, container_id: str, cmd: list[str], timeout: int = 0) -> api_pb2.ExecSyncResponse:
        self.calls.append(list(cmd))
        code = self.codes.pop(0) if self.codes else 0
        return api_pb2.ExecSyncResponse(stdout=b"out", exit_code=code)


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def bad(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/bad", bad)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port
    finally:
        await runner.cleanup()


async def test_http_and_tcp_probes(http_port: int) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": http_port}]}
    runtime: Any = FakeRuntime([])
    ok = await run_probe({"httpGet": {"path": "/ok", "port": "web"}}, container=container, container_id="x",
                         pod_ip="127.0.0.1", runtime=runtime)
    bad = await run_probe({"httpGet": {"path": "/bad", "port": http_port}}, container=container, container_id="x",
                          pod_ip="127.0.0.1", runtime=runtime)
    assert ok.success and not bad.success and "statuscode: 503" in bad.output
    assert (await run_probe({"tcpSocket": {"port": http_port}}, container=container, container_id="x",
                            pod_ip="127.0.0.1", runtime=runtime)).success
    unknown_port = await run_probe({"tcpSocket": {"port": "nope"}}, container=container, container_id="x",
                                   pod_ip="127.0.0.1", runtime=runtime)
    assert not unknown_port.success and "names no port" in unknown_port.output


async def test_exec_probe_thresholds_flip_readiness_and_report_failures() -> None:
    runtime: Any = FakeRuntime([0, 1, 1, 0])
    pod = make_pod({"name": "c", "readinessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 1,
                                                    "failureThreshold": 2}})
    state = RuntimeBuilder(pod).sandbox().container("c", "running").build()
    state.containers[0].started_at = 0
    changes: list[str] = []
    failures: list[tuple[str, str, str, str]] = []
    manager = ProbeManager(runtime=runtime, on_change=changes.append,
                           on_failure=lambda *args: failures.append(args))
    manager.sync(pod, state, pod_ip="127.0.0.1")
    cid = state.containers[0].id
    assert manager.verdicts.ready[cid] is False  # readiness starts failed
    for _ in range(50):
        if manager.verdicts.ready.get(cid):
            break
        await asyncio.sleep(0.02)
    assert manager.verdicts.ready[cid] is True and changes == ["uid-1"]
    for _ in range(250):  # two failures in a row (threshold 2) flip it back
        if manager.verdicts.ready[cid] is False:
            break
        await asyncio.sleep(0.02)
    assert manager.verdicts.ready[cid] is False
    assert [f[2] for f in failures] == ["readiness", "readiness"]
    manager.sync(pod, RuntimeBuilder(pod).sandbox().build(), pod_ip="")  # container gone: worker stops
    assert cid not in manager.verdicts.ready
    await manager.close()


async def test_grpc_health_probe() -> None:
    import grpc
    import grpc.aio

    from kubelite.agent.kubelet.probes import grpc_health_check

    async def check(request: bytes, context: Any) -> bytes:
        return b"\x08\x02" if request.endswith(b"down") else b"\x08\x01"  # NOT_SERVING / SERVING

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(check, request_deserializer=lambda b: b,
                                                  response_serializer=lambda b: b)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("grpc.health.v1.Health",
                                                                          {"Check": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        assert (await grpc_health_check(f"127.0.0.1:{port}", service="", timeout=5)).success
        down = await grpc_health_check(f"127.0.0.1:{port}", service="down", timeout=5)
        assert not down.success and "NOT_SERVING" in down.output
        closed = await grpc_health_check("127.0.0.1:1", service="", timeout=2)
        assert not closed.success and "UNAVAILABLE" in closed.output
    finally:
        await server.stop(None)
