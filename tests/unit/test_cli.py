"""The kubelite command line: every subcommand parses; unbuilt ones fail with one plain line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubelite import cli


def test_apiserver_is_the_server_without_scheduler_controllers_and_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    monkeypatch.setattr("kubelite.controlplane.server.run_server", seen.append)
    assert cli.main(["apiserver", "--data-dir", "/tmp/kubelite-unit-x", "--write-kubeconfig", ""]) == 0
    (config,) = seen
    assert (config.disable_agent, config.disable_controllers, config.disable_scheduler) == (True, True, True)
    assert str(config.data_dir) == "/tmp/kubelite-unit-x"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("kubelite v")
    assert "native kernels: cython" in out


def test_server_flags_parse_with_k3s_names() -> None:
    args = cli.build_parser().parse_args(
        ["server", "--data-dir", "/tmp/x", "--node-name", "n1", "--cluster-cidr", "10.1.0.0/16",
         "--service-cidr", "10.2.0.0/16", "--datastore-endpoint", "etcd://127.0.0.1:2379",
         "--tls-san", "a.example", "--tls-san", "b.example", "--disable-agent"])
    assert (args.data_dir, args.node_name, args.cluster_cidr, args.service_cidr) == (
        "/tmp/x", "n1", "10.1.0.0/16", "10.2.0.0/16")
    assert args.tls_san == ["a.example", "b.example"]
    assert args.disable_agent is True
    assert args.secure_port == 6443


def test_agent_requires_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["agent"])
    assert exc.value.code == 2
    assert "--server" in capsys.readouterr().err


def test_kubectl_without_kubeconfig_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli, "DEFAULT_KUBECONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBELITE_DATA_DIR", str(tmp_path))
    assert cli.main(["kubectl", "get", "pods"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kubelite: no kubeconfig found")
    assert err.count("\n") == 1


def test_kubeconfig_env_wins(tmp_path: Path) -> None:
    path = tmp_path / "kc.yaml"
    assert cli.find_kubeconfig({"KUBECONFIG": str(path)}) == str(path)


def test_kubeconfig_from_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DEFAULT_KUBECONFIG", str(tmp_path / "absent.yaml"))
    written = tmp_path / "server" / "cred" / "admin.kubeconfig"
    written.parent.mkdir(parents=True)
    written.write_text("apiVersion: v1\n")
    assert cli.find_kubeconfig({"KUBELITE_DATA_DIR": str(tmp_path)}) == str(written)


def test_kubectl_passthrough_execs_kubectl_with_kubeconfig(tmp_path: Path) -> None:
    # a fake kubectl on PATH records its argv and KUBECONFIG: the real exec path, end to end
    fake = tmp_path / "bin" / "kubectl"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "KUBECONFIG=$KUBECONFIG ARGS=$*"\n')
    fake.chmod(0o755)
    kc = tmp_path / "kc.yaml"
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "KUBECONFIG": str(kc)}
    done = subprocess.run([sys.executable, "-m", "kubelite", "kubectl", "get", "pods", "-n", "x", "-h"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"KUBECONFIG={kc} ARGS=get pods -n x -h"


def test_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_server_refuses_a_malformed_join_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["server", "--data-dir", str(tmp_path / "d"), "--token", "K10abc::server:x"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "--token: a K10 token" in err
    assert not (tmp_path / "d").exists()
