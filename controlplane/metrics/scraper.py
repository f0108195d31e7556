"""The metrics scraper: every node's kubelet ``/metrics/resource``, every resolution period.

Design (metrics-server pkg/scraper)
-----------------------------------
One loop in the API server process. Each round lists the Nodes from the registry (not over HTTP: the
scraper is part of the server), then scrapes every node's kubelet concurrently over the same
authenticated path the API server's kubelet proxy uses (its client certificate, the node's address and
``daemonEndpoints.kubeletEndpoint.Port``: :func:`kubelet_proxy.kubelet_endpoint`). Each answer is parsed
and stored (:mod:`.storage` keeps two points per node/container and computes rates from them); a node
that cannot be reached keeps its old points, exactly as metrics-server, and a deleted node is pruned.
A round never takes longer than the resolution: every request has a timeout below it, and the next
round starts one resolution after the previous one began (missed rounds are skipped, not queued). A node
whose kubelet keeps failing is tried again after 1, 2, 4, ... rounds (at most 5 minutes apart), so nodes
without a reachable kubelet (registered by hand, or gone) cost almost nothing.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any, Final

import aiohttp

from kubelite.controlplane.apiserver.kubelet_proxy import kubelet_endpoint
from kubelite.controlplane.apiserver.registry import Registry
from kubelite.controlplane.apiserver.resources import ResourceTable
from kubelite.controlplane.metrics.storage import MetricsParseError, MetricsStorage, parse_resource_metrics

__all__ = ["DEFAULT_RESOLUTION", "Scraper"]

log = logging.getLogger(__name__)

DEFAULT_RESOLUTION: Final = 15.0  # metrics-server's --metric-resolution in its recommended manifest
MAX_BODY: Final = 32 * 1024 * 1024
MAX_BACKOFF: Final = 300.0


class Scraper:
    """Scrape all kubelets into ``storage``; :meth:`run` until cancelled."""

    def __init__(self, *, registry: Registry, table: ResourceTable, ssl_context: ssl.SSLContext,
                 storage: MetricsStorage, resolution: float = DEFAULT_RESOLUTION) -> None:
        self.registry = registry
        self.table = table
        self.ssl_context = ssl_context
        self.storage = storage
        self.resolution = resolution
        # a scrape must end before the next one is due (metrics-server: timeout = 0.9 x resolution)
        self.timeout = max(0.5, min(10.0, resolution * 0.9))
        self._failures: dict[str, tuple[int, float]] = {}  # node -> (failures in a row, next attempt)

    async def _nodes(self) -> list[dict[str, Any]]:
        info = self.table.get("", "v1", "nodes")
        assert info is not None
        return list((await self.registry.list(info, None)).items)

    async def _scrape_node(self, session: aiohttp.ClientSession, node: dict[str, Any]) -> None:
        name = str(node["metadata"]["name"])
        failures, next_attempt = self._failures.get(name, (0, 0.0))
        if time.monotonic() < next_attempt:
            return
        endpoint = kubelet_endpoint(node)
        if endpoint is None:
            return  # not registered with an address yet
        host, port = endpoint
        if await self._scrape(session, name, host, port):
            self._failures.pop(name, None)
        else:
            delay = min(MAX_BACKOFF, self.resolution * 2 ** failures)
            self._failures[name] = (failures + 1, time.monotonic() + delay - self.resolution / 2)

    async def _scrape(self, session: aiohttp.ClientSession, name: str, host: str, port: int) -> bool:
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            async with session.get(f"https://{address}/metrics/resource", ssl=self.ssl_context) as response:
                if response.status != 200:
                    log.info("scraping node %s: the kubelet answered %d", name, response.status)
                    return False
                body = await response.content.read(MAX_BODY)
            batch = parse_resource_metrics(body.decode("utf-8", "replace"))
        except (aiohttp.ClientError, OSError, TimeoutError, MetricsParseError) as exc:
            log.info("scraping node %s failed: %s", name, exc or type(exc).__name__)
            return False
        self.storage.store(name, batch)
        return True

    async def scrape_once(self) -> None:
        """One round over every node."""
        nodes = await self._nodes()
        # nodes not registered with an address yet are left out before any work is set up for them (a
        # cluster of many such nodes, as the scheduler benchmark makes, costs one look at each)
        reachable = [node for node in nodes if kubelet_endpoint(node) is not None]
        if reachable:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await asyncio.gather(*(self._scrape_node(session, node) for node in reachable))
        names = {str(n["metadata"]["name"]) for n in nodes}
        self.storage.prune(names)
        for gone in [n for n in self._failures if n not in names]:
            del self._failures[gone]

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.scrape_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad round must not end the scraper
                log.exception("metrics scrape failed")
            elapsed = time.monotonic() - started
            await asyncio.sleep(self.resolution - elapsed % self.resolution)
