"""core/v1 Nodes, Endpoints, ServiceAccounts and Events (upstream ``pkg/apis/core/validation``).

* Node: ``ValidateNode``/``ValidateNodeUpdate`` (pod CIDRs, taints, quantities; podCIDRs and providerID
  may only go from unset to set) and the v1 conversion that keeps ``podCIDR`` = ``podCIDRs[0]``;
  ``SetDefaults_NodeStatus`` (allocatable defaults to capacity).
* Endpoints: ``ValidateEndpoints`` (every subset has addresses, IPs are valid and not special ones such
  as loopback, ports named when there are several) and ``SetDefaults_EndpointPort`` (protocol TCP).
  One exception: default/kubernetes may hold a loopback address (see ``is_api_server_endpoints``).
* ServiceAccount: upstream validates object metadata only (``ValidateServiceAccount``): the base
  strategy already does exactly that.
* Event: ``ValidateEventCreate``/``ValidateEventUpdate``. A core/v1 Event gets the legacy rules only
  (upstream keeps them for old clients); an events.k8s.io/v1 Event also gets the strict ones. The
  events.k8s.io fields are checked under the names upstream's internal Event gives them (``note`` is
  ``message``, ``regarding`` is ``involvedObject``), since upstream's errors name those.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Final

from kubelite.api import validation
from kubelite.api.meta import meta
from kubelite.api.quantity import Quantity, QuantityError
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds.workloads import Obj, as_dict
from kubelite.controlplane.apiserver.strategy import EventStrategy as BaseEventStrategy
from kubelite.controlplane.apiserver.strategy import NodeStrategy as BaseNodeStrategy
from kubelite.controlplane.apiserver.strategy import Strategy

TAINT_EFFECTS: Final = ("NoExecute", "NoSchedule", "PreferNoSchedule")
PORT_PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
POD_CIDR_CHANGE: Final = 'node updates may not change podCIDR except from "" to valid'
PROVIDER_ID_CHANGE: Final = 'node updates may not change providerID except from "" to valid'
# upstream pkg/apis/core/validation/events.go
REPORTING_INSTANCE_LIMIT: Final = 128
ACTION_LIMIT: Final = 128
REASON_LIMIT: Final = 128
NOTE_LIMIT: Final = 1024


def _strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def is_api_server_endpoints(obj: Obj) -> bool:
    """The API server's own endpoints (default/kubernetes), which the server writes at start-up.

    A server bound to loopback (a single-host or test cluster) advertises a loopback address there;
    upstream refuses that address and leaves the Service without endpoints, kubelite lets its own
    server write it (only loopback is let through, and only for this object).
    """
    md = meta(obj)
    return md.get("namespace") == "default" and md.get("name") == "kubernetes"


def validate_endpoint_ip(value: str, path: Path | None = None, *, allow_loopback: bool = False) -> list[FieldError]:
    """Upstream ``ValidateEndpointIP``: addresses that make no sense as a destination are refused."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return [FieldError.invalid(path, value, "must be a valid IP address")]
    problems = []
    if ip.is_unspecified:
        problems.append(FieldError.invalid(path, value, f"may not be unspecified ({value})"))
    if ip.is_loopback and not allow_loopback:
        problems.append(FieldError.invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if ip.is_link_local and not ip.is_multicast:
        problems.append(FieldError.invalid(path, value, "may not be in the link-local range (169.254.0.0/16, "
                                                        "fe80::/10)"))
    if ip.is_multicast and (ip in ipaddress.ip_network("224.0.0.0/24") or ip in ipaddress.ip_network("ff02::/16")):
        problems.append(FieldError.invalid(path, value, "may not be in the link-local multicast range "
                                                        "(224.0.0.0/24, ff02::/10)"))
    return problems


def validate_port_protocol(protocol: Any, path: Path) -> list[FieldError]:
    if not protocol:
        return [FieldError.required(path, "")]
    if protocol not in PORT_PROTOCOLS:
        return [FieldError.not_supported(path, protocol, PORT_PROTOCOLS)]
    return []


def validate_port_number(number: Any, path: Path) -> list[FieldError]:
    if isinstance(number, bool) or not isinstance(number, int):
        return [FieldError.type_invalid(path, number, "must be of type integer")]
    return [FieldError.invalid(path, number, msg) for msg in validation.is_valid_port_num(number)]


def validate_dns_label(value: Any, path: Path) -> list[FieldError]:
    return [FieldError.invalid(path, value, msg) for msg in validation.is_dns1123_label(str(value))]


def validate_node_name(value: Any, path: Path) -> list[FieldError]:
    return [FieldError.invalid(path, value, msg) for msg in validation.name_is_dns_subdomain(str(value), False)]


# -- Node ----------------------------------------------------------------------------------------


def validate_taints(taints: Any, path: Path) -> list[FieldError]:
    """Upstream ``validateNodeTaints``: qualified keys, label values, an effect, unique (key, effect)."""
    problems: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(_strings(taints)):
        tpath = path.index(i)
        if not isinstance(taint, dict):
            problems.append(FieldError.type_invalid(tpath, taint, "must be of type object"))
            continue
        key, value, effect = str(taint.get("key") or ""), str(taint.get("value") or ""), taint.get("effect")
        problems.extend(validation.validate_label_name(key, tpath.child("key")))
        messages = validation.is_valid_label_value(value)
        if messages:
            problems.append(FieldError.invalid(tpath.child("value"), value, ";".join(messages)))
        if not effect:
            problems.append(FieldError.required(tpath.child("effect"), ""))
        elif effect not in TAINT_EFFECTS:
            problems.append(FieldError.not_supported(tpath.child("effect"), effect, TAINT_EFFECTS))
        if (key, str(effect)) in seen:
            duplicate = FieldError.duplicate(tpath, taint)
            problems.append(FieldError(duplicate.type, duplicate.field, duplicate.bad_value,
                                       "taints must be unique by key and effect pair"))
        seen.add((key, str(effect)))
    return problems


def validate_resource_list(resources: Any, path: Path) -> list[FieldError]:
    """Quantities that parse and are not negative (upstream ``ValidateResourceQuantityValue``)."""
    problems: list[FieldError] = []
    for name, value in sorted(as_dict(resources).items()):
        rpath = path.key(str(name))
        try:
            quantity = Quantity.parse(value)
        except (QuantityError, TypeError) as exc:
            problems.append(FieldError.invalid(rpath, value, str(exc)))
            continue
        if quantity.sign() < 0:
            problems.append(FieldError.invalid(rpath, value, "must be greater than or equal to 0"))
    return problems


class NodeStrategy(BaseNodeStrategy):
    """v1 Node."""

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            # the v1 conversion: podCIDR is podCIDRs[0], whichever of the two the client set
            cidrs = spec.get("podCIDRs")
            if not cidrs and spec.get("podCIDR"):
                spec["podCIDRs"] = [spec["podCIDR"]]
            elif isinstance(cidrs, list) and cidrs:
                spec["podCIDR"] = cidrs[0]
        status = obj.get("status")
        if isinstance(status, dict) and status.get("capacity") and "allocatable" not in status:
            status["allocatable"] = dict(status["capacity"])

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        spec = as_dict(obj.get("spec"))
        cidrs = _strings(spec.get("podCIDRs"))
        cpath = Path("spec", "podCIDRs")
        families: set[int] = set()
        for i, cidr in enumerate(cidrs):
            errors = validation.is_valid_cidr_for_legacy_field(cpath.index(i), str(cidr))
            problems.extend(errors)
            if not errors:
                families.add(ipaddress.ip_network(str(cidr), strict=False).version)
        if len(cidrs) > 1 and (len(cidrs) > 2 or len(families) != 2):
            problems.append(FieldError.invalid(cpath, cidrs, "may specify no more than one CIDR for each IP family"))
        problems.extend(validate_taints(spec.get("taints"), Path("spec", "taints")))
        status = as_dict(obj.get("status"))
        problems.extend(validate_resource_list(status.get("capacity"), Path("status", "capacity")))
        problems.extend(validate_resource_list(status.get("allocatable"), Path("status", "allocatable")))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        old_cidrs, cidrs = _strings(old_spec.get("podCIDRs")), _strings(spec.get("podCIDRs"))
        if old_cidrs:
            if len(old_cidrs) != len(cidrs):
                problems.append(FieldError.forbidden(Path("spec", "podCIDRs"), POD_CIDR_CHANGE))
            else:
                problems.extend(FieldError.forbidden(Path("spec", "podCIDRs"), POD_CIDR_CHANGE)
                                for a, b in zip(old_cidrs, cidrs, strict=True) if a != b)
        if old_spec.get("providerID") and old_spec.get("providerID") != spec.get("providerID"):
            problems.append(FieldError.forbidden(Path("spec", "providerID"), PROVIDER_ID_CHANGE))
        return problems


# -- Endpoints -----------------------------------------------------------------------------------


def validate_endpoint_address(address: Any, path: Path, *, allow_loopback: bool = False) -> list[FieldError]:
    if not isinstance(address, dict):
        return [FieldError.type_invalid(path, address, "must be of type object")]
    ip = str(address.get("ip") or "")
    problems = validation.is_valid_ip_for_legacy_field(path.child("ip"), ip)
    if address.get("hostname"):
        problems.extend(validate_dns_label(address["hostname"], path.child("hostname")))
    if address.get("nodeName") is not None:
        problems.extend(validate_node_name(address["nodeName"], path.child("nodeName")))
    if not problems:
        problems.extend(validate_endpoint_ip(ip, path.child("ip"), allow_loopback=allow_loopback))
    return problems


class EndpointsStrategy(Strategy):
    """v1 Endpoints."""

    def default(self, obj: Obj) -> None:
        for subset in _strings(obj.get("subsets")):
            for port in _strings(subset.get("ports") if isinstance(subset, dict) else None):
                if isinstance(port, dict) and not port.get("protocol"):
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        own = is_api_server_endpoints(obj)
        for i, subset in enumerate(_strings(obj.get("subsets"))):
            spath = Path("subsets").index(i)
            if not isinstance(subset, dict):
                problems.append(FieldError.type_invalid(spath, subset, "must be of type object"))
                continue
            ready, not_ready = _strings(subset.get("addresses")), _strings(subset.get("notReadyAddresses"))
            if not ready and not not_ready:
                problems.append(FieldError.required(spath, "must specify `addresses` or `notReadyAddresses`"))
            for field, addresses in (("addresses", ready), ("notReadyAddresses", not_ready)):
                for j, address in enumerate(addresses):
                    problems.extend(validate_endpoint_address(address, spath.child(field).index(j),
                                                              allow_loopback=own))
            ports = _strings(subset.get("ports"))
            for j, port in enumerate(ports):
                ppath = spath.child("ports").index(j)
                if not isinstance(port, dict):
                    problems.append(FieldError.type_invalid(ppath, port, "must be of type object"))
                    continue
                if len(ports) > 1 and not port.get("name"):
                    problems.append(FieldError.required(ppath.child("name"), ""))
                elif port.get("name"):
                    problems.extend(validate_dns_label(port["name"], ppath.child("name")))
                problems.extend(validate_port_number(port.get("port"), ppath.child("port")))
                problems.extend(validate_port_protocol(port.get("protocol"), ppath.child("protocol")))
        return problems


# -- Events --------------------------------------------------------------------------------------

# events.k8s.io/v1 field -> the internal Event's field (upstream's errors name the internal one)
_EVENTS_V1_FIELDS: Final = {"note": "message", "regarding": "involvedObject", "deprecatedSource": "source",
                            "deprecatedFirstTimestamp": "firstTimestamp",
                            "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count"}


def _internal_event(obj: Obj, group: str) -> Obj:
    if group != "events.k8s.io":
        return obj
    return {_EVENTS_V1_FIELDS.get(k, k): v for k, v in obj.items()}


def _too_long(value: Any, limit: int, field: str) -> list[FieldError]:
    if len(str(value or "")) > limit:
        return [FieldError.invalid(Path(field), "", f"can have at most {limit} characters")]
    return []


def legacy_validate_event(event: Obj, namespace: str, *, core_v1: bool) -> list[FieldError]:
    """Upstream ``legacyValidateEvent``: what every Event must satisfy, whichever API wrote it."""
    problems: list[FieldError] = []
    involved_ns = str(as_dict(event.get("involvedObject")).get("namespace") or "")
    if not event.get("eventTime"):
        mismatch = namespace not in ("", "default") if not involved_ns else namespace != involved_ns
    else:
        mismatch = not involved_ns and namespace not in ("default", "kube-system")
    if mismatch:  # the error (and its path) only built when reported: every Event create comes here
        problems.append(FieldError.invalid(Path("involvedObject", "namespace"), involved_ns,
                                           "does not match event.namespace"))
    if event.get("eventTime"):
        controller_path = Path("reportingComponent" if core_v1 else "reportingController")
        controller = str(event.get("reportingController") or event.get("reportingComponent") or "")
        if not controller:
            problems.append(FieldError.required(controller_path, ""))
        problems.extend(FieldError.invalid(controller_path, controller, msg)
                        for msg in validation.is_qualified_name(controller))
        for name, limit in (("reportingInstance", REPORTING_INSTANCE_LIMIT), ("action", ACTION_LIMIT),
                            ("reason", REASON_LIMIT)):
            if not event.get(name):
                problems.append(FieldError.required(Path(name), ""))
            problems.extend(_too_long(event.get(name), limit, name))
        problems.extend(_too_long(event.get("message"), NOTE_LIMIT, "message"))
    problems.extend(FieldError.invalid(Path("namespace"), namespace, msg)
                    for msg in validation.is_dns1123_subdomain(namespace))
    return problems


def _validate_series(event: Obj) -> list[FieldError]:
    series = event.get("series")
    if not isinstance(series, dict):
        return []
    problems = []
    count = series.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 2:
        problems.append(FieldError.invalid(Path("series.count"), "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        problems.append(FieldError.required(Path("series.lastObservedTime"), ""))
    return problems


_IMMUTABLE_EVENT_FIELDS: Final = ("involvedObject", "reason", "message", "source", "firstTimestamp",
                                  "lastTimestamp", "count", "type", "eventTime", "action", "related",
                                  "reportingController", "reportingInstance")


class EventStrategy(BaseEventStrategy):
    """core/v1 and events.k8s.io/v1 Event."""

    @property
    def _core_v1(self) -> bool:
        return self.info.group == ""

    def name_validator(self, name: str, prefix: bool) -> list[str]:
        # upstream runs no metadata validation for core/v1 Events (old clients); the name must still be
        # usable as a path segment, which every kind's name must
        if self._core_v1:
            return validation.validate_path_segment_name(name, prefix)
        return super().name_validator(name, prefix)

    def validate(self, obj: Obj) -> list[FieldError]:
        problems = super().validate(obj)
        event = _internal_event(obj, self.info.group)
        namespace = str(meta(obj).get("namespace") or "")
        problems.extend(legacy_validate_event(event, namespace, core_v1=self._core_v1))
        if self._core_v1:
            return problems
        problems.extend(_validate_series(event))
        if not event.get("eventTime"):
            problems.append(FieldError.required(Path("eventTime"), ""))
        if event.get("type") not in ("Normal", "Warning"):
            problems.append(FieldError.invalid(Path("type"), "", f"has invalid value: {event.get('type') or ''}"))
        for name in ("firstTimestamp", "lastTimestamp", "count"):
            if event.get(name):
                problems.append(FieldError.invalid(Path(name), "", "needs to be unset"))
        source = as_dict(event.get("source"))
        if source.get("component") or source.get("host"):
            problems.append(FieldError.invalid(Path("source"), "", "needs to be unset"))
        return problems

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        problems = super().validate_update(new, old)
        if self._core_v1:
            return problems
        event, old_event = _internal_event(new, self.info.group), _internal_event(old, self.info.group)
        problems.extend(_validate_series(event))
        for name in _IMMUTABLE_EVENT_FIELDS:
            problems.extend(validation.validate_immutable_field(event.get(name), old_event.get(name), Path(name)))
        return problems
