"""The scraper: which URL a node is scraped at, what a good answer stores, and how failing kubelets back off."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from kubelite.agent.kubelet.stats import render_resource_metrics
from kubelite.controlplane.metrics.scraper import Scraper
from kubelite.controlplane.metrics.storage import MetricsStorage

BODY = render_resource_metrics({"node": {"cpu": {"time": "2026-01-01T00:00:00Z", "usageCoreNanoSeconds": 10**9},
                                         "memory": {"time": "2026-01-01T00:00:00Z", "workingSetBytes": 1024}}})


class Response:
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.content = self
        self._body = body.encode()

    async def read(self, limit: int) -> bytes:
        return self._body

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None


class Session:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.urls: list[str] = []

    def get(self, url: str, *, ssl: ssl.SSLContext) -> Response:
        self.urls.append(url)
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return Response(*answer)


def node(name: str, address: str | None, port: int = 10250) -> dict[str, Any]:
    status: dict[str, Any] = {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
    if address:
        status["addresses"] = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": address}]
    return {"metadata": {"name": name}, "status": status}


def _scraper() -> tuple[Scraper, MetricsStorage]:
    storage = MetricsStorage()
    return Scraper(registry=None, table=None, ssl_context=ssl.create_default_context(),  # type: ignore[arg-type]
                   storage=storage, resolution=15.0), storage


async def test_a_node_is_scraped_at_its_internal_ip_and_kubelet_port() -> None:
    scraper, storage = _scraper()
    session = Session({"https://10.0.0.5:10999/metrics/resource": (200, BODY),
                       "https://[fd00::5]:10250/metrics/resource": (200, BODY)})
    await scraper._scrape_node(session, node("n1", "10.0.0.5", 10999))  # type: ignore[arg-type]
    await scraper._scrape_node(session, node("n2", "fd00::5"))  # type: ignore[arg-type]
    await scraper._scrape_node(session, node("n3", None))  # type: ignore[arg-type]  # no address: skipped
    assert session.urls == ["https://10.0.0.5:10999/metrics/resource", "https://[fd00::5]:10250/metrics/resource"]
    assert storage._nodes.keys() == {"n1", "n2"}


async def test_a_failing_kubelet_is_retried_less_and_less_often() -> None:
    scraper, storage = _scraper()
    url = "https://10.0.0.9:10250/metrics/resource"
    session = Session({url: aiohttp.ClientConnectionError("refused")})
    for _ in range(3):
        await scraper._scrape_node(session, node("n9", "10.0.0.9"))  # type: ignore[arg-type]
    assert session.urls == [url]  # the next try waits about one resolution
    failures, _ = scraper._failures["n9"]
    assert failures == 1
    scraper._failures["n9"] = (failures, 0.0)  # time passes
    session.answers[url] = (401, "Unauthorized")
    await scraper._scrape_node(session, node("n9", "10.0.0.9"))  # type: ignore[arg-type]
    assert scraper._failures["n9"][0] == 2 and not storage._nodes
    scraper._failures["n9"] = (2, 0.0)
    session.answers[url] = (200, BODY)
    await scraper._scrape_node(session, node("n9", "10.0.0.9"))  # type: ignore[arg-type]
    assert "n9" not in scraper._failures and "n9" in storage._nodes


async def test_garbage_from_a_kubelet_stores_nothing() -> None:
    scraper, storage = _scraper()
    session = Session({"https://10.0.0.7:10250/metrics/resource": (200, "node_cpu_usage_seconds_total{ 1\n")})
    await scraper._scrape_node(session, node("n7", "10.0.0.7"))  # type: ignore[arg-type]
    assert not storage._nodes and scraper._failures["n7"][0] == 1
