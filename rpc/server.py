"""The Server: services in, calls served.

Spec: doc/PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
and doc/statuscodes.md for the status the server itself gives when something
is wrong with a call rather than with the application:

    unknown service or method                  UNIMPLEMENTED
    not exactly one request for a unary method UNIMPLEMENTED
    a request that does not parse              INTERNAL
    the handler raised                         UNKNOWN (the traceback stays in the log)
    a message over a size limit                RESOURCE_EXHAUSTED (from the transport)
    the deadline passed                        the handler is cancelled; DEADLINE_EXCEEDED
                                               in the trailers, as grpcio's servers send it

One ``Server`` listens on one address; each call runs its handler in its own
task (the transport driver starts it), with a ``ServicerContext``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Sequence

from transport import driver
from transport.errors import ProtocolError
from transport.framing import DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH, DEFAULT_MAX_SEND_MESSAGE_LENGTH
from transport.status import StatusCode

from .context import AbortError, ServicerContext
from .interceptors import HandlerCallDetails, ServerInterceptor, chain_server_interceptors
from .service import MethodHandler, method_handlers

__all__ = ["Server", "parse_address"]

logger = logging.getLogger(__name__)

DEADLINE_DETAILS = "Deadline Exceeded"


class _CallFailed(Exception):
    """The server ends the call with ``status`` for a reason of its own."""

    def __init__(self, status: StatusCode, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details


class Server:
    """A gRPC server: add services, ``await start(address)``, ``await stop(grace)``."""

    def __init__(
        self,
        *,
        interceptors: Sequence[ServerInterceptor] = (),
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
        max_send_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
        compression: str | None = None,
        ssl: Any = None,
        **transport_settings: Any,
    ) -> None:
        """``transport_settings`` go to the transport (transport.driver.start_server):
        keepalive and connection management as doc/keepalive.md and gRFC A9 name
        them, in seconds (None is off): ``keepalive_time`` (7200; PINGs to idle
        clients), ``keepalive_timeout`` (20), ``keepalive_min_time`` (300: client
        PINGs more often than this are strikes), ``max_ping_strikes`` (2, then
        GOAWAY ENHANCE_YOUR_CALM "too_many_pings"), ``keepalive_permit_without_calls``
        (False), ``max_connection_idle``, ``max_connection_age`` (+/-10% jitter) and
        ``max_connection_age_grace``; and the HTTP/2 limits of the connection core.
        """
        self._handlers: dict[str, MethodHandler] = {}
        self._find = chain_server_interceptors(list(interceptors), self._lookup)
        self._intercepted = bool(interceptors)
        self._compression = compression
        self._ssl = ssl
        self._settings = dict(
            max_receive_message_length=max_receive_message_length,
            max_send_message_length=max_send_message_length,
            **transport_settings,
        )
        self._listener: driver.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopped: asyncio.Event | None = None

    # --- what it serves ---------------------------------------------------------

    def add_service(self, servicer: Any, service: Any = None) -> None:
        """Serve every method of a generated ``<Name>Servicer`` subclass instance."""
        schema = getattr(service, "schema", service)
        self.add_method_handlers(method_handlers(servicer, schema).values())

    def add_method_handlers(self, handlers: Any) -> None:
        """Serve hand-made MethodHandlers (raw bytes, grpcio-style generic services)."""
        for handler in handlers:
            if handler.path in self._handlers:
                raise ValueError(f"{handler.path} is already served")
            self._handlers[handler.path] = handler

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    @property
    def handlers(self) -> tuple[MethodHandler, ...]:
        """The handler of every method served (paths and cardinalities, for rpc.metrics)."""
        return tuple(self._handlers.values())

    async def _lookup(self, details: HandlerCallDetails) -> MethodHandler | None:
        return self._handlers.get(details.method)

    # --- life cycle -------------------------------------------------------------

    async def start(self, address: str = "127.0.0.1:0", *, reuse_port: bool = False) -> int:
        """Listen on ``address`` ("host:port", "[::1]:port", "unix:/path"); return the port.

        ``reuse_port`` lets several processes listen on one port (SO_REUSEPORT;
        see rpc/workers.py for serving on every core).
        """
        self._stopped = asyncio.Event()
        if address.startswith("unix:"):
            self._listener = await driver.start_unix_server(
                self._serve, address[len("unix:"):], ssl=self._ssl, **self._settings)
            return 0
        host, port = parse_address(address)
        self._listener = await driver.start_server(
            self._serve, host, port, ssl=self._ssl, reuse_port=reuse_port, **self._settings)
        return self._listener.port

    async def stop(self, grace: float | None = None) -> None:
        """GOAWAY to every client; calls in flight get ``grace`` seconds, then are cancelled.

        ``grace=None`` cancels them at once, as in grpc.aio (the transport's
        None would wait for them without end).
        """
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close(grace or 0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._stopped is not None:
            self._stopped.set()

    async def wait_closed(self) -> None:
        """Wait until ``stop()`` has finished."""
        if self._stopped is not None:
            await self._stopped.wait()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop(None)

    # --- one call ------------------------------------------------------------------

    async def _serve(self, stream: driver.ServerStream) -> None:
        """Run one call to its end (the transport calls this in a task per call)."""
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            handler = await self._handler_for(stream)
            if handler is None:
                await stream.send_trailers(
                    StatusCode.UNIMPLEMENTED, f"Method not found: {stream.head.path}")
                return
            await self._run(stream, handler, task)
        finally:
            self._tasks.discard(task)

    async def _handler_for(self, stream: driver.ServerStream) -> MethodHandler | None:
        if not self._intercepted:
            return self._handlers.get(stream.head.path)
        details = HandlerCallDetails(method=stream.head.path,
                                     invocation_metadata=stream.head.metadata)
        return await self._find(details)

    async def _run(self, stream: driver.ServerStream, handler: MethodHandler,
                   task: asyncio.Task) -> None:
        loop = asyncio.get_running_loop()
        timeout = stream.head.timeout
        context = ServicerContext(
            stream,
            deadline=None if timeout is None else loop.time() + timeout,
            compression=self._compression,
            response_serializer=handler.response_serializer,
            request_deserializer=handler.request_deserializer,
        )
        timer = None if timeout is None else loop.call_later(timeout, _expire, context, task)
        try:
            try:
                await self._call_behaviour(stream, handler, context)
            except AbortError:
                pass
            except _CallFailed as failure:
                context._code, context._details = failure.status, failure.details
            except ProtocolError as error:        # e.g. a response over the send limit
                if stream.cancelled:
                    raise
                context._code, context._details = error.status, error.message
            except asyncio.CancelledError:
                if not (context.deadline_expired and _own_cancellation(task)):
                    raise
                # Our deadline cancelled the handler: tell the client so, as
                # grpcio does (DEADLINE_EXCEEDED in the trailers; the transport
                # follows them with RST_STREAM if the request is still open).
                context._code, context._details = StatusCode.DEADLINE_EXCEEDED, DEADLINE_DETAILS
            except driver.StreamTerminated:
                raise
            except Exception as error:   # doc/statuscodes.md: the application threw -> UNKNOWN
                logger.exception("handler for %s raised", handler.path)
                context._code = StatusCode.UNKNOWN
                context._details = f"Unexpected error in handler: {type(error).__name__}"
            finally:
                if timer is not None:
                    timer.cancel()
            code, details, metadata, status_details = context._status()
            await stream.send_trailers(code, details, metadata=metadata, status_details=status_details)
        finally:
            context._run_done_callbacks()     # however the call ended, once

    async def _call_behaviour(self, stream: driver.ServerStream, handler: MethodHandler,
                              context: ServicerContext) -> None:
        cardinality = handler.cardinality
        if cardinality.client_streaming:
            request: Any = _RequestIterator(stream, handler)
        else:
            request = await _single_request(stream, handler)
        if not cardinality.server_streaming:
            response = await handler.behaviour(request, context)
            if context.code() not in (None, StatusCode.OK):
                return                         # set_code() without abort(): no message
            if response is None:
                raise _CallFailed(StatusCode.UNKNOWN, "handler returned no response")
            await context.write(response)
            return
        result = handler.behaviour(request, context)
        if hasattr(result, "__aiter__"):
            await _write_all(result, context)
        else:
            await result                       # a coroutine writing with context.write()


async def _write_all(responses: AsyncIterator[Any], context: ServicerContext) -> None:
    """Send what an async generator handler yields.

    Cancelled while the generator waits at a ``yield`` (its last response
    is waiting for the client's window), the generator itself is not
    running, so the cancellation would not reach it: it is thrown in there,
    and the handler gets asyncio.CancelledError at that ``yield``.
    """
    try:
        async for response in responses:
            await context.write(response)
    except asyncio.CancelledError:
        if _suspended(responses):
            try:
                await responses.athrow(asyncio.CancelledError())
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
            finally:
                await responses.aclose()
        raise


def _suspended(generator: Any) -> bool:
    """Whether an async generator is paused (not running its own code, not over)."""
    return getattr(generator, "ag_frame", None) is not None and not generator.ag_running


def _expire(context: ServicerContext, task: asyncio.Task) -> None:
    """The deadline passed: cancel the handler; ``_run`` then sends DEADLINE_EXCEEDED."""
    context.deadline_expired = True
    task.cancel()


def _own_cancellation(task: asyncio.Task) -> bool:
    """Whether the only cancellation of ``task`` is the deadline's; then it is withdrawn."""
    if task.cancelling() != 1:
        return False          # cancelled from outside too (server stop, client reset)
    task.uncancel()
    return True


async def _single_request(stream: driver.ServerStream, handler: MethodHandler) -> Any:
    """A unary request: exactly one message, then the client's half-close."""
    data = await stream.receive_message()
    if data is None:
        raise _CallFailed(StatusCode.UNIMPLEMENTED, "expected one request message, got none")
    if await stream.receive_message() is not None:
        raise _CallFailed(StatusCode.UNIMPLEMENTED,
                          "expected one request message, got more than one")
    return _deserialize(handler, data)


class _RequestIterator:
    """The requests of a client-streaming call, as the handler's async iterator."""

    __slots__ = ("_stream", "_handler")

    def __init__(self, stream: driver.ServerStream, handler: MethodHandler) -> None:
        self._stream = stream
        self._handler = handler

    def __aiter__(self) -> "_RequestIterator":
        return self

    async def __anext__(self) -> Any:
        data = await self._stream.receive_message()
        if data is None:
            raise StopAsyncIteration
        return _deserialize(self._handler, data)


def _deserialize(handler: MethodHandler, data: bytes) -> Any:
    if handler.request_deserializer is None:
        return data
    try:
        return handler.request_deserializer(data)
    except Exception as error:   # doc/statuscodes.md: a request that fails to parse -> INTERNAL
        raise _CallFailed(StatusCode.INTERNAL, f"Failed to parse request: {error}") from None


def parse_address(address: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port); an empty host listens on every address."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address!r} is not host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return (host or None), int(port)
