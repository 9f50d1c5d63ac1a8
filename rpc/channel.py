"""The Channel: a client's connection to one server, and the calls made on it.

Spec: doc/naming.md (https://github.com/grpc/grpc/blob/master/doc/naming.md)
for the targets understood here, and doc/PROTOCOL-HTTP2.md for what the calls
send. One channel holds one HTTP/2 connection, opened on first use and
opened again if it is lost or the server sends GOAWAY; every call is a stream
on it.

    async with rpc.Channel("localhost:50051") as channel:
        stub = ecommerce.ProductInfoStub(channel)
        product_id = await stub.addProduct(product, timeout=1.0)

The four factories ``unary_unary``, ``unary_stream``, ``stream_unary`` and
``stream_stream`` have grpcio's names and arguments, so generated stubs of
either library work on a channel of this one.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Callable, Sequence

from transport import driver
from transport.framing import DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH, DEFAULT_MAX_SEND_MESSAGE_LENGTH
from transport.status import StatusCode

from .call import CANCELLED_DETAILS, StreamStreamCall, StreamUnaryCall, UnaryStreamCall, UnaryUnaryCall
from .credentials import AuthContext, CallCredentials, gather_metadata, service_url
from .interceptors import CLIENT_INTERCEPTOR_METHODS, ClientCallDetails
from .service import Cardinality

__all__ = ["Channel", "parse_target"]

DEFAULT_PORT = 443   # doc/naming.md: "port ... defaults to 443"


def parse_target(target: str) -> tuple[str, Any]:
    """A target name -> ("tcp", (host, port)) or ("unix", path).

    Understood: "host:port", "[::1]:port", "dns:///host:port", "ipv4:a.b.c.d:port",
    "ipv6:[::1]:port", "unix:/path" and "unix:///path".
    """
    if target.startswith("unix:"):
        path = target[len("unix:"):]
        return "unix", ("/" + path.lstrip("/")) if path.startswith("//") else path
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme):].split(",")[0]
            break
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
        host, port = target, str(DEFAULT_PORT)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return "tcp", (host, int(port))


class Channel:
    """A client's connection to one target, shared by every call made on it."""

    def __init__(
        self,
        target: str,
        *,
        interceptors: Sequence[Any] = (),
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
        max_send_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
        compression: str | None = None,
        ssl: Any = None,
        server_hostname: str | None = None,
        authority: str | None = None,
        credentials: Sequence[CallCredentials] = (),
        allow_insecure_credentials: bool = False,
        **transport_settings: Any,
    ) -> None:
        if credentials and ssl is None and not allow_insecure_credentials:
            raise ValueError(
                "call credentials are secrets: refusing to send them on a plaintext channel "
                "(pass ssl=transport.tls.client_context(...), or "
                "allow_insecure_credentials=True for a trusted network)")
        self._credentials = tuple(credentials)
        self.target = target
        self._address = parse_target(target)
        self._interceptors = list(interceptors)
        self._compression = compression
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._authority = authority
        self._settings = dict(
            max_receive_message_length=max_receive_message_length,
            max_send_message_length=max_send_message_length,
            **transport_settings,
        )
        self._transport: driver.ClientTransport | None = None
        self._connecting: asyncio.Lock | None = None
        self._closed = False
        self._calls: weakref.WeakSet = weakref.WeakSet()   # calls made, while they live

    # --- the connection ---------------------------------------------------------

    async def _connection(self) -> driver.ClientTransport:
        """The open connection, made (again) if there is none that can take calls."""
        transport = self._transport
        if transport is not None and not transport.is_closed and transport.goaway is None:
            return transport
        if self._closed:
            raise driver.StreamTerminated("the channel is closed", status=StatusCode.UNAVAILABLE)
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            transport = self._transport
            if transport is None or transport.is_closed or transport.goaway is not None:
                self._transport = await self._connect()
            return self._transport

    async def _connect(self) -> driver.ClientTransport:
        kind, address = self._address
        if kind == "unix":
            return await driver.connect_unix(
                address, ssl=self._ssl, authority=self._authority or "localhost",
                **self._settings)
        host, port = address
        return await driver.connect(
            host, port, ssl=self._ssl, server_hostname=self._server_hostname or host,
            authority=self._authority, **self._settings)

    async def _call_credentials(self, method: str, transport: driver.ClientTransport) -> tuple:
        """The metadata every call credential adds to a call of ``method``."""
        if not self._credentials:
            return ()
        scheme = "https" if self._ssl is not None else "http"
        context = AuthContext(method=method, service_url=service_url(scheme, transport.authority, method))
        return await gather_metadata(self._credentials, context)

    async def channel_ready(self) -> None:
        """Connect now rather than on the first call."""
        await self._connection()

    async def close(self, grace: float | None = None) -> None:
        """Close the connection; calls in flight get ``grace`` seconds, then are cancelled.

        As in grpc.aio, a call cancelled this way ends CANCELLED, and awaiting
        or reading it raises asyncio.CancelledError.
        """
        self._closed = True
        pending = [call._done for call in self._calls if not call.done()]
        if grace and pending:
            await asyncio.wait(pending, timeout=grace)
        for call in list(self._calls):
            call.cancel()
        if self._transport is not None:
            await self._transport.close(None)
            self._transport = None

    def _track(self, call: Any) -> None:
        """Remember a call in flight, so that close() can cancel it."""
        self._calls.add(call)

    async def __aenter__(self) -> "Channel":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # --- the four factories --------------------------------------------------------

    def unary_unary(self, method: str, request_serializer: Callable | None = None,
                    response_deserializer: Callable | None = None, **_: Any) -> "MultiCallable":
        return MultiCallable(self, method, Cardinality.UNARY_UNARY,
                             request_serializer, response_deserializer)

    def unary_stream(self, method: str, request_serializer: Callable | None = None,
                     response_deserializer: Callable | None = None, **_: Any) -> "MultiCallable":
        return MultiCallable(self, method, Cardinality.UNARY_STREAM,
                             request_serializer, response_deserializer)

    def stream_unary(self, method: str, request_serializer: Callable | None = None,
                     response_deserializer: Callable | None = None, **_: Any) -> "MultiCallable":
        return MultiCallable(self, method, Cardinality.STREAM_UNARY,
                             request_serializer, response_deserializer)

    def stream_stream(self, method: str, request_serializer: Callable | None = None,
                      response_deserializer: Callable | None = None, **_: Any) -> "MultiCallable":
        return MultiCallable(self, method, Cardinality.STREAM_STREAM,
                             request_serializer, response_deserializer)


