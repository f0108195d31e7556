"""The /openapi/v2 document as gnostic's ``openapi.v2.Document`` protobuf (what kubectl asks for).

client-go's discovery ``OpenAPISchema()`` GETs ``/openapi/v2`` with ``Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and unmarshals the body as the
``openapi.v2.Document`` of google/gnostic-models without looking at the content type; kubectl's
client-side validation (``kubectl apply -f`` of a ``kind: List``, ``--validate`` against kinds the
server cannot validate) and ``kubectl apply``'s fallback patch metadata read it. Upstream builds the
bytes as kube-openapi's ``ToProtoBinary`` does: gnostic's ``ParseDocument`` over the JSON, then
``proto.Marshal``. :func:`encode_document` produces the same messages from the JSON document.

Design
------
One source of truth for the wire contract: ``openapiv2.proto`` (gnostic's message and field names
and numbers; ``generate.sh --compare-upstream`` checks them) compiled to ``openapiv2_pb2``. The
encoder does not build message objects; it reads the generated *descriptors* once into a plan per
message (JSON key -> pre-encoded tag, scalar kind, sub-message) and writes bytes straight from the
JSON dicts, so building the ~1 MB document costs one pass over it. The generated classes parse the
bytes back in the tests.

How gnostic maps JSON onto the messages (``openapiv2/OpenAPIv2.go``), and so how this module does:

* a field's JSON key is its name in lowerCamelCase (``base_path`` -> ``basePath``; ``_ref`` ->
  ``$ref``); keys starting with ``x-`` go to ``vendor_extension`` as ``NamedAny`` pairs;
* a JSON object used as a map (``definitions``, ``properties``, security requirements, ...) is a
  message whose one field ``additional_properties`` lists ``Named*`` (name, value) pairs in document
  order; in ``Paths`` the ``/...`` keys are ``path`` entries, in ``Responses`` the status codes and
  ``default`` are ``response_code`` entries;
* any JSON value (``default``, ``example``, ``enum`` members, vendor extensions) is an ``Any`` whose
  ``yaml`` field holds the value as YAML text (gnostic's ``compiler.Marshal``: block style); kubectl
  reads ``x-kubernetes-group-version-kind`` by parsing that YAML;
* ``type`` is a ``TypeItem`` (one name or a list), ``items`` an ``ItemsItem`` (one schema or a
  list), ``additionalProperties`` a schema or a boolean;
* ``oneof`` wrappers take the alternative gnostic's parser would match: a ``$ref`` object is a
  ``JsonReference``; a parameter is a ``BodyParameter`` when ``in`` is ``body``, else the
  ``NonBodyParameter`` sub-schema its ``in`` names; a response schema of type ``file`` is a
  ``FileSchema``; a security definition is picked by ``type`` (and ``flow`` for OAuth2).

proto3 rules as Go's ``proto.Marshal`` applies them: zero scalars (``""``, ``false``, ``0``) are not
written; a sub-message is written whenever the JSON key is present, even when empty (kube-openapi
tells an object with ``properties: {}`` from a map by the presence of ``Properties``); a boolean in a
``oneof`` is written even when false; fields go out in field-number order.

A key gnostic would reject (an unknown keyword in a schema, a wrong JSON type) raises
:class:`OpenAPIEncodingError` naming its JSON path: the caller must not serve a document that
upstream's parser would refuse (kubectl would then fail on every apply).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson
import yaml
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kubelite.api.openapi import openapiv2_pb2

# The media types of the protobuf form: what clients send (client-go sends the "@" one) and what
# upstream answers with (kube-openapi pkg/handler).
PROTOBUF_SUBTYPE: Final = "com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_SUBTYPE_DEPRECATED: Final = "com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_CONTENT_TYPE: Final = "application/" + PROTOBUF_SUBTYPE

_RESPONSE_CODE: Final = re.compile(r"^([0-9]{3})$|^(default)$")
_LENGTH_DELIMITED: Final = 2
_VARINT: Final = 0
_FIXED64: Final = 1

_STRING: Final = FieldDescriptor.TYPE_STRING
_BOOL: Final = FieldDescriptor.TYPE_BOOL
_DOUBLE: Final = FieldDescriptor.TYPE_DOUBLE
_INT64: Final = FieldDescriptor.TYPE_INT64
_MESSAGE: Final = FieldDescriptor.TYPE_MESSAGE

# NonBodyParameter's alternatives by the parameter's "in".
_NON_BODY: Final = {"header": 1, "formData": 2, "query": 3, "path": 4}
# SecurityDefinitionsItem's alternatives by "type" (and "flow" for oauth2).
_SECURITY: Final = {("basic", None): 1, ("apiKey", None): 2, ("oauth2", "implicit"): 3,
                    ("oauth2", "password"): 4, ("oauth2", "application"): 5, ("oauth2", "accessCode"): 6}


class OpenAPIEncodingError(ValueError):
    """A JSON document that gnostic's parser would refuse; the text names the JSON path and why."""


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    tag: bytes              # the encoded key of one occurrence (number << 3 | wire type)
    kind: int               # FieldDescriptor.TYPE_*
    repeated: bool
    message: str | None     # the sub-message's name for TYPE_MESSAGE


