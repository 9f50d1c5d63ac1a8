"""Schema objects: what a .proto file says about messages, fields and enums.

These mirror the descriptors of google/protobuf/descriptor.proto
(https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto):
``FieldType`` and ``Label`` use its numbers, and each dataclass carries the
fields of the matching ``*DescriptorProto`` that a codec, a .proto parser or a
reflection server needs. The .proto parser (wire.idl) builds them; tests and
notebooks can build them by hand with ``Field`` and ``message``.

A schema is plain data. ``message_class(schema)`` turns a MessageSchema into a
Python class with encode/decode; ``enum_class(schema)`` turns an EnumSchema
into an IntEnum.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .errors import SchemaError

__all__ = [
    "FieldType",
    "Label",
    "FieldSchema",
    "OneofSchema",
    "EnumValueSchema",
    "EnumSchema",
    "MessageSchema",
    "MAP_KEY_TYPES",
]


class FieldType(enum.IntEnum):
    """FieldDescriptorProto.Type: the 18 field types (GROUP is proto2 only)."""

    DOUBLE = 1
    FLOAT = 2
    INT64 = 3
    UINT64 = 4
    INT32 = 5
    FIXED64 = 6
    FIXED32 = 7
    BOOL = 8
    STRING = 9
    GROUP = 10
    MESSAGE = 11
    BYTES = 12
    UINT32 = 13
    ENUM = 14
    SFIXED32 = 15
    SFIXED64 = 16
    SINT32 = 17
    SINT64 = 18

    @classmethod
    def from_name(cls, name: str) -> "FieldType":
        """'int32' -> FieldType.INT32, as the type is spelled in a .proto file."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise SchemaError(f"unknown scalar type {name!r}") from None


class Label(enum.IntEnum):
    """FieldDescriptorProto.Label."""

    OPTIONAL = 1
    REQUIRED = 2
    REPEATED = 3


# The language guide allows any integral or string type as a map key: not
# floating point, bytes, enums or messages.
MAP_KEY_TYPES = frozenset({
    FieldType.INT32, FieldType.INT64, FieldType.UINT32, FieldType.UINT64,
    FieldType.SINT32, FieldType.SINT64, FieldType.FIXED32, FieldType.FIXED64,
    FieldType.SFIXED32, FieldType.SFIXED64, FieldType.BOOL, FieldType.STRING,
})


@dataclass(eq=False)
class FieldSchema:
    """One field of a message (FieldDescriptorProto).

    ``message_type`` / ``enum_type`` hold the resolved schema of a MESSAGE or
    ENUM field; ``type_name`` is its fully-qualified name (".pkg.Type").
    ``proto3_optional`` marks a proto3 ``optional`` field, which tracks presence
    through a synthetic oneof; ``packed`` is None for the syntax's default.
    """

    name: str
    number: int
    type: FieldType
    label: Label = Label.OPTIONAL
    type_name: str | None = None
    message_type: MessageSchema | None = None
    enum_type: EnumSchema | None = None
    oneof_index: int | None = None
    proto3_optional: bool = False
    packed: bool | None = None
    json_name: str | None = None
    default_value: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""

    @property
    def repeated(self) -> bool:
        return self.label == Label.REPEATED

    @property
    def is_map(self) -> bool:
        return (
            self.repeated
            and self.message_type is not None
            and self.message_type.map_entry
        )


@dataclass(eq=False)
class OneofSchema:
    """OneofDescriptorProto. ``synthetic`` is the hidden oneof of a proto3 optional."""

    name: str
    synthetic: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class EnumValueSchema:
    """EnumValueDescriptorProto."""

    name: str
    number: int
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""


@dataclass(eq=False)
class EnumSchema:
    """EnumDescriptorProto, with the enum's fully-qualified name."""

    name: str
    full_name: str
    values: list[EnumValueSchema] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""
    syntax: str = "proto3"
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)  # [start, end] inclusive, as EnumReservedRange
    reserved_names: list[str] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        """proto2 enums are closed: unknown numbers go to the unknown fields."""
        return self.syntax == "proto2"


@dataclass(eq=False)
class MessageSchema:
    """DescriptorProto, with the message's fully-qualified name and syntax."""

    name: str
    full_name: str
    fields: list[FieldSchema] = field(default_factory=list)
    oneofs: list[OneofSchema] = field(default_factory=list)
    nested_types: list[MessageSchema] = field(default_factory=list)
    enum_types: list[EnumSchema] = field(default_factory=list)
    map_entry: bool = False
    syntax: str = "proto3"
    options: dict[str, Any] = field(default_factory=dict)
    reserved_ranges: list[tuple[int, int]] = field(default_factory=list)  # [start, end) as descriptor.proto
    reserved_names: list[str] = field(default_factory=list)
    extension_ranges: list[tuple[int, int]] = field(default_factory=list)
    comments: str = ""

    def field_named(self, name: str) -> FieldSchema:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise SchemaError(f"{self.full_name} has no field {name!r}")


# --- files, services and extensions (built by the .proto parser, wire.idl) ---


@dataclass(eq=False)
class ExtensionSchema:
    """A field declared in an ``extend`` block (FieldDescriptorProto with an extendee).

    ``extendee`` is the fully-qualified name of the message extended
    (".google.protobuf.MethodOptions"); ``scope`` is the full name of the
    message or package the ``extend`` block sits in, and ``full_name`` the
    extension's own name ("google.api.http"), which custom options use.
    """

    field: FieldSchema
    extendee: str
    full_name: str
    scope: str = ""
    extendee_type: MessageSchema | None = None
    comments: str = ""


@dataclass(eq=False)
class MethodSchema:
    """MethodDescriptorProto, with the resolved request and response schemas."""

    name: str
    input_type: str                      # fully qualified, ".pkg.Request"
    output_type: str
    client_streaming: bool = False
    server_streaming: bool = False
    input_message: MessageSchema | None = None
    output_message: MessageSchema | None = None
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""
    options_block: bool = False          # written with "{ ... }": protoc then writes MethodOptions, even empty


@dataclass(eq=False)
class ServiceSchema:
    """ServiceDescriptorProto, with the service's fully-qualified name."""

    name: str
    full_name: str
    methods: list[MethodSchema] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""

    def method_path(self, method: MethodSchema) -> str:
        """The HTTP/2 :path of a call: "/" Service-Name "/" {method name}."""
        return f"/{self.full_name}/{method.name}"


@dataclass(eq=False)
class FileSchema:
    """FileDescriptorProto: one .proto file, its imports and what it defines.

    ``name`` is the path the file is imported by ("google/protobuf/empty.proto");
    ``dependencies`` are the import paths in source order, with the indexes of
    the public and weak ones in ``public_dependencies``/``weak_dependencies``.
    """

    name: str
    package: str = ""
    syntax: str = "proto3"
    dependencies: list[str] = field(default_factory=list)
    public_dependencies: list[int] = field(default_factory=list)
    weak_dependencies: list[int] = field(default_factory=list)
    message_types: list[MessageSchema] = field(default_factory=list)
    enum_types: list[EnumSchema] = field(default_factory=list)
    services: list[ServiceSchema] = field(default_factory=list)
    extensions: list[ExtensionSchema] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    comments: str = ""


__all__ += ["ExtensionSchema", "MethodSchema", "ServiceSchema", "FileSchema"]
