"""A real ``kubelite server`` per test module for the client library, and a client connected to it.

The server comes from tests/e2e/e2e_harness.py (loopback, a free port, its own data directory);
the data directory is a private temporary directory removed after the module, even on failure.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
from e2e_harness import Server, temporary_server

from kubelite.client import APIClient, APIStatusError, load_kubeconfig


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # no controllers: these tests count the objects of fresh namespaces, and controllers (the root CA
    # publisher, the ServiceAccount controller) would add their own to every namespace
    with temporary_server("kubelite-client-it-", "--disable-controllers") as srv:
        yield srv


@pytest.fixture(params=[False, True], ids=["aiohttp", "lean"])
async def client(server: Server, request: pytest.FixtureRequest) -> AsyncIterator[APIClient]:
    """A client with aiohttp's transport and one with the lean one (``lean_requests``): same API semantics."""
    async with APIClient(load_kubeconfig(server.kubeconfig), lean_requests=request.param) as api:
        yield api


@pytest.fixture
async def namespace(client: APIClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards (best effort: the server dies with the module)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    namespaces = client.resource("", "v1", "namespaces", namespaced=False)
    await namespaces.create({"metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(APIStatusError):
            await namespaces.delete(name)
