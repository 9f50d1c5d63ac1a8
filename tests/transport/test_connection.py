"""Tests of the sans-IO connection core: no sockets, bytes handed over by hand.

Three kinds of peer:
- our own ClientConnection and ServerConnection, wired back to back (`Pair`);
- a raw `h2.connection.H2Connection` playing a hostile or unusual client or
  server, so a test can send exactly the frames it wants;
- the same exchanges fed one byte at a time, as h11's tests do.
"""

from __future__ import annotations

import random
import struct

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport import events as ev
from transport.connection import (
    KNOWN_HEADS_LIMIT,
    ClientConnection,
    ServerConnection,
    StreamStateError,
    _GoAwaySplitter,
    malformed_field_section,
)
from transport.errors import MessageTooLarge, ProtocolError
from transport.framing import MESSAGE_PREFIX
from transport.status import Http2ErrorCode, StatusCode

PATH = "/test.Echo/Call"
AUTHORITY = "localhost"

GOOD_REQUEST = [
    (":method", "POST"), (":scheme", "http"), (":path", PATH), (":authority", AUTHORITY),
    ("te", "trailers"), ("content-type", "application/grpc"),
]


# --- Helpers -----------------------------------------------------------------------


def prefixed(message: bytes, *, compressed_flag: int = 0, length: int | None = None) -> bytes:
    """A Length-Prefixed-Message, with a flag and length of the test's choosing."""
    return MESSAGE_PREFIX.pack(compressed_flag, len(message) if length is None else length) + message


def exchange(a, b, *, byte_at_a_time: bool = False, rounds: int = 1000):
    """Move bytes both ways until both sides are quiet; return (events of a, events of b)."""
    events_a, events_b = [], []
    for _ in range(rounds):
        to_b, to_a = a.data_to_send(), b.data_to_send()
        if not to_a and not to_b:
            return events_a, events_b
        events_b += _feed(b, to_b, byte_at_a_time)
        events_a += _feed(a, to_a, byte_at_a_time)
    raise AssertionError("the peers never went quiet")


def _feed(side, data: bytes, byte_at_a_time: bool) -> list:
    if not data:
        return []
    if not byte_at_a_time:
        produced = side.receive_data(data)
    else:
        produced = []
        for index in range(len(data)):
            produced += side.receive_data(data[index:index + 1])
    if isinstance(side, h2.connection.H2Connection):  # a raw peer reads everything at once
        for event in produced:
            if isinstance(event, h2.events.DataReceived) and event.flow_controlled_length:
                side.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
    return produced


def of_type(events, kind, stream_id=None):
    return [e for e in events if isinstance(e, kind) and (stream_id is None or e.stream_id == stream_id)]


class Pair:
    """Our client and our server, connected back to back in memory."""

    def __init__(self, client_settings=None, server_settings=None) -> None:
        self.client = ClientConnection(**(client_settings or {}))
        self.server = ServerConnection(**(server_settings or {}))
        self.pump()

    def pump(self, **options):
        return exchange(self.client, self.server, **options)


def raw_client(**config) -> h2.connection.H2Connection:
    """A bare h2 client: it sends whatever the test tells it to."""
    options = dict(client_side=True, header_encoding="utf-8",
                   validate_outbound_headers=False, normalize_outbound_headers=False)
    options.update(config)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(**options))
    connection.initiate_connection()
    return connection


def raw_server() -> h2.connection.H2Connection:
    connection = h2.connection.H2Connection(h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8",
        validate_outbound_headers=False, normalize_outbound_headers=False,
    ))
    connection.initiate_connection()
    return connection


def headers_of(events, kind, stream_id):
    found = [e for e in events if isinstance(e, kind) and e.stream_id == stream_id]
    assert found, f"no {kind.__name__} on stream {stream_id}"
    return dict(found[-1].headers)


def echo_call(pair: Pair, message: bytes = b"ping") -> None:
    """A whole unary call on `pair`, checked: the connection still works."""
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    pair.client.send_message(stream_id, message, end_stream=True)
    _, server_events = pair.pump()
    assert [e.message for e in of_type(server_events, ev.MessageReceived, stream_id)] == [message]
    pair.server.send_message(stream_id, message)
    pair.server.send_trailers(stream_id, status=StatusCode.OK)
    client_events, _ = pair.pump()
    assert [e.message for e in of_type(client_events, ev.MessageReceived, stream_id)] == [message]
    assert of_type(client_events, ev.TrailersReceived, stream_id)[0].trailers.status == StatusCode.OK


class RawClientPeer:
    """A raw h2 client talking to our ServerConnection."""

    def __init__(self, **server_settings) -> None:
        self.server = ServerConnection(**server_settings)
        self.h2 = raw_client()
        self.pump()

    def pump(self, **options):
        h2_events, server_events = exchange(self.h2, self.server, **options)
        return h2_events, server_events

    def request(self, headers=GOOD_REQUEST, *, end_stream=False) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, headers, end_stream=end_stream)
        return stream_id

    def still_works(self) -> None:
        """A fresh, valid call on the same connection gets answered."""
        stream_id = self.request()
        self.h2.send_data(stream_id, prefixed(b"again"), end_stream=True)
        _, server_events = self.pump()
        assert [e.message for e in of_type(server_events, ev.MessageReceived, stream_id)] == [b"again"]
        self.server.send_message(stream_id, b"again")
        self.server.send_trailers(stream_id)
        h2_events, _ = self.pump()
        assert headers_of(h2_events, h2.events.TrailersReceived, stream_id)["grpc-status"] == "0"


class RawServerPeer:
    """Our ClientConnection talking to a raw h2 server."""

    def __init__(self, **client_settings) -> None:
        self.client = ClientConnection(**client_settings)
        self.h2 = raw_server()
        self.pump()

    def pump(self, **options):
        return exchange(self.client, self.h2, **options)

    def call(self, **options) -> int:
        stream_id = self.client.start_call(PATH, authority=AUTHORITY, **options)
        self.client.end_stream(stream_id)
        self.pump()
        return stream_id

    def respond(self, stream_id, headers=(("content-type", "application/grpc"),), status="200"):
        self.h2.send_headers(stream_id, [(":status", status), *headers])


