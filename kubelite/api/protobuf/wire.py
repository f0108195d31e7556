"""The protobuf binary wire format, as much of it as Kubernetes objects use.

Design
------
A message is a sequence of fields, each a *tag* (``number << 3 | wire type``, as a varint) and a
value whose shape the wire type gives: a varint (0), 8 little-endian bytes (1), a length-prefixed run
of bytes (2: strings, bytes, nested messages, map entries, packed scalars) or 4 little-endian bytes
(5). Wire types 3 and 4 (proto2 groups) bracket a group; no Kubernetes message has one, but a
decoder must still step over an unknown group, as gogo-protobuf does.

This module knows nothing of schemas: :func:`read_fields` splits a message into
``(number, wire type, value)`` triples and :class:`Writer` appends them. Varints are read and
written as unsigned 64-bit numbers, exactly like Go's ``uint64``: a negative ``int32``/``int64`` is
sent as its 64-bit two's complement (ten bytes), and readers cut values back to their width.

Every malformed input raises :class:`ProtobufError` (a :class:`ValueError`) naming what was wrong
and where, so the API server can answer 400 BadRequest with that text.
"""

from __future__ import annotations

import struct
from typing import Final

VARINT: Final = 0
FIXED64: Final = 1
LENGTH_DELIMITED: Final = 2
START_GROUP: Final = 3
END_GROUP: Final = 4
FIXED32: Final = 5

WIRE_TYPE_NAMES: Final = {
    VARINT: "varint",
    FIXED64: "64-bit",
    LENGTH_DELIMITED: "length-delimited",
    START_GROUP: "start-group",
    END_GROUP: "end-group",
    FIXED32: "32-bit",
}

_UINT64_MASK: Final = (1 << 64) - 1
# The deepest nesting of unknown groups we step over; real Kubernetes data has none at all.
_MAX_GROUP_DEPTH: Final = 100

FieldValue = int | bytes


class ProtobufError(ValueError):
    """Protobuf data (or a JSON object to encode) that kubelite cannot convert; the text says why."""


def describe_wire_type(wire_type: int) -> str:
    return f"{wire_type} ({WIRE_TYPE_NAMES.get(wire_type, 'invalid')})"


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned 64-bit varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ProtobufError("truncated data: a varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _UINT64_MASK, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("malformed data: a varint is longer than 10 bytes")


def read_fields(data: bytes) -> list[tuple[int, int, FieldValue]]:
    """Split one message into ``(field number, wire type, value)`` in wire order.

    Varint and fixed-width values come back as unsigned ints, length-delimited ones as ``bytes``.
    A group (no schema here declares one) is stepped over and reported as ``(number, START_GROUP, b"")``
    so that callers can skip it as an unknown field or reject it as a wire-type mismatch.
    """
    fields: list[tuple[int, int, FieldValue]] = []
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = read_varint(data, pos)
        number = tag >> 3
        wire_type = tag & 7
        if number == 0 or number >= 1 << 29:
            raise ProtobufError(f"malformed data: invalid field number {number}")
        value: FieldValue
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            length, pos = read_varint(data, pos)
            if length > end - pos:
                raise ProtobufError(f"truncated data: field {number} declares {length} bytes "
                                    f"but only {end - pos} remain")
            value = data[pos:pos + length]
            pos += length
        elif wire_type == FIXED64:
            if end - pos < 8:
                raise ProtobufError(f"truncated data: field {number} needs 8 bytes, {end - pos} remain")
            value = int.from_bytes(data[pos:pos + 8], "little")
            pos += 8
        elif wire_type == FIXED32:
            if end - pos < 4:
                raise ProtobufError(f"truncated data: field {number} needs 4 bytes, {end - pos} remain")
            value = int.from_bytes(data[pos:pos + 4], "little")
            pos += 4
        elif wire_type == START_GROUP:
            pos = _skip_group(data, pos, number)
            value = b""
        else:
            raise ProtobufError(f"malformed data: field {number} has wire type {describe_wire_type(wire_type)}")
        fields.append((number, wire_type, value))
    return fields


def _skip_group(data: bytes, pos: int, number: int) -> int:
    """Step over a group's content up to and including its end-group tag."""
    depth = 1
    end = len(data)
    while depth:
        if depth > _MAX_GROUP_DEPTH:
            raise ProtobufError("malformed data: groups nested too deeply")
        if pos >= end:
            raise ProtobufError(f"truncated data: group {number} has no end-group tag")
        tag, pos = read_varint(data, pos)
        wire_type = tag & 7
        if wire_type == VARINT:
            _, pos = read_varint(data, pos)
        elif wire_type == LENGTH_DELIMITED:
            length, pos = read_varint(data, pos)
            pos += length
        elif wire_type == FIXED64:
            pos += 8
        elif wire_type == FIXED32:
            pos += 4
        elif wire_type == START_GROUP:
            depth += 1
        elif wire_type == END_GROUP:
            depth -= 1
        else:
            raise ProtobufError(f"malformed data: wire type {wire_type} inside group {number}")
        if pos > end:
            raise ProtobufError(f"truncated data: group {number} runs past the end of the message")
    return pos


def iter_packed_varints(data: bytes) -> list[int]:
    """The varints of a packed repeated field (proto2 parsers accept packed and unpacked alike)."""
    values: list[int] = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        values.append(value)
    return values


def to_int32(value: int) -> int:
    """Go's ``int32(x)`` of a decoded varint: keep the low 32 bits, signed."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def to_int64(value: int) -> int:
    value &= _UINT64_MASK
    return value - (1 << 64) if value >= 1 << 63 else value


def zigzag_decode(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def zigzag_encode(value: int, bits: int) -> int:
    return ((value << 1) ^ (value >> (bits - 1))) & ((1 << bits) - 1)


def unpack_double(bits: int) -> float:
    return float(struct.unpack("<d", bits.to_bytes(8, "little"))[0])


def unpack_float(bits: int) -> float:
    return float(struct.unpack("<f", bits.to_bytes(4, "little"))[0])


class Writer:
    """Appends fields to a growing buffer, in the order they are given."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def varint(self, value: int) -> None:
        value &= _UINT64_MASK
        buf = self.buf
        while value >= 0x80:
            buf.append((value & 0x7F) | 0x80)
            value >>= 7
        buf.append(value)

    def tag(self, number: int, wire_type: int) -> None:
        self.varint(number << 3 | wire_type)

    def varint_field(self, number: int, value: int) -> None:
        self.tag(number, VARINT)
        self.varint(value)

    def bytes_field(self, number: int, value: bytes | bytearray) -> None:
        self.tag(number, LENGTH_DELIMITED)
        self.varint(len(value))
        self.buf += value

    def fixed64_field(self, number: int, value: bytes) -> None:
        self.tag(number, FIXED64)
        self.buf += value

    def fixed32_field(self, number: int, value: bytes) -> None:
        self.tag(number, FIXED32)
        self.buf += value

    def getvalue(self) -> bytes:
        return bytes(self.buf)
