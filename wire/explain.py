"""Step-by-step breakdowns of encoded messages, for notebooks and the demo.

Spec: https://protobuf.dev/programming-guides/encoding/ (every rule it shows
is one line here: tags, varint 7-bit groups, lengths, ZigZag, little-endian
fixed-width numbers, embedded messages, packed repeated fields).

    >>> print(wire.explain(bytes.fromhex("089601")))
    0000  08        tag 0x08: field 1, wire type 0 (VARINT)
    0001  96 01     varint 150: 0x96 = more + 0010110, 0x01 = last + 0000001
                    -> 0000001 0010110 = 150

With a message class (or a message), field names and types are shown and each
value is read as its type says: sint32 through ZigZag, float from its four
little-endian bytes, a string as text, an embedded message field by field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .errors import DecodeError
from .message import DEFAULT_RECURSION_LIMIT, Message
from .raw import _is_text
from .scalars import SCALARS
from .schema import FieldSchema, FieldType
from .varint import MAX_VARINT_LENGTH, decode_varint, decode_zigzag
from .wire_format import WireType, split_tag

__all__ = ["explain", "Explanation", "Step"]

HEX_COLUMN_WIDTH = 24      # characters of hex shown before the meaning
INDENT = "  "
ZIGZAG_TYPES = {FieldType.SINT32, FieldType.SINT64}
FIXED_FORMATS = {          # little-endian struct formats of the I32/I64 types
    FieldType.FIXED32: "<I", FieldType.SFIXED32: "<i", FieldType.FLOAT: "<f",
    FieldType.FIXED64: "<Q", FieldType.SFIXED64: "<q", FieldType.DOUBLE: "<d",
}


@dataclass(frozen=True)
class Step:
    """One piece of the input: where it starts, its bytes, what it means."""

    offset: int
    raw: bytes
    depth: int
    meaning: str


class Explanation:
    """The steps of a breakdown; prints as an aligned, annotated hex listing."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def __str__(self) -> str:
        return "\n".join(_format_step(step) for step in self.steps)

    __repr__ = __str__

    def __iter__(self):
        return iter(self.steps)


def _format_step(step: Step) -> str:
    indent = INDENT * step.depth
    hex_bytes = step.raw.hex(" ")
    if len(hex_bytes) > HEX_COLUMN_WIDTH:
        hex_bytes = hex_bytes[:HEX_COLUMN_WIDTH - 3] + "..."
    lines = step.meaning.split("\n")
    first = f"{step.offset:04x}  {indent}{hex_bytes:<{HEX_COLUMN_WIDTH}}  {lines[0]}"
    pad = " " * (6 + len(indent) + HEX_COLUMN_WIDTH + 2)
    return "\n".join([first] + [pad + line for line in lines[1:]])


def explain(data: bytes | Message, message_type: type[Message] | None = None) -> Explanation:
    """Break ``data`` (or a message's encoding) down record by record."""
    if isinstance(data, Message):
        message_type = message_type or type(data)
        data = data.encode()
    data = bytes(data)
    steps: list[Step] = []
    _explain_message(data, 0, len(data), 0, message_type, steps)
    return Explanation(steps)


def explain_varint(data: bytes, pos: int = 0) -> str:
    """'0x96 = more + 0010110, 0x01 = last + 0000001 -> ... = 150'."""
    value, end = decode_varint(data, pos)
    groups = []
    for byte in data[pos:end]:
        flag = "more" if byte & 0x80 else "last"
        groups.append(f"0x{byte:02x} = {flag} + {byte & 0x7F:07b}")
    if end - pos == 1:
        return f"varint {value}"
    payload = " ".join(f"{b & 0x7F:07b}" for b in reversed(data[pos:end]))
    return f"varint {value}: " + ", ".join(groups) + f"\n-> {payload} = {value}"


def _explain_message(data: bytes, pos: int, end: int, depth: int,
                     message_type: type[Message] | None, steps: list[Step]) -> None:
    if depth > DEFAULT_RECURSION_LIMIT:
        raise DecodeError(f"nested deeper than {DEFAULT_RECURSION_LIMIT} levels")
    fields = _fields_by_number(message_type)
    while pos < end:
        tag, after_tag = decode_varint(data, pos)
        field_number, wire_type = split_tag(tag)
        field = fields.get(field_number)
        if field is not None and not _wire_type_fits(field, wire_type):
            field = None      # read as an unknown record, as a decoder would
        steps.append(Step(pos, data[pos:after_tag], depth,
                          _tag_meaning(tag, field_number, wire_type, field)))
        pos = _explain_value(data, after_tag, end, depth, wire_type, field, steps)
    if pos > end:
        raise DecodeError("record runs past the end of its message")


def _wire_type_fits(field: FieldSchema, wire_type: int) -> bool:
    if field.type in (FieldType.MESSAGE, FieldType.STRING, FieldType.BYTES):
        return wire_type == WireType.LEN
    if field.repeated and wire_type == WireType.LEN:
        return True   # packed
    return wire_type == SCALARS[field.type].wire_type


