"""The schema-less decoder and the step-by-step explainer."""

import pytest

import wire
from wire import RawField, WireType

Inner = wire.message("raw.Inner", [wire.field("a", 1, "int32")])
Outer = wire.message("raw.Outer", [
    wire.field("id", 1, "int32"),
    wire.field("name", 2, "string"),
    wire.field("inner", 3, Inner),
    wire.field("z", 4, "sint32"),
    wire.field("price", 5, "float"),
    wire.field("nums", 6, "int32", repeated=True),
    wire.field("blob", 7, "bytes"),
])


def test_decode_raw_lists_records_in_order_and_recurses():
    data = Outer(id=150, name="testing", inner=Inner(a=1), z=-1, price=1.5).encode()
    assert wire.decode_raw(data) == [
        RawField(1, WireType.VARINT, 150),
        RawField(2, WireType.LEN, b"testing"),       # printable text stays bytes
        RawField(3, WireType.LEN, (RawField(1, WireType.VARINT, 1),)),
        RawField(4, WireType.VARINT, 1),             # sint32 -1 seen raw: ZigZag 1
        RawField(5, WireType.I32, 0x3FC00000),
    ]


def test_decode_raw_keeps_non_message_bytes_as_bytes():
    data = Outer(blob=b"\xff\xfe").encode()
    assert wire.decode_raw(data) == [RawField(7, WireType.LEN, b"\xff\xfe")]


def test_decode_raw_reads_groups():
    assert wire.decode_raw(bytes.fromhex("13 18 01 14")) == [
        RawField(2, WireType.SGROUP, (RawField(3, WireType.VARINT, 1),)),
    ]


def test_decode_raw_refuses_truncated_input():
    with pytest.raises(wire.DecodeError):
        wire.decode_raw(bytes.fromhex("12 05 61"))


def test_explain_shows_tags_varint_groups_and_lengths():
    text = str(wire.explain(bytes.fromhex("08 96 01")))
    assert "field 1, wire type 0 (VARINT)" in text
    assert "0x96 = more + 0010110" in text and "0x01 = last + 0000001" in text
    assert "= 150" in text


def test_explain_with_a_schema_reads_each_type():
    msg = Outer(id=-1, name="testing", inner=Inner(a=2), z=-3, price=1.5, nums=[3, 270])
    text = str(msg.explain())
    for expected in [
        "field 1 `id` (int32)",
        "two's complement in 64 bits = -1",
        "length 7", "string (UTF-8): 'testing'",
        "field 3 `inner` (raw.Inner)",
        "zigzag: (5 >> 1) ^ -(5 & 1) = -3",
        "float: 1.5",
        "packed int32 values: [3, 270]",
    ]:
        assert expected in text, expected
    # the nested message's own tag is indented under its length
    steps = list(wire.explain(msg))
    assert max(step.depth for step in steps) == 1


def test_explain_steps_cover_every_byte_once():
    data = Outer(id=5, name="ab", inner=Inner(a=1), nums=[1]).encode()
    covered = b"".join(step.raw for step in wire.explain(data, Outer))
    assert covered == data


def test_explain_refuses_bad_input():
    with pytest.raises(wire.DecodeError):
        wire.explain(bytes.fromhex("12 05 61"))
