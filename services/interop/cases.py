"""The interop client's test cases, one coroutine each, by their official names.

Spec: the "Client" half of doc/interop-test-descriptions.md
(https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md#client).
Each case follows its description's Procedure and checks every one of its
"Client asserts"; a broken assertion raises ``CaseFailed`` with the reason.

    await run_case("large_unary", channel)

The compression cases look at each message's Compressed-Flag (the
per-message bit of the Length-Prefixed-Message, not the call's grpc-encoding
header): server_compressed_* check it on every response with
``call.response_compressed()``, and client_compressed_streaming sends its
second message uncompressed with ``call.disable_next_message_compression()``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import rpc

from . import (
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    BoolValue,
    EchoStatus,
    Empty,
    Payload,
    ResponseParameters,
    SimpleRequest,
    StreamingInputCallRequest,
    StreamingOutputCallRequest,
    testing,
)

__all__ = ["CASES", "CaseFailed", "run_case"]

# The sizes the descriptions use (digits of e, pi and friends).
LARGE_REQUEST_SIZE = 271828
LARGE_RESPONSE_SIZE = 314159
CLIENT_STREAMING_SIZES = (27182, 8, 1828, 45904)           # sum 74922
SERVER_STREAMING_SIZES = (31415, 9, 2653, 58979)
PING_PONG = tuple(zip(SERVER_STREAMING_SIZES, CLIENT_STREAMING_SIZES))  # (response, request)
COMPRESSED_STREAMING_SIZES = (27182, 45904)                 # sum 73086
SERVER_COMPRESSED_STREAMING_SIZES = ((31415, True), (92653, False))

ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
SLEEPING_SERVER_TIMEOUT = 0.001      # timeout_on_sleeping_server: "sets its timeout to 1ms"
REQUEST_ENCODING = "gzip"
CALL_TIMEOUT = 20.0                  # no case should take anywhere near this


class CaseFailed(AssertionError):
    """A test case's assertion did not hold; the message says which and why."""


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise CaseFailed(reason)


def zeros(size: int) -> Payload:
    return Payload(body=bytes(size))


def check_payload(response: Any, size: int, what: str = "response") -> None:
    body = response.payload.body if response.payload is not None else b""
    check(len(body) == size, f"{what} payload is {len(body)} bytes, expected {size}")
    check(body == bytes(size), f"{what} payload is not all zeros")


async def expect_status(awaitable: Awaitable[Any], code: rpc.StatusCode, what: str) -> rpc.RpcError:
    """Await a call that must fail with ``code``; return its error."""
    try:
        await awaitable
    except rpc.RpcError as error:
        check(error.code() == code, f"{what} ended {error.code().name} "
                                    f"({error.details()!r}), expected {code.name}")
        return error
    raise CaseFailed(f"{what} succeeded, expected {code.name}")


def check_flag(call: Any, expected: bool, what: str) -> None:
    """The response the call returned last arrived compressed, or not, as ``expected``."""
    flag = call.response_compressed()
    check(flag == expected, f"{what} arrived {_compressed(flag)}, expected {_compressed(expected)}")


def _compressed(flag: bool | None) -> str:
    return {True: "compressed", False: "uncompressed"}.get(flag, "with no Compressed-Flag")


def metadata_value(metadata: Any, key: str) -> Any:
    values = [value for name, value in metadata if name == key]
    return values[0] if values else None


