"""Keeps tests/bench/scheduler_bench.py working at tiny sizes (real figures: run the script)."""

from __future__ import annotations

import pytest
from scheduler_bench import main

pytestmark = [pytest.mark.bench, pytest.mark.slow]


def test_scheduler_bench_runs_both_modes_and_binds_every_pod() -> None:
    figures = main(["--mode", "both", "--nodes", "30", "--placed", "20", "--pods", "60", "--pure-pods", "30",
                    "--clients", "10"])
    by_name = {f.name: f for f in figures}
    compiled, pure = by_name["algorithm cython 30 nodes"], by_name["algorithm python 30 nodes"]
    assert compiled.count == 60 and len(compiled.latencies) == 60
    assert pure.count == 30 and len(pure.latencies) == 30
    for where in ("embedded scheduler", "standalone scheduler", "pre-created pods"):
        e2e = by_name[f"end-to-end sqlite 30 nodes, {where}"]
        assert e2e.count == 60 and len(e2e.latencies) == 60, "every measured pod was seen bound"
        assert all(latency > 0 for latency in e2e.latencies)
        assert e2e.server_cpu > 0, "the API server's CPU time in the measured phase was read"
        if where != "embedded scheduler":
            assert e2e.scheduler_cpu > 0, "the scheduler process's CPU time was read"
