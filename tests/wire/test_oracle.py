"""Our codec against an independent oracle: Google's ``protobuf`` package.

Spec: https://protobuf.dev/programming-guides/encoding/ (the whole guide), and
the descriptors of
https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto,
from which the oracle's classes are built.

Each schema below is written once, as plain rows (``Spec``), and built twice:
as our classes with ``wire.message``/``wire.field``, and as protobuf classes
from a FileDescriptorProto added to a fresh DescriptorPool. Neither side is
derived from the other, so a wrong type or number in one builder shows up as a
disagreement. Hypothesis then makes random values and checks, in both
directions, that bytes written by one implementation read back as the same
values in the other, that the bytes themselves agree where protobuf's output is
deterministic, and that unknown fields survive a schema that lacks them. The
parsing rules with room for error get the same treatment: two messages back to
back (last one wins, merging), packed and unpacked forms of one field, wide
values read as narrower types, skipped groups, proto2 presence and packing.

Values are compared in a "plain" form: a dict per message holding every field
(defaults filled in), enums as ints, floats so that NaN equals NaN and -0.0
differs from 0.0, and the type of every other scalar kept next to its value.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from itertools import groupby

import pytest
from hypothesis import given, settings, strategies as st

from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, message_factory
from google.protobuf.unknown_fields import UnknownFieldSet

import wire

PACKAGE = "oracle"
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT32_MAX, UINT64_MAX = (1 << 32) - 1, (1 << 64) - 1
MAX_FIELD_NUMBER = (1 << 29) - 1   # encoding guide: field numbers 1 .. 2^29-1
LAST_BEFORE_RESERVED = 18999       # 19000-19999 are reserved for protobuf itself
MAX_DEPTH = 4                      # how deep random messages nest
MAX_LIST = 5                       # repeated scalars
MAX_MESSAGE_LIST = 3               # repeated messages (they nest: keep it small)
MAX_MAP = 4

SCALAR_TYPES = [
    "int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool",
    "fixed32", "sfixed32", "fixed64", "sfixed64", "float", "double",
    "string", "bytes",
]
LEN_TYPES = {"string", "bytes"}    # the only scalars that cannot be packed
FLOAT_TYPES = {"float", "double"}
SCALAR_DEFAULTS = {"bool": False, "float": 0.0, "double": 0.0, "string": "", "bytes": b""}
MAP_KEY_TYPES = [                  # language guide: any integral or string type
    "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string",
]

SCALAR_VALUES = {
    "int32": st.integers(INT32_MIN, INT32_MAX),
    "int64": st.integers(INT64_MIN, INT64_MAX),
    "uint32": st.integers(0, UINT32_MAX),
    "uint64": st.integers(0, UINT64_MAX),
    "sint32": st.integers(INT32_MIN, INT32_MAX),
    "sint64": st.integers(INT64_MIN, INT64_MAX),
    "bool": st.booleans(),
    "fixed32": st.integers(0, UINT32_MAX),
    "sfixed32": st.integers(INT32_MIN, INT32_MAX),
    "fixed64": st.integers(0, UINT64_MAX),
    "sfixed64": st.integers(INT64_MIN, INT64_MAX),
    "float": st.floats(width=32),   # float32-representable, so no rounding on either side
    "double": st.floats(),
    "string": st.text(max_size=20),
    "bytes": st.binary(max_size=20),
}


# --- the schemas, written once ----------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One field. ``type`` is a scalar type or the name of an enum or message below."""

    name: str
    number: int
    type: str = ""
    repeated: bool = False
    packed: bool | None = None          # None: the syntax's default
    map: tuple[str, str] | None = None  # (key type, value type)
    oneof: str | None = None
    optional: bool = False              # proto3 `optional`


@dataclass(frozen=True)
class MessageDef:
    fields: list[Spec]
    syntax: str = "proto3"


ENUMS = {
    # A negative number: enums are int32 on the wire, so -1 takes 10 bytes.
    "Color": {"COLOR_UNSPECIFIED": 0, "RED": 1, "GREEN": 2, "NEGATIVE": -1},
    # Fewer numbers: GREEN and NEGATIVE are unknown numbers to ColorLite. Value
    # names are scoped to the package (C++ rules), hence the prefix.
    "ColorLite": {"COLOR_LITE_UNSPECIFIED": 0, "COLOR_LITE_RED": 1},
    # A proto2 enum is closed: a number it does not list is an unknown field.
    "Mood": {"HAPPY": 1, "SAD": 2},
}
CLOSED_ENUMS = {"Mood"}


def _suffix(type_name: str) -> str:
    return "enum" if type_name == "Color" else type_name


ALL_TYPES = SCALAR_TYPES + ["Color"]                       # 16 singular types
PACKABLE_TYPES = [t for t in ALL_TYPES if t not in LEN_TYPES]  # 14 packable ones


