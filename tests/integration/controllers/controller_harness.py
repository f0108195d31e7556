"""Running a controller inside a test, and waiting for the state it should reach."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kubelite.controlplane.controllers.base import Controller

TIMEOUT = 15.0


@contextlib.asynccontextmanager
async def running(controller: Controller, *, workers: int = 2) -> AsyncIterator[Controller]:
    """The controller running in this event loop with its caches synced; stopped afterwards."""
    task = asyncio.create_task(controller.run(workers=workers))
    try:
        for informer in controller.informers:
            await asyncio.wait_for(informer.wait_for_sync(), TIMEOUT)
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(probe: Callable[[], Awaitable[Any]], *, what: str, timeout: float = TIMEOUT) -> Any:
    """Poll ``probe`` until it returns something truthy; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
