"""A real kubelite server (its own controllers off) per test module, and an API client per test."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
from e2e_harness import Server, temporary_server

from kubelite.client import APIClient, load_kubeconfig


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with temporary_server("kubelite-controllers-it-", "--disable-controllers") as srv:
        yield srv


@pytest.fixture
async def client(server: Server) -> AsyncIterator[APIClient]:
    async with APIClient(load_kubeconfig(server.kubeconfig)) as api:
        yield api
