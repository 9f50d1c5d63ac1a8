"""The Compressed-Flag behaviours of the interop tests, checked on the wire.

grpcio's API cannot set or see the per-message Compressed-Flag, so the
matrix cannot hold grpcio to these (test_matrix.py leaves those cells out); here a
hand-driven h2 peer (raw_h2.py) does it instead, in both directions:

- a raw client sends requests with chosen flags to our server, and reads the
  flags of its responses (CompressedRequest, CompressedResponse);
- a strict raw server, which checks expect_compressed against the flag each
  request really carried (as grpc's reference server does), answers our client.
"""

from __future__ import annotations

import asyncio

import pytest

import raw_h2
import rpc
from grpcio_peer import messages_pb2 as pb
from services.interop.cases import run_case
from services.interop.server import make_server

pytestmark = pytest.mark.timeout(60)

SERVICE = "/grpc.testing.TestService/"
INVALID_ARGUMENT = 3
OK = 0

def run(main) -> None:
    asyncio.run(asyncio.wait_for(main(), 30))


async def with_our_server(body, **server_options) -> None:
    server = make_server(**server_options)
    port = await server.start("127.0.0.1:0")
    try:
        await body(port)
    finally:
        await server.stop(0)


def zeros(size: int) -> pb.Payload:
    return pb.Payload(body=bytes(size))


# --- our server, seen by a raw client ---------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False])
def test_our_server_sets_the_unary_response_flag_as_asked(compressed):
    request = pb.SimpleRequest(response_size=314159, payload=zeros(271828),
                               response_compressed=pb.BoolValue(value=compressed))

    async def body(port):
        response = await raw_h2.call(port, SERVICE + "UnaryCall", [(request.SerializeToString(), False)])
        assert response.status == OK, response.message
        [(flag, message)] = response.messages
        assert flag is compressed
        assert pb.SimpleResponse.FromString(message).payload.body == bytes(314159)
    run(lambda: with_our_server(body))


def test_response_compressed_false_wins_over_a_compressing_server():
    requests = [pb.SimpleRequest(response_size=1000, response_compressed=pb.BoolValue(value=False)),
                pb.SimpleRequest(response_size=1000)]      # not asked: the server's default

    async def body(port):
        flags = []
        for request in requests:
            response = await raw_h2.call(port, SERVICE + "UnaryCall", [(request.SerializeToString(), False)])
            flags += [flag for flag, _ in response.messages]
        assert flags == [False, True]
    run(lambda: with_our_server(body, compression="gzip"))


def test_our_server_sets_each_streamed_response_flag_as_asked():
    """server_compressed_streaming: compressed, then not, in one call."""
    request = pb.StreamingOutputCallRequest(response_parameters=[
        pb.ResponseParameters(size=31415, compressed=pb.BoolValue(value=True)),
        pb.ResponseParameters(size=92653, compressed=pb.BoolValue(value=False)),
        pb.ResponseParameters(size=2653)])                # not asked: not compressed

    async def body(port):
        response = await raw_h2.call(port, SERVICE + "StreamingOutputCall",
                                     [(request.SerializeToString(), False)])
        assert response.status == OK, response.message
        assert [flag for flag, _ in response.messages] == [True, False, False]
        sizes = [len(pb.StreamingOutputCallResponse.FromString(m).payload.body)
                 for _, m in response.messages]
        assert sizes == [31415, 92653, 2653]
    run(lambda: with_our_server(body))


def test_our_server_reads_compressed_and_uncompressed_requests_in_one_call():
    requests = [(pb.StreamingInputCallRequest(payload=zeros(27182)).SerializeToString(), True),
                (pb.StreamingInputCallRequest(payload=zeros(45904)).SerializeToString(), False)]

    async def body(port):
        response = await raw_h2.call(port, SERVICE + "StreamingInputCall", requests)
        assert response.status == OK, response.message
        [(_, message)] = response.messages
        assert pb.StreamingInputCallResponse.FromString(message).aggregated_payload_size == 73086
    run(lambda: with_our_server(body))


