"""Field errors and the generic validators of the Kubernetes API (names, labels, object metadata).

Design
------
Validation never raises for bad input: every validator returns a list, empty when the value is
fine. String checks (``is_dns1123_subdomain`` and friends) return upstream's *messages*, the pieces
that object validators wrap into :class:`FieldError` values with :meth:`FieldError.invalid` and a
:class:`Path`. A :class:`FieldError` renders exactly like upstream's ``field.Error``::

    metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must consist of ...

and carries what a ``Status`` cause needs (:attr:`FieldError.reason`, :attr:`FieldError.message`,
:attr:`FieldError.field`); :func:`aggregate_message` is upstream's ``ErrorList.ToAggregate().Error()``
for the ``Status`` message ``<Kind> "<name>" is invalid: [...]``.

Sources, reference release 1.34 of ``k8s.io/apimachinery`` (whose bad-value rendering is JSON, the
natural one for JSON objects), checked against ``master``:

* ``pkg/util/validation/field/{errors,path}.go``: :class:`FieldError`, :class:`ErrorType`, :class:`Path`.
* ``pkg/util/validation/{validation,ip}.go``: the ``is_*`` string and IP/CIDR validators.
* ``pkg/api/validation/{objectmeta,generic}.go`` and ``pkg/api/validation/path/name.go``: object
  metadata on create and update, the ``name_is_*`` name validators and ``mask_trailing_dash``
  (including its upstream quirk: "b-" becomes "a").
* ``pkg/apis/meta/v1/validation/validation.go``: labels, label selectors, managed fields.
* ``k8s.io/apiserver/pkg/storage/names``: :func:`generate_name`.

Objects are decoded JSON (``dict``/``list``/``str``/``int``...). Go's map iteration order is random,
so where upstream reports errors in map order we report them in sorted key order. Lengths are
counted in UTF-8 bytes, as Go's ``len``. A value of the wrong JSON type (a list where labels should
be) yields a ``FieldValueTypeInvalid`` error instead of an exception, since upstream never gets that
far (its decoder rejects the request).
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, final

__all__ = [
    "OMIT_VALUE",
    "ErrorType",
    "FieldError",
    "GoStruct",
    "NameValidator",
    "Path",
    "aggregate_message",
    "generate_name",
    "go_json",
    "go_quote",
    "is_c_identifier",
    "is_config_map_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_env_var_name",
    "is_http_header_name",
    "is_in_range",
    "is_qualified_name",
    "is_valid_cidr",
    "is_valid_cidr_for_legacy_field",
    "is_valid_group_id",
    "is_valid_interface_address",
    "is_valid_ip",
    "is_valid_ip_for_legacy_field",
    "is_valid_label_value",
    "is_valid_percent",
    "is_valid_port_name",
    "is_valid_port_num",
    "is_valid_user_id",
    "is_wildcard_dns1123_subdomain",
    "mask_trailing_dash",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "validate_annotations",
    "validate_field_manager",
    "validate_finalizers",
    "validate_immutable_field",
    "validate_label_name",
    "validate_label_selector",
    "validate_labels",
    "validate_managed_fields",
    "validate_namespace_name",
    "validate_nonnegative_field",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_owner_references",
    "validate_path_segment_name",
]


# ---------------------------------------------------------------------------------------------------
# Go value rendering: what fmt's %q and %v and encoding/json print, so that messages match byte for byte
# ---------------------------------------------------------------------------------------------------

_GO_SIMPLE_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Go ``strconv.Quote`` (and ``%q``): printable runes kept, the rest escaped Go-style."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # nothing the loop below would escape (managed fields quote names this way)
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            # Python's and Go's notions of "printable" agree: L, M, N, P, S and the ASCII space.
            out.append(ch)
        elif ch in _GO_SIMPLE_ESCAPES:
            out.append(_GO_SIMPLE_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # a lone surrogate is not a valid rune; Go substitutes U+FFFD
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_float_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits and the decimal point position (0.DIGITS x 10^point)."""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    point = len(digit_tuple) + exponent
    return digits, point


