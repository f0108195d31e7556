"""kubelite.api.openapi: the packaged Kubernetes 1.32 schemas, documents, merge metadata, unknown fields;
and tools/extract_openapi.py on small synthetic specs."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from kubelite.api import openapi
from kubelite.api.openapi.definitions import OpenAPIDataError, load_schema_data, parse_schema_data
from kubelite.api.openapi.documents import V3_REF_PREFIX, iter_refs, to_v3_schema
from kubelite.api.openapi.field_validation import MAX_STRICT_ERRORS, go_quote

REPO_ROOT = Path(__file__).resolve().parents[3]

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CRD = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."


def ref(name: str) -> dict[str, str]:
    """A v2 reference to a definition."""
    return {"$ref": "#/definitions/" + name}


@pytest.fixture(scope="module")
def extractor() -> Iterator[ModuleType]:
    """tools/extract_openapi.py imported as a module (tools/ is not a package)."""
    path = REPO_ROOT / "tools" / "extract_openapi.py"
    spec = importlib.util.spec_from_file_location("extract_openapi", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["extract_openapi"] = module  # dataclasses resolve annotations through sys.modules
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("extract_openapi", None)


def make_deployment() -> dict[str, Any]:
    """A realistic, fully valid Deployment touching maps, lists, IntOrString and Quantity fields."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "example.com/any-key": "x"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }
            ],
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.1}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                        }
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
        "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
    }


# ---------------------------------------------------------------------------------------------
# The packaged data


def test_data_is_kubernetes_1_32_with_descriptions() -> None:
    defs = openapi.definitions()
    assert openapi.kubernetes_version() == "1.32"
    assert len(defs) > 300
    assert defs[POD]["description"].startswith("Pod is a collection of containers")
    for name in ("ObjectMeta", "ListMeta", "Status", "WatchEvent", "DeleteOptions", "APIResourceList"):
        assert META + name in defs, name


def test_definitions_returns_a_private_copy() -> None:
    first = openapi.definitions()
    first[POD]["properties"].clear()
    assert "spec" in openapi.definitions()[POD]["properties"]


@pytest.mark.parametrize(
    ("group", "version", "kind", "expected"),
    [
        pytest.param("", "v1", "Pod", POD, id="core-pod"),
        pytest.param("", "v1", "PodList", "io.k8s.api.core.v1.PodList", id="core-list"),
        pytest.param("apps", "v1", "Deployment", DEPLOYMENT, id="apps-deployment"),
        pytest.param("", "v1", "Event", "io.k8s.api.core.v1.Event", id="core-event"),
        pytest.param("events.k8s.io", "v1", "Event", "io.k8s.api.events.v1.Event", id="events-event"),
        pytest.param("autoscaling", "v1", "Scale", "io.k8s.api.autoscaling.v1.Scale", id="scale"),
        pytest.param("policy", "v1", "Eviction", "io.k8s.api.policy.v1.Eviction", id="eviction"),
        pytest.param("apiextensions.k8s.io", "v1", "CustomResourceDefinition", CRD, id="crd"),
        pytest.param("apps", "v1", "DeleteOptions", META + "DeleteOptions", id="meta-in-any-group"),
        pytest.param("", "v1", "ReplicationController", None, id="kind-not-served"),
        pytest.param("apps", "v2", "Deployment", None, id="unknown-version"),
        pytest.param("", "v1", "pod", None, id="kind-is-case-sensitive"),
    ],
)
def test_definition_for(group: str, version: str, kind: str, expected: str | None) -> None:
    assert openapi.definition_for(group, version, kind) == expected


def test_every_kind_the_extractor_asks_for_is_present(extractor: ModuleType) -> None:
    missing = [gvk for gvk in extractor.KINDS if openapi.definition_for(*gvk) is None]
    assert missing == []


def test_kinds_are_sorted_and_point_at_existing_definitions() -> None:
    kinds = openapi.kinds()
    assert kinds == sorted(kinds)
    assert ("apps", "v1", "Deployment", DEPLOYMENT) in kinds
    defs = openapi.definitions()
    assert all(k.definition in defs for k in kinds)


