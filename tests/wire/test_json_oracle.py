"""wire.json against the reference: google.protobuf.json_format.

For random messages of a schema that has every scalar type, repeated fields,
maps, nested messages, enums, a oneof, proto3 optional fields and every
well-known type, the same schema is built in the protobuf package (a
FileDescriptorProto in a fresh DescriptorPool, beside the package's own
well-known type files), and:

- the JSON we write, protobuf parses to the same message;
- the JSON protobuf writes, we parse to the same message;
- the JSON values we write equal the ones protobuf writes, with and without
  the options (include_defaults = always_print_fields_with_no_presence,
  preserve_names = preserving_proto_field_name).

Messages cross between the two sides as binary protobuf, which the codec
tests check separately.

One value is left out on purpose: a float field holding the largest float32.
protobuf writes it as 3.4028235e+38 and then refuses to read that back (its
float range check compares against the double 3.4028234663852886e+38); we
read it back, as test_json.py shows.
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)

import wire
from wire import FieldType, Message
from wire import json as wjson
from wire.scalars import FLOAT_MAX

from . import well_known_types as wkt

# --- the schema, on our side -------------------------------------------------

SCALAR_TYPES = ["int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32",
                "fixed64", "sfixed32", "sfixed64", "float", "double", "bool", "string", "bytes"]

Color = wire.enum("oracle.Color", ["COLOR_UNSPECIFIED", "RED", "GREEN", "BLUE"])
Inner = wire.message("oracle.Inner", [
    wire.field("id", 1, "int32"),
    wire.field("display_name", 2, "string"),
    wire.field("tags", 3, "string", repeated=True),
    wire.field("when", 4, wkt.Timestamp),
    wire.field("color", 5, Color),
])


def _all_fields():
    fields = [wire.field(f"f_{t}", n, t) for n, t in enumerate(SCALAR_TYPES, start=1)]
    fields.append(wire.field("f_enum", 16, Color))
    fields += [wire.field(f"r_{t}", n, t, repeated=True) for n, t in enumerate(SCALAR_TYPES, start=17)]
    fields.append(wire.field("r_enum", 32, Color, repeated=True))
    fields += [
        wire.field("m_string_int32", 33, map=("string", "int32")),
        wire.field("m_int64_inner", 34, map=("int64", Inner)),
        wire.field("m_bool_string", 35, map=("bool", "string")),
        wire.field("m_uint32_color", 36, map=("uint32", Color)),
        wire.field("m_sint64_bytes", 37, map=("sint64", "bytes")),
        wire.field("m_fixed32_double", 38, map=("fixed32", "double")),
        wire.field("m_sfixed64_float", 39, map=("sfixed64", "float")),
        wire.field("m_uint64_value", 40, map=("uint64", wkt.Value)),
        wire.field("m_string_any", 41, map=("string", wkt.Any)),
        wire.field("inner", 42, Inner),
        wire.field("r_inner", 43, Inner, repeated=True),
        # the real oneof first: synthetic oneofs (of optional fields) come last
        wire.field("o_string", 44, "string", oneof="choice"),
        wire.field("o_int64", 45, "int64", oneof="choice"),
        wire.field("o_inner", 46, Inner, oneof="choice"),
        wire.field("o_color", 47, Color, oneof="choice"),
        wire.field("o_value", 48, wkt.Value, oneof="choice"),
        wire.field("opt_int32", 49, "int32", optional=True),
        wire.field("opt_string", 50, "string", optional=True),
        wire.field("opt_color", 51, Color, optional=True),
        wire.field("opt_double", 52, "double", optional=True),
        wire.field("opt_bytes", 53, "bytes", optional=True),
        wire.field("opt_uint64", 54, "uint64", optional=True),
        wire.field("renamed", 55, "int32"),
        wire.field("timestamp", 56, wkt.Timestamp),
        wire.field("duration", 57, wkt.Duration),
        wire.field("field_mask", 58, wkt.FieldMask),
        wire.field("struct", 59, wkt.Struct),
        wire.field("value", 60, wkt.Value),
        wire.field("list_value", 61, wkt.ListValue),
        wire.field("any", 62, wkt.Any),
        wire.field("empty", 63, wkt.Empty),
        wire.field("r_timestamp", 64, wkt.Timestamp, repeated=True),
        wire.field("r_value", 65, wkt.Value, repeated=True),
        wire.field("r_any", 66, wkt.Any, repeated=True),
    ]
    fields += [wire.field(f"w_{name.lower()}", n, cls)
               for n, (name, cls) in enumerate(wkt.WRAPPERS.items(), start=67)]
    return fields


All = wire.message("oracle.All", _all_fields())
All._schema.field_named("renamed").json_name = "customName"
TYPES = {**wkt.REGISTRY, **wjson.make_type_registry(All)}

# --- the same schema in the protobuf package ---------------------------------

WKT_FILES = [timestamp_pb2, duration_pb2, field_mask_pb2, struct_pb2, any_pb2, empty_pb2, wrappers_pb2]


def descriptor_proto(schema: wire.MessageSchema) -> descriptor_pb2.DescriptorProto:
    """Our MessageSchema as protobuf's DescriptorProto."""
    proto = descriptor_pb2.DescriptorProto(name=schema.name)
    if schema.map_entry:
        proto.options.map_entry = True
    for nested in schema.nested_types:
        proto.nested_type.append(descriptor_proto(nested))
    for oneof in schema.oneofs:
        proto.oneof_decl.add(name=oneof.name)
    for field in schema.fields:
        added = proto.field.add(name=field.name, number=field.number, type=int(field.type),
                                label=int(field.label))
        if field.type_name:
            added.type_name = field.type_name
        if field.oneof_index is not None:
            added.oneof_index = field.oneof_index
        if field.proto3_optional:
            added.proto3_optional = True
        if field.json_name:
            added.json_name = field.json_name
    return proto