def go_format_float(value: float) -> str:
    """Go ``fmt`` ``%v`` of a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if str(value).startswith("-") else ""
    if value == 0:
        return sign + "0"
    digits, point = _go_float_digits(value)
    exponent = point - 1
    # %v prints the shortest digits and switches to exponent form below 1e-4 and from 1e6 up: Go
    # decides with precision 6 when the precision is "shortest".
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_sign = "-" if exponent < 0 else "+"
        return f"{sign}{mantissa}e{exp_sign}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_json_float(value: float) -> str:
    """Go ``encoding/json`` float64: %f-style, %e-style only below 1e-6 or from 1e21."""
    if not math.isfinite(value):
        # json.Marshal refuses these; upstream then prints the value with %#v.
        return go_format_float(value)
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    sign = "-" if value < 0 else ""
    digits, point = _go_float_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        exponent = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_sign = "-" if exponent < 0 else "+"
        return f"{sign}{mantissa}e{exp_sign}{abs(exponent)}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


_JSON_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    # encoding/json escapes HTML-significant characters and the JavaScript line separators.
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


# the characters _go_json_string escapes or replaces (its escapes, control characters, lone surrogates)
_JSON_SPECIAL: Final = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')


def _go_json_string(text: str) -> str:
    if _JSON_SPECIAL.search(text) is None:
        return f'"{text}"'  # nothing to escape: the common case (managed fields keys write names this way)
    out = ['"']
    for ch in text:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class GoStruct:
    """A JSON object whose members print in the given order, as a Go struct marshals."""

    members: tuple[tuple[str, Any], ...]


def go_json(value: Any) -> str:
    """Go ``json.Marshal`` of a decoded-JSON-like value (maps sorted by key, compact)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, GoStruct):
        return "{" + ",".join(f"{_go_json_string(k)}:{go_json(v)}" for k, v in value.members) + "}"
    if isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda item: item[0])
        return "{" + ",".join(f"{_go_json_string(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    # Anything else (a Quantity, a datetime) marshals as its text, as those Go types do.
    return _go_json_string(str(value))


def _go_sharp_v_strings(values: Sequence[str]) -> str:
    """Go ``%#v`` of a ``[]string``: ``[]string{"a", "b"}``."""
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def _byte_len(text: str) -> int:
    """Go's ``len`` of a string: UTF-8 bytes."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------------------------------------------
# Paths and field errors
# ---------------------------------------------------------------------------------------------------


@final
class Path:
    """Upstream ``field.Path``: ``Path("spec").child("containers").index(0).child("name")``.

    Renders as ``spec.containers[0].name``; :meth:`key` gives ``metadata.labels[app]``.
    """

    __slots__ = ("_index", "_name", "_parent")

    _name: str
    _index: str
    _parent: Path | None

    def __init__(self, name: str, *more_names: str) -> None:
        """Upstream ``NewPath``: a root element, then children."""
        node = Path._make(name, "", None)
        for extra in more_names:
            node = Path._make(extra, "", node)
        self._name, self._index, self._parent = node._name, node._index, node._parent

    @classmethod
    def _make(cls, name: str, index: str, parent: Path | None) -> Path:
        node = cls.__new__(cls)
        node._name, node._index, node._parent = name, index, parent
        return node

    def child(self, name: str, *more_names: str) -> Path:
        node = Path._make(name, "", self)
        for extra in more_names:
            node = Path._make(extra, "", node)
        return node

    def index(self, index: int) -> Path:
        return Path._make("", str(index), self)

    def key(self, key: str) -> Path:
        return Path._make("", key, self)

    def root(self) -> Path:
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    def __str__(self) -> str:
        elements: list[Path] = []
        node: Path | None = self
        while node is not None:
            elements.append(node)
            node = node._parent
        out: list[str] = []
        for element in reversed(elements):
            if element._name:
                if element._parent is not None:
                    out.append(".")
                out.append(element._name)
            else:
                # An empty name means a subscript; a root with an empty name prints as "[]" upstream.
                out.append(f"[{element._index}]")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


# Paths are immutable (child/index/key build new nodes), so a shared root is safe to reuse.
_METADATA: Final = Path("metadata")


def _path_text(path: Path | None) -> str:
    # Upstream prints a nil *Path as "<nil>" (label selector parse errors show it).
    return "<nil>" if path is None else str(path)


class ErrorType(StrEnum):
    """Upstream ``field.ErrorType``; the value is the ``Status`` cause ``reason``."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def text(self) -> str:
        """Upstream ``ErrorType.String()``: the words in messages ("Invalid value")."""
        return _ERROR_TYPE_TEXT[self]


_ERROR_TYPE_TEXT: Final = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}
# Types whose message never shows the bad value.
_VALUELESS_TYPES: Final = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


@final
class _OmitValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "OMIT_VALUE"


OMIT_VALUE: Final = _OmitValue()
"""A bad value that is left out of the message (upstream ``omitValue``)."""


