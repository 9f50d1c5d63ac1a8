"""Server features the matrix's cases do not reach: interval_us, HalfDuplexCall,
unsupported response types and status codes, and the expect_compressed rule
itself, table-driven on a stand-in context."""

from __future__ import annotations

import asyncio
import time

import pytest

import rpc
from services.interop import (
    BoolValue,
    EchoStatus,
    ResponseParameters,
    SimpleRequest,
    StreamingOutputCallRequest,
    testing,
)
from services.interop.server import _check_request_compression, make_server

pytestmark = pytest.mark.timeout(30)


def with_stub(body):
    async def main():
        server = make_server()
        port = await server.start("127.0.0.1:0")
        try:
            async with rpc.Channel(f"127.0.0.1:{port}") as channel:
                await body(testing.TestServiceStub(channel))
        finally:
            await server.stop(0)
    asyncio.run(asyncio.wait_for(main(), 20))


def test_interval_us_pauses_before_each_response():
    request = StreamingOutputCallRequest(response_parameters=[
        ResponseParameters(size=1, interval_us=100_000), ResponseParameters(size=2, interval_us=100_000)])

    async def body(stub):
        started = time.monotonic()
        arrivals = [time.monotonic() - started async for _ in stub.StreamingOutputCall(request)]
        assert arrivals[0] >= 0.1 and arrivals[1] >= 0.2     # the pauses add up

    with_stub(body)


def test_half_duplex_answers_only_after_the_half_close():
    async def body(stub):
        call = stub.HalfDuplexCall()
        for size in (3, 4):
            await call.write(StreamingOutputCallRequest(response_parameters=[ResponseParameters(size=size)]))
        everything = asyncio.ensure_future(_sizes(call))
        await asyncio.sleep(0.2)
        assert not everything.done()            # nothing before the half-close
        await call.done_writing()
        assert await everything == [3, 4]

    with_stub(body)


async def _sizes(call):
    return [len(response.payload.body) async for response in call]


@pytest.mark.parametrize("request_", [
    SimpleRequest(response_type=7),                                 # an unknown PayloadType
    SimpleRequest(response_status=EchoStatus(code=99, message="x")),  # no such status code
    SimpleRequest(response_size=-1),
], ids=["response_type", "status_code", "negative_size"])
def test_requests_the_server_cannot_honour_are_invalid_arguments(request_):
    async def body(stub):
        with pytest.raises(rpc.RpcError) as error:
            await stub.UnaryCall(request_)
        assert error.value.code() == rpc.StatusCode.INVALID_ARGUMENT

    with_stub(body)


class StandInContext:
    """Just what _check_request_compression uses: the request's flag, and abort."""

    def __init__(self, compressed):
        self.compressed = compressed
        self.aborted = None

    def request_compressed(self):
        return self.compressed

    async def abort(self, code, details):
        self.aborted = code
        raise rpc.AbortError(details)


@pytest.mark.parametrize("arrived, expected, rejected", [
    (False, True, True),       # the probe of client_compressed_*
    (True, True, False),
    (False, False, False),
    (True, False, True),       # as grpc's reference server: both ways
])
def test_expect_compressed_rule(arrived, expected, rejected):
    context = StandInContext(arrived)

    async def check():
        try:
            await _check_request_compression(context, BoolValue(value=expected))
        except rpc.AbortError:
            pass
    asyncio.run(check())
    assert (context.aborted == rpc.StatusCode.INVALID_ARGUMENT) is rejected


def test_no_expect_compressed_no_check():
    context = StandInContext(True)
    asyncio.run(_check_request_compression(context, None))
    assert context.aborted is None
