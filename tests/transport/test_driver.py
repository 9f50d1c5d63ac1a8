"""Tests of the asyncio driver: our client and our server over real sockets."""

from __future__ import annotations

import asyncio
import functools
import os
import selectors
import tempfile
import threading

import pytest

from transport import events as ev
from transport.driver import (
    ServerStream,
    StreamTerminated,
    connect,
    connect_unix,
    start_server,
    start_unix_server,
)
from transport.status import Http2ErrorCode, StatusCode

pytestmark = pytest.mark.timeout(60)

PATH = "/test.Echo/Call"
BIG_LIMITS = dict(max_receive_message_length=32 * 1024 * 1024)


def run(coroutine_function):
    """Run an async test body on a fresh event loop, bounded in time."""
    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(coroutine_function(*args, **kwargs), 30))
    return wrapper


async def echo(stream: ServerStream) -> None:
    """Echo every message; the request's metadata comes back as initial metadata."""
    await stream.send_headers(metadata=[m for m in stream.head.metadata if m[0] != "user-agent"])
    async for message in stream:
        await stream.send_message(message)
    await stream.send_trailers(StatusCode.OK, metadata=[("echoed", "yes")])


class Running:
    """A server and a client connected to it, closed on exit."""

    def __init__(self, handler=echo, *, server_settings=None, client_settings=None) -> None:
        self.handler = handler
        self.server_settings = server_settings or {}
        self.client_settings = client_settings or {}

    async def __aenter__(self):
        self.server = await start_server(self.handler, "127.0.0.1", 0, **self.server_settings)
        self.client = await connect("127.0.0.1", self.server.port, **self.client_settings)
        return self

    async def __aexit__(self, *exc_info):
        await self.client.close()
        await self.server.close(grace=1.0)


async def unary(client, message: bytes, **options):
    call = await client.start_call(PATH, **options)
    await call.send_message(message, end=True)
    reply = await call.receive_message()
    trailers = await call.receive_trailers()
    return call, reply, trailers


@run
async def test_unary_with_metadata():
    async with Running() as running:
        call, reply, trailers = await unary(running.client, b"hello", metadata=[("k", "v"), ("b-bin", b"\x00")])
        assert reply == b"hello"
        assert trailers.status == StatusCode.OK
        assert trailers.metadata == (("echoed", "yes"),)
        assert call.head.metadata == (("k", "v"), ("b-bin", b"\x00"))


@run
async def test_the_four_call_patterns():
    async def handler(stream: ServerStream) -> None:
        method = stream.head.path.rsplit("/", 1)[1]
        requests = [message async for message in stream]
        if method == "ServerStreaming":
            for index in range(int(requests[0])):
                await stream.send_message(str(index).encode())
        elif method == "ClientStreaming":
            await stream.send_message(str(len(requests)).encode())
        await stream.send_trailers(StatusCode.OK)

    async def bidi(stream: ServerStream) -> None:
        async for message in stream:  # ping-pong: one answer per message, as it comes
            await stream.send_message(message.upper())
        await stream.send_trailers()

    async with Running(handler) as running:
        call = await running.client.start_call("/t.S/ServerStreaming")
        await call.send_message(b"5", end=True)
        assert [m async for m in call] == [b"0", b"1", b"2", b"3", b"4"]
        call = await running.client.start_call("/t.S/ClientStreaming")
        for _ in range(7):
            await call.send_message(b"x")
        call.end()
        assert await call.receive_message() == b"7"
        assert (await call.receive_trailers()).status == StatusCode.OK
    async with Running(bidi) as running:
        call = await running.client.start_call("/t.S/Bidi")
        for word in (b"a", b"bb", b"ccc"):
            await call.send_message(word)
            assert await call.receive_message() == word.upper()
        call.end()
        assert await call.receive_message() is None
        assert (await call.receive_trailers()).status == StatusCode.OK


@run
async def test_unix_socket():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "grpc.sock")
        server = await start_unix_server(echo, path)
        client = await connect_unix(path)
        _, reply, trailers = await unary(client, b"over unix")
        assert (reply, trailers.status) == (b"over unix", StatusCode.OK)
        await client.close()
        await server.close()


@run
async def test_large_messages_both_ways():
    async with Running(server_settings=BIG_LIMITS, client_settings=BIG_LIMITS) as running:
        for size in (0, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024):
            message = os.urandom(size)
            call = await running.client.start_call(PATH)
            sending = asyncio.ensure_future(call.send_message(message, end=True))
            assert await call.receive_message() == message
            await sending
            assert (await call.receive_trailers()).status == StatusCode.OK


