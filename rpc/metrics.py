"""Prometheus metrics for servers and clients, by method, with the ecosystem's names.

Specs: the Prometheus exposition format
(https://prometheus.io/docs/instrumenting/exposition_formats/), and the metric
names and labels operators know from the Prometheus gRPC exporters
(https://github.com/grpc-ecosystem/go-grpc-prometheus), so that existing
dashboards and alerts work unchanged:

    grpc_server_started_total        counter    calls the server started
    grpc_server_handled_total        counter    calls it finished, by grpc_code
    grpc_server_handling_seconds     histogram  how long its handlers took
    grpc_server_msg_received_total   counter    request messages the handlers took
    grpc_server_msg_sent_total       counter    response messages they sent

and ``grpc_client_*`` with the same five suffixes for a client's calls. Every
series has the labels ``grpc_type`` (unary, client_stream, server_stream,
bidi_stream), ``grpc_service`` ("package.Service") and ``grpc_method``; the
handled counters add ``grpc_code``, the status code's name as
doc/statuscodes.md spells it (OK, NOT_FOUND, ...; Go's exporter writes its
own spelling, NotFound).

    registry = prometheus_client.CollectorRegistry()     or the default one
    metrics = MetricsServerInterceptor(registry=registry)
    server = rpc.Server(interceptors=[metrics, ...])     first: it sees every call
    metrics.initialize(server)                           every method at zero
    endpoint = serve_metrics(9090, registry=registry)    GET /metrics
    ...
    endpoint.close()

    channel = rpc.Channel(target, interceptors=[MetricsClientInterceptor(registry=registry)])

What is counted, and when:

- server: a call is started when its handler starts (the interceptor only
  sees methods the server serves: a call of an unknown method, answered
  UNIMPLEMENTED by the server itself, is not counted, so that no client can
  make up label values); it is handled, and its time observed, when the
  handler ends, with the code the server is about to send. A unary request
  counts as received when the handler starts, a unary response as sent when
  the handler returns it with no error code; streamed messages count as the
  handler takes or sends each one. A call the server ends before the
  handler runs (a unary request that does not parse) is not counted either.
- client: a call is started when it is made (a unary request counts as sent
  then, as the Go interceptors count it); it is handled, and its time
  observed, when it ends, however it ends (OK, an error status, a deadline,
  ``cancel()``). Streamed requests count once they are written; responses
  as the application reads them. Once ``await call``, a read at the end of
  the stream, ``code()`` or an RpcError has told the application how the call
  ended, the handled counter says so too.

prometheus_client is an optional dependency (the ``metrics`` extra): ``import
rpc`` does not import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import socketserver
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterable, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram

from .call import EOF
from .interceptors import (
    ServerInterceptor,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)
from .middleware import ContextView, final_code, streamed_responses
from .service import Cardinality, MethodHandler
from .status import StatusCode

__all__ = [
    "ServerMetrics",
    "ClientMetrics",
    "MetricsServerInterceptor",
    "MetricsClientInterceptor",
    "MetricsEndpoint",
    "serve_metrics",
    "new_registry",
    "method_labels",
    "code_name",
    "HANDLING_SECONDS_BUCKETS",
]

# The buckets of the Go exporters' histograms (Prometheus's DefBuckets), in
# seconds; prometheus_client's own default has four more (.075, .75, 7.5, ...).
HANDLING_SECONDS_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1.0, 2.5, 5.0, 10.0)

# grpc_type: the ecosystem's names for the four call patterns.
GRPC_TYPES = {
    Cardinality.UNARY_UNARY: "unary",
    Cardinality.STREAM_UNARY: "client_stream",
    Cardinality.UNARY_STREAM: "server_stream",
    Cardinality.STREAM_STREAM: "bidi_stream",
}

METHOD_LABELS = ("grpc_type", "grpc_service", "grpc_method")
HANDLED_LABELS = METHOD_LABELS + ("grpc_code",)

ENDPOINT_POLL_SECONDS = 0.1     # how soon the endpoint's thread notices close()
ENDPOINT_JOIN_SECONDS = 5.0     # how long close() waits for that thread


class MethodLabels(NamedTuple):
    grpc_type: str
    grpc_service: str
    grpc_method: str


def method_labels(path: str, cardinality: Cardinality) -> MethodLabels:
    """The labels of a method: "/pkg.Svc/Method" -> (type, "pkg.Svc", "Method")."""
    service, _, method = path.lstrip("/").partition("/")
    return MethodLabels(GRPC_TYPES[cardinality], service, method)


def code_name(code: Any) -> str:
    """A status code as the grpc_code label says it.

    A number that is no status code (a peer may send any) counts as UNKNOWN,
    as doc/statuscodes.md has clients treat it, so that peers cannot make up
    label values.
    """
    try:
        return StatusCode(code).name
    except ValueError:
        return StatusCode.UNKNOWN.name


# --- the metrics themselves ------------------------------------------------------------


class _Metrics:
    """The five metrics of one side (``side`` is "server" or "client")."""

    def __init__(self, side: str, registry: CollectorRegistry | None,
                 buckets: Iterable[float]) -> None:
        registry = prometheus_client.REGISTRY if registry is None else registry
        self.registry = registry

        def counter(name: str, documentation: str, labels: tuple = METHOD_LABELS) -> Counter:
            # prometheus_client adds "_total" to a counter's name itself.
            return Counter(f"grpc_{side}_{name}", documentation, labels, registry=registry)

        self.started = counter("started", f"RPCs started on the {side}.")
        self.handled = counter("handled", f"RPCs completed on the {side}, whatever their status.",
                               HANDLED_LABELS)
        self.msg_received = counter("msg_received", f"Stream messages received by the {side}.")
        self.msg_sent = counter("msg_sent", f"Stream messages sent by the {side}.")
        self.handling_seconds = Histogram(
            f"grpc_{side}_handling_seconds",
            f"How long RPCs took until the {side} finished them, in seconds.",
            METHOD_LABELS, registry=registry, buckets=tuple(buckets))

    def initialize_method(self, labels: MethodLabels) -> None:
        """Every series of one method at zero, a handled one for each of the 17 codes."""
        for metric in (self.started, self.msg_received, self.msg_sent, self.handling_seconds):
            metric.labels(*labels)
        for code in StatusCode:
            self.handled.labels(*labels, code.name)

    def start(self, labels: MethodLabels) -> "_CallMeter":
        self.started.labels(*labels).inc()
        return _CallMeter(self, labels)


class _CallMeter:
    """One call's share of the metrics: messages as they pass, then how it ended (once)."""

    def __init__(self, metrics: _Metrics, labels: MethodLabels) -> None:
        self._metrics = metrics
        self._labels = labels
        self._received = metrics.msg_received.labels(*labels)
        self._sent = metrics.msg_sent.labels(*labels)
        self._started = time.perf_counter()
        self.ended = False

    def received(self, count: int = 1) -> None:
        self._received.inc(count)

    def sent(self, count: int = 1) -> None:
        self._sent.inc(count)

    def end(self, code: Any, at: float | None = None) -> None:
        """The call ended with ``code`` (a StatusCode or its name) at ``at`` (perf_counter: now)."""
        if self.ended:
            return
        self.ended = True
        ended = time.perf_counter() if at is None else at
        self._metrics.handling_seconds.labels(*self._labels).observe(ended - self._started)
        name = code if isinstance(code, str) else code_name(code)
        self._metrics.handled.labels(*self._labels, name).inc()


