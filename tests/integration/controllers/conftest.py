"""A real kubelite server (its own controllers off) per test module, and an API client per test."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
from e2e_harness import Server, start_server, stop_server

from kubelite.client import APIClient, load_kubeconfig


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(prefix="kubelite-controllers-it-"))
    try:
        srv = start_server(data_dir, "--disable-controllers")
        try:
            yield srv
        finally:
            stop_server(srv)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
async def client(server: Server) -> AsyncIterator[APIClient]:
    async with APIClient(load_kubeconfig(server.kubeconfig)) as api:
        yield api
