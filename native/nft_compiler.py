"""The service proxy's rule compiler: desired Service state -> nft command text for one transaction.

Ruleset shape (the measurements in the design notes decide it): the kernel's cost grows with the
number of anonymous sets and with (rules that reference a map) x (elements in it), so per-service data
lives in *elements* of a few named maps and only a handful of rules reference the big ones::

    services chain:  ip daddr . meta l4proto . th dport vmap @service-ips      -> goto svc-<id> | ext-<id> | aff-<id>
                     fib daddr type local ... meta l4proto . th dport vmap @nodeports -> goto np-<id> | affx-<id>
    svc-<id>:        numgen inc mod N vmap @pick-tcp-<N>          (ext-/np-<id>: after ``jump mark-masq``
                                                                    when externalTrafficPolicy is Cluster)
    pick-tcp-<N>:    { 0 : goto idx-tcp-0, ..., N-1 : goto idx-tcp-<N-1> }     (np-: @nppick-tcp-<N>)
    idx-tcp-<i>:     dnat ip to ip daddr . tcp dport map @endpoints-tcp-<i>     (service address . port ->
                                                                                 its i-th endpoint)
    npidx-tcp-<i>:   dnat ip to tcp dport map @nodeport-endpoints-tcp-<i>       (NodePort -> i-th endpoint)

Every service has its own chain, so its ``numgen inc`` counter is its own and round robin is exact per
service, as in kube-proxy's nftables mode. What keeps this cheap where kube-proxy's shape (an anonymous
``vmap { ... }`` per service) is not: the pick maps are named and shared by every service with as many
endpoints, and the only rules that reference the big endpoint maps are the few ``idx`` chains (one per
endpoint index). Measured at 10,000 services x 5 endpoints (tests/bench/proxy_lb_shape_bench.py): about
1.5-2x a shape whose load-balancing chains are shared per endpoint count (where services share counters),
against ~5x (first load) and ~50x (re-applied) for per-service chains that look up the big map themselves.
An endpoint change is still a few element updates; a change in a service's endpoint count also rewrites
its one-rule chain. The endpoint maps are per protocol because their key type is declared with
``typeof ... tcp dport``: nft 1.0.6 cannot read back a ``typeof`` holding ``th dport`` from the kernel,
and a ``tcp dport`` lookup carries an implicit ``meta l4proto tcp`` match.
Services with ClientIP session affinity (rare) get their own chains and one dynamic timeout set per
endpoint, as kube-proxy's nftables mode does. Services without usable endpoints are listed in
``no-endpoint-services``/``no-endpoint-nodeports``, verdict maps checked by filter chains that reject
(or drop) new connections instead of letting them hang. IPv4 and IPv6 have one table each
(``ip kubelite``, ``ip6 kubelite``) of the same shape; a :class:`ServicePortSpec` belongs to one family.

Compilation happens in two layers:

* ``compile_service`` (hot, per service port): a :class:`ServicePortSpec` -> its contributions, the
  map/set elements, chains and sets it needs. It runs in the Cython kernel ``_nft_compiler`` when built;
  ``compile_service_py`` below is the pure twin that defines the output (tests hold both equal).
* :class:`RuleSet` keeps what was applied, per owner, and renders either the full ruleset or the delta
  since the last successful apply: only changed elements and chains are written. Two services that
  claim the same key (two Services with one externalIP and port) do not fight: the one with the
  smaller id owns it (whatever the order of events) and the other takes over when it goes.
"""

from __future__ import annotations

import functools
import socket
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple

TABLE = "kubelite"
FAMILY = "ip"
FAMILIES = ("ip", "ip6")
"""nft families of the two tables: ``ip kubelite`` (IPv4) and ``ip6 kubelite`` (IPv6), each its own ruleset."""
ADDRESS_TYPES = {"ip": "ipv4_addr", "ip6": "ipv6_addr"}
MASQ_BIT = 0x4000

# named maps and sets of the table (elements are owned per service)
SERVICE_IPS = "service-ips"
NODEPORTS = "nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
HAIRPIN = "hairpin"
PROTOCOLS = ("tcp", "udp", "sctp")
MAPS = (SERVICE_IPS, NODEPORTS, NO_ENDPOINT_SERVICES, NO_ENDPOINT_NODEPORTS)
"""The fixed maps; the load-balancing maps (``pick-*``, ``endpoints-*``) come and go with the services."""
SETS = (HAIRPIN,)
SHARED_PREFIXES = (HAIRPIN, "pick-", "nppick-")
"""Maps and sets whose elements several services legitimately share (reference counted, not owned)."""
PICK_DECL = "typeof numgen inc mod 2 : verdict ;"
_SHARED_NAMES: dict[str, bool] = {}
"""Map/set name -> whether its elements are shared (a cache of ``startswith(SHARED_PREFIXES)``)."""

