"""Schemas written back as .proto text, for ``describe``.

Spec: https://protobuf.dev/reference/protobuf/proto3-spec/ (the grammar the
text follows). Type names are written fully qualified with a leading dot
(".ecommerce.Product"), as grpcurl writes them, so that a reader can feed
them straight back to ``describe``. Map entry messages do not appear: their
fields are written as ``map<K, V>``. Comments and options are not kept.
"""

from __future__ import annotations

from typing import Any

from wire.schema import (
    EnumSchema,
    EnumValueSchema,
    ExtensionSchema,
    FieldSchema,
    FieldType,
    Label,
    MessageSchema,
    MethodSchema,
    OneofSchema,
    ServiceSchema,
)

__all__ = ["render", "type_name"]

INDENT = "  "
PROTO2 = "proto2"


def render(schema: Any, parent: Any = None) -> str:
    """The .proto text of one schema object (``parent``: a oneof's message)."""
    if isinstance(schema, ServiceSchema):
        return "\n".join(service_lines(schema))
    if isinstance(schema, MethodSchema):
        return method_line(schema)
    if isinstance(schema, MessageSchema):
        return "\n".join(message_lines(schema))
    if isinstance(schema, EnumSchema):
        return "\n".join(enum_lines(schema))
    if isinstance(schema, FieldSchema):
        return field_line(schema, parent.syntax if parent is not None else "proto3")
    if isinstance(schema, OneofSchema):
        return "\n".join(oneof_lines(schema, parent))
    if isinstance(schema, EnumValueSchema):
        return f"{schema.name} = {schema.number};"
    if isinstance(schema, ExtensionSchema):
        return "\n".join(extension_lines(schema))
    raise TypeError(f"cannot render {type(schema).__name__}")


def type_name(field: FieldSchema) -> str:
    """A field's type as written in a .proto: "int32", ".pkg.Message"."""
    if field.type in (FieldType.MESSAGE, FieldType.ENUM, FieldType.GROUP):
        if field.type_name:
            return field.type_name if field.type_name.startswith(".") else "." + field.type_name
        target = field.message_type or field.enum_type
        return "." + target.full_name
    return field.type.name.lower()


def service_lines(service: ServiceSchema) -> list[str]:
    return [f"service {service.name} {{",
            *(INDENT + method_line(m) for m in service.methods), "}"]


def method_line(method: MethodSchema) -> str:
    request = ("stream " if method.client_streaming else "") + _dotted(method.input_type)
    response = ("stream " if method.server_streaming else "") + _dotted(method.output_type)
    return f"rpc {method.name} ( {request} ) returns ( {response} );"


def message_lines(message: MessageSchema) -> list[str]:
    body: list[str] = []
    done_oneofs: set[int] = set()
    for field in message.fields:
        index = field.oneof_index
        if index is not None and not message.oneofs[index].synthetic:
            if index not in done_oneofs:
                done_oneofs.add(index)
                body += oneof_lines(message.oneofs[index], message)
            continue
        body.append(field_line(field, message.syntax))
    for nested in message.nested_types:
        if not nested.map_entry:
            body += message_lines(nested)
    for nested_enum in message.enum_types:
        body += enum_lines(nested_enum)
    body += _reserved_lines(message)
    return [f"message {message.name} {{", *(INDENT + line for line in body), "}"]


def field_line(field: FieldSchema, syntax: str = "proto3") -> str:
    if field.is_map:
        key, value = field.message_type.fields[0], field.message_type.fields[1]
        kind = f"map<{type_name(key)}, {type_name(value)}>"
    else:
        kind = _label(field, syntax) + type_name(field)
    default = f" [default = {field.default_value}]" if field.default_value is not None else ""
    return f"{kind} {field.name} = {field.number}{default};"


def _label(field: FieldSchema, syntax: str) -> str:
    if field.label == Label.REPEATED:
        return "repeated "
    if field.label == Label.REQUIRED:
        return "required "
    if field.proto3_optional or (syntax == PROTO2 and field.oneof_index is None):
        return "optional "
    return ""


def oneof_lines(oneof: OneofSchema, message: MessageSchema) -> list[str]:
    index = message.oneofs.index(oneof)
    members = [INDENT + field_line(f, "proto3") for f in message.fields if f.oneof_index == index]
    return [f"oneof {oneof.name} {{", *members, "}"]


def enum_lines(enum_schema: EnumSchema) -> list[str]:
    values = [f"{INDENT}{v.name} = {v.number};" for v in enum_schema.values]
    return [f"enum {enum_schema.name} {{", *values, "}"]


def extension_lines(extension: ExtensionSchema) -> list[str]:
    return [f"extend {_dotted(extension.extendee)} {{",
            INDENT + field_line(extension.field, PROTO2), "}"]


def _reserved_lines(message: MessageSchema) -> list[str]:
    lines = []
    if message.reserved_ranges:
        ranges = [str(s) if e == s + 1 else f"{s} to {e - 1}" for s, e in message.reserved_ranges]
        lines.append(f"reserved {', '.join(ranges)};")
    if message.reserved_names:
        lines.append("reserved " + ", ".join(f'"{n}"' for n in message.reserved_names) + ";")
    return lines


def _dotted(name: str) -> str:
    return name if name.startswith(".") else "." + name
