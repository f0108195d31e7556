"""discovery.k8s.io/v1 EndpointSlices (upstream ``pkg/apis/discovery/validation``, ``ValidateEndpointSlice``).

An address type (immutable), at most 1000 endpoints of 1..100 addresses of that type (IPs that are not
loopback, link-local or unspecified; or FQDNs), valid hostnames and node names, and at most 20000 ports
with unique names; ports default to protocol TCP and name "" (``SetDefaults_EndpointPort``).
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.core import (
    is_api_server_endpoints,
    validate_dns_label,
    validate_endpoint_ip,
    validate_node_name,
    validate_port_number,
    validate_port_protocol,
)
from kubelite.controlplane.apiserver.kinds.workloads import Obj
from kubelite.controlplane.apiserver.strategy import Strategy

ADDRESS_TYPES: Final = ("FQDN", "IPv4", "IPv6")
MAX_ENDPOINTS: Final = 1000
MAX_ADDRESSES: Final = 100
MAX_PORTS: Final = 20000


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def validate_address(address: Any, address_type: str, path: Path, *, allow_loopback: bool = False) -> list[FieldError]:
    if not isinstance(address, str):
        return [FieldError.type_invalid(path, address, "must be of type string")]
    if address_type == "FQDN":
        return [FieldError.invalid(path, address, msg) for msg in validation.is_dns1123_subdomain(address)]
    version = 4 if address_type == "IPv4" else 6
    problems = validation.is_valid_ip_for_legacy_field(path, address)
    if problems:
        return problems
    if (":" in address) != (version == 6):
        return [FieldError.invalid(path, address, f"must be a valid IPv{version} address")]
    return validate_endpoint_ip(address, path, allow_loopback=allow_loopback)


class EndpointSliceStrategy(Strategy):
    """discovery.k8s.io/v1 EndpointSlice."""

    def default(self, obj: Obj) -> None:
        for port in _list(obj.get("ports")):
            if isinstance(port, dict):
                port.setdefault("name", "")
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        address_type = obj.get("addressType")
        if not address_type:
            problems.append(FieldError.required(Path("addressType"), ""))
        elif address_type not in ADDRESS_TYPES:
            problems.append(FieldError.not_supported(Path("addressType"), address_type, ADDRESS_TYPES))
        endpoints = _list(obj.get("endpoints"))
        own = is_api_server_endpoints(obj)
        if len(endpoints) > MAX_ENDPOINTS:
            problems.append(FieldError.too_many(Path("endpoints"), len(endpoints), MAX_ENDPOINTS))
        for i, endpoint in enumerate(endpoints):
            epath = Path("endpoints").index(i)
            if not isinstance(endpoint, dict):
                problems.append(FieldError.type_invalid(epath, endpoint, "must be of type object"))
                continue
            addresses = _list(endpoint.get("addresses"))
            apath = epath.child("addresses")
            if not addresses:
                problems.append(FieldError.required(apath, "must contain at least 1 address"))
            elif len(addresses) > MAX_ADDRESSES:
                problems.append(FieldError.too_many(apath, len(addresses), MAX_ADDRESSES))
            elif address_type in ADDRESS_TYPES:
                for j, address in enumerate(addresses):
                    problems.extend(validate_address(address, str(address_type), apath.index(j),
                                                     allow_loopback=own))
            if endpoint.get("nodeName"):
                problems.extend(validate_node_name(endpoint["nodeName"], epath.child("nodeName")))
            if endpoint.get("hostname") is not None:
                problems.extend(validate_dns_label(endpoint["hostname"], epath.child("hostname")))
            problems.extend(validation.validate_labels(endpoint.get("deprecatedTopology"),
                                                       epath.child("deprecatedTopology")))
        ports = _list(obj.get("ports"))
        if len(ports) > MAX_PORTS:
            problems.append(FieldError.too_many(Path("ports"), len(ports), MAX_PORTS))
        names: set[str] = set()
        for i, port in enumerate(ports):
            ppath = Path("ports").index(i)
            if not isinstance(port, dict):
                problems.append(FieldError.type_invalid(ppath, port, "must be of type object"))
                continue
            name = str(port.get("name") or "")
            if name:
                problems.extend(validate_dns_label(name, ppath.child("name")))
            if name in names:
                problems.append(FieldError.duplicate(ppath.child("name"), name))
            names.add(name)
            problems.extend(validate_port_protocol(port.get("protocol"), ppath.child("protocol")))
            if port.get("port") is not None:
                problems.extend(validate_port_number(port["port"], ppath.child("port")))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old),
                *validation.validate_immutable_field(new.get("addressType"), old.get("addressType"),
                                                     Path("addressType"))]

