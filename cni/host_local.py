"""host-local IPAM: addresses from configured ranges, one file per allocation, under one lock.

The on-disk layout is the reference plugin's (containernetworking/plugins ``host-local``), so tools
that know it keep working: ``<dataDir>/<network>/<ip>`` holds ``<containerID>\\r\\n<ifname>``,
``last_reserved_ip.<set>`` remembers where the round-robin search stopped, and ``lock`` is flock()ed
for the whole of each operation (so concurrent ADDs from any process or thread never hand out one
address twice). A file is created with O_EXCL, so even a torn run cannot produce a duplicate.

No leak after a killed ADD: an ADD first looks for an allocation already owned by the same
(container, interface) and returns it, and DEL releases every address of that pair, so the runtime's
retry or clean-up reclaims what the killed call reserved. GC (CNI 1.1) releases everything not in the
runtime's list of valid attachments.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelite.cni.spec import (
    ERR_INVALID_CONFIG,
    ERR_IO,
    ERR_NO_ADDRESSES,
    ERR_UNKNOWN_CONTAINER,
    CNIError,
)

DEFAULT_DATA_DIR = "/var/lib/cni/networks"
_RESERVED = ("lock",)
_LAST_RESERVED = "last_reserved_ip."

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Range:
    subnet: Network
    start: Address
    end: Address
    gateway: Address | None

    def contains(self, ip: Address) -> bool:
        return ip.version == self.start.version and self.start <= ip <= self.end  # type: ignore[operator]


def parse_range(raw: dict[str, Any]) -> Range:
    """One range of the ``ranges`` list; defaults as upstream: .1 is the gateway, network/broadcast excluded."""
    try:
        subnet = ipaddress.ip_network(raw["subnet"], strict=False)
    except (KeyError, ValueError, TypeError) as exc:
        raise CNIError(ERR_INVALID_CONFIG, "invalid ipam range: \"subnet\" is required and must be a CIDR",
                       f"{raw!r}: {exc}")
    if subnet.num_addresses < 4:
        raise CNIError(ERR_INVALID_CONFIG, f"ipam subnet {subnet} is too small", "need at least a /30")
    first, last = subnet.network_address + 1, subnet.broadcast_address - (1 if subnet.version == 4 else 0)
    try:
        start = ipaddress.ip_address(raw["rangeStart"]) if raw.get("rangeStart") else first
        end = ipaddress.ip_address(raw["rangeEnd"]) if raw.get("rangeEnd") else last
        gateway = ipaddress.ip_address(raw["gateway"]) if raw.get("gateway") else first
    except ValueError as exc:
        raise CNIError(ERR_INVALID_CONFIG, "invalid ipam range address", str(exc))
    for name, ip in (("rangeStart", start), ("rangeEnd", end)):
        if ip not in subnet or not first <= ip <= last:  # type: ignore[operator]
            raise CNIError(ERR_INVALID_CONFIG, f"ipam {name} {ip} is outside the usable range of {subnet}")
    if start > end:  # type: ignore[operator]
        raise CNIError(ERR_INVALID_CONFIG, f"ipam rangeStart {start} is after rangeEnd {end}")
    return Range(subnet=subnet, start=start, end=end, gateway=gateway)


@dataclass(frozen=True)
class IPAMConfig:
    network: str
    range_sets: list[list[Range]]
    routes: list[dict[str, Any]]
    data_dir: Path
    dns: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.data_dir / self.network


def parse_config(net_conf: dict[str, Any]) -> IPAMConfig:
    """The ``ipam`` section of a network configuration (``ranges`` or the legacy single ``subnet``)."""
    ipam = net_conf.get("ipam")
    if not isinstance(ipam, dict):
        raise CNIError(ERR_INVALID_CONFIG, "network configuration has no \"ipam\" section")
    raw_sets = ipam.get("ranges")
    if raw_sets is None and ipam.get("subnet"):
        raw_sets = [[{k: ipam[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if k in ipam}]]
    if not isinstance(raw_sets, list) or not raw_sets:
        raise CNIError(ERR_INVALID_CONFIG, "ipam needs \"ranges\" (a list of range sets) or \"subnet\"")
    range_sets = []
    for raw_set in raw_sets:
        if not isinstance(raw_set, list) or not raw_set:
            raise CNIError(ERR_INVALID_CONFIG, "each entry of ipam \"ranges\" must be a non-empty list of ranges")
        ranges = [parse_range(r if isinstance(r, dict) else {}) for r in raw_set]
        if len({r.subnet.version for r in ranges}) != 1:
            raise CNIError(ERR_INVALID_CONFIG, "a range set mixes IPv4 and IPv6")
        range_sets.append(ranges)
    routes = ipam.get("routes") or []
    for route in routes:
        try:
            ipaddress.ip_network(route["dst"], strict=False)
        except (KeyError, ValueError, TypeError) as exc:
            raise CNIError(ERR_INVALID_CONFIG, "invalid ipam route", f"{route!r}: {exc}")
    name = str(net_conf.get("name", ""))
    if not name or "/" in name or name.startswith("."):
        raise CNIError(ERR_INVALID_CONFIG, f"invalid network name {name!r} for host-local")
    return IPAMConfig(network=name, range_sets=range_sets, routes=list(routes),
                      data_dir=Path(ipam.get("dataDir") or DEFAULT_DATA_DIR), dns=dict(ipam.get("dns") or {}))


class Store:
    """The allocations of one network on disk; every method runs under the directory's flock."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise CNIError(ERR_IO, f"cannot open the IPAM store {self.directory}", str(exc))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def allocations(self) -> Iterator[tuple[Address, str, str]]:
        """(ip, container id, ifname) of every reservation."""
        for entry in os.scandir(self.directory):
            if entry.name in _RESERVED or entry.name.startswith(_LAST_RESERVED):
                continue
            try:
                ip = ipaddress.ip_address(entry.name)
                owner = Path(entry.path).read_bytes().decode()
            except (ValueError, OSError):
                continue
            container_id, _, ifname = owner.partition("\r\n")
            yield ip, container_id.strip(), ifname.strip()

    def reserve(self, ip: Address, container_id: str, ifname: str) -> bool:
        try:
            fd = os.open(self.directory / str(ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(f"{container_id}\r\n{ifname}")
        return True

    def release(self, ip: Address) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.directory / str(ip))

    def last_reserved(self, index: int) -> Address | None:
        try:
            return ipaddress.ip_address((self.directory / f"{_LAST_RESERVED}{index}").read_text().strip())
        except (OSError, ValueError):
            return None

    def set_last_reserved(self, index: int, ip: Address) -> None:
        path = self.directory / f"{_LAST_RESERVED}{index}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(ip))
        os.replace(tmp, path)


def _candidates(ranges: list[Range], after: Address | None) -> Iterator[tuple[Range, Address]]:
    """Every usable address of a range set once, starting just after ``after`` (round robin, as upstream).

    Lazy and in integers: a /16 podCIDR has 65,534 addresses, and an ADD usually needs the first one.
    """
    spans = [(r, int(r.start), int(r.end)) for r in ranges]
    total = sum(end - start + 1 for _, start, end in spans)
    position = 0  # index into the concatenation of all spans
    if after is not None:
        offset = 0
        for r, start, end in spans:
            if r.contains(after):
                position = (offset + int(after) - start + 1) % total
                break
            offset += end - start + 1
    for step in range(total):
        index = (position + step) % total
        for r, start, end in spans:
            size = end - start + 1
            if index < size:
                ip = ipaddress.ip_address(start + index) if r.start.version == 4 else ipaddress.IPv6Address(
                    start + index)
                if ip != r.gateway:
                    yield r, ip
                break
            index -= size


def _ip_entry(r: Range, ip: Address) -> dict[str, Any]:
    entry: dict[str, Any] = {"address": f"{ip}/{r.subnet.prefixlen}"}
    if r.gateway is not None:
        entry["gateway"] = str(r.gateway)
    return entry


def allocate(config: IPAMConfig, *, container_id: str, ifname: str) -> dict[str, Any]:
    """ADD: one address per range set (the one this attachment already holds, if any) as a CNI result."""
    store = Store(config.directory)
    ips: list[dict[str, Any]] = []
    with store.locked():
        held = {ip: None for ip, cid, ifn in store.allocations() if cid == container_id and ifn == ifname}
        for index, ranges in enumerate(config.range_sets):
            existing = next(((r, ip) for ip in held for r in ranges if r.contains(ip)), None)
            if existing is not None:
                ips.append(_ip_entry(*existing))
                continue
            for r, ip in _candidates(ranges, store.last_reserved(index)):
                if store.reserve(ip, container_id, ifname):
                    store.set_last_reserved(index, ip)
                    ips.append(_ip_entry(r, ip))
                    break
            else:
                subnets = ", ".join(str(r.subnet) for r in ranges)
                raise CNIError(ERR_NO_ADDRESSES, f"no IP addresses available in range set: {subnets}")
    result: dict[str, Any] = {"ips": ips, "routes": config.routes}
    if config.dns:
        result["dns"] = config.dns
    return result


def release(config: IPAMConfig, *, container_id: str, ifname: str) -> None:
    """DEL: free every address of this attachment; nothing held is not an error (DEL is idempotent)."""
    store = Store(config.directory)
    if not config.directory.exists():
        return
    with store.locked():
        for ip, cid, ifn in list(store.allocations()):
            if cid == container_id and ifn == ifname:
                store.release(ip)


def check(config: IPAMConfig, *, container_id: str, ifname: str) -> None:
    """CHECK: the attachment still holds an address in every range set."""
    store = Store(config.directory)
    if not config.directory.exists():
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"host-local: no allocation for {container_id}/{ifname}")
    with store.locked():
        held = [ip for ip, cid, ifn in store.allocations() if cid == container_id and ifn == ifname]
    for ranges in config.range_sets:
        if not any(r.contains(ip) for ip in held for r in ranges):
            raise CNIError(ERR_UNKNOWN_CONTAINER, f"host-local: {container_id}/{ifname} holds no address in "
                           + ", ".join(str(r.subnet) for r in ranges))