def _everything_fields() -> list[Spec]:
    singular = [Spec(f"s_{_suffix(t)}", n, t) for n, t in enumerate(ALL_TYPES, 1)]
    repeated = [Spec(f"r_{_suffix(t)}", n, t, repeated=True)
                for n, t in enumerate(ALL_TYPES, 17)]
    unpacked = [Spec(f"u_{_suffix(t)}", n, t, repeated=True, packed=False)
                for n, t in enumerate(PACKABLE_TYPES, 33)]
    maps = [
        Spec("m_int32_sfixed64", 50, map=("int32", "sfixed64")),
        Spec("m_int64_string", 51, map=("int64", "string")),
        Spec("m_uint32_leaf", 52, map=("uint32", "Leaf")),
        Spec("m_uint64_uint32", 53, map=("uint64", "uint32")),
        Spec("m_sint32_color", 54, map=("sint32", "Color")),
        Spec("m_sint64_int64", 55, map=("sint64", "int64")),
        Spec("m_fixed32_uint64", 56, map=("fixed32", "uint64")),
        Spec("m_fixed64_double", 57, map=("fixed64", "double")),
        Spec("m_sfixed32_float", 58, map=("sfixed32", "float")),
        Spec("m_sfixed64_bool", 59, map=("sfixed64", "bool")),
        Spec("m_bool_bytes", 60, map=("bool", "bytes")),
        Spec("m_string_int32", 61, map=("string", "int32")),
        Spec("m_string_node", 62, map=("string", "Node")),
    ]
    nested = [
        Spec("leaf", 70, "Leaf"),
        Spec("node", 71, "Node"),
        Spec("leaves", 72, "Leaf", repeated=True),
    ]
    choice = [
        Spec("o_string", 80, "string", oneof="choice"),
        Spec("o_int64", 81, "int64", oneof="choice"),
        Spec("o_leaf", 82, "Leaf", oneof="choice"),
        Spec("o_bytes", 83, "bytes", oneof="choice"),
        Spec("o_color", 84, "Color", oneof="choice"),
        Spec("o_double", 85, "double", oneof="choice"),
    ]
    optional = [
        Spec(f"opt_{_suffix(t)}", n, t, optional=True)
        for n, t in enumerate(["int32", "uint64", "sint32", "bool", "double",
                               "string", "bytes", "Color"], 90)
    ]
    far = [                              # tags of 3 and 5 bytes
        Spec("near_reserved", LAST_BEFORE_RESERVED, "string"),
        Spec("far", MAX_FIELD_NUMBER, "int32"),
    ]
    return singular + repeated + unpacked + maps + nested + choice + optional + far


EVERYTHING = _everything_fields()
_BY_NAME = {spec.name: spec for spec in EVERYTHING}


def _like(name: str, **changes) -> Spec:
    """A field of Everything, the same number, possibly declared differently."""
    return dataclasses.replace(_BY_NAME[name], **changes)


def _repacked_fields() -> list[Spec]:
    """Everything's packable repeated fields with the packing flipped."""
    return [
        dataclasses.replace(spec, packed=None if spec.packed is False else False)
        for spec in EVERYTHING
        if spec.repeated and spec.map is None and spec.type in PACKABLE_TYPES
    ]