def test_every_reference_in_the_data_resolves() -> None:
    defs = openapi.definitions()
    dangling = {ref for ref in iter_refs(defs) if ref.removeprefix("#/definitions/") not in defs}
    assert dangling == set()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"not gzip", "not gzip-compressed JSON", id="not-gzip"),
        pytest.param(gzip.compress(b"{"), "not gzip-compressed JSON", id="bad-json"),
        pytest.param(gzip.compress(b'{"format": 99, "definitions": {}}'), "data format 99", id="wrong-format"),
        pytest.param(gzip.compress(b'{"format": 1, "definitions": {}}'), "no 'definitions'", id="empty"),
    ],
)
def test_malformed_data_file_is_reported(raw: bytes, message: str) -> None:
    with pytest.raises(OpenAPIDataError, match=message):
        parse_schema_data(raw, origin="test.json.gz")


def test_missing_data_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(OpenAPIDataError, match="cannot read OpenAPI data"):
        load_schema_data(tmp_path / "absent.json.gz")


# ---------------------------------------------------------------------------------------------
# Strategic merge metadata


def field_at(definition: str, *path: str) -> openapi.FieldMeta:
    schema: openapi.MergeSchema | None = openapi.merge_schema_for(definition)
    meta = None
    for name in path:
        assert schema is not None, f"no schema to look up {name!r} in"
        meta = schema.field(name)
        assert meta is not None, f"{definition} has no field {'.'.join(path)}"
        schema = meta.schema
    assert meta is not None
    return meta


@pytest.mark.parametrize(
    ("definition", "path", "strategies", "merge_key"),
    [
        pytest.param(POD, ("spec", "containers"), {"merge"}, "name", id="containers"),
        pytest.param(POD, ("spec", "initContainers"), {"merge"}, "name", id="initContainers"),
        pytest.param(POD, ("spec", "volumes"), {"merge", "retainKeys"}, "name", id="volumes-retainKeys"),
        pytest.param(POD, ("spec", "containers", "ports"), {"merge"}, "containerPort", id="container-ports"),
        pytest.param(POD, ("spec", "containers", "env"), {"merge"}, "name", id="env"),
        pytest.param(POD, ("spec", "containers", "volumeMounts"), {"merge"}, "mountPath", id="volumeMounts"),
        pytest.param(POD, ("spec", "tolerations"), set(), None, id="atomic-list"),
        pytest.param(POD, ("metadata", "finalizers"), {"merge"}, None, id="primitive-merge-list"),
        pytest.param(POD, ("metadata", "ownerReferences"), {"merge"}, "uid", id="ownerReferences"),
        pytest.param(POD, ("status", "conditions"), {"merge"}, "type", id="status-conditions"),
        pytest.param(DEPLOYMENT, ("spec", "strategy"), {"retainKeys"}, None, id="deployment-strategy"),
        pytest.param(DEPLOYMENT, ("spec", "template", "spec", "containers"), {"merge"}, "name", id="through-template"),
        pytest.param("io.k8s.api.core.v1.Service", ("spec", "ports"), {"merge"}, "port", id="service-ports"),
    ],
)
def test_patch_strategy_and_merge_key(
    definition: str, path: tuple[str, ...], strategies: set[str], merge_key: str | None
) -> None:
    meta = field_at(definition, *path)
    assert meta.strategies == frozenset(strategies)
    assert meta.merge_key == merge_key
    assert meta.merges == ("merge" in strategies)


def test_list_field_schema_is_the_item_schema() -> None:
    containers = field_at(POD, "spec", "containers")
    assert containers.schema is not None
    image = containers.schema.field("image")
    assert image is not None and image.schema is None  # a scalar
    assert (containers.list_type, containers.list_map_keys) == ("map", ("name",))


@pytest.mark.parametrize(
    ("path", "key", "value_has_schema"),
    [
        pytest.param(("metadata", "labels"), "any/key", False, id="string-map"),
        pytest.param(("spec", "containers", "resources", "limits"), "cpu", False, id="quantity-map"),
    ],
)
def test_map_field_gives_its_value_schema_for_any_key(path: tuple[str, ...], key: str, value_has_schema: bool) -> None:
    schema = field_at(POD, *path).schema
    assert schema is not None
    value = schema.field(key)
    assert value is not None
    assert (value.schema is not None) == value_has_schema


