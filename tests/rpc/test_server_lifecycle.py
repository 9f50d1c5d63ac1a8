"""Starting and stopping: stop(grace), GOAWAY, wait_closed.

Spec: doc/PROTOCOL-HTTP2.md ("GOAWAY Frame"): graceful shutdown is GOAWAY,
calls in flight finish within a grace period, then are cancelled; calls the
server never processed fail UNAVAILABLE.
"""

import asyncio
import time

import pytest

import rpc

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
async def test_calls_in_flight_finish_within_the_grace(make_peers, direction):
    async with make_peers(direction).session() as s:
        await s.run("unary_unary")                          # connected
        in_flight = asyncio.ensure_future(s.run("unary_unary", metadata=(("x-cmd", "sleep:0.4"),)))
        stream = s.start("unary_stream", metadata=(("x-cmd", "first:1;sleep:0.4"),))
        await s.obs.wait_count("started:getOrder", 2)       # the first call set it already
        await stream.read()
        started = time.monotonic()
        stopping = asyncio.ensure_future(s.server.stop(grace=5))
        await asyncio.sleep(0.1)
        # GOAWAY went out: new calls are refused, the ones in flight carry on.
        failure = await s.fails("unary_unary", timeout=3)
        assert failure.code == "UNAVAILABLE"
        responses, _ = await asyncio.wait_for(in_flight, 3)
        assert responses[0].id == "0"
        assert [(await stream.read()).id for _ in range(3)] == ["0", "1", "2"]
        assert (await stream.code()).name == "OK"
        await asyncio.wait_for(stopping, 3)
        assert time.monotonic() - started < 2.0           # no waiting out the whole grace
        assert s.obs.count("cancelled:getOrder") == 0


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
async def test_calls_still_running_after_the_grace_are_cancelled(make_peers, direction):
    async with make_peers(direction).session() as s:
        call = s.start("unary_unary", metadata=(("x-cmd", "sleep:30"),))
        stream = s.start("stream_stream", requests=[s.msg.StringValue()], metadata=(("x-cmd", "hold"),))
        await s.obs.wait("started:getOrder")
        await s.obs.wait("started:processOrders")
        started = time.monotonic()
        await asyncio.wait_for(s.server.stop(grace=0.3), 5)
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 2.0
        await s.obs.wait("cancelled:getOrder", timeout=1)
        await s.obs.wait("cancelled:processOrders", timeout=1)
        assert (await asyncio.wait_for(call.code(), 3)).name in ("CANCELLED", "UNAVAILABLE")
        assert (await asyncio.wait_for(stream.code(), 3)).name in ("CANCELLED", "UNAVAILABLE")


async def test_stop_without_grace_cancels_at_once(make_peers):
    async with make_peers("ours-to-ours").session() as s:
        call = s.start("unary_unary", metadata=(("x-cmd", "sleep:30"),))
        await s.obs.wait("started:getOrder")
        started = time.monotonic()
        await s.server.stop(None)
        assert time.monotonic() - started < 1.5
        await s.obs.wait("cancelled:getOrder", timeout=1)
        assert (await asyncio.wait_for(call.code(), 3)).name in ("CANCELLED", "UNAVAILABLE")


async def test_wait_closed_returns_once_stopped(make_peers):
    async with make_peers("ours-to-ours").session() as s:
        waiting = asyncio.ensure_future(s.server.wait_closed())
        await s.run("unary_unary")
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await s.server.stop(grace=1)
        await asyncio.wait_for(waiting, 2)
        await asyncio.wait_for(s.server.wait_closed(), 1)    # and again, at once


async def test_server_as_async_context_manager(ours):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            return ours.Order(id=request.value)

    async with rpc.Server() as server:
        server.add_service(Orders())
        port = await server.start("127.0.0.1:0")
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            assert (await ours.Stub(channel).getOrder(ours.StringValue(value="x"))).id == "x"
    async with rpc.Channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=2)
        assert caught.value.code() == rpc.StatusCode.UNAVAILABLE


async def test_our_channel_across_a_grpcio_servers_graceful_stop(make_peers):
    """GOAWAY from grpcio: the call in flight finishes; the next call finds no server."""
    async with make_peers("ours-to-grpcio").session() as s:
        await s.run("unary_unary")
        in_flight = asyncio.ensure_future(s.run("unary_unary", metadata=(("x-cmd", "sleep:0.4"),)))
        # the second call must reach its handler ("started" was already set by the
        # first): a call that arrives after stop() began is refused, not in flight
        await s.obs.wait_count("started:getOrder", 2)
        stopping = asyncio.ensure_future(s.server.stop(grace=5))
        responses, _ = await asyncio.wait_for(in_flight, 3)
        assert responses[0].id == "0"
        await asyncio.wait_for(stopping, 5)
        failure = await s.fails("unary_unary", timeout=3)
        assert failure.code == "UNAVAILABLE"


async def test_channel_reconnects_after_the_server_comes_back(ours):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            return ours.Order(id="up")

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    async with rpc.Channel(f"127.0.0.1:{port}") as channel:
        stub = ours.Stub(channel)
        assert (await stub.getOrder(ours.StringValue())).id == "up"
        await server.stop(grace=1)
        with pytest.raises(rpc.RpcError) as caught:
            await stub.getOrder(ours.StringValue(), timeout=2)
        assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
        server = rpc.Server()
        server.add_service(Orders())
        await server.start(f"127.0.0.1:{port}")
        try:
            # the channel reconnects after its backoff (1 s after the failure,
            # doc/connection-backoff.md); a wait_for_ready call waits for that
            reply = await stub.getOrder(ours.StringValue(), timeout=5, wait_for_ready=True)
            assert reply.id == "up"
        finally:
            await server.stop(0)
