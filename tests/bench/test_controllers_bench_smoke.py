"""Keeps tests/bench/controllers_bench.py working: a small scale-up (real figures: run the script)."""

from __future__ import annotations

import pytest
from controllers_bench import main

pytestmark = [pytest.mark.bench, pytest.mark.slow]


def test_controllers_bench_runs_and_reports() -> None:
    figures = main(["--replicas", "20", "--nodes", "2", "--clients", "5", "--timeout", "60"])
    assert figures.floor_pods_per_second > 0
    assert 0 < figures.created_seconds <= figures.ready_seconds
    assert figures.created_per_second > 0
