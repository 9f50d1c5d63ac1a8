"""The proto3 JSON mapping of single values: numbers, bools, strings, bytes, enums.

Spec: "ProtoJSON Format", https://protobuf.dev/programming-guides/json/ (the
"JSON Representation" table, one row per proto type). The rows this module
implements, in the spec's words where it matters:

    proto3                   JSON     examples               notes
    int32, fixed32, uint32   number   1, -10, 0              numbers or strings accepted
    int64, fixed64, uint64   string   "1", "-10"             numbers or strings accepted
    float, double            number   1.1, "NaN", "Infinity" numbers or strings accepted;
                                                             exponent notation accepted
    bool                     true, false
    string                   string   "Hello World!"
    bytes                    base64   "YWJjMTIzIT8kKiYoKSctPUB+"
                             string   standard base64 with padding on output;
                                      standard or URL-safe, padded or not, on input
    enum                     string   "FOO_BAR"              names or numbers accepted
    map<K, V> keys           string   {"k": v}               every key becomes a string

(The sint and sfixed types follow their plain int32/int64 rows.)

Each function takes ``where``, the path of the value inside the message
("shop.Order.items[2].price"), so that a bad value raises a ``JsonError``
that names it. Numbers arrive from ``json.loads(parse_float=Decimal)``: ints as
int, anything with a fraction or an exponent as an exact Decimal, so that
"1e2" can fill an int32 and an int64 never passes through a lossy float.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from .errors import WireError
from .message import enum_class
from .scalars import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    SCALARS,
    UINT32_MAX,
    UINT64_MAX,
)
from .schema import EnumSchema, FieldType

__all__ = [
    "JsonError",
    "UnknownEnumName",
    "write_scalar",
    "read_scalar",
    "write_enum",
    "read_enum",
    "write_map_key",
    "read_map_key",
    "round_float32",
    "NULL_VALUE_ENUM",
    "json_kind",
    "item_path",
]


class JsonError(WireError):
    """JSON that does not follow the ProtoJSON mapping, or a message that cannot
    be written as JSON. ``path`` names the field ("pkg.Msg.items[0].id")."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnknownEnumName(JsonError):
    """An enum name the schema does not know; ``ignore_unknown`` skips the value."""


# google.protobuf.NullValue (struct.proto) is written as JSON null, the one
# enum with a special mapping.
NULL_VALUE_ENUM = "google.protobuf.NullValue"

# --- numbers -----------------------------------------------------------------

# The integer types: their range, and whether ProtoJSON quotes them. 64-bit
# values are strings because JavaScript numbers lose precision past 2**53.
INTEGER_RANGES: dict[FieldType, tuple[int, int]] = {
    FieldType.INT32: (INT32_MIN, INT32_MAX),
    FieldType.SINT32: (INT32_MIN, INT32_MAX),
    FieldType.SFIXED32: (INT32_MIN, INT32_MAX),
    FieldType.UINT32: (0, UINT32_MAX),
    FieldType.FIXED32: (0, UINT32_MAX),
    FieldType.ENUM: (INT32_MIN, INT32_MAX),
    FieldType.INT64: (INT64_MIN, INT64_MAX),
    FieldType.SINT64: (INT64_MIN, INT64_MAX),
    FieldType.SFIXED64: (INT64_MIN, INT64_MAX),
    FieldType.UINT64: (0, UINT64_MAX),
    FieldType.FIXED64: (0, UINT64_MAX),
}
QUOTED_INTEGERS = frozenset({
    FieldType.INT64, FieldType.SINT64, FieldType.SFIXED64,
    FieldType.UINT64, FieldType.FIXED64,
})

# Floating point values JSON numbers cannot spell, as the spec spells them.
NAN, INFINITY, NEG_INFINITY = "NaN", "Infinity", "-Infinity"
SPECIAL_FLOATS = {NAN: math.nan, INFINITY: math.inf, NEG_INFINITY: -math.inf}

# A number inside a JSON string ("1", "-1.5e3"): RFC 8259 section 6, the same
# grammar as a bare JSON number.
#     number = [ minus ] int [ frac ] [ exp ]
#     int = zero / ( digit1-9 *DIGIT )
#     frac = decimal-point 1*DIGIT
#     exp = e [ minus / plus ] 1*DIGIT
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

FLOAT32 = struct.Struct("<f")
# A double rounds to a finite float32 below the midpoint between the largest
# float32 (0x1.fffffep+127) and 2**128; at or above it, it rounds to infinity.
FLOAT32_ROUNDING_LIMIT = float.fromhex("0x1.ffffffp+127")
# Significant digits for a float32 in decimal: 6 always survive the trip
# decimal -> float32 -> decimal (FLT_DIG), 9 always identify it (FLT_DECIMAL_DIG).
FLOAT32_DIGITS = 6
FLOAT32_DECIMAL_DIGITS = 9


def _number_from_string(text: str, where: str) -> Decimal:
    if not JSON_NUMBER.fullmatch(text):
        raise JsonError(where, f"{text!r} is not a number")
    return Decimal(text)


