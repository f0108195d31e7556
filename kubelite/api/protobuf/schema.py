"""The protobuf messages of the Kubernetes 1.32 API, loaded once from package data.

Where the data comes from
-------------------------
``schema.json.gz`` next to this module is written by ``tools/extract_proto.py`` from upstream's
``generated.proto`` files and the Go struct tags beside them, on the ``release-1.32`` branches of:

* kubernetes/api: ``<group>/<version>/generated.proto`` for core/v1, apps/v1, batch/v1, discovery/v1,
  coordination/v1, rbac/v1, scheduling/v1, policy/v1, events/v1, certificates/v1, networking/v1,
  autoscaling/v1, autoscaling/v2, storage/v1, authentication/v1, authorization/v1;
* kubernetes/apimachinery: ``pkg/apis/meta/v1``, ``pkg/runtime``, ``pkg/util/intstr``,
  ``pkg/api/resource``;
* kubernetes/apiextensions-apiserver: ``pkg/apis/apiextensions/v1``.

For every message it holds the fully qualified name and the fields (number, proto name, type,
repeated, map key/value types) and, from the Go struct tags, the JSON name, ``omitempty``, whether the
Go field is a pointer and whether it is inlined; messages that wrap a Go named slice
(``metav1.Verbs``) are marked ``listWrapper`` and hand-marshalled ones (``Time``, ``Quantity``, ...)
``custom``. ``kinds`` maps each ``apiVersion`` and ``kind`` to its message, from ``register.go``.

Design
------
The data is immutable, so it is parsed once per process (lazily, under a lock) into frozen
:class:`MessageSpec`/:class:`FieldSpec` objects that the codec walks; lookups by name or by
``apiVersion``/``kind`` are dictionary hits.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import orjson

DATA_FILE: Final = "schema.json.gz"
DATA_FORMAT: Final = "kubelite.protobuf.schema/v1"

SCALAR_TYPES: Final = frozenset({
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
    "sfixed32", "sfixed64", "bool", "string", "bytes",
})


class SchemaDataError(RuntimeError):
    """The packaged schema is missing or malformed (regenerate it with tools/extract_proto.py)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a message, with the Go facts that decide its JSON form."""

    number: int
    name: str  # the proto field name
    json: str  # the JSON name ("" when inlined)
    type: str  # a scalar type, "message" or "map"
    message: str | None  # the message type of a "message" field
    repeated: bool
    map_key: str | None
    map_value: str | None  # a scalar type or "message"
    map_value_message: str | None
    pointer: bool  # Go pointer: written only when set, so "absent" means nil
    omitempty: bool
    inline: bool  # json:",inline": the message's fields sit in the parent JSON object


@dataclass(frozen=True, slots=True)
class MessageSpec:
    name: str
    fields: tuple[FieldSpec, ...]  # declaration order, which is the Go struct (and JSON) order
    by_number: Mapping[int, FieldSpec]
    encode_order: tuple[FieldSpec, ...]  # ascending field numbers, as gogo-protobuf writes them
    custom: bool
    list_wrapper: bool


@dataclass(frozen=True, slots=True)
class Schema:
    messages: Mapping[str, MessageSpec]
    kinds: Mapping[str, Mapping[str, str]]  # apiVersion -> kind -> message name

    def message(self, name: str) -> MessageSpec:
        try:
            return self.messages[name]
        except KeyError:
            raise SchemaDataError(f"the protobuf schema has no message {name}") from None

    def message_for_kind(self, api_version: str, kind: str) -> MessageSpec | None:
        name = self.kinds.get(api_version, {}).get(kind)
        return None if name is None else self.messages[name]


def _field(raw: Mapping[str, Any], *, origin: str) -> FieldSpec:
    try:
        field_type = str(raw["type"])
        spec = FieldSpec(
            number=int(raw["number"]),
            name=str(raw["name"]),
            json=str(raw["json"]),
            type=field_type,
            message=raw.get("message"),
            repeated=bool(raw.get("repeated", False)) or field_type == "map",
            map_key=raw.get("key"),
            map_value=raw.get("value"),
            map_value_message=raw.get("valueMessage"),
            pointer=bool(raw.get("pointer", False)),
            omitempty=bool(raw.get("omitempty", False)),
            inline=bool(raw.get("inline", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaDataError(f"{origin}: malformed field entry {raw!r} ({exc})") from exc
    if field_type not in SCALAR_TYPES and field_type not in ("message", "map"):
        raise SchemaDataError(f"{origin}: field {spec.name} has unknown type {field_type!r}")
    return spec


def parse_schema(raw: bytes, *, origin: str) -> Schema:
    """Parse the gzip-compressed JSON schema; ``origin`` names the data in error messages."""
    try:
        doc = orjson.loads(gzip.decompress(raw))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise SchemaDataError(f"{origin}: not gzip-compressed JSON ({exc}); "
                              "regenerate it with tools/extract_proto.py") from exc
    if not isinstance(doc, dict) or doc.get("format") != DATA_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise SchemaDataError(f"{origin}: format {found!r}, expected {DATA_FORMAT!r}")
    messages: dict[str, MessageSpec] = {}
    for name, body in doc["messages"].items():
        fields = tuple(_field(f, origin=f"{origin}: {name}") for f in body["fields"])
        messages[name] = MessageSpec(
            name=name,
            fields=fields,
            by_number={f.number: f for f in fields},
            encode_order=tuple(sorted(fields, key=lambda f: f.number)),
            custom=bool(body.get("custom", False)),
            list_wrapper=bool(body.get("listWrapper", False)),
        )
    for spec in messages.values():
        for f in spec.fields:
            for ref in (f.message, f.map_value_message):
                if ref is not None and ref not in messages:
                    raise SchemaDataError(f"{origin}: {spec.name}.{f.name} refers to unknown message {ref}")
    kinds: dict[str, dict[str, str]] = {}
    for api_version, by_kind in doc["kinds"].items():
        for kind, message in by_kind.items():
            if message not in messages:
                raise SchemaDataError(f"{origin}: kind {api_version} {kind} maps to unknown message {message}")
        kinds[api_version] = dict(by_kind)
    return Schema(messages=messages, kinds=kinds)


_lock = threading.Lock()
_cached: Schema | None = None


def schema() -> Schema:
    """The packaged schema, parsed on first use and shared afterwards."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                resource = resources.files(__package__).joinpath(DATA_FILE)
                try:
                    raw = resource.read_bytes()
                except OSError as exc:
                    raise SchemaDataError(
                        f"kubelite's protobuf schema {DATA_FILE} is missing from kubelite.api.protobuf "
                        f"({exc.strerror}); regenerate it with tools/extract_proto.py") from exc
                _cached = parse_schema(raw, origin=f"kubelite.api.protobuf/{DATA_FILE}")
    return _cached
