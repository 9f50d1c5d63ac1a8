"""Message encoding and decoding, with the encoding guide's own examples
(https://protobuf.dev/programming-guides/encoding/) and the proto3 rules for
presence, repeated fields, maps, oneofs and unknown fields."""

import math

import pytest

import wire

Color = wire.enum("test.Color", {"COLOR_UNSPECIFIED": 0, "RED": 1, "GREEN": 2})
Inner = wire.message("test.Inner", [
    wire.field("id", 1, "int32"),
    wire.field("tags", 2, "string", repeated=True),
])
Everything = wire.message("test.Everything", [
    wire.field("f_int32", 1, "int32"),
    wire.field("f_int64", 2, "int64"),
    wire.field("f_uint32", 3, "uint32"),
    wire.field("f_uint64", 4, "uint64"),
    wire.field("f_sint32", 5, "sint32"),
    wire.field("f_sint64", 6, "sint64"),
    wire.field("f_bool", 7, "bool"),
    wire.field("f_enum", 8, Color),
    wire.field("f_fixed32", 9, "fixed32"),
    wire.field("f_sfixed32", 10, "sfixed32"),
    wire.field("f_fixed64", 11, "fixed64"),
    wire.field("f_sfixed64", 12, "sfixed64"),
    wire.field("f_float", 13, "float"),
    wire.field("f_double", 14, "double"),
    wire.field("f_string", 15, "string"),
    wire.field("f_bytes", 16, "bytes"),
    wire.field("f_inner", 17, Inner),
    wire.field("r_int32", 18, "int32", repeated=True),
    wire.field("r_inner", 19, Inner, repeated=True),
    wire.field("m_counts", 20, map=("string", "int32")),
    wire.field("m_inner", 21, map=("int64", Inner)),
    wire.field("o_name", 22, "string", oneof="choice"),
    wire.field("o_number", 23, "int32", oneof="choice"),
    wire.field("opt", 24, "int32", optional=True),
    wire.field("r_unpacked", 25, "int32", repeated=True, packed=False),
    wire.field("r_double", 26, "double", repeated=True),
])

# Each row: a field set on its own and the bytes the encoding guide gives it.
SINGLE_FIELD_VECTORS = [
    ("f_int32", 150, "08 96 01"),                          # "A Simple Message"
    ("f_int32", -1, "08 ff ff ff ff ff ff ff ff ff 01"),   # negative int32: 10 bytes
    ("f_int64", -2, "10 fe ff ff ff ff ff ff ff ff 01"),
    ("f_uint32", 2**32 - 1, "18 ff ff ff ff 0f"),
    ("f_uint64", 2**64 - 1, "20 ff ff ff ff ff ff ff ff ff 01"),
    ("f_sint32", -1, "28 01"),                             # ZigZag: -1 -> 1
    ("f_sint32", -2**31, "28 ff ff ff ff 0f"),
    ("f_sint64", 1, "30 02"),
    ("f_bool", True, "38 01"),
    ("f_enum", Color.GREEN, "40 02"),
    ("f_fixed32", 1, "4d 01 00 00 00"),                    # little-endian
    ("f_sfixed32", -1, "55 ff ff ff ff"),
    ("f_fixed64", 1, "59 01 00 00 00 00 00 00 00"),
    ("f_sfixed64", -2, "61 fe ff ff ff ff ff ff ff"),
    ("f_float", 1.5, "6d 00 00 c0 3f"),
    ("f_double", -0.0, "71 00 00 00 00 00 00 00 80"),      # -0.0 is not the default
    ("f_string", "testing", "7a 07 74 65 73 74 69 6e 67"),  # "Length-Delimited Records"
    ("f_bytes", b"\x00\xff", "82 01 02 00 ff"),            # field 16: two-byte tag
    ("f_inner", Inner(id=150), "8a 01 03 08 96 01"),       # "Submessages"
    ("r_int32", [3, 270, 86942], "92 01 06 03 8e 02 9e a7 05"),  # "Packed Repeated Fields"
    ("r_unpacked", [1, 2], "c8 01 01 c8 01 02"),
    ("r_double", [1.0], "d2 01 08 00 00 00 00 00 00 f0 3f"),
    ("o_number", 0, "b8 01 00"),                           # a oneof member has presence
    ("opt", 0, "c0 01 00"),                                # so does a proto3 optional
]


@pytest.mark.parametrize("name, value, hexed", SINGLE_FIELD_VECTORS,
                         ids=[f"{r[0]}={r[1]!r}" for r in SINGLE_FIELD_VECTORS])
def test_single_field_vectors(name, value, hexed):
    msg = Everything(**{name: value})
    assert msg.encode().hex(" ") == hexed
    decoded = Everything.decode(bytes.fromhex(hexed))
    assert getattr(decoded, name) == value
    assert decoded == msg


