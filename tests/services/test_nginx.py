"""Our servers behind Debian's nginx as the layer-7 proxy (grpc_pass), with the
example configuration services/nginx/grpc.conf, rendered with this test's ports.

Three of our servers (grpc.testing.TestService, each counting its calls) sit
behind one nginx; our client and grpcio's call through it, every call
pattern, metadata both ways, and a non-OK status with its details; then our
client runs every official interop test case through it. nginx runs
in the foreground in a temporary prefix and is stopped at the end, with its
worker processes checked gone. ``make test`` installs nginx when it is
missing; without it this test fails, saying so.
"""

import asyncio
import os
import re
import signal
import socket

import grpc
import pytest

import rpc
from services.interop import (
    ECHO_INITIAL_KEY,
    ECHO_TRAILING_KEY,
    EchoStatus,
    Empty,
    Payload,
    ResponseParameters,
    SimpleRequest,
    SimpleResponse,
    StreamingInputCallRequest,
    StreamingInputCallResponse,
    StreamingOutputCallRequest,
    StreamingOutputCallResponse,
    testing,
)
from services.interop.cases import CASES, run_case
from services.interop.server import TestService
from services.nginx import NGINX, nginx_command, render_config

BACKENDS = 3
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
CALL_TIMEOUT = 10.0
SIZES = [1, 10, 100]
LARGE_MESSAGE = 1 << 20                # three of these: over nginx's default 1 MB body limit
DETAILS = "not now: 100% \u2603 busy"  # percent-encoded on the wire, through nginx untouched
STARTED_WORKER = re.compile(rb"start worker process (\d+)")
SERVICE = "/grpc.testing.TestService/"


class CountingCalls(rpc.ServerInterceptor):
    def __init__(self):
        self.calls = 0

    async def intercept_service(self, continuation, handler_call_details):
        self.calls += 1
        return await continuation(handler_call_details)


