"""containerd for one kubelite node: its configuration and a supervisor that keeps it running.

Design
------
Everything the node's containerd writes lives under ``<data-dir>/agent/containerd`` (`ContainerdPaths`):
root, state, the runc state, the CRI plugin's network namespaces, the registry config dir, the log and
the socket ``containerd.sock``. So several kubelite nodes run side by side on one host, and none of
them touches a system containerd (``/run/containerd``, ``/var/lib/containerd``). The one exception
is containerd 1.6's shim sockets, which it always puts in ``/run/containerd/s/<sha256>``; their
names hash our socket path, so they never collide with another containerd's.

`ContainerdConfig` renders containerd's config (version 2) from what the caller decides (data dir,
CNI dirs, sandbox image) and what `ContainerdConfig.detect` finds on the host:

* ``restrict_oom_score_adj`` when this process lacks CAP_SYS_RESOURCE: otherwise runc fails every
  container with "can't get final child's PID from pipe: EOF" (found on these machines);
* the runc ``SystemdCgroup`` option only when PID 1 is systemd (cgroupfs otherwise, as here);
* the ``overlayfs`` snapshotter when an overlay mount really works in the snapshot directory,
  ``native`` (plain copies: slower, always works) when it does not, e.g. on an overlay root.

`ContainerdSupervisor` runs that containerd as an asyncio child: starts it with the config, logs to
``containerd.log``, waits until the CRI answers, restarts it with exponential back-off when it dies,
and stops it by its own PID (SIGTERM, then SIGKILL after a grace period). containerd gets a
parent-death signal, so it does not outlive a crashed agent. The supervisor refuses to start when
the socket is already served, and never signals any process but the one it started. Containers
survive a containerd restart (their shims are separate processes), as upstream intends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

from kubelite.cri.client import CriError, RuntimeClient
from kubelite.cri.images import PAUSE_IMAGE

__all__ = [
    "CAP_SYS_RESOURCE",
    "ContainerdConfig",
    "ContainerdError",
    "ContainerdPaths",
    "ContainerdSupervisor",
    "RestartBackoff",
    "has_capability",
    "overlayfs_supported",
    "pid1_is_systemd",
    "render_toml",
]

log = logging.getLogger(__name__)

CAP_SYS_RESOURCE: Final = 24  # linux/capability.h
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
UNIX_PATH_MAX: Final = 107
LOG_LEVELS: Final = ("trace", "debug", "info", "warn", "error", "fatal", "panic")
Snapshotter = Literal["overlayfs", "native"]
SNAPSHOTTERS: Final = ("overlayfs", "native")
# Snapshotters we never use; disabling them spares containerd probing for btrfs/zfs/aufs/devmapper
# and the warnings it logs when they are missing.
_DISABLED_PLUGINS: Final = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
)
_CRI: Final = "io.containerd.grpc.v1.cri"


class ContainerdError(Exception):
    """containerd could not be configured, started or stopped; the message says why."""


# ---- host facts ---------------------------------------------------------------------------------------


def has_capability(cap: int, *, status_text: str | None = None) -> bool:
    """Whether this process has capability number ``cap`` in its effective set (/proc/self/status)."""
    text = status_text if status_text is not None else Path("/proc/self/status").read_text()
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> cap & 1)
    raise ContainerdError("cannot read the capabilities of this process: /proc/self/status has no CapEff line")


def pid1_is_systemd(*, proc: Path = Path("/proc"), run_systemd: Path = Path("/run/systemd/system")) -> bool:
    """Whether PID 1 is systemd: sd_booted()'s check (/run/systemd/system) and PID 1's name agree."""
    try:
        comm = (proc / "1" / "comm").read_text().strip()
    except OSError:
        return False
    return run_systemd.is_dir() and comm == "systemd"


@dataclass(frozen=True)
class OverlayProbe:
    """The verdict of `overlayfs_supported`, with the reason in words."""

    supported: bool
    reason: str


def overlayfs_supported(directory: Path, *, filesystems: Path = Path("/proc/filesystems")) -> OverlayProbe:
    """Try a real overlay mount inside ``directory`` (where snapshots will live), then undo it.

    The kernel listing "overlay" is not enough: overlay cannot use an upper dir on another overlay
    or on some network filesystems, and that only shows when mounting.
    """
    try:
        if "overlay" not in filesystems.read_text().split():
            return OverlayProbe(False, f"the kernel has no overlay filesystem ({filesystems} does not list it)")
    except OSError as err:
        return OverlayProbe(False, f"cannot read {filesystems}: {err.strerror}")
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    directory.mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(prefix=".overlay-probe-", dir=directory))
    try:
        for sub in ("lower", "upper", "work", "merged"):
            (probe / sub).mkdir()
        options = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
        merged = str(probe / "merged").encode()
        if libc.mount(b"overlay", merged, b"overlay", 0, options.encode()) != 0:
            code = ctypes.get_errno()
            return OverlayProbe(False, f"mounting overlay in {directory} failed: {os.strerror(code)} "
                                       f"({errno.errorcode.get(code, code)})")
        libc.umount2(merged, 2)  # MNT_DETACH
        return OverlayProbe(True, f"overlay mounts work in {directory}")
    finally:
        shutil.rmtree(probe, ignore_errors=True)


# ---- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerdPaths:
    """Where a node's containerd keeps everything: under ``<data-dir>/agent/containerd``."""

    base: Path

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ContainerdPaths:
        return cls(Path(data_dir).absolute() / "agent" / "containerd")

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def log(self) -> Path:
        return self.base / "containerd.log"

    @property
    def registry_config_dir(self) -> Path:
        """containerd's hosts.toml tree (``<registry>/hosts.toml``) for mirrors and auth."""
        return self.base / "certs.d"

    @property
    def runc_root(self) -> Path:
        return self.state / "runc"

    @property
    def opt(self) -> Path:
        return self.root / "opt"


