"""Tags and wire types: how each field announces itself on the wire.

Spec: https://protobuf.dev/programming-guides/encoding/#structure

    tag       := varint( (field_number << 3) | wire_type )
    record    := tag payload
    message   := record*

The low three bits of a tag say how to find the end of the payload, which is
all a parser needs to skip a field it does not know.
"""

import enum

from .errors import DecodeError, EncodeError
from .varint import encode_varint

__all__ = [
    "WireType",
    "TAG_TYPE_BITS",
    "TAG_TYPE_MASK",
    "MIN_FIELD_NUMBER",
    "MAX_FIELD_NUMBER",
    "RESERVED_FIELD_NUMBERS",
    "make_tag",
    "split_tag",
    "encode_tag",
    "check_field_number",
]


class WireType(enum.IntEnum):
    """The six wire types of the encoding guide's table."""

    VARINT = 0   # int32, int64, uint32, uint64, sint32, sint64, bool, enum
    I64 = 1      # fixed64, sfixed64, double: 8 bytes little-endian
    LEN = 2      # string, bytes, embedded messages, packed repeated fields
    SGROUP = 3   # group start (deprecated, proto2)
    EGROUP = 4   # group end (deprecated, proto2)
    I32 = 5      # fixed32, sfixed32, float: 4 bytes little-endian


TAG_TYPE_BITS = 3                          # the wire type takes the low 3 bits of a tag
TAG_TYPE_MASK = (1 << TAG_TYPE_BITS) - 1   # 0x7
MIN_FIELD_NUMBER = 1
MAX_FIELD_NUMBER = (1 << 29) - 1           # 536,870,911: 32-bit tag minus the type bits
RESERVED_FIELD_NUMBERS = range(19000, 20000)  # kept for the protobuf implementation itself
VALID_WIRE_TYPES = frozenset(WireType)


def make_tag(field_number: int, wire_type: int) -> int:
    """The tag number of a field: (field_number << 3) | wire_type."""
    return (field_number << TAG_TYPE_BITS) | wire_type


def split_tag(tag: int) -> tuple[int, int]:
    """Split a decoded tag into (field_number, wire_type), checking both."""
    field_number = tag >> TAG_TYPE_BITS
    wire_type = tag & TAG_TYPE_MASK
    if not MIN_FIELD_NUMBER <= field_number <= MAX_FIELD_NUMBER:
        raise DecodeError(f"invalid field number {field_number} in tag {tag:#x}")
    if wire_type not in VALID_WIRE_TYPES:
        raise DecodeError(f"invalid wire type {wire_type} for field {field_number}")
    return field_number, wire_type


def encode_tag(field_number: int, wire_type: int) -> bytes:
    """The bytes of a tag, ready to put in front of a payload."""
    check_field_number(field_number)
    return encode_varint(make_tag(field_number, wire_type))


def check_field_number(field_number: int) -> None:
    """Refuse numbers a schema may not use (1 .. 2^29-1, minus 19000-19999)."""
    if not MIN_FIELD_NUMBER <= field_number <= MAX_FIELD_NUMBER:
        raise EncodeError(
            f"field number {field_number} outside {MIN_FIELD_NUMBER}..{MAX_FIELD_NUMBER}"
        )
    if field_number in RESERVED_FIELD_NUMBERS:
        raise EncodeError(f"field number {field_number} is reserved (19000-19999)")
