"""transport.hpack_blocks: repeated header blocks, encoded and decoded once.

The reference is hpack itself: the repeating coders must produce, block for
block, exactly what a plain hpack Encoder produces and exactly what a plain
Decoder returns or raises, whatever the sequence of blocks and table changes.
"""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.hpack_blocks import BLOCK_CACHE_LIMIT, RepeatingDecoder, RepeatingEncoder

# A gRPC-like request and response, as h2 hands them to the encoder.
REQUEST = [
    (b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/echo.Echo/Unary"),
    (b":authority", b"127.0.0.1:50051"), (b"content-type", b"application/grpc"),
    (b"te", b"trailers"), (b"user-agent", b"grpc-python-scratch/0.1"),
]
TRAILERS = [(b"grpc-status", b"0")]


def outcome(decoder, block):
    """What decoding gives: the headers (with their kind), or the exception's type."""
    try:
        return [(type(header).__name__, *header) for header in decoder.decode(block, raw=True)]
    except Exception as error:
        return type(error)


def fields(decoded) -> list:
    return [tuple(header[1:]) for header in decoded]


def count_field_encodings(monkeypatch) -> list:
    calls = []
    original = hpack.Encoder.add

    def counting_add(self, *args, **kwargs):
        calls.append(args[0])
        return original(self, *args, **kwargs)
    monkeypatch.setattr(hpack.Encoder, "add", counting_add)
    return calls


# --- Examples ------------------------------------------------------------------------------


def test_a_repeated_block_is_encoded_once_and_comes_out_the_same(monkeypatch):
    fields = count_field_encodings(monkeypatch)
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    first = encoder.encode(list(REQUEST))
    assert first == reference.encode(list(REQUEST))
    encoded_fields = len(fields)
    second = encoder.encode(list(REQUEST))
    third = encoder.encode(list(REQUEST))
    assert len(fields) == encoded_fields + len(REQUEST)  # the first repeat: still hpack's work
    assert second == third == reference.encode(list(REQUEST))
    assert len(second) == len(REQUEST)  # RFC 7541 §6.1: one byte per indexed field


def test_a_first_block_that_adds_to_the_table_is_not_kept():
    encoder = RepeatingEncoder()
    first = encoder.encode(list(REQUEST))
    assert encoder.encode(list(REQUEST)) != first  # literals the first time, indexes after


def test_a_new_field_changes_the_indexes_of_a_known_block():
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    for headers in (REQUEST, REQUEST, REQUEST + [(b"x-id", b"1")], REQUEST, REQUEST):
        assert encoder.encode(list(headers)) == reference.encode(list(headers))


def test_a_never_indexed_field_is_not_served_as_its_plain_twin():
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    plain = [(b"authorization", b"Bearer t")]
    secret = [hpack.NeverIndexedHeaderTuple(b"authorization", b"Bearer t")]
    assert encoder.encode(list(secret)) == reference.encode(list(secret))
    assert encoder.encode(list(secret))[0] & 0xF0 == 0x10  # §6.2.3: never indexed, even repeated
    for headers in (plain, plain, secret, plain, secret):
        assert encoder.encode(list(headers)) == reference.encode(list(headers))


def test_a_smaller_table_forgets_blocks_and_announces_its_size():
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    for coder in (encoder, reference):
        coder.encode(list(REQUEST))
        coder.encode(list(REQUEST))
        coder.header_table_size = 64   # h2 sets this from the peer's SETTINGS_HEADER_TABLE_SIZE
    block = encoder.encode(list(REQUEST))
    assert block == reference.encode(list(REQUEST))
    assert block[0] & 0xE0 == 0x20  # §6.3: the size update goes first
    assert encoder.encode(list(REQUEST)) == reference.encode(list(REQUEST))


def test_resizing_a_decoders_table_forgets_its_blocks():
    encoder, decoder = hpack.Encoder(), RepeatingDecoder()
    decoder.decode(encoder.encode(list(REQUEST)), raw=True)
    decoder.decode(encoder.encode(list(REQUEST)), raw=True)
    assert decoder.blocks_kept == 1
    decoder.header_table_size = 0   # every entry its block pointed to is evicted
    assert decoder.blocks_kept == 0 and decoder.header_table_size == 0


def test_a_repeated_block_decodes_to_equal_lists_that_do_not_share(monkeypatch):
    encoder = hpack.Encoder()
    decoder = RepeatingDecoder()
    decoder.decode(encoder.encode(list(REQUEST)), raw=True)
    block = encoder.encode(list(REQUEST))
    first = decoder.decode(block, raw=True)
    monkeypatch.setattr(hpack.Decoder, "_decode_indexed", None)   # a second decode must not need it
    second = decoder.decode(block, raw=True)
    assert [tuple(h) for h in first] == [tuple(h) for h in second] == REQUEST
    second.append((b"x", b"y"))
    assert decoder.decode(block, raw=True) == first


def test_a_known_block_over_a_lowered_header_list_limit_is_refused():
    encoder, decoder = hpack.Encoder(), RepeatingDecoder()
    decoder.decode(encoder.encode(list(REQUEST)), raw=True)
    block = encoder.encode(list(REQUEST))
    decoder.decode(block, raw=True)
    decoder.max_header_list_size = 100   # our SETTINGS_MAX_HEADER_LIST_SIZE, lowered and acknowledged
    with pytest.raises(hpack.OversizedHeaderListError):
        decoder.decode(block, raw=True)


def test_a_known_block_after_a_lowered_table_limit_is_refused_as_hpack_does():
    encoder = hpack.Encoder()
    ours, reference = RepeatingDecoder(), hpack.Decoder()
    blocks = [encoder.encode(list(REQUEST)), encoder.encode(list(REQUEST))]
    for decoder in (ours, reference):
        for block in blocks:
            decoder.decode(block, raw=True)
        decoder.max_allowed_table_size = 0   # the peer owes us a size update (§4.2)
    assert outcome(ours, blocks[1]) is outcome(reference, blocks[1]) is hpack.InvalidTableSizeError


def test_a_peer_sending_endless_new_blocks_keeps_the_caches_bounded():
    decoder, encoder = RepeatingDecoder(), RepeatingEncoder()
    static = [(b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"), (b":scheme", b"http"),
              (b":scheme", b"https"), (b":status", b"200"), (b":status", b"204"), (b":status", b"404")]
    for number in range(1, 5000):
        headers = [static[bit] for bit in range(len(static)) if number >> bit & 1]
        block = encoder.encode(list(headers))   # static table only: every block is kept
        assert decoder.decode(block, raw=True) == headers
        assert encoder.blocks_kept <= BLOCK_CACHE_LIMIT
        assert decoder.blocks_kept <= BLOCK_CACHE_LIMIT


def test_text_decoding_is_left_to_hpack():
    block = hpack.Encoder().encode(list(TRAILERS))
    assert RepeatingDecoder().decode(block) == [("grpc-status", "0")]


# --- Properties: the same bytes as hpack, whatever happens ------------------------------------

NAMES = [b":path", b"content-type", b"grpc-status", b"x-a", b"x-b", b"authorization"]
VALUES = [b"", b"0", b"/s/M", b"application/grpc", b"v" * 40, b"w" * 900]
FIELDS = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES))
BLOCKS = st.lists(st.one_of(
    FIELDS,
    FIELDS.map(lambda f: hpack.NeverIndexedHeaderTuple(*f)),
), max_size=6)
# A step: encode a block, or change the table size as a peer's SETTINGS would.
STEPS = st.lists(st.one_of(BLOCKS, st.sampled_from([0, 256, 1024, 4096])), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(range(6)), max_size=60).flatmap(
    lambda order: st.tuples(st.just(order), st.lists(BLOCKS, min_size=6, max_size=6))))
