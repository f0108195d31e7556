"""`kubelite agent` and `kubelite images`: bad input ends in one plain line and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite import cli


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["--node-label", "novalue"], "--node-label 'novalue': expected KEY=VALUE", id="label"),
    pytest.param(["--node-taint", "k=v:Sometimes"], "effect 'Sometimes' is not one of", id="taint"),
    pytest.param([], "give --token (or --token-file) to join, or --kubeconfig", id="no-credentials"),
    pytest.param(["--kubeconfig", "/nonexistent/kc"], "--kubeconfig /nonexistent/kc: no such file", id="missing-kc"),
])
def test_agent_bad_input(tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["agent", "--server", "https://127.0.0.1:6443", "--data-dir", str(tmp_path / "d"), *argv])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_agent_rejects_a_non_https_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("{}")
    code = cli.main(["agent", "--server", "http://x:6443", "--kubeconfig", str(kubeconfig)])
    assert code == 1 and "expected https://HOST:PORT" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["list", "import", "pack"])
def test_images_without_a_running_containerd(tmp_path: Path, action: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["images", action, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "no containerd socket at" in err and err.count("\n") == 1
