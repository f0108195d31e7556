"""Field paths and field sets: the vocabulary of server-side apply ownership, and their FieldsV1 form.

Port of sigs.k8s.io/structured-merge-diff ``fieldpath`` (element.go, path.go, set.go, serialize.go,
serialize-pe.go) and of the ``value`` ordering it relies on (value.go, fields.go, scalar.go).

A :class:`PathElement` selects one child of a value: a struct field or map key (``.name``), an item of
a list of objects by its key fields (``[name="nginx"]``), an item of a set by its value (``[=80]``),
or an item of an atomic list by position (``[0]``). A path is a tuple of elements; a
:class:`FieldSet` is a trie of paths. Ownership is tracked per path: a path is a *member* of a set when
the set owns that field; intermediate nodes exist only to hold deeper members.

Ordering matters because it is visible: FieldsV1 objects list their keys in element order, and
conflict messages list paths in set order. Elements order by kind (field < key < value < index) and
then by content; values order as ``value.Compare`` does: numbers (ints and floats compared
numerically) < strings < booleans < lists < maps < null. :func:`value_key` turns a JSON value into a
Python tuple with exactly that order and equality (``value.Equals``: ``1 == 1.0``, ``true != 1``).

Wire form (``metadata.managedFields[].fieldsV1``), byte for byte as upstream writes it: each element is
``f:<name>``, ``k:<json of the key fields, sorted by name>``, ``v:<json value>`` or ``i:<index>``; a
member with no members below it maps to ``{}``; a member that also has children gets a ``"."`` entry.
Decoding skips element kinds it does not know (a newer writer's) and reports malformed ones, as upstream.

Set values are immutable once built: the algebra (``union``, ``difference``, ...) returns new sets that
share untouched subtrees with their inputs, so nothing may change a set after construction.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import IntEnum
from typing import Any, Final, TypeAlias, final

import orjson

from kubelite.api.validation import GoStruct, go_format_float, go_json, go_quote

JSON: TypeAlias = Any
"""A decoded JSON value: dict (str keys), list, str, int, float, bool or None."""

ValueKey: TypeAlias = tuple[Any, ...]

# Tags of value_key(): upstream's order of kinds in value.Compare.
_NUMBER: Final = 0
_STRING: Final = 1
_BOOL: Final = 2
_LIST: Final = 3
_MAP: Final = 4
_NULL: Final = 5


def value_key(value: JSON) -> ValueKey:
    """A sort key with the order and equality of upstream ``value.Compare`` / ``value.Equals``."""
    if value is None:
        return (_NULL,)
    # bool before int: in Python True is an int, in Go they are different kinds.
    if isinstance(value, bool):
        return (_BOOL, value)
    if isinstance(value, int | float):
        return (_NUMBER, value)
    if isinstance(value, str):
        return (_STRING, value)
    if isinstance(value, list | tuple):
        return (_LIST, tuple(value_key(item) for item in value))
    if isinstance(value, Mapping):
        # value.MapCompare zips the keys in lexical order: the same as comparing sorted item lists.
        return (_MAP, tuple((key, value_key(value[key])) for key in sorted(value)))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def values_equal(a: JSON, b: JSON) -> bool:
    """``value.Equals``: deep equality where ints and floats compare numerically, bools never equal 1/0."""
    return value_key(a) == value_key(b)


def value_string(value: JSON) -> str:
    """``value.ToString``: how a key or set value prints inside a path (strings Go-quoted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(value_string(item) for item in value) + "]"
    if isinstance(value, Mapping):
        # Upstream iterates a Go map (random order); sorted keys make the text deterministic.
        return "".join(f"{key}={value_string(value[key])}" for key in sorted(value))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


class PathElementKind(IntEnum):
    """What a path element selects; the numeric order is upstream's order of element kinds."""

    FIELD = 0
    KEY = 1
    VALUE = 2
    INDEX = 3


class FieldsV1Error(ValueError):
    """A FieldsV1 object (or one of its keys) that cannot be decoded."""


class UnknownPathElementError(FieldsV1Error):
    """A FieldsV1 key of a kind this code does not know; upstream skips such keys silently."""


KeyFields: TypeAlias = tuple[tuple[str, JSON], ...]


@final
class PathElement:
    """One step of a path. Build with :meth:`field`, :meth:`key`, :meth:`of_value` or :meth:`of_index`."""

    __slots__ = ("_data", "_hash", "_order", "_text", "kind")

    kind: PathElementKind
    _data: Any
    _order: tuple[Any, ...]
    _hash: int
    _text: str | None

    def __init__(self, kind: PathElementKind, data: Any, order: tuple[Any, ...]) -> None:
        self.kind = kind
        self._data = data
        self._order = (int(kind), order)
        # elements are immutable and hashed on every set operation: hash and FieldsV1 key computed once
        self._hash = hash(self._order)
        self._text = None

    @classmethod
    def field(cls, name: str) -> PathElement:
        """A struct field or map key."""
        element = _FIELD_ELEMENTS.get(name)
        if element is None:
            element = cls(PathElementKind.FIELD, name, (name,))
            if len(_FIELD_ELEMENTS) >= _FIELD_ELEMENTS_MAX:
                _FIELD_ELEMENTS.clear()  # map keys are unbounded; field names are few and come back at once
            _FIELD_ELEMENTS[name] = element
        return element

    @classmethod
    def key(cls, fields: Mapping[str, JSON] | Iterable[tuple[str, JSON]]) -> PathElement:
        """An item of an associative list, by its key fields (sorted by name, as upstream)."""
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        # value.FieldList.Sort is a stable sort by name.
        pairs.sort(key=lambda pair: pair[0])
        memo = _key_memo(pairs)
        if memo is not None:
            element = _KEY_ELEMENTS.get(memo)
            if element is not None:
                return element
        data: KeyFields = tuple(pairs)
        element = cls(PathElementKind.KEY, data, tuple((name, value_key(value)) for name, value in data))
        if memo is not None:
            if len(_KEY_ELEMENTS) >= _KEY_ELEMENTS_MAX:
                _KEY_ELEMENTS.clear()
            _KEY_ELEMENTS[memo] = element
        return element

    @classmethod
    def of_value(cls, value: JSON) -> PathElement:
        """An item of a set (a list of scalars with ``x-kubernetes-list-type: set``), by value."""
        return cls(PathElementKind.VALUE, value, value_key(value))

    @classmethod
    def of_index(cls, index: int) -> PathElement:
        """An item of an atomic list, by position (only in deduced, schema-less objects)."""
        return cls(PathElementKind.INDEX, index, (index,))

    @property
    def name(self) -> str:
        """The field name of a FIELD element."""
        if self.kind is not PathElementKind.FIELD:
            raise AttributeError(f"{self} is not a field element")
        name: str = self._data
        return name

    @property
    def key_fields(self) -> KeyFields:
        """The (name, value) pairs of a KEY element, sorted by name."""
        if self.kind is not PathElementKind.KEY:
            raise AttributeError(f"{self} is not a key element")
        fields: KeyFields = self._data
        return fields

    @property
    def value(self) -> JSON:
        """The value of a VALUE element."""
        if self.kind is not PathElementKind.VALUE:
            raise AttributeError(f"{self} is not a value element")
        return self._data

    @property
    def index(self) -> int:
        """The position of an INDEX element."""
        if self.kind is not PathElementKind.INDEX:
            raise AttributeError(f"{self} is not an index element")
        index: int = self._data
        return index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self._order == other._order

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: PathElement) -> bool:
        return self._order < other._order

    def __le__(self, other: PathElement) -> bool:
        return self._order <= other._order

    def __gt__(self, other: PathElement) -> bool:
        return self._order > other._order

    def __ge__(self, other: PathElement) -> bool:
        return self._order >= other._order

    def __str__(self) -> str:
        """Upstream ``PathElement.String``: ``.name``, ``[k=v,...]``, ``[=v]``, ``[i]``."""
        if self.kind is PathElementKind.FIELD:
            return "." + self.name
        if self.kind is PathElementKind.KEY:
            return "[" + ",".join(f"{name}={value_string(value)}" for name, value in self._data) + "]"
        if self.kind is PathElementKind.VALUE:
            return f"[={value_string(self._data)}]"
        return f"[{self._data}]"

    def __repr__(self) -> str:
        return f"PathElement({self.serialize()!r})"

    def serialize(self) -> str:
        """The FieldsV1 key of this element (``SerializePathElement``)."""
        text = self._text
        if text is None:
            if self.kind is PathElementKind.FIELD:
                text = "f:" + self.name
            elif self.kind is PathElementKind.KEY:
                text = "k:" + go_json(GoStruct(tuple(self._data)))
            elif self.kind is PathElementKind.VALUE:
                text = "v:" + go_json(self._data)
            else:
                text = f"i:{self._data}"
            self._text = text
        return text

    @classmethod
    def parse(cls, text: str) -> PathElement:
        """Decode a FieldsV1 key (``DeserializePathElement``); raises :class:`FieldsV1Error`."""
        if len(text.encode("utf-8", "surrogatepass")) < 2:
            raise FieldsV1Error(f"path element {text!r}: key must be 2 characters long")
        if text[1] != ":":
            raise FieldsV1Error(f"path element {text!r}: missing colon after the element type")
        kind, rest = text[0], text[2:]
        if kind == "f":
            return cls.field(rest)
        if kind == "v":
            return cls.of_value(_parse_json(text, rest))
        if kind == "k":
            return cls.key(_parse_key_fields(text, rest))
        if kind == "i":
            if not _ATOI.fullmatch(rest) or not -(2**63) <= int(rest) < 2**63:
                raise FieldsV1Error(f'path element {text!r}: strconv.Atoi: parsing "{rest}": invalid syntax')
            return cls.of_index(int(rest))
        raise UnknownPathElementError(f"path element {text!r}: unknown path element type {kind!r}")


