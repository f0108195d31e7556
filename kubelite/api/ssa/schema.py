"""What server-side apply needs to know about a schema: list and map topology, declared fields.

Merging, comparing and computing field sets walk an object and its schema together. At each position
they need to know: whether a list is *atomic* (replaced as a whole), a *set* (of scalars, items owned
by value) or a *map* (items owned by their key fields); whether a map is *granular* (each key owned
separately) or *atomic*; which field names a struct declares (a declared field that is a non-empty
struct is not itself owned, only its leaves are) and what undeclared keys may hold; and the default
of key fields (a port's ``protocol`` key defaults to "TCP").

:class:`TypeInfo` is that question list, asked of one position of an object; navigation
(:meth:`~TypeInfo.field`, :meth:`~TypeInfo.values`, :meth:`~TypeInfo.items`) yields the TypeInfo of a
child. It is positional rather than path-based because the walkers already descend the object and
because schema-less ("deduced") positions have no fixed kind: a free-form value may be a scalar, a
list or a map, so a position answers for each kind it allows (``None`` when it allows none).

Two implementations convert OpenAPI schemas the way upstream's kube-openapi ``pkg/schemaconv``
(openapi.go, smd.go) does for the API server's type converter:

* :class:`OpenAPITypeInfo` -- the built-in kinds, from kubelite's packaged copy of upstream's OpenAPI
  definitions (:mod:`kubelite.api.openapi`); ``default`` values of fields come from the v3 data.
* :class:`CRDTypeInfo` -- a custom resource version, from its structural ``openAPIV3Schema`` dict.
  As apiextensions-apiserver's builder does, the root and every ``x-kubernetes-embedded-resource``
  object get ``apiVersion``/``kind`` strings and ``metadata`` typed as the built-in ObjectMeta.

Conversion rules (schemaconv):

* ``x-kubernetes-list-type``: ``atomic``, ``set``, ``map`` (keys from ``x-kubernetes-list-map-keys``).
  Without it, a list with ``x-kubernetes-patch-strategy`` ``merge`` (or ``merge,retainKeys``) is a map
  list keyed by ``x-kubernetes-patch-merge-key``, or a set when there is no merge key; every other list
  is atomic.
* ``x-kubernetes-map-type``: ``atomic`` or ``granular`` (the default); on a field that refers to a
  named type it overrides the named type's own topology.
* Objects without ``properties`` or ``additionalProperties``, ``additionalProperties: true``, and
  objects under ``x-kubernetes-preserve-unknown-fields: true`` accept unknown keys whose values are
  *deduced*: maps granular, lists atomic, scalars anything. Schemas without ``type`` (int-or-string,
  free-form JSON) allow scalars, atomic lists and deduced maps. A list without ``items`` holds
  untyped atomic values.
* Scalars: ``integer``/``number`` are numeric, ``boolean`` boolean, ``string`` a string unless it has a
  ``format`` other than ``byte`` (date-time, int-or-string, ...), which makes it untyped.
  ``Quantity`` is an untyped scalar; ``RawExtension`` is untyped and atomic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeAlias

from kubelite.api.openapi.definitions import definition, definition_for, ref_name, schema_data

JSON: TypeAlias = Any

ListType: TypeAlias = Literal["atomic", "set", "map"]
MapType: TypeAlias = Literal["atomic", "granular"]
ScalarType: TypeAlias = Literal["numeric", "string", "boolean", "untyped"]

QUANTITY: Final = "io.k8s.apimachinery.pkg.api.resource.Quantity"
RAW_EXTENSION: Final = "io.k8s.apimachinery.pkg.runtime.RawExtension"
OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass(frozen=True, slots=True)
class ListKind:
    """How a list merges: ``atomic``, ``set`` (of scalars) or ``map`` (items keyed by ``keys``)."""

    type: ListType
    keys: tuple[str, ...] = ()


ATOMIC_LIST: Final = ListKind("atomic")


class TypeInfo(Protocol):
    """The schema of the value at one position of an object, as server-side apply sees it."""

    def scalar_kind(self) -> ScalarType | None:
        """The scalars allowed here, or None when a scalar is not allowed."""
        ...

    def list_kind(self) -> ListKind | None:
        """How a list here merges, or None when a list is not allowed."""
        ...

    def map_kind(self) -> MapType | None:
        """How a map (or struct) here merges, or None when a map is not allowed."""
        ...

    def items(self) -> TypeInfo:
        """The schema of the items of a list here."""
        ...

    def field(self, name: str) -> TypeInfo | None:
        """The schema of the declared struct field ``name``, or None if it is not declared."""
        ...

    def field_names(self) -> tuple[str, ...]:
        """The declared struct fields (empty for plain maps)."""
        ...

    def field_default(self, name: str) -> JSON:
        """The schema default of the declared field ``name`` (None when it has none)."""
        ...

    def values(self) -> TypeInfo | None:
        """The schema of undeclared keys of a map here, or None when they are not allowed."""
        ...


class _FixedType:
    """A position whose answers do not depend on any schema: the untyped and deduced types."""

    __slots__ = ("_items", "_list", "_map", "_name", "_values")

    def __init__(self, *, name: str, map_kind: MapType) -> None:
        self._name = name
        self._list = ATOMIC_LIST
        self._map: MapType = map_kind
        self._items: TypeInfo = self
        self._values: TypeInfo = self

    def scalar_kind(self) -> ScalarType | None:
        return "untyped"

    def list_kind(self) -> ListKind | None:
        return self._list

    def map_kind(self) -> MapType | None:
        return self._map

    def items(self) -> TypeInfo:
        return self._items

    def field(self, name: str) -> TypeInfo | None:
        return None

    def field_names(self) -> tuple[str, ...]:
        return ()

    def field_default(self, name: str) -> JSON:
        return None

    def values(self) -> TypeInfo | None:
        return self._values

    def __repr__(self) -> str:
        return self._name


UNTYPED_ATOMIC: Final = _FixedType(name="__untyped_atomic_", map_kind="atomic")
"""Anything, owned as a whole (schemaconv ``__untyped_atomic_``)."""

DEDUCED: Final = _FixedType(name="__untyped_deduced_", map_kind="granular")
"""Anything; maps granular with deduced values, lists atomic (schemaconv ``__untyped_deduced_``)."""
DEDUCED._items = UNTYPED_ATOMIC


def deduced_type_info() -> TypeInfo:
    """The type of objects without a schema: every map granular, every list atomic."""
    return DEDUCED


class _ScalarType:
    """A position that holds only scalars (also Quantity)."""

    __slots__ = ("_kind",)

    def __init__(self, kind: ScalarType) -> None:
        self._kind: ScalarType = kind

    def scalar_kind(self) -> ScalarType | None:
        return self._kind

    def list_kind(self) -> ListKind | None:
        return None

    def map_kind(self) -> MapType | None:
        return None

    def items(self) -> TypeInfo:
        return UNTYPED_ATOMIC

    def field(self, name: str) -> TypeInfo | None:
        return None

    def field_names(self) -> tuple[str, ...]:
        return ()

    def field_default(self, name: str) -> JSON:
        return None

    def values(self) -> TypeInfo | None:
        return None

    def __repr__(self) -> str:
        return f"scalar({self._kind})"


_SCALARS: Final[dict[ScalarType, _ScalarType]] = {
    kind: _ScalarType(kind) for kind in ("numeric", "string", "boolean", "untyped")
}


def _scalar_of(schema: Mapping[str, Any]) -> ScalarType:
    """schemaconv ``convertPrimitive``."""
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return "numeric"
    if kind == "boolean":
        return "boolean"
    if kind == "string" and schema.get("format", "") in ("", "byte"):
        return "string"
    return "untyped"


def _list_kind_of(schema: Mapping[str, Any]) -> ListKind:
    """schemaconv ``getListElementRelationship`` (errors there make the list atomic here)."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type == "set":
            return ListKind("set")
        if list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys")
            if isinstance(keys, list | tuple):
                return ListKind("map", tuple(key for key in keys if isinstance(key, str)))
            # Associative without keys behaves as a set upstream.
            return ListKind("set")
        return ATOMIC_LIST
    strategy = schema.get("x-kubernetes-patch-strategy")
    if strategy in ("merge", "merge,retainKeys"):
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        if isinstance(merge_key, str):
            return ListKind("map", (merge_key,))
        return ListKind("set")
    return ATOMIC_LIST


