"""Convert Kubernetes objects between their JSON form and ``application/vnd.kubernetes.protobuf``.

kubelite holds every object as the JSON dict upstream's JSON serializer would write. Clients built on
client-go (kubectl's typed clients: ``kubectl create namespace|configmap|secret|deployment|token``,
``kubectl auth can-i``, ...) send request bodies as protobuf and may ask for protobuf responses. This
module is the converter both ways, faithful to upstream's gogo-protobuf code and JSON tags.

The wire format (apimachinery ``pkg/runtime/serializer/protobuf``)
--------------------------------------------------------------------
A body is the magic prefix ``k8s\\x00`` followed by a ``runtime.Unknown`` message: ``typeMeta`` (1:
``apiVersion`` = 1, ``kind`` = 2), ``raw`` (2: the object's own message), ``contentEncoding`` (3) and
``contentType`` (4), the last two written empty. The object's message is the type registered for that
``apiVersion``/``kind`` (``k8s.io.api.apps.v1.Deployment``; metav1 kinds such as ``Status``,
``DeleteOptions`` and ``WatchEvent`` are ``k8s.io.apimachinery.pkg.apis.meta.v1.*``); the table comes
from upstream's ``register.go`` files (see :mod:`kubelite.api.protobuf.schema`).

A watch response (``;stream=watch``) is a sequence of frames: a 4-byte big-endian length, then a
``metav1.WatchEvent`` encoded *without* prefix or envelope (the "raw" serializer), whose ``object``
is a ``RawExtension`` holding the object encoded *with* prefix and envelope
(apiserver ``handlers/watch.go``, apimachinery ``util/framer``).

The JSON rule (what :func:`decode` returns)
-------------------------------------------
:func:`decode` returns the JSON upstream's API server would get by decoding the protobuf into its Go
struct and encoding that with ``encoding/json``, with one simplification: **JSON ``null`` is never
written; such fields are left out** (decoding treats ``null`` and absent alike, and kubelite's dicts
never hold ``null``). Field by field, following the Go struct tags recorded in the schema:

* gogo writes a non-pointer scalar always and a pointer only when set. A present or absent
  non-pointer scalar is emitted unless it is zero and ``omitempty`` (``stdin: false`` is dropped,
  ``APIResource.namespaced: false`` is kept); a pointer is emitted exactly when present
  (``replicas: 0`` is kept).
* A non-pointer struct is always emitted, even empty (``"spec": {}``, ``"resources": {}``), as
  ``encoding/json`` never omits structs; a pointer struct only when present.
* Repeated fields and maps are emitted when they have an element (an empty slice and a nil one are
  the same on the wire; Go writes ``null`` or omits them).
* ``json:",inline"`` messages (``Volume.volumeSource``, ``Probe.handler``) are merged into their parent.
* Hand-marshalled types: ``metav1.Time`` <-> ``"2024-01-02T03:04:05Z"`` (seconds; the zero time is
  ``null``, so left out), ``MicroTime`` <-> ``"2024-01-02T03:04:05.000000Z"``, ``Duration`` <-> Go
  duration text, ``resource.Quantity`` <-> its canonical string (parsed with
  :mod:`kubelite.api.quantity`, so an invalid one is an error, as upstream), ``IntOrString`` <-> a bare
  int or string, ``bytes`` <-> base64, ``RawExtension``/``FieldsV1``/apiextensions ``JSON`` <-> the
  embedded JSON value (an empty one is ``null``, left out), ``Verbs``/``ExtraValue`` <-> a bare list,
  ``JSONSchemaPropsOrArray``/``OrBool``/``OrStringArray`` <-> schema, list or bool as upstream's
  ``MarshalJSON``.
* Unknown field numbers are skipped, as gogo does; a field with the wrong wire type is an error.
* A string that is not valid UTF-8 gets U+FFFD replacements, as ``encoding/json`` does.

So ``kubectl create namespace foo`` decodes to ``{"kind": "Namespace", "apiVersion": "v1",
"metadata": {"name": "foo"}, "spec": {}, "status": {}}``.

:func:`encode` is the reverse: what upstream would write after ``json.Unmarshal`` of the dict into
its Go struct. Fields go out in ascending number; non-pointer scalars and structs are always written
(zero when absent), pointers and ``[]byte`` only when present, map entries sorted by key. So
``decode(encode(x)) == x`` for every ``x`` already in the JSON form above (with canonical quantities and
times at their wire precision). JSON keys the message does not have are ignored (Go's non-strict
decoding); a value of the wrong JSON type is an error.

Errors are :class:`ProtobufError` (a ``ValueError``) whose text names the problem (bad prefix, unknown
kind, wire-type mismatch, truncated data, wrong JSON type) and where (message and field path), for the
API server to return as 400 BadRequest.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from kubelite.api.protobuf.schema import FieldSpec, MessageSpec, Schema, schema
from kubelite.api.protobuf.wellknown import (
    ZERO_TIME_UNIX,
    format_duration,
    format_micro_time,
    format_time,
    is_zero_time,
    normalize,
    parse_duration,
    parse_time,
    truncate_to_micros,
)
from kubelite.api.protobuf.wire import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    FieldValue,
    ProtobufError,
    Writer,
    describe_wire_type,
    iter_packed_varints,
    read_fields,
    to_int32,
    to_int64,
    unpack_double,
    unpack_float,
    zigzag_decode,
    zigzag_encode,
)
from kubelite.api.quantity import Quantity, QuantityError

MAGIC: Final = b"k8s\x00"
CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf"
WATCH_CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf;stream=watch"
WATCH_EVENT_TYPES: Final = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")

_META: Final = "k8s.io.apimachinery.pkg.apis.meta.v1"
_APIEXT: Final = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1"
TIME: Final = f"{_META}.Time"
MICRO_TIME: Final = f"{_META}.MicroTime"
DURATION: Final = f"{_META}.Duration"
FIELDS_V1: Final = f"{_META}.FieldsV1"
QUANTITY: Final = "k8s.io.apimachinery.pkg.api.resource.Quantity"
QUANTITY_VALUE: Final = "k8s.io.apimachinery.pkg.api.resource.QuantityValue"
INT_OR_STRING: Final = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
RAW_EXTENSION: Final = "k8s.io.apimachinery.pkg.runtime.RawExtension"
UNKNOWN: Final = "k8s.io.apimachinery.pkg.runtime.Unknown"
JSON_VALUE: Final = f"{_APIEXT}.JSON"
PROPS_OR_ARRAY: Final = f"{_APIEXT}.JSONSchemaPropsOrArray"
PROPS_OR_BOOL: Final = f"{_APIEXT}.JSONSchemaPropsOrBool"
PROPS_OR_STRING_ARRAY: Final = f"{_APIEXT}.JSONSchemaPropsOrStringArray"
WATCH_EVENT: Final = f"{_META}.WatchEvent"

_FRAME_HEADER: Final = 4
_MAX_FRAME: Final = (1 << 32) - 1


class _Absent:
    """What a field decodes to when upstream's JSON would have ``null`` or nothing: it is left out."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

