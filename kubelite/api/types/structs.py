"""msgspec Structs generated from the built-in kinds' OpenAPI definitions: a one-pass typed check of bodies.

Design
------
The API server keeps objects as JSON dicts (strategies, patches and server-side apply all work on
dicts). What a typed struct per kind gives on top is speed: checking a body against its kind's Go types
(wrong JSON types, unknown fields) is one pass in C with ``msgspec.convert``, where the two schema
walks that word upstream's errors (``kubelite.api.openapi.type_errors`` and ``field_validation``) are
Python loops over every value. So a write first asks :func:`conforms`; only a body that does not
conform (rare: a client mistake) goes through the walks, which say exactly what upstream says.

The structs mirror the walks' rules, so that "conforms" implies "the walks find nothing":

* an object definition with properties -> a Struct of those fields, unknown fields forbidden;
  camelCase wire names are kept (``rename``), Python keywords and other non-identifiers get safe names;
* ``additionalProperties`` -> ``dict[str, T]``; arrays -> ``list[T]``; every value may be ``null``
  (Go decodes null into a zero value);
* string -> ``str``; boolean -> ``bool``; integer -> ``int`` within int32/int64 (a float literal
  never fits a Go integer); number -> ``float``;
* types with their own JSON decoders: Quantity (``str | int | float``), IntOrString (``int | str``),
  Time/MicroTime (``str``); raw JSON (RawExtension, FieldsV1, Patch, schema-less nodes,
  ``x-kubernetes-preserve-unknown-fields``) -> ``Any``.

A definition that refers to itself (apiextensions JSONSchemaProps) gets no struct: its kind always takes
the walks. Structs are generated on first use per kind and cached.
"""

from __future__ import annotations

import keyword
import threading
from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec

from kubelite.api.openapi.definitions import UnknownDefinitionError, definition, ref_name

OPAQUE: Final = frozenset({
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
})
CUSTOM: Final[dict[str, Any]] = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": str | int | float,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": int | str,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": str,
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": str,
}
TYPE_META: Final = ("apiVersion", "kind")
Int32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Recursive(Exception):
    """The definition refers to itself: no struct for its kind."""


class _Builder:
    def __init__(self) -> None:
        self.structs: dict[str, Any] = {}
        self.building: set[str] = set()

    def for_ref(self, name: str) -> Any:
        if name in OPAQUE:
            return Any
        if name in CUSTOM:
            return CUSTOM[name]
        if name in self.structs:
            return self.structs[name]
        if name in self.building:
            raise _Recursive(name)
        self.building.add(name)
        try:
            built = self.for_node(definition(name), struct_name=name.rsplit(".", 1)[-1])
        finally:
            self.building.discard(name)
        self.structs[name] = built
        return built

    def for_node(self, node: Mapping[str, Any], *, struct_name: str = "Inline", top_level: bool = False) -> Any:
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self.for_ref(ref_name(ref))
        if node.get("x-kubernetes-preserve-unknown-fields") is True:
            return Any
        kind = node.get("type")
        if kind == "string":
            return str
        if kind == "boolean":
            return bool
        if kind == "integer":
            return Int32 if node.get("format") == "int32" else Int64
        if kind == "number":
            return float
        if kind == "array":
            items = node.get("items")
            return list[self.for_node(items) | None] if isinstance(items, Mapping) else list[Any]  # type: ignore[misc]
        properties, additional = node.get("properties"), node.get("additionalProperties")
        if kind not in (None, "object") or (properties is None and additional is None and kind != "object"):
            return Any
        if isinstance(additional, Mapping) and properties is None:
            return dict[str, self.for_node(additional) | None]  # type: ignore[misc]
        if additional is True:
            return dict[str, Any]
        return self.struct(struct_name, properties or {}, top_level=top_level)

    def struct(self, name: str, properties: Mapping[str, Any], *, top_level: bool) -> Any:
        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        wire_names = list(properties)
        if top_level:
            wire_names += [key for key in TYPE_META if key not in properties]
        for i, wire in enumerate(wire_names):
            attribute = wire if wire.isidentifier() and not keyword.iskeyword(wire) else f"f{i}_"
            rename[attribute] = wire
            field_type = self.for_node(properties[wire]) if wire in properties else str
            fields.append((attribute, field_type | None, None))
        return msgspec.defstruct(name, fields, forbid_unknown_fields=True, rename=rename)


_lock = threading.Lock()
_roots: dict[str, Any] = {}  # definition name -> struct type, or None (recursive or unknown)


def struct_for(definition_name: str) -> Any:
    """The generated struct of a kind's definition, or None when the kind has none (recursive schema)."""
    try:
        return _roots[definition_name]
    except KeyError:
        pass
    with _lock:
        if definition_name not in _roots:
            try:
                root = definition(definition_name)
                built = _Builder().for_node(root, struct_name=definition_name.rsplit(".", 1)[-1], top_level=True)
            except (_Recursive, UnknownDefinitionError):
                built = None
            _roots[definition_name] = built
    return _roots[definition_name]


def conforms(definition_name: str, obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` has only declared fields, each of its Go type; False when that is not so or
    cannot be told here (then the schema walks decide, and word the errors)."""
    struct = struct_for(definition_name)
    if struct is None:
        return False
    try:
        msgspec.convert(obj, struct)
    except msgspec.ValidationError:
        return False
    return True