class ServerMetrics(_Metrics):
    """The ``grpc_server_*`` metrics, registered in ``registry`` (the default one if None).

    One registry holds one set: a second ServerMetrics on the same registry
    raises ValueError (prometheus_client refuses duplicated series).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 buckets: Iterable[float] = HANDLING_SECONDS_BUCKETS) -> None:
        super().__init__("server", registry, buckets)

    def initialize(self, server: Any) -> None:
        """Every method ``server`` serves at zero, so that dashboards see them before traffic.

        ``server``: an ``rpc.Server``, or MethodHandlers. Call it once the
        services are added; methods added later show up with their first call.
        """
        handlers = getattr(server, "handlers", server)
        for handler in handlers:
            self.initialize_method(method_labels(handler.path, handler.cardinality))


class ClientMetrics(_Metrics):
    """The ``grpc_client_*`` metrics, registered in ``registry`` (the default one if None)."""

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 buckets: Iterable[float] = HANDLING_SECONDS_BUCKETS) -> None:
        super().__init__("client", registry, buckets)


def new_registry() -> CollectorRegistry:
    """A registry of its own, with the process, platform and GC collectors the
    default one has (for a program that may build more than one server)."""
    registry = CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    prometheus_client.PlatformCollector(registry=registry)
    prometheus_client.GCCollector(registry=registry)
    return registry


# --- the server side ---------------------------------------------------------------------


class MetricsServerInterceptor(ServerInterceptor):
    """Counts and times every call of a served method (see the module docstring).

    Put it first in the server's list, so that it sees the calls that inner
    interceptors refuse (auth, rate limits) with the code they refuse them with.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 buckets: Iterable[float] = HANDLING_SECONDS_BUCKETS,
                 metrics: ServerMetrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else ServerMetrics(registry, buckets=buckets)

    def initialize(self, server: Any) -> None:
        """Every method of ``server`` at zero (``ServerMetrics.initialize``)."""
        self.metrics.initialize(server)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None        # unknown method: not counted (see the module docstring)
        return dataclasses.replace(handler, behaviour=self._metered(handler))

    def _metered(self, handler: MethodHandler) -> Callable[..., Any]:
        behaviour, cardinality = handler.behaviour, handler.cardinality
        labels = method_labels(handler.path, cardinality)

        if cardinality.server_streaming:
            async def metered_stream(request, context):
                async with self._metering(labels, context, cardinality) as (meter, view):
                    requests = _counted(request, meter) if cardinality.client_streaming else request
                    async for response in streamed_responses(behaviour(requests, view)):
                        meter.sent()
                        yield response
            return metered_stream

        async def metered(request, context):
            async with self._metering(labels, context, cardinality) as (meter, view):
                requests = _counted(request, meter) if cardinality.client_streaming else request
                response = await behaviour(requests, view)
                if context.code() in (None, StatusCode.OK):
                    if response is None:      # the server answers this UNKNOWN
                        meter.end(StatusCode.UNKNOWN)
                    else:
                        meter.sent()
                return response
        return metered

    @contextlib.asynccontextmanager
    async def _metering(self, labels: MethodLabels, context: Any, cardinality: Cardinality):
        """Count the call started, count what passes through ``context``, and
        count it handled, with its time, when the handler is over."""
        meter = self.metrics.start(labels)
        if not cardinality.client_streaming:
            meter.received()

        async def on_read(message: Any) -> None:
            meter.received()

        def on_write(message: Any) -> None:
            meter.sent()
        error: BaseException | None = None
        try:
            yield meter, ContextView(context, on_read=on_read, on_write=on_write)
        except BaseException as raised:
            error = raised
            raise
        finally:
            meter.end(final_code(context, error))