@dataclass(frozen=True, slots=True)
class _Plan:
    fields: dict[str, _Field]         # by JSON key
    vendor: _Field | None             # the vendor_extension field, when the message has one
    by_number: dict[int, _Field]


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as Go sends it: 64-bit two's complement, ten bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Lengths and tags are nearly always small: look their encodings up instead of computing them.
_SMALL_VARINTS: Final = tuple(_encode_varint(n) for n in range(1 << 14))


def _varint(value: int) -> bytes:
    if 0 <= value < 1 << 14:
        return _SMALL_VARINTS[value]
    return _encode_varint(value)


def _json_key(field_name: str) -> str:
    if field_name == "_ref":
        return "$ref"
    head, *rest = field_name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _build_plans() -> dict[str, _Plan]:
    plans: dict[str, _Plan] = {}
    message: Descriptor
    for name, message in openapiv2_pb2.DESCRIPTOR.message_types_by_name.items():
        fields: dict[str, _Field] = {}
        vendor = None
        by_number: dict[int, _Field] = {}
        for fd in message.fields:
            wire = {_STRING: _LENGTH_DELIMITED, _MESSAGE: _LENGTH_DELIMITED, _BOOL: _VARINT,
                    _INT64: _VARINT, _DOUBLE: _FIXED64}[fd.type]
            sub = fd.message_type.name if fd.type == _MESSAGE else None
            field = _Field(fd.number, _varint(fd.number << 3 | wire), fd.type,
                           fd.is_repeated, sub)
            by_number[fd.number] = field
            if fd.name == "vendor_extension":
                vendor = field
            else:
                fields[_json_key(fd.name)] = field
        plans[name] = _Plan(fields, vendor, by_number)
    return plans


_PLANS: Final = _build_plans()
# Every operation repeats the same few parameters and responses: encode each distinct one once.
_REPEATED_IN_EVERY_OPERATION: Final = frozenset({"ParametersItem", "Responses"})
# Messages that stand for a JSON object used as a map: one repeated field of Named* pairs.
_MAPS: Final = frozenset(name for name, plan in _PLANS.items()
                         if set(plan.fields) == {"additionalProperties"} and plan.vendor is None
                         and plan.fields["additionalProperties"].repeated)


def _length_delimited(field: _Field, payload: bytes) -> bytes:
    return field.tag + _varint(len(payload)) + payload


