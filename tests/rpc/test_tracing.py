"""Tracing (rpc/tracing.py): OpenTelemetry spans on both sides, one trace across processes.

Spans go to the OpenTelemetry SDK's in-memory exporter. Every interceptor,
ours and opentelemetry-instrumentation-grpc's, is given the test's tracer
provider, so nothing global is set. The propagator is the global default
(W3C trace context), on both sides, as a deployment would have it.

The chain the issue asks for, with the span each hop makes:

    grpcio client ---> our server ---(handler calls)---> our client ---> grpcio server
    CLIENT (root)      SERVER, its child                 CLIENT, child   SERVER, child
                                                         of our server   of our client
"""

import asyncio
import contextlib
import logging
import pathlib
import subprocess
import sys

import grpc
import grpc.aio
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace import StatusCode as SpanStatus

import rpc
from rpc import tracing
from rpc.tracing import TracingClientInterceptor, TracingServerInterceptor

pytestmark = pytest.mark.timeout(30)

ROOT = pathlib.Path(__file__).resolve().parents[2]

SERVICE = "ecommerce.OrderManagement"
METHOD_OF = {"unary_unary": "getOrder", "unary_stream": "searchOrders",
             "stream_unary": "updateOrders", "stream_stream": "processOrders"}
NOT_FOUND = [("x-cmd", "status:NOT_FOUND:ascii")]