def test_repeating_blocks_encode_and_decode_as_hpack_does(order_and_blocks):
    order, pool = order_and_blocks   # a few blocks, used again and again in a random order
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    decoder, plain_decoder = RepeatingDecoder(), hpack.Decoder()
    for index in order:
        block = reference.encode(list(pool[index]))
        assert encoder.encode(list(pool[index])) == block
        decoded = outcome(decoder, block)
        assert decoded == outcome(plain_decoder, block)
        assert fields(decoded) == [tuple(h) for h in pool[index]]


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_table_size_changes_between_blocks_change_nothing(steps):
    encoder, reference = RepeatingEncoder(), hpack.Encoder()
    decoder, plain_decoder = RepeatingDecoder(), hpack.Decoder()
    for step in steps:
        if isinstance(step, int):
            encoder.header_table_size = reference.header_table_size = step
            continue
        block = reference.encode(list(step))
        assert encoder.encode(list(step)) == block
        assert outcome(decoder, block) == outcome(plain_decoder, block)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x82\x86\x84", b"\xbe", b"\xbf\xbe", b"\x3f\xe1\x1f", b"\x20\x82"]),
), max_size=12), st.sampled_from([0, 64, 4096]))
def test_random_and_truncated_blocks_decode_as_hpack_does(blocks, allowed_table_size):
    decoder, plain_decoder = RepeatingDecoder(), hpack.Decoder()
    valid = hpack.Encoder()
    for number, block in enumerate(blocks):
        if number % 3 == 2:   # mix in real blocks and their truncations
            whole = valid.encode(list(REQUEST))
            block = whole[: len(block) % (len(whole) + 1)]
        expected = outcome(plain_decoder, block)
        assert outcome(decoder, block) == expected
        if not isinstance(expected, list):
            return   # RFC 9113 §4.3: a decoding error ends the connection, and the table with it
        decoder.max_allowed_table_size = plain_decoder.max_allowed_table_size = allowed_table_size
