"""rpc.middleware against real calls: our server, called by our client and by grpcio's.

One OrderManagement servicer (all four call patterns) behind the documented
chain: call log -> recovery -> auth -> rate limit -> validation -> handler.
Request values steer it: "crash" makes the handler raise, "bad" is what
the validator turns down.
"""

from __future__ import annotations

import contextlib
import logging

import grpc
import grpc.aio
import pytest

import rpc
from rpc.middleware import (
    CallLogInterceptor,
    RateLimitInterceptor,
    RecoveryInterceptor,
    ValidationError,
    ValidationInterceptor,
)

SECRET = "secret-in-the-traceback-0815"
SERVICE = "ecommerce.OrderManagement"
PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
CLIENTS = ["ours", "grpcio"]


def make_servicer(ours):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            _maybe_crash(request.value)
            return ours.Order(id=request.value)

        async def searchOrders(self, request, context):
            for number in range(3):
                yield ours.Order(id=f"{request.value}-{number}")
                _maybe_crash(request.value)

        async def updateOrders(self, request_iterator, context):
            ids = []
            async for order in request_iterator:
                _maybe_crash(order.id)
                ids.append(order.id)
            return ours.StringValue(value=",".join(ids))

        async def processOrders(self, request_iterator, context):
            while (request := await context.read()) is not None:   # the context.read() path
                _maybe_crash(request.value)
                await context.write(ours.CombinedShipment(id=request.value))
    return Orders()


def _maybe_crash(value: str) -> None:
    if value == "crash":
        raise RuntimeError(SECRET)


def no_bad_values(message):
    value = getattr(message, "value", None) or getattr(message, "id", "")
    if value == "bad":
        raise ValidationError(f"{value!r} is not allowed")
    return None


@contextlib.asynccontextmanager
async def serving(ours, interceptors):
    server = rpc.Server(interceptors=interceptors)
    server.add_service(make_servicer(ours))
    port = await server.start("127.0.0.1:0")
    try:
        yield port
    finally:
        await server.stop(None)


def chain(**options):
    return [
        CallLogInterceptor(logging.getLogger("test.middleware.calls")),
        RecoveryInterceptor(options.get("recovery_code", rpc.StatusCode.UNKNOWN)),
        *options.get("auth", []),
        RateLimitInterceptor(options.get("rate"), options.get("burst")),
        ValidationInterceptor({f"/{SERVICE}/*": no_bad_values}),
    ]


class Client:
    """The four patterns, the same for our client and grpcio's: values in, values out.

    A call that fails comes back as ("ERROR", code name, details).
    """

    def __init__(self, kind, port, ours, theirs, metadata=()):
        self.kind = kind
        self.messages = ours if kind == "ours" else theirs
        self.metadata = tuple(metadata)
        target = f"127.0.0.1:{port}"
        self.channel = rpc.Channel(target) if kind == "ours" else grpc.aio.insecure_channel(target)
        self.stub = self.messages.Stub(self.channel)

    async def close(self):
        await self.channel.close()

    async def call(self, pattern, values):
        try:
            return await getattr(self, pattern)(values)
        except (rpc.RpcError, grpc.aio.AioRpcError) as error:
            return ("ERROR", error.code().name, error.details())

    async def unary_unary(self, values):
        response = await self.stub.getOrder(self.messages.StringValue(value=values[0]),
                                            metadata=self.metadata, timeout=5)
        return [response.id]

    async def unary_stream(self, values):
        call = self.stub.searchOrders(self.messages.StringValue(value=values[0]),
                                      metadata=self.metadata, timeout=5)
        return [order.id async for order in call]

    async def stream_unary(self, values):
        call = self.stub.updateOrders(metadata=self.metadata, timeout=5)
        await self._write_all(call, [self.messages.Order(id=value) for value in values])
        response = await call
        return [response.value]

    async def stream_stream(self, values):
        call = self.stub.processOrders(metadata=self.metadata, timeout=5)
        await self._write_all(call, [self.messages.StringValue(value=v) for v in values])
        return [shipment.id async for shipment in call]

    @staticmethod
    async def _write_all(call, requests):
        """Write with call.write(), not a request iterator: when a server ends a
        call while grpcio's own iterator consumer is still writing, grpcio may
        report INTERNAL "Internal error from Core" instead of the server's status
        (it does against a grpcio server too); a failed write() raises the status."""
        for request in requests:
            await call.write(request)
        await call.done_writing()


EXPECTED_OK = {
    "unary_unary": ["a"],
    "unary_stream": ["a-0", "a-1", "a-2"],
    "stream_unary": ["a,b"],
    "stream_stream": ["a", "b"],
}


@contextlib.asynccontextmanager
async def client_for(kind, port, ours, theirs, metadata=()):
    client = Client(kind, port, ours, theirs, metadata)
    try:
        yield client
    finally:
        await client.close()