def test_map_of_objects_walks_into_the_value_schema() -> None:
    props = field_at(CRD, "spec", "versions", "schema", "openAPIV3Schema", "properties")
    assert props.schema is not None
    value = props.schema.field("spec")
    assert value is not None and value.schema is not None
    nested = value.schema.field("properties")  # JSONSchemaProps refers to itself
    assert nested is not None and nested.schema is not None


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        pytest.param(POD, "bogus", id="unknown-field"),
        pytest.param(POD, "Spec", id="case-sensitive"),
        pytest.param("io.k8s.apimachinery.pkg.api.resource.Quantity", "x", id="scalar-definition"),
        pytest.param("io.k8s.apimachinery.pkg.runtime.RawExtension", "x", id="opaque-object"),
    ],
)
def test_field_that_does_not_exist_is_none(definition: str, field: str) -> None:
    assert openapi.merge_schema_for(definition).field(field) is None


def test_atomic_struct_map_type_comes_from_the_definition() -> None:
    assert field_at(DEPLOYMENT, "spec", "selector").map_type == "atomic"


def test_merge_schema_for_unknown_definition() -> None:
    with pytest.raises(openapi.UnknownDefinitionError, match=r"io\.k8s\.api\.core\.v1\.Nope"):
        openapi.merge_schema_for("io.k8s.api.core.v1.Nope")


# ---------------------------------------------------------------------------------------------
# Unknown fields


def with_changes(**changes: Any) -> dict[str, Any]:
    """make_deployment() with dotted-path keys set, e.g. with_changes(**{"spec.foo": 1})."""
    obj = make_deployment()
    for dotted, value in changes.items():
        target: Any = obj
        *parents, last = dotted.split(".")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value
    return obj


@pytest.mark.parametrize(
    ("definition", "obj", "expected"),
    [
        pytest.param(DEPLOYMENT, make_deployment(), [], id="valid-deployment"),
        pytest.param(DEPLOYMENT, with_changes(**{"spec.foo": 1}), ["spec.foo"], id="spec-level"),
        pytest.param(DEPLOYMENT, with_changes(**{"metadata.nmae": "x"}), ["metadata.nmae"], id="typo-in-meta"),
        pytest.param(
            DEPLOYMENT,
            with_changes(**{"spec.template.spec.containers.0.imagePullPolicyy": "x"}),
            ["spec.template.spec.containers[0].imagePullPolicyy"],
            id="in-list-item",
        ),
        pytest.param(
            DEPLOYMENT,
            with_changes(**{"spec.template.spec.containers.0.ports.0.xx": 1}),
            ["spec.template.spec.containers[0].ports[0].xx"],
            id="list-in-list",
        ),
        pytest.param(DEPLOYMENT, with_changes(Metadata={}), ["Metadata"], id="case-sensitive"),
        pytest.param(DEPLOYMENT, with_changes(**{"spec.replicas": None, "spec.paused": None}), [], id="nulls"),
        pytest.param(DEPLOYMENT, with_changes(spec="not-an-object"), [], id="type-mismatch-is-not-unknown"),
        pytest.param(
            DEPLOYMENT,
            with_changes(**{"spec.strategy.rollingUpdate.maxSurge": {"x": 1}}),
            [],
            id="int-or-string-is-opaque",
        ),
        pytest.param(
            DEPLOYMENT,
            with_changes(**{"spec.template.spec.apiVersion": "v1"}),
            ["spec.template.spec.apiVersion"],
            id="typemeta-only-free-at-top",
        ),
        pytest.param(
            DEPLOYMENT, {"status": {"c": 3}, "a": 1, "spec": {"b": 2}}, ["status.c", "a", "spec.b"], id="document-order"
        ),
        pytest.param(
            "io.k8s.api.core.v1.PodSpec",
            {"apiVersion": "v1", "kind": "X", "containers": []},
            [],
            id="typemeta-ignored-at-top-of-any-definition",
        ),
        pytest.param(
            "io.k8s.api.apps.v1.ControllerRevision",
            {"revision": 1, "data": {"spec": {"anything": {"goes": [1, 2]}}}},
            [],
            id="raw-extension-is-opaque",
        ),
        pytest.param(
            META + "WatchEvent",
            {"type": "ADDED", "object": {"kind": "Pod", "x": 1}},
            [],
            id="watch-event-object-is-opaque",
        ),
        pytest.param(
            POD,
            {"spec": {"containers": [{"name": "a", "x": 1}, {"name": "b", "x": 1}]}},
            ["spec.containers[0].x", "spec.containers[1].x"],
            id="each-item-reported",
        ),
    ],
)
def test_unknown_fields(definition: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert openapi.unknown_fields(definition, obj) == expected


def crd_with_version(version: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "foos.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "foos", "kind": "Foo"},
            "versions": [{"name": "v1", "served": True, "storage": True, **version}],
        },
    }


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        pytest.param(
            {
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                                "default": {"free": {"form": 1}},
                            }
                        },
                    }
                }
            },
            [],
            id="valid-schema-with-free-default",
        ),
        pytest.param(
            {"schema": {"openAPIV3Schema": {"properties": {"spec": {"typo": "object"}}}}},
            ["spec.versions[0].schema.openAPIV3Schema.properties.spec.typo"],
            id="map-key-in-path",
        ),
        pytest.param(
            {"subresources": {"status": {"x": 1}}},
            ["spec.versions[0].subresources.status.x"],
            id="empty-struct-accepts-nothing",
        ),
    ],
)
def test_unknown_fields_in_custom_resource_definition(version: dict[str, Any], expected: list[str]) -> None:
    assert openapi.unknown_fields(CRD, crd_with_version(version)) == expected


