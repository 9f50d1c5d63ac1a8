"""How fast are our calls? Our client and server against grpc.aio, grpclib and raw h2.

Run: .venv/bin/python benchmarks/rpc.py            (about 4 minutes)
     .venv/bin/python benchmarks/rpc.py --quick    (about 1 minute)
     .venv/bin/python benchmarks/rpc.py --profile server --only unary-64
                                                   (cProfile of our server side)

Four implementations, in one run, each as a client process calling a server
process of its own kind over TCP on 127.0.0.1:

    ours      rpc.Server and rpc.Channel (transport/, rpc/), pure Python on h2
    grpc.aio  grpcio's asyncio API, the C core underneath
    grpclib   the pure-Python gRPC on h2, called through its low-level API
    raw-h2    no gRPC at all: an h2 server echoing DATA and an h2 client doing
              request/response on one connection, the same windows and frame
              size as ours. What any pure-Python design on h2 can reach at best.

The scenarios (payloads are bytes, identical for every implementation; no
protobuf codec is involved, so this measures the RPC stack alone):

    unary sequential     one call at a time, a 100-byte request echoed back:
                         calls/s, and the p50/p99 latency of one call
    unary 64 in flight   64 callers sharing one channel (one connection)
    stream 1 KiB         one request, then 2,000 response messages of 1 KiB
    stream 1 MiB         one request, then 16 response messages of 1 MiB
    ping-pong            one bidirectional call: write 100 bytes, read them back

Each scenario warms up, then runs several rounds of a fixed length, the
implementations taking turns round by round; the best round counts (noise on
a shared machine only ever slows a round down), and for latencies the lowest
p50 and p99 of any round. The orchestrating process starts every server
first, with `--serve IMPL` (it prints its port, then serves until its stdin
closes), and every client, with `--client IMPL --port PORT` (it runs the
rounds asked for on its stdin, and answers each with a JSON line).

The targets, same run, same machine: ahead of grpclib on every row; ahead of
grpc.aio on unary 64-in-flight and on stream 1 KiB; unary 64-in-flight at
0.8x raw-h2 or better.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

# This file is benchmarks/rpc.py: put the repository first on the path, so that
# `import rpc` finds the package and not this script.
REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

IMPLEMENTATIONS = ("ours", "grpc.aio", "grpclib", "raw-h2")

# --- The service, the same for every implementation ------------------------------

SERVICE = "bench.Bench"
UNARY_PATH = f"/{SERVICE}/Unary"        # echoes the request
STREAM_PATH = f"/{SERVICE}/Stream"      # request b"COUNT SIZE": COUNT messages of SIZE bytes
PINGPONG_PATH = f"/{SERVICE}/PingPong"  # echoes every request message

RAW_PATHS = {path.encode(): path for path in (UNARY_PATH, STREAM_PATH, PINGPONG_PATH)}

SMALL_PAYLOAD = b"x" * 100
KIB = 1024
MIB = 1024 * 1024
IN_FLIGHT = 64
STREAM_SMALL = (2000, KIB)   # messages per call, message size
STREAM_LARGE = (16, MIB)

# The server's answer to a stream request is one bytes object, sent COUNT times.
_stream_payloads: dict[int, bytes] = {}


def stream_request(count: int, size: int) -> bytes:
    return b"%d %d" % (count, size)


def parse_stream_request(request: bytes) -> tuple[int, bytes]:
    count, size = (int(field) for field in request.split())
    payload = _stream_payloads.get(size)
    if payload is None:
        payload = _stream_payloads[size] = b"s" * size
    return count, payload


# --- Timing -------------------------------------------------------------------------

QUICK = {"warmup": 0.2, "rounds": 4, "seconds": 0.5}
FULL = {"warmup": 0.5, "rounds": 6, "seconds": 1.5}
PROCESS_STOP_TIMEOUT = 5.0
RAW_H2_TARGET = 0.8
PROFILE_LINES = 30
SETTLE_MALLOC_BLOCK = 1024 * 1024   # above glibc's 128 KiB mmap threshold (see settle_malloc)


# --- Servers ------------------------------------------------------------------------


async def serve_ours() -> Callable[[], Awaitable[None]]:
    import rpc

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        count, payload = parse_stream_request(request)
        for _ in range(count):
            yield payload

    async def pingpong(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    server = rpc.Server()
    server.add_method_handlers([
        rpc.MethodHandler(UNARY_PATH, rpc.Cardinality.UNARY_UNARY, unary),
        rpc.MethodHandler(STREAM_PATH, rpc.Cardinality.UNARY_STREAM, stream),
        rpc.MethodHandler(PINGPONG_PATH, rpc.Cardinality.STREAM_STREAM, pingpong),
    ])
    port = await server.start("127.0.0.1:0")
    announce_port(port)
    return lambda: server.stop(None)


async def serve_grpcio() -> Callable[[], Awaitable[None]]:
    import grpc

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        count, payload = parse_stream_request(request)
        for _ in range(count):
            yield payload

    async def pingpong(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "PingPong": grpc.stream_stream_rpc_method_handler(pingpong),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    announce_port(port)
    return lambda: server.stop(None)


def grpclib_raw_codec() -> Any:
    """A grpclib codec that passes bytes through (grpclib's default wants protobuf)."""
    from grpclib.encoding.base import CodecBase

    class RawCodec(CodecBase):
        __content_subtype__ = "proto"

        def encode(self, message: bytes, message_type: Any) -> bytes:
            return message

        def decode(self, data: bytes, message_type: Any) -> bytes:
            return data

    return RawCodec()


class GrpclibBench:
    """The service for grpclib's server: what its generated code would say, by hand."""

    async def unary(self, stream: Any) -> None:
        request = await stream.recv_message()
        await stream.send_message(request)

    async def stream(self, stream: Any) -> None:
        count, payload = parse_stream_request(await stream.recv_message())
        for _ in range(count):
            await stream.send_message(payload)

    async def pingpong(self, stream: Any) -> None:
        async for request in stream:
            await stream.send_message(request)

    def __mapping__(self) -> dict:
        from grpclib.const import Cardinality, Handler
        return {
            UNARY_PATH: Handler(self.unary, Cardinality.UNARY_UNARY, None, None),
            STREAM_PATH: Handler(self.stream, Cardinality.UNARY_STREAM, None, None),
            PINGPONG_PATH: Handler(self.pingpong, Cardinality.STREAM_STREAM, None, None),
        }


async def serve_grpclib() -> Callable[[], Awaitable[None]]:
    from grpclib.server import Server

    server = Server([GrpclibBench()], codec=grpclib_raw_codec())
    await server.start("127.0.0.1", 0)
    announce_port(server._server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
        await server.wait_closed()
    return stop


async def serve_raw_h2() -> Callable[[], Awaitable[None]]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawH2Server, "127.0.0.1", 0)
    announce_port(server.sockets[0].getsockname()[1])

    async def stop() -> None:
        server.close()
    return stop


SERVERS = {"ours": serve_ours, "grpc.aio": serve_grpcio, "grpclib": serve_grpclib, "raw-h2": serve_raw_h2}


def announce_port(port: int) -> None:
    print(port, flush=True)


async def serve_until_stdin_closes(implementation: str) -> None:
    stop = await SERVERS[implementation]()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # returns at EOF: the orchestrator is done
    await stop()


# --- Raw h2: the ceiling ------------------------------------------------------------

RAW_STREAM_WINDOW = 1024 * 1024           # as transport.connection.DEFAULT_STREAM_WINDOW
RAW_CONNECTION_WINDOW = 16 * 1024 * 1024  # as DEFAULT_CONNECTION_WINDOW
RAW_MAX_FRAME_SIZE = 64 * 1024            # as DEFAULT_MAX_FRAME_SIZE
RAW_INITIAL_CONNECTION_WINDOW = 65_535    # RFC 9113 §6.9.2
RAW_RESPONSE_HEADERS = [(b":status", b"200")]


def raw_request_headers(path: str) -> list[tuple[bytes, bytes]]:
    return [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()),
            (b":authority", b"127.0.0.1")]