_WIRE_TYPE: Final = {
    "int32": VARINT, "int64": VARINT, "uint32": VARINT, "uint64": VARINT, "sint32": VARINT, "sint64": VARINT,
    "bool": VARINT, "double": FIXED64, "fixed64": FIXED64, "sfixed64": FIXED64, "float": FIXED32,
    "fixed32": FIXED32, "sfixed32": FIXED32, "string": LENGTH_DELIMITED, "bytes": LENGTH_DELIMITED,
    "message": LENGTH_DELIMITED, "map": LENGTH_DELIMITED,
}
_ZERO: Final[dict[str, Any]] = {
    "int32": 0, "int64": 0, "uint32": 0, "uint64": 0, "sint32": 0, "sint64": 0, "bool": False,
    "double": 0, "fixed64": 0, "sfixed64": 0, "float": 0, "fixed32": 0, "sfixed32": 0, "string": "",
    "bytes": "",
}
_INT_RANGES: Final = {
    "int32": (-(1 << 31), (1 << 31) - 1), "sint32": (-(1 << 31), (1 << 31) - 1),
    "sfixed32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
    "sint64": (-(1 << 63), (1 << 63) - 1), "sfixed64": (-(1 << 63), (1 << 63) - 1),
    "uint32": (0, (1 << 32) - 1), "fixed32": (0, (1 << 32) - 1),
    "uint64": (0, (1 << 64) - 1), "fixed64": (0, (1 << 64) - 1),
}
# Go's encoding/json writes floats below this magnitude without an exponent.
_FLOAT_PLAIN_LIMIT: Final = 1e21


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(spec: MessageSpec, path: str) -> str:
    return f"{spec.name} at {path}" if path else spec.name


# ==================================================================================================
# Public API


def supports(*, api_version: str, kind: str) -> bool:
    """Whether upstream has a protobuf form for this kind (custom resources and ``Table`` have none)."""
    return schema().message_for_kind(api_version, kind) is not None


def decode(data: bytes, *, default_api_version: str | None = None,
           default_kind: str | None = None) -> dict[str, Any]:
    """The JSON dict of a protobuf body (magic prefix + ``runtime.Unknown``), ``apiVersion``/``kind`` included.

    ``default_api_version``/``default_kind`` fill in an envelope that leaves them empty, as upstream
    does with the type the endpoint expects.
    """
    data = bytes(data)
    if not data:
        raise ProtobufError("empty body: expected a protobuf message starting with the prefix 6b 38 73 00 "
                            "(\"k8s\\x00\")")
    if not data.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix 6b 38 73 00 "
                            f"(\"k8s\\x00\"); it starts with {data[:4].hex(' ')}")
    if len(data) == len(MAGIC):
        raise ProtobufError("empty body after the Kubernetes protobuf prefix: no runtime.Unknown envelope")
    api_version, kind, raw = _read_envelope(data[len(MAGIC):])
    api_version = api_version or default_api_version or ""
    kind = kind or default_kind or ""
    if not kind:
        raise ProtobufError("the protobuf envelope's typeMeta has no kind")
    if not api_version:
        raise ProtobufError(f"the protobuf envelope's typeMeta has no apiVersion (kind {kind!r})")
    spec = _message_for_kind(schema(), api_version, kind)
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_decode_struct(spec, raw, ""))
    return obj