@run
async def test_message_over_the_limit_is_resource_exhausted():
    async with Running(server_settings=dict(max_receive_message_length=1000)) as running:
        call = await running.client.start_call(PATH)
        try:
            await call.send_message(bytes(5000), end=True)
        except StreamTerminated:
            pass  # the server may answer before the message is all out
        trailers = await call.receive_trailers()
        assert trailers.status == StatusCode.RESOURCE_EXHAUSTED
        _, reply, trailers = await unary(running.client, b"small")
        assert (reply, trailers.status) == (b"small", StatusCode.OK)


@run
async def test_many_concurrent_streams_beyond_max_concurrent_streams():
    async with Running(server_settings=dict(max_concurrent_streams=10)) as running:
        results = await asyncio.gather(*(unary(running.client, str(i).encode()) for i in range(300)))
        assert [reply for _, reply, _ in results] == [str(i).encode() for i in range(300)]
        assert {trailers.status for _, _, trailers in results} == {StatusCode.OK}
        assert len(running.server.connections) == 1


@run
async def test_slow_reader_makes_the_writer_wait():
    started = asyncio.Event()
    may_read = asyncio.Event()

    async def slow(stream: ServerStream) -> None:
        started.set()
        await may_read.wait()
        count = 0
        async for _ in stream:
            count += 1
        await stream.send_message(str(count).encode())
        await stream.send_trailers()

    window = 64 * 1024
    async with Running(slow, server_settings=dict(stream_window=window)) as running:
        call = await running.client.start_call(PATH)

        async def write_all():
            for _ in range(40):
                await call.send_message(bytes(16 * 1024))
            call.end()

        writer = asyncio.ensure_future(write_all())
        await started.wait()
        await asyncio.sleep(0.2)
        assert not writer.done()  # 640 KiB cannot fit in a 64 KiB window nobody empties
        assert running.client._core.pending_send(call.stream_id) <= 16 * 1024 + 5
        may_read.set()
        await writer
        assert await call.receive_message() == b"40"


@run
async def test_handler_that_raises_gives_unknown_and_one_that_returns_gives_ok():
    async def handler(stream: ServerStream) -> None:
        if stream.head.path.endswith("Raise"):
            raise RuntimeError("boom")

    async with Running(handler) as running:
        call = await running.client.start_call("/t.S/Raise")
        call.end()
        trailers = await call.receive_trailers()
        assert trailers.status == StatusCode.UNKNOWN and "RuntimeError" in trailers.message
        assert await call.receive_headers() is None  # it was a Trailers-Only response
        call = await running.client.start_call("/t.S/Return")
        call.end()
        assert (await call.receive_trailers()).status == StatusCode.OK


@run
async def test_error_status_trailers_only():
    async def handler(stream: ServerStream) -> None:
        await stream.send_trailers(StatusCode.PERMISSION_DENIED, "not you",
                                   metadata=[("reason-bin", b"\x01\x02")])

    async with Running(handler) as running:
        call = await running.client.start_call(PATH)
        call.end()
        trailers = await call.receive_trailers()
        assert (trailers.status, trailers.message) == (StatusCode.PERMISSION_DENIED, "not you")
        assert trailers.metadata == (("reason-bin", b"\x01\x02"),)
        with pytest.raises(StreamTerminated) as info:
            await call.send_message(b"late")
        assert info.value.status == StatusCode.PERMISSION_DENIED


@run
async def test_client_cancel_cancels_the_handler():
    cancelled = asyncio.Event()
    reading = asyncio.Event()
    seen: list[ServerStream] = []

    async def handler(stream: ServerStream) -> None:
        if stream.head.path != PATH:
            return await echo(stream)
        seen.append(stream)
        try:
            reading.set()
            await stream.receive_message()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with Running(handler) as running:
        call = await running.client.start_call(PATH)
        await call.send_message(b"one")
        await reading.wait()
        call.reset()
        await asyncio.wait_for(cancelled.wait(), 5)
        assert seen[0].cancelled
        assert isinstance(seen[0].terminal, ev.StreamReset)
        assert seen[0].terminal.error_code == Http2ErrorCode.CANCEL
        assert (await call.receive_trailers()).status == StatusCode.CANCELLED
        call = await running.client.start_call("/test.Echo/Other")  # the connection is fine
        await call.send_message(b"next", end=True)
        assert await call.receive_message() == b"next"


@run
async def test_connection_lost_ends_client_calls_unavailable_and_cancels_server_calls():
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def handler(stream: ServerStream) -> None:
        try:
            started.set()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await start_server(handler, "127.0.0.1", 0)
    client = await connect("127.0.0.1", server.port)
    call = await client.start_call(PATH)
    await started.wait()
    next(iter(server.connections)).abort()  # the network fails under both
    trailers = await call.receive_trailers()
    assert trailers.status == StatusCode.UNAVAILABLE
    await asyncio.wait_for(cancelled.wait(), 5)
    with pytest.raises(StreamTerminated) as info:
        await client.start_call(PATH)
    assert info.value.status == StatusCode.UNAVAILABLE
    await client.close()
    await server.close()


