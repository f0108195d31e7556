"""Liveness, readiness and startup probes: exec (CRI ExecSync), httpGet, tcpSocket and grpc (health v1).

Design (upstream pkg/kubelet/prober: prober_manager.go, worker.go, prober.go)
----------------------------------------------------------------------------
One asyncio task per (running container, probe kind), started and stopped by `ProbeManager.sync`
which the pod worker calls on every sync. A worker waits ``initialDelaySeconds``, then probes every
``periodSeconds`` with ``timeoutSeconds``; its result flips only after ``successThreshold``
successes or ``failureThreshold`` failures in a row. Until a startup probe has succeeded, liveness
and readiness probes do not run. Readiness starts out failed, startup out not-started, liveness
out healthy, as upstream. Each flip calls ``on_change(pod uid)`` so the pod worker re-syncs at once:
readiness goes into the Ready condition, a liveness (or startup) failure makes the worker kill and
restart the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import grpc
import grpc.aio

from kubelite.agent.kubelet.pod_status import ProbeVerdicts
from kubelite.agent.kubelet.runtime_state import RUNNING, PodRuntime
from kubelite.cri import CriError, RuntimeClient

log = logging.getLogger(__name__)

LIVENESS: Final = "liveness"
READINESS: Final = "readiness"
STARTUP: Final = "startup"
_SPEC_KEYS: Final = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    output: str


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f"port {value!r} is not a number and names no port of container {container['name']!r}")


async def run_probe(probe: Mapping[str, Any], *, container: Mapping[str, Any], container_id: str, pod_ip: str,
                    runtime: RuntimeClient) -> ProbeResult:
    """One probe attempt (upstream prober.runProbe)."""
    timeout = max(int(probe.get("timeoutSeconds") or 1), 1)
    try:
        if "exec" in probe:
            command = probe["exec"].get("command") or []
            answer = await runtime.exec_sync(container_id=container_id, cmd=command, timeout=timeout)
            output = (answer.stdout + answer.stderr).decode(errors="replace")
            return ProbeResult(answer.exit_code == 0, output or f"exit code {answer.exit_code}")
        if "httpGet" in probe:
            spec = probe["httpGet"]
            host = spec.get("host") or pod_ip or "127.0.0.1"
            scheme = (spec.get("scheme") or "HTTP").lower()
            path = spec.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            url = f"{scheme}://{host}:{_port(spec.get('port'), container)}{path}"
            headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*"}
            headers.update({h["name"]: h["value"] for h in spec.get("httpHeaders") or []})
            client_timeout = aiohttp.ClientTimeout(total=timeout)
            async with aiohttp.ClientSession(timeout=client_timeout) as session, \
                    session.get(url, headers=headers, ssl=False, allow_redirects=False) as response:
                ok = 200 <= response.status < 400
                return ProbeResult(ok, f"HTTP probe failed with statuscode: {response.status}" if not ok else "")
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"]
            host = spec.get("host") or pod_ip or "127.0.0.1"
            port = _port(spec.get("port"), container)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return ProbeResult(True, "")
        if "grpc" in probe:
            spec = probe["grpc"]
            return await grpc_health_check(f"{pod_ip or '127.0.0.1'}:{int(spec['port'])}",
                                           service=spec.get("service") or "", timeout=timeout)
    except TimeoutError:
        return ProbeResult(False, f"probe timed out after {timeout}s")
    except (OSError, aiohttp.ClientError, CriError, ValueError) as err:
        return ProbeResult(False, str(err) or type(err).__name__)
    return ProbeResult(False, "the probe names no handler (exec, httpGet, tcpSocket)")


def _health_request(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} (field 1, a string), encoded by hand: one field."""
    raw = service.encode()
    if not raw:
        return b""
    length, varint = len(raw), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\x0a" + bytes(varint) + raw


def _health_status(data: bytes) -> int:
    """HealthCheckResponse.status (field 1, an enum; 1 = SERVING); 0 when absent."""
    return data[1] if len(data) >= 2 and data[0] == 0x08 else 0


async def grpc_health_check(target: str, *, service: str, timeout: float) -> ProbeResult:
    """upstream's grpc probe: grpc.health.v1.Health/Check must answer SERVING."""
    async with grpc.aio.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        try:
            answer = await check(_health_request(service), timeout=timeout)
        except grpc.aio.AioRpcError as err:
            return ProbeResult(False, f"rpc error: code = {err.code().name} desc = {err.details()}")
    status = _health_status(answer)
    if status != 1:
        return ProbeResult(False, f"service unhealthy (responded with {'NOT_SERVING' if status == 2 else status})")
    return ProbeResult(True, "")


