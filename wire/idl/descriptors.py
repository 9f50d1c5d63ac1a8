"""Descriptors: a loaded file written out as FileDescriptorProto bytes.

Spec: google/protobuf/descriptor.proto
(https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto),
with the conventions ``protoc --include_imports --descriptor_set_out`` follows:

    FileDescriptorSet { repeated FileDescriptorProto file = 1; }
        dependencies first, each file once (a post-order walk of the imports)
    every field has json_name; map fields have a nested <Name>Entry message
        with option map_entry = true; proto3 optional fields have proto3_optional
        and a synthetic oneof after the real ones; syntax is "proto3" or unset
    options are the *Options messages; custom options are extension fields of
        those messages, on the wire as ordinary records with the extension's number

The descriptor classes are this project's own: the bundled descriptor.proto is
loaded by wire.idl itself (the bootstrap) and turned into message classes by
wire.message. That codec has no extension fields, so a custom option is
encoded on its own, as the records of a one-field message carrying the
extension's number and type, and appended to the *Options message's unknown
fields, where the encoder writes it out after the known fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..message import Message, message_class
from ..schema import (
    EnumSchema,
    ExtensionSchema,
    FieldSchema,
    FieldType,
    FileSchema,
    MessageSchema,
    ServiceSchema,
)
from .loader import DESCRIPTOR_PROTO, bundled_file
from .namespace import LoadedFile, namespace_of

__all__ = ["descriptor_set", "file_descriptor", "file_descriptor_proto", "descriptor_classes",
           "extension_carrier"]

PROTO3 = "proto3"        # protoc leaves FileDescriptorProto.syntax unset for proto2


def descriptor_classes() -> LoadedFile:
    """The bundled descriptor.proto, loaded by our own parser: FileDescriptorProto etc."""
    return namespace_of(bundled_file(DESCRIPTOR_PROTO))


def descriptor_set(loaded: LoadedFile) -> bytes:
    """FileDescriptorSet bytes: ``loaded`` and everything it imports, dependencies first."""
    classes = descriptor_classes()
    files = [file_descriptor(each) for each in loaded.files()]
    return classes.FileDescriptorSet(file=files).encode()


def file_descriptor_proto(loaded: LoadedFile) -> bytes:
    """The FileDescriptorProto of one loaded file, encoded (what reflection serves)."""
    return file_descriptor(loaded).encode()


def file_descriptor(loaded: LoadedFile) -> Message:
    """The FileDescriptorProto of one loaded file, as a message object."""
    extensions = {ext.full_name: ext for each in loaded.files() for ext in each.file.extensions}
    return _Writer(descriptor_classes(), extensions).file(loaded.file)


class _Writer:
    def __init__(self, classes: LoadedFile, extensions: dict[str, ExtensionSchema]) -> None:
        self.d = classes
        self.extensions = extensions

    def file(self, schema: FileSchema) -> Message:
        proto = self.d.FileDescriptorProto(
            name=schema.name,
            dependency=list(schema.dependencies),
            public_dependency=list(schema.public_dependencies),
            weak_dependency=list(schema.weak_dependencies),
            message_type=[self.message(m, schema) for m in schema.message_types],
            enum_type=[self.enum(e) for e in schema.enum_types],
            service=[self.service(s) for s in schema.services],
            extension=[self.extension(x) for x in schema.extensions if x.scope == schema.package],
        )
        if schema.package:
            proto.package = schema.package
        if schema.syntax == PROTO3:
            proto.syntax = PROTO3
        proto.options = self.options(schema.options, "FileOptions")
        return proto

    def message(self, schema: MessageSchema, file: FileSchema) -> Message:
        d = self.d.DescriptorProto
        proto = d(
            name=schema.name,
            field=[self.field(f) for f in schema.fields],
            nested_type=[self.message(m, file) for m in schema.nested_types],
            enum_type=[self.enum(e) for e in schema.enum_types],
            extension_range=[d.ExtensionRange(start=s, end=e) for s, e in schema.extension_ranges],
            extension=[self.extension(x) for x in file.extensions if x.scope == schema.full_name],
            oneof_decl=[self.d.OneofDescriptorProto(
                name=o.name, options=self.options(o.options, "OneofOptions"))
                for o in schema.oneofs],
            reserved_range=[d.ReservedRange(start=s, end=e) for s, e in schema.reserved_ranges],
            reserved_name=list(schema.reserved_names),
        )
        proto.options = self.options(schema.options, "MessageOptions")
        return proto

    def field(self, schema: FieldSchema, extendee: str | None = None) -> Message:
        proto = self.d.FieldDescriptorProto(
            name=schema.name, number=schema.number, label=int(schema.label),
            type=int(schema.type), json_name=schema.json_name)
        if schema.type in (FieldType.MESSAGE, FieldType.ENUM, FieldType.GROUP):
            proto.type_name = schema.type_name
        if extendee is not None:
            proto.extendee = extendee
        if schema.default_value is not None:
            proto.default_value = schema.default_value
        if schema.oneof_index is not None:
            proto.oneof_index = schema.oneof_index
        if schema.proto3_optional:
            proto.proto3_optional = True
        proto.options = self.options(schema.options, "FieldOptions")
        return proto

    def extension(self, extension: ExtensionSchema) -> Message:
        return self.field(extension.field, extendee=extension.extendee)

    def enum(self, schema: EnumSchema) -> Message:
        d = self.d.EnumDescriptorProto
        proto = d(
            name=schema.name,
            value=[self.d.EnumValueDescriptorProto(
                name=v.name, number=v.number,
                options=self.options(v.options, "EnumValueOptions")) for v in schema.values],
            reserved_range=[d.EnumReservedRange(start=s, end=e) for s, e in schema.reserved_ranges],
            reserved_name=list(schema.reserved_names),
        )
        proto.options = self.options(schema.options, "EnumOptions")
        return proto

    def service(self, schema: ServiceSchema) -> Message:
        proto = self.d.ServiceDescriptorProto(name=schema.name)
        for method in schema.methods:
            entry = self.d.MethodDescriptorProto(
                name=method.name, input_type=method.input_type, output_type=method.output_type,
                options=self.options(method.options, "MethodOptions",
                                     always=method.options_block))
            if method.client_streaming:          # protoc writes the flags only when set
                entry.client_streaming = True
            if method.server_streaming:
                entry.server_streaming = True
            proto.method.append(entry)
        proto.options = self.options(schema.options, "ServiceOptions")
        return proto

    # -- options -------------------------------------------------------------

    def options(self, options: dict[str, Any], type_name: str,
                always: bool = False) -> Message | None:
        """An *Options message: known fields set, custom options as extension records."""
        if not options and not always:
            return None
        cls = getattr(self.d, type_name)
        message = cls()
        records: list[tuple[int, bytes]] = []
        for key, value in options.items():
            if key in cls._field_names:
                setattr(message, key, list(value) if isinstance(value, list) else value)
            else:
                extension = self.extensions[key]
                records.append((extension.field.number, _extension_records(extension, value)))
        if records:
            message._unknown = bytearray(b"".join(data for _, data in sorted(records)))
        return message


_carriers: dict[int, tuple[ExtensionSchema, type[Message]]] = {}


def extension_carrier(extension: ExtensionSchema) -> type[Message]:
    """A message class whose one field is ``extension``: its records, to write or read.

    proto2 syntax gives the carrier explicit presence, so a zero value is
    still written, as an extension that was set must be.
    """
    entry = _carriers.get(id(extension))
    if entry is None or entry[0] is not extension:
        field = dataclasses.replace(extension.field, oneof_index=None, proto3_optional=False)
        schema = MessageSchema(name="ExtensionCarrier",
                               full_name=f"{extension.full_name}.ExtensionCarrier",
                               fields=[field], syntax="proto2")
        entry = _carriers[id(extension)] = (extension, message_class(schema))
    return entry[1]


def _extension_records(extension: ExtensionSchema, value: Any) -> bytes:
    """The records of one extension field: the encoding of a carrier holding only it."""
    carrier = extension_carrier(extension)()
    setattr(carrier, extension.field.name, value)
    return carrier.encode()