MESSAGES = {
    "Leaf": MessageDef([
        Spec("id", 1, "int32"),
        Spec("name", 2, "string"),
        Spec("deltas", 3, "sint64", repeated=True),
        Spec("color", 4, "Color"),
    ]),
    "Node": MessageDef([                 # refers to itself
        Spec("value", 1, "sint32"),
        Spec("label", 2, "string"),
        Spec("child", 3, "Node"),
        Spec("children", 4, "Node", repeated=True),
    ]),
    "Everything": MessageDef(EVERYTHING),
    # Everything's packable repeated fields, packed where it has them unpacked
    # and the other way round: a decoder must take both forms.
    "Repacked": MessageDef(_repacked_fields()),
    # What an older peer knows of Leaf and Everything: the rest are unknown fields.
    "LeafLite": MessageDef([
        Spec("id", 1, "int32"),
        Spec("color", 4, "ColorLite"),
    ]),
    "Partial": MessageDef([
        _like("s_int32"),
        _like("s_enum", type="ColorLite"),
        _like("s_string", type="int32"),       # LEN on the wire, VARINT here: unknown
        _like("r_sint64"),
        _like("r_enum", type="ColorLite"),
        _like("u_double"),
        _like("leaf", type="LeafLite"),        # unknown fields one level down
        _like("leaves", type="LeafLite"),
        _like("o_string"),                     # one member of the oneof
        _like("opt_int32"),
    ]),
    # Everything's 64-bit and wider fields read as narrower types: both sides
    # must cut varints to 32 bits, read bits as signed, and so on, alike.
    "Narrowed": MessageDef([
        _like("s_int64", type="int32"),
        _like("s_uint64", type="uint32"),
        _like("s_sint64", type="sint32"),
        _like("s_int32", type="bool"),
        _like("s_uint32", type="Color"),
        _like("s_fixed32", type="sfixed32"),
        _like("s_fixed64", type="sfixed64"),
        _like("s_sfixed64", type="double"),
        _like("s_string", type="bytes"),
        _like("r_int64", type="int32"),
        _like("r_uint64", type="bool"),
        _like("r_sint64", type="sint32"),
        _like("r_uint32", type="ColorLite"),
        _like("u_int64", type="uint32"),
        _like("u_fixed64", type="double"),
    ]),
    # proto2: repeated scalars are unpacked unless [packed = true]; singular
    # fields have explicit presence.
    "Legacy": MessageDef([
        Spec("nums", 1, "int32", repeated=True),
        Spec("zigzags", 2, "sint64", repeated=True),
        Spec("doubles", 3, "double", repeated=True),
        Spec("flags", 4, "bool", repeated=True),
        Spec("packed_fixed", 5, "fixed32", repeated=True, packed=True),
        Spec("count", 6, "int32"),
        Spec("title", 7, "string"),
        Spec("ratio", 8, "float"),
        Spec("counts", 9, map=("string", "int32")),     # entries are proto2 messages too
        Spec("leaves", 10, map=("int64", "Leaf")),
    ], syntax="proto2"),
    "Moody": MessageDef([
        Spec("mood", 1, "Mood"),
        Spec("moods", 2, "Mood", repeated=True),
        Spec("packed_moods", 3, "Mood", repeated=True, packed=True),
    ], syntax="proto2"),
    # Moody's wire twin, to write any int32 where Moody expects a Mood.
    "MoodyNumbers": MessageDef([
        Spec("mood", 1, "int32"),
        Spec("moods", 2, "int32", repeated=True),
        Spec("packed_moods", 3, "int32", repeated=True, packed=True),
    ], syntax="proto2"),
}


def _has_presence(spec: Spec, message_name: str) -> bool:
    """Field presence rules (protobuf.dev/programming-guides/field_presence)."""
    if spec.repeated or spec.map:
        return False
    return (spec.type in MESSAGES or spec.oneof is not None or spec.optional
            or MESSAGES[message_name].syntax == "proto2")


def _oneofs(message_name: str) -> dict[str, list[Spec]]:
    groups: dict[str, list[Spec]] = {}
    for spec in MESSAGES[message_name].fields:
        if spec.oneof is not None:
            groups.setdefault(spec.oneof, []).append(spec)
    return groups


def _map_entry_name(field_name: str) -> str:
    """protoc's name for a map's entry message: MFooBarEntry for m_foo_bar."""
    return "".join(part[:1].upper() + part[1:] for part in field_name.split("_")) + "Entry"


# --- built as our classes -----------------------------------------------------


def _build_ours() -> dict[str, type]:
    classes: dict[str, type] = {}
    for name, values in ENUMS.items():
        classes[name] = _our_enum(name, values)
    for name, message in MESSAGES.items():   # dependencies come first
        if any(spec.type == name for spec in message.fields):
            classes[name] = _self_referencing_class(name, message)
        else:
            fields = [_our_field(spec, classes) for spec in message.fields]
            classes[name] = wire.message(f"{PACKAGE}.{name}", fields, syntax=message.syntax)
    return classes


def _our_enum(name: str, values: dict[str, int]) -> type:
    if name not in CLOSED_ENUMS:
        return wire.enum(f"{PACKAGE}.{name}", values)
    # wire.enum makes proto3 enums; a proto2 one needs its schema written out.
    return wire.enum_class(wire.EnumSchema(
        name=name, full_name=f"{PACKAGE}.{name}", syntax="proto2",
        values=[wire.EnumValueSchema(n, v) for n, v in values.items()]))


def _our_field(spec: Spec, classes: dict[str, type]) -> dict:
    def our_type(type_name):
        return classes.get(type_name, type_name)
    if spec.map is not None:
        key_type, value_type = spec.map
        return wire.field(spec.name, spec.number, map=(key_type, our_type(value_type)))
    return wire.field(spec.name, spec.number, our_type(spec.type), repeated=spec.repeated,
                      packed=spec.packed, oneof=spec.oneof, optional=spec.optional)


