"""The two outputs (text, JSON Lines) and the in-process hook (observe)."""

from __future__ import annotations

import json

import h2.config
import h2.connection
import pytest

from transport.framing import encode_message
from transport.xray import (
    FrameSeen,
    HeaderBlockDecoded,
    MessageReassembled,
    Tracer,
    format_json,
    format_records,
    record_to_json,
)


def one_call(tracer_input):
    """A whole unary call between two h2 connections; every byte goes to `tracer_input(sender, data)`."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))

    def exchange():
        for sender, source, sink in (("client", client, server), ("server", server, client)):
            data = source.data_to_send()
            if data:
                tracer_input(sender, data)
                sink.receive_data(data)

    client.initiate_connection()
    server.initiate_connection()
    exchange()
    exchange()
    client.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/demo.Greeter/Hello"),
                            (":authority", "localhost"), ("te", "trailers"),
                            ("content-type", "application/grpc"), ("grpc-timeout", "250m")])
    client.send_data(1, encode_message(b"\x0a\x03ada"), end_stream=True)
    exchange()
    server.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    server.send_data(1, encode_message(b"\x0a\x02hi"))
    server.send_headers(1, [("grpc-status", "0")], end_stream=True)
    exchange()


@pytest.fixture
def records():
    tracer = Tracer()
    collected = []
    one_call(lambda sender, data: collected.extend(tracer.feed(sender, data)))
    return collected


def test_text_names_frames_headers_and_the_prefix(records):
    text = format_records(records)
    for expected in [
        "C->S  PREFACE",
        "C->S  SETTINGS  stream 0",
        "SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 65535",
        "S->C  SETTINGS  stream 0  length 0  flags ACK",
        "C->S  HEADERS  stream 1",
        "request headers (stream 1",
        ":method: POST",
        "indexed, static[3]",
        ":path: /demo.Greeter/Hello",
        "value Huffman",
        "= 0.25 s",
        "gRPC prefix 00 00 00 00 05 at +0: compressed-flag 0 (not compressed), message-length 5",
        "request message (stream 1, /demo.Greeter/Hello): 5 bytes",
        "0a 03 61 64 61",
        "trailers (stream 1",
        "grpc-status: 0",
        "= OK",
    ]:
        assert expected in text, expected
    assert "\x1b[" not in text


def test_colour_only_when_asked(records):
    coloured = format_records(records, color=True)
    assert "\x1b[36mC->S\x1b[0m" in coloured and "\x1b[35mS->C\x1b[0m" in coloured


def test_json_lines_one_object_each(records):
    lines = [format_json(record, connection=1) for record in records]
    objects = [json.loads(line) for line in lines]
    assert all("\n" not in line for line in lines)
    assert [o["event"] for o in objects][:2] == ["preface", "frame"]
    assert all(o["connection"] == 1 and o["sender"] in ("client", "server") for o in objects)
    headers = [o for o in objects if o["event"] == "headers"][0]
    method = headers["entries"][0]
    assert method["kind"] == "field" and method["name"] == ":method"
    assert method["representation"] == "indexed" and method["raw"] == "83"
    message = [o for o in objects if o["event"] == "message"][0]
    assert message["body"] == "0a03616461" and message["path"] == "/demo.Greeter/Hello"


def test_json_of_a_settings_frame(records):
    settings = next(r for r in records if isinstance(r, FrameSeen) and r.type_name == "SETTINGS")
    as_json = record_to_json(settings)
    assert as_json["event"] == "frame" and as_json["flag_names"] == []
    assert {"id": 4, "name": "SETTINGS_INITIAL_WINDOW_SIZE", "value": 65535} in as_json["details"]["settings"]


def test_observe_is_the_drivers_hook():
    """A client connection calls observe("sent"/"received", data); the records pile up and reach the sink."""
    seen = []
    tracer = Tracer(local_role="client", sink=seen.append)
    one_call(lambda sender, data: tracer.observe("sent" if sender == "client" else "received", data))
    assert seen == tracer.records
    assert any(isinstance(r, HeaderBlockDecoded) and r.sender == "client" for r in seen)
    assert [m.kind for m in seen if isinstance(m, MessageReassembled)] == ["request", "response"]


def test_observe_from_the_server_side():
    tracer = Tracer(local_role="server")
    one_call(lambda sender, data: tracer.observe("received" if sender == "client" else "sent", data))
    assert [m.sender for m in tracer.records if isinstance(m, MessageReassembled)] == ["client", "server"]


@pytest.mark.parametrize("bad", ["up", "", "CLIENT"])
def test_a_wrong_direction_is_the_callers_mistake(bad):
    with pytest.raises(ValueError):
        Tracer().observe(bad, b"")
