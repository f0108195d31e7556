"""kubelite.api.openapi.v2_protobuf: the /openapi/v2 document as gnostic's openapi.v2.Document bytes.

The bytes are parsed with the classes generated from openapiv2.proto (protobuf's own parser, not our
encoder's tables) and turned back into JSON by gnostic's mapping, written out here independently;
the result must be the JSON document we serve.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.message import Message

from kubelite.api.openapi import openapi_v2, openapiv2_pb2
from kubelite.api.openapi.v2_protobuf import (
    DocumentEntries,
    OpenAPIEncodingError,
    encode_document,
    encode_schema,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
ONEOF_WRAPPERS = {"Parameter", "NonBodyParameter", "ParametersItem", "ResponseValue", "SchemaItem",
                  "SecurityDefinitionsItem"}
MAPS = {"Default", "Definitions", "Examples", "Headers", "Oauth2Scopes", "ParameterDefinitions", "Properties",
        "ResponseDefinitions", "SecurityDefinitions", "SecurityRequirement", "VendorExtension"}


def to_json(msg: Message) -> Any:
    """gnostic's JSON form of a parsed message (what ParseDocument started from)."""
    name = msg.DESCRIPTOR.name
    if name == "Any":
        return yaml.safe_load(msg.yaml)  # type: ignore[attr-defined]
    if name in ONEOF_WRAPPERS:
        which = msg.WhichOneof("oneof")
        assert which is not None, f"empty {name}"
        return to_json(getattr(msg, which))
    if name == "AdditionalPropertiesItem":
        which = msg.WhichOneof("oneof")
        return msg.boolean if which == "boolean" else to_json(msg.schema)  # type: ignore[attr-defined]
    if name == "TypeItem":
        values = list(msg.value)  # type: ignore[attr-defined]
        return values[0] if len(values) == 1 else values
    if name == "ItemsItem":
        schemas = [to_json(s) for s in msg.schema]  # type: ignore[attr-defined]
        return schemas[0] if len(schemas) == 1 else schemas
    if name == "StringArray":
        return list(msg.value)  # type: ignore[attr-defined]
    if name in MAPS:
        return {entry.name: to_json(entry.value) if isinstance(entry.value, Message) else entry.value
                for entry in msg.additional_properties}  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.name == "vendor_extension":
            out.update({named.name: yaml.safe_load(named.value.yaml) for named in value})
        elif (name, field.name) in {("Paths", "path"), ("Responses", "response_code")}:
            out.update({named.name: to_json(named.value) for named in value})
        else:
            key = "$ref" if field.name == "_ref" else field.json_name
            if field.message_type is None:
                out[key] = list(value) if field.is_repeated else value
            elif field.is_repeated:
                out[key] = [to_json(v) for v in value]
            else:
                out[key] = to_json(value)
    return out


def parse(data: bytes, message: type[Message] = openapiv2_pb2.Document) -> Any:
    parsed = message()
    parsed.ParseFromString(data)
    return parsed


@pytest.fixture(scope="module")
def served_document() -> dict[str, Any]:
    """The v2 document the API server serves for its built-in kinds (paths and every definition)."""
    from kubelite.controlplane.apiserver.openapi_service import OpenAPIService
    from kubelite.controlplane.apiserver.resources import ResourceTable

    return OpenAPIService(ResourceTable()).v2()


def test_the_served_document_decodes_back_to_itself(served_document: dict[str, Any]) -> None:
    encoded = encode_document(served_document)
    document = parse(encoded)
    assert document.swagger == "2.0"
    assert len(document.definitions.additional_properties) == len(served_document["definitions"])
    assert len(document.paths.path) == len(served_document["paths"])
    assert to_json(document) == served_document


