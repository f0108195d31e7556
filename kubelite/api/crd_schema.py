"""CustomResourceDefinition schemas: structural checks, pruning, defaulting and validation, as upstream.

Design
------
A CRD version carries ``schema.openAPIV3Schema``, a JSON Schema dialect (``JSONSchemaProps``). The API
server uses it four ways, and this module gives one plain function for each, working directly on the
decoded JSON (``dict``/``list``/``str``/``int``/``float``/``bool``/``None``) of the schema and objects:

* :func:`check_structural` (and :func:`check_structural_errors`, the same as :class:`FieldError`
  values for ``Status`` causes): is the schema allowed at all? Upstream
  ``validateCustomResourceDefinitionValidation`` with the options of a v1 CRD create: the structural
  schema invariants and completeness (``pkg/apiserver/schema/validation.go``, ``complete.go``), the
  defaults check (``pkg/apiserver/schema/defaulting/validation.go``: defaults validate against their
  schema, are pruned, and give valid embedded metadata) and ``ValidateCustomResourceDefinitionOpenAPISchema``
  (``pkg/apis/apiextensions/validation``) minus everything CEL.
* :func:`prune`: drop what the schema does not declare, the request decoder's job (``pruning``
  package, then ``PruneNonNullableNullsWithoutDefaults``, then ``objectmeta.Coerce`` for embedded
  resources), returning the dropped paths as the strict decoder reports them (``spec.foo``,
  ``spec.items[0].bar``, sorted).
* :func:`default`: ``defaulting.Default``.
* :func:`validate`: ``kube-openapi``'s ``validate.SchemaValidator`` with the CRD converter and the
  format post-processor of ``pkg/apiserver/validation``, the errors translated by
  ``kubeOpenAPIResultToFieldErrors``, then ``objectmeta.Validate`` for embedded resources and
  ``listtype.ValidateListSetsAndMaps``. Messages are upstream's byte for byte, quirks included::

      spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
      spec.size: Unsupported value: "XL": supported values: "S", "M", "L"
      <nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)

The validator is a port of kube-openapi's (same validator order, match counting for ``anyOf`` and
``oneOf``, message de-duplication), because error *selection* is part of the behaviour users see.
Where Go iterates a map, we iterate in sorted key order so that output is deterministic.

``pattern`` and the regex formats are Go RE2 syntax. :func:`compile_go_regexp` parses a pattern the
way Go's ``regexp/syntax`` does (so invalid patterns get Go's error text, e.g. ``error parsing regexp:
invalid or unsupported Perl syntax: `(?!``) and translates it into an equivalent Python expression
without Python flags: ``$`` means end of text, ``\\d``/``\\w``/``\\s``/``\\b`` are ASCII, ``(?i)`` is
expanded into explicit case-fold classes, ``\\p{L}``-style categories into code point ranges.

Not implemented, on purpose or for lack of a CEL interpreter:

* ``x-kubernetes-validations`` (CEL rules) are not evaluated; rules are never reported as failed.
  :func:`uses_cel` tells the server when a schema has rules, so that it can warn. Static checks of
  the rule *fields* that need no CEL (empty rule, line breaks, reason) are done.
* ``\\p{Greek}``-style Unicode *script* classes are accepted as Go accepts them, but a pattern using
  one is not evaluated (Python's ``re`` has no script tables); such a pattern never fails validation.
* Python's ``re`` backtracks where RE2 does not: a pathological pattern (``(a+)+$``) can be slow.
* ``int32``/``float`` range checks of numbers, added to kube-openapi in 2026, are not done: the
  reference release (1.34) does not do them either.
* The ``k8s-short-name``/``k8s-long-name`` formats are stripped like any unknown format, as a 1.34
  server does (its compatibility version is 1.33; they arrive with 1.34 compatibility).
* ``net/mail`` address parsing (format ``email``) and ``url.ParseRequestURI`` (format ``uri``) are
  close re-implementations of the Go functions, not ports.
* Embedded ``metadata`` decoding errors imitate ``encoding/json``'s messages; time values are
  parsed as RFC 3339 the way ``metav1.Time`` does, not with Go's full ``time.Parse`` error texts.

Top-level ``metadata`` is the server's business (it validates ``ObjectMeta`` itself): it is never
pruned, defaulted or type-checked here; :func:`validate` only applies the restrictions a structural
schema may put on ``metadata.name`` and ``metadata.generateName``, which the server cannot know.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum, IntFlag
from functools import lru_cache
from typing import Any, Final

from kubelite.api.validation import (
    OMIT_VALUE,
    FieldError,
    GoStruct,
    Path,
    aggregate_message,
    go_format_float,
    go_json,
    go_quote,
    is_dns1035_label,
    validate_object_meta,
    validate_path_segment_name,
)

__all__ = [
    "DEFAULT_SCHEMA_PATH",
    "SUPPORTED_FORMATS",
    "GoRegexp",
    "GoRegexpError",
    "check_structural",
    "check_structural_errors",
    "compile_go_regexp",
    "default",
    "prune",
    "uses_cel",
    "validate",
    "validate_list_types",
]

JSONObject = dict[str, Any]
Schema = Mapping[str, Any]

DEFAULT_SCHEMA_PATH: Final = "spec.versions[0].schema.openAPIV3Schema"
"""The path prefix :func:`check_structural` uses when the caller gives none."""

# ===================================================================================================
# Go regular expressions (regexp/syntax with the Perl flags regexp.Compile uses)
# ===================================================================================================

_MAX_RUNE: Final = 0x10FFFF
_MAX_REPEAT: Final = 1000
# Code points Go's case folding can touch (regexp/syntax minFold, maxFold).
_MIN_FOLD: Final = 0x0041
_MAX_FOLD: Final = 0x1E943

_Ranges = list[tuple[int, int]]


class GoRegexpError(ValueError):
    """A pattern Go's ``regexp`` rejects; ``str()`` is Go's ``*syntax.Error`` text."""

    def __init__(self, code: str, expr: str) -> None:
        super().__init__(f"error parsing regexp: {code}: `{expr}`")
        self.code = code
        self.expr = expr


class _UntranslatableError(Exception):
    """Valid Go syntax that Python's ``re`` cannot express (Unicode script classes)."""


@dataclass(frozen=True, slots=True)
class GoRegexp:
    """A Go pattern that compiled; ``python`` is None when it cannot be evaluated here."""

    pattern: str
    python: re.Pattern[str] | None

    def search(self, text: str) -> bool | None:
        """Go ``MatchString``: does the pattern match anywhere in ``text``? None: cannot tell."""
        if self.python is None:
            return None
        return self.python.search(text) is not None


class _Flags(IntFlag):
    FOLD_CASE = 1  # (?i)
    DOT_NL = 2  # (?s)
    ONE_LINE = 4  # cleared by (?m): ^ and $ match at line boundaries
    NON_GREEDY = 8  # (?U); greediness never changes *whether* a pattern matches


# A parse-tree summary for Go's repeatIsValid: (min, max, subtrees); min -1 marks a non-counted node.
_RepeatTree = tuple[int, int, tuple["_RepeatTree", ...]]


@dataclass(slots=True)
class _Item:
    """One element of a concatenation: a self-contained Python expression."""

    text: str
    tree: _RepeatTree


@dataclass(slots=True)
class _Group:
    flags_before: _Flags  # restored at ")"
    alternatives: list[list[_Item]] = field(default_factory=lambda: [[]])


_ASCII_WORD: Final = "[0-9A-Za-z_]"
_WORD_BOUNDARY: Final = f"(?:(?<={_ASCII_WORD})(?!{_ASCII_WORD})|(?<!{_ASCII_WORD})(?={_ASCII_WORD}))"
_NOT_WORD_BOUNDARY: Final = f"(?:(?<={_ASCII_WORD})(?={_ASCII_WORD})|(?<!{_ASCII_WORD})(?!{_ASCII_WORD}))"

