"""Defaulting and validation of NetworkPolicies, Ingresses, IngressClasses, StorageClasses, PersistentVolumeClaims and
ControllerRevisions (kubelite.controlplane.apiserver.kinds.{networking,storage,apps}); messages are upstream's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubelite.controlplane.apiserver.kinds import KIND_STRATEGIES
from kubelite.controlplane.apiserver.resources import BUILTIN_RESOURCES

Obj = dict[str, Any]
_INFOS = {(r.group, r.plural): r for r in BUILTIN_RESOURCES if r.preferred}


def run(group: str, plural: str, obj: Obj, change: Callable[[Obj], None] | None = None) -> tuple[Obj, list[str]]:
    """The registry's create steps, then (with ``change``) its update steps on the stored object."""
    strategy = KIND_STRATEGIES[(group, plural)](_INFOS[(group, plural)], unknown_fields=None)
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {})["uid"] = "0f3a6f3e-1111-4222-8333-944445555666"
    strategy.prepare_for_create(obj)
    strategy.default(obj)
    problems = strategy.validate(obj)
    if change is None:
        return obj, [str(e) for e in problems]
    assert problems == []
    obj["metadata"]["resourceVersion"] = "5"
    new = copy.deepcopy(obj)
    change(new)
    new = strategy.prepare_for_update(new, obj)
    strategy.default(new)
    return new, [str(e) for e in [*strategy.validate(new), *strategy.validate_update(new, obj)]]


def policy(**spec: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"podSelector": {}, **spec}}


@pytest.mark.parametrize("spec, errors", [
    pytest.param({"ingress": [{"from": [{"podSelector": {"matchLabels": {"a": "b"}}}], "ports": [{"port": 80}]}]},
                 [], id="valid"),
    pytest.param({"ingress": [{"from": [{}]}]}, ["spec.ingress[0].from[0]: Required value: must specify a peer"],
                 id="empty-peer"),
    pytest.param({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
                 ["spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer"], id="ipblock-and"),
    pytest.param({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}]}]},
                 ['spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "192.168.0.0/16": must be a strict subset '
                  "of `cidr`"], id="except-outside"),
    pytest.param({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
                 ["spec.ingress[0].ports[0].endPort: Invalid value: 90: must be greater than or equal to `port`"],
                 id="end-before-port"),
    pytest.param({"ingress": [{"ports": [{"port": "http", "endPort": 80}]}]},
                 ["spec.ingress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is "
                  "non-numeric"], id="end-with-named-port"),
    pytest.param({"policyTypes": ["Sideways"]},
                 ['spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"'],
                 id="policy-type"),
])
def test_network_policy_validation(spec: Obj, errors: list[str]) -> None:
    assert run("networking.k8s.io", "networkpolicies", policy(**spec))[1] == errors