async def _counted(requests: AsyncIterator[Any], meter: _CallMeter) -> AsyncIterator[Any]:
    async for message in requests:
        meter.received()
        yield message


# --- the client side ---------------------------------------------------------------------


class MetricsClientInterceptor(UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
                               StreamUnaryClientInterceptor, StreamStreamClientInterceptor):
    """Counts and times every call made on a channel (see the module docstring).

    The call the application gets is the real one seen through a wrapper
    that counts the messages read and written; everything else passes through.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *,
                 buckets: Iterable[float] = HANDLING_SECONDS_BUCKETS,
                 metrics: ClientMetrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else ClientMetrics(registry, buckets=buckets)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await self._metered(continuation, client_call_details, request,
                                   Cardinality.UNARY_UNARY)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await self._metered(continuation, client_call_details, request,
                                   Cardinality.UNARY_STREAM)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await self._metered(continuation, client_call_details, request_iterator,
                                   Cardinality.STREAM_UNARY)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await self._metered(continuation, client_call_details, request_iterator,
                                   Cardinality.STREAM_STREAM)

    async def _metered(self, continuation, details, request: Any, cardinality: Cardinality) -> Any:
        meter = self.metrics.start(method_labels(details.method, cardinality))
        if not cardinality.client_streaming:
            meter.sent()
        elif request is not None:
            request = _counted_requests(request, meter)
        try:
            call = await continuation(details, request)
        except BaseException as error:      # no call was made: it ends here
            meter.end(_code_of(error))
            raise
        metered = _MeteredResponse if not cardinality.server_streaming else _MeteredStream
        return metered(call, meter)


async def _counted_requests(requests: Any, meter: _CallMeter) -> AsyncIterator[Any]:
    """The requests of an iterator (sync or async), each counted once written.

    The code after ``yield`` runs when the call asks for the next request,
    that is once it has written this one; a request whose write failed is
    not counted.
    """
    if hasattr(requests, "__aiter__"):
        async for request in requests:
            yield request
            meter.sent()
    else:
        for request in requests:
            yield request
            meter.sent()


def _code_of(error: BaseException) -> Any:
    """The status an exception ends a call with, as the client reports it."""
    code = getattr(error, "code", None)
    if callable(code):
        return code()
    if isinstance(error, asyncio.CancelledError):
        return StatusCode.CANCELLED
    return StatusCode.UNKNOWN


class _MeteredCall:
    """A call seen through the client's meter; what it does not define, the call does."""

    def __init__(self, call: Any, meter: _CallMeter) -> None:
        self._call = call
        self._meter = meter
        self._loop = asyncio.get_running_loop()
        self._recorded = self._loop.create_future()   # set once the call counts as handled
        self._recording: asyncio.Task | None = None
        call.add_done_callback(self._on_done)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    def _on_done(self, _call: Any) -> None:
        """The call is over: time it now, ask its code (a coroutine) in a task."""
        self._recording = self._loop.create_task(self._record(time.perf_counter()))

    async def _record(self, ended: float) -> None:
        try:
            code = await self._call.code()
        except BaseException as error:      # CancelledError: the loop is closing
            code = _code_of(error)
        self._meter.end(code, at=ended)
        if not self._recorded.done():
            self._recorded.set_result(None)

    async def _settled(self) -> None:
        """Once the call is over, wait until the handled counter says so too."""
        if self._call.done():
            await asyncio.shield(self._recorded)

    async def write(self, request: Any) -> None:
        await self._call.write(request)
        self._meter.sent()

    async def code(self) -> Any:
        code = await self._call.code()
        await self._settled()
        return code