class _Encoder:
    """One document's encoding; remembers the YAML text of values it has already converted.

    ``entries`` maps the JSON of a top-level definition or path item (name and value) to its encoded
    ``Named*`` entry from an earlier document: a CRD change re-encodes only what changed.
    """

    def __init__(self, entries: dict[bytes, bytes] | None = None) -> None:
        self._yaml: dict[bytes, bytes] = {}
        self._operation_parts: dict[bytes, bytes] = {}
        self._previous = entries or {}
        self.entries: dict[bytes, bytes] = {}

    def remembered(self, entry: str, field: _Field, key: str, value: Any, path: str) -> bytes:
        """``named()``, reusing the previous document's bytes for an identical entry."""
        memo_key = orjson.dumps([key, value])
        encoded = self._previous.get(memo_key)
        if encoded is None:
            encoded = self.named(entry, field, key, value, path)
        self.entries[memo_key] = encoded
        return encoded

    # ---- values -------------------------------------------------------------------------------

    def any_(self, value: Any) -> bytes:
        """An ``Any`` message: the value as gnostic's YAML text (field 2)."""
        key = orjson.dumps(value)
        text = self._yaml.get(key)
        if text is None:
            dumped = yaml.dump(value, Dumper=_DUMPER, default_flow_style=False, sort_keys=False,
                               allow_unicode=True, width=1 << 30)
            # PyYAML ends a lone scalar with a document-end marker; gnostic's YAML has none.
            dumped = dumped.removesuffix("...\n")
            raw = dumped.encode()
            text = b"\x12" + _varint(len(raw)) + raw
            self._yaml[key] = text
        return text

    def scalar(self, field: _Field, value: Any, path: str, *, keep_zero: bool = False) -> bytes:
        kind = field.kind
        if kind == _STRING:
            if not isinstance(value, str):
                raise OpenAPIEncodingError(f"{path}: expected a string, got {_type_name(value)}")
            if not value and not keep_zero:
                return b""
            raw = value.encode()
            return field.tag + _varint(len(raw)) + raw
        if kind == _BOOL:
            if not isinstance(value, bool):
                raise OpenAPIEncodingError(f"{path}: expected a boolean, got {_type_name(value)}")
            return field.tag + (b"\x01" if value else b"\x00") if value or keep_zero else b""
        if kind == _INT64:
            if isinstance(value, bool) or not isinstance(value, int):
                raise OpenAPIEncodingError(f"{path}: expected an integer, got {_type_name(value)}")
            return field.tag + _varint(value) if value or keep_zero else b""
        if kind == _DOUBLE:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise OpenAPIEncodingError(f"{path}: expected a number, got {_type_name(value)}")
            return field.tag + struct.pack("<d", float(value)) if value or keep_zero else b""
        raise AssertionError(f"unhandled field kind {kind}")  # pragma: no cover - the plans hold no other

    def field(self, field: _Field, value: Any, path: str) -> bytes:
        """Every occurrence of one field (a repeated field takes a JSON list)."""
        if field.repeated:
            if not isinstance(value, list):
                raise OpenAPIEncodingError(f"{path}: expected a list, got {_type_name(value)}")
            return b"".join(self.one(field, item, f"{path}[{i}]", keep_zero=True) for i, item in enumerate(value))
        return self.one(field, value, path)

    def one(self, field: _Field, value: Any, path: str, *, keep_zero: bool = False) -> bytes:
        if field.message is None:
            return self.scalar(field, value, path, keep_zero=keep_zero)
        return _length_delimited(field, self.message(field.message, value, path))

    # ---- messages -----------------------------------------------------------------------------

    def message(self, name: str, value: Any, path: str) -> bytes:
        if name in _REPEATED_IN_EVERY_OPERATION:
            key = orjson.dumps([name, value])
            encoded = self._operation_parts.get(key)
            if encoded is None:
                encoded = self._operation_parts[key] = self._message(name, value, path)
            return encoded
        return self._message(name, value, path)

    def _message(self, name: str, value: Any, path: str) -> bytes:
        special = _SPECIAL.get(name)
        if special is not None:
            return special(self, value, path)
        if name in _MAPS:
            return self.named_map(name, value, path)
        if name == "Any":
            return self.any_(value)
        return self.plain(name, value, path)

    def plain(self, name: str, value: Any, path: str) -> bytes:
        """A message whose JSON form is an object with one key per field plus ``x-`` extensions."""
        obj = _object(value, path)
        plan = _PLANS[name]
        chunks: list[tuple[int, bytes]] = []
        extensions: list[bytes] = []
        for key, sub in obj.items():
            field = plan.fields.get(key)
            if field is not None:
                chunks.append((field.number, self.field(field, sub, f"{path}.{key}")))
            elif plan.vendor is not None and key.startswith("x-"):
                extensions.append(self.named_any(plan.vendor, key, sub))
            else:
                raise OpenAPIEncodingError(f"{path}: {key!r} is not a field of {name} (allowed: "
                                           f"{', '.join(sorted(plan.fields))}, x-*)")
        if extensions:
            assert plan.vendor is not None
            chunks.append((plan.vendor.number, b"".join(extensions)))
        chunks.sort(key=lambda chunk: chunk[0])
        return b"".join(chunk for _, chunk in chunks)

    def named_any(self, field: _Field, name: str, value: Any) -> bytes:
        raw = name.encode()
        return _length_delimited(field, b"\x0a" + _varint(len(raw)) + raw + b"\x12" + _with_length(self.any_(value)))

    def named(self, entry: str, field: _Field, key: str, value: Any, path: str) -> bytes:
        """One ``Named*`` pair: name (1) and value (2) of the entry message."""
        plan = _PLANS[entry]
        name_field, value_field = plan.by_number[1], plan.by_number[2]
        body = self.scalar(name_field, key, path) + self.one(value_field, value, path)
        return _length_delimited(field, body)

    def named_map(self, name: str, value: Any, path: str) -> bytes:
        field = _PLANS[name].fields["additionalProperties"]
        assert field.message is not None
        # Definitions appear only at the top of a document: the place worth remembering.
        named = self.remembered if name == "Definitions" else self.named
        return b"".join(named(field.message, field, key, sub, f"{path}.{key}")
                        for key, sub in _object(value, path).items())

    def keyed(self, name: str, value: Any, path: str, *, pattern: re.Pattern[str], entries: str) -> bytes:
        """``Paths`` and ``Responses``: keys matching ``pattern`` are named entries, ``x-`` keys extensions."""
        plan = _PLANS[name]
        entries_field = plan.fields[entries]
        assert plan.vendor is not None and entries_field.message is not None
        named: list[bytes] = []
        extensions: list[bytes] = []
        for key, sub in _object(value, path).items():
            if key.startswith("x-"):
                extensions.append(self.named_any(plan.vendor, key, sub))
            elif pattern.match(key):
                encode = self.remembered if name == "Paths" else self.named
                named.append(encode(entries_field.message, entries_field, key, sub, f"{path}[{key!r}]"))
            else:
                raise OpenAPIEncodingError(f"{path}: {key!r} is not allowed in {name} "
                                           f"(expected {pattern.pattern!r} or x-*)")
        parts = [(entries_field.number, b"".join(named)), (plan.vendor.number, b"".join(extensions))]
        return b"".join(chunk for _, chunk in sorted(parts, key=lambda p: p[0]))

    def choose(self, name: str, number: int, value: Any, path: str) -> bytes:
        """A ``oneof`` wrapper holding alternative ``number``."""
        return self.one(_PLANS[name].by_number[number], value, path, keep_zero=True)


