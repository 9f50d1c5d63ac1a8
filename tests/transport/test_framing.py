"""Tests for transport.framing: Length-Prefixed-Message, in any split."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.errors import MessageTooLarge, ProtocolError
from transport.framing import (
    DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    DEFAULT_MAX_SEND_MESSAGE_LENGTH,
    MESSAGE_PREFIX,
    LengthPrefixedMessage,
    MessageDecoder,
    encode_message,
    explain,
)
from transport.status import StatusCode

# PROTOCOL-HTTP2.md: Compressed-Flag (1 byte) Message-Length (4 bytes, big endian) Message
ENCODINGS = [
    (b"", False, b"\x00\x00\x00\x00\x00"),
    (b"\x08\x96\x01", False, b"\x00\x00\x00\x00\x03\x08\x96\x01"),
    (b"zz", True, b"\x01\x00\x00\x00\x02zz"),  # "A Compressed-Flag value of 1 ..."
    (b"a" * 256, False, b"\x00\x00\x00\x01\x00" + b"a" * 256),  # big endian
    (b"b" * 0x010203, False, b"\x00\x00\x01\x02\x03" + b"b" * 0x010203),
]


@pytest.mark.parametrize("message, compressed, wire", ENCODINGS)
def test_encode_message(message, compressed, wire):
    assert encode_message(message, compressed=compressed) == wire


@pytest.mark.parametrize("message, compressed, wire", ENCODINGS)
def test_decode_message(message, compressed, wire):
    decoder = MessageDecoder()
    assert decoder.feed(wire) == [LengthPrefixedMessage(compressed=compressed, message=message)]
    assert decoder.buffered == 0
    decoder.close()


def test_constants():
    assert MESSAGE_PREFIX.size == 5
    assert DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH == 4 * 1024 * 1024
    assert DEFAULT_MAX_SEND_MESSAGE_LENGTH == 2**31 - 1


def test_encode_accepts_bytes_like():
    assert encode_message(bytearray(b"ab")) == encode_message(memoryview(b"ab")) == b"\x00\x00\x00\x00\x02ab"


def test_encode_refuses_a_message_over_the_send_limit():
    encode_message(b"x" * 10, max_message_length=10)
    with pytest.raises(MessageTooLarge) as caught:
        encode_message(b"x" * 11, max_message_length=10)
    assert caught.value.status is StatusCode.RESOURCE_EXHAUSTED
    assert "11" in str(caught.value) and "10" in str(caught.value)


def test_byte_at_a_time():
    # "DATA frame boundaries have no relation to Length-Prefixed-Message boundaries"
    messages = [b"first", b"", b"\x00" * 300, b"last"]
    wire = b"".join(encode_message(m, compressed=i % 2 == 1) for i, m in enumerate(messages))
    decoder = MessageDecoder()
    decoded = []
    for byte in wire:
        decoded += decoder.feed(bytes([byte]))
    assert [m.message for m in decoded] == messages
    assert [m.compressed for m in decoded] == [False, True, False, True]
    decoder.close()


def test_empty_message_is_complete_as_soon_as_its_prefix_is():
    decoder = MessageDecoder()
    assert decoder.feed(b"\x00\x00\x00\x00") == []
    assert decoder.buffered == 4
    assert decoder.feed(b"\x00") == [LengthPrefixedMessage(compressed=False, message=b"")]
    assert decoder.buffered == 0


def test_feeding_nothing_returns_nothing():
    decoder = MessageDecoder()
    assert decoder.feed(b"") == []
    decoder.close()


def test_buffered_counts_the_incomplete_message():
    decoder = MessageDecoder()
    wire = encode_message(b"hello")
    assert decoder.feed(wire[:3]) == []
    assert decoder.buffered == 3
    assert decoder.feed(wire[3:7]) == []
    assert decoder.buffered == 7
    assert len(decoder.feed(wire[7:] + wire[:2])) == 1
    assert decoder.buffered == 2


def test_length_is_checked_on_the_prefix_before_any_message_byte():
    decoder = MessageDecoder(max_message_length=100)
    with pytest.raises(MessageTooLarge) as caught:
        decoder.feed(MESSAGE_PREFIX.pack(0, 101))  # the prefix alone, no body
    assert caught.value.status is StatusCode.RESOURCE_EXHAUSTED
    # The message names both sizes.
    assert "101" in str(caught.value) and "100" in str(caught.value)


def test_a_four_gib_claim_is_refused_without_allocating():
    decoder = MessageDecoder()
    with pytest.raises(MessageTooLarge):
        decoder.feed(b"\x00\xff\xff\xff\xff" + b"x" * 1000)
    assert decoder.buffered < 1000


def test_message_at_the_limit_is_accepted():
    decoder = MessageDecoder(max_message_length=100)
    assert decoder.feed(encode_message(b"x" * 100))[0].message == b"x" * 100


@pytest.mark.parametrize("flag", [2, 3, 0x80, 0xFF])
def test_compressed_flag_must_be_0_or_1(flag):
    # PROTOCOL-HTTP2.md: Compressed-Flag → 0 / 1
    decoder = MessageDecoder()
    with pytest.raises(ProtocolError) as caught:
        decoder.feed(bytes([flag]) + b"\x00\x00\x00\x01x")
    assert type(caught.value) is ProtocolError
    assert caught.value.status is StatusCode.INTERNAL


def test_decoder_stays_failed_after_an_error():
    decoder = MessageDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(b"\x07\x00\x00\x00\x00")
    with pytest.raises(ProtocolError):
        decoder.feed(encode_message(b"fine"))
    with pytest.raises(ProtocolError):
        decoder.close()


@pytest.mark.parametrize("cut", [1, 4, 5, 9])
def test_close_in_the_middle_of_a_message_is_an_error(cut):
    # At END_STREAM, a partial message means the stream was truncated.
    decoder = MessageDecoder()
    decoder.feed(encode_message(b"twelve bytes")[:cut])
    with pytest.raises(ProtocolError, match="truncated") as caught:
        decoder.close()
    assert caught.value.status is StatusCode.INTERNAL


def test_close_between_messages_is_fine():
    decoder = MessageDecoder()
    decoder.feed(encode_message(b"a") + encode_message(b"b"))
    decoder.close()


def test_large_message_in_small_chunks_is_linear():
    # A 16 MiB message in 4 KiB pieces: re-buffering the whole message per
    # piece would copy ~32 GiB here and take many seconds.
    size, chunk = 16 * 1024 * 1024, 4 * 1024
    wire = encode_message(bytes(size))
    decoder = MessageDecoder(max_message_length=size)
    started = time.perf_counter()
    decoded = []
    for start in range(0, len(wire), chunk):
        decoded += decoder.feed(wire[start:start + chunk])
    elapsed = time.perf_counter() - started
    assert len(decoded) == 1 and len(decoded[0].message) == size
    assert elapsed < 1.5, f"took {elapsed:.2f}s"


@given(
    messages=st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=20),
)
def test_round_trip_with_random_splits(messages, cuts):
    wire = b"".join(encode_message(m, compressed=c) for c, m in messages)
    points = sorted({min(cut, len(wire)) for cut in cuts} | {0, len(wire)})
    decoder = MessageDecoder()
    decoded = []
    for start, end in zip(points, points[1:]):
        decoded += decoder.feed(wire[start:end])
    decoder.close()
    assert [(m.compressed, m.message) for m in decoded] == messages


@given(data=st.binary(max_size=200), limit=st.integers(min_value=0, max_value=100))
def test_random_bytes_raise_only_protocol_errors(data, limit):
    decoder = MessageDecoder(max_message_length=limit)
    try:
        for message in decoder.feed(data):
            assert len(message.message) <= limit
        decoder.close()
    except ProtocolError:
        pass


@given(messages=st.lists(st.binary(max_size=50), min_size=1, max_size=4), data=st.data())
def test_truncated_stream_fails_at_close(messages, data):
    wire = b"".join(encode_message(m) for m in messages)
    cut = data.draw(st.integers(min_value=0, max_value=len(wire) - 1))
    boundaries = {0}
    for m in messages:
        boundaries.add(max(boundaries) + 5 + len(m))
    decoder = MessageDecoder()
    decoder.feed(wire[:cut])
    if cut in boundaries:
        decoder.close()
    else:
        with pytest.raises(ProtocolError):
            decoder.close()


def test_explain_shows_prefix_and_message():
    text = explain(encode_message(b"\x08\x96\x01"))
    assert text.splitlines() == [
        "message 1 at offset 0",
        "  compressed-flag  00           = 0 (not compressed)",
        "  message-length   00 00 00 03  = 3 bytes",
        "  message          08 96 01",
    ]


def test_explain_walks_several_messages_and_flags_problems():
    text = explain(encode_message(b"a" * 40, compressed=True) + b"\x05\x00\x00\x01\x00ab" + b"")
    assert "message 2 at offset 45" in text
    assert "1 (compressed" in text
    assert "(24 more bytes)" in text
    assert "INVALID" in text
    assert "TRUNCATED: only 2 of 256 bytes present" in text


def test_explain_incomplete_prefix_and_empty_input():
    assert "incomplete prefix 00 00: 2 of 5 bytes" in explain(b"\x00\x00")
    assert explain(b"") == "(no bytes)"


@given(st.binary(max_size=100))
def test_explain_never_raises(data):
    assert isinstance(explain(data), str)


def test_a_whole_message_over_the_limit_in_one_piece_is_refused_and_stays_refused():
    decoder = MessageDecoder(max_message_length=10)
    with pytest.raises(MessageTooLarge):
        decoder.feed(encode_message(b"x" * 11))
    with pytest.raises(MessageTooLarge):
        decoder.feed(encode_message(b"fine"))