def _tag_meaning(tag: int, field_number: int, wire_type: int,
                 field: FieldSchema | None) -> str:
    name = f" `{field.name}` ({_type_name(field)})" if field else ""
    return (f"tag 0x{tag:02x} = ({field_number} << 3) | {wire_type}: "
            f"field {field_number}{name}, wire type {wire_type} ({WireType(wire_type).name})")


def _type_name(field: FieldSchema) -> str:
    if field.is_map:
        key, value = field.message_type.fields
        return f"map<{_type_name(key)}, {_type_name(value)}> entry"
    label = "repeated " if field.repeated else ""
    if field.type in (FieldType.MESSAGE, FieldType.ENUM) and field.type_name:
        return label + field.type_name.lstrip(".")
    return label + field.type.name.lower()


def _explain_value(data: bytes, pos: int, end: int, depth: int, wire_type: int,
                   field: FieldSchema | None, steps: list[Step]) -> int:
    if wire_type == WireType.VARINT:
        value, after = decode_varint(data, pos)
        steps.append(Step(pos, data[pos:after], depth,
                          explain_varint(data, pos) + _varint_reading(value, field)))
        return after
    if wire_type in (WireType.I32, WireType.I64):
        size = 4 if wire_type == WireType.I32 else 8
        if size > end - pos:
            raise DecodeError(f"fixed-width value needs {size} bytes, {end - pos} left")
        raw = data[pos:pos + size]
        steps.append(Step(pos, raw, depth, _fixed_reading(raw, field)))
        return pos + size
    if wire_type == WireType.LEN:
        return _explain_len(data, pos, end, depth, field, steps)
    if wire_type == WireType.SGROUP:
        steps.append(Step(pos, b"", depth, "group start (fields follow until end-group)"))
        return pos
    steps.append(Step(pos, b"", depth, "group end"))
    return pos


def _varint_reading(value: int, field: FieldSchema | None) -> str:
    if field is None:
        return ""
    if field.type in ZIGZAG_TYPES:
        return f"\nzigzag: ({value} >> 1) ^ -({value} & 1) = {decode_zigzag(value)}"
    if field.type == FieldType.BOOL:
        return f"\nbool: {bool(value)}"
    if value >= 1 << 63 and field.type in (FieldType.INT32, FieldType.INT64, FieldType.ENUM):
        return f"\n{MAX_VARINT_LENGTH} bytes: two's complement in 64 bits = {value - (1 << 64)}"
    if field.type == FieldType.ENUM and field.enum_type is not None:
        names = {v.number: v.name for v in field.enum_type.values}
        return f"\nenum: {names.get(value, 'unknown number')}"
    return ""


def _fixed_reading(raw: bytes, field: FieldSchema | None) -> str:
    unsigned = int.from_bytes(raw, "little")
    text = f"{len(raw)} bytes little-endian = {unsigned}"
    if field is not None and field.type in FIXED_FORMATS:
        value = struct.unpack(FIXED_FORMATS[field.type], raw)[0]
        text += f"\n{field.type.name.lower()}: {value!r}"
    return text


def _explain_len(data: bytes, pos: int, end: int, depth: int,
                 field: FieldSchema | None, steps: list[Step]) -> int:
    length, start = decode_varint(data, pos)
    if length > end - start:
        raise DecodeError(f"length {length} runs past the end of the input")
    steps.append(Step(pos, data[pos:start], depth, f"length {length}"))
    payload = data[start:start + length]
    stop = start + length
    if _is_message(field, payload):
        nested = _class_of(field) if field is not None else None
        _explain_message(data, start, stop, depth + 1, nested, steps)
    elif length:
        steps.append(Step(start, payload, depth, _payload_reading(payload, field)))
    return stop


def _is_message(field: FieldSchema | None, payload: bytes) -> bool:
    if field is not None:
        return field.type == FieldType.MESSAGE
    if not payload or _is_text(payload):
        return False
    try:
        _explain_message(payload, 0, len(payload), 1, None, [])
    except DecodeError:
        return False
    return True


def _payload_reading(payload: bytes, field: FieldSchema | None) -> str:
    if field is None:
        return f"{len(payload)} bytes: {payload!r}"
    if field.type == FieldType.STRING:
        return f"string (UTF-8): {payload.decode('utf-8', 'replace')!r}"
    if field.type == FieldType.BYTES:
        return f"bytes: {payload!r}"
    return f"packed {field.type.name.lower()} values: {_packed_values(payload, field)}"


def _packed_values(payload: bytes, field: FieldSchema) -> list[Any]:
    if field.type in FIXED_FORMATS:
        fmt = FIXED_FORMATS[field.type]
        size = struct.calcsize(fmt)
        return [struct.unpack_from(fmt, payload, i)[0] for i in range(0, len(payload) - size + 1, size)]
    values, pos = [], 0
    while pos < len(payload):
        value, pos = decode_varint(payload, pos)
        values.append(decode_zigzag(value) if field.type in ZIGZAG_TYPES else value)
    return values


def _fields_by_number(message_type: type[Message] | None) -> dict[int, FieldSchema]:
    if message_type is None:
        return {}
    return {field.number: field for field in message_type._schema.fields}


def _class_of(field: FieldSchema) -> type[Message]:
    from .message import message_class
    return message_class(field.message_type)
