"""Message classes: Python objects that encode and decode themselves.

Spec: https://protobuf.dev/programming-guides/encoding/ ("Message Structure",
"Length-Delimited Records", "Repeated Elements", "Maps", "Oneofs",
"Last One Wins") and the field presence rules of
https://protobuf.dev/programming-guides/field_presence/.

    message := (tag payload)*      records in any order, any field any number of times

Writing, a message walks its fields in number order and leaves out what proto3
says to leave out (a field at its zero value without explicit presence, an
empty repeated field, an unset message), then appends the unknown fields it
kept from decoding. Reading, each record's tag finds the field's reader; a
record nobody knows is skipped and kept, so that re-encoding writes it back.

In Python, a message is an instance of a class made by ``message_class(schema)``:

    Product(name="book", price=1.5)        keyword constructor, unset fields at default
    product.encode() -> bytes              Product.decode(data) -> Product

Unset message fields, proto3 ``optional`` fields and oneof members read as
None, which is how presence shows. Repeated fields are lists, maps are dicts.
"""

from __future__ import annotations

import enum
import math
import struct
import weakref
from typing import Any, ClassVar

from .errors import DecodeError, EncodeError, SchemaError
from .scalars import SCALARS, ScalarType, decode_utf8
from .schema import EnumSchema, FieldSchema, FieldType, MAP_KEY_TYPES, MessageSchema
from .varint import decode_varint, encode_varint
from .wire_format import (
    WireType,
    check_field_number,
    encode_tag,
    make_tag,
    split_tag,
)

__all__ = ["Message", "message_class", "enum_class", "DEFAULT_RECURSION_LIMIT"]

# How deep messages may nest, on the way in and on the way out. protobuf's
# parsers stop at 100 too; a hostile 10,000-level input must end in a
# DecodeError, long before Python's own recursion limit.
DEFAULT_RECURSION_LIMIT = 100

CONTINUATION_BIT = 0x80   # varint: set on every byte but the last
PAYLOAD_MASK = 0x7F       # varint: the 7 bits of the number in each byte
PAYLOAD_BITS = 7
I32_SIZE = 4
I64_SIZE = 8
FIXED_SIZES = {WireType.I32: I32_SIZE, WireType.I64: I64_SIZE}