RAW_REQUEST_HEADERS = {path: raw_request_headers(path) for path in RAW_PATHS.values()}


class RawH2Protocol(asyncio.Protocol):
    """h2 on a socket and nothing else; writes batched once per event-loop turn."""

    client_side = False

    def __init__(self) -> None:
        import h2.config
        import h2.connection
        import h2.settings

        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=self.client_side, header_encoding=None,
            validate_inbound_headers=False, validate_outbound_headers=False,
            normalize_outbound_headers=False,
        ))
        self.h2.local_settings = h2.settings.Settings(client=self.client_side, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RAW_STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: RAW_MAX_FRAME_SIZE,
        })
        self.h2.max_inbound_frame_size = RAW_MAX_FRAME_SIZE
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(RAW_CONNECTION_WINDOW - RAW_INITIAL_CONNECTION_WINDOW)
        self.transport: asyncio.Transport | None = None
        self.flush_scheduled = False
        self.handlers = self.event_handlers()

    def event_handlers(self) -> dict:
        return {}

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        handlers = self.handlers
        for event in self.h2.receive_data(data):
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        self.flush()

    def schedule_flush(self) -> None:
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


class RawH2Server(RawH2Protocol):
    """Echoes unary and ping-pong DATA; answers a stream request with COUNT DATA frames."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: dict[int, str] = {}
        self.bodies: dict[int, bytearray] = {}
        self.sending: dict[int, list] = {}  # stream id -> [messages left, payload, offset]

    def event_handlers(self) -> dict:
        import h2.events
        return {
            h2.events.RequestReceived: self.on_request,
            h2.events.DataReceived: self.on_data,
            h2.events.StreamEnded: self.on_stream_ended,
            h2.events.WindowUpdated: self.on_window_updated,
            h2.events.StreamReset: self.on_stream_reset,
        }

    def on_request(self, event: Any) -> None:
        path = RAW_PATHS[dict(event.headers)[b":path"]]
        self.paths[event.stream_id] = path
        self.bodies[event.stream_id] = bytearray()
        if path == PINGPONG_PATH:
            self.h2.send_headers(event.stream_id, RAW_RESPONSE_HEADERS)

    def on_data(self, event: Any) -> None:
        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        if self.paths[event.stream_id] == PINGPONG_PATH:
            self.h2.send_data(event.stream_id, event.data)
        else:
            self.bodies[event.stream_id] += event.data

    def on_stream_ended(self, event: Any) -> None:
        stream_id = event.stream_id
        path = self.paths.pop(stream_id)
        body = bytes(self.bodies.pop(stream_id))
        if path == STREAM_PATH:
            count, payload = parse_stream_request(body)
            self.h2.send_headers(stream_id, RAW_RESPONSE_HEADERS)
            self.sending[stream_id] = [count, payload, 0]
            self.pump(stream_id)
        elif path == PINGPONG_PATH:
            self.h2.end_stream(stream_id)
        else:
            self.h2.send_headers(stream_id, RAW_RESPONSE_HEADERS)
            self.h2.send_data(stream_id, body, end_stream=True)

    def pump(self, stream_id: int) -> None:
        """Send the stream's messages, one DATA frame each, as far as the windows allow."""
        state = self.sending[stream_id]
        count, payload, offset = state
        while count:
            window = self.h2.local_flow_control_window(stream_id)
            size = min(window, self.h2.max_outbound_frame_size, len(payload) - offset)
            if size <= 0:
                break
            self.h2.send_data(stream_id, payload if size == len(payload) else payload[offset:offset + size])
            offset += size
            if offset == len(payload):
                count, offset = count - 1, 0
        state[0], state[2] = count, offset
        if not count:
            del self.sending[stream_id]
            self.h2.end_stream(stream_id)

    def on_window_updated(self, event: Any) -> None:
        for stream_id in list(self.sending):
            self.pump(stream_id)

    def on_stream_reset(self, event: Any) -> None:
        for table in (self.paths, self.bodies, self.sending):
            table.pop(event.stream_id, None)


