"""From Services and EndpointSlices to what this node must program: one ``ServicePortSpec`` per port.

This is kube-proxy's ``ServiceChangeTracker`` + ``EndpointsChangeTracker`` + ``CategorizeEndpoints``
reduced to one pure function, :func:`service_port_specs`, and a small cache, :class:`ServiceState`, that
remembers which services changed since the last sync (a change to a Service or to any of its slices
marks the service dirty; the proxier recompiles only dirty services).

Upstream semantics kept here:

* headless Services (``clusterIP: None``) and ``ExternalName`` Services are not proxied;
* EndpointSlices join their Service through the ``kubernetes.io/service-name`` label and a Service port
  through the slice port of the same name and protocol; an endpoint's first address is used; the same
  address and port from two slices counts once;
* readiness: ``ready`` unset means ready; ``serving`` unset means ``ready``; ``terminating`` unset
  means false. Ready endpoints are used; only when there is none are serving-and-terminating ones used
  (kube-proxy's terminating-endpoint fallback), separately for cluster-wide and node-local endpoints;
* ``internalTrafficPolicy: Local`` (ClusterIP traffic) and ``externalTrafficPolicy: Local`` (NodePort,
  externalIPs, LoadBalancer ingress) use only this node's endpoints and keep the client's address;
  traffic with no usable endpoint is rejected when the Service has no endpoints anywhere, dropped
  when it has some elsewhere;
* ``sessionAffinity: ClientIP`` with ``sessionAffinityConfig.clientIP.timeoutSeconds`` (10800 by default);
* dual stack, as kube-proxy's one proxier per IP family: a Service is programmed in a family when it has
  a ClusterIP of that family (``spec.clusterIPs``); that family's spec takes the externalIPs and
  LoadBalancer ingress IPs of the family and the endpoints of EndpointSlices with that ``addressType``
  (IPv4 -> table ``ip kubelite``, IPv6 -> ``ip6 kubelite``). Categorisation (ready, terminating, local)
  is done per family, as each upstream proxier does it alone. IPv6 addresses are written canonically.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import socket
from collections.abc import Iterable
from typing import Any, NamedTuple

from kubelite.native.nft_compiler import ServicePortSpec

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800
PROXIED_PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}


class Endpoint(NamedTuple):
    ip: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    local: bool


@functools.lru_cache(maxsize=65536)
def service_port_id(namespace: str, name: str, port_name: str, protocol: str) -> str:
    """A short stable name for per-service nft objects."""
    return hashlib.sha256(f"{namespace}/{name}/{port_name}/{protocol}".encode()).hexdigest()[:12]


FAMILY_OF_ADDRESS_TYPE = {"IPv4": "ip", "IPv6": "ip6"}
V6_SUFFIX = "-v6"
"""Appended to the spec id of a port's IPv6 half, so both halves of a dual-stack port stay apart."""