# How the encoder decides whether a field is on the wire.
PRESENCE_EXPLICIT = "explicit"    # written when not None (messages, oneofs, optional)
PRESENCE_IMPLICIT = "implicit"    # proto3 scalars: written when not the zero value
PRESENCE_REPEATED = "repeated"    # repeated fields and maps: written when not empty


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A varint that must end by ``end`` (the end of the enclosing message).

    One- and two-byte varints (numbers below 16384, tags of fields below 2048)
    are read here, inline; longer ones by ``decode_varint``.
    """
    if pos + 1 < end:
        byte = data[pos]
        if byte < CONTINUATION_BIT:
            return byte, pos + 1
        second = data[pos + 1]
        if second < CONTINUATION_BIT:
            return (byte & PAYLOAD_MASK) | (second << PAYLOAD_BITS), pos + 2
    return decode_varint(data, pos, end)


def _read_length(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """The length of a LEN record, checked against the input before any slicing."""
    length, pos = _read_varint(data, pos, end)
    if length > end - pos:
        raise DecodeError(
            f"{what}: length {length} runs past the end of the input "
            f"({end - pos} bytes left)"
        )
    return length, pos


def _check_room(pos: int, size: int, end: int, what: str) -> None:
    if size > end - pos:
        raise DecodeError(f"{what}: needs {size} bytes, {end - pos} left")


# --- field codecs -----------------------------------------------------------
#
# One small object per field, chosen by the field's shape and wire type.
# ``write`` puts the field's records in ``out`` (the caller has decided the
# field is present); ``readers`` lists the tags this field answers to and the
# method that reads the record's payload after each tag. Scalar codecs also
# offer ``payload`` and ``read_value``, the bare value without a tag, which
# packed fields and map entries build on.

_ENCODE_FAILURES = (TypeError, ValueError, OverflowError, struct.error)


class _FieldCodec:
    presence = PRESENCE_IMPLICIT
    default: Any = None
    signed_zero = False          # floats: -0.0 equals the default but is written

    def __init__(self, field: FieldSchema, owner: str) -> None:
        self.field = field
        self.name = field.name
        self.where = f"{owner}.{field.name}"
        self.oneof_siblings: tuple[str, ...] = ()

    def fail(self, exc: Exception | str) -> EncodeError:
        if isinstance(exc, UnicodeEncodeError):   # lone surrogates in a str
            exc = f"string is not valid UTF-8: {exc.reason}"
        return EncodeError(f"{self.where}: {exc}")

    def store(self, msg: Message, value: Any) -> None:
        """Set a decoded singular value; in a oneof, clear the other members."""
        for sibling in self.oneof_siblings:
            setattr(msg, sibling, None)
        setattr(msg, self.name, value)


class _ScalarCodec(_FieldCodec):
    """What every singular scalar shares: its tag, its check, its zero value."""

    def __init__(self, field: FieldSchema, owner: str, scalar: ScalarType) -> None:
        super().__init__(field, owner)
        self.scalar = scalar
        self.check = scalar.check
        self.default = scalar.default
        self.wire_type = scalar.wire_type
        self.tag = encode_tag(field.number, scalar.wire_type)

    def readers(self):
        return [(make_tag(self.field.number, self.wire_type), self.read)]

    def write(self, value: Any, out: bytearray, depth: int) -> None:
        out += self.tag
        out += self.payload(value)

    def read(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        value, pos = self.read_value(data, pos, end)
        if self.oneof_siblings:
            self.store(msg, value)
        else:
            setattr(msg, self.name, value)
        return pos


class _VarintCodec(_ScalarCodec):
    """int32, int64, uint32, uint64, sint32, sint64, bool, enum: one varint."""

    def __init__(self, field: FieldSchema, owner: str, scalar: ScalarType) -> None:
        super().__init__(field, owner, scalar)
        self.to_wire = scalar.to_wire
        self.from_wire = scalar.from_wire
        self.enum_values = _enum_lookup(field.enum_type)
        # proto2 enums are closed: a number the enum does not list is kept as
        # an unknown field, not stored in the field (language guide, "Enums").
        self.closed = field.enum_type is not None and field.enum_type.closed

    def read(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        value, pos = self.read_value(data, pos, end)
        if self.closed and value not in self.enum_values:
            self.keep_unknown_number(msg, value)
        elif self.oneof_siblings:
            self.store(msg, value)
        else:
            setattr(msg, self.name, value)
        return pos

    def keep_unknown_number(self, msg: Message, value: int) -> None:
        """A closed enum's unlisted number becomes an unknown VARINT record."""
        _append_unknown(msg, self.tag + encode_varint(self.to_wire(value)))

    def payload(self, value: Any) -> bytes:
        try:
            return encode_varint(self.to_wire(self.check(value)))
        except _ENCODE_FAILURES as exc:
            raise self.fail(exc) from None

    def read_value(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        if pos < end and data[pos] < CONTINUATION_BIT:
            raw, pos = data[pos], pos + 1
        else:
            raw, pos = _read_varint(data, pos, end)
        value = self.from_wire(raw)
        if self.enum_values is not None:
            value = self.enum_values.get(value, value)
        return value, pos


class _FixedCodec(_ScalarCodec):
    """fixed32, sfixed32, float (4 bytes); fixed64, sfixed64, double (8 bytes)."""

    def __init__(self, field: FieldSchema, owner: str, scalar: ScalarType) -> None:
        super().__init__(field, owner, scalar)
        self.packer = scalar.packer
        self.size = scalar.packer.size
        self.signed_zero = field.type in (FieldType.FLOAT, FieldType.DOUBLE)

    def payload(self, value: Any) -> bytes:
        try:
            return self.packer.pack(self.check(value))
        except _ENCODE_FAILURES as exc:
            raise self.fail(exc) from None

    def read_value(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        size = self.size
        if size > end - pos:
            raise DecodeError(f"{self.where}: needs {size} bytes, {end - pos} left")
        return self.packer.unpack_from(data, pos)[0], pos + size


class _StringCodec(_ScalarCodec):
    """string: a varint length, then UTF-8 (invalid UTF-8 is a DecodeError)."""

    def payload(self, value: Any) -> bytes:
        try:
            raw = self.check(value).encode("utf-8")
        except _ENCODE_FAILURES as exc:
            raise self.fail(exc) from None
        return encode_varint(len(raw)) + raw

    def read_value(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        length, pos = _read_length(data, pos, end, self.where)
        return decode_utf8(data[pos:pos + length], self.where), pos + length


class _BytesCodec(_ScalarCodec):
    """bytes: a varint length, then the bytes as they are."""

    def payload(self, value: Any) -> bytes:
        try:
            raw = self.check(value)
        except _ENCODE_FAILURES as exc:
            raise self.fail(exc) from None
        return encode_varint(len(raw)) + raw

    def read_value(self, data: bytes, pos: int, end: int) -> tuple[Any, int]:
        length, pos = _read_length(data, pos, end, self.where)
        return data[pos:pos + length], pos + length


class _MessageFieldCodec(_FieldCodec):
    """A singular embedded message: a LEN record holding the encoded message."""

    presence = PRESENCE_EXPLICIT

    def __init__(self, field: FieldSchema, owner: str) -> None:
        super().__init__(field, owner)
        self.tag = encode_tag(field.number, WireType.LEN)
        self.cls = message_class(field.message_type)

    def readers(self):
        return [(make_tag(self.field.number, WireType.LEN), self.read)]

    def write(self, value: Any, out: bytearray, depth: int) -> None:
        if not isinstance(value, self.cls):
            raise self.fail(f"expected {self.cls.__name__}, got {type(value).__name__}")
        payload = value._get_codec().encode(value, depth + 1)
        out += self.tag
        out += encode_varint(len(payload))
        out += payload

    def read(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        length, pos = _read_length(data, pos, end, self.where)
        current = getattr(msg, self.name)
        if current is None:          # a message seen twice merges into the first
            current = self.cls()
            self.store(msg, current)
        current._get_codec().decode_into(current, data, pos, pos + length, depth + 1)
        return pos + length


_PLAIN_INTEGER_TYPES = frozenset({FieldType.INT32, FieldType.INT64, FieldType.UINT32,
                                  FieldType.UINT64})


class _RepeatedScalarCodec(_FieldCodec):
    """A repeated scalar. Numbers are packed into one LEN record unless the
    schema says otherwise; a reader takes both the packed and unpacked forms."""

    presence = PRESENCE_REPEATED

    def __init__(self, field: FieldSchema, owner: str, element: _ScalarCodec, packed: bool) -> None:
        super().__init__(field, owner)
        self.element = element
        self.packed = packed and element.scalar.packable
        self.len_tag = encode_tag(field.number, WireType.LEN)
        # fixed-width numbers pack and unpack with one struct call: "<3I"
        self.struct_code = element.packer.format[-1] if isinstance(element, _FixedCodec) else None
        # a one-byte varint of these types is the number itself
        self.plain_integers = field.type in _PLAIN_INTEGER_TYPES
        self.closed_enum = getattr(element, "closed", False)

    def readers(self):
        number = self.field.number
        readers = [(make_tag(number, self.element.wire_type), self.read_one)]
        if self.element.scalar.packable:
            readers.append((make_tag(number, WireType.LEN), self.read_packed))
        return readers

    def write(self, values: list, out: bytearray, depth: int) -> None:
        if not isinstance(values, (list, tuple)):
            raise self.fail(f"expected a list, got {type(values).__name__}")
        if not self.packed:
            for value in values:
                self.element.write(value, out, depth)
            return
        payload = self.packed_payload(values)
        out += self.len_tag
        out += encode_varint(len(payload))
        out += payload

    def packed_payload(self, values: list) -> bytes:
        if self.struct_code is None:
            return b"".join([self.element.payload(value) for value in values])
        try:
            checked = [self.element.check(value) for value in values]
            return struct.pack(f"<{len(checked)}{self.struct_code}", *checked)
        except _ENCODE_FAILURES as exc:
            raise self.fail(exc) from None

    def read_one(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        value, pos = self.element.read_value(data, pos, end)
        self.append(msg, getattr(msg, self.name), value)
        return pos

    def append(self, msg: Message, values: list, value: Any) -> None:
        element = self.element
        if self.closed_enum and value not in element.enum_values:
            element.keep_unknown_number(msg, value)
        else:
            values.append(value)

    def read_packed(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        length, pos = _read_length(data, pos, end, self.where)
        stop = pos + length
        values = getattr(msg, self.name)
        if self.struct_code is not None:
            count, remainder = divmod(length, self.element.size)
            if remainder:
                raise DecodeError(f"{self.where}: packed length {length} is not a "
                                  f"multiple of {self.element.size}")
            values.extend(struct.unpack_from(f"<{count}{self.struct_code}", data, pos))
            return stop
        if self.plain_integers and max(data[pos:stop], default=0) < CONTINUATION_BIT:
            values.extend(data[pos:stop])      # every element is a one-byte varint
            return stop
        read_value = self.element.read_value
        if self.closed_enum:
            while pos < stop:
                value, pos = read_value(data, pos, stop)
                self.append(msg, values, value)
            return stop
        append = values.append
        while pos < stop:
            value, pos = read_value(data, pos, stop)
            append(value)
        return stop


class _RepeatedMessageCodec(_FieldCodec):
    """A repeated embedded message: one LEN record per element."""

    presence = PRESENCE_REPEATED

    def __init__(self, field: FieldSchema, owner: str) -> None:
        super().__init__(field, owner)
        self.element = _MessageFieldCodec(field, owner)
        self.cls = self.element.cls

    def readers(self):
        return [(make_tag(self.field.number, WireType.LEN), self.read)]

    def write(self, values: list, out: bytearray, depth: int) -> None:
        if not isinstance(values, (list, tuple)):
            raise self.fail(f"expected a list, got {type(values).__name__}")
        for value in values:
            self.element.write(value, out, depth)

    def read(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        length, pos = _read_length(data, pos, end, self.where)
        element = self.cls()
        element._get_codec().decode_into(element, data, pos, pos + length, depth + 1)
        getattr(msg, self.name).append(element)
        return pos + length


class _MapCodec(_FieldCodec):
    """map<K, V>: a repeated entry message {key = 1; value = 2;} per pair."""

    presence = PRESENCE_REPEATED

    def __init__(self, field: FieldSchema, owner: str) -> None:
        super().__init__(field, owner)
        entry = field.message_type
        self.entry_cls = message_class(entry)
        self.key = _singular_codec(entry.field_named("key"), self.where)
        self.value = _singular_codec(entry.field_named("value"), self.where)
        self.tag = encode_tag(field.number, WireType.LEN)

    def readers(self):
        return [(make_tag(self.field.number, WireType.LEN), self.read)]

    def write(self, mapping: dict, out: bytearray, depth: int) -> None:
        if not isinstance(mapping, dict):
            raise self.fail(f"expected dict, got {type(mapping).__name__}")
        for key, value in mapping.items():
            entry = bytearray()
            self.key.write(key, entry, depth)    # both key and value, always
            self.value.write(value, entry, depth)
            out += self.tag
            out += encode_varint(len(entry))
            out += entry

    def read(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> int:
        length, pos = _read_length(data, pos, end, self.where)
        entry = self.entry_cls()
        entry._get_codec().decode_into(entry, data, pos, pos + length, depth + 1)
        value = entry.value
        if value is None:            # a message value missing from its entry
            value = self.value.cls()
        getattr(msg, self.name)[entry.key] = value
        return pos + length


def _enum_lookup(enum_schema: EnumSchema | None) -> dict[int, Any] | None:
    """Known enum numbers map to IntEnum members; unknown ones stay ints."""
    if enum_schema is None:
        return None
    cls = enum_class(enum_schema)
    return {member.value: member for member in cls}


_SCALAR_CODECS = {
    WireType.VARINT: _VarintCodec,
    WireType.I32: _FixedCodec,
    WireType.I64: _FixedCodec,
}


def _singular_codec(field: FieldSchema, owner: str) -> _FieldCodec:
    if field.type == FieldType.MESSAGE:
        return _MessageFieldCodec(field, owner)
    if field.type == FieldType.GROUP:
        raise SchemaError(f"{owner}.{field.name}: groups are not supported")
    scalar = SCALARS[field.type]
    if field.type == FieldType.STRING:
        return _StringCodec(field, owner, scalar)
    if field.type == FieldType.BYTES:
        return _BytesCodec(field, owner, scalar)
    return _SCALAR_CODECS[scalar.wire_type](field, owner, scalar)


def _field_codec(field: FieldSchema, schema: MessageSchema) -> _FieldCodec:
    owner = schema.full_name
    if field.is_map:
        return _MapCodec(field, owner)
    if not field.repeated:
        codec = _singular_codec(field, owner)
        if _has_explicit_presence(field, schema):
            codec.presence = PRESENCE_EXPLICIT
        return codec
    if field.type == FieldType.MESSAGE:
        return _RepeatedMessageCodec(field, owner)
    packed = field.packed if field.packed is not None else schema.syntax == "proto3"
    return _RepeatedScalarCodec(field, owner, _singular_codec(field, owner), packed)


def _has_explicit_presence(field: FieldSchema, schema: MessageSchema) -> bool:
    """Field presence: messages, oneof members, proto3 optional, proto2 singulars.

    A map entry's key and value have none, in proto2 too: a missing one reads
    as its type's default (language guide, "Maps": "Backwards compatibility").
    """
    if field.type == FieldType.MESSAGE:
        return True
    if schema.map_entry:
        return False
    return field.oneof_index is not None or field.proto3_optional or schema.syntax == "proto2"


# --- the per-class codec ----------------------------------------------------


class _MessageCodec:
    """Everything a message class needs to go to and from bytes, built once."""

    def __init__(self, cls: type[Message]) -> None:
        schema = cls._schema
        self.cls = cls
        self.name = schema.full_name
        self.fields = [
            _field_codec(field, schema)
            for field in sorted(schema.fields, key=lambda f: f.number)
        ]
        self.readers: dict[int, Any] = {}
        for codec in self.fields:
            codec.oneof_siblings = _oneof_siblings(codec.field, schema)
            for tag, reader in codec.readers():
                self.readers[tag] = reader

    # Writing -------------------------------------------------------------

    def encode(self, msg: Message, depth: int = 0) -> bytes:
        if depth > DEFAULT_RECURSION_LIMIT:
            raise EncodeError(f"{self.name}: messages nested deeper than "
                              f"{DEFAULT_RECURSION_LIMIT} levels")
        out = bytearray()
        for codec in self.fields:
            value = getattr(msg, codec.name)
            presence = codec.presence
            if presence is PRESENCE_IMPLICIT:
                if value == codec.default and not (
                        codec.signed_zero and math.copysign(1.0, value) < 0):
                    continue
            elif presence is PRESENCE_EXPLICIT:
                if value is None:
                    continue
            elif not value:           # an empty repeated field or map
                continue
            codec.write(value, out, depth)
        self.check_oneofs(msg)
        if msg._unknown:
            out += msg._unknown
        return bytes(out)

    @staticmethod
    def is_present(codec: _FieldCodec, value: Any) -> bool:
        """Whether ``value`` goes on the wire (the same rules as ``encode``)."""
        if codec.presence is PRESENCE_IMPLICIT:
            return value != codec.default or (
                codec.signed_zero and math.copysign(1.0, value) < 0)
        if codec.presence is PRESENCE_EXPLICIT:
            return value is not None
        return bool(value)

    def check_oneofs(self, msg: Message) -> None:
        for oneof_name, members in self.cls._oneofs.items():
            present = [name for name in members if getattr(msg, name) is not None]
            if len(present) > 1:
                raise EncodeError(f"{self.name}: oneof {oneof_name!r} has more than "
                                  f"one member set: {', '.join(present)}")

    # Reading -------------------------------------------------------------

    def decode_into(self, msg: Message, data: bytes, pos: int, end: int, depth: int) -> None:
        if depth > DEFAULT_RECURSION_LIMIT:
            raise DecodeError(f"{self.name}: messages nested deeper than "
                              f"{DEFAULT_RECURSION_LIMIT} levels")
        readers = self.readers
        while pos < end:
            byte = data[pos]
            if byte < CONTINUATION_BIT:
                tag, pos = byte, pos + 1
            else:
                tag, pos = _read_varint(data, pos, end)
            reader = readers.get(tag)
            if reader is not None:
                pos = reader(msg, data, pos, end, depth)
            else:
                pos = self.keep_unknown(msg, tag, data, pos, end, depth)

    def keep_unknown(self, msg: Message, tag: int, data: bytes, pos: int,
                     end: int, depth: int) -> int:
        """Skip a record no field claims, and keep its bytes for re-encoding."""
        field_number, wire_type = split_tag(tag)
        if wire_type == WireType.EGROUP:
            raise DecodeError(f"{self.name}: end-group tag for field "
                              f"{field_number} without a start")
        start = pos
        pos = _skip_payload(field_number, wire_type, data, pos, end, depth)
        _append_unknown(msg, encode_varint(tag) + data[start:pos])
        return pos


def _append_unknown(msg: Message, record: bytes) -> None:
    """Keep a record no field takes, to be written back after the known fields."""
    if msg._unknown is None:
        msg._unknown = bytearray()
    msg._unknown += record


def _skip_payload(field_number: int, wire_type: int, data: bytes, pos: int,
                  end: int, depth: int) -> int:
    """Find the end of one record's payload from its wire type alone."""
    if wire_type == WireType.VARINT:
        return _read_varint(data, pos, end)[1]
    if wire_type == WireType.LEN:
        length, pos = _read_length(data, pos, end, f"field {field_number}")
        return pos + length
    if wire_type in FIXED_SIZES:
        size = FIXED_SIZES[wire_type]
        _check_room(pos, size, end, f"field {field_number}")
        return pos + size
    return _skip_group(field_number, data, pos, end, depth)


def _skip_group(field_number: int, data: bytes, pos: int, end: int, depth: int) -> int:
    """Skip records up to the end-group tag that closes ``field_number``."""
    if depth > DEFAULT_RECURSION_LIMIT:
        raise DecodeError(f"groups nested deeper than {DEFAULT_RECURSION_LIMIT} levels")
    while pos < end:
        tag, pos = _read_varint(data, pos, end)
        inner_number, wire_type = split_tag(tag)
        if wire_type == WireType.EGROUP:
            if inner_number != field_number:
                raise DecodeError(f"group {field_number} closed by end-group "
                                  f"{inner_number}")
            return pos
        pos = _skip_payload(inner_number, wire_type, data, pos, end, depth + 1)
    raise DecodeError(f"group {field_number} has no end-group tag")


def _oneof_siblings(field: FieldSchema, schema: MessageSchema) -> tuple[str, ...]:
    if field.oneof_index is None:
        return ()
    return tuple(
        other.name for other in schema.fields
        if other.oneof_index == field.oneof_index and other is not field
    )


# --- the Message base class -------------------------------------------------


class Message:
    """Base of every message class. Subclasses come from ``message_class``."""

    __slots__ = ("_unknown",)

    _schema: ClassVar[MessageSchema]
    _codec: ClassVar[_MessageCodec | None] = None
    _defaults: ClassVar[tuple[tuple[str, Any, bool], ...]] = ()
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {}
    _field_names: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **fields: Any) -> None:
        self._unknown = None
        for name, default, is_factory in self._defaults:
            setattr(self, name, default() if is_factory else default)
        for name, value in fields.items():
            if name not in self._field_names:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)
        if fields:
            self._get_codec().check_oneofs(self)

    @classmethod
    def _get_codec(cls) -> _MessageCodec:
        codec = cls._codec
        if codec is None or codec.cls is not cls:
            codec = cls._codec = _MessageCodec(cls)
        return codec

    def encode(self) -> bytes:
        """The message in the Protocol Buffers binary format."""
        return self._get_codec().encode(self)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> "Message":
        """Parse ``data``; malformed input raises wire.DecodeError."""
        if not isinstance(data, bytes):
            data = bytes(data)
        msg = cls()
        cls._get_codec().decode_into(msg, data, 0, len(data), 0)
        return msg

    def explain(self):
        """A step-by-step breakdown of this message's bytes (see wire.explain)."""
        from .explain import explain
        return explain(self)

    def which_oneof(self, oneof_name: str) -> str | None:
        """The name of the member of ``oneof_name`` that is set, or None."""
        try:
            members = self._oneofs[oneof_name]
        except KeyError:
            raise ValueError(f"{type(self).__name__} has no oneof {oneof_name!r}") from None
        for name in members:
            if getattr(self, name) is not None:
                return name
        return None

    @property
    def unknown_fields(self) -> bytes:
        """The records this message kept without knowing them, as raw bytes."""
        return bytes(self._unknown or b"")

    def _present_fields(self):
        codec = self._get_codec()
        for field_codec in codec.fields:
            value = getattr(self, field_codec.name)
            if codec.is_present(field_codec, value):
                yield field_codec.name, value

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        names = self._field_names
        return (
            all(getattr(self, n) == getattr(other, n) for n in names)
            and self.unknown_fields == other.unknown_fields
        )

    __hash__ = None  # messages are mutable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self._present_fields())
        return f"{type(self).__name__}({shown})"


# --- building classes from schemas ------------------------------------------

_classes: "weakref.WeakKeyDictionary[MessageSchema, type[Message]]" = weakref.WeakKeyDictionary()
_enums: "weakref.WeakKeyDictionary[EnumSchema, type]" = weakref.WeakKeyDictionary()
_RESERVED_ATTRIBUTES = frozenset(dir(Message))


def message_class(schema: MessageSchema) -> type[Message]:
    """The Python class for ``schema``, made once and then reused.

    Nested messages and enums become class attributes (``Outer.Inner``).
    """
    cls = _classes.get(schema)
    if cls is None:
        cls = _build_class(schema)
        _classes[schema] = cls
        for nested in schema.nested_types:
            setattr(cls, nested.name, message_class(nested))
        for nested_enum in schema.enum_types:
            setattr(cls, nested_enum.name, enum_class(nested_enum))
    return cls


def _build_class(schema: MessageSchema) -> type[Message]:
    _check_schema(schema)
    names = [field.name for field in schema.fields]
    namespace = {
        "__slots__": tuple(names),
        "__qualname__": schema.name,
        "__doc__": schema.comments or f"The message {schema.full_name}.",
        "_schema": schema,
        "_codec": None,
        "_field_names": frozenset(names),
        "_defaults": tuple(_default(field, schema) for field in schema.fields),
        "_oneofs": _oneof_members(schema),
    }
    return type(schema.name, (Message,), namespace)


def _default(field: FieldSchema, schema: MessageSchema) -> tuple[str, Any, bool]:
    """(name, default, is_factory): what an unset field holds."""
    if field.is_map:
        return field.name, dict, True
    if field.repeated:
        return field.name, list, True
    if _has_explicit_presence(field, schema):
        return field.name, None, False
    if field.type == FieldType.ENUM:
        return field.name, _enum_zero(field.enum_type), False
    return field.name, SCALARS[field.type].default, False


def _enum_zero(enum_schema: EnumSchema | None) -> Any:
    if enum_schema is None:
        return 0
    return _enum_lookup(enum_schema).get(0, 0)


def _oneof_members(schema: MessageSchema) -> dict[str, tuple[str, ...]]:
    members: dict[str, tuple[str, ...]] = {}
    for index, oneof in enumerate(schema.oneofs):
        members[oneof.name] = tuple(
            field.name for field in schema.fields if field.oneof_index == index
        )
    return members


def _check_schema(schema: MessageSchema) -> None:
    """The checks a class needs; the .proto parser reports these with locations."""
    seen_numbers: dict[int, str] = {}
    seen_names: set[str] = set()
    for field in schema.fields:
        where = f"{schema.full_name}.{field.name}"
        try:
            check_field_number(field.number)
        except EncodeError as exc:
            raise SchemaError(f"{where}: {exc}") from None
        if field.number in seen_numbers:
            raise SchemaError(f"{where}: field number {field.number} already used "
                              f"by {seen_numbers[field.number]}")
        if field.name in seen_names:
            raise SchemaError(f"{where}: duplicate field name")
        if field.name in _RESERVED_ATTRIBUTES or not field.name.isidentifier():
            raise SchemaError(f"{where}: field name clashes with a Message attribute")
        _check_field_types(field, where)
        seen_numbers[field.number] = field.name
        seen_names.add(field.name)


def _check_field_types(field: FieldSchema, where: str) -> None:
    if field.type == FieldType.MESSAGE and field.message_type is None:
        raise SchemaError(f"{where}: message type {field.type_name!r} is not resolved")
    if field.type == FieldType.ENUM and field.enum_type is None and field.type_name:
        raise SchemaError(f"{where}: enum type {field.type_name!r} is not resolved")
    if field.is_map and field.message_type.field_named("key").type not in MAP_KEY_TYPES:
        raise SchemaError(f"{where}: illegal map key type")


def enum_class(schema: EnumSchema) -> type[enum.IntEnum]:
    """An IntEnum for ``schema`` (aliases allowed), made once and reused."""
    cls = _enums.get(schema)
    if cls is None:
        members = [(value.name, value.number) for value in schema.values]
        cls = enum.IntEnum(schema.name, members)
        cls.__qualname__ = schema.name
        cls.__doc__ = schema.comments or f"The enum {schema.full_name}."
        cls._schema = schema
        _enums[schema] = cls
    return cls