# --- A well-behaved pair -----------------------------------------------------------------


def test_unary_call_events_in_order():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY, metadata=[("k", "v")], timeout=2.0)
    pair.client.send_message(stream_id, b"hello", end_stream=True)
    _, server_events = pair.pump()
    kinds = [type(e) for e in server_events if isinstance(e, ev.StreamEvent)]
    assert kinds == [ev.RequestReceived, ev.MessageReceived, ev.RequestEnded]
    head = server_events[[type(e) for e in server_events].index(ev.RequestReceived)].head
    assert head.path == PATH and ("k", "v") in head.metadata
    assert 1.9 < head.timeout <= 2.0

    pair.server.send_response_headers(stream_id, metadata=[("initial", "1")])
    pair.server.send_message(stream_id, b"world")
    pair.server.send_trailers(stream_id, status=StatusCode.OK, metadata=[("trailing", "2")])
    client_events, _ = pair.pump()
    kinds = [type(e) for e in client_events if isinstance(e, ev.StreamEvent)]
    assert kinds == [ev.ResponseHeadersReceived, ev.MessageReceived, ev.TrailersReceived]
    assert client_events[-1].trailers.metadata == (("trailing", "2"),)
    assert pair.client.open_streams == pair.server.open_streams == 0


def test_trailers_only_error_reaches_client_with_message_and_metadata():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY, end_stream=True)
    pair.pump()
    pair.server.send_trailers(stream_id, status=StatusCode.NOT_FOUND, message="no such thing ☺",
                              metadata=[("why-bin", b"\x00\x01")])
    client_events, _ = pair.pump()
    assert not of_type(client_events, ev.ResponseHeadersReceived)
    trailers = of_type(client_events, ev.TrailersReceived, stream_id)[0].trailers
    assert trailers.status == StatusCode.NOT_FOUND
    assert trailers.message == "no such thing ☺"
    assert trailers.metadata == (("why-bin", b"\x00\x01"),)


def test_empty_message_and_many_messages_in_one_frame():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    for index in range(50):
        pair.client.send_message(stream_id, b"" if index % 2 else bytes([index]) * index)
    pair.client.end_stream(stream_id)
    _, server_events = pair.pump()
    messages = [e.message for e in of_type(server_events, ev.MessageReceived)]
    assert messages == [b"" if i % 2 else bytes([i]) * i for i in range(50)]


def test_many_interleaved_streams():
    rng = random.Random(7)
    pair = Pair()
    expected: dict[int, list[bytes]] = {}
    for _ in range(60):
        stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
        expected[stream_id] = []
    server_events = []

    def pump_and_read():
        _, more = pair.pump()
        server_events.extend(more)
        for event in of_type(more, ev.MessageReceived):  # the reader takes every message
            pair.server.acknowledge_received_data(event.stream_id, event.flow_controlled_length)

    for _ in range(600):
        stream_id = rng.choice(list(expected))
        message = rng.randbytes(rng.choice([0, 1, 100, 5000, 40000]))
        pair.client.send_message(stream_id, message)
        expected[stream_id].append(message)
        if rng.random() < 0.1:
            pump_and_read()
    for stream_id in expected:
        pair.client.end_stream(stream_id)
    for _ in range(50):
        pump_and_read()
        if len(of_type(server_events, ev.RequestEnded)) == len(expected):
            break
    for stream_id, messages in expected.items():
        assert [e.message for e in of_type(server_events, ev.MessageReceived, stream_id)] == messages
    # and back: every stream answers with its own id, interleaved
    for stream_id in expected:
        pair.server.send_message(stream_id, str(stream_id).encode())
    for stream_id in reversed(list(expected)):
        pair.server.send_trailers(stream_id, status=StatusCode.OK)
    client_events, _ = pair.pump()
    for stream_id in expected:
        assert [e.message for e in of_type(client_events, ev.MessageReceived, stream_id)] == [
            str(stream_id).encode()]
        assert of_type(client_events, ev.TrailersReceived, stream_id)


def test_available_streams_counts_what_h2_counts_however_calls_end():
    # available_streams counts the calls the core tracks instead of walking
    # h2's streams: the two must agree whichever way a call ends.
    pair = Pair(server_settings=dict(max_concurrent_streams=10))
    limit = pair.client._h2.remote_settings.max_concurrent_streams
    ids = [pair.client.start_call(PATH, authority=AUTHORITY) for _ in range(8)]
    pair.pump()

    def agree() -> None:
        assert pair.client.available_streams == limit - pair.client._h2.open_outbound_streams

    agree()
    pair.client.send_message(ids[0], b"x", end_stream=True)  # ends with trailers
    pair.pump()
    pair.server.send_message(ids[0], b"y")
    pair.server.send_trailers(ids[0])
    pair.client.reset_stream(ids[1])  # the client cancels
    pair.server.reset_stream(ids[2])  # the server cancels
    pair.server.send_trailers(ids[3], status=StatusCode.NOT_FOUND)  # before the client's end
    pair.pump()
    agree()
    assert pair.client.available_streams == limit - 4
    assert len(pair.client.stream_ids()) == 4


