"""Defaulting and validation of Nodes, Endpoints, EndpointSlices, Events and CertificateSigningRequests
(kubelite.controlplane.apiserver.kinds.{core,discovery,certificates}).

Expected messages are upstream's (``pkg/apis/core/validation``, ``pkg/apis/discovery/validation``,
``pkg/apis/certificates/validation``), as kubelite renders ``field.Error``. Each case runs the steps the
registry runs on a write: prepare, default, validate (and validate_update on updates).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api import validation
from kubelite.api.validation import FieldError, Path
from kubelite.controlplane.apiserver.kinds import KIND_STRATEGIES
from kubelite.controlplane.apiserver.kinds.core import (
    ACTION_LIMIT,
    NOTE_LIMIT,
    REASON_LIMIT,
    REPORTING_INSTANCE_LIMIT,
    legacy_validate_event,
)
from kubelite.controlplane.apiserver.resources import BUILTIN_RESOURCES
from kubelite.controlplane.apiserver.strategy import Strategy

Obj = dict[str, Any]
_INFOS = {(r.group, r.plural): r for r in BUILTIN_RESOURCES if r.preferred}


def strategy_for(group: str, plural: str) -> Strategy:
    return KIND_STRATEGIES[(group, plural)](_INFOS[(group, plural)], unknown_fields=None)


def create(group: str, plural: str, obj: Obj) -> tuple[Obj, list[str]]:
    strategy = strategy_for(group, plural)
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("uid", "0f3a6f3e-1111-4222-8333-944445555666")
    strategy.prepare_for_create(obj)
    strategy.default(obj)
    return obj, [str(e) for e in strategy.validate(obj)]


def update(group: str, plural: str, old: Obj, change: Callable[[Obj], None]) -> tuple[Obj, list[str]]:
    strategy = strategy_for(group, plural)
    stored, problems = create(group, plural, old)
    assert problems == []
    stored["metadata"]["resourceVersion"] = "5"
    new = copy.deepcopy(stored)
    change(new)
    new = strategy.prepare_for_update(new, stored)
    strategy.default(new)
    return new, [str(e) for e in [*strategy.validate(new), *strategy.validate_update(new, stored)]]


# -- Node ----------------------------------------------------------------------------------------


def node(**spec: Any) -> Obj:
    return {"metadata": {"name": "n1"}, "spec": spec,
            "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"}}}


@pytest.mark.parametrize("spec, errors", [
    pytest.param({"podCIDR": "10.42.0.0/24"}, [], id="valid"),
    pytest.param({"podCIDRs": ["10.42.0.0/24", "fd00::/64"]}, [], id="dual-stack"),
    pytest.param({"podCIDRs": ["10.42.0.0/24", "10.43.0.0/24"]},
                 ['spec.podCIDRs: Invalid value: ["10.42.0.0/24","10.43.0.0/24"]: may specify no more than one '
                  'CIDR for each IP family'], id="two-ipv4"),
    pytest.param({"podCIDRs": ["10.42.0.0"]},
                 ['spec.podCIDRs[0]: Invalid value: "10.42.0.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 '
                  'or 2001:db8::/64)'], id="not-a-cidr"),
    pytest.param({"taints": [{"key": "k", "effect": "Sometimes"}]},
                 ['spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", '
                  '"NoSchedule", "PreferNoSchedule"'], id="bad-effect"),
    pytest.param({"taints": [{"key": "k"}]}, ["spec.taints[0].effect: Required value"], id="no-effect"),
    pytest.param({"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "x",
                                                                    "effect": "NoSchedule"}]},
                 ['spec.taints[1]: Duplicate value: {"effect":"NoSchedule","key":"k","value":"x"}: taints must be '
                  'unique by key and effect pair'], id="duplicate-taint"),
    pytest.param({"taints": [{"key": "bad key", "effect": "NoSchedule"}]},
                 ['spec.taints[0].key: Invalid value: "bad key": name part must consist of alphanumeric '
                  "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                  "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"], id="bad-taint-key"),
])
def test_node_validation(spec: Obj, errors: list[str]) -> None:
    assert create("", "nodes", node(**spec))[1] == errors


def test_node_defaults_pod_cidrs_and_allocatable() -> None:
    stored, errors = create("", "nodes", node(podCIDR="10.42.0.0/24"))
    assert errors == []
    assert stored["spec"]["podCIDRs"] == ["10.42.0.0/24"]
    assert stored["status"]["allocatable"] == stored["status"]["capacity"]


def test_node_negative_capacity_is_refused() -> None:
    obj = node()
    obj["status"]["capacity"]["cpu"] = "-1"
    # allocatable defaults to capacity, so both say so
    assert create("", "nodes", obj)[1] == [
        f'status.{field}[cpu]: Invalid value: "-1": must be greater than or equal to 0'
        for field in ("capacity", "allocatable")]


def test_node_pod_cidr_may_be_set_once_but_not_changed() -> None:
    def assign(new: Obj) -> None:
        new["spec"]["podCIDRs"] = ["10.42.1.0/24"]
    assert update("", "nodes", node(), assign)[1] == []
    assert update("", "nodes", node(podCIDR="10.42.0.0/24"), assign)[1] == [
        'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid']


def test_node_provider_id_may_be_set_once_but_not_changed() -> None:
    def change(new: Obj) -> None:
        new["spec"]["providerID"] = "kubelite://b"
    assert update("", "nodes", node(), change)[1] == []
    assert update("", "nodes", node(providerID="kubelite://a"), change)[1] == [
        'spec.providerID: Forbidden: node updates may not change providerID except from "" to valid']


# -- Endpoints -----------------------------------------------------------------------------------


def endpoints(*subsets: Obj) -> Obj:
    return {"metadata": {"name": "web", "namespace": "default"}, "subsets": list(subsets)}


@pytest.mark.parametrize("subset, errors", [
    pytest.param({"addresses": [{"ip": "10.0.0.1", "nodeName": "n1"}], "ports": [{"port": 80}]}, [], id="valid"),
    pytest.param({"ports": [{"port": 80}]},
                 ["subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"], id="no-addresses"),
    pytest.param({"addresses": [{"ip": "127.0.0.1"}]},
                 ['subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range '
                  '(127.0.0.0/8, ::1/128)'], id="loopback"),
    pytest.param({"notReadyAddresses": [{"ip": "169.254.1.1"}]},
                 ['subsets[0].notReadyAddresses[0].ip: Invalid value: "169.254.1.1": may not be in the link-local '
                  'range (169.254.0.0/16, fe80::/10)'], id="link-local"),
    pytest.param({"addresses": [{"ip": "nope"}]},
                 ['subsets[0].addresses[0].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 '
                  'or 2001:db8::ffff)'], id="not-an-ip"),
    pytest.param({"addresses": [{"ip": "10.0.0.1", "hostname": "Web_1"}]},
                 ['subsets[0].addresses[0].hostname: Invalid value: "Web_1": a lowercase RFC 1123 label must '
                  "consist of lower case alphanumeric characters or '-', and must start and end with an "
                  "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"], id="bad-hostname"),
    pytest.param({"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 443}]},
                 ["subsets[0].ports[0].name: Required value", "subsets[0].ports[1].name: Required value"],
                 id="unnamed-ports"),
    pytest.param({"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0, "protocol": "ICMP"}]},
                 ["subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                  'subsets[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", '
                  '"UDP"'], id="bad-port"),
])
def test_endpoints_validation(subset: Obj, errors: list[str]) -> None:
    assert create("", "endpoints", endpoints(subset))[1] == errors


def test_the_api_servers_own_endpoints_may_be_loopback_but_not_unspecified() -> None:
    own = {"metadata": {"name": "kubernetes", "namespace": "default"},
           "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 6443}]}]}
    assert create("", "endpoints", own)[1] == []
    own["subsets"][0]["addresses"] = [{"ip": "0.0.0.0"}]
    assert create("", "endpoints", own)[1] == [
        'subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)']
    slice_ = {"metadata": {"name": "kubernetes", "namespace": "default"}, "addressType": "IPv4",
              "endpoints": [{"addresses": ["127.0.0.1"]}], "ports": [{"name": "https", "port": 6443}]}
    assert create("discovery.k8s.io", "endpointslices", slice_)[1] == []


def test_endpoints_ports_default_to_tcp() -> None:
    stored, _ = create("", "endpoints", endpoints({"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}))
    assert stored["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]


# -- EndpointSlice -------------------------------------------------------------------------------


def endpoint_slice(address_type: str = "IPv4", *, endpoints: list[Obj] | None = None,
                   ports: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": address_type,
            "endpoints": endpoints if endpoints is not None else [{"addresses": ["10.0.0.1"]}],
            "ports": ports if ports is not None else [{"name": "http", "port": 80}]}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(endpoint_slice(), [], id="valid"),
    pytest.param(endpoint_slice("FQDN", endpoints=[{"addresses": ["db.example.com"]}]), [], id="fqdn"),
    pytest.param(endpoint_slice("IPv5"),
                 ['addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"'],
                 id="bad-type"),
    pytest.param(endpoint_slice(endpoints=[{"addresses": []}]),
                 ["endpoints[0].addresses: Required value: must contain at least 1 address"], id="no-address"),
    pytest.param(endpoint_slice(endpoints=[{"addresses": ["fd00::1"]}]),
                 ['endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address'],
                 id="wrong-family"),
    pytest.param(endpoint_slice(endpoints=[{"addresses": ["0.0.0.0"]}]),
                 ['endpoints[0].addresses[0]: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)'],
                 id="unspecified"),
    pytest.param(endpoint_slice(ports=[{"name": "http", "port": 80}, {"name": "http", "port": 81}]),
                 ['ports[1].name: Duplicate value: "http"'], id="duplicate-port-name"),
    pytest.param(endpoint_slice(endpoints=[{"addresses": ["10.0.0.1"], "nodeName": "Node_1"}]),
                 ['endpoints[0].nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of '
                  "lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                  "character (e.g. 'example.com', regex used for validation is "
                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"], id="bad-node-name"),
])
def test_endpointslice_validation(obj: Obj, errors: list[str]) -> None:
    assert create("discovery.k8s.io", "endpointslices", obj)[1] == errors


def test_endpointslice_address_type_is_immutable_and_ports_default() -> None:
    stored, _ = create("discovery.k8s.io", "endpointslices", endpoint_slice(ports=[{"port": 80}]))
    assert stored["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]

    def to_fqdn(new: Obj) -> None:
        new["addressType"] = "FQDN"
        new["endpoints"] = [{"addresses": ["db.example.com"]}]
    assert update("discovery.k8s.io", "endpointslices", endpoint_slice(), to_fqdn)[1] == [
        'addressType: Invalid value: "FQDN": field is immutable']


# -- Events --------------------------------------------------------------------------------------


def core_event(namespace: str = "default", **fields: Any) -> Obj:
    return {"metadata": {"name": "web.1", "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": namespace}, "reason": "Started",
            "message": "Started container", "type": "Normal", **fields}


def new_event(**fields: Any) -> Obj:
    return {"metadata": {"name": "web.2", "namespace": "default"}, "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "kubelite.io/kubelet", "reportingInstance": "kubelet-n1", "action": "Started",
            "reason": "Started", "type": "Normal", "note": "x",
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default"}, **fields}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(core_event(), [], id="valid"),
    pytest.param(core_event(involvedObject={"kind": "Pod", "name": "web", "namespace": "other"}),
                 ['involvedObject.namespace: Invalid value: "other": does not match event.namespace'],
                 id="namespace-mismatch"),
    pytest.param(core_event(eventTime="2026-01-01T00:00:00.000000Z"),
                 ["reportingComponent: Required value",
                  "reportingComponent: Invalid value: \"\": name part must be non-empty",
                  "reportingComponent: Invalid value: \"\": name part must consist of alphanumeric characters, "
                  "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
                  "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                  "[A-Za-z0-9]')", "reportingInstance: Required value", "action: Required value"],
                 id="new-style-without-reporter"),
])
def test_core_event_validation(obj: Obj, errors: list[str]) -> None:
    assert create("", "events", obj)[1] == errors


@pytest.mark.parametrize("obj, errors", [
    pytest.param(new_event(), [], id="valid"),
    pytest.param(new_event(eventTime=None), ["eventTime: Required value"], id="no-event-time"),
    pytest.param(new_event(type="Info"), ['type: Invalid value: "": has invalid value: Info'], id="bad-type"),
    pytest.param(new_event(deprecatedCount=3), ['count: Invalid value: "": needs to be unset'], id="count-set"),
    pytest.param(new_event(note="x" * 1025), ['message: Invalid value: "": can have at most 1024 characters'],
                 id="note-too-long"),
    pytest.param(new_event(series={"count": 1, "lastObservedTime": "2026-01-01T00:00:00.000000Z"}),
                 ['series.count: Invalid value: "": should be at least 2'], id="series-count"),
])
def test_events_v1_validation(obj: Obj, errors: list[str]) -> None:
    assert create("events.k8s.io", "events", obj)[1] == errors


def test_events_v1_fields_are_immutable_but_core_events_are_not() -> None:
    def renote(new: Obj) -> None:
        new["note"] = "changed"
    assert update("events.k8s.io", "events", new_event(), renote)[1] == [
        'message: Invalid value: "changed": field is immutable']

    def recount(new: Obj) -> None:
        new["count"] = 2
    assert update("", "events", core_event(), recount)[1] == []


# -- CertificateSigningRequest -------------------------------------------------------------------


def csr_request(*, tamper: bool = False) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])).sign(key, hashes.SHA256())
    if tamper:  # same request, signed by another key: the signature does not verify
        other = ec.generate_private_key(ec.SECP256R1())
        der = bytearray(request.public_bytes(serialization.Encoding.DER))
        theirs = x509.CertificateSigningRequestBuilder().subject_name(request.subject).sign(other, hashes.SHA256())
        signature = theirs.signature
        der = der[:len(der) - len(request.signature)] + bytearray(signature) if len(signature) == len(
            request.signature) else der[:-4] + bytearray(b"\x00\x00\x00\x00")
        pem = b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)) + \
            b"-----END CERTIFICATE REQUEST-----\n"
        return base64.b64encode(pem).decode()
    return base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()


def csr(**spec: Any) -> Obj:
    base: Obj = {"request": csr_request(), "signerName": "kubernetes.io/kube-apiserver-client",
                 "usages": ["client auth"]}
    base.update(spec)
    return {"metadata": {"name": "alice"}, "spec": base}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(csr(), [], id="valid"),
    pytest.param(csr(signerName="nodots"),
                 ['spec.signerName: Invalid value: "nodots": must be a fully qualified domain and path of the form '
                  "'example.com/signer-name'"], id="signer-no-path"),
    pytest.param(csr(signerName="example/signer"),
                 ['spec.signerName: Invalid value: "example": should be a domain with at least two segments '
                  "separated by dots"], id="signer-domain"),
    pytest.param(csr(signerName="kubernetes.io/legacy-unknown"),
                 ['spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not '
                  "allowed via this API version"], id="legacy-signer"),
    pytest.param(csr(usages=[]), ["spec.usages: Required value"], id="no-usages"),
    pytest.param(csr(usages=["client auth", "client auth"]), ['spec.usages[1]: Duplicate value: "client auth"'],
                 id="duplicate-usage"),
    pytest.param(csr(expirationSeconds=60),
                 ["spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds "
                  "(10 minutes)"], id="short-expiration"),
    pytest.param(csr(request=base64.b64encode(b"hello").decode()),
                 ['spec.request: Invalid value: "aGVsbG8=": PEM block type must be CERTIFICATE REQUEST'],
                 id="not-pem"),
])
def test_csr_validation(obj: Obj, errors: list[str]) -> None:
    assert create("certificates.k8s.io", "certificatesigningrequests", obj)[1] == errors


def test_csr_with_a_bad_signature_is_refused() -> None:
    errors = create("certificates.k8s.io", "certificatesigningrequests", csr(request=csr_request(tamper=True)))[1]
    assert len(errors) == 1 and errors[0].startswith("spec.request: Invalid value: ")


def test_csr_update_keeps_the_spec() -> None:
    def change(new: Obj) -> None:
        new["spec"]["usages"] = ["server auth"]
        new["metadata"]["labels"] = {"a": "b"}
    updated, errors = update("certificates.k8s.io", "certificatesigningrequests", csr(), change)
    assert errors == [] and updated["spec"]["usages"] == ["client auth"]
    assert updated["metadata"]["labels"] == {"a": "b"}


def _legacy_validate_event_as_written_first(event: Obj, namespace: str, *, core_v1: bool) -> list[str]:
    """legacy_validate_event before it built its errors only when reporting them: the reference."""
    def too_long(value: Any, limit: int, path: Path) -> list[FieldError]:
        if len(str(value or "")) > limit:
            return [FieldError.invalid(path, "", f"can have at most {limit} characters")]
        return []

    problems: list[FieldError] = []
    involved = event.get("involvedObject")
    involved_ns = str((involved if isinstance(involved, dict) else {}).get("namespace") or "")
    mismatch = FieldError.invalid(Path("involvedObject", "namespace"), involved_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                problems.append(mismatch)
        elif namespace != involved_ns:
            problems.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            problems.append(mismatch)
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
            problems.extend(too_long(event.get(name), limit, Path(name)))
        problems.extend(too_long(event.get("message"), NOTE_LIMIT, Path("message")))
    problems.extend(FieldError.invalid(Path("namespace"), namespace, msg)
                    for msg in validation.is_dns1123_subdomain(namespace))
    return [p.error() for p in problems]


_EVENT_NAMESPACES = st.sampled_from(["", "default", "kube-system", "other", "Bad_NS"])


@settings(max_examples=400, deadline=None)
@given(namespace=_EVENT_NAMESPACES, involved=st.none() | st.fixed_dictionaries({}, optional={
           "namespace": _EVENT_NAMESPACES}), core_v1=st.booleans(),
       fields=st.fixed_dictionaries({}, optional={
           "eventTime": st.sampled_from(["", "2026-01-01T00:00:00.000000Z"]),
           "reportingController": st.sampled_from(["", "kubelite.io/kubelet", "bad name"]),
           "reportingComponent": st.sampled_from(["", "kubelet"]),
           "reportingInstance": st.sampled_from(["", "n1", "i" * 129]),
           "action": st.sampled_from(["", "Started", "a" * 129]),
           "reason": st.sampled_from(["", "Started", "r" * 129]),
           "message": st.sampled_from(["", "m", "m" * 1025])}))
def test_legacy_event_validation_equals_the_first_written_one(namespace: str, involved: Obj | None, core_v1: bool,
                                                              fields: Obj) -> None:
    event = {**fields, "involvedObject": involved}
    assert [p.error() for p in legacy_validate_event(event, namespace, core_v1=core_v1)] == \
        _legacy_validate_event_as_written_first(event, namespace, core_v1=core_v1)
