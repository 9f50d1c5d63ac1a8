"""The well-known types, defined by hand for the JSON tests.

Same full names, field names and numbers as google/protobuf/*.proto
(https://protobuf.dev/reference/protobuf/google.protobuf/). Once wire.idl
bundles the .proto files, these can be loaded from there instead.

Struct, Value and ListValue refer to each other, which ``wire.message``
cannot express, so their schemas are linked by hand.
"""

import wire
from wire import FieldSchema, FieldType, Label, MessageSchema, OneofSchema

PACKAGE = "google.protobuf"

Timestamp = wire.message(f"{PACKAGE}.Timestamp", [
    wire.field("seconds", 1, "int64"),
    wire.field("nanos", 2, "int32"),
])
Duration = wire.message(f"{PACKAGE}.Duration", [
    wire.field("seconds", 1, "int64"),
    wire.field("nanos", 2, "int32"),
])
FieldMask = wire.message(f"{PACKAGE}.FieldMask", [
    wire.field("paths", 1, "string", repeated=True),
])
Any = wire.message(f"{PACKAGE}.Any", [
    wire.field("type_url", 1, "string"),
    wire.field("value", 2, "bytes"),
])
Empty = wire.message(f"{PACKAGE}.Empty", [])

WRAPPED_TYPES = {
    "DoubleValue": "double", "FloatValue": "float", "Int64Value": "int64",
    "UInt64Value": "uint64", "Int32Value": "int32", "UInt32Value": "uint32",
    "BoolValue": "bool", "StringValue": "string", "BytesValue": "bytes",
}
WRAPPERS = {
    name: wire.message(f"{PACKAGE}.{name}", [wire.field("value", 1, type_)])
    for name, type_ in WRAPPED_TYPES.items()
}
DoubleValue = WRAPPERS["DoubleValue"]
FloatValue = WRAPPERS["FloatValue"]
Int64Value = WRAPPERS["Int64Value"]
UInt64Value = WRAPPERS["UInt64Value"]
Int32Value = WRAPPERS["Int32Value"]
UInt32Value = WRAPPERS["UInt32Value"]
BoolValue = WRAPPERS["BoolValue"]
StringValue = WRAPPERS["StringValue"]
BytesValue = WRAPPERS["BytesValue"]

NullValue = wire.enum(f"{PACKAGE}.NullValue", {"NULL_VALUE": 0})


def _struct_types():
    struct = MessageSchema("Struct", f"{PACKAGE}.Struct")
    value = MessageSchema("Value", f"{PACKAGE}.Value", oneofs=[OneofSchema("kind")])
    list_value = MessageSchema("ListValue", f"{PACKAGE}.ListValue")
    entry = MessageSchema("FieldsEntry", f"{PACKAGE}.Struct.FieldsEntry", map_entry=True)
    entry.fields = [
        FieldSchema("key", 1, FieldType.STRING),
        FieldSchema("value", 2, FieldType.MESSAGE, type_name=".google.protobuf.Value",
                    message_type=value),
    ]
    struct.nested_types = [entry]
    struct.fields = [
        FieldSchema("fields", 1, FieldType.MESSAGE, Label.REPEATED,
                    type_name=".google.protobuf.Struct.FieldsEntry", message_type=entry),
    ]
    kind = {"oneof_index": 0}
    value.fields = [
        FieldSchema("null_value", 1, FieldType.ENUM, type_name=".google.protobuf.NullValue",
                    enum_type=NullValue._schema, **kind),
        FieldSchema("number_value", 2, FieldType.DOUBLE, **kind),
        FieldSchema("string_value", 3, FieldType.STRING, **kind),
        FieldSchema("bool_value", 4, FieldType.BOOL, **kind),
        FieldSchema("struct_value", 5, FieldType.MESSAGE, type_name=".google.protobuf.Struct",
                    message_type=struct, **kind),
        FieldSchema("list_value", 6, FieldType.MESSAGE, type_name=".google.protobuf.ListValue",
                    message_type=list_value, **kind),
    ]
    list_value.fields = [
        FieldSchema("values", 1, FieldType.MESSAGE, Label.REPEATED,
                    type_name=".google.protobuf.Value", message_type=value),
    ]
    return wire.message_class(struct), wire.message_class(value), wire.message_class(list_value)


Struct, Value, ListValue = _struct_types()

ALL = [Timestamp, Duration, FieldMask, Any, Empty, Struct, Value, ListValue, *WRAPPERS.values()]
REGISTRY = {cls._schema.full_name: cls for cls in ALL}


def type_url(cls) -> str:
    return f"type.googleapis.com/{cls._schema.full_name}"


def pack(msg) -> "Any":
    """An Any holding ``msg``."""
    return Any(type_url=type_url(type(msg)), value=msg.encode())
