"""networking.k8s.io/v1 NetworkPolicies and IngressClasses (upstream ``pkg/apis/networking/validation``).

* NetworkPolicy: ``ValidateNetworkPolicySpec`` (selectors, ports and port ranges, peers of exactly one
  kind with ipBlock alone, ``except`` a strict subset of ``cidr``, policyTypes) and upstream's defaults
  (ports TCP; policyTypes ``[Ingress]`` plus ``Egress`` when there are egress rules).
* IngressClass: ``spec.controller`` is a domain-prefixed path of at most 250 characters, immutable.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import Strategy

PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
POLICY_TYPES: Final = ("Ingress", "Egress")
MAX_CONTROLLER_LENGTH: Final = 250
HTTP_PATH_FMT: Final = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
_HTTP_PATH: Final = re.compile(f"^{HTTP_PATH_FMT}$")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def validate_policy_port(port: Obj, path: Path) -> list[FieldError]:
    """Upstream ``ValidateNetworkPolicyPort``."""
    problems: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        problems.append(FieldError.not_supported(path.child("protocol"), protocol, PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if number is None:
        if end is not None:
            problems.append(FieldError.invalid(path.child("endPort"), end,
                                               "may not be specified when `port` is not specified"))
    elif isinstance(number, int) and not isinstance(number, bool):
        problems.extend(FieldError.invalid(path.child("port"), number, m) for m in validation.is_valid_port_num(number))
        if isinstance(end, int) and not isinstance(end, bool):
            if end < number:
                problems.append(FieldError.invalid(path.child("endPort"), number,
                                                   "must be greater than or equal to `port`"))
            problems.extend(FieldError.invalid(path.child("endPort"), end, m)
                            for m in validation.is_valid_port_num(end))
    else:
        if end is not None:
            problems.append(FieldError.invalid(path.child("endPort"), end,
                                               "may not be specified when `port` is non-numeric"))
        problems.extend(FieldError.invalid(path.child("port"), number, m)
                        for m in validation.is_valid_port_name(str(number)))
    return problems


def validate_ip_block(block: Obj, path: Path) -> list[FieldError]:
    """Upstream ``ValidateIPBlock``: a CIDR, and exceptions strictly inside it."""
    cidr = str(block.get("cidr") or "")
    if not cidr:
        return [FieldError.required(path.child("cidr"), "")]
    problems = validation.is_valid_cidr_for_legacy_field(path.child("cidr"), cidr)
    if problems:
        return problems
    network = ipaddress.ip_network(cidr, strict=False)
    for i, text in enumerate(_list(block.get("except"))):
        epath = path.child("except").index(i)
        errors = validation.is_valid_cidr_for_legacy_field(epath, str(text))
        if errors:
            problems.extend(errors)
            continue
        inner = ipaddress.ip_network(str(text), strict=False)
        if inner.version != network.version or inner.network_address not in network or \
                network.prefixlen >= inner.prefixlen:
            problems.append(FieldError.invalid(epath, text, "must be a strict subset of `cidr`"))
    return problems


def validate_peer(peer: Obj, path: Path) -> list[FieldError]:
    """Upstream ``ValidateNetworkPolicyPeer``: one kind of peer; ipBlock only alone."""
    problems: list[FieldError] = []
    count = 0
    for name in ("podSelector", "namespaceSelector"):
        if peer.get(name) is not None:
            count += 1
            problems.extend(validation.validate_label_selector(peer[name], path.child(name)))
    if peer.get("ipBlock") is not None:
        count += 1
        problems.extend(validate_ip_block(as_dict(peer["ipBlock"]), path.child("ipBlock")))
    if count == 0:
        problems.append(FieldError.required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        problems.append(FieldError.forbidden(path, "may not specify both ipBlock and another peer"))
    return problems


class NetworkPolicyStrategy(Strategy):
    """networking.k8s.io/v1 NetworkPolicy."""

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        for direction in ("ingress", "egress"):
            for rule in _list(spec.get(direction)):
                for port in _list(rule.get("ports") if isinstance(rule, dict) else None):
                    if isinstance(port, dict) and port.get("protocol") is None:
                        port["protocol"] = "TCP"
        if not spec.get("policyTypes"):
            spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        problems.extend(validation.validate_label_selector(spec.get("podSelector") or {}, path.child("podSelector")))
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for i, item in enumerate(_list(spec.get(direction))):
                rpath = path.child(direction).index(i)
                rule = as_dict(item)
                for j, port in enumerate(_list(rule.get("ports"))):
                    problems.extend(validate_policy_port(as_dict(port), rpath.child("ports").index(j)))
                for j, peer in enumerate(_list(rule.get(peers))):
                    problems.extend(validate_peer(as_dict(peer), rpath.child(peers).index(j)))
        types = _list(spec.get("policyTypes"))
        if len(types) > len(POLICY_TYPES):
            problems.append(FieldError.invalid(path.child("policyTypes"), types,
                                               "may not specify more than two policyTypes"))
            return problems
        for i, kind in enumerate(types):
            if kind not in POLICY_TYPES:
                problems.append(FieldError.not_supported(path.child("policyTypes").index(i), kind, POLICY_TYPES))
        return problems


def is_domain_prefixed_path(value: str, path: Path) -> list[FieldError]:
    """Upstream ``IsDomainPrefixedPath``: ``example.com/some/path``."""
    if not value:
        return [FieldError.required(path, "")]
    host, _, rest = value.partition("/")
    if not host or not rest:
        return [FieldError.invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    problems = [FieldError.invalid(path, host, msg) for msg in validation.is_dns1123_subdomain(host)]
    if not _HTTP_PATH.match(rest):
        problems.append(FieldError.invalid(path, rest, validation.regex_error("must be a valid path", HTTP_PATH_FMT)))
    return problems


class IngressClassStrategy(Strategy):
    """networking.k8s.io/v1 IngressClass."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        controller = str(as_dict(obj.get("spec")).get("controller") or "")
        cpath = Path("spec", "controller")
        if len(controller) > MAX_CONTROLLER_LENGTH:
            problems.append(FieldError.too_long(cpath, MAX_CONTROLLER_LENGTH))
        problems.extend(is_domain_prefixed_path(controller, cpath))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return [*super().validate_update(new, old),
                *validation.validate_immutable_field(as_dict(new.get("spec")).get("controller"),
                                                     as_dict(old.get("spec")).get("controller"),
                                                     Path("spec", "controller"))]
