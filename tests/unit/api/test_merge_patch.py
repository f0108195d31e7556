"""JSON merge patch (RFC 7386), kubelite.api.patch.apply_merge_patch.

Cases: RFC 7386 Appendix A, and evanphx/json-patch v4 merge_test.go (the library the Kubernetes API
server applies ``application/merge-patch+json`` with), plus properties checked with Hypothesis.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.patch import PatchError, apply_merge_patch, json_equal

CASES = [
    # RFC 7386 Appendix A (the rows whose patch is an object).
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="rfc: replace a member"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="rfc: add a member"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="rfc: null removes a member"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="rfc: null removes only that member"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="rfc: a string replaces an array"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="rfc: an array replaces a string"),
    pytest.param(
        {"a": {"b": "c"}},
        {"a": {"b": "d", "c": None}},
        {"a": {"b": "d"}},
        id="rfc: objects merge recursively",
    ),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="rfc: arrays are replaced, never merged"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="rfc: nulls in the target stay"),
    pytest.param([1, 2], {"a": "b", "c": None}, {"a": "b"}, id="rfc: an object patch turns an array into {}"),
    pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="rfc: nulls in added objects vanish"),
    # evanphx/json-patch merge_test.go
    pytest.param({"title": "hello"}, {"title": "goodbye"}, {"title": "goodbye"}, id="v4: replace key"),
    pytest.param(
        {"title": "hello", "age": 18},
        {"title": "goodbye"},
        {"title": "goodbye", "age": 18},
        id="v4: other keys stay",
    ),
    pytest.param({"title": None}, {"title": {"foo": "bar"}}, {"title": {"foo": "bar"}}, id="v4: null target member"),
    pytest.param(
        {"person": {"title": "hello", "age": 18}},
        {"person": {"title": "goodbye"}},
        {"person": {"title": "goodbye", "age": 18}},
        id="v4: recurses into objects",
    ),
    pytest.param({"a": 1, "b": 1}, {"a": 2}, {"a": 2, "b": 1}, id="v4: object into object"),
    pytest.param({"array": ["one", "two"]}, {"array": []}, {"array": []}, id="v4: empty array replaces"),
    pytest.param({"a": [{"b": "c"}]}, {"a": [None, 1]}, {"a": [None, 1]}, id="v4: null array elements stay"),
    pytest.param({"a": []}, {"a": ["b", None, None, "a"]}, {"a": ["b", None, None, "a"]}, id="v4: nulls in new array"),
    pytest.param(
        {},
        {"a": [{"inner": {"keep": "x", "drop": None}}]},
        {"a": [{"inner": {"keep": "x"}}]},
        id="v4: null members of objects inside an added array are dropped",
    ),
    pytest.param({"a": {"b": 1}}, {"a": {}}, {"a": {"b": 1}}, id="an empty object changes nothing"),
    pytest.param({"a": {"b": 1}}, {"a": 5}, {"a": 5}, id="a scalar replaces an object"),
    pytest.param({"a": 5}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}, id="an object replaces a scalar, pruned"),
    pytest.param({"a": True}, {"a": 1}, {"a": 1}, id="1 replaces true (different JSON values)"),
    pytest.param(
        {"metadata": {"labels": {"app": "web", "tier": "front"}, "name": "x"}},
        {"metadata": {"labels": {"tier": None, "env": "prod"}}},
        {"metadata": {"labels": {"app": "web", "env": "prod"}, "name": "x"}},
        id="kubernetes: change labels",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}},
        {"spec": {"containers": [{"name": "a", "image": "2"}]}},
        {"spec": {"containers": [{"name": "a", "image": "2"}]}},
        id="kubernetes: merge patch replaces container lists wholesale",
    ),
]


@pytest.mark.parametrize(("original", "patch", "expected"), CASES)
def test_merge_patch(original: Any, patch: dict[str, Any], expected: Any) -> None:
    result = apply_merge_patch(original, patch)
    assert result == expected
    assert json_equal(result, expected)


@pytest.mark.parametrize(
    ("patch", "kind"),
    [
        # RFC 7386 lets these replace the whole document; upstream answers 400 "Invalid JSON Patch"
        # for null and scalars, and no Kubernetes object can become an array.
        pytest.param(None, "null", id="null"),
        pytest.param("bar", "string", id="string"),
        pytest.param(["c", "d"], "array", id="array"),
        pytest.param(3, "number", id="number"),
    ],
)
def test_patch_must_be_an_object(patch: Any, kind: str) -> None:
    with pytest.raises(PatchError, match=f"a merge patch must be a JSON object, got {kind}") as caught:
        apply_merge_patch({"a": "foo"}, patch)
    assert caught.value.status == 400


def test_deep_nesting_is_a_patch_error() -> None:
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(PatchError, match="nested too deeply") as caught:
        apply_merge_patch({}, deep)
    assert caught.value.status == 422


def test_inputs_are_not_modified() -> None:
    original = {"a": {"b": [1, {"c": 2}]}, "d": 1}
    patch = {"a": {"b": [{"x": None, "y": 1}]}, "d": None, "e": {"f": None}}
    result = apply_merge_patch(original, patch)
    assert result == {"a": {"b": [{"y": 1}]}, "e": {}}
    assert original == {"a": {"b": [1, {"c": 2}]}, "d": 1}
    assert patch == {"a": {"b": [{"x": None, "y": 1}]}, "d": None, "e": {"f": None}}
    result["a"]["b"][0]["y"] = 2
    assert patch["a"]["b"][0]["y"] == 1


# --------------------------------------------------------------------------------------------------
# Properties

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3)
_keys = st.text(max_size=3)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)
_objects = st.dictionaries(_keys, _json, max_size=5)

# Documents a merge patch can produce: no null object member at any depth (null means "delete").
_non_null_scalars = st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=3)
_stored = st.recursive(
    _non_null_scalars,
    lambda inner: st.lists(inner | st.none(), max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)
_stored_objects = st.dictionaries(_keys, _stored, max_size=5)


def merge_diff(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 patch that turns ``original`` into ``modified`` (a reference generator)."""
    patch: dict[str, Any] = {key: None for key in original if key not in modified}
    for key, value in modified.items():
        if key not in original:
            patch[key] = value
        elif isinstance(original[key], dict) and isinstance(value, dict):
            nested = merge_diff(original[key], value)
            if nested:
                patch[key] = nested
        elif not json_equal(original[key], value):
            patch[key] = value
    return patch


@settings(max_examples=250, deadline=None)
@given(original=_objects, modified=_stored_objects)
def test_applying_the_diff_yields_the_target(original: dict[str, Any], modified: dict[str, Any]) -> None:
    assert json_equal(apply_merge_patch(original, merge_diff(original, modified)), modified)


@settings(max_examples=250, deadline=None)
@given(original=_objects, patch=_objects)
def test_merge_patch_is_idempotent(original: dict[str, Any], patch: dict[str, Any]) -> None:
    once = apply_merge_patch(original, patch)
    assert json_equal(apply_merge_patch(once, patch), once)


@settings(max_examples=200, deadline=None)
@given(original=_objects)
def test_empty_patch_and_self_diff_change_nothing(original: dict[str, Any]) -> None:
    assert json_equal(apply_merge_patch(original, {}), original)
    assert merge_diff(original, original) == {}
