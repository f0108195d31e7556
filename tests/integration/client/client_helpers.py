"""Helpers shared by the client integration tests (imported by the test modules in this folder)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kubelite.client import APIClient


async def wait_until(condition: Callable[[], object], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll a zero-argument callable until it returns true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def churn(client: APIClient, *, namespace: str, count: int, prefix: str = "filler") -> None:
    """``count`` writes to configmaps (creates, 32 in flight): pushes older events out of the watch cache."""
    configmaps = client.resource("", "v1", "configmaps")
    gate = asyncio.Semaphore(32)

    async def create(index: int) -> None:
        async with gate:
            await configmaps.create({"metadata": {"name": f"{prefix}-{index}"}}, namespace=namespace)

    await asyncio.gather(*(create(i) for i in range(count)))
