"""The well-known types' special JSON forms.

Spec: "ProtoJSON Format", https://protobuf.dev/programming-guides/json/ (the
rows Any, Timestamp, Duration, Struct, Wrapper types, FieldMask, ListValue,
Value, NullValue and Empty), with the details each type's .proto file gives
(https://protobuf.dev/reference/protobuf/google.protobuf/):

    google.protobuf.Timestamp   "1972-01-01T10:00:20.021Z"   RFC 3339, Z on output,
                                0, 3, 6 or 9 fractional digits; offsets accepted
                                on input; 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z
    google.protobuf.Duration    "1.000340012s", "1s", "-0.5s"  +-315,576,000,000 s
    google.protobuf.FieldMask   "f.fooBar,h"                 paths in lowerCamelCase
    google.protobuf.Struct      {...}                        any JSON object
    google.protobuf.Value       any JSON value
    google.protobuf.ListValue   [...]
    google.protobuf.*Value      the wrapped value: 2, "2", "foo", true, "YWJj"
    google.protobuf.Any         {"@type": url, "f": v, ...}  the packed message's own
                                fields, or {"@type": url, "value": v} when the packed
                                message has a special form itself
    google.protobuf.Empty       {}                           needs nothing special

Every type is recognised by its full name, so the classes may come from the
.proto parser or be built by hand. Each row of WELL_KNOWN_TYPES says how to
write one and how to read one; messages inside (a Struct in a Value, the
payload of an Any) go back through the printer or parser that called.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Protocol

from .json_scalars import (
    JsonError,
    item_path,
    json_kind,
    read_map_key,
    read_scalar,
    write_map_key,
    write_scalar,
)
from .message import Message, enum_class, message_class
from .schema import FieldType

__all__ = ["WELL_KNOWN_TYPES", "WellKnownType", "has_special_form"]


class Printer(Protocol):
    def message(self, msg: Message, where: str, depth: int) -> Any: ...
    def fields(self, msg: Message, where: str, depth: int) -> dict: ...
    def resolve(self, type_url: str, where: str) -> type[Message]: ...


class Parser(Protocol):
    def message(self, cls: type[Message], value: Any, where: str, depth: int) -> Message: ...
    def fields(self, cls: type[Message], obj: dict, where: str, depth: int,
               skip: frozenset[str] = frozenset()) -> Message: ...
    def resolve(self, type_url: str, where: str) -> type[Message]: ...


# --- Timestamp ---------------------------------------------------------------
#
# RFC 3339 section 5.6, as timestamp.proto restricts it (upper-case T and Z,
# at most nine fractional digits):
#     date-time    = full-date "T" full-time
#     full-date    = date-fullyear "-" date-month "-" date-mday
#     full-time    = partial-time time-offset
#     partial-time = time-hour ":" time-minute ":" time-second [time-secfrac]
#     time-offset  = "Z" / time-numoffset
#     time-numoffset = ("+" / "-") time-hour ":" time-minute

RFC3339_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?"
    r"(?:Z|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
HOURS_PER_DAY = 24
MINUTES_PER_HOUR = 60
NANOS_PER_SECOND = 1_000_000_000
NANOS_DIGITS = 9
FRACTION_WIDTHS = (3, 6, 9)     # millis, micros, nanos: the output's digit counts
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
TIMESTAMP_MIN_SECONDS = -62_135_596_800    # 0001-01-01T00:00:00Z
TIMESTAMP_MAX_SECONDS = 253_402_300_799    # 9999-12-31T23:59:59Z
# duration.proto: "approximately +-10,000 years" = 60 * 60 * 24 * 365.25 * 10000
DURATION_MAX_SECONDS = 315_576_000_000


def _format_fraction(nanos: int) -> str:
    """".5" of a second, written with 0, 3, 6 or 9 digits, as few as exact."""
    if nanos == 0:
        return ""
    digits = f"{nanos:0{NANOS_DIGITS}d}"
    width = next(width for width in FRACTION_WIDTHS if not digits[width:].strip("0"))
    return "." + digits[:width]


def _parse_fraction(digits: str | None) -> int:
    return int((digits or "").ljust(NANOS_DIGITS, "0"))


def _check_nanos(nanos: Any, low: int, where: str) -> int:
    if isinstance(nanos, bool) or not isinstance(nanos, int) or not low <= nanos < NANOS_PER_SECOND:
        raise JsonError(where, f"nanos {nanos!r} out of range [{low}, {NANOS_PER_SECOND - 1}]")
    return nanos


def write_timestamp(printer: Printer, msg: Message, where: str, depth: int) -> str:
    seconds, nanos = msg.seconds, _check_nanos(msg.nanos, 0, where)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not (
            TIMESTAMP_MIN_SECONDS <= seconds <= TIMESTAMP_MAX_SECONDS):
        raise JsonError(where, f"seconds {seconds!r} outside 0001-01-01..9999-12-31")
    days, second_of_day = divmod(seconds, SECONDS_PER_DAY)
    day = datetime.date.fromordinal(EPOCH_ORDINAL + days)
    hour, rest = divmod(second_of_day, SECONDS_PER_HOUR)
    minute, second = divmod(rest, SECONDS_PER_MINUTE)
    return (f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
            f"T{hour:02d}:{minute:02d}:{second:02d}{_format_fraction(nanos)}Z")


def read_timestamp(parser: Parser, cls: type[Message], value: Any, where: str,
                   depth: int) -> Message:
    match = RFC3339_TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise JsonError(where, f"expected an RFC 3339 timestamp like "
                               f"\"1972-01-01T10:00:20.021Z\", got {json_kind(value)}")
    seconds = _timestamp_seconds(match, where)
    if not TIMESTAMP_MIN_SECONDS <= seconds <= TIMESTAMP_MAX_SECONDS:
        raise JsonError(where, f"{value!r} is outside 0001-01-01..9999-12-31")
    return cls(seconds=seconds, nanos=_parse_fraction(match["fraction"]))


def _timestamp_seconds(match: re.Match, where: str) -> int:
    """Seconds since the epoch of a matched timestamp, its offset taken away."""
    part = {name: int(text) for name, text in match.groupdict().items()
            if text is not None and name not in ("sign", "fraction")}
    try:
        day = datetime.date(part["year"], part["month"], part["day"])
    except ValueError as exc:
        raise JsonError(where, f"{match.string!r}: {exc}") from None
    if (part["hour"] >= HOURS_PER_DAY or part["minute"] >= MINUTES_PER_HOUR
            or part["second"] >= SECONDS_PER_MINUTE):
        raise JsonError(where, f"{match.string!r}: time of day out of range")
    return ((day.toordinal() - EPOCH_ORDINAL) * SECONDS_PER_DAY
            + part["hour"] * SECONDS_PER_HOUR + part["minute"] * SECONDS_PER_MINUTE
            + part["second"] - _offset_seconds(match, part, where))


def _offset_seconds(match: re.Match, part: dict[str, int], where: str) -> int:
    """How far ahead of UTC the time-numoffset says the local time is; 0 for "Z"."""
    if match["sign"] is None:
        return 0
    if part["offset_hour"] >= HOURS_PER_DAY or part["offset_minute"] >= MINUTES_PER_HOUR:
        raise JsonError(where, f"{match.string!r}: offset out of range")
    offset = part["offset_hour"] * SECONDS_PER_HOUR + part["offset_minute"] * SECONDS_PER_MINUTE
    return -offset if match["sign"] == "-" else offset


# --- Duration ----------------------------------------------------------------
#
#     duration = [ "-" ] 1*DIGIT [ "." 1*9DIGIT ] "s"

DURATION = re.compile(r"(?P<sign>-)?(?P<seconds>[0-9]+)(?:\.(?P<fraction>[0-9]{1,9}))?s")


def write_duration(printer: Printer, msg: Message, where: str, depth: int) -> str:
    seconds = msg.seconds
    nanos = _check_nanos(msg.nanos, -NANOS_PER_SECOND + 1, where)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or abs(seconds) > DURATION_MAX_SECONDS:
        raise JsonError(where, f"seconds {seconds!r} out of range "
                               f"[-{DURATION_MAX_SECONDS}, {DURATION_MAX_SECONDS}]")
    if (seconds < 0 < nanos) or (nanos < 0 < seconds):
        raise JsonError(where, f"seconds {seconds} and nanos {nanos} have different signs")
    sign = "-" if seconds < 0 or nanos < 0 else ""
    return f"{sign}{abs(seconds)}{_format_fraction(abs(nanos))}s"


def read_duration(parser: Parser, cls: type[Message], value: Any, where: str,
                  depth: int) -> Message:
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise JsonError(where, f"expected a duration like \"1.5s\", got {json_kind(value)}")
    digits = match["seconds"].lstrip("0") or "0"
    if len(digits) > len(str(DURATION_MAX_SECONDS)) or int(digits) > DURATION_MAX_SECONDS:
        raise JsonError(where, f"{value!r} is out of range "
                               f"[-{DURATION_MAX_SECONDS}s, {DURATION_MAX_SECONDS}s]")
    seconds, nanos = int(digits), _parse_fraction(match["fraction"])
    if match["sign"]:
        seconds, nanos = -seconds, -nanos
    return cls(seconds=seconds, nanos=nanos)


# --- FieldMask ---------------------------------------------------------------
#
# field_mask.proto: in JSON a FieldMask is one string, the paths joined by
# commas, each field name converted to lowerCamelCase ("user.display_name" ->
# "user.displayName"). A name must survive the trip both ways, so on output a
# path may not hold capitals or an underscore not followed by a lower-case
# letter, and on input a path may not hold underscores.

FIELD_MASK_SEPARATOR = ","
SNAKE_CASE_PATH = re.compile(r"[a-z0-9.]*(?:_[a-z][a-z0-9.]*)*")
CAMEL_CASE_PATH = re.compile(r"[a-zA-Z0-9.]*")


def _camel_path(path: str, where: str) -> str:
    if not isinstance(path, str) or not SNAKE_CASE_PATH.fullmatch(path):
        raise JsonError(where, f"path {path!r} has no lowerCamelCase form")
    return re.sub(r"_([a-z])", lambda letter: letter[1].upper(), path)


def _snake_path(path: str, where: str) -> str:
    if not CAMEL_CASE_PATH.fullmatch(path):
        raise JsonError(where, f"path {path!r} is not a lowerCamelCase path")
    return re.sub(r"[A-Z]", lambda letter: "_" + letter[0].lower(), path)


def write_field_mask(printer: Printer, msg: Message, where: str, depth: int) -> str:
    return FIELD_MASK_SEPARATOR.join(_camel_path(path, where) for path in msg.paths)


def read_field_mask(parser: Parser, cls: type[Message], value: Any, where: str,
                    depth: int) -> Message:
    if not isinstance(value, str):
        raise JsonError(where, f"expected a field mask string, got {json_kind(value)}")
    if value == "":
        return cls(paths=[])
    return cls(paths=[_snake_path(path, where) for path in value.split(FIELD_MASK_SEPARATOR)])


# --- wrappers ----------------------------------------------------------------
#
# wrappers.proto: each wrapper is a message with one field, `value` = 1, and
# its JSON is that field's JSON (an Int64Value is a string, a BytesValue base64).

WRAPPED_VALUE = "value"


def write_wrapper(printer: Printer, msg: Message, where: str, depth: int) -> Any:
    field = msg._schema.field_named(WRAPPED_VALUE)
    return write_scalar(msg.value, field.type, where)


def read_wrapper(parser: Parser, cls: type[Message], value: Any, where: str,
                 depth: int) -> Message:
    field = cls._schema.field_named(WRAPPED_VALUE)
    if value is None:
        raise JsonError(where, f"null is not a value of {cls._schema.full_name}")
    return cls(value=read_scalar(value, field.type, where))


# --- Struct, Value, ListValue ------------------------------------------------
#
# struct.proto: a Value is one of null, number (a double), string, bool, Struct
# (a JSON object) or ListValue (a JSON array), and its JSON is that value.

VALUE_KIND = "kind"


def _field_class(cls: type[Message], field_name: str) -> type[Message]:
    return message_class(cls._schema.field_named(field_name).message_type)


def _struct_value_class(cls: type[Message]) -> type[Message]:
    """Struct.fields is a map<string, Value>: the class of its values."""
    entry = cls._schema.field_named("fields").message_type
    return message_class(entry.field_named("value").message_type)


def write_struct(printer: Printer, msg: Message, where: str, depth: int) -> dict:
    out = {}
    for key, value in msg.fields.items():
        path = item_path(where, key)
        out[write_map_key(key, FieldType.STRING, path)] = printer.message(value, path, depth + 1)
    return out


def read_struct(parser: Parser, cls: type[Message], value: Any, where: str,
                depth: int) -> Message:
    if not isinstance(value, dict):
        raise JsonError(where, f"expected an object, got {json_kind(value)}")
    value_cls = _struct_value_class(cls)
    fields = {}
    for key, item in value.items():
        path = item_path(where, key)
        fields[read_map_key(key, FieldType.STRING, path)] = parser.message(value_cls, item, path,
                                                                          depth + 1)
    return cls(fields=fields)


def write_list_value(printer: Printer, msg: Message, where: str, depth: int) -> list:
    return [printer.message(value, item_path(where, index), depth + 1)
            for index, value in enumerate(msg.values)]


def read_list_value(parser: Parser, cls: type[Message], value: Any, where: str,
                    depth: int) -> Message:
    if not isinstance(value, (list, tuple)):
        raise JsonError(where, f"expected an array, got {json_kind(value)}")
    value_cls = _field_class(cls, "values")
    return cls(values=[parser.message(value_cls, item, item_path(where, index), depth + 1)
                       for index, item in enumerate(value)])


def write_value(printer: Printer, msg: Message, where: str, depth: int) -> Any:
    kind = msg.which_oneof(VALUE_KIND)
    if kind is None:
        raise JsonError(where, "google.protobuf.Value has no kind set")
    if kind == "null_value":
        return None
    if kind in ("struct_value", "list_value"):
        return printer.message(getattr(msg, kind), where, depth + 1)
    field = msg._schema.field_named(kind)
    written = write_scalar(getattr(msg, kind), field.type, where)
    if kind == "number_value" and isinstance(written, str):
        raise JsonError(where, f"number_value {written} has no JSON number form "
                               "(as a string it would read back as string_value)")
    return written


def read_value(parser: Parser, cls: type[Message], value: Any, where: str,
               depth: int) -> Message:
    if value is None:
        return cls(null_value=_null_value(cls))
    if isinstance(value, bool):
        return cls(bool_value=value)
    if isinstance(value, str):
        return cls(string_value=read_scalar(value, FieldType.STRING, where))
    if isinstance(value, (int, float, Decimal)):
        return cls(number_value=read_scalar(value, FieldType.DOUBLE, where))
    if isinstance(value, dict):
        return cls(struct_value=parser.message(_field_class(cls, "struct_value"),
                                               value, where, depth + 1))
    if isinstance(value, (list, tuple)):
        return cls(list_value=parser.message(_field_class(cls, "list_value"),
                                             value, where, depth + 1))
    raise JsonError(where, f"{json_kind(value)} is not a JSON value")


def _null_value(cls: type[Message]) -> Any:
    """NullValue.NULL_VALUE (0), as the enum member when the schema has one."""
    enum_schema = cls._schema.field_named("null_value").enum_type
    return enum_class(enum_schema)(0) if enum_schema is not None else 0


# --- Any ---------------------------------------------------------------------
#
# any.proto: {"@type": "type.googleapis.com/pkg.Msg", ...the fields of Msg}.
# A packed type with a special form of its own (the types of this table) goes
# under "value" instead: {"@type": ".../google.protobuf.Duration", "value": "1s"}.
# An empty Any is {}.

TYPE_KEY = "@type"
ANY_VALUE_KEY = "value"


def write_any(printer: Printer, msg: Message, where: str, depth: int) -> dict:
    type_url, payload = msg.type_url, msg.value
    if not type_url:
        if payload:
            raise JsonError(where, "Any has a value but no type_url")
        return {}
    packed_cls = printer.resolve(type_url, where)
    try:
        packed = packed_cls.decode(payload)
    except (ValueError, TypeError) as exc:    # wire.DecodeError; a value that is not bytes
        raise JsonError(where, f"Any value does not decode as {type_url}: {exc}") from None
    out: dict[str, Any] = {TYPE_KEY: type_url}
    if has_special_form(packed_cls):
        out[ANY_VALUE_KEY] = printer.message(packed, where, depth + 1)
    else:
        out.update(printer.fields(packed, where, depth + 1))
    return out


def read_any(parser: Parser, cls: type[Message], value: Any, where: str,
             depth: int) -> Message:
    if not isinstance(value, dict):
        raise JsonError(where, f"expected an object, got {json_kind(value)}")
    if not value:
        return cls()
    type_url = value.get(TYPE_KEY)
    if not isinstance(type_url, str):
        raise JsonError(where, f"Any needs an \"{TYPE_KEY}\" string")
    packed_cls = parser.resolve(type_url, where)
    if has_special_form(packed_cls):
        packed = _read_packed_special(parser, packed_cls, value, where, depth)
    else:
        packed = parser.fields(packed_cls, value, where, depth + 1,
                               skip=frozenset({TYPE_KEY}))
    return cls(type_url=type_url, value=packed.encode())


def _read_packed_special(parser: Parser, packed_cls: type[Message], value: dict,
                         where: str, depth: int) -> Message:
    extra = sorted(set(value) - {TYPE_KEY, ANY_VALUE_KEY})
    if extra:
        raise JsonError(where, f"Any holding {packed_cls._schema.full_name} takes only "
                               f"\"{TYPE_KEY}\" and \"{ANY_VALUE_KEY}\", not {extra}")
    if ANY_VALUE_KEY not in value:
        raise JsonError(where, f"Any holding {packed_cls._schema.full_name} needs "
                               f"\"{ANY_VALUE_KEY}\"")
    return parser.message(packed_cls, value[ANY_VALUE_KEY], f"{where}.{ANY_VALUE_KEY}",
                          depth + 1)


# --- the table ---------------------------------------------------------------


@dataclass(frozen=True)
class WellKnownType:
    """How one well-known type is written to and read from JSON."""

    write: Callable[[Printer, Message, str, int], Any]
    read: Callable[[Parser, type[Message], Any, str, int], Message]


_WRAPPER = WellKnownType(write_wrapper, read_wrapper)

WELL_KNOWN_TYPES: dict[str, WellKnownType] = {
    "google.protobuf.Timestamp": WellKnownType(write_timestamp, read_timestamp),
    "google.protobuf.Duration": WellKnownType(write_duration, read_duration),
    "google.protobuf.FieldMask": WellKnownType(write_field_mask, read_field_mask),
    "google.protobuf.Struct": WellKnownType(write_struct, read_struct),
    "google.protobuf.Value": WellKnownType(write_value, read_value),
    "google.protobuf.ListValue": WellKnownType(write_list_value, read_list_value),
    "google.protobuf.Any": WellKnownType(write_any, read_any),
    # wrappers.proto
    "google.protobuf.DoubleValue": _WRAPPER,
    "google.protobuf.FloatValue": _WRAPPER,
    "google.protobuf.Int64Value": _WRAPPER,
    "google.protobuf.UInt64Value": _WRAPPER,
    "google.protobuf.Int32Value": _WRAPPER,
    "google.protobuf.UInt32Value": _WRAPPER,
    "google.protobuf.BoolValue": _WRAPPER,
    "google.protobuf.StringValue": _WRAPPER,
    "google.protobuf.BytesValue": _WRAPPER,
    # google.protobuf.Empty is an ordinary message with no fields: {} as it is.
}


def has_special_form(cls: type[Message]) -> bool:
    """Whether ``cls`` is written some other way than as an object of its fields."""
    return cls._schema.full_name in WELL_KNOWN_TYPES
