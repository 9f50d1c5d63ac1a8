"""Varints, ZigZag and tags, with vectors from the encoding guide
(https://protobuf.dev/programming-guides/encoding/)."""

import pytest
from hypothesis import given, strategies as st

import wire
from wire.varint import signed_to_uint64, uint64_to_signed

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

VARINT_VECTORS = [
    # (value, hex) -- "Base 128 Varints": 1 is 01, 150 is 96 01
    (0, "00"),
    (1, "01"),
    (127, "7f"),            # largest one-byte varint
    (128, "80 01"),         # the continuation bit starts a second byte
    (150, "96 01"),         # the guide's worked example
    (300, "ac 02"),
    (16383, "ff 7f"),
    (16384, "80 80 01"),
    (2**32 - 1, "ff ff ff ff 0f"),
    (2**63, "80 80 80 80 80 80 80 80 80 01"),
    (2**64 - 1, "ff ff ff ff ff ff ff ff ff 01"),  # 10 bytes: the maximum
]


@pytest.mark.parametrize("value, hexed", VARINT_VECTORS)
def test_varint_vectors(value, hexed):
    encoded = bytes.fromhex(hexed)
    assert wire.encode_varint(value) == encoded
    assert wire.decode_varint(encoded) == (value, len(encoded))


def test_decode_varint_from_an_offset():
    data = b"\xff" + bytes.fromhex("96 01") + b"\x00"
    assert wire.decode_varint(data, 1) == (150, 3)


@pytest.mark.parametrize("value", [-1, 2**64, 2**70])
def test_encode_varint_refuses_values_outside_uint64(value):
    with pytest.raises(wire.EncodeError):
        wire.encode_varint(value)


@pytest.mark.parametrize("hexed", [
    "",                                   # nothing at all
    "80",                                 # the continuation bit promises more
    "ff ff",
    "80 80 80 80 80 80 80 80 80",         # nine bytes, all "more"
])
def test_truncated_varint_is_a_decode_error(hexed):
    with pytest.raises(wire.DecodeError, match="truncated"):
        wire.decode_varint(bytes.fromhex(hexed))


def test_eleventh_byte_is_a_decode_error():
    # SPEC.md: at most 10 bytes; an 11th byte is a DecodeError.
    with pytest.raises(wire.DecodeError, match="longer than 10"):
        wire.decode_varint(bytes.fromhex("80" * 10 + "01"))


@given(UINT64)
def test_varint_round_trip(value):
    encoded = wire.encode_varint(value)
    assert 1 <= len(encoded) <= 10
    assert wire.decode_varint(encoded + b"\x00") == (value, len(encoded))


ZIGZAG_VECTORS = [
    # "Signed Integers" table: ZigZag maps 0, -1, 1, -2, 2 to 0, 1, 2, 3, 4
    (0, 0), (-1, 1), (1, 2), (-2, 3), (2, 4),
    (0x7FFFFFFF, 0xFFFFFFFE), (-0x80000000, 0xFFFFFFFF),
    (2**63 - 1, 2**64 - 2), (-(2**63), 2**64 - 1),
]


@pytest.mark.parametrize("signed, unsigned", ZIGZAG_VECTORS)
def test_zigzag_table(signed, unsigned):
    assert wire.encode_zigzag(signed) == unsigned
    assert wire.decode_zigzag(unsigned) == signed


@given(INT64)
def test_zigzag_and_twos_complement_round_trip(value):
    assert wire.decode_zigzag(wire.encode_zigzag(value)) == value
    assert uint64_to_signed(signed_to_uint64(value)) == value


def test_negative_int64_is_ten_bytes():
    # "Negative numbers ... always ten bytes long" for int32 and int64
    assert len(wire.encode_varint(signed_to_uint64(-1))) == 10


TAG_VECTORS = [
    # (field_number, wire_type, hex): the tag is (field_number << 3) | wire_type
    (1, wire.WireType.VARINT, "08"),
    (2, wire.WireType.LEN, "12"),
    (4, wire.WireType.I32, "25"),
    (15, wire.WireType.LEN, "7a"),        # the largest field number with a 1-byte tag
    (16, wire.WireType.VARINT, "80 01"),  # from 16 on, tags take two bytes
    (2**29 - 1, wire.WireType.I64, "f9 ff ff ff 0f"),
]


@pytest.mark.parametrize("number, wire_type, hexed", TAG_VECTORS)
def test_tag_vectors(number, wire_type, hexed):
    from wire.wire_format import encode_tag
    assert encode_tag(number, wire_type) == bytes.fromhex(hexed)
    tag, _ = wire.decode_varint(bytes.fromhex(hexed))
    assert wire.split_tag(tag) == (number, wire_type)


@pytest.mark.parametrize("tag", [
    0,                      # field number 0
    (1 << 3) | 6,           # wire type 6 does not exist
    (1 << 3) | 7,
    (2**29) << 3,           # field number past 2^29 - 1
])
def test_bad_tags_are_decode_errors(tag):
    with pytest.raises(wire.DecodeError):
        wire.split_tag(tag)


@pytest.mark.parametrize("number", [0, 19000, 19999, 2**29])
def test_schema_field_numbers_are_checked(number):
    with pytest.raises(wire.SchemaError):
        wire.message("t.Bad", [wire.field("x", number, "int32")])