def test_byte_at_a_time_gives_the_same_events():
    def run(byte_at_a_time):
        client, server = ClientConnection(), ServerConnection()
        all_client, all_server = exchange(client, server, byte_at_a_time=byte_at_a_time)
        stream_id = client.start_call(PATH, authority=AUTHORITY, metadata=[("a-bin", b"\xff")])
        for size in (0, 3, 70000):
            client.send_message(stream_id, bytes(size))
        client.end_stream(stream_id)
        c, s = exchange(client, server, byte_at_a_time=byte_at_a_time)
        all_client += c
        all_server += s
        for event in of_type(all_server, ev.MessageReceived):
            server.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
        server.send_message(stream_id, b"reply")
        server.send_trailers(stream_id, status=StatusCode.ABORTED, message="100%")
        c, s = exchange(client, server, byte_at_a_time=byte_at_a_time)
        all_client += c
        all_server += s
        strip = (ev.RemoteSettingsChanged, ev.SendQueueDrained)
        return ([e for e in all_client if not isinstance(e, strip)],
                [e for e in all_server if not isinstance(e, strip)])

    # Not the flow-control split of messages, which depends on framing: compare the payloads.
    def simplify(events):
        return [(type(e).__name__, getattr(e, "message", None), getattr(e, "trailers", None))
                for e in events]

    bulk = run(False)
    trickle = run(True)
    assert simplify(trickle[0]) == simplify(bulk[0])
    assert simplify(trickle[1]) == simplify(bulk[1])
    assert of_type(trickle[0], ev.TrailersReceived)[0].trailers.message == "100%"


def test_large_message_larger_than_every_window_streams_through():
    size = 3 * 1024 * 1024
    pair = Pair(server_settings=dict(stream_window=65535, connection_window=65535,
                                     max_receive_message_length=8 * 1024 * 1024))
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    message = random.Random(1).randbytes(size)
    pair.client.send_message(stream_id, message, end_stream=True)
    assert pair.client.pending_send(stream_id) > 0  # held back by the 64 KiB windows
    _, server_events = pair.pump()  # partial message bytes are acknowledged as they arrive
    received = of_type(server_events, ev.MessageReceived)
    assert [e.message for e in received] == [message]
    assert of_type(server_events, ev.RequestEnded)
    assert pair.client.pending_send(stream_id) == 0


def test_frames_respect_the_peers_max_frame_size():
    server = raw_server()
    client = ClientConnection()
    exchange(client, server)
    stream_id = client.start_call(PATH, authority=AUTHORITY)
    client.send_message(stream_id, bytes(100_000), end_stream=True)
    h2_events, _ = exchange(server, client)
    sizes = [len(e.data) for e in h2_events if isinstance(e, h2.events.DataReceived)]
    assert max(sizes) <= 16_384  # the raw server's default SETTINGS_MAX_FRAME_SIZE
    assert sum(sizes) == 100_005


def test_a_burst_of_small_messages_shares_data_frames():
    server = raw_server()
    client = ClientConnection()
    exchange(client, server)
    stream_id = client.start_call(PATH, authority=AUTHORITY)
    for _ in range(1000):
        client.send_message(stream_id, b"0123456789")  # 15 bytes framed
    client.end_stream(stream_id)
    h2_events, _ = exchange(server, client)
    data = [e for e in h2_events if isinstance(e, h2.events.DataReceived)]
    assert sum(len(e.data) for e in data) == 15_000
    assert len(data) == 1  # one frame, END_STREAM on it, not a thousand and one
    assert data[0].stream_ended


def test_slow_reader_bounds_the_sender():
    window = 64 * 1024
    pair = Pair(server_settings=dict(stream_window=window))
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    for _ in range(20):
        pair.client.send_message(stream_id, bytes(50_000))
    _, server_events = pair.pump()
    received = of_type(server_events, ev.MessageReceived)
    # Without acknowledgements the server holds at most one window of messages.
    assert sum(e.flow_controlled_length for e in received) <= window
    assert len(received) < 20
    assert pair.client.pending_send(stream_id) >= 20 * 50_005 - window
    # The reader catches up: everything arrives, and the writer hears its queue drained.
    client_events = []
    for _ in range(100):
        for event in received:
            pair.server.acknowledge_received_data(stream_id, event.flow_controlled_length)
        more_client, more_server = pair.pump()
        client_events += more_client
        received = of_type(more_server, ev.MessageReceived)
        server_events += more_server
        if not received:
            break
    assert len(of_type(server_events, ev.MessageReceived)) == 20
    assert of_type(client_events, ev.SendQueueDrained, stream_id)
    assert pair.client.pending_send(stream_id) == 0


def test_a_stream_nobody_reads_does_not_starve_the_connection():
    # 64 KiB for the connection and for each stream: the stalled stream takes
    # its whole window, and the other still moves ten times as much.
    pair = Pair(server_settings=dict(stream_window=65535, connection_window=65535))
    stalled = pair.client.start_call(PATH, authority=AUTHORITY)
    for _ in range(10):
        pair.client.send_message(stalled, bytes(20_000))
    pair.pump()
    busy = pair.client.start_call(PATH, authority=AUTHORITY)
    total = 0
    for _ in range(20):
        pair.client.send_message(busy, bytes(30_000))
    pair.client.end_stream(busy)
    for _ in range(200):
        _, server_events = pair.pump()
        for event in of_type(server_events, ev.MessageReceived, busy):
            total += 1
            pair.server.acknowledge_received_data(busy, event.flow_controlled_length)
        if of_type(server_events, ev.RequestEnded, busy):
            break
    assert total == 20
    assert pair.client.pending_send(stalled) > 0  # still waiting for its reader


def test_compressed_request_and_response():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY, encoding="gzip")
    message = b"abc" * 1000
    pair.client.send_message(stream_id, message)
    pair.client.send_message(stream_id, b"x", end_stream=True)  # would grow: goes uncompressed
    _, server_events = pair.pump()
    received = of_type(server_events, ev.MessageReceived)
    assert [(e.message, e.compressed) for e in received] == [(message, True), (b"x", False)]
    assert of_type(server_events, ev.RequestReceived)[0].head.encoding == "gzip"
    pair.server.send_response_headers(stream_id, encoding="deflate")
    pair.server.send_message(stream_id, message)
    pair.server.send_trailers(stream_id)
    client_events, _ = pair.pump()
    assert of_type(client_events, ev.ResponseHeadersReceived)[0].head.encoding == "deflate"
    assert [(e.message, e.compressed) for e in of_type(client_events, ev.MessageReceived)] == [(message, True)]