def _as_decimal(value: Any, what: str, where: str) -> Decimal | int:
    """A JSON number or a numeric string, exactly; anything else is an error."""
    if isinstance(value, bool):
        raise JsonError(where, f"expected {what}, got {json_kind(value)}")
    if isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JsonError(where, f"expected {what}, got {value}")
        return Decimal(value)
    if isinstance(value, str):
        return _number_from_string(value, where)
    raise JsonError(where, f"expected {what}, got {json_kind(value)}")


def read_integer(value: Any, field_type: FieldType, where: str) -> int:
    """An integer of ``field_type`` from a JSON number or string: 1, "1", 1e2, "1e2"."""
    low, high = INTEGER_RANGES[field_type]
    what = field_type.name.lower()
    number = _as_decimal(value, what, where)
    # Range first: an exponent like 1e999999999 is cheap to compare, costly to expand.
    if not low <= number <= high:
        raise JsonError(where, f"{value} is out of range for {what} [{low}, {high}]")
    if isinstance(number, Decimal):
        if number != number.to_integral_value():
            raise JsonError(where, f"{value} is not an integer")
        number = int(number)
    return number


def write_integer(value: Any, field_type: FieldType, where: str) -> int | str:
    number = _checked(value, field_type, where)
    return str(number) if field_type in QUOTED_INTEGERS else number


def round_float32(value: float) -> float:
    """The float32 nearest to ``value``, as a Python float (a double)."""
    try:
        return FLOAT32.unpack(FLOAT32.pack(value))[0]
    except OverflowError:       # beyond the largest float32, even rounded
        return math.copysign(math.inf, value)


def _shortest_float32(value: float) -> float:
    """The shortest decimal of 6 to 9 digits that reads back as the same float32.

    0.1 stored in a float field is 0.100000001490116...; printed as that, it
    would claim precision the field never had. protobuf's C++ and Python
    printers try 6 significant digits, then more until the float32 comes back
    the same, and so do we: the same numbers, digit for digit.
    """
    single = round_float32(value)
    for digits in range(FLOAT32_DIGITS, FLOAT32_DECIMAL_DIGITS + 1):
        candidate = float(f"{single:.{digits}g}")
        if round_float32(candidate) == single:
            return candidate
    return single


def read_float(value: Any, field_type: FieldType, where: str) -> float:
    """A float or double: a JSON number, a numeric string, or NaN/Infinity/-Infinity."""
    what = field_type.name.lower()
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    number = _as_decimal(value, what, where)
    try:
        result = float(number)
    except OverflowError:       # an int too large for a double
        result = math.inf
    if math.isinf(result):
        raise JsonError(where, f"{value} is out of range for {what}")
    if field_type == FieldType.FLOAT:
        if abs(result) >= FLOAT32_ROUNDING_LIMIT:
            raise JsonError(where, f"{value} is out of range for float")
        result = round_float32(result)
    return result


def write_float(value: Any, field_type: FieldType, where: str) -> float | str:
    number = _checked(value, field_type, where)
    if math.isnan(number):
        return NAN
    if math.isinf(number):
        return INFINITY if number > 0 else NEG_INFINITY
    if field_type == FieldType.FLOAT:
        return _shortest_float32(number)
    return number


# --- bool, string, bytes -----------------------------------------------------

BASE64_URL_SAFE_TO_STANDARD = str.maketrans("-_", "+/")   # RFC 4648 section 5
BASE64_QUANTUM = 4      # base64 encodes 3 bytes as 4 characters


def read_bool(value: Any, field_type: FieldType, where: str) -> bool:
    if not isinstance(value, bool):
        raise JsonError(where, f"expected true or false, got {json_kind(value)}")
    return value


def read_string(value: Any, field_type: FieldType, where: str) -> str:
    if not isinstance(value, str):
        raise JsonError(where, f"expected a string, got {json_kind(value)}")
    return _valid_utf8(value, where)


def write_string(value: Any, field_type: FieldType, where: str) -> str:
    return _valid_utf8(_checked(value, field_type, where), where)


def _valid_utf8(text: str, where: str) -> str:
    """A JSON "\\ud800" escape yields a lone surrogate, which UTF-8 cannot carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonError(where, "string holds an unpaired surrogate") from None
    return text


def read_bytes(value: Any, field_type: FieldType, where: str) -> bytes:
    if not isinstance(value, str):
        raise JsonError(where, f"expected a base64 string, got {json_kind(value)}")
    text = value.translate(BASE64_URL_SAFE_TO_STANDARD)
    text += "=" * (-len(text) % BASE64_QUANTUM)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise JsonError(where, f"{_preview(value)} is not valid base64") from None


def write_bytes(value: Any, field_type: FieldType, where: str) -> str:
    return base64.b64encode(_checked(value, field_type, where)).decode("ascii")


def write_bool(value: Any, field_type: FieldType, where: str) -> bool:
    return _checked(value, field_type, where)


# --- the table ---------------------------------------------------------------


@dataclass(frozen=True)
class JsonScalar:
    """One row of the spec's table: how a scalar type is written and read."""

    write: Callable[[Any, FieldType, str], Any]
    read: Callable[[Any, FieldType, str], Any]


