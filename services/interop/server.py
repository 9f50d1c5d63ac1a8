"""The interop server: ``python -m services.interop.server --port 10000``.

Spec: the "Server" half of doc/interop-test-descriptions.md
(https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md#server).
It implements grpc.testing.TestService with each server feature the
descriptions name:

    EmptyCall             answer the empty message at once
    UnaryCall             a Payload of ``response_size`` zero bytes
    StreamingOutputCall   one response per ResponseParameters, in order
    StreamingInputCall    on half-close, the sum of the request payload sizes
    FullDuplexCall        one response per ResponseParameters of each request, as it comes
    HalfDuplexCall        the same, but only once the client has half-closed
    CompressedResponse    ``response_compressed`` / ``ResponseParameters.compressed``
                          set each response's Compressed-Flag
    CompressedRequest     ``expect_compressed``: a request that did not arrive
                          as expected fails the call with INVALID_ARGUMENT
    Echo Status           ``response_status`` ends the call with that code and message
    Echo Metadata         ``x-grpc-test-echo-initial`` comes back in the response
                          headers, ``x-grpc-test-echo-trailing-bin`` in the trailers
    interval_us           a pause before each streamed response

TestService.UnimplementedCall stays unimplemented, and UnimplementedService is
not served at all: both answer UNIMPLEMENTED, as the tests expect.

With ``--use_tls`` it serves over TLS (ALPN "h2"), with ``--tls_cert_file``
and ``--tls_key_file``, or, since this project ships no keys, with a
certificate it makes at start from a fresh test CA (trustme, a test
dependency). That certificate names localhost, 127.0.0.1, ::1 and
*.test.google.fr, so the official clients' ``--server_host_override=
foo.test.google.fr`` works; the server prints where the CA is, for the
client's ``--ca_file``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import ssl
import sys
import tempfile
import time
from typing import Iterator

import rpc
from transport import tls

from ..standard import run_until_signalled

from . import (
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    Empty,
    Payload,
    PayloadType,
    SimpleResponse,
    StreamingInputCallResponse,
    StreamingOutputCallResponse,
    testing,
)

__all__ = ["TestService", "make_server", "serve", "parse_bool", "generated_certificate", "main"]


DEFAULT_PORT = 10000          # the port grpc's own interop runners use
# The names of the generated server certificate: loopback, and the wildcard
# that grpc's own interop certificate holds (clients override to foo.test.google.fr).
TEST_CERTIFICATE_NAMES = ("localhost", "127.0.0.1", "::1", "*.test.google.fr")
RESPONSE_ENCODING = "gzip"    # what "compressed" means for a response here
MICROSECOND = 1e-6


class TestService(testing.TestServiceServicer):
    """grpc.testing.TestService, as the interop test descriptions define it."""

    async def EmptyCall(self, request, context):
        return Empty()

    async def UnaryCall(self, request, context):
        await _check_request_compression(context, request.expect_compressed)
        await _check_response_type(context, request.response_type)
        _choose_response_compression(context, request.response_compressed)
        await _echo_metadata(context)
        await _echo_status(context, request.response_status)
        return SimpleResponse(payload=await _payload(context, request.response_size))

    async def CacheableUnaryCall(self, request, context):
        # Meant to sit behind a caching proxy: the payload is the time, so a
        # cached answer shows up as a repeated one. (No cache headers: out of scope.)
        await _echo_metadata(context)
        return SimpleResponse(payload=Payload(body=str(time.time_ns()).encode("ascii")))

    async def StreamingOutputCall(self, request, context):
        await _check_response_type(context, request.response_type)
        await _start_response_stream(context)
        await _echo_status(context, request.response_status)
        await _send_responses(context, request.response_parameters)

    async def StreamingInputCall(self, request_iterator, context):
        await _echo_metadata(context)
        aggregated = 0
        async for request in request_iterator:
            await _check_request_compression(context, request.expect_compressed)
            aggregated += len(request.payload.body) if request.payload else 0
        return StreamingInputCallResponse(aggregated_payload_size=aggregated)

    async def FullDuplexCall(self, request_iterator, context):
        await _start_response_stream(context)
        async for request in request_iterator:
            await _check_response_type(context, request.response_type)
            await _echo_status(context, request.response_status)
            await _send_responses(context, request.response_parameters)

    async def HalfDuplexCall(self, request_iterator, context):
        await _start_response_stream(context)
        requests = [request async for request in request_iterator]
        for request in requests:
            await _check_response_type(context, request.response_type)
            await _echo_status(context, request.response_status)
            await _send_responses(context, request.response_parameters)


# --- the server features, one function each ---------------------------------------


async def _payload(context: rpc.ServicerContext, size: int) -> Payload:
    """A Payload of ``size`` zero bytes (the only PayloadType left: COMPRESSABLE)."""
    if size < 0:
        await context.abort(rpc.StatusCode.INVALID_ARGUMENT, f"negative response size {size}")
    return Payload(type=PayloadType.COMPRESSABLE, body=bytes(size))


async def _check_response_type(context: rpc.ServicerContext, response_type: int) -> None:
    """UnaryCall: "If the server does not support the response_type ... INVALID_ARGUMENT"."""
    if response_type != PayloadType.COMPRESSABLE:
        await context.abort(rpc.StatusCode.INVALID_ARGUMENT,
                            f"unsupported response type {response_type}")


async def _check_request_compression(context: rpc.ServicerContext, expect_compressed) -> None:
    """CompressedRequest: the request must have arrived as ``expect_compressed`` says.

    Like grpc's reference server, both ways: a request that should have been
    compressed and was not fails, and so does one compressed against the
    client's own word (the Compressed-Flag, from ``context.request_compressed()``).
    """
    if expect_compressed is None:
        return
    if context.request_compressed() == expect_compressed.value:
        return
    said = "compressed" if expect_compressed.value else "uncompressed"
    await context.abort(rpc.StatusCode.INVALID_ARGUMENT,
                        f"expected a {said} request, got the opposite")


def _choose_response_compression(context: rpc.ServicerContext, response_compressed) -> None:
    """CompressedResponse, unary: compress the call's response if asked to, and
    if asked not to, don't (not even when the server compresses by default)."""
    if response_compressed is None:
        return
    if response_compressed.value:
        context.set_compression(RESPONSE_ENCODING)
    else:
        context.disable_next_message_compression()