class _MeteredResponse(_MeteredCall):
    """A unary-response call: ``await call``."""

    def __await__(self):
        return self._response().__await__()

    async def _response(self) -> Any:
        try:
            response = await self._call
        except Exception:         # RpcError (not CancelledError: the awaiter was cancelled)
            await self._settled()
            raise
        self._meter.received()
        await self._settled()
        return response


class _MeteredStream(_MeteredCall):
    """A streamed-response call: ``read()`` and ``async for``."""

    async def read(self) -> Any:
        try:
            response = await self._call.read()
        except Exception:         # RpcError (not CancelledError: the reader was cancelled)
            await self._settled()
            raise
        if response is EOF:
            await self._settled()
        else:
            self._meter.received()
        return response

    def __aiter__(self):
        return self

    async def __anext__(self) -> Any:
        response = await self.read()
        if response is EOF:
            raise StopAsyncIteration
        return response


# --- the HTTP endpoint -------------------------------------------------------------------


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True       # a scrape in progress does not hold the process up


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line on stderr per scrape."""


class MetricsEndpoint:
    """``GET /metrics`` (any path, in fact) of a registry, served by a thread of its own.

    A thread rather than the event loop, so that a scrape is answered even
    while the loop is busy. ``close()`` stops it and frees the port.
    """

    def __init__(self, port: int, host: str, registry: CollectorRegistry) -> None:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        server_class = type("MetricsHTTPServer", (_ThreadingServer,), {"address_family": family})
        self._server = make_server(host, port, prometheus_client.make_wsgi_app(registry),
                                   server_class=server_class, handler_class=_QuietHandler)
        self.host, self.port = host or self._server.server_address[0], self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": ENDPOINT_POLL_SECONDS},
                                        name=f"metrics-http-{self.port}", daemon=True)
        self._closed = False
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving, close the socket, and wait for the thread (a moment)."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(ENDPOINT_JOIN_SECONDS)

    def __enter__(self) -> "MetricsEndpoint":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def serve_metrics(port: int, host: str = "127.0.0.1",
                  registry: CollectorRegistry | None = None) -> MetricsEndpoint:
    """Serve ``registry`` (the default one if None) over HTTP on ``host:port``.

    Port 0 picks a free port: ``endpoint.port`` says which. Call
    ``endpoint.close()`` (or use it as a context manager) to stop.
    """
    return MetricsEndpoint(port, host, prometheus_client.REGISTRY if registry is None else registry)