_CALL_CLASSES = {
    Cardinality.UNARY_UNARY: UnaryUnaryCall,
    Cardinality.UNARY_STREAM: UnaryStreamCall,
    Cardinality.STREAM_UNARY: StreamUnaryCall,
    Cardinality.STREAM_STREAM: StreamStreamCall,
}


class MultiCallable:
    """One method of a channel: calling it makes a call.

    ``stub.Method(request, timeout=, metadata=, compression=)`` for unary
    requests; ``stub.Method(request_iterator=None, ...)`` for streamed ones
    (without an iterator, write to the call and ``done_writing()``).
    """

    def __init__(self, channel: Channel, method: str, cardinality: Cardinality,
                 serializer: Callable | None, deserializer: Callable | None) -> None:
        self._channel = channel
        self._method = method
        self._cardinality = cardinality
        self._serializer = serializer
        self._deserializer = deserializer
        interface, name = CLIENT_INTERCEPTOR_METHODS[cardinality]
        self._interceptors = [getattr(i, name) for i in channel._interceptors
                              if isinstance(i, interface)]

    def __call__(self, request: Any = None, *, timeout: float | None = None,
                 metadata: Sequence[tuple[str, str | bytes]] | None = None,
                 compression: str | None = None, wait_for_ready: bool | None = None,
                 **_: Any) -> Any:
        details = ClientCallDetails(
            method=self._method, timeout=timeout, metadata=tuple(metadata or ()),
            compression=compression, wait_for_ready=wait_for_ready,
        )
        if not self._interceptors:
            return self._make_call(details, request)
        return _InterceptedCall(self, details, request)

    def _make_call(self, details: ClientCallDetails, request: Any) -> Any:
        call_class = _CALL_CLASSES[self._cardinality]
        return call_class(self._channel, details, self._serializer, self._deserializer, request)

    async def _intercepted(self, details: ClientCallDetails, request: Any) -> Any:
        """Run the interceptors in order; the innermost continuation makes the call."""
        async def innermost(details, request):
            return self._make_call(details, request)

        continuation = innermost
        for intercept in reversed(self._interceptors):
            continuation = _bind(intercept, continuation)
        return await continuation(details, request)


