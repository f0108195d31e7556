"""Label selectors: the ``-l``/``labelSelector`` string syntax and ``metav1.LabelSelector`` objects.

Design
------
A :class:`Selector` is an AND of :class:`Requirement` values, sorted by key, exactly as upstream's
``k8s.io/apimachinery/pkg/labels``:

* :func:`parse` is a port of upstream's lexer and recursive-descent parser, so the accepted syntax
  (``=``, ``==``, ``!=``, ``in``, ``notin``, bare ``key`` for exists, ``!key``, ``>``/``<`` for
  gt/lt), the canonical ``str()`` form and every error message are upstream's. Errors are raised as
  :class:`LabelSelectorError` (a ``ValueError``) whose text is upstream's ``err.Error()``; the API
  server answers a bad ``labelSelector`` with 400 and that text.
* :func:`from_label_selector` is upstream ``metav1.LabelSelectorAsSelector``: ``None`` selects
  nothing, an empty selector selects everything.
* :attr:`Selector.requirements` exposes the parsed requirements (an indexer can use
  :meth:`Selector.requires_exact_match` to pick an index).

Where upstream reads a Go map (``matchLabels``) in random order we read it in key order, so the
first error reported is deterministic. The parser accepts ``x in (a,,)`` as upstream does since
1.35 (earlier releases, kubectl 1.32's included, consumed one token too many and rejected it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, Final, final

from kubelite.api.validation import (
    FieldError,
    Path,
    aggregate_message,
    go_quote,
    is_qualified_name,
    is_valid_label_value,
)

__all__ = [
    "LabelSelectorError",
    "Operator",
    "Requirement",
    "Selector",
    "everything",
    "from_label_selector",
    "new_requirement",
    "nothing",
    "parse",
    "selector_from_set",
    "validated_selector_from_set",
]


class Operator(StrEnum):
    """Upstream ``selection.Operator``."""

    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    IN = "in"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    EXISTS = "exists"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS: Final = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)
_VALID_OPERATORS: Final = (*_BINARY_OPERATORS, Operator.EXISTS, Operator.DOES_NOT_EXIST)
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


class LabelSelectorError(ValueError):
    """A selector that cannot be parsed or built; ``str()`` is upstream's error text.

    ``errors`` holds the field errors when the failure came from requirement validation.
    """

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors: tuple[FieldError, ...] = tuple(errors)


def _parse_int64(text: str) -> int | None:
    """Go ``strconv.ParseInt(text, 10, 64)``: optional sign, ASCII digits only, int64 range."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit() or len(body.lstrip("0")) > 19:
        return None  # (more than 19 significant digits never fit; also keeps int() cheap)
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


@final
@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key <operator> values`` condition; build it with :func:`new_requirement` (which validates)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = field(default=())

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Upstream ``Requirement.Matches``."""
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            actual = _parse_int64(labels[self.key])
            wanted = _parse_int64(self.values[0])
            if actual is None or wanted is None:
                return False
            return actual > wanted if op is Operator.GREATER_THAN else actual < wanted
        return False

    def __str__(self) -> str:
        """Upstream ``Requirement.String()``: ``key=v``, ``key in (a,b)``, ``!key``, ``key>3``..."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        symbol = {
            Operator.EQUALS: "=",
            Operator.DOUBLE_EQUALS: "==",
            Operator.NOT_EQUALS: "!=",
            Operator.IN: " in ",
            Operator.NOT_IN: " notin ",
            Operator.GREATER_THAN: ">",
            Operator.LESS_THAN: "<",
        }[op]
        # Several values print sorted (the stored order is kept, as upstream does).
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            values = f"({values})"
        return self.key + symbol + values