class RawH2Client(RawH2Protocol):
    """Request/response on one connection: one stream per request."""

    client_side = True

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[int, RawCall] = {}

    def event_handlers(self) -> dict:
        import h2.events
        return {
            h2.events.DataReceived: self.on_data,
            h2.events.StreamEnded: self.on_stream_ended,
        }

    def open(self, path: str, body: bytes | None) -> RawCall:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, RAW_REQUEST_HEADERS[path])
        if body is not None:
            self.h2.send_data(stream_id, body, end_stream=True)
        call = self.calls[stream_id] = RawCall(stream_id)
        self.schedule_flush()
        return call

    async def unary(self, payload: bytes) -> bytes:
        call = self.open(UNARY_PATH, payload)
        await call.ended
        return bytes(call.body)

    async def stream(self, request: bytes) -> int:
        count, size = (int(field) for field in request.split())
        call = self.open(STREAM_PATH, request)
        await call.ended
        return call.received // size

    def on_data(self, event: Any) -> None:
        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        call = self.calls[event.stream_id]
        call.received += len(event.data)
        if call.keep_body:
            call.body += event.data
        if call.waiter is not None and call.received >= call.wanted:
            call.waiter.set_result(None)
            call.waiter = None

    def on_stream_ended(self, event: Any) -> None:
        self.calls.pop(event.stream_id).ended.set_result(None)