def _map_kind_of(schema: Mapping[str, Any]) -> MapType | None:
    """schemaconv ``getMapElementRelationship``: None when unset."""
    map_type = schema.get("x-kubernetes-map-type")
    if map_type == "atomic":
        return "atomic"
    if map_type == "granular":
        return "granular"
    return None


def _ref_of(schema: Mapping[str, Any]) -> str | None:
    """A ``$ref``, also in the single-element ``allOf`` form v3 documents use for annotated refs."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
        inner = all_of[0].get("$ref")
        if isinstance(inner, str):
            return inner
    return None


def _ref_definition_name(ref: str) -> str:
    """The definition name of a v2 (``#/definitions/``) or v3 (``#/components/schemas/``) ref."""
    if ref.startswith("#/components/schemas/"):
        return ref[len("#/components/schemas/"):]
    return ref_name(ref)


class _SchemaNode:
    """One OpenAPI schema node converted as schemaconv does; children are converted on first use.

    Subclasses say where named types (``$ref``) come from, where field defaults live and which
    properties a node has beyond its schema's own.
    """

    __slots__ = ("_cache", "_fields", "_list", "_lock", "_map", "_preserve", "_scalar", "_schema")

    def __init__(self, schema: Mapping[str, Any], *, preserve_unknown: bool, map_override: MapType | None) -> None:
        self._schema = schema
        # name -> field type (None: not declared); every walk over an object asks this per key
        self._fields: dict[str, TypeInfo | None] = {}
        # A node with x-kubernetes-preserve-unknown-fields opts itself and its inline descendants in.
        self._preserve = preserve_unknown or schema.get("x-kubernetes-preserve-unknown-fields") is True
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()
        kind = schema.get("type", "")
        self._scalar: ScalarType | None = None
        self._list: ListKind | None = None
        self._map: MapType | None = None
        if kind in ("", None):
            self._scalar = "untyped"
            self._list = _list_kind_of(schema)
            self._map = _map_kind_of(schema) or "granular"
        elif kind == "object":
            self._map = _map_kind_of(schema) or "granular"
        elif kind == "array":
            self._list = _list_kind_of(schema)
        elif kind in ("integer", "number", "string", "boolean"):
            self._scalar = _scalar_of(schema)
        else:
            self._scalar = "untyped"  # schemaconv reports "unrecognized type" and uses untyped
        # A field's x-kubernetes-map-type overrides the topology of the named type it refers to.
        if map_override is not None:
            if self._map is not None:
                self._map = map_override
            elif self._list is not None and map_override == "atomic":
                self._list = ATOMIC_LIST

    # -- hooks ----------------------------------------------------------------------------------

    def _named(self, name: str, *, map_override: MapType | None) -> TypeInfo:
        raise NotImplementedError

    def _inline(self, schema: Mapping[str, Any], *, pointer: str) -> TypeInfo:
        raise NotImplementedError

    def _properties(self) -> Mapping[str, Any]:
        properties = self._schema.get("properties")
        return properties if isinstance(properties, Mapping) else {}

    def _default(self, name: str) -> JSON:
        member = self._properties().get(name)
        return member.get("default") if isinstance(member, Mapping) else None

    # -- conversion -----------------------------------------------------------------------------

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        try:
            return self._cache[key]
        except KeyError:
            pass
        value = build()
        with self._lock:
            return self._cache.setdefault(key, value)

    def _ref_or_inline(self, member: Mapping[str, Any], *, pointer: str) -> TypeInfo:
        """schemaconv ``makeOpenAPIRef``."""
        ref = _ref_of(member)
        if ref is not None:
            return self._named(_ref_definition_name(ref), map_override=_map_kind_of(member))
        return self._inline(member, pointer=pointer)

    # -- TypeInfo -------------------------------------------------------------------------------

    def scalar_kind(self) -> ScalarType | None:
        return self._scalar

    def list_kind(self) -> ListKind | None:
        return self._list

    def map_kind(self) -> MapType | None:
        return self._map

    def items(self) -> TypeInfo:
        def build() -> TypeInfo:
            items = self._schema.get("items")
            if isinstance(items, Mapping):
                return self._ref_or_inline(items, pointer="/items")
            if isinstance(items, list):
                return DEDUCED  # schemaconv: "structural schema arrays must have exactly one member subtype"
            return UNTYPED_ATOMIC

        info: TypeInfo = self._cached("[]", build)
        return info

    def field(self, name: str) -> TypeInfo | None:
        try:
            return self._fields[name]
        except KeyError:
            pass
        found = self._field(name)
        if found is not None or len(self._fields) < 4096:  # undeclared names (map keys) are not all kept
            self._fields[name] = found
        return found

    def _field(self, name: str) -> TypeInfo | None:
        if self._map is None:
            return None
        member = self._properties().get(name)
        if not isinstance(member, Mapping):
            return None
        info: TypeInfo = self._cached(
            "." + name, lambda: self._ref_or_inline(member, pointer="/properties/" + _escape_pointer(name))
        )
        return info

    def field_names(self) -> tuple[str, ...]:
        return tuple(self._properties()) if self._map is not None else ()

    def field_default(self, name: str) -> JSON:
        return self._default(name)

    def values(self) -> TypeInfo | None:
        if self._map is None:
            return None

        def build() -> TypeInfo | None:
            additional = self._schema.get("additionalProperties")
            if additional is None:
                # An object without properties is free-form; with properties it is closed unless
                # unknown fields are preserved.
                return DEDUCED if self._preserve or not self._properties() else None
            if isinstance(additional, Mapping):
                return self._ref_or_inline(additional, pointer="/additionalProperties")
            return DEDUCED if additional is True else None

        info: TypeInfo | None = self._cached("{}", build)
        return info


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


_builtin_cache: dict[tuple[str, MapType | None], TypeInfo] = {}
_builtin_lock = threading.Lock()


class OpenAPITypeInfo(_SchemaNode):
    """A position in a built-in kind, described by kubelite's packaged upstream OpenAPI definitions."""

    __slots__ = ("_definition", "_pointer")

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        definition_name: str,
        pointer: str = "",
        preserve_unknown: bool = False,
        map_override: MapType | None = None,
    ) -> None:
        super().__init__(schema, preserve_unknown=preserve_unknown, map_override=map_override)
        self._definition = definition_name
        self._pointer = pointer

    @classmethod
    def for_definition(cls, name: str, *, map_override: MapType | None = None) -> TypeInfo:
        """The type of a named definition, e.g. "io.k8s.api.apps.v1.Deployment" (shared, cached).

        Raises ``UnknownDefinitionError`` (a LookupError) for names the packaged data lacks.
        """
        key = (name, map_override)
        cached = _builtin_cache.get(key)
        if cached is not None:
            return cached
        info: TypeInfo
        if name == QUANTITY:
            info = _SCALARS["untyped"]
        elif name == RAW_EXTENSION:
            info = UNTYPED_ATOMIC
        else:
            # Named types start over with preserve-unknown-fields off, as schemaconv converts each
            # definition on its own.
            info = cls(definition(name), definition_name=name, map_override=map_override)
        with _builtin_lock:
            return _builtin_cache.setdefault(key, info)

    def _named(self, name: str, *, map_override: MapType | None) -> TypeInfo:
        return OpenAPITypeInfo.for_definition(name, map_override=map_override)

    def _inline(self, schema: Mapping[str, Any], *, pointer: str) -> TypeInfo:
        return OpenAPITypeInfo(
            schema,
            definition_name=self._definition,
            pointer=self._pointer + pointer,
            preserve_unknown=self._preserve,
        )

    def _default(self, name: str) -> JSON:
        # Upstream's published v2 document drops field defaults; the type converter sees them in
        # the Go-generated definitions, whose defaults the packaged v3 data carries.
        defaults = schema_data().v3_defaults.get(self._definition, {})
        return defaults.get(f"{self._pointer}/properties/{_escape_pointer(name)}", super()._default(name))

    def __repr__(self) -> str:
        return f"OpenAPITypeInfo({self._definition!r}{', ' + repr(self._pointer) if self._pointer else ''})"