def test_unknown_fields_stop_at_upstream_limit() -> None:
    obj = {"metadata": {f"k{i:03}": i for i in range(MAX_STRICT_ERRORS + 50)}}
    found = openapi.unknown_fields(POD, obj)
    assert len(found) == MAX_STRICT_ERRORS
    assert found[0] == "metadata.k000"


def test_unknown_fields_of_unknown_definition() -> None:
    with pytest.raises(openapi.UnknownDefinitionError):
        openapi.unknown_fields("io.k8s.api.core.v1.Nope", {})


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        pytest.param("spec.foo", '"spec.foo"', id="plain"),
        pytest.param('a"b\\c', '"a\\"b\\\\c"', id="quote-and-backslash"),
        pytest.param("tab\there\n", '"tab\\there\\n"', id="short-escapes"),
        pytest.param("\x7f\x01", '"\\x7f\\x01"', id="ascii-control"),
        pytest.param("caf\u00e9 \u2603", '"caf\u00e9 \u2603"', id="printable-unicode-kept"),
        pytest.param("\u200b", '"\\u200b"', id="unicode-format-char"),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_strict_decoding_messages_match_upstream_wording() -> None:
    assert openapi.unknown_field_message("spec.foo") == 'unknown field "spec.foo"'
    assert openapi.strict_decoding_error(["spec.foo", "spec.containers[0].bar"]) == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.containers[0].bar"'
    )


# ---------------------------------------------------------------------------------------------
# /openapi/v2


POD_PATHS_V2 = {
    "/api/v1/namespaces/{namespace}/pods/{name}": {
        "get": {
            "operationId": "readCoreV1NamespacedPod",
            "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/" + POD}}},
            "x-kubernetes-group-version-kind": {"group": "", "kind": "Pod", "version": "v1"},
        },
        "parameters": [{"$ref": "#/parameters/pretty-tJGM1-ng"}],
    }
}
PRETTY = {"pretty-tJGM1-ng": {"in": "query", "name": "pretty", "type": "string", "uniqueItems": True}}


