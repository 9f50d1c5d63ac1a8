"""Every name a .proto file defines, with what kind of thing it names.

Spec: https://protobuf.dev/programming-guides/proto3/#packages-and-name-resolution
for how full names are made ("package.Outer.Inner", "package.Service.Method"),
and doc/server-reflection.md
(https://github.com/grpc/grpc/blob/master/doc/server-reflection.md), whose
file_containing_symbol takes any of them.

    service      pkg.Service                 method      pkg.Service.Method
    message      pkg.Outer, pkg.Outer.Inner  field       pkg.Outer.field_name
    oneof        pkg.Outer.choice            enum        pkg.Enum, pkg.Outer.Enum
    enum value   pkg.VALUE (a sibling of its enum, as in C++ scoping),
                 and pkg.Enum.VALUE (the spelling people try first)
    extension    pkg.extension_name, pkg.Outer.extension_name

The server's index (services.reflection.index) and the client's pool
(services.reflection.pool) both walk files with ``file_symbols``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Iterator

from wire.schema import EnumSchema, FileSchema, MessageSchema

__all__ = ["SymbolKind", "Symbol", "file_symbols", "qualify"]


class SymbolKind(enum.Enum):
    SERVICE = "service"
    METHOD = "method"
    MESSAGE = "message"
    FIELD = "field"
    ONEOF = "oneof"
    ENUM = "enum"
    ENUM_VALUE = "enum value"
    EXTENSION = "extension"


@dataclass(frozen=True)
class Symbol:
    """A full name, what it names, its schema object, and the file that defines it.

    ``parent`` is the schema the symbol sits in, where that matters: the
    service of a method, the message of a field or oneof, the enum of a value.
    """

    full_name: str
    kind: SymbolKind
    schema: Any
    file: FileSchema
    parent: Any = None


def qualify(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def file_symbols(file: FileSchema) -> Iterator[Symbol]:
    """Every symbol ``file`` defines, outermost first."""
    scope = file.package
    for service in file.services:
        yield Symbol(service.full_name, SymbolKind.SERVICE, service, file)
        for method in service.methods:
            yield Symbol(qualify(service.full_name, method.name), SymbolKind.METHOD,
                         method, file, service)
    for message in file.message_types:
        yield from _message_symbols(message, file)
    for enum_schema in file.enum_types:
        yield from _enum_symbols(enum_schema, scope, file)
    for extension in file.extensions:
        yield Symbol(extension.full_name, SymbolKind.EXTENSION, extension, file)


def _message_symbols(message: MessageSchema, file: FileSchema) -> Iterator[Symbol]:
    yield Symbol(message.full_name, SymbolKind.MESSAGE, message, file)
    for field in message.fields:
        yield Symbol(qualify(message.full_name, field.name), SymbolKind.FIELD,
                     field, file, message)
    for oneof in message.oneofs:
        yield Symbol(qualify(message.full_name, oneof.name), SymbolKind.ONEOF,
                     oneof, file, message)
    for nested in message.nested_types:
        yield from _message_symbols(nested, file)
    for enum_schema in message.enum_types:
        yield from _enum_symbols(enum_schema, message.full_name, file)


def _enum_symbols(enum_schema: EnumSchema, scope: str, file: FileSchema) -> Iterator[Symbol]:
    yield Symbol(enum_schema.full_name, SymbolKind.ENUM, enum_schema, file)
    for value in enum_schema.values:
        for full_name in (qualify(scope, value.name), qualify(enum_schema.full_name, value.name)):
            yield Symbol(full_name, SymbolKind.ENUM_VALUE, value, file, enum_schema)
