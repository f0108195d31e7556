"""A watch under a burst of writes: every event arrives once, whole, one JSON object per line, in order.

The API server joins events that are already queued into one write; these tests prove that what a client
reads is still exactly upstream's stream (initial ADDED events of a list larger than one batch, then the
live events of concurrent creates), against a real `kubelite server`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import orjson
import pytest
from e2e_harness import Server, admin_ssl_context, temporary_server

BASE = "/api/v1/namespaces/default/configmaps"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-watch-bursts-", "--disable-controllers", "--disable-scheduler") as srv:
        yield srv


async def _create(session: aiohttp.ClientSession, url: str, names: list[str], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> None:
        async with gate:
            body = {"metadata": {"name": name, "labels": {"burst": "yes"}}, "data": {"name": name}}
            async with session.post(url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as r:
                assert r.status == 201, await r.text()

    await asyncio.gather(*(one(n) for n in names))


async def _read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, object]]:
    events = []
    while len(events) < count:
        line = await asyncio.wait_for(resp.content.readline(), 30)
        assert line.endswith(b"\n"), f"a watch line is cut short: {line[:200]!r}"
        events.append(orjson.loads(line))
    return events


def _check(events: list[dict[str, object]], names: list[str]) -> None:
    assert [e["type"] for e in events] == ["ADDED"] * len(names)
    objects = [e["object"] for e in events]
    assert sorted(o["metadata"]["name"] for o in objects) == sorted(names)  # type: ignore[index]
    assert all(o["data"]["name"] == o["metadata"]["name"] for o in objects)  # type: ignore[index]
    versions = [int(o["metadata"]["resourceVersion"]) for o in objects]  # type: ignore[index]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_burst_of_creates_reaches_a_watcher_complete_and_in_order(server: Server) -> None:
    async def scenario() -> None:
        url = f"https://127.0.0.1:{server.port}{BASE}"
        connector = aiohttp.TCPConnector(ssl=admin_ssl_context(server), limit=60)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(url) as resp:
                rv = (await resp.json())["metadata"]["resourceVersion"]
            names = [f"live-{i}" for i in range(300)]
            async with session.get(f"{url}?watch=1&resourceVersion={rv}&labelSelector=burst%3Dyes",
                                   timeout=aiohttp.ClientTimeout(total=120)) as watch:
                await _create(session, url, names, concurrency=50)
                _check(await _read_events(watch, len(names)), names)

    asyncio.run(scenario())


def test_initial_events_larger_than_one_write_then_live_events(server: Server) -> None:
    async def scenario() -> None:
        url = f"https://127.0.0.1:{server.port}{BASE}"
        connector = aiohttp.TCPConnector(ssl=admin_ssl_context(server), limit=60)
        async with aiohttp.ClientSession(connector=connector) as session:
            existing = [f"old-{i}" for i in range(300)]  # more than one write (WATCH_BATCH) of initial events
            await _create(session, url, existing, concurrency=50)
            async with session.get(f"{url}?labelSelector=burst%3Dyes") as resp:
                listed = {o["metadata"]["name"] for o in (await resp.json())["items"]}
            assert set(existing) <= listed
            async with session.get(f"{url}?watch=1&labelSelector=burst%3Dyes",
                                   timeout=aiohttp.ClientTimeout(total=120)) as watch:
                initial = await _read_events(watch, len(listed))
                assert [e["type"] for e in initial] == ["ADDED"] * len(listed)
                initial_names = [e["object"]["metadata"]["name"] for e in initial]  # type: ignore[index]
                assert initial_names == sorted(listed)  # the cache's key order, each object once
                more = [f"after-{i}" for i in range(50)]
                await _create(session, url, more, concurrency=10)
                _check(await _read_events(watch, len(more)), more)

    asyncio.run(scenario())