class Peer:
    """The stubs the cases call, on one channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.test = testing.TestServiceStub(channel)
        self.unimplemented = testing.UnimplementedServiceStub(channel)


# --- the cases ---------------------------------------------------------------------------


async def empty_unary(peer: Peer) -> None:
    response = await peer.test.EmptyCall(Empty(), timeout=CALL_TIMEOUT)
    check(response is not None, "the response is null")
    check(response.encode() == b"", "the response is not the empty message")


def large_request(**fields: Any) -> SimpleRequest:
    return SimpleRequest(response_size=LARGE_RESPONSE_SIZE, payload=zeros(LARGE_REQUEST_SIZE), **fields)


async def large_unary(peer: Peer) -> None:
    response = await peer.test.UnaryCall(large_request(), timeout=CALL_TIMEOUT)
    check_payload(response, LARGE_RESPONSE_SIZE)


async def client_compressed_unary(peer: Peer) -> None:
    expect = large_request(expect_compressed=BoolValue(value=True))
    await expect_status(peer.test.UnaryCall(expect, timeout=CALL_TIMEOUT),
                        rpc.StatusCode.INVALID_ARGUMENT, "the uncompressed probe")
    response = await peer.test.UnaryCall(expect, timeout=CALL_TIMEOUT, compression=REQUEST_ENCODING)
    check_payload(response, LARGE_RESPONSE_SIZE, "the compressed call's")
    plain = large_request(expect_compressed=BoolValue(value=False))
    response = await peer.test.UnaryCall(plain, timeout=CALL_TIMEOUT)
    check_payload(response, LARGE_RESPONSE_SIZE, "the uncompressed call's")


async def server_compressed_unary(peer: Peer) -> None:
    for compressed in (True, False):
        call = peer.test.UnaryCall(large_request(response_compressed=BoolValue(value=compressed)),
                                   timeout=CALL_TIMEOUT)
        response = await call
        what = f"the response_compressed={compressed} response"
        check_payload(response, LARGE_RESPONSE_SIZE, what)
        check_flag(call, compressed, what)


async def client_streaming(peer: Peer) -> None:
    call = peer.test.StreamingInputCall(timeout=CALL_TIMEOUT)
    for size in CLIENT_STREAMING_SIZES:
        await call.write(StreamingInputCallRequest(payload=zeros(size)))
    await call.done_writing()
    response = await call
    check(response.aggregated_payload_size == sum(CLIENT_STREAMING_SIZES),
          f"aggregated_payload_size is {response.aggregated_payload_size}, "
          f"expected {sum(CLIENT_STREAMING_SIZES)}")


async def client_compressed_streaming(peer: Peer) -> None:
    first, second = COMPRESSED_STREAMING_SIZES
    probe = peer.test.StreamingInputCall(timeout=CALL_TIMEOUT)
    await expect_status(_send_and_close(probe, [
        StreamingInputCallRequest(payload=zeros(first), expect_compressed=BoolValue(value=True))]),
        rpc.StatusCode.INVALID_ARGUMENT, "the uncompressed probe")
    call = peer.test.StreamingInputCall(timeout=CALL_TIMEOUT, compression=REQUEST_ENCODING)
    await call.write(StreamingInputCallRequest(
        payload=zeros(first), expect_compressed=BoolValue(value=True)))
    call.disable_next_message_compression()
    await call.write(StreamingInputCallRequest(
        payload=zeros(second), expect_compressed=BoolValue(value=False)))
    await call.done_writing()
    response = await call
    check(response.aggregated_payload_size == first + second,
          f"aggregated_payload_size is {response.aggregated_payload_size}, expected {first + second}")


async def _send_and_close(call: Any, requests: list[Any]) -> Any:
    for request in requests:
        await call.write(request)
    await call.done_writing()
    return await call


async def server_streaming(peer: Peer) -> None:
    request = StreamingOutputCallRequest(
        response_parameters=[ResponseParameters(size=size) for size in SERVER_STREAMING_SIZES])
    call = peer.test.StreamingOutputCall(request, timeout=CALL_TIMEOUT)
    sizes = [len(response.payload.body) async for response in call]
    check(sizes == list(SERVER_STREAMING_SIZES),
          f"response sizes are {sizes}, expected {list(SERVER_STREAMING_SIZES)}")
    check(await call.code() == rpc.StatusCode.OK, "the call did not end OK")


async def server_compressed_streaming(peer: Peer) -> None:
    request = StreamingOutputCallRequest(response_parameters=[
        ResponseParameters(size=size, compressed=BoolValue(value=compressed))
        for size, compressed in SERVER_COMPRESSED_STREAMING_SIZES])
    call = peer.test.StreamingOutputCall(request, timeout=CALL_TIMEOUT)
    count = 0
    async for response in call:
        check(count < len(SERVER_COMPRESSED_STREAMING_SIZES), "more than two responses")
        size, compressed = SERVER_COMPRESSED_STREAMING_SIZES[count]
        what = f"response {count + 1} (compressed={compressed})"
        check_payload(response, size, what)
        check_flag(call, compressed, what)
        count += 1
    check(count == len(SERVER_COMPRESSED_STREAMING_SIZES), f"{count} responses, expected 2")
    check(await call.code() == rpc.StatusCode.OK, "the call did not end OK")


async def ping_pong(peer: Peer) -> None:
    call = peer.test.FullDuplexCall(timeout=CALL_TIMEOUT)
    for response_size, request_size in PING_PONG:
        await call.write(StreamingOutputCallRequest(
            response_parameters=[ResponseParameters(size=response_size)],
            payload=zeros(request_size)))
        response = await call.read()
        check(response is not rpc.EOF, "the server ended the stream early")
        check_payload(response, response_size)
    await call.done_writing()
    check(await call.read() is rpc.EOF, "more than four responses")
    check(await call.code() == rpc.StatusCode.OK, "the call did not end OK")


async def empty_stream(peer: Peer) -> None:
    call = peer.test.FullDuplexCall(timeout=CALL_TIMEOUT)
    await call.done_writing()
    responses = [response async for response in call]
    check(responses == [], f"{len(responses)} responses, expected none")
    check(await call.code() == rpc.StatusCode.OK, "the call did not end OK")


ECHO_METADATA = ((ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE), (ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE))


async def check_echoed_metadata(call: Any, what: str) -> None:
    initial = metadata_value(await call.initial_metadata(), ECHO_INITIAL_KEY)
    check(initial == ECHO_INITIAL_VALUE,
          f"{what}: initial metadata {ECHO_INITIAL_KEY} is {initial!r}, expected {ECHO_INITIAL_VALUE!r}")
    trailing = metadata_value(await call.trailing_metadata(), ECHO_TRAILING_KEY)
    check(trailing == ECHO_TRAILING_VALUE,
          f"{what}: trailing metadata {ECHO_TRAILING_KEY} is {trailing!r}, expected {ECHO_TRAILING_VALUE!r}")


async def custom_metadata(peer: Peer) -> None:
    call = peer.test.UnaryCall(large_request(), metadata=ECHO_METADATA, timeout=CALL_TIMEOUT)
    check_payload(await call, LARGE_RESPONSE_SIZE)
    await check_echoed_metadata(call, "UnaryCall")

    call = peer.test.FullDuplexCall(metadata=ECHO_METADATA, timeout=CALL_TIMEOUT)
    await call.write(StreamingOutputCallRequest(
        response_parameters=[ResponseParameters(size=LARGE_RESPONSE_SIZE)],
        payload=zeros(LARGE_REQUEST_SIZE)))
    await call.done_writing()
    sizes = [len(response.payload.body) async for response in call]
    check(sizes == [LARGE_RESPONSE_SIZE], f"FullDuplexCall response sizes are {sizes}")
    await check_echoed_metadata(call, "FullDuplexCall")


async def check_echoed_status(peer: Peer, code: rpc.StatusCode, message: str, *, duplex: bool) -> None:
    status = EchoStatus(code=code, message=message)
    if duplex:
        call = peer.test.FullDuplexCall(timeout=CALL_TIMEOUT)
        awaitable = _send_and_drain(call, StreamingOutputCallRequest(response_status=status))
        what = "FullDuplexCall"
    else:
        awaitable = peer.test.UnaryCall(SimpleRequest(response_status=status), timeout=CALL_TIMEOUT)
        what = "UnaryCall"
    error = await expect_status(awaitable, code, what)
    check(error.details() == message,
          f"{what}: status message is {error.details()!r}, expected {message!r}")


async def _send_and_drain(call: Any, request: Any) -> None:
    await call.write(request)
    await call.done_writing()
    async for _ in call:
        pass


async def status_code_and_message(peer: Peer) -> None:
    await check_echoed_status(peer, rpc.StatusCode.UNKNOWN, STATUS_MESSAGE, duplex=False)
    await check_echoed_status(peer, rpc.StatusCode.UNKNOWN, STATUS_MESSAGE, duplex=True)


async def special_status_message(peer: Peer) -> None:
    await check_echoed_status(peer, rpc.StatusCode.UNKNOWN, SPECIAL_STATUS_MESSAGE, duplex=False)


async def unimplemented_method(peer: Peer) -> None:
    await expect_status(peer.test.UnimplementedCall(Empty(), timeout=CALL_TIMEOUT),
                        rpc.StatusCode.UNIMPLEMENTED, "TestService.UnimplementedCall")


async def unimplemented_service(peer: Peer) -> None:
    await expect_status(peer.unimplemented.UnimplementedCall(Empty(), timeout=CALL_TIMEOUT),
                        rpc.StatusCode.UNIMPLEMENTED, "UnimplementedService.UnimplementedCall")


async def cancel_after_begin(peer: Peer) -> None:
    call = peer.test.StreamingInputCall(timeout=CALL_TIMEOUT)
    await call.wait_for_connection()           # the request headers are on their way
    call.cancel()
    code = await call.code()
    check(code == rpc.StatusCode.CANCELLED, f"the call ended {code.name}, expected CANCELLED")


async def cancel_after_first_response(peer: Peer) -> None:
    call = peer.test.FullDuplexCall(timeout=CALL_TIMEOUT)
    await call.write(StreamingOutputCallRequest(
        response_parameters=[ResponseParameters(size=SERVER_STREAMING_SIZES[0])],
        payload=zeros(CLIENT_STREAMING_SIZES[0])))
    response = await call.read()
    check(response is not rpc.EOF, "no response before the end of the stream")
    check_payload(response, SERVER_STREAMING_SIZES[0])
    call.cancel()
    code = await call.code()
    check(code == rpc.StatusCode.CANCELLED, f"the call ended {code.name}, expected CANCELLED")


async def timeout_on_sleeping_server(peer: Peer) -> None:
    call = peer.test.FullDuplexCall(timeout=SLEEPING_SERVER_TIMEOUT)
    try:
        await call.write(StreamingOutputCallRequest(payload=zeros(CLIENT_STREAMING_SIZES[0])))
        await call.read()          # the server never answers: the deadline ends the call
    except rpc.RpcError:
        pass
    code = await call.code()
    check(code == rpc.StatusCode.DEADLINE_EXCEEDED,
          f"the call ended {code.name}, expected DEADLINE_EXCEEDED")


# In the order grpc's own interop runner lists them.
CASES: dict[str, Callable[[Peer], Awaitable[None]]] = {
    case.__name__: case for case in (
        empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
        custom_metadata, status_code_and_message, special_status_message,
        unimplemented_method, unimplemented_service,
        cancel_after_begin, cancel_after_first_response, timeout_on_sleeping_server,
        client_compressed_unary, client_compressed_streaming,
        server_compressed_unary, server_compressed_streaming,
    )
}


async def run_case(name: str, channel: Any) -> None:
    """Run the case ``name`` on ``channel``: returns if it passed, raises if not."""
    if name not in CASES:
        raise KeyError(f"no test case {name!r}; known: {', '.join(CASES)}")
    await CASES[name](Peer(channel))