def _bind(intercept, continuation):
    async def intercepted(details, request):
        return await intercept(continuation, details, request)
    return intercepted


class _InterceptedCall:
    """A call whose interceptors run in a task: its methods wait for them, then forward.

    The methods that grpc.aio makes synchronous (``cancel``, ``cancelled``,
    ``done``, ``time_remaining``, ``add_done_callback``) stay synchronous: before
    the interceptors have made the call, they answer for the interceptor task.
    """

    def __init__(self, multi: MultiCallable, details: ClientCallDetails, request: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(multi._intercepted(details, request))
        self._task.add_done_callback(_consume_exception)
        self._unary_response = not multi._cardinality.server_streaming

    async def _call(self) -> Any:
        return await asyncio.shield(self._task)

    def _made(self) -> Any:
        """The call, if the interceptors have made it; None otherwise."""
        task = self._task
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        return None

    # --- awaiting, iterating, writing ---

    def __await__(self):
        return self._result().__await__()

    async def _result(self) -> Any:
        call = await self._call()
        return await call if self._unary_response and hasattr(call, "__await__") else call

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        call = await self._call()
        async for response in call:
            yield response

    async def read(self) -> Any:
        return await (await self._call()).read()

    async def write(self, request: Any) -> None:
        await (await self._call()).write(request)

    async def done_writing(self) -> None:
        await (await self._call()).done_writing()

    async def wait_for_connection(self) -> None:
        await (await self._call()).wait_for_connection()

    # --- how it ended ---

    async def initial_metadata(self) -> tuple:
        call = await self._call_or_none()
        return () if call is None else await call.initial_metadata()

    async def trailing_metadata(self) -> tuple:
        call = await self._call_or_none()
        return () if call is None else await call.trailing_metadata()

    async def code(self) -> StatusCode:
        call = await self._call_or_none()
        return StatusCode.CANCELLED if call is None else await call.code()

    async def details(self) -> str:
        call = await self._call_or_none()
        return CANCELLED_DETAILS if call is None else await call.details()

    async def _call_or_none(self) -> Any:
        """The call; None if it was cancelled before the interceptors made it."""
        try:
            return await self._call()
        except asyncio.CancelledError:
            if self._task.cancelled():
                return None
            raise

    # --- synchronous, as in grpc.aio ---

    def cancel(self) -> bool:
        call = self._made()
        if call is not None:
            return call.cancel()
        if self._task.done():
            return False
        return self._task.cancel()

    def cancelled(self) -> bool:
        call = self._made()
        return self._task.cancelled() if call is None else call.cancelled()

    def done(self) -> bool:
        call = self._made()
        return self._task.done() if call is None else call.done()

    def time_remaining(self) -> float | None:
        call = self._made()
        return None if call is None else call.time_remaining()

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        def on_made(task: asyncio.Task) -> None:
            call = self._made()
            if call is None:
                callback(self)
            else:
                call.add_done_callback(lambda _: callback(self))
        self._task.add_done_callback(on_made)


def _consume_exception(task: asyncio.Task) -> None:
    """The exception reaches the caller through the call's methods; don't log it twice."""
    if not task.cancelled():
        task.exception()
