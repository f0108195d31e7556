"""Field selectors: ``--field-selector`` strings such as ``spec.nodeName=n1,status.phase!=Failed``.

Design
------
A :class:`FieldSelector` is an AND of ``field=value`` / ``field!=value`` terms, a port of upstream's
``k8s.io/apimachinery/pkg/fields``:

* :func:`parse` splits on unescaped commas, sorts the terms, splits each at its first ``!=``, ``==``
  or ``=`` and unescapes the value (``\\,``, ``\\=`` and ``\\\\`` are the only escapes), raising
  :class:`FieldSelectorError` with upstream's messages.
* :meth:`FieldSelector.matches` reads a ``Mapping[str, str]`` of an object's selectable fields; a
  field that is absent counts as ``""`` (upstream ``Set.Get``), so ``spec.nodeName=`` selects
  unscheduled pods.
* Which fields a kind supports is the caller's business (upstream's per-kind field label
  conversion): :meth:`FieldSelector.fields` lists the fields a selector refers to, and
  :meth:`FieldSelector.transform` rewrites terms (upstream ``Transform``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, final

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "FieldSelectorError",
    "FieldSelectorOperator",
    "and_selectors",
    "escape_value",
    "everything",
    "nothing",
    "one_term_equal",
    "one_term_not_equal",
    "parse",
    "parse_and_transform",
    "selector_from_set",
    "unescape_value",
]


class FieldSelectorError(ValueError):
    """A field selector that cannot be parsed; ``str()`` is upstream's error text."""


class FieldSelectorOperator(StrEnum):
    """The operators a field selector term can have (a subset of ``selection.Operator``)."""

    EQUALS = "="
    NOT_EQUALS = "!="


@final
@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One term (upstream ``fields.Requirement``); ``==`` is read as ``=``."""

    field: str
    operator: FieldSelectorOperator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        actual = fields.get(self.field, "")
        return actual == self.value if self.operator is FieldSelectorOperator.EQUALS else actual != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator.value}{escape_value(self.value)}"


Transform = Callable[[str, str], tuple[str, str]]
"""``(field, value) -> (field, value)``; raise to reject a term. Both empty drops the term."""


@final
class FieldSelector:
    """An AND of field terms; immutable."""

    __slots__ = ("_matches_nothing", "_terms")

    def __init__(self, terms: Iterable[FieldRequirement] = (), *, matches_nothing: bool = False) -> None:
        self._terms: tuple[FieldRequirement, ...] = tuple(terms)
        self._matches_nothing = matches_nothing

    @property
    def requirements(self) -> tuple[FieldRequirement, ...]:
        """The terms, in selector order (upstream ``Requirements``)."""
        return self._terms

    @property
    def matches_nothing(self) -> bool:
        """True only for :func:`nothing`."""
        return self._matches_nothing

    def fields(self) -> tuple[str, ...]:
        """The distinct field names the selector refers to, in order (to check against a kind)."""
        return tuple(dict.fromkeys(term.field for term in self._terms))

    def matches(self, fields: Mapping[str, str]) -> bool:
        if self._matches_nothing:
            return False
        return all(term.matches(fields) for term in self._terms)

    def empty(self) -> bool:
        """True when the selector does not restrict anything."""
        return not self._matches_nothing and not self._terms

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal, from the first ``field=value`` term on it; else None."""
        for term in self._terms:
            if term.field == field and term.operator is FieldSelectorOperator.EQUALS:
                return term.value
        return None

    def transform(self, fn: Transform) -> FieldSelector:
        """Every term rewritten by ``fn`` (upstream ``Transform``); terms mapped to ("", "") are dropped."""
        if self._matches_nothing:
            return self
        terms: list[FieldRequirement] = []
        for term in self._terms:
            field, value = fn(term.field, term.value)
            if field or value:
                terms.append(FieldRequirement(field, term.operator, value))
        return FieldSelector(terms)

    def __str__(self) -> str:
        return ",".join(str(term) for term in self._terms)

    def __repr__(self) -> str:
        return "FieldSelector(<nothing>)" if self._matches_nothing else f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return (self._matches_nothing, self._terms) == (other._matches_nothing, other._terms)

    def __hash__(self) -> int:
        return hash((self._matches_nothing, self._terms))


_EVERYTHING: Final = FieldSelector()
_NOTHING: Final = FieldSelector(matches_nothing=True)


def everything() -> FieldSelector:
    return _EVERYTHING


def nothing() -> FieldSelector:
    return _NOTHING


def one_term_equal(field: str, value: str) -> FieldSelector:
    return FieldSelector((FieldRequirement(field, FieldSelectorOperator.EQUALS, value),))


def one_term_not_equal(field: str, value: str) -> FieldSelector:
    return FieldSelector((FieldRequirement(field, FieldSelectorOperator.NOT_EQUALS, value),))


def and_selectors(*selectors: FieldSelector) -> FieldSelector:
    """The AND of several selectors (upstream ``AndSelectors``)."""
    if any(selector.matches_nothing for selector in selectors):
        return _NOTHING
    return FieldSelector(term for selector in selectors for term in selector.requirements)


def selector_from_set(fields: Mapping[str, str] | None) -> FieldSelector:
    """``f1=v1,f2=v2`` for a set of fields (sorted by field for a stable string form)."""
    if not fields:
        return _EVERYTHING
    return FieldSelector(FieldRequirement(k, FieldSelectorOperator.EQUALS, fields[k]) for k in sorted(fields))


def escape_value(value: str) -> str:
    """Upstream ``EscapeValue``: ``\\`` first, then ``,`` and ``=`` are backslash-escaped."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """Upstream ``UnescapeValue``; raises :class:`FieldSelectorError` on a bad escape or bare ``,``/``=``."""
    if not any(ch in value for ch in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise FieldSelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Upstream prints the rune with %v: its code point number.
            raise FieldSelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise FieldSelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(selector: str) -> list[str]:
    """Split on commas not preceded by a backslash escape (escapes stay in the terms)."""
    if not selector:
        return []
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(selector):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return terms


# "==" is checked before "=" so that it does not leave a leading "=" in the value.
_TERM_OPERATORS: Final = (
    ("!=", FieldSelectorOperator.NOT_EQUALS),
    ("==", FieldSelectorOperator.EQUALS),
    ("=", FieldSelectorOperator.EQUALS),
)


def _split_term(term: str) -> tuple[str, FieldSelectorOperator, str] | None:
    # No escaping in the field name: the first operator found is the split point.
    for i in range(len(term)):
        for symbol, operator in _TERM_OPERATORS:
            if term.startswith(symbol, i):
                return term[:i], operator, term[i + len(symbol) :]
    return None


def parse_and_transform(selector: str, fn: Transform) -> FieldSelector:
    """Upstream ``ParseAndTransformSelector``: parse, then :meth:`FieldSelector.transform`."""
    terms: list[FieldRequirement] = []
    for part in sorted(_split_terms(selector)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise FieldSelectorError(f"invalid selector: '{selector}'; can't understand '{part}'")
        field, operator, raw_value = split
        terms.append(FieldRequirement(field, operator, unescape_value(raw_value)))
    return FieldSelector(terms).transform(fn)


def parse(selector: str) -> FieldSelector:
    """Upstream ``fields.ParseSelector``; raises :class:`FieldSelectorError`."""
    return parse_and_transform(selector, lambda field, value: (field, value))
