"""What a handler can ask of its ServicerContext, and a caller of its call object.

Spec: grpc.aio's ServicerContext and Call
(https://grpc.github.io/grpc/python/grpc_asyncio.html), which rpc follows
name for name; doc/PROTOCOL-HTTP2.md for what each one puts on the wire.
"""

import asyncio
import re

import pytest

import rpc

pytestmark = pytest.mark.timeout(30)

PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
SERVED_BY_US = ["grpcio-to-ours", "ours-to-ours"]


@pytest.mark.parametrize("direction", SERVED_BY_US)
async def test_invocation_metadata_peer_time_remaining_cancelled(make_peers, direction):
    async with make_peers(direction).session() as s:
        metadata = (("x-cmd", "context"), ("x-a", "1"), ("x-b-bin", b"\x00\x01"))
        await s.run("unary_unary", metadata=metadata, timeout=3)
        seen = await s.obs.wait("context")
        assert [(k, v) for k, v in seen["metadata"] if k.startswith("x-")] == list(metadata)
        assert not any(k.startswith("grpc-") or k.startswith(":") or k in ("te", "content-type")
                       for k, _ in seen["metadata"])
        assert re.fullmatch(r"ipv4:127\.0\.0\.1:\d+", seen["peer"])
        assert 2.5 < seen["time_remaining"] <= 3.05   # grpcio may round its grpc-timeout up
        assert seen["cancelled"] is False


async def test_context_methods_one_by_one(make_peers, ours):
    """Every context method in one handler, against a grpcio client."""
    seen = {}
    done = asyncio.Event()

    class Orders(ours.Servicer):
        async def searchOrders(self, request, context):
            seen["method"] = context.method()
            await context.send_initial_metadata((("x-first", "yes"),))
            with pytest.raises(RuntimeError):
                await context.send_initial_metadata((("x-again", "no"),))
            context.set_compression("gzip")
            context.add_done_callback(lambda ctx: (seen.__setitem__("done", ctx.code()),
                                                   done.set()))
            yield ours.Order(id="1")
            context.set_trailing_metadata((("x-last", "bye"), ("x-last-bin", b"\xff")))
            context.set_details("all is well")
            seen["trailing"] = context.trailing_metadata()
            seen["cancelled"] = context.cancelled()
            seen["done_before_end"] = context.done()

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    try:
        import grpc
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_stream("/ecommerce.OrderManagement/searchOrders")(b"")
            assert [ours.Order.decode(r).id async for r in call] == ["1"]
            assert list(await call.initial_metadata()) == [("x-first", "yes")]
            assert [m for m in await call.trailing_metadata()] == [("x-last", "bye"),
                                                                   ("x-last-bin", b"\xff")]
            assert await call.code() == grpc.StatusCode.OK   # (grpcio drops details of OK)
        await asyncio.wait_for(done.wait(), 3)
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            call = ours.Stub(channel).searchOrders(ours.StringValue())
            assert [r.id async for r in call] == ["1"]
            assert await call.details() == "all is well"
        assert seen["method"] == "/ecommerce.OrderManagement/searchOrders"
        assert seen["cancelled"] is False and seen["done_before_end"] is False
        assert seen["done"] in (None, rpc.StatusCode.OK)
    finally:
        await server.stop(0)


@pytest.mark.parametrize("direction", SERVED_BY_US)
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_done_callback_runs_however_the_call_ends(make_peers, direction, pattern):
    method = {"unary_unary": "getOrder", "unary_stream": "searchOrders",
              "stream_unary": "updateOrders", "stream_stream": "processOrders"}[pattern]
    async with make_peers(direction).session() as s:
        await s.run(pattern, metadata=(("x-cmd", "done"),))
        await s.obs.wait(f"done:{method}", timeout=2)
    async with make_peers(direction).session() as s:
        await s.fails(pattern, metadata=(("x-cmd", "done;status:NOT_FOUND:ascii"),))
        await s.obs.wait(f"done:{method}", timeout=2)
    async with make_peers(direction).session() as s:
        await s.fails(pattern, timeout=0.2, metadata=(("x-cmd", "done;sleep:30;hold"),))
        await s.obs.wait(f"done:{method}", timeout=2)


async def test_context_cancelled_turns_true_when_the_client_goes(make_peers, ours):
    flags = []
    started = asyncio.Event()
    finished = asyncio.Event()

    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                flags.append(context.cancelled())
                finished.set()
                raise

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            call = ours.Stub(channel).getOrder(ours.StringValue())
            await asyncio.wait_for(started.wait(), 3)
            call.cancel()
            await asyncio.wait_for(finished.wait(), 3)
            assert flags == [True]
    finally:
        await server.stop(0)


async def test_abort_needs_an_error_code(make_peers, ours):
    errors = []

    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            try:
                await context.abort(rpc.StatusCode.OK, "fine")
            except ValueError as error:
                errors.append(error)
            return ours.Order(id="after")

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            assert (await ours.Stub(channel).getOrder(ours.StringValue())).id == "after"
        assert len(errors) == 1
    finally:
        await server.stop(0)


# --- the client's call objects ---------------------------------------------------------


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_call_object_methods_on_success(make_peers, direction, pattern):
    async with make_peers(direction).session() as s:
        call = s.start(pattern, metadata=(("x-cmd", "echo"), ("x-hi", "there")), timeout=5)
        assert 4 < call.time_remaining() <= 5
        assert [(k, v) for k, v in await call.initial_metadata() if k.startswith("x-")] == [
            ("x-cmd", "echo"), ("x-hi", "there")]
        if pattern.endswith("unary"):
            await call
        else:
            assert len([r async for r in call]) >= 0
        assert call.done() and not call.cancelled()
        assert await call.code() == rpc.StatusCode.OK
        assert await call.details() in ("", None)
        assert [(k, v) for k, v in await call.trailing_metadata()] == [
            ("t-cmd", "echo"), ("t-hi", "there")]
        assert call.cancel() is False
        callbacks = []
        call.add_done_callback(callbacks.append)
        await asyncio.sleep(0)
        assert callbacks == [call]


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_call_object_methods_on_failure(make_peers, direction, pattern):
    async with make_peers(direction).session() as s:
        call = s.start(pattern, metadata=(("x-cmd", "status:PERMISSION_DENIED:unicode"),))
        callbacks = []
        call.add_done_callback(callbacks.append)
        assert await call.code() == rpc.StatusCode.PERMISSION_DENIED
        assert await call.details() == "détails: ☺ 😈 — 終わり"
        assert list(await call.trailing_metadata()) == [("t-why", "because"),
                                                        ("t-why-bin", b"\x00\xff\x01")]
        assert list(await call.initial_metadata()) == []     # Trailers-Only
        with pytest.raises(rpc.RpcError) as caught:
            if pattern.endswith("unary"):
                await call
            else:
                await call.read()
        assert caught.value.code() == rpc.StatusCode.PERMISSION_DENIED
        assert caught.value.details() == "détails: ☺ 😈 — 終わり"
        await asyncio.sleep(0)
        assert callbacks == [call]


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
async def test_read_returns_eof_after_the_last_message(make_peers, direction):
    async with make_peers(direction).session() as s:
        call = s.start("unary_stream", metadata=(("x-cmd", "count:2"),))
        assert (await call.read()).id == "0"
        assert (await call.read()).id == "1"
        assert await call.read() is rpc.EOF
        assert await call.read() is rpc.EOF
        call = s.method("stream_stream")()
        await call.done_writing()
        assert await call.read() is rpc.EOF


async def test_unreachable_server_is_unavailable(ours):
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with rpc.Channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=3)
        assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
