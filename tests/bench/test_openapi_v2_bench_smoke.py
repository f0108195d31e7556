"""Keeps tests/bench/openapi_v2_bench.py working at a tiny size (real figures: run the script)."""

from __future__ import annotations

import pytest
from openapi_v2_bench import main

pytestmark = [pytest.mark.bench]


def test_openapi_v2_bench_reports_times_and_sizes() -> None:
    figures = main(["--rounds", "1", "--crds", "2"])
    json_form, proto, rebuild, parse = figures
    assert json_form.size > 0 and proto.size > 0 and proto.gzip_size < proto.size
    assert all(f.seconds > 0 for f in figures)
    assert rebuild.name == "protobuf after CRD change" and parse.name == "parse (floor)"