def _self_referencing_class(name: str, message: MessageDef) -> type:
    """wire.field needs the class, which does not exist yet: write the schema."""
    schema = wire.MessageSchema(name=name, full_name=f"{PACKAGE}.{name}",
                                syntax=message.syntax)
    for spec in message.fields:
        label = wire.Label.REPEATED if spec.repeated else wire.Label.OPTIONAL
        if spec.type == name:
            field = wire.FieldSchema(spec.name, spec.number, wire.FieldType.MESSAGE,
                                     label=label, message_type=schema,
                                     type_name=f".{PACKAGE}.{name}")
        else:
            field = wire.FieldSchema(spec.name, spec.number,
                                     wire.FieldType.from_name(spec.type), label=label)
        schema.fields.append(field)
    return wire.message_class(schema)


OURS = _build_ours()


# --- built as protobuf classes ------------------------------------------------

FieldProto = descriptor_pb2.FieldDescriptorProto


def _build_protobuf() -> dict[str, type]:
    files = {
        syntax: descriptor_pb2.FileDescriptorProto(
            name=f"{PACKAGE}_{syntax}.proto", package=PACKAGE, syntax=syntax)
        for syntax in ("proto3", "proto2")
    }
    for name, values in ENUMS.items():
        syntax = "proto2" if name in CLOSED_ENUMS else "proto3"
        enum_proto = files[syntax].enum_type.add(name=name)
        for value_name, number in values.items():
            enum_proto.value.add(name=value_name, number=number)
    for name, message in MESSAGES.items():
        _add_message(files[message.syntax].message_type.add(name=name), message)
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files.values():
        pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in MESSAGES}


def _add_message(proto: descriptor_pb2.DescriptorProto, message: MessageDef) -> None:
    oneof_index: dict[str, int] = {}
    for spec in message.fields:               # real oneofs first, as protoc orders them
        if spec.oneof is not None and spec.oneof not in oneof_index:
            oneof_index[spec.oneof] = len(proto.oneof_decl)
            proto.oneof_decl.add(name=spec.oneof)
    for spec in message.fields:
        field = proto.field.add(name=spec.name, number=spec.number)
        if spec.map is not None:
            _make_map_field(proto, field, spec)
            continue
        _set_protobuf_type(field, spec.type)
        field.label = FieldProto.LABEL_REPEATED if spec.repeated else FieldProto.LABEL_OPTIONAL
        if spec.packed is not None:
            field.options.packed = spec.packed
        if spec.oneof is not None:
            field.oneof_index = oneof_index[spec.oneof]
        if spec.optional:                     # proto3 optional: a synthetic oneof "_name"
            field.proto3_optional = True
            field.oneof_index = len(proto.oneof_decl)
            proto.oneof_decl.add(name=f"_{spec.name}")


def _make_map_field(proto, field, spec: Spec) -> None:
    entry = proto.nested_type.add(name=_map_entry_name(spec.name))
    entry.options.map_entry = True
    for number, (entry_field_name, type_name) in enumerate(zip(("key", "value"), spec.map), 1):
        entry_field = entry.field.add(name=entry_field_name, number=number,
                                      label=FieldProto.LABEL_OPTIONAL)
        _set_protobuf_type(entry_field, type_name)
    field.label = FieldProto.LABEL_REPEATED
    field.type = FieldProto.TYPE_MESSAGE
    field.type_name = f".{PACKAGE}.{proto.name}.{entry.name}"


def _set_protobuf_type(field, type_name: str) -> None:
    if type_name in ENUMS:
        field.type, field.type_name = FieldProto.TYPE_ENUM, f".{PACKAGE}.{type_name}"
    elif type_name in MESSAGES:
        field.type, field.type_name = FieldProto.TYPE_MESSAGE, f".{PACKAGE}.{type_name}"
    else:
        field.type = getattr(FieldProto, f"TYPE_{type_name.upper()}")


PROTOBUF = _build_protobuf()


# --- values: random, then as either implementation's message -----------------


def _value_strategy(type_name: str, depth: int):
    if type_name in MESSAGES:
        return message_values(type_name, depth - 1)
    if type_name in ENUMS:              # known numbers, and any other int32 (open enums)
        return st.sampled_from(sorted(ENUMS[type_name].values())) | SCALAR_VALUES["int32"]
    return SCALAR_VALUES[type_name]


def _field_strategy(spec: Spec, depth: int):
    if spec.map is not None:
        key_type, value_type = spec.map
        return st.dictionaries(SCALAR_VALUES[key_type], _value_strategy(value_type, depth),
                               max_size=MAX_MAP)
    element = _value_strategy(spec.type, depth)
    if spec.repeated:
        return st.lists(element, max_size=MAX_MESSAGE_LIST if spec.type in MESSAGES else MAX_LIST)
    return element


def _holds_message(spec: Spec) -> bool:
    return spec.type in MESSAGES or (spec.map is not None and spec.map[1] in MESSAGES)