def encode(obj: Mapping[str, Any]) -> bytes:
    """The protobuf body (magic prefix + ``runtime.Unknown``) of a JSON object with ``apiVersion`` and ``kind``."""
    if not isinstance(obj, Mapping):
        raise ProtobufError(f"cannot encode a {type(obj).__name__} as a Kubernetes object: expected a JSON object")
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        raise ProtobufError(f"cannot encode the object as protobuf: apiVersion is {api_version!r}, "
                            "expected a non-empty string such as \"v1\" or \"apps/v1\"")
    if not isinstance(kind, str) or not kind:
        raise ProtobufError(f"cannot encode the object as protobuf: kind is {kind!r}, "
                            "expected a non-empty string such as \"Pod\"")
    spec = _message_for_kind(schema(), api_version, kind)
    body = _encode_struct(spec, obj, "")
    type_meta = Writer()
    type_meta.bytes_field(1, api_version.encode())
    type_meta.bytes_field(2, kind.encode())
    envelope = Writer()
    envelope.buf += MAGIC
    envelope.bytes_field(1, type_meta.buf)
    envelope.bytes_field(2, body)
    envelope.bytes_field(3, b"")  # contentEncoding and contentType: upstream always writes them, empty
    envelope.bytes_field(4, b"")
    return envelope.getvalue()


def encode_watch_event(event_type: str, obj: Mapping[str, Any]) -> bytes:
    """One frame of a protobuf watch stream: 4-byte big-endian length + raw ``metav1.WatchEvent``.

    ``event_type`` is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (then ``obj`` is a ``Status``).
    """
    if event_type not in WATCH_EVENT_TYPES:
        raise ProtobufError(f"watch event type {event_type!r} is not one of {', '.join(WATCH_EVENT_TYPES)}")
    raw_extension = Writer()
    raw_extension.bytes_field(1, encode(obj))
    event = Writer()
    event.bytes_field(1, event_type.encode())
    event.bytes_field(2, raw_extension.buf)
    if len(event.buf) > _MAX_FRAME:
        raise ProtobufError(f"watch event of {len(event.buf)} bytes does not fit in one frame")
    return len(event.buf).to_bytes(_FRAME_HEADER, "big") + bytes(event.buf)


def split_watch_frames(stream: bytes) -> tuple[list[bytes], bytes]:
    """Cut a buffer of a protobuf watch stream into complete frames (header included) and the rest."""
    frames: list[bytes] = []
    pos = 0
    while len(stream) - pos >= _FRAME_HEADER:
        length = int.from_bytes(stream[pos:pos + _FRAME_HEADER], "big")
        end = pos + _FRAME_HEADER + length
        if end > len(stream):
            break
        frames.append(bytes(stream[pos:end]))
        pos = end
    return frames, bytes(stream[pos:])


def decode_watch_event(frame: bytes) -> dict[str, Any]:
    """``{"type": ..., "object": {...}}`` of one frame made by :func:`encode_watch_event` (or upstream)."""
    frame = bytes(frame)
    if len(frame) < _FRAME_HEADER:
        raise ProtobufError(f"truncated watch frame: {len(frame)} bytes, the length header alone is 4")
    length = int.from_bytes(frame[:_FRAME_HEADER], "big")
    if length != len(frame) - _FRAME_HEADER:
        raise ProtobufError(f"watch frame header says {length} bytes but {len(frame) - _FRAME_HEADER} follow")
    spec = schema().message(WATCH_EVENT)
    fields = _collect(spec, frame[_FRAME_HEADER:], "")
    event_type = _last_string(fields.get(1))
    if event_type not in WATCH_EVENT_TYPES:
        raise ProtobufError(f"watch event type {event_type!r} is not one of {', '.join(WATCH_EVENT_TYPES)}")
    raw_fields = _collect(schema().message(RAW_EXTENSION), _joined(fields.get(2)), "object")
    raw = _last_bytes(raw_fields.get(1))
    if not raw:
        raise ProtobufError(f"watch event {event_type} has no object")
    return {"type": event_type, "object": decode(raw)}


def decode_message(message: str, data: bytes) -> Any:
    """The JSON value of one message body (no prefix or envelope), e.g. ``k8s.io.api.core.v1.PodSpec``."""
    return _json_or_none(_decode_message_value(schema().message(message), bytes(data), ""))


def encode_message(message: str, value: Any) -> bytes:
    """The body of one message (no prefix or envelope) from its JSON value; the reverse of :func:`decode_message`."""
    return _encode_message_value(schema().message(message), value, "")


def _json_or_none(value: Any) -> Any:
    return None if value is ABSENT else value


def _message_for_kind(sch: Schema, api_version: str, kind: str) -> MessageSpec:
    spec = sch.message_for_kind(api_version, kind)
    if spec is None:
        known = "known" if api_version in sch.kinds else "unknown"
        raise ProtobufError(
            f"no protobuf message for kind {kind!r} in apiVersion {api_version!r} ({known} group version); "
            "custom resources and kinds without a protobuf form must use application/json")
    return spec


def _read_envelope(data: bytes) -> tuple[str, str, bytes]:
    unknown = schema().message(UNKNOWN)
    fields = _collect(unknown, data, "")
    type_meta_spec = schema().message("k8s.io.apimachinery.pkg.runtime.TypeMeta")
    type_meta = _collect(type_meta_spec, _joined(fields.get(1)), "typeMeta")
    encoding = _last_string(fields.get(3))
    if encoding:
        raise ProtobufError(f"the protobuf envelope has contentEncoding {encoding!r}; only unencoded "
                            "(empty contentEncoding) bodies are supported")
    content_type = _last_string(fields.get(4))
    if content_type not in ("", CONTENT_TYPE):
        raise ProtobufError(f"the protobuf envelope declares contentType {content_type!r}; expected "
                            f"empty or {CONTENT_TYPE!r}")
    return _last_string(type_meta.get(1)), _last_string(type_meta.get(2)), _last_bytes(fields.get(2))


