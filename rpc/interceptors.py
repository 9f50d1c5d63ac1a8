"""Interceptors: code that runs around every call, on either side.

The shapes are grpc.aio's (https://grpc.github.io/grpc/python/grpc_asyncio.html),
so an interceptor reads the same here and there:

- server side, ``ServerInterceptor.intercept_service(continuation, details)``
  decides which MethodHandler serves a call: it may return the one
  ``await continuation(details)`` finds, a wrapped one, or its own (one that
  aborts, for instance);
- client side, one method per call pattern, ``intercept_unary_unary(
  continuation, client_call_details, request)`` and friends, may change the
  call details (add metadata, set a timeout) before ``continuation`` starts
  the call, and may look at the call it returns.

Interceptors run in the order given: the first one is the outermost.
Two ship as examples: ``LoggingServerInterceptor`` and
``MetadataClientInterceptor``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from .service import Cardinality, MethodHandler

__all__ = [
    "HandlerCallDetails",
    "ServerInterceptor",
    "ClientCallDetails",
    "UnaryUnaryClientInterceptor",
    "UnaryStreamClientInterceptor",
    "StreamUnaryClientInterceptor",
    "StreamStreamClientInterceptor",
    "LoggingServerInterceptor",
    "MetadataClientInterceptor",
]


# --- server side ------------------------------------------------------------


@dataclass(frozen=True)
class HandlerCallDetails:
    """What an interceptor knows about a call before choosing its handler."""

    method: str                                   # "/package.Service/Method"
    invocation_metadata: tuple[tuple[str, str | bytes], ...]


Continuation = Callable[[HandlerCallDetails], Awaitable[MethodHandler | None]]


class ServerInterceptor:
    """Base class of server interceptors: by default, changes nothing."""

    async def intercept_service(self, continuation: Continuation,
                                handler_call_details: HandlerCallDetails) -> MethodHandler | None:
        return await continuation(handler_call_details)


def chain_server_interceptors(interceptors: Sequence[ServerInterceptor],
                              find: Continuation) -> Continuation:
    """One continuation that runs ``interceptors`` in order, then ``find``."""
    continuation = find
    for interceptor in reversed(interceptors):
        continuation = _bind(interceptor, continuation)
    return continuation


def _bind(interceptor: ServerInterceptor, continuation: Continuation) -> Continuation:
    async def intercepted(details: HandlerCallDetails) -> MethodHandler | None:
        return await interceptor.intercept_service(continuation, details)
    return intercepted


class LoggingServerInterceptor(ServerInterceptor):
    """Logs one line per call: the method, how it ended, and how long it took."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("rpc.server.calls")

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return dataclasses.replace(handler, behaviour=self._wrap(handler))

    def _wrap(self, handler: MethodHandler) -> Callable[..., Any]:
        behaviour, log = handler.behaviour, self.logger

        if handler.cardinality.server_streaming:
            async def logged_stream(request, context):
                started = time.perf_counter()
                try:
                    result = behaviour(request, context)
                    if hasattr(result, "__aiter__"):
                        async with contextlib.aclosing(result):   # ends with this one
                            async for response in result:
                                yield response
                    else:
                        await result
                finally:
                    _log_call(log, handler.path, context, started)
            return logged_stream

        async def logged(request, context):
            started = time.perf_counter()
            try:
                return await behaviour(request, context)
            finally:
                _log_call(log, handler.path, context, started)
        return logged


def _log_call(log: logging.Logger, path: str, context: Any, started: float) -> None:
    code = context.code()
    log.info("%s from %s: %s in %.1f ms", path, context.peer(),
             code.name if code is not None else "OK", (time.perf_counter() - started) * 1e3)


# --- client side ------------------------------------------------------------


@dataclass(frozen=True)
class ClientCallDetails:
    """How a call is about to be made; interceptors pass on a changed copy."""

    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...]
    compression: str | None = None
    wait_for_ready: bool | None = None


class UnaryUnaryClientInterceptor:
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(client_call_details, request)


class UnaryStreamClientInterceptor:
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(client_call_details, request)


class StreamUnaryClientInterceptor:
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(client_call_details, request_iterator)


class StreamStreamClientInterceptor:
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(client_call_details, request_iterator)


CLIENT_INTERCEPTOR_METHODS = {
    Cardinality.UNARY_UNARY: (UnaryUnaryClientInterceptor, "intercept_unary_unary"),
    Cardinality.UNARY_STREAM: (UnaryStreamClientInterceptor, "intercept_unary_stream"),
    Cardinality.STREAM_UNARY: (StreamUnaryClientInterceptor, "intercept_stream_unary"),
    Cardinality.STREAM_STREAM: (StreamStreamClientInterceptor, "intercept_stream_stream"),
}


class MetadataClientInterceptor(UnaryUnaryClientInterceptor, UnaryStreamClientInterceptor,
                                StreamUnaryClientInterceptor, StreamStreamClientInterceptor):
    """Adds fixed metadata (an API key, a tenant id, ...) to every call."""

    def __init__(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self.metadata = tuple(metadata)

    def _with_metadata(self, details: ClientCallDetails) -> ClientCallDetails:
        return dataclasses.replace(details, metadata=tuple(details.metadata) + self.metadata)

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self._with_metadata(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self._with_metadata(client_call_details), request)

    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await continuation(self._with_metadata(client_call_details), request_iterator)

    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await continuation(self._with_metadata(client_call_details), request_iterator)