def _with_length(payload: bytes) -> bytes:
    return _varint(len(payload)) + payload


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OpenAPIEncodingError(f"{path}: expected an object, got {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _type_item(enc: _Encoder, value: Any, path: str) -> bytes:
    field = _PLANS["TypeItem"].by_number[1]
    if isinstance(value, str):
        return enc.scalar(field, value, path, keep_zero=True)
    if not isinstance(value, list):
        raise OpenAPIEncodingError(f"{path}: expected a type name or a list of them, got {_type_name(value)}")
    return enc.field(field, value, path)


def _items_item(enc: _Encoder, value: Any, path: str) -> bytes:
    field = _PLANS["ItemsItem"].by_number[1]
    if isinstance(value, dict):
        return enc.one(field, value, path)
    if not isinstance(value, list):
        raise OpenAPIEncodingError(f"{path}: expected a schema or a list of them, got {_type_name(value)}")
    return enc.field(field, value, path)


def _string_array(enc: _Encoder, value: Any, path: str) -> bytes:
    return enc.field(_PLANS["StringArray"].by_number[1], value, path)


def _additional_properties(enc: _Encoder, value: Any, path: str) -> bytes:
    return enc.choose("AdditionalPropertiesItem", 2 if isinstance(value, bool) else 1, value, path)


def _reference_or(name: str) -> Callable[[_Encoder, Any, str], bytes]:
    def encode(enc: _Encoder, value: Any, path: str) -> bytes:
        is_ref = isinstance(value, dict) and "$ref" in value
        return enc.choose(name, 2 if is_ref else 1, value, path)
    return encode


def _parameter(enc: _Encoder, value: Any, path: str) -> bytes:
    where = _object(value, path).get("in")
    return enc.choose("Parameter", 1 if where == "body" else 2, value, path)


def _non_body_parameter(enc: _Encoder, value: Any, path: str) -> bytes:
    where = _object(value, path).get("in")
    number = _NON_BODY.get(where) if isinstance(where, str) else None
    if number is None:
        raise OpenAPIEncodingError(f"{path}: parameter 'in' must be one of body, {', '.join(_NON_BODY)}; "
                                   f"got {where!r}")
    return enc.choose("NonBodyParameter", number, value, path)


_FILE_SCHEMA_KEYS: Final = frozenset(_PLANS["FileSchema"].fields)


def _schema_item(enc: _Encoder, value: Any, path: str) -> bytes:
    obj = _object(value, path)
    is_file = obj.get("type") == "file" and all(k in _FILE_SCHEMA_KEYS or k.startswith("x-") for k in obj)
    return enc.choose("SchemaItem", 2 if is_file else 1, value, path)


def _security_definition(enc: _Encoder, value: Any, path: str) -> bytes:
    obj = _object(value, path)
    kind = obj.get("type")
    number = _SECURITY.get((kind, obj.get("flow") if kind == "oauth2" else None))  # type: ignore[arg-type]
    if number is None:
        raise OpenAPIEncodingError(f"{path}: security definition type must be basic, apiKey or oauth2 "
                                   f"(with flow implicit, password, application or accessCode); got {kind!r}")
    return enc.choose("SecurityDefinitionsItem", number, value, path)


def _paths(enc: _Encoder, value: Any, path: str) -> bytes:
    return enc.keyed("Paths", value, path, pattern=re.compile(r"^/"), entries="path")


def _responses(enc: _Encoder, value: Any, path: str) -> bytes:
    return enc.keyed("Responses", value, path, pattern=_RESPONSE_CODE, entries="responseCode")


_SPECIAL: Final[dict[str, Callable[[_Encoder, Any, str], bytes]]] = {
    "TypeItem": _type_item,
    "ItemsItem": _items_item,
    "StringArray": _string_array,
    "AdditionalPropertiesItem": _additional_properties,
    "ParametersItem": _reference_or("ParametersItem"),
    "ResponseValue": _reference_or("ResponseValue"),
    "Parameter": _parameter,
    "NonBodyParameter": _non_body_parameter,
    "SchemaItem": _schema_item,
    "SecurityDefinitionsItem": _security_definition,
    "Paths": _paths,
    "Responses": _responses,
}

_DUMPER: Final[Any] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def encode_document(document: dict[str, Any], *, previous: DocumentEntries | None = None) -> bytes:
    """The OpenAPI v2 JSON ``document`` as the bytes of an ``openapi.v2.Document`` message.

    ``previous``, when given, holds the encoded definitions and path items of the last document
    encoded with it and is updated to this one's: identical entries are copied, not re-encoded.
    Raises :class:`OpenAPIEncodingError` for anything gnostic's parser would refuse (``previous`` is
    then left as it was).
    """
    encoder = _Encoder(previous.entries if previous is not None else None)
    encoded = encoder.message("Document", document, "$")
    if previous is not None:
        previous.entries = encoder.entries
    return encoded


class DocumentEntries:
    """The encoded top-level entries of the last document (see :func:`encode_document`)."""

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}


def encode_schema(schema: dict[str, Any]) -> bytes:
    """One schema as an ``openapi.v2.Schema`` message (for tests and tools)."""
    return _Encoder().message("Schema", schema, "$")
