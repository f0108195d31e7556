"""Keeps tests/bench/api_bench.py working: a small run per backend (real figures: run the script)."""

from __future__ import annotations

import shutil

import pytest
from api_bench import main

pytestmark = [pytest.mark.bench, pytest.mark.slow]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("etcd", marks=pytest.mark.skipif(
    shutil.which("etcd") is None, reason="etcd not installed"))])
def test_api_bench_runs_and_reports(backend: str) -> None:
    figures = main(["--backend", backend, "--clients", "10", "--objects", "100"])
    names = [f.name for f in figures]
    assert names[0].startswith("floor:")
    assert any(n.startswith("api create") for n in names)
    create = next(f for f in figures if f.name.startswith("api create"))
    assert create.count == 100 and len(create.latencies) == 100
    assert create.server_cpu is not None and create.server_cpu > 0, "the server's CPU time is measured"
    assert "server cpu" in create.line()
    watch = next(f for f in figures if f.name.startswith("watch delivery"))
    assert watch.count == 100, "every created object was delivered to the watcher"


def test_api_bench_pod_kind_reports_create_binding_and_event() -> None:
    figures = main(["--kind", "pod", "--clients", "5", "--objects", "20"])
    names = [f.name for f in figures]
    assert any(n.startswith("floor: SqliteStore") for n in names), "the group-commit floor is printed"
    for phase in ("pod create", "pod binding", "event create", "scheduled pod"):
        found = next(f for f in figures if f.name.startswith(phase))
        assert found.count == 20 and len(found.latencies) == 20
        assert found.server_cpu is not None and found.server_cpu > 0