def gc(config: IPAMConfig, *, valid: set[tuple[str, str]]) -> list[str]:
    """GC: release allocations whose (container, ifname) is not a valid attachment; returns what was freed."""
    store = Store(config.directory)
    if not config.directory.exists():
        return []
    freed = []
    with store.locked():
        for ip, cid, ifn in list(store.allocations()):
            if (cid, ifn) not in valid:
                store.release(ip)
                freed.append(str(ip))
    return freed


def stale_attachments(config: IPAMConfig, *, known_containers: set[str], min_age: float) -> set[tuple[str, str]]:
    """(container, ifname) holding an address for at least ``min_age`` seconds whose container is unknown.

    The agent's garbage collection: containerd lists a sandbox only after its network is set up, so
    a young allocation may belong to an ADD in progress and is never reported.
    """
    if not config.directory.exists():
        return set()
    store = Store(config.directory)
    now = time.time()
    stale = set()
    with store.locked():
        for ip, cid, ifn in store.allocations():
            if cid in known_containers:
                continue
            try:
                age = now - os.stat(config.directory / str(ip)).st_mtime
            except FileNotFoundError:
                continue
            if age >= min_age:
                stale.add((cid, ifn))
    return stale


def status(config: IPAMConfig) -> None:
    """STATUS: fails with 50 when a range set has no free address left (new ADDs would fail)."""
    store = Store(config.directory)
    if not config.directory.exists():
        return
    with store.locked():
        held = {ip for ip, _, _ in store.allocations()}
    for ranges in config.range_sets:
        if not any(ip not in held for _, ip in _candidates(ranges, None)):
            raise CNIError(50, "host-local: range exhausted",
                           ", ".join(str(r.subnet) for r in ranges))
