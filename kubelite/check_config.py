"""``kubelite check-config``: can this host run a kubelite node?

Each check probes the real thing where it can (a throw-away network namespace to create a veth, a
bridge, a VXLAN device and an nftables table in, the binaries' own ``--version``), and yields one
``CheckResult`` with a verdict and, when it is not a pass, a hint to fix it. Nothing on the host is
changed: every kernel probe runs inside ``unshare --net`` and vanishes with it.
"""

from __future__ import annotations

import enum
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class Verdict(enum.Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class CheckResult:
    name: str
    verdict: Verdict
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.verdict.value:<4}  {self.name:<16} {self.detail}"
        if self.fix and self.verdict is not Verdict.PASS:
            text += f"  (fix: {self.fix})"
        return text


Version = tuple[int, ...]


def parse_version(text: str) -> Version | None:
    """The first dotted version number in a tool's ``--version`` output, e.g. ``v1.6.20`` -> (1, 6, 20)."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def format_version(version: Version) -> str:
    return ".".join(str(p) for p in version)


@dataclass(frozen=True)
class Binary:
    name: str
    version_args: tuple[str, ...]
    minimum: Version
    required: bool
    package: str
    why: str


BINARIES = (
    Binary("containerd", ("--version",), (1, 6), True, "containerd", "container runtime (CRI)"),
    Binary("runc", ("--version",), (1, 1), True, "runc", "OCI runtime"),
    Binary("nft", ("--version",), (1, 0, 1), True, "nftables", "service proxy and network policy"),
    Binary("conntrack", ("--version",), (1, 4), False, "conntrack", "flushing UDP flows of gone endpoints"),
    Binary("etcd", ("--version",), (3, 4), False, "etcd-server", "only for --datastore-endpoint etcd://"),
    Binary("kubectl", ("version", "--client"), (1, 28), False, "kubectl", "`kubelite kubectl`"),
)


def check_binary(binary: Binary, *, which: Callable[[str], str | None] = shutil.which,
                 run: Callable[[list[str]], str] | None = None) -> CheckResult:
    runner = run or _run_output
    missing = Verdict.FAIL if binary.required else Verdict.WARN
    path = which(binary.name)
    if path is None:
        return CheckResult(binary.name, missing, f"not found ({binary.why})",
                           f"apt-get install {binary.package}")
    try:
        output = runner([path, *binary.version_args])
    except (OSError, subprocess.SubprocessError) as exc:
        return CheckResult(binary.name, missing, f"{path} does not run: {exc}",
                           f"reinstall {binary.package}")
    version = parse_version(output)
    if version is None:
        return CheckResult(binary.name, missing, f"{path}: unrecognised version output {output[:60]!r}",
                           f"reinstall {binary.package}")
    if version < binary.minimum:
        return CheckResult(binary.name, missing,
                           f"{format_version(version)} is older than {format_version(binary.minimum)}",
                           f"upgrade {binary.package}")
    return CheckResult(binary.name, Verdict.PASS, f"{format_version(version)} at {path}")


def _run_output(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=True)
    return done.stdout + done.stderr


def check_kernel(release: str | None = None) -> CheckResult:
    release = release or platform.release()
    version = parse_version(release)
    if version is None:
        return CheckResult("kernel", Verdict.WARN, f"cannot parse release {release!r}")
    if version < (5, 13):
        return CheckResult("kernel", Verdict.WARN,
                           f"{release}: the nftables service proxy wants 5.13 or newer",
                           "use --proxy-mode userspace or upgrade the kernel")
    return CheckResult("kernel", Verdict.PASS, release)


# cgroup controllers the kubelet needs for resource limits and stats
CGROUP_CONTROLLERS = ("cpu", "cpuset", "memory", "pids")


def cgroup_mode(mounts: str) -> str:
    """'v2' (unified only), 'v1', or 'hybrid', from /proc/self/mounts text."""
    has_v1 = any(line.split()[2] == "cgroup" for line in mounts.splitlines() if len(line.split()) > 2)
    has_v2 = any(line.split()[2] == "cgroup2" for line in mounts.splitlines() if len(line.split()) > 2)
    if has_v1 and has_v2:
        return "hybrid"
    if has_v2:
        return "v2"
    if has_v1:
        return "v1"
    return "none"


def enabled_v1_controllers(proc_cgroups: str) -> set[str]:
    """Controllers with enabled=1 in /proc/cgroups."""
    enabled = set()
    for line in proc_cgroups.splitlines():
        if line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "1":
            enabled.add(fields[0])
    return enabled


def check_cgroups(mounts: str | None = None, proc_cgroups: str | None = None,
                  v2_controllers: str | None = None) -> CheckResult:
    mounts = mounts if mounts is not None else _read("/proc/self/mounts")
    mode = cgroup_mode(mounts)
    if mode == "none":
        return CheckResult("cgroups", Verdict.FAIL, "no cgroup filesystem mounted",
                           "mount cgroup2 on /sys/fs/cgroup")
    if mode == "v2":
        text = v2_controllers if v2_controllers is not None else _read("/sys/fs/cgroup/cgroup.controllers")
        have = set(text.split())
    else:
        text = proc_cgroups if proc_cgroups is not None else _read("/proc/cgroups")
        have = enabled_v1_controllers(text)
    missing = [c for c in CGROUP_CONTROLLERS if c not in have]
    if missing:
        return CheckResult("cgroups", Verdict.FAIL, f"{mode}: controllers missing: {', '.join(missing)}",
                           "enable them on the kernel command line (cgroup_enable=...)")
    return CheckResult("cgroups", Verdict.PASS, f"{mode}: {', '.join(CGROUP_CONTROLLERS)} enabled")


def check_sysctl(name: str, path: str, want: str, fix: str, *, reader: Callable[[str], str] | None = None
                 ) -> CheckResult:
    read = reader or _read
    try:
        value = read(path).strip()
    except OSError:
        return CheckResult(name, Verdict.WARN, f"{path} does not exist", fix)
    if value != want:
        return CheckResult(name, Verdict.WARN, f"{path} = {value}", fix)
    return CheckResult(name, Verdict.PASS, f"{path} = {value}")


def _read(path: str) -> str:
    return Path(path).read_text()


def _in_throwaway_netns(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "--net", "--", *cmd], capture_output=True, text=True, timeout=30,
                          check=False)


def first_error_line(output: str) -> str:
    """The line of a tool's output that says what went wrong (nft: 'Error: ...'), else the last one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Error:", "error:")) or "Error: " in line:
            return line
    return lines[-1] if lines else ""


