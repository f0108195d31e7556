"""The static pause binary: PID 1 of its own PID namespace, reaps orphans, ends on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kubelite.native import PAUSE_BINARY

pytestmark = [pytest.mark.root, pytest.mark.integration]


def start_pause_in_pid_namespace() -> tuple[subprocess.Popen[bytes], int]:
    """Start pause as PID 1 of a new PID namespace; return (the unshare process, pause's host PID)."""
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", str(PAUSE_BINARY)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists() and children.read_text().split():
            return proc, int(children.read_text().split()[0])
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("pause did not start")


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_pause_is_static_and_reports_version() -> None:
    assert PAUSE_BINARY.exists()
    out = subprocess.run([str(PAUSE_BINARY), "-v"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "kubelite-pause 1.0"
    ldd = subprocess.run(["ldd", str(PAUSE_BINARY)], capture_output=True, text=True, check=False)
    assert "not a dynamic executable" in (ldd.stdout + ldd.stderr)


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_pause_exits_zero_on_signal(signo: signal.Signals) -> None:
    proc = subprocess.Popen([str(PAUSE_BINARY)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.2)
        assert proc.poll() is None, "pause must keep running until signalled"
        proc.send_signal(signo)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pause_reaps_orphans_in_its_pid_namespace() -> None:
    unshare, pause_pid = start_pause_in_pid_namespace()
    try:
        # a short-lived process is orphaned inside the namespace: its parent (sh) exits at once, so it is
        # re-parented to PID 1 (pause); when it exits, pause must reap it rather than leave a zombie
        subprocess.run(["nsenter", "-t", str(pause_pid), "-p", "--", "sh", "-c", "sleep 0.3 &"], check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not children_of(pause_pid):
            time.sleep(0.01)
        orphans = children_of(pause_pid)
        assert orphans, "the orphan was re-parented to pause"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and children_of(pause_pid):
            time.sleep(0.05)
        left = {p: proc_state(p) for p in children_of(pause_pid)}
        assert left == {}, f"the exited orphan was reaped, no zombie left (left: {left})"
    finally:
        os.kill(pause_pid, signal.SIGTERM)
        unshare.wait(timeout=5)
