"""The service proxy of one node: watch Services and EndpointSlices, keep the data path in line.

``run_proxy`` is what the agent starts. It picks the mode (``nftables``, or ``userspace`` when asked
or when nftables cannot be used here: "otherwise only forwards traffic"), fills a
:class:`ServiceState` from two informers, and lets a :class:`SyncRunner` call the proxier's ``sync``:
changes are coalesced and rate-limited, a periodic full sync repairs drift, a failure forces a full
sync after a back-off. The rules are left in place when the proxy stops, so Service traffic keeps
flowing across an agent restart (the next start rewrites the table).

As kube-proxy, the proxy serves its Prometheus metrics on ``127.0.0.1:10249/metrics`` (and
``/healthz``); a port already taken (several agents in one network namespace) only logs a warning.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from kubelite.agent.config import AgentConfig
from kubelite.agent.proxy import metrics
from kubelite.agent.proxy.nftables_proxier import NftablesProxier, nftables_usable
from kubelite.agent.proxy.service_port import Obj, ServiceState
from kubelite.agent.proxy.sync_runner import SyncRunner
from kubelite.agent.proxy.userspace_proxier import UserspaceProxier
from kubelite.client import APIClient, SharedInformerFactory
from kubelite.native.nft_compiler import LB_MODES, TableConfig

log = logging.getLogger(__name__)

MODES = ("nftables", "userspace")
MIN_SYNC_INTERVAL = 1.0
FULL_SYNC_INTERVAL = 60.0
METRICS_PORT = 10249


def choose_mode(*, requested: str, netns: str | None = None) -> str:
    """The mode to run: ``requested``, except ``nftables`` falls back to ``userspace`` when unusable."""
    if requested not in MODES:
        raise ValueError(f'proxy mode "{requested}" is not one of {", ".join(MODES)}')
    if requested == "nftables":
        reason = nftables_usable(netns=netns)
        if reason:
            log.warning("nftables cannot be used (%s): the service proxy runs in userspace mode", reason)
            return "userspace"
    return requested


def wire_informers(factory: SharedInformerFactory, state: ServiceState, runner: SyncRunner) -> None:
    """Feed Service and EndpointSlice changes into ``state`` and ask ``runner`` for a sync."""
    services = factory.for_resource("", "v1", "services")
    slices = factory.for_resource("discovery.k8s.io", "v1", "endpointslices")

    def on_service(service: Obj) -> None:
        state.set_service(service)
        runner.request()

    def on_service_deleted(service: Obj) -> None:
        state.delete_service(service)
        runner.request()

    def on_slice(es: Obj) -> None:
        state.set_slice(es)
        runner.request()

    def on_slice_deleted(es: Obj) -> None:
        state.delete_slice(es)
        runner.request()

    services.add_handler(on_add=on_service, on_update=lambda _old, s: on_service(s), on_delete=on_service_deleted)
    slices.add_handler(on_add=on_slice, on_update=lambda _old, e: on_slice(e), on_delete=on_slice_deleted)


async def serve_metrics(*, host: str, port: int, runner: SyncRunner) -> web.AppRunner | None:
    """``/metrics`` and ``/healthz`` on ``host:port``; None (and a warning) when the port is taken."""

    async def metrics_handler(request: web.Request) -> web.Response:
        return web.Response(body=metrics.metrics_text(), content_type="text/plain", charset="utf-8")

    async def healthz(request: web.Request) -> web.Response:
        # healthy once a sync succeeded and none is overdue (two full-sync periods), as kube-proxy's healthz
        last = runner.last_success
        ok = last > 0 and time.time() - last < 2 * runner.full_interval + 10
        return web.json_response({"lastUpdated": last, "currentTime": time.time()}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    try:
        await web.TCPSite(app_runner, host, port).start()
    except OSError as exc:
        log.warning("service proxy metrics not served on %s:%d: %s", host, port, exc)
        await app_runner.cleanup()
        return None
    return app_runner


async def run_proxy(*, config: AgentConfig, client: APIClient, netns: str | None = None,
                    full_sync_interval: float = FULL_SYNC_INTERVAL, metrics_port: int = METRICS_PORT) -> None:
    """Run the service proxy until cancelled. ``netns``: program that network namespace (nftables mode);
    ``metrics_port``: 0 serves no metrics."""
    if config.proxy_lb not in LB_MODES:
        raise ValueError(f'proxy load balancing "{config.proxy_lb}" is not one of {", ".join(LB_MODES)}')
    mode = choose_mode(requested=config.proxy_mode, netns=netns)
    if mode == "userspace" and netns:
        raise ValueError("userspace proxy mode cannot serve another network namespace")
    metrics.MODE.labels(mode=mode).set(1)
    state = ServiceState(node_name=config.node_name)
    proxier: NftablesProxier | UserspaceProxier
    if mode == "nftables":
        proxier = NftablesProxier(state=state, netns=netns, config=TableConfig(
            lb=config.proxy_lb, cluster_cidr=config.cluster_cidr, service_cidr=config.service_cidr,
            nodeport_addresses=config.nodeport_addresses))
    else:
        proxier = UserspaceProxier(state=state, lb=config.proxy_lb, nodeport_addresses=config.nodeport_addresses)
    runner = SyncRunner(proxier.sync, min_interval=MIN_SYNC_INTERVAL, full_interval=full_sync_interval)
    factory = SharedInformerFactory(client)
    wire_informers(factory, state, runner)
    served = await serve_metrics(host="127.0.0.1", port=metrics_port, runner=runner) if metrics_port else None
    factory.start()
    try:
        await factory.wait_for_sync()
        log.info("service proxy running in %s mode", mode)
        await runner.run()
    finally:
        if served is not None:
            await served.cleanup()
        await factory.shutdown()
        if isinstance(proxier, NftablesProxier):
            proxier.close()
        else:
            await proxier.close()
