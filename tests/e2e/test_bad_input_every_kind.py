"""Bad input to every served kind gets a 4xx Status and writes nothing; per-kind validation as kubectl sees it.

The sweep takes each resource the server lists in discovery that can be created, and sends it a set
of broken bodies (wrong JSON types in metadata and at the top level, invalid names, a wrong kind,
labels that are not strings, truncated JSON) plus, for kinds with a spec, a spec of the wrong type.
Every answer must be a ``Status`` with a 4xx code (never a 5xx), and the object must not exist after.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_harness import Server, admin_ssl_context, raw_request

pytestmark = [pytest.mark.e2e]

# answered, never stored (TokenReview, SubjectAccessReview, ...): a missing object proves nothing there
REVIEW_GROUPS = ("authentication.k8s.io", "authorization.k8s.io")
# kinds whose schema has no `spec`: a `spec` there is an unknown field, dropped (not an error) by default
KINDS_WITHOUT_SPEC = frozenset({"ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "EndpointSlice",
                                "ControllerRevision", "StorageClass", "ClusterRole", "Role", "ClusterRoleBinding",
                                "RoleBinding", "PriorityClass"})


def send(server: Server, context: ssl.SSLContext, method: str, path: str,
         body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    """raw_request with one shared SSL context (raw_request rewrites its key files per call: not thread-safe)."""
    request = urllib.request.Request(f"https://127.0.0.1:{server.port}{path}", data=body, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def creatable_resources(server: Server) -> Iterator[tuple[str, str, str, bool]]:
    """(group/version path, kind, plural, namespaced) of every creatable, stored resource."""
    status, core = raw_request(server, "GET", "/api/v1")
    assert status == 200
    lists = [("/api/v1", core)]
    status, groups = raw_request(server, "GET", "/apis")
    assert status == 200
    for group in groups["groups"]:  # type: ignore[index]
        if group["name"] in REVIEW_GROUPS:
            continue
        path = f"/apis/{group['preferredVersion']['groupVersion']}"
        status, body = raw_request(server, "GET", path)
        assert status == 200
        lists.append((path, body))
    for path, body in lists:
        for resource in body["resources"]:  # type: ignore[index]
            if "/" not in resource["name"] and "create" in resource["verbs"]:
                yield path, resource["kind"], resource["name"], resource["namespaced"]


def broken_bodies(api_version: str, kind: str) -> Iterator[tuple[str, bytes]]:
    def body(**fields: Any) -> bytes:
        return json.dumps({"apiVersion": api_version, "kind": kind, **fields}).encode()

    yield "metadata-string", body(metadata="fuzz-a")
    yield "name-number", body(metadata={"name": 12345})
    yield "name-invalid", body(metadata={"name": "fuzz/b"})  # no kind allows a '/' (a path segment)
    yield "labels-not-strings", body(metadata={"name": "fuzz-c", "labels": {"a": 1}})
    yield "annotations-list", body(metadata={"name": "fuzz-d", "annotations": ["x"]})
    yield "wrong-kind", json.dumps({"apiVersion": api_version, "kind": "NoSuchKind",
                                    "metadata": {"name": "fuzz-e"}}).encode()
    yield "truncated", body(metadata={"name": "fuzz-f"})[:-7]
    yield "spec-wrong-type", body(metadata={"name": "fuzz-g"}, spec="not an object")
    yield "finalizers-object", body(metadata={"name": "fuzz-h", "finalizers": {"a": "b"}})


def test_every_kind_answers_bad_input_with_a_4xx_status_and_writes_nothing(server: Server) -> None:
    status, _ = raw_request(server, "POST", "/api/v1/namespaces", json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fuzz"}}).encode())
    assert status == 201
    context = admin_ssl_context(server)

    def sweep(resource: tuple[str, str, str, bool]) -> tuple[int, list[str]]:
        path, kind, plural, namespaced = resource
        api_version = path.removeprefix("/api/").removeprefix("/apis/")
        collection = f"{path}/namespaces/fuzz/{plural}" if namespaced else f"{path}/{plural}"
        failures, checked = [], 0
        for case, body in broken_bodies(api_version, kind):
            if case == "spec-wrong-type" and kind in KINDS_WITHOUT_SPEC:
                continue
            code, answer = send(server, context, "POST", collection, body)
            checked += 1
            if not 400 <= code < 500 or answer.get("kind") != "Status":
                failures.append(f"{plural} {case}: {code} {json.dumps(answer)[:300]}")
        for name in ("fuzz-a", "fuzz-c", "fuzz-d", "fuzz-e", "fuzz-f", "fuzz-g", "fuzz-h"):
            code, _ = send(server, context, "GET", f"{collection}/{name}")
            if code != 404:
                failures.append(f"{plural}/{name} exists after a refused create ({code})")
        return checked, failures

    # one kind per thread: the server answers them concurrently, as it would many clients
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(sweep, creatable_resources(server)))
    assert sum(checked for checked, _ in results) > 150  # every built-in kind was swept
    failures = [failure for _, found in results for failure in found]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(("manifest", "message"), [
    pytest.param({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep"},
                  "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 80}]}]},
                 'The Endpoints "ep" is invalid: subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not '
                 "be in the loopback range (127.0.0.0/8, ::1/128)", id="endpoints-loopback"),
    pytest.param({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "es"},
                  "addressType": "IPv4", "endpoints": [{"addresses": []}]},
                 'The EndpointSlice "es" is invalid: endpoints[0].addresses: Required value: must contain at least '
                 "1 address", id="endpointslice-no-address"),
    pytest.param({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                  "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}},
                 'The Node "n1" is invalid: spec.taints[0].effect: Unsupported value: "Sometimes": supported values: '
                 '"NoExecute", "NoSchedule", "PreferNoSchedule"', id="node-taint-effect"),
    pytest.param({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev"},
                  "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "example.com/c",
                  "reportingInstance": "c-1", "action": "Did", "reason": "Because", "type": "Info",
                  "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}},
                 'The Event "ev" is invalid: type: Invalid value: "": has invalid value: Info', id="event-type"),
    pytest.param({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                  "metadata": {"name": "csr"}, "spec": {"request": "aGVsbG8=", "signerName": "example.com/s",
                                                        "usages": ["client auth"]}},
                 'The CertificateSigningRequest "csr" is invalid: spec.request: Invalid value: "aGVsbG8=": PEM '
                 "block type must be CERTIFICATE REQUEST", id="csr-not-pem"),
])
def test_kubectl_reports_per_kind_validation_as_upstream(server: Server, manifest: dict[str, Any],
                                                         message: str) -> None:
    done = server.kubectl("create", "-n", "default", "-f", "-", input=json.dumps(manifest), check=False)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    kind = manifest["kind"].lower()
    gone = server.kubectl("get", "-n", "default", kind, manifest["metadata"]["name"], check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_an_eviction_for_another_pod_is_refused(server: Server) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evictee"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    status, _ = raw_request(server, "POST", "/api/v1/namespaces/default/pods", json.dumps(pod).encode())
    assert status == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "someone-else"}}
    code, answer = raw_request(server, "POST", "/api/v1/namespaces/default/pods/evictee/eviction",
                               json.dumps(eviction).encode())
    assert (code, answer["message"]) == (400, "name in URL does not match name in Eviction object")
    status, _ = raw_request(server, "GET", "/api/v1/namespaces/default/pods/evictee")
    assert status == 200  # still there


def test_kubectl_sees_upstreams_decode_error_for_a_mistyped_field(server: Server) -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typo"},
                "spec": {"replicas": "three", "selector": {"matchLabels": {"a": "b"}},
                         "template": {"metadata": {"labels": {"a": "b"}},
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    # --validate=false: kubectl's own schema check would catch it first; the server must too
    done = server.kubectl("create", "--validate=false", "-n", "default", "-f", "-", input=json.dumps(manifest),
                          check=False)
    assert done.returncode != 0
    assert ('Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
            "handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
            "of type int32") in done.stderr, done.stderr
    assert server.kubectl("get", "-n", "default", "deployment", "typo", check=False).returncode != 0
