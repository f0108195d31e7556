"""The field manager's fast paths give exactly what the general path gives.

``update()`` on a create computes the creator's fields in one walk (``typed.created_fields``) instead
of validating, comparing against ``{}`` and merging ownership; updates diff only the subtrees that
changed and reuse decoded and encoded field sets. Each case runs the public ``update()`` and the
general chain (``_tracked_update`` + ``encode_managed_fields``) on the same objects and compares the
managed fields, on random objects: valid ones, and ones with wrong types, nulls, empty containers,
duplicated list items and undeclared fields, where both must agree that nothing can be tracked.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kubelite.api.managed_fields import (
    FieldSet,
    TypeInfo,
    decode_managed_fields,
    default_reset_fields,
    encode_managed_fields,
    type_info_for_kind,
    type_info_from_crd_schema,
    update,
)
from kubelite.api.ssa import fieldmanager
from kubelite.api.ssa.fieldpath import PathElement
from kubelite.api.ssa.typed import compare, created_fields, validate

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "namespace": "default", "uid": "u-1", "creationTimestamp": "2024-05-01T00:00:00Z",
                 "labels": {"app": "web", "tier": "front"}, "annotations": {"a": "b"},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-0",
                                      "controller": True}],
                 "finalizers": ["example.com/keep"]},
    "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}],
                             "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
                             "args": ["sleep", "1000"], "imagePullPolicy": "IfNotPresent"}],
             "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {"disk": "ssd"},
             "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
             "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
             "securityContext": {}, "schedulerName": "default-scheduler", "enableServiceLinks": True},
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True",
                                                   "lastProbeTime": None,
                                                   "lastTransitionTime": "2024-05-01T00:00:00Z"}],
               "podIPs": [{"ip": "10.0.0.1"}]},
}

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "ratio": {"type": "number"},
            "enabled": {"type": "boolean"},
            "port": {"x-kubernetes-int-or-string": True},
            "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "args": {"type": "array", "items": {"type": "string"}},
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                                 "value": {"type": "string"}}}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                         "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1", "kind": "Widget",
    "metadata": {"name": "w", "namespace": "default", "uid": "u-2", "labels": {"x": "y"}},
    "spec": {"replicas": 3, "ratio": 0.5, "enabled": True, "port": "http", "tags": ["a", "b"], "args": ["x", "x"],
             "items": [{"name": "one", "value": "1"}, {"name": "two"}], "selector": {"a": "1"},
             "labels": {"k": "v"}, "free": {"nested": {"deep": [1, {"x": None}]}}},
    "status": {"ready": False},
}

CASES: list[tuple[str, TypeInfo, dict[str, Any]]] = [
    ("v1", type_info_for_kind("", "v1", "Pod"), POD),
    ("example.com/v1", type_info_from_crd_schema(WIDGET_SCHEMA), WIDGET),
]

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, 1.0, 2.0]),
                    st.sampled_from(["", "a", "b", "TCP", "one", "80"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["name", "value", "a", "x", "ip", "type"]), inner,
                                                 max_size=3)), max_leaves=6)


def _containers(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes) to a dict or list inside ``obj``, the root included."""
    out = [path] if isinstance(obj, dict | list) else []
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in children:
        out.extend(_containers(value, (*path, key)))
    return out


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _like(draw: st.DrawFn, value: Any, wild: bool) -> Any:
    """A new value for a position holding ``value``: of the same JSON kind unless ``wild``."""
    if wild or value is None or isinstance(value, dict | list):
        return draw(VALUES)
    if isinstance(value, bool):
        return draw(st.booleans())
    if isinstance(value, int | float):
        return draw(st.sampled_from([0, 1, 2, 80, 0.5]))
    return draw(st.sampled_from(["", "a", "b", "TCP", "one", "80", "http"]))