_ATOI: Final = re.compile(r"[+-]?[0-9]+")

# Key elements of list items (a container's name, a port's number and protocol), so that each is
# built and serialized once. Only keys of strings, ints, booleans and nulls are kept, memoized by
# (name, type, value): Python's 1 == 1.0 == True must not make one element stand for another, and
# floats are left out (-0.0 == 0.0, yet they serialize differently).
_KEY_ELEMENTS: dict[tuple[tuple[str, type, JSON], ...], PathElement] = {}
_KEY_ELEMENTS_MAX: Final = 16384
_MEMO_KEY_TYPES: Final = frozenset({str, int, bool, type(None)})
_MEMO_KEY_MAX_TEXT: Final = 253  # a name's length (DNS subdomain); longer values are not worth the memory


def _key_memo(pairs: list[tuple[str, JSON]]) -> tuple[tuple[str, type, JSON], ...] | None:
    memo: list[tuple[str, type, JSON]] = []
    for name, value in pairs:
        kind = type(value)
        if kind not in _MEMO_KEY_TYPES or type(name) is not str or (kind is str and len(value) > _MEMO_KEY_MAX_TEXT):
            return None
        memo.append((name, kind, value))
    return tuple(memo)

_FIELD_ELEMENTS: dict[str, PathElement] = {}
_ORDER: Final = operator.attrgetter("_order")  # sorts elements by their order tuple without calling __lt__
_FIELD_ELEMENTS_MAX: Final = 16384


