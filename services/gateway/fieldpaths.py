"""Dotted field paths ("sub.subfield") over message schemas.

Spec: googleapis google/api/http.proto, HttpRule: path variables and query
parameters name fields by path ("In general, not only fields but also field
paths can be referenced from a path pattern"; "`sub.subfield` becomes a
parameter"), every step but the last a singular message field.

Templates and the ``body``/``response_body`` of a rule use the .proto field
names; query parameters may use the JSON name too (``pageSize`` or
``page_size``), as a ProtoJSON parser does for object keys.
"""

from __future__ import annotations

from wire import FieldSchema, FieldType, MessageSchema
from wire.json import json_name

__all__ = ["FieldPathError", "resolve", "is_message", "MESSAGE_TYPES"]

MESSAGE_TYPES = (FieldType.MESSAGE, FieldType.GROUP)


class FieldPathError(ValueError):
    """A path that names no field, or goes through a field it cannot go through."""


def is_message(field: FieldSchema) -> bool:
    return field.type in MESSAGE_TYPES


def resolve(schema: MessageSchema, path: str, *, json_names: bool = False) -> tuple[FieldSchema, ...]:
    """The fields along ``path``: every step but the last a singular message field."""
    fields: list[FieldSchema] = []
    names = path.split(".")
    for depth, name in enumerate(names):
        field = _field_named(schema, name, json_names)
        if field is None:
            raise FieldPathError(f"{schema.full_name} has no field {name!r}")
        fields.append(field)
        if depth == len(names) - 1:
            break
        if not is_message(field) or field.repeated:
            kind = "a map" if field.is_map else "repeated" if field.repeated else "not a message"
            raise FieldPathError(f"{path!r}: {schema.full_name}.{field.name} is {kind}, "
                                 f"so the path cannot go on into it")
        schema = field.message_type
    return tuple(fields)


def _field_named(schema: MessageSchema, name: str, json_names: bool) -> FieldSchema | None:
    for field in schema.fields:
        if field.name == name or (json_names and json_name(field) == name):
            return field
    return None