def test_the_guides_string_example_in_field_2():
    # "Length-Delimited Records": message Test2 { string b = 2; } b = "testing"
    Test2 = wire.message("test.Test2", [wire.field("b", 2, "string")])
    assert Test2(b="testing").encode() == bytes.fromhex("120774657374696e67")


def test_defaults_are_not_written():
    # proto3 implicit presence: fields at their zero value stay off the wire
    msg = Everything(f_int32=0, f_string="", f_bytes=b"", f_bool=False, f_double=0.0,
                     f_enum=Color.COLOR_UNSPECIFIED, r_int32=[], m_counts={})
    assert msg.encode() == b""


def test_unset_fields_read_as_their_defaults():
    msg = Everything()
    assert (msg.f_int32, msg.f_string, msg.f_bytes, msg.f_bool) == (0, "", b"", False)
    assert msg.f_enum is Color.COLOR_UNSPECIFIED
    assert msg.f_inner is None and msg.opt is None and msg.o_name is None
    assert msg.r_int32 == [] and msg.m_counts == {}


def test_repeated_lists_are_not_shared_between_instances():
    a, b = Everything(), Everything()
    a.r_int32.append(1)
    assert b.r_int32 == []


def test_packed_and_unpacked_forms_both_decode():
    # SPEC.md: a decoder must accept packed and unpacked forms for the same field
    packed = bytes.fromhex("92 01 02 01 02")
    unpacked = bytes.fromhex("90 01 01 90 01 02")
    assert Everything.decode(packed).r_int32 == [1, 2]
    assert Everything.decode(unpacked).r_int32 == [1, 2]
    assert Everything.decode(packed + unpacked).r_int32 == [1, 2, 1, 2]
    # and the field declared unpacked accepts the packed form too
    assert Everything.decode(bytes.fromhex("ca 01 02 05 06")).r_unpacked == [5, 6]


def test_last_one_wins_for_singular_scalars():
    data = bytes.fromhex("08 01 08 02 08 03")
    assert Everything.decode(data).f_int32 == 3


def test_embedded_messages_seen_twice_merge():
    # "Last One Wins": message fields merge; the inner repeated field concatenates
    first = Everything(f_inner=Inner(id=1, tags=["a"])).encode()
    second = Everything(f_inner=Inner(tags=["b"])).encode()
    merged = Everything.decode(first + second)
    assert merged.f_inner == Inner(id=1, tags=["a", "b"])


def test_maps_round_trip_and_are_entry_messages():
    msg = Everything(m_counts={"a": 1}, m_inner={-5: Inner(id=7)})
    data = msg.encode()
    assert Everything.decode(data) == msg
    # "Maps": an entry is a message {key = 1; value = 2}, repeated
    entry = wire.decode_raw(data)[0]
    assert entry.field_number == 20
    assert [(f.field_number, f.value) for f in entry.value] == [(1, b"a"), (2, 1)]


def test_map_entry_with_missing_value_gets_the_default():
    # an entry holding only its key (field 1 of the entry, "a")
    data = bytes.fromhex("a2 01 03 0a 01 61") + bytes.fromhex("aa 01 02 08 09")
    msg = Everything.decode(data)
    assert msg.m_counts == {"a": 0}
    assert msg.m_inner == {9: Inner()}


def test_map_last_entry_wins_for_a_repeated_key():
    data = Everything(m_counts={"k": 1}).encode() + Everything(m_counts={"k": 2}).encode()
    assert Everything.decode(data).m_counts == {"k": 2}


def test_oneof_last_member_wins_on_decode():
    data = Everything(o_name="x").encode() + Everything(o_number=5).encode()
    msg = Everything.decode(data)
    assert (msg.o_name, msg.o_number, msg.which_oneof("choice")) == (None, 5, "o_number")


def test_oneof_with_two_members_set_is_refused():
    msg = Everything()
    msg.o_name, msg.o_number = "x", 1
    with pytest.raises(wire.EncodeError, match="oneof 'choice'"):
        msg.encode()


def test_unknown_fields_are_kept_and_written_back():
    Small = wire.message("test.Small", [wire.field("f_int32", 1, "int32")])
    full = Everything(f_int32=7, f_string="kept", f_inner=Inner(id=1), r_int32=[1, 2],
                      f_fixed64=9)
    small = Small.decode(full.encode())
    assert small.f_int32 == 7
    assert small.unknown_fields  # kept as raw records
    assert Everything.decode(small.encode()) == full


def test_unknown_group_is_skipped_and_kept():
    Small = wire.message("test.Small", [wire.field("a", 1, "int32")])
    # field 2 SGROUP { field 3 varint 1 } EGROUP, then field 1 = 5
    data = bytes.fromhex("13 18 01 14 08 05")
    msg = Small.decode(data)
    assert msg.a == 5 and msg.encode() == bytes.fromhex("08 05 13 18 01 14")