def _no_constants(name: str) -> JSON:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, rest: str) -> JSON:
    try:
        return json.loads(rest, parse_constant=_no_constants)
    except ValueError as exc:
        raise FieldsV1Error(f"path element {text!r}: {exc}") from None


def _parse_key_fields(text: str, rest: str) -> list[tuple[str, JSON]]:
    try:
        pairs = json.loads(rest, object_pairs_hook=_Pairs, parse_constant=_no_constants)
    except ValueError as exc:
        raise FieldsV1Error(f"path element {text!r}: {exc}") from None
    if pairs is None:
        return []  # jsoniter's ReadObjectCB accepts null as an object without fields
    if not isinstance(pairs, _Pairs):
        raise FieldsV1Error(f"path element {text!r}: the key fields must be a JSON object")
    return [(name, _plain(value)) for name, value in pairs]


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its member list, so that the top-level key object keeps duplicate names."""


def _plain(value: JSON) -> JSON:
    if isinstance(value, _Pairs):
        return {name: _plain(item) for name, item in value}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


Path: TypeAlias = tuple[PathElement, ...]


def make_path(*parts: str | int | Mapping[str, JSON] | PathElement) -> Path:
    """A path from convenient parts: str -> field, int -> index, mapping -> key, or an element.

    Set items need :meth:`PathElement.of_value` explicitly (a str would be a field name).
    """
    out: list[PathElement] = []
    for part in parts:
        if isinstance(part, PathElement):
            out.append(part)
        elif isinstance(part, str):
            out.append(PathElement.field(part))
        elif isinstance(part, bool):
            raise TypeError("a bool is not a path element; use PathElement.of_value(...)")
        elif isinstance(part, int):
            out.append(PathElement.of_index(part))
        elif isinstance(part, Mapping):
            if not part:
                raise ValueError("associative list key type path elements must have at least one key (got zero)")
            out.append(PathElement.key(part))
        else:
            raise TypeError(f"unable to make {part!r} into a path element")
    return tuple(out)


def path_string(path: Sequence[PathElement]) -> str:
    """Upstream ``Path.String``: the elements' strings concatenated, e.g. ``.spec.containers[name="a"]``."""
    return "".join(str(element) for element in path)