def test_openapi_v2_round_trips_as_json_with_every_ref_resolvable() -> None:
    built = openapi.openapi_v2(POD_PATHS_V2, parameters=PRETTY, info_version="v1.32.0")
    doc = orjson.loads(orjson.dumps(built))
    assert doc["swagger"] == "2.0"
    assert doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    assert doc["paths"] == POD_PATHS_V2
    assert doc["security"] == [{"BearerToken": []}]
    for ref in iter_refs(doc):
        section, _, name = ref.removeprefix("#/").partition("/")
        assert name in doc[section], ref


def test_openapi_v2_has_upstream_v2_shape_without_v3_only_facts() -> None:
    defs = openapi.openapi_v2({})["definitions"]
    assert defs[POD]["properties"]["metadata"] == {
        "$ref": "#/definitions/" + META + "ObjectMeta",
        "description": defs[POD]["properties"]["metadata"]["description"],
    }
    assert "default" not in defs["io.k8s.api.core.v1.ContainerPort"]["properties"]["protocol"]
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"paths": {"/x": {"get": {"responses": {"200": {"schema": ref("Nope")}}}}}},
            "do not exist: Nope",
            id="dangling-path-ref",
        ),
        pytest.param(
            {"paths": {}, "extra_definitions": {POD: {"type": "object"}}},
            "would replace the built-in",
            id="extra-clashes-with-builtin",
        ),
        pytest.param(
            {"paths": POD_PATHS_V2},
            "shared parameters that were not given: pretty-tJGM1-ng",
            id="dangling-parameter-ref",
        ),
    ],
)
def test_openapi_v2_rejects_broken_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        openapi.openapi_v2(**kwargs)


def test_openapi_v2_adds_extra_definitions() -> None:
    foo = {"type": "object", "properties": {"metadata": {"$ref": "#/definitions/" + META + "ObjectMeta"}}}
    doc = openapi.openapi_v2({}, extra_definitions={"com.example.v1.Foo": foo})
    assert doc["definitions"]["com.example.v1.Foo"] == foo


# ---------------------------------------------------------------------------------------------
# /openapi/v3/<group-version>


def assert_v3_refs_resolve(doc: dict[str, Any]) -> None:
    text = orjson.dumps(doc)
    assert b"#/definitions/" not in text
    schemas = doc["components"]["schemas"]
    for ref in iter_refs(doc):
        assert ref.startswith(V3_REF_PREFIX), ref
        assert ref.removeprefix(V3_REF_PREFIX) in schemas, ref


@pytest.mark.parametrize(
    ("group_version", "present", "absent"),
    [
        pytest.param("v1", [POD, "io.k8s.api.core.v1.NodeList"], [DEPLOYMENT], id="core"),
        pytest.param(
            "apps/v1",
            [DEPLOYMENT, "io.k8s.api.apps.v1.DeploymentList", "io.k8s.api.core.v1.PodSpec"],
            [POD, "io.k8s.api.batch.v1.Job", META + "DeleteOptions"],
            id="apps",
        ),
        pytest.param(
            "autoscaling/v2",
            ["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"],
            ["io.k8s.api.autoscaling.v1.Scale"],
            id="autoscaling-v2",
        ),
    ],
)
def test_openapi_v3_without_paths_describes_the_group_versions_kinds(
    group_version: str, present: list[str], absent: list[str]
) -> None:
    doc = openapi.openapi_v3(group_version, {})
    assert doc["openapi"] == "3.0.0"
    assert doc["components"]["securitySchemes"]["BearerToken"]["in"] == "header"
    schemas = doc["components"]["schemas"]
    assert [name for name in present if name not in schemas] == []
    assert [name for name in absent if name in schemas] == []
    assert_v3_refs_resolve(doc)