# Perl classes (regexp/syntax perl_groups.go): ASCII only, whatever the input.
_PERL_GROUPS: Final[dict[str, tuple[bool, tuple[tuple[int, int], ...]]]] = {
    "d": (False, ((0x30, 0x39),)),
    "s": (False, ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20))),
    "w": (False, ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))),
}
_POSIX_GROUPS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
# Go's unicode.Categories keys (one- and two-letter general categories; Go has no Cn table).
_GO_CATEGORIES: Final = frozenset({
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
})  # fmt: skip
# Go's unicode.Scripts keys (Unicode 15): valid in patterns, but Python has no tables for them.
_GO_SCRIPTS: Final = frozenset(
    """
Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki
Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee
Chorasmian Common Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret Devanagari Dives_Akuru Dogra
Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian Glagolitic Gothic Grantha Greek Gujarati
Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inherited
Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi
Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian
Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui
Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nag_Mundari
Nandinagari New_Tai_Lue Newa Nko Nushu Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic
Old_North_Arabian Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage
Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan
Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese Syloti_Nagri
Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut Telugu Thaana Thai Tibetan
Tifinagh Tirhuta Toto Ugaritic Vai Vithkuqi Wancho Warang_Citi Yezidi Yi Zanabazar_Square
""".split()
)


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, tuple[tuple[int, int], ...]]:
    """Code point ranges of every two-letter general category (one pass over all of Unicode)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    current = unicodedata.category("\0")
    start = 0
    for cp in range(1, _MAX_RUNE + 2):
        category = unicodedata.category(chr(cp)) if cp <= _MAX_RUNE else ""
        if category != current:
            ranges.setdefault(current, []).append((start, cp - 1))
            current, start = category, cp
    return {name: tuple(spans) for name, spans in ranges.items()}


def _unicode_category(name: str) -> _Ranges:
    if name == "Any":
        return [(0, _MAX_RUNE)]
    table = _category_ranges()
    if len(name) == 1:
        # Go's one-letter C is Cc|Cf|Co|Cs: unassigned code points (Cn) are not "other" there.
        return _clean([span for key, spans in table.items() if key[0] == name and key != "Cn" for span in spans])
    return list(table.get(name, ()))


@lru_cache(maxsize=1)
def _fold_orbits() -> dict[int, tuple[int, ...]]:
    """Simple case-fold equivalence classes (Go's SimpleFold orbits), derived from Python's tables."""
    groups: dict[str, list[int]] = {}
    for cp in range(_MIN_FOLD, _MAX_FOLD + 1):
        ch = chr(cp)
        folded = ch.casefold()
        if len(folded) != 1:
            folded = ch.lower() if len(ch.lower()) == 1 else ch
        groups.setdefault(folded, []).append(cp)
    for key, members in groups.items():
        # The folded form itself belongs to the orbit even when it lies outside the scanned range.
        if ord(key) not in members:
            members.append(ord(key))
    orbits: dict[int, tuple[int, ...]] = {}
    for members in groups.values():
        if len(members) > 1:
            orbit = tuple(sorted(set(members)))
            for cp in orbit:
                orbits[cp] = orbit
    return orbits


def _clean(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    """Sort and merge overlapping or adjacent ranges (Go cleanClass)."""
    out: _Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _negate(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    next_lo = 0
    for lo, hi in _clean(ranges):
        if next_lo <= lo - 1:
            out.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= _MAX_RUNE:
        out.append((next_lo, _MAX_RUNE))
    return out


def _fold(ranges: _Ranges) -> _Ranges:
    """Add every case variant of every code point in ``ranges`` (Go appendFoldedRange)."""
    orbits = _fold_orbits()
    extra: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if lo <= _MIN_FOLD and hi >= _MAX_FOLD:
            continue  # the range already holds everything folding could add
        for cp in range(max(lo, _MIN_FOLD), min(hi, _MAX_FOLD) + 1):
            extra.extend((other, other) for other in orbits.get(cp, ()))
    return _clean([*ranges, *extra])


def _class_char(cp: int) -> str:
    if cp < 0x100:
        return f"\\x{cp:02x}"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _class_text(ranges: _Ranges) -> str:
    cleaned = _clean(ranges)
    if not cleaned:
        return "(?!)"  # an empty class matches nothing
    parts = [_class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in cleaned]
    return "[" + "".join(parts) + "]"


def _literal_text(cp: int, flags: _Flags) -> str:
    if flags & _Flags.FOLD_CASE and cp in _fold_orbits():
        return _class_text([(c, c) for c in _fold_orbits()[cp]])
    return re.escape(chr(cp))


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _unhex(ch: str) -> int:
    return int(ch, 16) if ch in "0123456789abcdefABCDEF" and ch else -1


def _repeat_is_valid(tree: _RepeatTree, n: int) -> bool:
    """Go repeatIsValid: nested counted repetitions may not multiply beyond ``n`` copies."""
    low, high, subs = tree
    if low >= 0:
        m = high
        if m == 0:
            return True
        if m < 0:
            m = low
        if m > n:
            return False
        if m > 0:
            n //= m
    return all(_repeat_is_valid(sub, n) for sub in subs)


class _GoRegexpParser:
    """Go's regexp/syntax parser loop (Perl flags), emitting a Python expression as it goes."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.n = len(pattern)
        self.flags = _Flags.ONE_LINE
        self.stack: list[_Group] = [_Group(self.flags)]

    # -- emission helpers ------------------------------------------------------------------------

    def _push(self, text: str, tree: _RepeatTree = (-1, -1, ())) -> None:
        self.stack[-1].alternatives[-1].append(_Item(text, tree))

    def _push_class(self, ranges: _Ranges) -> None:
        self._push(_class_text(ranges))

    @staticmethod
    def _group_text(group: _Group) -> tuple[str, _RepeatTree]:
        text = "|".join("".join(item.text for item in alt) for alt in group.alternatives)
        subs = tuple(item.tree for alt in group.alternatives for item in alt)
        return f"(?:{text})", (-1, -1, subs)

    # -- the main loop -----------------------------------------------------------------------------

    def parse(self) -> str:
        p, n = self.p, self.n
        i = 0
        last_repeat: int | None = None
        while i < n:
            repeat: int | None = None
            c = p[i]
            if c == "(":
                if i + 1 < n and p[i + 1] == "?":
                    i = self._perl_flags(i)
                else:
                    self.stack.append(_Group(self.flags))
                    i += 1
            elif c == "|":
                self.stack[-1].alternatives.append([])
                i += 1
            elif c == ")":
                self._right_paren()
                i += 1
            elif c == "^":
                self._push("\\A" if self.flags & _Flags.ONE_LINE else "(?m:^)")
                i += 1
            elif c == "$":
                self._push("\\Z" if self.flags & _Flags.ONE_LINE else "(?m:$)")
                i += 1
            elif c == ".":
                self._push("[\\x00-\\U0010ffff]" if self.flags & _Flags.DOT_NL else "[^\\n]")
                i += 1
            elif c == "[":
                i = self._parse_class(i)
            elif c in "*+?":
                quantifier = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c]
                repeat = i
                i = self._repeat(quantifier, counted=False, before=i, after=i + 1, last_repeat=last_repeat)
            elif c == "{":
                parsed = self._parse_repeat(i)
                if parsed is None:
                    self._push(re.escape("{"))  # not a repetition: a literal brace
                    i += 1
                else:
                    low, high, after = parsed
                    if low < 0 or low > _MAX_REPEAT or high > _MAX_REPEAT or 0 <= high < low:
                        raise GoRegexpError("invalid repeat count", p[i:after])
                    repeat = i
                    i = self._repeat((low, high), counted=True, before=i, after=after, last_repeat=last_repeat)
            elif c == "\\":
                i = self._backslash(i)
            else:
                self._push(_literal_text(ord(c), self.flags))
                i += 1
            last_repeat = repeat
        if len(self.stack) != 1:
            raise GoRegexpError("missing closing )", p)
        text, _ = self._group_text(self.stack[0])
        return text

    def _repeat(
        self, bounds: tuple[int, int], *, counted: bool, before: int, after: int, last_repeat: int | None
    ) -> int:
        p = self.p
        if after < self.n and p[after] == "?":
            after += 1  # non-greedy: the same language
        if last_repeat is not None:
            raise GoRegexpError("invalid nested repetition operator", p[last_repeat:after])
        alt = self.stack[-1].alternatives[-1]
        if not alt:
            raise GoRegexpError("missing argument to repetition operator", p[before:after])
        item = alt[-1]
        low, high = bounds
        tree: _RepeatTree = (low, high, (item.tree,)) if counted else (-1, -1, (item.tree,))
        if counted and (low >= 2 or high >= 2) and not _repeat_is_valid(tree, _MAX_REPEAT):
            raise GoRegexpError("invalid repeat count", p[before:after])
        if not counted:
            suffix = {(0, -1): "*", (1, -1): "+", (0, 1): "?"}[bounds]
        elif high == low:
            suffix = f"{{{low}}}"
        elif high < 0:
            suffix = f"{{{low},}}"
        else:
            suffix = f"{{{low},{high}}}"
        alt[-1] = _Item(f"(?:{item.text}){suffix}", tree)
        return after

    def _parse_repeat(self, i: int) -> tuple[int, int, int] | None:
        """Go parseRepeat: ``{n}``, ``{n,}``, ``{n,m}``; None when ``{`` is a literal."""
        p, n = self.p, self.n
        j = i + 1
        parsed = self._parse_int(j)
        if parsed is None:
            return None
        low, j = parsed
        if j >= n:
            return None
        if p[j] != ",":
            high = low
        else:
            j += 1
            if j >= n:
                return None
            if p[j] == "}":
                high = -1
            else:
                parsed = self._parse_int(j)
                if parsed is None:
                    return None
                high, j = parsed
                if high < 0:
                    low = -1  # too big
        if j >= n or p[j] != "}":
            return None
        return low, high, j + 1

    def _parse_int(self, j: int) -> tuple[int, int] | None:
        p, n = self.p, self.n
        if j >= n or not ("0" <= p[j] <= "9"):
            return None
        if j + 1 < n and p[j] == "0" and "0" <= p[j + 1] <= "9":
            return None  # Go disallows leading zeros
        start = j
        while j < n and "0" <= p[j] <= "9":
            j += 1
        value = 0
        for digit in p[start:j]:
            if value >= 100_000_000:
                value = -1
                break
            value = value * 10 + int(digit)
        return value, j

    def _perl_flags(self, i: int) -> int:
        """Go parsePerlFlags: named captures, non-capturing groups and flag changes."""
        p, n = self.p, self.n
        rest = p[i:]
        starts_with_p = len(rest) > 4 and rest[2] == "P" and rest[3] == "<"
        starts_with_name = len(rest) > 3 and rest[2] == "<"
        if starts_with_p or starts_with_name:
            expr_start = 4 if starts_with_p else 3
            end = rest.find(">")
            if end < 0:
                raise GoRegexpError("invalid named capture", rest)
            name = rest[expr_start:end]
            if not name or not all(ch == "_" or _is_alnum(ch) for ch in name):
                raise GoRegexpError("invalid named capture", rest[: end + 1])
            self.stack.append(_Group(self.flags))
            return i + end + 1
        j = i + 2
        flags = self.flags
        negated = False
        saw_flag = False
        while j < n:
            c = p[j]
            j += 1
            if c in "imsU":
                bit = {"i": _Flags.FOLD_CASE, "m": _Flags.ONE_LINE, "s": _Flags.DOT_NL, "U": _Flags.NON_GREEDY}[c]
                # "m" *clears* OneLine; a "-" flips the sense of every flag after it.
                setting = (c != "m") != negated
                flags = flags | bit if setting else flags & ~bit
                saw_flag = True
            elif c == "-":
                if negated:
                    break
                negated = True
                saw_flag = False
            elif c in ":)":
                if negated and not saw_flag:
                    break
                if c == ":":
                    self.stack.append(_Group(self.flags))
                self.flags = flags
                return j
            else:
                break
        raise GoRegexpError("invalid or unsupported Perl syntax", p[i:j])

    def _right_paren(self) -> None:
        if len(self.stack) < 2:
            raise GoRegexpError("unexpected )", self.p)
        group = self.stack.pop()
        self.flags = group.flags_before
        text, tree = self._group_text(group)
        self._push(text, tree)

    # -- escapes ------------------------------------------------------------------------------------

    def _backslash(self, i: int) -> int:
        p, n = self.p, self.n
        if i + 1 < n:
            c = p[i + 1]
            simple = {"A": "\\A", "b": _WORD_BOUNDARY, "B": _NOT_WORD_BOUNDARY, "z": "\\Z"}
            if c in simple:
                self._push(simple[c])
                return i + 2
            if c == "C":
                raise GoRegexpError("invalid escape sequence", "\\C")
            if c == "Q":
                end = p.find("\\E", i + 2)
                literal = p[i + 2 :] if end < 0 else p[i + 2 : end]
                for ch in literal:
                    self._push(_literal_text(ord(ch), self.flags))
                return n if end < 0 else end + 2
            if c in "pP":
                ranges, after = self._unicode_class(i)
                self._push_class(ranges)
                return after
            perl = self._perl_class(i)
            if perl is not None:
                ranges, after = perl
                self._push_class(ranges)
                return after
        cp, after = self._escape(i)
        self._push(_literal_text(cp, self.flags))
        return after

    def _escape(self, i: int) -> tuple[int, int]:
        """Go parseEscape: a single-character escape at ``p[i] == '\\'``; returns (rune, next index)."""
        p, n = self.p, self.n
        j = i + 1
        if j >= n:
            raise GoRegexpError("trailing backslash at end of expression", "")
        c = p[j]
        j += 1
        if c.isascii() and not _is_alnum(c):
            return ord(c), j  # escaped punctuation is itself
        if c in "1234567" and (j >= n or not ("0" <= p[j] <= "7")):
            pass  # a backreference: not supported
        elif c in "01234567":
            value = int(c)
            for _ in range(2):
                if j >= n or not ("0" <= p[j] <= "7"):
                    break
                value = value * 8 + int(p[j])
                j += 1
            return value, j
        elif c == "x" and j < n:
            first = p[j]
            j += 1
            if first == "{":
                digits = 0
                value = 0
                while True:
                    if j >= n:
                        raise GoRegexpError("invalid escape sequence", p[i:j])
                    ch = p[j]
                    j += 1
                    if ch == "}":
                        break
                    if _unhex(ch) < 0:
                        raise GoRegexpError("invalid escape sequence", p[i:j])
                    value = value * 16 + _unhex(ch)
                    if value > _MAX_RUNE:
                        raise GoRegexpError("invalid escape sequence", p[i:j])
                    digits += 1
                if digits == 0:
                    raise GoRegexpError("invalid escape sequence", p[i:j])
                return value, j
            second = p[j] if j < n else ""
            j = min(j + 1, n)
            if _unhex(first) >= 0 and _unhex(second) >= 0:
                return _unhex(first) * 16 + _unhex(second), j
        elif c in "afnrtv":
            return ord({"a": "\a", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}[c]), j
        raise GoRegexpError("invalid escape sequence", p[i:j])

    def _perl_class(self, i: int) -> tuple[_Ranges, int] | None:
        if i + 1 >= self.n or self.p[i] != "\\":
            return None
        c = self.p[i + 1]
        if c.lower() not in _PERL_GROUPS or not c.isascii():
            return None
        _, ranges = _PERL_GROUPS[c.lower()]
        return self._group_ranges(list(ranges), negate=c.isupper()), i + 2

    def _group_ranges(self, ranges: _Ranges, *, negate: bool) -> _Ranges:
        if self.flags & _Flags.FOLD_CASE:
            ranges = _fold(ranges)
        return _negate(ranges) if negate else ranges

    def _unicode_class(self, i: int) -> tuple[_Ranges, int]:
        """Go parseUnicodeClass at ``\\p`` or ``\\P``."""
        p, n = self.p, self.n
        negate = p[i + 1] == "P"
        j = i + 2
        if j >= n:
            # Go decodes an empty rest as RuneError and looks that up as a one-letter name.
            raise GoRegexpError("invalid character class range", p[i:j])
        if p[j] != "{":
            name, after = p[j], j + 1
        else:
            end = p.find("}", i)
            if end < 0:
                raise GoRegexpError("invalid character class range", p[i:])
            name, after = p[j + 1 : end], end + 1
        seq = p[i:after]
        if name.startswith("^"):
            negate = not negate
            name = name[1:]
        if name == "Any" or name in _GO_CATEGORIES:
            ranges = _unicode_category(name)
        elif name in _GO_SCRIPTS:
            raise _UntranslatableError(seq)
        else:
            raise GoRegexpError("invalid character class range", seq)
        return self._group_ranges(ranges, negate=negate), after

    def _parse_class(self, i: int) -> int:
        """Go parseClass at ``[``; pushes the class and returns the index after ``]``."""
        p, n = self.p, self.n
        whole = p[i:]
        j = i + 1
        negate = False
        if j < n and p[j] == "^":
            negate = True
            j += 1
        ranges: _Ranges = []
        first = True
        while j >= n or p[j] != "]" or first:
            first = False
            if n - j > 2 and p[j] == "[" and p[j + 1] == ":":
                end = p.find(":]", j + 2)
                if end >= 0:
                    name = p[j : end + 2]
                    inner = name[2:-2]
                    group_negated = inner.startswith("^")
                    group = _POSIX_GROUPS.get(inner.lstrip("^") if group_negated else inner)
                    if group is None or inner.count("^") > 1:
                        raise GoRegexpError("invalid character class range", name)
                    ranges.extend(self._group_ranges(list(group), negate=group_negated))
                    j = end + 2
                    continue
            if n - j >= 2 and p[j] == "\\" and p[j + 1] in "pP":
                unicode_ranges, j = self._unicode_class(j)
                ranges.extend(unicode_ranges)
                continue
            perl = self._perl_class(j)
            if perl is not None:
                perl_ranges, j = perl
                ranges.extend(perl_ranges)
                continue
            start = j
            lo, j = self._class_char(j, whole)
            hi = lo
            if n - j >= 2 and p[j] == "-" and p[j + 1] != "]":
                hi, j = self._class_char(j + 1, whole)
                if hi < lo:
                    raise GoRegexpError("invalid character class range", p[start:j])
            span = [(lo, hi)]
            ranges.extend(_fold(span) if self.flags & _Flags.FOLD_CASE else span)
        j += 1
        self._push_class(_negate(ranges) if negate else ranges)
        return j

    def _class_char(self, j: int, whole: str) -> tuple[int, int]:
        if j >= self.n:
            raise GoRegexpError("missing closing ]", whole)
        if self.p[j] == "\\":
            return self._escape(j)
        return ord(self.p[j]), j + 1


@lru_cache(maxsize=1024)
def compile_go_regexp(pattern: str) -> GoRegexp:
    """Compile a Go (RE2) pattern; raises :class:`GoRegexpError` with Go's message when invalid."""
    try:
        translated = _GoRegexpParser(pattern).parse()
    except _UntranslatableError:
        return GoRegexp(pattern, None)
    try:
        return GoRegexp(pattern, re.compile(translated))
    except (re.error, RecursionError, OverflowError):
        return GoRegexp(pattern, None)  # valid for Go; Python's engine refuses the translation


def _go_regexp_matcher(pattern: str) -> Callable[[str], bool]:
    """A matcher for one of kube-openapi's own (known-good) Go patterns."""
    compiled = compile_go_regexp(pattern).python
    assert compiled is not None, pattern
    return lambda text: compiled.search(text) is not None


# ===================================================================================================
# String formats (kube-openapi strfmt.Default and its govalidator copy)
# ===================================================================================================

SUPPORTED_FORMATS: Final = frozenset({
    "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3", "uuid4",
    "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor", "byte", "password",
    "date", "duration", "datetime",
})  # fmt: skip
"""String formats a CRD may use, names normalized as go-openapi does (``date-time`` is ``datetime``);
others are dropped from the schema before validation (upstream ``StripUnsupportedFormatsPostProcessor``
at compatibility version 1.33)."""


def _normalize_format(name: str) -> str:
    return name.replace("-", "")


@lru_cache(maxsize=1)
def _hostname_matcher() -> Callable[[str], bool]:
    # strfmt.HostnamePattern; \p{S} and \p{L} make this the costliest pattern, so build it on first use.
    return _go_regexp_matcher(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]"
        r"{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$"
    )


def _is_hostname(text: str) -> bool:
    if not _hostname_matcher()(text):
        return False
    return len(text.encode()) <= 255 and all(len(part.encode()) <= 63 for part in text.split("."))


_UUID_RE: Final = {
    "uuid": re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z"),
    "uuid3": re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?3[0-9a-fA-F]{3}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z"),
    "uuid4": re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?4[0-9a-fA-F]{3}-?[89abAB][0-9a-fA-F]{3}-?[0-9a-fA-F]{12}\Z"),
    "uuid5": re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?5[0-9a-fA-F]{3}-?[89abAB][0-9a-fA-F]{3}-?[0-9a-fA-F]{12}\Z"),
}
_CREDIT_CARD_RE: Final = re.compile(
    r"(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}"
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35[0-9]{3})[0-9]{11})\Z"
)
_ISBN10_RE: Final = re.compile(r"(?:[0-9]{9}X|[0-9]{10})\Z")
_ISBN13_RE: Final = re.compile(r"[0-9]{13}\Z")
_HEXCOLOR_RE: Final = re.compile(r"#?(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z")
_RGB_PART: Final = r"[\t\n\f\r ]*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])[\t\n\f\r ]*"
_RGBCOLOR_RE: Final = re.compile(rf"rgb\({_RGB_PART},{_RGB_PART},{_RGB_PART}\)\Z")
_BASE64_RE: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})\Z")
_SSN_RE: Final = re.compile(r"[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}\Z")
_DATE_TIME_RE: Final = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))\Z", re.S)


def _is_isbn(text: str, version: int) -> bool:
    """govalidator IsISBN: separators (whitespace, '-') removed, then the checksum."""
    sanitized = re.sub(r"[\t\n\f\r -]+", "", text)  # Go's \s is ASCII
    if version == 10:
        if not _ISBN10_RE.match(sanitized):
            return False
        checksum = sum((i + 1) * int(sanitized[i]) for i in range(9))
        checksum += 100 if sanitized[9] == "X" else 10 * int(sanitized[9])
        return checksum % 11 == 0
    if not _ISBN13_RE.match(sanitized):
        return False
    checksum = sum((1, 3)[i % 2] * int(sanitized[i]) for i in range(12))
    return int(sanitized[12]) - (10 - checksum % 10) % 10 == 0


def _is_credit_card(text: str) -> bool:
    sanitized = re.sub(r"[^0-9]+", "", text)
    if not _CREDIT_CARD_RE.match(sanitized):
        return False
    total = 0
    double = False
    for digit in reversed(sanitized):
        value = int(digit)
        if double:
            value *= 2
            total += value % 10 + 1 if value >= 10 else value
        else:
            total += value
        double = not double
    return total % 10 == 0


def _parse_ipv4_sloppy(text: str) -> bool:
    """k8s.io/utils/net ParseIPSloppy for dotted quads: decimal fields, leading zeros allowed."""
    parts = text.split(".")
    return len(parts) == 4 and all(part.isascii() and part.isdigit() and int(part) <= 255 for part in parts)


