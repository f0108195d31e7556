"""The `cri_node` fixture: one real containerd of our own per test module (see cri_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from cri_harness import CriNode, running_node


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cri_node() -> AsyncIterator[CriNode]:
    async with running_node() as node:
        yield node
