"""Defining messages in Python, without a .proto file.

The .proto parser (wire.idl) is the usual way to get message classes; this
module is the short way for tests, notebooks and benchmarks:

    Product = wire.message("ecommerce.Product", [
        wire.field("id", 1, "string"),
        wire.field("name", 2, "string"),
        wire.field("price", 4, "float"),
    ])

``field`` takes the type as the .proto spells it ("int32", "string", ...), or a
message class, or an enum class made by ``wire.enum``. Maps are
``field("counts", 5, map=("string", "int32"))``.
"""

from __future__ import annotations

import enum as _enum
from typing import Any, Iterable

from .errors import SchemaError
from .message import Message, enum_class, message_class
from .schema import (
    EnumSchema,
    EnumValueSchema,
    FieldSchema,
    FieldType,
    Label,
    MessageSchema,
    OneofSchema,
)

__all__ = ["field", "message", "enum"]

MAP_ENTRY_SUFFIX = "Entry"   # protoc names map entries <FieldName>Entry


def field(name: str, number: int, type: Any = None, *, repeated: bool = False,
          optional: bool = False, oneof: str | None = None,
          packed: bool | None = None, map: tuple[Any, Any] | None = None) -> dict:
    """Describe one field; ``message`` turns these into a schema."""
    return {"name": name, "number": number, "type": type, "repeated": repeated,
            "optional": optional, "oneof": oneof, "packed": packed, "map": map}


def message(full_name: str, fields: Iterable[dict], *, syntax: str = "proto3") -> type[Message]:
    """Build a message class named ``full_name`` ("package.Name") from ``field``s."""
    name = full_name.rpartition(".")[2]
    schema = MessageSchema(name=name, full_name=full_name, syntax=syntax)
    for spec in fields:
        schema.fields.append(_field_schema(spec, schema))
    return message_class(schema)


def enum(full_name: str, values: dict[str, int] | Iterable[str]) -> type[_enum.IntEnum]:
    """Build an enum class; ``values`` maps names to numbers (or lists names 0, 1, ...)."""
    if not isinstance(values, dict):
        values = {value_name: number for number, value_name in enumerate(values)}
    schema = EnumSchema(
        name=full_name.rpartition(".")[2],
        full_name=full_name,
        values=[EnumValueSchema(n, v) for n, v in values.items()],
    )
    return enum_class(schema)


def _field_schema(spec: dict, owner: MessageSchema) -> FieldSchema:
    if spec["map"] is not None:
        return _map_field(spec, owner)
    result = FieldSchema(
        name=spec["name"],
        number=spec["number"],
        type=FieldType.BOOL,   # replaced below
        label=Label.REPEATED if spec["repeated"] else Label.OPTIONAL,
        packed=spec["packed"],
    )
    _set_type(result, spec["type"])
    if spec["oneof"] is not None or spec["optional"]:
        oneof_name = spec["oneof"] or f"_{spec['name']}"
        result.oneof_index = _oneof_index(owner, oneof_name, synthetic=spec["optional"])
        result.proto3_optional = spec["optional"]
    return result


def _set_type(result: FieldSchema, type_: Any) -> None:
    if isinstance(type_, str):
        result.type = FieldType.from_name(type_)
    elif isinstance(type_, builtin_type) and issubclass(type_, Message):
        result.type = FieldType.MESSAGE
        result.message_type = type_._schema
        result.type_name = "." + type_._schema.full_name
    elif isinstance(type_, builtin_type) and issubclass(type_, _enum.IntEnum):
        result.type = FieldType.ENUM
        result.enum_type = type_._schema
        result.type_name = "." + type_._schema.full_name
    else:
        raise SchemaError(f"field {result.name!r}: unknown type {type_!r}")


builtin_type = type


def _map_field(spec: dict, owner: MessageSchema) -> FieldSchema:
    key_type, value_type = spec["map"]
    entry_name = _camel(spec["name"]) + MAP_ENTRY_SUFFIX
    entry = MessageSchema(name=entry_name, full_name=f"{owner.full_name}.{entry_name}",
                          map_entry=True, syntax=owner.syntax)
    key = FieldSchema(name="key", number=1, type=FieldType.from_name(key_type))
    value = FieldSchema(name="value", number=2, type=FieldType.BOOL)
    _set_type(value, value_type)
    entry.fields = [key, value]
    owner.nested_types.append(entry)
    return FieldSchema(name=spec["name"], number=spec["number"], type=FieldType.MESSAGE,
                       label=Label.REPEATED, message_type=entry,
                       type_name="." + entry.full_name)


def _oneof_index(owner: MessageSchema, name: str, synthetic: bool) -> int:
    for index, oneof in enumerate(owner.oneofs):
        if oneof.name == name:
            return index
    owner.oneofs.append(OneofSchema(name=name, synthetic=synthetic))
    return len(owner.oneofs) - 1


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