LB_MODES = {"round-robin": "inc", "random": "random"}
EMPTY_VERDICTS = {"reject": "goto reject-chain", "drop": "drop"}


class ServicePortSpec(NamedTuple):
    """One Service port of one IP family as the proxy must program it on this node.

    Every address is of ``family`` (a dual-stack Service gives one spec per family and port)."""

    id: str
    """Stable short name for per-service objects (a hash of namespace/name/port/protocol)."""
    protocol: str
    port: int
    cluster_ips: tuple[str, ...]
    external_ips: tuple[str, ...]
    """externalIPs and LoadBalancer ingress IPs: external traffic, served at ``port``."""
    node_port: int
    """0: none."""
    internal_endpoints: tuple[tuple[str, int], ...]
    """(ip, port) serving cluster-internal traffic (ClusterIP), after traffic policy and readiness."""
    external_endpoints: tuple[tuple[str, int], ...]
    """(ip, port) serving external traffic (NodePort, externalIPs, LoadBalancer)."""
    internal_empty: str = "reject"
    """What happens to internal traffic when ``internal_endpoints`` is empty: ``reject`` or ``drop``."""
    external_empty: str = "reject"
    external_masquerade: bool = True
    """externalTrafficPolicy Cluster: external sources are masqueraded (Local keeps the source)."""
    affinity_timeout: int = 0
    """ClientIP session affinity timeout in seconds; 0: no affinity."""
    family: str = "ip"
    """``ip`` (IPv4 addresses, table ``ip kubelite``) or ``ip6`` (IPv6, table ``ip6 kubelite``)."""


class Compiled(NamedTuple):
    """What one service port contributes to the ruleset."""

    elements: tuple[tuple[str, str, str], ...]
    """(map or set, key, value); value "" for set elements."""
    chains: tuple[tuple[str, tuple[str, ...]], ...]
    """(chain name, its rules); shared load-balancing chains appear in many services' lists."""
    sets: tuple[tuple[str, str], ...]
    """(set name, declaration) of per-service dynamic sets."""
    picks: tuple[tuple[str, str, int], ...] = ()
    """(kind, protocol, endpoint count) of the pick maps its chains use (kind "" or "np"): the rule set
    adds each :func:`pick_bundle` once, while any service uses it."""
    maps: tuple[tuple[str, str], ...] = ()
    """(map name, declaration): the maps of a :func:`pick_bundle`."""


# ---- pure-Python twin of the kernel: the reference output --------------------------------------------


def _ep_name(ip: str, port: int) -> str:
    return ip.replace(".", "-").replace(":", "-") + "-" + str(port)


def _affinity_chain(spec: ServicePortSpec, endpoints: tuple[tuple[str, int], ...], masquerade: bool,
                    numgen: str) -> tuple[str, ...]:
    rules: list[str] = []
    if masquerade:
        rules.append("jump mark-masq")
    targets: list[str] = []
    for i, (ip, port) in enumerate(endpoints):
        name = _ep_name(ip, port)
        rules.append(f"{spec.family} saddr @affs-{spec.id}-{spec.affinity_timeout}-{name} goto aep-{spec.id}-{name}")
        targets.append(f"{i} : goto aep-{spec.id}-{name}")
    rules.append(f"numgen {numgen} mod {len(endpoints)} vmap {{ {', '.join(targets)} }}")
    return tuple(rules)


