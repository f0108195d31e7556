"""`kubelite scheduler` and `kubelite server --scheduler-config`: bad input is one line, nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite import cli


def test_scheduler_needs_a_readable_kubeconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["scheduler", "--kubeconfig", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"kubelite: --kubeconfig {tmp_path / 'missing.yaml'}: ")


@pytest.mark.parametrize("command", [["scheduler", "--kubeconfig", "/dev/null", "--config"],
                                     ["server", "--data-dir", "/nonexistent/never", "--scheduler-config"]])
def test_a_bad_scheduler_configuration_stops_before_anything_starts(
        command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sched.yaml"
    config.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
                      "percentageOfNodesToScore: 150\n")
    code = cli.main([*command, str(config)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "percentageOfNodesToScore: must be an integer between 0 and 100, got 150" in err
    assert not Path("/nonexistent/never").exists()