def test_server_does_not_compress_with_what_the_client_does_not_accept():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY, end_stream=True, accept_encoding=("identity",))
    pair.pump()
    pair.server.send_response_headers(stream_id, encoding="gzip")
    pair.server.send_message(stream_id, b"a" * 1000)
    pair.server.send_trailers(stream_id)
    client_events, _ = pair.pump()
    assert of_type(client_events, ev.ResponseHeadersReceived)[0].head.encoding is None
    assert of_type(client_events, ev.MessageReceived)[0].compressed is False


def test_early_server_closure_sends_rst_stream_no_error_after_trailers():
    peer = RawClientPeer()
    stream_id = peer.request()
    peer.h2.send_data(stream_id, prefixed(b"first"))  # and no END_STREAM
    peer.pump()
    peer.server.send_trailers(stream_id, status=StatusCode.OK)
    h2_events, _ = peer.pump()
    kinds = [type(e) for e in h2_events if getattr(e, "stream_id", None) == stream_id]
    assert kinds.index(h2.events.ResponseReceived) < kinds.index(h2.events.StreamReset)
    reset = of_type(h2_events, h2.events.StreamReset, stream_id)[0]
    assert reset.error_code == Http2ErrorCode.NO_ERROR
    peer.still_works()


def test_client_resets_with_no_error_when_trailers_come_before_its_end_stream():
    peer = RawServerPeer()
    stream_id = peer.client.start_call(PATH, authority=AUTHORITY)
    peer.pump()
    peer.h2.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                     ("grpc-status", "0")], end_stream=True)
    client_events, h2_events = peer.pump()
    assert of_type(client_events, ev.TrailersReceived)[0].trailers.status == StatusCode.OK
    assert of_type(h2_events, h2.events.StreamReset)[0].error_code == Http2ErrorCode.NO_ERROR


def test_send_side_errors_are_typed():
    pair = Pair(client_settings=dict(max_send_message_length=10))
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    with pytest.raises(MessageTooLarge) as info:
        pair.client.send_message(stream_id, bytes(11))
    assert info.value.status == StatusCode.RESOURCE_EXHAUSTED
    pair.client.end_stream(stream_id)
    with pytest.raises(StreamStateError):
        pair.client.send_message(stream_id, b"late")
    with pytest.raises(StreamStateError):
        pair.client.send_message(999, b"nowhere")
    pair.client.reset_stream(stream_id)
    pair.client.reset_stream(stream_id)  # twice is fine
    with pytest.raises(ValueError):
        pair.client.start_call(PATH, authority=AUTHORITY, encoding="snappy")


def test_ping_both_ways():
    pair = Pair()
    data = pair.client.ping()
    client_events, server_events = pair.pump()
    assert of_type(server_events, ev.PingReceived)[0].data == data
    assert of_type(client_events, ev.PingAcknowledged)[0].data == data
    with pytest.raises(ValueError):
        pair.server.ping(b"short")


# --- GOAWAY ---------------------------------------------------------------------------------


def test_goaway_received_fails_unprocessed_calls_and_lets_the_rest_finish():
    peer = RawServerPeer()
    first = peer.client.start_call(PATH, authority=AUTHORITY)
    second = peer.client.start_call(PATH, authority=AUTHORITY)
    peer.pump()
    # h2 cannot send GOAWAY and go on (its state machine closes), so write the frame by hand.
    goaway = _frame(0x07, 0, 0, struct.pack(">II", first, Http2ErrorCode.NO_ERROR) + b"bye")
    client_events = peer.client.receive_data(goaway)
    failed = of_type(client_events, ev.StreamFailed)
    assert [(e.stream_id, e.status) for e in failed] == [(second, StatusCode.UNAVAILABLE)]
    terminated = of_type(client_events, ev.ConnectionTerminated)[0]
    assert (terminated.last_stream_id, terminated.additional_data) == (first, b"bye")
    with pytest.raises(ProtocolError) as info:
        peer.client.start_call(PATH, authority=AUTHORITY)
    assert info.value.status == StatusCode.UNAVAILABLE
    # The first call, below last-stream-id, still completes.
    peer.client.send_message(first, b"q", end_stream=True)
    peer.pump()
    peer.respond(first)
    peer.h2.send_data(first, prefixed(b"answer"))
    peer.h2.send_headers(first, [("grpc-status", "0")], end_stream=True)
    client_events, _ = peer.pump()
    assert [e.message for e in of_type(client_events, ev.MessageReceived, first)] == [b"answer"]
    assert of_type(client_events, ev.TrailersReceived, first)[0].trailers.status == StatusCode.OK


def test_goaway_sent_refuses_later_streams_and_keeps_earlier_ones():
    pair = Pair()
    first = pair.client.start_call(PATH, authority=AUTHORITY)
    pair.pump()
    pair.server.goaway()
    # A stream the client opened before it saw the GOAWAY is refused.
    late = pair.client.start_call(PATH, authority=AUTHORITY, end_stream=True)
    to_server = pair.client.data_to_send()
    to_client = pair.server.data_to_send()
    server_events = pair.server.receive_data(to_server)
    assert not of_type(server_events, ev.RequestReceived, late)
    client_events = pair.client.receive_data(to_client)
    assert of_type(client_events, ev.ConnectionTerminated)[0].last_stream_id == first
    more_events, _ = pair.pump()
    client_events += more_events
    # Not processed: the client may retry it elsewhere (it hears it once, not twice).
    ended = [e for e in client_events if isinstance(e, (ev.StreamFailed, ev.StreamReset)) and e.stream_id == late]
    assert [e.status for e in ended] == [StatusCode.UNAVAILABLE]
    # The call in flight finishes normally.
    pair.client.send_message(first, b"still here", end_stream=True)
    _, server_events = pair.pump()
    assert of_type(server_events, ev.MessageReceived, first)
    pair.server.send_trailers(first)
    client_events, _ = pair.pump()
    assert of_type(client_events, ev.TrailersReceived, first)


# --- Hostile clients -------------------------------------------------------------------------


def _trailers_only(h2_events, stream_id) -> dict:
    response = of_type(h2_events, h2.events.ResponseReceived, stream_id)
    assert response and response[0].stream_ended, "expected a Trailers-Only response"
    return dict(response[0].headers)


