"""Keeps tests/bench/cni_bench.py working: a few pods (real figures: run the script with --pods 50)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cni_bench import REFERENCE_DIR, main

pytestmark = [pytest.mark.bench, pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(not (Path(REFERENCE_DIR) / "bridge").exists(),
                                 reason="reference CNI plugins (containernetworking-plugins) not installed")]


def test_cni_bench_runs_both_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    series = main(["--pods", "3"])
    for name in ("kubelite", "reference"):
        assert len(series[name].add) == 3 and len(series[name].delete) == 3
        assert all(t > 0 for t in series[name].both)
    out = capsys.readouterr().out
    assert "kubelite / reference ADD+DEL p50" in out and "reference bridge+host-local ADD" in out
