"""Strategic-merge-patch metadata of every field, read from the OpenAPI extensions upstream publishes.

A strategic merge patch needs, for each field it walks into, the patch strategy
(``x-kubernetes-patch-strategy``: "merge", "replace", "retainKeys", or a comma-separated
combination such as "merge,retainKeys") and, for lists merged by key, the merge key
(``x-kubernetes-patch-merge-key``, e.g. "name" for ``PodSpec.containers``). Upstream's
``kubectl`` and API server read the same extensions from the same OpenAPI data
(k8s.io/apimachinery ``strategicpatch.PatchMetaFromOpenAPI``), so answering from it keeps
kubelite's patches identical to theirs.

Shape: :class:`FieldMeta` and the :class:`MergeSchema` protocol match what ``kubelite.api.patch``
declares, structurally (this module does not import it). A MergeSchema is a lazy view of one
object schema: ``field(name)`` resolves the field on first use and caches it, so self-referencing
types (JSONSchemaProps) cost nothing until walked. For a list field ``FieldMeta.schema`` is the
schema of its items; for a map field (``additionalProperties``) it is a schema whose ``field(key)``
answers the value schema for any key. Scalars and opaque values (Quantity, IntOrString, Time,
RawExtension, preserve-unknown-fields) have ``schema=None``. The list/map type extensions used by
server-side apply ride along as extra attributes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubelite.api.openapi.definitions import JSONDict, definition, ref_name


class MergeSchema(Protocol):
    """The schema of an object (or of a map's values) as far as patching needs it."""

    def field(self, name: str) -> FieldMeta | None:
        """Metadata of field ``name``, or None when the schema has no such field."""
        ...


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """Patch metadata of one field.

    ``strategies``: the patch strategies (empty: the default, i.e. replace lists, merge maps);
    ``merge_key``: the key that identifies list items when ``"merge"`` is a strategy;
    ``schema``: the schema of the value (of its items for lists, of its values for maps), None for
    scalars and opaque values; ``list_type``/``list_map_keys``/``map_type``: the
    ``x-kubernetes-list-type``/``-list-map-keys``/``-map-type`` extensions (server-side apply).
    """

    strategies: frozenset[str]
    merge_key: str | None
    schema: MergeSchema | None
    list_type: str | None = None
    list_map_keys: tuple[str, ...] = ()
    map_type: str | None = None

    @property
    def merges(self) -> bool:
        """Whether lists under this field merge (by ``merge_key`` for lists of objects)."""
        return "merge" in self.strategies

    @property
    def replaces(self) -> bool:
        """Whether this field's value is replaced wholesale (``$patch: replace`` semantics)."""
        return "replace" in self.strategies


class ObjectMergeSchema:
    """The fields of an object schema, resolved lazily and cached."""

    __slots__ = ("_fields", "_lock", "_properties", "name")

    def __init__(self, *, name: str, properties: Mapping[str, JSONDict]) -> None:
        self.name = name
        self._properties = properties
        self._fields: dict[str, FieldMeta] = {}
        self._lock = threading.Lock()

    def field(self, name: str) -> FieldMeta | None:
        meta = self._fields.get(name)
        if meta is None:
            node = self._properties.get(name)
            if node is None:
                return None
            meta = _field_meta(node)
            with self._lock:
                meta = self._fields.setdefault(name, meta)
        return meta

    def field_names(self) -> list[str]:
        """The declared field names, in schema order."""
        return list(self._properties)

    def __repr__(self) -> str:
        return f"ObjectMergeSchema({self.name!r})"


class MapMergeSchema:
    """The values of a map (``additionalProperties``): every key has the same value schema."""

    __slots__ = ("_meta", "_value", "name")

    def __init__(self, *, name: str, value: JSONDict) -> None:
        self.name = name
        self._value = value
        self._meta: FieldMeta | None = None

    def field(self, name: str) -> FieldMeta | None:
        if self._meta is None:
            self._meta = _field_meta(self._value)
        return self._meta

    def __repr__(self) -> str:
        return f"MapMergeSchema({self.name!r})"


class _OpaqueMergeSchema:
    """A definition that is not an object with fields (Quantity, Time, RawExtension, ...)."""

    __slots__ = ("name",)

    def __init__(self, *, name: str) -> None:
        self.name = name

    def field(self, name: str) -> FieldMeta | None:
        return None

    def __repr__(self) -> str:
        return f"OpaqueMergeSchema({self.name!r})"


_by_definition: dict[str, MergeSchema | None] = {}
_by_definition_lock = threading.Lock()


def merge_schema_for(definition_name: str) -> MergeSchema:
    """The merge schema of a definition, e.g. "io.k8s.api.apps.v1.Deployment".

    Raises UnknownDefinitionError for names the data does not have. A definition without fields
    (Quantity, Time, ...) gets a schema whose ``field`` always answers None.
    """
    schema = _definition_schema(definition_name)
    return schema if schema is not None else _OpaqueMergeSchema(name=definition_name)


def _definition_schema(name: str) -> MergeSchema | None:
    try:
        return _by_definition[name]
    except KeyError:
        pass
    schema = _node_schema(definition(name), name=name)
    with _by_definition_lock:
        return _by_definition.setdefault(name, schema)


def _node_schema(node: Mapping[str, Any], *, name: str) -> MergeSchema | None:
    """The merge schema of a value described by ``node`` (of its items when it is a list)."""
    if node.get("x-kubernetes-preserve-unknown-fields") is True:
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _definition_schema(ref_name(ref))
    if node.get("type") == "array":
        items = node.get("items")
        # A list of lists has no per-item object schema a patch could merge by.
        if isinstance(items, Mapping) and items.get("type") != "array":
            return _node_schema(items, name=f"{name}[]")
        return None
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        return ObjectMergeSchema(name=name, properties=properties)
    additional = node.get("additionalProperties")
    if isinstance(additional, Mapping):
        return MapMergeSchema(name=f"{name}{{}}", value=dict(additional))
    return None


def _field_meta(node: Mapping[str, Any]) -> FieldMeta:
    strategy = node.get("x-kubernetes-patch-strategy")
    strategies = frozenset(
        part.strip() for part in strategy.split(",") if part.strip()
    ) if isinstance(strategy, str) else frozenset()
    merge_key = node.get("x-kubernetes-patch-merge-key")
    map_type = node.get("x-kubernetes-map-type")
    ref = node.get("$ref")
    if map_type is None and isinstance(ref, str):
        # Upstream marks atomic structs (LabelSelector, ...) on the definition, not on each field.
        map_type = definition(ref_name(ref)).get("x-kubernetes-map-type")
    return FieldMeta(
        strategies=strategies,
        merge_key=merge_key if isinstance(merge_key, str) else None,
        schema=_node_schema(node, name=_describe(node)),
        list_type=node.get("x-kubernetes-list-type"),
        list_map_keys=tuple(node.get("x-kubernetes-list-map-keys", ())),
        map_type=map_type,
    )


def _describe(node: Mapping[str, Any]) -> str:
    """A readable name for an inline (anonymous) schema, used only in reprs."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return ref_name(ref)
    return str(node.get("type", "object"))
