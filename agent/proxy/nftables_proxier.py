"""The nftables proxier: Service state -> one nft transaction per sync, through libnftables.

Design (kube-proxy ``pkg/proxy/nftables``, with the ruleset shape of ``kubelite.native.nft_compiler``):

* every sync takes the services that changed since the last one (:class:`ServiceState` tracks them),
  recompiles only those into :class:`~kubelite.native.nft_compiler.RuleSet`, and applies the delta the
  rule set renders: an endpoint change is a few map-element updates;
* a full sync (the first, every ``full_interval``, and after any failure) rewrites the whole table in
  one transaction from the compiled state (it recompiles only what changed); the first one deletes and
  recreates the table, so nothing stale from an earlier run survives; later ones flush and refill our
  chains and maps but keep the session-affinity sets (their timeouts are client state);
* libnftables runs in one dedicated thread (the event loop never blocks on the kernel); given a
  network namespace, that thread enters it, so one agent process can program a node namespace;
* after a successful sync, UDP flows to removed endpoints are deleted from conntrack;
* dual stack: one :class:`RuleSet` per family, ``ip kubelite`` (IPv4) and ``ip6 kubelite`` (IPv6), both
  written in the same transaction (as kube-proxy runs one proxier per family). The IPv6 table is probed
  before the first sync; a kernel without IPv6 nftables NAT gets a warning and IPv4 only.

Only the tables ``ip kubelite`` and ``ip6 kubelite`` are ever written.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from kubelite.agent.proxy import conntrack, metrics
from kubelite.agent.proxy.service_port import ServiceState
from kubelite.native.nft_compiler import (
    FAMILY,
    TABLE,
    RuleSet,
    ServicePortSpec,
    TableConfig,
    compile_service,
    family_configs,
)
from kubelite.native.nftables import Nftables, NftablesError

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (no await in it): compiling 10,000 services allocates about a
    million small objects, none in cycles, and the collector would walk the whole heap several times over
    for nothing (measured: a quarter of a full sync's CPU)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def enter_netns(netns: str | None) -> None:
    """Move the calling thread into ``netns`` (a name under /run/netns or a path); None: stay."""
    if not netns:
        return
    path = netns if netns.startswith("/") else f"/run/netns/{netns}"
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NftablesThread:
    """One thread owning a libnftables context, optionally inside another network namespace."""

    def __init__(self, *, netns: str | None = None) -> None:
        self.netns = netns
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="nftables", initializer=enter_netns,
                                            initargs=(netns,))
        self._nft: Nftables | None = None

    async def call(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    def run_here(self, commands: str) -> str:
        """Apply ``commands`` (called on the nftables thread)."""
        if self._nft is None:
            self._nft = Nftables()
        return self._nft.run(commands)

    async def run(self, commands: str) -> str:
        return await self.call(lambda: self.run_here(commands))

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def nftables_usable(*, netns: str | None = None) -> str:
    """"" when this host can run the nftables proxier, else the reason (then userspace mode is used)."""
    probe = NftablesThread(netns=netns)
    try:
        fut = probe._executor.submit(probe.run_here, f"add table {FAMILY} {TABLE}\n")
        fut.result(timeout=30)
    except (OSError, NftablesError) as exc:
        return str(exc)
    finally:
        probe.close()
    return ""


IPV6_PROBE = (f"add table ip6 {TABLE}\n"
              f"add chain ip6 {TABLE} nat-prerouting {{ type nat hook prerouting priority dstnat ; }}\n")


class NftablesProxier:
    """Programs ``ip kubelite`` and ``ip6 kubelite`` from a :class:`ServiceState`; ``sync(full)`` is the
    SyncRunner's callback. ``config``'s CIDRs may be dual-stack lists (see ``family_configs``)."""

    def __init__(self, *, state: ServiceState, config: TableConfig, netns: str | None = None) -> None:
        self.state = state
        self.config = config
        self.rulesets = {family: RuleSet(cfg) for family, cfg in family_configs(config).items()}
        self.rules = self.rulesets["ip"]
        """The IPv4 rule set (``rulesets`` holds both)."""
        self.nft = NftablesThread(netns=netns)
        self._specs: dict[str, list[ServicePortSpec]] = {}
        """service key -> ports as last compiled."""
        self._first = True
        self.last_text = ""
        self._udp_backlog: list[tuple[list[ServicePortSpec], list[ServicePortSpec]]] = []
        """(old, new) ports of changes whose conntrack clean-up waits for a successful sync."""

    async def sync(self, full: bool) -> None:
        start = time.perf_counter()
        # only changed services are recompiled, also in a full sync: the rule set already holds every
        # other service's contributions, and a full sync only has to write all of them again
        if self._first and "ip6" in self.rulesets:
            await self._probe_ipv6()
        changed = self.state.take_changes()
        if full:
            for rules in self.rulesets.values():
                rules.begin_full()
        previous = {key: self._specs.get(key, []) for key in changed}
        with gc_paused():
            for key in changed:
                self._update_service(key)
            text = "".join(rules.full_text(recreate=self._first) if full else rules.delta_text()
                           for rules in self.rulesets.values())
        self._udp_backlog.extend(
            (old, new) for old, new in ((old, self._specs.get(key, [])) for key, old in previous.items())
            if any(spec.protocol == "udp" for spec in (*old, *new)))
        try:
            if text:
                await self.nft.run(text)
        except BaseException:
            for rules in self.rulesets.values():
                rules.abort()
            metrics.SYNC_FAILURES.inc()
            raise
        for rules in self.rulesets.values():
            rules.commit()
        self._first = False
        self.last_text = text
        if self._udp_backlog:
            # flows are cleared only once the new rules are in: before, the old rules would recreate them
            stale, self._udp_backlog = self._udp_backlog, []
            await self.nft.call(lambda: clear_udp_flows(stale))
        elapsed = time.perf_counter() - start
        metrics.SYNC_DURATION.observe(elapsed)
        (metrics.FULL_SYNC_DURATION if full else metrics.PARTIAL_SYNC_DURATION).observe(elapsed)
        metrics.LAST_SYNC.set_to_current_time()
        for kind, count in self.counts().items():
            metrics.RULES.labels(kind=kind).set(count)
        log.debug("proxy %s sync of %d services in %.3fs", "full" if full else "partial", len(changed), elapsed)

    async def _probe_ipv6(self) -> None:
        try:
            await self.nft.run(IPV6_PROBE)
        except NftablesError as exc:
            log.warning("IPv6 Services are not proxied: this kernel refuses an ip6 nat table (%s)", exc)
            del self.rulesets["ip6"]

    def counts(self) -> dict[str, int]:
        """Objects in both tables: rules, elements, chains, sets."""
        total: dict[str, int] = {}
        for rules in self.rulesets.values():
            for kind, count in rules.counts().items():
                total[kind] = total.get(kind, 0) + count
        return total

    def _update_service(self, key: str) -> None:
        old = {spec.id: spec.family for spec in self._specs.get(key, [])}
        specs: list[ServicePortSpec] = []
        for spec in self.state.specs(key):
            rules = self.rulesets.get(spec.family)
            if rules is None:
                continue  # IPv6 without an ip6 table
            try:
                # specs from service_port are valid by construction (addresses parsed, ports range-checked)
                compiled = compile_service(spec, lb=self.config.lb, validate=False)
            except ValueError as exc:
                log.error("service %s port %d/%s is not proxied: %s", key, spec.port, spec.protocol, exc)
                continue
            rules.set_service(spec.id, compiled)
            specs.append(spec)
        kept = {spec.id for spec in specs}
        for gone, family in old.items():
            if gone not in kept:
                self.rulesets[family].remove_service(gone)
        if specs:
            self._specs[key] = specs
        else:
            self._specs.pop(key, None)

    def close(self) -> None:
        self.nft.close()


def clear_udp_flows(changes: list[tuple[list[ServicePortSpec], list[ServicePortSpec]]]) -> None:
    """conntrack clean-up after a sync: ``changes`` holds (old ports, new ports) per changed service."""
    for old_specs, new_specs in changes:
        new_by_id = {s.id: s for s in new_specs if s.protocol == "udp"}
        for old in old_specs:
            if old.protocol != "udp":
                continue
            new = new_by_id.get(old.id)
            kept = set() if new is None else {ip for ip, _ in (*new.internal_endpoints, *new.external_endpoints)}
            for ip in {ip for ip, _ in (*old.internal_endpoints, *old.external_endpoints)} - kept:
                for vip in (*old.cluster_ips, *old.external_ips):
                    conntrack.delete_endpoint_flows(protocol="udp", service_ip=vip, endpoint_ip=ip)
                if old.node_port:
                    conntrack.delete_endpoint_flows(protocol="udp", node_port=old.node_port, endpoint_ip=ip,
                                                    family=old.family)
        old_ids = {s.id: s for s in old_specs}
        for new in new_by_id.values():
            before = old_ids.get(new.id)
            had = before is not None and bool(before.internal_endpoints or before.external_endpoints)
            if not had and (new.internal_endpoints or new.external_endpoints):
                for vip in (*new.cluster_ips, *new.external_ips):
                    conntrack.delete_service_flows(protocol="udp", service_ip=vip)
                if new.node_port:
                    conntrack.delete_service_flows(protocol="udp", node_port=new.node_port, family=new.family)