def enum_proto(schema: wire.EnumSchema) -> descriptor_pb2.EnumDescriptorProto:
    proto = descriptor_pb2.EnumDescriptorProto(name=schema.name)
    for value in schema.values:
        proto.value.add(name=value.name, number=value.number)
    return proto


def build_pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in WKT_FILES:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb))
    test_file = descriptor_pb2.FileDescriptorProto(
        name="oracle/all.proto", package="oracle", syntax="proto3",
        dependency=[module.DESCRIPTOR.name for module in WKT_FILES])
    test_file.enum_type.append(enum_proto(Color._schema))
    test_file.message_type.append(descriptor_proto(Inner._schema))
    test_file.message_type.append(descriptor_proto(All._schema))
    pool.Add(test_file)
    return pool


POOL = build_pool()


def pb_class(cls: type[Message]):
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(cls._schema.full_name))


# --- random messages -----------------------------------------------------------

INTEGER_LIMITS = {
    "int32": (-2**31, 2**31 - 1), "sint32": (-2**31, 2**31 - 1), "sfixed32": (-2**31, 2**31 - 1),
    "uint32": (0, 2**32 - 1), "fixed32": (0, 2**32 - 1),
    "int64": (-2**63, 2**63 - 1), "sint64": (-2**63, 2**63 - 1), "sfixed64": (-2**63, 2**63 - 1),
    "uint64": (0, 2**64 - 1), "fixed64": (0, 2**64 - 1),
}
SMALL = 3        # elements in a list or map
FIELDS_SET = 12  # fields set in one random message (the rest keep their defaults)


def scalars(field_type: FieldType) -> st.SearchStrategy:
    name = field_type.name.lower()
    if name in INTEGER_LIMITS:
        low, high = INTEGER_LIMITS[name]
        return st.integers(low, high)
    if name == "float":
        return st.floats(width=32, allow_nan=False).filter(lambda x: abs(x) != FLOAT_MAX)
    if name == "double":
        return st.floats(allow_nan=False)
    if name == "bool":
        return st.booleans()
    if name == "string":
        return st.text(max_size=6)
    return st.binary(max_size=6)


def enums(field: wire.FieldSchema) -> st.SearchStrategy:
    members = list(wire.enum_class(field.enum_type))
    return st.sampled_from(members) | st.integers(4, 9)   # open enum: unknown numbers too


def values(field: wire.FieldSchema, depth: int) -> st.SearchStrategy:
    if field.message_type is not None:
        return messages(wire.message_class(field.message_type), depth + 1)
    if field.type == FieldType.ENUM:
        return enums(field)
    return scalars(field.type)


