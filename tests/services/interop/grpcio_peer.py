"""grpcio's side of the interop matrix: a TestService server and the client cases, in grpc.aio.

Both are written here from doc/interop-test-descriptions.md, on stubs that
grpcio's own code generator makes from our .proto files, so that what meets
our code is grpcio through and through. They run on the caller's event loop.

grpcio's Python API cannot express everything the descriptions ask for;
``SERVER_CANNOT`` and ``CLIENT_CANNOT`` say what and why, and the raw-HTTP/2
tests (test_raw_h2.py) check those behaviours on the wire instead.

The generated modules go to a temporary package named ``grpcio_interop``: the
protos' own path, grpc/testing/, would make them ``grpc.testing.*_pb2`` and
collide with the ``grpc`` package itself. Only the import lines are rewritten;
package and message names (the wire contract) stay those of grpc.testing.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import pathlib
import shutil
import sys
import tempfile

import grpc
from grpc_tools import protoc

from services.interop import PROTO_ROOT

PACKAGE = "grpcio_interop"
PROTO_FILES = ("empty", "messages", "test")

# --- generated code -------------------------------------------------------------------------


def _generate() -> pathlib.Path:
    out = pathlib.Path(tempfile.mkdtemp(prefix="grpcio-interop-"))
    atexit.register(shutil.rmtree, out, True)
    package = out / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in PROTO_FILES:
        text = (PROTO_ROOT / "grpc" / "testing" / f"{name}.proto").read_text()
        text = text.replace('import "grpc/testing/', f'import "{PACKAGE}/')
        (package / f"{name}.proto").write_text(text)
    status = protoc.main(["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}",
                          *[str(package / f"{name}.proto") for name in PROTO_FILES]])
    if status != 0:
        raise RuntimeError(f"protoc failed with status {status}")
    return out


sys.path.insert(0, str(_generate()))
empty_pb2 = importlib.import_module(f"{PACKAGE}.empty_pb2")
messages_pb2 = importlib.import_module(f"{PACKAGE}.messages_pb2")
test_pb2_grpc = importlib.import_module(f"{PACKAGE}.test_pb2_grpc")

ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"

# What grpcio's Python API cannot do, so cannot be asked of it.
SERVER_CANNOT = {
    "client_compressed_unary": "a grpcio servicer cannot see whether a request message "
                               "arrived compressed (CompressedRequest)",
    "client_compressed_streaming": "a grpcio servicer cannot see whether a request message "
                                   "arrived compressed (CompressedRequest)",
}
CLIENT_CANNOT = {
    "client_compressed_streaming": "a grpcio call cannot send one message of a compressed "
                                   "call uncompressed",
}
CLIENT_UNVERIFIED = {   # the case runs, but one of its assertions cannot be made
    "server_compressed_unary": "grpcio does not show a response's Compressed-Flag",
    "server_compressed_streaming": "grpcio does not show a response's Compressed-Flag",
}


# --- the server -------------------------------------------------------------------------------


class GrpcioTestService(test_pb2_grpc.TestServiceServicer):
    """TestService on grpc.aio; UnimplementedCall is left to the generated base (UNIMPLEMENTED)."""

    async def EmptyCall(self, request, context):
        return empty_pb2.Empty()

    async def UnaryCall(self, request, context):
        if request.HasField("response_compressed"):
            context.set_compression(grpc.Compression.Gzip if request.response_compressed.value
                                    else grpc.Compression.NoCompression)
        await _echo_metadata(context)
        await _echo_status(context, request)
        return messages_pb2.SimpleResponse(
            payload=messages_pb2.Payload(body=bytes(request.response_size)))

    async def StreamingOutputCall(self, request, context):
        context.set_compression(grpc.Compression.Gzip)
        await _echo_metadata(context)
        await _echo_status(context, request)
        await _send_responses(context, request.response_parameters)

    async def StreamingInputCall(self, request_iterator, context):
        await _echo_metadata(context)
        total = 0
        async for request in request_iterator:
            total += len(request.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    async def FullDuplexCall(self, request_iterator, context):
        context.set_compression(grpc.Compression.Gzip)
        await _echo_metadata(context)
        async for request in request_iterator:
            await _echo_status(context, request)
            await _send_responses(context, request.response_parameters)

    async def HalfDuplexCall(self, request_iterator, context):
        context.set_compression(grpc.Compression.Gzip)
        await _echo_metadata(context)
        requests = [request async for request in request_iterator]
        for request in requests:
            await _echo_status(context, request)
            await _send_responses(context, request.response_parameters)


async def _echo_metadata(context) -> None:
    metadata = dict(context.invocation_metadata() or ())
    if ECHO_TRAILING_KEY in metadata:
        context.set_trailing_metadata(((ECHO_TRAILING_KEY, metadata[ECHO_TRAILING_KEY]),))
    initial = [(ECHO_INITIAL_KEY, metadata[ECHO_INITIAL_KEY])] if ECHO_INITIAL_KEY in metadata else []
    await context.send_initial_metadata(initial)


async def _echo_status(context, request) -> None:
    if request.HasField("response_status") and request.response_status.code != 0:
        status = request.response_status
        await context.abort(grpc.StatusCode(_code(status.code)), status.message,
                            trailing_metadata=context.trailing_metadata() or ())


def _code(number: int):
    return next(code.value for code in grpc.StatusCode if code.value[0] == number)


async def _send_responses(context, parameters) -> None:
    for parameter in parameters:
        if parameter.interval_us:
            await asyncio.sleep(parameter.interval_us / 1e6)
        if not (parameter.HasField("compressed") and parameter.compressed.value):
            context.disable_next_message_compression()
        await context.write(messages_pb2.StreamingOutputCallResponse(
            payload=messages_pb2.Payload(body=bytes(parameter.size))))


async def start_server(credentials: grpc.ServerCredentials | None = None) -> tuple[grpc.aio.Server, int]:
    """A grpc.aio server with GrpcioTestService on 127.0.0.1, port chosen by the system;
    over TLS with ``credentials`` (grpc.ssl_server_credentials)."""
    server = grpc.aio.server()
    test_pb2_grpc.add_TestServiceServicer_to_server(GrpcioTestService(), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, port


# --- the client cases ---------------------------------------------------------------------------

LARGE_REQUEST_SIZE, LARGE_RESPONSE_SIZE = 271828, 314159
REQUEST_SIZES = (27182, 8, 1828, 45904)
RESPONSE_SIZES = (31415, 9, 2653, 58979)
SPECIAL_STATUS_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
ECHO_METADATA = ((ECHO_INITIAL_KEY, "test_initial_metadata_value"), (ECHO_TRAILING_KEY, b"\xab\xab\xab"))
TIMEOUT = 20.0


class CaseFailed(AssertionError):
    pass


def check(condition, reason):
    if not condition:
        raise CaseFailed(reason)


def _payload(size):
    return messages_pb2.Payload(body=bytes(size))


def _large(**fields):
    return messages_pb2.SimpleRequest(response_size=LARGE_RESPONSE_SIZE,
                                      payload=_payload(LARGE_REQUEST_SIZE), **fields)


async def _expect_code(awaitable, code, what):
    try:
        await awaitable
    except grpc.aio.AioRpcError as error:
        check(error.code() == code, f"{what} ended {error.code()}, expected {code}")
        return error
    raise CaseFailed(f"{what} succeeded, expected {code}")


def _zeros(response, size, what="response"):
    check(response.payload.body == bytes(size),
          f"{what} payload is {len(response.payload.body)} bytes, expected {size} zeros")


class Client:
    """The interop client cases on grpc.aio, one method per case."""

    def __init__(self, channel) -> None:
        self.stub = test_pb2_grpc.TestServiceStub(channel)
        self.unimplemented = test_pb2_grpc.UnimplementedServiceStub(channel)

    async def empty_unary(self):
        response = await self.stub.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
        check(isinstance(response, empty_pb2.Empty), "no Empty response")

    async def large_unary(self):
        _zeros(await self.stub.UnaryCall(_large(), timeout=TIMEOUT), LARGE_RESPONSE_SIZE)

    async def client_compressed_unary(self):
        expect = _large(expect_compressed=messages_pb2.BoolValue(value=True))
        await _expect_code(self.stub.UnaryCall(expect, timeout=TIMEOUT,
                                               compression=grpc.Compression.NoCompression),
                           grpc.StatusCode.INVALID_ARGUMENT, "the uncompressed probe")
        _zeros(await self.stub.UnaryCall(expect, timeout=TIMEOUT, compression=grpc.Compression.Gzip),
               LARGE_RESPONSE_SIZE)
        plain = _large(expect_compressed=messages_pb2.BoolValue(value=False))
        _zeros(await self.stub.UnaryCall(plain, timeout=TIMEOUT,
                                         compression=grpc.Compression.NoCompression),
               LARGE_RESPONSE_SIZE)

    async def server_compressed_unary(self):
        for compressed in (True, False):
            request = _large(response_compressed=messages_pb2.BoolValue(value=compressed))
            _zeros(await self.stub.UnaryCall(request, timeout=TIMEOUT), LARGE_RESPONSE_SIZE)

    async def client_streaming(self):
        call = self.stub.StreamingInputCall(timeout=TIMEOUT)
        for size in REQUEST_SIZES:
            await call.write(messages_pb2.StreamingInputCallRequest(payload=_payload(size)))
        await call.done_writing()
        response = await call
        check(response.aggregated_payload_size == 74922, f"aggregated {response.aggregated_payload_size}")

    async def server_streaming(self):
        request = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=size) for size in RESPONSE_SIZES])
        sizes = [len(r.payload.body) async for r in self.stub.StreamingOutputCall(request, timeout=TIMEOUT)]
        check(sizes == list(RESPONSE_SIZES), f"sizes {sizes}")

    async def server_compressed_streaming(self):
        request = messages_pb2.StreamingOutputCallRequest(response_parameters=[
            messages_pb2.ResponseParameters(size=31415, compressed=messages_pb2.BoolValue(value=True)),
            messages_pb2.ResponseParameters(size=92653, compressed=messages_pb2.BoolValue(value=False))])
        sizes = [len(r.payload.body) async for r in self.stub.StreamingOutputCall(request, timeout=TIMEOUT)]
        check(sizes == [31415, 92653], f"sizes {sizes}")

    async def ping_pong(self):
        call = self.stub.FullDuplexCall(timeout=TIMEOUT)
        for response_size, request_size in zip(RESPONSE_SIZES, REQUEST_SIZES):
            await call.write(messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=response_size)],
                payload=_payload(request_size)))
            response = await call.read()
            check(response is not grpc.aio.EOF, "the stream ended early")
            _zeros(response, response_size)
        await call.done_writing()
        check(await call.read() is grpc.aio.EOF, "more than four responses")
        check(await call.code() == grpc.StatusCode.OK, "not OK")

    async def empty_stream(self):
        call = self.stub.FullDuplexCall(timeout=TIMEOUT)
        await call.done_writing()
        check([r async for r in call] == [], "responses on an empty stream")
        check(await call.code() == grpc.StatusCode.OK, "not OK")

    async def _check_echo(self, call, what):
        initial = dict(await call.initial_metadata())
        trailing = dict(await call.trailing_metadata())
        check(initial.get(ECHO_INITIAL_KEY) == "test_initial_metadata_value", f"{what}: initial {initial}")
        check(trailing.get(ECHO_TRAILING_KEY) == b"\xab\xab\xab", f"{what}: trailing {trailing}")

    async def custom_metadata(self):
        call = self.stub.UnaryCall(_large(), metadata=ECHO_METADATA, timeout=TIMEOUT)
        _zeros(await call, LARGE_RESPONSE_SIZE)
        await self._check_echo(call, "UnaryCall")
        call = self.stub.FullDuplexCall(metadata=ECHO_METADATA, timeout=TIMEOUT)
        await call.write(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=LARGE_RESPONSE_SIZE)],
            payload=_payload(LARGE_REQUEST_SIZE)))
        await call.done_writing()
        check([len(r.payload.body) async for r in call] == [LARGE_RESPONSE_SIZE], "FullDuplexCall sizes")
        await self._check_echo(call, "FullDuplexCall")

    async def _echo_status(self, message, duplex):
        status = messages_pb2.EchoStatus(code=2, message=message)
        if duplex:
            call = self.stub.FullDuplexCall(timeout=TIMEOUT)

            async def drain():
                await call.write(messages_pb2.StreamingOutputCallRequest(response_status=status))
                await call.done_writing()
                async for _ in call:
                    pass
            awaitable = drain()
        else:
            awaitable = self.stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status), timeout=TIMEOUT)
        error = await _expect_code(awaitable, grpc.StatusCode.UNKNOWN, "the call")
        check(error.details() == message, f"details {error.details()!r}, expected {message!r}")

    async def status_code_and_message(self):
        await self._echo_status("test status message", duplex=False)
        await self._echo_status("test status message", duplex=True)

    async def special_status_message(self):
        await self._echo_status(SPECIAL_STATUS_MESSAGE, duplex=False)

    async def unimplemented_method(self):
        await _expect_code(self.stub.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT),
                           grpc.StatusCode.UNIMPLEMENTED, "UnimplementedCall")

    async def unimplemented_service(self):
        await _expect_code(self.unimplemented.UnimplementedCall(empty_pb2.Empty(), timeout=TIMEOUT),
                           grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService")

    async def cancel_after_begin(self):
        call = self.stub.StreamingInputCall(timeout=TIMEOUT)
        await call.wait_for_connection()
        call.cancel()
        check(await call.code() == grpc.StatusCode.CANCELLED, "not CANCELLED")

    async def cancel_after_first_response(self):
        call = self.stub.FullDuplexCall(timeout=TIMEOUT)
        await call.write(messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=_payload(27182)))
        _zeros(await call.read(), 31415)
        call.cancel()
        check(await call.code() == grpc.StatusCode.CANCELLED, "not CANCELLED")

    async def timeout_on_sleeping_server(self):
        for _ in range(WRITE_RACE_ATTEMPTS):
            call = self.stub.FullDuplexCall(timeout=0.001)
            try:
                await call.write(messages_pb2.StreamingOutputCallRequest(payload=_payload(27182)))
            except grpc.aio.AioRpcError as error:
                if _lost_the_write_race(error):
                    continue           # nothing was asked of the server: try again
            try:
                await call.read()      # the client waits; the deadline ends the call
            except grpc.aio.AioRpcError:
                pass
            code = await call.code()
            check(code == grpc.StatusCode.DEADLINE_EXCEEDED, f"ended {code}: {await call.details()!r}")
            return
        raise CaseFailed(f"grpcio's write lost the race with its own deadline "
                         f"{WRITE_RACE_ATTEMPTS} times in a row")


# With a 1 ms deadline, grpc's core may end the call before grpc.aio starts the
# batch that sends the request; grpc.aio then reports its own failed write as
# INTERNAL "Internal error from Core" (grpc/aio/_call.py: _write catches
# cygrpc.InternalError and calls set_internal_error) instead of the deadline.
# No request reached the server, which had no part in it: the case starts over.
# The slower the connection set-up (a TLS handshake in Python), the likelier.
WRITE_RACE_ATTEMPTS = 20


def _lost_the_write_race(error: grpc.aio.AioRpcError) -> bool:
    return (error.code() == grpc.StatusCode.INTERNAL
            and error.debug_error_string().startswith('Failed "execute_batch"')
            and "SendMessageOperation" in error.debug_error_string())


async def run_client_case(name: str, target: str, credentials: grpc.ChannelCredentials | None = None,
                          options: tuple = ()) -> None:
    """Run grpcio's client case ``name`` against ``target`` on a fresh grpc.aio channel
    (a secure one with ``credentials``; ``options`` such as grpc.ssl_target_name_override)."""
    if credentials is None:
        channel = grpc.aio.insecure_channel(target, options)
    else:
        channel = grpc.aio.secure_channel(target, credentials, options)
    async with channel:
        await getattr(Client(channel), name)()


__all__ = ["GrpcioTestService", "Client", "start_server", "run_client_case",
           "SERVER_CANNOT", "CLIENT_CANNOT", "CLIENT_UNVERIFIED", "messages_pb2", "empty_pb2",
           "test_pb2_grpc"]
