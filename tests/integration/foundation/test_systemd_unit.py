"""deploy/kubelite.service is a unit systemd accepts (PID 1 here is not systemd, so it is verified)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.integration]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_server_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "kubelite.service").read_text()
    assert "ExecStart=/usr/local/bin/kubelite server $KUBELITE_SERVER_ARGS" in unit
    # verify against the kubelite this test runs with (a fresh CI machine has no /usr/local/bin/kubelite)
    kubelite = Path(sys.executable).with_name("kubelite")
    local = tmp_path / "kubelite.service"
    local.write_text(unit.replace("/usr/local/bin/kubelite", str(kubelite)))
    done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True,
                          timeout=60, check=False)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "kubelite.service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
