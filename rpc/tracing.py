"""Tracing: an OpenTelemetry span for every call, on both sides, one trace across processes.

Specs: the OpenTelemetry semantic conventions for RPC spans and their gRPC
part (https://opentelemetry.io/docs/specs/semconv/rpc/rpc-spans/,
https://opentelemetry.io/docs/specs/semconv/rpc/grpc/) for the span names,
kinds, attributes and statuses; W3C Trace Context
(https://www.w3.org/TR/trace-context/) for the ``traceparent`` and
``tracestate`` headers, which travel here as gRPC custom metadata
(doc/PROTOCOL-HTTP2.md, "Custom-Metadata").

How a trace crosses a call:

    client                                         server
    CLIENT span "pkg.Svc/Method" starts            the propagator extracts the
    (child of whatever span is current);           parent from the metadata;
    the propagator injects it as metadata   --->   SERVER span "pkg.Svc/Method"
    traceparent: 00-<trace id>-<span id>-01        starts as its child, and is the
                                                   current span while the handler
                                                   runs: calls the handler makes
                                                   are its children
    the span ends when the call does,       <---   the span ends once the status
    with the status the client saw                 has been sent

The propagator is OpenTelemetry's global one (W3C trace context and baggage
unless configured otherwise) or the one given, so a grpcio peer instrumented
with opentelemetry-instrumentation-grpc joins the same trace.

What each span says, as the conventions have it:

    attribute              value
    rpc.system             "grpc"
    rpc.service            "pkg.Svc"
    rpc.method             "Method"
    rpc.grpc.status_code   the status code's number, once the call is over
    network.peer.address   the client's address (server spans)
    network.peer.port      the client's port (server spans)

    the call ended                        client span status   server span status
    OK                                    unset                unset
    UNKNOWN, DEADLINE_EXCEEDED,           ERROR                ERROR
      UNIMPLEMENTED, INTERNAL,
      UNAVAILABLE, DATA_LOSS
    any other code (NOT_FOUND, ...)       ERROR                unset: the client's
                                                               mistake, not the server's

How to enable it (``pip install grpc-from-scratch[tracing]``; this module
uses the OpenTelemetry API only, and ``import rpc`` does not import it):

    from rpc.tracing import TracingClientInterceptor, TracingServerInterceptor

    server = rpc.Server(interceptors=[TracingServerInterceptor()])
    channel = rpc.Channel(target, interceptors=[TracingClientInterceptor()])

Both take ``tracer_provider`` (the global one by default: configure it with
the OpenTelemetry SDK) and ``propagator``. Put the server interceptor first in
the list, so that its span covers what the other interceptors do. A call to a
method the server does not have gets no span. An exception a handler raises
is recorded on the server span (an "exception" event); the client sees only
its status. A client span is dated when its call ended, and handed to the
span processors a moment later: its status is read in a task of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any, AsyncIterator, Callable, Iterator, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import Span, SpanKind, Status
from opentelemetry.trace import StatusCode as SpanStatusCode

from .interceptors import (
    ServerInterceptor,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)
from .middleware import CALL_ENDINGS, final_code, streamed_responses
from .service import MethodHandler
from .status import RpcError, StatusCode

__all__ = ["TracingServerInterceptor", "TracingClientInterceptor"]

TRACER_NAME = "rpc.tracing"      # the instrumentation scope the spans carry

# Attribute names of the semantic conventions (rpc-spans.md, grpc.md).
RPC_SYSTEM = "rpc.system"
RPC_SERVICE = "rpc.service"
RPC_METHOD = "rpc.method"
RPC_GRPC_STATUS_CODE = "rpc.grpc.status_code"
NETWORK_PEER_ADDRESS = "network.peer.address"
NETWORK_PEER_PORT = "network.peer.port"

# grpc.md, "gRPC Status": the codes that make a *server* span an error; a
# client span is an error for every code but OK.
SERVER_ERROR_CODES = frozenset({
    StatusCode.UNKNOWN, StatusCode.DEADLINE_EXCEEDED, StatusCode.UNIMPLEMENTED,
    StatusCode.INTERNAL, StatusCode.UNAVAILABLE, StatusCode.DATA_LOSS,
})

Metadata = Sequence[tuple[str, "str | bytes"]]


# --- what the spans are called and what they say ----------------------------------------


def span_name(path: str) -> str:
    """"/pkg.Svc/Method" -> "pkg.Svc/Method" (rpc-spans.md: "$package.$service/$method")."""
    return path.lstrip("/")


def call_attributes(path: str) -> dict[str, Any]:
    """The attributes every span of a call to ``path`` starts with."""
    service, _, method = path.lstrip("/").partition("/")
    attributes: dict[str, Any] = {RPC_SYSTEM: "grpc"}
    if service and method:
        attributes[RPC_SERVICE] = service
        attributes[RPC_METHOD] = method
    return attributes


def peer_attributes(peer: str) -> dict[str, Any]:
    """"ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000" (how gRPC spells a peer) -> address and port."""
    scheme, _, rest = peer.partition(":")
    host, _, port = rest.rpartition(":")
    if scheme not in ("ipv4", "ipv6") or not host or not port.isdigit():
        return {}
    return {NETWORK_PEER_ADDRESS: host.strip("[]"), NETWORK_PEER_PORT: int(port)}


def record_status(span: Span, code: StatusCode, details: str | None, *, server: bool) -> None:
    """Put a call's final status on its span, as grpc.md says for that side."""
    span.set_attribute(RPC_GRPC_STATUS_CODE, int(code))
    is_error = code in SERVER_ERROR_CODES if server else code != StatusCode.OK
    if is_error:
        span.set_status(Status(SpanStatusCode.ERROR, f"{code.name}: {details or ''}"))