def test_kubectl_finds_a_kind_by_its_group_version_kind_extension(served_document: dict[str, Any]) -> None:
    document = parse(encode_document(served_document))
    by_name = {entry.name: entry.value for entry in document.definitions.additional_properties}
    deployment = by_name["io.k8s.api.apps.v1.Deployment"]
    extensions = {e.name: yaml.safe_load(e.value.yaml) for e in deployment.vendor_extension}
    assert extensions["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert list(deployment.type.value) == ["object"]
    spec = {p.name: p.value for p in deployment.properties.additional_properties}["spec"]
    assert spec._ref == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    # the YAML text is gnostic's block style, not JSON
    gvk = next(e.value.yaml for e in deployment.vendor_extension if e.name == "x-kubernetes-group-version-kind")
    assert gvk == "- group: apps\n  kind: Deployment\n  version: v1\n"


@pytest.mark.parametrize(("schema", "present", "which"), [
    pytest.param({"type": "object", "properties": {}}, "properties", None, id="empty-properties-kept"),
    pytest.param({"additionalProperties": False}, "additional_properties", "boolean", id="false-additional"),
    pytest.param({"additionalProperties": {"type": "string"}}, "additional_properties", "schema",
                 id="schema-additional"),
    pytest.param({"items": {"type": "string"}}, "items", None, id="items-one-schema"),
])
def test_present_but_empty_values_are_written(schema: dict[str, Any], present: str, which: str | None) -> None:
    # kube-openapi tells a kind (properties: {}) from a map by the presence of Properties
    parsed = parse(encode_schema(schema), openapiv2_pb2.Schema)
    assert parsed.HasField(present)
    if which is not None:
        assert getattr(parsed, present).WhichOneof("oneof") == which
    assert to_json(parsed) == schema


def test_zero_scalars_are_left_out_as_proto3_does() -> None:
    assert encode_schema({"description": "", "uniqueItems": False, "maxLength": 0, "minimum": 0}) == b""


def test_numbers_and_any_values() -> None:
    schema = {"type": "integer", "format": "int32", "minimum": -1, "maximum": 2.5, "maxLength": -3,
              "enum": [1, "a", None, True], "default": {"k": ["v"]}, "example": "007",
              "x-kubernetes-int-or-string": True, "x-kubernetes-list-map-keys": ["name", "port"]}
    parsed = parse(encode_schema(schema), openapiv2_pb2.Schema)
    assert parsed.minimum == -1.0 and parsed.maximum == 2.5 and parsed.max_length == -3
    assert to_json(parsed) == schema
    assert parsed.example.yaml == "'007'\n", "a string that looks like a number stays a string"
    assert parsed.enum[2].yaml == "null\n" and parsed.enum[3].yaml == "true\n"


def test_parameters_responses_and_security_take_gnostic_alternatives() -> None:
    document = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "v"},
        "paths": {"/api/v1/pods": {
            "parameters": [{"$ref": "#/parameters/pretty"}],
            "post": {
                "parameters": [
                    {"name": "body", "in": "body", "required": True, "schema": {"type": "object"}},
                    {"name": "dryRun", "in": "query", "type": "string", "uniqueItems": True},
                    {"name": "name", "in": "path", "required": True, "type": "string"},
                    {"name": "X-Trace", "in": "header", "type": "string"},
                    {"name": "f", "in": "formData", "type": "file"},
                ],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/X"}},
                              "default": {"$ref": "#/responses/err"},
                              "x-note": "hi"},
            },
            "x-path-note": 1,
        }, "x-paths-note": [1]},
        "definitions": {"X": {"type": "object"}},
        "parameters": {"pretty": {"name": "pretty", "in": "query", "type": "string"}},
        "responses": {"err": {"description": "boom", "schema": {"type": "file"}}},
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"},
                                "basic": {"type": "basic"},
                                "oauth": {"type": "oauth2", "flow": "implicit", "authorizationUrl": "https://a",
                                          "scopes": {"read": "reads"}}},
        "security": [{"BearerToken": []}, {"oauth": ["read"]}],
        "tags": [{"name": "core_v1"}],
        "x-top": {"a": 1},
    }
    parsed = parse(encode_document(document))
    assert to_json(parsed) == document
    post = parsed.paths.path[0].value.post
    kinds = [p.parameter.WhichOneof("oneof") for p in post.parameters]
    assert kinds == ["body_parameter"] + ["non_body_parameter"] * 4
    assert [p.parameter.non_body_parameter.WhichOneof("oneof") for p in post.parameters[1:]] == [
        "query_parameter_sub_schema", "path_parameter_sub_schema", "header_parameter_sub_schema",
        "form_data_parameter_sub_schema"]
    assert parsed.paths.path[0].value.parameters[0].WhichOneof("oneof") == "json_reference"
    codes = {r.name: r.value.WhichOneof("oneof") for r in post.responses.response_code}
    assert codes == {"200": "response", "default": "json_reference"}
    assert parsed.responses.additional_properties[0].value.schema.WhichOneof("oneof") == "file_schema"
    security = {s.name: s.value.WhichOneof("oneof") for s in parsed.security_definitions.additional_properties}
    assert security == {"BearerToken": "api_key_security", "basic": "basic_authentication_security",
                        "oauth": "oauth2_implicit_security"}
    # an empty scope list is still a (present, empty) StringArray, as gnostic writes it
    assert parsed.security[0].additional_properties[0].HasField("value")


