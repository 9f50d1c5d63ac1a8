"""Tests for transport.metadata: Custom-Metadata keys, ASCII values, -bin base64."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.errors import InvalidMetadata, ProtocolError
from transport.metadata import (
    decode_binary_value,
    decode_metadata,
    encode_binary_value,
    encode_metadata,
    header_text,
)
from transport.status import StatusCode

# RFC 4648 §10 test vectors, without the padding we must not emit
# (PROTOCOL-HTTP2.md: "should emit un-padded values").
BASE64_ROWS = [
    (b"", "", ""),
    (b"f", "Zg", "Zg=="),
    (b"fo", "Zm8", "Zm8="),
    (b"foo", "Zm9v", "Zm9v"),
    (b"foob", "Zm9vYg", "Zm9vYg=="),
    (b"fooba", "Zm9vYmE", "Zm9vYmE="),
    (b"foobar", "Zm9vYmFy", "Zm9vYmFy"),
    (b"\xfb\xff", "+/8", "+/8="),  # the standard alphabet (§4), not the URL-safe one
]


@pytest.mark.parametrize("raw, unpadded, padded", BASE64_ROWS)
def test_encode_binary_value_is_unpadded(raw, unpadded, padded):
    assert encode_binary_value(raw) == unpadded


@pytest.mark.parametrize("raw, unpadded, padded", BASE64_ROWS)
def test_decode_binary_value_accepts_padded_and_unpadded(raw, unpadded, padded):
    # "Implementations MUST accept padded and un-padded values"
    assert decode_binary_value(unpadded) == raw
    assert decode_binary_value(padded) == raw
    assert decode_binary_value(padded.encode()) == raw


@pytest.mark.parametrize("value", ["Z", "Zm9vY", "Zm9v!", "Zm=9v", "-_8", "Zm9v\u00e9", "Zg===="])
def test_decode_binary_value_rejects_non_base64(value):
    with pytest.raises(ProtocolError) as caught:
        decode_binary_value(value)
    assert caught.value.status is StatusCode.INTERNAL


VALID = [
    # Header-Name → 1*( %x30-39 / %x61-7A / "_" / "-" / ".")
    ([("key", "value")], [("key", "value")]),
    ([("0-9_a.z", "v")], [("0-9_a.z", "v")]),
    # ASCII-Value → 1*( %x20-%x7E ): space and printable ASCII
    ([("k", "a value ~!%")], [("k", "a value ~!%")]),
    ([("k", "")], [("k", "")]),  # empty values are accepted (HTTP allows them)
    # Binary-Header → {Header-Name "-bin" } {base64 encoded value}
    ([("trace-proto-bin", b"\x00\xff\x10")], [("trace-proto-bin", "AP8Q")]),
    ([("k-bin", bytearray(b"ab"))], [("k-bin", "YWI")]),
    # Repeated keys are kept, in order.
    ([("k", "1"), ("other", "x"), ("k", "2")], [("k", "1"), ("other", "x"), ("k", "2")]),
    # user-agent is not reserved (build_request_headers merges it).
    ([("user-agent", "me/1")], [("user-agent", "me/1")]),
    ([], []),
]


@pytest.mark.parametrize("metadata, headers", VALID)
def test_encode_metadata(metadata, headers):
    assert encode_metadata(metadata) == headers


INVALID = [
    # (metadata, words the error message must contain)
    ([("Key", "v")], ["'Key'", "uppercase", "'key'"]),  # nothing lowercased silently
    ([("X-Custom", "v")], ["uppercase", "'x-custom'"]),
    ([("", "v")], ["empty"]),
    ([("has space", "v")], ["'has space'", "0-9 a-z _ - ."]),
    ([("k/v", "v")], ["'k/v'", "0-9 a-z _ - ."]),
    ([("ключ", "v")], ["0-9 a-z _ - ."]),
    ([(":path", "/x")], ["':path'", "pseudo-header"]),
    # "Header names starting with 'grpc-' ... are reserved"
    ([("grpc-status", "0")], ["'grpc-status'", "reserved"]),
    ([("grpc-custom", "x")], ["reserved"]),
    # RFC 9113 §8.2.2 connection-specific headers
    ([("connection", "close")], ["'connection'", "connection-specific"]),
    ([("transfer-encoding", "chunked")], ["connection-specific"]),
    ([("keep-alive", "1")], ["connection-specific"]),
    ([("upgrade", "h2c")], ["connection-specific"]),
    ([("proxy-connection", "x")], ["connection-specific"]),
    ([("te", "trailers")], ["'te'", "transport"]),
    ([("content-type", "text/plain")], ["'content-type'", "transport"]),
    # Values
    ([("k", "caf\u00e9")], ["'k'", "0x20-0x7E"]),
    ([("k", "a\tb")], ["'k'", "0x20-0x7E"]),
    ([("k", "line\n")], ["0x20-0x7E"]),
    ([("k", "\x7f")], ["0x20-0x7E"]),
    ([("k", " padded")], ["whitespace"]),
    ([("k", "padded ")], ["whitespace"]),
    ([("k", b"bytes")], ["'k'", "bytes", "-bin"]),
    ([("k-bin", "text")], ["'k-bin'", "bytes"]),
    ([("k", 5)], ["'k'", "int"]),
    ([(b"k", "v")], ["must be a str"]),
    ([("k",)], ["pairs"]),
    (["kv"], ["pairs"]),
]


@pytest.mark.parametrize("metadata, words", INVALID)
def test_encode_metadata_refuses(metadata, words):
    with pytest.raises(InvalidMetadata) as caught:
        encode_metadata(metadata)
    for word in words:
        assert word in str(caught.value)


DECODE_ROWS = [
    # Pseudo-headers, grpc-* and call-definition headers are the transport's.
    (
        [(":method", "POST"), (":path", "/a/b"), ("te", "trailers"),
         ("content-type", "application/grpc"), ("grpc-timeout", "1S"),
         ("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip"),
         ("grpc-status", "0"), ("grpc-message", "x"),
         ("grpc-status-details-bin", "AAA"), ("k", "v")],
        (("k", "v"),),
    ),
    # user-agent is handed to the application (it reads and forwards it).
    ([("user-agent", "grpc-python/1.0")], (("user-agent", "grpc-python/1.0"),)),
    # Bytes, as h2 delivers them.
    ([(b"k", b"v"), (b"k-bin", b"AAE")], (("k", "v"), ("k-bin", b"\x00\x01"))),
    # "Implementations MUST accept padded and un-padded values"
    ([("k-bin", "AAE="), ("k-bin", "AAE")], (("k-bin", b"\x00\x01"), ("k-bin", b"\x00\x01"))),
    # "Implementations must split Binary-Headers on ',' before decoding"
    ([("k-bin", "Zg==,Zm8")], (("k-bin", b"f"), ("k-bin", b"fo"))),
    ([("k-bin", "Zg, Zm8")], (("k-bin", b"f"), ("k-bin", b"fo"))),
    ([("k-bin", "")], (("k-bin", b""),)),
    # ASCII values joined with "," cannot be split (commas are legal in them).
    ([("k", "a,b")], (("k", "a,b"),)),
    # "If it contains leading or trailing whitespace, it may be stripped."
    ([("k", "  v v  ")], (("k", "v v"),)),
    # "invalid ASCII-Value that's a valid field-value in HTTP ... may throw the value away"
    ([("k", b"caf\xc3\xa9"), ("j", "ok")], (("j", "ok"),)),
    ([("k", b"\xff")], ()),
    ([("k", "a\tb")], ()),
    # Names that are not a Header-Name are not custom metadata.
    ([("bad name", "v"), ("k!", "v"), ("UPPER", "v")], ()),
    # Connection-specific headers (RFC 9113 §8.2.2) are not metadata.
    ([("connection", "close")], ()),
    ([], ()),
]


@pytest.mark.parametrize("headers, expected", DECODE_ROWS)
def test_decode_metadata(headers, expected):
    assert decode_metadata(headers) == expected


@pytest.mark.parametrize("value", ["!!!", "Zg,!!", "Z", b"\xff\xfe"])
def test_decode_metadata_bad_base64_fails_the_call(value):
    with pytest.raises(ProtocolError) as caught:
        decode_metadata([("k-bin", value)])
    assert caught.value.status is StatusCode.INTERNAL


def test_header_text_keeps_every_byte():
    raw = bytes(range(256))
    assert header_text(raw).encode("utf-8", "surrogateescape") == raw
    assert header_text("str") == "str"


# --- properties ------------------------------------------------------------------

keys = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz_-.", min_size=1, max_size=12).filter(
    lambda key: not key.startswith("grpc-")
    and key not in {"te", "content-type", "connection", "keep-alive", "proxy-connection",
                    "transfer-encoding", "upgrade"}
)
ascii_values = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], max_size=20).map(str.strip)
pairs = st.one_of(
    st.tuples(keys.filter(lambda k: not k.endswith("-bin")), ascii_values),
    st.tuples(keys.map(lambda k: k + "-bin"), st.binary(max_size=20)),
)


@given(st.binary(max_size=100))
def test_binary_value_round_trip(raw):
    encoded = encode_binary_value(raw)
    assert "=" not in encoded
    assert decode_binary_value(encoded) == raw


@given(st.lists(pairs, max_size=8))
def test_metadata_round_trip(metadata):
    assert decode_metadata(encode_metadata(metadata)) == tuple(metadata)


@given(st.lists(st.binary(max_size=10), min_size=1, max_size=5))
def test_comma_joined_binary_values_split(values):
    joined = ",".join(encode_binary_value(v) for v in values)
    assert decode_metadata([("k-bin", joined)]) == tuple(("k-bin", v) for v in values)


header_lists = st.lists(
    st.tuples(st.one_of(st.binary(max_size=12), keys, keys.map(lambda k: k + "-bin")),
              st.one_of(st.binary(max_size=20), st.text(max_size=20))),
    max_size=6,
)


@given(header_lists)
def test_decode_raises_only_protocol_errors_and_its_output_can_be_echoed(headers):
    # "care must be taken to make sure that the application is permitted to
    # echo the value back as metadata"
    try:
        metadata = decode_metadata(headers)
    except ProtocolError:
        return
    assert decode_metadata(encode_metadata(metadata)) == metadata