@final
class FieldSet:
    """A set of field paths, stored as a trie (upstream ``fieldpath.Set``)."""

    __slots__ = ("_children", "_fits", "_members", "_v1")

    _members: set[PathElement]
    _children: dict[PathElement, FieldSet]
    # Sets are built (``_insert``) and then only read: the set operations return new sets that share
    # unchanged subtrees. That makes two memos safe: ``_v1`` the FieldsV1 JSON of a finished set (from
    # decoding or encoding it), ``_fits`` a schema the set needed no reconciling with.
    _v1: bytes | None
    _fits: object | None

    def __init__(self, paths: Iterable[Sequence[PathElement]] = ()) -> None:
        self._members = set()
        self._children = {}
        self._v1 = None
        self._fits = None
        for path in paths:
            self._insert(path)

    @classmethod
    def _make(cls, members: set[PathElement], children: dict[PathElement, FieldSet]) -> FieldSet:
        new = cls.__new__(cls)
        new._members = members
        new._children = children
        new._v1 = None
        new._fits = None
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> FieldSet:
        # a copy may be built further: the same paths, without the memos (elements are immutable)
        return FieldSet._make(set(self._members), {element: child.__deepcopy__(memo)
                                                   for element, child in self._children.items()})

    def _insert(self, path: Sequence[PathElement]) -> None:
        # A zero-length path is the whole object, whose ownership is never tracked.
        if not path:
            return
        if self._v1 is not None:  # built further after it was encoded: the memos no longer hold
            if _DECODED.get(self._v1) is self:
                del _DECODED[self._v1]
            self._v1 = None
        self._fits = None
        node = self
        for element in path[:-1]:
            child = node._children.get(element)
            if child is None:
                child = node._children[element] = FieldSet()
            node = child
        node._members.add(path[-1])

    @property
    def members(self) -> list[PathElement]:
        """The elements that are members at this level, sorted."""
        return sorted(self._members)

    @property
    def children(self) -> dict[PathElement, FieldSet]:
        """The subsets below this level, keyed by element, sorted (a copy)."""
        return {element: self._children[element] for element in sorted(self._children)}

    def has_member(self, element: PathElement) -> bool:
        """Whether ``element`` is a member at this level."""
        return element in self._members

    def child(self, element: PathElement) -> FieldSet | None:
        """The subset below ``element``, if there is one."""
        return self._children.get(element)

    def has(self, path: Sequence[PathElement]) -> bool:
        """Whether ``path`` is a member (the empty path never is)."""
        if not path:
            return False
        node: FieldSet | None = self
        for element in path[:-1]:
            assert node is not None
            node = node._children.get(element)
            if node is None:
                return False
        assert node is not None
        return path[-1] in node._members

    def with_prefix(self, element: PathElement) -> FieldSet:
        """The paths below ``element``, without it (empty if there are none)."""
        return self._children.get(element) or FieldSet()

    def is_empty(self) -> bool:
        """Whether the set has no member at any depth."""
        return not self._members and all(child.is_empty() for child in self._children.values())

    def __len__(self) -> int:
        """The number of member paths (upstream ``Size``)."""
        return len(self._members) + sum(len(child) for child in self._children.values())

    def __bool__(self) -> bool:
        return not self.is_empty()

    def __iter__(self) -> Iterator[Path]:
        """The member paths in upstream's ``Iterate`` order: this level's members, then each child."""
        return self._iterate(())

    def _iterate(self, prefix: Path) -> Iterator[Path]:
        for element in sorted(self._members):
            yield (*prefix, element)
        for element in sorted(self._children):
            yield from self._children[element]._iterate((*prefix, element))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self._members == other._members and self._children == other._children

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return "\n".join(path_string(path) for path in self)

    def __repr__(self) -> str:
        return f"FieldSet([{', '.join(repr(path_string(path)) for path in self)}])"

    def union(self, other: FieldSet) -> FieldSet:
        """Paths in either set."""
        children = dict(self._children)
        for element, theirs in other._children.items():
            mine = children.get(element)
            children[element] = theirs if mine is None else mine.union(theirs)
        return FieldSet._make(self._members | other._members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        """Paths in both sets."""
        children: dict[PathElement, FieldSet] = {}
        for element, mine in self._children.items():
            theirs = other._children.get(element)
            if theirs is not None:
                common = mine.intersection(theirs)
                if not common.is_empty():
                    children[element] = common
        return FieldSet._make(self._members & other._members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths in this set and not in ``other``; a member of ``other`` does not remove its children.

        This set itself when nothing is removed (its memos stay useful).
        """
        children: dict[PathElement, FieldSet] = {}
        same = True
        for element, mine in self._children.items():
            theirs = other._children.get(element)
            if theirs is None:
                children[element] = mine
            else:
                rest = mine.difference(theirs)
                # Upstream never keeps a node without members below it.
                if not rest.is_empty():
                    children[element] = rest
                    same = same and rest is mine
                else:
                    same = False
        members = self._members - other._members if other._members else self._members
        if same and len(members) == len(self._members):
            return self
        return FieldSet._make(members if members is not self._members else set(members), children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes everything below it.

        This set itself when nothing is removed.
        """
        children: dict[PathElement, FieldSet] = {}
        same = True
        for element, mine in self._children.items():
            if element in other._members:
                same = False
                continue
            theirs = other._children.get(element)
            if theirs is None:
                children[element] = mine
            else:
                rest = mine.recursive_difference(theirs)
                if not rest.is_empty():
                    children[element] = rest
                    same = same and rest is mine
                else:
                    same = False
        members = self._members - other._members if other._members else self._members
        if same and len(members) == len(self._members):
            return self
        return FieldSet._make(members if members is not self._members else set(members), children)

    def leaves(self) -> FieldSet:
        """Only the members that have no members below them."""
        members = {element for element in self._members if element not in self._children}
        return FieldSet._make(members, {element: child.leaves() for element, child in self._children.items()})

    # -- FieldsV1 -------------------------------------------------------------------------------

    def to_fieldsv1(self) -> dict[str, Any]:
        """The FieldsV1 object of this set, keys in upstream's order (a new object each time)."""
        if self._v1 is not None:
            decoded: dict[str, Any] = orjson.loads(self._v1)
            return decoded
        emitted = self._emit(include_self=False)
        _remember(self, emitted)
        return emitted

    def _emit(self, *, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self:
            out["."] = {}
        for element in sorted(self._members | self._children.keys(), key=_ORDER):
            child = self._children.get(element)
            if child is None:
                out[element.serialize()] = {}
            else:
                out[element.serialize()] = child._emit(include_self=element in self._members)
        return out

    @classmethod
    def from_fieldsv1(cls, fields: JSON) -> FieldSet:
        """Decode a FieldsV1 object (``Set.FromJSON``); raises :class:`FieldsV1Error`."""
        if not isinstance(fields, Mapping):
            raise FieldsV1Error(f"fieldsV1 must be a JSON object, got {_json_kind(fields)}")
        found, _ = _read_fields(fields, where="fieldsV1")
        return found if found is not None else FieldSet()


def _json_kind(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _read_fields(fields: Mapping[str, JSON], *, where: str) -> tuple[FieldSet | None, bool]:
    """``readIterV1``: the subset below a node, and whether the node itself is a member."""
    children: FieldSet | None = None
    is_member = False
    for text, raw in fields.items():
        if text == ".":
            is_member = True
            continue
        try:
            element = PathElement.parse(text)
        except UnknownPathElementError:
            # A newer writer's element kind: dropped, as upstream does, rather than kept half-understood.
            continue
        # jsoniter's ReadMapCB reads null as an empty object.
        value = {} if raw is None else raw
        if not isinstance(value, Mapping):
            raise FieldsV1Error(f"{where}[{text!r}]: must be a JSON object, got {_json_kind(value)}")
        grandchildren, child_is_member = _read_fields(value, where=f"{where}[{text!r}]")
        if child_is_member or grandchildren is not None:
            if children is None:
                children = FieldSet()
            if child_is_member:
                children._members.add(element)
            if grandchildren is not None:
                children._children[element] = grandchildren
    if children is None:
        # A node with nothing below it ({} or only unknown kinds) is a member.
        is_member = True
    return children, is_member


# FieldsV1 JSON -> its decoded set. Most managed fields entries of a write are the ones the previous
# write of the object encoded (or that objects of one template share), so they are decoded once.
_DECODED: dict[bytes, FieldSet] = {}
_DECODED_MAX: Final = 4096


def _remember(field_set: FieldSet, emitted: dict[str, Any]) -> None:
    """Memoize ``emitted`` (what ``_emit`` gave) as the encoding and decoding of ``field_set``."""
    try:
        text = orjson.dumps(emitted)
    except (orjson.JSONEncodeError, TypeError):  # cannot happen for emitted sets; never worth failing for
        return
    field_set._v1 = text
    if text in _DECODED:
        # an equal set (the same canonical text) stays the decoding: the memos it has gathered (a
        # schema it fits) hold for this content, and the next write of the object decodes to it
        return
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.pop(next(iter(_DECODED)))  # the oldest entry
    _DECODED[text] = field_set


def decode_fieldsv1(fields: JSON) -> FieldSet:
    """:meth:`FieldSet.from_fieldsv1` through a cache; the set is shared, so it must not be changed.

    Raises :class:`FieldsV1Error` as ``from_fieldsv1`` does.
    """
    try:
        text = orjson.dumps(fields)
    except (orjson.JSONEncodeError, TypeError):
        return FieldSet.from_fieldsv1(fields)
    found = _DECODED.get(text)
    if found is not None:
        return found
    found = FieldSet.from_fieldsv1(fields)
    emitted = found._emit(include_self=False)
    if orjson.dumps(emitted) == text:
        # only an exact round trip is memoized: other spellings of the same set re-encode canonically
        _remember(found, emitted)
    return found


def field_set_from_fieldsv1(fields: JSON) -> FieldSet:
    """Decode ``managedFields[].fieldsV1``; raises :class:`FieldsV1Error` for malformed input."""
    return FieldSet.from_fieldsv1(fields)


def fieldsv1_from_field_set(field_set: FieldSet) -> dict[str, Any]:
    """Encode a field set as ``managedFields[].fieldsV1``, exactly as upstream serializes it."""
    return field_set.to_fieldsv1()