def _last_bytes(values: list[FieldValue] | None) -> bytes:
    """A singular string or bytes field that occurs several times: the last one counts."""
    if not values or not isinstance(values[-1], bytes):
        return b""
    return values[-1]


def _last_string(values: list[FieldValue] | None) -> str:
    return _last_bytes(values).decode("utf-8", "replace")


# ==================================================================================================
# Decoding: protobuf -> JSON


def _collect(spec: MessageSpec, data: bytes, path: str) -> dict[int, list[FieldValue]]:
    """The values of the fields ``spec`` knows, by number, wire types checked; unknown numbers skipped."""
    try:
        triples = read_fields(data)
    except ProtobufError as exc:
        raise ProtobufError(f"{_where(spec, path)}: {exc}") from None
    by_number: dict[int, list[FieldValue]] = {}
    fields = spec.by_number
    for number, wire_type, value in triples:
        f = fields.get(number)
        if f is None:
            continue
        expected = _WIRE_TYPE[f.type]
        if wire_type != expected and not (f.repeated and wire_type == LENGTH_DELIMITED):
            raise ProtobufError(
                f"{_where(spec, path)}: wire type mismatch for field {number} ({f.name}, {f.type}): "
                f"got wire type {describe_wire_type(wire_type)}, expected {describe_wire_type(expected)}")
        values = by_number.get(number)
        if values is None:
            by_number[number] = [value]
        else:
            values.append(value)
    return by_number


def _decode_struct(spec: MessageSpec, data: bytes, path: str) -> dict[str, Any]:
    collected = _collect(spec, data, path)
    messages = schema().messages
    out: dict[str, Any] = {}
    for f in spec.fields:
        values = collected.get(f.number)
        if f.inline:
            assert f.message is not None
            out.update(_decode_struct(messages[f.message], _joined(values), path))
            continue
        if f.json == "-":
            continue
        value = _decode_field(f, values, path, messages)
        if value is not ABSENT:
            out[f.json] = value
    return out


def _joined(values: list[FieldValue] | None) -> bytes:
    """A singular message that occurs several times is their merge, i.e. their concatenation."""
    if not values:
        return b""
    if len(values) == 1:
        value = values[0]
        return value if isinstance(value, bytes) else b""
    return b"".join(v for v in values if isinstance(v, bytes))


def _decode_field(f: FieldSpec, values: list[FieldValue] | None, path: str,
                  messages: Mapping[str, MessageSpec]) -> Any:
    if f.type == "map":
        if not values:
            return ABSENT
        fpath = _join(path, f.json)
        result: dict[str, Any] = {}
        for entry in values:
            key, value = _decode_map_entry(f, entry, fpath, messages)
            if value is not ABSENT:
                result[key] = value
        return result
    if f.repeated:
        if not values:
            return ABSENT
        if f.type == "message":
            assert f.message is not None
            element = messages[f.message]
            fpath = _join(path, f.json)
            return [_json_or_none(_decode_message_value(element, v if isinstance(v, bytes) else b"",
                                                        f"{fpath}[{i}]"))
                    for i, v in enumerate(values)]
        items: list[Any] = []
        for v in values:
            if isinstance(v, bytes) and f.type not in ("string", "bytes"):
                items.extend(_scalar(f.type, p, _join(path, f.json)) for p in _unpack(f.type, v, path))
            else:
                items.append(_scalar(f.type, v, _join(path, f.json)))
        return items
    if f.type == "message":
        assert f.message is not None
        target = messages[f.message]
        if values is None and (f.pointer or target.list_wrapper):
            return ABSENT
        return _decode_message_value(target, _joined(values), _join(path, f.json))
    if values is None:
        if f.pointer or f.omitempty or f.type == "bytes":
            return ABSENT
        return _ZERO[f.type]
    value = _scalar(f.type, values[-1], _join(path, f.json))
    if f.omitempty and not f.pointer and _is_zero(value):
        return ABSENT
    return value


def _is_zero(value: Any) -> bool:
    return value in (0, "")  # False == 0 as well


def _unpack(scalar_type: str, data: bytes, path: str) -> list[int]:
    """The elements of a packed repeated scalar field."""
    wire_type = _WIRE_TYPE[scalar_type]
    if wire_type == VARINT:
        try:
            return iter_packed_varints(data)
        except ProtobufError as exc:
            raise ProtobufError(f"{path}: {exc}") from None
    width = 8 if wire_type == FIXED64 else 4
    if len(data) % width:
        raise ProtobufError(f"{path}: truncated data: packed {scalar_type} field of {len(data)} bytes "
                            f"is not a multiple of {width}")
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


