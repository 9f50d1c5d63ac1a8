"""Decoding without a schema, like ``protoc --decode_raw``.

Spec: https://protobuf.dev/programming-guides/encoding/#structure

Without a schema the wire type is all there is: a VARINT record gives an
unsigned number, I32 and I64 records give their little-endian unsigned value,
and a LEN record gives bytes, which may be a string, packed numbers or an
embedded message. Like protoc, ``decode_raw`` reads a LEN payload as a message
when it parses as one completely; unlike protoc, it first keeps printable
UTF-8 text as bytes, since short strings often happen to parse as messages
("hi" would be field 13 = 105).
"""

from __future__ import annotations

from typing import NamedTuple, Union

from .errors import DecodeError
from .message import DEFAULT_RECURSION_LIMIT
from .varint import decode_varint
from .wire_format import WireType, split_tag

__all__ = ["RawField", "decode_raw"]

I32_SIZE = 4
I64_SIZE = 8


class RawField(NamedTuple):
    """One record: field number, wire type, and its value.

    value: int (VARINT, I32, I64), bytes (LEN), or a tuple of RawField (a LEN
    payload that parses as a message, or a group).
    """

    field_number: int
    wire_type: WireType
    value: Union[int, bytes, tuple["RawField", ...]]


def decode_raw(data: bytes | bytearray | memoryview) -> list[RawField]:
    """All records of ``data`` in order, recursing into embedded messages."""
    data = bytes(data)
    fields, pos = _decode_fields(data, 0, len(data), 0, group=None)
    return fields


def _decode_fields(data: bytes, pos: int, end: int, depth: int,
                   group: int | None) -> tuple[list[RawField], int]:
    if depth > DEFAULT_RECURSION_LIMIT:
        raise DecodeError(f"nested deeper than {DEFAULT_RECURSION_LIMIT} levels")
    fields: list[RawField] = []
    while pos < end:
        tag, pos = decode_varint(data, pos, end)
        field_number, wire_type = split_tag(tag)
        if wire_type == WireType.EGROUP:
            if group != field_number:
                raise DecodeError(f"unexpected end-group tag for field {field_number}")
            return fields, pos
        value, pos = _decode_value(data, pos, end, depth, field_number, wire_type)
        fields.append(RawField(field_number, WireType(wire_type), value))
    if group is not None:
        raise DecodeError(f"group {group} has no end-group tag")
    return fields, pos


def _decode_value(data: bytes, pos: int, end: int, depth: int, field_number: int,
                  wire_type: int):
    if wire_type == WireType.VARINT:
        return decode_varint(data, pos, end)
    if wire_type == WireType.I32:
        return _fixed(data, pos, end, I32_SIZE)
    if wire_type == WireType.I64:
        return _fixed(data, pos, end, I64_SIZE)
    if wire_type == WireType.SGROUP:
        fields, pos = _decode_fields(data, pos, end, depth + 1, group=field_number)
        return tuple(fields), pos
    length, pos = decode_varint(data, pos, end)
    if length > end - pos:
        raise DecodeError(f"field {field_number}: length {length} past the end of input")
    payload = data[pos:pos + length]
    return _message_or_bytes(payload, depth), pos + length


def _message_or_bytes(payload: bytes, depth: int):
    if not payload or _is_text(payload):
        return payload
    try:
        fields, _ = _decode_fields(payload, 0, len(payload), depth + 1, group=None)
    except DecodeError:
        return payload
    return tuple(fields)


def _is_text(payload: bytes) -> bool:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() or all(ch.isprintable() or ch in "\t\r\n" for ch in text)




def _fixed(data: bytes, pos: int, end: int, size: int) -> tuple[int, int]:
    if size > end - pos:
        raise DecodeError(f"fixed-width value needs {size} bytes, {end - pos} left")
    return int.from_bytes(data[pos:pos + size], "little"), pos + size