def test_openapi_v3_with_paths_carries_what_the_paths_reach() -> None:
    paths = {
        "/apis/batch/v1/namespaces/{namespace}/jobs": {
            "get": {
                "responses": {
                    "200": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/definitions/io.k8s.api.batch.v1.JobList"}}
                        }
                    }
                }
            },  # a v2-style ref
            "delete": {
                "requestBody": {"content": {"*/*": {"schema": {"$ref": V3_REF_PREFIX + META + "DeleteOptions"}}}}
            },
        }
    }
    doc = openapi.openapi_v3("batch/v1", paths)
    schemas = doc["components"]["schemas"]
    assert "io.k8s.api.batch.v1.Job" in schemas and META + "DeleteOptions" in schemas
    assert "io.k8s.api.batch.v1.CronJob" not in schemas  # not reached by these paths, as upstream
    get = doc["paths"]["/apis/batch/v1/namespaces/{namespace}/jobs"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": V3_REF_PREFIX + "io.k8s.api.batch.v1.JobList"
    }
    assert_v3_refs_resolve(doc)


def test_openapi_v3_schemas_match_upstream_v3_conventions() -> None:
    schemas = openapi.openapi_v3("v1", {})["components"]["schemas"]
    metadata = schemas[POD]["properties"]["metadata"]
    assert metadata["allOf"] == [{"$ref": V3_REF_PREFIX + META + "ObjectMeta"}]
    assert metadata["default"] == {}
    assert "$ref" not in metadata and metadata["description"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"allOf": [{"$ref": V3_REF_PREFIX + "io.k8s.api.core.v1.Container"}], "default": {}}
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert schemas["io.k8s.api.core.v1.ContainerPort"]["properties"]["protocol"]["default"] == "TCP"
    int_or_string = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "type" not in int_or_string and int_or_string["format"] == "int-or-string"
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    assert quantity["oneOf"] == [{"type": "string"}, {"type": "number"}] and "type" not in quantity


@pytest.mark.parametrize(
    ("v2", "v3"),
    [
        pytest.param({"$ref": "#/definitions/A"}, {"$ref": V3_REF_PREFIX + "A"}, id="bare-ref-stays-bare"),
        pytest.param(
            {"$ref": "#/definitions/A", "description": "d"},
            {"allOf": [{"$ref": V3_REF_PREFIX + "A"}], "description": "d"},
            id="ref-with-sibling",
        ),
        pytest.param(
            {"type": "array", "items": {"$ref": "#/definitions/A"}},
            {"type": "array", "items": {"$ref": V3_REF_PREFIX + "A"}},
            id="items",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": {"$ref": "#/definitions/A", "x-a": 1}},
            {"type": "object", "additionalProperties": {"allOf": [{"$ref": V3_REF_PREFIX + "A"}], "x-a": 1}},
            id="additional-properties",
        ),
        pytest.param(
            {"$ref": "https://example.com/s.json"}, {"$ref": "https://example.com/s.json"}, id="foreign-ref-untouched"
        ),
    ],
)
def test_to_v3_schema(v2: dict[str, Any], v3: dict[str, Any]) -> None:
    before = orjson.dumps(v2)
    assert to_v3_schema(v2) == v3
    assert orjson.dumps(v2) == before  # the input is not modified


def test_to_v3_schema_applies_defaults_and_one_of_by_pointer() -> None:
    v2 = {"type": "object", "properties": {"a/b": {"$ref": "#/definitions/A"}, "n": {"type": "string"}}}
    v3 = to_v3_schema(
        v2,
        defaults={"/properties/a~1b": {}, "/properties/n": "x"},
        one_of={"": [{"type": "string"}, {"type": "number"}]},
    )
    assert v3 == {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "properties": {
            "a/b": {"allOf": [{"$ref": V3_REF_PREFIX + "A"}], "default": {}},
            "n": {"type": "string", "default": "x"},
        },
    }