@run
async def test_client_disappearing_cancels_the_server_call():
    cancelled = asyncio.Event()
    started = asyncio.Event()
    seen: list[ServerStream] = []

    async def handler(stream: ServerStream) -> None:
        seen.append(stream)
        try:
            started.set()
            await stream.receive_message()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    server = await start_server(handler, "127.0.0.1", 0)
    client = await connect("127.0.0.1", server.port)
    await client.start_call(PATH)
    await started.wait()
    client.abort()
    await asyncio.wait_for(cancelled.wait(), 5)
    assert seen[0].cancelled and seen[0].terminal.status == StatusCode.CANCELLED
    await server.close()


@run
async def test_graceful_close_lets_calls_in_flight_finish_and_refuses_new_ones():
    release = asyncio.Event()
    started = asyncio.Event()

    async def handler(stream: ServerStream) -> None:
        started.set()
        await release.wait()
        await stream.send_message(b"finished")
        await stream.send_trailers()

    server = await start_server(handler, "127.0.0.1", 0)
    client = await connect("127.0.0.1", server.port)
    call = await client.start_call(PATH)
    call.end()
    await started.wait()
    closing = asyncio.ensure_future(server.close(grace=5.0))
    for _ in range(100):  # wait for the client to hear the GOAWAY
        if client.goaway is not None:
            break
        await asyncio.sleep(0.01)
    assert client.goaway is not None
    with pytest.raises(StreamTerminated) as info:
        await client.start_call(PATH)
    assert info.value.status == StatusCode.UNAVAILABLE
    release.set()
    assert await call.receive_message() == b"finished"
    assert (await call.receive_trailers()).status == StatusCode.OK
    await closing
    await client.wait_closed()


@run
async def test_close_after_grace_resets_calls_still_running():
    started = asyncio.Event()

    async def handler(stream: ServerStream) -> None:
        started.set()
        await asyncio.sleep(30)

    server = await start_server(handler, "127.0.0.1", 0)
    client = await connect("127.0.0.1", server.port)
    call = await client.start_call(PATH)
    await started.wait()
    await server.close(grace=0.2)
    trailers = await call.receive_trailers()
    assert trailers.status in (StatusCode.CANCELLED, StatusCode.UNAVAILABLE)
    await client.close()


@run
async def test_ping():
    async with Running() as running:
        round_trip = await running.client.ping(timeout=5)
        assert 0 <= round_trip < 5
        round_trip = await next(iter(running.server.connections)).ping(timeout=5)
        assert 0 <= round_trip < 5


@run
async def test_a_burst_of_frames_is_one_socket_write():
    writes: list[int] = []

    async def handler(stream: ServerStream) -> None:
        transport = stream._transport._transport
        original = transport.write
        transport.write = lambda data: (writes.append(len(data)), original(data))[1]
        await stream.receive_message()
        await stream.send_headers()
        for index in range(100):
            await stream.send_message(b"m%d" % index)
        await stream.send_trailers()

    async with Running(handler) as running:
        call = await running.client.start_call(PATH)
        await call.send_message(b"go", end=True)
        assert len([m async for m in call]) == 100
    assert len(writes) <= 3  # headers, 100 messages and trailers: one write (plus acks)


@run
async def test_compression_end_to_end():
    async def handler(stream: ServerStream) -> None:
        message = await stream.receive_message()
        await stream.send_headers(encoding="gzip")
        await stream.send_message(message)
        await stream.send_trailers()

    async with Running(handler) as running:
        call = await running.client.start_call(PATH, encoding="deflate")
        await call.send_message(b"z" * 10000, end=True)
        event = None
        while not isinstance(event, ev.MessageReceived):
            event = await call.receive()
        assert event.compressed and event.message == b"z" * 10000
        assert call.head.encoding == "gzip"


def test_connections_of_a_thread_share_one_read_buffer_and_threads_keep_theirs():
    """Every read is copied out of the buffer before the next one, so the
    connections of one event loop can share a buffer (no 256 KiB per
    connection); two loops in two threads at once must not."""
    buffers: dict[bytes, list[bytearray]] = {}
    errors: list[BaseException] = []

    async def exchange(name: bytes) -> None:
        async with Running(client_settings=BIG_LIMITS, server_settings=BIG_LIMITS) as running:
            second = await connect("127.0.0.1", running.server.port, **BIG_LIMITS)
            messages = [name * (size + 1) for size in range(0, 3 * 1024 * 1024, 300_000)]
            results = await asyncio.gather(*(
                unary(client, message) for client in (running.client, second) for message in messages))
            assert [reply for _, reply, _ in results] == messages * 2
            transports = [running.client, second, *running.server.connections]
            buffers[name] = [transport._read_view.obj for transport in transports]
            await second.close()

    def thread(name: bytes) -> None:
        try:
            asyncio.run(asyncio.wait_for(exchange(name), 30))
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    threads = [threading.Thread(target=thread, args=(name,)) for name in (b"a", b"b")]
    for each in threads:
        each.start()
    for each in threads:
        each.join(40)
    assert not errors, errors
    for name in (b"a", b"b"):
        assert len(buffers[name]) == 4 and all(buffer is buffers[name][0] for buffer in buffers[name])
    assert buffers[b"a"][0] is not buffers[b"b"][0]