class Collected(logging.Handler):
    """The records of the call log and of recovery, kept for the test to read."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    @property
    def text(self):
        return "\n".join(self.format(record) for record in self.records)


@pytest.fixture
def calls_logged():
    collected = Collected()
    loggers = [logging.getLogger("test.middleware.calls"),
               logging.getLogger("rpc.middleware.recovery")]
    for logger in loggers:
        logger.addHandler(collected)
        logger.setLevel(logging.INFO)
    yield collected
    for logger in loggers:
        logger.removeHandler(collected)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", CLIENTS)
async def test_calls_pass_through_the_chain_and_are_logged(ours, theirs, calls_logged, kind, pattern):
    async with serving(ours, chain()) as port, client_for(kind, port, ours, theirs) as client:
        assert await client.call(pattern, ["a", "b"]) == EXPECTED_OK[pattern]
    records = [r.rpc_call for r in calls_logged.records if hasattr(r, "rpc_call")]
    assert len(records) == 1
    record = records[0]
    assert record.code == "OK"
    assert record.method.startswith(f"/{SERVICE}/")
    assert record.peer.startswith("ipv4:127.0.0.1:")
    expected_requests = 2 if pattern.startswith("stream_") else 1
    assert (record.requests, record.responses) == (expected_requests, len(EXPECTED_OK[pattern]))
    assert record.duration_ms >= 0
    assert f"method={record.method} peer={record.peer} code=OK" in calls_logged.text


@pytest.mark.timeout(20)
@pytest.mark.parametrize("code", [rpc.StatusCode.UNKNOWN, rpc.StatusCode.INTERNAL])
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_crash_becomes_a_bland_status_and_a_logged_traceback(
        ours, theirs, calls_logged, kind, pattern, code):
    async with serving(ours, chain(recovery_code=code)) as port, \
            client_for(kind, port, ours, theirs) as client:
        outcome = await client.call(pattern, ["crash"])
    assert outcome[:2] == ("ERROR", code.name)
    assert SECRET not in outcome[2]
    tracebacks = [r for r in calls_logged.records if r.name == "rpc.middleware.recovery"]
    assert tracebacks and tracebacks[0].exc_info and SECRET in calls_logged.text
    logged = [r.rpc_call for r in calls_logged.records if hasattr(r, "rpc_call")]
    assert [r.code for r in logged] == [code.name]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_bad_request_is_invalid_argument(ours, theirs, calls_logged, kind, pattern):
    async with serving(ours, chain()) as port, client_for(kind, port, ours, theirs) as client:
        values = ["a", "bad"] if pattern.startswith("stream_") else ["bad"]
        outcome = await client.call(pattern, values)
    assert outcome[:2] == ("ERROR", "INVALID_ARGUMENT")
    assert "'bad' is not allowed" in outcome[2]
    if pattern.startswith("stream_"):
        assert "request message #2" in outcome[2]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("kind", CLIENTS)
async def test_over_the_rate_limit_is_resource_exhausted(ours, theirs, calls_logged, kind, pattern):
    async with serving(ours, chain(rate=0.001, burst=2)) as port, \
            client_for(kind, port, ours, theirs) as client:
        outcomes = [await client.call(pattern, ["a", "b"]) for _ in range(3)]
    assert outcomes[:2] == [EXPECTED_OK[pattern]] * 2
    assert outcomes[2][:2] in (("ERROR", "RESOURCE_EXHAUSTED"), *grpcio_race(kind, pattern))
    logged = [r.rpc_call.code for r in calls_logged.records if hasattr(r, "rpc_call")]
    assert logged == ["OK", "OK", "RESOURCE_EXHAUSTED"]


def grpcio_race(kind, pattern):
    """What else grpcio's client may report when a server refuses a request stream
    before reading it: the server sends its trailers, then RST_STREAM(NO_ERROR)
    (PROTOCOL-HTTP2.md), and grpcio's C core, still sending, may call that
    INTERNAL "Internal error from Core". It does so against a grpcio server
    too; the call log above shows what our server sent."""
    if kind == "grpcio" and pattern.startswith("stream_"):
        return [("ERROR", "INTERNAL")]
    return []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", CLIENTS)
async def test_auth_refuses_before_the_limiter_spends_a_token(ours, theirs, calls_logged, kind):
    auth = rpc.AuthInterceptor(rpc.BearerValidator({"t0k3n": rpc.Principal("alice")}))
    async with serving(ours, chain(rate=0.001, burst=1, auth=[auth])) as port:
        async with client_for(kind, port, ours, theirs) as stranger:
            refused = [await stranger.call("unary_unary", ["a"]) for _ in range(3)]
        async with client_for(kind, port, ours, theirs, [("authorization", "Bearer t0k3n")]) as alice:
            first = await alice.call("unary_unary", ["a"])
            second = await alice.call("unary_unary", ["a"])
    assert {outcome[1] for outcome in refused} == {"UNAUTHENTICATED"}
    assert first == ["a"]
    assert second[1] == "RESOURCE_EXHAUSTED"
    logged = [r.rpc_call.code for r in calls_logged.records if hasattr(r, "rpc_call")]
    assert logged == ["UNAUTHENTICATED"] * 3 + ["OK", "RESOURCE_EXHAUSTED"]


class CrashingInterceptor(rpc.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        raise RuntimeError(SECRET)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_recovery_catches_an_inner_interceptor_crash(ours, theirs, calls_logged, pattern):
    interceptors = [RecoveryInterceptor(rpc.StatusCode.INTERNAL), CrashingInterceptor()]
    async with serving(ours, interceptors) as port, \
            client_for("grpcio", port, ours, theirs) as client:
        outcome = await client.call(pattern, ["a"])
    assert outcome[:2] == ("ERROR", "INTERNAL") and SECRET not in outcome[2]


@pytest.mark.timeout(20)
async def test_health_can_be_exempt_from_the_limit(ours, theirs):
    from services.health import HealthServicer, health_v1
    server = rpc.Server(interceptors=[RateLimitInterceptor(
        0.001, 1, exempt=["/grpc.health.v1.Health/*"])])
    server.add_service(HealthServicer())
    server.add_service(make_servicer(ours))
    port = await server.start("127.0.0.1:0")
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            health = health_v1.HealthStub(channel)
            for _ in range(5):
                await health.Check(health_v1.HealthCheckRequest(), timeout=5)
            stub = ours.Stub(channel)
            await stub.getOrder(ours.StringValue(value="a"), timeout=5)
            with pytest.raises(rpc.RpcError) as caught:
                await stub.getOrder(ours.StringValue(value="a"), timeout=5)
        assert caught.value.code() == rpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await server.stop(None)