def message_values(message_name: str, depth: int = MAX_DEPTH):
    """Random values for a message: {field name: value} for the fields that are set,
    at most one member per oneof. Below ``depth`` levels no message fields are set."""
    usable = [spec for spec in MESSAGES[message_name].fields
              if depth > 0 or not _holds_message(spec)]
    plain = {spec.name: _field_strategy(spec, depth) for spec in usable if spec.oneof is None}
    choices = [
        st.one_of(st.just({}), *[
            _field_strategy(spec, depth).map(lambda value, name=spec.name: {name: value})
            for spec in members if spec in usable
        ])
        for members in _oneofs(message_name).values()
    ]
    return st.tuples(st.fixed_dictionaries({}, optional=plain), *choices).map(_merged)


def _merged(dicts) -> dict:
    merged: dict = {}
    for part in dicts:
        merged.update(part)
    return merged


def ours_from_values(message_name: str, values: dict):
    """Our message holding ``values``."""
    specs = {spec.name: spec for spec in MESSAGES[message_name].fields}
    return OURS[message_name](**{
        name: _our_value(specs[name], value) for name, value in values.items()
    })


def _our_value(spec: Spec, value):
    if spec.map is not None:
        value_type = spec.map[1]
        if value_type in MESSAGES:
            return {key: ours_from_values(value_type, v) for key, v in value.items()}
        return dict(value)
    if spec.type in MESSAGES:
        if spec.repeated:
            return [ours_from_values(spec.type, v) for v in value]
        return ours_from_values(spec.type, value)
    return list(value) if spec.repeated else value


def protobuf_from_values(message_name: str, values: dict):
    """protobuf's message holding ``values``."""
    message = PROTOBUF[message_name]()
    _fill_protobuf(message, message_name, values)
    return message


def _fill_protobuf(message, message_name: str, values: dict) -> None:
    for spec in MESSAGES[message_name].fields:
        if spec.name not in values:
            continue
        value = values[spec.name]
        target = getattr(message, spec.name)
        if spec.map is not None and spec.map[1] in MESSAGES:
            for key, entry_values in value.items():
                _fill_protobuf(target[key], spec.map[1], entry_values)   # [] creates the entry
        elif spec.map is not None:
            target.update(value)
        elif spec.repeated and spec.type in MESSAGES:
            for element_values in value:
                _fill_protobuf(target.add(), spec.type, element_values)
        elif spec.repeated:
            target.extend(value)
        elif spec.type in MESSAGES:
            target.SetInParent()              # present even when empty
            _fill_protobuf(target, spec.type, value)
        else:
            setattr(message, spec.name, value)


# --- the plain form both sides are compared in --------------------------------


def plain_ours(message, message_name: str) -> dict:
    plain = {spec.name: _plain_field(spec, getattr(message, spec.name), plain_ours)
             for spec in MESSAGES[message_name].fields}
    for oneof in _oneofs(message_name):
        plain[f"({oneof})"] = message.which_oneof(oneof)
    return plain


def plain_protobuf(message, message_name: str) -> dict:
    plain = {}
    for spec in MESSAGES[message_name].fields:
        absent = _has_presence(spec, message_name) and not message.HasField(spec.name)
        value = None if absent else getattr(message, spec.name)
        plain[spec.name] = _plain_field(spec, value, plain_protobuf)
    for oneof in _oneofs(message_name):
        plain[f"({oneof})"] = message.WhichOneof(oneof)
    return plain


def plain_expected(values: dict, message_name: str) -> dict:
    """The plain form of a message holding ``values``, every unset field at its default."""
    plain = {}
    for spec in MESSAGES[message_name].fields:
        value = values[spec.name] if spec.name in values else _default(spec, message_name)
        plain[spec.name] = _plain_field(spec, value, plain_expected)
    for oneof, members in _oneofs(message_name).items():
        plain[f"({oneof})"] = next((s.name for s in members if s.name in values), None)
    return plain


def _default(spec: Spec, message_name: str):
    if spec.map is not None:
        return {}
    if spec.repeated:
        return []
    if _has_presence(spec, message_name):
        return None
    return SCALAR_DEFAULTS.get(spec.type, 0)


def _plain_field(spec: Spec, value, plain_message):
    if value is None:
        return None
    if spec.map is not None:
        return {_plain_value(spec.map[0], key, plain_message):
                _plain_value(spec.map[1], v, plain_message) for key, v in value.items()}
    if spec.repeated:
        return [_plain_value(spec.type, v, plain_message) for v in value]
    return _plain_value(spec.type, value, plain_message)


def _plain_value(type_name: str, value, plain_message):
    if type_name in MESSAGES:
        return plain_message(value, type_name)
    if type_name in ENUMS:
        return int(value)
    if type_name in FLOAT_TYPES:
        return _comparable_float(value)
    return type(value).__name__, value   # so True is not 1 and b"a" is not "a"


