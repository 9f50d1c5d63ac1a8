"""FileDescriptorProtos back into schemas: what a reflection client is sent, made usable.

Spec: google/protobuf/descriptor.proto
(https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto).
This is wire.idl.descriptors run backwards: that module writes a parsed
.proto file as FileDescriptorProto bytes; this one reads such bytes (from a
reflection server, or protoc's --descriptor_set_out) into the same schema
objects wire.idl builds (FileSchema, MessageSchema, FieldSchema, EnumSchema,
ServiceSchema), so that wire.message_class, wire.json and rpc stubs work on
types this process has never seen a .proto file for.

    pool = SchemaPool()
    pool.add_file_descriptor(data)          decode one file (types still pending)
    pool.missing_dependencies()             imports not in the pool yet: fetch them
    pool.resolve()                          every ".pkg.Type" to its schema
    pool.message_class("pkg.Type")          a class that encodes and decodes

Two steps, because a file's types may live in files that arrive later.
Decoding uses descriptor.proto's classes as wire.idl bundles them (our own
parser's reading of descriptor.proto, not protobuf's generated code).

The FileDescriptorProto fields kept are those a codec, a stub or ``describe``
needs: names, numbers, types, labels, json_name, oneofs (a oneof whose
fields are all proto3_optional is synthetic), map entries, packed, default
values, reserved ranges and names, extension ranges, services and
extensions. Options other than map_entry and packed, and source info, are
not kept. Editions files are read as proto2 (explicit presence).
"""

from __future__ import annotations

from typing import Any, Iterable

import wire
from wire.idl.descriptors import descriptor_classes
from wire.schema import (
    EnumSchema,
    EnumValueSchema,
    ExtensionSchema,
    FieldSchema,
    FieldType,
    FileSchema,
    Label,
    MessageSchema,
    MethodSchema,
    OneofSchema,
    ServiceSchema,
)

from .symbols import Symbol, SymbolKind, file_symbols, qualify

__all__ = ["SchemaPool", "UnresolvedType", "file_schema"]

PROTO3 = "proto3"
PROTO2 = "proto2"          # FileDescriptorProto.syntax is unset for proto2 files
TYPE_KINDS = {SymbolKind.MESSAGE, SymbolKind.ENUM}


class UnresolvedType(wire.SchemaError):
    """A type name that no file in the pool defines."""


def file_schema(data: bytes) -> tuple[FileSchema, list[Any]]:
    """One encoded FileDescriptorProto -> (FileSchema, its unresolved references)."""
    proto = descriptor_classes().FileDescriptorProto.decode(data)
    return _Reader(proto).file()