_INTEGER = JsonScalar(write_integer, read_integer)
_FLOATING = JsonScalar(write_float, read_float)

JSON_SCALARS: dict[FieldType, JsonScalar] = {
    FieldType.INT32: _INTEGER,      # number; "1" and 1e2 accepted
    FieldType.SINT32: _INTEGER,
    FieldType.SFIXED32: _INTEGER,
    FieldType.UINT32: _INTEGER,
    FieldType.FIXED32: _INTEGER,
    FieldType.INT64: _INTEGER,      # string; numbers accepted
    FieldType.SINT64: _INTEGER,
    FieldType.SFIXED64: _INTEGER,
    FieldType.UINT64: _INTEGER,
    FieldType.FIXED64: _INTEGER,
    FieldType.FLOAT: _FLOATING,     # number; "NaN", "Infinity", "-Infinity"
    FieldType.DOUBLE: _FLOATING,
    FieldType.BOOL: JsonScalar(write_bool, read_bool),
    FieldType.STRING: JsonScalar(write_string, read_string),
    FieldType.BYTES: JsonScalar(write_bytes, read_bytes),   # standard base64, padded
}


def write_scalar(value: Any, field_type: FieldType, where: str) -> Any:
    """The JSON value of a scalar (not enum, not message) ``value``."""
    return JSON_SCALARS[field_type].write(value, field_type, where)


def read_scalar(value: Any, field_type: FieldType, where: str) -> Any:
    """The Python value of a scalar field from its JSON value."""
    return JSON_SCALARS[field_type].read(value, field_type, where)


def _checked(value: Any, field_type: FieldType, where: str) -> Any:
    """The binary codec's own check, so JSON refuses what encode() refuses.

    One thing more: True is an int to Python, but written into an int field
    it would come out as JSON true, so only bool fields take bools here.
    """
    if isinstance(value, bool) and field_type != FieldType.BOOL:
        raise JsonError(where, f"expected {field_type.name.lower()}, got a bool")
    try:
        return SCALARS[field_type].check(value)
    except (TypeError, ValueError) as exc:
        raise JsonError(where, str(exc)) from None


# --- enums -------------------------------------------------------------------


def write_enum(value: Any, enum_schema: EnumSchema | None, where: str) -> str | int | None:
    """The value's name; a number the enum does not know stays a number."""
    number = _checked(value, FieldType.ENUM, where)
    if enum_schema is None:
        return number
    if enum_schema.full_name == NULL_VALUE_ENUM:
        return None
    try:
        return enum_class(enum_schema)(number).name
    except ValueError:
        if enum_schema.closed:
            raise JsonError(where, f"{number} is not a value of {enum_schema.full_name}") from None
        return number


def read_enum(value: Any, enum_schema: EnumSchema | None, where: str) -> Any:
    """An enum member from its name or number; an open enum keeps unknown numbers."""
    if enum_schema is None:
        return read_integer(value, FieldType.ENUM, where)
    cls = enum_class(enum_schema)
    if value is None and enum_schema.full_name == NULL_VALUE_ENUM:
        return cls(0)
    if isinstance(value, str) and not JSON_NUMBER.fullmatch(value):
        member = cls.__members__.get(value)
        if member is None:
            raise UnknownEnumName(where, f"{value!r} is not a name in {enum_schema.full_name}")
        return member
    number = read_integer(value, FieldType.ENUM, where)
    try:
        return cls(number)
    except ValueError:
        if enum_schema.closed:
            raise JsonError(where, f"{number} is not a value of {enum_schema.full_name}") from None
        return number


# --- map keys ----------------------------------------------------------------

BOOL_KEYS = {"true": True, "false": False}


def write_map_key(key: Any, key_type: FieldType, where: str) -> str:
    """Map keys are JSON object keys, so always strings: 1 -> "1", True -> "true"."""
    checked = _checked(key, key_type, where)
    if key_type == FieldType.BOOL:
        return "true" if checked else "false"
    if key_type == FieldType.STRING:
        return _valid_utf8(checked, where)
    return str(checked)


def read_map_key(key: str, key_type: FieldType, where: str) -> Any:
    if not isinstance(key, str):
        raise JsonError(where, f"map key {key!r} is not a string")
    if key_type == FieldType.BOOL:
        if key not in BOOL_KEYS:
            raise JsonError(where, f"map key {key!r} is not true or false")
        return BOOL_KEYS[key]
    if key_type == FieldType.STRING:
        return _valid_utf8(key, where)
    return read_integer(key, key_type, where)


# --- messages for errors -----------------------------------------------------

PREVIEW_LIMIT = 40      # characters of a bad value quoted in an error


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= PREVIEW_LIMIT else text[:PREVIEW_LIMIT] + "..."


def item_path(where: str, key: Any) -> str:
    """The path of an element: items[2], counts['k']."""
    return f"{where}[{key!r}]"


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {_preview(value)}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