def test_openapi_v3_adds_custom_resource_schemas_with_their_references() -> None:
    foo = {
        "type": "object",
        "properties": {
            "metadata": {"allOf": [{"$ref": V3_REF_PREFIX + META + "ObjectMeta"}]},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    doc = openapi.openapi_v3("example.com/v1", {}, extra_schemas={"com.example.v1.Foo": foo})
    schemas = doc["components"]["schemas"]
    assert schemas["com.example.v1.Foo"] == foo
    assert META + "ObjectMeta" in schemas and META + "ManagedFieldsEntry" in schemas
    assert_v3_refs_resolve(doc)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param(
            {"group_version": "apps/v1", "paths": {"/x": {"$ref": V3_REF_PREFIX + "Nope"}}},
            ValueError,
            "do not exist: Nope",
            id="dangling-ref",
        ),
        pytest.param(
            {"group_version": "v1", "paths": {}, "extra_schemas": {POD: {}}},
            ValueError,
            "would replace the built-in",
            id="extra-clashes",
        ),
        pytest.param(
            {"group_version": "", "paths": {}},
            openapi.InvalidGroupVersionError,
            "invalid group-version",
            id="empty-group-version",
        ),
    ],
)
def test_openapi_v3_rejects_broken_input(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        openapi.openapi_v3(**kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v1", ("", "v1"), id="core"),
        pytest.param("apps/v1", ("apps", "v1"), id="named-group"),
        pytest.param("rbac.authorization.k8s.io/v1", ("rbac.authorization.k8s.io", "v1"), id="dotted-group"),
        pytest.param("", None, id="empty"),
        pytest.param("/v1", None, id="empty-group"),
        pytest.param("apps/", None, id="empty-version"),
        pytest.param("a/b/c", None, id="too-many-parts"),
    ],
)
def test_parse_group_version(text: str, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(openapi.InvalidGroupVersionError, match=r"'<group>/<version>'"):
            openapi.parse_group_version(text)
    else:
        assert openapi.parse_group_version(text) == expected


# ---------------------------------------------------------------------------------------------
# tools/extract_openapi.py on a synthetic spec


def synthetic_swagger() -> dict[str, Any]:
    """A Swagger document shaped like upstream's, small enough to reason about."""
    gvk = "x-kubernetes-group-version-kind"
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {"/api/v1/widgets": {}},
        "definitions": {
            "io.k8s.api.core.v1.Widget": {
                "type": "object",
                gvk: [{"group": "", "version": "v1", "kind": "Widget"}],
                "properties": {"metadata": ref(META + "ObjectMeta"), "spec": ref("io.k8s.api.core.v1.WidgetSpec")},
            },
            "io.k8s.api.core.v1.WidgetSpec": {
                "type": "object",
                "properties": {
                    "parts": {
                        "type": "array",
                        "items": ref("io.k8s.api.core.v1.Part"),
                        "x-kubernetes-patch-merge-key": "name",
                        "x-kubernetes-patch-strategy": "merge",
                    },
                    "size": ref("io.k8s.apimachinery.pkg.api.resource.Quantity"),
                },
            },
            "io.k8s.api.core.v1.Part": {"type": "object", "properties": {"name": {"type": "string"}}},
            "io.k8s.api.core.v1.Unrelated": {
                "type": "object",
                gvk: [{"group": "", "version": "v1", "kind": "Unrelated"}],
            },
            META + "ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"}}},
            "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
        },
    }


def native_v3_for(swagger: dict[str, Any]) -> dict[str, Any]:
    """What upstream's v3 builder would emit for the synthetic spec: defaults and Quantity's oneOf."""
    schemas = {name: to_v3_schema(schema) for name, schema in swagger["definitions"].items()}
    schemas["io.k8s.api.core.v1.Widget"]["properties"]["spec"] = to_v3_schema(
        {**swagger["definitions"]["io.k8s.api.core.v1.Widget"]["properties"]["spec"], "default": {}}
    )
    schemas["io.k8s.api.core.v1.Part"]["properties"]["name"]["default"] = ""
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    del quantity["type"]
    quantity["oneOf"] = [{"type": "string"}, {"type": "number"}]
    return schemas


def test_extractor_keeps_kinds_their_references_and_meta_types(extractor: ModuleType) -> None:
    swagger = synthetic_swagger()
    doc, extras = extractor.build(
        swagger=swagger,
        swagger_origin="s.json",
        native_v3=native_v3_for(swagger),
        kinds=[("", "v1", "Widget")],
        kubernetes_version="1.32",
        sources={"v2": "test"},
    )
    assert sorted(doc["definitions"]) == sorted(
        [
            "io.k8s.api.core.v1.Widget",
            "io.k8s.api.core.v1.WidgetSpec",
            "io.k8s.api.core.v1.Part",
            META + "ObjectMeta",
            "io.k8s.apimachinery.pkg.api.resource.Quantity",
        ]
    )
    assert doc["v3"]["defaults"] == {
        "io.k8s.api.core.v1.Widget": {"/properties/spec": {}},
        "io.k8s.api.core.v1.Part": {"/properties/name": ""},
    }
    assert doc["v3"]["oneOf"] == {
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"": [{"type": "string"}, {"type": "number"}]}
    }
    assert extras.covered == frozenset(doc["definitions"])