def _scalar(scalar_type: str, value: FieldValue, path: str) -> Any:
    """The JSON value of one wire value of a scalar field."""
    if isinstance(value, bytes):
        if scalar_type == "string":
            return value.decode("utf-8", "replace")
        if scalar_type == "bytes":
            return base64.b64encode(value).decode("ascii")
        raise ProtobufError(f"{path}: wire type mismatch: length-delimited value for a {scalar_type} field")
    if scalar_type == "int32":
        return to_int32(value)
    if scalar_type == "int64":
        return to_int64(value)
    if scalar_type == "bool":
        return value != 0
    if scalar_type in ("uint32", "fixed32"):
        return value & 0xFFFF_FFFF
    if scalar_type in ("uint64", "fixed64"):
        return value
    if scalar_type == "sint32":
        return zigzag_decode(value & 0xFFFF_FFFF)
    if scalar_type == "sint64":
        return zigzag_decode(value)
    if scalar_type == "sfixed32":
        return to_int32(value)
    if scalar_type == "sfixed64":
        return to_int64(value)
    if scalar_type in ("double", "float"):
        number = unpack_double(value) if scalar_type == "double" else unpack_float(value)
        if not math.isfinite(number):
            raise ProtobufError(f"{path}: {number} cannot be written as a JSON number")
        # encoding/json writes integral floats without a fraction ("1", not "1.0")
        if number.is_integer() and abs(number) < _FLOAT_PLAIN_LIMIT:
            return int(number)
        return number
    raise ProtobufError(f"{path}: a {scalar_type} field cannot hold a string")  # pragma: no cover


def _decode_map_entry(f: FieldSpec, entry: FieldValue, path: str,
                      messages: Mapping[str, MessageSpec]) -> tuple[str, Any]:
    if not isinstance(entry, bytes):  # pragma: no cover - _collect checked the wire type
        raise ProtobufError(f"{path}: a map entry must be length-delimited")
    assert f.map_key is not None and f.map_value is not None
    key_type, value_type = f.map_key, f.map_value
    key: Any = _ZERO[key_type]
    raw_value: FieldValue | None = None
    try:
        triples = read_fields(entry)
    except ProtobufError as exc:
        raise ProtobufError(f"{path}: map entry: {exc}") from None
    for number, wire_type, value in triples:
        if number == 1:
            if wire_type != _WIRE_TYPE[key_type]:
                raise ProtobufError(f"{path}: wire type mismatch for a map key: got wire type "
                                    f"{describe_wire_type(wire_type)}, expected "
                                    f"{describe_wire_type(_WIRE_TYPE[key_type])}")
            key = _scalar(key_type, value, path)
        elif number == 2:
            expected = _WIRE_TYPE[value_type]
            if wire_type != expected:
                raise ProtobufError(f"{path}: wire type mismatch for a map value: got wire type "
                                    f"{describe_wire_type(wire_type)}, expected {describe_wire_type(expected)}")
            if value_type == "message" and isinstance(raw_value, bytes) and isinstance(value, bytes):
                raw_value += value  # repeated occurrences of a message merge
            else:
                raw_value = value
    json_key = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
    vpath = f"{path}[{json_key!r}]"
    if value_type == "message":
        assert f.map_value_message is not None
        data = raw_value if isinstance(raw_value, bytes) else b""
        return json_key, _decode_message_value(messages[f.map_value_message], data, vpath)
    if raw_value is None:
        return json_key, _ZERO[value_type]
    return json_key, _scalar(value_type, raw_value, vpath)


def _decode_message_value(spec: MessageSpec, data: bytes, path: str) -> Any:
    """The JSON value of a message-typed field's bytes; ``ABSENT`` where upstream writes ``null``."""
    if spec.custom:
        return _CUSTOM_DECODERS[spec.name](spec, data, path)
    if spec.list_wrapper:
        items = _decode_struct(spec, data, path).get(spec.fields[0].json)
        return items if items is not None else []
    return _decode_struct(spec, data, path)


def _small(spec: MessageSpec, data: bytes, path: str) -> dict[str, Any]:
    """The fields of a hand-marshalled message by proto name: scalars converted, messages as bytes lists."""
    collected = _collect(spec, data, path)
    out: dict[str, Any] = {}
    for f in spec.fields:
        values = collected.get(f.number)
        if values is None:
            continue
        if f.type == "message":
            out[f.name] = [v for v in values if isinstance(v, bytes)]
        elif f.repeated:
            out[f.name] = [_scalar(f.type, v, path) for v in values]
        else:
            out[f.name] = _scalar(f.type, values[-1], path)
    return out


def _decode_time(spec: MessageSpec, data: bytes, path: str) -> Any:
    if not data:
        return ABSENT  # upstream Time.Unmarshal: no bytes is the zero time, whose JSON is null
    fields = _small(spec, data, path)
    seconds = int(fields.get("seconds", 0))
    if seconds == ZERO_TIME_UNIX:
        return ABSENT
    try:
        return format_time(seconds)  # nanos are dropped by upstream's unmarshaller
    except ProtobufError as exc:
        raise ProtobufError(f"{path}: {exc}") from None


def _decode_micro_time(spec: MessageSpec, data: bytes, path: str) -> Any:
    if not data:
        return ABSENT
    fields = _small(spec, data, path)
    seconds, nanos = normalize(int(fields.get("seconds", 0)), truncate_to_micros(int(fields.get("nanos", 0))))
    if is_zero_time(seconds, nanos):
        return ABSENT
    try:
        return format_micro_time(seconds, nanos)
    except ProtobufError as exc:
        raise ProtobufError(f"{path}: {exc}") from None


