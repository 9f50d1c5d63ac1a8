"""Tests for transport.compression: identity, deflate (zlib wrapper), gzip (gzip wrapper)."""

import gzip
import os
import struct
import time
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.compression import (
    DEFLATE,
    GZIP,
    IDENTITY,
    SUPPORTED_ENCODINGS,
    accept_encoding_value,
    choose_encoding,
    compress,
    decompress,
    frame_message,
    message_payload,
    parse_accept_encoding,
)
from transport.errors import DecompressionError, MessageTooLarge, ProtocolError, UnsupportedEncoding
from transport.framing import LengthPrefixedMessage, MessageDecoder
from transport.status import StatusCode

MiB = 1024 * 1024
TEXT = b"the quick brown fox jumps over the lazy dog " * 50


def test_supported_encodings():
    assert SUPPORTED_ENCODINGS == ("identity", "deflate", "gzip")
    assert (IDENTITY, DEFLATE, GZIP) == ("identity", "deflate", "gzip")


# --- against the reference codecs of the standard library --------------------------


def test_gzip_is_the_gzip_format():
    # SPEC.md: gzip is the gzip wrapper (zlib wbits 16+15), RFC 1952.
    compressed = compress(GZIP, TEXT)
    assert compressed[:2] == b"\x1f\x8b"  # RFC 1952 ID1 ID2
    assert gzip.decompress(compressed) == TEXT


def test_deflate_is_the_zlib_format():
    # SPEC.md: deflate is the zlib wrapper (wbits 15), RFC 1950.
    compressed = compress(DEFLATE, TEXT)
    assert compressed[0] & 0x0F == 8  # RFC 1950 CM = 8: deflate
    assert (compressed[0] << 8 | compressed[1]) % 31 == 0  # FCHECK
    assert zlib.decompress(compressed) == TEXT


def test_identity_is_unchanged():
    assert compress(IDENTITY, TEXT) == TEXT
    assert decompress(IDENTITY, TEXT, max_length=len(TEXT)) == TEXT


@pytest.mark.parametrize("encoding, reference", [
    (GZIP, gzip.compress),
    (DEFLATE, zlib.compress),
])
def test_decompress_reads_reference_output(encoding, reference):
    assert decompress(encoding, reference(TEXT), max_length=len(TEXT)) == TEXT


@given(st.sampled_from(SUPPORTED_ENCODINGS), st.binary(max_size=2000))
def test_round_trip(encoding, data):
    assert decompress(encoding, compress(encoding, data), max_length=len(data)) == data


# --- limits ---------------------------------------------------------------------


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_limit_is_exact(encoding):
    data = bytes(1000)
    compressed = compress(encoding, data)
    assert decompress(encoding, compressed, max_length=1000) == data
    with pytest.raises(MessageTooLarge) as caught:
        decompress(encoding, compressed, max_length=999)
    assert caught.value.status is StatusCode.RESOURCE_EXHAUSTED


def _one_gib_gzip_bomb() -> bytes:
    """A valid gzip member of 1 GiB of zeros, built without compressing 1 GiB.

    After Z_FULL_FLUSH the compressor forgets its history, so every further
    MiB of zeros compresses to the same bytes; repeat them, then write the
    real CRC-32 and size in the RFC 1952 trailer. Deflate cannot beat about
    1032:1, so the bomb is about 1 MiB.
    """
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.compress(zeros) + compressor.flush()
    crc = 0
    for _ in range(1024):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (1024 * MiB) % 2**32)  # CRC32, ISIZE
    return first + middle * 1021 + last[:-8] + trailer


@pytest.fixture(scope="module")
def gzip_bomb():
    return _one_gib_gzip_bomb()


def test_the_bomb_is_real(gzip_bomb):
    # Inflate a stretch of it with the reference codec: zeros, and far more of
    # them than the bomb's own size.
    inflater = zlib.decompressobj(16 + 15)
    head = inflater.decompress(gzip_bomb, 64 * MiB)
    assert head == bytes(64 * MiB)
    assert len(gzip_bomb) < 1.1 * MiB


def test_gzip_bomb_stops_at_the_limit(gzip_bomb):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(MessageTooLarge):
            decompress(GZIP, gzip_bomb, max_length=4 * MiB)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert peak < 32 * MiB, f"allocated {peak} bytes"


def test_small_bomb_stops_at_the_limit():
    bomb = zlib.compress(bytes(MiB), 9)  # about 1 KiB inflating to 1 MiB
    assert len(bomb) < 1100
    with pytest.raises(MessageTooLarge):
        decompress(DEFLATE, bomb, max_length=64 * 1024)


def test_identity_over_the_limit():
    with pytest.raises(MessageTooLarge):
        decompress(IDENTITY, b"12345", max_length=4)


# --- bad input ------------------------------------------------------------------


BAD_DATA = [
    (GZIP, b"not gzip at all"),
    (DEFLATE, b"not zlib at all"),
    (GZIP, b""),  # empty: not even a header
    (DEFLATE, b""),
    (GZIP, gzip.compress(TEXT)[:-4]),  # truncated trailer
    (GZIP, gzip.compress(TEXT)[:20]),  # truncated body
    (DEFLATE, zlib.compress(TEXT)[:-1]),
    (GZIP, gzip.compress(TEXT) + b"junk"),  # trailing bytes
    (DEFLATE, zlib.compress(TEXT) + b"\x00"),
    (GZIP, zlib.compress(TEXT)),  # the wrong wrapper
    (DEFLATE, gzip.compress(TEXT)),
    (GZIP, gzip.compress(TEXT)[:-8] + b"\x00" * 8),  # bad CRC
]


