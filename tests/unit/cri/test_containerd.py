"""containerd config rendering, host probes and supervision, without root.

Supervision runs against tests/unit/cri/fake_containerd.py (a process that serves CRI Version on the
configured socket and can crash, hang or fail to start on request); the real containerd is supervised
in tests/integration/cri.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.cri.client import RuntimeClient
from kubelite.cri.containerd import (
    CAP_SYS_RESOURCE,
    ContainerdConfig,
    ContainerdError,
    ContainerdPaths,
    ContainerdSupervisor,
    RestartBackoff,
    has_capability,
    overlayfs_supported,
    pid1_is_systemd,
    render_toml,
)
from kubelite.cri.images import PAUSE_IMAGE

FAKE = Path(__file__).with_name("fake_containerd.py")


def make_config(data_dir: Path, **overrides: object) -> ContainerdConfig:
    fields: dict[str, object] = {
        "data_dir": data_dir, "cni_bin_dir": Path("/opt/kubelite/cni/bin"), "cni_conf_dir": Path("/etc/kl/cni"),
        "restrict_oom_score_adj": True, "systemd_cgroup": False, "snapshotter": "overlayfs",
    }
    fields.update(overrides)
    return ContainerdConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # containerd.sock.ttrpc must fit in 107 bytes; pytest's tmp_path may not
    path = Path(tempfile.mkdtemp(prefix="klcd-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- host probes --------------------------------------------------------------------------------------

STATUS = "Name:\tpython\nCapInh:\t0000000000000000\nCapEff:\t{}\nCapBnd:\t000001ffffffffff\n"


@pytest.mark.parametrize(
    ("cap_eff", "expected"),
    [
        pytest.param("000001ffffffffff", True, id="full-root"),
        pytest.param("000001fffeffffff", False, id="root-without-sys-resource"),  # these machines
        pytest.param("0000000001000000", True, id="only-sys-resource"),
        pytest.param("0000000000000000", False, id="unprivileged"),
    ],
)
def test_has_capability_reads_the_effective_set(cap_eff: str, expected: bool) -> None:
    assert has_capability(CAP_SYS_RESOURCE, status_text=STATUS.format(cap_eff)) is expected


def test_has_capability_without_capeff_is_an_error() -> None:
    with pytest.raises(ContainerdError, match="no CapEff line"):
        has_capability(CAP_SYS_RESOURCE, status_text="Name:\tx\n")


@pytest.mark.parametrize(
    ("comm", "run_dir", "expected"),
    [
        pytest.param("systemd", True, True, id="systemd-booted"),
        pytest.param("systemd", False, False, id="systemd-name-without-run-dir"),
        pytest.param("process_api", False, False, id="other-init"),  # these machines
        pytest.param("tini", True, False, id="container-with-stale-run-dir"),
        pytest.param(None, True, False, id="no-proc"),
    ],
)
def test_pid1_is_systemd(tmp_path: Path, comm: str | None, run_dir: bool, expected: bool) -> None:
    proc = tmp_path / "proc"
    if comm is not None:
        (proc / "1").mkdir(parents=True)
        (proc / "1" / "comm").write_text(comm + "\n")
    run_systemd = tmp_path / "run" / "systemd" / "system"
    if run_dir:
        run_systemd.mkdir(parents=True)
    assert pid1_is_systemd(proc=proc, run_systemd=run_systemd) is expected


def test_overlay_probe_needs_overlay_in_the_kernel(tmp_path: Path) -> None:
    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n")
    probe = overlayfs_supported(tmp_path / "root", filesystems=filesystems)
    assert not probe.supported
    assert "no overlay filesystem" in probe.reason


# ---- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restrict", "systemd", "snapshotter"),
    [
        pytest.param(True, False, "overlayfs", id="these-machines"),
        pytest.param(False, True, "overlayfs", id="systemd-host-with-cap-sys-resource"),
        pytest.param(True, False, "native", id="no-overlay"),
    ],
)
def test_render_is_containerd_config_v2(short_dir: Path, restrict: bool, systemd: bool, snapshotter: str) -> None:
    config = make_config(short_dir, restrict_oom_score_adj=restrict, systemd_cgroup=systemd, snapshotter=snapshotter)
    doc = tomllib.loads(config.render())
    base = short_dir.absolute() / "agent" / "containerd"
    assert doc["version"] == 2
    assert (doc["root"], doc["state"]) == (str(base / "root"), str(base / "state"))
    assert doc["grpc"]["address"] == str(base / "containerd.sock")
    cri = doc["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == PAUSE_IMAGE
    assert cri["restrict_oom_score_adj"] is restrict
    assert cri["containerd"]["snapshotter"] == snapshotter
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is systemd
    assert runc["options"]["Root"] == str(base / "state" / "runc")  # not the host's /run/containerd/runc
    assert cri["cni"] == {"bin_dir": "/opt/kubelite/cni/bin", "conf_dir": "/etc/kl/cni", "max_conf_num": 1}
    assert cri["registry"]["config_path"] == str(base / "certs.d")
    assert cri["stream_server_port"] == "0"
    assert doc["plugins"]["io.containerd.internal.v1.opt"]["path"] == str(base / "root" / "opt")
    assert config.address == f"unix://{base / 'containerd.sock'}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"snapshotter": "zfs"}, "snapshotter 'zfs' is not supported; allowed: overlayfs, native",
                     id="snapshotter"),
        pytest.param({"log_level": "verbose"}, "log_level 'verbose' is not valid; allowed: trace", id="log-level"),
        pytest.param({"sandbox_image": ""}, "sandbox_image must name the pause image", id="no-sandbox-image"),
        pytest.param({"cni_bin_dir": Path("cni/bin")}, "cni_bin_dir cni/bin must be an absolute path", id="cni-rel"),
        pytest.param({"stream_server_port": 70000}, "stream_server_port 70000 is not in 0..65535", id="port"),
    ],
)
def test_invalid_config_is_refused(short_dir: Path, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ContainerdError, match=message):
        make_config(short_dir, **overrides)


def test_too_deep_data_dir_is_refused() -> None:
    deep = Path("/var/lib/" + "d" * 80)
    with pytest.raises(ContainerdError, match=r"is too deep: .*containerd.sock.ttrpc would be 1\d\d bytes"):
        make_config(deep)


def test_write_creates_dirs_and_a_private_config(short_dir: Path) -> None:
    config = make_config(short_dir)
    written = config.write()
    paths = ContainerdPaths.for_data_dir(short_dir)
    assert written == paths.config
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.base.stat().st_mode) == 0o700
    assert paths.root.is_dir() and paths.state.is_dir() and paths.registry_config_dir.is_dir()
    assert tomllib.loads(written.read_text()) == tomllib.loads(config.render())
    assert [p.name for p in paths.base.iterdir() if p.name.startswith(".config-")] == []


def test_render_toml_quotes_dotted_keys() -> None:
    text = render_toml({"a": 1, "plugins": {"io.containerd.x": {"k": "v", "sub": {"b": True}}}})
    assert '[plugins."io.containerd.x"]' in text
    assert '[plugins."io.containerd.x".sub]' in text
    assert tomllib.loads(text) == {"a": 1, "plugins": {"io.containerd.x": {"k": "v", "sub": {"b": True}}}}


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.one_of(
    st.text(max_size=30), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.lists(st.text(max_size=10), max_size=3)), max_size=5))
def test_render_toml_round_trips(table: dict[str, object]) -> None:
    assert tomllib.loads(render_toml({"t": table})) == {"t": table}


@pytest.mark.parametrize(
    ("previous", "uptime", "expected"),
    [
        pytest.param(0.0, 0.5, 1.0, id="first-crash"),
        pytest.param(1.0, 0.5, 2.0, id="quick-second-crash-doubles"),
        pytest.param(16.0, 3.0, 30.0, id="capped"),
        pytest.param(30.0, 3.0, 30.0, id="stays-capped"),
        pytest.param(16.0, 120.0, 1.0, id="stable-run-resets"),
    ],
)
def test_restart_backoff(previous: float, uptime: float, expected: float) -> None:
    assert RestartBackoff().next_delay(previous=previous, uptime=uptime) == expected


# ---- supervision with a stand-in binary ---------------------------------------------------------------


@dataclass
class Fake:
    binary: str
    pids: Path
    env: dict[str, str]

    def started(self) -> list[int]:
        return [int(line) for line in self.pids.read_text().split()] if self.pids.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def fake(short_dir: Path) -> Iterator[Fake]:
    wrapper = short_dir / "bin" / "fake-containerd"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    pids = short_dir / "pids"
    env = {**os.environ, "FAKE_CONTAINERD_PIDS": str(pids)}
    env.pop("FAKE_CONTAINERD_IGNORE_TERM", None)
    result = Fake(str(wrapper), pids, env)
    try:
        yield result
    finally:
        # Every stand-in this test started is gone afterwards, even when the test failed.
        for pid in result.started():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_start_serves_and_stop_ends_the_process(short_dir: Path, fake: Fake) -> None:
    supervisor = ContainerdSupervisor(config=make_config(short_dir), binary=fake.binary, env=fake.env)
    await supervisor.start()
    try:
        pid = supervisor.pid
        assert pid is not None and fake.started() == [pid]
        async with RuntimeClient(supervisor.address) as client:
            assert (await client.version()).runtime_version == str(pid)
        log = supervisor.config.paths.log.read_text()
        assert f"--- kubelite: starting {fake.binary} --config {supervisor.config.paths.config}" in log
    finally:
        await supervisor.stop()
    assert supervisor.pid is None
    assert not _alive(pid)
    await supervisor.stop()  # idempotent


async def test_crashed_containerd_is_restarted(short_dir: Path, fake: Fake) -> None:
    fake.env["FAKE_CONTAINERD_CRASH_ONCE"] = str(short_dir / "crashed")
    supervisor = ContainerdSupervisor(config=make_config(short_dir), binary=fake.binary, env=fake.env,
                                      backoff=RestartBackoff(initial=0.1))
    async with supervisor:
        first = supervisor.pid
        deadline = time.monotonic() + 20
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert supervisor.restarts == 1
        assert supervisor.last_exit_code == 2
        second = supervisor.pid
        assert second is not None and second != first
        async with RuntimeClient(supervisor.address) as client:
            assert (await client.version()).runtime_version == str(second)
    assert fake.started() == [first, second]
    assert not _alive(second)


async def test_stop_escalates_to_sigkill(short_dir: Path, fake: Fake) -> None:
    fake.env["FAKE_CONTAINERD_IGNORE_TERM"] = "1"
    supervisor = ContainerdSupervisor(config=make_config(short_dir), binary=fake.binary, env=fake.env,
                                      stop_timeout=0.5)
    await supervisor.start()
    pid = supervisor.pid
    assert pid is not None
    started = time.monotonic()
    await supervisor.stop()
    assert 0.5 <= time.monotonic() - started < 5
    assert supervisor.last_exit_code == -signal.SIGKILL
    assert not _alive(pid)


async def test_failed_start_reports_the_log(short_dir: Path, fake: Fake) -> None:
    fake.env["FAKE_CONTAINERD_FAIL_AT_START"] = "1"
    supervisor = ContainerdSupervisor(config=make_config(short_dir), binary=fake.binary, env=fake.env)
    with pytest.raises(ContainerdError, match=r"(?s)exited with code 1 while starting.*invalid plugin key"):
        await supervisor.start()
    assert supervisor.pid is None


async def test_start_refuses_a_socket_someone_else_serves(short_dir: Path, fake: Fake) -> None:
    config = make_config(short_dir)
    config.paths.base.mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(config.paths.socket))
        other.listen()
        supervisor = ContainerdSupervisor(config=config, binary=fake.binary, env=fake.env)
        with pytest.raises(ContainerdError, match=r"another process already serves .*leaves it alone"):
            await supervisor.start()
        assert fake.started() == []
        assert config.paths.socket.is_socket()  # the other server's socket is untouched


async def test_missing_binary_is_a_clear_error(short_dir: Path) -> None:
    supervisor = ContainerdSupervisor(config=make_config(short_dir), binary="kubelite-no-such-containerd")
    with pytest.raises(ContainerdError, match="'kubelite-no-such-containerd' is not in PATH; install containerd"):
        await supervisor.start()


AGENT = """
import asyncio, sys
from pathlib import Path
from kubelite.cri.containerd import ContainerdConfig, ContainerdSupervisor

async def main() -> None:
    config = ContainerdConfig(data_dir=Path(sys.argv[1]), cni_bin_dir=Path("/opt/cni"), cni_conf_dir=Path("/etc/cni"),
                              restrict_oom_score_adj=True, systemd_cgroup=False, snapshotter="overlayfs")
    supervisor = ContainerdSupervisor(config=config, binary=sys.argv[2])
    await supervisor.start()
    print(supervisor.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_containerd_does_not_outlive_a_crashed_agent(short_dir: Path, fake: Fake) -> None:
    agent = subprocess.Popen([sys.executable, "-c", AGENT, str(short_dir), fake.binary], env=fake.env,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert agent.stdout is not None
        pid = int(agent.stdout.readline())
        assert fake.started() == [pid] and _alive(pid)
        agent.kill()  # the agent dies without stopping anything
        agent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
