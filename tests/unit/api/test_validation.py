"""Field errors, string validators and object metadata validation, mostly upstream's own tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.api.validation import (
    OMIT_VALUE,
    ErrorType,
    FieldError,
    GoStruct,
    Path,
    aggregate_message,
    generate_name,
    go_json,
    go_quote,
    is_c_identifier,
    is_config_map_key,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_http_header_name,
    is_qualified_name,
    is_valid_cidr,
    is_valid_cidr_for_legacy_field,
    is_valid_interface_address,
    is_valid_ip,
    is_valid_ip_for_legacy_field,
    is_valid_label_value,
    is_valid_percent,
    is_valid_port_name,
    is_valid_port_num,
    is_wildcard_dns1123_subdomain,
    mask_trailing_dash,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_annotations,
    validate_field_manager,
    validate_finalizers,
    validate_label_selector,
    validate_labels,
    validate_managed_fields,
    validate_object_meta,
    validate_object_meta_update,
    validate_owner_references,
    validate_path_segment_name,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


# -- paths and field errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(Path("spec").child("containers").index(0).child("name"), "spec.containers[0].name", id="index"),
        pytest.param(Path("metadata").child("labels").key("app"), "metadata.labels[app]", id="key"),
        pytest.param(Path("a", "b", "c"), "a.b.c", id="new-path-many"),
        pytest.param(Path("a").child("b", "c").index(1).index(2), "a.b.c[1][2]", id="child-many"),
        pytest.param(Path("root").key("k").child("x"), "root[k].x", id="key-then-child"),
        pytest.param(Path(""), "[]", id="empty-root-is-a-subscript"),
    ],
)
def test_path_string(path: Path, expected: str) -> None:
    assert str(path) == expected


def test_path_root_and_immutability() -> None:
    base = Path("spec")
    child = base.child("template", "spec")

    assert str(child.root()) == "spec"
    assert str(base) == "spec"
    assert child == Path("spec", "template", "spec")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            FieldError.invalid(Path("metadata", "name"), "Foo", SUBDOMAIN_MSG),
            f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}',
            id="brief-example",
        ),
        pytest.param(FieldError.invalid(Path("f"), 5, "d"), "f: Invalid value: 5: d", id="int"),
        pytest.param(FieldError.invalid(Path("f"), True, "d"), "f: Invalid value: true: d", id="bool"),
        pytest.param(FieldError.invalid(Path("f"), 1.5, "d"), "f: Invalid value: 1.5: d", id="float"),
        pytest.param(FieldError.invalid(Path("f"), 1e6, "d"), "f: Invalid value: 1e+06: d", id="float-go-v"),
        pytest.param(FieldError.invalid(Path("f"), 0.00001, "d"), "f: Invalid value: 1e-05: d", id="small-float"),
        pytest.param(FieldError.invalid(Path("f"), None, "d"), "f: Invalid value: null: d", id="nil"),
        pytest.param(FieldError.invalid(Path("f"), ["a", "b"], "d"), 'f: Invalid value: ["a","b"]: d', id="list"),
        pytest.param(
            FieldError.invalid(Path("f"), {"b": 1, "a": "<&>"}, "d"),
            'f: Invalid value: {"a":"\\u003c\\u0026\\u003e","b":1}: d',
            id="map-sorted-html-escaped",
        ),
        pytest.param(
            FieldError.invalid(Path("f"), GoStruct((("z", 1), ("a", None))), ""),
            'f: Invalid value: {"z":1,"a":null}',
            id="struct-order",
        ),
        pytest.param(FieldError.invalid(Path("f"), 'a"b\n', ""), 'f: Invalid value: "a\\"b\\n"', id="go-quoted"),
        pytest.param(FieldError.invalid(Path("f"), OMIT_VALUE, "d"), "f: Invalid value: d", id="omitted"),
        pytest.param(FieldError.required(Path("f")), "f: Required value", id="required"),
        pytest.param(FieldError.required(Path("f"), "why"), "f: Required value: why", id="required-detail"),
        pytest.param(FieldError.forbidden(Path("f"), "no"), "f: Forbidden: no", id="forbidden"),
        pytest.param(FieldError.too_long(Path("f"), 10), "f: Too long: may not be more than 10 bytes", id="too-long"),
        pytest.param(FieldError.too_long(Path("f"), 1), "f: Too long: may not be more than 1 byte", id="one-byte"),
        pytest.param(FieldError.too_long(Path("f"), -1), "f: Too long: value is too long", id="no-limit"),
        pytest.param(FieldError.too_many(Path("f"), 3, 2), "f: Too many: 3: must have at most 2 items", id="too-many"),
        pytest.param(
            FieldError.too_many(Path("f"), -1, 1), "f: Too many: must have at most 1 item", id="too-many-omit"
        ),
        pytest.param(
            FieldError.not_supported(Path("f"), "X", ["A", "B"]),
            'f: Unsupported value: "X": supported values: "A", "B"',
            id="not-supported",
        ),
        pytest.param(FieldError.not_supported(Path("f"), "X", []), 'f: Unsupported value: "X"', id="no-values"),
        pytest.param(FieldError.duplicate(Path("f"), "x"), 'f: Duplicate value: "x"', id="duplicate"),
        pytest.param(FieldError.not_found(Path("f"), "x"), 'f: Not found: "x"', id="not-found"),
        pytest.param(FieldError.type_invalid(Path("f"), 1, "t"), "f: Invalid value: 1: t", id="type-invalid"),
        pytest.param(
            FieldError.internal_error(Path("f"), ValueError("boom")), "f: Internal error: boom", id="internal"
        ),
        pytest.param(FieldError.invalid(None, "x", "d"), '<nil>: Invalid value: "x": d', id="nil-path"),
    ],
)
def test_field_error_rendering(error: FieldError, expected: str) -> None:
    assert error.error() == expected
    assert str(error) == expected


def test_status_cause() -> None:
    error = FieldError.required(Path("metadata", "name"), "name or generateName is required")

    assert error.status_cause() == {
        "reason": "FieldValueRequired",
        "message": "Required value: name or generateName is required",
        "field": "metadata.name",
    }
    assert error.reason == ErrorType.REQUIRED.value
    assert ErrorType.TOO_LONG.text == "Too long"
    assert ErrorType.TYPE_INVALID.text == "Invalid value"


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        pytest.param([], "", id="none"),
        pytest.param([FieldError.required(Path("a"))], "a: Required value", id="one"),
        pytest.param(
            [FieldError.required(Path("a")), FieldError.required(Path("a"))], "a: Required value", id="duplicates"
        ),
        pytest.param(
            [FieldError.required(Path("a")), FieldError.forbidden(Path("b"), "x"), FieldError.required(Path("a"))],
            "[a: Required value, b: Forbidden: x]",
            id="many",
        ),
    ],
)
def test_aggregate_message(errors: list[FieldError], expected: str) -> None:
    assert aggregate_message(errors) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param("tab\there", '"tab\\there"', id="tab"),
        pytest.param("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"', id="control"),
        pytest.param("\a\b\f\v\r", '"\\a\\b\\f\\v\\r"', id="named-escapes"),
        pytest.param("你好🍔", '"你好🍔"', id="printable-unicode"),
        pytest.param("\u00a0", '"\\u00a0"', id="nbsp"),
        pytest.param("\U000e0001", '"\\U000e0001"', id="astral-format-char"),
        pytest.param('\\"', '"\\\\\\""', id="backslash-quote"),
    ],
)
def test_go_quote(text: str, expected: str) -> None:
    assert go_quote(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1e21, "1e+21", id="large-float"),
        pytest.param(1e20, "100000000000000000000", id="float-below-1e21"),
        pytest.param(1.5e-7, "1.5e-7", id="tiny-float"),
        pytest.param(0.000001, "0.000001", id="micro-float"),
        pytest.param(100.0, "100", id="integral-float"),
        pytest.param([1, True, None, "\u2028"], '[1,true,null,"\\u2028"]', id="list"),
        pytest.param("\x01", '"\\u0001"', id="control"),
        pytest.param(float("inf"), "+Inf", id="infinity"),
        pytest.param({1: "a", "0": None}, '{"0":null,"1":"a"}', id="non-string-keys"),
    ],
)
def test_go_json(value: Any, expected: str) -> None:
    assert go_json(value) == expected


# -- string validators (upstream validation_test.go) --------------------------------------------------


def _cases(good: list[str], bad: list[str]) -> list[Any]:
    return [pytest.param(v, True, id=f"good:{v[:20]!r}") for v in good] + [
        pytest.param(v, False, id=f"bad:{v[:20]!r}") for v in bad
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "0", "01", "012", "1a", "1-a", "1--a--b--2", "a" * 63],
        ["", "A", "ABC", "aBc", "A1", "A-1", "1-A", "-", "a-", "-a", "1-", "-1", "_", "a_", "_a", "a_b", "1_",
         "_1", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2", " ", "a ", " a", "a b", "1 ", " 1", "1 2",
         "a" * 64],
    ),
)  # fmt: skip
def test_is_dns1123_label(value: str, valid: bool) -> None:
    assert (is_dns1123_label(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["a", "ab", "a1", "a-1", "a--1--2--b", "0", "012", "1-a", "a.a", "ab.a", "a-1.a", "a.1", "0.a", "0.1",
         "1--a--b--2.1", "a.b.c.d.e", "aa.bb.cc.dd.ee", "1.2.3.4.5", "11.22.33.44.55", "a" * 253],
        ["", "A", "ABC", "aBc", "A1", "-", "a-", "-a", "_", "a_b", ".", "a.", ".a", "a..b", "1.", ".1", "1..2",
         " ", "a b", "A.a", "aB.a", "ab.A", "A.1", "0.A", "A.B.C.D.E", "a.B.c.d.e", "a@b", "a,b", "a;b", "a:b",
         "a%b", "a?b", "a$b", "a" * 254, "a\n"],
    ),
)  # fmt: skip
def test_is_dns1123_subdomain(value: str, valid: bool) -> None:
    assert (is_dns1123_subdomain(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["a", "ab", "abc", "a1", "a-1", "a--1--2--b", "a" * 63],
        ["0", "01", "012", "1a", "1-a", "1--a--b--2", "", "A", "ABC", "aBc", "-", "a-", "-a", "_", "a_b", ".",
         "a.b", " ", "a b", "a" * 64],
    ),
)  # fmt: skip
def test_is_dns1035_label(value: str, valid: bool) -> None:
    assert (is_dns1035_label(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["a", "ab", "abc", "a1", "_a", "a_", "a_b", "a_1", "a__1__2__b", "__abc_123", "A", "AB", "AbC", "A1", "_A",
         "A_", "A_B", "A_1", "A__1__2__B", "__123_ABC"],
        ["", "1", "123", "1a", "-", "a-", "-a", "1-", "-1", "1_", "1_2", ".", "a.", ".a", "a.b", "1.", ".1", "1.2",
         " ", "a ", " a", "a b", "1 ", " 1", "1 2", "#a#"],
    ),
)  # fmt: skip
def test_is_c_identifier(value: str, valid: bool) -> None:
    assert (is_c_identifier(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["simple", "now-with-dashes", "1-starts-with-num", "1234", "simple/simple", "now-with-dashes/simple",
         "now.with.dots/simple", "1-num.2-num/3-num", "1234/5678", "1.2.3.4/5678", "Uppercase_Is_OK_123",
         "example.com/Uppercase_Is_OK_123", "requests.storage-foo", "a" * 63, "a" * 253 + "/" + "b" * 63],
        ["nospecialchars%^=@", "cantendwithadash-", "-cantstartwithadash-", "only/one/slash", "Example.com/abc",
         "example_com/abc", "example.com/", "/simple", "a" * 64, "a" * 254 + "/abc"],
    ),
)  # fmt: skip
def test_is_qualified_name(value: str, valid: bool) -> None:
    assert (is_qualified_name(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a" * 64, ["name part must be no more than 63 characters"], id="too-long"),
        pytest.param("/x", ["prefix part must be non-empty"], id="empty-prefix"),
        pytest.param("x/", ["name part must be non-empty", NAME_PART_MSG], id="empty-name"),
        pytest.param("Example.com/abc", ["prefix part " + SUBDOMAIN_MSG], id="uppercase-prefix"),
        pytest.param("-x", [NAME_PART_MSG], id="leading-dash"),
    ],
)
def test_is_qualified_name_messages(value: str, expected: list[str]) -> None:
    assert is_qualified_name(value) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["simple", "now-with-dashes", "1-starts-with-num", "end-with-num-1", "1234", "a" * 63, ""],
        ["nospecialchars%^=@", "Tama-nui-te-rā.is.Māori.sun", "\\backslashes\\are\\bad", "-starts-with-dash",
         "ends-with-dash-", ".starts.with.dot", "ends.with.dot.", "a" * 64],
    ),
)  # fmt: skip
def test_is_valid_label_value(value: str, valid: bool) -> None:
    assert (is_valid_label_value(value) == []) is valid


def test_lengths_are_counted_in_bytes_like_go() -> None:
    # 32 two-byte characters: 64 bytes, over the 63 limit although only 32 characters long.
    assert is_valid_label_value("ā" * 32)[0] == "must be no more than 63 characters"


@pytest.mark.parametrize(
    ("validator", "value", "expected"),
    [
        pytest.param(is_dns1123_label, "a.b", ["must not contain dots"], id="label-dots"),
        pytest.param(is_dns1123_label, "A", [LABEL_MSG], id="label-regex"),
        pytest.param(is_dns1123_label, "a" * 64, ["must be no more than 63 characters"], id="label-too-long"),
        pytest.param(is_dns1123_subdomain, "Foo", [SUBDOMAIN_MSG], id="subdomain"),
        pytest.param(is_valid_label_value, "-a", [LABEL_VALUE_MSG], id="label-value"),
        pytest.param(
            is_dns1035_label,
            "1a",
            [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
            id="dns1035",
        ),
        pytest.param(
            is_c_identifier,
            "1a",
            [
                "a valid C identifier must start with alphabetic character or '_', followed by a string of "
                "alphanumeric characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for "
                "validation is '[A-Za-z_][A-Za-z0-9_]*')"
            ],
            id="c-identifier",
        ),
        pytest.param(is_env_var_name, "..x", ["must not start with '..'"], id="env-dotdot"),
        pytest.param(
            is_env_var_name,
            "1x",
            [
                "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or "
                "'.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', "
                "regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
            ],
            id="env-digit",
        ),
        pytest.param(is_env_var_name, "my.env-NAME_1", [], id="env-ok"),
        pytest.param(is_env_var_name, ".", ["must not be '.'"], id="env-dot"),
        pytest.param(
            is_valid_percent,
            "1.5%",
            [
                "a valid percent string must be a numeric string followed by an ending '%' "
                "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            ],
            id="percent",
        ),
        pytest.param(is_valid_percent, "00000%", [], id="percent-zeros"),
        pytest.param(
            is_valid_port_name,
            "-a--",
            ["must not contain consecutive hyphens", "must not begin or end with a hyphen"],
            id="port-name-hyphens",
        ),
        pytest.param(
            is_valid_port_name,
            "12345",
            ["must contain at least one letter (a-z)"],
            id="port-name-digits",
        ),
        pytest.param(
            is_valid_port_name,
            "",
            [
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "must contain at least one letter (a-z)",
            ],
            id="port-name-empty",
        ),
        pytest.param(is_valid_port_name, "a" * 16, ["must be no more than 15 characters"], id="port-name-long"),
        pytest.param(is_config_map_key, "..bad", ["must not start with '..'"], id="config-map-key"),
        pytest.param(is_http_header_name, "X-Header", [], id="header"),
        pytest.param(is_wildcard_dns1123_subdomain, "*.example.com", [], id="wildcard"),
    ],
)
def test_validator_messages(validator: Callable[[str], list[str]], value: str, expected: list[str]) -> None:
    assert validator(value) == expected


@pytest.mark.parametrize(
    ("port", "valid"),
    [(1, True), (2, True), (1000, True), (16384, True), (65535, True), (0, False), (-1, False), (65536, False)],
)
def test_is_valid_port_num(port: int, valid: bool) -> None:
    assert is_valid_port_num(port) == ([] if valid else ["must be between 1 and 65535, inclusive"])


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["telnet", "re-mail-ck", "pop3", "a", "a-1", "1-a", "a-1-b-2-c", "1-a-2-b-3"],
        ["longerthan15characters", "", "a" * 16, "12345", "1-2-3-4", "-begin", "end-", "two--hyphens", "whois++"],
    ),
)  # fmt: skip
def test_is_valid_port_name(value: str, valid: bool) -> None:
    assert (is_valid_port_name(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["a", "good", "good-good", "still.good", "this.is.also.good", ".so.is.this", "THIS_IS_GOOD", "so_is_this_17"],
        [".", "..", "..bad", "b*d", "bad!&bad"],
    ),
)  # fmt: skip
def test_is_config_map_key(value: str, valid: bool) -> None:
    assert (is_config_map_key(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["*.example.com", "*.bar.com", "*.foo.bar.com"],
        ["*.*.bar.com", "*.foo.*.com", "*bar.com", "f*.bar.com", "*"],
    ),
)  # fmt: skip
def test_is_wildcard_dns1123_subdomain(value: str, valid: bool) -> None:
    assert (is_wildcard_dns1123_subdomain(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(
        ["Accept-Encoding", "Host", "If-Modified-Since", "X-Forwarded-For", "a", "-a", "a-", "--abc-123", "A-1"],
        ["Host:", "X-@Home", "", "_", "a_", "a.b", " ", "a b", "#a#", "^", ",", ";", "=", "<", "?", "@", "{"],
    ),
)  # fmt: skip
def test_is_http_header_name(value: str, valid: bool) -> None:
    assert (is_http_header_name(value) == []) is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    _cases(["0%", "00000%", "1%", "01%", "99%", "100%", "101%"],
           ["", "0", "100", "0.0%", "99.9%", "hundred", " 1%", "1% ", "-0%", "-1%", "+1%"]),
)  # fmt: skip
def test_is_valid_percent(value: str, valid: bool) -> None:
    assert (is_valid_percent(value) == []) is valid


# -- IP addresses and CIDRs (upstream ip_test.go) -----------------------------------------------------

_INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


@pytest.mark.parametrize(
    ("value", "strict_error", "legacy_error", "legacy_strict_error"),
    [
        pytest.param("1.2.3.4", None, None, None, id="ipv4"),
        pytest.param("0.0.0.0", None, None, None, id="ipv4-zeros"),
        pytest.param("255.255.255.255", None, None, None, id="ipv4-max"),
        pytest.param("1234::abcd", None, None, None, id="ipv6"),
        pytest.param("::", None, None, None, id="ipv6-zeros"),
        pytest.param("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None, None, None, id="ipv6-max"),
        pytest.param("0:0:0:0:0:0:0:0", 'must be in canonical form ("::")', None, None, id="expanded"),
        pytest.param("0001:002:03:4::", 'must be in canonical form ("1:2:3:4::")', None, None, id="ipv6-zeros-lead"),
        pytest.param("1234::ABCD", 'must be in canonical form ("1234::abcd")', None, None, id="capitals"),
        pytest.param("1.1.1.01", "must not have leading 0s", None, "must not have leading 0s", id="octet-zero"),
        pytest.param(
            "::ffff:1.1.1.1",
            "must not be an IPv4-mapped IPv6 address",
            None,
            "must not be an IPv4-mapped IPv6 address",
            id="mapped",
        ),
        pytest.param("", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="empty"),
        pytest.param("aaaaaaa", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="junk"),
        pytest.param("myhost.mydomain", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="domain"),
        pytest.param("1.2.3.0/24", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="cidr"),
        pytest.param("1.2.3.400", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="octet-range"),
        pytest.param("-1.0.0.0", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="negative"),
        pytest.param("2001:db8::10005", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="segment-range"),
        pytest.param("1.2.3.4:80", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="port"),
        pytest.param("[2001:db8::1]", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="brackets"),
        pytest.param("[2001:db8::1]:80", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="brackets-port"),
        pytest.param("example.com:80", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="host-port"),
        pytest.param("1234::abcd%eth0", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="ipv6-zone"),
        pytest.param("169.254.0.0%eth0", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="ipv4-zone"),
        pytest.param("1.2.3", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="three-octets"),
        pytest.param("::1.2.3.4", 'must be in canonical form ("::102:304")', None, None, id="embedded-ipv4"),
        # Go's sloppy parser reads any number of hex digits up to 0xFFFF; net/netip allows four.
        pytest.param("00001::", "must not have leading 0s", None, "must not have leading 0s", id="five-hex-digits"),
        pytest.param("10001::", _INVALID_IP, _INVALID_IP, _INVALID_IP, id="hextet-range"),
        pytest.param("::ffff:01.2.3.4", "must not have leading 0s", None, "must not have leading 0s", id="mapped-zero"),
    ],
)
def test_ip_validation(
    value: str, strict_error: str | None, legacy_error: str | None, legacy_strict_error: str | None
) -> None:
    path = Path("spec", "ip")
    for errors, expected in (
        (is_valid_ip(path, value), strict_error),
        (is_valid_ip_for_legacy_field(path, value, strict_validation=False), legacy_error),
        (is_valid_ip_for_legacy_field(path, value, strict_validation=True), legacy_strict_error),
    ):
        assert [e.detail for e in errors] == ([] if expected is None else [expected])
        assert all(e.field == "spec.ip" and e.bad_value == value for e in errors)
    assert is_valid_ip_for_legacy_field(path, value, valid_old_ips=[value]) == []


_INVALID_CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


@pytest.mark.parametrize(
    ("value", "strict_error", "legacy_error"),
    [
        pytest.param("1.0.0.0/8", None, None, id="ipv4"),
        pytest.param("0.0.0.0/0", None, None, id="ipv4-all"),
        pytest.param("1.1.1.1/32", None, None, id="ipv4-single"),
        pytest.param("2001:4860:4860::/48", None, None, id="ipv6"),
        pytest.param("::/0", None, None, id="ipv6-all"),
        pytest.param("::1/128", None, None, id="ipv6-single"),
        pytest.param("2a00:79e0:2:0::/64", 'must be in canonical form ("2a00:79e0:2::/64")', None, id="extra-zeros"),
        pytest.param("2001:DB8::/64", 'must be in canonical form ("2001:db8::/64")', None, id="capitals"),
        pytest.param("1.1.01.0/24", "must not have leading 0s in IP or prefix length", None, id="octet-zero"),
        pytest.param("::ffff:1.1.1.0/24", "must not have an IPv4-mapped IPv6 address", None, id="mapped-short"),
        pytest.param("::ffff:1.1.1.0/120", "must not have an IPv4-mapped IPv6 address", None, id="mapped-long"),
        pytest.param("1.2.3.4/24", "must not have bits set beyond the prefix length", None, id="ipv4-ifaddr"),
        pytest.param("2001:db8::1/64", "must not have bits set beyond the prefix length", None, id="ipv6-ifaddr"),
        pytest.param("192.168.0.0/016", "must not have leading 0s in IP or prefix length", None, id="prefix-zero"),
        pytest.param("", _INVALID_CIDR, _INVALID_CIDR, id="empty"),
        pytest.param("aaaaaaa", _INVALID_CIDR, _INVALID_CIDR, id="junk"),
        pytest.param("1.2.3.4", _INVALID_CIDR, _INVALID_CIDR, id="address"),
        pytest.param("192.168.0.1/healthz", _INVALID_CIDR, _INVALID_CIDR, id="url"),
        pytest.param("192.168.0.1/0/99", _INVALID_CIDR, _INVALID_CIDR, id="url-2"),
        pytest.param("192.168.0.0/-16", _INVALID_CIDR, _INVALID_CIDR, id="negative-prefix"),
        pytest.param("192.168.0.0/+16", _INVALID_CIDR, _INVALID_CIDR, id="signed-prefix"),
        pytest.param("10.0.0.0/33", _INVALID_CIDR, _INVALID_CIDR, id="prefix-too-long"),
    ],
)
def test_cidr_validation(value: str, strict_error: str | None, legacy_error: str | None) -> None:
    path = Path("spec", "cidr")

    assert [e.detail for e in is_valid_cidr(path, value)] == ([] if strict_error is None else [strict_error])
    legacy = is_valid_cidr_for_legacy_field(path, value, strict_validation=False)
    assert [e.detail for e in legacy] == ([] if legacy_error is None else [legacy_error])
    if strict_error is not None and "canonical" not in strict_error:
        assert [e.detail for e in is_valid_cidr_for_legacy_field(path, value)] == [strict_error]
    assert is_valid_cidr_for_legacy_field(path, value, valid_old_cidrs=[value]) == []


_INVALID_IFADDR = "must be a valid address in CIDR form, (e.g. 10.9.8.7/24 or 2001:db8::1/64)"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("1.2.3.4/24", None, id="ipv4"),
        pytest.param("1.1.1.1/32", None, id="ipv4-single"),
        pytest.param("2001:4860:4860::1/48", None, id="ipv6"),
        pytest.param("::1/128", None, id="ipv6-single"),
        pytest.param("", _INVALID_IFADDR, id="empty"),
        pytest.param("aaaaaaa", _INVALID_IFADDR, id="junk"),
        pytest.param("1.2.3.4", _INVALID_IFADDR, id="address"),
        pytest.param("192.168.0.1/healthz", _INVALID_IFADDR, id="url"),
        pytest.param("192.168.0.1/0/99", _INVALID_IFADDR, id="url-2"),
        pytest.param("192.168.0.0/-16", _INVALID_IFADDR, id="negative"),
        pytest.param("192.168.0.0/+16", _INVALID_IFADDR, id="signed"),
        pytest.param("2001:0:0:0::0BCD/64", 'must be in canonical form ("2001::bcd/64")', id="ipv6-long"),
        pytest.param("1.1.01.002/24", 'must be in canonical form ("1.1.1.2/24")', id="octet-zeros"),
        pytest.param("::ffff:1.1.1.1/24", 'must be in canonical form ("1.1.1.1/24")', id="mapped-short"),
        pytest.param("::ffff:1.1.1.1/120", 'must be in canonical form ("1.1.1.1/24")', id="mapped-long"),
        pytest.param("192.168.0.5/016", 'must be in canonical form ("192.168.0.5/16")', id="prefix-zero"),
    ],
)
def test_interface_address_validation(value: str, error: str | None) -> None:
    assert [e.detail for e in is_valid_interface_address(Path("a"), value)] == ([] if error is None else [error])


# -- names ---------------------------------------------------------------------------------------------


# upstream TestMaskTrailingDash, quirk included
@pytest.mark.parametrize(
    ("name", "masked"),
    [("", ""), ("-", "-"), ("-foo", "-foo"), ("-foo-", "-foa"), ("b-", "a"), ("ab", "ab")],
)
def test_mask_trailing_dash(name: str, masked: str) -> None:
    assert mask_trailing_dash(name) == masked


@pytest.mark.parametrize(
    ("validator", "name", "prefix", "valid"),
    [
        pytest.param(name_is_dns_subdomain, "foo-", True, True, id="subdomain-prefix-dash"),
        pytest.param(name_is_dns_subdomain, "foo-", False, False, id="subdomain-name-dash"),
        pytest.param(name_is_dns_label, "a.b", False, False, id="label-dots"),
        pytest.param(name_is_dns_label, "web-", True, True, id="label-prefix"),
        pytest.param(validate_path_segment_name, "..", False, False, id="path-dotdot"),
        pytest.param(validate_path_segment_name, "..", True, True, id="path-prefix-dotdot"),
        pytest.param(validate_path_segment_name, "a/b", True, False, id="path-slash"),
        pytest.param(validate_path_segment_name, "Any Name:ok", False, True, id="path-anything-else"),
    ],
)
def test_name_validators(validator: Callable[[str, bool], list[str]], name: str, prefix: bool, valid: bool) -> None:
    assert (validator(name, prefix) == []) is valid


def test_path_segment_messages() -> None:
    assert validate_path_segment_name(".", False) == ["may not be '.'"]
    assert validate_path_segment_name("a/%", False) == ["may not contain '/'", "may not contain '%'"]


@pytest.mark.parametrize(
    ("prefix", "expected_prefix"),
    [
        pytest.param("web-", "web-", id="short"),
        pytest.param("x" * 58, "x" * 58, id="at-limit"),
        pytest.param("x" * 70, "x" * 58, id="truncated"),
        pytest.param("", "", id="empty"),
    ],
)
def test_generate_name(prefix: str, expected_prefix: str) -> None:
    names = {generate_name(prefix) for _ in range(20)}

    for name in names:
        assert name.startswith(expected_prefix)
        suffix = name[len(expected_prefix) :]
        assert len(suffix) == 5
        assert set(suffix) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert len(name) <= 63
    assert len(names) > 1  # random: 27^5 possibilities


# -- labels, annotations, selectors, managed fields ----------------------------------------------------


@pytest.mark.parametrize(
    "label_set",
    [
        {"simple": "bar"},
        {"now-with-dashes": "bar"},
        {"1-starts-with-num": "bar"},
        {"1234": "bar"},
        {"simple/simple": "bar"},
        {"now-with-dashes/now-with-dashes": "bar"},
        {"now.with.dots/simple": "bar"},
        {"1.2.3.4/5678": "bar"},
        {"UpperCaseAreOK123": "bar"},
        {"goodvalue": "123_-.BaR"},
    ],
)
def test_validate_labels_accepts(label_set: dict[str, str]) -> None:
    assert validate_labels(label_set, Path("field")) == []


@pytest.mark.parametrize(
    ("label_set", "expected"),
    [
        ({"nospecialchars^=@": "bar"}, "name part must consist of"),
        ({"cantendwithadash-": "bar"}, "name part must consist of"),
        ({"only/one/slash": "bar"}, "a qualified name must consist of"),
        ({"a" * 254: "bar"}, "must be no more than"),
        ({"toolongvalue": "a" * 64}, "must be no more than"),
        ({"backslashesinvalue": "some\\bad\\value"}, "a valid label must be an empty string or consist of"),
        ({"nocommasallowed": "bad,value"}, "a valid label must be an empty string or consist of"),
        ({"strangecharsinvalue": "?#$notsogood"}, "a valid label must be an empty string or consist of"),
    ],
)
def test_validate_labels_rejects(label_set: dict[str, str], expected: str) -> None:
    [error] = validate_labels(label_set, Path("field"))

    assert expected in error.detail
    assert error.field == "field"  # upstream reports at the map, not at the key


def test_validate_labels_reports_wrong_types() -> None:
    errors = validate_labels({"a": 1, "b": "ok"}, Path("metadata", "labels"))

    assert [e.error() for e in errors] == ["metadata.labels[a]: Invalid value: 1: must be of type string"]
    assert validate_labels(["a"], Path("l"))[0].type is ErrorType.TYPE_INVALID


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({"UpperCase123": "bar"}, [], id="case-insensitive"),
        pytest.param({"1.2.3.4/5678": "bar"}, [], id="prefixed"),
        pytest.param({"a": "b" * (256 * 1024 - 1)}, [], id="just-under-limit"),
        pytest.param({"a": "b" * (128 * 1024 - 1), "c": "d" * (128 * 1024 - 1)}, [], id="two-under-limit"),
        pytest.param(
            {"a": "b" * (256 * 1024)},
            ["field: Too long: may not be more than 262144 bytes"],
            id="over-limit",
        ),
        pytest.param(
            {"nospecialchars^=@": "bar"},
            [f'field: Invalid value: "nospecialchars^=@": {NAME_PART_MSG}'],
            id="bad-key",
        ),
        pytest.param(
            {"Example.COM/x": "y"},
            [],
            id="upper-case-prefix-allowed",
        ),
    ],
)
def test_validate_annotations(annotations: dict[str, str], expected: list[str]) -> None:
    assert [e.error() for e in validate_annotations(annotations, Path("field"))] == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param(None, [], id="nil"),
        pytest.param({"matchExpressions": [{"key": "key", "operator": "In", "values": ["value"]}]}, [], id="valid"),
        pytest.param(
            {"matchExpressions": [{"key": "-key", "operator": "In", "values": ["value"]}]},
            [f'labelSelector.matchExpressions[0].key: Invalid value: "-key": {NAME_PART_MSG}'],
            id="bad-key",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "key", "operator": "abc", "values": ["value"]}]},
            ['labelSelector.matchExpressions[0].operator: Invalid value: "abc": not a valid selector operator'],
            id="bad-operator",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "key", "operator": "In", "values": ["-value"]}]},
            [f'labelSelector.matchExpressions[0].values[0]: Invalid value: "-value": {LABEL_VALUE_MSG}'],
            id="bad-value",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "key", "operator": "NotIn"}]},
            [
                "labelSelector.matchExpressions[0].values: Required value: "
                "must be specified when `operator` is 'In' or 'NotIn'"
            ],
            id="values-required",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "key", "operator": "Exists", "values": ["x"]}]},
            [
                "labelSelector.matchExpressions[0].values: Forbidden: "
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
            ],
            id="values-forbidden",
        ),
        pytest.param(
            {"matchLabels": {"a": "-"}},
            [f'labelSelector.matchLabels: Invalid value: "-": {LABEL_VALUE_MSG}'],
            id="match-labels",
        ),
    ],
)
def test_validate_label_selector(selector: dict[str, Any] | None, expected: list[str]) -> None:
    assert [e.error() for e in validate_label_selector(selector, Path("labelSelector"))] == expected


def test_validate_label_selector_options() -> None:
    selector = {"matchExpressions": [{"key": "k", "operator": "Weird", "values": ["-bad"]}]}

    assert (
        validate_label_selector(selector, Path("s"), allow_unknown_operator=True, allow_invalid_label_value=True) == []
    )


@pytest.mark.parametrize(
    ("manager", "expected"),
    [
        pytest.param("filedManager", [], id="ascii"),
        pytest.param("你好", [], id="chinese"),
        pytest.param("🍔", [], id="emoji"),
        pytest.param(
            "field\nmanager",
            ['fieldManager: Invalid value: "field\\nmanager": invalid character U+000A (at position 5)'],
            id="newline",
        ),
        pytest.param(
            "你\x07",
            ['fieldManager: Invalid value: "你\\a": invalid character U+0007 (at position 3)'],
            id="byte-position",
        ),
        pytest.param("f" * 129, ["fieldManager: Too long: may not be more than 128 bytes"], id="too-long"),
    ],
)
def test_validate_field_manager(manager: str, expected: list[str]) -> None:
    assert [e.error() for e in validate_field_manager(manager, Path("fieldManager"))] == expected


@pytest.mark.parametrize(
    ("entry", "valid"),
    [
        pytest.param({"operation": "Update", "apiVersion": "v1"}, True, id="no-fields-type"),
        pytest.param({"operation": "Update", "fieldsType": "FieldsV1", "apiVersion": "v1"}, True, id="update"),
        pytest.param({"operation": "Apply", "fieldsType": "FieldsV1", "subresource": "scale"}, True, id="apply"),
        pytest.param({"operation": "Apply", "fieldsType": "FieldsV1", "manager": "🍔"}, True, id="emoji-manager"),
        pytest.param({"operation": "Update", "fieldsType": "RandomVersion"}, False, id="bad-fields-type"),
        pytest.param({"operation": "RandomOperation", "fieldsType": "FieldsV1"}, False, id="bad-operation"),
        pytest.param({"fieldsType": "FieldsV1"}, False, id="missing-operation"),
        pytest.param({"operation": "Update", "manager": "field\nmanager"}, False, id="bad-manager"),
        pytest.param({"operation": "Apply", "subresource": "TooLong" * 40}, False, id="long-subresource"),
    ],
)
def test_validate_managed_fields(entry: dict[str, Any], valid: bool) -> None:
    assert (validate_managed_fields([entry], Path("managedFields")) == []) is valid


# -- object metadata --------------------------------------------------------------------------------


def _meta_errors(meta: dict[str, Any], *, namespaced: bool = True) -> list[str]:
    return [e.error() for e in validate_object_meta(meta, namespaced=namespaced, name_validator=name_is_dns_subdomain)]


@pytest.mark.parametrize(
    ("meta", "namespaced", "expected"),
    [
        pytest.param({"name": "test", "namespace": "default"}, True, [], id="valid"),
        pytest.param(
            {"name": "Foo", "namespace": "default"},
            True,
            [f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}'],
            id="brief-example",
        ),
        pytest.param(
            {"namespace": "default"},
            True,
            ["metadata.name: Required value: name or generateName is required"],
            id="name-required",
        ),
        pytest.param({"name": "n"}, True, ["metadata.namespace: Required value"], id="namespace-required"),
        pytest.param(
            {"name": "n", "namespace": "foo.bar"},
            True,
            ['metadata.namespace: Invalid value: "foo.bar": must not contain dots'],
            id="namespace-dots",
        ),
        pytest.param(
            {"name": "n", "namespace": "default"},
            False,
            ["metadata.namespace: Forbidden: not allowed on this type"],
            id="namespace-forbidden",
        ),
        pytest.param({"name": "test", "generateName": "foo-"}, False, [], id="generate-name-trailing-dash"),
        pytest.param(
            {"name": "test", "generateName": "Foo-"},
            False,
            [f'metadata.generateName: Invalid value: "Foo-": {SUBDOMAIN_MSG}'],
            id="generate-name-invalid",
        ),
        pytest.param(
            {"name": "n", "generation": -1},
            False,
            ["metadata.generation: Invalid value: -1: must be greater than or equal to 0"],
            id="negative-generation",
        ),
        pytest.param(
            {"name": "n", "finalizers": ["orphan", "foregroundDeletion"]},
            False,
            [
                'metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: '
                "finalizer orphan and foregroundDeletion cannot be both set"
            ],
            id="conflicting-finalizers",
        ),
        pytest.param(
            {"name": "n", "finalizers": ["example.com/x", "a/b/c"]},
            False,
            [
                'metadata.finalizers: Invalid value: "a/b/c": a qualified name must consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"
            ],
            id="bad-finalizer",
        ),
        pytest.param(
            {"name": "n", "labels": {"a": "-"}, "annotations": {"b/c/d": ""}},
            False,
            [
                f'metadata.labels: Invalid value: "-": {LABEL_VALUE_MSG}',
                'metadata.annotations: Invalid value: "b/c/d": a qualified name must consist of alphanumeric '
                "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')",
            ],
            id="labels-and-annotations",
        ),
        pytest.param(
            {"name": 5, "namespace": "default"},
            True,
            [
                "metadata.name: Invalid value: 5: must be of type string",
                "metadata.name: Required value: name or generateName is required",
            ],
            id="wrong-type",
        ),
        pytest.param(
            {"name": "n", "managedFields": [{"operation": "Patch"}]},
            False,
            ['metadata.managedFields[0].operation: Invalid value: "Patch": must be `Apply` or `Update`'],
            id="managed-fields",
        ),
    ],
)
def test_validate_object_meta(meta: dict[str, Any], namespaced: bool, expected: list[str]) -> None:
    assert _meta_errors(meta, namespaced=namespaced) == expected


def _ref(uid: str, kind: str = "customresourceKind", controller: bool | None = None, **extra: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": "customresourceVersion", "kind": kind, "name": "name", "uid": uid}
    if controller is not None:
        ref["controller"] = controller
    ref.update(extra)
    return ref


# upstream TestValidateObjectMetaOwnerReferences
@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        pytest.param([_ref("1")], [], id="third-party"),
        pytest.param(
            [{"apiVersion": "v1", "kind": "Event", "name": "name", "uid": "1"}],
            [
                'metadata.ownerReferences: Invalid value: {"apiVersion":"v1","kind":"Event","name":"name",'
                '"uid":"1"}: /v1, Kind=Event is disallowed from being an owner'
            ],
            id="event-owner",
        ),
        pytest.param(
            [_ref("1", controller=False), _ref("2", controller=True), _ref("3", controller=False), _ref("4")],
            [],
            id="one-controller",
        ),
        pytest.param(
            [_ref("1", "K1", False), _ref("2", "K2", True), _ref("3", "K3", True), _ref("4", "K4")],
            [
                "metadata.ownerReferences: Invalid value: ["
                '{"apiVersion":"customresourceVersion","kind":"K1","name":"name","uid":"1","controller":false},'
                '{"apiVersion":"customresourceVersion","kind":"K2","name":"name","uid":"2","controller":true},'
                '{"apiVersion":"customresourceVersion","kind":"K3","name":"name","uid":"3","controller":true},'
                '{"apiVersion":"customresourceVersion","kind":"K4","name":"name","uid":"4"}]: '
                "Only one reference can have Controller set to true. "
                'Found "true" in references for K2/name and K3/name'
            ],
            id="two-controllers",
        ),
        pytest.param(
            [{"kind": "", "name": ""}],
            [
                'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
                'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
                'metadata.ownerReferences.name: Invalid value: "": must not be empty',
                'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
            ],
            id="empty-reference",
        ),
        pytest.param(
            [_ref("1", apiVersion="a/b/c")],
            ['metadata.ownerReferences.apiVersion: Invalid value: "a/b/c": version must not be empty'],
            id="malformed-api-version",
        ),
        pytest.param([_ref("1", apiVersion="apps/v1", blockOwnerDeletion=True)], [], id="grouped"),
    ],
)
def test_validate_owner_references(refs: list[dict[str, Any]], expected: list[str]) -> None:
    assert _meta_errors({"name": "test", "namespace": "test", "ownerReferences": refs}) == expected


_NOW = "1970-01-01T00:16:40Z"
_LATER = "1970-01-01T00:33:20Z"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param({}, {}, [], id="unchanged"),
        # upstream TestValidateObjectMetaUpdatePreventsDeletionFieldMutation
        pytest.param(
            {"deletionTimestamp": _NOW, "deletionGracePeriodSeconds": 30},
            {"deletionTimestamp": _NOW, "deletionGracePeriodSeconds": 30},
            [],
            id="deletion-fields-kept",
        ),
        pytest.param(
            {},
            {"deletionTimestamp": _NOW},
            [f'metadata.deletionTimestamp: Invalid value: "{_NOW}": field is immutable'],
            id="set-deletion-timestamp",
        ),
        pytest.param(
            {"deletionTimestamp": _NOW},
            {},
            ["metadata.deletionTimestamp: Invalid value: null: field is immutable"],
            id="clear-deletion-timestamp",
        ),
        pytest.param(
            {"deletionTimestamp": _NOW},
            {"deletionTimestamp": _LATER},
            [f'metadata.deletionTimestamp: Invalid value: "{_LATER}": field is immutable'],
            id="change-deletion-timestamp",
        ),
        pytest.param(
            {},
            {"deletionGracePeriodSeconds": 30},
            ["metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable"],
            id="set-grace-period",
        ),
        pytest.param(
            {"deletionGracePeriodSeconds": 30},
            {},
            ["metadata.deletionGracePeriodSeconds: Invalid value: null: field is immutable"],
            id="clear-grace-period",
        ),
        pytest.param(
            {"deletionGracePeriodSeconds": 30},
            {"deletionGracePeriodSeconds": 40},
            ["metadata.deletionGracePeriodSeconds: Invalid value: 40: field is immutable"],
            id="change-grace-period",
        ),
        # upstream TestObjectMetaGenerationUpdate
        pytest.param(
            {"generation": 5},
            {"generation": 4},
            ["metadata.generation: Invalid value: 4: must not be decremented"],
            id="generation-decremented",
        ),
        pytest.param({"generation": 1}, {"generation": 2}, [], id="generation-incremented"),
        # upstream TestValidateObjectMetaUpdateIgnoresCreationTimestamp: it is immutable in fact
        pytest.param(
            {"creationTimestamp": "1970-01-01T00:00:10Z"},
            {},
            ["metadata.creationTimestamp: Invalid value: null: field is immutable"],
            id="creation-timestamp-cleared",
        ),
        pytest.param(
            {"creationTimestamp": "1970-01-01T00:00:11Z"},
            {"creationTimestamp": "1970-01-01T00:00:10Z"},
            ['metadata.creationTimestamp: Invalid value: "1970-01-01T00:00:10Z": field is immutable'],
            id="creation-timestamp-changed",
        ),
        pytest.param(
            {"creationTimestamp": "1970-01-01T00:00:10Z"},
            {"creationTimestamp": "1970-01-01T01:00:10+01:00"},
            [],
            id="same-instant-other-offset",
        ),
        # upstream TestValidateFinalizersUpdate
        pytest.param(
            {"deletionTimestamp": _NOW, "finalizers": ["x/a"]},
            {"deletionTimestamp": _NOW, "finalizers": ["x/a", "y/b"]},
            [
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
                'found new finalizers []string{"y/b"}'
            ],
            id="adding-finalizers-while-deleting",
        ),
        pytest.param(
            {"deletionTimestamp": _NOW, "finalizers": ["x/a", "y/b"]},
            {"deletionTimestamp": _NOW, "finalizers": ["x/a"]},
            [],
            id="removing-finalizers-while-deleting",
        ),
        pytest.param({"finalizers": ["x/a"]}, {"finalizers": ["x/a", "y/b"]}, [], id="adding-finalizers"),
        # identity is immutable
        pytest.param(
            {"name": "test"},
            {"name": "other"},
            ['metadata.name: Invalid value: "other": field is immutable'],
            id="name",
        ),
        pytest.param(
            {"namespace": "a"},
            {"namespace": "b"},
            ['metadata.namespace: Invalid value: "b": field is immutable'],
            id="ns",
        ),
        pytest.param({"uid": "1"}, {"uid": "2"}, ['metadata.uid: Invalid value: "2": field is immutable'], id="uid"),
        pytest.param(
            {},
            {"labels": {"a": "-"}},
            [f'metadata.labels: Invalid value: "-": {LABEL_VALUE_MSG}'],
            id="labels-validated",
        ),
    ],
)
def test_validate_object_meta_update(old: dict[str, Any], new: dict[str, Any], expected: list[str]) -> None:
    old_meta = {"name": "test", "resourceVersion": "1", **old}
    new_meta = {"name": "test", "resourceVersion": "1", **new}

    assert [e.error() for e in validate_object_meta_update(new_meta, old_meta)] == expected


def test_metadata_that_is_not_an_object_is_reported() -> None:
    errors = validate_object_meta(["x"], namespaced=False, name_validator=name_is_dns_subdomain)  # type: ignore[arg-type]

    assert [e.error() for e in errors] == ['metadata: Invalid value: ["x"]: must be of type object']
    assert validate_object_meta_update(None, {})[0].type is ErrorType.TYPE_INVALID  # type: ignore[arg-type]


def test_update_requires_resource_version() -> None:
    errors = validate_object_meta_update({"name": "test"}, {"name": "test", "resourceVersion": "7"})

    assert [e.error() for e in errors] == [
        'metadata.resourceVersion: Invalid value: "": must be specified for an update'
    ]


def test_update_uses_the_given_path() -> None:
    errors = validate_object_meta_update({"name": "b", "resourceVersion": "1"}, {"name": "a"}, path=Path("field"))

    assert [e.field for e in errors] == ["field.name"]


# -- fast paths: each must give exactly what the general code gives ---------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "A b", "x/y", "orphan",
                                                                      "foregroundDeletion", "\x01"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b/c", "k", "operation"]),
                                                                inner, max_size=3),
    max_leaves=8,
)
_META_FIELDS = ("name", "generateName", "namespace", "generation", "labels", "annotations", "ownerReferences",
                "finalizers", "managedFields")


def _object_meta_every_check(meta: dict[str, Any], namespaced: bool) -> list[FieldError]:
    """validate_object_meta as written before it skipped absent fields: every check, every time."""
    path = Path("metadata")
    head = validate_object_meta({k: v for k, v in meta.items() if k in ("name", "generateName", "namespace")},
                                namespaced=namespaced, name_validator=name_is_dns_subdomain)
    errors = list(head)
    generation = meta.get("generation")
    if generation is not None and (isinstance(generation, bool) or not isinstance(generation, int)):
        errors.append(FieldError.type_invalid(path.child("generation"), generation, "must be of type integer"))
        generation = 0
    if (generation or 0) < 0:
        errors.append(FieldError.invalid(path.child("generation"), generation, "must be greater than or equal to 0"))
    errors += validate_labels(meta.get("labels"), path.child("labels"))
    errors += validate_annotations(meta.get("annotations"), path.child("annotations"))
    errors += validate_owner_references(meta.get("ownerReferences"), path.child("ownerReferences"))
    errors += validate_finalizers(meta.get("finalizers"), path.child("finalizers"))
    errors += validate_managed_fields(meta.get("managedFields"), path.child("managedFields"))
    return errors


@settings(max_examples=300, deadline=None)
@given(meta=st.dictionaries(st.sampled_from(_META_FIELDS), _ANY_JSON | st.just("web"), max_size=6),
       namespaced=st.booleans())
def test_object_meta_skipping_absent_fields_reports_what_every_check_reports(meta: dict[str, Any],
                                                                             namespaced: bool) -> None:
    got = validate_object_meta(meta, namespaced=namespaced, name_validator=name_is_dns_subdomain)
    assert [e.error() for e in got] == [e.error() for e in _object_meta_every_check(meta, namespaced)]


def _field_manager_char_by_char(manager: str) -> list[str]:
    errors = []
    if len(manager.encode("utf-8", "surrogatepass")) > 128:
        errors.append("m: Too long: may not be more than 128 bytes")
    position = 0
    for ch in manager:
        if not ch.isprintable():
            errors.append(f'm: Invalid value: {go_quote(manager)}: invalid character U+{ord(ch):04X} '
                          f"(at position {position})")
        position += len(ch.encode("utf-8", "surrogatepass"))
    return errors


@settings(max_examples=300, deadline=None)
@given(manager=st.text(st.characters(codec="utf-8") | st.sampled_from(["\n", "\x7f", "\u00a0", "é", "\u2028"]),
                       max_size=140))
def test_field_manager_printable_shortcut_matches_the_char_by_char_check(manager: str) -> None:
    assert [e.error() for e in validate_field_manager(manager, Path("m"))] == _field_manager_char_by_char(manager)


def _go_quote_char_by_char(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                        "\v": "\\v"}[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


def _go_json_string_char_by_char(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    out = ['"']
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    return "".join(out) + '"'


_SPECIAL_CHARACTERS = list('"\\<>&\u2028\u2029\x00\x1f\x7f\t\n\ud800\udfff\U0001f600é')
_TRICKY_TEXT = st.text(st.characters() | st.sampled_from(_SPECIAL_CHARACTERS), max_size=20)


@settings(max_examples=500, deadline=None)
@given(text=_TRICKY_TEXT)
def test_quoting_shortcuts_match_the_char_by_char_rendering(text: str) -> None:
    assert go_quote(text) == _go_quote_char_by_char(text)
    assert go_json(text) == _go_json_string_char_by_char(text)


def _managed_fields_entry_by_entry(managed_fields: Any) -> list[str]:
    """validate_managed_fields before it passed plain entries over: every check on every entry."""
    path = Path("metadata", "managedFields")
    if managed_fields is None:
        return []
    if not isinstance(managed_fields, list):
        return [FieldError.type_invalid(path, managed_fields, "must be of type array").error()]
    errors: list[FieldError] = []

    def string(entry: dict[str, Any], name: str, entry_path: Path) -> str:
        value = entry.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            errors.append(FieldError.type_invalid(entry_path.child(name), value, "must be of type string"))
            return ""
        return value

    for i, entry in enumerate(managed_fields):
        entry_path = path.index(i)
        if not isinstance(entry, dict):
            errors.append(FieldError.type_invalid(entry_path, entry, "must be of type object"))
            continue
    for i, entry in enumerate(managed_fields):
        if not isinstance(entry, dict):
            continue
        entry_path = path.index(i)
        operation = string(entry, "operation", entry_path)
        if operation not in ("Apply", "Update"):
            errors.append(FieldError.invalid(entry_path.child("operation"), operation, "must be `Apply` or `Update`"))
        fields_type = string(entry, "fieldsType", entry_path)
        if fields_type and fields_type != "FieldsV1":
            errors.append(FieldError.invalid(entry_path.child("fieldsType"), fields_type, "must be `FieldsV1`"))
        manager = string(entry, "manager", entry_path)
        errors.extend(validate_field_manager(manager, entry_path.child("manager")))
        subresource = string(entry, "subresource", entry_path)
        if len(subresource.encode("utf-8", "surrogatepass")) > 256:
            errors.append(FieldError.too_long(entry_path.child("subresource"), 256))
    return [e.error() for e in errors]


_MANAGED_FIELDS_VALUES = st.none() | st.integers(0, 1) | st.sampled_from(
    ["", "Apply", "Update", "apply", "FieldsV1", "FieldsV2", "kubectl", "kube\x00ctl", "m" * 128, "é" * 65,
     "s" * 256, "s" * 257])


@settings(max_examples=400, deadline=None)
@given(managed_fields=st.none() | st.integers() | st.lists(
    st.integers() | st.dictionaries(st.sampled_from(["operation", "fieldsType", "manager", "subresource", "time"]),
                                    _MANAGED_FIELDS_VALUES, max_size=5), max_size=3))
def test_plain_managed_fields_entries_pass_as_the_full_checks_pass_them(managed_fields: Any) -> None:
    got = validate_managed_fields(managed_fields, Path("metadata", "managedFields"))
    assert [e.error() for e in got] == _managed_fields_entry_by_entry(managed_fields)