@pytest.mark.parametrize("encoding, data", BAD_DATA)
def test_corrupt_data_is_a_decompression_error(encoding, data):
    # statuscodes.md: "Could not decompress, but compression algorithm supported | INTERNAL"
    with pytest.raises(DecompressionError) as caught:
        decompress(encoding, data, max_length=MiB)
    assert caught.value.status is StatusCode.INTERNAL


@given(st.sampled_from(SUPPORTED_ENCODINGS), st.binary(max_size=200))
def test_random_bytes_raise_only_typed_errors(encoding, data):
    try:
        decompress(encoding, data, max_length=100)
    except (DecompressionError, MessageTooLarge):
        pass


@given(st.sampled_from([GZIP, DEFLATE]), st.binary(min_size=1, max_size=500), st.data())
def test_truncated_data_is_a_decompression_error(encoding, data, draw):
    compressed = compress(encoding, data)
    cut = draw.draw(st.integers(min_value=0, max_value=len(compressed) - 1))
    with pytest.raises(DecompressionError):
        decompress(encoding, compressed[:cut], max_length=len(data))


@pytest.mark.parametrize("encoding", ["snappy", "br", "GZIP", "", "x-custom"])
def test_unknown_encoding(encoding):
    # compression.md: unsupported -> UNIMPLEMENTED, "its associated description
    # indicating the unsupported condition as well as the supported ones"
    for call in (lambda: compress(encoding, b"x"), lambda: decompress(encoding, b"x", max_length=9)):
        with pytest.raises(UnsupportedEncoding) as caught:
            call()
        assert caught.value.status is StatusCode.UNIMPLEMENTED
        assert repr(encoding) in str(caught.value)
        assert "identity, deflate, gzip" in str(caught.value)


# --- messages -------------------------------------------------------------------


def _decode_one(wire: bytes) -> LengthPrefixedMessage:
    [message] = MessageDecoder().feed(wire)
    return message


def test_frame_message_compresses_when_smaller():
    message = _decode_one(frame_message(TEXT, encoding=GZIP))
    assert message.compressed
    assert gzip.decompress(message.message) == TEXT


def test_frame_message_sends_incompressible_data_uncompressed():
    # SPEC.md: "A compressor may send a message uncompressed (flag 0) when that is smaller."
    data = os.urandom(200)
    message = _decode_one(frame_message(data, encoding=GZIP))
    assert not message.compressed and message.message == data


@pytest.mark.parametrize("encoding", [None, IDENTITY])
def test_frame_message_without_compression(encoding):
    message = _decode_one(frame_message(TEXT, encoding=encoding))
    assert not message.compressed and message.message == TEXT


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_message_payload_round_trip(encoding):
    message = _decode_one(frame_message(TEXT, encoding=encoding))
    assert message_payload(message, encoding=encoding, max_length=len(TEXT)) == TEXT


def test_message_payload_uncompressed_ignores_the_encoding():
    message = LengthPrefixedMessage(compressed=False, message=b"plain")
    assert message_payload(message, encoding=GZIP, max_length=1) == b"plain"


@pytest.mark.parametrize("encoding", [None, IDENTITY])
def test_compressed_flag_without_an_encoding_is_internal(encoding):
    # compression.md: "An ill-constructed message with its Compressed-Flag bit
    # set but lacking a grpc-encoding entry different from identity in its
    # metadata MUST fail with INTERNAL status"
    message = LengthPrefixedMessage(compressed=True, message=gzip.compress(b"x"))
    with pytest.raises(ProtocolError) as caught:
        message_payload(message, encoding=encoding, max_length=100)
    assert caught.value.status is StatusCode.INTERNAL
    assert "compressed-flag" in str(caught.value)


# --- negotiation ----------------------------------------------------------------


def test_accept_encoding_value():
    # Message-Accept-Encoding → "grpc-accept-encoding" Content-Coding *("," Content-Coding)
    assert accept_encoding_value() == "identity,deflate,gzip"
    assert accept_encoding_value(["gzip"]) == "gzip"


@pytest.mark.parametrize("value, expected", [
    ("identity,deflate,gzip", ("identity", "deflate", "gzip")),
    ("gzip", ("gzip",)),
    ("identity, gzip ,  snappy", ("identity", "gzip", "snappy")),  # HTTP list whitespace
    (b"identity,gzip", ("identity", "gzip")),
    ("GZip", ("gzip",)),
    ("gzip,,", ("gzip",)),
    ("", ()),
    (None, ()),
])
def test_parse_accept_encoding(value, expected):
    assert parse_accept_encoding(value) == expected


@given(st.lists(st.sampled_from(["identity", "deflate", "gzip", "snappy", "br"]), max_size=5))
def test_accept_encoding_round_trip(encodings):
    assert parse_accept_encoding(accept_encoding_value(encodings)) == tuple(encodings)


@pytest.mark.parametrize("wanted, peer_accepts, expected", [
    (GZIP, ("identity", "gzip"), GZIP),
    (DEFLATE, ("identity", "deflate", "gzip"), DEFLATE),
    # "Never compress with an encoding the peer did not list"
    (GZIP, ("identity", "deflate"), None),
    (GZIP, (), None),
    (None, ("gzip",), None),
    (IDENTITY, ("gzip",), None),
    # A client's first request: the server has not said what it accepts.
    (GZIP, None, GZIP),
])
def test_choose_encoding(wanted, peer_accepts, expected):
    assert choose_encoding(wanted, peer_accepts) == expected


def test_choose_an_unsupported_encoding():
    with pytest.raises(UnsupportedEncoding):
        choose_encoding("snappy", ("snappy",))
