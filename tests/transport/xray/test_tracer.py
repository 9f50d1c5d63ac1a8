"""The tracer, frame by frame: RFC 9113 §3.4 (preface), §4.1 (header), §6 (payloads).

Frames are built with hyperframe, the reference serializer our h2 uses, and
by hand (conftest.build_frame) where a frame must be wrong on purpose.
"""

from __future__ import annotations

import struct

import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from transport.xray import (
    CONNECTION_PREFACE,
    FrameSeen,
    ParseFailed,
    PrefaceSeen,
    Tracer,
)


def frames_of(records):
    return [record for record in records if isinstance(record, FrameSeen)]


def problems_of(records):
    return [record.what for record in records if isinstance(record, ParseFailed)]


def one_frame(tracer, frame, sender="server"):
    records = tracer.feed(sender, frame.serialize() if hasattr(frame, "serialize") else frame)
    seen = frames_of(records)
    assert len(seen) == 1
    return seen[0], problems_of(records)


# --- the preface ------------------------------------------------------------------


def test_the_preface_is_recognised_even_one_byte_at_a_time():
    tracer = Tracer()
    records = []
    for byte in CONNECTION_PREFACE:
        records += tracer.feed("client", bytes([byte]))
    assert records == [PrefaceSeen(sender="client", data=CONNECTION_PREFACE, valid=True)]


@pytest.mark.parametrize("first_bytes, says", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "TLS"),
    (b"PRI * HTTP/1.1\r\n", "differs"),
])
def test_a_wrong_preface_is_reported_and_the_direction_left_alone(first_bytes, says):
    tracer = Tracer()
    records = tracer.feed("client", first_bytes)
    assert isinstance(records[0], PrefaceSeen) and not records[0].valid
    assert says in problems_of(records)[0]
    assert tracer.feed("client", SettingsFrame(0).serialize()) == []  # no longer read
    assert frames_of(tracer.feed("server", SettingsFrame(0).serialize()))  # the other way still is


def test_the_server_sends_no_preface_string():
    tracer = Tracer()
    frame, problems = one_frame(tracer, SettingsFrame(0), sender="server")
    assert frame.type_name == "SETTINGS" and problems == []


def test_each_side_starts_with_settings():
    tracer = Tracer()
    records = tracer.feed("client", CONNECTION_PREFACE + PingFrame(0, b"\x00" * 8).serialize())
    assert "first frame of a connection preface must be SETTINGS" in problems_of(records)[0]
    _, problems = one_frame(tracer, WindowUpdateFrame(0, window_increment=1), sender="server")
    assert "must be SETTINGS" in problems[0]


# --- the frame header, §4.1 ----------------------------------------------------------


def test_frame_header_fields(started_tracer):
    data = DataFrame(5, b"\x00\x00\x00\x00\x00", flags=["END_STREAM"])
    frame, _ = one_frame(started_tracer, data, sender="client")
    assert (frame.type_name, frame.frame_type, frame.stream_id, frame.length) == ("DATA", 0, 5, 5)
    assert frame.flags == 0x1 and frame.flag_names == ("END_STREAM",)


def test_a_frame_split_anywhere_comes_out_once(started_tracer):
    data = PingFrame(0, opaque_data=b"abcdefgh").serialize()
    assert started_tracer.feed("client", data[:4]) == []
    assert started_tracer.feed("client", data[4:10]) == []
    frame, = frames_of(started_tracer.feed("client", data[10:]))
    assert frame.type_name == "PING" and frame.details["opaque_data"] == b"abcdefgh".hex()


def test_several_frames_in_one_read(started_tracer):
    data = SettingsFrame(0, flags=["ACK"]).serialize() + PingFrame(0, b"\x00" * 8).serialize()
    names = [f.type_name for f in frames_of(started_tracer.feed("server", data))]
    assert names == ["SETTINGS", "PING"]


@pytest.mark.parametrize("frame_type, flags, names", [
    (0x0, 0x09, ("END_STREAM", "PADDED")),  # §6.1
    (0x1, 0x25, ("END_STREAM", "END_HEADERS", "PRIORITY")),  # §6.2
    (0x4, 0x01, ("ACK",)),  # §6.5
    (0x6, 0x01, ("ACK",)),  # §6.7
    (0x9, 0x04, ("END_HEADERS",)),  # §6.10
    (0x8, 0x00, ()),  # §6.9: WINDOW_UPDATE defines no flags
    (0x6, 0x81, ("ACK", "0x80")),  # §4.1: undefined flags are shown, not judged
])
def test_flag_names_by_frame_type(frame_type, flags, names):
    from transport.xray.frames import flag_names

    assert flag_names(frame_type, flags) == names


