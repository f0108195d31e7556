"""Unknown-field detection for ``fieldValidation=Strict|Warn``, reported the way upstream reports it.

Upstream decodes request bodies into Go structs with sigs.k8s.io/json ``UnmarshalStrict``, which is
case-sensitive and, for every JSON key that matches no struct field, records ``unknown field
"<path>"``. The path is the keys from the root joined by ".", with list positions appended as
``[i]`` and map keys as ordinary keys: ``spec.containers[0].foo``, ``metadata.labels`` never (maps
accept any key), ``spec.template.spec.volumes[1].configMap.bogus``. Errors come in document order,
de-duplicated, at most 100 (the decoder stops recording after that). The apiserver then answers
``fieldValidation=Strict`` with 400 and the message ``strict decoding error: <e1>, <e2>`` and
``fieldValidation=Warn`` with one warning per error.

kubelite has no Go structs, so the same walk runs over the OpenAPI schema of the kind. A schema
node stops the walk (everything below it is accepted, as upstream's custom JSON decoders accept it)
when it is:

* a scalar type: strings, numbers, booleans, and the string-typed Quantity, IntOrString, Time,
  MicroTime;
* marked ``x-kubernetes-preserve-unknown-fields``;
* a type with a custom decoder that keeps raw JSON: RawExtension (``WatchEvent.object``,
  ``ControllerRevision.data``), FieldsV1 (managedFields), meta ``Patch``, and apiextensions
  ``JSON``/``JSONSchemaPropsOr*`` (no ``type`` in the schema);
* a map (``additionalProperties``): keys are free, values are walked with the value schema.

An object schema with properties (or with none, like apiextensions
``CustomResourceSubresourceStatus``, an empty Go struct) accepts exactly those keys. Values whose
JSON type does not match the schema are left alone: that is a type error for validation to report,
not an unknown field. Duplicate keys cannot be seen here (the JSON parser already merged them);
detecting ``duplicate field`` needs the raw body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kubelite.api.openapi.definitions import JSONDict, definition, ref_name
from kubelite.api.validation import go_quote

# Upstream's decoder keeps at most this many strict errors per object.
MAX_STRICT_ERRORS: Final = 100

# Top-level keys every object may carry (TypeMeta), accepted even where a schema omits them.
TYPE_META_FIELDS: Final = frozenset({"apiVersion", "kind"})

# "type: object" definitions whose Go type decodes raw JSON itself, so nothing inside is unknown.
OPAQUE_OBJECT_DEFINITIONS: Final = frozenset({
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
})


def unknown_fields(definition_name: str, obj: Mapping[str, Any]) -> list[str]:
    """The paths of fields in ``obj`` that the definition does not declare, in document order.

    ``definition_name`` is an upstream name such as "io.k8s.api.apps.v1.Deployment" (see
    ``definition_for``); raises UnknownDefinitionError for names the data does not have.
    """
    root = definition(definition_name)
    collector = _Collector()
    _walk(root, obj, "", collector, top_level=True)
    return collector.paths


def unknown_field_message(path: str) -> str:
    """One strict error as upstream words it: ``unknown field "spec.foo"`` (Go ``%q`` quoting)."""
    return f"unknown field {go_quote(path)}"


def strict_decoding_error(paths: list[str]) -> str:
    """The message of upstream's 400 answer for ``fieldValidation=Strict``."""
    return "strict decoding error: " + ", ".join(unknown_field_message(p) for p in paths)


class _Collector:
    """Paths in first-seen order, de-duplicated and capped like upstream's decoder."""

    __slots__ = ("_seen", "paths")

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.paths) >= MAX_STRICT_ERRORS

    def add(self, path: str) -> None:
        if not self.full and path not in self._seen:
            self._seen.add(path)
            self.paths.append(path)


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Follow ``$ref``s; None when the target decodes raw JSON (see OPAQUE_OBJECT_DEFINITIONS)."""
    seen: set[str] = set()
    while True:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node
        name = ref_name(ref)
        if name in OPAQUE_OBJECT_DEFINITIONS or name in seen:
            return None
        seen.add(name)
        node = definition(name)


def _walk(node: Mapping[str, Any], value: Any, path: str, out: _Collector, *,
          top_level: bool = False) -> None:
    if out.full:
        return
    schema = _resolve(node)
    if schema is None or schema.get("x-kubernetes-preserve-unknown-fields") is True:
        return
    kind = schema.get("type")
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        if properties is None and additional is None and kind != "object":
            return  # no type at all: apiextensions JSON and friends keep raw JSON
        if kind not in (None, "object"):
            return  # a type mismatch, reported by validation, not here
        if isinstance(additional, Mapping) and properties is None:
            for key, sub in value.items():
                _walk(additional, sub, _join(path, key), out)
            return
        if additional is True:
            return
        declared: Mapping[str, JSONDict] = properties or {}
        for key, sub in value.items():
            child = declared.get(key)
            if child is None:
                if not (top_level and key in TYPE_META_FIELDS):
                    out.add(_join(path, key))
            elif sub is not None:
                _walk(child, sub, _join(path, key), out)
    elif isinstance(value, list) and kind == "array":
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, element in enumerate(value):
                if element is not None:
                    _walk(items, element, f"{path}[{index}]", out)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
