"""The field manager's fast paths give exactly what the general path gives.

``update()`` on a create writes the creator's FieldsV1 in one walk (``typed.created_fieldsv1``)
instead of validating, comparing against ``{}``, merging ownership and encoding a field set; updates
diff only the subtrees that changed and reuse decoded and encoded field sets. Each case runs the
public ``update()`` and the general chain (``_tracked_update`` + ``encode_managed_fields``) on the
same objects and compares the managed fields (as JSON text: the order of keys is part of the
result), on random objects: valid ones, and ones with wrong types, nulls, empty containers,
duplicated list items and undeclared fields, where both must agree that nothing can be tracked.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kubelite.api.managed_fields import (
    FieldSet,
    TypeInfo,
    decode_managed_fields,
    deduced_type_info,
    default_reset_fields,
    encode_managed_fields,
    make_path,
    type_info_for_kind,
    type_info_from_crd_schema,
    update,
)
from kubelite.api.ssa import fieldmanager
from kubelite.api.ssa.fieldpath import PathElement
from kubelite.api.ssa.typed import (
    Comparison,
    SchemaError,
    _fits,
    checked_comparison,
    compare,
    created_fieldsv1,
    validate,
)

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

GADGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "properties": {
            # two key fields, one with a default (an item without it is keyed by the default)
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {
                          "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"},
                          "name": {"type": "string"}}}},
            "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                         "x-kubernetes-preserve-unknown-fields": True,
                         "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}},
            "flags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}},
            "when": {"type": "string", "format": "date-time"},
        }},
    },
}

GADGET: dict[str, Any] = {
    "apiVersion": "example.com/v2", "kind": "Gadget",
    "metadata": {"name": "g", "namespace": "default", "uid": "u-3", "generation": 1,
                 "annotations": {"note": "x"}},
    "spec": {"ports": [{"port": 80}, {"port": 80, "protocol": "UDP", "name": "dns"}, {"port": 443, "protocol": "TCP"}],
             "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t", "labels": {"a": "b"}},
                          "spec": {"size": 2}, "data": {"k": "v"}},
             "flags": [3, 1, 2], "when": "2024-05-01T00:00:00Z"},
}

EVENT: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "p.1", "namespace": "default", "uid": "u-4", "creationTimestamp": "2024-05-01T00:00:00Z"},
    "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": "default", "name": "p", "uid": "u-1",
                       "resourceVersion": "12"},
    "reason": "Scheduled", "message": "Successfully assigned default/p to n", "type": "Normal",
    "source": {"component": "default-scheduler"}, "firstTimestamp": "2024-05-01T00:00:00Z",
    "lastTimestamp": "2024-05-01T00:00:00Z", "count": 1, "reportingComponent": "default-scheduler",
    "reportingInstance": "s-1",
}

CONFIG_MAP: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "default", "labels": {"x": "y"}},
    "data": {"a": "1", "b": ""}, "binaryData": {"c": "AAE="}, "immutable": False,
}

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "d", "namespace": "default", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
             "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx",
                                                   "ports": [{"containerPort": 80, "name": "http"},
                                                             {"containerPort": 53, "protocol": "UDP"}],
                                                   "volumeMounts": [{"name": "v", "mountPath": "/data"}]}],
                                   "volumes": [{"name": "v", "configMap": {"name": "c"}}]}}},
    "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]},
}

SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "s", "namespace": "default"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"},
                                                   {"port": 53, "targetPort": 53, "protocol": "UDP"}],
             "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"], "type": "ClusterIP"},
}

CASES: list[tuple[str, TypeInfo, dict[str, Any]]] = [
    ("v1", type_info_for_kind("", "v1", "Pod"), POD),
    ("example.com/v1", type_info_from_crd_schema(WIDGET_SCHEMA), WIDGET),
    ("example.com/v2", type_info_from_crd_schema(GADGET_SCHEMA), GADGET),
    ("v1", type_info_for_kind("", "v1", "Event"), EVENT),
    ("v1", type_info_for_kind("", "v1", "ConfigMap"), CONFIG_MAP),
    ("apps/v1", type_info_for_kind("apps", "v1", "Deployment"), DEPLOYMENT),
    ("v1", type_info_for_kind("", "v1", "Service"), SERVICE),
    ("example.com/v1", deduced_type_info(), WIDGET),
]

# reset sets: the defaults (None), nothing (custom resources without /status), and deeper ones
RESETS: list[FieldSet | None] = [
    None,
    FieldSet(),
    FieldSet([make_path("spec", "replicas"), make_path("metadata", "labels"), make_path("status")]),
    FieldSet([make_path("metadata"), make_path("spec", "containers"), make_path("spec", "ports", {"port": 80})]),
    FieldSet([make_path("spec", "template", "spec"), make_path("data", "a")]),
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
            subresource: str = "", reset_fields: FieldSet | None = None,
            now: datetime = NOW) -> list[dict[str, Any]] | None:
    """The managed fields the general chain records (what update() gave before its fast paths)."""
    start = fieldmanager._starting_managed_fields(old, new, ignore_request=subresource != "")
    has_uid = bool(_metadata(old).get("uid"))
    if not start.fields and has_uid:
        return None
    reset = default_reset_fields(subresource) if reset_fields is None else reset_fields
    request = fieldmanager._Request(info=info, api_version=api_version, subresource=subresource,
                                    reset_fields=reset, now=now)
    try:
        # without the one-walk comparison: both objects validated, then compared whole
        with mock.patch.object(fieldmanager, "checked_comparison", lambda info, lhs, rhs: None):
            managed = fieldmanager._tracked_update(request, old, new, start, manager)
    except fieldmanager.ManagedFieldsError:
        stored = _metadata(old).get("managedFields")
        return copy.deepcopy(stored) if isinstance(stored, list) else None
    return encode_managed_fields(managed)


def fast(old: dict[str, Any], new: dict[str, Any], *, info: TypeInfo, api_version: str, manager: str,
         subresource: str = "", reset_fields: FieldSet | None = None,
         now: datetime = NOW) -> list[dict[str, Any]] | None:
    result = update(old=old, new=new, manager=manager, api_version=api_version, subresource=subresource,
                    type_info=info, now=now, reset_fields=reset_fields)
    entries: list[dict[str, Any]] | None = _metadata(result).get("managedFields")
    return entries


def without_managed(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"].pop("managedFields", None)
    return obj


def as_bytes(entries: Any) -> bytes:
    """The JSON text of managed fields: equal dicts with keys in another order differ here."""
    return orjson.dumps(entries)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_create_fast_path_matches_the_general_path(data: st.DataObject) -> None:
    api_version, info, base = data.draw(st.sampled_from(CASES))
    new = mutate(data.draw, base, data.draw(st.integers(0, 4)), wild=data.draw(st.booleans()))
    _metadata(new).pop("managedFields", None)
    subresource = data.draw(st.sampled_from(["", "", "status", "scale"]))
    reset_fields = data.draw(st.sampled_from(RESETS))
    manager = data.draw(st.sampled_from(["creator", "", "kube-scheduler"]))
    now = data.draw(st.sampled_from([NOW, NOW + timedelta(microseconds=999_999), NOW + timedelta(seconds=1),
                                     datetime(999, 1, 2, 3, 4, 5, 6)]))
    expected = general({}, new, info=info, api_version=api_version, manager=manager, subresource=subresource,
                       reset_fields=reset_fields, now=now)
    event("tracked" if expected else "not tracked")
    got = fast({}, new, info=info, api_version=api_version, manager=manager, subresource=subresource,
               reset_fields=reset_fields, now=now)
    assert as_bytes(got) == as_bytes(expected)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_checked_comparison_is_validation_then_comparison(data: st.DataObject) -> None:
    _, info, base = data.draw(st.sampled_from(CASES))
    wild = data.draw(st.sampled_from([False, False, True]))
    lhs = mutate(data.draw, base, data.draw(st.integers(0, 2)), wild=wild)
    rhs = mutate(data.draw, lhs, data.draw(st.integers(1, 4)), wild=wild)
    expected: Comparison | None = None
    if not validate(info, lhs, allow_duplicates=True) and not validate(info, rhs, allow_duplicates=True):
        try:
            expected = compare(info, lhs, rhs)
        except SchemaError:
            pass
    event("compared" if expected is not None else "does not fit")
    got = checked_comparison(info, lhs, rhs)
    assert (got is None) == (expected is None)
    if got is not None and expected is not None:
        assert (got.removed, got.modified, got.added) == (expected.removed, expected.modified, expected.added)


@pytest.mark.parametrize("env", [
    pytest.param([{"name": "A", "value": "1"}, {"name": "C", "value": 3}], id="new-item-with-a-number-for-a-string"),
    pytest.param([{"name": "A", "value": "1"}, {"name": "A", "value": 3}], id="duplicated-item-with-a-number"),
    pytest.param([{"name": "A", "value": 3}], id="changed-item-with-a-number"),
    pytest.param([{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": 1}}}],
                 id="changed-item-with-a-number-deep-below"),
])
def test_checked_comparison_validates_the_new_items_of_a_list(env: list[dict[str, Any]]) -> None:
    info = type_info_for_kind("", "v1", "Pod")
    lhs = copy.deepcopy(POD)
    rhs = copy.deepcopy(POD)
    rhs["spec"]["containers"][0]["env"] = env
    assert validate(info, lhs, allow_duplicates=True) == [] and validate(info, rhs, allow_duplicates=True) != []
    assert checked_comparison(info, lhs, rhs) is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fits_is_validate_without_the_messages(data: st.DataObject) -> None:
    _, info, base = data.draw(st.sampled_from(CASES))
    obj = mutate(data.draw, base, data.draw(st.integers(0, 4)), wild=data.draw(st.booleans()))
    assert _fits(info, obj) == (validate(info, obj, allow_duplicates=True) == [])


_ELEMENTS = [PathElement.field("a"), PathElement.field("b"), PathElement.field("metadata"),
             PathElement.key({"name": "x"}), PathElement.key({"name": "y", "port": 1}), PathElement.of_value(1),
             PathElement.of_value("1"), PathElement.of_index(0)]
FIELD_SETS = st.lists(st.lists(st.sampled_from(_ELEMENTS), min_size=1, max_size=4).map(tuple),
                      max_size=10).map(FieldSet)


@settings(max_examples=300, deadline=None)
@given(FIELD_SETS, FIELD_SETS)
def test_fieldsv1_differences_are_the_set_differences(owned: FieldSet, removed: FieldSet) -> None:
    plan = fieldmanager._plan(removed)
    node = copy.deepcopy(owned.to_fieldsv1())
    fieldmanager._remove_subtrees_v1(node, plan)
    assert as_bytes(node) == as_bytes(owned.recursive_difference(removed).to_fieldsv1())
    node = copy.deepcopy(owned.to_fieldsv1())
    fieldmanager._remove_members_v1(node, plan)
    assert as_bytes(node) == as_bytes(owned.difference(removed).to_fieldsv1())


def _format_time_before(moment: datetime) -> str:
    """format_time as it was before its one-second memo."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30)),
                         timezone(timedelta(seconds=1, microseconds=500_000))])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=ZONES)
                | st.sampled_from([NOW, NOW + timedelta(microseconds=1), NOW - timedelta(microseconds=1)]),
                min_size=1, max_size=6))