def _comparable_float(value: float):
    """NaN equals NaN here, and -0.0 is not 0.0 (its sign bit is on the wire)."""
    if math.isnan(value):
        return "nan"
    return value, math.copysign(1.0, value)


# --- records: protobuf splits bytes into (field number, wire type, payload) ---


def records(data: bytes) -> list[tuple]:
    """The top-level records of ``data``, split by protobuf (the Empty message
    keeps every record as an unknown field)."""
    return unknown_records(empty_pb2.Empty.FromString(data))


def unknown_records(message) -> list[tuple]:
    return [(f.field_number, f.wire_type, f.data) for f in UnknownFieldSet(message)]


def _sorted_map_entries(data: bytes, message_name: str) -> list[tuple]:
    """Records with each map's entries sorted: the order of map entries is not
    part of the encoding (the language guide: "ordering ... is undefined")."""
    map_numbers = {spec.number for spec in MESSAGES[message_name].fields if spec.map}
    result = []
    for number, group in groupby(records(data), key=lambda record: record[0]):
        group = list(group)
        result.extend(sorted(group) if number in map_numbers else group)
    return result


# --- the properties -----------------------------------------------------------

def test_the_schemas_cover_every_type():
    def types(prefix):
        return {spec.type for spec in EVERYTHING if spec.name.startswith(prefix)}
    assert types("s_") == types("r_") == set(ALL_TYPES)
    assert types("u_") == set(PACKABLE_TYPES)
    assert {spec.map[0] for spec in EVERYTHING if spec.map} == set(MAP_KEY_TYPES)
    assert {"Leaf", "Node", "Color", "float", "double", "bytes"} <= {
        spec.map[1] for spec in EVERYTHING if spec.map}


COMMON = settings(deadline=None, max_examples=200)
FEWER = settings(deadline=None, max_examples=100)   # the tests that do twice the work


@COMMON
@given(values=message_values("Everything"))
def test_protobuf_reads_our_bytes_as_the_same_values(values):
    data = ours_from_values("Everything", values).encode()
    theirs = PROTOBUF["Everything"].FromString(data)
    assert plain_protobuf(theirs, "Everything") == plain_expected(values, "Everything")


@COMMON
@given(values=message_values("Everything"))
def test_we_read_protobufs_bytes_as_the_same_values(values):
    data = protobuf_from_values("Everything", values).SerializeToString()
    ours = OURS["Everything"].decode(data)
    assert plain_ours(ours, "Everything") == plain_expected(values, "Everything")


@COMMON
@given(values=message_values("Everything"))
def test_our_bytes_are_protobufs_bytes(values):
    ours = ours_from_values("Everything", values).encode()
    theirs = protobuf_from_values("Everything", values).SerializeToString()
    assert_same_bytes(ours, theirs, "Everything", values)


def assert_same_bytes(ours: bytes, theirs: bytes, message_name: str, values: dict) -> None:
    """Byte for byte, except for the order of entries within a map.

    Fields go out in field-number order on both sides. Map order is legitimately
    free (the language guide: map ordering is undefined): ours follows the dict,
    upb its hash table. Even deterministic=True does not pin it down: upb 7.36
    then writes integer keys in descending unsigned order, the pure-Python
    backend in ascending order. So map entries are compared as a sorted list of
    records, and the whole bytes only when no map has more than one entry.
    """
    assert len(ours) == len(theirs)
    assert _sorted_map_entries(ours, message_name) == _sorted_map_entries(theirs, message_name)
    maps = [spec.name for spec in MESSAGES[message_name].fields if spec.map]
    if all(len(values.get(name, {})) <= 1 for name in maps):
        assert ours == theirs


def _single_field(message_name: str):
    """One field of the message set, maps with at most one entry."""
    def one(spec):
        strategy = _field_strategy(spec, MAX_DEPTH)
        if spec.map is not None:
            key_type, value_type = spec.map
            strategy = st.dictionaries(SCALAR_VALUES[key_type],
                                       _value_strategy(value_type, MAX_DEPTH), max_size=1)
        return strategy.map(lambda value: {spec.name: value})
    return st.sampled_from(MESSAGES[message_name].fields).flatmap(one)


@settings(deadline=None, max_examples=600)
@given(values=_single_field("Everything"))
def test_one_field_at_a_time_gives_protobufs_exact_bytes(values):
    # One field (and a map of at most one entry) leaves protobuf no choice of
    # order: the bytes must be identical, and each side reads the other's.
    ours = ours_from_values("Everything", values)
    theirs = protobuf_from_values("Everything", values)
    assert ours.encode() == theirs.SerializeToString()
    expected = plain_expected(values, "Everything")
    assert plain_ours(OURS["Everything"].decode(theirs.SerializeToString()), "Everything") == expected
    assert plain_protobuf(PROTOBUF["Everything"].FromString(ours.encode()), "Everything") == expected