def test_extractor_rejects_v3_that_conversion_cannot_reproduce(extractor: ModuleType) -> None:
    swagger = synthetic_swagger()
    native = native_v3_for(swagger)
    native["io.k8s.api.core.v1.Part"]["nullable"] = True  # a fact the data cannot carry
    with pytest.raises(extractor.ExtractError, match=r"io\.k8s\.api\.core\.v1\.Part"):
        extractor.build(
            swagger=swagger,
            swagger_origin="s.json",
            native_v3=native,
            kinds=[("", "v1", "Widget")],
            kubernetes_version="1.32",
            sources={},
        )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda s: s.update(swagger="3.0"), "not a Swagger 2.0 document", id="not-swagger"),
        pytest.param(
            lambda s: s["definitions"]["io.k8s.api.core.v1.WidgetSpec"]["properties"]["parts"].pop(
                "x-kubernetes-patch-merge-key"
            ),
            "x-kubernetes-patch-merge-key",
            id="stripped-extensions",
        ),
        pytest.param(
            lambda s: s["definitions"].pop("io.k8s.api.core.v1.Part"),
            "'io.k8s.api.core.v1.Part' is referenced but not defined",
            id="dangling-ref",
        ),
        pytest.param(
            lambda s: s["definitions"]["io.k8s.api.core.v1.Widget"].pop("x-kubernetes-group-version-kind"),
            "core/v1 Widget",
            id="kind-missing",
        ),
    ],
)
def test_extractor_rejects_bad_specs(extractor: ModuleType, mutate: Any, message: str) -> None:
    swagger = synthetic_swagger()
    mutate(swagger)
    with pytest.raises(extractor.ExtractError, match=message):
        extractor.build(
            swagger=swagger,
            swagger_origin="s.json",
            native_v3=None,
            kinds=[("", "v1", "Widget")],
            kubernetes_version="1.32",
            sources={},
        )


def test_extractor_main_writes_a_deterministic_loadable_file(
    extractor: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swagger = synthetic_swagger()
    (tmp_path / "swagger.json").write_bytes(orjson.dumps(swagger))
    v3_dir = tmp_path / "v3" / "api"
    v3_dir.mkdir(parents=True)
    (v3_dir / "v1.json").write_bytes(
        orjson.dumps({"openapi": "3.0.0", "paths": {}, "components": {"schemas": native_v3_for(swagger)}})
    )
    monkeypatch.setattr(extractor, "KINDS", (("", "v1", "Widget"),))
    outputs = [tmp_path / "a.json.gz", tmp_path / "b.json.gz"]
    for out in outputs:
        assert (
            extractor.main(
                ["--swagger", str(tmp_path / "swagger.json"), "--v3-dir", str(tmp_path / "v3"), "--output", str(out)]
            )
            == 0
        )
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    data = load_schema_data(outputs[0])
    assert data.gvk_index[("", "v1", "Widget")] == "io.k8s.api.core.v1.Widget"
    assert data.v3_defaults["io.k8s.api.core.v1.Part"] == {"/properties/name": ""}
    assert str(tmp_path) not in gzip.decompress(outputs[0].read_bytes()).decode()  # no machine paths


def test_extractor_main_reports_bad_input_in_one_line(
    extractor: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "swagger.json").write_text("{not json")
    args = ["--swagger", str(tmp_path / "swagger.json"), "--output", str(tmp_path / "o.gz")]
    assert extractor.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("extract_openapi: ") and "is not valid JSON" in err and err.count("\n") == 1
    assert not (tmp_path / "o.gz").exists()
