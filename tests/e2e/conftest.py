"""A real `kubelite server` process per test module, on a free loopback port and its own data dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_harness import Server, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("kubelite-server"))
    try:
        yield srv
    finally:
        stop_server(srv)
