"""Bad input gets a precise 4xx Status and changes nothing (never a 5xx, never a partial write)."""

from __future__ import annotations

import json
import uuid

import pytest
from e2e_harness import Server, raw_request

pytestmark = [pytest.mark.e2e]

CM_PATH = "/api/v1/namespaces/default/configmaps"


def cm(name: str, **extra: object) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}).encode()


# the root-CA publisher controller writes this one on its own schedule, right after start-up: it may
# land between a test's two looks, and it is no request's doing
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def names_in_default(server: Server) -> set[str]:
    status, body = raw_request(server, "GET", CM_PATH)
    assert status == 200
    return {item["metadata"]["name"] for item in body["items"]} - {ROOT_CA_CONFIGMAP}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code", "reason", "message"),
    [
        pytest.param("POST", CM_PATH, b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {',
                     "application/json", 400, "BadRequest", "could not be decoded as JSON", id="malformed-json"),
        pytest.param("POST", CM_PATH, b"apiVersion: v1\nkind: [unclosed", "application/yaml", 400, "BadRequest",
                     "could not be decoded as YAML", id="malformed-yaml"),
        pytest.param("POST", CM_PATH, b"[1, 2]", "application/json", 400, "BadRequest", "must be a JSON object",
                     id="not-an-object"),
        pytest.param("POST", CM_PATH, b"k8s\x00\x0a\x05garbage", "application/vnd.kubernetes.protobuf", 400,
                     "BadRequest", "could not be decoded as protobuf", id="garbage-protobuf"),
        pytest.param("POST", CM_PATH, b"<xml/>", "application/xml", 415, "UnsupportedMediaType",
                     "unknown format", id="unknown-media-type"),
        pytest.param("POST", CM_PATH, json.dumps({"apiVersion": "v1", "kind": "Secret",
                                                  "metadata": {"name": "x"}}).encode(),
                     "application/json", 400, "BadRequest", "does not match the expected kind", id="wrong-kind"),
        pytest.param("POST", CM_PATH, json.dumps({"apiVersion": "apps/v1", "kind": "ConfigMap",
                                                  "metadata": {"name": "x"}}).encode(),
                     "application/json", 400, "BadRequest", "does not match the expected API version",
                     id="wrong-api-version"),
        pytest.param("POST", CM_PATH, cm("UPPER"), "application/json", 422, "Invalid",
                     'ConfigMap "UPPER" is invalid: metadata.name: Invalid value: "UPPER"', id="invalid-name"),
        pytest.param("POST", CM_PATH, cm("big", data={"k": "x" * (3 * 1024 * 1024)}), "application/json", 413,
                     "RequestEntityTooLarge", "Request entity too large", id="oversized"),
        pytest.param("GET", "/api/v1/namespaces/default/frobnicators", None, "application/json", 404, "NotFound",
                     "the server could not find the requested resource", id="unknown-resource"),
        pytest.param("GET", "/apis/nope.example.com/v1/things", None, "application/json", 404, "NotFound",
                     "the server could not find the requested resource", id="unknown-group"),
        pytest.param("GET", f"{CM_PATH}?limit=abc", None, "application/json", 400, "BadRequest",
                     "limit: Invalid value", id="bad-limit"),
        pytest.param("GET", f"{CM_PATH}?labelSelector=a%20in%20(", None, "application/json", 400, "BadRequest",
                     "unable to parse requirement: found '', expected: ',', ')' or identifier",
                     id="bad-label-selector"),
        pytest.param("GET", f"{CM_PATH}?fieldSelector=spec.nodeName%3Dx", None, "application/json", 400,
                     "BadRequest", "field label not supported: spec.nodeName", id="unsupported-field-label"),
        pytest.param("GET", f"{CM_PATH}?continue=garbage", None, "application/json", 400, "BadRequest",
                     "continue key is not valid", id="bad-continue"),
        pytest.param("POST", f"{CM_PATH}?fieldValidation=Loose", cm("fv"), "application/json", 400, "BadRequest",
                     'fieldValidation: Unsupported value: "Loose"', id="bad-field-validation"),
        pytest.param("POST", f"{CM_PATH}?dryRun=Some", cm("dr"), "application/json", 400, "BadRequest",
                     'dryRun: Unsupported value: "Some"', id="bad-dry-run"),
    ],
)
def test_bad_requests_get_precise_status_and_write_nothing(server: Server, method: str, path: str,
                                                           body: bytes | None, content_type: str, code: int,
                                                           reason: str, message: str) -> None:
    before = names_in_default(server)
    status, response = raw_request(server, method, path, body, content_type)
    assert (status, response.get("kind"), response.get("reason"), response.get("code")) == (
        code, "Status", reason, code), response
    assert message in str(response.get("message")), response
    assert names_in_default(server) == before, "a rejected request wrote nothing"


def test_stale_resource_version_is_conflict(server: Server) -> None:
    name = f"rv-{uuid.uuid4().hex[:6]}"
    status, created = raw_request(server, "POST", CM_PATH, cm(name, data={"a": "1"}))
    assert status == 201
    stale = dict(created)
    status, _ = raw_request(server, "PUT", f"{CM_PATH}/{name}", json.dumps({**created, "data": {"a": "2"}}).encode())
    assert status == 200
    status, body = raw_request(server, "PUT", f"{CM_PATH}/{name}", json.dumps({**stale, "data": {"a": "3"}}).encode())
    assert (status, body["reason"]) == (409, "Conflict")
    status, current = raw_request(server, "GET", f"{CM_PATH}/{name}")
    assert current["data"] == {"a": "2"}


def test_watch_from_expired_version_is_410_in_stream(server: Server) -> None:
    # resourceVersion 1 predates this cache's window once enough writes happened; the server answers
    # the watch with an ERROR event carrying a 410 Expired Status, as upstream does
    for i in range(1100):
        raw_request(server, "POST", CM_PATH, cm(f"churn-{uuid.uuid4().hex[:6]}-{i}"))
    import urllib.request

    from e2e_harness import admin_ssl_context

    url = f"https://127.0.0.1:{server.port}{CM_PATH}?watch=1&resourceVersion=1"
    with urllib.request.urlopen(url, context=admin_ssl_context(server), timeout=30) as resp:
        event = json.loads(resp.readline())
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