class RawCall:
    """One stream of the raw client."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.ended = asyncio.get_running_loop().create_future()
        self.body = bytearray()
        self.keep_body = True
        self.received = 0
        self.wanted = 0
        self.waiter: asyncio.Future | None = None


# --- Clients: one shape for all four ------------------------------------------------


class Client:
    """What a scenario needs from an implementation."""

    async def unary(self, payload: bytes) -> bytes:
        raise NotImplementedError

    async def stream(self, request: bytes) -> int:
        """Make a server-streaming call; return the number of messages received."""
        raise NotImplementedError

    def pingpong(self) -> contextlib.AbstractAsyncContextManager:
        """A bidirectional call, as a context giving `roundtrip(payload) -> reply`."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


class ChannelClient(Client):
    """A client on a channel with grpcio's four factories (ours and grpc.aio have them)."""

    eof: object = None   # what read() returns after the last response

    def __init__(self, channel) -> None:
        self.channel = channel
        self._unary = channel.unary_unary(UNARY_PATH)
        self._stream = channel.unary_stream(STREAM_PATH)
        self._pingpong = channel.stream_stream(PINGPONG_PATH)

    async def unary(self, payload: bytes) -> bytes:
        return await self._unary(payload)

    async def stream(self, request: bytes) -> int:
        received = 0
        async for _ in self._stream(request):
            received += 1
        return received

    @contextlib.asynccontextmanager
    async def pingpong(self):
        call = self._pingpong()

        async def roundtrip(payload: bytes) -> bytes:
            await call.write(payload)
            return await call.read()
        yield roundtrip
        await call.done_writing()
        if await call.read() is not self.eof:
            raise RuntimeError("the ping-pong call sent more than it was asked")

    async def close(self) -> None:
        await self.channel.close()


class OursClient(ChannelClient):
    def __init__(self, port: int) -> None:
        import rpc
        self.eof = rpc.EOF
        super().__init__(rpc.Channel(f"127.0.0.1:{port}"))


class GrpcioClient(ChannelClient):
    def __init__(self, port: int) -> None:
        import grpc
        self.eof = grpc.aio.EOF
        super().__init__(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))


class GrpclibClient(Client):
    def __init__(self, port: int) -> None:
        from grpclib.client import Channel, UnaryUnaryMethod
        self.channel = Channel("127.0.0.1", port, codec=grpclib_raw_codec())
        self._unary = UnaryUnaryMethod(self.channel, UNARY_PATH, None, None)

    async def unary(self, payload: bytes) -> bytes:
        return await self._unary(payload)

    async def stream(self, request: bytes) -> int:
        from grpclib.const import Cardinality
        received = 0
        async with self.channel.request(STREAM_PATH, Cardinality.UNARY_STREAM, None, None) as call:
            await call.send_message(request, end=True)
            async for _ in call:
                received += 1
        return received

    @contextlib.asynccontextmanager
    async def pingpong(self):
        from grpclib.const import Cardinality
        async with self.channel.request(PINGPONG_PATH, Cardinality.STREAM_STREAM, None, None) as call:
            async def roundtrip(payload: bytes) -> bytes:
                await call.send_message(payload)
                return await call.recv_message()
            yield roundtrip
            await call.end()
            assert await call.recv_message() is None

    async def close(self) -> None:
        self.channel.close()


