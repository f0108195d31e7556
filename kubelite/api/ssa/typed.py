"""Schema-aware walks over JSON objects: validate, field set, merge, compare, remove, reconcile.

Port of sigs.k8s.io/structured-merge-diff ``typed`` (validate.go, tofieldset.go, merge.go,
compare.go, remove.go, reconcile_schema.go, helpers.go) for decoded JSON values and
:class:`~kubelite.api.ssa.schema.TypeInfo`.

Each walk looks at one position at a time and decides how to treat the value there the way upstream's
``deduceAtom``/``handleAtom`` do: a value of a kind the position allows is treated as that kind; a
missing value, ``null`` or a value of a kind the position does not allow is treated as the first of
map, scalar, list that the position allows. Lists and maps that are atomic, and lists and maps that
are empty or null on both sides, are *leaves*: merged and compared as whole values (the latter so
that ``[]`` and ``null`` stay distinct).

Absent and null differ throughout (a field set to ``null`` is owned, an absent one is not), so absent
values are the :data:`ABSENT` sentinel, never ``None``.

Errors are collected as :class:`SchemaError` with upstream's messages and paths (``.spec.replicas:
expected numeric (int or float), got string``). Where upstream formats a Go value with ``%v``/``%#v``
the message shows the Go rendering of the equivalent unstructured value.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, final

import orjson

from kubelite.api.ssa.fieldpath import JSON, FieldSet, Path, PathElement, PathElementKind, path_string, values_equal
from kubelite.api.ssa.schema import DEDUCED, UNTYPED_ATOMIC, ListKind, ScalarType, TypeInfo
from kubelite.api.validation import go_format_float, go_quote


@final
class _Absent:
    """The absence of a value (Go's nil ``value.Value``), as opposed to JSON null."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent()

Maybe: TypeAlias = Any
"""A JSON value or :data:`ABSENT`."""

Aspect: TypeAlias = Literal["scalar", "list", "map"]


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One problem found while walking an object against its schema."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SchemaError(ValueError):
    """An object does not fit its schema; ``str()`` is upstream's ``ValidationErrors.Error()``."""

    def __init__(self, issues: Sequence[SchemaIssue]) -> None:
        self.issues = list(issues)
        super().__init__(self._text())

    def _text(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        return "\n".join(["errors:", *("  " + str(issue) for issue in self.issues)])


def _issue(path: Path, message: str) -> list[SchemaIssue]:
    return [SchemaIssue(path_string(path), message)]


class _NoType:
    """The type of a key that the schema does not declare (upstream's empty ``TypeRef``)."""

    __slots__ = ()

    def scalar_kind(self) -> ScalarType | None:
        return None

    def list_kind(self) -> ListKind | None:
        return None

    def map_kind(self) -> None:
        return None

    def items(self) -> TypeInfo:
        return self

    def field(self, name: str) -> TypeInfo | None:
        return None

    def field_names(self) -> tuple[str, ...]:
        return ()

    def field_default(self, name: str) -> JSON:
        return None

    def values(self) -> TypeInfo | None:
        return None


_NO_TYPE: Final = _NoType()


def _member_type(info: TypeInfo, name: str) -> tuple[TypeInfo, bool]:
    """The type of map key ``name`` and whether it is a declared field (``FindField``)."""
    declared = info.field(name)
    if declared is not None:
        return declared, True
    values = info.values()
    return (values if values is not None else _NO_TYPE), False


_SCALARS: Final = (str, int, float, bool)  # a tuple: isinstance is faster with one than with a union


def _is_scalar(value: Maybe) -> bool:
    return isinstance(value, _SCALARS)


def _aspect(info: TypeInfo, value: Maybe) -> Aspect | None:
    """``deduceAtom`` then ``handleAtom``: how the value at a position is treated."""
    if value is not ABSENT:
        if _is_scalar(value) and info.scalar_kind() is not None:
            return "scalar"
        if isinstance(value, list) and info.list_kind() is not None:
            return "list"
        if isinstance(value, dict) and info.map_kind() is not None:
            return "map"
    if info.map_kind() is not None:
        return "map"
    if info.scalar_kind() is not None:
        return "scalar"
    if info.list_kind() is not None:
        return "list"
    return None


_INVALID_ATOM: Final = "schema error: invalid atom: inlined"


# -- Go renderings for messages -------------------------------------------------------------------


def _go_v(value: JSON) -> str:
    """Go ``%v`` of an unstructured value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(_go_v(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{key}:{_go_v(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _go_sharp_v(value: JSON) -> str:
    """Go ``%#v`` of an unstructured value."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_format_float(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_sharp_v(item) for item in value) + "}"
    if isinstance(value, Mapping):
        items = ", ".join(f"{go_quote(key)}:{_go_sharp_v(value[key])}" for key in sorted(value))
        return "map[string]interface {}{" + items + "}"
    return repr(value)


def _go_type(value: JSON) -> str:
    """Go ``%T`` of an unstructured value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    return "<nil>"


def _value_text(value: JSON) -> str:
    """How upstream's ``%v`` prints a ``value.Value`` (a pointer to a struct holding the value)."""
    return "&{" + _go_v(value) + "}"


def _scalar_issues(kind: ScalarType, value: Maybe, path: Path, prefix: str) -> list[SchemaIssue]:
    """``validateScalar``."""
    if value is ABSENT or value is None:
        return []
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _issue(path, f"{prefix}expected numeric (int or float), got {_go_type(value)}")
    elif kind == "string":
        if not isinstance(value, str):
            return _issue(path, f"{prefix}expected string, got &value.valueUnstructured{{Value:{_go_sharp_v(value)}}}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            return _issue(path, f"{prefix}expected boolean, got {_value_text(value)}")
    elif not _is_scalar(value):
        return _issue(path, f"{prefix}expected any scalar, got {_value_text(value)}")
    return []


# -- list items -----------------------------------------------------------------------------------


class _ItemError(Exception):
    """A list item that cannot be turned into a path element."""


def _key_default(info: TypeInfo, name: str) -> JSON:
    """``getAssociativeKeyDefault``."""
    items = info.items()
    if items.map_kind() is None:
        raise _ItemError(f"couldn't find default value for {name}: associative list may not have non-map types")
    return items.field_default(name)


def list_item_element(info: TypeInfo, kind: ListKind, item: JSON) -> PathElement:
    """``listItemToPathElement``: the element that names ``item`` in an associative list."""
    if kind.type == "atomic":
        raise _ItemError("invalid indexing of non-associative list")
    if kind.keys:
        if item is None:
            raise _ItemError("associative list with keys may not have a null element")
        if not isinstance(item, Mapping):
            raise _ItemError("associative list with keys may not have non-map elements")
        fields: list[tuple[str, JSON]] = []
        for name in kind.keys:
            if name in item:
                fields.append((name, item[name]))
            else:
                default = _key_default(info, name)
                if default is not None:
                    fields.append((name, default))
                # Otherwise the key field is left out: an item without it is a different item.
        if not fields:
            keys = "[" + " ".join(go_quote(key) for key in kind.keys) + "]"
            raise _ItemError(
                f"associative list with keys has an element that omits all key fields {keys} "
                "(and doesn't have default values for any key fields)"
            )
        return PathElement.key(fields)
    if isinstance(item, Mapping):
        raise _ItemError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise _ItemError("not supported: associative list with lists as elements")
    if item is None:
        raise _ItemError("associative list without keys has an element that's an explicit null")
    return PathElement.of_value(item)


# -- validate -------------------------------------------------------------------------------------


def validate(info: TypeInfo, value: JSON, *, allow_duplicates: bool = False) -> list[SchemaIssue]:
    """Every way ``value`` violates its schema (``TypedValue.Validate``); empty when it fits.

    ``allow_duplicates`` tolerates repeated keys in associative lists and sets, as upstream does for
    objects already stored (only applied configurations must be duplicate-free).
    """
    return _validate(info, value, (), allow_duplicates)


def _validate(info: TypeInfo, value: JSON, path: Path, allow_duplicates: bool) -> list[SchemaIssue]:
    if info is DEDUCED or info is UNTYPED_ATOMIC:
        return []  # untyped positions take any JSON value at any depth (e.g. FieldsV1 below its root)
    aspect = _aspect(info, value)
    if aspect is None:
        return _issue(path, _INVALID_ATOM)
    if aspect == "scalar":
        kind = info.scalar_kind()
        assert kind is not None
        return _scalar_issues(kind, value, path, "")
    if aspect == "list":
        if value is None:
            return []
        if not isinstance(value, list):
            return _issue(path, f"expected list, got {_value_text(value)}")
        kind_list = info.list_kind()
        assert kind_list is not None
        issues: list[SchemaIssue] = []
        seen: set[PathElement] = set()
        for index, item in enumerate(value):
            if kind_list.type == "atomic":
                element = PathElement.of_index(index)
            else:
                try:
                    element = list_item_element(info, kind_list, item)
                except _ItemError as exc:
                    # Without an element nothing deeper can be named, so the rest of the list is skipped.
                    issues.extend(_issue(path, f"element {index}: {exc}"))
                    return issues
                if element in seen and not allow_duplicates:
                    issues.extend(_issue(path, f"duplicate entries for key {element}"))
                seen.add(element)
            issues.extend(_validate(info.items(), item, (*path, element), allow_duplicates))
        return issues
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return _issue(path, f"expected map, got {_value_text(value)}")
    issues = []
    for key, item in value.items():
        element = PathElement.field(key)
        child = info.field(key)
        if child is None:
            child = info.values()
            if child is None:
                # Upstream stops at the first undeclared field of a map.
                issues.extend(_issue((*path, element), "field not declared in schema"))
                break
        issues.extend(_validate(child, item, (*path, element), allow_duplicates))
    return issues


def check(info: TypeInfo, value: JSON, *, allow_duplicates: bool = False) -> None:
    """Raise :class:`SchemaError` when ``value`` does not fit ``info`` (``AsTyped``)."""
    issues = validate(info, value, allow_duplicates=allow_duplicates)
    if issues:
        raise SchemaError(issues)


# -- field set ------------------------------------------------------------------------------------


def field_set(info: TypeInfo, value: JSON) -> FieldSet:
    """``TypedValue.ToFieldSet``: every leaf field, list item and set value that ``value`` sets.

    Declared struct fields holding non-empty maps are not members (only what is below them is);
    undeclared map keys, empty maps, nulls, scalars, atomic lists and maps, and items of associative
    lists are. Duplicated list items are members as wholes (nothing below them).
    """
    out = FieldSet()
    _field_set(info, value, (), out)
    return out


def _field_set(info: TypeInfo, value: JSON, path: Path, out: FieldSet) -> None:
    aspect = _aspect(info, value)
    if aspect is None:
        return
    if aspect == "scalar":
        out._insert(path)
        return
    if aspect == "list":
        kind = info.list_kind()
        assert kind is not None
        if kind.type == "atomic":
            out._insert(path)
            return
        if not isinstance(value, list):
            return
        elements: list[PathElement | None] = []
        seen: set[PathElement] = set()
        duplicates: set[PathElement] = set()
        for item in value:
            try:
                element: PathElement | None = list_item_element(info, kind, item)
            except _ItemError:
                element = None  # only reachable for unvalidated input; such items are not owned
            elements.append(element)
            if element is None:
                continue
            if element in seen:
                if element not in duplicates:
                    out._insert((*path, element))
                    duplicates.add(element)
            else:
                seen.add(element)
        for item, element in zip(value, elements, strict=True):
            if element is None or element in duplicates:
                continue
            _field_set(info.items(), item, (*path, element), out)
            out._insert((*path, element))
        return
    kind_map = info.map_kind()
    if kind_map == "atomic":
        out._insert(path)
        return
    if not isinstance(value, Mapping):
        return
    for key, item in value.items():
        child, declared = _member_type(info, key)
        child_path = (*path, PathElement.field(key))
        _field_set(child, item, child_path, out)
        if item is None or (isinstance(item, Mapping) and not item) or not declared:
            out._insert(child_path)


# value type -> the scalar kinds it satisfies (bool is not numeric: Go keeps them apart)
_FAST_SCALAR_KINDS: Final[dict[type, tuple[str, ...]]] = {
    str: ("string",), int: ("numeric",), float: ("numeric",), bool: ("boolean",),
}


def created_fieldsv1(info: TypeInfo, value: JSON) -> dict[str, Any] | None:
    """What creating ``value`` adds, as a FieldsV1 object: ``compare(info, {}, value).added.to_fieldsv1()``.

    The field manager's create case, in one walk that writes each position's FieldsV1 node as it
    leaves it (keys in upstream's order) instead of building a :class:`FieldSet` and serializing
    it. ``None`` when ``validate(info, value, allow_duplicates=True)`` finds a problem (the general
    path would then fail, and its messages are not needed). Identical to the general path otherwise:
    every position below the root is added (a node with children carries ``"."``, a leaf is
    ``{}``), atomic lists and maps and empty or null containers as leaves, duplicated list items as
    wholes (tests/unit/api/test_managed_fields_fast_paths.py compares the two on random objects).
    """
    if not isinstance(value, Mapping):
        return None
    if _aspect(info, value) != "map":
        return None
    out: dict[str, Any] = {}
    if not value:
        return out
    if info.map_kind() == "atomic":
        return out if _fits(info, value) else None
    return _created_members_v1(info, value, out)


def _created_members_v1(info: TypeInfo, value: Mapping[str, JSON], out: dict[str, Any]) -> dict[str, Any] | None:
    """The members of a created granular map into ``out``, keys sorted; None when one does not fit."""
    members = _members_of(info)
    for key in sorted(value):
        item = value[key]
        member = members.get(key)
        if member is None:
            member = _member(info, members, key)
            if member is None:
                return None
        child, text, scalar_types = member
        if type(item) in scalar_types:
            out[text] = {}  # a scalar the schema takes as it is: a leaf (most positions)
            continue
        node = _created_v1(child, item)
        if node is None:
            return None
        out[text] = node
    return out


# What the keys of a map at a schema position are: (the key's type, its FieldsV1 key, the Python
# scalar types the type takes as they are). The create walk asks this for every key of every map;
# kept per position (keyed by identity: TypeInfo objects answer the same questions the same way for
# their lifetime), bounded as the schema nodes bound their own field memo.
_Member: TypeAlias = tuple[TypeInfo, str, frozenset[type]]
_MEMBERS: dict[int, tuple[TypeInfo, dict[str, _Member]]] = {}
_MEMBERS_MAX: Final = 1024
_MEMBER_KEYS_MAX: Final = 4096


def _members_of(info: TypeInfo) -> dict[str, _Member]:
    known = _MEMBERS.get(id(info))
    if known is not None and known[0] is info:
        return known[1]
    if len(_MEMBERS) >= _MEMBERS_MAX:
        _MEMBERS.clear()
    members: dict[str, _Member] = {}
    _MEMBERS[id(info)] = (info, members)
    return members


def _member(info: TypeInfo, members: dict[str, _Member], key: str) -> _Member | None:
    """The member entry of ``key`` (remembered in ``members``); None when the map takes no such key."""
    child = info.field(key)
    if child is None:
        child = info.values()
        if child is None:
            return None
    scalar = child.scalar_kind()
    scalar_types = frozenset(kind for kind, satisfied in _FAST_SCALAR_KINDS.items()
                             if scalar is not None and (scalar == "untyped" or scalar in satisfied))
    member = (child, "f:" + key, scalar_types)
    if len(members) < _MEMBER_KEYS_MAX:
        members[key] = member
    return member


def _created_v1(info: TypeInfo, value: JSON) -> dict[str, Any] | None:
    """The FieldsV1 node of a created position and all below it; None when it does not fit."""
    kind_of_value = type(value)
    if kind_of_value in _FAST_SCALAR_KINDS:
        scalar = info.scalar_kind()
        if scalar is not None and (scalar == "untyped" or scalar in _FAST_SCALAR_KINDS[kind_of_value]):
            return {}
    aspect = _aspect(info, value)
    if aspect is None:
        return None
    if aspect == "scalar":
        kind = info.scalar_kind()
        assert kind is not None
        return None if _scalar_issues(kind, value, (), "") else {}
    if aspect == "list":
        if value is None:
            return {}
        if not isinstance(value, list):
            return None
        kind_list = info.list_kind()
        assert kind_list is not None
        items = info.items()
        if kind_list.type == "atomic" or not value:
            return {} if all(_fits(items, item) for item in value) else None
        elements: list[PathElement] = []
        counts: dict[PathElement, int] = {}
        for item in value:
            try:
                item_element = list_item_element(info, kind_list, item)
            except _ItemError:
                return None
            elements.append(item_element)
            counts[item_element] = counts.get(item_element, 0) + 1
        # equal elements are one key: the first one seen is kept, as a set keeps it
        below: dict[PathElement, dict[str, Any]] = {}
        for item, item_element in zip(value, elements, strict=True):
            if counts[item_element] > 1:
                # a duplicated item is compared as a whole: a leaf
                if not _fits(items, item):
                    return None
                below[item_element] = {}
                continue
            node = _created_v1(items, item)
            if node is None:
                return None
            below[item_element] = node
        out: dict[str, Any] = {".": {}}
        for item_element in sorted(below, key=_ELEMENT_ORDER):
            out[item_element.serialize()] = below[item_element]
        return out
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        return None
    if info.map_kind() == "atomic" or not value:
        for key, item in value.items():
            child = info.field(key)
            if child is None:
                child = info.values()
                if child is None:
                    return None
            if not _fits(child, item):
                return None
        return {}
    return _created_members_v1(info, value, {".": {}})


def _fits(info: TypeInfo, value: JSON) -> bool:
    """``not validate(info, value, allow_duplicates=True)``, without wording the problems.

    The same decisions as :func:`_validate` in the same order (the create walks call it for the
    positions they do not descend into: atomic lists and maps, duplicated items).
    """
    if info is DEDUCED or info is UNTYPED_ATOMIC:
        return True
    kind_of_value = type(value)
    if kind_of_value in _FAST_SCALAR_KINDS:
        scalar = info.scalar_kind()
        if scalar is not None and (scalar == "untyped" or scalar in _FAST_SCALAR_KINDS[kind_of_value]):
            return True
    aspect = _aspect(info, value)
    if aspect is None:
        return False
    if aspect == "scalar":
        kind = info.scalar_kind()
        assert kind is not None
        return not _scalar_issues(kind, value, (), "")
    if aspect == "list":
        if value is None:
            return True
        if not isinstance(value, list):
            return False
        kind_list = info.list_kind()
        assert kind_list is not None
        items = info.items()
        for item in value:
            if kind_list.type != "atomic":
                try:
                    list_item_element(info, kind_list, item)
                except _ItemError:
                    return False
            if not _fits(items, item):
                return False
        return True
    if value is None:
        return True
    if type(value) is not dict and not isinstance(value, Mapping):
        return False
    members = _members_of(info)
    for key, item in value.items():
        member = members.get(key)
        if member is None:
            member = _member(info, members, key)
            if member is None:
                return False
        # a scalar member inline (most are): the check of the first lines above
        if type(item) not in member[2] and not _fits(member[0], item):
            return False
    return True


_ELEMENT_ORDER: Final = operator.attrgetter("_order")  # FieldSet's emit order, without calling __lt__


# -- merge ----------------------------------------------------------------------------------------


def merge(info: TypeInfo, lhs: Maybe, rhs: Maybe) -> Maybe:
    """``TypedValue.Merge``: ``rhs`` (an applied configuration) laid over ``lhs`` (the live object).

    Leaves take the value of ``rhs`` where it has one; maps merge key by key; associative lists merge
    item by item, in the order described in upstream's merge.go: items ``rhs`` names come in ``rhs``
    order, items only ``lhs`` has stay where they were relative to them. Nothing is removed (pruning
    is the caller's business). Returns :data:`ABSENT` when the merge has no value.
    """
    result, issues = _merge(info, lhs, rhs, ())
    if issues:
        raise SchemaError(issues)
    return result


def _merge(info: TypeInfo, lhs: Maybe, rhs: Maybe, path: Path) -> tuple[Maybe, list[SchemaIssue]]:
    if lhs is ABSENT and rhs is ABSENT:
        return ABSENT, _issue(path, "at least one of lhs and rhs must be provided")
    # The aspect of rhs decides; upstream additionally walks lhs's aspect when the two differ, which
    # only re-validates lhs (already validated) and discards the result.
    aspect = _aspect(info, lhs) if rhs is ABSENT else _aspect(info, rhs)
    leaf: Maybe = rhs if rhs is not ABSENT else lhs
    if aspect is None:
        return ABSENT, _issue(path, _INVALID_ATOM)
    if aspect == "scalar":
        kind = info.scalar_kind()
        assert kind is not None
        lhs_issues = _scalar_issues(kind, lhs, path, "lhs: ")
        rhs_issues = _scalar_issues(kind, rhs, path, "rhs: ")
        if lhs_issues and rhs_issues:
            return ABSENT, lhs_issues + rhs_issues
        return leaf, []
    if aspect == "list":
        kind_list = info.list_kind()
        assert kind_list is not None
        lhs_list = lhs if isinstance(lhs, list) else None
        rhs_list = rhs if isinstance(rhs, list) else None
        # Empty or null on both sides is a leaf, which keeps [] and null apart.
        if kind_list.type == "atomic" or (not lhs_list and not rhs_list):
            return leaf, []
        return _merge_list(info, kind_list, lhs_list, rhs_list, path)
    lhs_map = lhs if isinstance(lhs, Mapping) else None
    rhs_map = rhs if isinstance(rhs, Mapping) else None
    if info.map_kind() == "atomic" or (not lhs_map and not rhs_map):
        return leaf, []
    out: dict[str, Any] = {}
    issues: list[SchemaIssue] = []
    keys = list(lhs_map or ()) + [key for key in (rhs_map or ()) if lhs_map is None or key not in lhs_map]
    for key in keys:
        child, _ = _member_type(info, key)
        merged, child_issues = _merge(
            child,
            lhs_map.get(key, ABSENT) if lhs_map is not None else ABSENT,
            rhs_map.get(key, ABSENT) if rhs_map is not None else ABSENT,
            (*path, PathElement.field(key)),
        )
        issues.extend(child_issues)
        if merged is not ABSENT:
            out[key] = merged
    return (out if out else ABSENT), issues


def _index_items(
    info: TypeInfo, kind: ListKind, items: list[JSON] | None, path: Path, *, allow_duplicates: bool
) -> tuple[list[PathElement], dict[PathElement, JSON], list[SchemaIssue]]:
    """``indexListPathElements``: the elements in order, element -> item, and problems."""
    elements: list[PathElement] = []
    observed: dict[PathElement, JSON] = {}
    issues: list[SchemaIssue] = []
    for index, item in enumerate(items or ()):
        try:
            element = list_item_element(info, kind, item)
        except _ItemError as exc:
            issues.extend(_issue(path, f"element {index}: {exc}"))
            continue
        if element in observed:
            if not allow_duplicates:
                issues.extend(_issue(path, f"duplicate entries for key {element}"))
                continue
            # Duplicated items are replaced, not merged: they merge as if they were null.
            observed[element] = None
        else:
            observed[element] = item
        elements.append(element)
    return elements, observed, issues


def _merge_list(
    info: TypeInfo, kind: ListKind, lhs: list[JSON] | None, rhs: list[JSON] | None, path: Path
) -> tuple[Maybe, list[SchemaIssue]]:
    """``mergingWalker.visitListItems``, ordering included."""
    rhs_elements, observed_rhs, issues = _index_items(info, kind, rhs, path, allow_duplicates=False)
    lhs_elements, observed_lhs, lhs_issues = _index_items(info, kind, lhs, path, allow_duplicates=True)
    issues += lhs_issues
    if issues:
        return ABSENT, issues
    shared = [element for element in rhs_elements if element in observed_lhs]
    shared_at = 0

    def next_shared() -> PathElement | None:
        nonlocal shared_at
        if shared_at < len(shared):
            shared_at += 1
            return shared[shared_at - 1]
        return None

    upcoming = next_shared()
    merged_rhs: set[PathElement] = set()
    out: list[JSON] = []
    items = info.items()

    def merge_item(element: PathElement, left: Maybe, right: Maybe) -> None:
        merged, item_issues = _merge(items, left, right, (*path, element))
        issues.extend(item_issues)
        if merged is not ABSENT:
            out.append(merged)

    li = ri = 0
    lhs_count, rhs_count = len(lhs_elements), len(rhs_elements)
    while li < lhs_count or ri < rhs_count:
        if li < lhs_count and ri < rhs_count:
            element = lhs_elements[li]
            if element == rhs_elements[ri]:
                merged_rhs.add(element)
                merge_item(element, observed_lhs[element], observed_rhs[element])
                li += 1
                ri += 1
                upcoming = next_shared()
                continue
            if element in observed_rhs and upcoming is not None and upcoming != element:
                # A shared item, but not the one due now: it is emitted when rhs reaches it.
                li += 1
                continue
        if li < lhs_count:
            element = lhs_elements[li]
            if element not in observed_rhs:
                assert lhs is not None
                merge_item(element, lhs[li], ABSENT)
                li += 1
                continue
            if element in merged_rhs:
                li += 1
        if ri < rhs_count:
            element = rhs_elements[ri]
            merged_rhs.add(element)
            merge_item(element, observed_lhs.get(element, ABSENT), observed_rhs[element])
            ri += 1
            if upcoming is not None and upcoming == element:
                upcoming = next_shared()
    return (out if out else ABSENT), issues


# -- compare --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """``typed.Comparison``: the fields ``rhs`` removed, modified and added relative to ``lhs``."""

    removed: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    added: FieldSet = field(default_factory=FieldSet)

    def is_same(self) -> bool:
        """Whether nothing changed."""
        return self.removed.is_empty() and self.modified.is_empty() and self.added.is_empty()

    def exclude(self, fields: FieldSet | None) -> Comparison:
        """``ExcludeFields``: drop ``fields`` and everything below them from all three sets."""
        if fields is None or fields.is_empty():
            return self
        return Comparison(
            removed=self.removed.recursive_difference(fields),
            modified=self.modified.recursive_difference(fields),
            added=self.added.recursive_difference(fields),
        )


def compare(info: TypeInfo, lhs: JSON, rhs: JSON) -> Comparison:
    """``TypedValue.Compare``: what changed from ``lhs`` to ``rhs``, field by field."""
    comparison = Comparison()
    issues = _compare(info, lhs, rhs, (), comparison)
    if issues:
        raise SchemaError(issues)
    return comparison


def _compare(info: TypeInfo, lhs: Maybe, rhs: Maybe, path: Path, out: Comparison) -> list[SchemaIssue]:
    if lhs is ABSENT and rhs is ABSENT:
        return _issue(path, "at least one of lhs and rhs must be provided")
    lhs_aspect = _aspect(info, lhs)
    rhs_aspect = _aspect(info, rhs)
    issues: list[SchemaIssue] = []
    if rhs is ABSENT:
        leaf = _compare_as(lhs_aspect, info, lhs, rhs, path, out, issues)
    elif lhs is ABSENT or lhs_aspect == rhs_aspect:
        leaf = _compare_as(rhs_aspect, info, lhs, rhs, path, out, issues)
    else:
        # A value that changed kind (possible only where the schema allows several kinds): upstream
        # walks both kinds into the same comparison.
        _compare_as(lhs_aspect, info, lhs, rhs, path, out, issues)
        leaf = _compare_as(rhs_aspect, info, lhs, rhs, path, out, issues)
    if not leaf:
        if lhs is ABSENT:
            out.added._insert(path)
        elif rhs is ABSENT:
            out.removed._insert(path)
    return issues


def _compare_leaf(lhs: Maybe, rhs: Maybe, path: Path, out: Comparison) -> bool:
    if lhs is ABSENT:
        out.added._insert(path)
    elif rhs is ABSENT:
        out.removed._insert(path)
    elif not values_equal(lhs, rhs):
        out.modified._insert(path)
    return True


def _compare_as(
    aspect: Aspect | None,
    info: TypeInfo,
    lhs: Maybe,
    rhs: Maybe,
    path: Path,
    out: Comparison,
    issues: list[SchemaIssue],
) -> bool:
    """Compare as one kind; returns whether the position was a leaf."""
    if aspect is None:
        issues.extend(_issue(path, _INVALID_ATOM))
        return False
    if aspect == "scalar":
        kind = info.scalar_kind()
        assert kind is not None
        lhs_issues = _scalar_issues(kind, lhs, path, "lhs: ")
        rhs_issues = _scalar_issues(kind, rhs, path, "rhs: ")
        if lhs_issues and rhs_issues:
            issues.extend(lhs_issues + rhs_issues)
            return False
        return _compare_leaf(lhs, rhs, path, out)
    if aspect == "list":
        kind_list = info.list_kind()
        assert kind_list is not None
        lhs_list = lhs if isinstance(lhs, list) else None
        rhs_list = rhs if isinstance(rhs, list) else None
        if kind_list.type == "atomic" or (not lhs_list and not rhs_list):
            return _compare_leaf(lhs, rhs, path, out)
        issues.extend(_compare_list(info, kind_list, lhs_list or [], rhs_list or [], path, out))
        return False
    lhs_map = lhs if isinstance(lhs, Mapping) else None
    rhs_map = rhs if isinstance(rhs, Mapping) else None
    if info.map_kind() == "atomic" or (not lhs_map and not rhs_map):
        return _compare_leaf(lhs, rhs, path, out)
    keys = list(lhs_map or ()) + [key for key in (rhs_map or ()) if lhs_map is None or key not in lhs_map]
    for key in keys:
        child, _ = _member_type(info, key)
        issues.extend(
            _compare(
                child,
                lhs_map.get(key, ABSENT) if lhs_map is not None else ABSENT,
                rhs_map.get(key, ABSENT) if rhs_map is not None else ABSENT,
                (*path, PathElement.field(key)),
                out,
            )
        )
    return False


def _compare_list(
    info: TypeInfo, kind: ListKind, lhs: list[JSON], rhs: list[JSON], path: Path, out: Comparison
) -> list[SchemaIssue]:
    """``compareWalker.visitListItems``, including its treatment of duplicated items."""
    issues: list[SchemaIssue] = []
    order: list[PathElement] = []
    lhs_values: dict[PathElement, list[JSON]] = {}
    rhs_values: dict[PathElement, list[JSON]] = {}
    for index, item in enumerate(lhs):
        try:
            element = list_item_element(info, kind, item)
        except _ItemError as exc:
            issues.extend(_issue(path, f"element {index}: {exc}"))
            continue
        if element not in lhs_values:
            order.append(element)
        lhs_values.setdefault(element, []).append(item)
    for index, item in enumerate(rhs):
        try:
            element = list_item_element(info, kind, item)
        except _ItemError as exc:
            issues.extend(_issue(path, f"element {index}: {exc}"))
            continue
        if element not in rhs_values and element not in lhs_values:
            order.append(element)
        rhs_values.setdefault(element, []).append(item)
    items = info.items()
    for element in order:
        left = lhs_values.get(element, [])
        right = rhs_values.get(element, [])
        item_path = (*path, element)
        if len(left) <= 1 and len(right) <= 1:
            issues.extend(_compare(items, left[0] if left else ABSENT, right[0] if right else ABSENT, item_path, out))
        elif len(left) >= 2 and len(right) >= 2:
            # Duplicates before and after: compared as one atomic value.
            if len(left) != len(right) or not all(values_equal(a, b) for a, b in zip(left, right, strict=True)):
                out.modified._insert(item_path)
        elif len(left) >= 2:
            # No longer duplicated: the single new item is added, the duplicate marker removed.
            if right:
                issues.extend(_compare(items, ABSENT, right[0], item_path, out))
            out.removed._insert(item_path)
        else:
            # Newly duplicated: the old single item is removed, the duplicate marker added.
            if left:
                issues.extend(_compare(items, left[0], ABSENT, item_path, out))
            out.added._insert(item_path)
    return issues


def checked_comparison(info: TypeInfo, lhs: JSON, rhs: JSON) -> Comparison | None:
    """``compare(info, lhs, rhs)`` if both fit the schema (duplicates allowed), else None.

    The field manager's update case: what the general path gets from validating both objects and
    comparing them, with subtrees that are the same JSON on both sides validated once and not
    compared (an equal subtree adds nothing to a comparison, and its problems are the old object's).
    ``None`` means the general path would fail; its messages are not needed then.
    """
    if not _fits(info, lhs):
        return None
    out = Comparison()
    if not _diff(info, lhs, rhs, (), out):
        return None
    return out


def _same_json(lhs: JSON, rhs: JSON) -> bool:
    """Whether two values are the same JSON (``==`` alone would equate true with 1, and 1 with 1.0)."""
    if lhs is rhs:
        return True
    if lhs != rhs:
        return False
    try:
        return orjson.dumps(lhs) == orjson.dumps(rhs)
    except (orjson.JSONEncodeError, TypeError):  # integers beyond 64 bits: compared the long way
        return False


def _diff(info: TypeInfo, lhs: JSON, rhs: JSON, path: Path, out: Comparison) -> bool:
    """Compare ``lhs`` (valid) with ``rhs`` into ``out`` and validate ``rhs``; False on any problem."""
    if _same_json(lhs, rhs):
        return True
    if type(lhs) is list and type(rhs) is list and lhs and rhs:
        kind_list = info.list_kind()
        if kind_list is not None and kind_list.type != "atomic":
            # two associative lists (both treated as lists, as _aspect does for a list where one is
            # allowed): _compare_list item by item, each pair diffed in turn
            return _diff_list(info, kind_list, lhs, rhs, path, out)
    map_kind = info.map_kind()
    if not (isinstance(lhs, dict) and isinstance(rhs, dict) and map_kind is not None and map_kind != "atomic"
            and (lhs or rhs)):
        # not two granular maps: validated and compared whole, as the general path does
        return _fits(info, rhs) and not _compare(info, lhs, rhs, path, out)
    # two granular maps: what _compare_as does for them, key by key, each pair diffed in turn
    for key, left in lhs.items():
        element = PathElement.field(key)
        if key in rhs:
            child = info.field(key)
            if child is None:
                child = info.values()
                if child is None:
                    return False  # rhs has a field the schema does not declare
            if not _diff(child, left, rhs[key], (*path, element), out):
                return False
        else:
            removed, _ = _member_type(info, key)
            if _compare(removed, left, ABSENT, (*path, element), out):
                return False
    for key, right in rhs.items():
        if key in lhs:
            continue
        child = info.field(key)
        if child is None:
            child = info.values()
            if child is None:
                return False
        element = PathElement.field(key)
        if not _fits(child, right) or _compare(child, ABSENT, right, (*path, element), out):
            return False
    return True


def _diff_list(info: TypeInfo, kind: ListKind, lhs: list[JSON], rhs: list[JSON], path: Path,
               out: Comparison) -> bool:
    """:func:`_compare_list` of a valid ``lhs`` and ``rhs``, validating ``rhs``; False on any problem.

    Items of the same key on both sides are diffed (an unchanged item is skipped whole); the rest
    is what ``_compare_list`` does, after the ``rhs`` items involved are validated.
    """
    order: list[PathElement] = []
    lhs_values: dict[PathElement, list[JSON]] = {}
    rhs_values: dict[PathElement, list[JSON]] = {}
    try:
        for item in lhs:
            element = list_item_element(info, kind, item)
            if element not in lhs_values:
                order.append(element)
            lhs_values.setdefault(element, []).append(item)
        for item in rhs:
            element = list_item_element(info, kind, item)
            if element not in rhs_values and element not in lhs_values:
                order.append(element)
            rhs_values.setdefault(element, []).append(item)
    except _ItemError:
        return False
    items = info.items()
    for element in order:
        left = lhs_values.get(element, [])
        right = rhs_values.get(element, [])
        item_path = (*path, element)
        if len(left) == 1 and len(right) == 1:
            if not _diff(items, left[0], right[0], item_path, out):
                return False
            continue
        if not all(_fits(items, item) for item in right):
            return False
        if len(left) <= 1 and len(right) <= 1:
            if _compare(items, left[0] if left else ABSENT, right[0] if right else ABSENT, item_path, out):
                return False
        elif len(left) >= 2 and len(right) >= 2:
            if len(left) != len(right) or not all(values_equal(a, b) for a, b in zip(left, right, strict=True)):
                out.modified._insert(item_path)
        elif len(left) >= 2:
            if right and _compare(items, ABSENT, right[0], item_path, out):
                return False
            out.removed._insert(item_path)
        else:
            if left and _compare(items, left[0], ABSENT, item_path, out):
                return False
            out.added._insert(item_path)
    return True


# -- remove ---------------------------------------------------------------------------------------


def remove_items(info: TypeInfo, value: JSON, to_remove: FieldSet) -> JSON:
    """``TypedValue.RemoveItems``: ``value`` without the fields and items in ``to_remove``.

    As upstream, a map or list left with nothing becomes null, and so does a granular map or list
    below a removed path that had nothing left.
    """
    return _remove(info, value, to_remove)


def _remove(info: TypeInfo, value: JSON, to_remove: FieldSet) -> JSON:
    aspect = _aspect(info, value)
    if aspect is None:
        return None
    if aspect == "scalar":
        return value
    if aspect == "list":
        kind = info.list_kind()
        assert kind is not None
        if not isinstance(value, list) or not value or kind.type == "atomic":
            return None
        kept: list[JSON] = []
        items = info.items()
        for item in value:
            try:
                element = list_item_element(info, kind, item)
            except _ItemError:
                kept.append(item)
                continue
            if to_remove.has((element,)):
                continue
            below = to_remove.with_prefix(element)
            kept.append(_remove(items, item, below) if not below.is_empty() else item)
        return kept if kept else None
    if not isinstance(value, Mapping) or not value or info.map_kind() == "atomic":
        return None
    out: dict[str, Any] = {}
    for key, item in value.items():
        element = PathElement.field(key)
        if to_remove.has((element,)):
            continue
        below = to_remove.with_prefix(element)
        if below.is_empty():
            out[key] = item
        else:
            child, _ = _member_type(info, key)
            out[key] = _remove(child, item, below)
    return out if out else None


# -- named fields ---------------------------------------------------------------------------------


def ensure_named_fields_are_members(fields: FieldSet, info: TypeInfo | None) -> FieldSet:
    """``Set.EnsureNamedFieldsAreMembers``: also own every declared struct field something below is owned.

    Map keys and list items are not added (only struct fields), so that pruning a struct field takes
    the whole field while pruning inside a map or list stays granular.
    """
    members = set(fields._members)
    children: dict[PathElement, FieldSet] = {}
    for element, child in fields._children.items():
        child_info: TypeInfo | None = None
        if element.kind is PathElementKind.FIELD and info is not None and info.map_kind() is not None:
            declared = info.field(element.name)
            if declared is not None:
                members.add(element)
                child_info = declared
            else:
                child_info = info.values()
        elif element.kind is PathElementKind.KEY and info is not None and info.list_kind() is not None:
            child_info = info.items()
        children[element] = ensure_named_fields_are_members(child, child_info)
    return FieldSet._make(members, children)


# -- reconcile with schema changes ----------------------------------------------------------------


def _is_untyped_deduced_map(info: TypeInfo) -> bool:
    """``isUntypedDeducedMap``: a free-form map (no declared fields, values of any kind)."""
    values = info.values()
    return not info.field_names() and values is not None and values.scalar_kind() == "untyped"


def reconcile_field_set(fields: FieldSet, info: TypeInfo) -> FieldSet | None:
    """``ReconcileFieldSetWithSchema``: adapt an owned set to lists and maps that became atomic.

    A manager that owned parts of a list or map that the schema now declares atomic owns the whole
    list or map instead. Returns None when nothing needed to change. (Atomic to granular needs no
    change: owning the whole value keeps meaning the same.)
    """
    if fields._fits is info:
        return None
    to_remove = FieldSet()
    to_add = FieldSet()
    _reconcile(info, fields, (), False, to_remove, to_add)
    if to_remove.is_empty() and to_add.is_empty():
        fields._fits = info  # the set is not changed after it is built: the answer holds for good
        return None
    return fields.recursive_difference(to_remove).union(to_add)


def _reconcile(
    info: TypeInfo, fields: FieldSet | None, path: Path, is_atomic: bool, to_remove: FieldSet, to_add: FieldSet
) -> None:
    aspect = _aspect(info, ABSENT)
    if aspect is None or aspect == "scalar":
        return
    if aspect == "list":
        kind = info.list_kind()
        assert kind is not None
        if not is_atomic and kind.type == "atomic":
            to_remove._insert(path)
            to_add._insert(path)
            return
        if fields is not None:
            items = info.items()
            for element, member in _elements(fields):
                child = fields._children.get(element)
                _reconcile(items, child, (*path, element), member and child is None, to_remove, to_add)
        return
    if _is_untyped_deduced_map(info):
        return
    if not is_atomic and info.map_kind() == "atomic":
        if fields is not None and len(fields) > 0:
            to_remove._insert(path)
            to_add._insert(path)
        return
    if fields is not None:
        for element, member in _elements(fields):
            child_info: TypeInfo | None = info.values()
            if element.kind is PathElementKind.FIELD:
                child_info = info.field(element.name) or child_info
            if child_info is None:
                continue  # a field the schema does not know: left alone
            child = fields._children.get(element)
            _reconcile(child_info, child, (*path, element), member and child is None, to_remove, to_add)


def _elements(fields: FieldSet) -> list[tuple[PathElement, bool]]:
    """Children that are not members, then members: the order upstream's reconcile visits them."""
    out = [(element, False) for element in sorted(fields._children) if element not in fields._members]
    out.extend((element, True) for element in sorted(fields._members))
    return out
