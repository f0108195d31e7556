"""JSON type errors in request bodies, reported as upstream's decoder reports them.

Upstream decodes a body into the kind's Go struct before anything else; a JSON value of the wrong type
(a string where ``spec`` is an object, a number among string labels) fails the whole request with 400
BadRequest: ``Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go
struct field Pod.spec of type v1.PodSpec``. Go's decoder reports the first such error in document
order; its "struct field" is the innermost struct's name and the path of JSON keys from the root
(list positions and map keys are not part of it), its type the Go type of the field.

kubelite keeps objects as JSON dicts, so the same check walks the kind's OpenAPI schema (which mirrors
the Go types: ``$ref`` -> struct, ``additionalProperties`` -> map, ``items`` -> slice, ``format`` ->
sized numbers and ``[]byte``). Types with their own JSON decoders (Quantity, IntOrString, Time,
MicroTime, RawExtension, FieldsV1, apiextensions JSON) are left to validation, which words their
errors as their decoders do; ``null`` decodes into anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kubelite.api.openapi.definitions import definition, ref_name

# Go types whose UnmarshalJSON accepts several JSON types or parses a string itself.
CUSTOM_DECODERS: Final = frozenset({
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
})


class _TypeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _go_name(definition_name: str) -> str:
    """'io.k8s.api.core.v1.PodSpec' -> 'v1.PodSpec' (Go prints a type as package.Name)."""
    parts = definition_name.split(".")
    return f"{parts[-2]}.{parts[-1]}"


def _go_type(node: Mapping[str, Any]) -> str:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _go_name(ref_name(ref))
    kind, fmt = node.get("type"), node.get("format")
    if kind == "string":
        return "[]uint8" if fmt == "byte" else "string"
    if kind == "integer":
        return fmt if fmt in ("int32", "int64") else "int"
    if kind == "number":
        return "float64"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        items = node.get("items")
        return "[]" + (_go_type(items) if isinstance(items, Mapping) else "interface {}")
    if kind == "object":
        additional = node.get("additionalProperties")
        return "map[string]" + (_go_type(additional) if isinstance(additional, Mapping) else "interface {}")
    return "interface {}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def first_type_error(definition_name: str, obj: Mapping[str, Any]) -> str | None:
    """Go's ``json: cannot unmarshal ...`` for the first mistyped value of ``obj``, or None.

    ``definition_name`` is an upstream name such as "io.k8s.api.core.v1.Pod"; raises
    UnknownDefinitionError for names the schema data does not have.
    """
    root = definition(definition_name)
    struct = definition_name.rsplit(".", 1)[-1]
    try:
        _walk_struct(root, obj, struct, ())
    except _TypeError as exc:
        return exc.message
    return None


def _fail(value: Any, struct: str, fields: tuple[str, ...], go_type: str) -> _TypeError:
    what = _json_kind(value)
    if what == "number" and go_type.startswith(("int", "uint")):
        what = f"number {value!r}"  # Go names the literal when a number does not fit an integer
    where = f"Go struct field {struct}.{'.'.join(fields)}" if fields else "Go value"
    return _TypeError(f"json: cannot unmarshal {what} into {where} of type {go_type}")


def _walk_struct(schema: Mapping[str, Any], value: Mapping[str, Any], struct: str, fields: tuple[str, ...]) -> None:
    properties = schema.get("properties")
    if type(properties) is not dict:
        return
    for key, sub in value.items():
        child = properties.get(key)
        if child is not None and sub is not None:
            _walk(child, sub, struct, (*fields, key))


# $ref -> (definition name, its schema, its struct name), or None for raw-JSON types: the walk runs on
# every write, so each reference is resolved once
_REFS: dict[str, tuple[str, Mapping[str, Any], str] | None] = {}


def _resolve(ref: str) -> tuple[str, Mapping[str, Any], str] | None:
    try:
        return _REFS[ref]
    except KeyError:
        pass
    name = ref_name(ref)
    target = definition(name)
    resolved = None
    # custom decoders and apiextensions JSON and friends (raw JSON, any type) are not checked here
    if name not in CUSTOM_DECODERS and target.get("type") == "object" and \
            target.get("x-kubernetes-preserve-unknown-fields") is not True:
        resolved = (name, target, name.rsplit(".", 1)[-1])
    _REFS[ref] = resolved
    return resolved


def _walk(node: Mapping[str, Any], value: Any, struct: str, fields: tuple[str, ...]) -> None:
    ref = node.get("$ref")
    if ref is not None:
        resolved = _resolve(ref)
        if resolved is None:
            return
        name, target, struct_name = resolved
        if type(value) is not dict:
            raise _fail(value, struct, fields, _go_name(name))
        _walk_struct(target, value, struct_name, fields)
        return
    if node.get("x-kubernetes-preserve-unknown-fields") is True:
        return
    kind = node.get("type")
    if kind == "string":
        if type(value) is not str:
            raise _fail(value, struct, fields, _go_type(node))
    elif kind == "object":
        if type(value) is not dict:
            raise _fail(value, struct, fields, _go_type(node))
        additional = node.get("additionalProperties")
        if type(additional) is dict:
            for sub in value.values():
                if sub is not None:
                    _walk(additional, sub, struct, fields)
        else:
            _walk_struct(node, value, struct, fields)
    elif kind == "array":
        if type(value) is not list:
            raise _fail(value, struct, fields, _go_type(node))
        items = node.get("items")
        if type(items) is dict:
            for element in value:
                if element is not None:
                    _walk(items, element, struct, fields)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(value, struct, fields, "bool")
    elif kind == "integer":
        # a literal with a fraction or exponent (parsed as float) never fits a Go integer, nor one out of range
        go_type = _go_type(node)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(value, struct, fields, go_type)
        bits = 32 if go_type == "int32" else 64
        if isinstance(value, float) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise _fail(value, struct, fields, go_type)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(value, struct, fields, "float64")