def mutate(draw: st.DrawFn, obj: dict[str, Any], rounds: int, *, wild: bool = True) -> dict[str, Any]:
    """``obj`` with random edits: set or add a field, delete one, duplicate or append a list item.

    ``wild`` edits may put any JSON anywhere (mostly objects the schema refuses); tame ones keep each
    value's kind, so that most results fit the schema and get tracked.
    """
    obj = copy.deepcopy(obj)
    for _ in range(rounds):
        target = _at(obj, draw(st.sampled_from(_containers(obj))))
        action = draw(st.sampled_from(["set", "set", "delete", "duplicate", "append"]))
        if isinstance(target, dict):
            keys = list(target)
            if action == "delete" and keys:
                del target[draw(st.sampled_from(keys))]
            elif keys and not wild:
                name = draw(st.sampled_from(keys))
                target[name] = _like(draw, target[name], wild)
            else:
                name = draw(st.sampled_from([*keys, "extra", "name"])) if keys else "extra"
                target[name] = draw(VALUES)
        elif isinstance(target, list):
            if action == "delete" and target:
                del target[draw(st.integers(0, len(target) - 1))]
            elif action == "duplicate" and target:
                target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
            elif action == "set" and target:
                index = draw(st.integers(0, len(target) - 1))
                target[index] = _like(draw, target[index], wild)
            elif wild:
                target.append(draw(VALUES))
    return obj


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def general(old: dict[str, Any], new: dict[str, Any], *, info: TypeInfo, api_version: str, manager: str,
            subresource: str = "") -> list[dict[str, Any]] | None:
    """The managed fields the general chain records (what update() gave before its fast paths)."""
    start = fieldmanager._starting_managed_fields(old, new, ignore_request=subresource != "")
    has_uid = bool(_metadata(old).get("uid"))
    if not start.fields and has_uid:
        return None
    request = fieldmanager._Request(info=info, api_version=api_version, subresource=subresource,
                                    reset_fields=default_reset_fields(subresource), now=NOW)
    try:
        # without the one-walk comparison: both objects validated, then compared whole
        with mock.patch.object(fieldmanager, "checked_comparison", lambda info, lhs, rhs: None):
            managed = fieldmanager._tracked_update(request, old, new, start, manager)
    except fieldmanager.ManagedFieldsError:
        stored = _metadata(old).get("managedFields")
        return copy.deepcopy(stored) if isinstance(stored, list) else None
    return encode_managed_fields(managed)


def fast(old: dict[str, Any], new: dict[str, Any], *, info: TypeInfo, api_version: str, manager: str,
         subresource: str = "") -> list[dict[str, Any]] | None:
    result = update(old=old, new=new, manager=manager, api_version=api_version, subresource=subresource,
                    type_info=info, now=NOW)
    entries: list[dict[str, Any]] | None = _metadata(result).get("managedFields")
    return entries


def without_managed(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"].pop("managedFields", None)
    return obj


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_create_fast_path_matches_the_general_path(data: st.DataObject) -> None:
    api_version, info, base = data.draw(st.sampled_from(CASES))
    new = mutate(data.draw, base, data.draw(st.integers(0, 4)), wild=data.draw(st.booleans()))
    _metadata(new).pop("managedFields", None)
    expected = general({}, new, info=info, api_version=api_version, manager="creator")
    event("tracked" if expected else "not tracked")
    assert fast({}, new, info=info, api_version=api_version, manager="creator") == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_update_fast_path_matches_the_general_path(data: st.DataObject) -> None:
    api_version, info, base = data.draw(st.sampled_from(CASES))
    wild = data.draw(st.sampled_from([False, False, False, True]))
    old = mutate(data.draw, base, data.draw(st.integers(0, 2)), wild=wild)
    # the stored object was created (and maybe updated) through the field manager
    old = update(old={}, new=old, manager="creator", api_version=api_version, type_info=info,
                 now=NOW - timedelta(hours=1))
    if data.draw(st.booleans()):
        changed = mutate(data.draw, without_managed(old), data.draw(st.integers(1, 2)), wild=wild)
        changed["metadata"] = copy.deepcopy(old.get("metadata"))
        old = update(old=old, new=changed, manager="other", api_version=api_version, type_info=info,
                     now=NOW - timedelta(minutes=30))
    new = mutate(data.draw, without_managed(old), data.draw(st.integers(1, 3)), wild=wild)
    if "managedFields" in _metadata(old) and isinstance(new.get("metadata"), dict) and data.draw(st.booleans()):
        new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])
    subresource = data.draw(st.sampled_from(["", "", "status"]))
    manager = data.draw(st.sampled_from(["creator", "other", "third"]))
    expected = general(old, new, info=info, api_version=api_version, manager=manager, subresource=subresource)
    event("old not tracked" if "managedFields" not in _metadata(old) else "not tracked" if expected is None
          else "changed" if expected != _metadata(old).get("managedFields") else "kept")
    assert fast(old, new, info=info, api_version=api_version, manager=manager, subresource=subresource) == expected


