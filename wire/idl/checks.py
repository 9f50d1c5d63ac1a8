"""The rules a message, enum or service body must follow, checked as it closes.

Spec: https://protobuf.dev/programming-guides/proto3/ ("Assigning Field
Numbers", "Reserved Fields", "Maps", "Enumerations", "Oneof") and
https://protobuf.dev/programming-guides/encoding/#structure for the field
number range.

    1 <= field number <= 2^29 - 1, and not 19000 .. 19999
    a number or name is used once per message, and never one that is reserved
    a map key is an integral or string scalar
    a proto3 enum starts at 0; numbers repeat only with allow_alias = true

Each failure is an IdlError at the offending name or number.
"""

from __future__ import annotations

from ..schema import (
    MAP_KEY_TYPES,
    EnumSchema,
    FieldSchema,
    MessageSchema,
    ServiceSchema,
)
from ..wire_format import MAX_FIELD_NUMBER, MIN_FIELD_NUMBER, RESERVED_FIELD_NUMBERS
from .errors import IdlError, Position

__all__ = ["check_message", "check_map_key", "check_enum", "check_service"]

PROTO3_FIRST_ENUM_NUMBER = 0      # proto3: the first value is the default, and must be 0


def check_message(message: MessageSchema, positions: dict, reserved_at: list[Position]) -> None:
    """Numbers in range, unique and not reserved; names unique and not reserved."""
    _check_reserved_overlaps(message.reserved_ranges, reserved_at, message.full_name)
    numbers: dict[int, str] = {}
    names: set[str] = set()
    json_names: dict[str, str] = {}
    for field in message.fields:
        name_at, number_at = positions[id(field)]
        check_field_number(field.number, number_at)
        _check_number_free(field, message, numbers, number_at)
        _check_name_free(field, message, names, name_at)
        if message.syntax == "proto3":
            _check_json_name_free(field, json_names, name_at)
        numbers[field.number] = field.name
        names.add(field.name)


def check_field_number(number: int, where: Position) -> None:
    if not MIN_FIELD_NUMBER <= number <= MAX_FIELD_NUMBER:
        raise IdlError(where, f"field number {number} is out of range: field numbers "
                              f"go from {MIN_FIELD_NUMBER} to {MAX_FIELD_NUMBER}")
    if number in RESERVED_FIELD_NUMBERS:
        raise IdlError(where, f"field number {number} is in 19000 to 19999, which is "
                              "reserved for the Protocol Buffers implementation")


def _check_number_free(field: FieldSchema, message: MessageSchema,
                       numbers: dict[int, str], where: Position) -> None:
    if field.number in numbers:
        raise IdlError(where, f"field number {field.number} is already used by "
                              f"{numbers[field.number]!r} in {message.full_name}")
    for start, end in message.reserved_ranges:
        if start <= field.number < end:
            raise IdlError(where, f"field number {field.number} is reserved in "
                                  f"{message.full_name}")
    for start, end in message.extension_ranges:
        if start <= field.number < end:
            raise IdlError(where, f"field number {field.number} is in an extension range "
                                  f"of {message.full_name}")


def _check_name_free(field: FieldSchema, message: MessageSchema,
                     names: set[str], where: Position) -> None:
    if field.name in names:
        raise IdlError(where, f"field name {field.name!r} is already used in "
                              f"{message.full_name}")
    if field.name in message.reserved_names:
        raise IdlError(where, f"field name {field.name!r} is reserved in {message.full_name}")


def _check_json_name_free(field: FieldSchema, json_names: dict[str, str],
                          where: Position) -> None:
    """proto3: two fields may not share a JSON name (the JSON mapping would mix them)."""
    key = (field.json_name or "").lower()
    if key in json_names:
        raise IdlError(where, f"the JSON name of field {field.name!r} clashes with that "
                              f"of field {json_names[key]!r}")
    json_names[key] = field.name


def _check_reserved_overlaps(ranges: list[tuple[int, int]], positions: list[Position],
                             owner: str) -> None:
    for index, (start, end) in enumerate(ranges):
        for other_start, other_end in ranges[:index]:
            if start < other_end and other_start < end:
                raise IdlError(positions[index], f"reserved range {start} to {end - 1} "
                                                 f"overlaps another reserved range in {owner}")


def check_map_key(key: FieldSchema, where: Position) -> None:
    """Map keys: any integral or string scalar; no floats, bytes, enums or messages."""
    if key.type_name is not None:
        raise IdlError(where, f"a map key cannot be a message or enum type ({key.type_name}): "
                              "use an integer or string type")
    if key.type not in MAP_KEY_TYPES:
        raise IdlError(where, f"a map key cannot be {key.type.name.lower()}: "
                              "use an integer or string type")


def check_enum(enum: EnumSchema, body, where: Position) -> None:
    if not enum.values:
        raise IdlError(where, f"enum {enum.full_name} must have at least one value")
    first = enum.values[0]
    if enum.syntax == "proto3" and first.number != PROTO3_FIRST_ENUM_NUMBER:
        raise IdlError(body.value_positions[id(first)][1],
                       f"the first value of proto3 enum {enum.full_name} must be 0")
    allow_alias = _allows_alias(body)
    names: set[str] = set()
    numbers: dict[int, str] = {}
    aliased = False
    for value in enum.values:
        name_at, number_at = body.value_positions[id(value)]
        if value.name in names:
            raise IdlError(name_at, f"enum value {value.name!r} is already defined in "
                                    f"{enum.full_name}")
        if value.number in numbers:
            aliased = True
            if not allow_alias:
                raise IdlError(number_at, f"{value.name} uses the number {value.number}, "
                                          f"already used by {numbers[value.number]}; set "
                                          "option allow_alias = true to allow aliases")
        _check_enum_reserved(enum, value.name, value.number, name_at, number_at)
        names.add(value.name)
        numbers.setdefault(value.number, value.name)
    if allow_alias and not aliased:
        raise IdlError(where, f"enum {enum.full_name} sets allow_alias but has no aliases")


def _check_enum_reserved(enum: EnumSchema, name: str, number: int,
                         name_at: Position, number_at: Position) -> None:
    for start, end in enum.reserved_ranges:        # inclusive
        if start <= number <= end:
            raise IdlError(number_at, f"enum number {number} is reserved in {enum.full_name}")
    if name in enum.reserved_names:
        raise IdlError(name_at, f"enum value name {name!r} is reserved in {enum.full_name}")


def _allows_alias(body) -> bool:
    for option in body.options:
        if option.dotted == "allow_alias":
            return option.value.kind == "ident" and option.value.value == "true"
    return False


def check_service(service: ServiceSchema, where: Position) -> None:
    names: set[str] = set()
    for method in service.methods:
        if method.name in names:
            raise IdlError(where, f"method {method.name!r} is defined twice in "
                                  f"service {service.full_name}")
        names.add(method.name)