@dataclass(frozen=True, kw_only=True)
class ContainerdConfig:
    """A node's containerd configuration; `render` gives the TOML, `write` puts it in place."""

    data_dir: Path
    cni_bin_dir: Path
    cni_conf_dir: Path
    restrict_oom_score_adj: bool
    systemd_cgroup: bool
    snapshotter: Snapshotter
    sandbox_image: str = PAUSE_IMAGE
    log_level: str = "info"
    stream_server_address: str = "127.0.0.1"
    stream_server_port: int = 0  # 0: a free port each start, so side-by-side nodes never clash
    paths: ContainerdPaths = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", ContainerdPaths.for_data_dir(self.data_dir))
        if self.snapshotter not in SNAPSHOTTERS:
            raise ContainerdError(f"containerd config: snapshotter {self.snapshotter!r} is not supported; "
                                  f"allowed: {', '.join(SNAPSHOTTERS)}")
        if self.log_level not in LOG_LEVELS:
            raise ContainerdError(f"containerd config: log_level {self.log_level!r} is not valid; "
                                  f"allowed: {', '.join(LOG_LEVELS)}")
        if not self.sandbox_image:
            raise ContainerdError("containerd config: sandbox_image must name the pause image")
        if not 0 <= self.stream_server_port <= 65535:
            raise ContainerdError(f"containerd config: stream_server_port {self.stream_server_port} is not "
                                  "in 0..65535")
        for name in ("cni_bin_dir", "cni_conf_dir"):
            if not Path(getattr(self, name)).is_absolute():
                raise ContainerdError(f"containerd config: {name} {getattr(self, name)} must be an absolute path")
        # containerd also listens on <socket>.ttrpc; both must fit in a unix socket address.
        longest = f"{self.paths.socket}.ttrpc"
        if len(os.fsencode(longest)) > UNIX_PATH_MAX:
            raise ContainerdError(f"data dir {self.data_dir} is too deep: containerd's socket {longest} would be "
                                  f"{len(os.fsencode(longest))} bytes, the limit for a unix socket path is "
                                  f"{UNIX_PATH_MAX}; use a shorter --data-dir")

    @classmethod
    def detect(cls, *, data_dir: Path, cni_bin_dir: Path, cni_conf_dir: Path, sandbox_image: str = PAUSE_IMAGE,
               log_level: str = "info") -> ContainerdConfig:
        """A config for this host: probes capabilities, the init system and overlay support."""
        paths = ContainerdPaths.for_data_dir(data_dir)
        probe = overlayfs_supported(paths.root)
        if not probe.supported:
            log.warning("containerd will use the native snapshotter (slower): %s", probe.reason)
        return cls(data_dir=data_dir, cni_bin_dir=cni_bin_dir, cni_conf_dir=cni_conf_dir, sandbox_image=sandbox_image,
                   log_level=log_level, restrict_oom_score_adj=not has_capability(CAP_SYS_RESOURCE),
                   systemd_cgroup=pid1_is_systemd(), snapshotter="overlayfs" if probe.supported else "native")

    @property
    def address(self) -> str:
        """The CRI endpoint, as `RuntimeClient` takes it."""
        return f"unix://{self.paths.socket}"

    def document(self) -> dict[str, object]:
        """The configuration as nested tables (what `render` writes as TOML)."""
        p = self.paths
        return {
            "version": 2,
            "root": str(p.root),
            "state": str(p.state),
            "disabled_plugins": list(_DISABLED_PLUGINS),
            "grpc": {"address": str(p.socket), "max_recv_message_size": 16777216,
                     "max_send_message_size": 16777216},
            # Debug and metrics endpoints stay off: they would be one more fixed address to clash on.
            "debug": {"address": "", "level": self.log_level},
            "metrics": {"address": ""},
            "plugins": {
                "io.containerd.internal.v1.opt": {"path": str(p.opt)},
                _CRI: {
                    "sandbox_image": self.sandbox_image,
                    "restrict_oom_score_adj": self.restrict_oom_score_adj,
                    "stream_server_address": self.stream_server_address,
                    "stream_server_port": str(self.stream_server_port),
                    "enable_selinux": False,
                    # Pod network namespaces under our state dir, not the host-wide /var/run/netns.
                    "netns_mounts_under_state_dir": True,
                    "containerd": {
                        "snapshotter": self.snapshotter,
                        "default_runtime_name": "runc",
                        "runtimes": {"runc": {
                            "runtime_type": "io.containerd.runc.v2",
                            "options": {"SystemdCgroup": self.systemd_cgroup, "Root": str(p.runc_root)},
                        }},
                    },
                    "cni": {"bin_dir": str(self.cni_bin_dir), "conf_dir": str(self.cni_conf_dir),
                            "max_conf_num": 1},
                    "registry": {"config_path": str(p.registry_config_dir)},
                },
            },
        }

    def render(self) -> str:
        """containerd's config.toml text."""
        header = "# Written by kubelite (kubelite.cri.containerd); changes are overwritten at agent start.\n"
        return header + render_toml(self.document())

    def write(self) -> Path:
        """Create the directories and write config.toml atomically (mode 0600); return its path."""
        p = self.paths
        for directory in (p.base, p.root, p.state, p.registry_config_dir):
            directory.mkdir(parents=True, exist_ok=True)
        os.chmod(p.base, 0o700)
        fd, partial = tempfile.mkstemp(prefix=".config-", dir=p.base)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.render())
            os.chmod(partial, 0o600)
            os.replace(partial, p.config)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        return p.config


