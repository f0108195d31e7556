"""The controller manager: runs every controller, under Lease-based leader election when asked.

With several servers sharing one datastore only the holder of the ``kube-system/kube-controller-manager``
Lease runs controllers (``--leader-elect``, as upstream); losing the lease stops them, and the manager
tries to acquire it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable
from typing import Any

from kubelite.client import APIClient, ClientConfig, LeaderElector, LeaseLock, SharedInformerFactory
from kubelite.controlplane.controllers.base import Controller
from kubelite.controlplane.controllers.cronjob import CronJobController
from kubelite.controlplane.controllers.daemonset import DaemonSetController
from kubelite.controlplane.controllers.deployment import DeploymentController
from kubelite.controlplane.controllers.disruption import DisruptionController
from kubelite.controlplane.controllers.endpoints import EndpointsController
from kubelite.controlplane.controllers.endpointslice import EndpointSliceController
from kubelite.controlplane.controllers.garbagecollector import GarbageCollector
from kubelite.controlplane.controllers.horizontalpodautoscaler import (
    DEFAULT_SYNC_PERIOD,
    HorizontalPodAutoscalerController,
)
from kubelite.controlplane.controllers.job import JobController
from kubelite.controlplane.controllers.namespace import NamespaceController
from kubelite.controlplane.controllers.nodeipam import NodeIPAMController
from kubelite.controlplane.controllers.nodelifecycle import GRACE_PERIOD, NodeLifecycleController
from kubelite.controlplane.controllers.podgc import TERMINATED_THRESHOLD, PodGCController
from kubelite.controlplane.controllers.replicaset import ReplicaSetController
from kubelite.controlplane.controllers.serviceaccount import ServiceAccountController
from kubelite.controlplane.controllers.statefulset import StatefulSetController
from kubelite.controlplane.controllers.ttlafterfinished import TTLAfterFinishedController

log = logging.getLogger(__name__)

LEASE_NAMESPACE, LEASE_NAME = "kube-system", "kube-controller-manager"


def default_controllers(client: APIClient, *, cluster_cidr: str = "10.42.0.0/16",
                        node_monitor_grace_period: float = GRACE_PERIOD,
                        terminated_pod_gc_threshold: int = TERMINATED_THRESHOLD,
                        horizontal_pod_autoscaler_sync_period: float = DEFAULT_SYNC_PERIOD) -> list[Controller]:
    """Every controller, sharing one informer per resource (one watch each for the whole manager)."""
    factory = SharedInformerFactory(client)
    return [NamespaceController(client), NodeIPAMController(client, cluster_cidr=cluster_cidr),
            ServiceAccountController(client),
            EndpointSliceController(client, factory=factory), EndpointsController(client, factory=factory),
            ReplicaSetController(client, factory=factory), DeploymentController(client, factory=factory),
            GarbageCollector(client, factory=factory), DisruptionController(client, factory=factory),
            NodeLifecycleController(client, factory=factory, grace_period=node_monitor_grace_period),
            PodGCController(client, factory=factory, terminated_threshold=terminated_pod_gc_threshold),
            JobController(client, factory=factory), TTLAfterFinishedController(client, factory=factory),
            DaemonSetController(client, factory=factory), StatefulSetController(client, factory=factory),
            CronJobController(client, factory=factory),
            HorizontalPodAutoscalerController(client, factory=factory,
                                              sync_period=horizontal_pod_autoscaler_sync_period)]


ControllerFactory = Callable[[APIClient], list[Controller]]


class ControllerManager:
    """Runs a fresh set of controllers per leadership term (a controller's queue ends with its run)."""

    def __init__(self, client: APIClient, *, factory: ControllerFactory | None = None,
                 leader_elect: bool = False, identity: str = "") -> None:
        self.client = client
        self.factory: ControllerFactory = factory or default_controllers
        self.leader_elect = leader_elect
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"

    async def _run_controllers(self) -> None:
        controllers = self.factory(self.client)
        try:
            await asyncio.gather(*(controller.run() for controller in controllers))
        finally:
            # shared informer factories outlive any one controller: stop them with the term
            for factory in {id(c.factory): c.factory for c in controllers if c.factory is not None}.values():
                await factory.shutdown()

    async def run(self) -> None:
        if not self.leader_elect:
            await self._run_controllers()
            return
        lock = LeaseLock(self.client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=self.identity)
        while True:
            elector = LeaderElector(lock, on_started_leading=self._run_controllers,
                                    on_stopped_leading=lambda: log.info("controller manager: lost the lease"),
                                    name="kube-controller-manager")
            await elector.run()
            await asyncio.sleep(1.0)


async def run_standalone_async(*, client_config: ClientConfig, leader_elect: bool, **options: Any) -> None:
    """`kubelite controller-manager`: every controller in its own process, against a server's API.

    ``options`` go to ``default_controllers`` (cluster_cidr, node_monitor_grace_period, ...)."""
    async with APIClient(client_config) as client:
        manager = ControllerManager(client, leader_elect=leader_elect,
                                    factory=lambda c: default_controllers(c, **options))
        await manager.run()


def run_standalone(*, client_config: ClientConfig, leader_elect: bool, **options: Any) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone_async(client_config=client_config, leader_elect=leader_elect, **options))
