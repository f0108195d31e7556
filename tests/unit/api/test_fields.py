"""Field selector parsing, escaping and matching, mostly upstream's own tables."""

from __future__ import annotations

import pytest

from kubelite.api import fields
from kubelite.api.fields import FieldRequirement, FieldSelector, FieldSelectorError, FieldSelectorOperator

EQ = FieldSelectorOperator.EQUALS
NE = FieldSelectorOperator.NOT_EQUALS


# upstream TestSelectorParse: good strings print back unchanged
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x=a,y=b,z=c", id="equals"),
        pytest.param("", id="empty"),
        pytest.param("x!=a,y=b", id="not-equals"),
        pytest.param(r"x=a||y\=b", id="escaped-equals"),
        pytest.param(r"x=a\=\=b", id="escaped-equals-twice"),
    ],
)
def test_parse_round_trips(text: str) -> None:
    assert str(fields.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("x=a||y=b", "invalid field selector: unescaped character in value: 61", id="bare-equals"),
        pytest.param("x==a==b", "invalid field selector: unescaped character in value: 61", id="chained"),
        pytest.param("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'", id="term-without-operator"),
        pytest.param("x in (a)", "invalid selector: 'x in (a)'; can't understand 'x in (a)'", id="set-syntax"),
        pytest.param("x", "invalid selector: 'x'; can't understand 'x'", id="bare-field"),
        pytest.param(r"x=\a", r"invalid field selector: invalid escape sequence: \a", id="unknown-escape"),
        pytest.param("x=a\\", "invalid field selector: invalid escape sequence: \\", id="orphan-backslash"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FieldSelectorError) as caught:
        fields.parse(text)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a=avalue", [FieldRequirement("a", EQ, "avalue")], id="equals"),
        pytest.param(
            "a=avalue,b==bvalue,c!=cvalue",
            [
                FieldRequirement("a", EQ, "avalue"),
                FieldRequirement("b", EQ, "bvalue"),
                FieldRequirement("c", NE, "cvalue"),
            ],
            id="three-operators",
        ),
        pytest.param("a=a,", [FieldRequirement("a", EQ, "a")], id="trailing-comma"),
        pytest.param(",a=a", [FieldRequirement("a", EQ, "a")], id="leading-comma"),
        pytest.param(
            r"k=\,,k2=v2", [FieldRequirement("k2", EQ, "v2"), FieldRequirement("k", EQ, ",")], id="escaped-comma"
        ),
        pytest.param(
            r"k=\\,k2=v2", [FieldRequirement("k2", EQ, "v2"), FieldRequirement("k", EQ, "\\")], id="backslash"
        ),
        pytest.param(
            r"k=\\\,,k2=v2", [FieldRequirement("k2", EQ, "v2"), FieldRequirement("k", EQ, "\\,")], id="backslash-comma"
        ),
        pytest.param(
            "함=수,목=록", [FieldRequirement("목", EQ, "록"), FieldRequirement("함", EQ, "수")], id="multibyte"
        ),
        # Terms are sorted by their raw text ("k2=" before "k=\,"), so the string form is deterministic.
        pytest.param("x=a,a=x", [FieldRequirement("a", EQ, "x"), FieldRequirement("x", EQ, "a")], id="sorted"),
        pytest.param("spec.nodeName=", [FieldRequirement("spec.nodeName", EQ, "")], id="empty-value"),
        pytest.param("a!=b", [FieldRequirement("a", NE, "b")], id="not-equals"),
        # No escaping in field names: the first operator splits the term.
        pytest.param(r"a\=b", [FieldRequirement("a\\", EQ, "b")], id="backslash-in-field"),
    ],
)
def test_parse_requirements(text: str, expected: list[FieldRequirement]) -> None:
    assert list(fields.parse(text).requirements) == expected


# upstream TestEscapeValue
@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("", "", id="empty"),
        pytest.param("a", "a", id="plain"),
        pytest.param("=", r"\=", id="equals"),
        pytest.param(",", r"\,", id="comma"),
        pytest.param("\\", "\\\\", id="backslash"),
        pytest.param("\\=\\,\\", r"\\\=\\\,\\", id="all"),
    ],
)
def test_escape_round_trip(raw: str, escaped: str) -> None:
    assert fields.escape_value(raw) == escaped
    assert fields.unescape_value(escaped) == raw


@pytest.mark.parametrize(
    "value", [pytest.param("\\", id="orphan"), pytest.param("\\\\\\", id="odd"), pytest.param(r"\a", id="unknown")]
)
def test_unescape_rejects_bad_sequences(value: str) -> None:
    with pytest.raises(FieldSelectorError, match="invalid escape sequence"):
        fields.unescape_value(value)


FIELD_SET = {"foo": "bar", "baz": "blah", "complex": "=value\\,\\"}