# --- A read resumes the task waiting for it in the same turn ------------------------------------


class CountingSelector(selectors.DefaultSelector):
    """Counts the turns of an event loop: each polls its selector once."""

    def __init__(self) -> None:
        super().__init__()
        self.polls = 0

    def select(self, timeout=None):
        self.polls += 1
        return super().select(timeout)


def test_a_message_resumes_its_reader_in_the_turn_that_read_it():
    # Server and client in one loop: a round trip is one read on each side.
    # Resumed a turn later (asyncio's way), each message would cost two
    # turns per side; resumed from the read itself, one.
    selector = CountingSelector()
    loop = asyncio.SelectorEventLoop(selector)

    async def body():
        async with Running() as running:
            call = await running.client.start_call(PATH)
            await call.send_message(b"warm-up")
            assert await call.receive_message() == b"warm-up"
            before = selector.polls
            for number in range(200):
                await call.send_message(b"%d" % number)
                assert await call.receive_message() == b"%d" % number
            turns = selector.polls - before
            call.end()
            assert (await call.receive_trailers()).status == StatusCode.OK
        return turns

    try:
        turns = loop.run_until_complete(asyncio.wait_for(body(), 30))
    finally:
        loop.close()
    assert turns <= 2 * 200 + 10, turns


@run
async def test_a_reader_waiting_under_a_timeout_still_times_out_and_reads_later():
    async with Running() as running:
        call = await running.client.start_call(PATH)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(call.receive_message(), 0.05)
        await call.send_message(b"late")
        assert await call.receive_message() == b"late"
        call.end()
        assert (await call.receive_trailers()).status == StatusCode.OK


@run
async def test_one_read_resumes_every_reader_it_woke_each_with_its_own_messages():
    async with Running() as running:
        calls = [await running.client.start_call(PATH) for _ in range(5)]
        for round_number in range(20):
            for index, call in enumerate(calls):
                await call.send_message(b"%d-%d" % (index, round_number))
            replies = await asyncio.gather(*(call.receive_message() for call in calls))
            assert replies == [b"%d-%d" % (index, round_number) for index in range(5)]
        for call in calls:
            call.end()
            assert (await call.receive_trailers()).status == StatusCode.OK


@run
async def test_a_resumed_handler_that_raises_ends_its_call_and_spares_the_others():
    async def handler(stream: ServerStream) -> None:
        async for message in stream:
            if message == b"boom":
                raise RuntimeError("the handler broke")
            await stream.send_message(message)
        await stream.send_trailers(StatusCode.OK)

    async with Running(handler) as running:
        doomed = await running.client.start_call(PATH)
        fine = await running.client.start_call(PATH)
        await fine.send_message(b"a")
        assert await fine.receive_message() == b"a"
        await doomed.send_message(b"boom")
        assert (await doomed.receive_trailers()).status == StatusCode.UNKNOWN
        await fine.send_message(b"b")
        assert await fine.receive_message() == b"b"
        fine.end()
        assert (await fine.receive_trailers()).status == StatusCode.OK


@run
async def test_a_bug_while_handling_a_read_still_wakes_every_reader(caplog):
    # Readers woken by a read are resumed once the read is handled; if
    # handling it fails half-way, the connection is dropped and they must
    # still wake, to the end of their calls, instead of waiting forever.
    async with Running() as running:
        calls = [await running.client.start_call(PATH) for _ in range(3)]
        for call in calls:
            await call.send_message(b"ping")
            assert await call.receive_message() == b"ping"
        client = running.client
        original = client._handlers[ev.MessageReceived]
        delivered = []

        def deliver_then_break(event):
            original(event)
            delivered.append(event)
            if len(delivered) == 2:
                raise RuntimeError("a bug in the transport")
        client._handlers[ev.MessageReceived] = deliver_then_break
        readers = [asyncio.ensure_future(call.receive_message()) for call in calls]
        await asyncio.sleep(0)
        for call in calls:
            await call.send_message(b"again")
        results = await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 5)
        assert len(results) == 3
        trailers = [await call.receive_trailers() for call in calls]
        assert all(t.status == StatusCode.UNAVAILABLE for t in trailers), trailers
    assert "error while handling data" in caplog.text
