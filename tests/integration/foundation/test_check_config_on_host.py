"""`kubelite check-config` on this real host: one verdict line per check, probes actually run."""

from __future__ import annotations

import re
import subprocess

import pytest

pytestmark = [pytest.mark.root, pytest.mark.integration]

EXPECTED_CHECKS = ["kernel", "cgroups", "netns", "veth", "bridge", "vxlan", "nftables", "ip_forward",
                   "br_netfilter", "containerd", "runc", "nft", "conntrack", "etcd", "kubectl", "native",
                   "pause", "port 6443", "port 10250"]
LINE = re.compile(r"^(PASS|WARN|FAIL|SKIP)  (\S+(?: \d+)?)\s+(.*)$")


def test_check_config_prints_one_verdict_per_check() -> None:
    done = subprocess.run(["kubelite", "check-config"], capture_output=True, text=True, timeout=120,
                          check=False)
    lines = done.stdout.strip().splitlines()
    parsed = [LINE.match(line) for line in lines[:-1]]
    assert all(parsed), f"unexpected lines: {[t for t, m in zip(lines, parsed, strict=False) if not m]}"
    verdicts = {m.group(2): m.group(1) for m in parsed if m}
    assert list(verdicts) == EXPECTED_CHECKS
    assert lines[-1].startswith("verdict: ")
    # the installer put every required component here, so the kernel probes really ran and passed
    for name in ("netns", "veth", "bridge", "nftables", "containerd", "runc", "nft", "native", "pause"):
        assert verdicts[name] == "PASS", lines
    assert done.returncode == (1 if "FAIL" in verdicts.values() else 0)
    assert done.stderr == ""


def host_state(*cmd: str) -> str:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout


def test_check_config_leaves_no_trace_on_host() -> None:
    links_before = host_state("ip", "-o", "link")
    tables_before = host_state("nft", "list", "tables")
    subprocess.run(["kubelite", "check-config"], capture_output=True, timeout=120, check=False)
    links_after = host_state("ip", "-o", "link")
    tables_after = host_state("nft", "list", "tables")
    assert "klchk" not in links_after
    assert links_before.count("\n") == links_after.count("\n")
    assert tables_before == tables_after