def _parse_ip(text: str, *, sloppy: bool) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go net.ParseIP (or the sloppy variant): no zones, IPv4 fields without leading zeros."""
    if "%" in text or not text.isascii():
        return None
    if sloppy and _parse_ipv4_sloppy(text):
        return ipaddress.IPv4Address(".".join(str(int(part)) for part in text.split(".")))
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_cidr(text: str) -> bool:
    address, slash, prefix = text.partition("/")
    ip = _parse_ip(address, sloppy=True)
    if not slash or ip is None or not prefix.isascii() or not prefix.isdigit():
        return False
    return int(prefix) <= (32 if isinstance(ip, ipaddress.IPv4Address) else 128)


def _is_mac(text: str) -> bool:
    """Go net.ParseMAC: 6, 8 or 20 octets as xx:xx.., xx-xx.. or xxxx.xxxx.. groups."""
    hexdigits = "0123456789abcdefABCDEF"
    if len(text) < 14:
        return False
    if text[2] in ":-":
        if (len(text) + 1) % 3 != 0 or (len(text) + 1) // 3 not in (6, 8, 20):
            return False
        separator = text[2]
        return all(
            text[x] in hexdigits and text[x + 1] in hexdigits and (x + 2 == len(text) or text[x + 2] == separator)
            for x in range(0, len(text), 3)
        )
    if text[4] == ".":
        if (len(text) + 1) % 5 != 0 or 2 * (len(text) + 1) // 5 not in (6, 8, 20):
            return False
        return all(
            all(ch in hexdigits for ch in text[x : x + 4]) and (x + 4 == len(text) or text[x + 4] == ".")
            for x in range(0, len(text), 5)
        )
    return False


def _is_bson_object_id(text: str) -> bool:
    try:
        return len(bytes.fromhex(text)) == 12 if len(text) % 2 == 0 and " " not in text else False
    except ValueError:
        return False


def _is_date(text: str) -> bool:
    """Go time.Parse("2006-01-02"): exactly four-digit year, two-digit month and day, a real day."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    year, month, day = text[:4], text[5:7], text[8:]
    if not all(part.isascii() and part.isdigit() for part in (year, month, day)):
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return int(year) == 0 and _is_valid_year_zero_date(int(month), int(day))
    return True


def _is_valid_year_zero_date(month: int, day: int) -> bool:
    # Go accepts year 0000 (a leap year in the proleptic calendar); Python's date does not.
    days = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return 1 <= month <= 12 and 1 <= day <= days[month - 1]


def _is_date_time(text: str) -> bool:
    """strfmt.IsDateTime: the date part, then a loose clock-and-zone pattern."""
    if len(text) < 4:
        return False
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _DATE_TIME_RE.match(parts[1])
    if match is None:
        return False
    return match.group(1) <= "23" and match.group(2) <= "59" and match.group(3) <= "59"


_GO_DURATION_RE: Final = re.compile(r"[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+\Z")
_STRFMT_DURATION_RE: Final = re.compile(r"(([0-9]+)[\t\n\f\r ]*([A-Za-zµ]+))")
_STRFMT_TIME_UNITS: Final = (
    ("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"), ("h", "hr", "hour"),
    ("d", "day"), ("w", "wk", "week"),
)  # fmt: skip


def _is_duration(text: str) -> bool:
    """strfmt.ParseDuration: Go time.ParseDuration, else loose "<n> <unit>" pairs."""
    if text in ("0", "+0", "-0") or _GO_DURATION_RE.match(text):
        return True
    ok = False
    for _, _, unit_text in _STRFMT_DURATION_RE.findall(text):
        unit = unit_text.lower().strip()
        for variants in _STRFMT_TIME_UNITS:
            last = len(variants) - 1
            for i, variant in enumerate(variants):
                if (i == last and unit.startswith(variant)) or variant.lower() == unit:
                    ok = True
    return ok


def _is_request_uri(text: str) -> bool:
    """Go url.ParseRequestURI: an absolute URI, or an absolute path, without control characters."""
    if not text or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return False
    if text == "*":
        return True
    rest = text
    scheme = ""
    for i, ch in enumerate(text):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-.") and i > 0:
            continue
        if ch == ":":
            if i == 0:
                return False  # "missing protocol scheme"
            scheme, rest = text[:i], text[i + 1 :]
        break
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        return bool(scheme)  # a rootless path with a scheme is opaque; without one it is refused
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if not _valid_authority(authority):
            return False
        rest = slash + path
    return _valid_escapes(rest)


def _valid_escapes(text: str) -> bool:
    return all(
        text[i + 1 : i + 3]
        and all(ch in "0123456789abcdefABCDEF" for ch in text[i + 1 : i + 3])
        and len(text[i + 1 : i + 3]) == 2
        for i, ch in enumerate(text)
        if ch == "%"
    )


def _valid_authority(authority: str) -> bool:
    userinfo, at, host = authority.rpartition("@")
    if at:
        allowed = "-._:~!$&'()*+,;=%@"
        if not all((ch.isascii() and ch.isalnum()) or ch in allowed for ch in userinfo):
            return False
        if not _valid_escapes(userinfo):
            return False
    else:
        host = authority
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        literal, port = host[1:end], host[end + 1 :]
        if port and (not port.startswith(":") or (not port[1:].isdigit() and port[1:])):
            return False
        address = literal.partition("%25")[0]
        return _parse_ip(address, sloppy=False) is not None
    name, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
    if colon and port and not (port.isascii() and port.isdigit()):
        return False
    allowed_host = "-._~!$&'()*+,;=[]<>\"%"
    if not all(not ch.isascii() or ch.isalnum() or ch in allowed_host for ch in name):
        return False
    return _valid_escapes(name)


_EMAIL_ATEXT: Final = "!#$%&'*+-/=?^_`{|}~"


def _is_dot_atom(text: str) -> bool:
    atoms = text.split(".")
    return all(atom and all(ch.isalnum() or ch in _EMAIL_ATEXT or not ch.isascii() for ch in atom) for atom in atoms)


