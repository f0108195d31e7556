"""``kubelite server``: the control-plane process (today: the API server over its datastore).

Start-up order: PKI (created or renewed), datastore, watch cache, bootstrap objects (the four
system namespaces), HTTPS listener, then the admin kubeconfig is written: a kubeconfig on disk means
the server answers. SIGINT/SIGTERM stop it cleanly: listener first, then the cache, then the store,
so no acknowledged write is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from kubelite.client import APIClient, load_kubeconfig
from kubelite.controlplane.admission.priority import ensure_system_priority_classes
from kubelite.controlplane.apiserver import autoscaling_v1
from kubelite.controlplane.apiserver.allocators import (
    NodePortAllocator,
    ServiceIPAllocator,
    kubernetes_service_ip,
    repair,
)
from kubelite.controlplane.apiserver.app import APIServer, make_ssl_context
from kubelite.controlplane.apiserver.autoscaling_v1 import AutoscalingV1
from kubelite.controlplane.apiserver.crds import CRDRegistrar
from kubelite.controlplane.apiserver.errors import APIError
from kubelite.controlplane.apiserver.http1_server import LeanHTTPServer
from kubelite.controlplane.apiserver.kinds.scheduling import SYSTEM_PRIORITY_CLASSES
from kubelite.controlplane.apiserver.kubelet_proxy import KubeletProxy, ensure_kubelet_client_certificate
from kubelite.controlplane.apiserver.openapi_service import OpenAPIService
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions
from kubelite.controlplane.apiserver.resources import ResourceTable
from kubelite.controlplane.apiserver.strategy import StrategyContext, StrategySet
from kubelite.controlplane.apiserver.watchcache import WatchCache
from kubelite.controlplane.auth.audit import open_audit_log
from kubelite.controlplane.auth.bootstrap_token import (
    TokenFormatError,
    full_server_token,
    new_server_secret,
    parse_join_token,
)
from kubelite.controlplane.auth.encryption import EncryptingStore, ensure_default_config, load_config
from kubelite.controlplane.auth.kubeconfig import kubeconfig_yaml, write_kubeconfig
from kubelite.controlplane.auth.pki import ClusterPKI, ensure_pki, is_ip, write_file_atomically
from kubelite.controlplane.auth.security import ClusterSecurity
from kubelite.controlplane.controllers.manager import ControllerManager, default_controllers
from kubelite.controlplane.metrics import api as metrics_api_module
from kubelite.controlplane.metrics.api import MetricsAPI
from kubelite.controlplane.metrics.scraper import DEFAULT_RESOLUTION, Scraper
from kubelite.controlplane.metrics.storage import MetricsStorage
from kubelite.controlplane.scheduler.config import SchedulerConfig
from kubelite.controlplane.scheduler.scheduler import SchedulerRunner
from kubelite.controlplane.storage import Store, open_store
from kubelite.gc_tuning import CacheGcFreezer
from kubelite.host_address import primary_ip

log = logging.getLogger("kubelite.server")

GC_FREEZE_CHECK_PERIOD = 2.0  # seconds between looks at the watch cache's size (kubelite.gc_tuning)
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ServerConfig:
    data_dir: Path
    write_kubeconfig: Path | None
    datastore_endpoint: str = "sqlite"
    bind_address: str = "0.0.0.0"
    secure_port: int = 6443
    service_cidr: str = "10.43.0.0/16"
    cluster_cidr: str = "10.42.0.0/16"
    node_name: str = ""
    node_ip: str = ""
    tls_san: list[str] = field(default_factory=list)
    leader_elect: bool = False
    disable_controllers: bool = False
    # join secret (bare or K10 form); empty: reuse <data-dir>/server/token, or generate one
    token: str = ""
    token_auth_file: Path | None = None
    encryption_provider_config: Path | None = None
    audit_log_path: Path | None = None
    audit_policy_file: Path | None = None
    # --audit-log-maxsize (MB), --audit-log-maxbackup, --audit-log-maxage (days); 0: lumberjack's defaults
    audit_log_rotation: tuple[int, int, int] = (0, 0, 0)
    admission_control_config_file: Path | None = None
    # the embedded agent gets a node kubeconfig (<data-dir>/agent/kubelet.kubeconfig)
    disable_agent: bool = True
    disable_scheduler: bool = False
    scheduler_config: SchedulerConfig | None = None
    # upstream kube-controller-manager --node-monitor-grace-period, kube-apiserver --default-*-toleration-seconds
    node_monitor_grace_period: float = 40.0
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    # metrics-server --metric-resolution (kubelets scraped this often); kube-controller-manager
    # --horizontal-pod-autoscaler-sync-period
    metric_resolution: float = DEFAULT_RESOLUTION
    horizontal_pod_autoscaler_sync_period: float = 15.0
    # one-shot requests answered by the lean HTTP/1.1 edge (apiserver/http1_server.py); False: all by aiohttp
    lean_http: bool = True



def advertise_address(config: ServerConfig) -> str:
    """Where pods and agents reach this server: --node-ip, the bind address, else the host's primary
    address (the `kubernetes` Service's endpoint must be reachable from pods, so never loopback when the
    server listens on every interface and the host has a route out)."""
    if config.node_ip:
        return config.node_ip
    if config.bind_address not in ("0.0.0.0", "::"):
        return config.bind_address
    return primary_ip()


def _sans(config: ServerConfig) -> tuple[list[str], list[str]]:
    names = {socket.gethostname(), *(n for n in config.tls_san if not is_ip(n))}
    if config.node_name:
        names.add(config.node_name)
    ips = {kubernetes_service_ip(config.service_cidr), advertise_address(config),
           *(n for n in config.tls_san if is_ip(n))}
    if config.bind_address not in ("0.0.0.0", "::"):
        ips.add(config.bind_address)
    return sorted(names), sorted(ips)


class ControlPlane:
    """The running server; ``start()`` then ``stop()``, or ``run()`` until a signal."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store: Store | None = None
        self.cache: WatchCache | None = None
        self.runner: web.AppRunner | None = None
        self.listener: LeanHTTPServer | None = None
        self.pki: ClusterPKI | None = None
        self.crds: CRDRegistrar | None = None
        self.security: ClusterSecurity | None = None
        self.controller_client: APIClient | None = None
        self.controllers: asyncio.Task[None] | None = None
        self.scheduler_client: APIClient | None = None
        self.scheduler: asyncio.Task[None] | None = None
        self.metrics_scraper: asyncio.Task[None] | None = None
        self.gc_freezer: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        dns_names, ips = _sans(config)
        self.pki = ensure_pki(tls_dir=config.data_dir / "server" / "tls", dns_names=dns_names, ip_addresses=ips)
        # Secrets are encrypted before they reach SQLite or etcd (a generated aesgcm key unless configured)
        transformers = (load_config(config.encryption_provider_config) if config.encryption_provider_config
                        else ensure_default_config(config.data_dir / "server" / "cred" / "encryption-config.json"))
        self.store = EncryptingStore(open_store(config.datastore_endpoint, data_dir=config.data_dir), transformers)
        await self.store.start()
        self.cache = WatchCache(self.store)
        await self.cache.start()
        table = ResourceTable()
        openapi = OpenAPIService(table)
        service_ips = ServiceIPAllocator(self.store, config.service_cidr)
        context = StrategyContext(service_ips=service_ips, node_ports=NodePortAllocator(self.store),
                                  not_ready_toleration_seconds=config.default_not_ready_toleration_seconds,
                                  unreachable_toleration_seconds=config.default_unreachable_toleration_seconds)
        registry = Registry(store=self.store, cache=self.cache,
                            strategies=StrategySet(unknown_fields=openapi.unknown_fields, context=context))
        services = table.get("", "v1", "services")
        assert services is not None
        released = await repair(self.store, (await registry.list(services, None)).items)
        if released:
            log.info("released %d service IP/port claims no Service referenced", released)
        await self._bootstrap(registry, table)
        self.crds = CRDRegistrar(registry=registry, table=table, openapi=openapi)
        await self.crds.start()
        advertise = advertise_address(config)
        await self._kubernetes_service(registry, table, service_ips.kubernetes_ip, advertise)
        self.security = ClusterSecurity(registry=registry, table=table, pki=self.pki,
                                        server_token=self._server_token(), token_auth_file=config.token_auth_file,
                                        admission_config=config.admission_control_config_file)
        await self.security.start(controllers=not config.disable_controllers)
        server = APIServer(registry=registry, table=table, advertise_address=f"{advertise}:{config.secure_port}",
                           authenticator=self.security.authenticator, authorizer=self.security.authorizer,
                           service_account_tokens=self.security.sa_tokens, ca_pem=self.pki.server_ca_pem(),
                           client_ca_pem=self.pki.client_ca_pem(),
                           audit_log=open_audit_log(
                               path=config.audit_log_path, policy_file=config.audit_policy_file,
                               max_megabytes=config.audit_log_rotation[0], max_backups=config.audit_log_rotation[1],
                               max_age_days=config.audit_log_rotation[2]),
                           openapi=openapi)
        kubelet_cert, kubelet_key = ensure_kubelet_client_certificate(self.pki)
        server.kubelet_proxy = KubeletProxy(registry=registry, table=table, client_cert=kubelet_cert,
                                            client_key=kubelet_key)
        # metrics.k8s.io served in-process (what metrics-server does behind an APIService)
        metrics_storage = MetricsStorage()
        metrics_api = MetricsAPI(registry=registry, table=table, storage=metrics_storage)
        metrics_api.register(openapi=openapi)
        server.add_extra_routes(metrics_api_module.ROOT, metrics_api.add_routes)
        # autoscaling/v1 HPAs (kubectl autoscale) by conversion from the stored autoscaling/v2 objects
        hpa_v1 = AutoscalingV1(registry=registry, table=table, read_body=server.read_body,
                               write_options=server.write_options)
        hpa_v1.register()
        openapi.invalidate()
        server.add_extra_routes(autoscaling_v1.ROOT, hpa_v1.add_routes)
        scraper = Scraper(registry=registry, table=table, ssl_context=server.kubelet_proxy.ssl,
                          storage=metrics_storage, resolution=config.metric_resolution)
        self.metrics_scraper = asyncio.create_task(scraper.run(), name="metrics-scraper")
        ssl_context = make_ssl_context(cert_file=str(self.pki.serving_cert), key_file=str(self.pki.serving_key),
                                       client_ca_file=str(self.pki.client_ca_cert))
        self.runner = web.AppRunner(server.app(), access_log=None, handle_signals=False,
                                    shutdown_timeout=2.0)
        await self.runner.setup()
        if config.lean_http:
            # connections start on the lean edge; what it does not serve goes to the runner's aiohttp protocol
            assert self.runner.server is not None
            self.listener = LeanHTTPServer(api=server, fallback=self.runner.server)
            await self.listener.start(config.bind_address, config.secure_port, ssl_context=ssl_context,
                                      backlog=1024)
        else:
            site = web.TCPSite(self.runner, config.bind_address, config.secure_port, ssl_context=ssl_context,
                               reuse_address=True, backlog=1024)
            await site.start()
        # the admin kubeconfig talks to this host's own listener
        host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::") else config.bind_address
        self.url = f"https://{host}:{config.secure_port}"
        self._write_kubeconfigs()
        if not config.disable_agent:
            self.security.write_node_kubeconfig(node_name=config.node_name or socket.gethostname(),
                                                server_url=self.url, path=self.node_kubeconfig)
        log.info("kubelite API server listening on %s (datastore %s)", self.url, config.datastore_endpoint)
        self.gc_freezer = asyncio.create_task(self._freeze_gc(self.cache), name="gc-freezer")
        if not config.disable_controllers:
            # controllers talk to the API over loopback HTTPS like any client (k3s does the same)
            self.controller_client = APIClient(load_kubeconfig(self.admin_kubeconfig))
            manager = ControllerManager(
                self.controller_client, leader_elect=config.leader_elect,
                factory=lambda client: default_controllers(
                    client, cluster_cidr=config.cluster_cidr,
                    node_monitor_grace_period=config.node_monitor_grace_period,
                    horizontal_pod_autoscaler_sync_period=config.horizontal_pod_autoscaler_sync_period))
            self.controllers = asyncio.create_task(manager.run(), name="controller-manager")
        if not config.disable_scheduler:
            # the scheduler is a client over loopback too, under its own Lease kube-system/kube-scheduler
            # lean_requests: bindings and events over kubelite.client.http1, as `kubelite scheduler` does
            self.scheduler_client = APIClient(load_kubeconfig(self.admin_kubeconfig), lean_requests=True)
            # freeze_gc: the server's and the scheduler's caches are loaded and long-lived by then; the
            # cyclic GC walking them again is most of what the scheduler costs inside the server
            runner = SchedulerRunner(self.scheduler_client, config=config.scheduler_config,
                                     leader_elect=config.leader_elect, freeze_gc=True)
            self.scheduler = asyncio.create_task(runner.run(), name="scheduler")

    @staticmethod
    async def _freeze_gc(cache: WatchCache) -> None:
        """Keep the watch cache out of the cyclic GC (kubelite.gc_tuning): a fifth of the server's CPU
        under a create/bind storm went to full collections walking the cached objects again."""
        freezer = CacheGcFreezer()
        freezer.start(cache.object_count())
        while True:
            await asyncio.sleep(GC_FREEZE_CHECK_PERIOD)
            freezer.maybe_freeze(cache.object_count())

    async def _bootstrap(self, registry: Registry, table: ResourceTable) -> None:
        namespaces = table.get("", "v1", "namespaces")
        assert namespaces is not None
        for name in SYSTEM_NAMESPACES:
            try:
                await registry.create(namespaces, None, {"metadata": {"name": name}}, WriteOptions())
            except APIError as exc:
                if exc.code != 409:
                    raise
        await self._system_priority_classes(registry, table)

    async def _system_priority_classes(self, registry: Registry, table: ResourceTable) -> None:
        """system-cluster-critical and system-node-critical, as upstream's scheduling post-start hook."""
        classes = table.get("scheduling.k8s.io", "v1", "priorityclasses")
        assert classes is not None

        async def exists(name: str) -> bool:
            try:
                await registry.get(classes, None, name)
            except APIError as exc:
                if exc.code != 404:
                    raise
                return False
            return True

        async def create(obj: dict[str, object]) -> None:
            try:
                await registry.create(classes, None, obj, WriteOptions())
            except APIError as exc:
                if exc.code != 409:  # another server of an HA cluster created it first
                    raise

        await ensure_system_priority_classes(exists=exists, create=create, classes=SYSTEM_PRIORITY_CLASSES)

    async def _kubernetes_service(self, registry: Registry, table: ResourceTable, cluster_ip: str,
                                  advertise: str) -> None:
        """The `kubernetes` Service in `default` and its Endpoints: how pods reach the API server."""
        services, endpoints = table.get("", "v1", "services"), table.get("", "v1", "endpoints")
        assert services is not None and endpoints is not None
        service = {"metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                   "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "type": "ClusterIP",
                            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                       "targetPort": self.config.secure_port}]}}
        # get before create: on a restart the Service exists, and a create would fail on its ClusterIP
        # (already allocated, 422) before it could fail on its name (409)
        try:
            await registry.get(services, "default", "kubernetes")
        except APIError as exc:
            if exc.code != 404:
                raise
            await registry.create(services, "default", service, WriteOptions())
        subsets = [{"addresses": [{"ip": advertise}],
                    "ports": [{"name": "https", "port": self.config.secure_port, "protocol": "TCP"}]}]
        try:
            # skip-mirror: the API server writes the slice itself (below), as upstream's reconciler
            await registry.create(endpoints, "default", {"metadata": {"name": "kubernetes", "labels": {
                "endpointslice.kubernetes.io/skip-mirror": "true"}}, "subsets": subsets},
                                  WriteOptions())
        except APIError as exc:
            if exc.code != 409:
                raise

            def point(current: dict[str, object]) -> dict[str, object]:
                current["subsets"] = subsets
                return current

            await registry.update(endpoints, "default", "kubernetes", point, WriteOptions(),
                                  precondition_from_body=False)
        await self._kubernetes_endpointslice(registry, table, advertise)

    async def _kubernetes_endpointslice(self, registry: Registry, table: ResourceTable, advertise: str) -> None:
        """The `kubernetes` EndpointSlice: service proxies read slices, not Endpoints (the Service has no
        selector, so no controller writes it; the API server does, as upstream's endpoint reconciler)."""
        slices = table.get("discovery.k8s.io", "v1", "endpointslices")
        assert slices is not None
        body: dict[str, object] = {
            "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
            "addressType": "IPv6" if ":" in advertise else "IPv4",
            "endpoints": [{"addresses": [advertise], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": self.config.secure_port, "protocol": "TCP"}]}
        try:
            await registry.create(slices, "default", body, WriteOptions())
        except APIError as exc:
            if exc.code != 409:
                raise

            def point(current: dict[str, object]) -> dict[str, object]:
                current["addressType"], current["endpoints"], current["ports"] = (
                    body["addressType"], body["endpoints"], body["ports"])
                return current

            await registry.update(slices, "default", "kubernetes", point, WriteOptions(), precondition_from_body=False)

    def _server_token(self) -> str:
        """The join secret: --token, else the one a previous start wrote, else a new one; the full K10 form
        (with the CA hash an agent checks) is written to <data-dir>/server/token and node-token, as k3s."""
        assert self.pki is not None
        token_file = self.config.data_dir / "server" / "token"
        text = self.config.token
        if not text and token_file.exists():
            text = token_file.read_text().strip()
        try:
            secret = parse_join_token(text).secret if text else new_server_secret()
        except TokenFormatError as exc:
            raise ValueError(f"--token: {exc}") from None
        full = full_server_token(secret=secret, ca_pem=self.pki.server_ca_pem())
        for name in ("token", "node-token"):
            path = self.config.data_dir / "server" / name
            if not path.exists() or path.read_text().strip() != full:
                write_file_atomically(path, (full + "\n").encode(), mode=0o600)
        return secret

    @property
    def node_kubeconfig(self) -> Path:
        return self.config.data_dir / "agent" / "kubelet.kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.config.data_dir / "server" / "cred" / "admin.kubeconfig"

    def _write_kubeconfigs(self) -> None:
        assert self.pki is not None
        content = kubeconfig_yaml(server_url=self.url, ca_pem=self.pki.server_ca_cert.read_bytes(),
                                  client_cert_pem=self.pki.admin_cert.read_bytes(),
                                  client_key_pem=self.pki.admin_key.read_bytes())
        write_kubeconfig(self.admin_kubeconfig, content)
        if self.config.write_kubeconfig is not None:
            write_kubeconfig(self.config.write_kubeconfig, content)

    async def stop(self) -> None:
        for task in (self.metrics_scraper, self.gc_freezer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.scheduler is not None:
            self.scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.scheduler
        if self.scheduler_client is not None:
            await self.scheduler_client.close()
        if self.controllers is not None:
            self.controllers.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.controllers
        if self.controller_client is not None:
            await self.controller_client.close()
        if self.listener is not None:
            await self.listener.close()
        if self.runner is not None:
            await self.runner.cleanup()
        if self.security is not None:
            await self.security.stop()
        if self.crds is not None:
            await self.crds.close()
        if self.cache is not None:
            await self.cache.close()
        if self.store is not None:
            await self.store.close()

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signo in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signo, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await self.stop()


def run_server(config: ServerConfig) -> None:
    logging.basicConfig(level=os.environ.get("KUBELITE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(ControlPlane(config).run())
