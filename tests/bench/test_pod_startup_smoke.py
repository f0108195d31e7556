"""Keeps tests/bench/pod_startup.py working: a small run (real figures: run the script with --pods 50)."""

from __future__ import annotations

import pytest
from pod_startup import main

pytestmark = [pytest.mark.bench, pytest.mark.slow, pytest.mark.root]


def test_pod_startup_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    floor, kubelite = main(["--pods", "5"])
    assert floor.name.startswith("floor (all at once)") and len(floor.latencies) == 5
    assert len(kubelite.latencies) == 5 and all(0 < t < 60 for t in kubelite.latencies)
    out = capsys.readouterr().out
    assert "hostNetwork sandboxes" in out and "p99 ratio kubelite/floor" in out