@pytest.mark.parametrize(("name", "headers", "http_status", "grpc_status"), [
    # PROTOCOL-HTTP2.md: TE → "te" "trailers", required.
    ("missing te", [h for h in GOOD_REQUEST if h[0] != "te"], "200", StatusCode.INTERNAL),
    # "If Content-Type does not begin with application/grpc, gRPC servers SHOULD respond with HTTP status of 415"
    ("wrong content-type", [*GOOD_REQUEST[:5], ("content-type", "application/json")], "415",
     StatusCode.INTERNAL),
    ("missing content-type", GOOD_REQUEST[:5], "415", StatusCode.INTERNAL),
    # Method → ":method POST"
    ("wrong method", [(":method", "GET"), *GOOD_REQUEST[1:]], "405", StatusCode.INTERNAL),
    # TimeoutValue: at most 8 digits; TimeoutUnit one of H M S m u n
    ("nine-digit timeout", [*GOOD_REQUEST, ("grpc-timeout", "123456789S")], "200", StatusCode.INTERNAL),
    ("bad timeout unit", [*GOOD_REQUEST, ("grpc-timeout", "10x")], "200", StatusCode.INTERNAL),
    # doc/compression.md: an unsupported request encoding is UNIMPLEMENTED
    ("unsupported encoding", [*GOOD_REQUEST, ("grpc-encoding", "snappy")], "200", StatusCode.UNIMPLEMENTED),
    ("bad path", [*GOOD_REQUEST[:2], (":path", "/nomethod"), *GOOD_REQUEST[3:]], "200",
     StatusCode.UNIMPLEMENTED),
    # PROTOCOL-HTTP2.md: "Servers may limit the size of Request-Headers, with a default of 8 KiB"
    ("oversized headers", [*GOOD_REQUEST, ("big", "x" * 9000)], "200", StatusCode.RESOURCE_EXHAUSTED),
])
def test_bad_request_headers_get_the_spec_answer(name, headers, http_status, grpc_status):
    peer = RawClientPeer()
    stream_id = peer.request(headers)
    h2_events, server_events = peer.pump()
    answer = _trailers_only(h2_events, stream_id)
    assert answer[":status"] == http_status
    assert answer["grpc-status"] == str(int(grpc_status))
    assert answer.get("grpc-message")
    failed = of_type(server_events, ev.StreamFailed, stream_id)
    assert failed and failed[0].status == grpc_status
    assert not of_type(server_events, ev.RequestReceived)
    if name == "unsupported encoding":
        assert "gzip" in answer["grpc-accept-encoding"]
    # The client had not half-closed: RST_STREAM(NO_ERROR) follows the answer.
    assert of_type(h2_events, h2.events.StreamReset, stream_id)[0].error_code == Http2ErrorCode.NO_ERROR
    peer.still_works()


@pytest.mark.parametrize("headers", [
    [*GOOD_REQUEST, ("Upper", "case")],  # RFC 9113 §8.2.1: names are lowercase
    [*GOOD_REQUEST, ("connection", "keep-alive")],  # §8.2.2: connection-specific
    [*GOOD_REQUEST[:4], ("te", "gzip"), GOOD_REQUEST[5]],  # §8.2.2: te is "trailers" or absent
    [("te", "trailers"), *GOOD_REQUEST[:4], GOOD_REQUEST[5]],  # §8.3: pseudo-headers first
    [*GOOD_REQUEST, (":path", "/again")],  # §8.3: no repeated pseudo-header
    [*GOOD_REQUEST, ("bad", "line\r\nbreak")],  # §8.2.1: no CR or LF in values
    [*GOOD_REQUEST[:1], *GOOD_REQUEST[3:]],  # §8.3.1: :scheme and :path are required
])
def test_malformed_http2_request_is_a_stream_error_not_a_connection_error(headers):
    peer = RawClientPeer()
    stream_id = peer.request(headers)
    h2_events, server_events = peer.pump()
    # RFC 9113 §8.1.1: "treated as a stream error of type PROTOCOL_ERROR"
    assert of_type(h2_events, h2.events.StreamReset, stream_id)[0].error_code == Http2ErrorCode.PROTOCOL_ERROR
    assert of_type(server_events, ev.StreamFailed, stream_id)[0].status == StatusCode.INTERNAL
    assert not of_type(h2_events, h2.events.ConnectionTerminated)
    peer.still_works()


@pytest.mark.parametrize("headers", [
    [*GOOD_REQUEST, ("grpc-timeout", "10x")],           # parsed and refused (INTERNAL)
    [*GOOD_REQUEST, ("grpc-encoding", "snappy")],       # parsed and refused (UNIMPLEMENTED)
    [*GOOD_REQUEST, ("connection", "keep-alive")],      # malformed (RST_STREAM)
])
def test_a_refused_header_block_is_refused_every_time_it_comes(headers):
    peer = RawClientPeer()
    for _ in range(3):
        stream_id = peer.request(headers)
        _, server_events = peer.pump()
        assert of_type(server_events, ev.StreamFailed, stream_id)
        assert not of_type(server_events, ev.RequestReceived)
    peer.still_works()


def test_a_header_block_seen_again_parses_the_same_and_memory_stays_bounded():
    peer = RawClientPeer()
    heads = {}
    for n in range(3 * KNOWN_HEADS_LIMIT):
        value = str(n % (2 * KNOWN_HEADS_LIMIT))        # each block twice, some after the bound
        stream_id = peer.request([*GOOD_REQUEST, ("x-n", value)], end_stream=True)
        _, server_events = peer.pump()
        (received,) = of_type(server_events, ev.RequestReceived, stream_id)
        assert dict(received.head.metadata)["x-n"] == value
        if value in heads:
            assert received.head == heads[value]
        heads[value] = received.head
        peer.server.send_trailers(stream_id)
        peer.pump()
    assert len(peer.server._known_heads) == KNOWN_HEADS_LIMIT