def _decode_duration(spec: MessageSpec, data: bytes, path: str) -> Any:
    return format_duration(int(_small(spec, data, path).get("duration", 0)))


def _decode_quantity(spec: MessageSpec, data: bytes, path: str) -> Any:
    text = _small(spec, data, path).get("string")
    if text is None:
        return "0"  # the zero Quantity
    try:
        return str(Quantity.parse(text))
    except QuantityError as exc:
        raise ProtobufError(f"{path}: invalid quantity {text!r}: {exc}") from None


def _decode_int_or_string(spec: MessageSpec, data: bytes, path: str) -> Any:
    fields = _small(spec, data, path)
    kind = fields.get("type", 0)
    if kind == 0:
        return fields.get("intVal", 0)
    if kind == 1:
        return fields.get("strVal", "")
    raise ProtobufError(f"{path}: IntOrString has type {kind}; allowed: 0 (int) and 1 (string)")


def _parse_json_bytes(raw: bytes, path: str, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtobufError(f"{path}: {what} does not hold valid JSON ({exc})") from None


def _decode_raw_json(spec: MessageSpec, data: bytes, path: str) -> Any:
    """RawExtension, FieldsV1, apiextensions JSON: the bytes are the JSON value itself."""
    raw = _last_bytes(_collect(spec, data, path).get(spec.fields[0].number))
    if not raw:
        return ABSENT  # nil (or empty) raw JSON is null upstream
    if spec.name == RAW_EXTENSION and raw.startswith(MAGIC):
        return decode(raw)  # an object embedded in protobuf form (as in watch events)
    return _parse_json_bytes(raw, path, spec.name.rsplit(".", 1)[-1])


def _decode_unknown(spec: MessageSpec, data: bytes, path: str) -> Any:
    raw = _last_bytes(_collect(spec, data, path).get(2))
    if not raw:
        return ABSENT
    if raw.startswith(MAGIC):
        return decode(raw)
    return _parse_json_bytes(raw, path, "runtime.Unknown")


def _props(data: bytes, path: str) -> Any:
    return _decode_struct(schema().message(f"{_APIEXT}.JSONSchemaProps"), data, path)


def _decode_props_or_array(spec: MessageSpec, data: bytes, path: str) -> Any:
    fields = _small(spec, data, path)
    schemas = fields.get("jSONSchemas")
    if schemas:
        return [_props(s, f"{path}[{i}]") for i, s in enumerate(schemas)]
    if "schema" in fields:
        return _props(b"".join(fields["schema"]), path)
    return ABSENT


def _decode_props_or_bool(spec: MessageSpec, data: bytes, path: str) -> Any:
    fields = _small(spec, data, path)
    if "schema" in fields:
        return _props(b"".join(fields["schema"]), path)
    return bool(fields.get("allows", False))


def _decode_props_or_string_array(spec: MessageSpec, data: bytes, path: str) -> Any:
    fields = _small(spec, data, path)
    if fields.get("property"):
        return fields["property"]
    if "schema" in fields:
        return _props(b"".join(fields["schema"]), path)
    return ABSENT


_CUSTOM_DECODERS: Final[dict[str, Callable[[MessageSpec, bytes, str], Any]]] = {
    TIME: _decode_time,
    MICRO_TIME: _decode_micro_time,
    DURATION: _decode_duration,
    FIELDS_V1: _decode_raw_json,
    QUANTITY: _decode_quantity,
    QUANTITY_VALUE: _decode_quantity,
    INT_OR_STRING: _decode_int_or_string,
    RAW_EXTENSION: _decode_raw_json,
    UNKNOWN: _decode_unknown,
    JSON_VALUE: _decode_raw_json,
    PROPS_OR_ARRAY: _decode_props_or_array,
    PROPS_OR_BOOL: _decode_props_or_bool,
    PROPS_OR_STRING_ARRAY: _decode_props_or_string_array,
}


# ==================================================================================================
# Encoding: JSON -> protobuf


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _wrong_type(path: str, expected: str, value: Any) -> ProtobufError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ProtobufError(f"{path or 'object'}: expected {expected}, got {_type_name(value)} {shown}")


def _encode_struct(spec: MessageSpec, obj: Any, path: str) -> bytes:
    if not isinstance(obj, Mapping):
        raise _wrong_type(path, f"an object ({spec.name.rsplit('.', 1)[-1]})", obj)
    messages = schema().messages
    w = Writer()
    for f in spec.encode_order:
        if f.inline:
            assert f.message is not None
            w.bytes_field(f.number, _encode_struct(messages[f.message], obj, path))
            continue
        value = None if f.json == "-" else obj.get(f.json)
        _encode_field(w, f, value, path, messages)
    return bytes(w.buf)


def _encode_field(w: Writer, f: FieldSpec, value: Any, path: str, messages: Mapping[str, MessageSpec]) -> None:
    number = f.number
    if f.type == "map":
        if value is None:
            return
        fpath = _join(path, f.json)
        if not isinstance(value, Mapping):
            raise _wrong_type(fpath, "an object", value)
        assert f.map_key is not None and f.map_value is not None
        for key in sorted(value, key=lambda k: _map_sort_key(f.map_key or "string", k, fpath)):
            entry = Writer()
            _write_scalar(entry, 1, f.map_key, _map_key_value(f.map_key, key, fpath), fpath)
            item = value[key]
            vpath = f"{fpath}[{key!r}]"
            if f.map_value == "message":
                assert f.map_value_message is not None
                entry.bytes_field(2, _encode_message_value(messages[f.map_value_message], item, vpath))
            elif item is None:
                if f.map_value != "bytes":  # a nil []byte value is not written, other zeros are
                    _write_scalar(entry, 2, f.map_value, _ZERO[f.map_value], vpath)
            else:
                _write_scalar(entry, 2, f.map_value, item, vpath)
            w.bytes_field(number, entry.buf)
        return
    if f.repeated:
        if value is None:
            return
        fpath = _join(path, f.json)
        if not isinstance(value, list | tuple):
            raise _wrong_type(fpath, "an array", value)
        if f.type == "message":
            assert f.message is not None
            element = messages[f.message]
            for i, item in enumerate(value):
                w.bytes_field(number, _encode_message_value(element, item, f"{fpath}[{i}]"))
        else:
            for i, item in enumerate(value):
                _write_scalar(w, number, f.type, _ZERO[f.type] if item is None else item, f"{fpath}[{i}]")
        return
    if f.type == "message":
        assert f.message is not None
        if value is None and f.pointer:
            return
        w.bytes_field(number, _encode_message_value(messages[f.message], value, _join(path, f.json)))
        return
    if value is None:
        if f.pointer or f.type == "bytes":
            return
        value = _ZERO[f.type]
    _write_scalar(w, number, f.type, value, _join(path, f.json))


def _map_sort_key(key_type: str, key: Any, path: str) -> Any:
    """gogo sorts map keys before writing them: strings bytewise (= by code point), numbers numerically."""
    if key_type == "string":
        return key if isinstance(key, str) else str(key)
    return _map_key_value(key_type, key, path)


def _map_key_value(key_type: str, key: Any, path: str) -> Any:
    """JSON object keys are strings; a numeric or bool map key is written as text in JSON."""
    if key_type == "string" or not isinstance(key, str):
        return key
    if key_type == "bool":
        if key not in ("true", "false"):
            raise ProtobufError(f"{path}: map key {key!r} is not a bool")
        return key == "true"
    try:
        return int(key, 10)
    except ValueError:
        raise ProtobufError(f"{path}: map key {key!r} is not an integer") from None


def _write_scalar(w: Writer, number: int, scalar_type: str, value: Any, path: str) -> None:
    if scalar_type == "string":
        if not isinstance(value, str):
            raise _wrong_type(path, "a string", value)
        try:
            w.bytes_field(number, value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ProtobufError(f"{path}: string is not valid Unicode (lone surrogate)") from None
        return
    if scalar_type == "bool":
        if not isinstance(value, bool):
            raise _wrong_type(path, "a boolean", value)
        w.varint_field(number, 1 if value else 0)
        return
    if scalar_type == "bytes":
        w.bytes_field(number, _decode_base64(value, path))
        return
    if scalar_type in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, "a number", value)
        try:
            packed = struct.pack("<d" if scalar_type == "double" else "<f", float(value))
        except (OverflowError, struct.error):
            raise ProtobufError(f"{path}: {value} does not fit in a {scalar_type}") from None
        if scalar_type == "double":
            w.fixed64_field(number, packed)
        else:
            w.fixed32_field(number, packed)
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(path, f"an integer ({scalar_type})", value)
    low, high = _INT_RANGES[scalar_type]
    if not low <= value <= high:
        raise ProtobufError(f"{path}: {value} is out of range for {scalar_type} ({low} to {high})")
    if scalar_type in ("sint32", "sint64"):
        w.varint_field(number, zigzag_encode(value, 32 if scalar_type == "sint32" else 64))
    elif scalar_type in ("fixed32", "sfixed32"):
        w.fixed32_field(number, (value & 0xFFFF_FFFF).to_bytes(4, "little"))
    elif scalar_type in ("fixed64", "sfixed64"):
        w.fixed64_field(number, (value & ((1 << 64) - 1)).to_bytes(8, "little"))
    else:
        w.varint_field(number, value)


def _decode_base64(value: Any, path: str) -> bytes:
    """Go's []byte JSON form: standard base64 with padding; Go skips line breaks."""
    if not isinstance(value, str):
        raise _wrong_type(path, "a base64 string", value)
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise ProtobufError(f"{path}: {value[:40]!r} is not valid base64 (standard alphabet, padded)") from None


def _encode_message_value(spec: MessageSpec, value: Any, path: str) -> bytes:
    """The bytes of a message-typed field; ``None`` is Go's zero value of the type."""
    if spec.custom:
        return _CUSTOM_ENCODERS[spec.name](spec, value, path)
    if spec.list_wrapper:
        items_field = spec.fields[0]
        w = Writer()
        _encode_field(w, items_field, value, path, schema().messages)
        return bytes(w.buf)
    return _encode_struct(spec, {} if value is None else value, path)


def _timestamp(seconds: int, nanos: int) -> bytes:
    """metav1.Timestamp: both fields always written."""
    w = Writer()
    w.varint_field(1, seconds)
    w.varint_field(2, nanos)
    return bytes(w.buf)


def _parse_time_value(value: Any, path: str) -> tuple[int, int]:
    if not isinstance(value, str):
        raise _wrong_type(path, "an RFC 3339 time string", value)
    try:
        return parse_time(value)
    except ProtobufError as exc:
        raise ProtobufError(f"{path}: {exc}") from None


def _encode_time(spec: MessageSpec, value: Any, path: str) -> bytes:
    if value is None:
        return b""
    seconds, nanos = _parse_time_value(value, path)
    if is_zero_time(seconds, nanos):
        return b""
    return _timestamp(seconds, 0)  # upstream ProtoTime() sends whole seconds


def _encode_micro_time(spec: MessageSpec, value: Any, path: str) -> bytes:
    if value is None:
        return b""
    seconds, nanos = _parse_time_value(value, path)
    if is_zero_time(seconds, nanos):
        return b""
    return _timestamp(seconds, truncate_to_micros(nanos))


def _encode_duration(spec: MessageSpec, value: Any, path: str) -> bytes:
    nanos = 0
    if value is not None:
        if not isinstance(value, str):
            raise _wrong_type(path, "a duration string such as \"1h2m3s\"", value)
        try:
            nanos = parse_duration(value)
        except ProtobufError as exc:
            raise ProtobufError(f"{path}: {exc}") from None
    w = Writer()
    w.varint_field(1, nanos)
    return bytes(w.buf)


def _encode_quantity(spec: MessageSpec, value: Any, path: str) -> bytes:
    if value is None:
        text = "0"
    else:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _wrong_type(path, "a quantity string such as \"100m\" or \"1Gi\"", value)
        try:
            text = str(Quantity.parse(value.strip() if isinstance(value, str) else value))
        except QuantityError as exc:
            raise ProtobufError(f"{path}: invalid quantity {value!r}: {exc}") from None
    w = Writer()
    w.bytes_field(1, text.encode())
    return bytes(w.buf)


def _encode_int_or_string(spec: MessageSpec, value: Any, path: str) -> bytes:
    kind, int_value, str_value = 0, 0, ""
    if isinstance(value, str):
        kind, str_value = 1, value
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 31) <= value < 1 << 31:
            raise ProtobufError(f"{path}: {value} is out of range for an int-or-string (int32)")
        int_value = value
    elif value is not None:
        raise _wrong_type(path, "an integer or a string", value)
    w = Writer()
    w.varint_field(1, kind)
    w.varint_field(2, int_value)
    w.bytes_field(3, str_value.encode("utf-8", "replace"))
    return bytes(w.buf)