@FEWER
@given(first=message_values("Everything"), second=message_values("Everything"))
def test_two_messages_back_to_back_merge_as_in_protobuf(first, second):
    # Encoding guide, "Last One Wins": a scalar seen twice keeps the last value,
    # repeated fields concatenate, messages merge, a map keeps the last entry
    # for a key, and a later oneof member clears an earlier one.
    data = (ours_from_values("Everything", first).encode()
            + protobuf_from_values("Everything", second).SerializeToString())
    ours = OURS["Everything"].decode(data)
    theirs = PROTOBUF["Everything"].FromString(data)
    assert plain_ours(ours, "Everything") == plain_protobuf(theirs, "Everything")
    assert (_sorted_map_entries(ours.encode(), "Everything")
            == _sorted_map_entries(theirs.SerializeToString(), "Everything"))


@COMMON
@given(values=message_values("Everything"))
def test_packed_and_unpacked_forms_read_the_same(values):
    # Spec: "a decoder must accept packed and unpacked forms for the same
    # field". Repacked declares each repeated field with the other packing.
    repacked_names = {spec.name for spec in MESSAGES["Repacked"].fields}
    repeated_values = {k: v for k, v in values.items() if k in repacked_names}
    expected = plain_expected(repeated_values, "Repacked")
    for data in (ours_from_values("Everything", values).encode(),
                 protobuf_from_values("Everything", values).SerializeToString()):
        assert plain_ours(OURS["Repacked"].decode(data), "Repacked") == expected
        assert plain_protobuf(PROTOBUF["Repacked"].FromString(data), "Repacked") == expected
    ours = ours_from_values("Repacked", repeated_values).encode()
    assert ours == protobuf_from_values("Repacked", repeated_values).SerializeToString()
    back = plain_expected(repeated_values, "Everything")
    assert plain_ours(OURS["Everything"].decode(ours), "Everything") == back
    assert plain_protobuf(PROTOBUF["Everything"].FromString(ours), "Everything") == back


@FEWER
@pytest.mark.parametrize("writer", ["ours", "protobuf"])
@given(values=message_values("Everything"))
def test_unknown_fields_survive_a_schema_that_lacks_them(writer, values):
    if writer == "ours":
        original = ours_from_values("Everything", values).encode()
    else:
        original = protobuf_from_values("Everything", values).SerializeToString()
    ours = OURS["Partial"].decode(original)
    theirs = PROTOBUF["Partial"].FromString(original)
    # Both read the known fields alike (ColorLite keeps unknown numbers: open enum)
    # and keep the same records, in the order they came, as unknown fields.
    assert plain_ours(ours, "Partial") == plain_protobuf(theirs, "Partial")
    assert records(ours.unknown_fields) == unknown_records(theirs)
    # Re-encoded: known fields in number order, then the unknown records as
    # they came; Partial has no maps, so both sides write the same bytes.
    assert ours.encode() == theirs.SerializeToString()
    expected = plain_expected(values, "Everything")
    assert plain_ours(OURS["Everything"].decode(ours.encode()), "Everything") == expected
    assert plain_protobuf(PROTOBUF["Everything"].FromString(ours.encode()), "Everything") == expected


@COMMON
@given(values=message_values("Legacy"))
def test_proto2_unpacked_repeated_and_explicit_presence(values):
    ours = ours_from_values("Legacy", values)
    theirs = protobuf_from_values("Legacy", values)
    assert_same_bytes(ours.encode(), theirs.SerializeToString(), "Legacy", values)
    expected = plain_expected(values, "Legacy")
    assert plain_ours(OURS["Legacy"].decode(theirs.SerializeToString()), "Legacy") == expected
    assert plain_protobuf(PROTOBUF["Legacy"].FromString(ours.encode()), "Legacy") == expected


@COMMON
@given(values=message_values("Everything"))
def test_wide_values_read_as_narrow_types_as_in_protobuf(values):
    # protobuf's parsers cut a varint to the field's width (an int64 read as
    # int32 keeps the low 32 bits, as two's complement) and read I64 bits as
    # whatever the field says; a peer with an older schema sees exactly this.
    data = ours_from_values("Everything", values).encode()
    ours = OURS["Narrowed"].decode(data)
    theirs = PROTOBUF["Narrowed"].FromString(data)
    assert plain_ours(ours, "Narrowed") == plain_protobuf(theirs, "Narrowed")
    assert ours.encode() == theirs.SerializeToString()


