"""Fixtures of the tracer's tests: frame builders, and a grpcio server behind the proxy."""

from __future__ import annotations

import asyncio
import struct
import threading
from concurrent import futures

import grpc
import pytest

from transport.xray import CONNECTION_PREFACE, Tracer, XrayProxy
from transport.xray.__main__ import wire_formatter

WAIT = 10.0  # seconds: the bound on every wait in these tests

GREETER_PROTO = """
syntax = "proto3";
package demo;

message Req { string name = 1; int32 count = 2; }
message Resp { string greeting = 1; repeated int32 numbers = 2; }

service Greeter {
  rpc Hello(Req) returns (Resp);
  rpc Many(Req) returns (stream Resp);
  rpc Collect(stream Req) returns (Resp);
  rpc Chat(stream Req) returns (stream Resp);
}
"""


def build_frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """RFC 9113 §4.1: Length (24), Type (8), Flags (8), R + Stream Identifier (32), payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([frame_type, flags]) + struct.pack(">I", stream_id) + payload


@pytest.fixture
def frame():
    return build_frame


EMPTY_SETTINGS = build_frame(0x4, 0, 0)  # RFC 9113 §3.4: each preface ends with SETTINGS


@pytest.fixture
def started_tracer():
    """A Tracer past both prefaces (the client's string and SETTINGS, the server's SETTINGS)."""
    tracer = Tracer()
    tracer.feed("client", CONNECTION_PREFACE + EMPTY_SETTINGS)
    tracer.feed("server", EMPTY_SETTINGS)
    return tracer


@pytest.fixture(scope="module")
def greeter(tmp_path_factory):
    """The Greeter .proto loaded with our own loader, and its path on disk."""
    import wire.idl

    path = tmp_path_factory.mktemp("proto") / "greeter.proto"
    path.write_text(GREETER_PROTO)
    return wire.idl.load(path), path


class ProxyThread:
    """An XrayProxy on its own event loop in a thread, collecting records."""

    def __init__(self, upstream_port: int, formatter) -> None:
        self.records: list[tuple[int, object]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.proxy = XrayProxy("127.0.0.1", upstream_port, on_records=self._collect,
                               tracer_factory=lambda: Tracer(body_formatter=formatter))

    def _collect(self, number, records) -> None:
        with self._lock:
            self.records.extend((number, record) for record in records)

    def snapshot(self) -> list:
        with self._lock:
            return [record for _, record in self.records]

    def start(self) -> int:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.proxy.start("127.0.0.1", 0), self._loop).result(WAIT)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self._loop).result(WAIT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()


class GreeterServicer:
    """The four call patterns, as grpcio's generic handlers want them."""

    def __init__(self, module) -> None:
        self.Resp = module.Resp

    def hello(self, request, context):
        if request.name.startswith("deflate-me"):
            context.set_compression(grpc.Compression.Deflate)
        if request.name == "fail":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such name: fail")
        return self.Resp(greeting=f"hello {request.name}", numbers=[request.count])

    def many(self, request, context):
        for i in range(request.count):
            yield self.Resp(greeting=f"{request.name} #{i}", numbers=[i])

    def collect(self, request_iterator, context):
        names = [request.name for request in request_iterator]
        return self.Resp(greeting=",".join(names), numbers=[len(names)])

    def chat(self, request_iterator, context):
        for request in request_iterator:
            yield self.Resp(greeting=f"echo {request.name}", numbers=[request.count])


@pytest.fixture(scope="module")
def grpc_server(greeter):
    module, _ = greeter
    servicer = GreeterServicer(module)
    methods = module.Greeter.methods
    kinds = {
        "Hello": grpc.unary_unary_rpc_method_handler,
        "Many": grpc.unary_stream_rpc_method_handler,
        "Collect": grpc.stream_unary_rpc_method_handler,
        "Chat": grpc.stream_stream_rpc_method_handler,
    }
    handlers = {
        name: kinds[name](getattr(servicer, name.lower()),
                          request_deserializer=methods[name].request_class.decode,
                          response_serializer=lambda message: message.encode())
        for name in kinds
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("demo.Greeter", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None).wait(WAIT)


@pytest.fixture
def make_proxy():
    """ProxyThread itself, for tests that set one up their own way."""
    return ProxyThread


@pytest.fixture
def traced(grpc_server, greeter):
    """(proxy thread, grpc channel through it): a fresh connection per test."""
    _, path = greeter
    proxy = ProxyThread(grpc_server, wire_formatter([str(path)]))
    port = proxy.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)])
    try:
        yield proxy, channel
    finally:
        channel.close()
        proxy.stop()
