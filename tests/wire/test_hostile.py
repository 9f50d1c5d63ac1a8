"""Bad bytes from a peer: only wire.DecodeError, never IndexError, struct.error,
RecursionError or MemoryError, and no allocation driven by a length prefix."""

import time
import tracemalloc

import pytest
from hypothesis import given, settings, strategies as st

import wire
from wire.varint import encode_varint

Leaf = wire.message("hostile.Leaf", [
    wire.field("n", 1, "sint64"),
    wire.field("d", 2, "double"),
    wire.field("s", 3, "string"),
    wire.field("f", 4, "fixed32", repeated=True),
    wire.field("v", 5, "int32", repeated=True),
    wire.field("m", 6, map=("string", "bytes")),
])
_node = wire.MessageSchema(name="Node", full_name="hostile.Node")
_node.fields = [
    wire.FieldSchema("child", 1, wire.FieldType.MESSAGE, message_type=_node),
    wire.FieldSchema("leaf", 2, wire.FieldType.MESSAGE, message_type=Leaf._schema),
    wire.FieldSchema("leaves", 3, wire.FieldType.MESSAGE, message_type=Leaf._schema,
                     label=wire.Label.REPEATED),
]
Node = wire.message_class(_node)

SAMPLE = Node(
    child=Node(leaf=Leaf(n=-3, s="ünï", f=[1, 2], v=[-1, 300])),
    leaf=Leaf(d=2.5, m={"k": b"\x00v"}),
    leaves=[Leaf(n=1), Leaf(s="x" * 200)],
).encode()


def decode_everywhere(data: bytes) -> None:
    """Run every decoder of the package over ``data``."""
    for decode in (Node.decode, Leaf.decode, wire.decode_raw, wire.explain):
        try:
            decode(data)
        except wire.DecodeError:
            pass


def test_every_truncated_prefix_raises_only_decode_error():
    for cut in range(len(SAMPLE)):
        decode_everywhere(SAMPLE[:cut])
    # a prefix that ends inside a record is refused, not half-read
    with pytest.raises(wire.DecodeError):
        Node.decode(SAMPLE[:-1])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(data):
    decode_everywhere(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_input_raises_only_decode_error(data):
    buf = bytearray(SAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(buf) - 1))
        buf[index] = data.draw(st.integers(0, 255))
    decode_everywhere(bytes(buf))


def test_a_length_of_two_gib_fails_before_allocating():
    # field 3 (string), LEN, claiming 2 GiB, followed by a few bytes
    data = b"\x1a" + encode_varint(2**31) + b"abc"
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(wire.DecodeError, match="past the end"):
            Leaf.decode(data)
        with pytest.raises(wire.DecodeError):
            wire.decode_raw(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("depth", [101, 10_000])
def test_deep_nesting_is_a_decode_error_not_recursion_error(depth):
    data = b""
    for _ in range(depth):
        data = b"\x0a" + encode_varint(len(data)) + data   # child { child { ... } }
    with pytest.raises(wire.DecodeError, match="deeper than"):
        Node.decode(data)


def test_nesting_up_to_the_limit_is_fine():
    msg = Node()
    for _ in range(wire.DEFAULT_RECURSION_LIMIT - 1):
        msg = Node(child=msg)
    assert Node.decode(msg.encode()) == msg


def test_deeply_nested_unknown_groups_are_a_decode_error():
    data = b"\x0b" * 5000   # field 1 SGROUP, over and over
    with pytest.raises(wire.DecodeError):
        Leaf.decode(data)
    with pytest.raises(wire.DecodeError):
        wire.decode_raw(data)


HOSTILE_VECTORS = [
    ("invalid UTF-8 in a string field", "1a 02 c3 28", "UTF-8"),
    ("packed fixed32 of 3 bytes", "22 03 01 02 03", "multiple of 4"),
    ("double cut short", "11 00 00 00", "needs 8 bytes"),
    ("end-group without a start", "0c", "end-group"),
    ("group never closed", "5b 08 01", "no end-group"),
    ("group closed by another field", "5b 64", "closed by"),
    ("field number 0", "00 01", "field number 0"),
    ("wire type 7", "0f", "wire type 7"),
    ("varint of 11 bytes", "08" + " ff" * 10 + " 01", "longer than 10"),
    ("packed varints cut inside", "2a 01 80", "truncated varint"),
]


@pytest.mark.parametrize("why, hexed, reason", HOSTILE_VECTORS, ids=[r[0] for r in HOSTILE_VECTORS])
def test_hostile_vectors(why, hexed, reason):
    with pytest.raises(wire.DecodeError, match=reason):
        Leaf.decode(bytes.fromhex(hexed))


def test_a_submessage_cannot_read_past_its_own_length():
    # leaf (field 2) says length 2, but its record inside needs 3 bytes
    data = bytes.fromhex("12 02 08 96 01")
    with pytest.raises(wire.DecodeError):
        Node.decode(data)