class CRDTypeInfo(_SchemaNode):
    """A position in a custom resource, described by its CRD version's structural schema."""

    __slots__ = ("_embedded",)

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        root: bool = False,
        preserve_unknown: bool = False,
    ) -> None:
        super().__init__(schema, preserve_unknown=preserve_unknown, map_override=None)
        # apiextensions-apiserver's builder gives the root and embedded resources TypeMeta and
        # ObjectMeta properties, so metadata merges like any built-in object's.
        self._embedded = root or schema.get("x-kubernetes-embedded-resource") is True

    def _properties(self) -> Mapping[str, Any]:
        own = super()._properties()
        if not self._embedded:
            return own
        merged = dict(own)
        merged["apiVersion"] = {"type": "string"}
        merged["kind"] = {"type": "string"}
        merged["metadata"] = {"$ref": "#/definitions/" + OBJECT_META}
        return merged

    def _named(self, name: str, *, map_override: MapType | None) -> TypeInfo:
        return OpenAPITypeInfo.for_definition(name, map_override=map_override)

    def _inline(self, schema: Mapping[str, Any], *, pointer: str) -> TypeInfo:
        return CRDTypeInfo(schema, preserve_unknown=self._preserve)

    def __repr__(self) -> str:
        return f"CRDTypeInfo(type={self._schema.get('type', '')!r})"