def _call_with_body(body: bytes, *, end_stream: bool = True, headers=GOOD_REQUEST, **server_settings):
    peer = RawClientPeer(**server_settings)
    other = peer.request()  # a call in flight on the same connection: it must survive
    stream_id = peer.request(headers)
    peer.h2.send_data(stream_id, body, end_stream=end_stream)
    h2_events, server_events = peer.pump()
    return peer, other, stream_id, h2_events, server_events


@pytest.mark.parametrize(("body", "status", "settings_"), [
    # doc/compression.md: Compressed-Flag set without grpc-encoding MUST fail with INTERNAL
    (prefixed(b"zz", compressed_flag=1), StatusCode.INTERNAL, {}),
    # Compressed-Flag → 0 / 1
    (prefixed(b"zz", compressed_flag=2), StatusCode.INTERNAL, {}),
    # statuscodes.md: message larger than the limit: RESOURCE_EXHAUSTED (checked at the prefix)
    (prefixed(b"", length=5 * 1024 * 1024), StatusCode.RESOURCE_EXHAUSTED, {}),
    (prefixed(bytes(2000)), StatusCode.RESOURCE_EXHAUSTED, {"max_receive_message_length": 1000}),
    # A message cut short by END_STREAM
    (prefixed(b"abc", length=10), StatusCode.INTERNAL, {}),
    (b"\x00\x00", StatusCode.INTERNAL, {}),
])
def test_bad_request_messages_end_that_call_only(body, status, settings_):
    peer, other, stream_id, h2_events, server_events = _call_with_body(body, **settings_)
    failed = of_type(server_events, ev.StreamFailed, stream_id)
    assert failed and failed[0].status == status
    assert not of_type(server_events, ev.MessageReceived, stream_id)
    assert _trailers_only(h2_events, stream_id)["grpc-status"] == str(int(status))
    # The other call is untouched, and a new one works.
    peer.h2.send_data(other, prefixed(b"fine"), end_stream=True)
    _, server_events = peer.pump()
    assert [e.message for e in of_type(server_events, ev.MessageReceived, other)] == [b"fine"]
    peer.still_works()


def test_corrupt_gzip_is_internal():
    headers = [*GOOD_REQUEST, ("grpc-encoding", "gzip")]
    _, _, stream_id, h2_events, server_events = _call_with_body(
        prefixed(b"not gzip at all", compressed_flag=1), headers=headers)
    assert of_type(server_events, ev.StreamFailed, stream_id)[0].status == StatusCode.INTERNAL


def test_bad_message_after_response_headers_gets_trailers_not_trailers_only():
    peer = RawClientPeer()
    stream_id = peer.request()
    peer.h2.send_data(stream_id, prefixed(b"ok"))
    peer.pump()
    peer.server.send_message(stream_id, b"reply")
    peer.pump()
    peer.h2.send_data(stream_id, prefixed(b"", length=100 * 1024 * 1024))
    h2_events, server_events = peer.pump()
    trailers = headers_of(h2_events, h2.events.TrailersReceived, stream_id)
    assert trailers["grpc-status"] == str(int(StatusCode.RESOURCE_EXHAUSTED))
    assert of_type(h2_events, h2.events.StreamReset, stream_id)[0].error_code == Http2ErrorCode.NO_ERROR
    peer.still_works()


def test_stream_reset_mid_message():
    peer = RawClientPeer()
    other = peer.request()
    stream_id = peer.request()
    peer.h2.send_data(stream_id, prefixed(bytes(100), length=1000))  # a tenth of a message
    peer.pump()
    peer.server.send_message(stream_id, b"queued")  # the server was answering
    peer.h2.reset_stream(stream_id, Http2ErrorCode.CANCEL)
    _, server_events = peer.pump()
    reset = of_type(server_events, ev.StreamReset, stream_id)[0]
    assert (reset.error_code, reset.status) == (Http2ErrorCode.CANCEL, StatusCode.CANCELLED)
    with pytest.raises(StreamStateError):
        peer.server.send_message(stream_id, b"too late")
    peer.server.send_trailers(stream_id)  # a no-op now
    peer.h2.send_data(other, prefixed(b"fine"), end_stream=True)
    _, server_events = peer.pump()
    assert [e.message for e in of_type(server_events, ev.MessageReceived, other)] == [b"fine"]
    peer.still_works()


def test_frames_for_closed_streams_are_ignored():
    # RFC 9113 §5.1 and §6.9: WINDOW_UPDATE or RST_STREAM on a closed stream is
    # not a connection error. grpcio sends them under load.
    peer = RawClientPeer()
    stream_id = peer.request(end_stream=True)
    peer.pump()
    peer.server.send_trailers(stream_id)
    peer.pump()
    assert peer.server.open_streams == 0
    peer.h2.increment_flow_control_window(1000, stream_id=None)
    frames = [
        _frame(0x08, 0, stream_id, struct.pack(">I", 1000)),  # WINDOW_UPDATE
        _frame(0x03, 0, stream_id, struct.pack(">I", Http2ErrorCode.CANCEL)),  # RST_STREAM
        _frame(0x08, 0, stream_id, struct.pack(">I", 5)),
    ]
    server_events = peer.server.receive_data(b"".join(frames))
    assert not of_type(server_events, ev.ConnectionFailed)
    assert not of_type(server_events, ev.StreamReset)
    peer.still_works()


def test_random_bytes_instead_of_a_preface_fail_the_connection_cleanly():
    server = ServerConnection()
    server.data_to_send()
    produced = server.receive_data(random.Random(3).randbytes(100))
    failed = of_type(produced, ev.ConnectionFailed)
    assert failed and failed[0].error_code == Http2ErrorCode.PROTOCOL_ERROR
    assert server.data_to_send()[3] == 0x07  # a GOAWAY frame is queued
    assert server.receive_data(b"more garbage") == []


def test_http1_request_instead_of_a_preface():
    server = ServerConnection()
    produced = server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert of_type(produced, ev.ConnectionFailed)


