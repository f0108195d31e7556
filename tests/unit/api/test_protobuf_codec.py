"""The Kubernetes protobuf codec: golden bytes, real kubectl bodies, round trips, errors, watch frames.

Where the expected bytes come from:

* "golden" cases are built by hand below from upstream's ``generated.proto`` field numbers
  (kubernetes/api and kubernetes/apimachinery, release-1.32) and gogo-protobuf's rules (non-pointer
  scalars and structs always written, pointers only when set, ascending field numbers, sorted map keys);
* ``protobuf_fixtures/*.bin`` are request bodies captured from stock kubectl 1.32
  (``kubectl create namespace|configmap|secret|deployment|...``) by :func:`test_kubectl_sends_the_fixture_bytes`,
  which re-captures them whenever kubectl is installed (``KUBELITE_UPDATE_PROTOBUF_FIXTURES=1`` rewrites them);
* :func:`test_kubectl_decodes_random_objects_like_we_do` answers kubectl with our protobuf for random
  objects and compares what kubectl's Go decoder and JSON printer make of it with our own decoding.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import http.server
import importlib.util
import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubelite.api.protobuf import (
    MAGIC,
    ProtobufError,
    codec,
    decode,
    decode_message,
    decode_watch_event,
    encode,
    encode_message,
    encode_watch_event,
    split_watch_frames,
    supports,
    wellknown,
)
from kubelite.api.protobuf.schema import FieldSpec, MessageSpec, SchemaDataError, parse_schema, schema
from kubelite.api.quantity import Quantity

FIXTURES = Path(__file__).parent / "protobuf_fixtures"
REPO_ROOT = Path(__file__).resolve().parents[3]
UPDATE_FIXTURES = os.environ.get("KUBELITE_UPDATE_PROTOBUF_FIXTURES") == "1"


# ==================================================================================================
# A minimal, independent protobuf writer for hand-built golden bytes


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def fv(number: int, value: int) -> bytes:
    """A varint field (int32, int64, bool)."""
    return varint(number << 3) + varint(value)


def fs(number: int, value: str | bytes) -> bytes:
    """A length-delimited string or bytes field."""
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def fm(number: int, *parts: bytes) -> bytes:
    """A length-delimited embedded message made of ``parts``."""
    return fs(number, b"".join(parts))


def entry(number: int, key: str, value_field: bytes) -> bytes:
    """One map entry: key = 1, value = 2."""
    return fm(number, fs(1, key), value_field)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """runtime.Unknown: typeMeta = 1 (apiVersion = 1, kind = 2), raw = 2, contentEncoding = 3, contentType = 4."""
    return MAGIC + fm(1, fs(1, api_version), fs(2, kind)) + fm(2, raw) + fs(3, "") + fs(4, "")


def unix(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def timestamp(text: str, nanos: int = 0) -> bytes:
    """metav1.Time/MicroTime body: seconds = 1, nanos = 2 (both always written)."""
    return fv(1, unix(text)) + fv(2, nanos)


def object_meta(*, name: str = "", namespace: str = "", uid: str = "", resource_version: str = "",
                generation: int = 0, created: str | None = None, labels: dict[str, str] | None = None,
                annotations: dict[str, str] | None = None) -> bytes:
    """ObjectMeta: name 1, generateName 2, namespace 3, selfLink 4, uid 5, resourceVersion 6, generation 7,
    creationTimestamp 8 (non-pointer Time: always written, empty when zero), labels 11, annotations 12."""
    return b"".join([
        fs(1, name), fs(2, ""), fs(3, namespace), fs(4, ""), fs(5, uid), fs(6, resource_version),
        fv(7, generation), fm(8, timestamp(created) if created else b""),
        *(entry(11, k, fs(2, v)) for k, v in sorted((labels or {}).items())),
        *(entry(12, k, fs(2, v)) for k, v in sorted((annotations or {}).items())),
    ])


def int_or_string(value: int | str) -> bytes:
    """IntOrString: type 1 (0 int, 1 string), intVal 2, strVal 3, all always written."""
    if isinstance(value, int):
        return fv(1, 0) + fv(2, value) + fs(3, "")
    return fv(1, 1) + fv(2, 0) + fs(3, value)


def quantity_map(number: int, values: dict[str, str]) -> bytes:
    """map<string, resource.Quantity>; Quantity: string = 1."""
    return b"".join(entry(number, k, fm(2, fs(1, v))) for k, v in sorted(values.items()))


def container(*, name: str, image: str, command: tuple[str, ...] = (), ports: tuple[int, ...] = (),
              limits: dict[str, str] | None = None, requests: dict[str, str] | None = None) -> bytes:
    """Container: name 1, image 2, command 3, workingDir 5, ports 6, resources 8 (ResourceRequirements: limits 1,
    requests 2), terminationMessagePath 13, imagePullPolicy 14, stdin 16, stdinOnce 17, tty 18,
    terminationMessagePolicy 20. ContainerPort: name 1, hostPort 2, containerPort 3, protocol 4, hostIP 5."""
    return b"".join([
        fs(1, name), fs(2, image), *(fs(3, c) for c in command), fs(5, ""),
        *(fm(6, fs(1, ""), fv(2, 0), fv(3, p), fs(4, "TCP"), fs(5, "")) for p in ports),
        fm(8, quantity_map(1, limits or {}), quantity_map(2, requests or {})),
        fs(13, ""), fs(14, ""), fv(16, 0), fv(17, 0), fv(18, 0), fs(20, ""),
    ])


def pod_spec(*containers: bytes, restart_policy: str = "", node_name: str = "") -> bytes:
    """PodSpec's always-written fields: containers 2, restartPolicy 3, dnsPolicy 6, serviceAccountName 8,
    serviceAccount 9, nodeName 10, hostNetwork 11, hostPID 12, hostIPC 13, hostname 16, subdomain 17,
    schedulerName 19, priorityClassName 24."""
    return b"".join([
        *(fm(2, c) for c in containers), fs(3, restart_policy), fs(6, ""), fs(8, ""), fs(9, ""),
        fs(10, node_name), fv(11, 0), fv(12, 0), fv(13, 0), fs(16, ""), fs(17, ""), fs(19, ""), fs(24, ""),
    ])


# ==================================================================================================
# Golden cases: JSON <-> bytes built by hand from upstream field numbers

NAMESPACE_JSON = {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "foo"}, "spec": {}, "status": {}}
# Namespace: metadata 1, spec 2 (finalizers 1), status 3 (phase 1: a non-pointer string, always written)
NAMESPACE_RAW = fm(1, object_meta(name="foo")) + fm(2) + fm(3, fs(1, ""))
NAMESPACE_PB = envelope("v1", "Namespace", NAMESPACE_RAW)

CONFIGMAP_JSON = {
    "kind": "ConfigMap", "apiVersion": "v1",
    "metadata": {"name": "cfg", "namespace": "default", "labels": {"tier": "web", "app": "shop"}},
    "data": {"b.conf": "two", "a.conf": "one\nline"},
    "binaryData": {"blob": base64.b64encode(b"\xff\x00\x01").decode(), "empty": ""},
}
# ConfigMap: metadata 1, data 2 (map<string,string>), binaryData 3 (map<string,bytes>), immutable 4 (*bool)
CONFIGMAP_PB = envelope("v1", "ConfigMap", b"".join([
    fm(1, object_meta(name="cfg", namespace="default", labels={"app": "shop", "tier": "web"})),
    entry(2, "a.conf", fs(2, "one\nline")), entry(2, "b.conf", fs(2, "two")),
    entry(3, "blob", fs(2, b"\xff\x00\x01")), entry(3, "empty", fs(2, b"")),
]))

SECRET_JSON = {
    "kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "uid": "u-1", "resourceVersion": "42"},
    "immutable": False, "data": {"password": base64.b64encode(b"s3cr3t\x00").decode()},
    "stringData": {"user": "admin"}, "type": "Opaque",
}
# Secret: metadata 1, data 2 (map<string,bytes>), type 3, stringData 4, immutable 5 (*bool: false is written)
SECRET_PB = envelope("v1", "Secret", b"".join([
    fm(1, object_meta(name="s", uid="u-1", resource_version="42")),
    entry(2, "password", fs(2, b"s3cr3t\x00")), fs(3, "Opaque"), entry(4, "user", fs(2, "admin")), fv(5, 0),
]))

DEPLOYMENT_JSON = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "namespace": "prod", "generation": 2, "labels": {"app": "web"}},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}], "resources": {}}],
                     "restartPolicy": "Always"},
        },
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
        "minReadySeconds": 5,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    },
    "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
               "availableReplicas": 3},
}
# DeploymentSpec: replicas 1 (*int32), selector 2 (LabelSelector: matchLabels 1), template 3 (PodTemplateSpec:
# metadata 1, spec 2), strategy 4 (type 1, rollingUpdate 2: maxUnavailable 1, maxSurge 2), minReadySeconds 5,
# revisionHistoryLimit 6 (*int32), paused 7, progressDeadlineSeconds 9 (*int32).
# DeploymentStatus: observedGeneration 1, replicas 2, updatedReplicas 3, availableReplicas 4,
# unavailableReplicas 5, readyReplicas 7.
DEPLOYMENT_PB = envelope("apps/v1", "Deployment", b"".join([
    fm(1, object_meta(name="web", namespace="prod", generation=2, labels={"app": "web"})),
    fm(2,
       fv(1, 3),
       fm(2, entry(1, "app", fs(2, "web"))),
       fm(3, fm(1, object_meta(labels={"app": "web"})),
          fm(2, pod_spec(container(name="nginx", image="nginx:1.27", ports=(80,)), restart_policy="Always"))),
       fm(4, fs(1, "RollingUpdate"), fm(2, fm(1, int_or_string(1)), fm(2, int_or_string("25%")))),
       fv(5, 5), fv(6, 10), fv(7, 0), fv(9, 600)),
    fm(3, fv(1, 2), fv(2, 3), fv(3, 3), fv(4, 3), fv(5, 0), fv(7, 3)),
]))

POD_JSON = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "db-0", "namespace": "data", "uid": "6f0c2b8e-1111-4222-8333-944455556666",
                 "resourceVersion": "1234", "creationTimestamp": "2024-01-02T03:04:05Z"},
    "spec": {
        "containers": [{
            "name": "postgres", "image": "postgres:16", "command": ["postgres", "-c", "fsync=off"],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}},
        }],
        "restartPolicy": "Always",
        "nodeName": "node-1",
    },
    "status": {"phase": "Running", "podIP": "10.42.0.5", "startTime": "2024-01-02T03:04:06Z"},
}
# PodStatus: phase 1, message 3, reason 4, hostIP 5, podIP 6, startTime 7 (*Time), qosClass 9,
# nominatedNodeName 11, resize 14 (the non-pointer strings are always written).
POD_PB = envelope("v1", "Pod", b"".join([
    fm(1, object_meta(name="db-0", namespace="data", uid="6f0c2b8e-1111-4222-8333-944455556666",
                      resource_version="1234", created="2024-01-02T03:04:05Z")),
    fm(2, pod_spec(container(name="postgres", image="postgres:16", command=("postgres", "-c", "fsync=off"),
                             limits={"cpu": "500m", "memory": "128Mi"}, requests={"cpu": "250m"}),
                   restart_policy="Always", node_name="node-1")),
    fm(3, fs(1, "Running"), fs(3, ""), fs(4, ""), fs(5, ""), fs(6, "10.42.0.5"),
       fm(7, timestamp("2024-01-02T03:04:06Z")), fs(9, ""), fs(11, ""), fs(14, "")),
]))

LEASE_JSON = {
    "kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
    "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
    "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
             "renewTime": "2024-01-02T03:04:05.123456Z"},
}
# LeaseSpec: holderIdentity 1, leaseDurationSeconds 2, acquireTime 3, renewTime 4 (*MicroTime: nanos kept)
LEASE_PB = envelope("coordination.k8s.io/v1", "Lease", b"".join([
    fm(1, object_meta(name="node-1", namespace="kube-node-lease")),
    fm(2, fs(1, "node-1"), fv(2, 40), fm(4, timestamp("2024-01-02T03:04:05Z", nanos=123_456_000))),
]))

STATUS_JSON = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'pods "foo" not found', "reason": "NotFound", "details": {"name": "foo", "kind": "pods"},
    "code": 404,
}
# Status: metadata 1 (ListMeta: selfLink 1, resourceVersion 2, continue 3), status 2, message 3, reason 4,
# details 5 (name 1, group 2, kind 3, retryAfterSeconds 5, uid 6), code 6
STATUS_PB = envelope("v1", "Status", b"".join([
    fm(1, fs(1, ""), fs(2, ""), fs(3, "")), fs(2, "Failure"), fs(3, 'pods "foo" not found'), fs(4, "NotFound"),
    fm(5, fs(1, "foo"), fs(2, ""), fs(3, "pods"), fv(5, 0), fs(6, "")), fv(6, 404),
]))

RESOURCE_LIST_JSON = {
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
    "resources": [{"name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
                   "verbs": ["create", "get"], "shortNames": ["deploy"]},
                  {"name": "deployments/status", "singularName": "", "namespaced": True, "kind": "Deployment",
                   "verbs": []}],
}
# APIResource: name 1, namespaced 2, kind 3, verbs 4 (metav1.Verbs: a message of repeated items = 1),
# shortNames 5, singularName 6, group 8, version 9, storageVersionHash 10
RESOURCE_LIST_PB = envelope("v1", "APIResourceList", b"".join([
    fs(1, "apps/v1"),
    fm(2, fs(1, "deployments"), fv(2, 1), fs(3, "Deployment"), fm(4, fs(1, "create"), fs(1, "get")),
       fs(5, "deploy"), fs(6, "deployment"), fs(8, ""), fs(9, ""), fs(10, "")),
    fm(2, fs(1, "deployments/status"), fv(2, 1), fs(3, "Deployment"), fm(4), fs(6, ""), fs(8, ""), fs(9, ""),
       fs(10, "")),
]))

GOLDEN = [
    pytest.param(NAMESPACE_JSON, NAMESPACE_PB, id="namespace"),
    pytest.param(CONFIGMAP_JSON, CONFIGMAP_PB, id="configmap-data-and-binarydata"),
    pytest.param(SECRET_JSON, SECRET_PB, id="secret-bytes-and-pointer-false"),
    pytest.param(DEPLOYMENT_JSON, DEPLOYMENT_PB, id="deployment-intorstring-and-ints"),
    pytest.param(POD_JSON, POD_PB, id="pod-quantities-and-times"),
    pytest.param(LEASE_JSON, LEASE_PB, id="lease-microtime"),
    pytest.param(STATUS_JSON, STATUS_PB, id="status"),
    pytest.param(RESOURCE_LIST_JSON, RESOURCE_LIST_PB, id="apiresourcelist-verbs"),
]


@pytest.mark.parametrize(("obj", "data"), GOLDEN)
def test_encode_writes_the_golden_bytes(obj: dict[str, Any], data: bytes) -> None:
    assert encode(obj).hex(" ") == data.hex(" ")


@pytest.mark.parametrize(("obj", "data"), GOLDEN)
def test_decode_reads_the_golden_bytes(obj: dict[str, Any], data: bytes) -> None:
    assert decode(data) == obj


# ==================================================================================================
# Real request bodies of kubectl 1.32 (tests/unit/api/protobuf_fixtures/*.bin)

CAPTURED_BY_KUBECTL_NO_NULLS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "namespace": (["create", "namespace", "foo"], NAMESPACE_JSON),
    "configmap": (["create", "configmap", "x", "--from-literal=a=b", "--from-file=blob={blob}"],
                  {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "x"}, "data": {"a": "b"},
                   "binaryData": {"blob": "/wAB"}}),
    "secret": (["create", "secret", "generic", "s", "--from-literal=k=v"],
               {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": {"k": "dg=="}}),
    "deployment": (["create", "deployment", "web", "--image=busybox", "--replicas=2"],
                   {"kind": "Deployment", "apiVersion": "apps/v1",
                    "metadata": {"name": "web", "labels": {"app": "web"}},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                             "template": {"metadata": {"labels": {"app": "web"}},
                                          "spec": {"containers": [{"name": "busybox", "image": "busybox",
                                                                   "resources": {}}]}},
                             "strategy": {}},
                    "status": {}}),
    "service": (["create", "service", "clusterip", "svc", "--tcp=80:8080"],
                {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "svc", "labels": {"app": "svc"}},
                 "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                          "selector": {"app": "svc"}, "type": "ClusterIP"},
                 "status": {"loadBalancer": {}}}),
    "poddisruptionbudget": (["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=50%"],
                            {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1", "metadata": {"name": "pdb"},
                             "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
                             "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0,
                                        "expectedPods": 0}}),
    "resourcequota": (["create", "quota", "q", "--hard=cpu=1500m,memory=1Gi,pods=10"],
                      {"kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "q"},
                       "spec": {"hard": {"cpu": "1500m", "memory": "1Gi", "pods": "10"}}, "status": {}}),
    "tokenrequest": (["create", "token", "default"],
                     {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {},
                      "spec": {}, "status": {"token": ""}}),
    "job": (["create", "job", "j", "--image=busybox", "-o", "json", "--", "echo", "hi"],
            {"kind": "Job", "apiVersion": "batch/v1", "metadata": {"name": "j"},
             "spec": {"template": {"metadata": {},
                                   "spec": {"containers": [{"name": "j", "image": "busybox", "command": ["echo", "hi"],
                                                            "resources": {}}],
                                            "restartPolicy": "Never"}}},
             "status": {}}),
    "priorityclass": (["create", "priorityclass", "high", "--value=1000", "--description=important"],
                      {"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": {"name": "high"},
                       "value": 1000, "description": "important", "preemptionPolicy": "PreemptLowerPriority"}),
}
FIXTURE_IDS = sorted(CAPTURED_BY_KUBECTL_NO_NULLS)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.bin").read_bytes()


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_decode_of_kubectl_body_is_upstream_json(name: str) -> None:
    assert decode(fixture_bytes(name)) == CAPTURED_BY_KUBECTL_NO_NULLS[name][1]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_encode_reproduces_kubectl_body_byte_for_byte(name: str) -> None:
    assert encode(CAPTURED_BY_KUBECTL_NO_NULLS[name][1]).hex(" ") == fixture_bytes(name).hex(" ")


# ==================================================================================================
# Decoding rules that the goldens do not show


def test_unknown_fields_are_skipped() -> None:
    group = varint(102 << 3 | 3) + fv(1, 5) + varint(102 << 3 | 4)  # a proto2 group, also unknown
    extra = fv(99, 7) + fs(100, "future") + fm(101, fv(1, 1)) + group
    meta = object_meta(name="foo") + fs(50, "new ObjectMeta field")
    data = envelope("v1", "Namespace", fm(1, meta) + extra + fm(2) + fm(3, fs(1, "")))
    assert decode(data) == NAMESPACE_JSON


def test_packed_repeated_scalars_are_accepted() -> None:
    # PodSecurityContext.supplementalGroups = 4 (repeated int64); gogo writes it unpacked, proto2 parsers take both
    packed = fs(4, varint(1000) + varint(2000))
    sc = decode_message("k8s.io.api.core.v1.PodSecurityContext", packed + fv(4, 3000))
    assert sc["supplementalGroups"] == [1000, 2000, 3000]


def test_a_message_field_sent_twice_is_merged() -> None:
    spec = decode_message("k8s.io.api.core.v1.ContainerPort", fv(3, 80) + fv(3, 81) + fs(4, "UDP"))
    assert spec == {"containerPort": 81, "protocol": "UDP"}
    meta = decode_message("k8s.io.api.core.v1.Namespace", fm(1, fs(1, "a")) + fm(1, entry(11, "k", fs(2, "v"))))
    assert meta["metadata"] == {"name": "a", "labels": {"k": "v"}}


@pytest.mark.parametrize(("message", "data", "expected"), [
    pytest.param("k8s.io.api.core.v1.ContainerPort", b"", {"containerPort": 0},
                 id="absent-non-omitempty-scalar-is-zero"),
    pytest.param("k8s.io.api.core.v1.ContainerPort", fv(2, 0) + fv(3, 8080) + fs(4, ""), {"containerPort": 8080},
                 id="zero-omitempty-scalars-dropped"),
    pytest.param("k8s.io.api.apps.v1.DeploymentSpec", fv(1, 0),
                 {"replicas": 0, "template": {"metadata": {}, "spec": {}}, "strategy": {}},
                 id="pointer-zero-kept-non-pointer-struct-emitted"),
    pytest.param("k8s.io.api.core.v1.Container", fv(16, 1) + fv(17, 0), {"name": "", "resources": {}, "stdin": True},
                 id="bools"),
    pytest.param("k8s.io.api.core.v1.Volume", fs(1, "data") + fm(2, fm(1, fs(1, "/srv"), fs(2, "Directory"))),
                 {"name": "data", "hostPath": {"path": "/srv", "type": "Directory"}}, id="inline-volume-source"),
    pytest.param("k8s.io.api.core.v1.Probe",
                 fm(1, fm(2, fs(1, "/healthz"), fm(2, int_or_string("http")))) + fv(2, 3),
                 {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 3},
                 id="inline-probe-handler"),
    pytest.param("k8s.io.api.core.v1.ContainerPort", fs(1, b"p\xffq") + fv(3, 1),
                 {"name": "p\ufffdq", "containerPort": 1}, id="invalid-utf8-replaced"),
    pytest.param("k8s.io.api.core.v1.PodSpec", fv(4, (1 << 64) - 5), {"terminationGracePeriodSeconds": -5},
                 id="negative-int64"),
    pytest.param("k8s.io.api.core.v1.PodSecurityContext", fv(2, (1 << 64) - 1), {"runAsUser": -1},
                 id="ten-byte-varint"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", fm(8, fv(1, wellknown.ZERO_TIME_UNIX), fv(2, 0)),
                 {}, id="go-zero-time-is-null"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", fm(8, fv(1, 0), fv(2, 999)),
                 {"creationTimestamp": "1970-01-01T00:00:00Z"}, id="time-drops-nanos"),
    pytest.param("k8s.io.api.core.v1.EventSeries", fm(2, fv(1, 1), fv(2, 1_999_999)) + fv(1, 2),
                 {"count": 2, "lastObservedTime": "1970-01-01T00:00:01.001999Z"}, id="microtime-truncates-to-micros"),
    pytest.param("k8s.io.api.apps.v1.ControllerRevision", fm(2, fs(1, b'{"spec":{"replicas":1}}')) + fv(3, 4),
                 {"metadata": {}, "data": {"spec": {"replicas": 1}}, "revision": 4}, id="raw-extension-json"),
    pytest.param("k8s.io.api.apps.v1.ControllerRevision", fm(2) + fv(3, 1), {"metadata": {}, "revision": 1},
                 id="raw-extension-nil-is-null"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
                 fs(1, "kubectl") + fm(7, fs(1, b'{"f:data":{".":{}}}')),
                 {"manager": "kubectl", "fieldsV1": {"f:data": {".": {}}}}, id="fieldsv1"),
    pytest.param("k8s.io.api.authentication.v1.UserInfo",
                 fs(1, "alice") + entry(4, "scopes", fm(2, fs(1, "a"), fs(1, "b"))),
                 {"username": "alice", "extra": {"scopes": ["a", "b"]}}, id="extra-value-list-wrapper"),
    pytest.param("k8s.io.api.certificates.v1.CertificateSigningRequestStatus", fs(2, b""), {},
                 id="empty-omitempty-bytes-dropped"),
    pytest.param("k8s.io.api.certificates.v1.CertificateSigningRequestSpec", fs(1, b""),
                 {"request": "", "signerName": ""}, id="empty-bytes-kept-without-omitempty"),
])
def test_decode_message_rules(message: str, data: bytes, expected: Any) -> None:
    assert decode_message(message, data) == expected


@pytest.mark.parametrize(("message", "value", "expected"), [
    pytest.param("k8s.io.apimachinery.pkg.util.intstr.IntOrString", 8080, 8080, id="intorstring-int"),
    pytest.param("k8s.io.apimachinery.pkg.util.intstr.IntOrString", "25%", "25%", id="intorstring-string"),
    pytest.param("k8s.io.apimachinery.pkg.util.intstr.IntOrString", -1, -1, id="intorstring-negative"),
    pytest.param("k8s.io.apimachinery.pkg.api.resource.Quantity", "1000m", "1", id="quantity-canonical"),
    pytest.param("k8s.io.apimachinery.pkg.api.resource.Quantity", 0.5, "500m", id="quantity-json-number"),
    pytest.param("k8s.io.apimachinery.pkg.api.resource.Quantity", None, "0", id="quantity-zero"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.Duration", "90m", "1h30m0s", id="duration"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.Time", "2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05Z",
                 id="time-offset-to-utc"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.Time", "2024-01-02T03:04:05.987Z", "2024-01-02T03:04:05Z",
                 id="time-fraction-dropped"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.Time", "0001-01-01T00:00:00Z", None, id="time-zero-is-null"),
    pytest.param("k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime", "2024-01-02T03:04:05.1234567Z",
                 "2024-01-02T03:04:05.123456Z", id="microtime"),
    pytest.param(f"{codec._APIEXT}.JSONSchemaPropsOrBool", True, True, id="or-bool-true"),
    pytest.param(f"{codec._APIEXT}.JSONSchemaPropsOrBool", {"type": "string"}, {"type": "string"}, id="or-bool-schema"),
    pytest.param(f"{codec._APIEXT}.JSONSchemaPropsOrArray", [{"type": "string"}], [{"type": "string"}],
                 id="or-array-list"),
    pytest.param(f"{codec._APIEXT}.JSONSchemaPropsOrStringArray", ["a"], ["a"], id="or-string-array"),
    pytest.param(f"{codec._APIEXT}.JSON", {"x": [1, "y", None]}, {"x": [1, "y", None]}, id="apiextensions-json"),
])
def test_hand_marshalled_types_round_trip(message: str, value: Any, expected: Any) -> None:
    assert decode_message(message, encode_message(message, value)) == expected


def test_crd_schema_json_names_and_nesting() -> None:
    crd = {
        "kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}, "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"spec": {"type": "object", "required": ["size"], "additionalProperties": False,
                                        "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 1.5,
                                                                "default": 3, "x-kubernetes-int-or-string": True},
                                                       "tags": {"type": "array", "items": {"type": "string"},
                                                                "x-kubernetes-list-type": "set"}}}},
                "x-kubernetes-validations": [{"rule": "self.spec.size < 10", "message": "too big"}],
            }}}],
        },
        "status": {"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]},
    }
    assert decode(encode(crd)) == crd


# ==================================================================================================
# Errors


@pytest.mark.parametrize(("data", "message"), [
    pytest.param(b"", "empty body", id="empty"),
    pytest.param(b'{"kind":"Namespace"}', "does not start with the Kubernetes protobuf prefix", id="json-body"),
    pytest.param(b"k8s\x01" + NAMESPACE_PB[4:], "does not start with the Kubernetes protobuf prefix", id="bad-magic"),
    pytest.param(MAGIC, "empty body after the Kubernetes protobuf prefix", id="magic-only"),
    pytest.param(NAMESPACE_PB[:-9], "truncated data", id="truncated-envelope"),
    pytest.param(MAGIC + b"\x0a\x80", "truncated data: a varint runs past the end", id="truncated-varint"),
    pytest.param(envelope("v1", "Namespace", fm(1, fs(1, "foo"))[:-2]), "truncated data", id="truncated-object"),
    pytest.param(envelope("v1", "Namespace", fv(1, 5)),
                 "wire type mismatch for field 1 (metadata, message): got wire type 0 (varint), expected 2",
                 id="wire-type-mismatch"),
    pytest.param(envelope("apps/v1", "Deployment", fm(2, fs(1, "3"))),
                 "k8s.io.api.apps.v1.DeploymentSpec at spec: wire type mismatch for field 1 (replicas, int32)",
                 id="wire-type-mismatch-nested"),
    pytest.param(envelope("v1", "Namespace", b"\x0f\x00"), "wire type 7 (invalid)", id="invalid-wire-type"),
    pytest.param(envelope("v1", "Namespace", b"\x0b\x0c"), "field 1 (metadata, message): got wire type 3 (start-group)",
                 id="group-for-known-field"),
    pytest.param(envelope("v1", "Namespace", b"\x0b\x08\x01"), "group 1 has no end-group tag", id="unterminated-group"),
    pytest.param(envelope("v1", "Namespace", b"\x00"), "invalid field number 0", id="field-number-zero"),
    pytest.param(envelope("example.com/v1", "Widget", b""), "no protobuf message for kind 'Widget' in apiVersion "
                 "'example.com/v1' (unknown group version); custom resources", id="unknown-kind"),
    pytest.param(envelope("v1", "Deployment", b""), "no protobuf message for kind 'Deployment' in apiVersion 'v1' "
                 "(known group version)", id="kind-in-wrong-group"),
    pytest.param(envelope("v1", "", b""), "typeMeta has no kind", id="no-kind"),
    pytest.param(envelope("", "Pod", b""), "has no apiVersion", id="no-api-version"),
    pytest.param(MAGIC + fm(1, fs(1, "v1"), fs(2, "Pod")) + fm(2) + fs(3, "gzip"), "contentEncoding 'gzip'",
                 id="content-encoding"),
    pytest.param(MAGIC + fm(1, fs(1, "v1"), fs(2, "Pod")) + fm(2) + fs(4, "application/json"),
                 "contentType 'application/json'", id="content-type"),
    pytest.param(envelope("v1", "ResourceQuota", fm(2, entry(1, "cpu", fm(2, fs(1, "1.5.5"))))),
                 "spec.hard['cpu']: invalid quantity '1.5.5'", id="invalid-quantity"),
    pytest.param(envelope("v1", "Service", fm(2, fm(1, fm(4, fv(1, 2))))),
                 "spec.ports[0].targetPort: IntOrString has type 2; allowed: 0 (int) and 1 (string)",
                 id="intorstring-type"),
    pytest.param(envelope("apps/v1", "ControllerRevision", fm(2, fs(1, b"{not json"))),
                 "data: RawExtension does not hold valid JSON", id="raw-extension-not-json"),
    pytest.param(envelope("v1", "Pod", fm(1, fm(8, fv(1, 1 << 40)))), "outside years 1-9999", id="time-out-of-range"),
])
def test_decode_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtobufError) as info:
        decode(data)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_decode_fills_in_a_missing_type_from_defaults() -> None:
    data = MAGIC + fm(1, fs(1, ""), fs(2, "")) + fm(2, NAMESPACE_RAW)
    assert decode(data, default_api_version="v1", default_kind="Namespace") == NAMESPACE_JSON


@pytest.mark.parametrize(("obj", "message"), [
    pytest.param([], "expected a JSON object", id="not-an-object"),
    pytest.param({"kind": "Pod"}, "apiVersion is None", id="no-api-version"),
    pytest.param({"apiVersion": "v1", "kind": ""}, "kind is ''", id="empty-kind"),
    pytest.param({"apiVersion": "example.com/v1", "kind": "Widget"}, "no protobuf message for kind 'Widget'",
                 id="custom-resource"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "3"}},
                 "spec.replicas: expected an integer (int32), got string '3'", id="string-for-int"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1 << 31}},
                 "spec.replicas: 2147483648 is out of range for int32", id="int32-overflow"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2.5}},
                 "spec.replicas: expected an integer (int32), got number 2.5", id="float-for-int"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"paused": "yes"}},
                 "spec.paused: expected a boolean", id="string-for-bool"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": {"name": "x"}}},
                 "spec.containers: expected an array, got object", id="object-for-list"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": ["x"]}},
                 "spec.containers[0]: expected an object (Container), got string", id="string-for-object"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": ["a"]}},
                 "metadata.labels: expected an object, got array", id="list-for-map"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": 1}}},
                 "metadata.labels['a']: expected a string, got number 1", id="int-label-value"),
    pytest.param({"apiVersion": "v1", "kind": "Secret", "data": {"k": "not base64!"}},
                 "data['k']: 'not base64!' is not valid base64", id="bad-base64"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "yesterday"}},
                 "metadata.creationTimestamp: time 'yesterday' is not in RFC 3339 form", id="bad-time"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "2024-02-30T00:00:00Z"}},
                 "is not a valid RFC 3339 time", id="impossible-date"),
    pytest.param({"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"cpu": "lots"}}},
                 "spec.hard['cpu']: invalid quantity 'lots'", id="bad-quantity"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": True}]}},
                 "spec.ports[0].targetPort: expected an integer or a string, got boolean", id="bool-intorstring"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": 1 << 40}]}},
                 "out of range for an int-or-string", id="intorstring-overflow"),
    pytest.param({"apiVersion": "batch/v1", "kind": "Job", "spec": {"podFailurePolicy": {"rules": [
        {"onExitCodes": {"values": [1, "2"]}}]}}},
                 "spec.podFailurePolicy.rules[0].onExitCodes.values[1]: expected an integer", id="repeated-int"),
])
def test_encode_errors(obj: Any, message: str) -> None:
    with pytest.raises(ProtobufError) as info:
        encode(obj)
    assert message in str(info.value)


def test_encode_ignores_unknown_json_fields_and_nulls() -> None:
    obj = {**NAMESPACE_JSON, "bogus": {"x": 1}, "metadata": {"name": "foo", "labels": None, "whatever": 3}}
    assert encode(obj) == NAMESPACE_PB


def test_encode_fills_absent_non_pointer_fields_like_go() -> None:
    # {"kind":"Namespace","apiVersion":"v1","metadata":{"name":"foo"}} unmarshals in Go to a struct whose
    # spec and status are zero structs, which gogo writes anyway.
    assert encode({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "foo"}}) == NAMESPACE_PB


# ==================================================================================================
# Watch frames


def test_watch_event_frame_layout() -> None:
    frame = encode_watch_event("ADDED", NAMESPACE_JSON)
    # WatchEvent (raw, no prefix): type = 1, object = 2 (RawExtension: raw = 1 holding the prefixed object)
    body = fs(1, "ADDED") + fm(2, fs(1, NAMESPACE_PB))
    assert frame == len(body).to_bytes(4, "big") + body
    assert decode_watch_event(frame) == {"type": "ADDED", "object": NAMESPACE_JSON}


@pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"])
def test_watch_events_round_trip(event_type: str) -> None:
    assert decode_watch_event(encode_watch_event(event_type, POD_JSON)) == {"type": event_type, "object": POD_JSON}


def test_watch_error_event_carries_a_status() -> None:
    frame = encode_watch_event("ERROR", STATUS_JSON)
    assert decode_watch_event(frame)["object"] == STATUS_JSON


def test_split_watch_frames_keeps_the_partial_tail() -> None:
    frames = [encode_watch_event("ADDED", NAMESPACE_JSON), encode_watch_event("DELETED", POD_JSON)]
    stream = b"".join(frames) + frames[0][:7]
    complete, rest = split_watch_frames(stream)
    assert complete == frames
    assert rest == frames[0][:7]
    assert split_watch_frames(b"\x00\x00") == ([], b"\x00\x00")


@pytest.mark.parametrize(("frame", "message"), [
    pytest.param(b"\x00\x00", "truncated watch frame", id="short-header"),
    pytest.param(b"\x00\x00\x00\x09" + fs(1, "ADDED"), "header says 9 bytes but 7 follow", id="length-mismatch"),
    pytest.param(b"\x00\x00\x00\x07" + fs(1, "ADDED"), "watch event ADDED has no object", id="no-object"),
    pytest.param(b"\x00\x00\x00\x07" + fs(1, "HELLO"), "watch event type 'HELLO' is not one of", id="bad-type"),
])
def test_watch_frame_errors(frame: bytes, message: str) -> None:
    with pytest.raises(ProtobufError) as info:
        decode_watch_event(frame)
    assert message in str(info.value)


def test_encode_watch_event_rejects_unknown_types() -> None:
    with pytest.raises(ProtobufError, match="watch event type 'CHANGED' is not one of ADDED, MODIFIED"):
        encode_watch_event("CHANGED", NAMESPACE_JSON)


# ==================================================================================================
# Go's time and duration text (cases from Go's time package tests)


@pytest.mark.parametrize(("nanos", "text"), [
    pytest.param(0, "0s", id="zero"),
    pytest.param(1, "1ns", id="ns"),
    pytest.param(1100, "1.1\u00b5s", id="us"),
    pytest.param(2_200_000, "2.2ms", id="ms"),
    pytest.param(3_300_000_000, "3.3s", id="s"),
    pytest.param(4 * 60 * 10**9 + 5 * 10**9, "4m5s", id="m"),
    pytest.param(4 * 60 * 10**9 + 5_001_000_000, "4m5.001s", id="m-frac"),
    pytest.param(5 * 3600 * 10**9 + 6 * 60 * 10**9 + 7_001_000_000, "5h6m7.001s", id="h"),
    pytest.param(8 * 60 * 10**9 + 1, "8m0.000000001s", id="m-ns"),
    pytest.param((1 << 63) - 1, "2562047h47m16.854775807s", id="max"),
    pytest.param(-(1 << 63), "-2562047h47m16.854775808s", id="min"),
    pytest.param(-1_500_000, "-1.5ms", id="negative"),
])
def test_format_duration_matches_go(nanos: int, text: str) -> None:
    assert wellknown.format_duration(nanos) == text


@pytest.mark.parametrize(("text", "nanos"), [
    ("0", 0), ("5s", 5 * 10**9), ("30s", 30 * 10**9), ("1478s", 1478 * 10**9), ("-5s", -5 * 10**9),
    ("+5s", 5 * 10**9), ("-0", 0), ("+0", 0), ("5.0s", 5 * 10**9), ("5.6s", 5_600_000_000), ("5.s", 5 * 10**9),
    (".5s", 500_000_000), ("1.004s", 1_004_000_000), ("1.0040s", 1_004_000_000), ("100.00100s", 100_001_000_000),
    ("10ns", 10), ("11us", 11_000), ("12\u00b5s", 12_000), ("12\u03bcs", 12_000), ("13ms", 13_000_000),
    ("14s", 14 * 10**9), ("15m", 15 * 60 * 10**9), ("16h", 16 * 3600 * 10**9), ("3h30m", 12600 * 10**9),
    ("10.5s4m", 250_500_000_000), ("-2m3.4s", -123_400_000_000), ("1h2m3s4ms5us6ns", 3723004005006),
    ("39h9m14.425s", 140_954_425_000_000), ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * 60 * 10**9), ("9007199254740993ns", 9007199254740993),
    ("9223372036854775807ns", (1 << 63) - 1), ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1), ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)), ("-9223372036s854ms775us808ns", -(1 << 63)),
    ("0.100000000000000000000h", 6 * 60 * 10**9), ("0.830103483285477580700h", 49 * 60 * 10**9 + 48_372_539_827),
])
def test_parse_duration_matches_go(text: str, nanos: int) -> None:
    assert wellknown.parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "\u0663s", "1.2.3s",
                                  "9223372036854775808ns", "9223372036854775.808us", "-9223372036854775809ns",
                                  "9223372036854ms775us808ns"])
def test_parse_duration_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ProtobufError):
        wellknown.parse_duration(text)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("2024-01-02T03:04:05Z", (1704164645, 0), id="utc"),
    pytest.param("2024-01-02T03:04:05.5Z", (1704164645, 500_000_000), id="fraction"),
    pytest.param("2024-01-02T03:04:05.1234567891Z", (1704164645, 123_456_789), id="fraction-past-nanos-ignored"),
    pytest.param("2024-01-02T04:34:05+01:30", (1704164645, 0), id="positive-offset"),
    pytest.param("2024-01-01T23:04:05-04:00", (1704164645, 0), id="negative-offset"),
    pytest.param("1969-12-31T23:59:59Z", (-1, 0), id="before-epoch"),
    pytest.param("0001-01-01T00:00:00Z", (wellknown.ZERO_TIME_UNIX, 0), id="go-zero"),
])
def test_parse_time(text: str, expected: tuple[int, int]) -> None:
    assert wellknown.parse_time(text) == expected


@pytest.mark.parametrize("text", ["2024-01-02", "2024-01-02 03:04:05Z", "2024-01-02T03:04:05", "2024-01-02t03:04:05z",
                                  "2024-13-01T00:00:00Z", "2024-01-02T24:00:00Z", "2024-01-02T03:04:05+24:00",
                                  "2024-01-02T03:04:60Z", "2024-01-02T03:04:05,5Z"])
def test_parse_time_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ProtobufError):
        wellknown.parse_time(text)


def test_time_formatting() -> None:
    assert wellknown.format_time(1704164645) == "2024-01-02T03:04:05Z"
    assert wellknown.format_time(wellknown.ZERO_TIME_UNIX + 1) == "0001-01-01T00:00:01Z"
    assert wellknown.format_micro_time(1704164645, 5000) == "2024-01-02T03:04:05.000005Z"
    assert wellknown.truncate_to_micros(-1500) == -1000
    assert wellknown.normalize(5, -1) == (4, 999_999_999)
    with pytest.raises(ProtobufError, match="outside years 1-9999"):
        wellknown.format_time(253402300800)


# ==================================================================================================
# Round trips: decode(encode(x)) == x for objects in upstream's JSON form

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
TEXT = st.text(max_size=12)
NONEMPTY_TEXT = st.text(min_size=1, max_size=12)
INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
TIMES = st.integers(wellknown.ZERO_TIME_UNIX + 1, 253402300799).map(wellknown.format_time)
QUANTITIES = st.builds(lambda n, suffix: str(Quantity.parse(f"{n}{suffix}")),
                       st.integers(0, 10**9), st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"]))


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


def object_meta_json() -> st.SearchStrategy[dict[str, Any]]:
    return optional(
        name=NAMES, namespace=NAMES, uid=NONEMPTY_TEXT, resourceVersion=st.integers(1, 10**9).map(str),
        generation=st.integers(1, 1 << 40), creationTimestamp=TIMES, deletionTimestamp=TIMES,
        deletionGracePeriodSeconds=INT64, labels=st.dictionaries(NAMES, TEXT, min_size=1, max_size=3),
        annotations=st.dictionaries(NONEMPTY_TEXT, TEXT, min_size=1, max_size=3),
        finalizers=st.lists(NONEMPTY_TEXT, min_size=1, max_size=2),
        ownerReferences=st.lists(st.fixed_dictionaries(
            {"apiVersion": NAMES, "kind": NAMES, "name": NAMES, "uid": NAMES},
            optional={"controller": st.booleans(), "blockOwnerDeletion": st.booleans()}), min_size=1, max_size=2),
    )


CONFIGMAPS = st.builds(
    lambda meta, rest: {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, **rest},
    object_meta_json(),
    optional(data=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=30), min_size=1, max_size=4),
             binaryData=st.dictionaries(st.text(min_size=1, max_size=8),
                                        st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode()),
                                        min_size=1, max_size=4),
             immutable=st.booleans()),
)

RESOURCES = optional(limits=st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), QUANTITIES,
                                            min_size=1),
                     requests=st.dictionaries(st.sampled_from(["cpu", "memory", "ephemeral-storage"]), QUANTITIES,
                                              min_size=1))
CONTAINERS = st.builds(
    lambda name, resources, rest: {"name": name, "resources": resources, **rest},
    TEXT, RESOURCES,
    optional(image=NONEMPTY_TEXT, command=st.lists(TEXT, min_size=1, max_size=3),
             args=st.lists(TEXT, min_size=1, max_size=3),
             ports=st.lists(st.builds(lambda port, rest: {"containerPort": port, **rest}, INT32,
                                      optional(name=NONEMPTY_TEXT, protocol=st.sampled_from(["TCP", "UDP", "SCTP"]),
                                               hostPort=st.integers(1, 65535))), min_size=1, max_size=2),
             env=st.lists(st.builds(lambda n, rest: {"name": n, **rest}, TEXT, optional(value=NONEMPTY_TEXT)),
                          min_size=1, max_size=2),
             livenessProbe=optional(httpGet=st.builds(lambda port, rest: {"port": port, **rest},
                                                      st.one_of(INT32, TEXT), optional(path=NONEMPTY_TEXT)),
                                    periodSeconds=st.integers(1, 100)),
             stdin=st.just(True), tty=st.just(True), restartPolicy=st.just("Always")),
)
PODS = st.builds(
    lambda meta, spec, status: {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status},
    object_meta_json(),
    optional(containers=st.lists(CONTAINERS, min_size=1, max_size=2), restartPolicy=NONEMPTY_TEXT,
             nodeName=NONEMPTY_TEXT, terminationGracePeriodSeconds=INT64, hostNetwork=st.just(True),
             nodeSelector=st.dictionaries(NAMES, TEXT, min_size=1, max_size=2), priority=INT32,
             enableServiceLinks=st.booleans(),
             tolerations=st.lists(optional(key=NONEMPTY_TEXT, operator=st.just("Exists"),
                                           tolerationSeconds=INT64), min_size=1, max_size=2)),
    optional(phase=NONEMPTY_TEXT, podIP=NONEMPTY_TEXT, startTime=TIMES,
             conditions=st.lists(st.builds(lambda t, s, rest: {"type": t, "status": s, **rest}, TEXT, TEXT,
                                           optional(lastTransitionTime=TIMES, reason=NONEMPTY_TEXT)),
                                 min_size=1, max_size=2)),
)


@settings(max_examples=200, deadline=None)
@given(CONFIGMAPS)
def test_configmaps_round_trip(cm: dict[str, Any]) -> None:
    assert decode(encode(cm)) == cm


@settings(max_examples=200, deadline=None)
@given(PODS)
def test_pods_round_trip(pod: dict[str, Any]) -> None:
    assert decode(encode(pod)) == pod
    listed = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
              "items": [{k: v for k, v in pod.items() if k not in ("apiVersion", "kind")}]}
    assert decode(encode(listed)) == listed


# -- any kind, from the schema: the decoded JSON is a fixed point and keeps everything the bytes hold

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 53), 1 << 53), st.text(max_size=6))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=6)
MAX_DEPTH = 6


def scalar_strategy(scalar_type: str) -> st.SearchStrategy[Any]:
    if scalar_type == "string":
        return TEXT
    if scalar_type == "bool":
        return st.booleans()
    if scalar_type == "bytes":
        # non-empty: upstream's JSON drops an empty omitempty []byte (see test_decode_message_rules)
        return st.binary(min_size=1, max_size=8).map(lambda b: base64.b64encode(b).decode())
    if scalar_type == "double":
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-1000, 1000))
    if scalar_type == "int32":
        return INT32
    if scalar_type == "int64":
        return INT64
    raise AssertionError(f"no strategy for {scalar_type}")


def custom_strategy(name: str, depth: int) -> st.SearchStrategy[Any]:
    props = f"{codec._APIEXT}.JSONSchemaProps"
    strategies: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        codec.TIME: lambda: TIMES,
        codec.MICRO_TIME: lambda: st.builds(wellknown.format_micro_time, st.integers(0, 1 << 34),
                                            st.integers(0, 999_999).map(lambda us: us * 1000)),
        codec.DURATION: lambda: INT64.map(wellknown.format_duration),
        codec.FIELDS_V1: lambda: st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
        codec.QUANTITY: lambda: st.one_of(QUANTITIES, st.sampled_from(["1000m", "0.5Gi", "1e3", "+1", "01"])),
        codec.QUANTITY_VALUE: lambda: QUANTITIES,
        codec.INT_OR_STRING: lambda: st.one_of(INT32, TEXT),
        codec.RAW_EXTENSION: lambda: JSON_VALUES,
        codec.JSON_VALUE: lambda: JSON_VALUES,
        codec.PROPS_OR_ARRAY: lambda: st.one_of(message_strategy(props, depth + 1),
                                                st.lists(message_strategy(props, depth + 1), min_size=1, max_size=2)),
        codec.PROPS_OR_BOOL: lambda: st.one_of(st.booleans(), message_strategy(props, depth + 1)),
        codec.PROPS_OR_STRING_ARRAY: lambda: st.one_of(st.lists(TEXT, min_size=1, max_size=2),
                                                       message_strategy(props, depth + 1)),
    }
    return strategies[name]()


_STRATEGIES: dict[tuple[str, int], st.SearchStrategy[Any]] = {}


def message_strategy(name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    """Any JSON value the message accepts (not necessarily in upstream's normalized form)."""
    key = (name, depth)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = st.deferred(lambda: _build_message_strategy(schema().message(name), depth))
    return _STRATEGIES[key]


def _field_strategy(f: FieldSpec, depth: int) -> st.SearchStrategy[Any] | None:
    if f.type == "map":
        if f.map_value == "message":
            if depth >= MAX_DEPTH:
                return None
            assert f.map_value_message is not None
            value = message_strategy(f.map_value_message, depth + 1)
        else:
            assert f.map_value is not None
            value = scalar_strategy(f.map_value)
        return st.dictionaries(TEXT, value, max_size=2)
    if f.type == "message":
        if depth >= MAX_DEPTH:
            return None
        assert f.message is not None
        element = message_strategy(f.message, depth + 1)
        return st.lists(element, max_size=2) if f.repeated else element
    element = scalar_strategy(f.type)
    return st.lists(element, max_size=2) if f.repeated else element


def _build_message_strategy(spec: MessageSpec, depth: int) -> st.SearchStrategy[Any]:
    if spec.custom:
        return custom_strategy(spec.name, depth)
    if spec.list_wrapper:
        return st.lists(scalar_strategy(spec.fields[0].type), max_size=3)
    optional_fields: dict[str, st.SearchStrategy[Any]] = {}
    inline: list[st.SearchStrategy[Any]] = []
    for f in spec.fields:
        if f.inline:
            assert f.message is not None
            inline.append(message_strategy(f.message, depth + 1))
            continue
        strategy = _field_strategy(f, depth)
        if strategy is not None:
            optional_fields[f.json] = strategy
    base = st.fixed_dictionaries({}, optional=optional_fields)
    if not inline:
        return base
    return st.tuples(base, *inline).map(lambda parts: {k: v for part in reversed(parts) for k, v in part.items()})


ALL_KINDS = sorted({(gv, kind) for gv, kinds in schema().kinds.items() for kind in kinds})


@st.composite
def any_object(draw: st.DrawFn) -> dict[str, Any]:
    api_version, kind = draw(st.sampled_from(ALL_KINDS))
    message = schema().kinds[api_version][kind]
    body = draw(message_strategy(message))
    return {**body, "apiVersion": api_version, "kind": kind}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(any_object())
def test_any_kind_decodes_to_a_fixed_point(obj: dict[str, Any]) -> None:
    data = encode(obj)
    decoded = decode(data)
    assert encode(decoded) == data  # the JSON holds everything the bytes hold
    assert decode(encode(decoded)) == decoded  # and is already in upstream's form
    assert orjson.loads(orjson.dumps(decoded)) == decoded  # plain JSON, serializable as is


def test_every_kind_has_a_message_and_encodes_empty() -> None:
    for api_version, kind in ALL_KINDS:
        assert supports(api_version=api_version, kind=kind)
        obj = decode(encode({"apiVersion": api_version, "kind": kind}))
        assert obj["apiVersion"] == api_version and obj["kind"] == kind
    assert not supports(api_version="meta.k8s.io/v1", kind="Table")
    assert not supports(api_version="example.com/v1", kind="Widget")


# ==================================================================================================
# The packaged schema


def test_schema_kinds_follow_upstream_registration() -> None:
    kinds = schema().kinds
    assert kinds["apps/v1"]["Deployment"] == "k8s.io.api.apps.v1.Deployment"
    assert kinds["v1"]["Pod"] == "k8s.io.api.core.v1.Pod"
    assert kinds["v1"]["List"] == "k8s.io.api.core.v1.List"
    assert kinds["v1"]["Status"] == "k8s.io.apimachinery.pkg.apis.meta.v1.Status"
    assert kinds["apps/v1"]["DeleteOptions"] == "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"
    assert kinds["batch/v1"]["WatchEvent"] == "k8s.io.apimachinery.pkg.apis.meta.v1.WatchEvent"
    assert kinds["apiextensions.k8s.io/v1"]["CustomResourceDefinition"] == (
        "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    assert kinds["autoscaling/v2"]["HorizontalPodAutoscaler"] == "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler"
    assert kinds["authorization.k8s.io/v1"]["SelfSubjectAccessReview"] == (
        "k8s.io.api.authorization.v1.SelfSubjectAccessReview")
    assert "Table" not in kinds["meta.k8s.io/v1"]
    expected_groups = {"v1", "apps/v1", "batch/v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1",
                       "rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1", "scheduling.k8s.io/v1",
                       "policy/v1", "events.k8s.io/v1", "certificates.k8s.io/v1", "networking.k8s.io/v1",
                       "autoscaling/v1", "autoscaling/v2", "storage.k8s.io/v1", "authentication.k8s.io/v1",
                       "authorization.k8s.io/v1", "meta.k8s.io/v1"}
    assert set(kinds) == expected_groups


def test_json_names_come_from_go_tags() -> None:
    props = schema().message(f"{codec._APIEXT}.JSONSchemaProps")
    assert props.by_number[3].json == "$ref"
    assert props.by_number[38].json == "x-kubernetes-preserve-unknown-fields"
    assert schema().message("k8s.io.api.authentication.v1.BoundObjectReference").by_number[4].json == "uid"
    volume = schema().message("k8s.io.api.core.v1.Volume").by_number[2]
    assert volume.inline and volume.json == ""


def test_every_hand_marshalled_message_has_a_converter() -> None:
    custom = {name for name, spec in schema().messages.items() if spec.custom}
    assert custom == set(codec._CUSTOM_DECODERS) == set(codec._CUSTOM_ENCODERS)


@pytest.mark.parametrize(("raw", "message"), [
    pytest.param(b"not gzip", "not gzip-compressed JSON", id="not-gzip"),
    pytest.param(gzip.compress(b'{"format": "other"}'), "format 'other'", id="wrong-format"),
    pytest.param(gzip.compress(orjson.dumps({"format": "kubelite.protobuf.schema/v1", "kinds": {}, "messages": {
        "a.B": {"fields": [{"number": 1, "name": "x", "json": "x", "type": "message", "message": "a.C"}]}}})),
        "a.B.x refers to unknown message a.C", id="dangling-reference"),
    pytest.param(gzip.compress(orjson.dumps({"format": "kubelite.protobuf.schema/v1", "messages": {},
                                             "kinds": {"v1": {"Pod": "a.Pod"}}})),
                 "kind v1 Pod maps to unknown message a.Pod", id="dangling-kind"),
])
def test_malformed_schema_data_is_reported(raw: bytes, message: str) -> None:
    with pytest.raises(SchemaDataError) as info:
        parse_schema(raw, origin="test")
    assert message in str(info.value)


# ==================================================================================================
# tools/extract_proto.py on a small upstream-shaped input


def load_extractor() -> ModuleType:
    path = REPO_ROOT / "tools" / "extract_proto.py"
    spec = importlib.util.spec_from_file_location("kubelite_tools_extract_proto", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_extractor_parses_the_proto2_subset() -> None:
    extractor = load_extractor()
    text = """
    // comment
    syntax = "proto2";
    package k8s.io.api.demo.v1;
    import "k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto";
    option go_package = "k8s.io/api/demo/v1";
    /* block
       comment */
    message Outer {
      optional string name = 1 [default = "x"];
      repeated Inner items = 2;
      map<string, string> labels = 3;
      map<string, .k8s.io.api.demo.v1.Inner> byName = 4;
      message Inner {
        optional int32 port = 7;
      }
      optional Inner inner = 5;
    }
    """
    parser = extractor.ProtoParser(extractor.tokenize(text, origin="t"), origin="t", source_dir="d")
    messages = {m.full_name: m for m in parser.parse()}
    assert set(messages) == {"k8s.io.api.demo.v1.Outer", "k8s.io.api.demo.v1.Outer.Inner"}
    fields = {f.name: f for f in messages["k8s.io.api.demo.v1.Outer"].fields}
    assert (fields["name"].number, fields["name"].type, fields["name"].repeated) == (1, "string", False)
    assert (fields["items"].type, fields["items"].repeated) == ("Inner", True)
    assert (fields["labels"].map_key, fields["labels"].map_value) == ("string", "string")
    assert fields["byName"].map_value == ".k8s.io.api.demo.v1.Inner"
    known = set(messages)
    assert extractor.resolve_type("Inner", scope="k8s.io.api.demo.v1.Outer", known=known) == (
        "k8s.io.api.demo.v1.Outer.Inner")
    assert extractor.resolve_type("Missing", scope="k8s.io.api.demo.v1.Outer", known=known) is None


@pytest.mark.parametrize(("text", "message"), [
    pytest.param('syntax = "proto3";', "is not proto2", id="proto3"),
    pytest.param("message A { oneof x { string a = 1; } }", "unsupported statement 'oneof'", id="oneof"),
    pytest.param("message A { optional string a = 0; }", "field number 0 is out of range", id="field-zero"),
    pytest.param("message A { optional string a = 1 }", "expected ';'", id="missing-semicolon"),
    pytest.param("message A { optional string a = 1;", "unexpected end of file", id="unterminated"),
    pytest.param("service S {}", "unsupported top-level statement 'service'", id="service"),
])
def test_extractor_rejects_what_it_does_not_understand(text: str, message: str) -> None:
    extractor = load_extractor()
    with pytest.raises(extractor.ExtractError) as info:
        extractor.ProtoParser(extractor.tokenize(text, origin="t"), origin="t", source_dir="d").parse()
    assert message in str(info.value)


def test_extractor_reads_go_struct_tags(tmp_path: Path) -> None:
    extractor = load_extractor()
    (tmp_path / "types.go").write_text('''package v1
type Volume struct {
	// Name is the name.
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	VolumeSource `json:",inline" protobuf:"bytes,2,opt,name=volumeSource"`
	// Old bool `json:"old,omitempty" protobuf:"varint,3,opt,name=old"`
	Replicas *int32 `json:"replicas,omitempty" protobuf:"varint,4,opt,name=replicas"`
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,5,opt,name=metadata"`
	Hidden string `json:"-" protobuf:"-"`
}
type Empty struct{}
type ExtraValue []string
type List metav1.List
''')
    (tmp_path / "register.go").write_text('''package v1
const GroupName = "demo.example.com"
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}
func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&Volume{},
		&metav1.Status{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
''')
    package = extractor.parse_go_package(tmp_path)
    volume = package.structs["Volume"]
    assert sorted(volume) == [1, 2, 4, 5]
    assert volume[1] == extractor.GoField(go_type="string", json_name="name", omitempty=False, inline=False)
    assert volume[2].inline and volume[2].json_name == ""
    assert volume[4] == extractor.GoField(go_type="*int32", json_name="replicas", omitempty=True, inline=False)
    assert volume[5].json_name == "metadata" and not volume[5].inline
    assert package.structs["Empty"] == {}
    assert package.named_slices == {"ExtraValue"}
    assert package.meta_aliases == {"List": "List"}
    assert (package.group, package.version, package.kinds) == ("demo.example.com", "v1", ["Volume", "metav1.Status"])
    assert package.adds_meta_kinds


# ==================================================================================================
# Stock kubectl against a tiny HTTPS server on 127.0.0.1

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
SERVER_UID = "1b4c0d2e-0000-4000-8000-000000000001"


class CaptureServer:
    """Answers kubectl: /version as 1.32, every POST with a protobuf object (what ``respond`` makes of it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bodies: list[tuple[str, str, bytes]] = []  # (path, content type, body)
        self.respond: Callable[[dict[str, Any]], dict[str, Any]] = self.created
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(hours=1)).sign(key, hashes.SHA256()))
        (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        handler = self._handler_class()
        # port 0: the kernel picks a free port on loopback, so there is no race with other tests
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kubectl-capture", daemon=True)
        self.kubeconfig = directory / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{self.port}\n"
            "    insecure-skip-tls-verify: true\n"
            "users:\n- name: u\n  user:\n    token: test-token\n"
            "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: default\n"
            "current-context: x\n")
        (directory / "home").mkdir()

    @staticmethod
    def created(obj: dict[str, Any]) -> dict[str, Any]:
        """What an API server adds on create, so that the response differs from the request."""
        meta = obj.setdefault("metadata", {})
        meta.update(uid=SERVER_UID, resourceVersion="7", creationTimestamp="2024-01-02T03:04:05Z")
        if obj["kind"] == "TokenRequest":
            obj["status"] = {"token": "header.payload.signature", "expirationTimestamp": "2024-01-02T04:04:05Z"}
        return obj

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/version":
                    # the gcloud kubectl dispatcher picks the kubectl minor version matching the server
                    body = {"major": "1", "minor": "32", "gitVersion": "v1.32.5", "platform": "linux/amd64"}
                    self.reply(200, "application/json", orjson.dumps(body))
                else:
                    self.reply(404, "application/json", orjson.dumps(
                        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                         "code": 404}))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.bodies.append((self.path, self.headers.get("Content-Type", ""), body))
                try:
                    answer = encode(server.respond(decode(body)))
                except ProtobufError as exc:
                    self.reply(400, "application/json", orjson.dumps(
                        {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "BadRequest",
                         "message": str(exc), "code": 400}))
                    return
                self.reply(201, "application/vnd.kubernetes.protobuf", answer)

        return Handler

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.directory / "home"),
               "KUBECONFIG": str(self.kubeconfig)}
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def capture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureServer]:
    server = CaptureServer(tmp_path_factory.mktemp("kubectl-capture"))
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=10)


def without_nulls(value: Any) -> Any:
    """Upstream JSON minus ``null`` members: the form :func:`decode` returns."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@contextlib.contextmanager
def responding(server: CaptureServer, respond: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[None]:
    server.respond = respond
    try:
        yield
    finally:
        server.respond = server.created


@needs_kubectl
@pytest.mark.slow
@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_kubectl_sends_the_fixture_bytes(capture_server: CaptureServer, name: str) -> None:
    args, expected = CAPTURED_BY_KUBECTL_NO_NULLS[name]
    blob = capture_server.directory / "blob"
    blob.write_bytes(b"\xff\x00\x01")  # not UTF-8, so kubectl puts it in binaryData
    args = [a.format(blob=blob) for a in args]
    if "-o" not in args:
        args = [*args, "-o", "json"]
    capture_server.bodies.clear()
    result = capture_server.kubectl(*args)
    assert result.returncode == 0, result.stderr
    assert len(capture_server.bodies) == 1
    _path, content_type, body = capture_server.bodies[0]
    assert content_type == "application/vnd.kubernetes.protobuf"
    if UPDATE_FIXTURES:
        FIXTURES.mkdir(exist_ok=True)
        (FIXTURES / f"{name}.bin").write_bytes(body)
    assert body.hex(" ") == fixture_bytes(name).hex(" ")
    assert decode(body) == expected
    # kubectl decoded our protobuf response with upstream's Go code and printed it as upstream JSON
    assert without_nulls(orjson.loads(result.stdout)) == CaptureServer.created(decode(body))


RANDOM_RESPONSE_KINDS = [
    pytest.param(["create", "namespace", "n"], "v1", "Namespace", id="namespace"),
    pytest.param(["create", "configmap", "c"], "v1", "ConfigMap", id="configmap"),
    pytest.param(["create", "secret", "generic", "s"], "v1", "Secret", id="secret"),
    pytest.param(["create", "deployment", "d", "--image=x"], "apps/v1", "Deployment", id="deployment"),
    pytest.param(["create", "service", "clusterip", "s", "--tcp=1:2"], "v1", "Service", id="service"),
    pytest.param(["create", "job", "j", "--image=x"], "batch/v1", "Job", id="job"),
    pytest.param(["create", "cronjob", "c", "--image=x", "--schedule=* * * * *"], "batch/v1", "CronJob",
                 id="cronjob"),
    pytest.param(["create", "poddisruptionbudget", "p", "--selector=a=b", "--min-available=1"], "policy/v1",
                 "PodDisruptionBudget", id="pdb"),
    pytest.param(["create", "quota", "q"], "v1", "ResourceQuota", id="quota"),
    pytest.param(["create", "token", "default"], "authentication.k8s.io/v1", "TokenRequest", id="token"),
    pytest.param(["create", "ingress", "i", "--rule=a.com/=svc:80"], "networking.k8s.io/v1", "Ingress", id="ingress"),
    pytest.param(["create", "clusterrole", "r", "--verb=get", "--non-resource-url=/logs"],
                 "rbac.authorization.k8s.io/v1", "ClusterRole", id="clusterrole"),
    pytest.param(["create", "rolebinding", "rb", "--clusterrole=view", "--user=alice"], "rbac.authorization.k8s.io/v1",
                 "RoleBinding", id="rolebinding"),
    pytest.param(["create", "serviceaccount", "sa"], "v1", "ServiceAccount", id="serviceaccount"),
    pytest.param(["create", "priorityclass", "p", "--value=1"], "scheduling.k8s.io/v1", "PriorityClass",
                 id="priorityclass"),
]


@needs_kubectl
@pytest.mark.slow
@pytest.mark.parametrize(("args", "api_version", "kind"), RANDOM_RESPONSE_KINDS)
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_kubectl_decodes_random_objects_like_we_do(capture_server: CaptureServer, args: list[str], api_version: str,
                                                   kind: str, data: st.DataObject) -> None:
    body = data.draw(message_strategy(schema().kinds[api_version][kind]))
    body.get("metadata", {}).pop("managedFields", None)  # kubectl's printer strips them
    if kind == "TokenRequest" and not body.get("status", {}).get("token"):
        body.setdefault("status", {})["token"] = "t"  # kubectl refuses a response without a token
    response = {**body, "apiVersion": api_version, "kind": kind}
    with responding(capture_server, lambda _request: response):
        result = capture_server.kubectl(*args, "-o", "json")
    assert result.returncode == 0, result.stderr
    # nulls can only differ inside embedded raw JSON (RawExtension, FieldsV1), which decode keeps verbatim
    assert without_nulls(orjson.loads(result.stdout)) == without_nulls(decode(encode(response)))