def _encode_raw_json(spec: MessageSpec, value: Any, path: str) -> bytes:
    if value is None:
        return b""
    try:
        raw = orjson.dumps(value)
    except TypeError as exc:
        raise ProtobufError(f"{path}: cannot be written as JSON ({exc})") from None
    w = Writer()
    w.bytes_field(spec.fields[0].number, raw)
    return bytes(w.buf)


def _encode_unknown(spec: MessageSpec, value: Any, path: str) -> bytes:
    if value is None:
        return b""
    w = Writer()
    w.bytes_field(2, orjson.dumps(value))
    return bytes(w.buf)


def _encode_props(value: Any, path: str) -> bytes:
    return _encode_struct(schema().message(f"{_APIEXT}.JSONSchemaProps"), value, path)


def _encode_props_or_array(spec: MessageSpec, value: Any, path: str) -> bytes:
    w = Writer()
    if isinstance(value, Mapping):
        w.bytes_field(1, _encode_props(value, path))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            w.bytes_field(2, _encode_props(item, f"{path}[{i}]"))
    elif value is not None:
        raise _wrong_type(path, "a schema object or an array of schemas", value)
    return bytes(w.buf)


def _encode_props_or_bool(spec: MessageSpec, value: Any, path: str) -> bytes:
    w = Writer()
    if isinstance(value, Mapping):
        w.varint_field(1, 1)  # upstream: a schema implies allows
        w.bytes_field(2, _encode_props(value, path))
    elif isinstance(value, bool) or value is None:
        w.varint_field(1, 1 if value else 0)
    else:
        raise _wrong_type(path, "a boolean or a schema object", value)
    return bytes(w.buf)


def _encode_props_or_string_array(spec: MessageSpec, value: Any, path: str) -> bytes:
    w = Writer()
    if isinstance(value, Mapping):
        w.bytes_field(1, _encode_props(value, path))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _write_scalar(w, 2, "string", item, f"{path}[{i}]")
    elif value is not None:
        raise _wrong_type(path, "a schema object or an array of strings", value)
    return bytes(w.buf)


_CUSTOM_ENCODERS: Final[dict[str, Callable[[MessageSpec, Any, str], bytes]]] = {
    TIME: _encode_time,
    MICRO_TIME: _encode_micro_time,
    DURATION: _encode_duration,
    FIELDS_V1: _encode_raw_json,
    QUANTITY: _encode_quantity,
    QUANTITY_VALUE: _encode_quantity,
    INT_OR_STRING: _encode_int_or_string,
    RAW_EXTENSION: _encode_raw_json,
    UNKNOWN: _encode_unknown,
    JSON_VALUE: _encode_raw_json,
    PROPS_OR_ARRAY: _encode_props_or_array,
    PROPS_OR_BOOL: _encode_props_or_bool,
    PROPS_OR_STRING_ARRAY: _encode_props_or_string_array,
}
