"""Strategic merge patch (kubelite.api.patch.apply_strategic_merge_patch).

Two tables: kubelite's own cases on a Pod/Deployment-shaped schema written after the Go struct tags
of k8s.io/api (containers by name, ports by containerPort, env by name, volumes by name with
retainKeys, tolerations without strategy, finalizers as a merged set), and at the end of this file
the application cases of upstream's k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go
(``customStrategicMergePatch*``, ``createStrategicMergePatchTestCaseData``,
``strategicMergePatchRawTestCases``, ``replaceRawExtensionPatchTestCases``): every two-way patch
applied to its original and every three-way patch applied to its current object, with upstream's
``MergeItem`` test type as the schema. List order is compared exactly, as upstream does.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.patch import (
    DictMergeSchema,
    FieldMeta,
    PatchError,
    apply_merge_patch,
    apply_strategic_merge_patch,
    json_equal,
)

# --------------------------------------------------------------------------------------------------
# Schemas

# Upstream's test type (patch_test.go MergeItem / RetainKeysMergeItem), recursive like the Go struct.
MERGE_ITEM: dict[str, Any] = {}
RETAIN_KEYS_MERGE_ITEM: dict[str, Any] = {
    "name": {},
    "value": {},
    "other": {},
    "simpleMap": {"fields": {"*": {}}},
    "mergingIntList": {"strategy": "merge"},
    "mergingList": {"strategy": "merge", "merge_key": "name", "fields": MERGE_ITEM},
    "nonMergingList": {"fields": MERGE_ITEM},
}
MERGE_ITEM.update(
    {
        "name": {},
        "value": {},
        "other": {},
        "mergingList": {"strategy": "merge", "merge_key": "name", "fields": MERGE_ITEM},
        "nonMergingList": {"fields": MERGE_ITEM},
        "mergingIntList": {"strategy": "merge"},
        "nonMergingIntList": {},
        "mergeItemPtr": {"strategy": "merge", "merge_key": "name", "fields": MERGE_ITEM},
        "simpleMap": {"fields": {"*": {}}},
        "replacingItem": {"strategy": "replace"},
        "jsonItem": {},
        "retainKeysMap": {"strategy": "retainKeys", "fields": RETAIN_KEYS_MERGE_ITEM},
        "retainKeysMergingList": {"strategy": "merge,retainKeys", "merge_key": "name", "fields": MERGE_ITEM},
    }
)
MERGE_ITEM_SCHEMA = DictMergeSchema(MERGE_ITEM)

# A slice of core/v1 and apps/v1, with the patch tags of k8s.io/api.
CONTAINER = {
    "name": {},
    "image": {},
    "ports": {"strategy": "merge", "merge_key": "containerPort"},
    "env": {"strategy": "merge", "merge_key": "name"},
    "volumeMounts": {"strategy": "merge", "merge_key": "mountPath"},
    "args": {},
}
POD_SPEC = {
    "containers": {"strategy": "merge", "merge_key": "name", "fields": CONTAINER},
    "initContainers": {"strategy": "merge", "merge_key": "name", "fields": CONTAINER},
    "volumes": {
        "strategy": "merge,retainKeys",
        "merge_key": "name",
        "fields": {"name": {}, "emptyDir": {}, "hostPath": {}, "configMap": {}, "secret": {}},
    },
    "tolerations": {},
    "nodeSelector": {"fields": {"*": {}}},
}
OBJECT_META = {
    "name": {},
    "labels": {"fields": {"*": {}}},
    "annotations": {"fields": {"*": {}}},
    "finalizers": {"strategy": "merge"},
    "ownerReferences": {"strategy": "merge", "merge_key": "uid"},
}
# One schema for Pods and Deployments: spec holds the PodSpec fields and the DeploymentSpec ones.
WORKLOAD = DictMergeSchema(
    {
        "metadata": {"fields": OBJECT_META},
        "spec": {
            "fields": {
                **POD_SPEC,
                "replicas": {},
                "strategy": {"strategy": "retainKeys", "fields": {"type": {}, "rollingUpdate": {}}},
                "template": {"fields": {"metadata": {"fields": OBJECT_META}, "spec": {"fields": POD_SPEC}}},
            }
        },
    }
)
NO_SCHEMA = DictMergeSchema({})


def _containers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": list(items)}}


def _directive_keys(value: Any) -> list[str]:
    """Every strategic merge patch directive key anywhere in ``value``."""
    if isinstance(value, dict):
        found = [
            k
            for k in value
            if k in ("$patch", "$retainKeys") or k.startswith(("$setElementOrder", "$deleteFromPrimitiveList"))
        ]
        return found + [k for v in value.values() for k in _directive_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in _directive_keys(v)]
    return []


def assert_json(result: Any, expected: Any) -> None:
    assert result == expected  # pytest shows a readable diff
    assert json_equal(result, expected)  # and booleans are not numbers


# --------------------------------------------------------------------------------------------------
# Pod-shaped cases

POD_CASES = [
    pytest.param(
        _containers({"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}),
        _containers({"name": "web", "image": "nginx:2"}),
        _containers({"name": "web", "image": "nginx:2"}, {"name": "log", "image": "busybox"}),
        id="containers merged by name: one image changes, the other container stays",
    ),
    pytest.param(
        _containers({"name": "web", "image": "nginx:1"}),
        _containers({"name": "sidecar", "image": "envoy"}),
        # Upstream mergeSortedSlice puts patch items the live list does not know first.
        _containers({"name": "sidecar", "image": "envoy"}, {"name": "web", "image": "nginx:1"}),
        id="containers: a new container joins, patch items first",
    ),
    pytest.param(
        _containers({"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}),
        _containers({"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}),
        _containers(
            {
                "name": "web",
                "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}],
            }
        ),
        id="ports merged by containerPort inside a container merged by name",
    ),
    pytest.param(
        _containers({"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}),
        _containers({"name": "web", "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"}]}),
        _containers({"name": "web", "env": [{"name": "B", "value": "3"}]}),
        id="env by name: change one variable, delete another",
    ),
    pytest.param(
        _containers({"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"x": 1}}]}),
        _containers({"name": "web", "env": [{"name": "B", "valueFrom": None, "value": "2"}]}),
        _containers({"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}),
        id="env by name: null inside a merged item deletes that field",
    ),
    pytest.param(
        _containers({"name": "a"}, {"name": "b"}, {"name": "c"}),
        {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}},
        _containers({"name": "a"}, {"name": "c"}),
        id="$patch: delete removes a container",
    ),
    pytest.param(
        _containers({"name": "a"}, {"name": "b"}),
        {"spec": {"containers": [{"name": "z", "$patch": "delete"}]}},
        _containers({"name": "a"}, {"name": "b"}),
        id="$patch: delete of a missing container is a no-op",
    ),
    pytest.param(
        _containers({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
        {"spec": {"containers": [{"name": "c", "image": "2"}, {"$patch": "replace"}]}},
        _containers({"name": "c", "image": "2"}),
        id="$patch: replace item replaces the whole container list",
    ),
    pytest.param(
        _containers({"name": "a"}, {"name": "b"}, {"name": "c"}),
        {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}},
        _containers({"name": "c"}, {"name": "a"}, {"name": "b"}),
        id="$setElementOrder reorders containers without changing them",
    ),
    pytest.param(
        _containers({"name": "a", "image": "1"}, {"name": "b"}),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "new"}, {"name": "a"}],
                "containers": [{"name": "new"}, {"name": "a", "image": "2"}],
            }
        },
        _containers({"name": "b"}, {"name": "new"}, {"name": "a", "image": "2"}),
        id="$setElementOrder with additions and changes (what kubectl apply sends)",
    ),
    pytest.param(
        {"spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]}},
        {"spec": {"volumes": [{"name": "data", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/d"}}]}},
        {
            "spec": {
                "volumes": [
                    {"name": "data", "hostPath": {"path": "/d"}},
                    {"name": "cfg", "configMap": {"name": "c"}},
                ]
            }
        },
        id="$retainKeys switches a volume source from emptyDir to hostPath",
    ),
    pytest.param(
        {"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}},
        {"spec": {"volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}]}},
        {"spec": {"volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}]}},
        id="retainKeys strategy without the directive merges as usual",
    ),
    pytest.param(
        {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}},
        {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}},
        {"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}},
        id="tolerations have no patch strategy: the list is replaced",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["c", "a"]}},
        # Patch items in patch order; "b", unknown to the patch, after them (upstream mergeSortedSlice).
        {"metadata": {"finalizers": ["c", "a", "b"]}},
        id="finalizers are a merged set: union, patch order for patch items",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "z"]}},
        {"metadata": {"finalizers": ["a", "c"]}},
        id="$deleteFromPrimitiveList removes finalizers, ignores missing ones",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}},
        {"metadata": {"finalizers": ["c", "a", "b"]}},
        id="$setElementOrder reorders a primitive list",
    ),
    pytest.param(
        {"metadata": {"labels": {"app": "web", "tier": "front"}}},
        {"metadata": {"labels": {"tier": None, "env": "prod"}}},
        {"metadata": {"labels": {"app": "web", "env": "prod"}}},
        id="null deletes a label, maps merge",
    ),
    pytest.param(
        {"metadata": {"labels": {"app": "web", "tier": "front"}}},
        {"metadata": {"labels": {"$patch": "replace", "env": "prod"}}},
        {"metadata": {"labels": {"env": "prod"}}},
        id="$patch: replace in a map replaces it",
    ),
    pytest.param(
        {"metadata": {"labels": {"app": "web"}, "name": "x"}},
        {"metadata": {"labels": {"$patch": "delete"}}},
        {"metadata": {"labels": {}, "name": "x"}},
        id="$patch: delete in an existing map empties it",
    ),
    pytest.param(
        {"metadata": {"name": "x"}},
        {"metadata": {"labels": {"$patch": "delete", "a": "b"}}},
        {"metadata": {"name": "x"}},
        id="$patch: delete in a new map leaves the field out",
    ),
    pytest.param(
        {"metadata": {"name": "x"}},
        {"$patch": "replace", "metadata": {"name": "y"}},
        {"metadata": {"name": "y"}},
        id="top-level $patch: replace",
    ),
    pytest.param(
        {"metadata": {"name": "x"}, "spec": {}},
        {"$patch": "delete"},
        {},
        id="top-level $patch: delete",
    ),
    pytest.param(
        {"metadata": {"name": "x"}},
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "a"}],
                "$retainKeys": ["containers"],
                "containers": [
                    {"name": "a", "env": [{"name": "X", "value": None}, {"name": "Y", "$patch": "delete"}]},
                    {"name": "gone", "$patch": "delete"},
                    {"$patch": "replace"},
                ],
                "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {"medium": None}}],
                "nodeSelector": {"$patch": "replace", "disk": "ssd"},
                "$deleteFromPrimitiveList/args": ["x"],
            }
        },
        {
            "metadata": {"name": "x"},
            "spec": {
                "containers": [{"name": "a", "env": [{"name": "X"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "nodeSelector": {"disk": "ssd"},
            },
        },
        id="a new field is cleaned of every directive and of null members",
    ),
    pytest.param(
        {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "replicas": 2}},
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}},
        id="$retainKeys on a map field clears the union members not kept",
    ),
    pytest.param(
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}},
        {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}},
        id="deep schema lookup through deployment.spec.template.spec",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "a"}]}, "status": {"conditions": [{"type": "Ready"}]}},
        {"status": {"conditions": [{"type": "Scheduled"}]}},
        {"spec": {"containers": [{"name": "a"}]}, "status": {"conditions": [{"type": "Scheduled"}]}},
        id="a field the schema does not know gets merge patch semantics (lists replace)",
    ),
    pytest.param(
        {"spec": {"containers": "not-a-list"}},
        {"spec": {"containers": [{"name": "a"}]}},
        {"spec": {"containers": [{"name": "a"}]}},
        id="a type change replaces the value",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": 1, "image": "x"}]}},
        {"spec": {"containers": [{"name": True, "image": "y"}]}},
        {"spec": {"containers": [{"name": True, "image": "y"}, {"name": 1, "image": "x"}]}},
        id="merge keys compare as JSON: true is not 1",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), POD_CASES)
def test_pod_shaped_patch(original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    result = apply_strategic_merge_patch(original, patch, WORKLOAD)
    assert_json(result, expected)
    assert _directive_keys(result) == []


def test_unknown_fields_merge_and_dollar_fields_are_data() -> None:
    crd_schema = {"type": "object", "properties": {"$ref": "#/x", "spec": {"$schema": "s"}}}
    result = apply_strategic_merge_patch(
        {"spec": {"schema": crd_schema, "versions": [{"name": "v1"}]}},
        {"spec": {"schema": {"properties": {"extra": {"type": "string"}}}, "versions": [{"name": "v2"}]}},
        NO_SCHEMA,
    )
    assert result == {
        "spec": {
            "schema": {
                "type": "object",
                "properties": {"$ref": "#/x", "spec": {"$schema": "s"}, "extra": {"type": "string"}},
            },
            "versions": [{"name": "v2"}],
        }
    }


def test_inputs_are_not_modified() -> None:
    original = _containers({"name": "a", "env": [{"name": "X", "value": "1"}]}, {"name": "b"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [
                {"name": "a", "env": [{"name": "X", "$patch": "delete"}]},
                {"name": "b", "$patch": "delete"},
            ],
        }
    }
    original_before, patch_before = repr(original), repr(patch)
    result = apply_strategic_merge_patch(original, patch, WORKLOAD)
    assert result == _containers({"name": "a", "env": []})
    assert (repr(original), repr(patch)) == (original_before, patch_before)
    result["spec"]["containers"][0]["name"] = "changed"
    assert original["spec"]["containers"][0]["name"] == "a"


# --------------------------------------------------------------------------------------------------
# Errors

ERROR_CASES = [
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"containers": [{"image": "x"}]}},
        422,
        'spec.containers[0]: map: {"image":"x"} does not contain declared merge key: name',
        id="merge key missing in a patch item",
    ),
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"containers": [{"$patch": "delete", "image": "x"}]}},
        422,
        "does not contain declared merge key: name",
        id="merge key missing in a $patch: delete item",
    ),
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"containers": [{"name": {"nested": 1}}]}},
        422,
        "merge key 'name' must be a string, number, boolean or null, got object",
        id="merge key value is an object",
    ),
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"containers": ["a"]}},
        422,
        "list element types are not identical: object and string",
        id="patch list items of another type than the live items",
    ),
    pytest.param(
        {"metadata": {"finalizers": [["a"]]}},
        {"metadata": {"finalizers": [["b"]]}},
        422,
        "metadata.finalizers: lists of lists are not supported",
        id="lists of lists",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "b"}}},
        {"metadata": {"labels": {"$patch": "merge"}}},
        400,
        'unknown patch type: "merge" in map',
        id="$patch: merge in a map (a schema strategy, not a directive)",
    ),
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"containers": [{"$patch": "merge"}]}},
        400,
        "merging lists cannot yet be specified in the patch",
        id="$patch: merge in a merged list",
    ),
    pytest.param(
        {"metadata": {"labels": {"a": "b"}}},
        {"metadata": {"labels": {"$patch": "frobnicate"}}},
        400,
        'metadata.labels: unknown patch type: "frobnicate"',
        id="unknown $patch value in a map",
    ),
    pytest.param(
        {},
        {"metadata": {"labels": {"$patch": 1}}},
        400,
        "unknown patch type: 1",
        id="unknown $patch value in a new map",
    ),
    pytest.param(
        {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
        {"spec": {"volumes": [{"name": "v", "$retainKeys": "hostPath", "hostPath": {}}]}},
        400,
        "invalid patch format of retainKeys",
        id="$retainKeys not a list",
    ),
    pytest.param(
        {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
        {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {}}]}},
        400,
        "field 'hostPath' is set by the patch but is not in $retainKeys",
        id="patch sets a field missing from $retainKeys",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"$setElementOrder/finalizers": ["b", "a"], "finalizers": ["a", "b"]}},
        400,
        "doesn't match $setElementOrder list",
        id="$setElementOrder disagrees with the patch list",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"$setElementOrder/finalizers": "a"}},
        400,
        "$setElementOrder/finalizers must be a list",
        id="$setElementOrder not a list",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"$setElementOrderfinalizers": ["a"]}},
        400,
        "invalid patch format of setElementOrder list",
        id="$setElementOrder without a slash",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        400,
        "invalid patch format of primitive list",
        id="$deleteFromPrimitiveList not a list",
    ),
    pytest.param(
        {"metadata": {"finalizers": ["a"]}},
        {"metadata": {"$deleteFromPrimitiveList": ["a"]}},
        400,
        "must be $deleteFromPrimitiveList/<name of a list field>",
        id="$deleteFromPrimitiveList without a field name",
    ),
    pytest.param(
        _containers({"name": "a"}),
        {"spec": {"$deleteFromPrimitiveList/containers": [{"name": "a"}]}},
        400,
        "applies to lists of primitives",
        id="$deleteFromPrimitiveList on a list of objects",
    ),
    pytest.param(
        {"status": {"conditions": [{"type": "a"}]}},
        {"status": {"$setElementOrder/conditions": [{"type": "a"}]}},
        422,
        "cannot order a list of objects without a merge key",
        id="$setElementOrder on a list of objects the schema does not know",
    ),
    pytest.param(
        {"metadata": {"ownerReferences": [{"uid": "1"}]}},
        {
            "metadata": {
                "ownerReferences": [{"uid": "2"}],
                "$setElementOrder/ownerReferences": [{"name": "x"}],
            }
        },
        422,
        "does not contain declared merge key: uid",
        id="$setElementOrder item without the merge key",
    ),
    pytest.param(
        {},
        {"spec": {"containers": [{"name": "a"}], "$setElementOrder/containers": {"name": "a"}}},
        400,
        "$setElementOrder/containers must be a list",
        id="directives in a new map are still validated",
    ),
]


@pytest.mark.parametrize(("original", "patch", "status", "message"), ERROR_CASES)
def test_patch_errors(original: dict[str, Any], patch: dict[str, Any], status: int, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_strategic_merge_patch(original, patch, WORKLOAD)
    assert caught.value.status == status
    assert message in caught.value.message
    assert str(caught.value) == caught.value.message


def test_deep_nesting_is_a_patch_error() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(PatchError, match="nested too deeply") as caught:
        apply_strategic_merge_patch({"a": 1}, {"a": deep}, WORKLOAD)
    assert caught.value.status == 422


def test_merge_strategy_without_merge_key_is_an_error_for_objects() -> None:
    schema = DictMergeSchema({"items": {"strategy": "merge"}})
    with pytest.raises(PatchError, match="cannot merge lists without merge key") as caught:
        apply_strategic_merge_patch({"items": [{"a": 1}]}, {"items": [{"a": 2}]}, schema)
    assert caught.value.status == 422
    assert caught.value.path == "items"


@pytest.mark.parametrize(
    ("original", "patch"),
    [
        pytest.param([], {}, id="original is an array"),
        pytest.param({}, [], id="patch is an array"),
        pytest.param({}, None, id="patch is null"),
    ],
)
def test_documents_must_be_objects(original: Any, patch: Any) -> None:
    with pytest.raises(PatchError, match="invalid JSON document") as caught:
        apply_strategic_merge_patch(original, patch, WORKLOAD)
    assert caught.value.status == 400


# --------------------------------------------------------------------------------------------------
# Schema objects


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"a": {"strategy": "frob"}}, "a: unknown patch strategy frob", id="unknown strategy"),
        pytest.param({"a": {"strategy": "merge,replace"}}, "exclude each other", id="merge and replace"),
        pytest.param({"a": {"merge_key": 1}}, "a: merge_key must be a string", id="merge key type"),
        pytest.param({"a": {"mergeKey": "x"}}, "a: unknown field spec key mergeKey", id="misspelt spec key"),
        pytest.param({"a": {"fields": {"b": []}}}, "a.b: field spec must be a mapping", id="nested spec type"),
        pytest.param({"": {}}, "field names must be non-empty strings", id="empty field name"),
    ],
)
def test_dict_merge_schema_rejects_bad_specs(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DictMergeSchema(fields)


def test_dict_merge_schema_lookups() -> None:
    schema = DictMergeSchema(MERGE_ITEM)
    merging = schema.field("retainKeysMergingList")
    assert merging is not None
    assert merging.strategies == frozenset({"merge", "retainKeys"})
    assert merging.merge_key == "name"
    assert merging.merges and not merging.replaces
    assert merging.schema is not None
    nested = merging.schema.field("mergingList")  # recursive spec: MergeItem holds MergeItems
    assert nested is not None and nested.merge_key == "name"
    assert schema.field("nope") is None
    simple_map = schema.field("simpleMap")
    assert simple_map is not None and simple_map.schema is not None
    assert simple_map.schema.field("any-key") == FieldMeta()


def test_field_meta_validation() -> None:
    assert FieldMeta(strategies=frozenset({"replace"})).replaces
    with pytest.raises(ValueError, match="unknown patch strategy"):
        FieldMeta(strategies=frozenset({"Merge"}))
    with pytest.raises(ValueError, match="merge_key"):
        FieldMeta(merge_key="")


# --------------------------------------------------------------------------------------------------
# Properties

_scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["", "a", "b", "$x"])
_keys = st.sampled_from(["a", "b", "c", "spec", "items", "$ref"])
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _json, max_size=4)


@settings(max_examples=300, deadline=None)
@given(original=_objects, patch=_objects)
def test_without_schema_and_directives_it_is_a_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> None:
    # Upstream falls back to JSON merge patch semantics for fields it has no metadata for.
    assert json_equal(apply_strategic_merge_patch(original, patch, NO_SCHEMA), apply_merge_patch(original, patch))


_names = st.sampled_from(["a", "b", "c", "d"])
_container = st.fixed_dictionaries({"name": _names}, optional={"image": st.sampled_from(["1", "2"])})
_patch_container = _container | st.fixed_dictionaries(
    {"name": _names, "$patch": st.sampled_from(["delete", "replace"])}
)


def _unique_by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item["name"], item)
    return list(seen.values())


@settings(max_examples=300, deadline=None)
@given(
    live=st.lists(_container, max_size=4).map(_unique_by_name),
    patch_items=st.lists(_patch_container, max_size=4),
    order=st.none() | st.lists(_names, unique=True, max_size=4),
)
def test_merged_lists_hold_one_item_per_key_and_no_directives(
    live: list[dict[str, Any]], patch_items: list[dict[str, Any]], order: list[str] | None
) -> None:
    patch: dict[str, Any] = {"containers": patch_items}
    if order is not None:
        patch["$setElementOrder/containers"] = [{"name": n} for n in order]
    try:
        result = apply_strategic_merge_patch({"spec": {"containers": live}}, {"spec": patch}, WORKLOAD)
    except PatchError as err:
        # Only an order that contradicts the patch list may be refused.
        assert order is not None and "doesn't match" in err.message
        return
    names = [c["name"] for c in result["spec"]["containers"]]
    assert _directive_keys(result) == []
    if any(item.get("$patch") == "replace" for item in patch_items):
        # The patch's other items become the list (upstream keeps even duplicates).
        assert sorted(names) == sorted(c["name"] for c in patch_items if "$patch" not in c)
        return
    assert len(names) == len(set(names))
    if not any("$patch" in item for item in patch_items):
        # Plain merges never lose a live container and always add the patch's.
        assert {c["name"] for c in live} | {c["name"] for c in patch_items} == set(names)


# --------------------------------------------------------------------------------------------------
# Upstream's table (generated from k8s.io/apimachinery strategicpatch/patch_test.go at commit
# eed236ceee2c; YAML decoded as sigs.k8s.io/yaml does; the YAML-struct cases sorted by merge key
# first, as upstream's sortMergeListsByName does before applying).

UPSTREAM_CASES = [
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 3}]},
        {
            "$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
            "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
        },
        {"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]},
        id="$setElementOrder contains item that is not present in the list to be merged (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3]},
        {"$setElementOrder/mergingIntList": [3, 2, 1]},
        {"mergingIntList": [3, 1]},
        id=("$setElementOrder contains item that is not present in the int list to be merged (two-way)"),
    ),
    pytest.param(
        {"mergingIntList": [1, 2]},
        {"$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2]},
        id=(
            "$deleteFromPrimitiveList of nonexistent item in primitive list should not add "
            "the item to the list (two-way)"
        ),
    ),
    pytest.param(
        {"mergingIntList": None},
        {"$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": None},
        id=("$deleteFromPrimitiveList on empty primitive list should not add the item to the list (two-way)"),
    ),
    pytest.param(
        {"foo": ["bar"]},
        {"$deleteFromPrimitiveList/mergingIntList": [3]},
        {"foo": ["bar"]},
        id=("$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list (two-way)"),
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {"$deleteFromPrimitiveList/mergingIntList": [2]},
        {"mergingIntList": [1, 3]},
        id=("$deleteFromPrimitiveList should delete item from a list with merge patch strategy (two-way)"),
    ),
    pytest.param(
        {"nonMergingIntList": [1, 2, 3]},
        {"$deleteFromPrimitiveList/nonMergingIntList": [2]},
        {"nonMergingIntList": [1, 3]},
        id=("$deleteFromPrimitiveList should delete item from a list without merge patch strategy (two-way)"),
    ),
    pytest.param(
        {"name": "hi"},
        {"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]},
        {"name": "hi", "mergingList": [{"name": "hello"}]},
        id="nested patch merge with empty list (two-way)",
    ),
    pytest.param(
        {"name": "hi", "mergingList": [{"name": "hello2"}]},
        {
            "$setElementOrder/mergingList": [{"name": "hello"}, {"name": "doesntexist"}],
            "mergingList": [{"name": "hello"}],
        },
        {"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]},
        id="nested patch merge with empty list (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2]},
        id="delete items in lists of scalars (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 4]},
        {"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2, 4]},
        id="delete items in lists of scalars (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 3]},
        {"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2]},
        id="delete all duplicate items in lists of scalars (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 3, 4]},
        {"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2, 4]},
        id="delete all duplicate items in lists of scalars (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {
            "$setElementOrder/mergingIntList": [1, 2, 4],
            "$deleteFromPrimitiveList/mergingIntList": [3],
            "mergingIntList": [4],
        },
        {"mergingIntList": [1, 2, 4]},
        id="add and delete items in lists of scalars (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 4]},
        {"$setElementOrder/mergingIntList": [1, 2, 4], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [1, 2, 4]},
        id="add and delete items in lists of scalars (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 1},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
            ]
        },
        id="merge lists of maps (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        id="merge lists of maps (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3, "value": 3}],
        },
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}, {"name": 3, "value": 3}]},
        id="merge lists of maps with conflict (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 2, "value": 2}, {"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        id="merge lists of maps with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": 1}],
        },
        {"mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
        id="add field to map in merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": 1}],
        },
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="add field to map in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}],
        },
        {
            "mergingList": [
                {"name": 1, "value": 1, "other": "a"},
                {"name": 2, "value": 2},
                {"name": 3, "value": 2, "other": "b"},
            ]
        },
        id="add field to map in merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {},
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="add duplicate field to map in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3}],
        },
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 2}, {"name": 3}]},
        id="add an item that already exists in current object in merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": "a", "other": "x"}, {"name": 2}, {"name": 3}]},
        {},
        {"mergingList": [{"name": 1, "value": "a", "other": "x"}, {"name": 2}, {"name": 3}]},
        id="add an item that already exists in current object in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 3, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 2, "value": 2}],
        },
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="add duplicate field to map in merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": "a"}],
        },
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 2, "value": 2}]},
        id="replace map field value in merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": "a"}],
        },
        {"mergingList": [{"name": 1, "value": "a", "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="replace map field value in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 3, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": "a"}],
        },
        {"mergingList": [{"name": 1, "value": "a", "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="replace map field value in merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2}]},
        {"$setElementOrder/mergingList": [{"name": 2}], "mergingList": [{"name": 1, "$patch": "delete"}]},
        {"mergingList": [{"name": 2}]},
        id="delete map from merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "other": "b"}]},
        {"$setElementOrder/mergingList": [{"name": 2}], "mergingList": [{"name": 1, "$patch": "delete"}]},
        {"mergingList": [{"name": 2, "other": "b"}]},
        id="delete map from merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]},
        {"$setElementOrder/mergingList": [{"name": 2}], "mergingList": [{"name": 1, "$patch": "delete"}]},
        {"mergingList": [{"name": 2, "other": "b"}]},
        id="delete map from merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 2, "other": "b"}]},
        {"$setElementOrder/mergingList": [{"name": 2}], "mergingList": [{"name": 1, "$patch": "delete"}]},
        {"mergingList": [{"name": 2, "other": "b"}]},
        id="delete missing map from merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 3, "other": "a"}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}],
            "mergingList": [{"name": 2}, {"name": 1, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2}, {"name": 3, "other": "a"}]},
        id="delete missing map from merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2}, {"name": 3}]},
        id="add map and delete map from merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]},
        id="add map and delete map from merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
            "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]},
        id="add map and delete map from merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": None}],
        },
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        id="delete field from map in merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": None}],
        },
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="delete field from map in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": "a", "other": "a"}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": None}],
        },
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2}]},
        id="delete field from map in merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": None}],
        },
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="delete missing field from map in merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "value": None}, {"name": 2, "value": 2}],
        },
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        id="delete missing field from map in merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "nonMergingList": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}],
        },
        {"mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}, {"name": 2}]},
        id="replace non merging list nested in merging list (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 1}, {"name": 2, "value": 2}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 1, "value": 1}]},
                {"name": 2, "other": "b"},
            ]
        },
        id="replace non merging list nested in merging list (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 1, "value": "c"}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 1, "value": 1}]},
                {"name": 2, "other": "b"},
            ]
        },
        id="replace non merging list nested in merging list with value conflict (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 2, "value": 2}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 1, "nonMergingList": [{"name": 1, "value": 1}]}],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a", "nonMergingList": [{"name": 1, "value": 1}]},
                {"name": 2, "other": "b"},
            ]
        },
        id="replace non merging list nested in merging list with deletion conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "mergingList": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergingList": [
                {"name": 1, "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
                {"name": 2},
            ]
        },
        id="add field to map in merging list nested in merging list (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
                {"name": 2, "other": "b"},
            ]
        },
        id="add field to map in merging list nested in merging list (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {
                    "name": 1,
                    "other": "a",
                    "mergingList": [
                        {"name": 1, "value": "a", "other": "c"},
                        {"name": 2, "value": "b", "other": "d"},
                    ],
                },
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}],
                }
            ],
        },
        {
            "mergingList": [
                {
                    "name": 1,
                    "other": "a",
                    "mergingList": [
                        {"name": 1, "value": 1, "other": "c"},
                        {"name": 2, "value": 2, "other": "d"},
                    ],
                },
                {"name": 2, "other": "b"},
            ]
        },
        id="add field to map in merging list nested in merging list with value conflict (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergingList": [
                {
                    "name": 1,
                    "other": "a",
                    "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2, "other": "d"}],
                },
                {"name": 2, "other": "b"},
            ]
        },
        id=("add field to map in merging list nested in merging list with deletion conflict (three-way)"),
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "mergingList": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergingList": [
                {"name": 1, "mergingList": [{"name": 2, "value": 2}, {"name": 1, "value": 1}]},
                {"name": 2},
            ]
        },
        id="add field to map in merging list nested in merging list with deletion conflict (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}]},
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [
                {
                    "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergingList": [
                {
                    "name": 1,
                    "other": "a",
                    "mergingList": [{"name": 2, "value": 2, "other": "d"}, {"name": 1, "value": 1}],
                },
                {"name": 2, "other": "b"},
            ]
        },
        id=("add field to map in merging list nested in merging list with deletion conflict (three-way) #2"),
    ),
    pytest.param(
        {"mergeItemPtr": [{"name": 1}]},
        {"$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}], "mergeItemPtr": [{"name": 2}]},
        {"mergeItemPtr": [{"name": 1}, {"name": 2}]},
        id="add map to merging list by pointer (two-way)",
    ),
    pytest.param(
        {"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 3}]},
        {"$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}], "mergeItemPtr": [{"name": 2}]},
        {"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 2}, {"name": 3}]},
        id="add map to merging list by pointer (three-way)",
    ),
    pytest.param(
        {"mergeItemPtr": [{"name": 3}]},
        {
            "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
            "mergeItemPtr": [{"name": 1}, {"name": 2}],
        },
        {"mergeItemPtr": [{"name": 1}, {"name": 2}, {"name": 3}]},
        id="add map to merging list by pointer with conflict (three-way)",
    ),
    pytest.param(
        {"mergeItemPtr": [{"name": 1, "mergeItemPtr": [{"name": 1}, {"name": 2, "value": 2}]}, {"name": 2}]},
        {
            "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
            "mergeItemPtr": [
                {
                    "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergeItemPtr": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergeItemPtr": [
                {"name": 1, "mergeItemPtr": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]},
                {"name": 2},
            ]
        },
        id="add field to map in merging list by pointer (two-way)",
    ),
    pytest.param(
        {
            "mergeItemPtr": [
                {
                    "name": 1,
                    "other": "a",
                    "mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}],
                },
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
            "mergeItemPtr": [
                {
                    "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergeItemPtr": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergeItemPtr": [
                {
                    "name": 1,
                    "other": "a",
                    "mergeItemPtr": [
                        {"name": 1, "value": 1, "other": "a"},
                        {"name": 2, "value": 2, "other": "b"},
                    ],
                },
                {"name": 2, "other": "b"},
            ]
        },
        id="add field to map in merging list by pointer (three-way)",
    ),
    pytest.param(
        {
            "mergeItemPtr": [
                {
                    "name": 1,
                    "other": "a",
                    "mergeItemPtr": [{"name": 1, "value": "a"}, {"name": 2, "value": 2, "other": "b"}],
                },
                {"name": 2, "other": "b"},
            ]
        },
        {
            "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
            "mergeItemPtr": [
                {
                    "$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}],
                    "name": 1,
                    "mergeItemPtr": [{"name": 1, "value": 1}],
                }
            ],
        },
        {
            "mergeItemPtr": [
                {
                    "name": 1,
                    "other": "a",
                    "mergeItemPtr": [{"name": 1, "value": 1}, {"name": 2, "value": 2, "other": "b"}],
                },
                {"name": 2, "other": "b"},
            ]
        },
        id="add field to map in merging list by pointer with conflict (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2]},
        {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3]},
        {"mergingIntList": [1, 2, 3]},
        id="merge lists of scalars (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 4]},
        {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3]},
        {"mergingIntList": [1, 2, 3, 4]},
        id="merge lists of scalars (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {},
        {"mergingIntList": [1, 2, 3]},
        id="add duplicate field to map in merging int list (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2]},
        {"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]},
        {"mergingIntList": [3, 1, 2]},
        id="add an item in a list of primitives and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 4, 2]},
        {"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]},
        {"mergingIntList": [3, 1, 4, 2]},
        id="add an item in a list of primitives and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [2, 1]},
        id="delete an item in a list of primitives and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 3}, {"name": 1}, {"name": 2}],
            "mergingList": [{"name": 3, "value": 3}],
        },
        {"mergingList": [{"name": 3, "value": 3}, {"name": 1}, {"name": 2, "value": 2}]},
        id="add an item in a list and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 3}, {"name": 1}, {"name": 2}],
            "mergingList": [{"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 3, "value": 3},
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
            ]
        },
        id="add an item in a list and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 4}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 1},
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
            ]
        },
        id="add multiple items in a list and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 4}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
        },
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 4, "value": 4},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        id="add multiple items in a list and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 3, "value": 3}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
            "mergingList": [{"name": 3, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2, "value": 2}, {"name": 1}]},
        id="delete an item in a list and preserve order (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
            "mergingList": [{"name": 3, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}]},
        id="delete an item in a list and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 3, "value": 3}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}, {"name": 1}],
            "mergingList": [{"name": 3, "value": "x"}],
        },
        {"mergingList": [{"name": 2, "value": 2}, {"name": 3, "value": "x"}, {"name": 1}]},
        id="change an item in a list and preserve order (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}, {"name": 1}],
            "mergingList": [{"name": 3, "value": "x"}],
        },
        {
            "mergingList": [
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": "x"},
                {"name": 1, "other": "a"},
            ]
        },
        id="change an item in a list and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 3, "value": 3}, {"name": 2, "value": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 4, "value": 4}, {"name": 2, "value": 2}, {"name": 1}]},
        id="add and delete an item in a list and preserve order (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 3, "value": 3},
            ]
        },
        {
            "$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}],
            "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}],
        },
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 2, "value": 2, "other": "b"},
                {"name": 1, "other": "a"},
            ]
        },
        id="add and delete an item in a list and preserve order (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]},
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
                {"name": 1},
            ]
        },
        id="set elements order in a list (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]},
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
                {"name": 1, "other": "a"},
            ]
        },
        id="set elements order in a list (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
                {"name": 9},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 3}, {"name": 1}]},
        {
            "mergingList": [
                {"name": 4, "value": 4},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
                {"name": 1, "other": "a"},
                {"name": 9},
            ]
        },
        id="set elements order in a list with server-only items (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1},
                {"name": 2, "value": 2},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]},
        {
            "mergingList": [
                {"name": 2, "value": 2},
                {"name": 1},
                {"name": 4, "value": 4},
                {"name": 3, "value": 3},
            ]
        },
        id="set elements order in a list with server-only items 2 (two-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2},
                {"name": 9},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]},
        {
            "mergingList": [
                {"name": 2, "value": 2},
                {"name": 1, "other": "a"},
                {"name": 9},
                {"name": 4, "value": 4},
                {"name": 3, "value": 3},
            ]
        },
        id="set elements order in a list with server-only items 2 (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [
                {"name": 1, "other": "a"},
                {"name": 2, "value": 2},
                {"name": 7},
                {"name": 9},
                {"name": 8},
                {"name": 3, "value": 3},
                {"name": 4, "value": 4},
            ]
        },
        {"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]},
        {
            "mergingList": [
                {"name": 2, "value": 2},
                {"name": 1, "other": "a"},
                {"name": 7},
                {"name": 9},
                {"name": 8},
                {"name": 4, "value": 4},
                {"name": 3, "value": 3},
            ]
        },
        id="set elements order in a list with server-only items 3 (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2]},
        {"$setElementOrder/mergingIntList": [1, 4, 2, 3], "mergingIntList": [4, 3]},
        {"mergingIntList": [1, 4, 2, 3]},
        id="add multiple items in a int list and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3, 2]},
        {"$setElementOrder/mergingIntList": [2, 1], "$deleteFromPrimitiveList/mergingIntList": [3]},
        {"mergingIntList": [2, 1]},
        id="delete an item in a int list and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3, 2]},
        {
            "$setElementOrder/mergingIntList": [4, 2, 1],
            "mergingIntList": [4],
            "$deleteFromPrimitiveList/mergingIntList": [3],
        },
        {"mergingIntList": [4, 2, 1]},
        id="add and delete an item in a int list and preserve order (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {
            "$setElementOrder/mergingIntList": [4, 2, 1],
            "mergingIntList": [4],
            "$deleteFromPrimitiveList/mergingIntList": [3],
        },
        {"mergingIntList": [4, 2, 1]},
        id="add and delete an item in a int list and preserve order (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3, 4, 2]},
        {"$setElementOrder/mergingIntList": [4, 2, 3, 1]},
        {"mergingIntList": [4, 2, 3, 1]},
        id="set elements order in a int list (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3, 4, 2, 9]},
        {"$setElementOrder/mergingIntList": [4, 2, 3, 1]},
        {"mergingIntList": [4, 2, 3, 1, 9]},
        id="set elements order in a int list with server-only items (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 4]},
        {"$setElementOrder/mergingIntList": [2, 1, 4, 3]},
        {"mergingIntList": [2, 1, 4, 3]},
        id="set elements order in a int list with server-only items 2 (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 9, 3, 4]},
        {"$setElementOrder/mergingIntList": [2, 1, 4, 3]},
        {"mergingIntList": [2, 1, 9, 4, 3]},
        id="set elements order in a int list with server-only items 2 (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3, 2, 4]},
        {"$setElementOrder/mergingIntList": [2, 1, 4, 3, 2]},
        {"mergingIntList": [2, 2, 1, 4, 3]},
        id="set elements order in a int list with server-only items 3 (two-way)",
    ),
    pytest.param(
        {},
        {"retainKeysMap": {"other": "bar"}},
        {"retainKeysMap": {"other": "bar"}},
        id="retainKeys map should clear defaulted field (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"value": "foo"}},
        {"retainKeysMap": {"$retainKeys": ["other"], "other": "bar"}},
        {"retainKeysMap": {"other": "bar"}},
        id="retainKeys map should clear defaulted field (three-way)",
    ),
    pytest.param(
        {},
        {"retainKeysMap": {"name": "type2", "other": "bar"}},
        {"retainKeysMap": {"name": "type2", "other": "bar"}},
        id=("retainKeys map should clear defaulted field with conflict (discriminated union) (two-way)"),
    ),
    pytest.param(
        {"retainKeysMap": {"name": "type1", "value": "foo"}},
        {"retainKeysMap": {"$retainKeys": ["name", "other"], "name": "type2", "other": "bar"}},
        {"retainKeysMap": {"name": "type2", "other": "bar"}},
        id=("retainKeys map should clear defaulted field with conflict (discriminated union) (three-way)"),
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo"}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map adds a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "other": "a"}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map adds a field and clear a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        {"retainKeysMap": {"$retainKeys": ["name"], "value": None}},
        {"retainKeysMap": {"name": "foo"}},
        id="retainKeys map deletes a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "other": "a"}},
        {"retainKeysMap": {"$retainKeys": ["name"], "value": None}},
        {"retainKeysMap": {"name": "foo"}},
        id="retainKeys map deletes a field and clears a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        {},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map clears a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "other": "a"}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"]}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map clears a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "simpleMap": {"key1": "a"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a"}}},
        id="retainKeys map nested map with no change (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": "b"}}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key2": "b"}}},
        id="retainKeys map adds a field in a nested map (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key3": "c"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": "b"}}},
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "a", "key2": "b", "key3": "c"},
            }
        },
        id="retainKeys map adds a field in a nested map (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key2": "b"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": None}}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a"}}},
        id="retainKeys map deletes a field in a nested map (two-way)",
    ),
    pytest.param(
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "a", "key2": "b", "key3": "c"},
            }
        },
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": None}}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key3": "c"}}},
        id="retainKeys map deletes a field in a nested map (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key2": "b"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key1": "x"}}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "x", "key2": "b"}}},
        id="retainKeys map changes a field in a nested map (two-way)",
    ),
    pytest.param(
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "a", "key2": "b", "key3": "c"},
            }
        },
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key1": "x"}}},
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "x", "key2": "b", "key3": "c"},
            }
        },
        id="retainKeys map changes a field in a nested map (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "old", "key2": "b"}}},
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key1": "modified"}}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "modified", "key2": "b"}}},
        id="retainKeys map changes a field in a nested map with conflict (two-way)",
    ),
    pytest.param(
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "new", "key2": "b", "key3": "c"},
            }
        },
        {"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key1": "modified"}}},
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "simpleMap": {"key1": "modified", "key2": "b", "key3": "c"},
            }
        },
        id="retainKeys map changes a field in a nested map with conflict (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "bar", "nonMergingList": [{"name": "a"}, {"name": "b"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["name", "nonMergingList", "value"],
                "nonMergingList": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
            }
        },
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "nonMergingList": [{"name": "a"}, {"name": "c"}, {"name": "b"}],
            }
        },
        id="retainKeys map replaces non-merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "nonMergingList": [{"name": "a"}, {"name": "b"}]}},
        {"retainKeysMap": {"$retainKeys": ["name", "nonMergingList", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "nonMergingList": [{"name": "a"}, {"name": "b"}]}},
        id="retainKeys map nested non-merging list with no change (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "nonMergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["name", "nonMergingList", "value"],
                "value": "bar",
                "nonMergingList": [{"name": "a"}, {"name": "b"}],
            }
        },
        {"retainKeysMap": {"name": "foo", "value": "bar", "nonMergingList": [{"name": "a"}, {"name": "b"}]}},
        id="retainKeys map nested non-merging list with no change with conflict (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "nonMergingList": [{"name": "a"}, {"name": "b"}]}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar", "nonMergingList": None}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map deletes nested non-merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "nonMergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar", "nonMergingList": None}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map delete nested non-merging list with conflict (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2]}},
        {"retainKeysMap": {"$retainKeys": ["mergingIntList", "name", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "mergingIntList": [1, 2]}},
        id="retainKeys map nested merging int list with no change (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingIntList", "name", "value"],
                "$setElementOrder/mergingIntList": [1, 2],
                "value": "bar",
            }
        },
        {"retainKeysMap": {"name": "foo", "value": "bar", "mergingIntList": [1, 2, 3]}},
        id="retainKeys map nested merging int list with no change (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2]}},
        {
            "retainKeysMap": {
                "$setElementOrder/mergingIntList": [1, 2, 4],
                "$retainKeys": ["mergingIntList", "name"],
                "mergingIntList": [4],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 4]}},
        id="retainKeys map adds an item in nested merging int list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}},
        {
            "retainKeysMap": {
                "$setElementOrder/mergingIntList": [1, 2, 4],
                "$retainKeys": ["mergingIntList", "name"],
                "mergingIntList": [4],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 4, 3]}},
        id="retainKeys map adds an item in nested merging int list (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingIntList", "name"],
                "$deleteFromPrimitiveList/mergingIntList": [2],
                "$setElementOrder/mergingIntList": [1, 3],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3]}},
        id="retainKeys map deletes an item in nested merging int list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingIntList", "name"],
                "$deleteFromPrimitiveList/mergingIntList": [2],
                "$setElementOrder/mergingIntList": [1, 3],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 4]}},
        id="retainKeys map deletes an item in nested merging int list (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingIntList", "name"],
                "mergingIntList": [5],
                "$deleteFromPrimitiveList/mergingIntList": [2],
                "$setElementOrder/mergingIntList": [1, 3, 5],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5]}},
        id="retainKeys map adds an item and deletes an item in nested merging int list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3, 4]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingIntList", "name"],
                "mergingIntList": [5],
                "$deleteFromPrimitiveList/mergingIntList": [2],
                "$setElementOrder/mergingIntList": [1, 3, 5],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 3, 5, 4]}},
        id="retainKeys map adds an item and deletes an item in nested merging int list (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingIntList": [1, 2, 3]}},
        {"retainKeysMap": {"$retainKeys": ["name"], "mergingIntList": None}},
        {"retainKeysMap": {"name": "foo"}},
        id="retainKeys map deletes nested merging int list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}]}},
        {"retainKeysMap": {"$retainKeys": ["mergingList", "name", "value"], "value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar", "mergingList": [{"name": "a"}, {"name": "b"}]}},
        id="retainKeys map nested merging list with no change (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name", "value"],
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}],
                "value": "bar",
            }
        },
        {
            "retainKeysMap": {
                "name": "foo",
                "value": "bar",
                "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            }
        },
        id="retainKeys map nested merging list with no change (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                "mergingList": [{"name": "c"}],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        id="retainKeys map adds an item in nested merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                "mergingList": [{"name": "c"}],
            }
        },
        {
            "retainKeysMap": {
                "name": "foo",
                "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "x"}],
            }
        },
        id="retainKeys map adds an item in nested merging list (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b", "value": "foo"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}],
                "mergingList": [{"name": "b", "value": "bar"}],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b", "value": "bar"}]}},
        id="retainKeys map changes an item in nested merging list (two-way)",
    ),
    pytest.param(
        {
            "retainKeysMap": {
                "name": "foo",
                "mergingList": [{"name": "a"}, {"name": "b", "value": "foo"}, {"name": "x"}],
            }
        },
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}, {"name": "b"}],
                "mergingList": [{"name": "b", "value": "bar"}],
            }
        },
        {
            "retainKeysMap": {
                "name": "foo",
                "mergingList": [{"name": "a"}, {"name": "b", "value": "bar"}, {"name": "x"}],
            }
        },
        id="retainKeys map changes an item in nested merging list (three-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}]}},
        {"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "bar", "mergingList": None}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map deletes nested merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}],
                "mergingList": [{"name": "b", "$patch": "delete"}],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}]}},
        id="retainKeys map deletes an item in nested merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "b"}, {"name": "x"}]}},
        {
            "retainKeysMap": {
                "$retainKeys": ["mergingList", "name"],
                "$setElementOrder/mergingList": [{"name": "a"}],
                "mergingList": [{"name": "b", "$patch": "delete"}],
            }
        },
        {"retainKeysMap": {"name": "foo", "mergingList": [{"name": "a"}, {"name": "x"}]}},
        id="retainKeys map deletes an item in nested merging list (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        {},
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        id="retainKeys list of maps clears a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        id="retainKeys list of maps clears a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "old"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "modified"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "modified"}]},
        id="retainKeys list of maps clears a field with conflict (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "modified"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "modified"}]},
        id="retainKeys list of maps clears a field with conflict (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "old"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "new"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new"}]},
        id="retainKeys list of maps changes a field and clear a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "old", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "new"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new"}]},
        id="retainKeys list of maps changes a field and clear a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "modified", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "new"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "new"}]},
        id="retainKeys list of maps changes a field and clear a field with conflict (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "a"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        id="retainKeys list of maps adds a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name", "value"], "name": "foo", "value": "a"}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        id="retainKeys list of maps adds a field and clear a field (three-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name"], "name": "foo", "value": None}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]},
        id="retainKeys list of maps deletes a field (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a", "other": "x"}]},
        {
            "$setElementOrder/retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}],
            "retainKeysMergingList": [{"$retainKeys": ["name"], "name": "foo", "value": None}],
        },
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]},
        id="retainKeys list of maps deletes a field and clear a field (three-way)",
    ),
    pytest.param(
        {
            "mergingList": [{"name": "a", "value": "a"}, {"name": "b", "value": "b"}],
            "mergeItemPtr": [{"name": "c", "value": "c"}, {"name": "d", "value": "d"}],
        },
        {
            "$setElementOrder/mergingList": [{"name": "b"}],
            "$setElementOrder/mergeItemPtr": [{"name": "d"}, {"name": "c"}],
            "mergingList": [{"$patch": "delete", "name": "a"}],
        },
        {
            "mergingList": [{"name": "b", "value": "b"}],
            "mergeItemPtr": [{"name": "d", "value": "d"}, {"name": "c", "value": "c"}],
        },
        id="delete and reorder in one list, reorder in another (two-way)",
    ),
    pytest.param(
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"},
        },
        {
            "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        id="replace RawExtension field, rest unchanched (two-way)",
    ),
    pytest.param(
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"},
        },
        {"replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"}},
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        id="replace RawExtension field, rest unchanched (three-way)",
    ),
    pytest.param(
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}],
            "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"},
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 2}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 2}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        id="replace RawExtension field and merge list (two-way)",
    ),
    pytest.param(
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 3}],
            "replacingItem": {"Some": "Generic", "Yaml": "Inside", "The": "RawExtension", "Field": "Period"},
        },
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
            "mergingList": [{"name": 2}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        {
            "name": "my-object",
            "value": "some-value",
            "other": "current-other",
            "mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "replacingItem": {"Newly": "Modified", "Yaml": "Inside", "The": "RawExtension"},
        },
        id="replace RawExtension field and merge list (three-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2]},
        {"mergingIntList": [2, 3]},
        {"mergingIntList": [1, 2, 3]},
        id="unique scalars when merging lists (two-way)",
    ),
    pytest.param(
        {"simpleMap": {"key1": 1, "key2": 1}},
        {"simpleMap": {"$patch": "delete"}},
        {"simpleMap": {}},
        id="delete map from nested map (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2}]},
        {"mergingList": [{"$patch": "replace"}]},
        {"mergingList": []},
        id="delete all items from merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": []},
        {"mergingList": []},
        {"mergingList": []},
        id="merge empty merging lists (two-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1},
        {"$patch": "replace"},
        {},
        id="delete all keys from map (two-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1},
        {"other": "a", "$patch": "replace"},
        {"other": "a"},
        id="add key and delete all keys from map (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]},
        {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]},
        {"mergingList": [{"name": 2, "value": "a"}]},
        id="delete all duplicate entries in a merging list (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo"}},
        {"retainKeysMap": {"value": "bar"}},
        {"retainKeysMap": {"name": "foo", "value": "bar"}},
        id="retainKeys map can add a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "a"}},
        {"retainKeysMap": {"value": "b"}},
        {"retainKeysMap": {"name": "foo", "value": "b"}},
        id="retainKeys map can change a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "a"}},
        {"retainKeysMap": {"value": None}},
        {"retainKeysMap": {"name": "foo"}},
        id="retainKeys map can delete a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"retainKeysMap": {"name": "foo", "value": "a"}},
        {"retainKeysMap": {}},
        {"retainKeysMap": {"name": "foo", "value": "a"}},
        id="retainKeys map merge an empty map (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]},
        {"retainKeysMergingList": [{"name": "foo", "value": "a"}]},
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        id="retainKeys list can add a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        {"retainKeysMergingList": [{"name": "foo", "value": "b"}]},
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "b"}]},
        id="retainKeys list can change a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]},
        {"retainKeysMergingList": [{"name": "foo", "value": None}]},
        {"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]},
        id="retainKeys list can delete a field when no retainKeys directive present (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]},
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 2, "other": "x"}, {"name": 3, "value": "c"}]},
        {
            "mergingList": [
                {"name": 1, "value": "a"},
                {"name": 2, "value": "b", "other": "x"},
                {"name": 3, "value": "c"},
            ]
        },
        id="preserve the order from the patch in a merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]},
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 3, "value": "c"}]},
        {"mergingList": [{"name": 1, "value": "a"}, {"name": 2, "value": "b"}, {"name": 3, "value": "c"}]},
        id="preserve the order from the patch in a merging list 2 (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {"mergingIntList": [1, 2, 3]},
        {"mergingIntList": [1, 2, 3]},
        id="preserve the order from the patch in a merging int list (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 2, 3]},
        {"mergingIntList": [1, 3]},
        {"mergingIntList": [1, 2, 3]},
        id="preserve the order from the patch in a merging int list (two-way) #2",
    ),
    pytest.param(
        {},
        {"name": 1, "value": 1},
        {"name": 1, "value": 1},
        id="nil original (two-way)",
    ),
    pytest.param(
        {"name": 1, "other": "a"},
        {"value": 1},
        {"name": 1, "value": 1, "other": "a"},
        id="nil original (three-way)",
    ),
    pytest.param(
        {"name": 1},
        {},
        {"name": 1},
        id="nil patch (two-way)",
    ),
    pytest.param(
        {"name": 1},
        {"value": 1},
        {"name": 1, "value": 1},
        id="add field to map (two-way)",
    ),
    pytest.param(
        {"name": "a", "other": "a"},
        {"name": 1, "value": 1},
        {"name": 1, "value": 1, "other": "a"},
        id="add field to map with conflict (three-way)",
    ),
    pytest.param(
        {"name": 1},
        {"name": None, "value": 1},
        {"value": 1},
        id="add field and delete field from map (two-way)",
    ),
    pytest.param(
        {"name": 1, "other": "a"},
        {"name": None, "value": 1},
        {"value": 1, "other": "a"},
        id="add field and delete field from map (three-way)",
    ),
    pytest.param(
        {"name": "a", "other": "a"},
        {"name": None, "value": 1},
        {"value": 1, "other": "a"},
        id="add field and delete field from map with conflict (three-way)",
    ),
    pytest.param(
        {"simpleMap": {"key1": 1, "key2": 1}},
        {"simpleMap": {"key2": None}},
        {"simpleMap": {"key1": 1}},
        id="delete field from nested map (two-way)",
    ),
    pytest.param(
        {"simpleMap": {"key1": 1, "key2": 1, "other": "a"}},
        {"simpleMap": {"key2": None}},
        {"simpleMap": {"key1": 1, "other": "a"}},
        id="delete field from nested map (three-way)",
    ),
    pytest.param(
        {"simpleMap": {"key1": "a", "key2": 1, "other": "a"}},
        {"simpleMap": {"key1": 1, "key2": None}},
        {"simpleMap": {"key1": 1, "other": "a"}},
        id="delete field from nested map with conflict (three-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1},
        {"name": None, "value": None},
        {},
        id="delete all fields from map (two-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1, "other": "a"},
        {"name": None, "value": None},
        {"other": "a"},
        id="delete all fields from map (three-way)",
    ),
    pytest.param(
        {"name": 1, "value": "a", "other": "a"},
        {"name": None, "value": None},
        {"other": "a"},
        id="delete all fields from map with conflict (three-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1},
        {"name": None, "value": None, "other": "a"},
        {"other": "a"},
        id="add field and delete all fields from map (two-way)",
    ),
    pytest.param(
        {"name": 1, "value": 1, "other": "b"},
        {"name": None, "value": None, "other": "a"},
        {"other": "a"},
        id="add field and delete all fields from map with conflict (three-way)",
    ),
    pytest.param(
        {"nonMergingIntList": [1, 2]},
        {"nonMergingIntList": [2, 3]},
        {"nonMergingIntList": [2, 3]},
        id="replace list of scalars (two-way)",
    ),
    pytest.param(
        {"nonMergingIntList": [1, 4]},
        {"nonMergingIntList": [2, 3]},
        {"nonMergingIntList": [2, 3]},
        id="replace list of scalars with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 2}]},
        {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]},
        {"mergingList": []},
        id="delete all maps from merging list (two-way)",
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "other": "b"}]},
        {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]},
        {"mergingList": []},
        id="delete all maps from merging list with conflict (three-way)",
    ),
    pytest.param(
        {"mergingList": []},
        {"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 2, "$patch": "delete"}]},
        {"mergingList": []},
        id="delete all maps from empty merging list (three-way)",
    ),
    pytest.param(
        {"mergingList": []},
        {},
        {"mergingList": []},
        id="merge empty merging lists (two-way) #2",
    ),
    pytest.param(
        {"name": 2},
        {"name": 1, "value": 1, "other": None},
        {"name": 1, "value": 1},
        id="defined null values should propagate overwrite current fields (with conflict) (two-way)",
    ),
    pytest.param(
        {"name": "a", "other": "a"},
        {"name": 1, "value": 1, "other": None},
        {"name": 1, "value": 1},
        id=("defined null values should propagate overwrite current fields (with conflict) (three-way)"),
    ),
    pytest.param(
        {"name": "original-name", "value": "original-value"},
        {"name": "modified-name", "value": None},
        {"name": "modified-name"},
        id="defined null values should propagate removing original fields (two-way)",
    ),
    pytest.param(
        {"name": "original-name", "value": "original-value", "other": "current-other"},
        {"name": "modified-name", "value": None},
        {"name": "modified-name", "other": "current-other"},
        id="defined null values should propagate removing original fields (three-way)",
    ),
    pytest.param(
        {"name": "a", "retainKeysMap": {"name": "foo"}},
        {},
        {"name": "a", "retainKeysMap": {"name": "foo"}},
        id="nil patch with retainKeys map (two-way)",
    ),
    pytest.param(
        {"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}},
        {},
        {"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}},
        id="nil patch with retainKeys map (three-way)",
    ),
    pytest.param(
        {"name": "a", "retainKeysMap": {"name": "foo"}},
        {"value": "b"},
        {"name": "a", "value": "b", "retainKeysMap": {"name": "foo"}},
        id="retainKeys map with no change should not be present (two-way)",
    ),
    pytest.param(
        {"name": "a", "other": "c", "retainKeysMap": {"name": "foo"}},
        {"value": "b"},
        {"name": "a", "value": "b", "other": "c", "retainKeysMap": {"name": "foo"}},
        id="retainKeys map with no change should not be present (three-way)",
    ),
]

UPSTREAM_ERROR_CASES = [
    pytest.param(
        {"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]},
        {
            "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
            "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
        },
        "doesn't match",
        id="should check if order in $setElementOrder and patch list match (two-way)",
    ),
    pytest.param(
        {"mergingIntList": [1, 3, 2]},
        {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]},
        "doesn't match",
        id=("$setElementOrder contains item that is not present in the int list to be merged (two-way) #2"),
    ),
    pytest.param(
        {"mergingList": [{"name": 1, "value": "a"}]},
        {"mergingList": [{"value": "b"}]},
        "does not contain declared merge key",
        id="missing merge key should error out (two-way)",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), UPSTREAM_CASES)
def test_upstream_case(original: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_json(apply_strategic_merge_patch(original, patch, MERGE_ITEM_SCHEMA), expected)


@pytest.mark.parametrize(("original", "patch", "message"), UPSTREAM_ERROR_CASES)
def test_upstream_error_case(original: dict[str, Any], patch: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        apply_strategic_merge_patch(original, patch, MERGE_ITEM_SCHEMA)