def field_values(field: wire.FieldSchema, schema: wire.MessageSchema, depth: int):
    if field.is_map:
        key, value = field.message_type.fields
        return st.dictionaries(scalars(key.type), values(value, depth), max_size=SMALL)
    if field.repeated:
        return st.lists(values(field, depth), max_size=SMALL)
    if field.message_type is not None or field.proto3_optional:
        return st.none() | values(field, depth)
    return values(field, depth)


@st.composite
def messages(draw, cls: type[Message], depth: int = 0):
    special = WKT_STRATEGIES.get(cls._schema.full_name)
    if special is not None:
        return draw(special(cls, depth))
    schema = cls._schema
    fields = {}
    names = [field.name for field in schema.fields]
    for name in draw(st.lists(st.sampled_from(names), max_size=FIELDS_SET, unique=True)):
        field = schema.field_named(name)
        index = field.oneof_index
        if index is not None and not schema.oneofs[index].synthetic:
            if any(schema.field_named(other).oneof_index == index for other in fields):
                continue    # one member of a oneof at most
            fields[name] = draw(values(field, depth))
        else:
            fields[name] = draw(field_values(field, schema, depth))
    return cls(**fields)


# --- random well-known types ---------------------------------------------------

NANOS = st.sampled_from([0]) | st.integers(0, 999).map(lambda n: n * 1_000_000) \
    | st.integers(0, 999_999).map(lambda n: n * 1_000) | st.integers(0, 999_999_999)
JSON_LEAVES = st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=4)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=SMALL) | st.dictionaries(st.text(max_size=3), inner, max_size=SMALL),
    max_leaves=8,
)
FIELD_PATHS = st.from_regex(r"[a-z][a-z0-9]{0,3}(_[a-z][a-z0-9]{0,2}){0,2}(\.[a-z]{1,3}(_[a-z]{1,2})?){0,2}",
                            fullmatch=True)


def build_value(obj):
    """A google.protobuf.Value from a Python JSON value, built field by field."""
    if obj is None:
        return wkt.Value(null_value=wkt.NullValue.NULL_VALUE)
    if isinstance(obj, bool):
        return wkt.Value(bool_value=obj)
    if isinstance(obj, float):
        return wkt.Value(number_value=obj)
    if isinstance(obj, str):
        return wkt.Value(string_value=obj)
    if isinstance(obj, list):
        return wkt.Value(list_value=wkt.ListValue(values=[build_value(item) for item in obj]))
    return wkt.Value(struct_value=wkt.Struct(fields={k: build_value(v) for k, v in obj.items()}))


def timestamps(cls, depth):
    return st.builds(cls, seconds=st.integers(-62_135_596_800, 253_402_300_799), nanos=NANOS)


@st.composite
def durations(draw, cls, depth):
    seconds = draw(st.integers(-315_576_000_000, 315_576_000_000))
    nanos = draw(NANOS)
    negative = seconds < 0 or (seconds == 0 and draw(st.booleans()))
    return cls(seconds=seconds, nanos=-nanos if negative else nanos)


def field_masks(cls, depth):
    return st.builds(cls, paths=st.lists(FIELD_PATHS, max_size=SMALL))


def json_values(cls, depth):
    return JSON_VALUES.map(build_value)


def structs(cls, depth):
    return st.dictionaries(st.text(max_size=3), JSON_VALUES, max_size=SMALL).map(
        lambda obj: build_value(obj).struct_value)


def list_values(cls, depth):
    return st.lists(JSON_VALUES, max_size=SMALL).map(lambda obj: build_value(obj).list_value)


def anys(cls, depth):
    if depth > 2:
        return st.just(cls())
    packable = [Inner, wkt.Timestamp, wkt.Duration, wkt.Int64Value, wkt.BytesValue,
                wkt.Struct, wkt.Value, wkt.FieldMask, wkt.Empty, wkt.Any]
    packed = st.sampled_from(packable).flatmap(lambda inner: messages(inner, depth + 1))
    return st.just(cls()) | packed.map(wkt.pack)


def wrappers(cls, depth):
    return scalars(cls._schema.field_named("value").type).map(lambda v: cls(value=v))


WKT_STRATEGIES = {
    "google.protobuf.Timestamp": timestamps,
    "google.protobuf.Duration": durations,
    "google.protobuf.FieldMask": field_masks,
    "google.protobuf.Value": json_values,
    "google.protobuf.Struct": structs,
    "google.protobuf.ListValue": list_values,
    "google.protobuf.Any": anys,
    "google.protobuf.Empty": lambda cls, depth: st.just(cls()),
    **{cls._schema.full_name: wrappers for cls in wkt.WRAPPERS.values()},
}