def _toml_key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return _toml_string(key)


_TOML_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
                        "\r": "\\r"}


def _toml_string(value: str) -> str:
    # A TOML basic string: control characters (U+0000-U+001F and U+007F) must be escaped.
    out = []
    for char in value:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item, where) for item in value) + "]"
    raise ContainerdError(f"cannot write {where} as TOML: unsupported value type {type(value).__name__}")


def render_toml(document: Mapping[str, object]) -> str:
    """Serialise nested mappings of str/int/bool/list values as TOML (tables as [a."b.c".d] headers)."""
    lines: list[str] = []

    def table(path: list[str], body: Mapping[str, object]) -> None:
        scalars = [(k, v) for k, v in body.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in body.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            lines.append("")
            lines.append("[" + ".".join(_toml_key(k) for k in path) + "]")
        for key, value in scalars:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, '.'.join([*path, key]))}")
        for key, value in tables:
            assert isinstance(value, Mapping)
            table([*path, key], value)

    table([], document)
    return "\n".join(lines).lstrip("\n") + "\n"


# ---- supervision --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RestartBackoff:
    """Delay before restarting a dead containerd: doubles per quick crash, resets after a stable run."""

    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0

    def next_delay(self, *, previous: float, uptime: float) -> float:
        """The delay after a process that ran ``uptime`` seconds; ``previous`` is the last delay (0: none)."""
        if previous <= 0 or uptime >= self.stable_after:
            return self.initial
        return min(previous * 2, self.maximum)


