"""Keeps tests/bench/proxy_bench.py working: a small run (real figures: run the script as root)."""

from __future__ import annotations

import pytest
from proxy_bench import main

pytestmark = [pytest.mark.bench, pytest.mark.root]


def test_proxy_bench_runs_and_reports() -> None:
    figures = {f.name: f for f in main(["--services", "200", "--endpoints", "3", "--changes", "3"])}
    assert figures["floor: nft -f of the full text, empty table"].seconds > 0
    full = figures["full sync (first, empty table)"]
    assert "1403 elements" in full.note, "200 service IPs, 600 endpoint, 600 hairpin and 3 pick-map elements"
    assert figures["one-endpoint change sync (median)"].seconds < full.seconds
    assert any(name.startswith("compile 200 service ports, Cython") for name in figures)