# upstream TestSelectorMatches
@pytest.mark.parametrize(
    ("text", "field_set", "expected"),
    [
        pytest.param("", {"x": "y"}, True, id="empty"),
        pytest.param("x=y", {"x": "y"}, True, id="equals"),
        pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="two"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="not-equals"),
        pytest.param("notin=in", {"notin": "in"}, True, id="keywords"),
        pytest.param("x=y", {"x": "z"}, False, id="other-value"),
        pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="one-of-two"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "w"}, False, id="not-equals-hit"),
        pytest.param("foo=bar", FIELD_SET, True, id="set-foo"),
        pytest.param("foo=bar,baz=blah", FIELD_SET, True, id="set-both"),
        pytest.param(r"foo=bar,baz=blah,complex=\=value\\\,\\", FIELD_SET, True, id="set-escaped"),
        pytest.param("foo=blah", FIELD_SET, False, id="set-wrong"),
        pytest.param("foo=bar,foobar=bar,baz=blah", FIELD_SET, False, id="set-extra"),
        # An absent field reads as "" (upstream Set.Get): unscheduled pods have spec.nodeName "".
        pytest.param("spec.nodeName=", {}, True, id="absent-equals-empty"),
        pytest.param("spec.nodeName!=", {}, False, id="absent-not-empty"),
        pytest.param("spec.nodeName!=n1", {}, True, id="absent-not-equal"),
    ],
)
def test_matches(text: str, field_set: dict[str, str], expected: bool) -> None:
    assert fields.parse(text).matches(field_set) is expected


def test_everything_and_nothing() -> None:
    assert fields.everything().matches({"x": "y"})
    assert fields.everything().empty()
    assert not fields.nothing().matches({})
    assert not fields.nothing().empty()
    assert fields.and_selectors(fields.nothing(), fields.one_term_equal("a", "b")).matches_nothing


@pytest.mark.parametrize(
    ("selector", "field_set", "expected"),
    [
        pytest.param(fields.selector_from_set({}), {"foo": "bar"}, True, id="empty-set"),
        pytest.param(fields.selector_from_set(None), {"foo": "bar"}, True, id="nil-set"),
        pytest.param(fields.selector_from_set({"foo": "bar"}), {"foo": "bar", "baz": "blah"}, True, id="one"),
        pytest.param(fields.selector_from_set({"foo": "=blah"}), {"foo": "bar"}, False, id="not-parsed"),
        pytest.param(fields.one_term_equal("x", "y"), {"x": "y"}, True, id="one-term-equal"),
        pytest.param(fields.one_term_equal("x", "y"), {"x": "z"}, False, id="one-term-equal-miss"),
        pytest.param(fields.one_term_not_equal("x", "y"), {"x": "z"}, True, id="one-term-not-equal"),
        pytest.param(
            fields.and_selectors(fields.one_term_equal("a", "1"), fields.one_term_not_equal("b", "2")),
            {"a": "1", "b": "3"},
            True,
            id="and",
        ),
    ],
)
def test_constructed_selectors(selector: FieldSelector, field_set: dict[str, str], expected: bool) -> None:
    assert selector.matches(field_set) is expected


def test_selector_from_set_string_is_parseable() -> None:
    selector = fields.selector_from_set({"b": "x,y", "a": "1=2"})

    assert str(selector) == r"a=1\=2,b=x\,y"
    assert fields.parse(str(selector)) == selector


# upstream TestRequiresExactMatch
@pytest.mark.parametrize(
    ("selector", "field", "expected"),
    [
        pytest.param(fields.selector_from_set({}), "test", None, id="empty"),
        pytest.param(fields.one_term_equal("", ""), "test", None, id="empty-term"),
        pytest.param(fields.one_term_equal("a", "b"), "test", None, id="other-field"),
        pytest.param(fields.one_term_equal("test", "b"), "test", "b", id="equal"),
        pytest.param(fields.one_term_equal("test", ""), "test", "", id="equal-empty"),
        pytest.param(fields.one_term_not_equal("test", "b"), "test", None, id="not-equal"),
        pytest.param(
            fields.and_selectors(fields.one_term_equal("", ""), fields.one_term_equal("test", "b")),
            "test",
            "b",
            id="second-term",
        ),
        pytest.param(fields.parse("test!=a,test=b"), "test", "b", id="after-not-equal"),
    ],
)
def test_requires_exact_match(selector: FieldSelector, field: str, expected: str | None) -> None:
    assert selector.requires_exact_match(field) == expected


def _rename_a(field: str, value: str) -> tuple[str, str]:
    return ("e", "f") if field == "a" else (field, value)


def _drop_c(field: str, value: str) -> tuple[str, str]:
    return ("", "") if field == "c" else (field, value)


# upstream TestTransform
@pytest.mark.parametrize(
    ("text", "transform", "expected", "empty"),
    [
        pytest.param("", lambda f, v: (f, v), "", True, id="empty"),
        pytest.param("a=b,c=d", lambda f, v: (f, v), "a=b,c=d", False, id="no-op"),
        pytest.param("a=b,c=d", _rename_a, "e=f,c=d", False, id="rename"),
        pytest.param("a=b", lambda f, v: ("", ""), "", True, id="drop-all"),
        pytest.param("a=b,c=d,e=f", _drop_c, "a=b,e=f", False, id="drop-one"),
    ],
)
def test_parse_and_transform(text: str, transform: fields.Transform, expected: str, empty: bool) -> None:
    selector = fields.parse_and_transform(text, transform)

    assert str(selector) == expected
    assert selector.empty() is empty


def test_transform_error_propagates() -> None:
    def reject(field: str, value: str) -> tuple[str, str]:
        raise FieldSelectorError(f'field label not supported: "{field}"')

    with pytest.raises(FieldSelectorError, match="field label not supported"):
        fields.parse_and_transform("spec.foo=bar", reject)


def test_fields_lists_referenced_fields_once() -> None:
    selector = fields.parse("status.phase!=Failed,spec.nodeName=n1,status.phase!=Succeeded")

    assert selector.fields() == ("spec.nodeName", "status.phase")
