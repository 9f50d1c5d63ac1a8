"""Whatever the bytes, the tracer annotates what it can and never raises.

Property tests (hypothesis): random bytes, random frames with random
payloads, a real conversation cut short or corrupted at random, and any
split of a conversation giving the same records as the whole.
"""

from __future__ import annotations

import struct

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from transport.framing import encode_message
from transport.xray import CONNECTION_PREFACE, ParseFailed, Tracer, format_json, format_records
from transport.xray.hpack_reader import HeaderBlockReader

SENDERS = st.sampled_from(["client", "server"])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw_text(data: bytes) -> str:  # a formatter that reads the bytes, like a schema would
    return data.hex()


def build_conversation() -> list[tuple[str, bytes]]:
    encoder, server_encoder = hpack.Encoder(), hpack.Encoder()
    request = encoder.encode([(":method", "POST"), (":path", "/a.B/C"), ("grpc-encoding", "gzip")])
    response = server_encoder.encode([(":status", "200")])
    trailers = server_encoder.encode([("grpc-status", "0")])
    return [
        ("client", CONNECTION_PREFACE + SettingsFrame(0, settings={1: 4096}).serialize()),
        ("server", SettingsFrame(0).serialize()),
        ("client", HeadersFrame(1, data=request, flags=["END_HEADERS"]).serialize()),
        ("client", DataFrame(1, data=encode_message(b"\x08\x01" * 10), flags=["END_STREAM"]).serialize()),
        ("server", HeadersFrame(1, data=response, flags=["END_HEADERS"]).serialize()),
        ("server", DataFrame(1, data=encode_message(b"\x12\x02hi")).serialize()),
        ("server", HeadersFrame(1, data=trailers, flags=["END_HEADERS", "END_STREAM"]).serialize()),
    ]


CONVERSATION = build_conversation()


def feed_all(tracer, chunks):
    records = []
    for sender, data in chunks:
        records += tracer.feed(sender, data)
    # feed() turns an exception of its own into a record, so that a proxy goes
    # on; here that record would mean a bug, so none may appear.
    assert not [r for r in records if isinstance(r, ParseFailed) and "the tracer failed" in r.what]
    format_records(records, color=True)  # the outputs must not fail either
    for record in records:
        format_json(record)
    return records


@FAST
@given(st.lists(st.tuples(SENDERS, st.binary(max_size=200)), max_size=8))
def test_random_bytes(chunks):
    feed_all(Tracer(body_formatter=lambda p, k, b: raw_text(b)), chunks)


@FAST
@given(st.lists(st.tuples(SENDERS, st.integers(0, 0x12), st.integers(0, 255), st.integers(0, 7),
                          st.binary(max_size=60)), max_size=10))
def test_random_frames_after_a_preface(frames):
    tracer = Tracer(body_formatter=lambda p, k, b: raw_text(b))
    tracer.feed("client", CONNECTION_PREFACE)
    chunks = [(sender, struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload)
              for sender, kind, flags, stream, payload in frames]
    feed_all(tracer, chunks)


@FAST
@given(st.integers(0, len(CONVERSATION)), st.data())
def test_a_conversation_cut_short_or_corrupted(keep, data):
    chunks = [list(chunk) for chunk in CONVERSATION[:keep]]
    for chunk in chunks:
        if chunk[1] and data.draw(st.booleans()):
            position = data.draw(st.integers(0, len(chunk[1]) - 1))
            chunk[1] = chunk[1][:position] + bytes([data.draw(st.integers(0, 255))]) + chunk[1][position + 1:]
        if data.draw(st.booleans()):
            chunk[1] = chunk[1][:data.draw(st.integers(0, len(chunk[1])))]
    feed_all(Tracer(body_formatter=lambda p, k, b: raw_text(b)), [tuple(chunk) for chunk in chunks])


@FAST
@given(st.data())
def test_any_split_gives_the_same_records(data):
    whole = feed_all(Tracer(), CONVERSATION)
    pieces = []
    for sender, chunk in CONVERSATION:
        cuts = sorted(data.draw(st.lists(st.integers(0, len(chunk)), max_size=4)))
        bounds = [0, *cuts, len(chunk)]
        pieces += [(sender, chunk[a:b]) for a, b in zip(bounds, bounds[1:])]
    split = feed_all(Tracer(), pieces)
    # DATA prefix offsets depend on the frame, never on how reads split the bytes
    assert split == whole
    assert not [r for r in whole if isinstance(r, ParseFailed)]


@FAST
@given(st.binary(max_size=300))
def test_random_header_blocks(block):
    reader = HeaderBlockReader()
    decoded = reader.read(block)
    assert decoded.complete or decoded.problems
    reader.read(block)  # and again, with whatever the table became
