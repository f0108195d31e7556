"""`kubelite controller-manager`: bad flags give one plain line and a non-zero exit, nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite import cli


@pytest.mark.parametrize(("extra", "expected"), [
    pytest.param(["--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig /nonexistent/kubeconfig",
                 id="missing-kubeconfig"),
    pytest.param(["--kubeconfig", "KCFG", "--cluster-cidr", "10.42.0.1/16"], "--cluster-cidr 10.42.0.1/16",
                 id="cidr-with-host-bits"),
])
def test_bad_flags_fail_with_one_line(extra: list[str], expected: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    argv = ["controller-manager", *[str(kubeconfig) if a == "KCFG" else a for a in extra]]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_kubeconfig_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["controller-manager"])
    assert exit_info.value.code != 0
    assert "--kubeconfig" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "seconds"), [
    pytest.param("40", 40.0, id="plain-number"), pytest.param("20s", 20.0, id="seconds"),
    pytest.param("1m30s", 90.0, id="minutes-and-seconds"), pytest.param("500ms", 0.5, id="milliseconds"),
])
def test_node_monitor_grace_period_takes_upstream_durations(value: str, seconds: float) -> None:
    assert cli._duration(value) == seconds


@pytest.mark.parametrize(("command", "flag", "value"), [
    pytest.param("controller-manager", "--node-monitor-grace-period", "5x", id="cm-not-a-duration"),
    pytest.param("server", "--node-monitor-grace-period", "0s", id="server-zero-grace"),
    pytest.param("server", "--default-not-ready-toleration-seconds", "-1", id="negative-not-ready"),
    pytest.param("server", "--default-unreachable-toleration-seconds", "5m", id="unreachable-not-an-int"),
])
def test_bad_grace_and_toleration_flags_are_refused(command: str, flag: str, value: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["--kubeconfig", "/nonexistent"] if command == "controller-manager" else []
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, *extra, flag, value])
    assert exit_info.value.code != 0
    assert f"argument {flag}: '{value}'" in capsys.readouterr().err