def compile_service_py(spec: ServicePortSpec, numgen: str) -> Compiled:
    """The contributions of one service port (pure twin of ``_nft_compiler.compile_service``)."""
    proto = spec.protocol
    port = spec.port
    fam = spec.family
    elements: list[tuple[str, str, str]] = []
    chains: list[tuple[str, tuple[str, ...]]] = []
    sets: list[tuple[str, str]] = []
    internal = spec.internal_endpoints
    external = spec.external_endpoints
    n_int = len(internal)
    n_ext = len(external)
    affinity = spec.affinity_timeout > 0
    if affinity:
        int_target = f"goto aff-{spec.id}"
        ext_target = np_target = f"goto affx-{spec.id}"
    else:
        int_target = f"goto svc-{spec.id}"
        ext_target = f"goto ext-{spec.id}"
        np_target = f"goto np-{spec.id}"

    for vip in spec.cluster_ips:
        key = f"{vip} . {proto} . {port}"
        if n_int:
            elements.append((SERVICE_IPS, key, int_target))
            if not affinity:
                for i in range(n_int):
                    ip, tport = internal[i]
                    elements.append((f"endpoints-{proto}-{i}", f"{vip} . {port}", f"{ip} . {tport}"))
        else:
            elements.append((NO_ENDPOINT_SERVICES, key, EMPTY_VERDICTS[spec.internal_empty]))
    for vip in spec.external_ips:
        key = f"{vip} . {proto} . {port}"
        if n_ext:
            elements.append((SERVICE_IPS, key, ext_target))
            if not affinity:
                for i in range(n_ext):
                    ip, tport = external[i]
                    elements.append((f"endpoints-{proto}-{i}", f"{vip} . {port}", f"{ip} . {tport}"))
        else:
            elements.append((NO_ENDPOINT_SERVICES, key, EMPTY_VERDICTS[spec.external_empty]))
    if spec.node_port:
        key = f"{proto} . {spec.node_port}"
        if n_ext:
            elements.append((NODEPORTS, key, np_target))
            if not affinity:
                for i in range(n_ext):
                    ip, tport = external[i]
                    elements.append((f"nodeport-endpoints-{proto}-{i}", str(spec.node_port), f"{ip} . {tport}"))
        else:
            elements.append((NO_ENDPOINT_NODEPORTS, key, EMPTY_VERDICTS[spec.external_empty]))

    has_internal = n_int > 0 and len(spec.cluster_ips) > 0
    has_external = n_ext > 0 and (len(spec.external_ips) > 0 or spec.node_port > 0)
    used: list[tuple[str, int]] = []
    if has_internal:
        used.extend(internal)
    if has_external:
        used.extend(ep for ep in external if ep not in used)
    for ip, _ in used:
        elements.append((HAIRPIN, f"{ip} . {ip}", ""))

    if affinity:
        if has_internal:
            chains.append((f"aff-{spec.id}", _affinity_chain(spec, internal, False, numgen)))
        if has_external:
            chains.append((f"affx-{spec.id}", _affinity_chain(spec, external, spec.external_masquerade, numgen)))
        for ip, tport in used:
            name = _ep_name(ip, tport)
            set_name = f"affs-{spec.id}-{spec.affinity_timeout}-{name}"
            sets.append((set_name, f"type {ADDRESS_TYPES[fam]} ; flags dynamic,timeout ; "
                                   f"timeout {spec.affinity_timeout}s ;"))
            target = f"[{ip}]:{tport}" if fam == "ip6" else f"{ip}:{tport}"
            chains.append((f"aep-{spec.id}-{name}", (
                f"update @{set_name} {{ {fam} saddr }}",
                f"meta l4proto {proto} dnat {fam} to {target}",
            )))
    else:
        # per-service chains, each with its own numgen counter (exact round robin per service, as kube-proxy),
        # whose pick goes through a named verdict map shared by services with as many endpoints
        masq = ("jump mark-masq",) if spec.external_masquerade else ()
        picks: list[tuple[str, str, int]] = []
        if n_int and spec.cluster_ips:
            chains.append((f"svc-{spec.id}", (f"numgen {numgen} mod {n_int} vmap @pick-{proto}-{n_int}",)))
            picks.append(("", proto, n_int))
        if n_ext and spec.external_ips:
            chains.append((f"ext-{spec.id}", (*masq, f"numgen {numgen} mod {n_ext} vmap @pick-{proto}-{n_ext}")))
            if ("", proto, n_ext) not in picks:
                picks.append(("", proto, n_ext))
        if n_ext and spec.node_port:
            chains.append((f"np-{spec.id}", (*masq, f"numgen {numgen} mod {n_ext} vmap @nppick-{proto}-{n_ext}")))
            picks.append(("np", proto, n_ext))
        return Compiled(tuple(elements), tuple(chains), tuple(sets), tuple(picks))
    return Compiled(tuple(elements), tuple(chains), tuple(sets))