async def start_backend():
    counter = CountingCalls()
    server = rpc.Server(interceptors=[counter])
    server.add_service(TestService())
    port = await server.start("127.0.0.1:0")
    return server, counter, f"127.0.0.1:{port}"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """nginx in the foreground; its notices also go to stderr, which says when it is up."""

    def __init__(self, process, prefix):
        self.process, self.prefix = process, prefix
        self.stderr = b""
        self.drained = None

    @classmethod
    async def start(cls, prefix, backends):
        if not os.access(NGINX, os.X_OK):
            pytest.fail(f"nginx is not installed at {NGINX}: `make test` installs Debian's nginx "
                        "(apt-get install nginx-light), or install it and run again")
        listen = f"127.0.0.1:{free_port()}"
        config = prefix / "grpc.conf"
        config.write_text(render_config(listen, backends))
        process = await asyncio.create_subprocess_exec(
            *nginx_command(prefix, config), "-g", "error_log stderr notice;",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        nginx = cls(process, prefix)
        await asyncio.wait_for(nginx._until_a_worker_started(), START_TIMEOUT)
        nginx.drained = asyncio.ensure_future(nginx._drain())
        return nginx, listen

    async def _until_a_worker_started(self):
        # The master listens before it starts workers; a worker accepts what queued meanwhile.
        while not STARTED_WORKER.search(self.stderr):
            line = await self.process.stderr.readline()
            if not line:
                await self.process.wait()
                pytest.fail(f"nginx exited with status {self.process.returncode}:\n"
                            f"{self.stderr.decode(errors='replace')}")
            self.stderr += line

    async def _drain(self):
        while line := await self.process.stderr.readline():
            self.stderr += line

    @property
    def worker_pids(self):
        return [int(pid) for pid in STARTED_WORKER.findall(self.stderr)]

    async def stop(self):
        """Fast shutdown (SIGTERM): the master stops its workers, then exits."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                for pid in [*self.worker_pids, self.process.pid]:
                    _kill(pid)
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
                pytest.fail("nginx did not stop on SIGTERM")
        if self.drained is not None:
            await asyncio.wait_for(self.drained, STOP_TIMEOUT)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- the calls, from our client and from grpcio's ------------------------------------------


def streaming_request(*sizes):
    return StreamingOutputCallRequest(response_parameters=[ResponseParameters(size=s) for s in sizes])


def input_requests(*sizes):
    return [StreamingInputCallRequest(payload=Payload(body=bytes(size))) for size in sizes]


async def every_pattern_with_ours(target):
    async with rpc.Channel(target) as channel:
        stub = testing.TestServiceStub(channel)
        call = stub.UnaryCall(SimpleRequest(response_size=7), timeout=CALL_TIMEOUT,
                              metadata=[(ECHO_INITIAL_KEY, "hello"), (ECHO_TRAILING_KEY, b"\x00\xff")])
        assert (await call).payload.body == bytes(7)
        assert (ECHO_INITIAL_KEY, "hello") in await call.initial_metadata()
        assert (ECHO_TRAILING_KEY, b"\x00\xff") in await call.trailing_metadata()

        with pytest.raises(rpc.RpcError) as error:
            await stub.UnaryCall(SimpleRequest(response_status=EchoStatus(code=9, message=DETAILS)),
                                 timeout=CALL_TIMEOUT)
        assert (error.value.code(), error.value.details()) == (rpc.StatusCode.FAILED_PRECONDITION, DETAILS)
        with pytest.raises(rpc.RpcError) as error:      # answered Trailers-Only: one HEADERS frame
            await stub.UnimplementedCall(Empty(), timeout=CALL_TIMEOUT)
        assert error.value.code() == rpc.StatusCode.UNIMPLEMENTED

        responses = stub.StreamingOutputCall(streaming_request(*SIZES), timeout=CALL_TIMEOUT)
        assert [len(response.payload.body) async for response in responses] == SIZES

        summed = await stub.StreamingInputCall(iter(input_requests(*[LARGE_MESSAGE] * 3)),
                                               timeout=CALL_TIMEOUT)
        assert summed.aggregated_payload_size == 3 * LARGE_MESSAGE

        duplex = stub.FullDuplexCall(timeout=CALL_TIMEOUT)
        for size in SIZES:                              # ping-pong: each answer before the next ask
            await duplex.write(streaming_request(size))
            assert len((await duplex.read()).payload.body) == size
        await duplex.done_writing()
        assert await duplex.read() is rpc.EOF


async def every_pattern_with_grpcio(target):
    async with grpc.aio.insecure_channel(target) as channel:
        unary = channel.unary_unary(SERVICE + "UnaryCall", request_serializer=SimpleRequest.encode,
                                    response_deserializer=SimpleResponse.decode)
        call = unary(SimpleRequest(response_size=7), timeout=CALL_TIMEOUT,
                     metadata=[(ECHO_INITIAL_KEY, "hello"), (ECHO_TRAILING_KEY, b"\x00\xff")])
        assert (await call).payload.body == bytes(7)
        assert (ECHO_INITIAL_KEY, "hello") in tuple(await call.initial_metadata())
        assert (ECHO_TRAILING_KEY, b"\x00\xff") in tuple(await call.trailing_metadata())

        with pytest.raises(grpc.aio.AioRpcError) as error:
            await unary(SimpleRequest(response_status=EchoStatus(code=9, message=DETAILS)),
                        timeout=CALL_TIMEOUT)
        assert (error.value.code(), error.value.details()) == (grpc.StatusCode.FAILED_PRECONDITION, DETAILS)
        unimplemented = channel.unary_unary(SERVICE + "UnimplementedCall", request_serializer=Empty.encode,
                                            response_deserializer=Empty.decode)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await unimplemented(Empty(), timeout=CALL_TIMEOUT)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED

        server_streaming = channel.unary_stream(
            SERVICE + "StreamingOutputCall", request_serializer=StreamingOutputCallRequest.encode,
            response_deserializer=StreamingOutputCallResponse.decode)
        responses = server_streaming(streaming_request(*SIZES), timeout=CALL_TIMEOUT)
        assert [len(response.payload.body) async for response in responses] == SIZES

        client_streaming = channel.stream_unary(
            SERVICE + "StreamingInputCall", request_serializer=StreamingInputCallRequest.encode,
            response_deserializer=StreamingInputCallResponse.decode)
        summed = await client_streaming(iter(input_requests(*SIZES)), timeout=CALL_TIMEOUT)
        assert summed.aggregated_payload_size == sum(SIZES)

        duplex = channel.stream_stream(
            SERVICE + "FullDuplexCall", request_serializer=StreamingOutputCallRequest.encode,
            response_deserializer=StreamingOutputCallResponse.decode)(timeout=CALL_TIMEOUT)
        for size in SIZES:
            await duplex.write(streaming_request(size))
            assert len((await duplex.read()).payload.body) == size
        await duplex.done_writing()
        assert await duplex.read() is grpc.aio.EOF


async def official_interop_cases(target):
    async with rpc.Channel(target) as channel:
        for name in CASES:
            await run_case(name, channel)      # raises CaseFailed, naming the broken assertion


async def unary_calls_on_one_channel(target, count):
    async with rpc.Channel(target) as channel:
        stub = testing.TestServiceStub(channel)
        for _ in range(count):
            await stub.UnaryCall(SimpleRequest(), timeout=CALL_TIMEOUT)


# --- the test -------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_calls_through_nginx_reach_every_backend_and_come_back_whole(tmp_path):
    async def main():
        backends = [await start_backend() for _ in range(BACKENDS)]
        nginx = None
        try:
            nginx, target = await Nginx.start(tmp_path, [address for _, _, address in backends])
            await every_pattern_with_ours(target)
            await every_pattern_with_grpcio(target)
            await official_interop_cases(target)

            before = [counter.calls for _, counter, _ in backends]
            await unary_calls_on_one_channel(target, 2 * BACKENDS)    # one connection to nginx
            after = [counter.calls for _, counter, _ in backends]
            # nginx balances each call, round robin: all of one channel's calls spread evenly.
            assert [b - a for a, b in zip(before, after)] == [2] * BACKENDS
        finally:
            if nginx is not None:
                await nginx.stop()
            for server, _, _ in backends:
                await server.stop(None)
        return nginx, [address for _, _, address in backends]
    nginx, addresses = asyncio.run(main())

    assert nginx.process.returncode == 0, nginx.stderr.decode(errors="replace")
    assert nginx.worker_pids and all(gone(pid) for pid in nginx.worker_pids + [nginx.process.pid])
    access_log = (tmp_path / "access.log").read_text()                # the config's own log format
    assert '"POST /grpc.testing.TestService/FullDuplexCall HTTP/2.0" 200' in access_log
    assert set(re.findall(r"backend=(\S+)", access_log)) == set(addresses)
