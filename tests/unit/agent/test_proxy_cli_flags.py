"""The proxy's command-line inputs: dual-stack --service-cidr and IPv6 --nodeport-addresses reach the agent,
and the server hands its ranges to its embedded agent."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from kubelite import cli


def test_agent_takes_dual_stack_service_cidr_and_ipv6_nodeport_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr("kubelite.agent.main.run_agent", seen.append)
    assert cli.main(["agent", "--server", "https://127.0.0.1:6443", "--token", "t", "--data-dir", "/tmp/kl-unit-a",
                     "--service-cidr", "10.43.0.0/16,fd00:43::/112", "--cluster-cidr", "10.44.0.0/16",
                     "--nodeport-addresses", "10.0.0.0/8, fd00:100::/64"]) == 0
    (config,) = seen
    assert (config.service_cidr, config.cluster_cidr) == ("10.43.0.0/16,fd00:43::/112", "10.44.0.0/16")
    assert config.nodeport_addresses == ("10.0.0.0/8", "fd00:100::/64")


@pytest.mark.parametrize(("value", "message"), [
    pytest.param("10.43.0.0/16,10.44.0.0/16", "two CIDRs must be of different IP families", id="same-family"),
    pytest.param("10.43.0.0/16,fd00::/112,fd01::/112", "want one CIDR or two", id="three"),
    pytest.param("10.43.0.300/16", "is not a CIDR", id="garbage"),
])
def test_bad_service_cidr_is_one_clear_error(value: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["server", "--service-cidr", value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_embedded_agent_gets_the_servers_ranges(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["server", "--data-dir", str(tmp_path), "--cluster-cidr", "10.50.0.0/16",
                                          "--service-cidr", "10.51.0.0/16,fd00:51::/112"])
    assert isinstance(args, argparse.Namespace)
    command = cli._embedded_agent(args).command
    assert command[command.index("--cluster-cidr") + 1] == "10.50.0.0/16"
    assert command[command.index("--service-cidr") + 1] == "10.51.0.0/16,fd00:51::/112"


def test_agent_cluster_cidr_must_be_one_cidr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(["agent", "--server", "https://127.0.0.1:6443", "--cluster-cidr",
                                       "10.42.0.0/16,fd00:42::/56"])
    assert exc.value.code == 2 and "is not a CIDR" in capsys.readouterr().err