def test_the_reserved_bit_is_reported(started_tracer, frame):
    raw = frame(0x8, 0, 0, b"\x00\x00\x00\x01")
    raw = raw[:5] + bytes([raw[5] | 0x80]) + raw[6:]
    seen, problems = one_frame(started_tracer, raw)
    assert seen.stream_id == 0 and "reserved bit" in problems[0]


# --- payloads, §6 -------------------------------------------------------------------------


def test_settings_values_are_named(started_tracer, frame):
    values = {1: 4096, 2: 0, 3: 100, 4: 65535, 5: 16384, 6: 8192, 0xFE03: 1, 0x77: 5}
    # By hand: hyperframe writes identifiers over 0xff wrongly (0xfe03 as 0x0003).
    payload = b"".join(struct.pack(">HI", identifier, value) for identifier, value in values.items())
    frame, problems = one_frame(started_tracer, frame(0x4, 0, 0, payload))
    named = {s["name"]: s["value"] for s in frame.details["settings"]}
    assert named == {
        "SETTINGS_HEADER_TABLE_SIZE": 4096, "SETTINGS_ENABLE_PUSH": 0,
        "SETTINGS_MAX_CONCURRENT_STREAMS": 100, "SETTINGS_INITIAL_WINDOW_SIZE": 65535,
        "SETTINGS_MAX_FRAME_SIZE": 16384, "SETTINGS_MAX_HEADER_LIST_SIZE": 8192,
        "GRPC_ALLOW_TRUE_BINARY_METADATA": 1, "UNKNOWN_SETTING_0x0077": 5,
    }
    assert problems == []


def test_settings_ack(started_tracer):
    frame, problems = one_frame(started_tracer, SettingsFrame(0, flags=["ACK"]))
    assert frame.flag_names == ("ACK",) and frame.details["settings"] == [] and problems == []


def test_bad_settings_are_reported(started_tracer, frame):
    _, problems = one_frame(started_tracer, frame(0x4, 0x1, 0, b"\x00\x01\x00\x00\x10\x00"))
    assert "ACK must be empty" in problems[0]
    seen, problems = one_frame(started_tracer, frame(0x4, 0, 0, b"\x00\x04\x00\x00\xff\xff\x00"))
    assert "not a multiple of 6" in problems[0]
    assert seen.details["settings"][0]["name"] == "SETTINGS_INITIAL_WINDOW_SIZE"
    _, problems = one_frame(started_tracer, frame(0x4, 0, 3, b""))
    assert "belongs to stream 0" in problems[0]


@pytest.mark.parametrize("code, name", [(0x0, "NO_ERROR"), (0x1, "PROTOCOL_ERROR"), (0x8, "CANCEL"),
                                        (0xB, "ENHANCE_YOUR_CALM"), (0xFF, "UNKNOWN_ERROR_0xff")])
def test_rst_stream_codes_by_name(started_tracer, code, name):
    frame, problems = one_frame(started_tracer, RstStreamFrame(1, error_code=code))
    assert (frame.details["error_code"], frame.details["error_name"]) == (code, name)
    assert problems == []


def test_goaway_fields(started_tracer):
    goaway = GoAwayFrame(0, last_stream_id=7, error_code=0xB, additional_data=b"too many pings")
    frame, _ = one_frame(started_tracer, goaway)
    assert frame.details == {"last_stream_id": 7, "error_code": 0xB,
                             "error_name": "ENHANCE_YOUR_CALM", "debug_data": "too many pings"}


def test_window_update(started_tracer):
    frame, problems = one_frame(started_tracer, WindowUpdateFrame(3, window_increment=65535))
    assert frame.details["window_size_increment"] == 65535 and problems == []
    _, problems = one_frame(started_tracer, b"\x00\x00\x04\x08\x00\x00\x00\x00\x03\x00\x00\x00\x00")
    assert "increment of 0" in problems[0]


def test_ping_and_its_ack(started_tracer):
    frame, _ = one_frame(started_tracer, PingFrame(0, opaque_data=b"12345678", flags=["ACK"]))
    assert frame.flag_names == ("ACK",) and frame.details["opaque_data"] == "3132333435363738"


def test_priority(started_tracer):
    frame, _ = one_frame(started_tracer, PriorityFrame(3, depends_on=1, stream_weight=15, exclusive=True))
    assert frame.details == {"exclusive": True, "stream_dependency": 1, "weight": 16}