@functools.lru_cache(maxsize=4096)
def pick_bundle(family: str, kind: str, proto: str, n: int) -> Compiled:
    """The shared objects behind ``numgen ... mod n vmap @<kind>pick-<proto>-<n>``: that map, whose element
    i jumps to ``<kind>idx-<proto>-<i>``, a chain that DNATs through the i-th endpoint map (keyed by the
    service address and port, or by the NodePort for kind "np"), and one such map per index."""
    pick = f"{kind}pick-{proto}-{n}"
    if kind:
        endpoint_map = f"nodeport-endpoints-{proto}"
        dnat = f"dnat {family} to {proto} dport map @{endpoint_map}"
        decl = f"typeof {proto} dport : {family} daddr . {proto} dport ;"
    else:
        endpoint_map = f"endpoints-{proto}"
        dnat = f"dnat {family} to {family} daddr . {proto} dport map @{endpoint_map}"
        decl = f"typeof {family} daddr . {proto} dport : {family} daddr . {proto} dport ;"
    elements = tuple((pick, str(i), f"goto {kind}idx-{proto}-{i}") for i in range(n))
    chains = tuple((f"{kind}idx-{proto}-{i}", (f"{dnat}-{i}",)) for i in range(n))
    maps = ((pick, PICK_DECL), *((f"{endpoint_map}-{i}", decl) for i in range(n)))
    return Compiled(elements, chains, (), (), maps)


def render_elements_py(family_table: str, name: str, items: list[tuple[str, str]]) -> str:
    """``add element`` commands for (key, value) pairs, 1000 per command (pure twin)."""
    out: list[str] = []
    for start in range(0, len(items), 1000):
        chunk = items[start:start + 1000]
        body = ", ".join(f"{k} : {v}" if v else k for k, v in chunk)
        out.append(f"add element {family_table} {name} {{ {body} }}\n")
    return "".join(out)


def _load_kernel() -> ModuleType | None:
    try:
        from kubelite.native import _nft_compiler
    except ImportError as exc:
        warnings.warn(f"kubelite.native._nft_compiler is not compiled ({exc}); using the pure-Python twin",
                      RuntimeWarning, stacklevel=2)
        return None
    return _nft_compiler


_kernel = _load_kernel()
IMPLEMENTATION = "cython" if _kernel is not None else "python"


def compile_service(spec: ServicePortSpec, *, lb: str = "round-robin", validate: bool = True) -> Compiled:
    """Validate ``spec`` and return its contributions (compiled kernel when available).

    ``validate=False`` is for callers whose specs are valid by construction (the proxy builds them from
    addresses it has already parsed); at 10,000 services validation costs as much as compiling.
    """
    if validate:
        check_spec(spec)
    numgen = LB_MODES.get(lb)
    if numgen is None:
        raise ValueError(f'unknown load-balancing mode "{lb}": want one of {", ".join(LB_MODES)}')
    if _kernel is not None:
        return Compiled(*_kernel.compile_service(spec, numgen))
    return compile_service_py(spec, numgen)


def render_elements(name: str, items: list[tuple[str, str]], *, family: str = FAMILY) -> str:
    table = f"{family} {TABLE}"
    if _kernel is not None:
        text: str = _kernel.render_elements(table, name, items)
        return text
    return render_elements_py(table, name, items)


def _check_address(value: str, *, family: str, what: str, spec_id: str) -> None:
    try:
        # strict (a dotted quad without leading zeros; IPv6 without a zone), in C: validation must not
        # cost more than compiling at 50,000 endpoints
        socket.inet_pton(socket.AF_INET6 if family == "ip6" else socket.AF_INET, value)
    except (OSError, TypeError):
        version = "IPv6" if family == "ip6" else "IPv4"
        raise ValueError(f"service {spec_id}: {what} {value!r} is not an {version} address") from None


def _check_port(value: int, *, what: str, spec_id: str, allow_zero: bool = False) -> None:
    if not isinstance(value, int) or not (0 if allow_zero else 1) <= value <= 65535:
        raise ValueError(f"service {spec_id}: {what} {value!r} is not a port number (1-65535)")


def check_spec(spec: ServicePortSpec) -> None:
    """Reject a spec whose text would be invalid nft syntax (or would inject commands)."""
    if not spec.id or not all(c.isalnum() or c == "-" for c in spec.id):
        raise ValueError(f"service id {spec.id!r} must be non-empty letters, digits and '-'")
    if spec.family not in FAMILIES:
        raise ValueError(f'service {spec.id}: family "{spec.family}" is not one of {", ".join(FAMILIES)}')
    if spec.protocol not in PROTOCOLS:
        raise ValueError(f'service {spec.id}: protocol "{spec.protocol}" is not one of {", ".join(PROTOCOLS)}')
    _check_port(spec.port, what="port", spec_id=spec.id)
    _check_port(spec.node_port, what="nodePort", spec_id=spec.id, allow_zero=True)
    for ip in (*spec.cluster_ips, *spec.external_ips):
        _check_address(ip, family=spec.family, what="service IP", spec_id=spec.id)
    for ip, port in (*spec.internal_endpoints, *spec.external_endpoints):
        _check_address(ip, family=spec.family, what="endpoint IP", spec_id=spec.id)
        _check_port(port, what="endpoint port", spec_id=spec.id)
    for verdict in (spec.internal_empty, spec.external_empty):
        if verdict not in EMPTY_VERDICTS:
            raise ValueError(f'service {spec.id}: no-endpoint verdict "{verdict}" is not reject or drop')
    if not isinstance(spec.affinity_timeout, int) or not 0 <= spec.affinity_timeout <= 86400:
        raise ValueError(f"service {spec.id}: affinity timeout {spec.affinity_timeout!r} is not 0-86400 seconds")


