"""The agent ``kubelite server`` runs beside its control plane (unless ``--disable-agent``).

Design: the agent is a separate ``kubelite agent`` process, not tasks in the server's event loop,
so a second core is used and a crash of one does not take the other down (k3s runs its agent
in-process; we keep them apart as the processes table of DESIGN.md allows). `EmbeddedAgent` is a
small supervisor on a thread: it waits until the server has written the node's kubeconfig, starts
``kubelite agent --server https://127.0.0.1:<port> --kubeconfig <data-dir>/agent/kubelet.kubeconfig``
(identity ``system:node:<name>``, so the Node authorizer and NodeRestriction apply to it as to any agent)
with the server's node flags, restarts it with back-off when it exits, and on `stop` sends SIGTERM to
that PID (SIGKILL after a grace period). The child asks for a parent-death signal (``PARENT_ENV``), so it
does not outlive a server that crashed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

STOP_TIMEOUT: Final = 20.0
PARENT_ENV: Final = "KUBELITE_AGENT_PARENT_PID"
"""Set for the child: the agent asks the kernel for SIGTERM when this parent dies (agent/main.py)."""


def agent_command(*, data_dir: Path, server: str, kubeconfig: Path, node_name: str = "", node_ip: str = "",
                  extra: Sequence[str] = ()) -> list[str]:
    # -P: the working directory does not go first on sys.path, so a server started from a source
    # checkout runs the installed kubelite in its agent too, not the checkout's `kubelite/` folder
    command = [sys.executable, "-P", "-m", "kubelite", "agent", "--data-dir", str(data_dir), "--server", server,
               "--kubeconfig", str(kubeconfig)]
    if node_name:
        command += ["--node-name", node_name]
    if node_ip:
        command += ["--node-ip", node_ip]
    return [*command, *extra]


class EmbeddedAgent:
    def __init__(self, *, command: list[str], kubeconfig: Path, log_path: Path, backoff_initial: float = 1.0,
                 backoff_max: float = 30.0) -> None:
        self.command = command
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="embedded-agent", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _launch(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            return subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=dict(os.environ, **{PARENT_ENV: str(os.getpid())}))

    def _supervise(self) -> None:
        while not self._stop.is_set() and not self.kubeconfig.exists():
            self._stop.wait(0.1)
        delay = self.backoff_initial
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self.process = self._launch()
            started = time.monotonic()
            log.info("embedded agent started (pid %d), logging to %s", self.process.pid, self.log_path)
            code = self.process.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - started > 60:
                delay = self.backoff_initial
            log.warning("embedded agent exited with code %s; restarting in %.1fs", code, delay)
            self.restarts += 1
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff_max)

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=5)