def test_format_time_gives_the_same_text_as_before_its_memo(moments: list[datetime]) -> None:
    for moment in moments:
        assert fieldmanager.format_time(moment) == _format_time_before(moment)


def test_key_elements_of_values_python_calls_equal_keep_their_own_text() -> None:
    texts = [PathElement.key({"a": value}).serialize() for value in (1, True, 1.0, 0, False, -0.0, None, "1")]
    assert texts == ['k:{"a":1}', 'k:{"a":true}', 'k:{"a":1}', 'k:{"a":0}', 'k:{"a":false}', 'k:{"a":-0}',
                     'k:{"a":null}', 'k:{"a":"1"}']
    assert PathElement.key({"a": 1}) is PathElement.key([("a", 1)]), "built once"
    assert PathElement.key({"a": 1}) != PathElement.key({"a": True})


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


@pytest.mark.parametrize(("info", "obj"), [pytest.param(info, obj, id=f"{api_version}-{obj['kind']}-{info!r}"[:60])
                                           for api_version, info, obj in CASES])
def test_created_fieldsv1_is_the_comparison_against_nothing(info: TypeInfo, obj: dict[str, Any]) -> None:
    assert validate(info, obj, allow_duplicates=True) == []
    assert as_bytes(created_fieldsv1(info, obj)) == as_bytes(compare(info, {}, obj).added.to_fieldsv1())


def test_created_fieldsv1_of_an_object_the_schema_refuses_is_none() -> None:
    info = type_info_for_kind("", "v1", "Pod")
    broken = copy.deepcopy(POD)
    broken["spec"]["containers"][0]["ports"][0]["containerPort"] = "eighty"
    assert created_fieldsv1(info, broken) is None, "a value the schema refuses: nothing can be tracked"


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
    owned = compare(info, {}, POD).added
    encoded = owned.to_fieldsv1()
    copied = copy.deepcopy(owned)
    copied._insert((PathElement.field("extra"),))
    assert copied.to_fieldsv1() != encoded and owned.to_fieldsv1() == encoded
    assert FieldSet.from_fieldsv1(encoded) == owned