# ---- the table: skeleton, ownership, full and incremental rendering ---------------------------------


@dataclass(frozen=True)
class TableConfig:
    """Node-wide settings of one family's table that shape its skeleton (changing one needs a full sync)."""

    lb: str = "round-robin"
    cluster_cidr: str = ""
    """Pod CIDR of this family; ClusterIP traffic from other sources is masqueraded."""
    service_cidr: str = ""
    """Service CIDR of this family."""
    nodeport_addresses: tuple[str, ...] = ()
    """CIDRs (of this family) whose local addresses accept NodePorts; empty: every local address except
    loopback."""
    family: str = FAMILY
    """``ip`` or ``ip6``: the table ``<family> kubelite`` this configuration programs."""


BASE_CHAINS = {
    "nat-prerouting": "type nat hook prerouting priority dstnat ;",
    "nat-output": "type nat hook output priority -100 ;",
    "nat-postrouting": "type nat hook postrouting priority srcnat ;",
    "filter-input": "type filter hook input priority -110 ;",
    "filter-forward": "type filter hook forward priority -110 ;",
    "filter-output": "type filter hook output priority -110 ;",
}
HELPER_CHAINS = ("services", "service-endpoints-check", "mark-masq", "reject-chain")


def family_configs(config: TableConfig) -> dict[str, TableConfig]:
    """One configuration per table from ``config``, whose CIDRs may list both families (``a,b`` as the
    dual-stack ``--cluster-cidr``/``--service-cidr`` flags do): each table keeps the CIDRs of its family.
    As upstream's NodePortAddresses, a family without a ``nodeport_addresses`` CIDR of its own serves
    NodePorts on all its local addresses."""

    def of(family: str, cidrs: Iterable[str]) -> list[str]:
        return [c for c in cidrs if c and (":" in c) == (family == "ip6")]

    out: dict[str, TableConfig] = {}
    for family in FAMILIES:
        cluster = of(family, config.cluster_cidr.split(","))
        service = of(family, config.service_cidr.split(","))
        out[family] = TableConfig(
            lb=config.lb, family=family, cluster_cidr=cluster[0] if cluster else "",
            service_cidr=service[0] if service else "", nodeport_addresses=tuple(of(family, config.nodeport_addresses)))
    return out


def map_types(family: str) -> dict[str, str]:
    """The named maps of one family's table and their declarations."""
    addr = ADDRESS_TYPES[family]
    return {
        SERVICE_IPS: f"type {addr} . inet_proto . inet_service : verdict ;",
        NODEPORTS: "type inet_proto . inet_service : verdict ;",
        NO_ENDPOINT_SERVICES: f"type {addr} . inet_proto . inet_service : verdict ;",
        NO_ENDPOINT_NODEPORTS: "type inet_proto . inet_service : verdict ;",
    }


def set_types(family: str) -> dict[str, str]:
    addr = ADDRESS_TYPES[family]
    return {HAIRPIN: f"type {addr} . {addr} ;"}


MAP_TYPES = map_types(FAMILY)
SET_TYPES = set_types(FAMILY)
NODEPORT_ADDRESSES = "nodeport-addresses"
LOOPBACK = {"ip": "127.0.0.0/8", "ip6": "::1"}


