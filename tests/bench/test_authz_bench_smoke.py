"""Keeps tests/bench/authz_bench.py working at a tiny size (real figures: run the script)."""

from __future__ import annotations

import pytest
from authz_bench import main

pytestmark = [pytest.mark.bench]


def test_authz_bench_reports_figures() -> None:
    figures = main(["--bindings", "50", "--requests", "50"])
    assert [f.name for f in figures][:4] == ["request attributes (baseline)", "system:masters", "RBAC allowed",
                                             "RBAC denied"]
    assert all(f.micros > 0 for f in figures)