def test_enum_numbers_unknown_to_the_schema_are_kept():
    msg = Everything.decode(bytes.fromhex("40 09"))
    assert msg.f_enum == 9 and msg.encode() == bytes.fromhex("40 09")


def test_nan_and_infinities_round_trip():
    msg = Everything.decode(Everything(f_double=math.inf, f_float=-math.inf).encode())
    assert msg.f_double == math.inf and msg.f_float == -math.inf
    assert math.isnan(Everything.decode(Everything(f_double=math.nan).encode()).f_double)


ENCODE_ERRORS = [
    ("f_int32", 2**31, "out of range"),
    ("f_int32", -(2**31) - 1, "out of range"),
    ("f_uint32", -1, "out of range"),
    ("f_uint64", 2**64, "out of range"),
    ("f_int64", "1", "expected int"),
    ("f_int32", True, "expected int"),
    ("f_bool", 1, "expected bool"),
    ("f_float", 1e39, "float32 range"),
    ("f_double", "1.0", "expected float"),
    ("f_string", b"bytes", "expected str"),
    ("f_string", "\ud800", "UTF-8"),
    ("f_bytes", "text", "expected bytes"),
    ("f_inner", Everything(), "expected Inner"),
    ("r_int32", [1, "two"], "expected int"),
    ("r_int32", 5, "expected a list"),
    ("m_counts", {"a": "b"}, "expected int"),
    ("m_counts", {1: 1}, "expected str"),
    ("f_enum", 2**31, "out of range"),
]


@pytest.mark.parametrize("name, value, reason", ENCODE_ERRORS,
                         ids=[f"{r[0]}={r[1]!r}" for r in ENCODE_ERRORS])
def test_bad_values_raise_encode_error_naming_the_field(name, value, reason):
    msg = Everything(**{name: value})
    with pytest.raises(wire.EncodeError, match=reason) as info:
        msg.encode()
    assert f"test.Everything.{name}" in str(info.value)


def test_constructor_refuses_unknown_field_names():
    with pytest.raises(TypeError, match="no field 'nope'"):
        Everything(nope=1)


def test_equality_and_repr():
    a = Everything(f_int32=1, f_string="x", f_inner=Inner(id=2))
    b = Everything(f_int32=1, f_string="x", f_inner=Inner(id=2))
    assert a == b and a != Everything(f_int32=1)
    assert repr(a) == "Everything(f_int32=1, f_string='x', f_inner=Inner(id=2))"
    with pytest.raises(TypeError):
        hash(a)


def test_encode_and_decode_are_plain_callables():
    # grpcio takes request_serializer=Cls.encode, response_deserializer=Cls.decode
    serialize, deserialize = Inner.encode, Inner.decode
    assert deserialize(serialize(Inner(id=3))) == Inner(id=3)


def test_decode_accepts_bytearray_and_memoryview():
    data = Inner(id=3).encode()
    assert Inner.decode(bytearray(data)) == Inner.decode(memoryview(data)) == Inner(id=3)


def test_recursive_message_types():
    schema = wire.MessageSchema(name="Node", full_name="test.Node")
    schema.fields = [
        wire.FieldSchema(name="value", number=1, type=wire.FieldType.INT32),
        wire.FieldSchema(name="next", number=2, type=wire.FieldType.MESSAGE,
                         message_type=schema, type_name=".test.Node"),
    ]
    Node = wire.message_class(schema)
    chain = Node(value=1, next=Node(value=2, next=Node(value=3)))
    assert Node.decode(chain.encode()) == chain


def test_nested_classes_are_attributes():
    outer = wire.MessageSchema(name="Outer", full_name="test.Outer")
    inner = wire.MessageSchema(name="Inner", full_name="test.Outer.Inner",
                               fields=[wire.FieldSchema("x", 1, wire.FieldType.INT32)])
    outer.nested_types.append(inner)
    outer.fields.append(wire.FieldSchema("inner", 1, wire.FieldType.MESSAGE,
                                         message_type=inner))
    Outer = wire.message_class(outer)
    assert Outer.Inner is wire.message_class(inner)
    assert Outer.decode(Outer(inner=Outer.Inner(x=4)).encode()).inner.x == 4


SCHEMA_ERRORS = [
    ([wire.field("a", 1, "int32"), wire.field("b", 1, "int32")], "already used"),
    ([wire.field("a", 1, "int32"), wire.field("a", 2, "int32")], "duplicate"),
    ([wire.field("encode", 1, "int32")], "clashes"),
    ([wire.field("m", 1, map=("double", "int32"))], "map key"),
    ([wire.field("m", 1, "no_such_type")], "unknown scalar type"),
]


@pytest.mark.parametrize("fields, reason", SCHEMA_ERRORS)
def test_bad_schemas_raise_schema_error(fields, reason):
    with pytest.raises(wire.SchemaError, match=reason):
        wire.message("test.Bad", fields)