class RawH2BenchClient(Client):
    def __init__(self, port: int) -> None:
        self.port = port
        self.protocol: RawH2Client | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, self.protocol = await loop.create_connection(RawH2Client, "127.0.0.1", self.port)

    async def unary(self, payload: bytes) -> bytes:
        return await self.protocol.unary(payload)

    async def stream(self, request: bytes) -> int:
        return await self.protocol.stream(request)

    @contextlib.asynccontextmanager
    async def pingpong(self):
        protocol = self.protocol
        call = protocol.open(PINGPONG_PATH, None)
        call.keep_body = False

        async def roundtrip(payload: bytes) -> int:
            call.wanted = call.received + len(payload)
            call.waiter = asyncio.get_running_loop().create_future()
            protocol.h2.send_data(call.stream_id, payload)
            protocol.schedule_flush()
            await call.waiter
            return payload
        yield roundtrip
        protocol.h2.end_stream(call.stream_id)
        protocol.schedule_flush()
        await call.ended

    async def close(self) -> None:
        self.protocol.transport.close()


async def make_client(implementation: str, port: int) -> Client:
    if implementation == "ours":
        return OursClient(port)
    if implementation == "grpc.aio":
        return GrpcioClient(port)
    if implementation == "grpclib":
        return GrpclibClient(port)
    client = RawH2BenchClient(port)
    await client.connect()
    return client


# --- Scenarios --------------------------------------------------------------------


async def unary_sequential(client: Client, seconds: float, latencies: list[float]) -> float:
    """Calls/s, one call at a time; each call's latency appended to `latencies`."""
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds
    calls = 0
    now = started
    while now < deadline:
        reply = await client.unary(SMALL_PAYLOAD)
        finished = clock()
        latencies.append(finished - now)
        now = finished
        calls += 1
    check_echo(reply, SMALL_PAYLOAD)
    return calls / (now - started)


async def unary_in_flight(client: Client, seconds: float) -> float:
    """Calls/s with IN_FLIGHT callers on one channel."""
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds

    async def caller() -> int:
        calls = 0
        while clock() < deadline:
            check_echo(await client.unary(SMALL_PAYLOAD), SMALL_PAYLOAD)
            calls += 1
        return calls
    counts = await asyncio.gather(*(caller() for _ in range(IN_FLIGHT)))
    return sum(counts) / (clock() - started)


async def server_stream(client: Client, seconds: float, count: int, size: int) -> float:
    """Messages/s of one server-streaming call after another."""
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds
    messages = 0
    while clock() < deadline:
        received = await client.stream(stream_request(count, size))
        if received != count:
            raise AssertionError(f"stream call gave {received} messages, not {count}")
        messages += received
    return messages / (clock() - started)


async def pingpong(client: Client, seconds: float) -> float:
    """Round trips/s on one bidirectional call."""
    clock = time.perf_counter
    async with client.pingpong() as roundtrip:
        started = clock()
        deadline = started + seconds
        trips = 0
        while clock() < deadline:
            await roundtrip(SMALL_PAYLOAD)
            trips += 1
        elapsed = clock() - started
    return trips / elapsed


def check_echo(reply: Any, payload: bytes) -> None:
    if reply != payload:
        raise AssertionError(f"echo came back as {reply[:20]!r}, not {payload[:20]!r}")


SCENARIOS = {
    "unary-seq": "unary sequential (calls/s)",
    "unary-64": f"unary {IN_FLIGHT} in flight (calls/s)",
    "stream-1k": "stream 1 KiB (messages/s)",
    "stream-1m": "stream 1 MiB (MB/s)",
    "pingpong": "bidi ping-pong (round trips/s)",
}


async def scenario_rate(client: Client, name: str, seconds: float, latencies: list[float]) -> float:
    if name == "unary-seq":
        return await unary_sequential(client, seconds, latencies)
    if name == "unary-64":
        return await unary_in_flight(client, seconds)
    if name == "stream-1k":
        return await server_stream(client, seconds, *STREAM_SMALL)
    if name == "stream-1m":
        return await server_stream(client, seconds, *STREAM_LARGE) * STREAM_LARGE[1] / 1e6  # MB/s
    if name == "pingpong":
        return await pingpong(client, seconds)
    raise ValueError(f"unknown scenario {name!r}")


