"""Start and stop real `kubelite server` processes for e2e tests (imported by conftest and tests)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml


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


@contextlib.contextmanager
def temporary_server(prefix: str, *extra: str) -> Iterator[Server]:
    """A server in a private temporary data directory; stopped and removed afterwards, even on failure."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        server = start_server(data_dir, *extra)
        try:
            yield server
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def admin_ssl_context(server: Server) -> ssl.SSLContext:
    """An SSL context that authenticates as the kubeconfig's admin user (files under the data dir)."""
    cfg = yaml.safe_load(server.kubeconfig.read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    creds = server.data_dir / "raw-client"
    creds.mkdir(exist_ok=True)
    (creds / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (creds / "c.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
    (creds / "c.key").write_bytes(base64.b64decode(user["client-key-data"]))
    context = ssl.create_default_context(cafile=str(creds / "ca.crt"))
    context.load_cert_chain(str(creds / "c.crt"), str(creds / "c.key"))
    return context


def raw_request(server: Server, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, dict[str, object]]:
    """One HTTPS request as the admin; returns (status, decoded JSON body)."""
    request = urllib.request.Request(f"https://127.0.0.1:{server.port}{path}", data=body, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, context=admin_ssl_context(server), timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def start_etcd(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A single-member etcd on free loopback ports; returns (process, "127.0.0.1:port")."""
    client_port, peer_port = free_port(), free_port()
    url = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    proc = subprocess.Popen(
        ["etcd", "--data-dir", str(workdir / "etcd"), "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"default={peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", client_port)) == 0:
                return proc, f"127.0.0.1:{client_port}"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError("etcd did not start")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