def _socket_served(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - 16384, 0))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class ContainerdSupervisor:
    """Runs one containerd for a `ContainerdConfig`: start, wait for the CRI, restart on crash, stop.

    ``async with ContainerdSupervisor(config=cfg) as sup:`` starts it and stops it on exit.
    """

    def __init__(self, *, config: ContainerdConfig, binary: str = "containerd", ready_timeout: float = 30.0,
                 stop_timeout: float = 10.0, backoff: RestartBackoff | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.backoff = backoff or RestartBackoff()
        self._env = dict(env) if env is not None else None
        self._process: asyncio.subprocess.Process | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False
        self._started_at = 0.0
        self.restarts = 0
        self.last_exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        """PID of the running containerd, None when none runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def address(self) -> str:
        return self.config.address

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> None:
        """Write the config, start containerd and wait until its CRI answers, then watch over it.

        Raises `ContainerdError` (with the end of containerd's log when it died) if that fails; the
        process it started is stopped again before raising.
        """
        if self._process is not None or self._monitor is not None:
            raise ContainerdError(f"containerd for {self.config.paths.base} is already started (pid {self.pid})")
        if shutil.which(self.binary) is None:
            raise ContainerdError(f"the containerd binary {self.binary!r} is not in PATH; install containerd "
                                  "(Debian: apt-get install containerd runc)")
        socket_path = self.config.paths.socket
        if _socket_served(socket_path):
            raise ContainerdError(f"another process already serves {socket_path}; kubelite leaves it alone. "
                                  "Stop that containerd, or give this node another --data-dir")
        self.config.write()
        self._stopping = False
        await self._launch()
        self._monitor = asyncio.create_task(self._watch(), name=f"containerd-supervisor:{socket_path}")

    async def stop(self) -> None:
        """Stop containerd: SIGTERM to its PID, SIGKILL after ``stop_timeout``. Idempotent."""
        self._stopping = True
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.cancel()
            # asyncio.wait, not `await monitor`: the monitor's CancelledError must not be mistaken
            # for (and must not swallow) a cancellation of stop() itself.
            await asyncio.wait({monitor})
        await self._terminate()

    async def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        # Only ever our own child, by its PID: other containerd processes on the host are not ours.
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), self.stop_timeout)
        except TimeoutError:
            log.warning("containerd (pid %d) ignored SIGTERM for %.0fs; sending SIGKILL", process.pid,
                        self.stop_timeout)
            process.kill()
            await process.wait()
        self.last_exit_code = process.returncode

    def _child_env(self) -> dict[str, str]:
        env = dict(self._env if self._env is not None else os.environ)
        # containerd finds runc and containerd-shim-runc-v2 through PATH; sbin is often missing for services.
        parts = env.get("PATH", "").split(os.pathsep)
        for extra in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
            if extra not in parts:
                parts.append(extra)
        env["PATH"] = os.pathsep.join(p for p in parts if p)
        return env

    async def _launch(self) -> None:
        paths = self.config.paths
        command = [self.binary, "--config", str(paths.config)]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            # As dockerd does for its containerd: it dies with us (SIGKILL when its parent goes), so a
            # crashed agent leaves no containerd behind holding the socket; containers live on in
            # their shims and the next agent's containerd picks them up. setpriv (util-linux) sets
            # the parent-death signal and execs containerd, since a preexec_fn is unsafe with threads.
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        else:
            log.warning("setpriv (util-linux) not found: containerd will outlive a crashed agent")
        with open(paths.log, "ab") as log_file:
            log_file.write(f"--- kubelite: starting {self.binary} --config {paths.config} at "
                           f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} ---\n".encode())
            log_file.flush()
            self._process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                env=self._child_env(),
                # Its own session: a Ctrl-C meant for the agent must not kill containerd mid-operation.
                start_new_session=True)
        self._started_at = time.monotonic()
        log.info("containerd started (pid %d), socket %s", self._process.pid, paths.socket)
        try:
            await self._wait_ready(self._process)
        except BaseException:
            await self._terminate()
            raise

    async def _wait_ready(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer yet"
        async with RuntimeClient(self.config.address, timeout=2.0) as client:
            while True:
                if process.returncode is not None:
                    raise ContainerdError(
                        f"containerd exited with code {process.returncode} while starting; the end of "
                        f"{self.config.paths.log}:\n{_log_tail(self.config.paths.log)}")
                if self.config.paths.socket.exists():
                    try:
                        await client.version(rpc_timeout=min(2.0, max(deadline - time.monotonic(), 0.1)))
                        return
                    except CriError as err:
                        last = str(err)
                if time.monotonic() >= deadline:
                    raise ContainerdError(
                        f"containerd (pid {process.pid}) did not answer on {self.config.paths.socket} within "
                        f"{self.ready_timeout:g}s ({last}); the end of {self.config.paths.log}:\n"
                        f"{_log_tail(self.config.paths.log)}")
                await asyncio.sleep(0.05)

    async def _watch(self) -> None:
        delay = 0.0
        while not self._stopping:
            process = self._process
            if process is None:
                return
            code = await process.wait()
            if self._stopping:
                return
            self.last_exit_code = code
            uptime = time.monotonic() - self._started_at
            delay = self.backoff.next_delay(previous=delay, uptime=uptime)
            log.error("containerd (pid %d) exited with code %d after %.1fs; restarting in %.1fs",
                      process.pid, code, uptime, delay)
            while not self._stopping:
                await asyncio.sleep(delay)
                if self._stopping:
                    return
                try:
                    await self._launch()
                except ContainerdError as err:
                    delay = self.backoff.next_delay(previous=delay, uptime=0.0)
                    log.error("restarting containerd failed (next try in %.1fs): %s", delay, err)
                    continue
                self.restarts += 1
                break