class _Reader:
    """Builds the schemas of one file, noting every type name still to resolve."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        syntax = proto.syntax or PROTO2
        self.syntax = syntax if syntax in (PROTO2, PROTO3) else PROTO2
        self.references: list[Any] = []   # FieldSchemas, MethodSchemas, ExtensionSchemas

    def file(self) -> tuple[FileSchema, list[Any]]:
        proto = self.proto
        package = proto.package or ""
        schema = FileSchema(
            name=proto.name or "",
            package=package,
            syntax=self.syntax,
            dependencies=list(proto.dependency),
            public_dependencies=list(proto.public_dependency),
            weak_dependencies=list(proto.weak_dependency),
            message_types=[self.message(m, package) for m in proto.message_type],
            enum_types=[self.enum(e, package) for e in proto.enum_type],
            services=[self.service(s, package) for s in proto.service],
            extensions=[self.extension(x, package) for x in proto.extension],
        )
        for message in proto.message_type:
            self.nested_extensions(message, package, schema.extensions)
        return schema, self.references

    def message(self, proto: Any, scope: str) -> MessageSchema:
        full_name = qualify(scope, proto.name)
        options = proto.options
        schema = MessageSchema(
            name=proto.name,
            full_name=full_name,
            fields=[self.field(f) for f in proto.field],
            nested_types=[self.message(m, full_name) for m in proto.nested_type],
            enum_types=[self.enum(e, full_name) for e in proto.enum_type],
            map_entry=bool(options is not None and options.map_entry),
            syntax=self.syntax,
            reserved_ranges=[(r.start, r.end) for r in proto.reserved_range],
            reserved_names=list(proto.reserved_name),
            extension_ranges=[(r.start, r.end) for r in proto.extension_range],
        )
        schema.oneofs = [OneofSchema(name=o.name, synthetic=_synthetic(schema, index))
                         for index, o in enumerate(proto.oneof_decl)]
        return schema

    def field(self, proto: Any) -> FieldSchema:
        options = proto.options
        schema = FieldSchema(
            name=proto.name,
            number=proto.number,
            type=FieldType(int(proto.type)) if proto.type is not None else FieldType.MESSAGE,
            label=Label(int(proto.label)) if proto.label is not None else Label.OPTIONAL,
            type_name=proto.type_name,
            oneof_index=proto.oneof_index,
            proto3_optional=bool(proto.proto3_optional),
            packed=None if options is None else options.packed,
            json_name=proto.json_name,
            default_value=proto.default_value,
        )
        if proto.type is None or schema.type in (FieldType.MESSAGE, FieldType.ENUM,
                                                 FieldType.GROUP):
            self.references.append(schema)
        return schema

    def enum(self, proto: Any, scope: str) -> EnumSchema:
        return EnumSchema(
            name=proto.name,
            full_name=qualify(scope, proto.name),
            values=[EnumValueSchema(v.name, v.number) for v in proto.value],
            syntax=self.syntax,
            reserved_ranges=[(r.start, r.end) for r in proto.reserved_range],
            reserved_names=list(proto.reserved_name),
        )

    def service(self, proto: Any, scope: str) -> ServiceSchema:
        schema = ServiceSchema(name=proto.name, full_name=qualify(scope, proto.name))
        for method in proto.method:
            entry = MethodSchema(
                name=method.name,
                input_type=method.input_type,
                output_type=method.output_type,
                client_streaming=bool(method.client_streaming),
                server_streaming=bool(method.server_streaming),
            )
            schema.methods.append(entry)
            self.references.append(entry)
        return schema

    def extension(self, proto: Any, scope: str) -> ExtensionSchema:
        extension = ExtensionSchema(field=self.field(proto), extendee=proto.extendee,
                                    full_name=qualify(scope, proto.name), scope=scope)
        self.references.append(extension)
        return extension

    def nested_extensions(self, proto: Any, scope: str, into: list[ExtensionSchema]) -> None:
        full_name = qualify(scope, proto.name)
        into.extend(self.extension(x, full_name) for x in proto.extension)
        for nested in proto.nested_type:
            self.nested_extensions(nested, full_name, into)


def _synthetic(message: MessageSchema, index: int) -> bool:
    members = [f for f in message.fields if f.oneof_index == index]
    return bool(members) and all(f.proto3_optional for f in members)


class SchemaPool:
    """Files by name and symbols by full name, from descriptors or from wire.idl."""

    def __init__(self) -> None:
        self.files: dict[str, FileSchema] = {}
        self._symbols: dict[str, Symbol] = {}
        self._pending: list[Any] = []

    # --- filling it -----------------------------------------------------------------

    def add_file_descriptor(self, data: bytes) -> FileSchema:
        """Add one encoded FileDescriptorProto (a file already here is kept as it was)."""
        schema, references = file_schema(data)
        if schema.name in self.files:
            return self.files[schema.name]
        self._index(schema)
        self._pending.extend(references)
        return schema

    def add_file_descriptors(self, files: Iterable[bytes]) -> None:
        for data in files:
            self.add_file_descriptor(data)

    def add_schema(self, schema: FileSchema) -> None:
        """Add a file wire.idl has loaded (its names are resolved already)."""
        if schema.name not in self.files:
            self._index(schema)

    def add_loaded(self, loaded: Any) -> None:
        """Add a wire.idl LoadedFile and everything it imports."""
        for each in loaded.files():
            self.add_schema(each.file)

    def _index(self, schema: FileSchema) -> None:
        self.files[schema.name] = schema
        for symbol in file_symbols(schema):
            self._symbols.setdefault(symbol.full_name, symbol)

    def missing_dependencies(self) -> list[str]:
        """Files imported by files in the pool that are not in the pool."""
        missing = []
        for schema in self.files.values():
            for name in schema.dependencies:
                if name not in self.files and name not in missing:
                    missing.append(name)
        return missing

    def resolve(self) -> None:
        """Settle every pending type name; UnresolvedType names the first that fails."""
        pending, self._pending = self._pending, []
        try:
            for reference in pending:
                self._settle(reference)
        except UnresolvedType:
            self._pending = pending
            raise

    def _settle(self, reference: Any) -> None:
        if isinstance(reference, MethodSchema):
            reference.input_message = self._type(reference.input_type, SymbolKind.MESSAGE)
            reference.output_message = self._type(reference.output_type, SymbolKind.MESSAGE)
        elif isinstance(reference, ExtensionSchema):
            reference.extendee_type = self._type(reference.extendee, SymbolKind.MESSAGE)
        else:
            self._settle_field(reference)

    def _settle_field(self, field: FieldSchema) -> None:
        symbol = self._symbols.get((field.type_name or "").lstrip("."))
        if symbol is None or symbol.kind not in TYPE_KINDS:
            raise UnresolvedType(f"field {field.name!r}: unknown type {field.type_name!r}")
        if symbol.kind is SymbolKind.ENUM:
            field.type, field.enum_type = FieldType.ENUM, symbol.schema
        else:
            if field.type != FieldType.GROUP:
                field.type = FieldType.MESSAGE
            field.message_type = symbol.schema

    def _type(self, type_name: str, kind: SymbolKind) -> Any:
        symbol = self._symbols.get(type_name.lstrip("."))
        if symbol is None or symbol.kind is not kind:
            raise UnresolvedType(f"unknown {kind.value} type {type_name!r}")
        return symbol.schema

    # --- asking it ------------------------------------------------------------------

    def find(self, full_name: str) -> Symbol | None:
        """The symbol called ``full_name`` (a leading dot is allowed), or None."""
        return self._symbols.get(full_name.lstrip("."))

    def service_names(self) -> list[str]:
        return [s.full_name for f in self.files.values() for s in f.services]

    def message_class(self, full_name: str) -> type[wire.Message]:
        symbol = self.find(full_name)
        if symbol is None or symbol.kind is not SymbolKind.MESSAGE:
            raise KeyError(full_name)
        return wire.message_class(symbol.schema)

    def method(self, name: str) -> tuple[ServiceSchema, MethodSchema]:
        """A method by "pkg.Service/Method" or "pkg.Service.Method" (KeyError if unknown)."""
        service_name, sep, method_name = name.lstrip("/").rpartition("/")
        if not sep:
            service_name, _, method_name = name.rpartition(".")
        symbol = self.find(service_name)
        if symbol is None or symbol.kind is not SymbolKind.SERVICE:
            raise KeyError(name)
        for method in symbol.schema.methods:
            if method.name == method_name:
                return symbol.schema, method
        raise KeyError(name)
