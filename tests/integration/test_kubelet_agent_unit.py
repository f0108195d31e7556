"""deploy/kubelite-agent.service is a unit systemd accepts, and it leaves containers running on stop."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_agent_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "kubelite-agent.service").read_text()
    assert "ExecStart=/usr/local/bin/kubelite agent $KUBELITE_AGENT_ARGS" in unit
    assert "KillMode=process" in unit  # the pods' containers survive an agent restart
    kubelite = Path(sys.executable).with_name("kubelite")
    local = tmp_path / "kubelite-agent.service"
    local.write_text(unit.replace("/usr/local/bin/kubelite", str(kubelite)))
    done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True,
                          timeout=60, check=False)
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "kubelite-agent.service" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
