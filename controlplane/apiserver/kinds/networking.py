"""networking.k8s.io/v1 NetworkPolicies and IngressClasses (upstream ``pkg/apis/networking/validation``).

* NetworkPolicy: ``ValidateNetworkPolicySpec`` (selectors, ports and port ranges, peers of exactly one
  kind with ipBlock alone, ``except`` a strict subset of ``cidr``, policyTypes) and upstream's defaults
  (ports TCP; policyTypes ``[Ingress]`` plus ``Egress`` when there are egress rules).
* IngressClass: ``spec.controller`` is a domain-prefixed path of at most 250 characters, immutable.
* Ingress: ``ValidateIngressSpec`` (rules or a default backend, DNS hosts, path types and absolute,
  clean paths, Service backends by port name or number, TLS hosts and secret names, class name).
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


PATH_TYPES: Final = ("Exact", "ImplementationSpecific", "Prefix")
INVALID_PATH_SEQUENCES: Final = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES: Final = ("/..", "/.")


def _host_errors(host: str, path: Path) -> list[FieldError]:
    check = validation.is_wildcard_dns1123_subdomain if "*" in host else validation.is_dns1123_subdomain
    return [FieldError.invalid(path, host, msg) for msg in check(host)]


def validate_ingress_backend(backend: Obj, path: Path) -> list[FieldError]:
    """Upstream ``validateIngressBackend``: a Service (name, port name or number) or a resource."""
    resource, service = backend.get("resource"), backend.get("service")
    if resource is not None and service is not None:
        return [FieldError.invalid(path, "", "cannot set both resource and service backends")]
    if resource is not None:
        reference = as_dict(resource)
        problems: list[FieldError] = []
        for name in ("kind", "name"):
            if not reference.get(name):
                problems.append(FieldError.required(path.child("resource", name), ""))
        return problems
    if service is None:
        return [FieldError.invalid(path, "", "resource or service backend is required")]
    service = as_dict(service)
    problems = []
    name = str(service.get("name") or "")
    if not name:
        problems.append(FieldError.required(path.child("service", "name"), ""))
    else:
        problems.extend(FieldError.invalid(path.child("service", "name"), name, msg)
                        for msg in validation.name_is_dns1035_label(name, False))
    port = as_dict(service.get("port"))
    port_name, number = str(port.get("name") or ""), port.get("number") or 0
    if port_name and number:
        problems.append(FieldError.invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        problems.extend(FieldError.invalid(path.child("service", "port", "name"), port_name, msg)
                        for msg in validation.is_valid_port_name(port_name))
    elif isinstance(number, int) and number:
        problems.extend(FieldError.invalid(path.child("service", "port", "number"), number, msg)
                        for msg in validation.is_valid_port_num(number))
    else:
        problems.append(FieldError.required(path, "port name or number is required"))
    return problems


def validate_http_path(entry: Obj, path: Path) -> list[FieldError]:
    """Upstream ``validateHTTPIngressPath``."""
    kind = entry.get("pathType")
    if kind is None:
        return [FieldError.required(path.child("pathType"), "pathType must be specified")]
    text = str(entry.get("path") or "")
    ppath = path.child("path")
    problems: list[FieldError] = []
    if kind in ("Exact", "Prefix"):
        if not text.startswith("/"):
            problems.append(FieldError.invalid(ppath, text, "must be an absolute path"))
        problems.extend(FieldError.invalid(ppath, text, f"must not contain '{seq}'")
                        for seq in INVALID_PATH_SEQUENCES if text and seq in text)
        problems.extend(FieldError.invalid(ppath, text, f"cannot end with '{suffix}'")
                        for suffix in INVALID_PATH_SUFFIXES if text and text.endswith(suffix))
    elif kind == "ImplementationSpecific":
        if text and not text.startswith("/"):
            problems.append(FieldError.invalid(ppath, text, "must be an absolute path"))
    else:
        problems.append(FieldError.not_supported(path.child("pathType"), kind, PATH_TYPES))
    problems.extend(validate_ingress_backend(as_dict(entry.get("backend")), path.child("backend")))
    return problems


class IngressStrategy(Strategy):
    """networking.k8s.io/v1 Ingress (upstream ``ValidateIngressSpec``)."""

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        path = Path("spec")
        rules = _list(spec.get("rules"))
        if not rules and spec.get("defaultBackend") is None:
            problems.append(FieldError.invalid(path, spec.get("rules"),
                                               "either `defaultBackend` or `rules` must be specified"))
        if spec.get("defaultBackend") is not None:
            problems.extend(validate_ingress_backend(as_dict(spec["defaultBackend"]), path.child("defaultBackend")))
        for i, item in enumerate(rules):
            rpath = path.child("rules").index(i)
            rule = as_dict(item)
            host = str(rule.get("host") or "")
            if host:
                try:
                    ipaddress.ip_address(host)
                    problems.append(FieldError.invalid(rpath.child("host"), host,
                                                       "must be a DNS name, not an IP address"))
                except ValueError:
                    pass
                problems.extend(_host_errors(host, rpath.child("host")))
            if rule.get("http") is not None:
                paths = _list(as_dict(rule["http"]).get("paths"))
                hpath = rpath.child("http", "paths")
                if not paths:
                    problems.append(FieldError.required(hpath, ""))
                for j, entry in enumerate(paths):
                    problems.extend(validate_http_path(as_dict(entry), hpath.index(j)))
        for i, item in enumerate(_list(spec.get("tls"))):
            tls = as_dict(item)
            for j, host in enumerate(_list(tls.get("hosts"))):
                problems.extend(_host_errors(str(host), Path("spec", "tls").index(i).child("hosts").index(j)))
            secret = str(tls.get("secretName") or "")
            if secret:
                problems.extend(FieldError.invalid(Path("spec", "tls").index(i).child("secretName"), secret, msg)
                                for msg in validation.name_is_dns_subdomain(secret, False))
        class_name = spec.get("ingressClassName")
        if class_name is not None:
            problems.extend(FieldError.invalid(path.child("ingressClassName"), class_name, msg)
                            for msg in validation.name_is_dns_subdomain(str(class_name), False))
        return problems