async def run_round(client: Client, name: str, seconds: float) -> dict[str, float]:
    """One round of one scenario: its rate (and, for unary-seq, its latencies in us)."""
    latencies: list[float] = []
    results = {name: await scenario_rate(client, name, seconds, latencies)}
    if latencies:
        latencies.sort()
        results["unary-p50"] = percentile(latencies, 0.50) * 1e6
        results["unary-p99"] = percentile(latencies, 0.99) * 1e6
    return results


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def serve_rounds(implementation: str, port: int) -> None:
    """The client process: run the rounds the orchestrator asks for, one JSON line each."""
    client = await make_client(implementation, port)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            request = json.loads(line)
            print(json.dumps(await run_round(client, request["scenario"], request["seconds"])), flush=True)
    finally:
        await client.close()


# --- The orchestrator ---------------------------------------------------------------
#
# All four servers and all four clients are started first and stay up; the
# rounds then take turns across the implementations (A B C D, B C D A, ...),
# one pair busy at a time. On a shared machine, a burst of someone else's
# work then slows every implementation a little instead of one a lot.

# Row key, label, whether higher is better.
ROWS = [
    ("unary-seq", "unary sequential (calls/s)", True),
    ("unary-p50", "unary sequential p50 (us)", False),
    ("unary-p99", "unary sequential p99 (us)", False),
    ("unary-64", f"unary {IN_FLIGHT} in flight (calls/s)", True),
    ("stream-1k", "stream 1 KiB (messages/s)", True),
    ("stream-1m", "stream 1 MiB (MB/s)", True),
    ("pingpong", "bidi ping-pong (round trips/s)", True),
]
HIGHER_IS_BETTER = {key: higher for key, _, higher in ROWS}


