"""/openapi/v2 in the API server: content negotiation, one encoding per document, ETags; CRDs in v2 form."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import hashlib
import threading
from typing import Any

import orjson
import pytest

from kubelite.api.openapi import openapiv2_pb2, v2_protobuf
from kubelite.api.openapi.crd_v2 import EMBEDDED_PROPERTIES, published_schema
from kubelite.controlplane.apiserver.crds import infos_for_crd, openapi_schemas
from kubelite.controlplane.apiserver.openapi_service import OpenAPIService, negotiate_v2
from kubelite.controlplane.apiserver.resources import ResourceTable

KUBECTL_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(KUBECTL_ACCEPT, "protobuf", id="client-go"),
    pytest.param(PROTOBUF, "protobuf", id="current-protobuf-name"),
    pytest.param("", "json", id="no-header"),
    pytest.param("*/*", "json", id="anything"),
    pytest.param("*", "json", id="bare-star"),
    pytest.param("application/*", "json", id="application-wildcard"),
    pytest.param("application/json", "json", id="json"),
    pytest.param("application/json, " + PROTOBUF, "json", id="first-wins-at-equal-q"),
    pytest.param("application/json;q=0.5, " + PROTOBUF, "protobuf", id="higher-q-wins"),
    pytest.param(f"{KUBECTL_ACCEPT};q=0.9, */*;q=0.1", "protobuf", id="protobuf-then-anything"),
    pytest.param(f"*/*;q=0.8, {KUBECTL_ACCEPT};q=0.8", "protobuf", id="concrete-before-wildcard"),
    pytest.param(f"{PROTOBUF};q=0, application/json", "json", id="q-zero-refused"),
    pytest.param("text/html, application/xml;q=0.9", None, id="nothing-acceptable"),
    pytest.param("application/json;q=0", None, id="only-refusals"),
    pytest.param("application/json;q=nonsense", None, id="bad-q-is-zero"),
    pytest.param("garbage", None, id="no-slash"),
])
def test_negotiation_follows_upstream_handler(accept: str, expected: str | None) -> None:
    assert negotiate_v2(accept) == expected


@pytest.fixture
def service() -> OpenAPIService:
    return OpenAPIService(ResourceTable())


def crd(schema: dict[str, Any] | None) -> dict[str, Any]:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if schema is not None:
        version["schema"] = {"openAPIV3Schema": schema}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                     "names": {"plural": "crontabs", "kind": "CronTab"}, "versions": [version]}}


def add_crd(service: OpenAPIService, schema: dict[str, Any] | None) -> None:
    (info,) = infos_for_crd(crd(schema))
    service.table.add(info)
    service.set_custom_schemas(openapi_schemas(info))


def definitions(body: bytes) -> dict[str, Any]:
    document = openapiv2_pb2.Document()
    document.ParseFromString(body)
    return {entry.name: entry.value for entry in document.definitions.additional_properties}


def test_both_forms_share_the_json_etag_and_are_built_once(service: OpenAPIService) -> None:
    json_form = service.v2_encoded("json")
    proto = service.v2_encoded("protobuf")
    assert json_form.body == orjson.dumps(service.v2())
    assert json_form.etag == '"' + hashlib.sha512(json_form.body).hexdigest().upper() + '"'
    assert proto.etag == json_form.etag and proto.last_modified == json_form.last_modified
    assert proto.content_type == PROTOBUF and json_form.content_type == "application/json"
    assert service.v2_encoded("protobuf") is proto, "cached until the document changes"
    assert gzip.decompress(proto.gzipped()) == proto.body
    assert proto.headers()["Vary"] == "Accept"
    with pytest.raises(ValueError, match="unknown representation"):
        service.v2_encoded("yaml")


def test_a_crd_change_rebuilds_both_forms_with_the_custom_kind(service: OpenAPIService) -> None:
    before = service.v2_encoded("protobuf")
    add_crd(service, {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"}, "note": {"type": "string", "nullable": True}}}}})
    after = service.v2_encoded("protobuf")
    assert after.etag != before.etag
    assert service.v2_encoded("json").etag == after.etag
    crontab = definitions(after.body)["com.example.stable.v1.CronTab"]
    spec = {p.name: p.value for p in crontab.properties.additional_properties}["spec"]
    fields = {p.name: p.value for p in spec.properties.additional_properties}
    assert list(fields["replicas"].type.value) == ["integer"]
    assert not fields["note"].HasField("type"), "nullable: published untyped in v2, as upstream"
    assert "com.example.stable.v1.CronTabList" in definitions(after.body)
    # the v3 documents keep the CRD's own schema
    v3 = service.v3("apis/stable.example.com/v1")
    assert v3 is not None
    note = v3["components"]["schemas"]["com.example.stable.v1.CronTab"]["properties"]["spec"]["properties"]["note"]
    assert note["nullable"] is True


def test_conditional_requests(service: OpenAPIService) -> None:
    encoded = service.v2_encoded("protobuf")
    assert encoded.not_modified(if_none_match=encoded.etag, if_modified_since=None)
    assert encoded.not_modified(if_none_match=f'"other", W/{encoded.etag}', if_modified_since=None)
    assert encoded.not_modified(if_none_match="*", if_modified_since=None)
    assert not encoded.not_modified(if_none_match='"other"', if_modified_since=None)
    later = email.utils.formatdate(encoded.last_modified + 60, usegmt=True)
    earlier = email.utils.formatdate(encoded.last_modified - 60, usegmt=True)
    assert encoded.not_modified(if_none_match=None, if_modified_since=later)
    assert not encoded.not_modified(if_none_match=None, if_modified_since=earlier)
    assert not encoded.not_modified(if_none_match=None, if_modified_since="not a date")
    # If-None-Match decides alone when present (RFC 9110)
    assert not encoded.not_modified(if_none_match='"other"', if_modified_since=later)
    assert not encoded.not_modified(if_none_match=None, if_modified_since=None)


def test_read_operations_carry_no_empty_parameter_list(service: OpenAPIService) -> None:
    read = service.v2()["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]
    assert "parameters" not in read


GVK = [{"group": "g", "version": "v1", "kind": "K"}]


@pytest.mark.parametrize(("schema", "published"), [
    pytest.param({"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                  "properties": {"metadata": {"type": "object"}}, "x-kubernetes-group-version-kind": GVK},
                 {"type": "object", "x-kubernetes-group-version-kind": GVK}, id="root-preserves-unknown-fields"),
    pytest.param({"type": "object", "properties": {"a": {"type": "string", "nullable": True},
                                                   "b": {"type": "string"}}, "required": ["a", "b"]},
                 {"type": "object", "properties": {"a": {}, "b": {"type": "string"}}, "required": ["b"]},
                 id="nullable-property"),
    pytest.param({"type": "object", "properties": {"a": {"type": "string", "nullable": True}}, "required": ["a"]},
                 {"type": "object", "properties": {"a": {}}}, id="nullable-only-required"),
    pytest.param({"type": "object", "additionalProperties": {"type": "string", "nullable": True},
                  "required": ["x"]},
                 {"type": "object", "additionalProperties": {}}, id="nullable-additional-properties"),
    pytest.param({"type": "object", "properties": {"p": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                                         "properties": {"q": {"type": "string"}}}}},
                 {"type": "object", "properties": {"p": {"x-kubernetes-preserve-unknown-fields": True}}},
                 id="nested-preserve"),
    pytest.param({"properties": {"a": {"type": "array", "x-kubernetes-preserve-unknown-fields": True,
                                       "items": {"type": "string"}}}},
                 {"properties": {"a": {"x-kubernetes-preserve-unknown-fields": True}}},
                 id="preserved-array-loses-type"),
    pytest.param({"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                 {"x-kubernetes-int-or-string": True}, id="int-or-string"),
    pytest.param({"type": "string", "allOf": [{"minLength": 1}], "oneOf": [{}], "not": {}, "example": "x",
                  "externalDocs": {"url": "u"}, "pattern": "^a", "enum": ["a"], "default": "a"},
                 {"type": "string", "pattern": "^a", "enum": ["a"], "default": "a"}, id="v3-only-keywords-dropped"),
    pytest.param({"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer",
                                                                                    "nullable": True}}},
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["n"]},
                 {"type": "array", "items": {"type": "object", "properties": {"n": {}}},
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["n"]}, id="items-converted"),
    pytest.param({"type": "object", "properties": {"template": {
                      "type": "object", "x-kubernetes-embedded-resource": True, "required": ["spec"],
                      "properties": {"spec": {"type": "object"}}}}},
                 {"type": "object", "properties": {"template": {
                     "type": "object", "x-kubernetes-embedded-resource": True,
                     "required": ["spec", "kind", "apiVersion"],
                     "properties": {"spec": {"type": "object"}, **EMBEDDED_PROPERTIES}}}},
                 id="embedded-resource-gets-type-and-object-meta"),
    pytest.param({"type": "object", "properties": {"raw": {
                      "type": "object", "x-kubernetes-embedded-resource": True,
                      "x-kubernetes-preserve-unknown-fields": True}}},
                 {"type": "object", "properties": {"raw": {
                     "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}}},
                 id="embedded-resource-preserving-unknown-fields-stays-open"),
])
def test_crd_schemas_take_upstreams_v2_form(schema: dict[str, Any], published: dict[str, Any]) -> None:
    original = orjson.dumps(schema)
    assert published_schema(schema) == published
    assert orjson.dumps(schema) == original, "the input is not modified"


async def test_concurrent_first_requests_share_one_encoding_off_the_loop(
        service: OpenAPIService, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = v2_protobuf.encode_document

    def counting(document: dict[str, Any], **kwargs: Any) -> bytes:
        calls.append(threading.current_thread().name)
        return original(document, **kwargs)

    monkeypatch.setattr(v2_protobuf, "encode_document", counting)
    first, second = await asyncio.gather(service.v2_encoded_async("protobuf"), service.v2_encoded_async("protobuf"))
    assert first is second and len(calls) == 1
    assert calls[0] != threading.main_thread().name, "encoded in a worker thread"
    assert await service.v2_encoded_async("protobuf") is first
    assert (await service.v2_encoded_async("json")).etag == first.etag


async def test_an_encoding_overtaken_by_a_crd_change_is_not_cached(
        service: OpenAPIService, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    original = v2_protobuf.encode_document

    def slow(document: dict[str, Any], **kwargs: Any) -> bytes:
        assert release.wait(30)
        return original(document, **kwargs)

    monkeypatch.setattr(v2_protobuf, "encode_document", slow)
    request = asyncio.ensure_future(service.v2_encoded_async("protobuf"))
    while not service._v2_protobuf_lock.locked() and not request.done():
        await asyncio.sleep(0)
    add_crd(service, {"type": "object"})
    release.set()
    stale = await request
    assert "com.example.stable.v1.CronTab" not in definitions(stale.body), "answers as of its request"
    fresh = await service.v2_encoded_async("protobuf")
    assert fresh is not stale and fresh.etag != stale.etag
    assert "com.example.stable.v1.CronTab" in definitions(fresh.body)