def new_requirement(
    key: str, operator: Operator | str, values: Iterable[str] = (), *, path: Path | None = None
) -> Requirement:
    """Upstream ``NewRequirement``: validate and build; raises :class:`LabelSelectorError`.

    ``path`` prefixes the field paths in errors (upstream ``field.WithPath``).
    """
    values = tuple(values)
    errors: list[FieldError] = []
    key_path = path.child("key") if path is not None else Path("key")
    values_path = path.child("values") if path is not None else Path("values")
    errors.extend(_validate_label_key(key, key_path))
    # A Go nil slice prints as null; NewRequirement only ever sees an empty one from conversions.
    bad_values: list[str] | None = list(values) or None
    try:
        op = Operator(operator)
    except ValueError:
        op = None
    if op in (Operator.IN, Operator.NOT_IN):
        if not values:
            errors.append(
                FieldError.invalid(values_path, bad_values, "for 'in', 'notin' operators, values set can't be empty")
            )
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(values) != 1:
            errors.append(
                FieldError.invalid(values_path, bad_values, "exact-match compatibility requires one single value")
            )
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if values:
            errors.append(
                FieldError.invalid(values_path, bad_values, "values set must be empty for exists and does not exist")
            )
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            errors.append(
                FieldError.invalid(values_path, bad_values, "for 'Gt', 'Lt' operators, exactly one value is required")
            )
        for i, value in enumerate(values):
            if _parse_int64(value) is None:
                errors.append(
                    FieldError.invalid(
                        values_path.index(i), value, "for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                )
    else:
        errors.append(
            FieldError.not_supported(
                path.child("operator") if path is not None else Path("operator"),
                str(operator),
                [o.value for o in _VALID_OPERATORS],
            )
        )
    for i, value in enumerate(values):
        messages = is_valid_label_value(value)
        if messages:
            errors.append(FieldError.invalid(values_path.index(i).key(key), value, "; ".join(messages)))
    if errors or op is None:
        raise LabelSelectorError(aggregate_message(errors), errors)
    return Requirement(key, op, values)


def _validate_label_key(key: str, path: Path | None) -> list[FieldError]:
    messages = is_qualified_name(key)
    return [FieldError.invalid(path, key, "; ".join(messages))] if messages else []


@final
class Selector:
    """An AND of requirements (upstream ``labels.Selector``); immutable."""

    __slots__ = ("_matches_nothing", "_requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, matches_nothing: bool = False) -> None:
        # Sorted by key for a deterministic string form (upstream sorts on Parse and Add).
        self._requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._matches_nothing = matches_nothing

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        """The requirements, sorted by key (empty for :func:`everything` and :func:`nothing`)."""
        return self._requirements

    @property
    def matches_nothing(self) -> bool:
        """True only for :func:`nothing` (upstream ``MatchesNothing``; ``selectable`` is the inverse)."""
        return self._matches_nothing

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self._matches_nothing:
            return False
        return all(requirement.matches(labels) for requirement in self._requirements)

    def empty(self) -> bool:
        """True when the selector does not restrict anything (upstream ``Empty``)."""
        return not self._matches_nothing and not self._requirements

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with more requirements (upstream ``Add``)."""
        if self._matches_nothing:
            return self
        return Selector((*self._requirements, *requirements))

    def requires_exact_match(self, label: str) -> str | None:
        """The value ``label`` must have, when the first requirement on it pins one; else None."""
        for requirement in self._requirements:
            if requirement.key == label:
                if requirement.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) and (
                    len(requirement.values) == 1
                ):
                    return requirement.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self._requirements)

    def __repr__(self) -> str:
        return "Selector(<nothing>)" if self._matches_nothing else f"Selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return (self._matches_nothing, self._requirements) == (other._matches_nothing, other._requirements)

    def __hash__(self) -> int:
        return hash((self._matches_nothing, self._requirements))


_EVERYTHING: Final = Selector()
_NOTHING: Final = Selector(matches_nothing=True)


def everything() -> Selector:
    """The selector that matches all label sets (upstream ``Everything``)."""
    return _EVERYTHING


def nothing() -> Selector:
    """The selector that matches no label set (upstream ``Nothing``)."""
    return _NOTHING


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """``k1=v1,k2=v2`` without validation (upstream ``SelectorFromValidatedSet``)."""
    if not labels:
        return _EVERYTHING
    return Selector(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items())


def validated_selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """``k1=v1,k2=v2``, validated (upstream ``ValidatedSelectorFromSet``)."""
    if not labels:
        return _EVERYTHING
    return Selector(new_requirement(k, Operator.EQUALS, (labels[k],)) for k in sorted(labels))


# ---------------------------------------------------------------------------------------------------
# The string syntax: a port of upstream's Lexer and Parser
# ---------------------------------------------------------------------------------------------------


class _Token(Enum):
    ERROR = 0
    END_OF_STRING = 1
    CLOSED_PAR = 2
    COMMA = 3
    DOES_NOT_EXIST = 4
    DOUBLE_EQUALS = 5
    EQUALS = 6
    GREATER_THAN = 7
    IDENTIFIER = 8
    IN = 9
    LESS_THAN = 10
    NOT_EQUALS = 11
    NOT_IN = 12
    OPEN_PAR = 13


_STRING_TO_TOKEN: Final = {
    ")": _Token.CLOSED_PAR,
    ",": _Token.COMMA,
    "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "in": _Token.IN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAR,
}
_WHITESPACE: Final = frozenset(" \t\r\n")
_SPECIAL: Final = frozenset("=!(),><")
# Upstream's lexer reads bytes and uses 0 for "end of input", so a NUL byte also ends a token.
_EOF: Final = "\0"


class _Lexer:
    __slots__ = ("_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def _read(self) -> str:
        if self._pos < len(self._text):
            ch = self._text[self._pos]
            self._pos += 1
            return ch
        return _EOF

    def _unread(self) -> None:
        self._pos -= 1

    def _scan_id_or_keyword(self) -> tuple[_Token, str]:
        buffer: list[str] = []
        while True:
            ch = self._read()
            if ch == _EOF:
                break
            if ch in _SPECIAL or ch in _WHITESPACE:
                self._unread()
                break
            buffer.append(ch)
        text = "".join(buffer)
        return _STRING_TO_TOKEN.get(text, _Token.IDENTIFIER), text

    def _scan_special_symbol(self) -> tuple[_Token, str]:
        # The longest run of special characters that is still a token ("!=" rather than "!").
        last: tuple[_Token, str] | None = None
        buffer = ""
        while True:
            ch = self._read()
            if ch == _EOF:
                break
            if ch not in _SPECIAL:
                self._unread()
                break
            buffer += ch
            if buffer in _STRING_TO_TOKEN:
                last = (_STRING_TO_TOKEN[buffer], buffer)
            elif last is not None:
                self._unread()
                break
        if last is None:
            return _Token.ERROR, f"error expected: keyword found '{buffer}'"
        return last

    def lex(self) -> tuple[_Token, str]:
        ch = self._read()
        while ch in _WHITESPACE:
            ch = self._read()
        if ch == _EOF:
            return _Token.END_OF_STRING, ""
        self._unread()
        if ch in _SPECIAL:
            return self._scan_special_symbol()
        return self._scan_id_or_keyword()


class _Parser:
    __slots__ = ("_items", "_path", "_position")

    def __init__(self, text: str, path: Path | None) -> None:
        lexer = _Lexer(text)
        self._items: list[tuple[_Token, str]] = []
        while True:
            item = lexer.lex()
            self._items.append(item)
            if item[0] is _Token.END_OF_STRING:
                break
        self._position = 0
        self._path = path

    def _lookahead(self, *, values: bool) -> tuple[_Token, str]:
        token, literal = self._items[min(self._position, len(self._items) - 1)]
        # In a value position "in" and "notin" are plain identifiers ("x in (in)").
        if values and token in (_Token.IN, _Token.NOT_IN):
            token = _Token.IDENTIFIER
        return token, literal

    def _consume(self, *, values: bool) -> tuple[_Token, str]:
        item = self._lookahead(values=values)
        self._position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._lookahead(values=True)
            if token in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                try:
                    requirements.append(self._parse_requirement())
                except LabelSelectorError as err:
                    raise LabelSelectorError(f"unable to parse requirement: {err}", err.errors) from None
                token, literal = self._consume(values=True)
                if token is _Token.END_OF_STRING:
                    return requirements
                if token is _Token.COMMA:
                    next_token, next_literal = self._lookahead(values=True)
                    if next_token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                        raise LabelSelectorError(f"found '{next_literal}', expected: identifier after ','")
                else:
                    raise LabelSelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            elif token is _Token.END_OF_STRING:
                return requirements
            else:
                raise LabelSelectorError(f"found '{literal}', expected: !, identifier, or 'end of string'")

    def _parse_requirement(self) -> Requirement:
        key, operator = self._parse_key_and_infer_operator()
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return new_requirement(key, operator, (), path=self._path)
        operator = self._parse_operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._parse_values()
        else:
            values = self._parse_exact_value()
        # Upstream collects values in a set and lists them sorted.
        return new_requirement(key, operator, sorted(values), path=self._path)

    def _parse_key_and_infer_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        token, literal = self._consume(values=True)
        if token is _Token.DOES_NOT_EXIST:
            operator = Operator.DOES_NOT_EXIST
            token, literal = self._consume(values=True)
        if token is not _Token.IDENTIFIER:
            raise LabelSelectorError(f"found '{literal}', expected: identifier")
        key_errors = _validate_label_key(literal, self._path)
        if key_errors:
            raise LabelSelectorError(key_errors[0].error(), key_errors)
        next_token, _ = self._lookahead(values=True)
        if next_token in (_Token.END_OF_STRING, _Token.COMMA) and operator is not Operator.DOES_NOT_EXIST:
            operator = Operator.EXISTS
        return literal, operator

    def _parse_operator(self) -> Operator:
        token, literal = self._consume(values=False)
        operator = {
            _Token.IN: Operator.IN,
            _Token.EQUALS: Operator.EQUALS,
            _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Token.GREATER_THAN: Operator.GREATER_THAN,
            _Token.LESS_THAN: Operator.LESS_THAN,
            _Token.NOT_IN: Operator.NOT_IN,
            _Token.NOT_EQUALS: Operator.NOT_EQUALS,
        }.get(token)
        if operator is None:
            expected = ", ".join(o.value for o in _BINARY_OPERATORS)
            raise LabelSelectorError(f"found '{literal}', expected: {expected}")
        return operator

    def _parse_values(self) -> set[str]:
        token, literal = self._consume(values=True)
        if token is not _Token.OPEN_PAR:
            raise LabelSelectorError(f"found '{literal}' expected: '('")
        token, literal = self._lookahead(values=True)
        if token in (_Token.IDENTIFIER, _Token.COMMA):
            values = self._parse_identifiers_list()
            closing, _ = self._consume(values=True)
            if closing is not _Token.CLOSED_PAR:
                raise LabelSelectorError(f"found '{literal}', expected: ')'")
            return values
        if token is _Token.CLOSED_PAR:  # "()" is the one empty value
            self._consume(values=True)
            return {""}
        raise LabelSelectorError(f"found '{literal}', expected: ',', ')' or identifier")

    def _parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            token, literal = self._consume(values=True)
            if token is _Token.IDENTIFIER:
                values.add(literal)
                next_token, next_literal = self._lookahead(values=True)
                if next_token is _Token.COMMA:
                    continue
                if next_token is _Token.CLOSED_PAR:
                    return values
                raise LabelSelectorError(f"found '{next_literal}', expected: ',' or ')'")
            if token is _Token.COMMA:
                # Empty values: "(,a)", "(a,)" and "(a,,b)" all contain "".
                if not values:
                    values.add("")
                next_token, _ = self._lookahead(values=True)
                if next_token is _Token.CLOSED_PAR:
                    values.add("")
                    return values
                if next_token is _Token.COMMA:
                    values.add("")
                continue
            raise LabelSelectorError(f"found '{literal}', expected: ',', or identifier")

    def _parse_exact_value(self) -> set[str]:
        token, _ = self._lookahead(values=True)
        if token in (_Token.END_OF_STRING, _Token.COMMA):
            return {""}
        token, literal = self._consume(values=True)
        if token is _Token.IDENTIFIER:
            return {literal}
        raise LabelSelectorError(f"found '{literal}', expected: identifier")


def parse(selector: str, *, path: Path | None = None) -> Selector:
    """Upstream ``labels.Parse``: the string form (``-l``); raises :class:`LabelSelectorError`.

    Examples: ``"app=web,tier!=db"``, ``"env in (prod,staging),!canary"``, ``"replicas>2"``.
    """
    return Selector(_Parser(selector, path).parse())


# ---------------------------------------------------------------------------------------------------
# metav1.LabelSelector objects
# ---------------------------------------------------------------------------------------------------

_SELECTOR_OPERATORS: Final = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """Upstream ``metav1.LabelSelectorAsSelector``; raises :class:`LabelSelectorError`.

    ``None`` matches nothing; ``{}`` (no matchLabels, no matchExpressions) matches everything.
    Validate the object with :func:`kubelite.api.validation.validate_label_selector` first to
    report every problem with field paths; this conversion stops at the first one, as upstream.
    """
    if obj is None:
        return _NOTHING
    if not isinstance(obj, Mapping):
        raise LabelSelectorError(f"a label selector must be an object, not {type(obj).__name__}")
    match_labels = obj.get("matchLabels") or {}
    match_expressions = obj.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(match_expressions, list | tuple):
        raise LabelSelectorError("matchLabels must be an object and matchExpressions a list")
    if not match_labels and not match_expressions:
        return _EVERYTHING
    requirements: list[Requirement] = []
    for key in sorted(match_labels, key=str):
        value = match_labels[key]
        if not isinstance(key, str) or not isinstance(value, str):
            raise LabelSelectorError(f"matchLabels[{key}] must be a string")
        requirements.append(new_requirement(key, Operator.EQUALS, (value,)))
    for expression in match_expressions:
        if not isinstance(expression, Mapping):
            raise LabelSelectorError("each matchExpressions item must be an object")
        raw_operator = expression.get("operator")
        operator = _SELECTOR_OPERATORS.get(raw_operator) if isinstance(raw_operator, str) else None
        if operator is None:
            shown = raw_operator if isinstance(raw_operator, str) else "" if raw_operator is None else str(raw_operator)
            raise LabelSelectorError(f"{go_quote(shown)} is not a valid label selector operator")
        key = expression.get("key")
        values = expression.get("values") or []
        if not isinstance(key, str) and key is not None:
            raise LabelSelectorError("matchExpressions key must be a string")
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise LabelSelectorError("matchExpressions values must be a list of strings")
        requirements.append(new_requirement(key or "", operator, values))
    return Selector(requirements)
