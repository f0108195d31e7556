"""A CustomResourceDefinition's schema as the OpenAPI v2 document publishes it.

CRD schemas are OpenAPI v3 (``openAPIV3Schema``); the v2 document can carry neither v3's keywords
(``nullable``, ``anyOf``/``oneOf``/``not``/``allOf``) nor, for kubectl's client-side validation,
shapes kubectl cannot cope with. Upstream converts each structural schema for v2 in
apiextensions-apiserver ``pkg/controller/openapi/v2/conversion.go`` (``ToStructuralOpenAPIV2``) and
``builder.go`` (``buildKubeNative``); this module does the same, node by node, top-down:

* junctors (``allOf``, ``anyOf``, ``oneOf``, ``not``) are dropped;
* a ``nullable`` node loses ``type``, ``items`` and ``properties`` (kubectl would refuse a null);
  a nullable property is no longer ``required`` by its parent, and a nullable
  ``additionalProperties`` clears the parent's ``required``;
* an ``x-kubernetes-preserve-unknown-fields`` node loses ``items`` and ``properties`` (kubectl
  would reject the unknown fields) and an ``object`` type;
* an ``array`` left without ``items`` loses its type;
* a kind whose root preserves unknown fields is published as just ``{"type": "object"}`` with its
  group-version-kind: any metadata properties would make kubectl reject every other field;
* an ``x-kubernetes-embedded-resource`` node that does not preserve unknown fields gets the
  ``apiVersion``, ``kind`` and ``metadata`` properties (the first two required), as upstream's
  ``addEmbeddedProperties``: without them kubectl would call an embedded object's own apiVersion an
  unknown field.

Only the keywords a structural schema keeps survive (no ``example``, ``externalDocs``, ...); all of
them are keywords of gnostic's v2 ``Schema``, so the document stays encodable as protobuf.
"""

from __future__ import annotations

from typing import Any, Final

from kubelite.api.openapi.definitions import JSONDict, copy_json

GVK_EXTENSION: Final = "x-kubernetes-group-version-kind"
PRESERVE_UNKNOWN_FIELDS: Final = "x-kubernetes-preserve-unknown-fields"
EMBEDDED_RESOURCE: Final = "x-kubernetes-embedded-resource"
OBJECT_META_REF: Final = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
EMBEDDED_PROPERTIES: Final[JSONDict] = {
    "apiVersion": {"type": "string", "description": "apiVersion defines the versioned schema of this representation "
                   "of an object. Servers should convert recognized schemas to the latest internal value, and may "
                   "reject unrecognized values."},
    "kind": {"type": "string", "description": "kind is a string value representing the REST resource this object "
             "represents. Servers may infer this from the endpoint the client submits requests to."},
    "metadata": {"$ref": OBJECT_META_REF, "description": "Standard object's metadata."},
}

# What a structural schema keeps (Generic, ValueValidation without junctors, $ref for the metadata
# property the API server adds) and v2 can say.
_KEPT: Final = frozenset({
    "$ref", "description", "type", "title", "default", "format", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "multipleOf", "enum", "maxProperties", "minProperties", "required", "items", "properties",
    "additionalProperties",
})
_KEPT_HERE: Final = _KEPT - {"properties", "items", "additionalProperties"}  # sub-schemas: converted below


def published_schema(schema: JSONDict) -> JSONDict:
    """The v2 form of one custom kind's (or list kind's) schema; the input is not modified."""
    if schema.get(PRESERVE_UNKNOWN_FIELDS) is True:
        published: JSONDict = {"type": "object"}
        if GVK_EXTENSION in schema:
            published[GVK_EXTENSION] = copy_json(schema[GVK_EXTENSION])
        return published
    return _node(schema)


def _node(node: JSONDict) -> JSONDict:
    out: JSONDict = {key: copy_json(value) for key, value in node.items()
                     if key in _KEPT_HERE or key.startswith("x-kubernetes-")}
    properties: Any = node.get("properties")
    items: Any = node.get("items")
    additional: Any = node.get("additionalProperties")
    if node.get("nullable") is True:
        out.pop("type", None)
        properties = items = None
    if out.get(PRESERVE_UNKNOWN_FIELDS) is True:
        properties = items = None
    if items is None and out.get("type") == "array":
        out.pop("type")
    if out.get(PRESERVE_UNKNOWN_FIELDS) is True and out.get("type") == "object":
        out.pop("type")
    if isinstance(properties, dict):
        nullable = {name for name, sub in properties.items() if isinstance(sub, dict) and sub.get("nullable") is True}
        if nullable and isinstance(out.get("required"), list):
            _set_required(out, [name for name in out["required"] if name not in nullable])
        out["properties"] = {name: _node(sub) if isinstance(sub, dict) else copy_json(sub)
                             for name, sub in properties.items()}
    if isinstance(items, dict):
        out["items"] = _node(items)
    elif isinstance(items, list):
        out["items"] = [_node(sub) if isinstance(sub, dict) else copy_json(sub) for sub in items]
    if isinstance(additional, dict):
        if additional.get("nullable") is True:
            out.pop("required", None)
        out["additionalProperties"] = _node(additional)
    elif isinstance(additional, bool):
        out["additionalProperties"] = additional
    if out.get(EMBEDDED_RESOURCE) is True and out.get(PRESERVE_UNKNOWN_FIELDS) is not True:
        out["properties"] = {**out.get("properties", {}), **copy_json(EMBEDDED_PROPERTIES)}
        existing = out.get("required")
        required: list[str] = existing if isinstance(existing, list) else []
        _set_required(out, [*required, *(name for name in ("kind", "apiVersion") if name not in required)])
    return out


def _set_required(out: JSONDict, required: list[str]) -> None:
    if required:
        out["required"] = required
    else:
        out.pop("required", None)
