"""check-config's parsing and verdict logic, on recorded host facts (the real run is an integration test)."""

from __future__ import annotations

import subprocess

import pytest

from kubelite import check_config as cc
from kubelite.check_config import Binary, CheckResult, Verdict

MOUNTS_HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs ro,nosuid 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0
"""
MOUNTS_V2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"
MOUNTS_V1 = "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
PROC_CGROUPS = """\
#subsys_name	hierarchy	num_cgroups	enabled
cpuset	2	1	1
cpu	3	1	1
memory	4	1	1
pids	5	1	1
hugetlb	6	1	0
"""


@pytest.mark.parametrize(
    ("text", "version"),
    [
        pytest.param("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1", (1, 6, 20),
                     id="containerd"),
        pytest.param("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\nspec: 1.0.2-dev", (1, 1, 5), id="runc"),
        pytest.param("nftables v1.0.6 (Lester Gooch #5)", (1, 0, 6), id="nft"),
        pytest.param("Client Version: v1.32.4\nKustomize Version: v5.5.0", (1, 32, 4), id="kubectl"),
        pytest.param("etcd Version: 3.4.23\nGit SHA: Not provided", (3, 4, 23), id="etcd"),
        pytest.param("6.18.44-fc", (6, 18, 44), id="kernel"),
        pytest.param("no digits here", None, id="garbage"),
    ],
)
def test_parse_version(text: str, version: tuple[int, ...] | None) -> None:
    assert cc.parse_version(text) == version


@pytest.mark.parametrize(
    ("mounts", "mode"),
    [
        pytest.param(MOUNTS_HYBRID, "hybrid", id="hybrid"),
        pytest.param(MOUNTS_V2, "v2", id="v2"),
        pytest.param(MOUNTS_V1, "v1", id="v1"),
        pytest.param("proc /proc proc rw 0 0\n", "none", id="none"),
    ],
)
def test_cgroup_mode(mounts: str, mode: str) -> None:
    assert cc.cgroup_mode(mounts) == mode


def test_enabled_v1_controllers_skips_disabled() -> None:
    assert cc.enabled_v1_controllers(PROC_CGROUPS) == {"cpuset", "cpu", "memory", "pids"}


@pytest.mark.parametrize(
    ("mounts", "proc", "v2", "verdict"),
    [
        pytest.param(MOUNTS_HYBRID, PROC_CGROUPS, "", Verdict.PASS, id="v1-all"),
        pytest.param(MOUNTS_HYBRID, PROC_CGROUPS.replace("pids\t5\t1\t1", "pids\t5\t1\t0"), "",
                     Verdict.FAIL, id="v1-pids-disabled"),
        pytest.param(MOUNTS_V2, "", "cpuset cpu io memory pids", Verdict.PASS, id="v2-all"),
        pytest.param(MOUNTS_V2, "", "cpu io", Verdict.FAIL, id="v2-missing"),
        pytest.param("", "", "", Verdict.FAIL, id="no-cgroupfs"),
    ],
)
def test_check_cgroups(mounts: str, proc: str, v2: str, verdict: Verdict) -> None:
    result = cc.check_cgroups(mounts=mounts, proc_cgroups=proc, v2_controllers=v2)
    assert result.verdict is verdict
    if verdict is Verdict.FAIL and mounts:
        assert "missing" in result.detail


REQUIRED = Binary("containerd", ("--version",), (1, 6), True, "containerd", "runtime")
OPTIONAL = Binary("etcd", ("--version",), (3, 4), False, "etcd-server", "HA only")


@pytest.mark.parametrize(
    ("binary", "path", "output", "verdict", "fix"),
    [
        pytest.param(REQUIRED, "/usr/bin/containerd", "containerd 1.6.20", Verdict.PASS, "", id="ok"),
        pytest.param(REQUIRED, None, "", Verdict.FAIL, "apt-get install containerd", id="missing"),
        pytest.param(OPTIONAL, None, "", Verdict.WARN, "apt-get install etcd-server", id="optional-missing"),
        pytest.param(REQUIRED, "/usr/bin/containerd", "containerd 1.5.9", Verdict.FAIL,
                     "upgrade containerd", id="too-old"),
        pytest.param(REQUIRED, "/usr/bin/containerd", "garbage", Verdict.FAIL, "reinstall containerd",
                     id="unparseable"),
    ],
)
def test_check_binary(binary: Binary, path: str | None, output: str, verdict: Verdict, fix: str) -> None:
    result = cc.check_binary(binary, which=lambda _: path, run=lambda _: output)
    assert result.verdict is verdict
    assert result.fix == fix


def test_check_binary_that_does_not_run() -> None:
    def broken(cmd: list[str]) -> str:
        raise subprocess.CalledProcessError(1, cmd)

    result = cc.check_binary(REQUIRED, which=lambda _: "/usr/bin/containerd", run=broken)
    assert result.verdict is Verdict.FAIL
    assert "does not run" in result.detail


@pytest.mark.parametrize(
    ("release", "verdict"),
    [pytest.param("6.1.0-13-amd64", Verdict.PASS, id="debian12"),
     pytest.param("5.10.0-20-amd64", Verdict.WARN, id="debian11"),
     pytest.param("weird", Verdict.WARN, id="unparseable")],
)
def test_check_kernel(release: str, verdict: Verdict) -> None:
    assert cc.check_kernel(release).verdict is verdict


def test_sysctl_check() -> None:
    assert cc.check_sysctl("f", "/p", "1", "fix", reader=lambda _: "1\n").verdict is Verdict.PASS
    off = cc.check_sysctl("f", "/p", "1", "turn it on", reader=lambda _: "0\n")
    assert (off.verdict, off.fix) == (Verdict.WARN, "turn it on")

    def absent(path: str) -> str:
        raise FileNotFoundError(path)

    assert "does not exist" in cc.check_sysctl("f", "/p", "1", "x", reader=absent).detail


def test_first_error_line_picks_nft_error() -> None:
    out = "\n  ^^^^\nError: syntax error, unexpected '}'\nadd map ...\n"
    assert cc.first_error_line(out) == "Error: syntax error, unexpected '}'"
    assert cc.first_error_line("just this\n") == "just this"
    assert cc.first_error_line("") == ""


def test_report_lines_and_exit_code() -> None:
    lines: list[str] = []
    results = [CheckResult("a", Verdict.PASS, "fine"), CheckResult("b", Verdict.WARN, "meh", "do x"),
               CheckResult("c", Verdict.FAIL, "broken", "do y")]
    assert cc.report(results, lines.append) == 1
    assert lines[0].startswith("PASS  a")
    assert "(fix: do x)" in lines[1]
    assert "(fix: do y)" in lines[2]
    assert lines[-1].startswith("verdict: 1 pass, 1 warn, 0 skip, 1 fail")
    assert cc.report(results[:2], lines.append) == 0