class Pair:
    """One implementation's server process and client process."""

    def __init__(self, implementation: str, profile: str | None) -> None:
        self.implementation = implementation
        self.profile_file = os.path.join(tempfile.gettempdir(), f"rpc-bench-{profile}.prof") if profile else None
        command = [sys.executable, __file__, "--serve", implementation]
        if profile == "server":
            command += ["--profile-out", self.profile_file]
        self.server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        port = int(self.server.stdout.readline())
        command = [sys.executable, __file__, "--client", implementation, "--port", str(port)]
        if profile == "client":
            command += ["--profile-out", self.profile_file]
        self.client = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run_round(self, scenario: str, seconds: float) -> dict[str, float]:
        self.client.stdin.write(json.dumps({"scenario": scenario, "seconds": seconds}) + "\n")
        self.client.stdin.flush()
        line = self.client.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.implementation} client died (exit {self.client.wait()})")
        return json.loads(line)

    def stop(self) -> None:
        for process in (self.client, self.server):
            process.stdin.close()
            try:
                process.wait(PROCESS_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.profile_file:
            show_profile(self.profile_file)


def measure(pairs: list[Pair], scenarios: list[str], timing: dict) -> dict[str, dict[str, float]]:
    """Best round of every scenario for every implementation, rounds interleaved."""
    results: dict[str, dict[str, float]] = {pair.implementation: {} for pair in pairs}
    for scenario in scenarios:
        print(f"  {scenario} ...", file=sys.stderr, flush=True)
        for pair in pairs:
            pair.run_round(scenario, timing["warmup"])
        for round_number in range(timing["rounds"]):
            shift = round_number % len(pairs)
            for pair in pairs[shift:] + pairs[:shift]:
                keep_best(results[pair.implementation], pair.run_round(scenario, timing["seconds"]))
    return results


def keep_best(best: dict[str, float], new: dict[str, float]) -> None:
    for key, value in new.items():
        if key not in best:
            best[key] = value
        elif HIGHER_IS_BETTER[key]:
            best[key] = max(best[key], value)
        else:
            best[key] = min(best[key], value)


def show_profile(path: str) -> None:
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(PROFILE_LINES)
    stats.sort_stats("cumulative").print_stats(PROFILE_LINES)
    print(f"(the profile is in {path})")


def print_table(results: dict[str, dict[str, float]], rows: list[tuple[str, str, bool]]) -> None:
    ratios = [("ours/grpclib", "grpclib"), ("ours/grpc.aio", "grpc.aio"), ("ours/raw-h2", "raw-h2")]
    header = f"{'scenario':<34}" + "".join(f"{name:>11}" for name in IMPLEMENTATIONS)
    header += "".join(f"{label:>15}" for label, _ in ratios)
    print(header)
    print("-" * len(header))
    for key, label, _higher_is_better in rows:
        line = f"{label:<34}"
        for implementation in IMPLEMENTATIONS:
            value = results.get(implementation, {}).get(key)
            line += f"{value:>11,.0f}" if value is not None else f"{'-':>11}"
        ours = results.get("ours", {}).get(key)
        for _, other in ratios:
            theirs = results.get(other, {}).get(key)
            line += f"{ours / theirs:>14.2f}x" if ours and theirs else f"{'-':>15}"
        print(line)
    print("Ratios are ours/theirs: above 1 is better for rates, below 1 for latencies (us).")


def check_targets(results: dict[str, dict[str, float]], rows: list[tuple[str, str, bool]]) -> None:
    ours = results.get("ours", {})

    def ratio(key: str, other: str) -> float | None:
        theirs = results.get(other, {}).get(key)
        return ours[key] / theirs if key in ours and theirs else None

    targets = []
    for key, label, higher_is_better in rows:
        value = ratio(key, "grpclib")
        if value is not None:
            met = value > 1 if higher_is_better else value < 1
            targets.append((f"ahead of grpclib: {label}", value, met))
    for key in ("unary-64", "stream-1k"):
        value = ratio(key, "grpc.aio")
        if value is not None:
            targets.append((f"ahead of grpc.aio: {SCENARIOS[key]}", value, value > 1))
    value = ratio("unary-64", "raw-h2")
    if value is not None:
        targets.append((f"at least {RAW_H2_TARGET}x raw-h2: {SCENARIOS['unary-64']}", value,
                        value >= RAW_H2_TARGET))
    if targets:
        print()
    for label, value, met in targets:
        print(f"{'met   ' if met else 'MISSED'}  {label:<60} {value:.2f}x")


def orchestrate(args: argparse.Namespace) -> None:
    implementations = args.implementations.split(",")
    scenarios = args.only.split(",") if args.only else list(SCENARIOS)
    timing = QUICK if args.quick else FULL
    started = time.perf_counter()
    print(f"starting {', '.join(implementations)} ...", file=sys.stderr, flush=True)
    pairs = []
    try:
        for implementation in implementations:
            pairs.append(Pair(implementation, args.profile))
        results = measure(pairs, scenarios, timing)
    finally:
        for pair in pairs:
            pair.stop()
    keys = set(scenarios) | ({"unary-p50", "unary-p99"} if "unary-seq" in scenarios else set())
    rows = [row for row in ROWS if row[0] in keys]
    print()
    print_table(results, rows)
    check_targets(results, rows)
    print(f"\n({time.perf_counter() - started:.0f} s, {'quick' if args.quick else 'full'} run, "
          f"best of {timing['rounds']} interleaved rounds of {timing['seconds']} s)")


# --- Entry points -------------------------------------------------------------------


def settle_malloc() -> None:
    """Put glibc's malloc in the state a long-running process reaches anyway.

    Until a process first frees a block above 128 KiB, glibc serves every
    such allocation with mmap and munmap. asyncio's plain Protocol transports
    allocate 256 KiB for every socket read, so a fresh process pays about
    15 us per read until, some time later, something frees a large block;
    grpclib's ping-pong ran at 3,500 or 5,000 round trips/s depending on
    that. One large block freed here raises the threshold at once, so that
    every implementation is measured in the state it would settle in.
    (Our driver reads into a buffer of its own and is indifferent to it.)
    """
    block = bytearray(SETTLE_MALLOC_BLOCK)
    del block


def run_profiled(coroutine: Awaitable, profile_out: str | None) -> Any:
    if profile_out is None:
        return asyncio.run(coroutine)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        return asyncio.run(coroutine)
    finally:
        profiler.disable()
        profiler.dump_stats(profile_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--only", help=f"comma-separated scenarios, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--implementations", default=None,
                        help="comma-separated, of: " + ", ".join(IMPLEMENTATIONS))
    parser.add_argument("--profile", choices=("client", "server"),
                        help="with cProfile on one side (of ours, unless --implementations says otherwise)")
    parser.add_argument("--serve", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve or args.client:
        settle_malloc()
    if args.serve:
        run_profiled(serve_until_stdin_closes(args.serve), args.profile_out)
    elif args.client:
        run_profiled(serve_rounds(args.client, args.port), args.profile_out)
    else:
        if args.implementations is None:
            args.implementations = "ours" if args.profile else ",".join(IMPLEMENTATIONS)
        orchestrate(args)


if __name__ == "__main__":
    main()