def test_created_fields_is_the_comparison_against_nothing() -> None:
    info = type_info_for_kind("", "v1", "Pod")
    assert validate(info, POD, allow_duplicates=True) == []
    assert created_fields(info, POD) == compare(info, {}, POD).added
    broken = copy.deepcopy(POD)
    broken["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    assert created_fields(info, broken) is None, "a value the schema refuses: nothing can be tracked"


def test_create_records_one_entry_without_status_or_identity() -> None:
    info = type_info_for_kind("", "v1", "Pod")
    entries = fast({}, POD, info=info, api_version="v1", manager="kubectl")
    assert entries is not None and len(entries) == 1
    assert entries[0]["manager"] == "kubectl" and entries[0]["operation"] == "Update"
    owned = FieldSet.from_fieldsv1(entries[0]["fieldsV1"])
    assert owned.has((PathElement.field("spec"), PathElement.field("restartPolicy")))
    assert not owned.has((PathElement.field("status"), PathElement.field("phase")))
    assert not owned.has((PathElement.field("metadata"), PathElement.field("uid")))
    assert decode_managed_fields(entries).fields, "the entry decodes again"


def test_update_leaves_the_input_unchanged() -> None:
    info = type_info_for_kind("", "v1", "Pod")
    new = copy.deepcopy(POD)
    before = copy.deepcopy(new)
    result = update(old={}, new=new, manager="m", api_version="v1", type_info=info, now=NOW)
    assert new == before and "managedFields" in result["metadata"]


@pytest.mark.parametrize(("path", "old_value", "new_value"), [
    pytest.param(("spec", "enabled"), True, 1, id="true-becomes-1-which-a-boolean-field-refuses"),
    pytest.param(("spec", "replicas"), 1, True, id="1-becomes-true-which-an-integer-field-refuses"),
    pytest.param(("spec", "replicas"), 2, 2.0, id="2-becomes-2.0-the-same-number"),
    pytest.param(("spec", "labels"), {"a": "1", "b": "2"}, {"b": "2", "a": "1"}, id="same-map-other-key-order"),
    pytest.param(("spec", "free"), {"n": 10**30}, {"n": 10**30}, id="integer-beyond-64-bits"),
])
def test_values_python_calls_equal_are_compared_as_json(path: tuple[str, str], old_value: Any,
                                                       new_value: Any) -> None:
    info = CASES[1][1]
    old = copy.deepcopy(WIDGET)
    old[path[0]][path[1]] = old_value
    old = update(old={}, new=old, manager="creator", api_version="example.com/v1", type_info=info,
                 now=NOW - timedelta(hours=1))
    new = without_managed(old)
    new[path[0]][path[1]] = new_value
    new["spec"]["ratio"] = 0.75  # a real change beside: recorded, unless the object no longer fits
    expected = general(old, new, info=info, api_version="example.com/v1", manager="other")
    assert fast(old, new, info=info, api_version="example.com/v1", manager="other") == expected


def test_a_deep_copy_of_an_encoded_set_is_independent_of_its_memos() -> None:
    info = type_info_for_kind("", "v1", "Pod")
    owned = created_fields(info, POD)
    assert owned is not None
    encoded = owned.to_fieldsv1()
    copied = copy.deepcopy(owned)
    copied._insert((PathElement.field("extra"),))
    assert copied.to_fieldsv1() != encoded and owned.to_fieldsv1() == encoded
    assert FieldSet.from_fieldsv1(encoded) == owned
