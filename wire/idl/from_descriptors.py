"""From descriptors: FileDescriptorProto bytes read back into loaded files.

Spec: google/protobuf/descriptor.proto
(https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto).
This is wire.idl.descriptors run backwards: that module writes a loaded
.proto file as FileDescriptorProto bytes; this one reads such bytes (from a
reflection server, or protoc's ``--descriptor_set_out``) into the same
schema objects and the same LoadedFile namespaces that ``wire.idl.load``
makes, so that message classes, services, wire.json and rpc stubs work on
types this process has never seen a .proto file for.

    load_descriptor_set(data)               a FileDescriptorSet -> {name: LoadedFile}
    load_file_descriptors(files, known=())  FileDescriptorProtos -> {name: LoadedFile}

Each file is loaded after the files it imports, in three steps:

    read      FileDescriptorProto -> schemas, type names and options still pending
    resolve   every ".pkg.Type" against the file and everything it imports
    options   every *Options message -> the ``options`` dict the parser makes:
              set fields by name; custom options (extension records, kept in
              the unknown fields) by the extension's full name

Every import must be among the files given or the ``known`` LoadedFiles: a
descriptor says nothing about where a missing file could be found. Source
info (comments) is not kept; custom options that no loaded extension
defines are dropped. Editions files are read as proto2 (explicit presence).
Reading back what wire.idl.descriptors wrote gives the same bytes when
written again.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..message import Message
from ..schema import (
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
from .descriptors import descriptor_classes, extension_carrier
from .errors import DescriptorError
from .loader import CompiledFile
from .namespace import LoadedFile, namespace_of
from .parsed import ParsedFile
from .resolve import ENUM, MESSAGE, SymbolTable, file_symbols

__all__ = ["load_descriptor_set", "load_file_descriptors"]

PROTO3 = "proto3"
PROTO2 = "proto2"          # FileDescriptorProto.syntax is unset for proto2 files
NAMED_TYPES = (FieldType.MESSAGE, FieldType.ENUM, FieldType.GROUP)   # carry a type_name


def load_descriptor_set(data: bytes) -> dict[str, LoadedFile]:
    """FileDescriptorSet bytes -> every file in it, by name, dependencies first."""
    return load_file_descriptors(descriptor_classes().FileDescriptorSet.decode(data).file)


def load_file_descriptors(files: Iterable[bytes | Message],
                          known: Iterable[LoadedFile] = ()) -> dict[str, LoadedFile]:
    """FileDescriptorProtos (encoded, or decoded with ``descriptor_classes()``) -> LoadedFiles.

    Returns the files given, by name, dependencies first; a file that is
    given twice, or is already among ``known``, is loaded once. Imports are
    looked up among ``files`` and among ``known`` (and what they import).
    """
    done: dict[str, CompiledFile] = {}
    for loaded in known:
        for each in loaded.files():
            done.setdefault(each.name, each._compiled)
    given: dict[str, Message] = {}
    for item in files:
        proto = _decoded(item)
        if proto.name not in done:
            given.setdefault(proto.name, proto)
    return {name: namespace_of(_compile(given[name], done))
            for name in _dependency_order(given, done)}


def _decoded(item: bytes | Message) -> Message:
    if isinstance(item, Message):
        return item
    return descriptor_classes().FileDescriptorProto.decode(item)


def _dependency_order(given: dict[str, Message], done: dict[str, CompiledFile]) -> list[str]:
    """The names in ``given``, each after its imports (a depth-first post-order)."""
    order: list[str] = []
    on_the_way: list[str] = []

    def visit(name: str) -> None:
        if name in order or name in done:
            return
        if name in on_the_way:
            cycle = " -> ".join([*on_the_way[on_the_way.index(name):], name])
            raise DescriptorError(f"import cycle: {cycle}")
        on_the_way.append(name)
        for dependency in given[name].dependency:
            if dependency not in given and dependency not in done:
                raise DescriptorError(f"{name} imports {dependency!r}, "
                                      "which is not among the files given")
            visit(dependency)
        order.append(on_the_way.pop())

    for name in given:
        visit(name)
    return order


def _compile(proto: Message, done: dict[str, CompiledFile]) -> CompiledFile:
    """One file whose imports are in ``done``: read, resolved, options read, and added."""
    reader = _Reader(proto)
    schema = reader.file()
    parsed = ParsedFile(schema)
    imports = [done[name] for name in schema.dependencies]
    compiled = CompiledFile(schema, parsed, imports,
                            [symbol for symbol, _ in file_symbols(parsed)])
    visible = [compiled, *_imported(imports)]
    table = SymbolTable()
    for each in visible:
        table.add_all(each.symbols)
    for reference in reader.references:
        _settle(reference, table, schema.name)
    _read_options(reader.options, [x for each in visible for x in each.schema.extensions])
    done[schema.name] = compiled
    return compiled


def _imported(imports: list[CompiledFile]) -> list[CompiledFile]:
    """Everything ``imports`` import, transitively, each once."""
    seen: list[CompiledFile] = []
    pending = list(imports)
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.append(current)
            pending.extend(current.imports)
    return seen


class _Reader:
    """The schemas of one file, noting the type names and options still to read."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        syntax = proto.syntax or PROTO2
        self.syntax = syntax if syntax in (PROTO2, PROTO3) else PROTO2
        self.references: list[Any] = []    # FieldSchemas, MethodSchemas, ExtensionSchemas
        self.options: list[tuple[Any, Message]] = []   # (schema, its *Options message)

    def note_options(self, schema: Any, options: Message | None) -> None:
        if options is not None:
            self.options.append((schema, options))

    def file(self) -> FileSchema:
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
        self.note_options(schema, proto.options)
        return schema

    def message(self, proto: Any, scope: str) -> MessageSchema:
        full_name = _qualify(scope, proto.name)
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
        schema.oneofs = [self.oneof(o, schema, index) for index, o in enumerate(proto.oneof_decl)]
        self.note_options(schema, options)
        return schema

    def oneof(self, proto: Any, message: MessageSchema, index: int) -> OneofSchema:
        schema = OneofSchema(name=proto.name, synthetic=_synthetic(message, index))
        self.note_options(schema, proto.options)
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
        if proto.type is None or schema.type in NAMED_TYPES:
            self.references.append(schema)
        self.note_options(schema, options)
        return schema

    def enum(self, proto: Any, scope: str) -> EnumSchema:
        schema = EnumSchema(
            name=proto.name,
            full_name=_qualify(scope, proto.name),
            values=[self.enum_value(v) for v in proto.value],
            syntax=self.syntax,
            reserved_ranges=[(r.start, r.end) for r in proto.reserved_range],
            reserved_names=list(proto.reserved_name),
        )
        self.note_options(schema, proto.options)
        return schema

    def enum_value(self, proto: Any) -> EnumValueSchema:
        schema = EnumValueSchema(proto.name, proto.number)
        self.note_options(schema, proto.options)
        return schema

    def service(self, proto: Any, scope: str) -> ServiceSchema:
        schema = ServiceSchema(name=proto.name, full_name=_qualify(scope, proto.name),
                               methods=[self.method(m) for m in proto.method])
        self.note_options(schema, proto.options)
        return schema

    def method(self, proto: Any) -> MethodSchema:
        schema = MethodSchema(
            name=proto.name,
            input_type=proto.input_type,
            output_type=proto.output_type,
            client_streaming=bool(proto.client_streaming),
            server_streaming=bool(proto.server_streaming),
            options_block=proto.options is not None,   # written even when empty, as protoc does
        )
        self.references.append(schema)
        self.note_options(schema, proto.options)
        return schema

    def extension(self, proto: Any, scope: str) -> ExtensionSchema:
        extension = ExtensionSchema(field=self.field(proto), extendee=proto.extendee,
                                    full_name=_qualify(scope, proto.name), scope=scope)
        self.references.append(extension)
        return extension

    def nested_extensions(self, proto: Any, scope: str, into: list[ExtensionSchema]) -> None:
        full_name = _qualify(scope, proto.name)
        into.extend(self.extension(x, full_name) for x in proto.extension)
        for nested in proto.nested_type:
            self.nested_extensions(nested, full_name, into)