class Spans:
    """A tracer provider whose finished spans a test can wait for."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    async def wait(self, count: int, timeout: float = 5.0) -> list:
        """Exactly ``count`` finished spans, once they are there (failing after ``timeout``)."""
        for _ in range(int(timeout / 0.01)):
            finished = list(self.exporter.get_finished_spans())
            if len(finished) >= count:
                assert len(finished) == count, [s.name for s in finished]
                return finished
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.exporter.get_finished_spans())} spans ended, not {count}")

    def server(self) -> TracingServerInterceptor:
        return TracingServerInterceptor(tracer_provider=self.provider)

    def client(self) -> TracingClientInterceptor:
        return TracingClientInterceptor(tracer_provider=self.provider)


@pytest.fixture
def spans():
    return Spans()


def ours_only(finished, kind):
    return [s for s in finished if s.instrumentation_scope.name == tracing.TRACER_NAME and s.kind == kind]


def theirs_only(finished, kind):
    return [s for s in finished if s.instrumentation_scope.name != tracing.TRACER_NAME and s.kind == kind]


def the(found: list):
    assert len(found) == 1, found
    return found[0]


def child_of(span, parent) -> bool:
    return (span.parent is not None and span.parent.span_id == parent.context.span_id
            and span.context.trace_id == parent.context.trace_id)


# --- the chain: grpcio -> ours -> grpcio ------------------------------------------------


def relay_servicer(ours, inner_stub):
    """An OrderManagement that asks ``inner_stub`` (x-cmd passed on) and answers what it said."""

    class Relay(ours.Servicer):
        async def getOrder(self, request, context):
            try:
                return await inner_stub.getOrder(request, timeout=5, metadata=passed_on(context))
            except rpc.RpcError as error:
                await context.abort(error.code(), error.details())

        async def searchOrders(self, request, context):
            # Between the yields (other code runs there) each step still has
            # the server span as the current one: the unary calls are its children.
            async for order in inner_stub.searchOrders(request, timeout=5, metadata=passed_on(context)):
                yield order
                await inner_stub.getOrder(request, timeout=5)

    return Relay()


def passed_on(context):
    return [(key, value) for key, value in context.invocation_metadata() if key == "x-cmd"]


@contextlib.asynccontextmanager
async def chain(make_peers, ours, theirs, spans: Spans):
    """A grpcio stub calling our relay, which calls a grpcio server; every hop traced."""
    backend = make_peers("ours-to-grpcio").session(
        server_interceptors=[aio_server_interceptor(tracer_provider=spans.provider)],
        client_interceptors=[spans.client()])
    async with backend as inner:
        front = rpc.Server(interceptors=[spans.server()])
        front.add_service(relay_servicer(ours, inner.stub))
        port = await front.start("127.0.0.1:0")
        channel = grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", interceptors=aio_client_interceptors(tracer_provider=spans.provider))
        try:
            yield theirs.Stub(channel)
        finally:
            await asyncio.wait_for(channel.close(), 5)
            await asyncio.wait_for(front.stop(0), 5)


def chain_spans(finished):
    """(grpcio client, our server, our client, grpcio server) of a one-call chain."""
    return (the(theirs_only(finished, SpanKind.CLIENT)), the(ours_only(finished, SpanKind.SERVER)),
            the(ours_only(finished, SpanKind.CLIENT)), the(theirs_only(finished, SpanKind.SERVER)))


async def test_one_trace_spans_grpcio_ours_grpcio(make_peers, ours, theirs, spans):
    async with chain(make_peers, ours, theirs, spans) as stub:
        order = await stub.getOrder(theirs.StringValue(value="abc"), timeout=5)
    assert order.items == ["3"]      # the grpcio server's answer came all the way back

    grpcio_client, our_server, our_client, grpcio_server = chain_spans(await spans.wait(4))
    assert len({s.context.trace_id for s in (grpcio_client, our_server, our_client, grpcio_server)}) == 1
    assert grpcio_client.parent is None
    assert child_of(our_server, grpcio_client) and our_server.parent.is_remote
    assert child_of(our_client, our_server) and not our_client.parent.is_remote
    assert child_of(grpcio_server, our_client) and grpcio_server.parent.is_remote
    for span in (our_server, our_client):
        assert span.name == f"{SERVICE}/getOrder"
        assert span.attributes[tracing.RPC_SYSTEM] == "grpc"
        assert span.attributes[tracing.RPC_SERVICE] == SERVICE
        assert span.attributes[tracing.RPC_METHOD] == "getOrder"
        assert span.attributes[tracing.RPC_GRPC_STATUS_CODE] == 0
        assert span.status.status_code == SpanStatus.UNSET
    assert our_server.attributes[tracing.NETWORK_PEER_ADDRESS] == "127.0.0.1"
    assert isinstance(our_server.attributes[tracing.NETWORK_PEER_PORT], int)
    # The spans nest in time too: each child within its parent.
    assert our_server.start_time <= our_client.start_time <= our_client.end_time <= our_server.end_time


async def test_not_found_is_an_error_for_clients_only(make_peers, ours, theirs, spans):
    async with chain(make_peers, ours, theirs, spans) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.getOrder(theirs.StringValue(value="abc"), timeout=5, metadata=NOT_FOUND)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    grpcio_client, our_server, our_client, grpcio_server = chain_spans(await spans.wait(4))
    assert len({s.context.trace_id for s in (grpcio_client, our_server, our_client, grpcio_server)}) == 1
    assert child_of(grpcio_server, our_client) and child_of(our_client, our_server)
    # grpc.md: NOT_FOUND makes a client span an error; on a server it is the client's mistake.
    for client in (grpcio_client, our_client):
        assert client.status.status_code == SpanStatus.ERROR
    for server in (our_server, grpcio_server):
        assert server.status.status_code == SpanStatus.UNSET
    for span in (our_server, our_client, grpcio_server):
        assert span.attributes[tracing.RPC_GRPC_STATUS_CODE] == 5
    assert "NOT_FOUND" in our_client.status.description


async def test_a_streaming_handler_keeps_its_span_current_across_yields(
        make_peers, ours, theirs, spans, caplog):
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    async with chain(make_peers, ours, theirs, spans) as stub:
        orders = [o async for o in stub.searchOrders(theirs.StringValue(value="x"), timeout=5,
                                                      metadata=[("x-cmd", "count:2")])]
    assert len(orders) == 2

    # grpcio client, our server, then three calls (one stream, two unary), two spans each.
    finished = await spans.wait(2 + 3 * 2)
    our_server = the(ours_only(finished, SpanKind.SERVER))
    our_clients = ours_only(finished, SpanKind.CLIENT)
    assert sorted(s.name for s in our_clients) == [
        f"{SERVICE}/getOrder", f"{SERVICE}/getOrder", f"{SERVICE}/searchOrders"]
    assert all(child_of(client, our_server) for client in our_clients)
    for grpcio_server in theirs_only(finished, SpanKind.SERVER):
        assert any(child_of(grpcio_server, client) for client in our_clients)
    assert len({s.context.trace_id for s in finished}) == 1
    assert not caplog.records, "a context was detached where it was not attached"


# --- ours to ours, every pattern --------------------------------------------------------


@pytest.mark.parametrize("pattern", list(METHOD_OF))
async def test_ours_to_ours_every_pattern(make_peers, spans, pattern):
    peers = make_peers("ours-to-ours")
    async with peers.session(server_interceptors=[spans.server()],
                             client_interceptors=[spans.client()]) as s:
        responses, _ = await s.run(pattern, count=3)
    assert responses

    finished = await spans.wait(2)
    client, server = the(ours_only(finished, SpanKind.CLIENT)), the(ours_only(finished, SpanKind.SERVER))
    assert child_of(server, client) and server.parent.is_remote and client.parent is None
    for span in (client, server):
        assert span.name == f"{SERVICE}/{METHOD_OF[pattern]}"
        assert span.attributes[tracing.RPC_GRPC_STATUS_CODE] == 0
        assert span.status.status_code == SpanStatus.UNSET


@pytest.mark.parametrize("pattern", list(METHOD_OF))
async def test_ours_to_ours_an_error_status_on_every_pattern(make_peers, spans, pattern):
    peers = make_peers("ours-to-ours")
    async with peers.session(server_interceptors=[spans.server()],
                             client_interceptors=[spans.client()]) as s:
        failure = await s.fails(pattern, metadata=NOT_FOUND, count=2)
    assert failure.code == "NOT_FOUND"

    finished = await spans.wait(2)
    client, server = the(ours_only(finished, SpanKind.CLIENT)), the(ours_only(finished, SpanKind.SERVER))
    assert child_of(server, client)
    assert client.attributes[tracing.RPC_GRPC_STATUS_CODE] == server.attributes[
        tracing.RPC_GRPC_STATUS_CODE] == 5
    assert client.status.status_code == SpanStatus.ERROR
    assert server.status.status_code == SpanStatus.UNSET


async def test_a_handler_that_raises_is_an_error_on_both_sides(make_peers, spans):
    async with make_peers("ours-to-ours").session(server_interceptors=[spans.server()],
                                                  client_interceptors=[spans.client()]) as s:
        failure = await s.fails("unary_stream", metadata=[("x-cmd", "first:1;raise")])
    assert failure.code == "UNKNOWN" and len(failure.responses) == 1

    finished = await spans.wait(2)
    client, server = the(ours_only(finished, SpanKind.CLIENT)), the(ours_only(finished, SpanKind.SERVER))
    for span in (client, server):
        assert span.attributes[tracing.RPC_GRPC_STATUS_CODE] == 2
        assert span.status.status_code == SpanStatus.ERROR
    [event] = server.events          # the bug is on the server span; its text stays there
    assert event.name == "exception" and event.attributes["exception.type"] == "RuntimeError"
    assert not client.events


async def test_a_cancelled_stream_ends_both_spans_cancelled(make_peers, spans):
    async with make_peers("ours-to-ours").session(server_interceptors=[spans.server()],
                                                  client_interceptors=[spans.client()]) as s:
        call = s.start("unary_stream", metadata=[("x-cmd", "first:1;sleep:30")])
        assert (await asyncio.wait_for(call.read(), 5)).id == "0"
        await s.obs.wait("time_remaining:searchOrders")     # the handler sleeps now
        call.cancel()
        finished = await spans.wait(2)
    client, server = the(ours_only(finished, SpanKind.CLIENT)), the(ours_only(finished, SpanKind.SERVER))
    for span in (client, server):
        assert span.attributes[tracing.RPC_GRPC_STATUS_CODE] == 1
    assert client.status.status_code == SpanStatus.ERROR
    assert server.status.status_code == SpanStatus.UNSET     # CANCELLED is no server error


async def test_a_server_span_ends_with_the_status_the_server_sent(make_peers, spans):
    # The handler sets OK and returns no response: it ends fine, but the
    # server then answers UNKNOWN ("handler returned no response").
    async with make_peers("ours-to-ours").session(server_interceptors=[spans.server()]) as s:
        failure = await s.fails("unary_unary", metadata=[("x-cmd", "setcode:OK:ascii")])
    assert failure.code == "UNKNOWN"
    server = the(ours_only(await spans.wait(1), SpanKind.SERVER))
    assert server.attributes[tracing.RPC_GRPC_STATUS_CODE] == 2
    assert server.status.status_code == SpanStatus.ERROR


# --- where a trace starts ------------------------------------------------------------------


async def test_a_call_without_traceparent_starts_a_new_trace(make_peers, spans):
    async with make_peers("ours-to-ours").session(server_interceptors=[spans.server()]) as s:
        await s.run("unary_unary")
        await s.run("unary_unary", metadata=[("traceparent", "00-not-a-trace-context-01")])
    first, second = await spans.wait(2)
    for span in (first, second):
        assert span.kind == SpanKind.SERVER and span.parent is None
        assert span.context.is_valid
    assert first.context.trace_id != second.context.trace_id


async def test_a_client_call_in_a_span_joins_its_trace(make_peers, spans):
    tracer = spans.provider.get_tracer("test")
    async with make_peers("ours-to-ours").session(client_interceptors=[spans.client()]) as s:
        with tracer.start_as_current_span("request handling") as outer:
            await s.run("unary_unary")
    client = the(ours_only(await spans.wait(2), SpanKind.CLIENT))
    assert child_of(client, outer)


class XTracePropagator(TextMapPropagator):
    """A made-up format, "X-Trace: <trace id>/<span id>" in hex, to show the propagator is pluggable."""

    def inject(self, carrier, context=None, setter=None):
        span_context = trace.get_current_span(context).get_span_context()
        carrier["X-Trace"] = f"{span_context.trace_id:032x}/{span_context.span_id:016x}"

    def extract(self, carrier, context=None, getter=None):
        trace_id, _, span_id = (getter.get(carrier, "X-Trace") or ["/"])[0].partition("/")
        parent = trace.SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                                   trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
        return trace.set_span_in_context(trace.NonRecordingSpan(parent), context)

    @property
    def fields(self):
        return {"X-Trace"}


async def test_the_propagator_can_be_given(make_peers, spans):
    propagator = XTracePropagator()
    server = TracingServerInterceptor(tracer_provider=spans.provider, propagator=propagator)
    client = TracingClientInterceptor(tracer_provider=spans.provider, propagator=propagator)
    async with make_peers("ours-to-ours").session(server_interceptors=[server],
                                                  client_interceptors=[client]) as s:
        await s.run("unary_unary", metadata=[("x-cmd", "context")])
        metadata = dict((await s.obs.wait("context"))["metadata"])
    assert "traceparent" not in metadata and "x-trace" in metadata   # metadata keys are lowercase
    finished = await spans.wait(2)
    assert child_of(the(ours_only(finished, SpanKind.SERVER)), the(ours_only(finished, SpanKind.CLIENT)))


# --- the parts -------------------------------------------------------------------------------


def test_injected_trace_context_replaces_an_older_one(spans):
    span = spans.provider.get_tracer("test").start_span("call")
    metadata = (("x-a", "1"), ("traceparent", "00-old-old-01"), ("x-b", b"\x00"))
    carried = tracing.with_trace_context(metadata, trace.set_span_in_context(span),
                                         tracing.propagate.get_global_textmap())
    values = [value for key, value in carried if key == "traceparent"]
    sent = span.get_span_context()    # version-trace id-parent id-trace flags (W3C trace context)
    assert values == [f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}"]
    assert carried[:2] == (("x-a", "1"), ("x-b", b"\x00"))


@pytest.mark.parametrize("peer, attributes", [
    ("ipv4:127.0.0.1:50312", {"network.peer.address": "127.0.0.1", "network.peer.port": 50312}),
    ("ipv6:[::1]:443", {"network.peer.address": "::1", "network.peer.port": 443}),
    ("unix:/tmp/socket", {}),          # no address and port to speak of
    ("unknown", {}),
    ("ipv4:127.0.0.1:port", {}),
])
def test_peer_attributes(peer, attributes):
    assert tracing.peer_attributes(peer) == attributes


async def test_each_step_runs_in_the_span_and_nothing_leaks_between_steps(spans, caplog):
    caplog.set_level(logging.ERROR, logger="opentelemetry.context")
    span = spans.provider.get_tracer("test").start_span("server")
    seen = []

    async def handler():
        for index in range(3):
            seen.append(trace.get_current_span() is span)
            yield index

    steps = tracing._each_step_in(trace.set_span_in_context(span), handler())
    assert await anext(steps) == 0
    assert trace.get_current_span() is not span          # detached while the caller runs
    assert await asyncio.get_running_loop().create_task(anext(steps)) == 1   # another task's step
    await asyncio.get_running_loop().create_task(steps.aclose())             # closed from a third
    assert seen == [True, True]
    assert not caplog.records


def test_import_rpc_does_not_import_tracing():
    probe = "import rpc, sys; print('rpc.tracing' in sys.modules, 'opentelemetry' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=30, cwd=ROOT)
    assert result.stdout.split() == ["False", "False"], result.stderr