def _render_value(value: Any) -> str:
    """How upstream's ``ErrorBody`` prints a bad value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One field-level validation error (upstream ``field.Error``)."""

    type: ErrorType
    field: str
    bad_value: Any
    detail: str

    # -- constructors, named as upstream's package functions ---------------------------------------

    @classmethod
    def invalid(cls, path: Path | None, value: Any, detail: str) -> FieldError:
        """A malformed value (failed regex, out of bounds)."""
        return cls(ErrorType.INVALID, _path_text(path), value, detail)

    @classmethod
    def required(cls, path: Path | None, detail: str = "") -> FieldError:
        """A value that must be given and was not."""
        return cls(ErrorType.REQUIRED, _path_text(path), "", detail)

    @classmethod
    def forbidden(cls, path: Path | None, detail: str) -> FieldError:
        """A well-formed value that is not allowed here."""
        return cls(ErrorType.FORBIDDEN, _path_text(path), "", detail)

    @classmethod
    def duplicate(cls, path: Path | None, value: Any) -> FieldError:
        return cls(ErrorType.DUPLICATE, _path_text(path), value, "")

    @classmethod
    def not_found(cls, path: Path | None, value: Any) -> FieldError:
        return cls(ErrorType.NOT_FOUND, _path_text(path), value, "")

    @classmethod
    def not_supported(cls, path: Path | None, value: Any, valid_values: Iterable[str]) -> FieldError:
        """A value outside an enumeration; the detail lists the allowed values."""
        quoted = [go_quote(str(v)) for v in valid_values]
        detail = "supported values: " + ", ".join(quoted) if quoted else ""
        return cls(ErrorType.NOT_SUPPORTED, _path_text(path), value, detail)

    @classmethod
    def too_long(cls, path: Path | None, max_length: int) -> FieldError:
        """A value longer than ``max_length`` bytes (the value itself is not repeated)."""
        if max_length >= 0:
            detail = f"may not be more than {max_length} {'byte' if max_length == 1 else 'bytes'}"
        else:
            detail = "value is too long"
        return cls(ErrorType.TOO_LONG, _path_text(path), "<value omitted>", detail)

    @classmethod
    def too_many(cls, path: Path | None, actual: int, max_quantity: int) -> FieldError:
        """A list with too many items."""
        if max_quantity >= 0:
            detail = f"must have at most {max_quantity} {'item' if max_quantity == 1 else 'items'}"
        else:
            detail = "has too many items"
        return cls(ErrorType.TOO_MANY, _path_text(path), actual if actual >= 0 else OMIT_VALUE, detail)

    @classmethod
    def type_invalid(cls, path: Path | None, value: Any, detail: str) -> FieldError:
        """A value of the wrong type for the schema."""
        return cls(ErrorType.TYPE_INVALID, _path_text(path), value, detail)

    @classmethod
    def internal_error(cls, path: Path | None, error: BaseException | str) -> FieldError:
        """A failure not caused by the user's input."""
        return cls(ErrorType.INTERNAL, _path_text(path), None, str(error))

    # -- rendering ---------------------------------------------------------------------------------

    def body(self) -> str:
        """Upstream ``ErrorBody``: the message without the field name (the ``Status`` cause message)."""
        if self.type in _VALUELESS_TYPES or self.bad_value is OMIT_VALUE:
            text = self.type.text
        else:
            text = f"{self.type.text}: {_render_value(self.bad_value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def error(self) -> str:
        """Upstream ``Error()``: ``<field>: <body>``."""
        return f"{self.field}: {self.body()}"

    def __str__(self) -> str:
        return self.error()

    @property
    def reason(self) -> str:
        """The ``Status`` cause ``reason`` (upstream's cause type), e.g. ``FieldValueInvalid``."""
        return self.type.value

    @property
    def message(self) -> str:
        """The ``Status`` cause ``message``."""
        return self.body()

    def status_cause(self) -> dict[str, str]:
        """This error as a ``metav1.StatusCause`` (what ``apierrors.NewInvalid`` builds)."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


def aggregate_message(errors: Iterable[FieldError | str]) -> str:
    """Upstream ``ErrorList.ToAggregate().Error()``: one message, or ``[a, b]``; duplicates dropped.

    Returns "" for no errors (upstream has no aggregate then).
    """
    seen: dict[str, None] = {}
    for err in errors:
        seen.setdefault(err.error() if isinstance(err, FieldError) else err, None)
    messages = list(seen)
    if not messages:
        return ""
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


# ---------------------------------------------------------------------------------------------------
# String validators: each returns upstream's list of messages, empty when the value is valid
# ---------------------------------------------------------------------------------------------------


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(message: str, regex: str, *examples: str) -> str:
    """Upstream ``RegexError``: the message, examples and the regex."""
    if not examples:
        return f"{message} (regex used for validation is '{regex}')"
    quoted = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {quoted}regex used for validation is '{regex}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


_QNAME_CHAR_FMT: Final = "[A-Za-z0-9]"
_QNAME_EXT_CHAR_FMT: Final = "[-A-Za-z0-9_.]"
QUALIFIED_NAME_FMT: Final = "(" + _QNAME_CHAR_FMT + _QNAME_EXT_CHAR_FMT + "*)?" + _QNAME_CHAR_FMT
_QUALIFIED_NAME_ERR_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
QUALIFIED_NAME_MAX_LENGTH: Final = 63
_QUALIFIED_NAME_RE: Final = re.compile(QUALIFIED_NAME_FMT)

LABEL_VALUE_FMT: Final = "(" + QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_ERR_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_MAX_LENGTH: Final = 63
_LABEL_VALUE_RE: Final = re.compile(LABEL_VALUE_FMT)

DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_ERR_MSG: Final = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
DNS1123_LABEL_MAX_LENGTH: Final = 63
_DNS1123_LABEL_RE: Final = re.compile(DNS1123_LABEL_FMT)

DNS1123_SUBDOMAIN_FMT: Final = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
_DNS1123_SUBDOMAIN_RE: Final = re.compile(DNS1123_SUBDOMAIN_FMT)

DNS1035_LABEL_FMT: Final = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_ERR_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
DNS1035_LABEL_MAX_LENGTH: Final = 63
_DNS1035_LABEL_RE: Final = re.compile(DNS1035_LABEL_FMT)

_WILDCARD_DNS1123_SUBDOMAIN_FMT: Final = "\\*\\." + DNS1123_SUBDOMAIN_FMT
_WILDCARD_DNS1123_SUBDOMAIN_ERR_MSG: Final = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' "
    "and end with an alphanumeric character"
)
_WILDCARD_DNS1123_SUBDOMAIN_RE: Final = re.compile(_WILDCARD_DNS1123_SUBDOMAIN_FMT)

C_IDENTIFIER_FMT: Final = "[A-Za-z_][A-Za-z0-9_]*"
_C_IDENTIFIER_ERR_MSG: Final = (
    "a valid C identifier must start with alphabetic character or '_', "
    "followed by a string of alphanumeric characters or '_'"
)
_C_IDENTIFIER_RE: Final = re.compile(C_IDENTIFIER_FMT)

ENV_VAR_NAME_FMT: Final = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_VAR_NAME_ERR_MSG: Final = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
    "and must not start with a digit"
)
_ENV_VAR_NAME_RE: Final = re.compile(ENV_VAR_NAME_FMT)

_CONFIG_MAP_KEY_FMT: Final = "[-._a-zA-Z0-9]+"
_CONFIG_MAP_KEY_ERR_MSG: Final = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_CONFIG_MAP_KEY_RE: Final = re.compile(_CONFIG_MAP_KEY_FMT)

_PERCENT_FMT: Final = "[0-9]+%"
_PERCENT_ERR_MSG: Final = "a valid percent string must be a numeric string followed by an ending '%'"
_PERCENT_RE: Final = re.compile(_PERCENT_FMT)

_HTTP_HEADER_NAME_FMT: Final = "[-A-Za-z0-9]+"
_HTTP_HEADER_NAME_ERR_MSG: Final = "a valid HTTP header must consist of alphanumeric characters or '-'"
_HTTP_HEADER_NAME_RE: Final = re.compile(_HTTP_HEADER_NAME_FMT)

_PORT_NAME_CHARSET_RE: Final = re.compile("[-a-z0-9]+")
_PORT_NAME_ONE_LETTER_RE: Final = re.compile("[a-z]")


def is_qualified_name(value: str) -> list[str]:
    """A "qualified name" (label keys, annotation keys, finalizers): ``[prefix/]name``."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + empty_error())
        else:
            errors.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + empty_error())
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errors.append(
            "name part " + regex_error(_QUALIFIED_NAME_ERR_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errors


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or up to 63 alphanumerics, '-', '_', '.' starting and ending alphanumeric."""
    errors: list[str] = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(regex_error(_LABEL_VALUE_ERR_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def is_dns1123_label(value: str) -> list[str]:
    """An RFC 1123 label (namespace names, most short names)."""
    errors: list[str] = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain but not a label: the length was checked, so it must be the dots.
            errors.append("must not contain dots")
        else:
            errors.append(regex_error(_DNS1123_LABEL_ERR_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errors


def is_dns1123_subdomain(value: str) -> list[str]:
    """An RFC 1123 subdomain (most object names)."""
    errors: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(regex_error(_DNS1123_SUBDOMAIN_ERR_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errors


def is_dns1035_label(value: str) -> list[str]:
    """An RFC 1035 label (Service names: must start with a letter)."""
    errors: list[str] = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errors.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errors.append(regex_error(_DNS1035_LABEL_ERR_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errors


def is_wildcard_dns1123_subdomain(value: str) -> list[str]:
    """``*.`` followed by an RFC 1123 subdomain."""
    errors: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _WILDCARD_DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errors.append(
            regex_error(_WILDCARD_DNS1123_SUBDOMAIN_ERR_MSG, _WILDCARD_DNS1123_SUBDOMAIN_FMT, "*.example.com")
        )
    return errors


def is_c_identifier(value: str) -> list[str]:
    """A C identifier (format only, no length limit)."""
    if not _C_IDENTIFIER_RE.fullmatch(value):
        return [regex_error(_C_IDENTIFIER_ERR_MSG, C_IDENTIFIER_FMT, "my_name", "MY_NAME", "MyName")]
    return []


def _has_chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_env_var_name(value: str) -> list[str]:
    """An environment variable name (upstream ``IsEnvVarName``)."""
    errors: list[str] = []
    if not _ENV_VAR_NAME_RE.fullmatch(value):
        errors.append(regex_error(_ENV_VAR_NAME_ERR_MSG, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1"))
    errors.extend(_has_chdir_prefix(value))
    return errors


def is_config_map_key(value: str) -> list[str]:
    """A ConfigMap or Secret data key."""
    errors: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _CONFIG_MAP_KEY_RE.fullmatch(value):
        errors.append(regex_error(_CONFIG_MAP_KEY_ERR_MSG, _CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errors.extend(_has_chdir_prefix(value))
    return errors


def is_valid_port_num(port: int) -> list[str]:
    """A port number, 1-65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_in_range(value: int, lo: int, hi: int) -> list[str]:
    return [] if lo <= value <= hi else [inclusive_range_error(lo, hi)]


_MAX_UNIX_ID: Final = 2**31 - 1


def is_valid_group_id(gid: int) -> list[str]:
    return [] if 0 <= gid <= _MAX_UNIX_ID else [inclusive_range_error(0, _MAX_UNIX_ID)]


def is_valid_user_id(uid: int) -> list[str]:
    return [] if 0 <= uid <= _MAX_UNIX_ID else [inclusive_range_error(0, _MAX_UNIX_ID)]


def is_valid_port_name(port: str) -> list[str]:
    """An IANA service name: 1-15 of [-a-z0-9], at least one letter, no leading/trailing/double '-'."""
    errors: list[str] = []
    if _byte_len(port) > 15:
        errors.append(max_len_error(15))
    if not _PORT_NAME_CHARSET_RE.fullmatch(port):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_ONE_LETTER_RE.search(port):
        errors.append("must contain at least one letter (a-z)")
    if "--" in port:
        errors.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def is_valid_percent(percent: str) -> list[str]:
    """A percentage such as ``25%`` (digits then '%')."""
    if not _PERCENT_RE.fullmatch(percent):
        return [regex_error(_PERCENT_ERR_MSG, _PERCENT_FMT, "1%", "93%")]
    return []


def is_http_header_name(value: str) -> list[str]:
    if not _HTTP_HEADER_NAME_RE.fullmatch(value):
        return [regex_error(_HTTP_HEADER_NAME_ERR_MSG, _HTTP_HEADER_NAME_FMT, "X-Header-Name")]
    return []


# ---------------------------------------------------------------------------------------------------
# IP addresses and CIDRs: upstream parses with the "sloppy" pre-Go-1.17 parser (IPv4 octets may have
# leading zeros) and, for strict validation, re-checks with net/netip.
# ---------------------------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DECIMAL: Final = frozenset(string.digits)
_HEX: Final = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True)
class _ParsedIP:
    address: IPAddress
    # What net/netip would reject although the sloppy parser accepted it: zero-prefixed IPv4
    # octets, IPv6 groups of more than four hex digits.
    has_leading_zeros: bool


def _parse_ipv4_sloppy(text: str) -> tuple[ipaddress.IPv4Address, bool] | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    octets: list[int] = []
    leading_zeros = False
    for part in parts:
        if not part or not set(part) <= _DECIMAL:
            return None
        significant = part.lstrip("0") or "0"
        if len(significant) > 3 or int(significant) > 255:
            return None
        leading_zeros = leading_zeros or (len(part) > 1 and part[0] == "0")
        octets.append(int(significant))
    return ipaddress.IPv4Address(bytes(octets)), leading_zeros


def _parse_ipv6_sloppy(text: str) -> tuple[ipaddress.IPv6Address, bool] | None:
    if not text or not set(text) <= (_HEX | {":", "."}):
        return None
    leading_zeros = False
    if "." in text:
        # An embedded IPv4 address may only be the last 32 bits.
        head, separator, tail = text.rpartition(":")
        embedded = _parse_ipv4_sloppy(tail) if separator else None
        if embedded is None:
            return None
        packed = embedded[0].packed
        leading_zeros = embedded[1]
        text = f"{head}:{packed[0] << 8 | packed[1]:x}:{packed[2] << 8 | packed[3]:x}"
    groups = text.split(":")
    normalized: list[str] = []
    for group in groups:
        if len(group) <= 4:
            normalized.append(group)
            continue
        # Go's sloppy parser reads up to 0xFFFF whatever the digit count; netip allows only four.
        significant = group.lstrip("0") or "0"
        if len(significant) > 4:
            return None
        leading_zeros = True
        normalized.append(significant)
    try:
        return ipaddress.IPv6Address(":".join(normalized)), leading_zeros
    except ValueError:
        return None


def _parse_ip(text: str) -> _ParsedIP | None:
    """Upstream ``netutils.ParseIPSloppy``; None when it is not an IP address."""
    parsed: tuple[IPAddress, bool] | None = _parse_ipv4_sloppy(text)
    if parsed is None:
        parsed = _parse_ipv6_sloppy(text)
    if parsed is None:
        return None
    return _ParsedIP(parsed[0], parsed[1])


def _is_4in6(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None


def _ip_errors(path: Path | None, value: str, *, strict: bool) -> tuple[_ParsedIP | None, list[FieldError]]:
    parsed = _parse_ip(value)
    if parsed is None:
        return None, [FieldError.invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    errors: list[FieldError] = []
    if strict:
        if parsed.has_leading_zeros:
            errors.append(FieldError.invalid(path, value, "must not have leading 0s"))
        elif _is_4in6(parsed.address):
            errors.append(FieldError.invalid(path, value, "must not be an IPv4-mapped IPv6 address"))
    return parsed, errors


def is_valid_ip(path: Path | None, value: str) -> list[FieldError]:
    """An IP address in canonical form, as current upstream validates new fields."""
    parsed, errors = _ip_errors(path, value, strict=True)
    if errors or parsed is None:
        return errors
    canonical = str(parsed.address)
    if value != canonical:
        return [FieldError.invalid(path, value, f"must be in canonical form ({go_quote(canonical)})")]
    return []


def is_valid_ip_for_legacy_field(
    path: Path | None, value: str, *, strict_validation: bool = True, valid_old_ips: Iterable[str] = ()
) -> list[FieldError]:
    """An IP address for fields that predate strict validation (non-canonical forms allowed)."""
    if value in valid_old_ips:
        return []
    return _ip_errors(path, value, strict=strict_validation)[1]


@dataclass(frozen=True, slots=True)
class _ParsedCIDR:
    address: IPAddress
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    prefix_length: int
    has_leading_zeros: bool


def _parse_cidr(text: str) -> _ParsedCIDR | None:
    """Upstream ``netutils.ParseCIDRSloppy``; None when it is not a CIDR."""
    address_text, separator, bits_text = text.partition("/")
    if not separator:
        return None
    ipv4 = _parse_ipv4_sloppy(address_text)
    parsed: tuple[IPAddress, bool] | None = ipv4 if ipv4 is not None else _parse_ipv6_sloppy(address_text)
    if parsed is None:
        return None
    address, leading_zeros = parsed
    if not bits_text or not set(bits_text) <= _DECIMAL:
        return None
    significant = bits_text.lstrip("0") or "0"
    max_bits = 32 if ipv4 is not None else 128
    if len(significant) > 3 or int(significant) > max_bits:
        return None
    bits = int(significant)
    # netip.ParsePrefix refuses "/016": a prefix length with a leading zero.
    leading_zeros = leading_zeros or (len(bits_text) > 1 and bits_text[0] == "0")
    network = ipaddress.ip_network((address, bits), strict=False)
    return _ParsedCIDR(address, network, bits, leading_zeros)


def _cidr_errors(path: Path | None, value: str, *, strict: bool) -> tuple[_ParsedCIDR | None, list[FieldError]]:
    parsed = _parse_cidr(value)
    if parsed is None:
        return None, [
            FieldError.invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
        ]
    errors: list[FieldError] = []
    if strict:
        if parsed.has_leading_zeros:
            errors.append(FieldError.invalid(path, value, "must not have leading 0s in IP or prefix length"))
        elif _is_4in6(parsed.address):
            errors.append(FieldError.invalid(path, value, "must not have an IPv4-mapped IPv6 address"))
        elif parsed.address != parsed.network.network_address:
            errors.append(FieldError.invalid(path, value, "must not have bits set beyond the prefix length"))
    return parsed, errors


def is_valid_cidr(path: Path | None, value: str) -> list[FieldError]:
    """A subnet CIDR ("10.0.0.0/8": no bits beyond the prefix) in canonical form."""
    parsed, errors = _cidr_errors(path, value, strict=True)
    if errors or parsed is None:
        return errors
    canonical = f"{parsed.network.network_address}/{parsed.prefix_length}"
    if value != canonical:
        return [FieldError.invalid(path, value, f"must be in canonical form ({go_quote(canonical)})")]
    return []


def is_valid_cidr_for_legacy_field(
    path: Path | None, value: str, *, strict_validation: bool = True, valid_old_cidrs: Iterable[str] = ()
) -> list[FieldError]:
    """A CIDR for fields that predate strict validation (non-canonical forms allowed)."""
    if value in valid_old_cidrs:
        return []
    return _cidr_errors(path, value, strict=strict_validation)[1]


def is_valid_interface_address(path: Path | None, value: str) -> list[FieldError]:
    """An "ifaddr" CIDR ("192.168.1.5/24": a whole address and its subnet length), canonical."""
    parsed = _parse_cidr(value)
    if parsed is None:
        return [
            FieldError.invalid(
                path, value, "must be a valid address in CIDR form, (e.g. 10.9.8.7/24 or 2001:db8::1/64)"
            )
        ]
    address: IPAddress = parsed.address
    bits = parsed.prefix_length
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # "::ffff:192.168.0.1/120" is written "192.168.0.1/24" (Go prints mapped addresses as IPv4).
        address = address.ipv4_mapped
        if bits > 32:
            bits -= 96
    canonical = f"{address}/{bits}"
    if value != canonical:
        return [FieldError.invalid(path, value, f"must be in canonical form ({go_quote(canonical)})")]
    return []


# ---------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------

NameValidator = Callable[[str, bool], list[str]]
"""Upstream ``ValidateNameFunc``: ``(name, prefix) -> messages``; ``prefix`` is True for generateName."""


def mask_trailing_dash(name: str) -> str:
    """Upstream ``maskTrailingDash``, quirk included: it drops *two* characters ("b-" -> "a")."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


validate_namespace_name: Final[NameValidator] = name_is_dns_label


def validate_path_segment_name(name: str, prefix: bool) -> list[str]:
    """Names that only need to be safe in a URL path segment (upstream ``ValidatePathSegmentName``)."""
    if not prefix:
        for illegal in (".", ".."):
            if name == illegal:
                return [f"may not be '{illegal}'"]
    return [f"may not contain '{illegal}'" for illegal in ("/", "%") if illegal in name]


_NAME_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: no accidental words
_MAX_NAME_LENGTH: Final = 63
_RANDOM_LENGTH: Final = 5
MAX_GENERATED_NAME_LENGTH: Final = _MAX_NAME_LENGTH - _RANDOM_LENGTH


def generate_name(prefix: str) -> str:
    """``metadata.generateName`` expansion: the prefix (cut to 58 bytes) plus 5 random characters."""
    encoded = prefix.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_GENERATED_NAME_LENGTH:
        # Go cuts bytes; never cut inside a character (such a prefix fails validation anyway).
        prefix = encoded[:MAX_GENERATED_NAME_LENGTH].decode("utf-8", "ignore")
    return prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_RANDOM_LENGTH))


# ---------------------------------------------------------------------------------------------------
# Labels, annotations, selectors
# ---------------------------------------------------------------------------------------------------

TOTAL_ANNOTATION_SIZE_LIMIT_B: Final = 256 * (1 << 10)
FIELD_IMMUTABLE_ERROR_MSG: Final = "field is immutable"
IS_NEGATIVE_ERROR_MSG: Final = "must be greater than or equal to 0"


def _string_map(value: Any, path: Path) -> tuple[dict[str, str], list[FieldError]]:
    """A JSON object of strings (labels, annotations), or type errors; None counts as empty."""
    if value is None:
        return {}, []
    if not isinstance(value, dict) and not isinstance(value, Mapping):  # dict first: no ABC check
        return {}, [FieldError.type_invalid(path, value, "must be of type object")]
    good: dict[str, str] = {}
    errors: list[FieldError] = []
    for key in sorted(value, key=str):
        item = value[key]
        if not isinstance(key, str) or not isinstance(item, str):
            errors.append(FieldError.type_invalid(path.key(str(key)), item, "must be of type string"))
        else:
            good[key] = item
    return good, errors


def _string_list(value: Any, path: Path) -> tuple[list[str], list[FieldError]]:
    if value is None:
        return [], []
    if not isinstance(value, list | tuple):
        return [], [FieldError.type_invalid(path, value, "must be of type array")]
    good: list[str] = []
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            good.append(item)
        else:
            errors.append(FieldError.type_invalid(path.index(i), item, "must be of type string"))
    return good, errors


def _object_list(value: Any, path: Path) -> tuple[list[tuple[int, Mapping[str, Any]]], list[FieldError]]:
    if value is None:
        return [], []
    if not isinstance(value, list | tuple):
        return [], [FieldError.type_invalid(path, value, "must be of type array")]
    good: list[tuple[int, Mapping[str, Any]]] = []
    errors: list[FieldError] = []
    for i, item in enumerate(value):
        if isinstance(item, dict) or isinstance(item, Mapping):  # dict first: no ABC check
            good.append((i, item))
        else:
            errors.append(FieldError.type_invalid(path.index(i), item, "must be of type object"))
    return good, errors


def _string_field(obj: Mapping[str, Any], name: str, path: Path, errors: list[FieldError]) -> str:
    """``obj[name]`` as a string ("" when absent); a non-string is reported and read as ""."""
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(FieldError.type_invalid(path.child(name), value, "must be of type string"))
        return ""
    return value


def validate_label_name(label_name: str, path: Path) -> list[FieldError]:
    """A label key (upstream ``ValidateLabelName``)."""
    return [FieldError.invalid(path, label_name, msg) for msg in is_qualified_name(label_name)]


def validate_labels(labels: Any, path: Path) -> list[FieldError]:
    """A label map; errors are reported at ``path`` itself, as upstream does, in key order."""
    good, errors = _string_map(labels, path)
    for key, value in good.items():
        errors.extend(validate_label_name(key, path))
        errors.extend(FieldError.invalid(path, value, msg) for msg in is_valid_label_value(value))
    return errors


def validate_annotations(annotations: Any, path: Path) -> list[FieldError]:
    """Annotation keys are qualified names (case-insensitively); all keys and values <= 256 KiB."""
    good, errors = _string_map(annotations, path)
    for key in good:
        # The rule is QualifiedName except that case doesn't matter.
        errors.extend(FieldError.invalid(path, key, msg) for msg in is_qualified_name(key.lower()))
    total = sum(_byte_len(k) + _byte_len(v) for k, v in good.items())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        errors.append(FieldError.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B))
    return errors


_LABEL_SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(
    selector: Any,
    path: Path,
    *,
    allow_invalid_label_value: bool = False,
    allow_unknown_operator: bool = False,
) -> list[FieldError]:
    """A ``metav1.LabelSelector`` object (upstream ``ValidateLabelSelector``); None is valid."""
    if selector is None:
        return []
    if not isinstance(selector, Mapping):
        return [FieldError.type_invalid(path, selector, "must be of type object")]
    errors = validate_labels(selector.get("matchLabels"), path.child("matchLabels"))
    expressions, type_errors = _object_list(selector.get("matchExpressions"), path.child("matchExpressions"))
    errors.extend(type_errors)
    for i, expression in expressions:
        expression_path = path.child("matchExpressions").index(i)
        operator = _string_field(expression, "operator", expression_path, errors)
        key = _string_field(expression, "key", expression_path, errors)
        values, value_errors = _string_list(expression.get("values"), expression_path.child("values"))
        errors.extend(value_errors)
        if operator in ("In", "NotIn"):
            if not values:
                errors.append(
                    FieldError.required(
                        expression_path.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errors.append(
                    FieldError.forbidden(
                        expression_path.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        elif not allow_unknown_operator:
            errors.append(
                FieldError.invalid(expression_path.child("operator"), operator, "not a valid selector operator")
            )
        errors.extend(validate_label_name(key, expression_path.child("key")))
        if not allow_invalid_label_value:
            for j, value in enumerate(values):
                errors.extend(
                    FieldError.invalid(expression_path.child("values").index(j), value, msg)
                    for msg in is_valid_label_value(value)
                )
    return errors


# ---------------------------------------------------------------------------------------------------
# Object metadata
# ---------------------------------------------------------------------------------------------------

FINALIZER_ORPHAN_DEPENDENTS: Final = "orphan"
FINALIZER_DELETE_DEPENDENTS: Final = "foregroundDeletion"
FIELD_MANAGER_MAX_LENGTH: Final = 128
MAX_SUBRESOURCE_NAME_LENGTH: Final = 256
# Kinds that may not own anything: (group, version, kind).
BANNED_OWNERS: Final = frozenset({("", "v1", "Event")})


def validate_nonnegative_field(value: int, path: Path) -> list[FieldError]:
    return [FieldError.invalid(path, value, IS_NEGATIVE_ERROR_MSG)] if value < 0 else []


def _parse_group_version(api_version: str) -> tuple[str, str] | None:
    """Upstream ``schema.ParseGroupVersion``: (group, version) or None when malformed."""
    if not api_version or api_version == "/":
        return "", ""
    slashes = api_version.count("/")
    if slashes == 0:
        return "", api_version
    if slashes == 1:
        group, _, version = api_version.partition("/")
        return group, version
    return None


def _owner_reference_struct(ref: Mapping[str, Any]) -> GoStruct:
    """An owner reference as Go marshals ``metav1.OwnerReference`` (field order, omitempty)."""
    members: list[tuple[str, Any]] = [(name, ref.get(name) or "") for name in ("apiVersion", "kind", "name", "uid")]
    members.extend((name, ref[name]) for name in ("controller", "blockOwnerDeletion") if ref.get(name) is not None)
    return GoStruct(tuple(members))


def validate_owner_references(owner_references: Any, path: Path) -> list[FieldError]:
    """Each reference names apiVersion, kind, name and uid; at most one is the controller."""
    references, errors = _object_list(owner_references, path)
    first_controller = ""
    for i, ref in references:
        ref_path = path.index(i)
        api_version = _string_field(ref, "apiVersion", ref_path, errors)
        kind = _string_field(ref, "kind", ref_path, errors)
        name = _string_field(ref, "name", ref_path, errors)
        uid = _string_field(ref, "uid", ref_path, errors)
        # Upstream reports these at ownerReferences.<field>, without the index.
        group, version = _parse_group_version(api_version) or ("", "")
        if not version:
            errors.append(FieldError.invalid(path.child("apiVersion"), api_version, "version must not be empty"))
        if not kind:
            errors.append(FieldError.invalid(path.child("kind"), kind, "must not be empty"))
        if not name:
            errors.append(FieldError.invalid(path.child("name"), name, "must not be empty"))
        if not uid:
            errors.append(FieldError.invalid(path.child("uid"), uid, "must not be empty"))
        if (group, version, kind) in BANNED_OWNERS:
            errors.append(
                FieldError.invalid(
                    path,
                    _owner_reference_struct(ref),
                    f"{group}/{version}, Kind={kind} is disallowed from being an owner",
                )
            )
        if ref.get("controller") is True:
            current = f"{kind}/{name}"
            if first_controller:
                errors.append(
                    FieldError.invalid(
                        path,
                        [_owner_reference_struct(r) for _, r in references],
                        "Only one reference can have Controller set to true. "
                        f'Found "true" in references for {first_controller} and {current}',
                    )
                )
            else:
                first_controller = current
    return errors


def validate_finalizers(finalizers: Any, path: Path) -> list[FieldError]:
    """Finalizer names are qualified names; "orphan" and "foregroundDeletion" exclude each other."""
    names, errors = _string_list(finalizers, path)
    for finalizer in names:
        errors.extend(FieldError.invalid(path, finalizer, msg) for msg in is_qualified_name(finalizer))
    if FINALIZER_ORPHAN_DEPENDENTS in names and FINALIZER_DELETE_DEPENDENTS in names:
        errors.append(
            FieldError.invalid(
                path,
                names,
                f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} cannot be both set",
            )
        )
    return errors


def validate_field_manager(field_manager: str, path: Path) -> list[FieldError]:
    """A field manager name: at most 128 bytes, printable characters only."""
    errors: list[FieldError] = []
    if _byte_len(field_manager) > FIELD_MANAGER_MAX_LENGTH:
        errors.append(FieldError.too_long(path, FIELD_MANAGER_MAX_LENGTH))
    if field_manager.isprintable():
        return errors  # the loop below reports only non-printable characters: none here
    position = 0
    for ch in field_manager:
        if not ch.isprintable():
            errors.append(
                FieldError.invalid(path, field_manager, f"invalid character U+{ord(ch):04X} (at position {position})")
            )
        position += _byte_len(ch)  # Go reports byte offsets
    return errors


def _plain_managed_fields_entry(entry: Mapping[str, Any]) -> bool:
    """An entry that validate_managed_fields passes as it is (every entry the server writes): operation
    Apply or Update, fieldsType absent or FieldsV1, a printable manager of at most 128 bytes, a
    subresource of at most 256 bytes (absent string fields read as "")."""
    operation, fields_type = entry.get("operation"), entry.get("fieldsType")
    manager, subresource = entry.get("manager"), entry.get("subresource")
    return (isinstance(operation, str) and operation in ("Apply", "Update")
            and (fields_type is None or (isinstance(fields_type, str) and fields_type in ("", "FieldsV1")))
            and (manager is None or (isinstance(manager, str) and manager.isprintable()
                                     and _byte_len(manager) <= FIELD_MANAGER_MAX_LENGTH))
            and (subresource is None or (isinstance(subresource, str)
                                         and _byte_len(subresource) <= MAX_SUBRESOURCE_NAME_LENGTH)))


def validate_managed_fields(managed_fields: Any, path: Path) -> list[FieldError]:
    """``metadata.managedFields`` entries: operation, fieldsType, manager, subresource."""
    entries, errors = _object_list(managed_fields, path)
    for i, entry in entries:
        if _plain_managed_fields_entry(entry):
            continue  # the checks below find nothing (and would build the entry's paths for nothing)
        entry_path = path.index(i)
        operation = _string_field(entry, "operation", entry_path, errors)
        if operation not in ("Apply", "Update"):
            errors.append(FieldError.invalid(entry_path.child("operation"), operation, "must be `Apply` or `Update`"))
        fields_type = _string_field(entry, "fieldsType", entry_path, errors)
        if fields_type and fields_type != "FieldsV1":
            errors.append(FieldError.invalid(entry_path.child("fieldsType"), fields_type, "must be `FieldsV1`"))
        manager = _string_field(entry, "manager", entry_path, errors)
        errors.extend(validate_field_manager(manager, entry_path.child("manager")))
        subresource = _string_field(entry, "subresource", entry_path, errors)
        if _byte_len(subresource) > MAX_SUBRESOURCE_NAME_LENGTH:
            errors.append(FieldError.too_long(entry_path.child("subresource"), MAX_SUBRESOURCE_NAME_LENGTH))
    return errors


def _int_field(obj: Mapping[str, Any], name: str, path: Path, errors: list[FieldError]) -> int:
    value = obj.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError.type_invalid(path.child(name), value, "must be of type integer"))
        return 0
    return value


def validate_object_meta(
    meta: Mapping[str, Any],
    *,
    namespaced: bool,
    name_validator: NameValidator,
    path: Path | None = None,
) -> list[FieldError]:
    """``metadata`` of an object being created (upstream ``ValidateObjectMetaAccessor``).

    Name generation must already have happened (a ``generateName`` without a ``name`` is reported
    as a missing name). ``name_validator`` is the kind's name rule, e.g. :func:`name_is_dns_subdomain`.
    """
    path = path if path is not None else _METADATA
    if not isinstance(meta, dict) and not isinstance(meta, Mapping):  # dict first: no ABC check
        return [FieldError.type_invalid(path, meta, "must be of type object")]
    errors: list[FieldError] = []
    generate_name_value = _string_field(meta, "generateName", path, errors)
    if generate_name_value:
        errors.extend(
            FieldError.invalid(path.child("generateName"), generate_name_value, msg)
            for msg in name_validator(generate_name_value, True)
        )
    name = _string_field(meta, "name", path, errors)
    if not name:
        errors.append(FieldError.required(path.child("name"), "name or generateName is required"))
    else:
        errors.extend(FieldError.invalid(path.child("name"), name, msg) for msg in name_validator(name, False))
    namespace = _string_field(meta, "namespace", path, errors)
    if namespaced:
        if not namespace:
            errors.append(FieldError.required(path.child("namespace")))
        else:
            errors.extend(
                FieldError.invalid(path.child("namespace"), namespace, msg)
                for msg in validate_namespace_name(namespace, False)
            )
    elif namespace:
        errors.append(FieldError.forbidden(path.child("namespace"), "not allowed on this type"))
    # Each check below finds nothing in an absent (None) value; skipping it then saves building the
    # child paths it would report at, which every create would otherwise pay for (most objects have
    # no annotations, owner references or finalizers).
    if meta.get("generation") is not None:
        errors.extend(validate_nonnegative_field(_int_field(meta, "generation", path, errors),
                                                 path.child("generation")))
    for name, validator in _OBJECT_META_MAPS:
        value = meta.get(name)
        if value is not None:
            errors.extend(validator(value, path.child(name)))
    return errors


# metadata fields validate_object_meta checks with a validator of (value, path), in upstream's order
_OBJECT_META_MAPS: Final[tuple[tuple[str, Callable[[Any, Path], list[FieldError]]], ...]] = (
    ("labels", validate_labels),
    ("annotations", validate_annotations),
    ("ownerReferences", validate_owner_references),
    ("finalizers", validate_finalizers),
    ("managedFields", validate_managed_fields),
)


def validate_immutable_field(new_value: Any, old_value: Any, path: Path) -> list[FieldError]:
    """Upstream ``ValidateImmutableField``: reports the *new* value when it differs from the old."""
    if new_value != old_value:
        return [FieldError.invalid(path, new_value, FIELD_IMMUTABLE_ERROR_MSG)]
    return []


def _time_value(value: Any) -> Any:
    """A metav1.Time as Go compares and prints it: None when unset, else the instant in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def validate_object_meta_update(
    new_meta: Mapping[str, Any], old_meta: Mapping[str, Any], *, path: Path | None = None
) -> list[FieldError]:
    """``metadata`` of an update (upstream ``ValidateObjectMetaAccessorUpdate``)."""
    path = path if path is not None else _METADATA
    if not isinstance(new_meta, Mapping):
        return [FieldError.type_invalid(path, new_meta, "must be of type object")]
    if not isinstance(old_meta, Mapping):
        old_meta = {}  # a stored object always has metadata; never fail the update because of it
    errors: list[FieldError] = []
    if old_meta.get("deletionTimestamp"):
        # No finalizers may be added to an object that is being deleted.
        new_finalizers, _ = _string_list(new_meta.get("finalizers"), path.child("finalizers"))
        old_finalizers, _ = _string_list(old_meta.get("finalizers"), path.child("finalizers"))
        extra = sorted(set(new_finalizers) - set(old_finalizers))
        if extra:
            errors.append(
                FieldError.forbidden(
                    path.child("finalizers"),
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {_go_sharp_v_strings(extra)}",
                )
            )
    resource_version = _string_field(new_meta, "resourceVersion", path, errors)
    if not resource_version:
        errors.append(
            FieldError.invalid(path.child("resourceVersion"), resource_version, "must be specified for an update")
        )
    new_generation = _int_field(new_meta, "generation", path, errors)
    if new_generation < _int_field(old_meta, "generation", path, []):
        errors.append(FieldError.invalid(path.child("generation"), new_generation, "must not be decremented"))
    old_errors: list[FieldError] = []  # the stored object's own defects are not this request's fault
    for name in ("name", "namespace", "uid"):
        errors.extend(
            validate_immutable_field(
                _string_field(new_meta, name, path, errors),
                _string_field(old_meta, name, path, old_errors),
                path.child(name),
            )
        )
    for name in ("creationTimestamp", "deletionTimestamp"):
        errors.extend(
            validate_immutable_field(_time_value(new_meta.get(name)), _time_value(old_meta.get(name)), path.child(name))
        )
    errors.extend(
        validate_immutable_field(
            new_meta.get("deletionGracePeriodSeconds"),
            old_meta.get("deletionGracePeriodSeconds"),
            path.child("deletionGracePeriodSeconds"),
        )
    )
    errors.extend(validate_labels(new_meta.get("labels"), path.child("labels")))
    errors.extend(validate_annotations(new_meta.get("annotations"), path.child("annotations")))
    errors.extend(validate_owner_references(new_meta.get("ownerReferences"), path.child("ownerReferences")))
    errors.extend(validate_managed_fields(new_meta.get("managedFields"), path.child("managedFields")))
    return errors
