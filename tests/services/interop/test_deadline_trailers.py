"""Regression: a call whose deadline passes ends with DEADLINE_EXCEEDED in its trailers.

Found as a flaky interop cell: grpc.aio's client running timeout_on_sleeping_server
against our server ended INTERNAL "Internal error from Core" in a few percent of
runs, when our server ended an expired call with a bare RST_STREAM(CANCEL) and
no grpc-status at all. grpcio's server, on the same call (FullDuplexCall,
grpc-timeout 50m, no half-close), sends:

    HEADERS, then trailers grpc-status: 4, grpc-message: "Deadline Exceeded"
    (END_STREAM), then RST_STREAM(NO_ERROR)

and so does ours now (rpc/server.py), which gives every client the status
in-band. Both servers are held to it here, with a raw HTTP/2 client.
"""

import asyncio

import pytest

import grpcio_peer
import raw_h2
from services.interop.server import make_server

pytestmark = pytest.mark.timeout(30)

PATH = "/grpc.testing.TestService/FullDuplexCall"
DEADLINE_EXCEEDED = 4


async def expire_a_call(port: int) -> raw_h2.RawResponse:
    request = grpcio_peer.messages_pb2.StreamingOutputCallRequest(
        payload=grpcio_peer.messages_pb2.Payload(body=bytes(27182)))
    return await raw_h2.call(port, PATH, [(request.SerializeToString(), False)],
                             encoding=None, timeout="50m", half_close=False)


def test_grpcio_server_ends_an_expired_call_with_deadline_exceeded_trailers():
    async def main():
        server, port = await grpcio_peer.start_server()
        try:
            response = await expire_a_call(port)
        finally:
            await server.stop(None)
        assert (response.status, response.message) == (DEADLINE_EXCEEDED, "Deadline Exceeded")
    asyncio.run(main())


def test_our_server_ends_an_expired_call_with_deadline_exceeded_trailers():
    async def main():
        server = make_server()
        port = await server.start("127.0.0.1:0")
        try:
            response = await expire_a_call(port)
        finally:
            await server.stop(0)
        assert response.status == DEADLINE_EXCEEDED, f"no grpc-status; RST_STREAM({response.reset})"
        assert response.message == "Deadline Exceeded"
    asyncio.run(main())