@pytest.mark.parametrize(("schema", "message"), [
    pytest.param({"nullable": True}, "$: 'nullable' is not a field of Schema", id="v3-keyword"),
    pytest.param({"properties": {"a": {"anyOf": []}}}, "$.properties.a: 'anyOf' is not a field", id="nested"),
    pytest.param({"maxLength": "5"}, "$.maxLength: expected an integer, got a string", id="wrong-int"),
    pytest.param({"maxLength": 5.5}, "$.maxLength: expected an integer, got a number", id="float-int"),
    pytest.param({"required": "a"}, "$.required: expected a list, got a string", id="wrong-list"),
    pytest.param({"type": 3}, "$.type: expected a type name or a list of them, got a number", id="wrong-type"),
    pytest.param({"type": ["a", 1]}, "$.type[1]: expected a string, got a number", id="wrong-type-item"),
    pytest.param({"items": "x"}, "$.items: expected a schema or a list of them, got a string", id="wrong-items"),
    pytest.param({"properties": []}, "$.properties: expected an object, got a list", id="wrong-map"),
])
def test_what_gnostic_refuses_is_an_error_naming_the_place(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(OpenAPIEncodingError) as caught:
        encode_schema(schema)
    assert message in str(caught.value)


def test_a_parameter_in_an_unknown_place_is_refused() -> None:
    document = {"swagger": "2.0", "paths": {"/x": {"get": {"parameters": [{"name": "c", "in": "cookie"}]}}}}
    with pytest.raises(OpenAPIEncodingError, match="parameter 'in' must be one of body, header"):
        encode_document(document)
    with pytest.raises(OpenAPIEncodingError, match="'bogus' is not allowed in Paths"):
        encode_document({"paths": {"bogus": {}}})


def test_remembered_entries_give_the_same_bytes_and_follow_the_document() -> None:
    previous = DocumentEntries()
    base = openapi_v2({}, info_version="v1.32.0")
    first = encode_document(base, previous=previous)
    assert len(previous.entries) == len(base["definitions"])
    with_custom = openapi_v2({}, extra_definitions={"com.example.v1.Foo": {"type": "object", "properties": {}}},
                             info_version="v1.32.0")
    second = encode_document(with_custom, previous=previous)
    assert second == encode_document(with_custom), "reused entries give exactly the fresh encoding"
    assert len(second) > len(first)
    assert "com.example.v1.Foo" in {e.name for e in parse(second).definitions.additional_properties}
    assert encode_document(base, previous=previous) == first
    assert len(previous.entries) == len(base["definitions"]), "entries of removed definitions are forgotten"


def test_a_failed_encoding_keeps_the_previous_entries() -> None:
    previous = DocumentEntries()
    encode_document({"definitions": {"A": {"type": "string"}}}, previous=previous)
    kept = dict(previous.entries)
    with pytest.raises(OpenAPIEncodingError):
        encode_document({"definitions": {"A": {"type": "string"}, "B": {"nullable": True}}}, previous=previous)
    assert previous.entries == kept


def test_the_proto_matches_the_committed_generated_code(tmp_path: Path) -> None:
    # Regenerate as generate.sh does and compare: the committed *_pb2 must come from openapiv2.proto.
    subprocess.run(["bash", str(REPO_ROOT / "kubelite/api/openapi/generate.sh"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("openapiv2_pb2.py", "openapiv2_pb2.pyi"):
        committed = (REPO_ROOT / "kubelite/api/openapi" / name).read_text()
        assert (tmp_path / name).read_text() == committed, f"{name} is stale: run kubelite/api/openapi/generate.sh"
