"""The scalar value types and how each one goes on the wire.

Spec: https://protobuf.dev/programming-guides/encoding/ ("Varints", "More
Integer Types", "Non-varint Numbers", "Length-Delimited Records") and the
scalar table of https://protobuf.dev/programming-guides/proto3/#scalar.

Each row of SCALARS says, for one FieldType: the wire type, the zero value
that proto3 leaves off the wire, and how a Python value becomes the number or
bytes on the wire and back. Range rules live here too: an int32 is checked
against [-2^31, 2^31) before it is written, and on the way in a varint is cut
to the field's width, as protobuf's parsers do.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Callable

from .errors import DecodeError, EncodeError
from .schema import FieldType
from .varint import (
    decode_zigzag,
    encode_zigzag,
    signed_to_uint64,
    uint64_to_signed,
)
from .wire_format import WireType

__all__ = ["ScalarType", "SCALARS", "scalar_type", "FLOAT_MAX"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT32_MAX = (1 << 32) - 1
UINT64_MAX = (1 << 64) - 1
UINT32_MASK = UINT32_MAX
FLOAT_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]  # largest finite float32

FIXED32 = struct.Struct("<I")    # I32 records are little-endian
SFIXED32 = struct.Struct("<i")
FLOAT = struct.Struct("<f")
FIXED64 = struct.Struct("<Q")    # I64 records are little-endian
SFIXED64 = struct.Struct("<q")
DOUBLE = struct.Struct("<d")


@dataclass(frozen=True)
class ScalarType:
    """How one scalar type is checked, written and read.

    ``check`` validates a Python value and returns it normalised (raising
    TypeError/ValueError with a short reason). For VARINT types ``to_wire``
    gives the unsigned 64-bit number to write as a varint and ``from_wire``
    maps the decoded varint back; for I32/I64 types ``packer`` is the struct;
    LEN types (string, bytes) are handled by the message codec.
    """

    type: FieldType
    wire_type: WireType
    default: Any
    check: Callable[[Any], Any]
    to_wire: Callable[[Any], int] | None = None
    from_wire: Callable[[int], Any] | None = None
    packer: struct.Struct | None = None

    @property
    def packable(self) -> bool:
        """Only numeric types (VARINT, I32, I64) may be packed."""
        return self.wire_type != WireType.LEN


def _integer_checker(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"expected int, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{value} out of range [{low}, {high}]")
        return value
    return check


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected bool, got {type(value).__name__}")
    return value


def _check_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected float, got {type(value).__name__}")
    return float(value)


def _check_float(value: Any) -> float:
    value = _check_double(value)
    if math.isfinite(value) and abs(value) > FLOAT_MAX:
        raise ValueError(f"{value} out of float32 range")
    return value


def _check_string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected str, got {type(value).__name__}")
    return value


def _check_bytes(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return bytes(value)


def _int32_from_wire(raw: int) -> int:
    """Cut a varint to 32 bits and read it signed, as protobuf does for int32."""
    raw &= UINT32_MASK
    return raw - (1 << 32) if raw > INT32_MAX else raw


def _sint32_from_wire(raw: int) -> int:
    return decode_zigzag(raw & UINT32_MASK)


def _float32_round_trip(value: float) -> float:
    return FLOAT.unpack(FLOAT.pack(value))[0]


_check_int32 = _integer_checker(INT32_MIN, INT32_MAX)
_check_int64 = _integer_checker(INT64_MIN, INT64_MAX)
_check_uint32 = _integer_checker(0, UINT32_MAX)
_check_uint64 = _integer_checker(0, UINT64_MAX)

SCALARS: dict[FieldType, ScalarType] = {
    row.type: row
    for row in [
        # Varints. int32/int64 sign-extend negatives to 64 bits: 10 bytes on the wire.
        ScalarType(FieldType.INT32, WireType.VARINT, 0, _check_int32,
                   signed_to_uint64, _int32_from_wire),
        ScalarType(FieldType.INT64, WireType.VARINT, 0, _check_int64,
                   signed_to_uint64, uint64_to_signed),
        ScalarType(FieldType.UINT32, WireType.VARINT, 0, _check_uint32,
                   int, lambda raw: raw & UINT32_MASK),
        ScalarType(FieldType.UINT64, WireType.VARINT, 0, _check_uint64, int, int),
        # ZigZag: (n << 1) ^ (n >> 63) keeps small negative numbers short.
        ScalarType(FieldType.SINT32, WireType.VARINT, 0, _check_int32,
                   encode_zigzag, _sint32_from_wire),
        ScalarType(FieldType.SINT64, WireType.VARINT, 0, _check_int64,
                   encode_zigzag, decode_zigzag),
        ScalarType(FieldType.BOOL, WireType.VARINT, False, _check_bool, int, bool),
        # Enums are int32 on the wire; open (proto3) enums keep unknown numbers.
        ScalarType(FieldType.ENUM, WireType.VARINT, 0, _check_int32,
                   signed_to_uint64, _int32_from_wire),
        # Fixed-width little-endian numbers.
        ScalarType(FieldType.FIXED32, WireType.I32, 0, _check_uint32, packer=FIXED32),
        ScalarType(FieldType.SFIXED32, WireType.I32, 0, _check_int32, packer=SFIXED32),
        ScalarType(FieldType.FLOAT, WireType.I32, 0.0, _check_float, packer=FLOAT),
        ScalarType(FieldType.FIXED64, WireType.I64, 0, _check_uint64, packer=FIXED64),
        ScalarType(FieldType.SFIXED64, WireType.I64, 0, _check_int64, packer=SFIXED64),
        ScalarType(FieldType.DOUBLE, WireType.I64, 0.0, _check_double, packer=DOUBLE),
        # Length-delimited: a varint length, then the bytes (UTF-8 for strings).
        ScalarType(FieldType.STRING, WireType.LEN, "", _check_string),
        ScalarType(FieldType.BYTES, WireType.LEN, b"", _check_bytes),
    ]
}


def scalar_type(field_type: FieldType) -> ScalarType:
    try:
        return SCALARS[field_type]
    except KeyError:
        raise EncodeError(f"{field_type.name} is not a scalar type") from None


def decode_utf8(data: bytes, what: str) -> str:
    """Strings must be valid UTF-8 (proto3); anything else is a DecodeError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{what}: invalid UTF-8 in string field ({exc.reason})") from None