# --- metadata as a propagation carrier ------------------------------------------------


class _MetadataGetter(Getter[Metadata]):
    """Reads propagation fields from gRPC metadata (keys lowercase, text values only)."""

    def get(self, carrier: Metadata, key: str) -> list[str] | None:
        key = key.lower()
        values = [value for name, value in carrier if name == key and isinstance(value, str)]
        return values or None

    def keys(self, carrier: Metadata) -> list[str]:
        return [name for name, _ in carrier]


METADATA_GETTER = _MetadataGetter()


def with_trace_context(metadata: Metadata, context: otel_context.Context,
                       propagator: TextMapPropagator) -> tuple:
    """``metadata`` carrying ``context`` (traceparent, ...); older values of those keys go."""
    fields: dict[str, str] = {}
    propagator.inject(fields, context=context)
    fields = {key.lower(): value for key, value in fields.items()}   # metadata keys are lowercase
    kept = tuple((key, value) for key, value in metadata if key not in fields)
    return kept + tuple(fields.items())


@contextlib.contextmanager
def _attached(context: otel_context.Context) -> Iterator[None]:
    """``context`` is the current one inside the block (never keep it open across a yield)."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


class _Tracing:
    """What both interceptors hold: a tracer and a propagator."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 propagator: TextMapPropagator | None = None) -> None:
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        self._propagator = propagator

    @property
    def propagator(self) -> TextMapPropagator:
        """The propagator given, or the global one as it is now."""
        return self._propagator or propagate.get_global_textmap()


# --- server side ---------------------------------------------------------------------


class TracingServerInterceptor(_Tracing, ServerInterceptor):
    """A SERVER span per call, child of the trace context the client sent."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return dataclasses.replace(handler, behaviour=self._traced(handler))

    def _traced(self, handler: MethodHandler) -> Callable[..., Any]:
        behaviour, path = handler.behaviour, handler.path

        if handler.cardinality.server_streaming:
            async def traced_stream(request, context):
                span, current = self._start(path, context)
                responses = _each_step_in(current, streamed_responses(behaviour(request, context)))
                with _recording(span, context):
                    async with contextlib.aclosing(responses):
                        async for response in responses:
                            yield response
            return traced_stream

        async def traced(request, context):
            span, current = self._start(path, context)
            with _recording(span, context), _attached(current):
                return await behaviour(request, context)
        return traced

    def _start(self, path: str, context: Any) -> tuple[Span, otel_context.Context]:
        """The call's span, and the context in which it is the current span."""
        parent = self.propagator.extract(context.invocation_metadata(), getter=METADATA_GETTER)
        span = self._tracer.start_span(
            span_name(path), context=parent, kind=SpanKind.SERVER,
            attributes={**call_attributes(path), **peer_attributes(context.peer())})
        return span, trace.set_span_in_context(span, parent)