def _address(value: object) -> tuple[str, str] | None:
    """(family, address) of an IPv4 or IPv6 address (IPv6 in canonical form), None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        # inet_pton is strict (four decimal octets, no leading zeros) and ~20x faster than ipaddress,
        # which matters at 50,000 endpoints per full recompute
        socket.inet_pton(socket.AF_INET, value)
        return "ip", value
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, value)
    except OSError:
        return None
    return "ip6", socket.inet_ntop(socket.AF_INET6, packed)


def _by_family(values: Iterable[object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"ip": [], "ip6": []}
    for value in values:
        parsed = _address(value)
        if parsed is not None and parsed[1] not in out[parsed[0]]:
            out[parsed[0]].append(parsed[1])
    return out


ParsedSlice = dict[tuple[str, str], list[tuple[tuple[bytes, int], Endpoint]]]
"""One EndpointSlice parsed: (port name, protocol) -> [((packed address, port), endpoint)]; the packed
address is 4 bytes (IPv4 slice) or 16 (IPv6 slice)."""


def parse_slice(es: Obj, *, node_name: str) -> ParsedSlice:
    """An EndpointSlice's endpoints per port, parsed once when the slice arrives (kube-proxy's
    EndpointSliceCache does the same), so that a sync only merges them."""
    address_type = es.get("addressType", "IPv4")
    if address_type not in FAMILY_OF_ADDRESS_TYPE:
        return {}  # FQDN slices are not proxied (as upstream)
    pton = socket.inet_pton
    v6 = address_type == "IPv6"
    af = socket.AF_INET6 if v6 else socket.AF_INET
    base: list[tuple[bytes, str, bool, bool, bool, bool]] = []
    for ep in es.get("endpoints") or ():
        addresses = ep.get("addresses")
        if not addresses:
            continue
        ip = addresses[0]
        try:
            packed = pton(af, ip)  # validates (strict dotted quad) and is the sort key
        except (OSError, TypeError):
            continue
        if v6:
            ip = socket.inet_ntop(af, packed)
        cond = ep.get("conditions") or {}
        ready = cond.get("ready")
        ready = ready if ready is True or ready is False else True
        serving = cond.get("serving")
        base.append((packed, ip, ready, serving if serving is True or serving is False else ready,
                     cond.get("terminating") is True, bool(node_name) and ep.get("nodeName") == node_name))
    parsed: ParsedSlice = {}
    for p in es.get("ports") or ():
        port = p.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            continue
        parsed[(p.get("name") or "", p.get("protocol") or "TCP")] = [
            ((packed, port), Endpoint(ip, port, ready, serving, terminating, local))
            for packed, ip, ready, serving, terminating, local in base]
    return parsed


def merge_endpoints(parsed: Iterable[ParsedSlice], *, port_name: str, protocol: str,
                    family: str = "ip") -> list[Endpoint]:
    """The endpoints of one Service port and IP family across its slices, deduplicated, in address order."""
    size = 16 if family == "ip6" else 4
    seen: dict[tuple[bytes, int], Endpoint] = {}
    for slice_ports in parsed:
        for key, endpoint in slice_ports.get((port_name, protocol), ()):
            if len(key[0]) == size:
                seen.setdefault(key, endpoint)
    return [seen[k] for k in sorted(seen)]


def slice_endpoints(slices: Iterable[Obj], *, port_name: str, protocol: str, node_name: str,
                    family: str = "ip") -> list[Endpoint]:
    """``merge_endpoints`` straight from EndpointSlice objects."""
    return merge_endpoints((parse_slice(es, node_name=node_name) for es in slices), port_name=port_name,
                           protocol=protocol, family=family)


def categorize(endpoints: list[Endpoint], *, local_internal: bool,
               local_external: bool) -> tuple[list[Endpoint], list[Endpoint], bool]:
    """(internal, external, has_any) as upstream's CategorizeEndpoints without topology hints."""
    cluster = [e for e in endpoints if e.ready] or [e for e in endpoints if e.serving and e.terminating]
    has_any = bool(cluster)
    local: list[Endpoint] = []
    if local_internal or local_external:
        local = ([e for e in endpoints if e.local and e.ready]
                 or [e for e in endpoints if e.local and e.serving and e.terminating])
        has_any = has_any or any(e.ready or (e.serving and e.terminating) for e in endpoints)
    return (local if local_internal else cluster), (local if local_external else cluster), has_any


