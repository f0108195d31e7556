"""Start and stop real `kubelite server` processes for e2e tests (imported by conftest and tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    data_dir: Path
    kubeconfig: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), HOME=str(self.data_dir))
        done = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}\n"
                                 f"server log tail:\n{self.log.read_text()[-3000:]}")
        return done


def start_server(data_dir: Path, *extra: str) -> Server:
    port = free_port()
    kubeconfig = data_dir / "kubeconfig.yaml"
    log = data_dir / "server.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubelite", "server", "--data-dir", str(data_dir), "--bind-address",
             "127.0.0.1", "--secure-port", str(port), "--write-kubeconfig", str(kubeconfig), "--disable-agent",
             *extra],
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kubelite server exited {process.returncode}:\n{log.read_text()[-3000:]}")
        if kubeconfig.exists():
            return Server(data_dir, kubeconfig, port, process, log)
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"kubelite server did not come up:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