# --- comparing -------------------------------------------------------------------


def canonical(value):
    """A message as plain data, an Any by what it holds (its bytes may be ordered differently)."""
    if isinstance(value, Message):
        if value._schema.full_name == "google.protobuf.Any" and value.type_url:
            packed = TYPES[value.type_url.rpartition("/")[2]].decode(value.value)
            return ("Any", value.type_url, canonical(packed))
        return (value._schema.full_name,
                {f.name: canonical(getattr(value, f.name)) for f in value._schema.fields})
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)   # an enum member and its number are the same value
    return value


def same_json(ours, theirs):
    """JSON values equal, and floats that equal NaN-free numbers compare as numbers."""
    return json.loads(json.dumps(ours)) == theirs


SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PbAll = pb_class(All)


@SETTINGS
@given(messages(All))
def test_protobuf_reads_our_json(msg):
    text = wjson.to_json(msg, type_registry=TYPES)
    parsed = json_format.Parse(text, PbAll(), descriptor_pool=POOL)
    assert canonical(All.decode(parsed.SerializeToString())) == canonical(msg)


@SETTINGS
@given(messages(All))
def test_we_read_protobufs_json(msg):
    theirs = PbAll.FromString(msg.encode())
    text = json_format.MessageToJson(theirs, descriptor_pool=POOL)
    assert canonical(wjson.from_json(All, text, type_registry=TYPES)) == canonical(msg)


@SETTINGS
@given(messages(All), st.booleans(), st.booleans())
def test_we_write_what_protobuf_writes(msg, include_defaults, preserve_names):
    ours = wjson.to_dict(msg, include_defaults=include_defaults, preserve_names=preserve_names,
                         type_registry=TYPES)
    theirs = json_format.MessageToDict(
        PbAll.FromString(msg.encode()), descriptor_pool=POOL,
        always_print_fields_with_no_presence=include_defaults,
        preserving_proto_field_name=preserve_names)
    assert same_json(ours, theirs)


@SETTINGS
@given(st.sampled_from(wkt.ALL).flatmap(messages))
def test_well_known_types_at_the_top(msg):
    theirs = pb_class(type(msg)).FromString(msg.encode())
    text = json_format.MessageToJson(theirs, descriptor_pool=POOL)
    assert same_json(wjson.to_dict(msg, type_registry=TYPES), json.loads(text))
    assert canonical(wjson.from_json(type(msg), text, type_registry=TYPES)) == canonical(msg)
    ours = wjson.to_json(msg, type_registry=TYPES)
    parsed = json_format.Parse(ours, pb_class(type(msg))(), descriptor_pool=POOL)
    assert canonical(type(msg).decode(parsed.SerializeToString())) == canonical(msg)


def test_the_schemas_agree():
    """Sanity: protobuf sees the same fields, numbers and JSON names as we do."""
    theirs = POOL.FindMessageTypeByName("oracle.All")
    ours = {field.number: (field.name, wjson.json_name(field)) for field in All._schema.fields}
    assert {f.number: (f.name, f.json_name) for f in theirs.fields} == ours


@pytest.mark.parametrize("text", [
    '{"fInt32": "1e2", "fInt64": 5, "fFloat": "Infinity", "fBytes": "-_8", "fEnum": 2}',
    '{"f_int32": 1.0, "r_int64": [1, "2"], "mStringInt32": {"a": "3"}, "oString": null, "oInt64": "4"}',
    '{"value": null, "rValue": [null, [], {}], "struct": {}, "listValue": [], "wInt32value": "0"}',
    '{"timestamp": "1970-01-01T01:00:00+01:00", "duration": "-0.5s", "fieldMask": ""}',
    '{"customName": 3, "optInt32": 0, "optColor": "COLOR_UNSPECIFIED", "empty": {}}',
])
def test_alternative_spellings_agree(text):
    """Inputs in the forms the spec accepts but neither side writes."""
    theirs = json_format.Parse(text, PbAll(), descriptor_pool=POOL)
    ours = wjson.from_json(All, text, type_registry=TYPES)
    assert canonical(All.decode(theirs.SerializeToString())) == canonical(ours)
