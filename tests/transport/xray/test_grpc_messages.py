"""gRPC messages in DATA frames: the 5-byte prefix, reassembly, compression, decoding.

PROTOCOL-HTTP2.md: Length-Prefixed-Message → Compressed-Flag Message-Length
Message, and "DATA frame boundaries have no relation to Length-Prefixed-Message
boundaries".
"""

from __future__ import annotations

import gzip
import zlib

import hpack
import pytest
from hyperframe.frame import DataFrame, HeadersFrame

import wire
from transport.framing import encode_message
from transport.xray import (
    FrameSeen,
    MessageReassembled,
    ParseFailed,
    Tracer,
    schema_formatter,
)
from transport.xray.__main__ import raw_text
from transport.xray.messages import MessageAssembler, MessageRead, PrefixRead

PATH = "/shop.Catalog/Find"
Query = wire.message("shop.Query", [wire.field("text", 1, "string"), wire.field("limit", 2, "int32")])
Item = wire.message("shop.Item", [wire.field("name", 1, "string"), wire.field("price", 2, "double")])
SCHEMA = {PATH: (Query.decode, Item.decode)}


def request_headers(encoder, path=PATH, encoding=None, stream_id=1):
    headers = [(":method", "POST"), (":scheme", "http"), (":path", path), ("content-type", "application/grpc")]
    if encoding:
        headers.append(("grpc-encoding", encoding))
    return HeadersFrame(stream_id, data=encoder.encode(headers), flags=["END_HEADERS"]).serialize()


def response_headers(encoder, encoding=None, stream_id=1):
    headers = [(":status", "200"), ("content-type", "application/grpc")]
    if encoding:
        headers.append(("grpc-encoding", encoding))
    return HeadersFrame(stream_id, data=encoder.encode(headers), flags=["END_HEADERS"]).serialize()


def data(payload, end_stream=False, stream_id=1):
    return DataFrame(stream_id, data=payload, flags=["END_STREAM"] if end_stream else []).serialize()


@pytest.fixture
def call(started_tracer):
    """A tracer in the middle of a call on stream 1, request headers already seen."""
    started_tracer.client_encoder = hpack.Encoder()
    started_tracer.server_encoder = hpack.Encoder()
    started_tracer.feed("client", request_headers(started_tracer.client_encoder))
    return started_tracer


def of(records, kind):
    return [r for r in records if isinstance(r, kind)]


# --- the assembler alone ----------------------------------------------------------------


def test_assembler_reports_prefixes_and_messages_in_any_split():
    stream = encode_message(b"abc") + encode_message(b"") + encode_message(b"0123456789")
    for cut in range(1, len(stream)):
        assembler = MessageAssembler()
        reads = assembler.feed(stream[:cut]) + assembler.feed(stream[cut:])
        bodies = [r.body for r in reads if isinstance(r, MessageRead)]
        assert bodies == [b"abc", b"", b"0123456789"], cut
        assert [r.message_length for r in reads if isinstance(r, PrefixRead)] == [3, 0, 10]
        assert assembler.partial is None


def test_assembler_keeps_at_most_its_limit():
    assembler = MessageAssembler(keep_limit=4)
    message, = [r for r in assembler.feed(encode_message(b"0123456789")) if isinstance(r, MessageRead)]
    assert (message.message_length, message.body, message.complete_body) == (10, b"0123", False)


def test_a_prefix_split_across_frames_is_offset_into_the_earlier_frame():
    assembler = MessageAssembler()
    framed = encode_message(b"xy")
    assert assembler.feed(framed[:2]) == []
    assert assembler.partial == "2 of the 5 prefix bytes"
    prefix, message = assembler.feed(framed[2:])
    assert prefix.offset == -2 and prefix.raw == framed[:5]
    assert message.body == b"xy" and message.frames == 2


# --- in the tracer ----------------------------------------------------------------------------


def test_a_message_split_over_three_data_frames(call):
    framed = encode_message(Query(text="pens", limit=3).encode())
    first = call.feed("client", data(framed[:3]))
    second = call.feed("client", data(framed[3:7]))
    third = call.feed("client", data(framed[7:], end_stream=True))
    assert of(first, MessageReassembled) == [] and of(second, MessageReassembled) == []
    assert "prefixes" not in of(first, FrameSeen)[0].details
    prefix, = of(second, FrameSeen)[0].details["prefixes"]
    assert prefix == {"offset": -3, "compressed_flag": 0, "message_length": len(framed) - 5,
                      "raw": framed[:5].hex(" ")}
    message, = of(third, MessageReassembled)
    assert (message.kind, message.path, message.frames) == ("request", PATH, 3)
    assert message.body == Query(text="pens", limit=3).encode() and message.decoded is None
    assert of(third, ParseFailed) == []


def test_two_messages_in_one_data_frame(call):
    framed = encode_message(b"\x08\x01") + encode_message(b"\x08\x02")
    records = call.feed("client", data(framed))
    prefixes = of(records, FrameSeen)[0].details["prefixes"]
    assert [p["offset"] for p in prefixes] == [0, 7]
    assert [m.body for m in of(records, MessageReassembled)] == [b"\x08\x01", b"\x08\x02"]