def _is_addr_spec(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        return False
    if local.startswith('"'):
        if not (len(local) >= 2 and local.endswith('"')):
            return False
        body = local[1:-1].replace('\\"', "").replace("\\\\", "")
        if '"' in body or "\\" in body:
            return False
    elif not _is_dot_atom(local):
        return False
    if domain.startswith("["):
        return domain.endswith("]") and "[" not in domain[1:-1] and "]" not in domain[1:-1]
    return _is_dot_atom(domain)


def _is_email(text: str) -> bool:
    """Go net/mail ParseAddress: ``addr-spec`` or ``display name <addr-spec>``."""
    text = text.strip(" \t")
    if text.endswith(">") and "<" in text:
        return _is_addr_spec(text[text.rfind("<") + 1 : -1].strip(" \t"))
    return _is_addr_spec(text)


_FORMAT_CHECKERS: Final[dict[str, Callable[[str], bool]]] = {
    "bsonobjectid": _is_bson_object_id,
    "uri": _is_request_uri,
    "email": _is_email,
    "hostname": _is_hostname,
    "ipv4": lambda text: _parse_ip(text, sloppy=True) is not None and "." in text,
    "ipv6": lambda text: _parse_ip(text, sloppy=False) is not None and ":" in text,
    "cidr": _is_cidr,
    "mac": _is_mac,
    "uuid": lambda text: _UUID_RE["uuid"].match(text) is not None,
    "uuid3": lambda text: _UUID_RE["uuid3"].match(text) is not None,
    "uuid4": lambda text: _UUID_RE["uuid4"].match(text) is not None,
    "uuid5": lambda text: _UUID_RE["uuid5"].match(text) is not None,
    "isbn": lambda text: _is_isbn(text, 10) or _is_isbn(text, 13),
    "isbn10": lambda text: _is_isbn(text, 10),
    "isbn13": lambda text: _is_isbn(text, 13),
    "creditcard": _is_credit_card,
    "ssn": lambda text: len(text.encode()) == 11 and _SSN_RE.match(text) is not None,
    "hexcolor": lambda text: _HEXCOLOR_RE.match(text) is not None,
    "rgbcolor": lambda text: _RGBCOLOR_RE.match(text) is not None,
    "byte": lambda text: _BASE64_RE.match(text) is not None,
    "password": lambda text: True,
    "date": _is_date,
    "datetime": _is_date_time,
    "duration": _is_duration,
    "k8sshortname": lambda text: (
        len(text.encode()) <= 63 and re.match(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z", text) is not None
    ),
    "k8slongname": lambda text: (
        len(text.encode()) <= 253
        and re.match(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z", text) is not None
    ),
}


# ===================================================================================================
# Reading JSONSchemaProps (decoded JSON; anything of the wrong JSON type reads as absent)
# ===================================================================================================


def _str(schema: Schema, key: str) -> str:
    value = schema.get(key)
    return value if isinstance(value, str) else ""


def _flag(schema: Schema, key: str) -> bool:
    return schema.get(key) is True


def _number(schema: Schema, key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(schema: Schema, key: str) -> int | None:
    """An ``*int64`` keyword (maxLength, minItems...)."""
    value = schema.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _properties(schema: Schema) -> dict[str, Schema]:
    value = schema.get("properties")
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, Mapping)}


def _items(schema: Schema) -> Schema | None:
    value = schema.get("items")
    return value if isinstance(value, Mapping) else None


def _schemas(schema: Schema, key: str) -> list[Schema]:
    value = schema.get(key)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _not(schema: Schema) -> Schema | None:
    value = schema.get("not")
    return value if isinstance(value, Mapping) else None


@dataclass(frozen=True, slots=True)
class _Additional:
    """``additionalProperties``: ``allows`` (true, or a schema) and the schema, if any."""

    allows: bool
    schema: Schema | None


def _additional(schema: Schema) -> _Additional | None:
    value = schema.get("additionalProperties")
    if isinstance(value, bool):
        return _Additional(value, None)
    if isinstance(value, Mapping):
        return _Additional(True, value)
    return None


def _strings(schema: Schema, key: str) -> list[str]:
    value = schema.get(key)
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def _has_default(schema: Schema) -> bool:
    # "default: null" decodes to a nil pointer upstream: no default at all.
    return schema.get("default") is not None


def _as_path(path: Path | str | None) -> Path | None:
    if path is None or isinstance(path, Path):
        return path
    return Path(path)


def _child(path: Path | None, name: str) -> Path:
    return Path(name) if path is None else path.child(name)


def _key(path: Path | None, key: str) -> Path:
    # A nil field.Path would print "[key]"; our root maps only ever hold properties, so print the key.
    return Path(key) if path is None else path.key(key)


def _index(path: Path | None, i: int) -> Path:
    return Path(f"[{i}]") if path is None else path.index(i)


def _deep_copy(value: Any) -> Any:
    """runtime.DeepCopyJSONValue."""
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value


# ===================================================================================================
# Go value semantics for JSON data (reflect.DeepEqual, conversions, kinds)
# ===================================================================================================

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MAX_JSON_FLOAT: Final = float(2**53 - 1)


def _go_value(value: Any) -> Any:
    """JSON numbers as Go's decoder leaves them: int64 when they fit, else float64."""
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    return value


def _go_kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    return "other"


def _go_deep_equal(a: Any, b: Any) -> bool:
    """reflect.DeepEqual on decoded JSON: 1, 1.0 and true are three different values."""
    a, b = _go_value(a), _go_value(b)
    kind = _go_kind(a)
    if kind != _go_kind(b):
        return False
    if kind == "map":
        return a.keys() == b.keys() and all(_go_deep_equal(a[k], b[k]) for k in a)
    if kind == "slice":
        return len(a) == len(b) and all(_go_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _go_float_to_int64(value: float) -> int:
    if math.isnan(value) or not _INT64_MIN <= value < 2**63:
        return _INT64_MIN  # what amd64 produces for out-of-range conversions
    return int(value)


def _enum_matches(data: Any, candidate: Any) -> bool:
    """kube-openapi basicCommonValidator: DeepEqual after reflect conversion to the enum value's type."""
    data, candidate = _go_value(data), _go_value(candidate)
    if candidate is None or data is None:
        return False
    data_kind, want_kind = _go_kind(data), _go_kind(candidate)
    if data_kind == want_kind:
        return _go_deep_equal(data, candidate)
    if data_kind in ("int64", "float64") and want_kind == "int64":
        converted = _go_float_to_int64(float(data)) if data_kind == "float64" else data
        return bool(converted == candidate)
    if data_kind == "int64" and want_kind == "float64":
        return bool(float(data) == candidate)
    if data_kind == "int64" and want_kind == "string":
        # Go converts an integer to the string of that code point (invalid ones become U+FFFD).
        valid = 0 <= data <= _MAX_RUNE and not 0xD800 <= data <= 0xDFFF
        return bool((chr(data) if valid else "\ufffd") == candidate)
    return False


def _is_json_integer(value: float) -> bool:
    """swag.IsFloat64AJSONInteger, including its relative-error tolerance."""
    if math.isnan(value) or math.isinf(value) or not -_MAX_JSON_FLOAT <= value <= _MAX_JSON_FLOAT:
        return False
    if value < 0:
        # uint64 of a negative float is far away on amd64; only exact integers pass.
        return value == float(int(value))
    truncated = float(int(value))
    if value == truncated:
        return True
    diff = abs(value - truncated)
    if value == 0 or truncated == 0:
        return diff < 1e-9 * 5e-324
    return diff / min(value + truncated, 1.7976931348623157e308) < 1e-9


def _go_format_number(value: int | float) -> str:
    """fmt %v of an int64 or float64."""
    return str(value) if isinstance(value, int) else go_format_float(value)


def _go_sprint_value(value: Any) -> str:
    """fmt %v of a decoded JSON value (only used inside messages that are never shown)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_go_sprint_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_go_sprint_value(v) for v in value) + "]"
    return str(value)


# ===================================================================================================
# kube-openapi validate.SchemaValidator
# ===================================================================================================


class _Code(Enum):
    """kube-openapi error codes that kubeOpenAPIResultToFieldErrors tells apart."""

    OTHER = "other"
    INVALID_TYPE = "InvalidTypeCode"
    REQUIRED = "RequiredFailCode"
    TOO_LONG = "TooLongFailCode"
    ENUM = "EnumFailCode"
    MAX_ITEMS = "MaxItemsFailCode"
    TOO_MANY_PROPERTIES = "TooManyPropertiesCode"


@dataclass(frozen=True, slots=True)
class _OpenAPIError:
    """An ``*errors.Validation`` (``name`` set) or a plain composite error (``name`` None)."""

    message: str
    name: str | None = None
    code: _Code = _Code.OTHER
    value: Any = None
    values: tuple[Any, ...] = ()
    valid: int | None = None


class _Result:
    """validate.Result: errors de-duplicated by message, and the match count anyOf/oneOf rank by."""

    __slots__ = ("errors", "match_count")

    def __init__(self) -> None:
        self.errors: list[_OpenAPIError] = []
        self.match_count = 0

    @classmethod
    def of(cls, error: _OpenAPIError) -> _Result:
        result = cls()
        result.errors.append(error)
        return result

    def add(self, *errors: _OpenAPIError) -> None:
        for error in errors:
            if all(error.message != seen.message for seen in self.errors):
                self.errors.append(error)

    def merge(self, *others: _Result | None) -> _Result:
        for other in others:
            if other is not None:
                self.add(*other.errors)
                self.match_count += other.match_count
        return self

    def inc(self) -> None:
        self.match_count += 1

    @property
    def valid(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _OpenAPIOptions:
    """How the CRD schema becomes a kube-openapi ``spec.Schema``."""

    # ConvertJSONSchemaProps turns x-kubernetes-int-or-string into type [integer, string];
    # Structural.ToKubeOpenAPI (used for defaults) does not.
    int_or_string_type: bool
    # StripUnsupportedFormatsPostProcessor runs for custom resources, not for defaults.
    strip_formats: bool


_CR_OPTIONS: Final = _OpenAPIOptions(int_or_string_type=True, strip_formats=True)
_DEFAULTS_OPTIONS: Final = _OpenAPIOptions(int_or_string_type=False, strip_formats=False)
_IN: Final = "body"


def _spec_types(schema: Schema, opts: _OpenAPIOptions) -> tuple[str, ...]:
    if opts.int_or_string_type and _flag(schema, "x-kubernetes-int-or-string"):
        return ("integer", "string")
    schema_type = _str(schema, "type")
    return (schema_type,) if schema_type else ()


def _spec_format(schema: Schema, types: tuple[str, ...], opts: _OpenAPIOptions) -> str:
    fmt = _str(schema, "format")
    if not fmt or not opts.strip_formats:
        return fmt
    schema_type = types[0] if len(types) == 1 else ""
    if schema_type in ("", "string"):
        return fmt if _normalize_format(fmt) in SUPPORTED_FORMATS else ""
    if schema_type == "integer":
        return fmt if fmt in ("int32", "int64") else ""
    if schema_type == "number":
        return fmt if fmt in ("float", "double") else ""
    return ""


def _schema_info(data: Any) -> tuple[str, str]:
    """typeValidator.schemaInfoForType for decoded JSON."""
    kind = _go_kind(data)
    return {
        "bool": ("boolean", ""),
        "string": ("string", ""),
        "int64": ("integer", "int64"),
        "float64": ("number", "float64"),
        "slice": ("array", ""),
        "map": ("object", ""),
    }.get(kind, ("", ""))


def _invalid_type(path: str, type_name: str, value: Any) -> _OpenAPIError:
    if isinstance(value, str):
        message = f"{path} in {_IN} must be of type {type_name}: {go_quote(value)}"
    else:
        message = f"{path} in {_IN} must be of type {type_name}"
    return _OpenAPIError(message, path, _Code.INVALID_TYPE, value)


def _validate_type(types: tuple[str, ...], nullable: bool, fmt: str, data: Any, path: str) -> _Result:
    result = _Result()
    result.inc()
    if data is None:
        if types and "null" not in types and not nullable:
            return _Result.of(_invalid_type(path, ",".join(types), "null"))
        return result
    schema_type, schema_format = _schema_info(data)
    kind = _go_kind(data)
    is_float_int = schema_type == "number" and _is_json_integer(data) and "integer" in types
    is_int_float = schema_type == "integer" and "number" in types
    if kind not in ("string", "slice") and fmt:
        if not (schema_type in types or schema_format == fmt or is_float_int or is_int_float):
            return _Result.of(_invalid_type(path, fmt, schema_format))
    if "number" not in types and "integer" not in types and fmt and kind in ("string", "slice"):
        return result
    if not (schema_type in types or is_float_int or is_int_float):
        return _Result.of(_invalid_type(path, ",".join(types), schema_type))
    return result


def _validate_schema_props(schema: Schema, data: Any, path: str, opts: _OpenAPIOptions) -> _Result:
    """schemaPropsValidator: anyOf, oneOf, allOf, not."""
    main = _Result()
    quoted = go_quote(path)
    any_of = _schemas(schema, "anyOf")
    if any_of:
        best: _Result | None = None
        first_success: _Result | None = None
        for sub in any_of:
            result = _validate_node(sub, data, path, opts)
            if result.valid:
                best = None
                first_success = result
                break
            if best is None or result.match_count > best.match_count:
                best = result
        if first_success is None:
            main.add(_OpenAPIError(f"{quoted} must validate at least one schema (anyOf)"))
        main.merge(best if best is not None else first_success)
    one_of = _schemas(schema, "oneOf")
    if one_of:
        best = None
        first_success = None
        validated = 0
        for sub in one_of:
            result = _validate_node(sub, data, path, opts)
            if result.valid:
                validated += 1
                best = None
                if first_success is None:
                    first_success = result
                continue
            if validated == 0 and (best is None or result.match_count > best.match_count):
                best = result
        if validated != 1:
            detail = "Found none valid" if validated == 0 else f"Found {validated} valid alternatives"
            main.add(_OpenAPIError(f"{quoted} must validate one and only one schema (oneOf). {detail}"))
            main.merge(best)
        else:
            main.merge(first_success)
    all_of = _schemas(schema, "allOf")
    if all_of:
        validated = 0
        for sub in all_of:
            result = _validate_node(sub, data, path, opts)
            if result.valid:
                validated += 1
            main.merge(result)
        if validated != len(all_of):
            detail = ". None validated" if validated == 0 else ""
            main.add(_OpenAPIError(f"{quoted} must validate all the schemas (allOf){detail}"))
    not_schema = _not(schema)
    if not_schema is not None and _validate_node(not_schema, data, path, opts).valid:
        main.add(_OpenAPIError(f"{quoted} must not validate the schema (not)"))
    main.inc()
    return main


def _failed_pattern(path: str, pattern: str, data: str) -> _OpenAPIError:
    return _OpenAPIError(f"{path} in {_IN} should match '{pattern}'", path, _Code.OTHER, data)


def _validate_string(schema: Schema, data: str, path: str) -> _Result | None:
    max_length = _count(schema, "maxLength")
    if max_length is not None and len(data) > max_length:
        message = f"{path} in {_IN} should be at most {max_length} chars long"
        return _Result.of(_OpenAPIError(message, path, _Code.TOO_LONG, data, valid=max_length))
    min_length = _count(schema, "minLength")
    if min_length is not None and len(data) < min_length:
        message = f"{path} in {_IN} should be at least {min_length} chars long"
        return _Result.of(_OpenAPIError(message, path, _Code.OTHER, data, valid=min_length))
    pattern = _str(schema, "pattern")
    if pattern:
        try:
            matched = compile_go_regexp(pattern).search(data)
        except GoRegexpError as err:
            return _Result.of(_failed_pattern(path, f"{pattern}, but pattern is invalid: {err}", data))
        if matched is False:
            return _Result.of(_failed_pattern(path, pattern, data))
    return None


def _validate_format(fmt: str, data: str, path: str) -> _Result | None:
    checker = _FORMAT_CHECKERS.get(_normalize_format(fmt))
    if checker is None or checker(data):
        return None
    result = _Result()
    result.add(_invalid_type(path, fmt, data))
    return result


def _validate_number(schema: Schema, data: int | float, path: str) -> _Result:
    result = _Result()
    multiple = _Result()
    factor = _number(schema, "multipleOf")
    if factor is not None:
        if isinstance(data, int):
            int_factor = _go_float_to_int64(factor)
            if int_factor <= 0:
                message = f"factor MultipleOf declared for {path} must be positive: {int_factor}"
                multiple.add(_OpenAPIError(message, path, _Code.OTHER, int_factor))
            elif data % int_factor != 0:
                message = f"{path} in {_IN} should be a multiple of {int_factor}"
                multiple.add(_OpenAPIError(message, path, _Code.OTHER, data))
        elif factor <= 0:
            message = f"factor MultipleOf declared for {path} must be positive: {go_format_float(factor)}"
            multiple.add(_OpenAPIError(message, path, _Code.OTHER, factor))
        else:
            mult = 1 / factor * data if factor < 1 else data / factor
            if not _is_json_integer(mult):
                message = f"{path} in {_IN} should be a multiple of {go_format_float(factor)}"
                multiple.add(_OpenAPIError(message, path, _Code.OTHER, data))
    bounds: dict[str, _Result] = {}
    for keyword, exclusive_keyword, words in (
        ("minimum", "exclusiveMinimum", ("greater than or equal to", "greater than")),
        ("maximum", "exclusiveMaximum", ("less than or equal to", "less than")),
    ):
        bounds[keyword] = _Result()
        limit = _number(schema, keyword)
        if limit is None:
            continue
        exclusive = _flag(schema, exclusive_keyword)
        # Integers are compared with the bound truncated to an integer, as MinimumInt does.
        bound: int | float = _go_float_to_int64(limit) if isinstance(data, int) else limit
        if keyword == "minimum":
            failed = data <= bound if exclusive else data < bound
        else:
            failed = data >= bound if exclusive else data > bound
        if failed:
            message = f"{path} in {_IN} should be {words[1] if exclusive else words[0]} {_go_format_number(bound)}"
            bounds[keyword].add(_OpenAPIError(message, path, _Code.OTHER, data))
    result.merge(multiple, bounds["minimum"], bounds["maximum"])
    result.inc()
    return result


def _validate_slice(schema: Schema, data: Sequence[Any], path: str, opts: _OpenAPIOptions) -> _Result:
    result = _Result()
    items = _items(schema)
    if items is not None:
        for i, value in enumerate(data):
            result.merge(_validate_node(items, value, f"{path}[{i}]", opts))
    size = len(data)
    min_items = _count(schema, "minItems")
    if min_items is not None and size < min_items:
        message = f"{path} in {_IN} should have at least {min_items} items"
        result.add(_OpenAPIError(message, path, _Code.OTHER, size, valid=min_items))
    max_items = _count(schema, "maxItems")
    if max_items is not None and size > max_items:
        message = f"{path} in {_IN} should have at most {max_items} items"
        result.add(_OpenAPIError(message, path, _Code.MAX_ITEMS, size, valid=max_items))
    if _flag(schema, "uniqueItems"):
        seen: list[Any] = []
        for value in data:
            if any(_go_deep_equal(value, other) for other in seen):
                result.add(_OpenAPIError(f"{path} in {_IN} shouldn't contain duplicates", path))
                break
            seen.append(value)
    result.inc()
    return result


def _validate_enum(schema: Schema, data: Any, path: str) -> _Result | None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum:
        return None
    if any(_enum_matches(data, candidate) for candidate in enum):
        return None
    message = f"{path} in {_IN} should be one of {_go_sprint_value(enum)}"
    return _Result.of(_OpenAPIError(message, path, _Code.ENUM, data, tuple(enum)))


def _validate_object(schema: Schema, data: Mapping[str, Any], path: str, opts: _OpenAPIOptions) -> _Result:
    result = _Result()
    size = len(data)
    min_properties = _count(schema, "minProperties")
    if min_properties is not None and size < min_properties:
        message = f"{path} in {_IN} should have at least {min_properties} properties"
        result.add(_OpenAPIError(message, path, _Code.OTHER, size, valid=min_properties))
    max_properties = _count(schema, "maxProperties")
    if max_properties is not None and size > max_properties:
        message = f"{path} in {_IN} should have at most {max_properties} properties"
        result.add(_OpenAPIError(message, path, _Code.TOO_MANY_PROPERTIES, size, valid=max_properties))
    properties = _properties(schema)
    additional = _additional(schema)
    if additional is not None and not additional.allows:
        for key in sorted(data):
            if key not in properties:
                result.add(_OpenAPIError(f"{path}.{key} in {_IN} is a forbidden property", path, _Code.OTHER, key))
    elif additional is not None and additional.schema is not None:
        for key in sorted(data):
            if key not in properties:
                result.merge(_validate_node(additional.schema, data[key], f"{path}.{key}", opts))
    for name in sorted(properties):
        if name in data:
            child = name if not path else f"{path}.{name}"
            result.merge(_validate_node(properties[name], data[name], child, opts))
    for name in _strings(schema, "required"):
        if name not in data:
            result.add(_OpenAPIError(f"{path}.{name} in {_IN} is required", f"{path}.{name}", _Code.REQUIRED))
    return result


def _validate_node(schema: Schema, data: Any, path: str, opts: _OpenAPIOptions) -> _Result:
    """SchemaValidator.Validate: every applicable validator in kube-openapi's order."""
    data = _go_value(data)
    types = _spec_types(schema, opts)
    fmt = _spec_format(schema, types, opts)
    nullable = _flag(schema, "nullable")
    result = _Result()
    if data is None:
        result.merge(_validate_type(types, nullable, fmt, None, path))
        result.merge(_validate_enum(schema, None, path))
        return result
    kind = _go_kind(data)
    if types or fmt:
        result.merge(_validate_type(types, nullable, fmt, data, path))
        result.inc()
    result.merge(_validate_schema_props(schema, data, path, opts))
    result.inc()
    if kind == "string":
        result.merge(_validate_string(schema, data, path))
        result.inc()
        if _normalize_format(fmt) in _FORMAT_CHECKERS:
            result.merge(_validate_format(fmt, data, path))
            result.inc()
    if kind in ("int64", "float64"):
        result.merge(_validate_number(schema, data, path))
        result.inc()
    if kind == "slice":
        result.merge(_validate_slice(schema, data, path, opts))
        result.inc()
    result.merge(_validate_enum(schema, data, path))
    result.inc()
    if kind == "map":
        result.merge(_validate_object(schema, data, path, opts))
        result.inc()
    result.inc()
    return result


def _openapi_field_errors(fld_path: Path | None, result: _Result) -> list[FieldError]:
    """kubeOpenAPIResultToFieldErrors."""
    errors: list[FieldError] = []
    for err in result.errors:
        if err.name is None:
            errors.append(FieldError.invalid(fld_path, "", err.message))
            continue
        err_path = fld_path
        if err.name and err.name != ".":
            err_path = _child(fld_path, err.name.removeprefix("."))
        value = "" if err.value is None else err.value
        if err.code == _Code.REQUIRED:
            errors.append(FieldError.required(err_path))
        elif err.code == _Code.ENUM:
            allowed = [v if isinstance(v, str) else go_json(v) for v in err.values]
            errors.append(FieldError.not_supported(err_path, err.value, allowed))
        elif err.code == _Code.TOO_LONG:
            errors.append(FieldError.too_long(err_path, err.valid if err.valid is not None else -1))
        elif err.code in (_Code.MAX_ITEMS, _Code.TOO_MANY_PROPERTIES):
            actual = err.value if isinstance(err.value, int) else -1
            errors.append(FieldError.too_many(err_path, actual, err.valid if err.valid is not None else -1))
        elif err.code == _Code.INVALID_TYPE:
            errors.append(FieldError.type_invalid(err_path, value, err.message))
        else:
            errors.append(FieldError.invalid(err_path, value, err.message))
    return errors


def _validate_custom_resource(
    fld_path: Path | None, data: Any, schema: Schema, opts: _OpenAPIOptions
) -> list[FieldError]:
    """apiservervalidation.ValidateCustomResource with a validator rooted at ``schema``."""
    result = _validate_node(schema, data, "", opts)
    return [] if result.valid else _openapi_field_errors(fld_path, result)


# ===================================================================================================
# Embedded resources: ObjectMeta decoding (objectmeta.Coerce, objectmeta.Validate)
# ===================================================================================================

_META_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata"})
_RFC3339_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
_RFC3339_LAYOUT: Final = "2006-01-02T15:04:05Z07:00"


class _DecodeError(Exception):
    """What encoding/json returns when a value does not fit its Go type."""


def _json_kind(value: Any) -> str:
    """encoding/json UnmarshalTypeError.Value for a JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def _type_error(value: Any, struct: str, field_path: str, go_type: str) -> _DecodeError:
    kind = _json_kind(value)
    if kind == "number" and go_type in ("int64", "*int64"):
        kind = f"number {go_json(value)}"  # encoding/json names the literal that does not fit
    return _DecodeError(f"json: cannot unmarshal {kind} into Go struct field {struct}.{field_path} of type {go_type}")


def _decode_string(value: Any, struct: str, field_path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(value, struct, field_path, "string")
    return value


def _decode_bool(value: Any, struct: str, field_path: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(value, struct, field_path, "bool")


def _decode_int64(value: Any, struct: str, field_path: str, go_type: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise _type_error(value, struct, field_path, go_type)


def _decode_time(value: Any) -> str | None:
    """metav1.Time.UnmarshalJSON, returning the RFC 3339 UTC text ToUnstructured writes back."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _DecodeError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    match = _RFC3339_RE.match(value)
    if match is not None and _is_date(value[:10]):
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        zone = match.group(8)
        offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
        if hour < 24 and minute < 60 and second < 60:
            try:
                moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone(timedelta(minutes=offset)))
                return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            except (ValueError, OverflowError):
                return value  # year 0 and its neighbours: valid for Go, beyond Python's calendar
    # Go reports the first layout element that did not match; we name the whole value.
    raise _DecodeError(
        f"parsing time {go_quote(value)} as {go_quote(_RFC3339_LAYOUT)}: cannot parse {go_quote(value)} as "
        f"{go_quote('2006')}"
    )


def _decode_string_map(value: Any, field_path: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _type_error(value, "ObjectMeta", field_path, "map[string]string")
    return {str(k): _decode_string(v, "ObjectMeta", field_path) for k, v in sorted(value.items())}


def _decode_string_list(value: Any, field_path: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _type_error(value, "ObjectMeta", field_path, "[]string")
    return [_decode_string(v, "ObjectMeta", field_path) for v in value]


_OWNER_REFERENCE_FIELDS: Final = ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion")
_MANAGED_FIELDS_FIELDS: Final = ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1", "subresource")


def _decode_owner_references(value: Any, unknown: list[str]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _type_error(value, "ObjectMeta", "ownerReferences", "[]v1.OwnerReference")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        entry = {} if item is None else item
        if not isinstance(entry, Mapping):
            raise _type_error(entry, "ObjectMeta", "ownerReferences", "v1.OwnerReference")
        ref: dict[str, Any] = {}
        for name in ("apiVersion", "kind", "name", "uid"):
            # These four have no omitempty: they are always written back, empty or not.
            ref[name] = _decode_string(entry.get(name), "OwnerReference", f"ownerReferences.{name}")
        for name in ("controller", "blockOwnerDeletion"):
            flag = _decode_bool(entry.get(name), "OwnerReference", f"ownerReferences.{name}")
            if flag is not None:
                ref[name] = flag
        unknown.extend(f"ownerReferences[{i}].{k}" for k in sorted(entry) if k not in _OWNER_REFERENCE_FIELDS)
        out.append(ref)
    return out


def _decode_managed_fields(value: Any, unknown: list[str]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _type_error(value, "ObjectMeta", "managedFields", "[]v1.ManagedFieldsEntry")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        entry = {} if item is None else item
        if not isinstance(entry, Mapping):
            raise _type_error(entry, "ObjectMeta", "managedFields", "v1.ManagedFieldsEntry")
        decoded: dict[str, Any] = {}
        for name in ("manager", "operation", "apiVersion", "fieldsType", "subresource"):
            text = _decode_string(entry.get(name), "ManagedFieldsEntry", f"managedFields.{name}")
            if text:
                decoded[name] = text
        timestamp = _decode_time(entry.get("time"))
        if timestamp is not None:
            decoded["time"] = timestamp
        if entry.get("fieldsV1") is not None:
            decoded["fieldsV1"] = _deep_copy(entry["fieldsV1"])  # FieldsV1 keeps raw JSON
        unknown.extend(f"managedFields[{i}].{k}" for k in sorted(entry) if k not in _MANAGED_FIELDS_FIELDS)
        out.append(decoded)
    return out


def _decode_meta_field(name: str, value: Any, meta: dict[str, Any], unknown: list[str]) -> None:
    """Decode one ObjectMeta field into ``meta`` (its unstructured form); raises _DecodeError."""
    if name in ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"):
        text = _decode_string(value, "ObjectMeta", name)
        if text:
            meta[name] = text
    elif name in ("generation", "deletionGracePeriodSeconds"):
        number = _decode_int64(value, "ObjectMeta", name, "int64" if name == "generation" else "*int64")
        if number is not None and (number != 0 or name == "deletionGracePeriodSeconds"):
            meta[name] = number
    elif name in ("creationTimestamp", "deletionTimestamp"):
        timestamp = _decode_time(value)
        if timestamp is not None:
            meta[name] = timestamp
    elif name in ("labels", "annotations"):
        mapping = _decode_string_map(value, name)
        if mapping:
            meta[name] = mapping
    elif name == "finalizers":
        finalizers = _decode_string_list(value, name)
        if finalizers:
            meta[name] = finalizers
    elif name == "ownerReferences":
        references = _decode_owner_references(value, unknown)
        if references:
            meta[name] = references
    elif name == "managedFields":
        entries = _decode_managed_fields(value, unknown)
        if entries:
            meta[name] = entries
    else:
        unknown.append(name)


def _go_type_name(value: Any) -> str:
    """fmt %T of a decoded JSON value."""
    return {
        "bool": "bool",
        "int64": "int64",
        "float64": "float64",
        "string": "string",
        "slice": "[]interface {}",
        "map": "map[string]interface {}",
    }.get(_go_kind(value), "<nil>")


@dataclass(slots=True)
class _DecodedMeta:
    meta: dict[str, Any] | None  # unstructured ObjectMeta as written back; None when undecodable
    error: str | None
    unknown: list[str]  # unknown field paths relative to metadata


def _decode_object_meta(value: Any, *, drop_malformed: bool) -> _DecodedMeta:
    """objectmeta.GetObjectMetaWithOptions on a ``metadata`` value, plus SetObjectMeta's rendering."""
    if value is None:
        return _DecodedMeta({}, None, [])
    if not isinstance(value, Mapping):
        if drop_malformed:
            return _DecodedMeta(None, f"invalid metadata: expected object, got {_go_type_name(value)}", [])
        return _DecodedMeta(None, f"json: cannot unmarshal {_json_kind(value)} into Go value of type v1.ObjectMeta", [])
    meta: dict[str, Any] = {}
    unknown: list[str] = []
    first_error: str | None = None
    # encoding/json sees the re-marshalled map, whose keys are sorted.
    for name in sorted(value):
        field_unknown: list[str] = []
        try:
            _decode_meta_field(name, value[name], meta, field_unknown)
        except _DecodeError as err:
            if first_error is None:
                first_error = str(err)
            continue
        unknown.extend(field_unknown)
    if first_error is not None and not drop_malformed:
        return _DecodedMeta(None, first_error, [])
    return _DecodedMeta(meta, None, unknown)


def _coerce(
    pth: Path | None,
    x: Any,
    s: Schema | None,
    *,
    embedded: bool,
    drop_invalid: bool,
    unknown: list[str] | None,
) -> FieldError | None:
    """objectmeta.Coerce: check TypeMeta and ObjectMeta of embedded resources and prune the latter."""
    if s is None:
        return None
    if isinstance(x, dict):
        properties = _properties(s)
        additional = _additional(s)
        for key in sorted(x):
            if key not in x:
                continue
            value = x[key]
            if embedded and key in ("apiVersion", "kind"):
                if not isinstance(value, str):
                    if not drop_invalid:
                        return FieldError.invalid(_child(pth, key), value, "must be a string")
                    del x[key]
            elif embedded and key == "metadata":
                decoded = _decode_object_meta(value, drop_malformed=drop_invalid)
                if unknown is not None:
                    prefix = str(_child(pth, "metadata"))
                    unknown.extend(f"{prefix}.{name}" for name in decoded.unknown)
                if decoded.error is not None:
                    if not drop_invalid:
                        return FieldError.invalid(_child(pth, "metadata"), value, decoded.error)
                elif decoded.meta is not None:
                    x["metadata"] = decoded.meta
            if key in properties:
                err = _coerce(
                    _child(pth, key),
                    value,
                    properties[key],
                    embedded=_flag(properties[key], "x-kubernetes-embedded-resource"),
                    drop_invalid=drop_invalid,
                    unknown=unknown,
                )
                if err is not None:
                    return err
            elif additional is not None and additional.schema is not None:
                sub = additional.schema
                err = _coerce(
                    _key(pth, key),
                    value,
                    sub,
                    embedded=_flag(sub, "x-kubernetes-embedded-resource"),
                    drop_invalid=drop_invalid,
                    unknown=unknown,
                )
                if err is not None:
                    return err
    elif isinstance(x, list):
        items = _items(s)
        for i, value in enumerate(x):
            sub_embedded = items is not None and _flag(items, "x-kubernetes-embedded-resource")
            err = _coerce(
                _index(pth, i), value, items, embedded=sub_embedded, drop_invalid=drop_invalid, unknown=unknown
            )
            if err is not None:
                return err
    return None


def _validate_embedded_resource(pth: Path | None, x: Mapping[str, Any]) -> list[FieldError]:
    """objectmeta.validateEmbeddedResource."""
    errors: list[FieldError] = []
    if "apiVersion" not in x:
        errors.append(FieldError.required(_child(pth, "apiVersion")))
    if "kind" not in x:
        errors.append(FieldError.required(_child(pth, "kind")))
    for key in sorted(x):
        value = x[key]
        if key == "apiVersion":
            path = _child(pth, "apiVersion")
            if not isinstance(value, str):
                errors.append(FieldError.invalid(path, value, "must be a string"))
            elif not value:
                errors.append(FieldError.invalid(path, value, "must not be empty"))
            elif value != "/" and value.count("/") > 1:
                errors.append(FieldError.invalid(path, value, f"unexpected GroupVersion string: {value}"))
        elif key == "kind":
            path = _child(pth, "kind")
            if not isinstance(value, str):
                errors.append(FieldError.invalid(path, value, "must be a string"))
            elif not value:
                errors.append(FieldError.invalid(path, value, "must not be empty"))
            elif messages := is_dns1035_label(value.lower()):
                detail = "may have mixed case, but should otherwise match: " + ",".join(messages)
                errors.append(FieldError.invalid(path, value, detail))
        elif key == "metadata":
            decoded = _decode_object_meta(value, drop_malformed=False)
            if decoded.meta is None:
                errors.append(FieldError.invalid(_child(pth, "metadata"), value, decoded.error or ""))
                continue
            meta = dict(decoded.meta)
            if not meta.get("name"):
                meta["name"] = "fakename"  # upstream sets something to avoid a "name required" error
            errors.extend(
                validate_object_meta(
                    meta,
                    namespaced=bool(meta.get("namespace")),
                    name_validator=validate_path_segment_name,
                    path=_child(pth, "metadata"),
                )
            )
    return errors


def _validate_object_meta_tree(pth: Path | None, x: Any, s: Schema | None, *, embedded: bool) -> list[FieldError]:
    """objectmeta.Validate: every embedded resource below ``x``."""
    if s is None:
        return []
    errors: list[FieldError] = []
    if isinstance(x, Mapping):
        if embedded:
            errors.extend(_validate_embedded_resource(pth, x))
        properties = _properties(s)
        additional = _additional(s)
        for key in sorted(x):
            if key in properties:
                sub: Schema | None = properties[key]
                sub_path = _child(pth, key)
            elif additional is not None:
                sub = additional.schema
                sub_path = _key(pth, key)
            else:
                continue
            sub_embedded = sub is not None and _flag(sub, "x-kubernetes-embedded-resource")
            errors.extend(_validate_object_meta_tree(sub_path, x[key], sub, embedded=sub_embedded))
    elif isinstance(x, list):
        items = _items(s)
        sub_embedded = items is not None and _flag(items, "x-kubernetes-embedded-resource")
        for i, value in enumerate(x):
            errors.extend(_validate_object_meta_tree(_index(pth, i), value, items, embedded=sub_embedded))
    return errors


# ===================================================================================================
# x-kubernetes-list-type: set and map uniqueness (listtype.ValidateListSetsAndMaps)
# ===================================================================================================


class _Unspecified:
    """A list-map item without its key (or a null item): all such items share one key."""

    __slots__ = ()


_UNSPECIFIED: Final = _Unspecified()


def _set_key(value: Any) -> Any:
    """How listtype compares items: scalars as Go interface values, compounds by their JSON."""
    value = _go_value(value)
    if value is _UNSPECIFIED:
        return ("unspecified",)
    kind = _go_kind(value)
    if kind in ("map", "slice"):
        return ("json", go_json(value))
    return (kind, value)


def _non_unique(values: Sequence[Any]) -> list[int]:
    """The index of each value's *second* appearance (validateListSet)."""
    if len(values) <= 1:
        return []
    seen: dict[Any, int] = {}
    out: list[int] = []
    for i, value in enumerate(values):
        key = _set_key(value)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 2:
            out.append(i)
    return out


def _validate_list_map(pth: Path | None, s: Schema, items: list[Any]) -> list[FieldError]:
    for i, item in enumerate(items):
        if item is not None and not isinstance(item, Mapping):
            return [FieldError.invalid(_index(pth, i), item, "must be an object for an array of list-type map")]
    if len(items) <= 1:
        return []
    key_fields = _strings(s, "x-kubernetes-list-map-keys")
    if len(key_fields) == 1:
        (key_field,) = key_fields
        keys: list[Any] = [
            item[key_field] if item is not None and key_field in item else _UNSPECIFIED for item in items
        ]
        return [
            FieldError.duplicate(_index(pth, i), {} if keys[i] is _UNSPECIFIED else {key_field: keys[i]})
            for i in _non_unique(keys)
        ]
    compound = [{} if item is None else {name: item[name] for name in key_fields if name in item} for item in items]
    return [FieldError.duplicate(_index(pth, i), compound[i]) for i in _non_unique(compound)]


def _list_types_in(pth: Path | None, s: Schema, obj: Any) -> list[FieldError]:
    if isinstance(obj, list):
        errors: list[FieldError] = []
        list_type = s.get("x-kubernetes-list-type")
        if list_type == "set":
            errors.extend(FieldError.duplicate(_index(pth, i), obj[i]) for i in _non_unique(obj))
        elif list_type == "map":
            errors.extend(_validate_list_map(pth, s, obj))
        items = _items(s)
        if items is not None:
            for i, value in enumerate(obj):
                errors.extend(_list_types_in(_index(pth, i), items, value))
        return errors
    if isinstance(obj, Mapping):
        return _list_types_in_object(pth, s, obj)
    return []


def _list_types_in_object(pth: Path | None, s: Schema, obj: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    additional = _additional(s)
    if additional is not None and additional.schema is not None:
        for key in sorted(obj):
            errors.extend(_list_types_in(_key(pth, key), additional.schema, obj[key]))
    properties = _properties(s)
    for key in sorted(obj):
        if key in properties:
            errors.extend(_list_types_in(_child(pth, key), properties[key], obj[key]))
    return errors


# ===================================================================================================
# The schema itself: shape, structural invariants, completeness, defaults, OpenAPI restrictions
# ===================================================================================================

_OPENAPI_V3_TYPES: Final = ("array", "boolean", "integer", "number", "object", "string")
_SUPPORTED_VALIDATION_REASONS: Final = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
                                        "FieldValueRequired")  # fmt: skip
_NEWLINES_RE: Final = re.compile(r"[\n\r]+")

_STRING_KEYWORDS: Final = ("id", "$schema", "$ref", "description", "type", "format", "title", "pattern",
                           "x-kubernetes-list-type", "x-kubernetes-map-type")  # fmt: skip
_BOOL_KEYWORDS: Final = ("exclusiveMaximum", "exclusiveMinimum", "uniqueItems", "nullable",
                         "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                         "x-kubernetes-int-or-string")  # fmt: skip
_NUMBER_KEYWORDS: Final = ("maximum", "minimum", "multipleOf")
_INTEGER_KEYWORDS: Final = ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties")
_SCHEMA_LIST_KEYWORDS: Final = ("allOf", "oneOf", "anyOf")
_SCHEMA_MAP_KEYWORDS: Final = ("properties", "patternProperties", "definitions")


def _shape_errors(schema: Any, path: Path) -> list[FieldError]:
    """Keywords whose JSON type cannot decode into JSONSchemaProps (upstream rejects the request body)."""
    if not isinstance(schema, Mapping):
        return [FieldError.type_invalid(path, schema, "must be of type object")]
    errors: list[FieldError] = []

    def wrong(key: str, expected: str) -> None:
        errors.append(FieldError.type_invalid(path.child(key), schema[key], f"must be of type {expected}"))

    for key in sorted(schema):
        value = schema[key]
        if value is None:
            continue
        if key in _STRING_KEYWORDS and not isinstance(value, str):
            wrong(key, "string")
        elif key in _BOOL_KEYWORDS and not isinstance(value, bool):
            wrong(key, "boolean")
        elif key in _NUMBER_KEYWORDS and (isinstance(value, bool) or not isinstance(value, int | float)):
            wrong(key, "number")
        elif key in _INTEGER_KEYWORDS and _count(schema, key) is None:
            wrong(key, "integer")
        elif key in ("required", "x-kubernetes-list-map-keys"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                wrong(key, "array of strings")
        elif key == "enum" and not isinstance(value, list):
            wrong(key, "array")
        elif key == "x-kubernetes-validations":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                wrong(key, "array of objects")
        elif key == "externalDocs" and not isinstance(value, Mapping):
            wrong(key, "object")
        elif key == "not":
            errors.extend(_shape_errors(value, path.child(key)))
        elif key in _SCHEMA_LIST_KEYWORDS:
            if not isinstance(value, list):
                wrong(key, "array")
            else:
                for i, sub in enumerate(value):
                    errors.extend(_shape_errors(sub, path.child(key).index(i)))
        elif key in _SCHEMA_MAP_KEYWORDS:
            if not isinstance(value, Mapping):
                wrong(key, "object")
            else:
                for name in sorted(value):
                    errors.extend(_shape_errors(value[name], path.child(key).key(str(name))))
        elif key == "items":
            if isinstance(value, list):
                for i, sub in enumerate(value):
                    errors.extend(_shape_errors(sub, path.child(key).index(i)))
            else:
                errors.extend(_shape_errors(value, path.child(key)))
        elif key in ("additionalProperties", "additionalItems") and not isinstance(value, bool):
            errors.extend(_shape_errors(value, path.child(key)))
        elif key == "dependencies":
            if not isinstance(value, Mapping):
                wrong(key, "object")
            else:
                for name in sorted(value):
                    dependency = value[name]
                    if isinstance(dependency, list):
                        if not all(isinstance(v, str) for v in dependency):
                            errors.append(
                                FieldError.type_invalid(
                                    path.child(key).key(str(name)), dependency, "must be of type array of strings"
                                )
                            )
                    else:
                        errors.extend(_shape_errors(dependency, path.child(key).key(str(name))))
    return errors


def _structural_init_error(schema: Schema) -> str | None:
    """structuralschema.NewStructural: the first field a structural schema cannot hold."""
    unsupported = (
        ("id", "'id' is not supported"),
        ("$schema", "'schema' is not supported"),
        ("$ref", "'$ref' is not supported"),
        ("patternProperties", "'patternProperties' is not supported"),
        ("dependencies", "'dependencies' is not supported"),
    )
    for key, message in unsupported:
        if schema.get(key):
            return f"OpenAPIV3Schema {message}"
    if schema.get("additionalItems") is not None:
        return "OpenAPIV3Schema 'additionalItems' is not supported"
    if schema.get("definitions"):
        return "OpenAPIV3Schema 'definitions' is not supported"
    nested = [_not(schema), *(sub for key in ("allOf", "anyOf", "oneOf") for sub in _schemas(schema, key))]
    for sub in nested:
        if sub is not None and (err := _structural_init_error(sub)) is not None:
            return err
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    items = schema.get("items")
    if isinstance(items, list):
        return "OpenAPIV3Schema 'items' must be a schema, but is an array"
    children = [_items(schema), *(_properties(schema)[k] for k in sorted(_properties(schema)))]
    additional = _additional(schema)
    if additional is not None:
        children.append(additional.schema)
    for sub in children:
        if sub is not None and (err := _structural_init_error(sub)) is not None:
            return err
    return None


_ROOT_LEVEL: Final = 0
_ITEM_LEVEL: Final = 1
_FIELD_LEVEL: Final = 2

_INT_OR_STRING_ANY_OF: Final = [{"type": "integer"}, {"type": "string"}]
_EMPTY_LIST_IS_NIL: Final = frozenset({"enum", "allOf", "anyOf", "oneOf"})


def _without_zero_values(schema: Schema) -> dict[str, Any]:
    """The keywords that make a Go struct field non-zero after decoding (for reflect.DeepEqual tests).

    Keys JSONSchemaProps does not have are left out: the decoder drops them.
    """
    return {
        key: value
        for key, value in schema.items()
        if key in _JSON_SCHEMA_PROPS_KEYS
        and not (value is None or value == "" or value is False)
        and not (key in _EMPTY_LIST_IS_NIL and value == [])
        and not (key == "properties" and value == {})
    }


def _is_int_or_string_any_of(any_of: Any) -> bool:
    if not isinstance(any_of, list) or len(any_of) != 2:
        return False
    return (
        all(isinstance(sub, Mapping) for sub in any_of)
        and [_without_zero_values(sub) for sub in any_of] == _INT_OR_STRING_ANY_OF
    )


def _structural_invariants(s: Schema, level: int, path: Path) -> list[FieldError]:
    """validateStructuralInvariants."""
    errors: list[FieldError] = []
    s_type = _str(s, "type")
    items = _items(s)
    if s_type == "array" and items is None:
        errors.append(FieldError.required(path.child("items"), "must be specified"))
    if items is not None:
        errors.extend(_structural_invariants(items, _ITEM_LEVEL, path.child("items")))
    properties = _properties(s)
    for name in sorted(properties):
        errors.extend(_structural_invariants(properties[name], _FIELD_LEVEL, path.child("properties").key(name)))
    additional = _additional(s)
    if additional is not None:
        if level == _ROOT_LEVEL:
            errors.append(FieldError.forbidden(path.child("additionalProperties"), "must not be used at the root"))
        if additional.schema is not None:
            errors.extend(_structural_invariants(additional.schema, _FIELD_LEVEL, path.child("additionalProperties")))
    int_or_string = _flag(s, "x-kubernetes-int-or-string")
    preserve = _flag(s, "x-kubernetes-preserve-unknown-fields")
    embedded = _flag(s, "x-kubernetes-embedded-resource")
    if int_or_string and preserve:
        errors.append(
            FieldError.invalid(
                path.child("x-kubernetes-preserve-unknown-fields"),
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    if int_or_string and embedded:
        errors.append(
            FieldError.invalid(
                path.child("x-kubernetes-embedded-resource"),
                True,
                "must be false if x-kubernetes-int-or-string is true",
            )
        )
    all_of = _schemas(s, "allOf")
    skip_any_of = _is_int_or_string_any_of(s.get("anyOf"))
    skip_first_all_of_any_of = bool(all_of) and _is_int_or_string_any_of(all_of[0].get("anyOf"))
    errors.extend(_value_validation_errors(s, skip_any_of, skip_first_all_of_any_of, path))
    check_metadata = level == _ROOT_LEVEL or embedded
    if embedded and s_type != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        if not s_type:
            errors.append(FieldError.required(path.child("type"), detail))
        else:
            errors.append(FieldError.invalid(path.child("type"), s_type, detail))
    elif not s_type and not int_or_string and not preserve:
        where = {
            _ROOT_LEVEL: "at the root",
            _ITEM_LEVEL: "for specified array items",
            _FIELD_LEVEL: "for specified object fields",
        }[level]
        errors.append(FieldError.required(path.child("type"), f"must not be empty {where}"))
    if embedded and additional is not None:
        errors.append(
            FieldError.forbidden(
                path.child("additionalProperties"), "must not be used if x-kubernetes-embedded-resource is set"
            )
        )
    if level == _ROOT_LEVEL and s_type and s_type != "object":
        errors.append(FieldError.invalid(path.child("type"), s_type, "must be object at the root"))
    for name in ("kind", "apiVersion"):
        if name in properties and check_metadata:
            sub_type = _str(properties[name], "type")
            if sub_type != "string":
                errors.append(
                    FieldError.invalid(path.child("properties").key(name).child("type"), sub_type, "must be string")
                )
    if "metadata" in properties:
        metadata_path = path.child("properties").key("metadata")
        metadata = properties["metadata"]
        if check_metadata and _str(metadata, "type") != "object":
            errors.append(FieldError.invalid(metadata_path.child("type"), _str(metadata, "type"), "must be object"))
        if level == _ROOT_LEVEL and not _is_name_only_metadata(metadata):
            errors.append(
                FieldError.forbidden(
                    metadata_path,
                    "must not specify anything other than name and generateName, but metadata is implicitly specified",
                )
            )
    if embedded and not preserve and not properties:
        errors.append(
            FieldError.required(
                path.child("properties"),
                "must not be empty if x-kubernetes-embedded-"
                "resource is true without x-kubernetes-preserve-unknown-fields",
            )
        )
    return errors


def _is_name_only_metadata(metadata: Schema) -> bool:
    """validateStructuralMetadataInvariants at the root: only name/generateName may be restricted."""
    rest = _without_zero_values(metadata)
    rest.pop("type", None)
    rest.pop("default", None)  # defaults in top-level metadata are reported by the OpenAPI checks
    names = set(_properties(metadata))
    if names and names <= {"name", "generateName"}:
        rest.pop("properties", None)
    return not rest


def _value_validation_errors(
    v: Schema, skip_any_of: bool, skip_first_all_of_any_of: bool, path: Path
) -> list[FieldError]:
    """validateValueValidation: the logical junctors and the pattern of one schema node."""
    errors: list[FieldError] = []
    if not skip_any_of:
        for i, sub in enumerate(_schemas(v, "anyOf")):
            errors.extend(_nested_value_validation_errors(sub, False, False, path.child("anyOf").index(i)))
    for i, sub in enumerate(_schemas(v, "allOf")):
        skip = skip_first_all_of_any_of and i == 0
        errors.extend(_nested_value_validation_errors(sub, skip, False, path.child("allOf").index(i)))
    for i, sub in enumerate(_schemas(v, "oneOf")):
        errors.extend(_nested_value_validation_errors(sub, False, False, path.child("oneOf").index(i)))
    not_schema = _not(v)
    if not_schema is not None:
        errors.extend(_nested_value_validation_errors(not_schema, False, False, path.child("not")))
    pattern = _str(v, "pattern")
    if pattern:
        try:
            compile_go_regexp(pattern)
        except GoRegexpError as err:
            errors.append(
                FieldError.invalid(
                    path.child("pattern"), pattern, f"must be a valid regular expression, but isn't: {err}"
                )
            )
    return errors


def _nested_value_validation_errors(
    v: Schema, skip_any_of: bool, skip_all_of_any_of: bool, path: Path
) -> list[FieldError]:
    """validateNestedValueValidation: under allOf/anyOf/oneOf/not only value validations may appear."""
    errors = _value_validation_errors(v, skip_any_of, skip_all_of_any_of, path)
    items = _items(v)
    if items is not None:
        errors.extend(_nested_value_validation_errors(items, False, False, path.child("items")))
    properties = _properties(v)
    for name in sorted(properties):
        errors.extend(
            _nested_value_validation_errors(properties[name], False, False, path.child("properties").key(name))
        )
    if _str(v, "type"):
        errors.append(FieldError.forbidden(path.child("type"), "must be empty to be structural"))
    additional = _additional(v)
    if additional is not None and (additional.allows or additional.schema is not None):
        errors.append(FieldError.forbidden(path.child("additionalProperties"), "must be undefined to be structural"))
    if _has_default(v):
        errors.append(FieldError.forbidden(path.child("default"), "must be undefined to be structural"))
    for key in ("title", "description"):
        if _str(v, key):
            errors.append(FieldError.forbidden(path.child(key), "must be empty to be structural"))
    for key in (
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ):
        if _flag(v, key):
            errors.append(FieldError.forbidden(path.child(key), "must be false to be structural"))
    if _strings(v, "x-kubernetes-list-map-keys"):
        errors.append(FieldError.forbidden(path.child("x-kubernetes-list-map-keys"), "must be empty to be structural"))
    for key in ("x-kubernetes-list-type", "x-kubernetes-map-type"):
        if isinstance(v.get(key), str):
            errors.append(FieldError.forbidden(path.child(key), "must be undefined to be structural"))
    if _schemas(v, "x-kubernetes-validations"):
        errors.append(FieldError.forbidden(path.child("x-kubernetes-validations"), "must be empty to be structural"))
    if "metadata" in properties:
        errors.append(
            FieldError.forbidden(path.child("properties").key("metadata"), "must not be specified in a nested context")
        )
    return errors


def _completeness_errors(v: Schema, s: Schema | None, s_path: Path, v_path: Path) -> list[FieldError]:
    """validateValueValidationCompleteness: junctor clauses may only talk about structural fields."""
    if s is None:
        return [FieldError.required(s_path, f"because it is defined in {v_path}")]
    errors: list[FieldError] = []
    not_schema = _not(v)
    if not_schema is not None:
        errors.extend(_nested_completeness_errors(not_schema, s, s_path, v_path.child("not")))
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(_schemas(v, key)):
            errors.extend(_nested_completeness_errors(sub, s, s_path, v_path.child(key).index(i)))
    return errors


def _nested_completeness_errors(v: Schema, s: Schema | None, s_path: Path, v_path: Path) -> list[FieldError]:
    if s is None:
        return [FieldError.required(s_path, f"because it is defined in {v_path}")]
    errors = _completeness_errors(v, s, s_path, v_path)
    items = _items(v)
    if items is not None:
        errors.extend(_nested_completeness_errors(items, _items(s), s_path.child("items"), v_path.child("items")))
    structural_properties = _properties(s)
    properties = _properties(v)
    for name in sorted(properties):
        s_child = s_path.child("properties").key(name)
        v_child = v_path.child("properties").key(name)
        if name not in structural_properties:
            errors.append(FieldError.required(s_child, f"because it is defined in {v_child}"))
        else:
            errors.extend(_nested_completeness_errors(properties[name], structural_properties[name], s_child, v_child))
    return errors


def _structural_errors(schema: Schema, path: Path) -> list[FieldError]:
    """ValidateStructural: invariants and completeness, sorted by message as upstream sorts them."""
    errors = _structural_invariants(schema, _ROOT_LEVEL, path)
    errors.extend(_completeness_errors(schema, schema, path, path))
    return sorted(errors, key=lambda e: e.error())


def _default_errors(
    s: Schema,
    path: Path,
    *,
    embedded: bool,
    root: Schema,
    steps: tuple[str | None, ...],
    inside_meta: bool,
) -> list[FieldError]:
    """defaulting.validate: defaults are valid, pruned, and give valid embedded metadata.

    ``root`` is the innermost embedded resource (or the CR root) and ``steps`` the way from it to
    ``s`` (property names; None for "an array item"), to build the surrounding object of a default
    that lands inside ``apiVersion``/``kind``/``metadata``.
    """
    if embedded:
        root, steps, inside_meta = s, (), False
    errors: list[FieldError] = []
    if _has_default(s):
        value = s["default"]
        default_path = path.child("default")
        if inside_meta:
            surrounding: Any = _deep_copy(value)
            for step in reversed(steps):
                surrounding = [surrounding] if step is None else {step: surrounding}
            assert isinstance(surrounding, dict)  # the first step is always apiVersion/kind/metadata
            surrounding.setdefault("kind", "Validation")
            surrounding.setdefault("apiVersion", "validation/v1")
            coerce_error = _coerce(None, surrounding, root, embedded=True, drop_invalid=False, unknown=None)
            if coerce_error is not None:
                errors.append(
                    FieldError.invalid(default_path, value, f"must result in valid metadata: {coerce_error.error()}")
                )
            elif meta_errors := _validate_object_meta_tree(None, surrounding, root, embedded=True):
                errors.append(
                    FieldError.invalid(
                        default_path, value, f"must result in valid metadata: {aggregate_message(meta_errors)}"
                    )
                )
            else:
                errors.extend(_validate_custom_resource(default_path, value, s, _DEFAULTS_OPTIONS))
        else:
            pruned = _deep_copy(value)
            _prune(pruned, s, embedded=embedded, parent="", unknown=None)
            if not _go_deep_equal(pruned, value):
                errors.append(FieldError.invalid(default_path, value, "must not have unknown fields"))
            coerced = _deep_copy(value)  # Coerce rewrites metadata; the schema must stay untouched
            coerce_error = _coerce(default_path, coerced, s, embedded=embedded, drop_invalid=False, unknown=None)
            if coerce_error is not None:
                errors.append(coerce_error)
            elif meta_errors := _validate_object_meta_tree(default_path, value, s, embedded=embedded):
                errors.extend(meta_errors)
            else:
                errors.extend(_validate_custom_resource(default_path, value, s, _DEFAULTS_OPTIONS))
    # additionalProperties are not followed: defaults are forbidden there.
    items = _items(s)
    if items is not None:
        errors.extend(
            _default_errors(
                items,
                path.child("items"),
                embedded=_flag(items, "x-kubernetes-embedded-resource"),
                root=root,
                steps=(*steps, None),
                inside_meta=inside_meta,
            )
        )
    properties = _properties(s)
    for name in sorted(properties):
        sub = properties[name]
        sub_inside_meta = inside_meta or (embedded and name in _META_FIELDS)
        errors.extend(
            _default_errors(
                sub,
                path.child("properties").key(name),
                embedded=_flag(sub, "x-kubernetes-embedded-resource"),
                root=root,
                steps=(*steps, name),
                inside_meta=sub_inside_meta,
            )
        )
    return errors


@dataclass(frozen=True, slots=True)
class _SchemaContext:
    """specStandardValidatorV3's state while walking down the schema."""

    allow_defaults: bool = True
    disallow_defaults_reason: str = ""
    inside_resource_meta: bool = False

    def forbid_defaults(self, reason: str) -> _SchemaContext:
        return _SchemaContext(False, reason, self.inside_resource_meta)

    def in_resource_meta(self) -> _SchemaContext:
        return _SchemaContext(self.allow_defaults, self.disallow_defaults_reason, True)


def _standard_errors(s: Schema, path: Path, ctx: _SchemaContext) -> list[FieldError]:
    """specStandardValidatorV3.validate: keywords CRDs do not support."""
    errors: list[FieldError] = []
    s_type = _str(s, "type")
    if s_type and s_type not in _OPENAPI_V3_TYPES:
        errors.append(FieldError.not_supported(path.child("type"), s_type, _OPENAPI_V3_TYPES))
    if _has_default(s) and not ctx.allow_defaults:
        detail = "must not be set"
        if ctx.disallow_defaults_reason:
            detail += " " + ctx.disallow_defaults_reason
        errors.append(FieldError.forbidden(path.child("default"), detail))
    if _str(s, "id"):
        errors.append(FieldError.forbidden(path.child("id"), "id is not supported"))
    if s.get("additionalItems") is not None:
        errors.append(FieldError.forbidden(path.child("additionalItems"), "additionalItems is not supported"))
    for key in ("patternProperties", "definitions"):
        if s.get(key):
            errors.append(FieldError.forbidden(path.child(key), f"{key} is not supported"))
    if s.get("dependencies") is not None:
        errors.append(FieldError.forbidden(path.child("dependencies"), "dependencies is not supported"))
    if s.get("$ref") is not None:
        errors.append(FieldError.forbidden(path.child("$ref"), "$ref is not supported"))
    if s_type == "null":
        errors.append(
            FieldError.forbidden(path.child("type"), "type cannot be set to null, use nullable as an alternative")
        )
    if isinstance(s.get("items"), list) and s["items"]:
        errors.append(FieldError.forbidden(path.child("items"), "items must be a schema object and not an array"))
    if ctx.inside_resource_meta and _flag(s, "x-kubernetes-embedded-resource"):
        errors.append(
            FieldError.forbidden(
                path.child("x-kubernetes-embedded-resource"), "must not be used inside of resource meta"
            )
        )
    return errors


def _list_type_errors(s: Schema, path: Path) -> list[FieldError]:
    """x-kubernetes-map-type, -list-type and -list-map-keys consistency."""
    errors: list[FieldError] = []
    s_type = _str(s, "type")
    map_type = s.get("x-kubernetes-map-type")
    if isinstance(map_type, str):
        detail = "must be object if x-kubernetes-map-type is specified"
        if s_type != "object":
            errors.append(
                FieldError.required(path.child("type"), detail)
                if not s_type
                else FieldError.invalid(path.child("type"), s_type, detail)
            )
        if map_type not in ("atomic", "granular"):
            errors.append(
                FieldError.not_supported(path.child("x-kubernetes-map-type"), map_type, ["atomic", "granular"])
            )
    list_type = s.get("x-kubernetes-list-type") if isinstance(s.get("x-kubernetes-list-type"), str) else None
    items_value = s.get("items")
    items = _items(s)
    if list_type is not None and s_type != "array":
        detail = "must be array if x-kubernetes-list-type is specified"
        errors.append(
            FieldError.required(path.child("type"), detail)
            if not s_type
            else FieldError.invalid(path.child("type"), s_type, detail)
        )
    elif list_type == "set" and items is not None:
        item_type = _str(items, "type")
        detail = "must be atomic as item of a list with x-kubernetes-list-type=set"
        item_list_type = items.get("x-kubernetes-list-type")
        if item_type == "array" and isinstance(item_list_type, str) and item_list_type != "atomic":
            errors.append(FieldError.invalid(path.child("items", "x-kubernetes-list-type"), item_list_type, detail))
        elif item_type == "object" and items.get("x-kubernetes-map-type") != "atomic":
            # Upstream reports the item's *list* type here (usually null).
            errors.append(FieldError.invalid(path.child("items", "x-kubernetes-map-type"), item_list_type, detail))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errors.append(
            FieldError.not_supported(path.child("x-kubernetes-list-type"), list_type, ["atomic", "set", "map"])
        )
    keys = _strings(s, "x-kubernetes-list-map-keys")
    if keys:
        detail = "must be map if x-kubernetes-list-map-keys is non-empty"
        if list_type is None:
            errors.append(FieldError.required(path.child("x-kubernetes-list-type"), detail))
        elif list_type != "map":
            errors.append(FieldError.invalid(path.child("x-kubernetes-list-type"), list_type, detail))
    if list_type == "map":
        if not keys:
            errors.append(
                FieldError.required(
                    path.child("x-kubernetes-list-map-keys"), "must not be empty if x-kubernetes-list-type is map"
                )
            )
        if items_value is None:
            errors.append(
                FieldError.required(path.child("items"), "must have a schema if x-kubernetes-list-type is map")
            )
        elif items is None:
            errors.append(
                FieldError.invalid(
                    path.child("items"), items_value, "must only have a single schema if x-kubernetes-list-type is map"
                )
            )
        if items is not None and _str(items, "type") != "object":
            errors.append(
                FieldError.invalid(
                    path.child("items", "type"),
                    _str(items, "type"),
                    "must be object if parent array's x-kubernetes-list-type is map",
                )
            )
        if items is not None and _str(items, "type") == "object":
            item_properties = _properties(items)
            seen: set[str] = set()
            for key in keys:
                if key in item_properties:
                    if _str(item_properties[key], "type") in ("array", "object"):
                        errors.append(
                            FieldError.invalid(
                                path.child("items", "properties").key(key).child("type"),
                                _str(items, "type"),
                                "must be a scalar type if parent array's x-kubernetes-list-type is map",
                            )
                        )
                else:
                    errors.append(
                        FieldError.invalid(
                            path.child("x-kubernetes-list-map-keys"),
                            keys,
                            "entries must all be names of item properties",
                        )
                    )
                if key in seen:
                    errors.append(
                        FieldError.invalid(
                            path.child("x-kubernetes-list-map-keys"), keys, "must not contain duplicate entries"
                        )
                    )
                seen.add(key)
    errors.extend(_map_list_keys_errors(s, list_type, keys, path))
    return errors


def _map_list_keys_errors(s: Schema, list_type: str | None, keys: list[str], path: Path) -> list[FieldError]:
    """validateMapListKeysMapSet: set/map items are not nullable; map keys are required or defaulted."""
    items = _items(s)
    if items is None or list_type not in ("set", "map"):
        return []
    errors: list[FieldError] = []
    if _flag(items, "nullable"):
        errors.append(
            FieldError.forbidden(
                path.child("items", "nullable"), f"cannot be nullable when x-kubernetes-list-type is {list_type}"
            )
        )
    if list_type == "map":
        required = set(_strings(items, "required"))
        item_properties = _properties(items)
        for key in keys:
            if key not in item_properties:
                continue  # reported above as "entries must all be names of item properties"
            key_path = path.child("items", "properties").key(key)
            if key not in required and not _has_default(item_properties[key]):
                errors.append(
                    FieldError.required(
                        key_path.child("default"),
                        "this property is in x-kubernetes-list-"
                        "map-keys, so it must have a default or be a required property",
                    )
                )
            if _flag(item_properties[key], "nullable"):
                errors.append(
                    FieldError.forbidden(
                        key_path.child("nullable"),
                        "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                    )
                )
    return errors


def _validation_rule_errors(s: Schema, path: Path) -> list[FieldError]:
    """The checks of x-kubernetes-validations that need no CEL (the rules themselves are not compiled)."""
    errors: list[FieldError] = []
    for i, rule in enumerate(_schemas(s, "x-kubernetes-validations")):
        rule_path = path.child("x-kubernetes-validations").index(i)
        text, message = _str(rule, "rule"), _str(rule, "message")
        message_expression, field_path = _str(rule, "messageExpression"), _str(rule, "fieldPath")
        if not text.strip():
            errors.append(FieldError.required(rule_path.child("rule"), "rule is not specified"))
        elif message and not message.strip():
            errors.append(FieldError.invalid(rule_path.child("message"), message, "must be non-empty if specified"))
        elif _NEWLINES_RE.search(message.strip()):
            errors.append(FieldError.invalid(rule_path.child("message"), message, "must not contain line breaks"))
        elif _NEWLINES_RE.search(text.strip()) and not message.strip():
            errors.append(
                FieldError.required(
                    rule_path.child("message"), "message must be specified if rule contains line breaks"
                )
            )
        if message_expression and not message_expression.strip():
            errors.append(
                FieldError.required(
                    rule_path.child("messageExpression"), "messageExpression must be non-empty if specified"
                )
            )
        reason = rule.get("reason")
        if isinstance(reason, str) and reason not in _SUPPORTED_VALIDATION_REASONS:
            errors.append(FieldError.not_supported(rule_path.child("reason"), reason, _SUPPORTED_VALIDATION_REASONS))
        if field_path and not field_path.strip():
            errors.append(
                FieldError.invalid(rule_path.child("fieldPath"), field_path, "must be non-empty if specified")
            )
        if _NEWLINES_RE.search(field_path):
            errors.append(FieldError.invalid(rule_path.child("fieldPath"), field_path, "must not contain line breaks"))
    return errors


def _openapi_schema_errors(s: Schema, path: Path, ctx: _SchemaContext, *, is_root: bool) -> list[FieldError]:
    """ValidateCustomResourceDefinitionOpenAPISchema without its CEL part."""
    errors = _standard_errors(s, path, ctx)
    if _flag(s, "uniqueItems"):
        errors.append(
            FieldError.forbidden(
                path.child("uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    properties = _properties(s)
    additional = _additional(s)
    if additional is not None:
        if properties and (not additional.allows or additional.schema is not None):
            errors.append(
                FieldError.forbidden(
                    path.child("additionalProperties"), "additionalProperties and properties are mutual exclusive"
                )
            )
        sub_ctx = ctx
        if ctx.inside_resource_meta:
            # Pruning without an actual value would be ambiguous for metadata maps.
            sub_ctx = ctx.forbid_defaults("inside additionalProperties applying to object metadata")
        if additional.schema is not None:
            errors.extend(
                _openapi_schema_errors(additional.schema, path.child("additionalProperties"), sub_ctx, is_root=False)
            )
    embedded = _flag(s, "x-kubernetes-embedded-resource")
    for name in sorted(properties):
        sub_ctx = ctx
        if (is_root or embedded) and name in _META_FIELDS:
            sub_ctx = sub_ctx.in_resource_meta()
            if is_root:
                sub_ctx = sub_ctx.forbid_defaults(f"in top-level {name}")
        errors.extend(
            _openapi_schema_errors(properties[name], path.child("properties").key(name), sub_ctx, is_root=False)
        )
    not_schema = _not(s)
    if not_schema is not None:
        errors.extend(_openapi_schema_errors(not_schema, path.child("not"), ctx, is_root=False))
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(_schemas(s, key)):
            errors.extend(_openapi_schema_errors(sub, path.child(key).index(i), ctx, is_root=False))
    definitions = s.get("definitions")
    if isinstance(definitions, Mapping):
        for name in sorted(definitions):
            if isinstance(definitions[name], Mapping):
                errors.extend(
                    _openapi_schema_errors(
                        definitions[name], path.child("definitions").key(str(name)), ctx, is_root=False
                    )
                )
    items_value = s.get("items")
    if isinstance(items_value, Mapping):
        errors.extend(_openapi_schema_errors(items_value, path.child("items"), ctx, is_root=False))
    elif isinstance(items_value, list):
        for i, sub in enumerate(items_value):
            if isinstance(sub, Mapping):
                errors.extend(_openapi_schema_errors(sub, path.child("items").index(i), ctx, is_root=False))
    dependencies = s.get("dependencies")
    if isinstance(dependencies, Mapping):
        for name in sorted(dependencies):
            if isinstance(dependencies[name], Mapping):
                errors.extend(
                    _openapi_schema_errors(
                        dependencies[name], path.child("dependencies").key(str(name)), ctx, is_root=False
                    )
                )
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errors.append(
            FieldError.invalid(path.child("x-kubernetes-preserve-unknown-fields"), False, "must be true or undefined")
        )
    errors.extend(_list_type_errors(s, path))
    errors.extend(_validation_rule_errors(s, path))
    return errors


# Fields allowed at the root when the status subresource is on, in Go struct field order.
_ROOT_FIELDS_WITH_STATUS: Final = (
    "Description", "Type", "Format", "Title", "Maximum", "ExclusiveMaximum", "Minimum", "ExclusiveMinimum",
    "MaxLength", "MinLength", "Pattern", "MaxItems", "MinItems", "UniqueItems", "MultipleOf", "Required", "Items",
    "Properties", "ExternalDocs", "Example", "XPreserveUnknownFields", "XValidations",
)  # fmt: skip
# JSONSchemaProps fields in Go declaration order: (Go name, JSON name, a plain bool whose false is zero).
_JSON_SCHEMA_PROPS_FIELDS: Final = (
    ("ID", "id", False), ("Schema", "$schema", False), ("Ref", "$ref", False), ("Description", "description", False),
    ("Type", "type", False), ("Nullable", "nullable", True), ("Format", "format", False), ("Title", "title", False),
    ("Default", "default", False), ("Maximum", "maximum", False), ("ExclusiveMaximum", "exclusiveMaximum", True),
    ("Minimum", "minimum", False), ("ExclusiveMinimum", "exclusiveMinimum", True), ("MaxLength", "maxLength", False),
    ("MinLength", "minLength", False), ("Pattern", "pattern", False), ("MaxItems", "maxItems", False),
    ("MinItems", "minItems", False), ("UniqueItems", "uniqueItems", True), ("MultipleOf", "multipleOf", False),
    ("Enum", "enum", False), ("MaxProperties", "maxProperties", False), ("MinProperties", "minProperties", False),
    ("Required", "required", False), ("Items", "items", False), ("AllOf", "allOf", False), ("OneOf", "oneOf", False),
    ("AnyOf", "anyOf", False), ("Not", "not", False), ("Properties", "properties", False),
    ("AdditionalProperties", "additionalProperties", False), ("PatternProperties", "patternProperties", False),
    ("Dependencies", "dependencies", False), ("AdditionalItems", "additionalItems", False),
    ("Definitions", "definitions", False), ("ExternalDocs", "externalDocs", False), ("Example", "example", False),
    ("XPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields", False),
    ("XEmbeddedResource", "x-kubernetes-embedded-resource", True),
    ("XIntOrString", "x-kubernetes-int-or-string", True), ("XListMapKeys", "x-kubernetes-list-map-keys", False),
    ("XListType", "x-kubernetes-list-type", False), ("XMapType", "x-kubernetes-map-type", False),
    ("XValidations", "x-kubernetes-validations", False),
)  # fmt: skip


_JSON_SCHEMA_PROPS_KEYS: Final = frozenset(json_name for _, json_name, _ in _JSON_SCHEMA_PROPS_FIELDS)


def _status_root_errors(schema: Schema, path: Path) -> list[FieldError]:
    """With the status subresource only fields that survive extracting properties[status] may be at the root."""
    for go_name, json_name, plain_bool in _JSON_SCHEMA_PROPS_FIELDS:
        value = schema.get(json_name)
        if value is None or value == "" or (plain_bool and value is False):
            continue
        if go_name == "Type":
            if value != "object":
                return [
                    FieldError.invalid(
                        path.child("type"),
                        value,
                        'only "object" is allowed as the type at the '
                        "root of the schema if the status subresource is enabled",
                    )
                ]
            continue
        if go_name not in _ROOT_FIELDS_WITH_STATUS:
            allowed = "[" + " ".join(_ROOT_FIELDS_WITH_STATUS) + "]"
            # Upstream prints the Go struct (%#v); the schema's JSON says the same, readably.
            return [
                FieldError.invalid(
                    path,
                    GoStruct(tuple(schema.items())),
                    f"only {allowed} fields are allowed at the root of the schema if the status subresource is enabled",
                )
            ]
    return []


# ===================================================================================================
# Pruning and defaulting of objects
# ===================================================================================================


def _append_key(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _prune(x: Any, s: Schema | None, *, embedded: bool, parent: str, unknown: list[str] | None) -> None:
    """pruning.prune: drop object fields ``s`` does not declare, recording their paths."""
    if s is not None and _flag(s, "x-kubernetes-preserve-unknown-fields"):
        _skip_prune(x, s, embedded=embedded, parent=parent, unknown=unknown)
        return
    if s is None:
        _prune_everything(x, parent=parent, unknown=unknown)
        return
    if isinstance(x, dict):
        properties = _properties(s)
        additional = _additional(s)
        for key in sorted(x):
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                sub = properties[key]
                _prune(
                    x[key],
                    sub,
                    embedded=_flag(sub, "x-kubernetes-embedded-resource"),
                    parent=_append_key(parent, key),
                    unknown=unknown,
                )
            elif additional is not None:
                sub_schema = additional.schema
                sub_embedded = sub_schema is not None and _flag(sub_schema, "x-kubernetes-embedded-resource")
                _prune(x[key], sub_schema, embedded=sub_embedded, parent=_append_key(parent, key), unknown=unknown)
            else:
                # apiVersion/kind/metadata at the root of a value are dropped silently, as upstream does.
                if unknown is not None and (key not in _META_FIELDS or parent):
                    unknown.append(_append_key(parent, key))
                del x[key]
    elif isinstance(x, list):
        items = _items(s)
        item_embedded = items is not None and _flag(items, "x-kubernetes-embedded-resource")
        for i, value in enumerate(x):
            _prune(value, items, embedded=item_embedded, parent=f"{parent}[{i}]", unknown=unknown)


def _prune_everything(x: Any, *, parent: str, unknown: list[str] | None) -> None:
    """prune with a nil schema: every object below is emptied. Iterative, as data may nest deeply."""
    pending: list[tuple[Any, str]] = [(x, parent)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, dict):
            if unknown is not None:
                unknown.extend(_append_key(where, key) for key in value)
            value.clear()
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def _skip_prune(x: Any, s: Schema | None, *, embedded: bool, parent: str, unknown: list[str] | None) -> None:
    """pruning.skipPrune: under x-kubernetes-preserve-unknown-fields only declared fields are walked."""
    if s is None:
        return
    if isinstance(x, dict):
        properties = _properties(s)
        additional = _additional(s)
        for key in sorted(x):
            if embedded and key in _META_FIELDS:
                continue
            if key in properties:
                sub = properties[key]
                _prune(
                    x[key],
                    sub,
                    embedded=_flag(sub, "x-kubernetes-embedded-resource"),
                    parent=_append_key(parent, key),
                    unknown=unknown,
                )
            elif additional is not None:
                sub_schema = additional.schema
                sub_embedded = sub_schema is not None and _flag(sub_schema, "x-kubernetes-embedded-resource")
                _prune(x[key], sub_schema, embedded=sub_embedded, parent=_append_key(parent, key), unknown=unknown)
    elif isinstance(x, list):
        items = _items(s)
        item_embedded = items is not None and _flag(items, "x-kubernetes-embedded-resource")
        for i, value in enumerate(x):
            _skip_prune(value, items, embedded=item_embedded, parent=f"{parent}[{i}]", unknown=unknown)


def _schema_for_field(name: str, s: Schema | None) -> Schema | None:
    if s is None:
        return None
    properties = _properties(s)
    if name in properties:
        return properties[name]
    additional = _additional(s)
    return additional.schema if additional is not None else None


def _prune_non_nullable_nulls(x: Any, s: Schema | None, *, top_level: bool = False) -> None:
    """defaulting.PruneNonNullableNullsWithoutDefaults (the nulls that have a default stay for Default)."""
    if s is None:
        return  # nothing below has a schema, so nothing below is pruned
    if isinstance(x, dict):
        for key in list(x):
            if top_level and key in _META_FIELDS:
                continue  # top-level TypeMeta/ObjectMeta belong to the server
            sub = _schema_for_field(key, s)
            if x[key] is None and sub is not None and not _flag(sub, "nullable") and not _has_default(sub):
                del x[key]
            else:
                _prune_non_nullable_nulls(x[key], sub)
    elif isinstance(x, list):
        items = _items(s)
        for value in x:
            _prune_non_nullable_nulls(value, items)


def _is_non_nullable_null(value: Any, s: Schema | None) -> bool:
    return value is None and s is not None and not _flag(s, "nullable")


def _default(x: Any, s: Schema | None) -> None:
    """defaulting.Default."""
    if s is None:
        return
    if isinstance(x, dict):
        properties = _properties(s)
        for name in sorted(properties):
            prop = properties[name]
            if not _has_default(prop):
                continue
            if name not in x or _is_non_nullable_null(x[name], prop):
                x[name] = _deep_copy(prop["default"])
        additional = _additional(s)
        for key in list(x):
            if key in properties:
                _default(x[key], properties[key])
            elif additional is not None:
                if _is_non_nullable_null(x[key], additional.schema):
                    assert additional.schema is not None
                    x[key] = _deep_copy(additional.schema.get("default"))
                _default(x[key], additional.schema)
    elif isinstance(x, list):
        items = _items(s)
        for i in range(len(x)):
            if _is_non_nullable_null(x[i], items):
                assert items is not None
                x[i] = _deep_copy(items.get("default"))
            _default(x[i], items)


def _uses_cel(s: Schema) -> bool:
    if _schemas(s, "x-kubernetes-validations"):
        return True
    children: list[Schema | None] = [_items(s), _not(s), *_properties(s).values()]
    children.extend(sub for key in ("allOf", "anyOf", "oneOf") for sub in _schemas(s, key))
    additional = _additional(s)
    if additional is not None:
        children.append(additional.schema)
    return any(child is not None and _uses_cel(child) for child in children)


# ===================================================================================================
# Public API
# ===================================================================================================


def check_structural_errors(
    schema: Schema,
    *,
    path: Path | str = DEFAULT_SCHEMA_PATH,
    status_subresource: bool = False,
) -> list[FieldError]:
    """Why ``schema`` (a CRD version's ``openAPIV3Schema``) may not be used, as field errors.

    ``path`` is where the schema sits in the CRD (``spec.versions[1].schema.openAPIV3Schema``);
    ``status_subresource`` restricts the root keywords as upstream does when the version enables
    the status subresource. An empty list means the schema is structural and allowed.
    """
    root_path = _as_path(path)
    assert root_path is not None
    try:
        return _check_structural(schema, root_path, status_subresource=status_subresource)
    except RecursionError:
        return [FieldError.invalid(root_path, OMIT_VALUE, "is nested too deeply to be checked")]


def _check_structural(schema: Schema, root_path: Path, *, status_subresource: bool) -> list[FieldError]:
    """validateCustomResourceDefinitionValidation's order: structural first, defaults only if structural."""
    shape = _shape_errors(schema, root_path)
    if shape:
        return shape
    errors: list[FieldError] = []
    if status_subresource:
        errors.extend(_status_root_errors(schema, root_path))
    if _flag(schema, "nullable"):
        errors.append(FieldError.forbidden(root_path.child("nullable"), "nullable cannot be true at the root"))
    init_error = _structural_init_error(schema)
    if init_error is None:
        structural = _structural_errors(schema, root_path)
        if structural:
            errors.extend(structural)
        else:
            errors.extend(_default_errors(schema, root_path, embedded=True, root=schema, steps=(), inside_meta=False))
    errors.extend(_openapi_schema_errors(schema, root_path, _SchemaContext(), is_root=True))
    if not errors and init_error is not None:
        # NewStructural's complaints overlap the ones above; upstream shows them only when alone.
        errors.append(FieldError.invalid(root_path, "", init_error))
    return errors


def check_structural(
    schema: Schema,
    *,
    path: Path | str = DEFAULT_SCHEMA_PATH,
    status_subresource: bool = False,
) -> list[str]:
    """The reasons ``schema`` is not structural or not allowed, as upstream words them.

    e.g. ``spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be
    empty for specified object fields``. See :func:`check_structural_errors` for the arguments.
    """
    return [err.error() for err in check_structural_errors(schema, path=path, status_subresource=status_subresource)]


def prune(obj: JSONObject, schema: Schema) -> list[str]:
    """Remove, in place, the fields of a custom resource that its schema does not declare.

    Follows upstream's decoder: ``x-kubernetes-preserve-unknown-fields`` keeps unknown fields
    (declared ones below it are still pruned), ``additionalProperties`` keeps any key,
    ``x-kubernetes-embedded-resource`` objects keep ``apiVersion``/``kind``/``metadata`` and have
    their ``metadata`` reduced to ObjectMeta's fields; non-nullable nulls without a default are
    dropped. Top-level ``apiVersion``, ``kind`` and ``metadata`` are never touched.

    Returns the paths of the dropped unknown fields (``spec.foo``, ``spec.items[0].bar``,
    ``spec.template.metadata.bogus``), sorted per pass as upstream sorts them, for
    ``unknown field "spec.foo"`` under ``fieldValidation=Strict|Warn``.
    """
    unknown: list[str] = []
    _prune(obj, schema, embedded=True, parent="", unknown=unknown)
    unknown.sort()
    _prune_non_nullable_nulls(obj, schema, top_level=True)
    meta_unknown: list[str] = []
    _coerce(None, obj, schema, embedded=False, drop_invalid=True, unknown=meta_unknown)
    return unknown + sorted(meta_unknown)


def default(obj: JSONObject, schema: Schema) -> None:
    """Apply the schema's ``default`` values to ``obj`` in place (upstream ``structuraldefaulting.Default``).

    Missing properties get a deep copy of their default, recursively, also inside ``items`` and
    ``additionalProperties``; an explicit ``null`` is replaced by the default unless the field is
    ``nullable``. Call it after :func:`prune`, which drops non-nullable nulls that have no default.
    """
    _default(obj, schema)


def validate(
    obj: Any,
    schema: Schema,
    *,
    path: Path | str | None = None,
    check_list_types: bool = True,
) -> list[FieldError]:
    """Validate a custom resource (or, with ``path``, a part of one) against its schema.

    Without ``path``, ``obj`` is a whole object: its top-level ``metadata`` is only checked against
    the schema's restrictions of ``metadata.name``/``metadata.generateName`` (ObjectMeta itself is
    the server's job). With ``path`` (e.g. ``"status"`` for the status subresource with the schema
    of ``status``), errors are reported below that path. ``x-kubernetes-validations`` (CEL) rules
    are not evaluated: see :func:`uses_cel`. ``check_list_types=False`` leaves out the list-set and
    list-map uniqueness errors, for updates of objects that already violated them (upstream ratchets).
    """
    fld_path = _as_path(path)
    data = obj
    if fld_path is None and isinstance(obj, Mapping) and "metadata" in obj:
        data = dict(obj)
        metadata = obj["metadata"]
        if isinstance(metadata, Mapping):
            data["metadata"] = {k: metadata[k] for k in ("name", "generateName") if k in metadata}
        else:
            del data["metadata"]
    try:
        errors = _validate_custom_resource(fld_path, data, schema, _CR_OPTIONS)
        errors.extend(_validate_object_meta_tree(fld_path, obj, schema, embedded=False))
        if check_list_types:
            errors.extend(validate_list_types(obj, schema, path=fld_path))
    except RecursionError:
        # Go's stack grows; Python's does not. Refuse the object rather than fail the request.
        return [FieldError.invalid(fld_path, OMIT_VALUE, "object is nested too deeply to be validated")]
    return errors


def validate_list_types(obj: Any, schema: Schema, *, path: Path | str | None = None) -> list[FieldError]:
    """Duplicates in ``x-kubernetes-list-type: set`` lists and duplicate keys in ``map`` lists."""
    fld_path = _as_path(path)
    if isinstance(obj, Mapping):
        return _list_types_in_object(fld_path, schema, obj)
    return _list_types_in(fld_path, schema, obj)


def uses_cel(schema: Schema) -> bool:
    """Does the schema carry ``x-kubernetes-validations`` rules anywhere? They are not evaluated here."""
    return _uses_cel(schema)
