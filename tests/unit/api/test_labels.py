"""Label selector parsing, matching and LabelSelector conversion, mostly upstream's own tables.

Error texts marked "kubectl" were checked against kubectl v1.32.4, whose
``kubectl set selector --local -f svc.json '<selector>'`` prints upstream's parse error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kubelite.api import labels
from kubelite.api.labels import LabelSelectorError, Operator, Requirement, Selector, new_requirement
from kubelite.api.validation import ErrorType, Path


def req(key: str, op: Operator, *values: str) -> Requirement:
    return new_requirement(key, op, values)


# upstream TestSelectorParse: these print back as the input without spaces
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x=a,y=b,z=c", id="equals"),
        pytest.param("", id="empty"),
        pytest.param("x!=a,y=b", id="not-equals"),
        pytest.param("x=", id="empty-value"),
        pytest.param("x= ", id="empty-value-space"),
        pytest.param("x=,z= ", id="two-empty-values"),
        pytest.param("x= ,z= ", id="spaces"),
        pytest.param("!x", id="does-not-exist"),
        pytest.param("x>1", id="gt"),
        pytest.param("x>1,z<5", id="gt-lt"),
    ],
)
def test_parse_round_trips(text: str) -> None:
    assert str(labels.parse(text)) == text.replace(" ", "")


def test_parse_is_deterministic() -> None:
    assert str(labels.parse("x=a,a=x")) == str(labels.parse("a=x,x=a")) == "a=x,x=a"


# upstream TestSetSelectorParser
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("\rx", (req("x", Operator.EXISTS),), id="leading-cr"),
        pytest.param(
            "this-is-a-dns.domain.com/key-with-dash",
            (req("this-is-a-dns.domain.com/key-with-dash", Operator.EXISTS),),
            id="prefixed-key",
        ),
        pytest.param(
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            (req("0.1.2.domain/99", Operator.NOT_IN, "10.10.100.1", "tick.tack.clock"),),
            id="notin-dotted",
        ),
        pytest.param("foo  in\t (abc)", (req("foo", Operator.IN, "abc"),), id="tabs"),
        pytest.param("x notin\n (abc)", (req("x", Operator.NOT_IN, "abc"),), id="newline"),
        pytest.param("x in (abc,)", (req("x", Operator.IN, "", "abc"),), id="trailing-comma"),
        pytest.param("x in (abc,abc)", (req("x", Operator.IN, "abc"),), id="duplicates"),
        pytest.param("x in ()", (req("x", Operator.IN, ""),), id="empty-set"),
        pytest.param("x in (a,,)", (req("x", Operator.IN, "", "a"),), id="double-comma-close"),
        pytest.param("x in (a,,,,,,)", (req("x", Operator.IN, "", "a"),), id="many-commas"),
        pytest.param("x in (a,,a,,a,,a,,)", (req("x", Operator.IN, "", "a"),), id="repeated"),
        pytest.param(
            "x notin (abc,,def),bar,z in (),w",
            (
                req("bar", Operator.EXISTS),
                req("w", Operator.EXISTS),
                req("x", Operator.NOT_IN, "", "abc", "def"),
                req("z", Operator.IN, ""),
            ),
            id="mixed",
        ),
        pytest.param("x,y in (a)", (req("x", Operator.EXISTS), req("y", Operator.IN, "a")), id="sorted-by-key"),
        pytest.param("x>1", (req("x", Operator.GREATER_THAN, "1"),), id="gt"),
        pytest.param("x<7", (req("x", Operator.LESS_THAN, "7"),), id="lt"),
        pytest.param(
            "x=a,y!=b,z in (h,i,j)",
            (req("x", Operator.EQUALS, "a"), req("y", Operator.NOT_EQUALS, "b"), req("z", Operator.IN, "h", "i", "j")),
            id="three",
        ),
        pytest.param("x notin ( )", (req("x", Operator.NOT_IN, ""),), id="notin-space"),
        pytest.param("x notin (, a)", (req("x", Operator.NOT_IN, "", "a"),), id="leading-comma"),
        pytest.param("a ", (req("a", Operator.EXISTS),), id="trailing-space"),
        pytest.param(
            "a in (x,y,notin, z,in)",
            (req("a", Operator.IN, "in", "notin", "x", "y", "z"),),
            id="keywords-as-values",
        ),
        pytest.param("notin=in", (req("notin", Operator.EQUALS, "in"),), id="keywords-exact"),
        pytest.param("x==a", (req("x", Operator.DOUBLE_EQUALS, "a"),), id="double-equals"),
    ],
)
def test_parse_requirements(text: str, expected: tuple[Requirement, ...]) -> None:
    assert labels.parse(text).requirements == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("x=a||y=b", None, id="or"),
        pytest.param("x,,y", "found ',', expected: identifier after ','", id="double-comma"),
        pytest.param(",x,y", "found ',', expected: !, identifier, or 'end of string'", id="leading-comma"),
        pytest.param(
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
            id="typo",
        ),
        pytest.param("a in (xyz),", "found '', expected: identifier after ','", id="trailing-comma"),  # kubectl
        pytest.param("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'", id="missing-comma"),
        pytest.param(
            "a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'", id="no-comma"
        ),  # kubectl
        pytest.param("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier", id="open"),
        pytest.param(
            "a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt", id="paren"
        ),
        pytest.param("(", "found '(', expected: !, identifier, or 'end of string'", id="opar"),
        pytest.param("x==a==b", "found '==', expected: ',' or 'end of string'", id="chained"),  # kubectl
        pytest.param("!x=a", "found '=', expected: ',' or 'end of string'", id="not-with-value"),
        pytest.param("x in", "unable to parse requirement: found '' expected: '('", id="in-without-set"),
        pytest.param("!", "unable to parse requirement: found '', expected: identifier", id="bare-not"),
        pytest.param(
            "x<a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="lt-not-integer",
        ),  # kubectl
        pytest.param(
            "x>9223372036854775808",
            'unable to parse requirement: values[0]: Invalid value: "9223372036854775808": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="gt-beyond-int64",
        ),
        pytest.param(
            "a/b/c",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')",
            id="bad-key",
        ),  # kubectl
        pytest.param(
            "x=a b",
            "found 'b', expected: ',' or 'end of string'",
            id="space-in-value",
        ),
        # A NUL ends a token in upstream's byte lexer: "a\0b" lexes as "a" "b".
        pytest.param(
            "a\0b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt", id="nul"
        ),
    ],
)
def test_parse_errors(text: str, message: str | None) -> None:
    with pytest.raises(LabelSelectorError) as caught:
        labels.parse(text)

    if message is not None:
        assert str(caught.value) == message


def test_parse_value_error_carries_field_errors() -> None:
    with pytest.raises(LabelSelectorError) as caught:
        labels.parse("x=a||y", path=Path("spec", "selector"))

    [error] = caught.value.errors
    assert error.type is ErrorType.INVALID
    assert error.field == "spec.selector.values[0][x]"
    assert error.bad_value == "a||y"


# upstream TestSelectorMatches
@pytest.mark.parametrize(
    ("text", "label_set", "expected"),
    [
        pytest.param("", {"x": "y"}, True, id="empty"),
        pytest.param("x=y", {"x": "y"}, True, id="equals"),
        pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="two-equals"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="not-equals"),
        pytest.param("notin=in", {"notin": "in"}, True, id="keywords"),
        pytest.param("x", {"x": "z"}, True, id="exists"),
        pytest.param("!x", {"y": "z"}, True, id="does-not-exist"),
        pytest.param("x>1", {"x": "2"}, True, id="gt"),
        pytest.param("x<1", {"x": "0"}, True, id="lt"),
        pytest.param("x=z", {}, False, id="missing"),
        pytest.param("x=y", {"x": "z"}, False, id="other-value"),
        pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="one-of-two"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "w"}, False, id="not-equals-hit"),
        pytest.param("x", {"y": "z"}, False, id="exists-missing"),
        pytest.param("!x", {"x": "z"}, False, id="does-not-exist-present"),
        pytest.param("x>1", {"x": "0"}, False, id="gt-smaller"),
        pytest.param("x<1", {"x": "2"}, False, id="lt-larger"),
        pytest.param("x>1", {"x": "v2"}, False, id="gt-not-a-number"),
        pytest.param("x>1", {}, False, id="gt-missing"),
        pytest.param("x<1", {"x": "-5"}, True, id="lt-negative"),
        pytest.param("x>1", {"x": "+2"}, True, id="gt-plus-sign"),
        pytest.param("x>1", {"x": "9" * 5000}, False, id="gt-beyond-int64"),
        pytest.param("x>1", {"x": "²"}, False, id="gt-unicode-digit"),
        pytest.param("x notin ()", {"y": ""}, True, id="notin-missing-key"),
        pytest.param("x in ()", {"x": ""}, True, id="in-empty-value"),
        pytest.param("x in ()", {"y": "baz"}, False, id="in-missing"),
        pytest.param("x!=", {}, True, id="not-empty-missing-key"),
        pytest.param("x!=", {"x": ""}, False, id="not-empty-empty-value"),
        pytest.param("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True, id="label-set"),
        pytest.param("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False, id="extra-key"),
    ],
)
def test_matches(text: str, label_set: Mapping[str, str], expected: bool) -> None:
    assert labels.parse(text).matches(label_set) is expected


def test_everything_and_nothing() -> None:
    assert labels.everything().matches({"x": "y"})
    assert labels.everything().empty()
    assert not labels.nothing().matches({})
    assert not labels.nothing().empty()
    assert labels.nothing().matches_nothing
    assert labels.nothing().add(req("a", Operator.EXISTS)).matches_nothing


# upstream TestRequirementConstructor
@pytest.mark.parametrize(
    ("key", "op", "values", "fields"),
    [
        pytest.param("x1", "in", [], ["values"], id="in-empty"),
        pytest.param("x2", "notin", [], ["values"], id="notin-empty"),
        pytest.param("x3", "in", ["foo"], [], id="in"),
        pytest.param("x4", "notin", ["foo"], [], id="notin"),
        pytest.param("x5", "=", ["bar", "foo"], ["values"], id="equals-two-values"),
        pytest.param("x6", "exists", [], [], id="exists"),
        pytest.param("x7", "!", [], [], id="does-not-exist"),
        pytest.param("x8", "exists", ["foo"], ["values"], id="exists-with-value"),
        pytest.param("x11", "gt", ["1"], [], id="gt"),
        pytest.param("x12", "lt", ["6"], [], id="lt"),
        pytest.param("x13", "gt", [], ["values"], id="gt-without-value"),
        pytest.param("x14", "gt", ["bar"], ["values[0]"], id="gt-not-integer"),
        pytest.param("x15", "lt", ["bar"], ["values[0]"], id="lt-not-integer"),
        pytest.param("a" * 254, "exists", [], ["key"], id="key-too-long"),
        pytest.param("x16", "=", ["a" * 254], ["values[0][x16]"], id="value-too-long"),
        pytest.param("x17", "=", ["a b"], ["values[0][x17]"], id="value-with-space"),
        pytest.param("x18", "unsupportedOp", [], ["operator"], id="unsupported-operator"),
    ],
)
def test_new_requirement(key: str, op: str, values: list[str], fields: list[str]) -> None:
    if not fields:
        requirement = new_requirement(key, op, values)
        assert requirement.values == tuple(values)
        return
    with pytest.raises(LabelSelectorError) as caught:
        new_requirement(key, op, values)
    assert [e.field for e in caught.value.errors] == fields


@pytest.mark.parametrize(
    ("key", "op", "values", "message"),
    [
        pytest.param(
            "x18",
            "unsupportedOp",
            [],
            'operator: Unsupported value: "unsupportedOp": supported values: '
            '"in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!"',
            id="unsupported",
        ),
        pytest.param(
            "x5",
            "=",
            ["bar", "foo"],
            'values: Invalid value: ["bar","foo"]: exact-match compatibility requires one single value',
            id="json-bad-value",
        ),
        pytest.param(
            "k",
            "in",
            [],
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
            id="nil-values",
        ),
        pytest.param(
            "bad key",
            "gt",
            ["x", "y"],
            "[key: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), "
            "values: Invalid value: [\"x\",\"y\"]: for 'Gt', 'Lt' operators, exactly one value is required, "
            "values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer, "
            "values[1]: Invalid value: \"y\": for 'Gt', 'Lt' operators, the value must be an integer]",
            id="aggregate",
        ),
    ],
)
def test_new_requirement_messages(key: str, op: str, values: list[str], message: str) -> None:
    with pytest.raises(LabelSelectorError) as caught:
        new_requirement(key, op, values)

    assert str(caught.value) == message


# upstream TestToString
@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        pytest.param(
            [req("x", Operator.IN, "abc", "def"), req("y", Operator.NOT_IN, "jkl"), req("z", Operator.EXISTS)],
            "x in (abc,def),y notin (jkl),z",
            id="sets",
        ),
        pytest.param(
            [
                req("x", Operator.NOT_IN, "abc", "def"),
                req("y", Operator.NOT_EQUALS, "jkl"),
                req("z", Operator.DOES_NOT_EXIST),
            ],
            "x notin (abc,def),y!=jkl,!z",
            id="negations",
        ),
        pytest.param(
            [req("x", Operator.NOT_IN, "abc"), req("y", Operator.IN, "jkl", "mno"), req("z", Operator.NOT_IN, "")],
            "x notin (abc),y in (jkl,mno),z notin ()",
            id="empty-value",
        ),
        pytest.param(
            [
                req("x", Operator.EQUALS, "abc"),
                req("y", Operator.DOUBLE_EQUALS, "jkl"),
                req("z", Operator.NOT_EQUALS, "a"),
                req("z", Operator.EXISTS),
            ],
            "x=abc,y==jkl,z!=a,z",
            id="exact",
        ),
        pytest.param(
            [req("x", Operator.GREATER_THAN, "2"), req("y", Operator.LESS_THAN, "8"), req("z", Operator.EXISTS)],
            "x>2,y<8,z",
            id="numeric",
        ),
        pytest.param([req("x", Operator.IN, "b", "a")], "x in (a,b)", id="values-print-sorted"),
    ],
)
def test_string_form(requirements: list[Requirement], expected: str) -> None:
    assert str(Selector(requirements)) == expected


def test_add_keeps_key_order() -> None:
    selector = Selector([req("key", Operator.IN, "value")]).add(req("a", Operator.EQUALS, "b"))

    assert str(selector) == "a=b,key in (value)"


# upstream TestRequiresExactMatch
@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        pytest.param("key in (value)", "key", "value", id="in-one"),
        pytest.param("key in (value,value2)", "key", None, id="in-two"),
        pytest.param("key in (value,value1),key2 in (value2)", "key2", "value2", id="second-key"),
        pytest.param("key=value", "key", "value", id="equals"),
        pytest.param("key==value", "key", "value", id="double-equals"),
        pytest.param("key!=value", "key", None, id="not-equals"),
        pytest.param("key", "key", None, id="exists"),
        pytest.param("other=value", "key", None, id="absent"),
    ],
)
def test_requires_exact_match(text: str, label: str, expected: str | None) -> None:
    assert labels.parse(text).requires_exact_match(label) == expected


@pytest.mark.parametrize(
    ("label_set", "expected"),
    [
        pytest.param({}, "", id="empty"),
        pytest.param({"app": "foo"}, "app=foo", id="one"),
        pytest.param({"app": "foo", "a": "b"}, "a=b,app=foo", id="sorted"),
    ],
)
def test_selector_from_set(label_set: dict[str, str], expected: str) -> None:
    assert str(labels.selector_from_set(label_set)) == expected
    assert str(labels.validated_selector_from_set(label_set)) == expected


def test_validated_selector_from_set_rejects_bad_values() -> None:
    # upstream TestValidatedSelectorFromSet
    value = "axahm2EJ8Phiephe2eixohbee9eGeiyees1thuozi1xoh0GiuH3diewi8iem7Nui"
    with pytest.raises(LabelSelectorError) as caught:
        labels.validated_selector_from_set({"Key": value})

    [error] = caught.value.errors
    assert (error.field, error.bad_value) == ("values[0][Key]", value)
    assert labels.selector_from_set({"Key": value}).matches({"Key": value})  # not validated


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(None, None, id="nil-selects-nothing"),
        pytest.param({}, "", id="empty-selects-everything"),
        pytest.param({"matchLabels": {}, "matchExpressions": []}, "", id="empty-parts"),
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="match-labels"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "team", "operator": "Exists", "values": []},
                ],
            },
            "app=web,!canary,env notin (dev),team,tier in (be,fe)",
            id="expressions",
        ),
    ],
)
def test_from_label_selector(obj: dict[str, Any] | None, expected: str | None) -> None:
    selector = labels.from_label_selector(obj)

    if expected is None:
        assert selector.matches_nothing
    else:
        assert str(selector) == expected


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Foo"}]},
            '"Foo" is not a valid label selector operator',
            id="unknown-operator",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
            id="in-without-values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
            id="exists-with-values",
        ),
        pytest.param(
            {"matchLabels": {"a": "-b"}},
            'values[0][a]: Invalid value: "-b": a valid label must be an empty string or consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            id="bad-label-value",
        ),
        pytest.param({"matchLabels": ["a"]}, "matchLabels must be an object and matchExpressions a list", id="types"),
    ],
)
def test_from_label_selector_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(LabelSelectorError) as caught:
        labels.from_label_selector(obj)

    assert str(caught.value) == message


def test_from_label_selector_matches_like_the_string_form() -> None:
    obj = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}
    selector = labels.from_label_selector(obj)

    assert selector == labels.parse("app=web,tier in (fe)")
    assert selector.matches({"app": "web", "tier": "fe", "x": "y"})
    assert not selector.matches({"app": "web"})
