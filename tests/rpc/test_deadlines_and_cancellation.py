"""Deadlines and cancellation, in every direction.

Spec: doc/PROTOCOL-HTTP2.md ("Timeout", RST_STREAM) and SPEC.md's "Deadlines
and cancellation": the deadline travels as grpc-timeout; when it passes the
client resets the stream and reports DEADLINE_EXCEEDED itself, and the
server cancels the handler. cancel() resets the stream (RST_STREAM CANCEL)
and the handler gets asyncio.CancelledError; a client that disconnects
cancels its server handlers.
"""

import asyncio
import time

import pytest

import rpc
from transport import driver
from transport.status import StatusCode

pytestmark = pytest.mark.timeout(40)

PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
METHOD_OF = {"unary_unary": "getOrder", "unary_stream": "searchOrders",
             "stream_unary": "updateOrders", "stream_stream": "processOrders"}
TIMEOUT = 0.5


# grpc-timeout is rounded up to its unit by whoever sends it, and grpcio's clients
# have been seen adding about 10 ms: a server may see a little more than asked.
ROUNDED_UP = 0.05

@pytest.mark.parametrize("pattern", PATTERNS)
async def test_deadline_exceeded_on_time_and_handler_cancelled(peers, helpers, pattern):
    async with peers.session() as s:
        started = time.monotonic()
        failure = await s.fails(pattern, timeout=TIMEOUT, metadata=(("x-cmd", "sleep:30"),))
        elapsed = time.monotonic() - started
        assert failure.code == "DEADLINE_EXCEEDED"
        assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.5
        method = METHOD_OF[pattern]
        # grpc-timeout went out: the handler saw the deadline...
        remaining = await s.obs.wait(f"time_remaining:{method}")
        assert 0 < remaining <= TIMEOUT + ROUNDED_UP  # senders may round up, never down
        # ...and was cancelled once it passed.
        await s.obs.wait(f"cancelled:{method}", timeout=2)
        assert s.obs.count(f"finished:{method}") == 0


async def test_no_timeout_means_no_deadline(peers):
    async with peers.session() as s:
        await s.run("unary_unary", metadata=(("x-cmd", "sleep:0"),))
        remaining = await s.obs.wait("time_remaining:getOrder")   # -1.0 stands for None
        assert remaining == -1.0 or remaining > 1e6


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_call_within_its_deadline_succeeds(peers, pattern):
    async with peers.session() as s:
        responses, call = await s.run(pattern, timeout=5, metadata=(("x-cmd", "sleep:0.05"),))
        assert (await call.code()).name == "OK"
        remaining = await s.obs.wait(f"time_remaining:{METHOD_OF[pattern]}")
        assert 4 < remaining <= 5 + ROUNDED_UP  # senders may round up, never down


async def test_our_server_cancels_the_handler_when_the_deadline_passes(make_peers):
    """A client that sends grpc-timeout but never resets: the server ends the call itself."""
    async with make_peers("ours-to-ours").session() as s:
        client = await driver.connect("127.0.0.1", s.port)
        try:
            stream = await client.start_call("/ecommerce.OrderManagement/getOrder",
                                             timeout=0.3, metadata=(("x-cmd", "sleep:30"),))
            await stream.send_message(b"", end=True)
            started = time.monotonic()
            trailers = await asyncio.wait_for(stream.receive_trailers(), 3)
            elapsed = time.monotonic() - started
            # the server says why it ended the call, as grpcio's servers do:
            # grpc-status DEADLINE_EXCEEDED in the trailers, not a bare reset
            assert trailers.status == StatusCode.DEADLINE_EXCEEDED
            assert trailers.message == "Deadline Exceeded"
            assert 0.25 <= elapsed < 1.0
            await s.obs.wait("cancelled:getOrder", timeout=1)
            assert await s.obs.wait("time_remaining:getOrder") <= 0.3
        finally:
            await client.close()