def service_port_specs(service: Obj, slices: Iterable[Obj], *, node_name: str,
                       parsed: list[ParsedSlice] | None = None) -> list[ServicePortSpec]:
    """Every proxied port of ``service`` with the endpoints this node uses for it; [] if not proxied.

    ``parsed``: the slices already through :func:`parse_slice` (then ``slices`` is not read)."""
    md = service.get("metadata") or {}
    spec = service.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "ExternalName":
        return []
    cluster_ip = spec.get("clusterIP")
    if cluster_ip in (None, "", "None"):
        return []  # headless: DNS only
    cluster_by_family = _by_family(spec.get("clusterIPs") or [cluster_ip])
    external_values: list[object] = list(spec.get("externalIPs") or [])
    if svc_type == "LoadBalancer":
        for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if ingress.get("ipMode") != "Proxy":
                external_values.append(ingress.get("ip"))
    external_by_family = _by_family(external_values)
    local_internal = spec.get("internalTrafficPolicy") == "Local"
    local_external = spec.get("externalTrafficPolicy") == "Local" and (
        bool(external_values) or svc_type in ("NodePort", "LoadBalancer"))
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds")
        affinity = timeout if isinstance(timeout, int) and 0 < timeout <= 86400 else DEFAULT_AFFINITY_TIMEOUT
    if parsed is None:
        parsed = [parse_slice(es, node_name=node_name) for es in slices]
    out: list[ServicePortSpec] = []
    for family in ("ip", "ip6"):
        cluster_ips = tuple(cluster_by_family[family])
        if not cluster_ips:
            continue  # as kube-proxy's per-family proxier: no ClusterIP of this family, not served in it
        external_ips = tuple(external_by_family[family])
        for port in spec.get("ports") or []:
            protocol = port.get("protocol") or "TCP"
            proto = PROXIED_PROTOCOLS.get(protocol)
            number = port.get("port")
            if proto is None or not isinstance(number, int) or not 1 <= number <= 65535:
                continue
            port_name = port.get("name") or ""
            node_port = port.get("nodePort") if svc_type in ("NodePort", "LoadBalancer") else 0
            if not isinstance(node_port, int) or not 0 <= node_port <= 65535:
                node_port = 0
            endpoints = merge_endpoints(parsed, port_name=port_name, protocol=protocol, family=family)
            internal, ext, has_any = categorize(endpoints, local_internal=local_internal,
                                                local_external=local_external)
            empty = "drop" if has_any else "reject"
            internal_pairs = tuple([(e.ip, e.port) for e in internal])
            # without a Local policy both lists are the same object: one tuple serves both
            ext_pairs = internal_pairs if ext is internal else tuple([(e.ip, e.port) for e in ext])
            sid = service_port_id(md.get("namespace") or "", md.get("name") or "", port_name, protocol)
            out.append(ServicePortSpec(  # positional: this runs for every port of every service in a full sync
                sid if family == "ip" else sid + V6_SUFFIX, proto, number, cluster_ips, external_ips, node_port,
                internal_pairs, ext_pairs, empty, empty, not local_external, affinity, family))
    return out


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"


class ServiceState:
    """Services and their EndpointSlices by service key, plus which services changed since ``take_changes``."""

    def __init__(self, *, node_name: str) -> None:
        self.node_name = node_name
        self._services: dict[str, Obj] = {}
        self._slices: dict[str, dict[str, ParsedSlice]] = {}
        """service key -> slice key -> the slice, parsed."""
        self._slice_owner: dict[str, str] = {}
        """slice key -> service key it was filed under (a relabel moves it)."""
        self._dirty: set[str] = set()

    def set_service(self, service: Obj) -> None:
        key = _key(service)
        if self._services.get(key) is not service:
            self._services[key] = service
            self._dirty.add(key)

    def delete_service(self, service: Obj) -> None:
        key = _key(service)
        if self._services.pop(key, None) is not None:
            self._dirty.add(key)

    def set_slice(self, es: Obj) -> None:
        slice_key = _key(es)
        md = es.get("metadata") or {}
        svc_name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
        self.delete_slice(es)
        if not svc_name:
            return
        key = f"{md.get('namespace') or ''}/{svc_name}"
        try:
            parsed = parse_slice(es, node_name=self.node_name)
        except (AttributeError, TypeError, ValueError) as exc:  # a malformed slice must not stop the proxy
            log.error("EndpointSlice %s is ignored: %s", slice_key, exc)
            parsed = {}
        self._slices.setdefault(key, {})[slice_key] = parsed
        self._slice_owner[slice_key] = key
        self._dirty.add(key)

    def delete_slice(self, es: Obj) -> None:
        slice_key = _key(es)
        owner = self._slice_owner.pop(slice_key, None)
        if owner is not None:
            slices = self._slices.get(owner, {})
            slices.pop(slice_key, None)
            if not slices:
                self._slices.pop(owner, None)
            self._dirty.add(owner)

    def has_changes(self) -> bool:
        return bool(self._dirty)

    def keys(self) -> list[str]:
        return list(self._services)

    def specs(self, key: str) -> list[ServicePortSpec]:
        """The ports to program for one service key ([] when the service is gone or not proxied)."""
        service = self._services.get(key)
        if service is None:
            return []
        try:
            return service_port_specs(service, (), node_name=self.node_name,
                                      parsed=list(self._slices.get(key, {}).values()))
        except (AttributeError, TypeError, ValueError) as exc:  # a malformed object must not stop the proxy
            log.error("service %s is not proxied: %s", key, exc)
            return []

    def take_changes(self) -> set[str]:
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_all(self) -> None:
        self._dirty.update(self._services)