@contextlib.contextmanager
def _recording(span: Span, context: Any) -> Iterator[None]:
    """Note how the handler ended; end the span once the server has sent the status.

    The handler's ending is a first guess at the code: the server may still
    change it after the handler returns (a unary handler that returned no
    response is UNKNOWN), so the span ends in the context's done callback.
    """
    error: BaseException | None = None
    try:
        yield
    except BaseException as raised:
        error = raised
        if isinstance(raised, Exception) and not isinstance(raised, CALL_ENDINGS):
            span.record_exception(raised)      # a bug in the handler, not a status it chose
        raise
    finally:
        guess = StatusCode[final_code(context, error)]
        context.add_done_callback(lambda done: _end_server_span(span, done, guess))


def _end_server_span(span: Span, context: Any, guess: StatusCode) -> None:
    code = context.code()
    record_status(span, guess if code is None else code, context.details(), server=True)
    span.end()


async def _each_step_in(current: otel_context.Context,
                        responses: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """What ``responses`` yields, each step of it run with ``current`` attached.

    Not attached across our own ``yield``: the code that resumes this
    generator may run in another context (another task closing it), and a
    context attached in one context cannot be detached in another.
    """
    try:
        while True:
            with _attached(current):
                try:
                    response = await anext(responses)
                except StopAsyncIteration:
                    return
            yield response
    finally:
        with _attached(current):
            await responses.aclose()


# --- client side ---------------------------------------------------------------------


class TracingClientInterceptor(_Tracing, UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
                               StreamUnaryClientInterceptor, StreamStreamClientInterceptor):
    """A CLIENT span per call, child of the current span; its context goes out as metadata."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 propagator: TextMapPropagator | None = None) -> None:
        super().__init__(tracer_provider, propagator)
        self._ending: set[asyncio.Task] = set()   # tasks that end spans, kept until they have

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await self._traced(continuation, client_call_details, request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await self._traced(continuation, client_call_details, request)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await self._traced(continuation, client_call_details, request_iterator)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await self._traced(continuation, client_call_details, request_iterator)

    async def _traced(self, continuation, details, request) -> Any:
        span = self._tracer.start_span(span_name(details.method), kind=SpanKind.CLIENT,
                                       attributes=call_attributes(details.method))
        current = trace.set_span_in_context(span)
        details = dataclasses.replace(
            details, metadata=with_trace_context(details.metadata, current, self.propagator))
        try:
            with _attached(current):
                call = await continuation(details, request)
        except BaseException as error:
            _end_client_span(span, *_status_of(error, span))
            raise
        if not hasattr(call, "add_done_callback"):    # an interceptor inside answered itself
            _end_client_span(span, StatusCode.OK, None)
            return call
        call.add_done_callback(lambda done: self._on_done(span, done))
        return call

    def _on_done(self, span: Span, call: Any) -> None:
        """The call is over: end its span, dated now, once its code has been read."""
        ended = time.time_ns()
        task = asyncio.get_running_loop().create_task(_end_when_known(span, call, ended))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


async def _end_when_known(span: Span, call: Any, end_time: int) -> None:
    try:
        code, details = await call.code(), await call.details()
    except Exception as error:   # nothing to read the status from: say what went wrong
        code, details = _status_of(error, span)
    _end_client_span(span, code, details, end_time)


def _status_of(error: BaseException, span: Span) -> tuple[StatusCode, str]:
    """The status a call that raised ``error`` ended with (and the error, on the span)."""
    if isinstance(error, RpcError):
        code = error.code()
        known = code in StatusCode._value2member_map_     # an RpcError may carry any number
        return (StatusCode(code) if known else StatusCode.UNKNOWN), error.details()
    if isinstance(error, asyncio.CancelledError):
        return StatusCode.CANCELLED, "cancelled"
    span.record_exception(error)
    return StatusCode.UNKNOWN, f"{type(error).__name__}: {error}"


def _end_client_span(span: Span, code: StatusCode, details: str | None,
                     end_time: int | None = None) -> None:
    record_status(span, code, details, server=False)
    span.end(end_time=end_time)
