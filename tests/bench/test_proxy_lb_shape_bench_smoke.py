"""Keeps tests/bench/proxy_lb_shape_bench.py working: a small run (real figures: run the script as root)."""

from __future__ import annotations

import pytest
from proxy_lb_shape_bench import SHAPES, main

pytestmark = [pytest.mark.bench, pytest.mark.root]


def test_proxy_lb_shape_bench_loads_every_shape() -> None:
    figures = main(["--services", "100", "--endpoints", "3"])
    assert [f.shape for f in figures] == list(SHAPES)
    assert all(f.first > 0 and f.again > 0 for f in figures)