async def test_client_reports_deadline_exceeded_even_if_the_servers_cancel_comes_first():
    """A server that resets with CANCEL the moment grpc-timeout runs out."""
    async def reset_at_deadline(stream):
        await asyncio.sleep(stream.head.timeout)
        stream.reset()

    listener = await driver.start_server(reset_at_deadline, "127.0.0.1", 0)
    try:
        async with rpc.Channel(f"127.0.0.1:{listener.port}") as channel:
            unary = channel.unary_unary("/any.Service/Method")
            for _ in range(10):
                with pytest.raises(rpc.RpcError) as caught:
                    await unary(b"", timeout=0.05)
                assert caught.value.code() == rpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        await listener.close(0)


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_cancel_mid_call(peers, pattern):
    """call.cancel() after the call got going: RST_STREAM(CANCEL), the handler is cancelled."""
    method = METHOD_OF[pattern]
    async with peers.session() as s:
        if pattern == "stream_stream":
            call = s.method(pattern)(metadata=(("x-cmd", "size:10;hold"),))
            await call.write(s.msg.StringValue(value="one"))
            assert (await call.read()).status == "3"
        elif pattern == "stream_unary":
            # (a grpcio server ends the request iterator on a reset; the sleep
            # after it is what gets cancelled there)
            call = s.method(pattern)(metadata=(("x-cmd", "hold"),))
            await call.write(s.msg.Order(id="1"))
            await s.obs.wait(f"started:{method}")
        elif pattern == "unary_stream":
            call = s.start(pattern, metadata=(("x-cmd", "first:1;sleep:30"),))
            assert (await call.read()).id == "0"
        else:
            call = s.start(pattern, metadata=(("x-cmd", "sleep:30"),))
            await s.obs.wait(f"started:{method}")
        await asyncio.sleep(0.05)
        assert call.cancel() is True
        assert call.cancelled()
        assert call.done()
        assert (await call.code()).name == "CANCELLED"
        assert call.cancel() is False                # a second time: already over
        await s.obs.wait(f"cancelled:{method}", timeout=3)
        with pytest.raises(asyncio.CancelledError):
            if pattern.endswith("unary"):
                await call
            else:
                await call.read()
        # The connection is still good for the next call.
        responses, _ = await s.run("unary_unary", size=3)
        assert responses[0].items == ["3"]


@pytest.mark.parametrize("pattern", ["unary_stream", "stream_stream"])
async def test_cancel_while_the_server_is_sending(peers, helpers, pattern):
    """RST_STREAM arriving while the server's large responses are still flowing."""
    async with peers.session(client_max_receive=helpers.BIG_LIMIT,
                             server_max_send=helpers.BIG_LIMIT) as s:
        size = 2 * helpers.MIB
        if pattern == "unary_stream":
            call = s.start(pattern, metadata=(("x-cmd", f"size:{size};count:50"),))
        else:
            requests = [s.msg.StringValue(value="x")] * 50
            call = s.method(pattern)(iter(requests), metadata=(("x-cmd", f"size:{size}"),))
        first = await call.read()
        assert first is not None
        call.cancel()
        method = METHOD_OF[pattern]
        if s.server_kind == "ours":
            # The handler is suspended at a yield (its responses wait for the
            # window): our server throws CancelledError into it there. grpcio
            # leaves such a generator alone, so only the client side is checked.
            await s.obs.wait(f"cancelled:{method}", timeout=5)
        assert (await call.code()).name == "CANCELLED"
        responses, _ = await s.run("unary_unary", size=3)
        assert responses[0].items == ["3"]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_client_that_disconnects_cancels_its_server_handlers(peers, pattern):
    method = METHOD_OF[pattern]
    async with peers.session(proxy=True) as s:
        if pattern == "stream_stream":
            call = s.method(pattern)(metadata=(("x-cmd", "hold"),))
            await call.write(s.msg.StringValue(value="one"))
            await call.read()
        elif pattern == "stream_unary":
            call = s.method(pattern)(metadata=(("x-cmd", "hold"),))
            await call.write(s.msg.Order(id="1"))
        elif pattern == "unary_stream":
            call = s.start(pattern, metadata=(("x-cmd", "first:1;sleep:30"),))
            await call.read()
        else:
            call = s.start(pattern, metadata=(("x-cmd", "sleep:30"),))
        await s.obs.wait(f"started:{method}")
        s.proxy.cut()
        await s.obs.wait(f"cancelled:{method}", timeout=3)
        code = await asyncio.wait_for(call.code(), 3)
        assert code.name == "UNAVAILABLE"


async def test_our_channel_close_cancels_calls_in_flight(make_peers):
    for direction in ("ours-to-ours", "ours-to-grpcio"):
        async with make_peers(direction).session() as s:
            call = s.start("unary_stream", metadata=(("x-cmd", "first:1;sleep:30"),))
            await call.read()
            await s.channel.close()
            await s.obs.wait("cancelled:searchOrders", timeout=3)
            assert call.done()