def _frame(frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([frame_type, flags]) + struct.pack(">I", stream_id) + payload


# --- Hostile or unusual servers -----------------------------------------------------------------


@pytest.mark.parametrize(("status", "content_type", "expected"), [
    ("503", "application/grpc", StatusCode.UNAVAILABLE),  # http-grpc-status-mapping.md
    ("404", "text/html", StatusCode.UNIMPLEMENTED),
    ("401", "application/grpc", StatusCode.UNAUTHENTICATED),
    ("200", "text/html", StatusCode.UNKNOWN),
    ("418", "application/grpc", StatusCode.UNKNOWN),
])
def test_non_grpc_responses_get_a_made_up_status(status, content_type, expected):
    peer = RawServerPeer()
    stream_id = peer.call()
    peer.respond(stream_id, [("content-type", content_type)], status=status)
    peer.h2.send_data(stream_id, b"<html>oops</html>", end_stream=True)
    client_events, h2_events = peer.pump()
    failed = of_type(client_events, ev.StreamFailed, stream_id)
    assert failed and failed[0].status == expected
    assert not of_type(client_events, ev.MessageReceived)


def test_trailers_only_without_grpc_status_maps_the_http_status():
    peer = RawServerPeer()
    stream_id = peer.call()
    peer.h2.send_headers(stream_id, [(":status", "503")], end_stream=True)
    client_events, _ = peer.pump()
    assert of_type(client_events, ev.TrailersReceived)[0].trailers.status == StatusCode.UNAVAILABLE


def test_informational_response_is_skipped():
    peer = RawServerPeer()
    stream_id = peer.call()
    peer.h2.send_headers(stream_id, [(":status", "100")])
    peer.respond(stream_id)
    peer.h2.send_data(stream_id, prefixed(b"x"))
    peer.h2.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)
    client_events, _ = peer.pump()
    assert [type(e) for e in client_events if isinstance(e, ev.StreamEvent)] == [
        ev.ResponseHeadersReceived, ev.MessageReceived, ev.TrailersReceived]


@pytest.mark.parametrize(("body", "end", "expected"), [
    (prefixed(b"x") + prefixed(b"cut", length=9), "trailers", StatusCode.INTERNAL),  # truncated
    (prefixed(b"x"), "data", StatusCode.INTERNAL),  # END_STREAM on DATA: no trailers at all
    (prefixed(bytes(300)), "trailers", StatusCode.RESOURCE_EXHAUSTED),  # over our limit of 100
    (prefixed(b"zz", compressed_flag=1), "trailers", StatusCode.INTERNAL),  # no grpc-encoding
])
def test_bad_response_bodies(body, end, expected):
    peer = RawServerPeer(max_receive_message_length=100)
    other = peer.call()
    stream_id = peer.call()
    peer.respond(stream_id)
    peer.h2.send_data(stream_id, body, end_stream=(end == "data"))
    if end == "trailers":
        peer.h2.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)
    client_events, h2_events = peer.pump()
    failed = of_type(client_events, ev.StreamFailed, stream_id)
    assert failed and failed[0].status == expected
    assert not of_type(client_events, ev.TrailersReceived, stream_id)
    # The other call goes on.
    peer.respond(other)
    peer.h2.send_headers(other, [("grpc-status", "0")], end_stream=True)
    client_events, _ = peer.pump()
    assert of_type(client_events, ev.TrailersReceived, other)


def test_oversized_response_resets_the_stream_with_cancel():
    peer = RawServerPeer(max_receive_message_length=100)
    stream_id = peer.call()
    peer.respond(stream_id)
    peer.h2.send_data(stream_id, prefixed(bytes(300)))
    client_events, h2_events = peer.pump()
    assert of_type(client_events, ev.StreamFailed)[0].status == StatusCode.RESOURCE_EXHAUSTED
    assert of_type(h2_events, h2.events.StreamReset, stream_id)[0].error_code == Http2ErrorCode.CANCEL


def test_unsupported_response_encoding_is_internal():
    peer = RawServerPeer()
    stream_id = peer.call()
    peer.respond(stream_id, [("content-type", "application/grpc"), ("grpc-encoding", "snappy")])
    client_events, _ = peer.pump()
    assert of_type(client_events, ev.StreamFailed)[0].status == StatusCode.INTERNAL


def test_server_reset_maps_to_status():
    peer = RawServerPeer()
    refused = peer.call()
    cancelled = peer.call()
    peer.h2.reset_stream(refused, Http2ErrorCode.REFUSED_STREAM)
    peer.h2.reset_stream(cancelled, Http2ErrorCode.CANCEL)
    client_events, _ = peer.pump()
    statuses = {e.stream_id: e.status for e in of_type(client_events, ev.StreamReset)}
    assert statuses == {refused: StatusCode.UNAVAILABLE, cancelled: StatusCode.CANCELLED}


def test_malformed_trailers_fail_the_call():
    peer = RawServerPeer()
    stream_id = peer.call()
    peer.respond(stream_id)
    peer.h2.send_headers(stream_id, [(":status", "200"), ("grpc-status", "0")], end_stream=True)
    client_events, _ = peer.pump()
    assert of_type(client_events, ev.StreamFailed)[0].status == StatusCode.INTERNAL


# --- Pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "problem"), [
    ([(b":status", b"200"), (b"content-type", b"application/grpc")], None),
    ([(b"content-type", b"x"), (b":status", b"200")], "after a regular header"),  # §8.3
    ([(b":status", b"200"), (b":status", b"200")], "repeated"),  # §8.3
    ([(b":method", b"POST")], "not allowed"),  # request pseudo-header in a response
    ([(b":status", b"200"), (b"Bad", b"x")], "invalid header name"),  # §8.2.1
    ([(b":status", b"200"), (b"x", b" padded")], "whitespace"),  # §8.2.1
    ([(b":status", b"200"), (b"x", b"nul\x00")], "invalid characters"),  # §8.2.1
    ([(b":status", b"200"), (b"keep-alive", b"1")], "connection-specific"),  # §8.2.2
    ([(b":status", b"200"), (b"te", b"trailers")], None),  # te: trailers is allowed
    ([(b"content-type", b"x")], "missing"),  # §8.3.2: :status is required
])
def test_malformed_field_section(headers, problem):
    found = malformed_field_section(headers, allowed_pseudo=frozenset({b":status"}),
                                    required_pseudo=frozenset({b":status"}))
    if problem is None:
        assert found is None
    else:
        assert problem in found


