"""Interceptors on both sides, for all four call patterns.

The shapes are grpc.aio's (https://grpc.github.io/grpc/python/grpc_asyncio.html):
server interceptors choose (or wrap, or replace) the handler; client
interceptors change the call details and see the call they start.
"""

import asyncio
import dataclasses
import logging

import pytest

import rpc

pytestmark = pytest.mark.timeout(30)

PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
METHOD_OF = {"unary_unary": "getOrder", "unary_stream": "searchOrders",
             "stream_unary": "updateOrders", "stream_stream": "processOrders"}


class RequireApiKey(rpc.ServerInterceptor):
    """Aborts UNAUTHENTICATED unless the call carries x-api-key: open-sesame."""

    def __init__(self):
        self.seen = []

    async def intercept_service(self, continuation, handler_call_details):
        self.seen.append(handler_call_details.method)
        if ("x-api-key", "open-sesame") in handler_call_details.invocation_metadata:
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)

        async def deny(request, context):
            await context.abort(rpc.StatusCode.UNAUTHENTICATED, "no key")

        return dataclasses.replace(handler, behaviour=deny)


class Recording(rpc.UnaryUnaryClientInterceptor, rpc.UnaryStreamClientInterceptor,
                rpc.StreamUnaryClientInterceptor, rpc.StreamStreamClientInterceptor):
    """Records the order interceptors run in, and the method of each call."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    async def _record(self, continuation, details, request):
        self.log.append((self.name, details.method.rsplit("/", 1)[1]))
        return await continuation(details, request)

    intercept_unary_unary = intercept_unary_stream = _record
    intercept_stream_unary = intercept_stream_stream = _record


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_logging_server_interceptor(make_peers, caplog, direction, pattern):
    caplog.set_level(logging.INFO, logger="rpc.server.calls")
    method = METHOD_OF[pattern]
    async with make_peers(direction).session(
            server_interceptors=[rpc.LoggingServerInterceptor()]) as s:
        await s.run(pattern, count=2)
        await s.fails(pattern, metadata=(("x-cmd", "status:NOT_FOUND:ascii"),))
    lines = [r.getMessage() for r in caplog.records if r.name == "rpc.server.calls"]
    assert len(lines) == 2
    assert lines[0].startswith(f"/ecommerce.OrderManagement/{method} from ipv4:127.0.0.1:")
    assert ": OK in " in lines[0]
    assert ": NOT_FOUND in " in lines[1]


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_server_interceptor_that_aborts(make_peers, direction, pattern):
    guard = RequireApiKey()
    async with make_peers(direction).session(
            server_interceptors=[rpc.LoggingServerInterceptor(), guard]) as s:
        failure = await s.fails(pattern, count=0)        # (count=0: grpc/grpc#36066)
        assert (failure.code, failure.details) == ("UNAUTHENTICATED", "no key")
        assert s.obs.count(f"started:{METHOD_OF[pattern]}") == 0
        responses, _ = await s.run(pattern, metadata=(("x-api-key", "open-sesame"),))
        assert s.obs.count(f"started:{METHOD_OF[pattern]}") == 1
        assert guard.seen == [f"/ecommerce.OrderManagement/{METHOD_OF[pattern]}"] * 2


async def test_server_interceptor_sees_unknown_methods(make_peers):
    guard = RequireApiKey()
    async with make_peers("ours-to-ours").session(server_interceptors=[guard]) as s:
        with pytest.raises(rpc.RpcError) as caught:
            await s.channel.unary_unary("/no.Such/method")(b"", metadata=(("x-api-key", "open-sesame"),))
        assert caught.value.code() == rpc.StatusCode.UNIMPLEMENTED
        assert guard.seen == ["/no.Such/method"]


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_client_interceptors_in_order_and_metadata_added(make_peers, helpers, direction,
                                                               pattern):
    log = []
    interceptors = [Recording("outer", log),
                    rpc.MetadataClientInterceptor([("x-cmd", "echo"), ("x-tenant-bin", b"\x01")]),
                    Recording("inner", log)]
    async with make_peers(direction).session(client_interceptors=interceptors) as s:
        responses, call = await s.run(pattern, size=4, count=2)
        assert len(responses) >= 1
        assert log == [("outer", METHOD_OF[pattern]), ("inner", METHOD_OF[pattern])]
        initial = helpers.metadata_list(await call.initial_metadata())
        assert initial == [("x-cmd", "echo"), ("x-tenant-bin", b"\x01")]
        assert (await call.code()) == rpc.StatusCode.OK


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_intercepted_calls_keep_the_call_api(make_peers, pattern):
    """write/done_writing/read, cancel/done/cancelled are there behind interceptors too."""
    log = []
    async with make_peers("ours-to-ours").session(client_interceptors=[Recording("r", log)]) as s:
        method = s.method(pattern)
        if pattern.startswith("stream"):
            call = method(metadata=(("x-cmd", "hold"),))
            request = s.msg.Order(id="1") if pattern == "stream_unary" else s.msg.StringValue()
            await call.write(request)
        else:
            call = method(s.msg.StringValue(), metadata=(("x-cmd", "first:1;sleep:30"),))
        if pattern.endswith("stream"):
            await call.read()
        await s.obs.wait(f"started:{METHOD_OF[pattern]}")
        assert call.done() is False
        assert call.cancel() is True
        assert call.cancelled() is True and call.done() is True
        assert await call.code() == rpc.StatusCode.CANCELLED
        await s.obs.wait(f"cancelled:{METHOD_OF[pattern]}", timeout=3)


async def test_client_interceptor_that_aborts(make_peers):
    """A client interceptor may refuse a call without starting it."""
    class Refuse(rpc.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            raise rpc.RpcError(rpc.StatusCode.PERMISSION_DENIED, "not from here")

    async with make_peers("ours-to-ours").session(client_interceptors=[Refuse()]) as s:
        with pytest.raises(rpc.RpcError) as caught:
            await s.method("unary_unary")(s.msg.StringValue())
        assert caught.value.code() == rpc.StatusCode.PERMISSION_DENIED
        assert list(s.obs.seen) == []
        responses, _ = await s.run("unary_stream")          # other patterns pass through
        assert len(responses) == 3


async def test_client_interceptor_can_change_the_timeout(make_peers):
    class Hurry(rpc.UnaryUnaryClientInterceptor):
        async def intercept_unary_unary(self, continuation, client_call_details, request):
            details = dataclasses.replace(client_call_details, timeout=0.2)
            return await continuation(details, request)

    async with make_peers("ours-to-grpcio").session(client_interceptors=[Hurry()]) as s:
        failure = await s.fails("unary_unary", metadata=(("x-cmd", "sleep:5"),))
        assert failure.code == "DEADLINE_EXCEEDED"
        assert 0 < await s.obs.wait("time_remaining:getOrder") <= 0.2
        await asyncio.sleep(0)