@pytest.mark.parametrize("sent_compressed, expect_compressed, status", [
    pytest.param(False, True, INVALID_ARGUMENT, id="probe"),     # client_compressed_unary's probe
    pytest.param(True, True, OK, id="compressed"),
    pytest.param(False, False, OK, id="uncompressed"),
    pytest.param(True, False, INVALID_ARGUMENT, id="compressed-against-expectation"),
])
def test_our_server_checks_expect_compressed_unary(sent_compressed, expect_compressed, status):
    request = pb.SimpleRequest(response_size=10, payload=zeros(271828),
                               expect_compressed=pb.BoolValue(value=expect_compressed))

    async def body(port):
        response = await raw_h2.call(port, SERVICE + "UnaryCall",
                                     [(request.SerializeToString(), sent_compressed)])
        assert response.status == status, response.message
    run(lambda: with_our_server(body))


@pytest.mark.parametrize("messages, status", [
    pytest.param([(27182, True, True), (45904, False, False)], OK, id="per-message"),
    pytest.param([(27182, False, True)], INVALID_ARGUMENT, id="probe"),
    pytest.param([(27182, True, True), (45904, True, False)], INVALID_ARGUMENT,
                 id="second-compressed"),
])
def test_our_server_checks_expect_compressed_per_streamed_message(messages, status):
    requests = [(pb.StreamingInputCallRequest(
        payload=zeros(size), expect_compressed=pb.BoolValue(value=expect)).SerializeToString(), sent)
        for size, sent, expect in messages]

    async def body(port):
        response = await raw_h2.call(port, SERVICE + "StreamingInputCall", requests)
        assert response.status == status, response.message
    run(lambda: with_our_server(body))


# --- our client, against a strict raw server ---------------------------------------------------


def unary_call(requests):
    [(flag, data)] = requests
    request = pb.SimpleRequest.FromString(data)
    if request.HasField("expect_compressed") and flag != request.expect_compressed.value:
        return INVALID_ARGUMENT, "the request's Compressed-Flag is not as expected", []
    response = pb.SimpleResponse(payload=zeros(request.response_size))
    return OK, "", [(response.SerializeToString(), request.response_compressed.value)]


def streaming_input_call(requests):
    total = 0
    for flag, data in requests:
        request = pb.StreamingInputCallRequest.FromString(data)
        if request.HasField("expect_compressed") and flag != request.expect_compressed.value:
            return INVALID_ARGUMENT, "a request's Compressed-Flag is not as expected", []
        total += len(request.payload.body)
    response = pb.StreamingInputCallResponse(aggregated_payload_size=total)
    return OK, "", [(response.SerializeToString(), False)]


def streaming_output_call(requests):
    [(_, data)] = requests
    request = pb.StreamingOutputCallRequest.FromString(data)
    return OK, "", [(pb.StreamingOutputCallResponse(payload=zeros(p.size)).SerializeToString(),
                     p.compressed.value) for p in request.response_parameters]


STRICT_HANDLERS = {"UnaryCall": unary_call, "StreamingInputCall": streaming_input_call,
                   "StreamingOutputCall": streaming_output_call}


async def against_raw_server(case: str) -> raw_h2.RawServer:
    server = raw_h2.RawServer(STRICT_HANDLERS)
    port = await server.start()
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            await run_case(case, channel)
    finally:
        await server.stop()
    return server


def test_our_client_compresses_unary_requests_as_the_case_says():
    async def main():
        server = await against_raw_server("client_compressed_unary")
        flags = [requests[0][0] for _, _, requests in server.requests]
        assert flags == [False, True, False]           # probe, compressed, uncompressed
    run(main)


def test_our_client_compresses_streamed_requests_per_message():
    async def main():
        server = await against_raw_server("client_compressed_streaming")
        flags = [[flag for flag, _ in requests] for _, _, requests in server.requests]
        assert flags == [[False], [True, False]]       # probe; compressed then not
    run(main)


@pytest.mark.parametrize("case", ["server_compressed_unary", "server_compressed_streaming"])
def test_our_client_reads_responses_compressed_or_not_in_one_call(case):
    """The raw server flags responses as asked; our client decodes both kinds and
    checks each flag (call.response_compressed())."""
    run(lambda: against_raw_server(case))
