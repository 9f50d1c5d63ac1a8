"""The well-known types for the JSON tests, as wire.idl loads them from its bundled
google/protobuf/*.proto files (https://protobuf.dev/reference/protobuf/google.protobuf/).

Bundled files are compiled once per process, so these are the very classes
that every .proto importing them gets.
"""

import os

from wire import idl


def well_known(name):
    """google/protobuf/<name>.proto from the bundled include directory, loaded."""
    return idl.load(os.path.join(idl.BUNDLED_INCLUDE, "google", "protobuf", f"{name}.proto"))


_struct = well_known("struct")
Struct, Value, ListValue, NullValue = _struct.Struct, _struct.Value, _struct.ListValue, _struct.NullValue
Timestamp = well_known("timestamp").Timestamp
Duration = well_known("duration").Duration
FieldMask = well_known("field_mask").FieldMask
Any = well_known("any").Any
Empty = well_known("empty").Empty

WRAPPERS = dict(well_known("wrappers").messages)     # "DoubleValue" -> class, in .proto order
DoubleValue = WRAPPERS["DoubleValue"]
FloatValue = WRAPPERS["FloatValue"]
Int64Value = WRAPPERS["Int64Value"]
UInt64Value = WRAPPERS["UInt64Value"]
Int32Value = WRAPPERS["Int32Value"]
UInt32Value = WRAPPERS["UInt32Value"]
BoolValue = WRAPPERS["BoolValue"]
StringValue = WRAPPERS["StringValue"]
BytesValue = WRAPPERS["BytesValue"]

ALL = [Timestamp, Duration, FieldMask, Any, Empty, Struct, Value, ListValue, *WRAPPERS.values()]
REGISTRY = {cls._schema.full_name: cls for cls in ALL}


def type_url(cls) -> str:
    return f"type.googleapis.com/{cls._schema.full_name}"


def pack(msg):
    """An Any holding ``msg``."""
    return Any(type_url=type_url(type(msg)), value=msg.encode())
