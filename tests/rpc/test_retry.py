"""Retries: the retryPolicy of a service config, transparent retries, and what is never retried.

Spec: gRFC A6, client retries
(https://github.com/grpc/proposal/blob/master/A6-client-retries.md), and
doc/service_config.md. A flaky backend (ours, and grpcio's) fails the first
attempts with a status of the test's choosing and records the
grpc-previous-rpc-attempts header of each attempt it sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import grpc
import h2.config
import h2.connection
import h2.events
import hyperframe.frame
import pytest

import rpc
from rpc.service_config import RetryPolicy, ServiceConfig, parse_duration
from transport.framing import encode_message

pytestmark = pytest.mark.timeout(30)

SERVICE = "ecommerce.OrderManagement"


def retry_config(max_attempts=3, codes=("UNAVAILABLE",), initial="0.01s", maximum="0.05s",
                 throttling=None) -> str:
    config = {"methodConfig": [{
        "name": [{"service": SERVICE}],
        "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": initial, "maxBackoff": maximum,
                        "backoffMultiplier": 2, "retryableStatusCodes": list(codes)},
    }]}
    if throttling:
        config["retryThrottling"] = throttling
    return json.dumps(config)


@contextlib.asynccontextmanager
async def retrying_channel(started, service_config: str | None = None):
    """A channel to the flaky server `started` starts; the server stops with it."""
    server, target = await started
    try:
        async with rpc.Channel(target, service_config=service_config) as channel:
            yield channel
    finally:
        await server.stop(0)


class Flaky:
    """Fails the first ``failures`` attempts of each call with ``code``."""

    def __init__(self, failures: int, code: str = "UNAVAILABLE", *, headers_first: bool = False,
                 pushback: str | None = None) -> None:
        self.failures = failures
        self.code = code
        self.headers_first = headers_first
        self.pushback = pushback
        self.attempts: list[str | None] = []     # grpc-previous-rpc-attempts of each attempt
        self.requests: list[list[str]] = []      # the requests each attempt received

    def record(self, metadata) -> bool:
        """Record an attempt; True when this one must fail."""
        self.attempts.append(dict(metadata).get("grpc-previous-rpc-attempts"))
        return len(self.attempts) <= self.failures


async def our_flaky_server(ours, flaky: Flaky):
    class Orders(ours.Servicer):
        async def _fail_maybe(self, context):
            if flaky.record(context.invocation_metadata()):
                if flaky.headers_first:
                    await context.send_initial_metadata((("x-committed", "yes"),))
                if flaky.pushback is not None:
                    context.set_trailing_metadata((("grpc-retry-pushback-ms", flaky.pushback),))
                await context.abort(rpc.StatusCode[flaky.code], f"attempt {len(flaky.attempts)}")

        async def getOrder(self, request, context):
            await self._fail_maybe(context)
            return ours.Order(id=f"ok after {len(flaky.attempts)}")

        async def searchOrders(self, request, context):
            await self._fail_maybe(context)
            for n in range(3):
                yield ours.Order(id=str(n))

        async def updateOrders(self, request_iterator, context):
            received = [order.id async for order in request_iterator]
            flaky.requests.append(received)
            await self._fail_maybe(context)
            return ours.StringValue(value=",".join(received))

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    return server, f"127.0.0.1:{port}"


async def grpcio_flaky_server(theirs, flaky: Flaky):
    class Orders(theirs.Servicer):
        async def getOrder(self, request, context):
            if flaky.record(context.invocation_metadata()):
                await context.abort(grpc.StatusCode[flaky.code], f"attempt {len(flaky.attempts)}")
            return theirs.Order(id=f"ok after {len(flaky.attempts)}")

    server = grpc.aio.server()
    theirs.add_to_server(Orders(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


# --- the retry policy --------------------------------------------------------------------------


@pytest.mark.parametrize("server_kind", ["ours", "grpcio"])
async def test_a_flaky_backend_succeeds_within_max_attempts(ours, theirs, server_kind):
    flaky = Flaky(failures=2)
    start = our_flaky_server(ours, flaky) if server_kind == "ours" else grpcio_flaky_server(theirs, flaky)
    async with retrying_channel(start, retry_config(max_attempts=3)) as channel:
        reply = await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    assert reply.id == "ok after 3"
    assert flaky.attempts == [None, "1", "2"]


async def test_attempts_stop_at_max_attempts(ours):
    flaky = Flaky(failures=10)
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=2)) as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "attempt 2"
    assert flaky.attempts == [None, "1"]


async def test_a_code_not_in_the_policy_is_never_retried(ours):
    flaky = Flaky(failures=1, code="INVALID_ARGUMENT")
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=5)) as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    assert caught.value.code() == rpc.StatusCode.INVALID_ARGUMENT
    assert flaky.attempts == [None]


async def test_no_retry_once_the_server_sent_headers(ours):
    flaky = Flaky(failures=1, headers_first=True)
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=5)) as channel:
        call = ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
        with pytest.raises(rpc.RpcError) as caught:
            await call
        assert dict(await call.initial_metadata()) == {"x-committed": "yes"}
    assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
    assert flaky.attempts == [None]


async def test_without_a_policy_nothing_is_retried(ours):
    flaky = Flaky(failures=1)
    async with retrying_channel(our_flaky_server(ours, flaky)) as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
    assert flaky.attempts == [None]


@pytest.mark.parametrize("pushback, attempts", [("-1", [None]), ("soon", [None]), ("150", [None, "1"])])
async def test_server_pushback(ours, pushback, attempts):
    flaky = Flaky(failures=1, pushback=pushback)
    loop = asyncio.get_running_loop()
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=3)) as channel:
        await channel.channel_ready()
        started = loop.time()
        try:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
        except rpc.RpcError as error:
            assert error.code() == rpc.StatusCode.UNAVAILABLE
        took = loop.time() - started
    assert flaky.attempts == attempts
    if len(attempts) == 2:
        assert took >= 0.15          # the server's delay, not the policy's 10-50 ms


async def test_server_streaming_is_retried_before_the_first_response(ours):
    flaky = Flaky(failures=2)
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=3)) as channel:
        replies = [order.id async for order in ours.Stub(channel).searchOrders(
            ours.StringValue(value="x"), timeout=5)]
    assert replies == ["0", "1", "2"]
    assert flaky.attempts == [None, "1", "2"]


async def test_client_streaming_replays_the_requests(ours):
    flaky = Flaky(failures=1)
    async with retrying_channel(our_flaky_server(ours, flaky), retry_config(max_attempts=2)) as channel:
        call = ours.Stub(channel).updateOrders(timeout=5)
        for n in range(3):
            await call.write(ours.Order(id=f"o{n}"))
        await call.done_writing()
        reply = await call
    assert reply.value == "o0,o1,o2"
    assert flaky.requests == [["o0", "o1", "o2"], ["o0", "o1", "o2"]]


async def test_throttling_stops_retries_when_tokens_run_low(ours):
    flaky = Flaky(failures=100)
    config = retry_config(max_attempts=5, throttling={"maxTokens": 4, "tokenRatio": 0.1})
    async with retrying_channel(our_flaky_server(ours, flaky), config) as channel:
        stub = ours.Stub(channel)
        for _ in range(3):
            with pytest.raises(rpc.RpcError):
                await stub.getOrder(ours.StringValue(), timeout=5)
    # 4 tokens, retries only above 2: the first call spends one per failed
    # attempt (4 -> 3 -> 2: two attempts, then no retry), later calls none
    assert flaky.attempts == [None, "1", None, None]


# --- transparent retries ----------------------------------------------------------------------


class RefusingServer:
    """A raw HTTP/2 server that refuses the first ``refusals`` streams (RST_STREAM
    REFUSED_STREAM, or with ``goaway`` a GOAWAY whose last-stream-id leaves the
    stream out, closing the connection) and answers the others with an empty OK."""

    def __init__(self, refusals: int, *, goaway: bool = False) -> None:
        self.refusals = refusals
        self.goaway = goaway
        self.connections = 0
        self.seen_attempt_headers: list[str | None] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in connection.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        headers = {k.decode() if isinstance(k, bytes) else k:
                                   v.decode() if isinstance(v, bytes) else v for k, v in event.headers}
                        self.seen_attempt_headers.append(headers.get("grpc-previous-rpc-attempts"))
                        if len(self.seen_attempt_headers) <= self.refusals and self.goaway:
                            writer.write(connection.data_to_send())
                            # GOAWAY, last-stream-id 0: this stream was not processed
                            writer.write(hyperframe.frame.GoAwayFrame(0, last_stream_id=0).serialize())
                            await writer.drain()
                            return
                        if len(self.seen_attempt_headers) <= self.refusals:
                            connection.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        else:
                            connection.send_headers(event.stream_id, [
                                (":status", "200"), ("content-type", "application/grpc")])
                            connection.send_data(event.stream_id, encode_message(b""))
                            connection.send_headers(event.stream_id, [("grpc-status", "0")],
                                                    end_stream=True)
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            writer.close()


async def test_a_refused_stream_is_retried_transparently_once(ours):
    refusing = RefusingServer(refusals=1)
    port = await refusing.start()
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:     # no retry policy at all
            reply = await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    finally:
        await refusing.stop()
    assert reply == ours.Order()
    assert refusing.seen_attempt_headers == [None, "1"]


async def test_a_call_left_out_by_goaway_is_retried_on_a_new_connection(ours):
    refusing = RefusingServer(refusals=1, goaway=True)
    port = await refusing.start()
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:     # no retry policy at all
            reply = await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    finally:
        await refusing.stop()
    assert reply == ours.Order()
    assert refusing.seen_attempt_headers == [None, "1"]
    assert refusing.connections == 2


async def test_transparent_retry_happens_once_only(ours):
    refusing = RefusingServer(refusals=5)
    port = await refusing.start()
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(rpc.RpcError) as caught:
                await ours.Stub(channel).getOrder(ours.StringValue(), timeout=5)
    finally:
        await refusing.stop()
    assert caught.value.code() == rpc.StatusCode.UNAVAILABLE
    assert refusing.seen_attempt_headers == [None, "1"]


# --- the service config itself ----------------------------------------------------------------


def test_service_config_parses_the_retry_policy_and_caps_attempts():
    config = ServiceConfig.parse(retry_config(max_attempts=9, codes=("UNAVAILABLE", 4)))
    method = config.method_config(f"/{SERVICE}/getOrder")
    assert method.retry_policy == RetryPolicy(
        max_attempts=5, initial_backoff=0.01, max_backoff=0.05, backoff_multiplier=2.0,
        retryable_status_codes=frozenset({rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED}))
    assert config.method_config("/other.Service/M") is None


def test_the_most_specific_method_config_wins():
    config = ServiceConfig.parse({"methodConfig": [
        {"name": [{}], "timeout": "3s"},
        {"name": [{"service": "a.S"}], "timeout": "2s"},
        {"name": [{"service": "a.S", "method": "M"}], "timeout": "1.5s"},
    ]})
    assert config.method_config("/a.S/M").timeout == 1.5
    assert config.method_config("/a.S/N").timeout == 2.0
    assert config.method_config("/b.S/M").timeout == 3.0


@pytest.mark.parametrize("policy, problem", [
    ({"maxAttempts": 1}, "maxAttempts"),
    ({"maxAttempts": "3"}, "maxAttempts"),
    ({"initialBackoff": "0s"}, "above zero"),
    ({"maxBackoff": "1"}, "maxBackoff"),
    ({"backoffMultiplier": 0}, "backoffMultiplier"),
    ({"retryableStatusCodes": []}, "retryableStatusCodes"),
    ({"retryableStatusCodes": ["NOT_A_CODE"]}, "not a status code"),
])
def test_a_bad_retry_policy_is_refused(policy, problem):
    good = {"maxAttempts": 2, "initialBackoff": "0.1s", "maxBackoff": "1s",
            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
    config = {"methodConfig": [{"name": [{"service": "a.S"}], "retryPolicy": {**good, **policy}}]}
    with pytest.raises(ValueError, match=problem):
        ServiceConfig.parse(config)


@pytest.mark.parametrize("text, seconds", [("1s", 1.0), ("0.5s", 0.5), ("0.000000001s", 1e-9),
                                           ("120s", 120.0)])
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("text", ["1", "s", "-1s", "1.5", "1.0000000001s", 1])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text, "x")


def test_retry_backoff_is_within_a6s_bounds():
    policy = ServiceConfig.parse(retry_config(initial="0.1s", maximum="0.3s")).method_config(
        f"/{SERVICE}/x").retry_policy
    for retry, ceiling in [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.3)]:
        delays = [policy.backoff(retry) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.5