def _netns_probe(name: str, detail: str, cmd: list[str], fix: str) -> CheckResult:
    if os.geteuid() != 0:
        return CheckResult(name, Verdict.SKIP, "needs root", "run check-config as root")
    if shutil.which("unshare") is None:
        return CheckResult(name, Verdict.FAIL, "unshare not found", "apt-get install util-linux")
    try:
        done = _in_throwaway_netns(cmd)
    except (OSError, subprocess.SubprocessError) as exc:
        return CheckResult(name, Verdict.FAIL, str(exc), fix)
    if done.returncode != 0:
        return CheckResult(name, Verdict.FAIL, first_error_line(done.stderr or done.stdout)
                           or f"exit {done.returncode}", fix)
    return CheckResult(name, Verdict.PASS, detail)


NFT_PROBE = """
from kubelite.native.nftables import Nftables
Nftables().run('''
add table ip kubelite_check
add chain ip kubelite_check svc
add map ip kubelite_check service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
add chain ip kubelite_check pre { type nat hook prerouting priority dstnat ; }
add rule ip kubelite_check pre ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kubelite_check svc numgen inc mod 2 vmap { 0 : accept, 1 : accept }
''')
"""


def kernel_probes() -> Iterator[CheckResult]:
    ip = shutil.which("ip") or "ip"
    yield _netns_probe("netns", "network namespaces can be created", ["true"],
                       "enable CONFIG_NET_NS")
    yield _netns_probe("veth", "veth pairs can be created",
                       [ip, "link", "add", "klchk0", "type", "veth", "peer", "name", "klchk1"],
                       "enable CONFIG_VETH")
    yield _netns_probe("bridge", "Linux bridges can be created",
                       [ip, "link", "add", "klchkbr", "type", "bridge"], "enable CONFIG_BRIDGE")
    yield _netns_probe("vxlan", "VXLAN devices can be created (cross-node pod network)",
                       [ip, "link", "add", "klchkvx", "type", "vxlan", "id", "42", "dstport", "4789"],
                       "enable CONFIG_VXLAN, or use --pod-network-backend host-gw")
    yield _netns_probe("nftables", "libnftables applies kubelite's table shape (vmap, numgen)",
                       [sys.executable, "-I", "-c", NFT_PROBE],
                       "apt-get install nftables libnftables1; kernel needs CONFIG_NF_TABLES")


def check_port(port: int) -> CheckResult:
    name = f"port {port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            return CheckResult(name, Verdict.WARN, f"in use ({exc.strerror})",
                               "stop what listens there, or pick another port for this node")
    return CheckResult(name, Verdict.PASS, "free")


def check_native() -> Iterator[CheckResult]:
    from kubelite.native import PAUSE_BINARY, nft_compiler, scoring

    if scoring.IMPLEMENTATION == "cython" and nft_compiler.IMPLEMENTATION == "cython":
        yield CheckResult("native", Verdict.PASS, "Cython kernels compiled")
    else:
        yield CheckResult("native", Verdict.WARN, "Cython kernels not compiled; pure-Python twins in use",
                          "reinstall kubelite with gcc and python3-dev present")
    if PAUSE_BINARY.exists():
        yield CheckResult("pause", Verdict.PASS, f"static pause binary at {PAUSE_BINARY}")
    else:
        yield CheckResult("pause", Verdict.FAIL, "the pause binary was not built",
                          "reinstall kubelite with gcc and libc6-dev present")


def all_checks() -> Iterator[CheckResult]:
    yield check_kernel()
    yield check_cgroups()
    yield from kernel_probes()
    yield check_sysctl("ip_forward", "/proc/sys/net/ipv4/ip_forward", "1",
                       "the agent enables it at start; or sysctl -w net.ipv4.ip_forward=1")
    yield check_sysctl("br_netfilter", "/proc/sys/net/bridge/bridge-nf-call-iptables", "1",
                       "load br_netfilter (hairpin Service traffic on the pod bridge needs it)")
    for binary in BINARIES:
        yield check_binary(binary)
    yield from check_native()
    for port in (6443, 10250):
        yield check_port(port)


def report(results: Iterable[CheckResult], out: Callable[[str], None] = print) -> int:
    """Print one line per check and a verdict line; return the exit code (1 if anything failed)."""
    counts = dict.fromkeys(Verdict, 0)
    for result in results:
        out(result.line())
        counts[result.verdict] += 1
    out(f"verdict: {counts[Verdict.PASS]} pass, {counts[Verdict.WARN]} warn, {counts[Verdict.SKIP]} skip, "
        f"{counts[Verdict.FAIL]} fail -> "
        + ("this host can run kubelite" if counts[Verdict.FAIL] == 0 else "fix the FAIL lines first"))
    return 1 if counts[Verdict.FAIL] else 0
