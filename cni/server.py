"""The resident CNI server: the plugin executables hand their calls to it over a unix socket.

Why: a CNI call is a new process each time, and starting Python with pyroute2 costs ~340 ms against
the reference Go plugin's ~19 ms (ENVIRONMENT.md). The executable containerd runs is a tiny C shim
(``shim.c``) that forwards its ``CNI_*`` environment and stdin here; this process keeps netlink and
nftables contexts open per worker thread and answers in a few milliseconds. When nothing listens
on the socket the shim runs the same code in-process (``python -m kubelite.cni``), only slower.

Wire format (one call per connection, the shim closes its write side after the request):

    request:  <plugin> NUL (<KEY=VALUE> NUL)* NUL <stdin bytes>
    response: <exit code in decimal> LF <stdout bytes>

Calls are served by a fixed pool of worker threads (each with its own netlink socket; network
namespaces are entered per thread, see ``netlink.in_netns``). Host-local IPAM serialises through its
flock, so concurrent ADDs from here and from fallback processes never collide.
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import sys
import threading
from pathlib import Path

from kubelite.cni import plugins

SOCKET_NAME = "cni.sock"
WORKERS = 4
MAX_REQUEST = 4 * 1024 * 1024
REQUEST_TIMEOUT = 30.0


def decode_request(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """(plugin, environment, stdin) of one request; raises ValueError on a malformed one."""
    end = data.find(b"\0\0")
    if end < 0:
        raise ValueError("request header is not terminated")
    fields = data[:end].split(b"\0")
    plugin = fields[0].decode()
    env = {}
    for field in fields[1:]:
        key, sep, value = field.decode().partition("=")
        if not sep:
            raise ValueError(f"environment entry {field!r} is not KEY=VALUE")
        env[key] = value
    return plugin, env, data[end + 2:]


def encode_request(plugin: str, env: dict[str, str], stdin: bytes) -> bytes:
    header = b"\0".join([plugin.encode(), *(f"{k}={v}".encode() for k, v in env.items())])
    return header + b"\0\0" + stdin


class CNIServer:
    """Serve CNI calls on ``socket_path`` from a pool of threads until :meth:`stop`."""

    def __init__(self, *, socket_path: Path, workers: int = WORKERS) -> None:
        self.socket_path = socket_path
        self.workers = workers
        self._listener: socket.socket | None = None
        self._queue: queue.Queue[socket.socket | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        # plugins.py imports the plugin modules lazily (for the fallback); the server pays that once, here
        from kubelite.cni import bridge, loopback, portmap  # noqa: F401

        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # a stale socket of a previous run
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        tmp = self.socket_path.with_name(f".{self.socket_path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        listener.bind(str(tmp))
        os.chmod(tmp, 0o600)
        listener.listen(128)
        os.replace(tmp, self.socket_path)  # appears only once it accepts
        self._listener = listener
        self._threads = [threading.Thread(target=self._accept, name="cni-accept", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"cni-worker-{i}", daemon=True)
                          for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        for _ in range(self.workers):
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._queue.put(conn)

    def _work(self) -> None:
        while (conn := self._queue.get()) is not None:
            with conn:
                try:
                    self._serve(conn)
                except Exception as exc:  # one bad call must not take the worker down
                    print(f"kubelite cni server: {exc!r}", file=sys.stderr)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(REQUEST_TIMEOUT)  # a shim that never finishes its request must not hold a worker
        chunks, size = [], 0
        while chunk := conn.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REQUEST:
                raise ValueError("request too large")
        plugin, env, stdin = decode_request(b"".join(chunks))
        code, out = plugins.run(plugin, env, stdin)
        conn.sendall(f"{code}\n".encode() + out)


def main(argv: list[str] | None = None) -> int:
    """``python -m kubelite.cni.server SOCKET``: a standalone server (tests run one per simulated node)."""
    import signal

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kubelite.cni.server SOCKET", file=sys.stderr)
        return 2
    server = CNIServer(socket_path=Path(args[0]))
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
