"""Userspace mode: asyncio TCP/UDP forwarders, for hosts where nftables cannot be used.

Each Service address (ClusterIP, externalIP, LoadBalancer ingress) is made local by assigning it to a
dummy interface, ``kubelite-svc`` (as kube-proxy's IPVS mode does with ``kube-ipvs0``; a port-less bridge
where the kernel has no dummy driver), so a socket can
listen on it and traffic routed to the node for it is delivered locally; NodePorts listen on every
address (or on ``--nodeport-addresses``). A listener forwards each connection (TCP) or client flow
(UDP) to one endpoint chosen by the same policy as the nftables data path: round robin (or random),
ClientIP session affinity with the Service's timeout (each new connection refreshes it), internal and
external traffic policies through the endpoint lists of :class:`ServicePortSpec`. A port without
usable endpoints has no listener, so clients are refused at once, as with nftables' reject.

IPv6 Service addresses work the same way (made local as /128s; NodePorts listen on ``::`` with
IPV6_V6ONLY, beside ``0.0.0.0``). SCTP cannot be forwarded in this mode (asyncio has no SCTP streams,
and the kernels this was built on have no SCTP sockets): such ports are logged once per service and
counted in ``kubelite_proxy_unsupported_service_ports{protocol="sctp"}``; the proxy keeps running.
Syncs are driven by the same :class:`SyncRunner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any, cast

from kubelite.agent.proxy import metrics
from kubelite.agent.proxy.service_port import ServiceState
from kubelite.native.nft_compiler import ServicePortSpec

log = logging.getLogger(__name__)

DUMMY_INTERFACE = "kubelite-svc"
IFA_F_NODAD = 0x02
UDP_IDLE_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
BUFFER = 65536

Address = tuple[str, int]


@dataclass
class Balancer:
    """Endpoint choice for one listener: round robin or random, with optional ClientIP affinity."""

    endpoints: list[Address]
    mode: str = "round-robin"
    affinity_timeout: int = 0
    _next: int = 0
    _sticky: dict[str, tuple[Address, float]] = field(default_factory=dict)

    def update(self, endpoints: list[Address], affinity_timeout: int) -> None:
        self.endpoints = endpoints
        self.affinity_timeout = affinity_timeout
        if not affinity_timeout:
            self._sticky.clear()

    def pick(self, client_ip: str, *, exclude: frozenset[Address] = frozenset()) -> Address | None:
        candidates = [e for e in self.endpoints if e not in exclude]
        if not candidates:
            return None
        now = time.monotonic()
        if self.affinity_timeout:
            sticky = self._sticky.get(client_ip)
            if sticky is not None and sticky[1] > now and sticky[0] in candidates:
                self._sticky[client_ip] = (sticky[0], now + self.affinity_timeout)
                return sticky[0]
        if self.mode == "random":
            chosen = random.choice(candidates)
        else:
            chosen = candidates[self._next % len(candidates)]
            self._next += 1
        if self.affinity_timeout:
            self._sticky[client_ip] = (chosen, now + self.affinity_timeout)
            if len(self._sticky) > 4096:
                self._sticky = {c: v for c, v in self._sticky.items() if v[1] > now}
        return chosen


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class TCPListener:
    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host=host, port=port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        tried: set[Address] = set()
        try:
            while True:
                endpoint = self.balancer.pick(peer[0], exclude=frozenset(tried))
                if endpoint is None:
                    return
                try:
                    up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*endpoint),
                                                                  CONNECT_TIMEOUT)
                    break
                except (OSError, TimeoutError) as exc:
                    log.info("endpoint %s:%d unreachable (%s); trying another", *endpoint, exc)
                    tried.add(endpoint)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()


class _UpstreamProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: UDPListener, client: Address) -> None:
        self.listener = listener
        self.client = client

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.listener.transport is not None:
            self.listener.transport.sendto(data, self.client)
        self.listener.touch(self.client)


@dataclass
class _Flow:
    transport: asyncio.DatagramTransport
    endpoint: Address
    last_used: float


class UDPListener(asyncio.DatagramProtocol):
    def __init__(self, balancer: Balancer) -> None:
        self.balancer = balancer
        self.transport: asyncio.DatagramTransport | None = None
        self._flows: dict[Address, _Flow] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        if ":" in host:
            # IPv6 only, as asyncio does for TCP listeners: "::" must not take the port from "0.0.0.0"
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
            except OSError:
                sock.close()
                raise
            transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        else:
            transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port),
                                                               reuse_port=False)
        self.transport = transport
        self._reaper = asyncio.create_task(self._reap())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance assertion: the event loop's datagram transport need not subclass the ABC
        self.transport = cast(asyncio.DatagramTransport, transport)

    def touch(self, client: Address) -> None:
        flow = self._flows.get(client)
        if flow is not None:
            flow.last_used = time.monotonic()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        client = (addr[0], addr[1])
        flow = self._flows.get(client)
        if flow is not None and flow.endpoint in self.balancer.endpoints:
            flow.last_used = time.monotonic()
            flow.transport.sendto(data)
            return
        if flow is not None:  # its endpoint went away: the next datagram picks a new one
            flow.transport.close()
            del self._flows[client]
        endpoint = self.balancer.pick(client[0])
        if endpoint is None:
            return
        asyncio.get_running_loop().create_task(self._open(client, endpoint, data))

    async def _open(self, client: Address, endpoint: Address, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UpstreamProtocol(self, client),
                                                               remote_addr=endpoint)
        except OSError as exc:
            log.info("UDP endpoint %s:%d unreachable: %s", *endpoint, exc)
            return
        existing = self._flows.get(client)
        if existing is not None:
            transport.close()
            existing.transport.sendto(first)
            return
        self._flows[client] = _Flow(transport, endpoint, time.monotonic())
        transport.sendto(first)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(UDP_IDLE_TIMEOUT / 3)
            now = time.monotonic()
            for client, flow in list(self._flows.items()):
                if now - flow.last_used > UDP_IDLE_TIMEOUT:
                    flow.transport.close()
                    del self._flows[client]

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for flow in self._flows.values():
            flow.transport.close()
        self._flows.clear()
        if self.transport is not None:
            self.transport.close()


Listener = TCPListener | UDPListener
ListenKey = tuple[str, str, int]
"""(protocol, address, port)."""


RTN_LOCAL = 2
LOCAL_ROUTE_WAIT = 2.0


def _wait_local(ipr: Any, addresses: list[str]) -> None:
    """Wait until the kernel delivers to each new IPv6 address locally: the netlink add returns before the
    kernel's address work installs the local route, and a packet arriving in between would be forwarded
    away (seen as a lost first SYN or datagram)."""
    deadline = time.monotonic() + LOCAL_ROUTE_WAIT
    pending = list(addresses)
    while pending and time.monotonic() < deadline:
        still = []
        for ip in pending:
            try:
                routes = ipr.route("get", dst=ip)
            except Exception:  # no route yet reads as "not local yet"
                routes = []
            if not any(r.get("type") == RTN_LOCAL for r in routes):
                still.append(ip)
        pending = still
        if pending:
            time.sleep(0.01)
    if pending:
        log.warning("IPv6 Service addresses %s are not local after %.0fs", ", ".join(pending), LOCAL_ROUTE_WAIT)


class ServiceAddresses:
    """The dummy interface holding Service IPs, through pyroute2 (the only netlink use of this mode)."""

    def __init__(self, name: str = DUMMY_INTERFACE) -> None:
        self.name = name
        self._assigned: set[str] = set()

    def ensure(self, addresses: set[str]) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            links = ipr.link_lookup(ifname=self.name)
            if not links:
                try:
                    ipr.link("add", ifname=self.name, kind="dummy")
                except NetlinkError as exc:
                    # no dummy driver (and no modprobe): a bridge without ports holds addresses as well
                    log.info("dummy interfaces unsupported (%s); %s is a port-less bridge", exc, self.name)
                    ipr.link("add", ifname=self.name, kind="bridge")
                links = ipr.link_lookup(ifname=self.name)
            index = links[0]
            ipr.link("set", index=index, state="up")
            # IPv6 link-local addresses the kernel gives the interface are not ours to manage
            current = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index)
                       if not str(a.get_attr("IFA_ADDRESS")).startswith("fe80:")}
            for ip in sorted(addresses - current):
                # nodad: a Service address must be usable at once, not after IPv6 duplicate detection
                extra = {"flags": IFA_F_NODAD} if ":" in ip else {}
                ipr.addr("add", index=index, address=ip, prefixlen=128 if ":" in ip else 32, **extra)
            for ip in sorted(current - addresses):
                with contextlib.suppress(Exception):
                    ipr.addr("del", index=index, address=ip, prefixlen=128 if ":" in ip else 32)
            added6 = [ip for ip in addresses - current if ":" in ip]
            if added6:
                _wait_local(ipr, added6)
        self._assigned = set(addresses)

    def remove(self) -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            links = ipr.link_lookup(ifname=self.name)
            if links:
                ipr.link("del", index=links[0])


class UserspaceProxier:
    """Listeners per Service address and port, kept in line with :class:`ServiceState` by ``sync``."""

    def __init__(self, *, state: ServiceState, lb: str = "round-robin",
                 nodeport_addresses: tuple[str, ...] = (), interface: str = DUMMY_INTERFACE) -> None:
        self.state = state
        self.lb = lb
        self.nodeport_addresses = nodeport_addresses
        self.addresses = ServiceAddresses(interface)
        self._specs: dict[str, list[ServicePortSpec]] = {}
        self._listeners: dict[ListenKey, Listener] = {}
        self._warned_sctp: dict[str, list[int]] = {}
        """service key -> its SCTP ports already warned about (a warning per change, not per sync)."""

    def _wanted(self) -> dict[ListenKey, tuple[list[Address], int]]:
        wanted: dict[ListenKey, tuple[list[Address], int]] = {}
        for specs in self._specs.values():
            for spec in specs:
                if spec.protocol not in ("tcp", "udp"):
                    continue
                internal = list(spec.internal_endpoints)
                external = list(spec.external_endpoints)
                if internal:
                    for vip in spec.cluster_ips:
                        wanted.setdefault((spec.protocol, vip, spec.port), (internal, spec.affinity_timeout))
                if external:
                    for vip in spec.external_ips:
                        wanted.setdefault((spec.protocol, vip, spec.port), (external, spec.affinity_timeout))
                    if spec.node_port:
                        for host in self._nodeport_hosts(spec.family):
                            wanted.setdefault((spec.protocol, host, spec.node_port),
                                              (external, spec.affinity_timeout))
        return wanted

    def _nodeport_hosts(self, family: str) -> list[str]:
        anywhere = "::" if family == "ip6" else "0.0.0.0"
        version = 6 if family == "ip6" else 4
        hosts = []
        for cidr in self.nodeport_addresses:
            net = ipaddress.ip_network(cidr, strict=False)
            if net.version != version:
                continue
            if net.prefixlen == net.max_prefixlen:
                hosts.append(str(net.network_address))
            else:
                return [anywhere]  # a range of addresses: listen on all and rely on routing
        # as upstream: a family without a --nodeport-addresses CIDR of its own serves all its addresses
        return hosts or [anywhere]

    async def sync(self, full: bool) -> None:
        start = time.perf_counter()
        changed = self.state.take_changes()
        if full:
            changed |= set(self.state.keys()) | set(self._specs)
        for service in changed:
            specs = self.state.specs(service)
            sctp = sorted({s.port for s in specs if s.protocol == "sctp"})
            if sctp and sctp != self._warned_sctp.get(service):
                log.warning("service %s: SCTP port(s) %s cannot be forwarded in userspace mode (use nftables "
                            "mode)", service, ", ".join(map(str, sctp)))
            if sctp:
                self._warned_sctp[service] = sctp
            else:
                self._warned_sctp.pop(service, None)
            if specs:
                self._specs[service] = specs
            else:
                self._specs.pop(service, None)
        wanted = self._wanted()
        # every Service address is made local, with or without endpoints: with no listener on it the
        # kernel refuses connections at once instead of routing them away
        vips = {ip for specs in self._specs.values() for spec in specs
                for ip in (*spec.cluster_ips, *spec.external_ips)}
        await asyncio.get_running_loop().run_in_executor(None, self.addresses.ensure, vips)
        for key in list(self._listeners):
            if key not in wanted:
                await self._listeners.pop(key).close()
        failures = []
        for key, (endpoints, affinity) in wanted.items():
            listener = self._listeners.get(key)
            if listener is not None:
                listener.balancer.update(endpoints, affinity)
                continue
            balancer = Balancer(endpoints=endpoints, mode=self.lb, affinity_timeout=affinity)
            listener = TCPListener(balancer) if key[0] == "tcp" else UDPListener(balancer)
            try:
                await listener.start(key[1], key[2])
            except OSError as exc:
                failures.append(f"{key[0]} {key[1]}:{key[2]}: {exc}")
                continue
            self._listeners[key] = listener
        elapsed = time.perf_counter() - start
        metrics.SYNC_DURATION.observe(elapsed)
        metrics.LAST_SYNC.set_to_current_time()
        metrics.RULES.labels(kind="listeners").set(len(self._listeners))
        metrics.UNSUPPORTED_PORTS.labels(protocol="sctp").set(
            sum(1 for specs in self._specs.values() for spec in specs if spec.protocol == "sctp"))
        if failures:
            raise OSError("cannot listen on " + "; ".join(failures))

    async def close(self, *, remove_addresses: bool = False) -> None:
        for listener in self._listeners.values():
            await listener.close()
        self._listeners.clear()
        if remove_addresses:
            await asyncio.get_running_loop().run_in_executor(None, self.addresses.remove)
