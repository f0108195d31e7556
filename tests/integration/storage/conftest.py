"""Fixtures for the storage suite: a real etcd on random loopback ports, and both backends behind one
``backend`` fixture so the contract tests run unchanged against each.

The async tests and fixtures here share one event loop per session (``LOOP``), as a server does in
production: grpc.aio delivers a cancelled stream's last completion a moment later to the loop that
started it, and with a fresh loop per test that loop may already be closed (asyncio then logs
"Event loop is closed" from grpc's poller, harmless but noisy)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from kubelite.controlplane.storage import EtcdEndpoint, EtcdStore, SqliteStore, Store
from kubelite.controlplane.storage.compaction import CompactionPolicy

ETCD = shutil.which("etcd")
LOOP = "session"


def free_port() -> int:
    """A random loopback port nothing listens on (checked by binding it)."""
    for _ in range(100):
        port = random.randint(20000, 60999)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port found")


@pytest.fixture
def free_loopback_port() -> int:
    return free_port()


@dataclass
class EtcdProcess:
    """One etcd member we started; ``stop`` kills exactly this PID."""

    data_dir: Path
    client_port: int = 0
    peer_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started_once: bool = False
    extra_args: tuple[str, ...] = ()
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.data_dir.with_suffix(".log")

    @property
    def endpoint(self) -> EtcdEndpoint:
        return EtcdEndpoint("127.0.0.1", self.client_port)

    def start(self, *, timeout: float = 20.0) -> None:
        assert ETCD is not None
        for _attempt in range(3):
            if not self.client_port:  # a restarted member keeps its ports (clients reconnect to them)
                self.client_port, self.peer_port = free_port(), free_port()
            client = f"http://127.0.0.1:{self.client_port}"
            peer = f"http://127.0.0.1:{self.peer_port}"
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [ETCD, "--name", "kltest", "--data-dir", str(self.data_dir),
                     "--listen-client-urls", client, "--advertise-client-urls", client,
                     "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                     "--initial-cluster", f"kltest={peer}", "--log-level", "warn",
                     "--logger", "zap", *self.extra_args],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            if self._wait_healthy(timeout):
                self.started_once = True
                return
            self.stop()
            if not self.started_once:  # perhaps a port race: a fresh member on new ports
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.client_port = 0
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"etcd did not become healthy; its log ends with:\n{tail}")

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.client_port}/health", timeout=1) as r:
                    if b'"health":"true"' in r.read():
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdProcess]:
    if ETCD is None:
        pytest.skip("etcd is not installed (deploy/install.sh --deps-only installs it)")
    member = EtcdProcess(tmp_path_factory.mktemp("etcd") / "member")
    try:
        member.start()
        yield member
    finally:
        member.stop(signal.SIGKILL)


@pytest.fixture
def etcd_member(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A private etcd for tests that stop or restart it."""
    if ETCD is None:
        pytest.skip("etcd is not installed (deploy/install.sh --deps-only installs it)")
    member = EtcdProcess(tmp_path / "etcd-member")
    try:
        member.start()
        yield member
    finally:
        member.stop(signal.SIGKILL)


@pytest.fixture
def etcd_member_without_gateway(tmp_path: Path) -> Iterator[EtcdProcess]:
    """A private etcd started with --enable-grpc-gateway=false (gRPC only, no HTTP/JSON API)."""
    if ETCD is None:
        pytest.skip("etcd is not installed (deploy/install.sh --deps-only installs it)")
    member = EtcdProcess(tmp_path / "etcd-grpc-only", extra_args=("--enable-grpc-gateway=false",))
    try:
        member.start()
        yield member
    finally:
        member.stop(signal.SIGKILL)


@dataclass
class Backend:
    """Makes stores of one kind that all see the same data (same file / same etcd and root)."""

    name: str
    make: Callable[..., Store]
    opened: list[Store] = field(default_factory=list)

    async def open(self, **options: object) -> Store:
        store = self.make(**options)
        self.opened.append(store)
        await store.start()
        return store


@pytest_asyncio.fixture(params=["sqlite", "etcd"], loop_scope=LOOP)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "db" / "state.db"

        def make_sqlite(*, compaction: CompactionPolicy | None = None) -> Store:
            return SqliteStore(path, compaction=compaction)

        backend = Backend("sqlite", make_sqlite)
    else:
        etcd: EtcdProcess = request.getfixturevalue("etcd_server")
        # Each test gets its own key root, so tests sharing the session's etcd never see each other.
        root = f"/kltest-{uuid.uuid4().hex[:12]}"

        def make_etcd(*, compaction: CompactionPolicy | None = None) -> Store:
            return EtcdStore([etcd.endpoint], root=root, compaction=compaction)

        backend = Backend("etcd", make_etcd)
    try:
        yield backend
    finally:
        for store in backend.opened:
            await store.close()


@pytest_asyncio.fixture(loop_scope=LOOP)
async def store(backend: Backend) -> Store:
    return await backend.open()
