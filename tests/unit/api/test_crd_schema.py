"""kubelite.api.crd_schema: CRD structural schemas, pruning, defaulting and validation.

Cases and expected messages come from upstream's tests where they exist
(k8s.io/apiextensions-apiserver pkg/apiserver/{validation,schema,schema/pruning,schema/defaulting,
schema/listtype}, pkg/apis/apiextensions/validation) and from the upstream sources otherwise.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.crd_schema import (
    GoRegexpError,
    check_structural,
    check_structural_errors,
    compile_go_regexp,
    default,
    prune,
    uses_cel,
    validate,
    validate_list_types,
)
from kubelite.api.validation import ErrorType, Path

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def obj_schema(**properties: Any) -> dict[str, Any]:
    """A root object schema with the given properties."""
    return {"type": "object", "properties": properties}


def messages(obj: Any, schema: dict[str, Any], **kwargs: Any) -> list[str]:
    return [err.error() for err in validate(obj, schema, **kwargs)]


# ---------------------------------------------------------------------------------------------------
# Go regular expressions
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        pytest.param("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-name", True, id="dns-label"),
        pytest.param("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "my-name-", False, id="dns-label-trailing-dash"),
        # Go's $ without (?m) is the end of the text: a trailing newline does not match (Python's $ would).
        pytest.param("^abc$", "abc\n", False, id="dollar-is-end-of-text"),
        pytest.param("(?m)^abc$", "x\nabc\ny", True, id="multiline"),
        pytest.param(r"\d", "\u0663", False, id="digit-class-is-ascii"),
        pytest.param(r"\w+", "é", False, id="word-class-is-ascii"),
        pytest.param(r"\bfoo\b", "a foo b", True, id="word-boundary"),
        pytest.param(r"\bfoo\b", "éfooé", True, id="word-boundary-ascii"),
        pytest.param("(?i)kelvin", "\u212aELVIN", True, id="fold-kelvin-sign"),
        pytest.param("(?i)[^k]", "K", False, id="fold-negated-class"),
        pytest.param("a(?i)b", "aB", True, id="flags-from-here-on"),
        pytest.param("a(?i)b", "AB", False, id="flags-not-backwards"),
        pytest.param("(?i:a)b", "AB", False, id="scoped-flags"),
        pytest.param("(?s).", "\n", True, id="dot-nl"),
        pytest.param(".", "\n", False, id="dot-no-nl"),
        pytest.param("[^a]", "\n", True, id="negated-class-matches-newline"),
        pytest.param("x{,3}", "x{,3}", True, id="brace-without-min-is-literal"),
        pytest.param("x{,3}", "x", False, id="brace-without-min-is-not-a-repeat"),
        pytest.param(r"\Qa.b\E", "a.b", True, id="quoted-literal"),
        pytest.param(r"\Qa.b\E", "axb", False, id="quoted-literal-dot"),
        pytest.param(r"[[:alpha:]]+\x41\101", "zAA", True, id="posix-hex-octal"),
        pytest.param(r"\pL", "ж", True, id="unicode-category"),
        pytest.param(r"\PL", "ж", False, id="negated-unicode-category"),
        pytest.param(r"\p{Nd}", "\u0663", True, id="unicode-digit"),
        pytest.param("(?P<year>[0-9]{4})-(?<m>[0-9]{2})", "2024-05", True, id="named-captures"),
        pytest.param("^*", "", True, id="repeated-anchor"),
        pytest.param("a*(?i)*", "aa", True, id="repeat-after-flags-group"),
    ],
)
def test_go_regexp_matches_like_go(pattern: str, text: str, matches: bool) -> None:
    assert compile_go_regexp(pattern).search(text) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("+", "missing argument to repetition operator: `+`", id="repeat-nothing"),
        pytest.param("a|*", "missing argument to repetition operator: `*`", id="repeat-after-bar"),
        pytest.param("(abc", "missing closing ): `(abc`", id="open-paren"),
        pytest.param("abc)", "unexpected ): `abc)`", id="close-paren"),
        pytest.param("x[abc", "missing closing ]: `[abc`", id="open-bracket"),
        pytest.param("a**", "invalid nested repetition operator: `**`", id="double-star"),
        pytest.param("a++", "invalid nested repetition operator: `++`", id="possessive"),
        pytest.param("(?!x)", "invalid or unsupported Perl syntax: `(?!`", id="lookahead"),
        pytest.param("(?i", "invalid or unsupported Perl syntax: `(?i`", id="unterminated-flags"),
        pytest.param("(?<=x)y", "invalid named capture: `(?<=x)y`", id="lookbehind"),
        pytest.param("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`", id="bad-capture-name"),
        pytest.param(r"(a)\1", r"invalid escape sequence: `\1`", id="backreference"),
        pytest.param(r"a\Z", r"invalid escape sequence: `\Z`", id="python-end-anchor"),
        pytest.param(r"\x{zz}", r"invalid escape sequence: `\x{z`", id="bad-hex"),
        pytest.param("a{2,1}", "invalid repeat count: `{2,1}`", id="min-over-max"),
        pytest.param("a{1001}", "invalid repeat count: `{1001}`", id="repeat-too-large"),
        pytest.param("(a{500}){3}", "invalid repeat count: `{3}`", id="nested-repeat-too-large"),
        pytest.param("[z-a]", "invalid character class range: `z-a`", id="reversed-range"),
        pytest.param("[[:word2:]]", "invalid character class range: `[:word2:]`", id="unknown-posix-class"),
        pytest.param(r"\p{Foo}", r"invalid character class range: `\p{Foo}`", id="unknown-unicode-class"),
        pytest.param("\\", "trailing backslash at end of expression: ``", id="trailing-backslash"),
    ],
)
def test_go_regexp_errors_are_gos(pattern: str, message: str) -> None:
    with pytest.raises(GoRegexpError) as caught:
        compile_go_regexp(pattern)
    assert str(caught.value) == f"error parsing regexp: {message}"


def test_go_regexp_with_script_class_compiles_but_is_not_evaluated() -> None:
    compiled = compile_go_regexp(r"^\p{Greek}+$")
    assert compiled.python is None
    assert compiled.search("αβγ") is None
    schema = obj_schema(word={"type": "string", "pattern": r"^\p{Greek}+$"})
    assert messages({"word": "latin"}, schema) == []


# ---------------------------------------------------------------------------------------------------
# validate: kube-openapi semantics and messages
# ---------------------------------------------------------------------------------------------------

INT_OR_STRING_ANY_OF = {
    "nullable": True,
    "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}],
}
ENUM_SCHEMA = obj_schema(
    field={
        "type": "object",
        "required": ["nestedint", "nestedstring"],
        "properties": {
            "nestedint": {"type": "integer", "enum": [1, 2]},
            "nestedstring": {"type": "string", "enum": ["a", "b"]},
        },
    }
)


@pytest.mark.parametrize(
    ("schema", "obj", "expected"),
    [
        # upstream TestValidateCustomResource "!nullable"
        pytest.param(
            obj_schema(field={"type": "object"}),
            {"field": None},
            ['field: Invalid value: "null": field in body must be of type object: "null"'],
            id="not-nullable-null",
        ),
        pytest.param(
            obj_schema(field={"type": "object"}),
            {"field": 1.2},
            ['field: Invalid value: "number": field in body must be of type object: "number"'],
            id="number-for-object",
        ),
        pytest.param(obj_schema(field={"type": "object", "nullable": True}), {"field": None}, [], id="nullable-null"),
        # "nullable, x-kubernetes-int-or-string and user-provided anyOf"
        pytest.param(obj_schema(field=INT_OR_STRING_ANY_OF), {"field": 42}, [], id="int-or-string-int"),
        pytest.param(obj_schema(field=INT_OR_STRING_ANY_OF), {"field": "foo"}, [], id="int-or-string-string"),
        pytest.param(obj_schema(field=INT_OR_STRING_ANY_OF), {"field": None}, [], id="int-or-string-nullable"),
        pytest.param(
            obj_schema(field=INT_OR_STRING_ANY_OF),
            {"field": True},
            [
                'field: Invalid value: "boolean": field in body must be of type integer,string: "boolean"',
                '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
                'field: Invalid value: "boolean": field in body must be of type integer: "boolean"',
            ],
            id="int-or-string-bool",
        ),
        # "nullable, x-kubernetes-int-or-string and user-provided allOf"
        pytest.param(
            obj_schema(
                field={
                    "nullable": True,
                    "x-kubernetes-int-or-string": True,
                    "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}],
                }
            ),
            {"field": 1.2},
            [
                'field: Invalid value: "number": field in body must be of type integer,string: "number"',
                '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)',
                'field: Invalid value: "number": field in body must be of type integer: "number"',
                '<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated',
            ],
            id="int-or-string-allof-number",
        ),
        # "invalid regex"
        pytest.param(
            obj_schema(field={"type": "string", "pattern": "+"}),
            {"field": "foo"},
            [
                'field: Invalid value: "foo": field in body should match \'+, but pattern is invalid: '
                "error parsing regexp: missing argument to repetition operator: `+`'"
            ],
            id="invalid-regex",
        ),
        # "required field"
        pytest.param(
            {
                "type": "object",
                "required": ["field"],
                "properties": {"field": {"type": "object", "required": ["nested"], "properties": {"nested": {}}}},
            },
            {"test": "a"},
            ["field: Required value"],
            id="required",
        ),
        pytest.param(
            {
                "type": "object",
                "required": ["field"],
                "properties": {"field": {"type": "object", "required": ["nested"], "properties": {"nested": {}}}},
            },
            {"field": {}},
            ["field.nested: Required value"],
            id="required-nested",
        ),
        # "enum"
        pytest.param(
            ENUM_SCHEMA,
            {"field": {"nestedint": "x", "nestedstring": True}},
            [
                'field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string"',
                'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
                'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: '
                '"boolean"',
                'field.nestedstring: Unsupported value: true: supported values: "a", "b"',
            ],
            id="enum",
        ),
        # the brief's examples
        pytest.param(
            obj_schema(spec=obj_schema(replicas={"type": "integer"})),
            {"spec": {"replicas": "3"}},
            ['spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'],
            id="integer-as-string",
        ),
        pytest.param(
            obj_schema(spec=obj_schema(size={"type": "string", "enum": ["S", "M", "L"]})),
            {"spec": {"size": "XL"}},
            ['spec.size: Unsupported value: "XL": supported values: "S", "M", "L"'],
            id="enum-string",
        ),
        # numbers
        pytest.param(
            obj_schema(n={"type": "integer"}),
            {"n": True},
            ['n: Invalid value: "boolean": n in body must be of type integer: "boolean"'],
            id="bool-is-not-a-number",
        ),
        pytest.param(obj_schema(n={"type": "number"}), {"n": 3}, [], id="integer-is-a-number"),
        # Go's decoder makes 3.0 a float64 and kube-openapi accepts integral floats for integers.
        pytest.param(obj_schema(n={"type": "integer"}), {"n": 3.0}, [], id="integral-float-is-an-integer"),
        pytest.param(
            obj_schema(n={"type": "integer"}),
            {"n": 2.5},
            ['n: Invalid value: "number": n in body must be of type integer: "number"'],
            id="fraction-is-not-an-integer",
        ),
        pytest.param(
            obj_schema(n={"type": "integer", "minimum": 1, "maximum": 10}),
            {"n": 11},
            ["n: Invalid value: 11: n in body should be less than or equal to 10"],
            id="maximum",
        ),
        pytest.param(
            obj_schema(n={"type": "integer", "minimum": 1, "exclusiveMinimum": True}),
            {"n": 1},
            ["n: Invalid value: 1: n in body should be greater than 1"],
            id="exclusive-minimum",
        ),
        pytest.param(
            obj_schema(n={"type": "number", "maximum": 1000000.5}),
            {"n": 2e6},
            ["n: Invalid value: 2e+06: n in body should be less than or equal to 1.0000005e+06"],
            id="float-bounds-print-like-go",
        ),
        pytest.param(
            obj_schema(n={"type": "integer", "multipleOf": 3}),
            {"n": 10},
            ["n: Invalid value: 10: n in body should be a multiple of 3"],
            id="multiple-of",
        ),
        pytest.param(
            obj_schema(n={"type": "number", "multipleOf": 0.5}),
            {"n": 1.25},
            ["n: Invalid value: 1.25: n in body should be a multiple of 0.5"],
            id="multiple-of-float",
        ),
        pytest.param(
            obj_schema(n={"type": "integer", "format": "int64"}),
            {"n": float(2**63) * 1.1},
            ['n: Invalid value: "float64": n in body must be of type int64: "float64"'],
            id="int64-overflow-float",
        ),
        # strings
        pytest.param(
            obj_schema(s={"type": "string", "minLength": 3}),
            {"s": "ab"},
            ['s: Invalid value: "ab": s in body should be at least 3 chars long'],
            id="min-length",
        ),
        pytest.param(
            obj_schema(s={"type": "string", "maxLength": 2}),
            {"s": "abc"},
            ["s: Too long: may not be more than 2 bytes"],
            id="max-length",
        ),
        # kube-openapi counts runes, not bytes, whatever the message says.
        pytest.param(obj_schema(s={"type": "string", "maxLength": 2}), {"s": "éé"}, [], id="max-length-runes"),
        pytest.param(
            obj_schema(s={"type": "string", "pattern": "^[a-z]+$"}),
            {"s": "abc1"},
            ["s: Invalid value: \"abc1\": s in body should match '^[a-z]+$'"],
            id="pattern",
        ),
        # arrays
        pytest.param(
            obj_schema(a={"type": "array", "maxItems": 2, "items": {"type": "string"}}),
            {"a": ["a", "b", "c"]},
            ["a: Too many: 3: must have at most 2 items"],
            id="max-items",
        ),
        pytest.param(
            obj_schema(a={"type": "array", "minItems": 2, "items": {"type": "string"}}),
            {"a": ["a"]},
            ["a: Invalid value: 1: a in body should have at least 2 items"],
            id="min-items",
        ),
        pytest.param(
            obj_schema(a={"type": "array", "uniqueItems": True, "items": {"type": "integer"}}),
            {"a": [1, 2, 1]},
            ['a: Invalid value: "": a in body shouldn\'t contain duplicates'],
            id="unique-items",
        ),
        pytest.param(
            obj_schema(a={"type": "array", "items": {"type": "integer"}}),
            {"a": [1, "x"]},
            ['a[1]: Invalid value: "string": a[1] in body must be of type integer: "string"'],
            id="item-type",
        ),
        # objects
        pytest.param(
            obj_schema(o={"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}),
            {"o": {"a": "x", "b": "y"}},
            ["o: Too many: 2: must have at most 1 item"],
            id="max-properties",
        ),
        pytest.param(
            obj_schema(o={"type": "object", "minProperties": 2, "additionalProperties": {"type": "string"}}),
            {"o": {"a": "x"}},
            ["o: Invalid value: 1: o in body should have at least 2 properties"],
            id="min-properties",
        ),
        pytest.param(
            obj_schema(o={"type": "object", "additionalProperties": {"type": "integer"}}),
            {"o": {"a": "x"}},
            ['o.a: Invalid value: "string": o.a in body must be of type integer: "string"'],
            id="additional-properties-schema",
        ),
        pytest.param(
            obj_schema(o={"type": "object", "additionalProperties": False}),
            {"o": {"a": 1}},
            ['o: Invalid value: "a": o.a in body is a forbidden property'],
            id="additional-properties-false",
        ),
        # logical junctors
        pytest.param(
            obj_schema(v={"type": "integer", "oneOf": [{"minimum": 0}, {"maximum": 10}]}),
            {"v": 5},
            ['<nil>: Invalid value: "": "v" must validate one and only one schema (oneOf). Found 2 valid alternatives'],
            id="one-of-two-valid",
        ),
        pytest.param(
            obj_schema(v={"type": "integer", "oneOf": [{"minimum": 10}, {"maximum": 0}]}),
            {"v": 5},
            [
                '<nil>: Invalid value: "": "v" must validate one and only one schema (oneOf). Found none valid',
                "v: Invalid value: 5: v in body should be greater than or equal to 10",
            ],
            id="one-of-none-valid",
        ),
        pytest.param(
            obj_schema(v={"type": "string", "not": {"enum": ["forbidden"]}}),
            {"v": "forbidden"},
            ['<nil>: Invalid value: "": "v" must not validate the schema (not)'],
            id="not",
        ),
        # quirks of reflect conversion in kube-openapi's enum check
        pytest.param(obj_schema(v={"enum": ["A"]}), {"v": 65}, [], id="enum-int-converts-to-rune"),
        pytest.param(obj_schema(v={"type": "number", "enum": [1]}), {"v": 1.5}, [], id="enum-float-truncates"),
        pytest.param(
            obj_schema(v={"enum": [1]}),
            {"v": True},
            ['v: Unsupported value: true: supported values: "1"'],
            id="enum-bool-is-not-1",
        ),
        pytest.param(
            obj_schema(v={"type": "string", "nullable": True, "enum": ["a"]}),
            {"v": None},
            ['v: Unsupported value: null: supported values: "a"'],
            id="enum-rejects-null-even-if-nullable",
        ),
        pytest.param(
            obj_schema(v={"type": "object", "enum": [{"a": 1}]}),
            {"v": {"a": 2}},
            ['v: Unsupported value: {"a":2}: supported values: "{\\"a\\":1}"'],
            id="enum-object-values-as-json",
        ),
    ],
)
def test_validate_messages_match_upstream(schema: dict[str, Any], obj: dict[str, Any], expected: list[str]) -> None:
    assert messages(obj, schema) == expected


@pytest.mark.parametrize(
    ("fmt", "value", "valid"),
    [
        pytest.param("date", "2024-02-29", True, id="date"),
        pytest.param("date", "2023-02-29", False, id="date-not-a-day"),
        pytest.param("date", "2024-2-29", False, id="date-short-month"),
        pytest.param("date-time", "2024-02-29T10:00:00Z", True, id="date-time"),
        pytest.param("date-time", "2024-02-29T10:00:00.123+02:00", True, id="date-time-offset"),
        pytest.param("date-time", "2024-02-29 10:00:00", False, id="date-time-space"),
        pytest.param("datetime", "2024-02-29T24:00:00Z", False, id="datetime-hour-24"),
        pytest.param("uuid", "123E4567-E89B-12D3-A456-426614174000", True, id="uuid-upper"),
        pytest.param("uuid", "123e4567e89b12d3a456426614174000", True, id="uuid-no-dashes"),
        pytest.param("uuid4", "123e4567-e89b-12d3-a456-426614174000", False, id="uuid4-wrong-version"),
        pytest.param("byte", "aGVsbG8=", True, id="byte"),
        pytest.param("byte", "aGVsbG8", False, id="byte-unpadded"),
        pytest.param("byte", "", False, id="byte-empty"),
        pytest.param("ipv4", "10.0.0.1", True, id="ipv4"),
        pytest.param("ipv4", "010.0.0.1", True, id="ipv4-leading-zero-sloppy"),
        pytest.param("ipv4", "::1", False, id="ipv4-not-v6"),
        pytest.param("ipv6", "fe80::1", True, id="ipv6"),
        pytest.param("ipv6", "fe80::1%eth0", False, id="ipv6-zone"),
        pytest.param("cidr", "10.0.0.0/8", True, id="cidr"),
        pytest.param("cidr", "10.0.0.0/33", False, id="cidr-prefix-too-long"),
        pytest.param("mac", "00:00:5e:00:53:01", True, id="mac"),
        pytest.param("mac", "0000.5e00.5301", True, id="mac-dotted"),
        pytest.param("mac", "00:00:5e:00:53", False, id="mac-short"),
        pytest.param("hostname", "foo.example.com", True, id="hostname"),
        pytest.param("hostname", "-foo", False, id="hostname-dash"),
        pytest.param("email", "Bob <bob@example.com>", True, id="email-display-name"),
        pytest.param("email", "bob", False, id="email-no-at"),
        pytest.param("uri", "https://example.com/a?b=c", True, id="uri"),
        pytest.param("uri", "relative/path", False, id="uri-relative"),
        pytest.param("duration", "1h30m", True, id="duration"),
        pytest.param("duration", "3 days", True, id="duration-words"),
        pytest.param("duration", "soon", False, id="duration-bad"),
        pytest.param("isbn", "978-0321751041", True, id="isbn13"),
        pytest.param("creditcard", "4111 1111 1111 1111", True, id="creditcard"),
        pytest.param("ssn", "123-45-6789", True, id="ssn"),
        pytest.param("hexcolor", "#ffF", True, id="hexcolor"),
        pytest.param("rgbcolor", "rgb(255, 0, 256)", False, id="rgbcolor-out-of-range"),
        pytest.param("bsonobjectid", "507f1f77bcf86cd799439011", True, id="bsonobjectid"),
        pytest.param("password", "", True, id="password"),
        # Formats a 1.34 server does not know are stripped: anything goes.
        pytest.param("k8s-short-name", "Not_A_Name", True, id="k8s-short-name-unsupported"),
        pytest.param("int32", "abc", True, id="numeric-format-on-string-stripped"),
    ],
)
def test_string_formats(fmt: str, value: str, valid: bool) -> None:
    errors = messages({"v": value}, obj_schema(v={"type": "string", "format": fmt}))
    expected = [] if valid else [f'v: Invalid value: "{value}": v in body must be of type {fmt}: "{value}"']
    assert errors == expected


def test_format_error_is_type_invalid_with_the_value() -> None:
    (err,) = validate({"when": "yesterday"}, obj_schema(when={"type": "string", "format": "date"}))
    assert err.type is ErrorType.TYPE_INVALID
    assert err.field == "when"
    assert err.bad_value == "yesterday"


def test_top_level_metadata_is_left_to_the_server_except_name_restrictions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
            "spec": {"type": "object"},
        },
    }
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "toolong", "labels": {"a": 1}}, "spec": {}}
    assert messages(obj, schema) == ["metadata.name: Too long: may not be more than 5 bytes"]
    assert messages({"metadata": {"name": "ok", "uid": 7}}, schema) == []


def test_validate_under_a_path_reports_below_it() -> None:
    # As the status subresource validates status with the schema of status.
    status_schema = obj_schema(num={"type": "integer", "maximum": 10})
    assert messages({"num": 15}, status_schema, path="status") == [
        "status.num: Invalid value: 15: num in body should be less than or equal to 10"
    ]
    assert messages({"num": 15}, status_schema, path=Path("status")) == messages(
        {"num": 15}, status_schema, path="status"
    )


LIST_SCHEMA = obj_schema(
    tags={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
    ports={
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["port"],
        "items": {"type": "object", "properties": {"port": {"type": "integer"}, "name": {"type": "string"}}},
    },
    pairs={
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["a", "b"],
        "items": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
    },
)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"tags": ["a", "b"]}, [], id="set-unique"),
        pytest.param(
            {"tags": ["a", "a", "b", "c", "d", "c"]},
            ['tags[1]: Duplicate value: "a"', 'tags[5]: Duplicate value: "c"'],
            id="set-duplicates",
        ),
        pytest.param(
            {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            ['ports[1]: Duplicate value: {"port":80}'],
            id="map-duplicate-key",
        ),
        pytest.param(
            {"ports": [{"name": "a"}, {"name": "b"}]},
            ["ports[1]: Duplicate value: {}"],
            id="map-missing-keys-collide",
        ),
        pytest.param(
            {"pairs": [{"a": "x", "b": "y"}, {"a": "x", "b": "z"}, {"a": "x", "b": "y"}]},
            ['pairs[2]: Duplicate value: {"a":"x","b":"y"}'],
            id="map-compound-key",
        ),
        # 1 and 1.0 are different Go values, so not duplicates.
        pytest.param({"ports": [{"port": 1}, {"port": 1.0}]}, [], id="map-int-vs-float"),
    ],
)
def test_list_types(obj: dict[str, Any], expected: list[str]) -> None:
    assert messages(obj, LIST_SCHEMA) == expected
    assert [e.error() for e in validate_list_types(obj, LIST_SCHEMA)] == expected
    assert messages(obj, LIST_SCHEMA, check_list_types=False) == []


def test_list_map_items_must_be_objects() -> None:
    assert messages(
        {"ports": [{"port": 1}, "x"]},
        {
            "type": "object",
            "properties": {
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["port"],
                    "items": {"x-kubernetes-preserve-unknown-fields": True},
                }
            },
        },
    ) == ['ports[1]: Invalid value: "x": must be an object for an array of list-type map']


EMBEDDED_SCHEMA = obj_schema(
    template={"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, [], id="valid"),
        pytest.param(
            {"metadata": {"name": "p"}},
            ["template.apiVersion: Required value", "template.kind: Required value"],
            id="missing-type-meta",
        ),
        pytest.param(
            {"apiVersion": "a/b/c", "kind": "Pod"},
            ['template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c'],
            id="bad-api-version",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "Pod_x"},
            [
                'template.kind: Invalid value: "Pod_x": may have mixed case, but should otherwise match: a DNS-1035 '
                "label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
                "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
                "'[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
            id="bad-kind",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a/b"}},
            ["template.metadata.name: Invalid value: \"a/b\": may not contain '/'"],
            id="bad-name",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"generation": "1"}},
            [
                'template.metadata: Invalid value: {"generation":"1"}: json: cannot unmarshal string into Go struct '
                "field ObjectMeta.generation of type int64"
            ],
            id="undecodable-metadata",
        ),
    ],
)
def test_embedded_resources_are_validated(template: dict[str, Any], expected: list[str]) -> None:
    assert messages({"template": template}, EMBEDDED_SCHEMA) == expected


# ---------------------------------------------------------------------------------------------------
# check_structural
# ---------------------------------------------------------------------------------------------------


def structural_messages(schema: dict[str, Any], **kwargs: Any) -> list[str]:
    return check_structural(schema, path=ROOT, **kwargs)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            obj_schema(spec={"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 0}}}),
            [],
            id="valid",
        ),
        pytest.param(
            obj_schema(spec={"properties": {"a": {"type": "string"}}}),
            [f"{ROOT}.properties[spec].type: Required value: must not be empty for specified object fields"],
            id="missing-type",
        ),
        pytest.param(
            {"properties": {"a": {"type": "array"}}},
            [
                f"{ROOT}.properties[a].items: Required value: must be specified",
                f"{ROOT}.type: Required value: must not be empty at the root",
            ],
            id="missing-root-type-and-items",
        ),
        pytest.param(
            obj_schema(a={"type": "array", "items": {}}),
            [f"{ROOT}.properties[a].items.type: Required value: must not be empty for specified array items"],
            id="missing-item-type",
        ),
        pytest.param(
            {"type": "string"},
            [f'{ROOT}.type: Invalid value: "string": must be object at the root'],
            id="root-not-object",
        ),
        pytest.param(
            {"type": "object", "additionalProperties": {"type": "string"}},
            [f"{ROOT}.additionalProperties: Forbidden: must not be used at the root"],
            id="root-additional-properties",
        ),
        pytest.param(
            obj_schema(v={"x-kubernetes-int-or-string": True}),
            [],
            id="int-or-string-without-type",
        ),
        pytest.param(
            obj_schema(v={"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
            [],
            id="int-or-string-any-of-pattern",
        ),
        pytest.param(
            obj_schema(
                v={
                    "x-kubernetes-int-or-string": True,
                    "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"pattern": "^[0-9]+%?$"}],
                }
            ),
            [],
            id="int-or-string-all-of-pattern",
        ),
        pytest.param(
            obj_schema(v={"type": "string", "anyOf": [{"type": "string", "description": "d", "nullable": True}]}),
            [
                f"{ROOT}.properties[v].anyOf[0].description: Forbidden: must be empty to be structural",
                f"{ROOT}.properties[v].anyOf[0].nullable: Forbidden: must be false to be structural",
                f"{ROOT}.properties[v].anyOf[0].type: Forbidden: must be empty to be structural",
            ],
            id="generics-under-any-of",
        ),
        pytest.param(
            obj_schema(v={"type": "object", "allOf": [{"properties": {"metadata": {}}}]}),
            [
                f"{ROOT}.properties[v].allOf[0].properties[metadata]: Forbidden: must not be specified in a nested "
                "context",
            ],
            id="metadata-in-nested-context",
        ),
        # upstream TestValidateStructuralCompleteness "disallowed property in valuevalidation, and in structure";
        # upstream checks completeness for the junctors of the root only.
        pytest.param(
            {
                "type": "object",
                "properties": {"foo": {"type": "string"}},
                "allOf": [{"properties": {"notfoo": {"minLength": 2}}}],
            },
            [f"{ROOT}.properties[notfoo]: Required value: because it is defined in {ROOT}.allOf[0].properties[notfoo]"],
            id="completeness-property",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"foo": {"type": "string"}},
                "anyOf": [{"properties": {"foo": {"minLength": 2}}}, {"not": {"properties": {"bar": {}}}}],
            },
            [f"{ROOT}.properties[bar]: Required value: because it is defined in {ROOT}.anyOf[1].not.properties[bar]"],
            id="completeness-nested-junctors",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {"foo": {"type": "string"}},
                "not": {"properties": {"foo": {"items": {"minLength": 2}}}},
            },
            [
                f"{ROOT}.properties[foo].items: Required value: because it is defined in "
                f"{ROOT}.not.properties[foo].items"
            ],
            id="completeness-items-missing",
        ),
        pytest.param(
            obj_schema(metadata={"type": "object", "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}),
            [],
            id="metadata-name-restriction",
        ),
        pytest.param(
            obj_schema(metadata={"type": "object", "properties": {"labels": {"type": "object"}}}),
            [
                f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
                "but metadata is implicitly specified"
            ],
            id="metadata-labels",
        ),
        pytest.param(
            obj_schema(metadata={"type": "string"}),
            [f'{ROOT}.properties[metadata].type: Invalid value: "string": must be object'],
            id="metadata-not-object",
        ),
        pytest.param(
            obj_schema(kind={"type": "integer"}),
            [f'{ROOT}.properties[kind].type: Invalid value: "integer": must be string'],
            id="kind-not-string",
        ),
        pytest.param(
            obj_schema(e={"type": "object", "x-kubernetes-embedded-resource": True}),
            [
                f"{ROOT}.properties[e].properties: Required value: must not be empty if x-kubernetes-embedded-resource "
                "is true without x-kubernetes-preserve-unknown-fields"
            ],
            id="embedded-without-properties",
        ),
        pytest.param(
            obj_schema(e={"x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True}),
            [f"{ROOT}.properties[e].type: Required value: must be object if x-kubernetes-embedded-resource is true"],
            id="embedded-without-type",
        ),
        pytest.param(
            obj_schema(v={"x-kubernetes-int-or-string": True, "x-kubernetes-preserve-unknown-fields": True}),
            [
                f"{ROOT}.properties[v].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
                "x-kubernetes-int-or-string is true"
            ],
            id="int-or-string-and-preserve",
        ),
        pytest.param(
            obj_schema(v={"type": "string", "pattern": "(?<name"}),
            [
                f'{ROOT}.properties[v].pattern: Invalid value: "(?<name": must be a valid regular expression, but '
                "isn't: error parsing regexp: invalid named capture: `(?<name`"
            ],
            id="invalid-pattern",
        ),
        # defaults (upstream defaulting.ValidateDefaults)
        pytest.param(
            obj_schema(spec={"type": "object", "properties": {"replicas": {"type": "integer", "default": "one"}}}),
            [
                f'{ROOT}.properties[spec].properties[replicas].default: Invalid value: "string":  in body must be of '
                'type integer: "string"'
            ],
            id="default-wrong-type",
        ),
        pytest.param(
            obj_schema(size={"type": "string", "enum": ["S", "M"], "default": "L"}),
            [f'{ROOT}.properties[size].default: Unsupported value: "L": supported values: "S", "M"'],
            id="default-not-in-enum",
        ),
        pytest.param(
            obj_schema(o={"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": 1}}),
            [f'{ROOT}.properties[o].default: Invalid value: {{"a":"x","b":1}}: must not have unknown fields'],
            id="default-not-pruned",
        ),
        pytest.param(
            obj_schema(o={"type": "object", "x-kubernetes-preserve-unknown-fields": True, "default": {"b": 1}}),
            [],
            id="default-under-preserve",
        ),
        pytest.param(
            obj_schema(
                e={
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                    "default": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a/b"}},
                }
            ),
            [f"{ROOT}.properties[e].default.metadata.name: Invalid value: \"a/b\": may not contain '/'"],
            id="default-embedded-metadata",
        ),
        pytest.param(
            obj_schema(
                e={
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"kind": {"type": "string", "default": 1}},
                }
            ),
            [
                f"{ROOT}.properties[e].properties[kind].default: Invalid value: 1: must result in valid metadata: "
                "kind: Invalid value: 1: must be a string"
            ],
            id="default-inside-embedded-kind",
        ),
        # OpenAPI restrictions (ValidateCustomResourceDefinitionOpenAPISchema)
        pytest.param(
            obj_schema(metadata={"type": "object", "default": {}}),
            [f"{ROOT}.properties[metadata].default: Forbidden: must not be set in top-level metadata"],
            id="default-in-top-level-metadata",
        ),
        pytest.param(
            obj_schema(v={"type": "null"}),
            [
                f'{ROOT}.properties[v].type: Unsupported value: "null": supported values: "array", "boolean", '
                '"integer", "number", "object", "string"',
                f"{ROOT}.properties[v].type: Forbidden: type cannot be set to null, use nullable as an alternative",
            ],
            id="type-null",
        ),
        pytest.param(
            obj_schema(v={"type": "array", "uniqueItems": True, "items": {"type": "string"}}),
            [
                f"{ROOT}.properties[v].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime "
                "complexity becomes quadratic"
            ],
            id="unique-items",
        ),
        pytest.param(
            obj_schema(v={"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}),
            [
                f"{ROOT}.properties[v].additionalProperties: Forbidden: additionalProperties and properties are mutual "
                "exclusive"
            ],
            id="properties-and-additional-properties",
        ),
        pytest.param(
            obj_schema(v={"type": "object", "x-kubernetes-map-type": "sorted"}),
            [
                f'{ROOT}.properties[v].x-kubernetes-map-type: Unsupported value: "sorted": supported values: "atomic", '
                '"granular"'
            ],
            id="map-type",
        ),
        pytest.param(
            obj_schema(v={"type": "string", "x-kubernetes-list-type": "set"}),
            [
                f'{ROOT}.properties[v].type: Invalid value: "string": must be array if x-kubernetes-list-type is '
                "specified"
            ],
            id="list-type-on-string",
        ),
        pytest.param(
            obj_schema(v={"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "object"}}),
            [
                f"{ROOT}.properties[v].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a "
                "list with x-kubernetes-list-type=set"
            ],
            id="set-of-granular-objects",
        ),
        pytest.param(
            obj_schema(
                v={
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            ),
            [
                f'{ROOT}.properties[v].x-kubernetes-list-map-keys: Invalid value: ["name","name"]: must not contain '
                "duplicate entries",
                f"{ROOT}.properties[v].items.properties[name].default: Required value: this property is in "
                "x-kubernetes-list-map-keys, so it must have a default or be a required property",
                f"{ROOT}.properties[v].items.properties[name].default: Required value: this property is in "
                "x-kubernetes-list-map-keys, so it must have a default or be a required property",
            ],
            id="list-map-keys",
        ),
        pytest.param(
            obj_schema(v={"type": "array", "x-kubernetes-list-map-keys": ["a"], "items": {"type": "object"}}),
            [
                f"{ROOT}.properties[v].x-kubernetes-list-type: Required value: must be map if "
                "x-kubernetes-list-map-keys is non-empty"
            ],
            id="list-map-keys-without-type",
        ),
        pytest.param(
            {"type": "object", "$ref": "#/definitions/x"},
            [f"{ROOT}.$ref: Forbidden: $ref is not supported"],
            id="ref",
        ),
        pytest.param(
            {"type": "object", "$schema": "http://json-schema.org/draft-04/schema#"},
            [f"{ROOT}: Invalid value: \"\": OpenAPIV3Schema 'schema' is not supported"],
            id="schema-keyword-only-structural-error",
        ),
        pytest.param(
            {"type": "object", "nullable": True},
            [f"{ROOT}.nullable: Forbidden: nullable cannot be true at the root"],
            id="nullable-root",
        ),
        pytest.param(
            obj_schema(
                v={
                    "type": "string",
                    "x-kubernetes-validations": [
                        {"rule": "  "},
                        {"rule": "self.size() > 1\n&& true"},
                        {"rule": "true", "reason": "FieldValueBad"},
                    ],
                }
            ),
            [
                f"{ROOT}.properties[v].x-kubernetes-validations[0].rule: Required value: rule is not specified",
                f"{ROOT}.properties[v].x-kubernetes-validations[1].message: Required value: message must be specified "
                "if rule contains line breaks",
                f'{ROOT}.properties[v].x-kubernetes-validations[2].reason: Unsupported value: "FieldValueBad": '
                'supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", '
                '"FieldValueRequired"',
            ],
            id="validation-rules-static-checks",
        ),
        pytest.param(
            obj_schema(v="string", w={"type": "object", "required": "a"}),
            [
                f'{ROOT}.properties[v]: Invalid value: "string": must be of type object',
                f'{ROOT}.properties[w].required: Invalid value: "a": must be of type array of strings',
            ],
            id="undecodable-schema",
        ),
    ],
)
def test_check_structural(schema: dict[str, Any], expected: list[str]) -> None:
    assert structural_messages(schema) == expected


def test_check_structural_with_status_subresource() -> None:
    schema = {"type": "object", "description": "d", "properties": {"status": {"type": "object"}}}
    assert structural_messages(schema, status_subresource=True) == []
    with_enum = {**schema, "enum": [{}]}
    (message,) = structural_messages(with_enum, status_subresource=True)
    assert message.startswith(f"{ROOT}: Invalid value: ")
    assert message.endswith(
        ": only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength "
        "Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example "
        "XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource "
        "is enabled"
    )
    assert structural_messages({**schema, "type": "string"}, status_subresource=True)[0] == (
        f'{ROOT}.type: Invalid value: "string": only "object" is allowed as the type at the root of the schema if the '
        "status subresource is enabled"
    )


def test_check_structural_errors_carry_status_causes() -> None:
    (err,) = check_structural_errors(obj_schema(spec={}), path=Path("spec", "versions").index(2).child("schema"))
    assert err.type is ErrorType.REQUIRED
    assert err.field == "spec.versions[2].schema.properties[spec].type"
    assert err.reason == "FieldValueRequired"


def test_check_structural_does_not_touch_the_schema() -> None:
    schema = obj_schema(
        e={
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
            "default": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "creationTimestamp": None}},
        }
    )
    before = copy.deepcopy(schema)
    assert structural_messages(schema) == []
    assert schema == before


def test_uses_cel() -> None:
    assert not uses_cel(obj_schema(a={"type": "string"}))
    nested = obj_schema(a={"type": "array", "items": {"type": "object", "x-kubernetes-validations": [{"rule": "x"}]}})
    assert uses_cel(nested)
    # Rules are not evaluated: an object breaking one is still valid here.
    rule = obj_schema(a={"type": "integer", "x-kubernetes-validations": [{"rule": "self > 5"}]})
    assert messages({"a": 1}, rule) == []


# ---------------------------------------------------------------------------------------------------
# prune
# ---------------------------------------------------------------------------------------------------

PRESERVE_SCHEMA = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "alpha": {"type": "string"},
        "beta": {"type": "number"},
        "pruning": {
            "type": "object",
            "properties": {
                "preserving": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "pruning": {"type": "object"},
            },
        },
        "preserving": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "preserving": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "preservingUnknownType": {"x-kubernetes-preserve-unknown-fields": True},
                "pruning": {"type": "object"},
            },
        },
        "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "additionalProperties": {"type": "object", "properties": {"specified": {"type": "object"}}},
        },
        "preservingAdditionalPropertiesKeyPruneValues": {
            "type": "object",
            "additionalProperties": {"type": "object", "properties": {"specified": {"type": "object"}}},
        },
    },
}


@pytest.mark.parametrize(
    ("schema", "obj", "expected_obj", "expected_paths"),
    [
        # upstream pruning TestPrune "object array object"
        pytest.param(
            obj_schema(
                array={"type": "array", "items": {"type": "object", "properties": {"a": {}, "c": {}}}},
                specified={"type": "object", "properties": {"a": {}, "c": {}}},
            ),
            {
                "array": [{"a": 1}, {"b": 1}, {"a": 1, "b": 2, "c": 3}],
                "unspecified": {"a": 1},
                "specified": {"a": 1, "b": 2, "c": 3},
            },
            {"array": [{"a": 1}, {}, {"a": 1, "c": 3}], "specified": {"a": 1, "c": 3}},
            ["array[1].b", "array[2].b", "specified.b", "unspecified"],
            id="object-array-object",
        ),
        # "nested x-kubernetes-preserve-unknown-fields"
        pytest.param(
            PRESERVE_SCHEMA,
            {
                "unspecified": "bar",
                "alpha": "abc",
                "beta": 42.0,
                "unspecifiedObject": {"unspecified": "bar"},
                "pruning": {
                    "unspecified": "bar",
                    "unspecifiedObject": {"unspecified": "bar"},
                    "pruning": {"unspecified": "bar"},
                    "apiVersion": "unknown",
                    "preserving": {"unspecified": "bar"},
                },
                "preserving": {
                    "unspecified": "bar",
                    "unspecifiedObject": {"unspecified": "bar"},
                    "pruning": {"unspecified": "bar"},
                    "preserving": {"unspecified": "bar"},
                    "preservingUnknownType": [{"foo": True}, {"bar": True}],
                },
                "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields": {
                    "foo": {"specified": {"unspecified": "bar"}, "unspecified": "bar"}
                },
                "preservingAdditionalPropertiesKeyPruneValues": {
                    "foo": {"specified": {"unspecified": "bar"}, "unspecified": "bar"}
                },
            },
            {
                "unspecified": "bar",
                "alpha": "abc",
                "beta": 42.0,
                "unspecifiedObject": {"unspecified": "bar"},
                "pruning": {"pruning": {}, "preserving": {"unspecified": "bar"}},
                "preserving": {
                    "unspecified": "bar",
                    "unspecifiedObject": {"unspecified": "bar"},
                    "pruning": {},
                    "preserving": {"unspecified": "bar"},
                    "preservingUnknownType": [{"foo": True}, {"bar": True}],
                },
                "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields": {"foo": {"specified": {}}},
                "preservingAdditionalPropertiesKeyPruneValues": {"foo": {"specified": {}}},
            },
            [
                "preserving.pruning.unspecified",
                "preservingAdditionalPropertiesKeyPruneValues.foo.specified.unspecified",
                "preservingAdditionalPropertiesKeyPruneValues.foo.unspecified",
                "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields.foo.specified.unspecified",
                "preservingAdditionalPropertiesNotInheritingXPreserveUnknownFields.foo.unspecified",
                "pruning.apiVersion",
                "pruning.pruning.unspecified",
                "pruning.unspecified",
                "pruning.unspecifiedObject",
            ],
            id="nested-preserve-unknown-fields",
        ),
        # "additionalProperties with schema"
        pytest.param(
            {"properties": {"a": {}, "c": {"additionalProperties": {"type": "integer"}}}},
            {"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1}}},
            {"a": 1, "c": {"a": 1, "b": 2, "c": {}}},
            ["b", "c.c.a"],
            id="additional-properties-schema",
        ),
        # "additionalProperties with bool": values of a schema-less map are pruned entirely
        pytest.param(
            {"properties": {"a": {}, "c": {"additionalProperties": False}}},
            {"a": 1, "b": 1, "c": {"a": 1, "b": 2, "c": {"a": 1, "apiVersion": "unknown"}}},
            {"a": 1, "c": {"a": 1, "b": 2, "c": {}}},
            ["b", "c.c.a", "c.c.apiVersion"],
            id="additional-properties-bool",
        ),
        pytest.param(
            obj_schema(spec=obj_schema(a={"type": "string"})),
            {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "bogus": 1}, "spec": {"a": "x", "b": 1}},
            {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n", "bogus": 1}, "spec": {"a": "x"}},
            ["spec.b"],
            id="top-level-type-and-object-meta-untouched",
        ),
        pytest.param(
            obj_schema(spec=obj_schema(a={"type": "string"}, b={"type": "string", "default": "x"})),
            {"spec": {"a": None, "b": None}},
            {"spec": {"b": None}},
            [],
            id="non-nullable-nulls-without-default",
        ),
        pytest.param(
            obj_schema(
                spec=obj_schema(
                    template={
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "properties": {"spec": obj_schema(a={"type": "string"})},
                    }
                )
            ),
            {
                "spec": {
                    "template": {
                        "apiVersion": "v1",
                        "kind": 7,
                        "metadata": {
                            "name": "",
                            "labels": {"a": "b"},
                            "generation": "x",
                            "bogus": 1,
                            "creationTimestamp": "2020-01-01T01:00:00+01:00",
                            "ownerReferences": [{"name": "o", "extra": True}],
                        },
                        "spec": {"a": "x", "b": "y"},
                        "unknown": 1,
                    }
                }
            },
            {
                "spec": {
                    "template": {
                        "apiVersion": "v1",
                        "metadata": {
                            "labels": {"a": "b"},
                            "creationTimestamp": "2020-01-01T00:00:00Z",
                            "ownerReferences": [{"apiVersion": "", "kind": "", "name": "o", "uid": ""}],
                        },
                        "spec": {"a": "x"},
                    }
                }
            },
            [
                "spec.template.spec.b",
                "spec.template.unknown",
                "spec.template.metadata.bogus",
                "spec.template.metadata.ownerReferences[0].extra",
            ],
            id="embedded-resource",
        ),
    ],
)
def test_prune(
    schema: dict[str, Any], obj: dict[str, Any], expected_obj: dict[str, Any], expected_paths: list[str]
) -> None:
    assert prune(obj, schema) == expected_paths
    assert obj == expected_obj


# ---------------------------------------------------------------------------------------------------
# default
# ---------------------------------------------------------------------------------------------------

DEFAULTS = {"a": {"default": "A"}, "b": {"default": "B"}, "c": {"default": "C"}}


@pytest.mark.parametrize(
    ("schema", "obj", "expected"),
    [
        # upstream defaulting TestDefault
        pytest.param(
            obj_schema(list={"items": {"properties": DEFAULTS}}),
            {"list": [{"a": 1}, {"b": 1}, {"c": 1}]},
            {"list": [{"a": 1, "b": "B", "c": "C"}, {"a": "A", "b": 1, "c": "C"}, {"a": "A", "b": "B", "c": 1}]},
            id="object-array",
        ),
        pytest.param(
            obj_schema(
                array={"items": {"properties": {"a": {"default": "A"}, "b": {"default": "B"}}}},
                object={"properties": {"a": {"default": "N"}, "b": {"default": "O"}}},
                additionalProperties={
                    "additionalProperties": {"properties": {"a": {"default": "alpha"}, "b": {"default": "beta"}}}
                },
                foo={"default": "bar"},
            ),
            {"array": [{"a": 1}, {"b": 2}], "object": {"a": 1}, "additionalProperties": {"x": {"a": 1}, "y": {"b": 2}}},
            {
                "array": [{"a": 1, "b": "B"}, {"a": "A", "b": 2}],
                "object": {"a": 1, "b": "O"},
                "additionalProperties": {"x": {"a": 1, "b": "beta"}, "y": {"a": "alpha", "b": 2}},
                "foo": "bar",
            },
            id="object-array-object",
        ),
        pytest.param(
            obj_schema(list={"items": {"properties": {"a": {"default": "A"}}}}),
            {"list": [{}, {"a": 1}, {"a": 0}, {"a": 0.0}, {"a": ""}, {"a": None}, {"a": []}, {"a": {}}]},
            {"list": [{"a": "A"}, {"a": 1}, {"a": 0}, {"a": 0.0}, {"a": ""}, {"a": "A"}, {"a": []}, {"a": {}}]},
            id="empty-and-null",
        ),
        pytest.param(
            obj_schema(list={"nullable": True, "items": {"properties": {"a": {"default": "A"}}}}),
            {"list": [None]},
            {"list": [None]},
            id="null-in-list-without-item-default",
        ),
        pytest.param(
            obj_schema(list={"items": {"default": "A"}}),
            {"list": [None]},
            {"list": ["A"]},
            id="null-in-non-nullable-list",
        ),
        pytest.param(
            obj_schema(a={"nullable": True, "default": "A"}), {"a": None}, {"a": None}, id="null-in-nullable-object"
        ),
        pytest.param(obj_schema(a={"default": "A"}), {"a": None}, {"a": "A"}, id="null-in-non-nullable-object"),
        pytest.param(
            obj_schema(m={"additionalProperties": {"nullable": True, "default": "A"}}),
            {"m": {"a": None}},
            {"m": {"a": None}},
            id="null-in-nullable-map",
        ),
        pytest.param(
            obj_schema(m={"additionalProperties": {"default": "A"}}),
            {"m": {"a": None}},
            {"m": {"a": "A"}},
            id="null-in-non-nullable-map",
        ),
        pytest.param(
            obj_schema(m={"additionalProperties": True}),
            {"m": {"a": None}},
            {"m": {"a": None}},
            id="null-unknown-field",
        ),
        pytest.param(
            obj_schema(spec={"type": "object", "default": {}, "properties": {"replicas": {"default": 1}}}),
            {},
            {"spec": {"replicas": 1}},
            id="defaults-apply-inside-defaults",
        ),
    ],
)
def test_default(schema: dict[str, Any], obj: dict[str, Any], expected: dict[str, Any]) -> None:
    default(obj, schema)
    assert obj == expected


def test_defaults_are_deep_copies() -> None:
    schema = obj_schema(a={"type": "object", "default": {"list": [1]}}, b={"type": "object", "default": {"list": [1]}})
    first: dict[str, Any] = {}
    second: dict[str, Any] = {}
    default(first, schema)
    default(second, schema)
    first["a"]["list"].append(2)
    assert second["a"] == {"list": [1]}
    assert schema["properties"]["a"]["default"] == {"list": [1]}


# ---------------------------------------------------------------------------------------------------
# Deeply nested input is an error value, never a crash
# ---------------------------------------------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"x": [value]}
    return value


def test_prune_handles_data_nested_deeper_than_the_python_stack() -> None:
    # additionalProperties: true has no schema for the values: every object below them is emptied.
    schema = obj_schema(m={"type": "object", "additionalProperties": True})
    deep: Any = {"leaf": 1}
    for _ in range(5000):
        deep = [deep]
    obj = {"m": {"k": deep}}
    assert prune(obj, schema) == ["m.k" + "[0]" * 5000 + ".leaf"]
    innermost = obj["m"]["k"]
    for _ in range(5000):
        innermost = innermost[0]
    assert innermost == {}


def test_validate_reports_data_nested_deeper_than_the_python_stack() -> None:
    schema = obj_schema(
        tags={
            "type": "array",
            "x-kubernetes-list-type": "set",
            "items": {
                "type": "object",
                "x-kubernetes-map-type": "atomic",
                "x-kubernetes-preserve-unknown-fields": True,
            },
        }
    )
    deep = nested(5000)
    assert messages({"tags": [deep, deep]}, schema) == [
        "<nil>: Invalid value: object is nested too deeply to be validated"
    ]
    assert messages({"tags": [nested(3), nested(3)]}, schema) == [
        'tags[1]: Duplicate value: {"x":[{"x":[{"x":[{"leaf":1}]}]}]}'
    ]
