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