def test_messages_decoded_by_schema_both_ways():
    tracer = Tracer(body_formatter=schema_formatter(SCHEMA, fallback=raw_text))
    client, server = hpack.Encoder(), hpack.Encoder()
    tracer.feed("client", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + request_headers(client))
    request, = of(tracer.feed("client", data(encode_message(Query(text="pens", limit=3).encode()))),
                  MessageReassembled)
    tracer.feed("server", response_headers(server))
    response, = of(tracer.feed("server", data(encode_message(Item(name="pen", price=1.5).encode()))),
                   MessageReassembled)
    assert request.decoded == "Query(text='pens', limit=3)"
    assert (response.kind, response.decoded) == ("response", "Item(name='pen', price=1.5)")


def test_unknown_paths_fall_back_to_raw_decoding():
    tracer = Tracer(body_formatter=schema_formatter(SCHEMA, fallback=raw_text))
    tracer.feed("client", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + request_headers(hpack.Encoder(), path="/other.S/M"))
    nested = b"\x0a\x03abc\x10\x96\x01\x1a\x02\x08\x05"  # 1: "abc", 2: 150, 3 { 1: 5 }
    message, = of(tracer.feed("client", data(encode_message(nested))), MessageReassembled)
    assert message.decoded == '1: "abc"\n2: 150\n3 {\n  1: 5\n}'


def test_a_body_the_schema_rejects_is_shown_raw():
    tracer = Tracer(body_formatter=schema_formatter(SCHEMA, fallback=raw_text))
    tracer.feed("client", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + request_headers(hpack.Encoder()))
    message, = of(tracer.feed("client", data(encode_message(b"\x0a\x05ab"))), MessageReassembled)
    assert message.decoded.startswith("(does not decode by the schema")
    assert "not a protobuf message" in message.decoded


def test_a_formatter_that_raises_is_reported(call):
    def broken(path, kind, body):
        raise RuntimeError("boom")

    call.body_formatter = broken
    records = call.feed("client", data(encode_message(b"\x08\x01")))
    assert of(records, MessageReassembled)[0].decoded is None
    assert "boom" in of(records, ParseFailed)[0].what


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
])
def test_compressed_messages_are_inflated(started_tracer, encoding, compress):
    started_tracer.body_formatter = schema_formatter(SCHEMA)
    started_tracer.feed("client", request_headers(hpack.Encoder(), encoding=encoding))
    body = Query(text="x" * 200, limit=1).encode()
    framed = encode_message(compress(body), compressed=True)
    message, = of(started_tracer.feed("client", data(framed)), MessageReassembled)
    assert (message.compressed_flag, message.encoding, message.body) == (1, encoding, body)
    assert message.message_length == len(framed) - 5 < len(body)
    assert message.decoded == f"Query(text='{'x' * 200}', limit=1)"


def test_compressed_flag_without_an_encoding_is_reported(call):
    records = call.feed("client", data(encode_message(b"\x08\x01", compressed=True)))
    assert "no grpc-encoding" in of(records, ParseFailed)[0].what
    assert of(records, MessageReassembled)[0].body == b"\x08\x01"


def test_corrupt_compressed_data_is_reported(started_tracer):
    started_tracer.feed("client", request_headers(hpack.Encoder(), encoding="gzip"))
    records = started_tracer.feed("client", data(encode_message(b"not gzip", compressed=True)))
    assert "could not decompress (gzip)" in of(records, ParseFailed)[0].what


def test_an_invalid_compressed_flag_is_reported_and_reading_goes_on(call):
    records = call.feed("client", data(b"\x07\x00\x00\x00\x01\x08" + encode_message(b"\x08\x02")))
    assert "invalid compressed-flag 0x07" in of(records, ParseFailed)[0].what
    assert [m.body for m in of(records, MessageReassembled)] == [b"\x08", b"\x08\x02"]


def test_end_stream_inside_a_message_is_reported(call):
    records = call.feed("client", data(encode_message(b"\x08\x01\x10\x02")[:7], end_stream=True))
    assert "END_STREAM inside a message: the stream ended after 2 of 4 message bytes" in \
        of(records, ParseFailed)[0].what


def test_a_message_over_the_keep_limit_is_counted_not_kept(started_tracer):
    started_tracer.keep_limit = 8
    started_tracer.feed("client", request_headers(hpack.Encoder()))
    message, = of(started_tracer.feed("client", data(encode_message(bytes(100)))), MessageReassembled)
    assert (message.message_length, message.shown_length, len(message.body)) == (100, 8, 8)


def test_streams_are_kept_apart(started_tracer):
    encoder = hpack.Encoder()
    started_tracer.feed("client", request_headers(encoder, path="/a.S/One", stream_id=1))
    started_tracer.feed("client", request_headers(encoder, path="/a.S/Two", stream_id=3))
    one, three = encode_message(b"\x08\x01"), encode_message(b"\x08\x03")
    records = started_tracer.feed("client", data(one[:4], stream_id=1) + data(three, stream_id=3)
                                  + data(one[4:], stream_id=1))
    assert [(m.stream_id, m.path, m.body) for m in of(records, MessageReassembled)] == [
        (3, "/a.S/Two", b"\x08\x03"), (1, "/a.S/One", b"\x08\x01"),
    ]