async def _start_response_stream(context: rpc.ServicerContext) -> None:
    """A streamed response may mix compressed and uncompressed messages, so the
    call gets an encoding and each message that should not be compressed says so
    (the encoding must be chosen before the headers go out)."""
    context.set_compression(RESPONSE_ENCODING)
    await _echo_metadata(context)


async def _send_responses(context: rpc.ServicerContext, parameters) -> None:
    """One response per ResponseParameters: pause ``interval_us``, then send ``size`` bytes."""
    for parameter in parameters:
        if parameter.interval_us > 0:
            await asyncio.sleep(parameter.interval_us * MICROSECOND)
        if parameter.compressed is None or not parameter.compressed.value:
            context.disable_next_message_compression()
        await context.write(StreamingOutputCallResponse(payload=await _payload(context, parameter.size)))


async def _echo_metadata(context: rpc.ServicerContext) -> None:
    """Echo Metadata: send the response headers now, with the echoed initial value."""
    initial, trailing = [], []
    for key, value in context.invocation_metadata():
        if key == ECHO_INITIAL_KEY:
            initial.append((key, value))
        elif key == ECHO_TRAILING_KEY:
            trailing.append((key, value))
    if trailing:
        context.set_trailing_metadata(trailing)
    await context.send_initial_metadata(initial)


async def _echo_status(context: rpc.ServicerContext, response_status) -> None:
    """Echo Status: a ``response_status`` other than OK ends the call with it."""
    if response_status is None or response_status.code == rpc.StatusCode.OK:
        return
    try:
        code = rpc.StatusCode(response_status.code)
    except ValueError:
        await context.abort(rpc.StatusCode.INVALID_ARGUMENT,
                            f"no status code {response_status.code}")
    await context.abort(code, response_status.message)


# --- the program -------------------------------------------------------------------------


def make_server(**server_options) -> rpc.Server:
    """An rpc.Server with TestService added (and nothing else: UnimplementedService stays out)."""
    server = rpc.Server(**server_options)
    server.add_service(TestService())
    return server


async def serve(host: str, port: int, *, ssl: ssl.SSLContext | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully."""
    server = make_server(ssl=ssl)
    await run_until_signalled(server, "interop", host, port, note=" (TLS)" if ssl else "")


def parse_bool(text: str) -> bool:
    """The official flags are written ``--use_tls=true``; accept the usual spellings."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r}")


@contextlib.contextmanager
def generated_certificate() -> Iterator[tuple[str, str, str]]:
    """A fresh test CA and a server certificate it signed, as files in a temporary
    directory (removed afterwards): (certificate, private key, CA certificate)."""
    import trustme   # a test dependency: only this fallback needs it

    authority = trustme.CA()
    leaf = authority.issue_cert(*TEST_CERTIFICATE_NAMES)
    with tempfile.TemporaryDirectory(prefix="interop-tls-") as directory:
        folder = pathlib.Path(directory)
        paths = tuple(str(folder / name) for name in ("server.pem", "server.key", "ca.pem"))
        leaf.cert_chain_pems[0].write_to_path(paths[0])
        for blob in leaf.cert_chain_pems[1:]:
            blob.write_to_path(paths[0], append=True)
        leaf.private_key_pem.write_to_path(paths[1])
        authority.cert_pem.write_to_path(paths[2])
        yield paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port to listen on (0 picks a free one and prints it)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--use_tls", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--tls_cert_file", help="the server's certificate (PEM); with "
                        "--use_tls and no files, one is made from a fresh test CA")
    parser.add_argument("--tls_key_file", help="its private key (PEM)")
    args = parser.parse_args(argv)
    if (args.tls_cert_file is None) != (args.tls_key_file is None):
        parser.error("give both --tls_cert_file and --tls_key_file, or neither")
    if not args.use_tls:
        asyncio.run(serve(args.host, args.port))
    elif args.tls_cert_file:
        asyncio.run(serve(args.host, args.port,
                          ssl=tls.server_context(args.tls_cert_file, args.tls_key_file)))
    else:
        with generated_certificate() as (certificate, private_key, authority):
            print(f"interop server: no --tls_cert_file, so a test CA made one; clients "
                  f"trust it with --ca_file={authority}", file=sys.stderr, flush=True)
            asyncio.run(serve(args.host, args.port,
                              ssl=tls.server_context(certificate, private_key)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
