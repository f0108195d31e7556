"""Service ClusterIP and NodePort allocation, as upstream's API server does it inside Service writes.

Each allocated IP or port is a claim key in the datastore (``/kubelite/serviceips/<ip>``,
``/kubelite/nodeports/<port>``) created atomically, so two API servers sharing one etcd can never hand
out the same address. A claim is released when its Service goes away or stops using it. A crash
between claiming and writing the Service can leave an unused claim; ``repair()`` (run at start-up,
like upstream's repair controllers) releases every claim no Service references.

Dual stack, as upstream's ``--service-cluster-ip-range``: ``--service-cidr`` is one CIDR or two of
different families (``10.43.0.0/16,fd00:43::/112``); the first is the primary family, which single-stack
Services get by default; ``allocate(family=...)`` draws from either range.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from typing import Any

from kubelite.controlplane.storage import KeyExistsError, KeyNotFoundError, Store

Obj = dict[str, Any]

IP_PREFIX = "/kubelite/serviceips/"
PORT_PREFIX = "/kubelite/nodeports/"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)


FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_service_cidrs(text: str) -> list[Network]:
    """``--service-cidr``: one CIDR, or two of different IP families separated by a comma; ValueError says
    what is wrong."""
    parts = [p.strip() for p in text.split(",")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"{text!r}: want one CIDR or two (IPv4 and IPv6) separated by a comma")
    networks: list[Network] = []
    for part in parts:
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a CIDR: {exc}") from None
    if len(networks) == 2 and networks[0].version == networks[1].version:
        raise ValueError(f"{text!r}: two CIDRs must be of different IP families (dual stack)")
    return networks


def kubernetes_service_ip(cidr: str) -> str:
    """The first usable address of the (primary) service range: upstream gives it to the `kubernetes` Service."""
    return str(parse_service_cidrs(cidr)[0].network_address + 1)


class AllocationError(Exception):
    """A requested IP/port is taken or out of range, or the range is full; ``str()`` says which."""


class _Range:
    """One family's service range: the usable addresses are ``first`` .. ``first + size - 1``."""

    def __init__(self, network: Network) -> None:
        self.network = network
        # the network address is unusable; so is the broadcast address of an IPv4 range
        self.first = int(network.network_address) + 1
        last = int(network.broadcast_address) - (1 if network.version == 4 else 0)
        self.size = max(0, last - self.first + 1)
        self.kubernetes_ip = str(network.network_address + 1)

    def address(self, value: int) -> str:
        # the family's own class: ip_address(int) would read a small integer as IPv4
        return str(type(self.network.network_address)(value))


class ServiceIPAllocator:
    def __init__(self, store: Store, cidr: str) -> None:
        self.store = store
        self.ranges = {FAMILY_NAMES[n.version]: _Range(n) for n in parse_service_cidrs(cidr)}
        self.families = list(self.ranges)
        """Configured families, primary first ("IPv4", "IPv6")."""
        primary = self.ranges[self.families[0]]
        self.network, self.first, self.size = primary.network, primary.first, primary.size

    @property
    def kubernetes_ip(self) -> str:
        return self.ranges[self.families[0]].kubernetes_ip

    def _range_of(self, ip: str) -> _Range | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        r = self.ranges.get(FAMILY_NAMES[address.version])
        return r if r is not None and address in r.network and r.first <= int(address) < r.first + r.size else None

    def contains(self, ip: str) -> bool:
        return self._range_of(ip) is not None

    async def claim(self, ip: str, owner: str) -> None:
        if not self.contains(ip):
            valid = " or ".join(str(r.network) for r in self.ranges.values())
            raise AllocationError(f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid "
                                  f"range. The range of valid IPs is {valid}")
        try:
            await self.store.create(IP_PREFIX + ip, owner.encode())
        except KeyExistsError:
            raise AllocationError(f"failed to allocate IP {ip}: provided IP is already allocated")

    async def allocate(self, owner: str, *, dry_run: bool = False, family: str = "") -> str:
        """A free address of ``family`` ("IPv4"/"IPv6"; default: the primary), claimed for ``owner`` (a dry
        run only finds one)."""
        r = self.ranges.get(family or self.families[0])
        if r is None:
            raise AllocationError(f"failed to allocate a serviceIP: {family} is not configured on this cluster")
        if r.size == 0:
            raise AllocationError("failed to allocate a serviceIP: range is full")
        # random probing first (cheap while the range is sparse), then a scan of what is left
        for _ in range(32):
            candidate = r.address(r.first + random.randrange(r.size))
            if candidate == r.kubernetes_ip:
                continue
            if await self._try(candidate, owner, dry_run):
                return candidate
        taken = {kv.key[len(IP_PREFIX):] for kv in (await self.store.list(IP_PREFIX)).items}
        for offset in range(r.size):
            candidate = r.address(r.first + offset)
            usable = candidate not in taken and candidate != r.kubernetes_ip
            if usable and await self._try(candidate, owner, dry_run):
                return candidate
        raise AllocationError("failed to allocate a serviceIP: range is full")

    async def _try(self, ip: str, owner: str, dry_run: bool) -> bool:
        if dry_run:
            return await self.store.get(IP_PREFIX + ip) is None
        try:
            await self.store.create(IP_PREFIX + ip, owner.encode())
        except KeyExistsError:
            return False
        return True

    async def release(self, ip: str) -> None:
        try:
            await self.store.delete(IP_PREFIX + ip)
        except KeyNotFoundError:
            pass


class NodePortAllocator:
    def __init__(self, store: Store, port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.store = store
        self.low, self.high = port_range

    async def claim(self, port: int, owner: str) -> None:
        if not self.low <= port <= self.high:
            raise AllocationError(f"provided port is not in the valid range. The range of valid ports is "
                                  f"{self.low}-{self.high}")
        try:
            await self.store.create(f"{PORT_PREFIX}{port}", owner.encode())
        except KeyExistsError:
            raise AllocationError("provided port is already allocated")

    async def allocate(self, owner: str, *, dry_run: bool = False) -> int:
        span = self.high - self.low + 1
        start = random.randrange(span)
        for step in range(span):
            port = self.low + (start + step) % span
            key = f"{PORT_PREFIX}{port}"
            if dry_run:
                if await self.store.get(key) is None:
                    return port
                continue
            try:
                await self.store.create(key, owner.encode())
            except KeyExistsError:
                continue
            return port
        raise AllocationError("range is full")

    async def release(self, port: int) -> None:
        try:
            await self.store.delete(f"{PORT_PREFIX}{port}")
        except KeyNotFoundError:
            pass


def service_ips(service: Obj) -> list[str]:
    spec = service.get("spec") or {}
    ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"]
    return list(dict.fromkeys(ips))


def node_ports(service: Obj) -> list[int]:
    ports = [p.get("nodePort") for p in (service.get("spec") or {}).get("ports") or [] if isinstance(p, dict)]
    return list(dict.fromkeys(int(p) for p in ports if isinstance(p, int) and p))


async def repair(store: Store, services: Iterable[Obj]) -> int:
    """Release claims that no Service references; returns how many were released."""
    used_ips: set[str] = set()
    used_ports: set[int] = set()
    for service in services:
        used_ips.update(service_ips(service))
        used_ports.update(node_ports(service))
    released = 0
    for kv in (await store.list(IP_PREFIX)).items:
        if kv.key[len(IP_PREFIX):] not in used_ips:
            await store.delete(kv.key)
            released += 1
    for kv in (await store.list(PORT_PREFIX)).items:
        if int(kv.key[len(PORT_PREFIX):]) not in used_ports:
            await store.delete(kv.key)
            released += 1
    return released
