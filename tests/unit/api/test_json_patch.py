"""JSON patch (RFC 6902 with RFC 6901 pointers), kubelite.api.patch.apply_json_patch.

Cases: RFC 6902 Appendix A, evanphx/json-patch v4 patch_test.go (the library the Kubernetes API
server applies ``application/json-patch+json`` with; ``Cases``, ``BadCases``, ``TestCases``), the
v4 behaviours Kubernetes clients rely on, and properties checked with Hypothesis.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.patch import PatchError, apply_json_patch, json_equal


def add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def remove(path: str) -> dict[str, Any]:
    return {"op": "remove", "path": path}


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def move(source: str, path: str) -> dict[str, Any]:
    return {"op": "move", "from": source, "path": path}


def copy(source: str, path: str) -> dict[str, Any]:
    return {"op": "copy", "from": source, "path": path}


def expect(path: str, value: Any) -> dict[str, Any]:
    """A ``test`` operation (named so that pytest does not collect it)."""
    return {"op": "test", "path": path, "value": value}


CASES = [
    # RFC 6902 Appendix A
    pytest.param({"foo": "bar"}, [add("/baz", "qux")], {"baz": "qux", "foo": "bar"}, id="A.1 add object member"),
    pytest.param(
        {"foo": ["bar", "baz"]},
        [add("/foo/1", "qux")],
        {"foo": ["bar", "qux", "baz"]},
        id="A.2 add array element",
    ),
    pytest.param({"baz": "qux", "foo": "bar"}, [remove("/baz")], {"foo": "bar"}, id="A.3 remove object member"),
    pytest.param(
        {"foo": ["bar", "qux", "baz"]},
        [remove("/foo/1")],
        {"foo": ["bar", "baz"]},
        id="A.4 remove array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [replace("/baz", "boo")],
        {"baz": "boo", "foo": "bar"},
        id="A.5 replace value",
    ),
    pytest.param(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [move("/foo/waldo", "/qux/thud")],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        id="A.6 move value",
    ),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [move("/foo/1", "/foo/3")],
        {"foo": ["all", "cows", "eat", "grass"]},
        id="A.7 move array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [expect("/baz", "qux"), expect("/foo/1", 2)],
        {"baz": "qux", "foo": ["a", 2, "c"]},
        id="A.8 test success",
    ),
    pytest.param(
        {"foo": "bar"},
        [add("/child", {"grandchild": {}})],
        {"foo": "bar", "child": {"grandchild": {}}},
        id="A.10 add nested member object",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
        id="A.11 unrecognized members are ignored",
    ),
    pytest.param({"/": 9, "~1": 10}, [expect("/~01", 10)], {"/": 9, "~1": 10}, id="A.14 ~ escape ordering"),
    pytest.param(
        {"foo": ["bar"]},
        [add("/foo/-", ["abc", "def"])],
        {"foo": ["bar", ["abc", "def"]]},
        id="A.16 add array value",
    ),
    # evanphx/json-patch v4 Cases
    pytest.param({"foo": ["bar", "baz"]}, [add("/foo/-1", "qux")], {"foo": ["bar", "baz", "qux"]}, id="v4: add at -1"),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [move("/foo/1", "/foo/2")],
        {"foo": ["all", "cows", "grass", "eat"]},
        id="v4: move within an array",
    ),
    pytest.param(
        {"foo": "bar", "qux": {"baz": 1, "bar": None}},
        [remove("/qux/bar")],
        {"foo": "bar", "qux": {"baz": 1}},
        id="v4: remove a null member",
    ),
    pytest.param({"foo": "bar"}, [add("/baz", None)], {"baz": None, "foo": "bar"}, id="v4: add null"),
    pytest.param({"foo": ["bar", "baz"]}, [replace("/foo/0", "bum")], {"foo": ["bum", "baz"]}, id="v4: replace [0]"),
    pytest.param(
        [{"foo": ["bar", "qux", "baz"]}],
        [replace("/0/foo/0", "bum")],
        [{"foo": ["bum", "qux", "baz"]}],
        id="v4: array document",
    ),
    pytest.param(
        [{"foo": ["bar", "qux", "baz"], "bar": ["qux", "baz"]}],
        [copy("/0/foo/0", "/0/bar/0")],
        [{"foo": ["bar", "qux", "baz"], "bar": ["bar", "qux", "baz"]}],
        id="v4: copy into an array",
    ),
    pytest.param(
        [{"foo": {"bar": ["qux", "baz"]}, "baz": {"qux": "bum"}}],
        [copy("/0/foo/bar", "/0/baz/bar")],
        [{"baz": {"bar": ["qux", "baz"], "qux": "bum"}, "foo": {"bar": ["qux", "baz"]}}],
        id="v4: copy an array",
    ),
    pytest.param({"foo": ["bar"]}, [copy("/foo", "/foo/0")], {"foo": [["bar"], "bar"]}, id="v4: copy into itself"),
    pytest.param({"foo": ["bar", "qux", "baz"]}, [remove("/foo/-2")], {"foo": ["bar", "baz"]}, id="v4: remove -2"),
    pytest.param({"foo": []}, [add("/foo/-1", "qux")], {"foo": ["qux"]}, id="v4: add -1 to an empty array"),
    pytest.param({"bar": [{"baz": None}]}, [replace("/bar/0/baz", 1)], {"bar": [{"baz": 1}]}, id="v4: replace null"),
    pytest.param({"bar": [1]}, [replace("/bar/0", None)], {"bar": [None]}, id="v4: replace with null"),
    pytest.param(
        {"id": "0", "parentID": "0"},
        [
            expect("", {"id": "0", "parentID": "0"}),
            replace("", {"id": "7", "originalID": "bar", "parentID": "0"}),
        ],
        {"id": "7", "originalID": "bar", "parentID": "0"},
        id="v4: test and replace the whole document",
    ),
    # Behaviours of json-patch v4 that Kubernetes clients rely on
    pytest.param(
        {"metadata": {"labels": {"a": "1"}}},
        [replace("/metadata/labels/b", "2")],
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        id="kubernetes: replace of a missing member adds it",
    ),
    pytest.param(
        {"metadata": {"labels": {}}},
        [expect("/metadata/labels/app", None), add("/metadata/labels/app", "web")],
        {"metadata": {"labels": {"app": "web"}}},
        id="kubernetes: test a missing member against null",
    ),
    pytest.param(
        {"metadata": {"annotations": {"example.com/owner": "x", "a~b": "y"}}},
        [remove("/metadata/annotations/example.com~1owner"), replace("/metadata/annotations/a~0b", "z")],
        {"metadata": {"annotations": {"a~b": "z"}}},
        id="kubernetes: escaped annotation keys",
    ),
    pytest.param(
        {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}},
        [expect("/spec/containers/-1/name", "b"), replace("/spec/containers/-1/image", "2")],
        {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}},
        id="kubernetes: negative index counts from the end",
    ),
    pytest.param(
        {"spec": {"replicas": 1}},
        [expect("/spec/replicas", 1.0), replace("/spec/replicas", 3)],
        {"spec": {"replicas": 3}},
        id="numbers compare by value",
    ),
    pytest.param({"a": 1}, [add("", {"b": 2})], {"b": 2}, id="rfc: add at the root replaces the document"),
    pytest.param({"a": {"b": 1}}, [move("/a", "/a")], {"a": {"b": 1}}, id="rfc: move onto itself is a no-op"),
    pytest.param({"": {"": 1}}, [replace("//", 2)], {"": {"": 2}}, id="empty reference tokens"),
    pytest.param({"a": [1, 2]}, [add("/a/+0", 0)], {"a": [0, 1, 2]}, id="index with a plus sign, as Go's Atoi"),
    pytest.param({"a": {"0": 1}}, [replace("/a/0", 2)], {"a": {"0": 2}}, id="numeric token on an object is a key"),
    pytest.param({}, [], {}, id="empty patch"),
]


@pytest.mark.parametrize(("document", "patch", "expected"), CASES)
def test_json_patch(document: Any, patch: list[dict[str, Any]], expected: Any) -> None:
    result = apply_json_patch(document, patch)
    assert result == expected
    assert json_equal(result, expected)


ERRORS = [
    # RFC 6902 Appendix A
    pytest.param(
        {"baz": "qux"},
        [expect("/baz", "bar")],
        'json patch operation 0 (test "/baz"): test failed: value is "qux", expected "bar"',
        id="A.9 test failure",
    ),
    pytest.param(
        {"foo": "bar"},
        [add("/baz/bat", "qux")],
        'json patch operation 0 (add "/baz/bat"): doc is missing path: "/baz"',
        id="A.12 add to a nonexistent target",
    ),
    pytest.param(
        {"/": 9, "~1": 10},
        [expect("/~01", "10")],
        'test failed: value is 10, expected "10"',
        id="A.15 strings and numbers differ",
    ),
    # evanphx/json-patch v4 BadCases
    pytest.param({"a": {"b": {"d": 1}}}, [remove("/a/b/c")], "Unable to remove nonexistent key: 'c'", id="v4 bad 2"),
    pytest.param({"a": {"b": {"d": 1}}}, [move("/a/b/c", "/a/b/e")], 'from "/a/b/c" does not exist', id="v4 bad 3"),
    pytest.param({"a": {"b": [1]}}, [remove("/a/b/1")], "Unable to access invalid index: 1", id="v4 bad 4"),
    pytest.param({"a": {"b": [1]}}, [move("/a/b/1", "/a/b/2")], "invalid index: 1", id="v4 bad 5"),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "pathz": "/baz", "value": "qux"}],
        'missing "path" member (required for a "add" operation)',
        id="v4 bad 6: no path",
    ),
    pytest.param({"foo": ["bar", "baz"]}, [replace("/foo/2", "bum")], "invalid index: 2", id="v4 bad 8"),
    pytest.param({"foo": ["bar", "baz"]}, [add("/foo/-4", "bum")], "invalid index: -4", id="v4 bad 9"),
    pytest.param(
        {"name": {"foo": "bat", "qux": "bum"}},
        [replace("/foo/bar", "baz")],
        'doc is missing path: "/foo"',
        id="v4 bad 10: replace under a missing parent",
    ),
    pytest.param({"foo": ["bar"]}, [add("/foo/2", "bum")], "invalid index: 2", id="v4 bad 11"),
    pytest.param({"foo": []}, [remove("/foo/-")], "value was not a proper array index: '-'", id="v4 bad 12"),
    pytest.param({"foo": []}, [remove("/foo/-1")], "invalid index: -1", id="v4 bad 13"),
    pytest.param({"foo": ["bar"]}, [remove("/foo/-2")], "invalid index: -2", id="v4 bad 14"),
    pytest.param({}, [{"op": None, "path": ""}], "unsupported op null", id="v4 bad 15: op null"),
    pytest.param({}, [{"op": "add", "path": None}], '"path" must be a string', id="v4 bad 16: path null"),
    pytest.param({}, [{"op": "copy", "from": None}], 'missing "path" member', id="v4 bad 17: copy without path"),
    pytest.param({"foo": ["bar"]}, [copy("/", "/foo/6666666666")], 'from "/" does not exist', id="v4 bad 18"),
    pytest.param({"foo": ["bar"]}, [copy("/foo/0", "/foo/2")], "invalid index: 2", id="v4 bad 19"),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [move("/foo/1", "/foo/4")],
        "invalid index: 4",
        id="v4 bad 21",
    ),
    # v4 TestCases (test operation)
    pytest.param({"baz": "qux", "foo": ["a", 2, "c"]}, [expect("/foo/1", "c")], "operation 0 (test", id="v4 test 3"),
    pytest.param(
        {"baz": "qux"}, [expect("/foo", 42)], "test failed: no value at the path, expected 42", id="v4 test 4"
    ),
    pytest.param({"foo": {}}, [expect("/foo", None)], "test failed: value is {}, expected null", id="v4 test 7"),
    pytest.param({"foo": []}, [expect("/foo", None)], "test failed: value is [], expected null", id="v4 test 8"),
    # Stricter than v4 where v4 misbehaves (see the module docstring of kubelite.api.patch)
    pytest.param({"a": 1}, [{"op": "add", "path": "/b"}], 'missing "value" member', id="add without value"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a"}], 'missing "value" member', id="test without value"),
    pytest.param({"a": 1}, [copy("/nope", "/b")], 'from "/nope" does not exist', id="copy from a missing member"),
    pytest.param({"a": {"b": 1}}, [move("/a", "/a/b/c")], "into one of its own children", id="move into a child"),
    pytest.param({"a": 1}, [add("a", 2)], "is not a JSON pointer", id="pointer without leading slash"),
    pytest.param({"a~2": 1}, [remove("/a~2")], 'has a "~" not followed by "0" or "1"', id="bad escape"),
    pytest.param({"a": 1}, [remove("")], "cannot remove the whole document", id="remove the root"),
    # Other failures
    pytest.param({"a": 1}, [{"op": "frob", "path": "/a"}], 'unsupported op "frob"', id="unknown op"),
    pytest.param({"a": 1}, [{"path": "/a"}], 'missing "op" member', id="missing op"),
    pytest.param({"a": 1}, [{"op": "move", "path": "/b"}], 'missing "from" member', id="move without from"),
    pytest.param({"a": 1}, [add("/a/b", 2)], '"/a" is a number, not an object or array', id="descend into a scalar"),
    pytest.param({"a": [1]}, [add("/a/x", 2)], "value was not a proper array index: 'x'", id="non-numeric index"),
    pytest.param({"a": [1]}, [add("/a/1.0", 2)], "value was not a proper array index: '1.0'", id="fractional index"),
    pytest.param({"a": []}, [replace("/a/0", 1)], "valid: none, the array is empty", id="index into an empty array"),
]


@pytest.mark.parametrize(("document", "patch", "message"), ERRORS)
def test_json_patch_errors(document: Any, patch: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_json_patch(document, patch)
    assert message in caught.value.message
    assert caught.value.status == 422  # upstream answers 422 for every Patch.Apply error, test included
    assert caught.value.operation == 0


def test_error_names_the_failing_operation() -> None:
    patch = [add("/a", 1), expect("/a", 1), remove("/missing/x")]
    with pytest.raises(PatchError) as caught:
        apply_json_patch({}, patch)
    error = caught.value
    assert error.operation == 2
    assert error.path == "/missing/x"
    assert error.message == 'json patch operation 2 (remove "/missing/x"): doc is missing path: "/missing"'


def test_test_failure_shortens_huge_values() -> None:
    with pytest.raises(PatchError) as caught:
        apply_json_patch({"a": "x" * 10_000}, [expect("/a", "y")])
    assert len(caught.value.message) < 400
    assert caught.value.message.endswith('..., expected "y"')


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param({"op": "add"}, "json patch must be a JSON array of operations, got object", id="object"),
        pytest.param(None, "json patch must be a JSON array of operations, got null", id="null"),
        pytest.param([add("/a", 1), "remove"], "json patch operation 1 must be a JSON object, got string", id="item"),
    ],
)
def test_malformed_patch_is_a_bad_request(patch: Any, message: str) -> None:
    with pytest.raises(PatchError) as caught:
        apply_json_patch({}, patch)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)


def test_deep_nesting_is_a_patch_error() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(PatchError, match="nested too deeply") as caught:
        apply_json_patch({}, [add("/a", deep)])
    assert caught.value.status == 422


def test_operation_limit() -> None:
    patch = [expect("/a", 1)] * 3
    assert apply_json_patch({"a": 1}, patch, max_operations=3) == {"a": 1}
    with pytest.raises(PatchError) as caught:
        apply_json_patch({"a": 1}, patch, max_operations=2)
    assert caught.value.status == 413
    assert caught.value.message == "The allowed maximum operations in a JSON patch is 2, got 3"


def test_copy_size_limit() -> None:
    # v4's case: the quotes count, so each copy of 48 "A"s costs 50 bytes and two fit in 100.
    two_copies = [copy("/foo/1", "/foo/-"), copy("/foo/1", "/foo/-")]
    fits = apply_json_patch({"foo": ["A", "A" * 48]}, two_copies, max_copy_bytes=100)
    assert fits == {"foo": ["A"] + ["A" * 48] * 3}
    with pytest.raises(PatchError) as caught:
        apply_json_patch({"foo": ["A", "A" * 49]}, two_copies, max_copy_bytes=100)
    assert caught.value.operation == 1
    assert "accumulated size increase of copy is 102, exceeding the limit 100" in caught.value.message
    assert apply_json_patch({"foo": ["A", "A" * 49]}, two_copies, max_copy_bytes=0)["foo"][3] == "A" * 49


def test_inputs_are_not_modified_and_results_do_not_alias_them() -> None:
    document = {"a": {"b": [1, 2]}, "c": {"d": 1}}
    value = {"new": [1]}
    patch = [add("/x", value), copy("/c", "/e"), remove("/a/b/0"), move("/c", "/f")]
    result = apply_json_patch(document, patch)
    assert result == {"a": {"b": [2]}, "x": {"new": [1]}, "e": {"d": 1}, "f": {"d": 1}}
    assert document == {"a": {"b": [1, 2]}, "c": {"d": 1}}
    result["x"]["new"].append(2)
    result["e"]["d"] = 5
    assert value == {"new": [1]}
    assert result["f"] == {"d": 1}


def test_failed_patch_leaves_document_untouched() -> None:
    document = {"a": [1, 2, 3]}
    with pytest.raises(PatchError):
        apply_json_patch(document, [remove("/a/0"), remove("/a/0"), expect("/a", [])])
    assert document == {"a": [1, 2, 3]}


# --------------------------------------------------------------------------------------------------
# Properties

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)
_keys = st.text(alphabet="ab/~0", max_size=4)
_objects = st.dictionaries(_keys, _json, max_size=4)


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


@settings(max_examples=300, deadline=None)
@given(document=_objects, key=_keys, value=_json)
def test_add_then_test_then_remove_restores(document: dict[str, Any], key: str, value: Any) -> None:
    document.pop(key, None)
    path = _pointer(key)
    assert json_equal(apply_json_patch(document, [add(path, value), expect(path, value), remove(path)]), document)


@settings(max_examples=300, deadline=None)
@given(document=_objects, key=_keys, other=_keys)
def test_move_there_and_back_is_identity(document: dict[str, Any], key: str, other: str) -> None:
    if key not in document or other in document:
        return
    patch = [move(_pointer(key), _pointer(other)), move(_pointer(other), _pointer(key))]
    assert json_equal(apply_json_patch(document, patch), document)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(_json, max_size=5), index=st.integers(-6, 6), value=_json)
def test_array_insert_then_remove_restores(items: list[Any], index: int, value: Any) -> None:
    size = len(items) + 1  # positions after inserting
    if not -size <= index < size:
        with pytest.raises(PatchError, match="invalid index"):
            apply_json_patch({"a": items}, [add(f"/a/{index}", value)])
        return
    inserted = apply_json_patch({"a": items}, [add(f"/a/{index}", value)])
    position = index + size if index < 0 else index
    assert json_equal(inserted["a"][position], value)
    assert json_equal(apply_json_patch(inserted, [remove(f"/a/{position}")]), {"a": items})


@settings(max_examples=200, deadline=None)
@given(document=_json, value=_json)
def test_replace_root_and_test_root(document: Any, value: Any) -> None:
    assert json_equal(apply_json_patch(document, [replace("", value), expect("", value)]), value)