class UnknownKindError(LookupError):
    """A group/version/kind that kubelite's packaged OpenAPI data does not describe."""


def type_info_for_kind(group: str, version: str, kind: str) -> TypeInfo:
    """The type of a built-in kind ("" is the core group), e.g. ``("apps", "v1", "Deployment")``."""
    name = definition_for(group, version, kind)
    if name is None:
        gv = f"{group}/{version}" if group else version
        raise UnknownKindError(
            f"no OpenAPI schema for kind {kind!r} in {gv!r}: server-side apply of built-in kinds needs "
            "the kind to be in kubelite's packaged Kubernetes schema data"
        )
    return OpenAPITypeInfo.for_definition(name)


def type_info_for_definition(name: str) -> TypeInfo:
    """The type of a named upstream definition, e.g. "io.k8s.api.core.v1.PodSpec"."""
    return OpenAPITypeInfo.for_definition(name)


def type_info_from_crd_schema(schema: Mapping[str, Any] | None, *, preserve_unknown_fields: bool = False) -> TypeInfo:
    """The type of a custom resource from its version's ``openAPIV3Schema`` (None: no schema).

    ``preserve_unknown_fields`` is the CRD's deprecated ``spec.preserveUnknownFields`` (always false
    for apiextensions.k8s.io/v1). Without a schema every field is deduced, as upstream's
    ``DeducedTypeConverter``.
    """
    if schema is None:
        return DEDUCED
    return CRDTypeInfo(schema, root=True, preserve_unknown=preserve_unknown_fields)