class ProbeManager:
    def __init__(self, *, runtime: RuntimeClient, on_change: Callable[[str], None],
                 on_failure: Callable[[str, str, str, str], None] | None = None) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.on_failure = on_failure
        """(pod uid, container name, probe kind, output) for every failed attempt: the Unhealthy Event."""
        self.verdicts = ProbeVerdicts()
        self.liveness_failed: dict[str, str] = {}
        """container ID -> why its liveness (or startup) probe failed: the pod worker restarts it."""
        self._workers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._pod_of: dict[str, str] = {}

    def sync(self, pod: Mapping[str, Any], runtime: PodRuntime, *, pod_ip: str) -> None:
        """Start probe workers for the pod's running containers; stop those of containers gone."""
        uid = pod["metadata"]["uid"]
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        wanted: set[tuple[str, str]] = set()
        for name, spec in specs.items():
            record = runtime.latest(name)
            if record is None or record.state != RUNNING:
                continue
            for kind, key in _SPEC_KEYS.items():
                if spec.get(key):
                    wanted.add((record.id, kind))
                    if (record.id, kind) not in self._workers:
                        self._start(uid, record.id, kind, spec, spec[key], pod_ip,
                                    started_at=record.started_at / 1e9 if record.started_at else time.time())
        for worker_key in [k for k in self._workers if self._pod_of.get(k[0]) == uid and k not in wanted]:
            self._workers.pop(worker_key).cancel()
            self._forget(worker_key[0])

    def stop_pod(self, uid: str) -> None:
        for key in [k for k in self._workers if self._pod_of.get(k[0]) == uid]:
            self._workers.pop(key).cancel()
            self._forget(key[0])

    def _forget(self, container_id: str) -> None:
        if any(k[0] == container_id for k in self._workers):
            return
        self.verdicts.ready.pop(container_id, None)
        self.verdicts.started.pop(container_id, None)
        self.liveness_failed.pop(container_id, None)
        self._pod_of.pop(container_id, None)

    def _start(self, uid: str, container_id: str, kind: str, container: Mapping[str, Any],
               probe: Mapping[str, Any], pod_ip: str, *, started_at: float) -> None:
        self._pod_of[container_id] = uid
        if kind == READINESS:
            self.verdicts.ready[container_id] = False
        elif kind == STARTUP:
            self.verdicts.started[container_id] = False
        task = asyncio.create_task(self._work(uid, container_id, kind, container, probe, pod_ip, started_at),
                                   name=f"probe-{kind}-{container_id[:12]}")
        self._workers[(container_id, kind)] = task

    async def close(self) -> None:
        tasks = list(self._workers.values())
        self._workers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self, uid: str, container_id: str, kind: str, container: Mapping[str, Any],
                    probe: Mapping[str, Any], pod_ip: str, started_at: float) -> None:
        period = max(int(probe.get("periodSeconds") or 10), 1)
        success_threshold = max(int(probe.get("successThreshold") or 1), 1)
        failure_threshold = max(int(probe.get("failureThreshold") or 3), 1)
        # the initial delay counts from the container's start (upstream), so a restarted agent probes at once
        await asyncio.sleep(max(0.0, started_at + int(probe.get("initialDelaySeconds") or 0) - time.time()))
        successes = failures = 0
        current: bool | None = None
        while True:
            if kind != STARTUP and self.verdicts.started.get(container_id, True) is False:
                await asyncio.sleep(period)  # upstream: nothing but the startup probe runs before it succeeds
                continue
            result = await run_probe(probe, container=container, container_id=container_id, pod_ip=pod_ip,
                                     runtime=self.runtime)
            if result.success:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
                if self.on_failure is not None:
                    self.on_failure(uid, container["name"], kind, result.output)
            verdict = current
            if result.success and successes >= success_threshold:
                verdict = True
            elif not result.success and failures >= failure_threshold:
                verdict = False
            if verdict is not None and verdict != current:
                current = verdict
                self._record(uid, container_id, kind, verdict, result.output, container["name"])
            if kind == STARTUP and current:
                return  # a startup probe stops once it succeeded
            await asyncio.sleep(period)

    def _record(self, uid: str, container_id: str, kind: str, ok: bool, output: str, name: str) -> None:
        if kind == READINESS:
            self.verdicts.ready[container_id] = ok
        elif kind == STARTUP:
            self.verdicts.started[container_id] = ok
            if not ok:
                self.liveness_failed[container_id] = f"Container {name} failed startup probe, will be restarted"
        elif not ok:
            self.liveness_failed[container_id] = f"Container {name} failed liveness probe, will be restarted"
        log.info("%s probe of container %s (pod %s): %s %s", kind, name, uid, "success" if ok else "failure",
                 output.strip()[:200])
        self.on_change(uid)