def _qualify(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope else name


def _synthetic(message: MessageSchema, index: int) -> bool:
    """A oneof whose fields are all proto3 ``optional`` is the synthetic one."""
    members = [f for f in message.fields if f.oneof_index == index]
    return bool(members) and all(f.proto3_optional for f in members)


# -- resolving ---------------------------------------------------------------


def _settle(reference: Any, table: SymbolTable, file: str) -> None:
    if isinstance(reference, MethodSchema):
        reference.input_message = _find(table, reference.input_type, MESSAGE, file)
        reference.output_message = _find(table, reference.output_type, MESSAGE, file)
    elif isinstance(reference, ExtensionSchema):
        reference.extendee_type = _find(table, reference.extendee, MESSAGE, file)
    else:
        _settle_field(reference, table, file)


def _settle_field(field: FieldSchema, table: SymbolTable, file: str) -> None:
    """A field's type name -> its schema; a descriptor may leave the kind to the name."""
    symbol = table.get((field.type_name or "").lstrip("."))
    if symbol is None or symbol.kind not in (MESSAGE, ENUM):
        raise DescriptorError(f"{file}: field {field.name!r} has unknown type "
                              f"{field.type_name!r}")
    if symbol.kind == ENUM:
        field.type, field.enum_type = FieldType.ENUM, symbol.schema
    else:
        if field.type != FieldType.GROUP:
            field.type = FieldType.MESSAGE
        field.message_type = symbol.schema


def _find(table: SymbolTable, type_name: str, kind: str, file: str) -> Any:
    symbol = table.get(type_name.lstrip("."))
    if symbol is None or symbol.kind != kind:
        raise DescriptorError(f"{file}: unknown {kind} type {type_name!r}")
    return symbol.schema


# -- options -----------------------------------------------------------------


def _read_options(pending: list[tuple[Any, Message]], extensions: list[ExtensionSchema]) -> None:
    """Fill each schema's ``options`` dict from its *Options message."""
    by_extendee: dict[str, list[ExtensionSchema]] = {}
    for extension in extensions:
        by_extendee.setdefault(extension.extendee.lstrip("."), []).append(extension)
    for schema, message in pending:
        options = dict(message._present_fields())
        records = message.unknown_fields
        if records:
            for extension in by_extendee.get(message._schema.full_name, ()):
                value = getattr(extension_carrier(extension).decode(records),
                                extension.field.name)
                if value is not None and value != []:
                    options[extension.full_name] = value
        schema.options = options
