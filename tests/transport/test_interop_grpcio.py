"""Interop with grpcio, the reference implementation, over loopback.

Both directions: our transport-level client calls a grpcio server, and a grpcio
client calls our transport-level server. Payloads are raw bytes (grpcio's
generic handlers and multi-callables without serializers), so no protobuf
codec is involved: this is the transport alone against the real thing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from concurrent import futures

import grpc
import pytest

from transport.driver import ServerStream, StreamTerminated, connect, start_server
from transport.status import StatusCode

pytestmark = pytest.mark.timeout(60)

SERVICE = "test.Echo"
MIB = 1024 * 1024
LIMIT = 64 * MIB
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", LIMIT),
    ("grpc.max_send_message_length", LIMIT),
]
OUR_LIMITS = dict(max_receive_message_length=LIMIT)
SIZES = [0, 64 * 1024, MIB, 16 * MIB]


def run(coroutine_function):
    """Run an async test body on a fresh event loop, bounded in time."""
    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(coroutine_function(*args, **kwargs), 45))
    return wrapper


async def in_thread(function, *args, **kwargs):
    """Run a blocking grpcio call without blocking our event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args, **kwargs))


# --- A grpcio server ---------------------------------------------------------------------


class GrpcioServer:
    """grpcio serving raw bytes: echo in all four call patterns, and some failures."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.slow_started = threading.Event()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=GRPC_OPTIONS)
        handlers = {
            "Unary": grpc.unary_unary_rpc_method_handler(self.unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(self.server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(self.client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(self.bidi),
            "Fail": grpc.unary_unary_rpc_method_handler(self.fail),
            "Hang": grpc.stream_stream_rpc_method_handler(self.hang),
            "Slow": grpc.unary_unary_rpc_method_handler(self.slow),
        }
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc_info):
        self.server.stop(grace=None).wait(5)

    @staticmethod
    def unary(request, context):
        context.send_initial_metadata([(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")])
        return request

    @staticmethod
    def server_stream(request, context):
        count, size = request.split(b",")
        for index in range(int(count)):
            yield bytes([index % 256]) * int(size)

    @staticmethod
    def client_stream(request_iterator, context):
        messages = list(request_iterator)
        return b"%d,%d" % (len(messages), sum(len(m) for m in messages))

    @staticmethod
    def bidi(request_iterator, context):
        for message in request_iterator:
            yield message[::-1]

    @staticmethod
    def fail(request, context):
        context.set_trailing_metadata([("detail-bin", b"\x00\xff"), ("why", "because")])
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "not now ☺ 100%")

    def slow(self, request, context):
        self.slow_started.set()
        time.sleep(0.5)
        return request

    def hang(self, request_iterator, context):
        context.add_callback(self.cancelled.set)
        for _ in request_iterator:
            pass
        time.sleep(10)
        return iter(())


async def our_unary(client, method: str, message: bytes, **options):
    call = await client.start_call(f"/{SERVICE}/{method}", **options)
    sending = asyncio.ensure_future(call.send_message(message, end=True))
    replies = [reply async for reply in call]
    trailers = await call.receive_trailers()
    try:
        await sending
    except StreamTerminated:
        pass
    return call, replies, trailers


# --- Our client, grpcio server ------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@run
async def test_our_client_unary_to_grpcio(size):
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port, **OUR_LIMITS)
        message = os.urandom(size)
        call, replies, trailers = await our_unary(client, "Unary", message, metadata=[("x-k", "v")])
        assert trailers.status == StatusCode.OK, trailers
        assert replies == [message]
        assert ("x-k", "v") in call.head.metadata
        await client.close()


@run
async def test_our_client_streaming_patterns_to_grpcio():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port, **OUR_LIMITS)
        _, replies, trailers = await our_unary(client, "ServerStream", b"20,70000")
        assert trailers.status == StatusCode.OK
        assert replies == [bytes([i]) * 70000 for i in range(20)]

        call = await client.start_call(f"/{SERVICE}/ClientStream")
        for size in (0, 10, MIB, 64 * 1024):
            await call.send_message(bytes(size))
        call.end()
        assert await call.receive_message() == b"4,%d" % (10 + MIB + 64 * 1024)
        assert (await call.receive_trailers()).status == StatusCode.OK

        call = await client.start_call(f"/{SERVICE}/Bidi")
        for word in (b"abc", b"", bytes(range(200)) * 1000):
            await call.send_message(word)
            assert await call.receive_message() == word[::-1]
        call.end()
        assert await call.receive_message() is None
        assert (await call.receive_trailers()).status == StatusCode.OK
        await client.close()


@run
async def test_our_client_200_concurrent_streams_to_grpcio():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port, **OUR_LIMITS)
        results = await asyncio.gather(*(
            our_unary(client, "Unary", b"%d" % index + bytes(index * 100)) for index in range(200)))
        for index, (_, replies, trailers) in enumerate(results):
            assert trailers.status == StatusCode.OK
            assert replies == [b"%d" % index + bytes(index * 100)]
        await client.close()


def metadata_sequence(count: int = 300) -> list[list[tuple[str, str]]]:
    """Metadata for calls on one connection: a few sets that come back again
    and again (their header blocks repeat, and the HPACK caches serve them),
    a fresh value every 7th call, and a 3 KiB one every 50th, which evicts most
    of the 4 KiB dynamic table (RFC 7541 §4.4) and so moves every index."""
    sets = [[("x-tenant", "a")], [("x-tenant", "b"), ("x-trace", "t1")], [], [("x-tenant", "a"), ("x-n", "1")]]
    sequence = []
    for number in range(count):
        metadata = list(sets[number % len(sets)])
        if number % 7 == 0:
            metadata.append(("x-fresh", str(number)))
        if number % 50 == 0:
            metadata.append(("x-big", "b" * 3000 + str(number)))
        sequence.append(metadata)
    return sequence


@run
async def test_our_client_repeated_and_changing_headers_with_grpcio():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port, **OUR_LIMITS)
        for number, metadata in enumerate(metadata_sequence()):
            call, replies, trailers = await our_unary(client, "Unary", b"%d" % number, metadata=metadata)
            assert trailers.status == StatusCode.OK
            assert replies == [b"%d" % number]
            assert [m for m in call.head.metadata if m[0].startswith("x-")] == metadata
        await client.close()


@run
async def test_our_client_gets_grpcio_errors():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port)
        _, replies, trailers = await our_unary(client, "Fail", b"")
        assert replies == []
        assert (trailers.status, trailers.message) == (StatusCode.FAILED_PRECONDITION, "not now ☺ 100%")
        assert ("detail-bin", b"\x00\xff") in trailers.metadata and ("why", "because") in trailers.metadata
        _, _, trailers = await our_unary(client, "NoSuchMethod", b"")
        assert trailers.status == StatusCode.UNIMPLEMENTED
        call = await client.start_call("/no.Such/Service")
        call.end()
        assert (await call.receive_trailers()).status == StatusCode.UNIMPLEMENTED
        await client.close()


@run
async def test_our_client_compression_with_grpcio():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port)
        message = b"compress me " * 5000
        for encoding in ("gzip", "deflate"):
            _, replies, trailers = await our_unary(client, "Unary", message, encoding=encoding)
            assert trailers.status == StatusCode.OK and replies == [message]
        await client.close()


@run
async def test_our_client_cancel_reaches_grpcio_and_the_connection_lives_on():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port)
        call = await client.start_call(f"/{SERVICE}/Hang")
        await call.send_message(b"x")
        await asyncio.sleep(0.1)
        call.reset()
        assert await in_thread(server.cancelled.wait, 5)
        _, replies, trailers = await our_unary(client, "Unary", b"after")
        assert (replies, trailers.status) == ([b"after"], StatusCode.OK)
        await client.close()


@run
async def test_our_client_deadline_on_grpcio():
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port)
        call = await client.start_call(f"/{SERVICE}/Hang", timeout=0.2)
        trailers = await call.receive_trailers()  # grpcio ends the call when the deadline passes
        assert trailers.status in (StatusCode.DEADLINE_EXCEEDED, StatusCode.CANCELLED)
        await client.close()


@run
async def test_grpcio_graceful_shutdown_lets_our_call_finish():
    # grpcio's stop(grace) sends GOAWAY and lets calls in flight finish. (h2
    # alone would close on the GOAWAY and lose the call; the core keeps going.)
    with GrpcioServer() as server:
        client = await connect("127.0.0.1", server.port)
        call = await client.start_call(f"/{SERVICE}/Slow")
        await call.send_message(b"in flight", end=True)
        await in_thread(server.slow_started.wait, 5)
        stopping = asyncio.ensure_future(in_thread(lambda: server.server.stop(grace=5).wait(10)))
        for _ in range(200):
            if client.goaway is not None:
                break
            await asyncio.sleep(0.01)
        assert client.goaway is not None
        with pytest.raises(StreamTerminated) as info:
            await client.start_call(f"/{SERVICE}/Unary")
        assert info.value.status == StatusCode.UNAVAILABLE
        assert await call.receive_message() == b"in flight"
        assert (await call.receive_trailers()).status == StatusCode.OK
        await stopping
        await client.close()


# --- grpcio client, our server ------------------------------------------------------------


async def our_echo_server(stream: ServerStream) -> None:
    """Our server: the same methods, written against the transport API."""
    method = stream.head.path.rsplit("/", 1)[-1]
    if not stream.head.path.startswith(f"/{SERVICE}/"):
        await stream.send_trailers(StatusCode.UNIMPLEMENTED, f"unknown method {stream.head.path}")
        return
    if method == "Unary":
        request = await stream.receive_message()
        await stream.send_headers(metadata=[m for m in stream.head.metadata if m[0].startswith("x-")],
                                  encoding=stream.head.encoding)
        await stream.send_message(request)
    elif method == "ServerStream":
        count, size = (await stream.receive_message()).split(b",")
        for index in range(int(count)):
            await stream.send_message(bytes([index % 256]) * int(size))
    elif method == "ClientStream":
        messages = [message async for message in stream]
        await stream.send_message(b"%d,%d" % (len(messages), sum(len(m) for m in messages)))
    elif method == "Bidi":
        async for message in stream:
            await stream.send_message(message[::-1])
    elif method == "Fail":
        await stream.send_trailers(StatusCode.RESOURCE_EXHAUSTED, "too much: 100% ☺",
                                   metadata=[("why-bin", b"\x01\x02")], status_details=b"\x08\x08")
        return
    elif method == "Hang":
        await asyncio.sleep(30)
    await stream.send_trailers(StatusCode.OK, metadata=[("done", "yes")])


class OurServer:
    def __init__(self, handler=our_echo_server) -> None:
        self.handler = handler

    async def __aenter__(self):
        self.server = await start_server(self.handler, "127.0.0.1", 0, **OUR_LIMITS)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}", options=GRPC_OPTIONS)
        return self

    async def __aexit__(self, *exc_info):
        self.channel.close()
        await self.server.close(grace=1.0)

    def method(self, name: str, kind: str = "unary_unary"):
        return getattr(self.channel, kind)(f"/{SERVICE}/{name}")


@pytest.mark.parametrize("size", SIZES)
@run
async def test_grpcio_client_unary_to_our_server(size):
    async with OurServer() as ours:
        message = os.urandom(size)
        reply, call = await in_thread(ours.method("Unary").with_call, message, timeout=20,
                                      metadata=[("x-k", "v")])
        assert reply == message
        assert ("x-k", "v") in call.initial_metadata()
        assert call.code() == grpc.StatusCode.OK
        assert ("done", "yes") in call.trailing_metadata()


@run
async def test_grpcio_client_streaming_patterns_to_our_server():
    async with OurServer() as ours:
        replies = await in_thread(lambda: list(ours.method("ServerStream", "unary_stream")(b"20,70000", timeout=20)))
        assert replies == [bytes([i]) * 70000 for i in range(20)]
        sizes = (0, 10, MIB, 64 * 1024)
        reply = await in_thread(ours.method("ClientStream", "stream_unary"),
                                iter([bytes(size) for size in sizes]), timeout=20)
        assert reply == b"4,%d" % sum(sizes)
        words = [b"abc", b"", bytes(range(200)) * 1000]
        replies = await in_thread(lambda: list(ours.method("Bidi", "stream_stream")(iter(words), timeout=20)))
        assert replies == [word[::-1] for word in words]


@run
async def test_grpcio_client_200_concurrent_streams_to_our_server():
    async with OurServer() as ours:
        unary = ours.method("Unary")

        def many():
            calls = [unary.future(b"%d" % i + bytes(i * 100), timeout=30) for i in range(200)]
            return [call.result() for call in calls]

        replies = await in_thread(many)
        assert replies == [b"%d" % i + bytes(i * 100) for i in range(200)]
        assert len(ours.server.connections) == 1


@run
async def test_grpcio_client_repeated_and_changing_headers_with_our_server():
    async with OurServer() as ours:
        unary = ours.method("Unary")

        def calls():
            seen = []
            for number, metadata in enumerate(metadata_sequence()):
                reply, call = unary.with_call(b"%d" % number, metadata=metadata, timeout=20)
                seen.append((reply, [m for m in call.initial_metadata() if m[0].startswith("x-")],
                             call.code(), ("done", "yes") in call.trailing_metadata()))
            return seen

        seen = await in_thread(calls)
        assert seen == [(b"%d" % number, metadata, grpc.StatusCode.OK, True)
                        for number, metadata in enumerate(metadata_sequence())]
        assert len(ours.server.connections) == 1


@run
async def test_grpcio_client_gets_our_errors():
    async with OurServer() as ours:
        with pytest.raises(grpc.RpcError) as info:
            await in_thread(ours.method("Fail"), b"", timeout=10)
        error = info.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.details() == "too much: 100% ☺"
        assert ("why-bin", b"\x01\x02") in error.trailing_metadata()
        with pytest.raises(grpc.RpcError) as info:
            await in_thread(ours.channel.unary_unary("/other.Service/Method"), b"", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


@run
async def test_grpcio_client_compression_with_our_server():
    async with OurServer() as ours:
        message = b"compress me " * 5000
        for compression in (grpc.Compression.Gzip, grpc.Compression.Deflate):
            reply = await in_thread(ours.method("Unary"), message, timeout=10, compression=compression)
            assert reply == message


@run
async def test_grpcio_deadline_cancels_our_handler():
    cancelled = asyncio.Event()

    async def handler(stream: ServerStream) -> None:
        # grpcio rounds what it sends up, never down (it has sent "301m" for 0.3 s)
        assert 0 < stream.head.timeout <= 0.35
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with OurServer(handler) as ours:
        with pytest.raises(grpc.RpcError) as info:
            await in_thread(ours.method("Hang"), b"", timeout=0.3)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.wait_for(cancelled.wait(), 5)


@run
async def test_grpcio_resets_and_window_updates_on_closed_streams_break_nothing(caplog):
    # grpcio cancels streams mid-flight and sends WINDOW_UPDATE / RST_STREAM for
    # streams that are already closed; neither may cost the connection (RFC 9113
    # §5.1, §6.9), and every other call must go on.
    caplog.set_level(logging.WARNING, logger="transport.driver")
    async with OurServer() as ours:
        bidi = ours.method("Bidi", "stream_stream")
        unary = ours.method("Unary")
        server_stream = ours.method("ServerStream", "unary_stream")

        def churn():
            results = []
            for round_ in range(10):
                big = [unary.future(bytes(300_000), timeout=20) for _ in range(10)]
                streaming = server_stream(b"50,40000", timeout=20)
                next(streaming)
                streaming.cancel()  # RST_STREAM(CANCEL) with data in flight
                calls = [bidi(iter([b"x" * 1000] * 5), timeout=20) for _ in range(5)]
                for call in calls[:3]:
                    next(call)
                    call.cancel()
                results += [len(future.result()) for future in big]
                results += [sum(1 for _ in call) for call in calls[3:]]
            return results

        results = await in_thread(churn)
        assert results.count(300_000) == 100
        assert results.count(5) == 20
        reply = await in_thread(unary, b"still fine", timeout=10)
        assert reply == b"still fine"
        assert len(ours.server.connections) == 1
    assert not [r for r in caplog.records if "connection error" in r.getMessage()]