def test_network_policy_defaults_policy_types_and_protocols() -> None:
    stored, _ = run("networking.k8s.io", "networkpolicies", policy(egress=[{"ports": [{"port": 53}]}]))
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert stored["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    assert run("networking.k8s.io", "networkpolicies", policy())[0]["spec"]["policyTypes"] == ["Ingress"]


def ingress_class(controller: str) -> Obj:
    return {"metadata": {"name": "nginx"}, "spec": {"controller": controller}}


def test_ingress_class_controller() -> None:
    assert run("networking.k8s.io", "ingressclasses", ingress_class("example.com/ingress"))[1] == []
    assert run("networking.k8s.io", "ingressclasses", ingress_class("nginx"))[1] == [
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")']

    def change(new: Obj) -> None:
        new["spec"]["controller"] = "example.com/other"
    assert run("networking.k8s.io", "ingressclasses", ingress_class("example.com/ingress"), change)[1] == [
        'spec.controller: Invalid value: "example.com/other": field is immutable']


def storage_class(**fields: Any) -> Obj:
    return {"metadata": {"name": "fast"}, "provisioner": "example.com/disk", **fields}


def test_storage_class_defaults_validation_and_immutability() -> None:
    stored, errors = run("storage.k8s.io", "storageclasses", storage_class())
    assert errors == [] and (stored["reclaimPolicy"], stored["volumeBindingMode"]) == ("Delete", "Immediate")
    assert run("storage.k8s.io", "storageclasses", storage_class(reclaimPolicy="Recycle"))[1] == [
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"']
    assert run("storage.k8s.io", "storageclasses", storage_class(provisioner=""))[1] == ["provisioner: Required value"]

    def change(new: Obj) -> None:
        new["parameters"] = {"type": "ssd"}
        new["volumeBindingMode"] = "WaitForFirstConsumer"
    assert run("storage.k8s.io", "storageclasses", storage_class(), change)[1] == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable']


def claim(**spec: Any) -> Obj:
    base: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    base.update(spec)
    return {"metadata": {"name": "data", "namespace": "default"}, "spec": base}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(claim(), [], id="valid"),
    pytest.param(claim(accessModes=[]), ["spec.accessModes: Required value: at least 1 access mode is required"],
                 id="no-access-mode"),
    pytest.param(claim(resources={}), ["spec.resources[storage]: Required value"], id="no-storage"),
    pytest.param(claim(resources={"requests": {"storage": "0"}}),
                 ['spec.resources[storage]: Invalid value: "0": must be greater than zero'], id="zero-storage"),
    pytest.param(claim(accessModes=["ReadWriteOncePod", "ReadOnlyMany"]),
                 ["spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"], id="rwop"),
    pytest.param(claim(volumeMode="Tape"),
                 ['spec.volumeMode: Unsupported value: "Tape": supported values: "Block", "Filesystem"'],
                 id="volume-mode"),
])
def test_claim_validation(obj: Obj, errors: list[str]) -> None:
    assert run("", "persistentvolumeclaims", obj)[1] == errors


def test_claim_spec_is_immutable_except_requests_and_binding() -> None:
    def grow_and_bind(new: Obj) -> None:
        new["spec"]["resources"]["requests"]["storage"] = "2Gi"
        new["spec"]["volumeName"] = "pv-1"
    assert run("", "persistentvolumeclaims", claim(), grow_and_bind)[1] == []

    def change_modes(new: Obj) -> None:
        new["spec"]["accessModes"] = ["ReadWriteMany"]
    assert run("", "persistentvolumeclaims", claim(), change_modes)[1] == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims"]


def test_controller_revision_data_is_mandatory_and_immutable() -> None:
    revision = {"metadata": {"name": "web-1", "namespace": "default"}, "revision": 1, "data": {"spec": {}}}
    assert run("apps", "controllerrevisions", revision)[1] == []
    assert run("apps", "controllerrevisions", {**revision, "data": None, "revision": -1})[1] == [
        "data: Required value: data is mandatory", "revision: Invalid value: -1: must be greater than or equal to 0"]

    def change(new: Obj) -> None:
        new["data"] = {"spec": {"x": 1}}
    assert run("apps", "controllerrevisions", revision, change)[1] == [
        'data: Invalid value: {"spec":{"x":1}}: field is immutable']


def ingress(**spec: Any) -> Obj:
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


BACKEND: Obj = {"service": {"name": "web", "port": {"number": 80}}}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(ingress(rules=[{"host": "a.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": BACKEND}]}}]), [], id="valid"),
    pytest.param(ingress(), ["spec: Invalid value: null: either `defaultBackend` or `rules` must be specified"],
                 id="nothing"),
    pytest.param(ingress(rules=[{"host": "10.0.0.1", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": BACKEND}]}}]),
                 ['spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address'],
                 id="ip-host"),
    pytest.param(ingress(rules=[{"http": {"paths": [{"path": "/a//b", "pathType": "Exact", "backend": BACKEND}]}}]),
                 ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"],
                 id="double-slash"),
    pytest.param(ingress(rules=[{"http": {"paths": [{"path": "/", "backend": BACKEND}]}}]),
                 ["spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"], id="no-type"),
    pytest.param(ingress(defaultBackend={"service": {"name": "web", "port": {"name": "http", "number": 80}}}),
                 ['spec.defaultBackend: Invalid value: "": cannot set both port name & port number'], id="port-both"),
    pytest.param(ingress(defaultBackend={}),
                 ['spec.defaultBackend: Invalid value: "": resource or service backend is required'], id="empty"),
])
def test_ingress_validation(obj: Obj, errors: list[str]) -> None:
    assert run("networking.k8s.io", "ingresses", obj)[1] == errors


def volume(**spec: Any) -> Obj:
    base: Obj = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}
    base.update(spec)
    return {"metadata": {"name": "pv-1"}, "spec": {k: v for k, v in base.items() if v is not None}}


@pytest.mark.parametrize("obj, errors", [
    pytest.param(volume(), [], id="valid"),
    pytest.param(volume(hostPath=None), ["spec: Required value: must specify a volume type"], id="no-source"),
    pytest.param(volume(nfs={"server": "s", "path": "/x"}),
                 ["spec.nfs: Forbidden: may not specify more than 1 volume type"], id="two-sources"),
    pytest.param(volume(capacity={"storage": "1Gi", "cpu": "1"}),
                 ['spec.capacity: Unsupported value: ["cpu","storage"]: supported values: "storage"'],
                 id="capacity-keys"),
    pytest.param(volume(persistentVolumeReclaimPolicy="Keep"),
                 ['spec.persistentVolumeReclaimPolicy: Unsupported value: "Keep": supported values: "Delete", '
                  '"Recycle", "Retain"'], id="reclaim"),
])
def test_persistent_volume_validation(obj: Obj, errors: list[str]) -> None:
    assert run("", "persistentvolumes", obj)[1] == errors


def test_persistent_volume_defaults_and_immutable_source() -> None:
    stored, _ = run("", "persistentvolumes", volume())
    assert (stored["spec"]["persistentVolumeReclaimPolicy"], stored["spec"]["volumeMode"]) == ("Retain", "Filesystem")
    assert stored["status"] == {"phase": "Pending"}

    def change(new: Obj) -> None:
        new["spec"]["hostPath"] = {"path": "/other"}
    assert run("", "persistentvolumes", volume(), change)[1] == [
        "spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation"]
