"""kubelite's own nftables table for pod networking: masquerade and hostPort DNAT.

Everything lives in ``table ip kubelite-cni``; no other table is ever read or written. The shape
follows ENVIRONMENT.md's measurements: a fixed handful of rules that look up a few *named* sets and
maps, and per-pod data only as elements of those maps, so an ADD or DEL is one small transaction no
matter how many pods the node runs.

* ``masq_sources`` (pod subnets of this node) and ``no_masq_destinations`` (the cluster CIDR,
  multicast): traffic from a pod to anything outside the cluster leaves with the node's address.
* ``hostports`` (proto . port -> pod ip . port) and ``hostip_hostports`` (host ip . proto . port ->
  ...): the portmap plugin's DNAT, for traffic arriving at, or sent by the node to, a local address.
* Hairpin: DNATed traffic from a pod subnet back into a pod subnet is masqueraded, so a pod reaching
  itself (or a neighbour) through a hostPort gets replies through conntrack.

Every function builds one command buffer; libnftables applies it as one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kubelite.native.nftables import Nftables, NftablesError

TABLE = "kubelite-cni"
_BASE = f"""
add table ip {TABLE}
add set ip {TABLE} masq_sources {{ type ipv4_addr; flags interval; auto-merge; }}
add set ip {TABLE} no_masq_destinations {{ type ipv4_addr; flags interval; auto-merge; }}
add map ip {TABLE} hostports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map ip {TABLE} hostip_hostports {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain ip {TABLE} postrouting {{ type nat hook postrouting priority 100; policy accept; }}
add chain ip {TABLE} prerouting {{ type nat hook prerouting priority -100; policy accept; }}
add chain ip {TABLE} output {{ type nat hook output priority -100; policy accept; }}
add chain ip {TABLE} hostports
flush chain ip {TABLE} postrouting
flush chain ip {TABLE} prerouting
flush chain ip {TABLE} output
flush chain ip {TABLE} hostports
add rule ip {TABLE} prerouting fib daddr type local jump hostports
add rule ip {TABLE} output ip daddr != 127.0.0.0/8 fib daddr type local jump hostports
add rule ip {TABLE} hostports dnat ip to ip daddr . meta l4proto . th dport map @hostip_hostports
add rule ip {TABLE} hostports dnat ip to meta l4proto . th dport map @hostports
add rule ip {TABLE} postrouting ct status dnat ip saddr @masq_sources ip daddr @masq_sources masquerade
add rule ip {TABLE} postrouting ip saddr @masq_sources ip daddr != @no_masq_destinations masquerade
"""

_local = threading.local()
_ensured_lock = threading.Lock()
_ensured: set[tuple[str, ...]] = set()


def nft() -> Nftables:
    """This thread's libnftables context (a context is not thread-safe)."""
    ctx: Nftables | None = getattr(_local, "nft", None)
    if ctx is None:
        ctx = Nftables()
        _local.nft = ctx
    return ctx


def _netns_key() -> str:
    import os

    return os.readlink("/proc/thread-self/ns/net")


def ensure_table(*, masq_sources: Iterable[str] = (), exempt: Iterable[str] = ()) -> None:
    """The table, its chains and rules, plus masquerade set elements; done once per process and namespace."""
    sources, exempt_list = sorted(set(masq_sources)), sorted(set(exempt))
    key = (_netns_key(), *sources, "|", *exempt_list)
    if key in _ensured:
        return
    with _ensured_lock:
        commands = _BASE if (key[0],) not in _ensured else ""
        if sources:
            commands += f"add element ip {TABLE} masq_sources {{ {', '.join(sources)} }}\n"
        if exempt_list:
            commands += f"add element ip {TABLE} no_masq_destinations {{ {', '.join(exempt_list)} }}\n"
        if commands:
            nft().run(commands)
        _ensured.add((key[0],))
        _ensured.add(key)


def table_present() -> bool:
    """Whether ``table ip kubelite-cni`` exists in this thread's namespace."""
    try:
        nft().run(f"list table ip {TABLE}\n")
    except NftablesError:
        return False
    return True


def restore(*, masq_sources: Iterable[str], exempt: Iterable[str]) -> bool:
    """Re-create the table when somebody removed it (``nft flush ruleset``); ``True`` if it was missing.

    hostPort elements of running pods are not known here and come back with the pods' next ADD; the
    masquerade rules, which every pod of the node needs, come back at once.
    """
    if table_present():
        ensure_table(masq_sources=masq_sources, exempt=exempt)
        return False
    forget_ensured()
    ensure_table(masq_sources=masq_sources, exempt=exempt)
    return True


def forget_ensured() -> None:
    """Forget what was ensured (the table was removed), so the next ensure really re-creates it."""
    with _ensured_lock:
        _ensured.clear()


@dataclass(frozen=True)
class HostPort:
    protocol: str  # "tcp" | "udp" | "sctp"
    host_port: int
    host_ip: str  # "" = every local address
    pod_ip: str
    container_port: int

    def element(self) -> tuple[str, str]:
        """(map name, element text) of this mapping."""
        if self.host_ip:
            return ("hostip_hostports",
                    f"{self.host_ip} . {self.protocol} . {self.host_port} : {self.pod_ip} . {self.container_port}")
        return "hostports", f"{self.protocol} . {self.host_port} : {self.pod_ip} . {self.container_port}"

    def key(self) -> tuple[str, str]:
        if self.host_ip:
            return "hostip_hostports", f"{self.host_ip} . {self.protocol} . {self.host_port}"
        return "hostports", f"{self.protocol} . {self.host_port}"


def add_hostports(ports: list[HostPort]) -> None:
    """Map every hostPort to its pod in one transaction; a port already mapped elsewhere is replaced."""
    if not ports:
        return
    ensure_table()
    # delete-then-add of a key that is absent fails the whole batch, so remove stale keys separately
    for port in ports:
        name, key = port.key()
        try:
            nft().run(f"delete element ip {TABLE} {name} {{ {key} }}\n")
        except NftablesError:
            pass
    nft().run("".join(f"add element ip {TABLE} {name} {{ {text} }}\n"
                      for name, text in (p.element() for p in ports)))


def remove_hostports(ports: list[HostPort]) -> None:
    """Remove mappings; ones already gone are skipped (DEL is idempotent)."""
    if not ports:
        return
    batch = "".join(f"delete element ip {TABLE} {name} {{ {key} }}\n" for name, key in (p.key() for p in ports))
    try:
        nft().run(batch)
    except NftablesError:
        for port in ports:  # some were absent: delete the rest one by one
            name, key = port.key()
            try:
                nft().run(f"delete element ip {TABLE} {name} {{ {key} }}\n")
            except NftablesError:
                pass


def hostports_present(ports: list[HostPort]) -> list[HostPort]:
    """The mappings among ``ports`` that are missing or point elsewhere (for CHECK)."""
    missing = []
    for port in ports:
        name, key = port.key()
        try:
            out = nft().run(f"get element ip {TABLE} {name} {{ {key} }}\n")
        except NftablesError:
            missing.append(port)
            continue
        if f"{port.pod_ip} . {port.container_port}" not in out:
            missing.append(port)
    return missing