_frames = st.lists(
    st.tuples(
        st.sampled_from([0x0, 0x1, 0x4, 0x6, 0x7, 0x8]),  # DATA HEADERS SETTINGS PING GOAWAY WINDOW_UPDATE
        st.integers(0, 3),
        st.binary(max_size=40),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(frames=_frames, cuts=st.lists(st.integers(0, 600), max_size=8))
def test_goaway_splitter_lifts_out_exactly_the_goaway_frames(frames, cuts):
    stream = b""
    expected_rest = b""
    expected_goaways = []
    for frame_type, stream_id, payload in frames:
        if frame_type == 0x7 and stream_id == 0:
            payload = struct.pack(">II", 5, 2) + payload
        raw = _frame(frame_type, 0, stream_id, payload)
        stream += raw
        if frame_type == 0x7 and stream_id == 0:
            expected_goaways.append((5, 2, payload[8:]))
        else:
            expected_rest += raw
    splitter = _GoAwaySplitter(preface_length=0, max_frame_size=16384)
    rest, goaways = b"", []
    points = sorted({0, len(stream), *[c for c in cuts if c < len(stream)]})
    for start, end in zip(points, points[1:]):
        for segment in splitter.split(stream[start:end]):
            if isinstance(segment, bytes):
                rest += segment
            else:
                goaways.append((segment.last_stream_id, segment.error_code, segment.additional_data))
    assert rest == expected_rest
    assert goaways == expected_goaways


# --- Blocks that repeat, messages sent at once ----------------------------------------------


def test_repeated_and_changing_response_blocks_each_give_their_own_head_and_trailers():
    # The client remembers response heads and trailers it has parsed (by
    # their fields): every call must still get exactly what its server said.
    peer = RawServerPeer()
    answers = [
        ([("x-a", "1")], [("grpc-status", "0")], StatusCode.OK, ""),
        ([("x-a", "1")], [("grpc-status", "0")], StatusCode.OK, ""),
        ([("x-a", "2")], [("grpc-status", "5"), ("grpc-message", "gone")], StatusCode.NOT_FOUND, "gone"),
        ([("x-a", "1")], [("grpc-status", "0")], StatusCode.OK, ""),
        ([("x-a", "2")], [("grpc-status", "5"), ("grpc-message", "gone")], StatusCode.NOT_FOUND, "gone"),
        ([("x-a", "1")], [("grpc-status", "0"), ("t", "v")], StatusCode.OK, ""),
    ]
    for metadata, trailers, status, message in answers:
        stream_id = peer.call()
        peer.respond(stream_id, headers=[("content-type", "application/grpc"), *metadata])
        peer.h2.send_data(stream_id, prefixed(b"r"))
        peer.h2.send_headers(stream_id, trailers, end_stream=True)
        client_events, _ = peer.pump()
        head = of_type(client_events, ev.ResponseHeadersReceived, stream_id)[0].head
        assert [m for m in head.metadata if m[0] == "x-a"] == metadata
        ended = of_type(client_events, ev.TrailersReceived, stream_id)[0].trailers
        assert (ended.status, ended.message) == (status, message)
        assert ended.metadata == tuple((k, v) for k, v in trailers if not k.startswith("grpc-"))


def test_known_ok_trailers_after_a_message_cut_short_are_still_internal():
    # PROTOCOL-HTTP2.md: a message cut short by the end of the stream is an
    # error, whatever the trailers say; a remembered `grpc-status: 0` block
    # must not skip that check.
    peer = RawServerPeer()
    for cut in (False, False, True):
        stream_id = peer.call()
        peer.respond(stream_id)
        peer.h2.send_data(stream_id, prefixed(b"whole")[:-2] if cut else prefixed(b"whole"))
        peer.h2.send_headers(stream_id, [("grpc-status", "0")], end_stream=True)
        client_events, _ = peer.pump()
        failed = of_type(client_events, ev.StreamFailed, stream_id)
        ended = of_type(client_events, ev.TrailersReceived, stream_id)
        if cut:
            assert failed and failed[0].status == StatusCode.INTERNAL and not ended
        else:
            assert ended[0].trailers.status == StatusCode.OK and not failed


def test_a_corked_message_waits_for_data_to_send_and_an_uncorked_one_is_framed_at_once():
    pair = Pair()
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    pair.client.send_message(stream_id, b"corked")
    assert pair.client.pending_send(stream_id) == len(prefixed(b"corked"))
    pair.client.send_message(stream_id, b"now", cork=False)
    assert pair.client.pending_send(stream_id) == 0   # both in h2's frames already
    _, server_events = pair.pump()
    assert [e.message for e in of_type(server_events, ev.MessageReceived, stream_id)] == [b"corked", b"now"]
    pair.client.end_stream(stream_id)
    pair.pump()


def test_an_uncorked_message_short_of_window_or_over_a_frame_still_arrives_whole():
    pair = Pair(server_settings=dict(stream_window=1000))
    stream_id = pair.client.start_call(PATH, authority=AUTHORITY)
    big = bytes(range(256)) * 100            # over the 16 KiB frame size and the 1,000-byte window
    pair.client.send_message(stream_id, big, cork=False)
    assert pair.client.send_blocked(stream_id)
    received = []
    for _ in range(200):
        _, server_events = pair.pump()
        for event in of_type(server_events, ev.MessageReceived, stream_id):
            received.append(event.message)
            pair.server.acknowledge_received_data(stream_id, event.flow_controlled_length)
        if received:
            break
    assert received == [big]
    pair.client.send_message(stream_id, b"small", cork=False)   # one frame, window enough again
    _, server_events = pair.pump()
    assert [e.message for e in of_type(server_events, ev.MessageReceived, stream_id)] == [b"small"]