def skeleton_rules(config: TableConfig) -> dict[str, tuple[str, ...]]:
    """The fixed rules of the base and helper chains."""
    fam = config.family
    if config.nodeport_addresses:
        local = f"{fam} daddr @{NODEPORT_ADDRESSES} fib daddr type local"
    else:
        local = f"fib daddr type local {fam} daddr != {LOOPBACK[fam]}"
    services: list[str] = []
    if config.cluster_cidr and config.service_cidr:
        services.append(f"{fam} daddr {config.service_cidr} {fam} saddr != {config.cluster_cidr} jump mark-masq")
    services += [f"{fam} daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                 f"{local} meta l4proto . th dport vmap @{NODEPORTS}"]
    return {
        "nat-prerouting": ("jump services",),
        "nat-output": ("jump services",),
        "nat-postrouting": (
            f"ct status dnat {fam} saddr . {fam} daddr @{HAIRPIN} masquerade",
            f"meta mark & {MASQ_BIT:#x} != {MASQ_BIT:#x} return",
            f"meta mark set meta mark ^ {MASQ_BIT:#x}",
            "masquerade fully-random",
        ),
        "filter-input": ("ct state new jump service-endpoints-check",),
        "filter-forward": ("ct state new jump service-endpoints-check",),
        "filter-output": ("ct state new jump service-endpoints-check",),
        "services": tuple(services),
        "service-endpoints-check": (
            f"{fam} daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
            f"{local} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}",
        ),
        "mark-masq": (f"meta mark set meta mark | {MASQ_BIT:#x}",),
        # a TCP reset refuses the connection as an ICMP port-unreachable would, and is not subject to
        # ICMP rate limits or to hosts that do not emit ICMP errors for forwarded packets; other protocols
        # get port-unreachable (ICMP in the ip table, ICMPv6 in the ip6 table: nft picks by family)
        "reject-chain": ("meta l4proto tcp reject with tcp reset", "reject"),
    }


class RuleSet:
    """What the kernel holds (as far as we know), per owner; renders full and incremental transactions.

    Use: ``set_service(id, compiled)`` / ``remove_service(id)`` for every change, then ``full_text()``
    or ``delta_text()``; after nft applied it, ``commit()``; if it failed, ``abort()`` and do a full
    sync next (the kernel state is then unknown).
    """

    def __init__(self, config: TableConfig) -> None:
        if config.lb not in LB_MODES:
            raise ValueError(f'unknown load-balancing mode "{config.lb}": want one of {", ".join(LB_MODES)}')
        if config.family not in FAMILIES:
            raise ValueError(f'unknown table family "{config.family}": want one of {", ".join(FAMILIES)}')
        self.config = config
        self.family = config.family
        self.table = f"{config.family} {TABLE}"
        self._services: dict[str, Compiled] = {}
        self._owner: dict[tuple[str, str], tuple[str, str]] = {}
        """(map, key) -> (owner id, value) for owned elements."""
        self._shadowed: dict[tuple[str, str], dict[str, str]] = {}
        """(map, key) -> {other owner: value} waiting for the key to be freed."""
        self._shared: dict[tuple[str, str], int] = {}
        """(map, key) -> how many services contribute that shared element."""
        self._shared_value: dict[tuple[str, str], str] = {}
        """Value of each shared element (the same for every service contributing it)."""
        self._chains: dict[str, tuple[str, ...]] = {}
        self._chain_refs: Counter[str] = Counter()
        self._sets: dict[str, tuple[str, str]] = {}
        """Per-service sets and shared load-balancing maps: name -> ("set" | "map", declaration)."""
        self._set_refs: Counter[str] = Counter()
        self._pick_refs: Counter[tuple[str, str, int]] = Counter()
        """Services using each pick bundle (added with the first, withdrawn with the last)."""
        self._reset_delta()
        self._applied_chains: dict[str, tuple[str, ...]] = {}
        self._applied_sets: dict[str, tuple[str, str]] = {}
        self._pending: tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, str]]] = ({}, {})

    def begin_full(self) -> None:
        """The next rendering is ``full_text``: changes until then need no delta bookkeeping."""
        self._tracking = False

    def _reset_delta(self) -> None:
        self._tracking = True
        self._add: dict[tuple[str, str], str] = {}
        self._del: dict[tuple[str, str], str] = {}
        self._dirty_chains: set[str] = set()

    # -- state changes ---------------------------------------------------------------------------------

    def set_service(self, service_id: str, compiled: Compiled) -> None:
        old = self._services.get(service_id)
        if old == compiled:
            return
        if old is not None:
            self._withdraw(service_id, old)
        self._services[service_id] = compiled
        self._contribute(service_id, compiled)

    def remove_service(self, service_id: str) -> None:
        old = self._services.pop(service_id, None)
        if old is not None:
            self._withdraw(service_id, old)

    def service_ids(self) -> set[str]:
        return set(self._services)

    def _element_added(self, name: str, key: str, value: str) -> None:
        if not self._tracking:
            return
        k = (name, key)
        if k in self._del and self._del[k] == value:
            del self._del[k]  # back to what the kernel has
        else:
            self._add[k] = value

    def _element_removed(self, name: str, key: str, value: str) -> None:
        if not self._tracking:
            return
        k = (name, key)
        if k in self._add:
            # never applied; if it replaced an applied value, _del already holds that one
            del self._add[k]
        else:
            self._del[k] = value

    def _contribute(self, owner: str, compiled: Compiled) -> None:
        # the hot loop of a full sync (every element of every service): plain dict operations only
        track = self._tracking
        owners = self._owner
        shared = self._shared
        is_shared = _SHARED_NAMES
        for name, key, value in compiled.elements:
            k = (name, key)
            known = is_shared.get(name)
            if known is None:
                known = is_shared[name] = name.startswith(SHARED_PREFIXES)
            if known:
                count = shared.get(k, 0) + 1
                shared[k] = count
                if count == 1:
                    self._shared_value[k] = value
                    if track:
                        self._element_added(name, key, value)
                continue
            current = owners.get(k)
            if current is None:
                owners[k] = (owner, value)
                if track:
                    self._element_added(name, key, value)
            elif owner < current[0]:
                # the smallest id owns a contested key, whatever the order of events, so a full sync after
                # a restart writes what the incremental syncs wrote
                self._shadowed.setdefault(k, {})[current[0]] = current[1]
                owners[k] = (owner, value)
                if current[1] != value:
                    self._element_removed(name, key, current[1])
                    self._element_added(name, key, value)
            else:
                self._shadowed.setdefault(k, {})[owner] = value
        for chain, rules in compiled.chains:
            self._chain_refs[chain] += 1
            if self._chains.get(chain) != rules:
                self._chains[chain] = rules
                self._dirty_chains.add(chain)
        for set_name, decl in compiled.sets:
            self._set_refs[set_name] += 1
            self._sets[set_name] = ("set", decl)
        for map_name, decl in compiled.maps:
            self._set_refs[map_name] += 1
            self._sets[map_name] = ("map", decl)
        for pick in compiled.picks:
            self._pick_refs[pick] += 1
            if self._pick_refs[pick] == 1:
                self._contribute("", pick_bundle(self.family, *pick))

    def _withdraw(self, owner: str, compiled: Compiled) -> None:
        for name, key, value in compiled.elements:
            k = (name, key)
            if name.startswith(SHARED_PREFIXES):
                self._shared[k] -= 1
                if self._shared[k] <= 0:
                    del self._shared[k]
                    del self._shared_value[k]
                    self._element_removed(name, key, value)
                continue
            current = self._owner.get(k)
            if current is not None and current[0] == owner:
                del self._owner[k]
                self._element_removed(name, key, value)
                waiting = self._shadowed.get(k)
                if waiting:
                    heir = min(waiting)
                    heir_value = waiting.pop(heir)
                    if not waiting:
                        del self._shadowed[k]
                    self._owner[k] = (heir, heir_value)
                    self._element_added(name, key, heir_value)
            else:
                waiting = self._shadowed.get(k)
                if waiting is not None:
                    waiting.pop(owner, None)
                    if not waiting:
                        del self._shadowed[k]
        for chain, _ in compiled.chains:
            self._chain_refs[chain] -= 1
            if self._chain_refs[chain] <= 0:
                del self._chain_refs[chain]
                del self._chains[chain]
                self._dirty_chains.add(chain)
        for set_name, _ in (*compiled.sets, *compiled.maps):
            self._set_refs[set_name] -= 1
            if self._set_refs[set_name] <= 0:
                del self._set_refs[set_name]
                del self._sets[set_name]
        for pick in compiled.picks:
            self._pick_refs[pick] -= 1
            if self._pick_refs[pick] <= 0:
                del self._pick_refs[pick]
                self._withdraw("", pick_bundle(self.family, *pick))

    # -- rendering -------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Objects the ruleset holds: rules (in chains), elements, chains, sets."""
        rules = sum(len(r) for r in skeleton_rules(self.config).values()) + sum(len(r) for r in self._chains.values())
        return {"rules": rules, "elements": len(self._owner) + len(self._shared),
                "chains": len(BASE_CHAINS) + len(HELPER_CHAINS) + len(self._chains), "sets": len(self._sets)}

    def full_text(self, *, recreate: bool) -> str:
        """The whole ruleset. ``recreate``: delete the table first (start-up: clears anything stale)."""
        t = self.table
        out: list[str] = [f"add table {t}\n"]
        if recreate:
            out.append(f"delete table {t}\nadd table {t}\n")
        for chain, hook in BASE_CHAINS.items():
            out.append(f"add chain {t} {chain} {{ {hook} }}\n")
        for chain in HELPER_CHAINS:
            out.append(f"add chain {t} {chain}\n")
        for name, decl in map_types(self.family).items():
            out.append(f"add map {t} {name} {{ {decl} }}\n")
        for name, decl in set_types(self.family).items():
            out.append(f"add set {t} {name} {{ {decl} }}\n")
        if self.config.nodeport_addresses:
            out.append(f"add set {t} {NODEPORT_ADDRESSES} {{ type {ADDRESS_TYPES[self.family]} ; flags interval ; }}\n")
            out.append(f"flush set {t} {NODEPORT_ADDRESSES}\n")
            out.append(f"add element {t} {NODEPORT_ADDRESSES} {{ {', '.join(self.config.nodeport_addresses)} }}\n")
        for name in (*MAPS, *SETS):
            out.append(f"flush {'set' if name in SETS else 'map'} {t} {name}\n")
        for name, (kind, decl) in self._sets.items():
            out.append(f"add {kind} {t} {name} {{ {decl} }}\n")
            if kind == "map":  # the load-balancing maps are refilled; affinity sets keep their clients
                out.append(f"flush map {t} {name}\n")
        for chain in self._chains:
            out.append(f"add chain {t} {chain}\n")
        for chain, rules in skeleton_rules(self.config).items():
            out.append(f"flush chain {t} {chain}\n")
            out.extend(f"add rule {t} {chain} {rule}\n" for rule in rules)
        for chain, rules in self._chains.items():
            out.append(f"flush chain {t} {chain}\n")
            out.extend(f"add rule {t} {chain} {rule}\n" for rule in rules)
        if not recreate:
            self._drop_stale(out, chains=set(self._applied_chains) - set(self._chains),
                             sets={n: d for n, d in self._applied_sets.items() if n not in self._sets})
        grouped: dict[str, list[tuple[str, str]]] = {}
        for (name, key), (_, value) in self._owner.items():
            grouped.setdefault(name, []).append((key, value))
        for (name, key), value in self._shared_value.items():
            grouped.setdefault(name, []).append((key, value))
        for name, items in grouped.items():
            out.append(render_elements(name, items, family=self.family))
        self._pending = (dict(self._chains), dict(self._sets))
        return "".join(out)

    def _drop_stale(self, out: list[str], *, chains: Iterable[str], sets: dict[str, tuple[str, str]]) -> None:
        # "add" first so that the delete cannot fail on an object someone else already removed;
        # chains are flushed before any is deleted, since one may jump to another, and so are the maps,
        # since a pick map's elements jump to chains
        t = self.table
        chains = sorted(chains)
        for name in sorted(sets):
            kind, decl = sets[name]
            out.append(f"add {kind} {t} {name} {{ {decl} }}\nflush {kind} {t} {name}\n")
        for chain in chains:
            out.append(f"add chain {t} {chain}\nflush chain {t} {chain}\n")
        for chain in chains:
            out.append(f"delete chain {t} {chain}\n")
        for name in sorted(sets):
            out.append(f"delete {sets[name][0]} {t} {name}\n")

    def delta_text(self) -> str:
        """Only what changed since the last commit; "" when nothing did."""
        t = self.table
        out: list[str] = []
        for name in sorted(set(self._sets) - set(self._applied_sets)):
            kind, decl = self._sets[name]
            out.append(f"add {kind} {t} {name} {{ {decl} }}\n")
        live_dirty = sorted(c for c in self._dirty_chains
                            if c in self._chains and self._chains[c] != self._applied_chains.get(c))
        for chain in live_dirty:
            out.append(f"add chain {t} {chain}\nflush chain {t} {chain}\n")
            out.extend(f"add rule {t} {chain} {rule}\n" for rule in self._chains[chain])
        deletes: dict[str, list[str]] = {}
        for (name, key) in self._del:
            deletes.setdefault(name, []).append(key)
        for name, keys in deletes.items():
            for start in range(0, len(keys), 1000):
                out.append(f"delete element {t} {name} {{ {', '.join(keys[start:start + 1000])} }}\n")
        adds: dict[str, list[tuple[str, str]]] = {}
        for (name, key), value in self._add.items():
            adds.setdefault(name, []).append((key, value))
        for name, items in adds.items():
            out.append(render_elements(name, items, family=self.family))
        gone_chains = [c for c in self._dirty_chains if c not in self._chains and c in self._applied_chains]
        gone_sets = {n: d for n, d in self._applied_sets.items() if n not in self._sets}
        if gone_chains or gone_sets:
            self._drop_stale(out, chains=gone_chains, sets=gone_sets)
        self._pending = (dict(self._chains), dict(self._sets))
        return "".join(out)

    def commit(self) -> None:
        """The last rendered text was applied."""
        self._applied_chains, self._applied_sets = self._pending
        self._reset_delta()

    def abort(self) -> None:
        """The last rendered text failed: forget the delta; the caller does a full sync next."""
        self._reset_delta()