def test_unknown_groups_are_kept_as_protobuf_keeps_them():
    # proto2 groups (wire types 3 and 4) that no field claims: skipped to the
    # matching end-group tag, nested groups included, and written back as they came.
    group = bytes.fromhex(
        "a31f"          # field 500, SGROUP
        "0896 01"       #   field 1 = 150
        "1b 1001 1c"    #   field 3, a group holding field 2 = 1, then its EGROUP
        "2203616263"    #   field 4 = b"abc"
        "a41f"          # field 500, EGROUP
    )
    data = bytes.fromhex("0807") + group + bytes.fromhex("0803")   # s_int32 twice
    ours = OURS["Partial"].decode(data)
    theirs = PROTOBUF["Partial"].FromString(data)
    assert ours.s_int32 == theirs.s_int32 == 3
    assert ours.unknown_fields == group
    assert ours.encode() == theirs.SerializeToString() == bytes.fromhex("0803") + group


def test_proto2_closed_enums_send_unknown_numbers_to_the_unknown_fields():
    # Language guide, "Enums" / editions' closed enums: a closed enum parses a
    # number it does not list as an unknown field; for a packed field, each
    # such element becomes its own VARINT record.
    data = bytes.fromhex(
        "0807"          # mood = 7: not a Mood
        "1001 1009"     # moods = [HAPPY, 9]
        "1a03 010902"   # packed_moods = [HAPPY, 9, SAD]
    )
    ours = OURS["Moody"].decode(data)
    theirs = PROTOBUF["Moody"].FromString(data)
    assert plain_protobuf(theirs, "Moody") == {"mood": None, "moods": [1], "packed_moods": [1, 2]}
    assert plain_ours(ours, "Moody") == plain_protobuf(theirs, "Moody")
    assert records(ours.unknown_fields) == unknown_records(theirs) == [(1, 0, 7), (2, 0, 9), (3, 0, 9)]
    assert ours.encode() == theirs.SerializeToString()


# Map entries protobuf would never write, but a peer may: the entry is a
# message, so a missing key or value reads as its default, fields may come in
# any order, and the last of a repeated key or value wins.
INCOMPLETE_MAP_ENTRIES = [
    # (message, bytes, what they say)
    ("Everything", "ea03 03 0a016b", "m_string_int32: {'k': <value missing>}"),
    ("Everything", "ea03 02 1005", "m_string_int32: {<key missing>: 5}"),
    ("Everything", "ea03 00", "m_string_int32: an empty entry"),
    ("Everything", "ea03 07 1005 0a016b 1007", "m_string_int32: value, key, value again"),
    ("Everything", "a203 02 0805", "m_uint32_leaf: {5: <message missing>}"),
    ("Legacy", "4a 03 0a016b", "proto2 counts: {'k': <value missing>}"),
    ("Legacy", "4a 02 1005", "proto2 counts: {<key missing>: 5}"),
    ("Legacy", "52 02 0805", "proto2 leaves: {5: <message missing>}"),
]


@pytest.mark.parametrize("message_name, hex_data, what", INCOMPLETE_MAP_ENTRIES)
def test_incomplete_map_entries_read_as_in_protobuf(message_name, hex_data, what):
    data = bytes.fromhex(hex_data)
    ours = OURS[message_name].decode(data)
    theirs = PROTOBUF[message_name].FromString(data)
    assert plain_ours(ours, message_name) == plain_protobuf(theirs, message_name)
    assert ours.encode() == theirs.SerializeToString()   # written back whole: key and value


MOOD_NUMBERS = st.sampled_from(sorted(ENUMS["Mood"].values())) | SCALAR_VALUES["int32"]


@COMMON
@given(mood=st.none() | MOOD_NUMBERS, moods=st.lists(MOOD_NUMBERS, max_size=MAX_LIST),
       packed_moods=st.lists(MOOD_NUMBERS, max_size=MAX_LIST))
def test_closed_enums_split_numbers_as_protobuf_does(mood, moods, packed_moods):
    values = {"moods": moods, "packed_moods": packed_moods}
    if mood is not None:
        values["mood"] = mood
    data = ours_from_values("MoodyNumbers", values).encode()
    ours = OURS["Moody"].decode(data)
    theirs = PROTOBUF["Moody"].FromString(data)
    assert plain_ours(ours, "Moody") == plain_protobuf(theirs, "Moody")
    assert records(ours.unknown_fields) == unknown_records(theirs)
    assert ours.encode() == theirs.SerializeToString()


DEEP = 90   # under the recursion limit of 100 shared by both implementations


def test_deeply_nested_messages_agree():
    values: dict = {"value": -1, "label": "bottom"}
    for level in range(DEEP):
        values = {"value": level, "child": values, "children": [{"value": -level}]}
    ours = ours_from_values("Node", values).encode()
    theirs = protobuf_from_values("Node", values).SerializeToString()
    assert ours == theirs
    expected = plain_expected(values, "Node")
    assert plain_ours(OURS["Node"].decode(theirs), "Node") == expected
    assert plain_protobuf(PROTOBUF["Node"].FromString(ours), "Node") == expected