def test_headers_with_padding_and_priority(started_tracer):
    headers = HeadersFrame(1, data=b"\x82", flags=["END_HEADERS", "PADDED", "PRIORITY"],
                           pad_length=3, depends_on=0, stream_weight=255)
    frame, problems = one_frame(started_tracer, headers, sender="client")
    assert frame.details["padding"] == 3
    assert frame.details["priority"] == {"exclusive": False, "stream_dependency": 0, "weight": 256}
    assert problems == []


def test_padded_data(started_tracer):
    data = DataFrame(1, data=b"\x00\x00\x00\x00\x00", flags=["PADDED"], pad_length=4)
    frame, problems = one_frame(started_tracer, data, sender="client")
    assert frame.details["padding"] == 4 and frame.details["data_length"] == 5 and problems == []


def test_push_promise(started_tracer):
    promise = PushPromiseFrame(1, promised_stream_id=2, data=b"\x82", flags=["END_HEADERS"])
    records = started_tracer.feed("server", promise.serialize())
    frame, = frames_of(records)
    assert frame.details["promised_stream_id"] == 2
    assert records[1].role == "push promise" and records[1].headers == [(":method", "GET")]


def test_unknown_frame_types_are_shown_and_ignored(started_tracer, frame):
    seen, problems = one_frame(started_tracer, frame(0xFA, 0x3, 0, b"\x01\x02"))
    assert seen.type_name == "UNKNOWN_0xfa" and seen.flag_names == ("0x03",)
    assert seen.details == {"payload": "01 02"} and problems == []


@pytest.mark.parametrize("frame_type, payload, says", [
    (0x3, b"\x00\x00\x08", "not 4"),  # RST_STREAM §6.4
    (0x6, b"\x00" * 7, "not 8"),  # PING §6.7
    (0x7, b"\x00" * 4, "less than 8"),  # GOAWAY §6.8
    (0x8, b"\x00", "not 4"),  # WINDOW_UPDATE §6.9
    (0x2, b"\x00" * 4, "not 5"),  # PRIORITY §6.3
])
def test_wrong_payload_sizes_are_reported(started_tracer, frame, frame_type, payload, says):
    stream = 0 if frame_type in (0x6, 0x7, 0x8) else 1
    _, problems = one_frame(started_tracer, frame(frame_type, 0, stream, payload))
    assert says in problems[0] and "FRAME_SIZE_ERROR" in problems[0]


def test_padding_longer_than_the_payload(started_tracer, frame):
    _, problems = one_frame(started_tracer, frame(0x0, 0x8, 1, b"\x09abc"), sender="client")
    assert "Pad Length 9" in problems[0]


def test_data_on_stream_zero(started_tracer, frame):
    _, problems = one_frame(started_tracer, frame(0x0, 0, 0, b""), sender="client")
    assert "stream 0" in problems[0]


# --- header blocks across frames, §4.3 ---------------------------------------------------


def test_a_header_block_continues_in_continuation_frames(started_tracer):
    block = bytes.fromhex("828684410f7777772e6578616d706c652e636f6d")  # RFC 7541 C.3.1
    records = started_tracer.feed("client", HeadersFrame(1, data=block[:3]).serialize())
    assert [type(r).__name__ for r in records] == ["FrameSeen"]
    records = started_tracer.feed("client", ContinuationFrame(1, data=block[3:9]).serialize())
    assert [type(r).__name__ for r in records] == ["FrameSeen"]
    records = started_tracer.feed("client", ContinuationFrame(1, data=block[9:], flags=["END_HEADERS"]).serialize())
    assert [type(r).__name__ for r in records] == ["FrameSeen", "HeaderBlockDecoded"]
    assert records[1].headers == [(":method", "GET"), (":scheme", "http"), (":path", "/"),
                                  (":authority", "www.example.com")]


def test_an_interrupted_header_block_is_reported(started_tracer):
    started_tracer.feed("client", HeadersFrame(1, data=b"\x82").serialize())
    records = started_tracer.feed("client", PingFrame(0, b"\x00" * 8).serialize())
    assert "interrupted before END_HEADERS" in problems_of(records)[0]
    records = started_tracer.feed("client", ContinuationFrame(1, data=b"\x82", flags=["END_HEADERS"]).serialize())
    assert "no header block open" in problems_of(records)[0]


def test_rst_stream_forgets_the_stream(started_tracer):
    started_tracer.feed("client", DataFrame(1, b"\x00\x00\x00").serialize())  # half a prefix
    started_tracer.feed("server", RstStreamFrame(1, error_code=8).serialize())
    records = started_tracer.feed("client", DataFrame(1, b"\x00\x00\x00\x00\x00", flags=["END_STREAM"]).serialize())
    assert problems_of(records) == []  # a fresh stream state, not the half prefix
