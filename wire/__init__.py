"""wire: Protocol Buffers from scratch.

The binary encoding of https://protobuf.dev/programming-guides/encoding/,
written out in small modules: varints and ZigZag (varint), tags and wire
types (wire_format), the scalar types (scalars), schemas (schema), message
classes (message), a schema-less decoder (raw) and a step-by-step explainer
(explain), the proto3 JSON mapping (json), and the .proto language in the subpackage wire.idl. Nothing else of
the project is imported here, and the only I/O is wire.idl reading .proto files.
"""

from .define import enum, field, message
from . import json
from .errors import DecodeError, EncodeError, SchemaError, WireError
from .explain import explain
from .json import JsonError
from .message import DEFAULT_RECURSION_LIMIT, Message, enum_class, message_class
from .raw import RawField, decode_raw
from .schema import (
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
from .varint import decode_varint, decode_zigzag, encode_varint, encode_zigzag
from .wire_format import WireType, make_tag, split_tag

__all__ = [
    "WireError", "DecodeError", "EncodeError", "SchemaError",
    "encode_varint", "decode_varint", "encode_zigzag", "decode_zigzag",
    "WireType", "make_tag", "split_tag",
    "FieldType", "Label", "FieldSchema", "OneofSchema", "EnumSchema",
    "EnumValueSchema", "MessageSchema", "FileSchema", "ServiceSchema",
    "MethodSchema", "ExtensionSchema",
    "Message", "message_class", "enum_class", "DEFAULT_RECURSION_LIMIT",
    "field", "message", "enum",
    "RawField", "decode_raw",
    "explain",
    "json", "JsonError",
]
