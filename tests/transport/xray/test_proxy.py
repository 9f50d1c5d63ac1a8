"""End to end: a grpcio client calls a grpcio server through the tracing proxy.

Every call pattern must still succeed, byte for byte forwarded, and the trace
must name what PROTOCOL-HTTP2.md says travels: the preface, SETTINGS,
HEADERS with :path and grpc-status, DATA with its 5-byte prefixes, and the
messages' fields decoded by the .proto schema.
"""

from __future__ import annotations

import time

import grpc
import pytest

from transport.xray import (
    FrameSeen,
    HeaderBlockDecoded,
    MessageReassembled,
    ParseFailed,
    PrefaceSeen,
    format_records,
)

WAIT = 10.0  # seconds: the bound on every wait
pytestmark = pytest.mark.timeout(60)


def call(channel, module, method, kind):
    path = module.Greeter.methods[method].path
    factory = getattr(channel, kind)
    return factory(path, request_serializer=lambda m: m.encode(),
                   response_deserializer=module.Resp.decode)


def settled(proxy, predicate, wait=5.0):
    """The records once `predicate` holds of them (the proxy traces just after forwarding)."""
    deadline = time.monotonic() + wait
    while True:
        records = proxy.snapshot()
        if predicate(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def of_type(records, kind):
    return [record for record in records if isinstance(record, kind)]


def has_trailers(records):
    return any(isinstance(r, HeaderBlockDecoded) and r.get("grpc-status") is not None for r in records)


def frame_names(records):
    return {record.type_name for record in of_type(records, FrameSeen)}


def messages(records, kind):
    return [r for r in of_type(records, MessageReassembled) if r.kind == kind]


def test_unary_call_is_traced(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    hello = call(channel, module, "Hello", "unary_unary")
    reply = hello(module.Req(name="ada", count=3), timeout=WAIT)
    assert reply.greeting == "hello ada"
    records = settled(proxy, has_trailers)

    assert of_type(records, PrefaceSeen)[0].valid
    assert {"SETTINGS", "HEADERS", "DATA", "WINDOW_UPDATE"} <= frame_names(records)
    request_headers = [r for r in of_type(records, HeaderBlockDecoded) if r.role == "request headers"]
    assert request_headers[0].get(":path") == "/demo.Greeter/Hello"
    assert request_headers[0].get("content-type") == "application/grpc"
    trailers = [r for r in of_type(records, HeaderBlockDecoded) if r.get("grpc-status") is not None]
    assert trailers[0].get("grpc-status") == "0"
    request, = messages(records, "request")
    response, = messages(records, "response")
    assert request.decoded == "Req(name='ada', count=3)"
    assert "greeting='hello ada'" in response.decoded and "numbers=[3]" in response.decoded
    assert not of_type(records, ParseFailed)

    text = format_records(records)
    assert "PREFACE" in text and "SETTINGS_INITIAL_WINDOW_SIZE" in text
    assert ":path: /demo.Greeter/Hello" in text and "grpc-status: 0" in text
    assert "gRPC prefix 00 00 00 00" in text and "Req(name='ada', count=3)" in text


def test_server_streaming_call_is_traced(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    many = call(channel, module, "Many", "unary_stream")
    replies = list(many(module.Req(name="n", count=3), timeout=WAIT))
    assert [reply.greeting for reply in replies] == ["n #0", "n #1", "n #2"]
    records = settled(proxy, has_trailers)
    assert [r.decoded for r in messages(records, "response")] == [
        "Resp(greeting='n #0', numbers=[0])",
        "Resp(greeting='n #1', numbers=[1])",
        "Resp(greeting='n #2', numbers=[2])",
    ]
    assert all(r.path == "/demo.Greeter/Many" for r in messages(records, "response"))


def test_client_streaming_call_is_traced(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    collect = call(channel, module, "Collect", "stream_unary")
    reply = collect(iter([module.Req(name=name) for name in "abc"]), timeout=WAIT)
    assert reply.greeting == "a,b,c"
    records = settled(proxy, has_trailers)
    assert [r.decoded for r in messages(records, "request")] == [
        "Req(name='a')", "Req(name='b')", "Req(name='c')",
    ]
    assert messages(records, "response")[0].decoded == "Resp(greeting='a,b,c', numbers=[3])"


def test_bidirectional_streaming_call_is_traced(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    chat = call(channel, module, "Chat", "stream_stream")
    replies = list(chat(iter([module.Req(name="x", count=1), module.Req(name="y", count=2)]), timeout=WAIT))
    assert [reply.greeting for reply in replies] == ["echo x", "echo y"]
    records = settled(proxy, has_trailers)
    assert len(messages(records, "request")) == 2
    assert [r.decoded for r in messages(records, "response")] == [
        "Resp(greeting='echo x', numbers=[1])", "Resp(greeting='echo y', numbers=[2])",
    ]
    data_frames = [r for r in of_type(records, FrameSeen) if r.type_name == "DATA"]
    assert any("END_STREAM" in r.flag_names for r in data_frames if r.sender == "client")


def test_error_status_and_message_are_traced(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    hello = call(channel, module, "Hello", "unary_unary")
    with pytest.raises(grpc.RpcError) as caught:
        hello(module.Req(name="fail"), timeout=WAIT)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    records = settled(proxy, has_trailers)
    trailers = [r for r in of_type(records, HeaderBlockDecoded) if r.get("grpc-status") is not None][0]
    assert trailers.get("grpc-status") == "5"
    status = [e for e in trailers.entries if e.name == "grpc-status"][0]
    assert status.hint == "NOT_FOUND"
    assert "no such name" in trailers.get("grpc-message")


def test_compressed_messages_are_inflated_for_display(traced, greeter):
    proxy, channel = traced
    module, _ = greeter
    hello = call(channel, module, "Hello", "unary_unary")
    name = "deflate-me" + "!" * 2000  # compressible, and long enough to be worth it
    reply = hello(module.Req(name=name, count=7), timeout=WAIT, compression=grpc.Compression.Gzip)
    assert reply.greeting == f"hello {name}"
    records = settled(proxy, has_trailers)
    request, = messages(records, "request")
    response, = messages(records, "response")
    assert (request.encoding, request.compressed_flag) == ("gzip", 1)
    assert request.message_length < len(name)  # the prefix counts compressed bytes
    assert request.decoded == f"Req(name='{name}', count=7)"
    assert (response.encoding, response.compressed_flag) == ("deflate", 1)
    assert response.decoded == f"Resp(greeting='hello {name}', numbers=[7])"
    assert not of_type(records, ParseFailed)


def test_upstream_that_is_down_is_reported(make_proxy):
    import socket

    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        dead_port = placeholder.getsockname()[1]
    proxy = make_proxy(dead_port, None)
    port = proxy.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as client:
            client.settimeout(WAIT)
            assert client.recv(1) == b""  # the proxy hangs up
        records = settled(proxy, lambda rs: any("closed" in getattr(r, "what", "") for r in rs))
        assert any("could not reach upstream" in r.what for r in records)
    finally:
        proxy.stop()
