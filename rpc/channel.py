"""The Channel: a client's view of one service, and the calls made on it.

Specs (https://github.com/grpc/grpc/tree/master/doc): naming.md for targets,
connectivity-semantics-and-api.md for the channel's states and wait-for-ready,
load-balancing.md for the policies, service_config.md for how a service
config chooses one, and PROTOCOL-HTTP2.md for what the calls send.

    async with rpc.Channel("localhost:50051") as channel:
        stub = ecommerce.ProductInfoStub(channel)
        product_id = await stub.addProduct(product, timeout=1.0)

The target is resolved to addresses (``dns:///``, ``ipv4:``, ``ipv6:``,
``unix:``, or a resolver of your own, see rpc.resolver); a load balancer
(rpc.balancer: ``pick_first``, the default, or ``round_robin``) keeps one
HTTP/2 connection per backend it uses, reconnecting with the backoff of
connection-backoff.md, and picks a connection for every call. The channel
starts IDLE and connects on first use (or ``channel_ready()``).

Other keyword arguments go to the transport (transport.driver.connect):
``keepalive_time`` (seconds between PINGs while calls are open; None, the
default, sends none), ``keepalive_timeout`` (20 s for the PING ACK before the
connection counts as dead), ``keepalive_permit_without_calls`` (False), as
doc/keepalive.md names them. A server that answers "too_many_pings" doubles
the keepalive time for this channel's later connections too.

A call that finds the channel in TRANSIENT_FAILURE fails at once with
UNAVAILABLE, unless it was made with ``wait_for_ready=True``: then it waits
for a READY connection, as long as its deadline allows.

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

from .balancer import POLICIES, Backoff, ConnectivityState
from .call import CANCELLED_DETAILS, StreamStreamCall, StreamUnaryCall, UnaryStreamCall, UnaryUnaryCall
from .credentials import AuthContext, CallCredentials, gather_metadata, service_url
from .interceptors import CLIENT_INTERCEPTOR_METHODS, ClientCallDetails
from .resolver import Resolver, ResolutionError, resolver_for, split_host_port
from .service import Cardinality
from .service_config import ServiceConfig

__all__ = ["Channel"]

RERESOLUTION_INTERVAL = 30.0   # least time between two re-resolutions (grpc's DNS resolver's)


class Channel:
    """A client's channel to one target, shared by every call made on it."""

    def __init__(
        self,
        target: str | Resolver,
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
        load_balancing_policy: str | None = None,
        service_config: str | dict | None = None,
        backoff: Backoff | None = None,
        reresolution_interval: float = RERESOLUTION_INTERVAL,
        **transport_settings: Any,
    ) -> None:
        if credentials and ssl is None and not allow_insecure_credentials:
            raise ValueError(
                "call credentials are secrets: refusing to send them on a plaintext channel "
                "(pass ssl=transport.tls.client_context(...), or "
                "allow_insecure_credentials=True for a trusted network)")
        self._credentials = tuple(credentials)
        self.target = target
        self._resolver = resolver_for(target)
        self._owns_resolver = not isinstance(target, Resolver)   # a Resolver given may be shared
        self.service_config = ServiceConfig.parse(service_config)
        self._retry_throttle = self.service_config.throttle()
        policy = load_balancing_policy or self.service_config.load_balancing_policy or "pick_first"
        if policy not in POLICIES:
            raise ValueError(f"unknown load balancing policy {policy!r} "
                             f"(known: {', '.join(sorted(POLICIES))})")
        self._backoff = backoff or Backoff()
        self._balancer = POLICIES[policy](self._connect, self._backoff, self._balancer_state,
                                          self._request_reresolution)
        self._interceptors = list(interceptors)
        self._compression = compression
        self._ssl = ssl
        self._authority = authority or self._resolver.authority
        self._server_hostname = server_hostname or _host_of(self._authority)
        self._settings = dict(
            max_receive_message_length=max_receive_message_length,
            max_send_message_length=max_send_message_length,
            **transport_settings,
        )
        self._state = ConnectivityState.IDLE
        self._state_changed = asyncio.Event()
        self._resolving: asyncio.Task | None = None
        self._resolution_error: BaseException | None = None
        self._reresolve = asyncio.Event()
        self._reresolution_interval = reresolution_interval
        self._closed = False
        self._calls: weakref.WeakSet = weakref.WeakSet()   # calls made, while they live
        self._transports: weakref.WeakSet = weakref.WeakSet()   # connections made, while they live

    # --- state ----------------------------------------------------------------------

    def get_state(self, try_to_connect: bool = False) -> ConnectivityState:
        """The channel's connectivity state; ``try_to_connect`` leaves IDLE."""
        if try_to_connect and self._state is ConnectivityState.IDLE:
            self._exit_idle()
        return self._state

    async def wait_for_state_change(self, last_observed_state: ConnectivityState) -> None:
        """Return once the state is no longer ``last_observed_state``."""
        while self._state is last_observed_state:
            await self._state_changed.wait()

    async def channel_ready(self) -> None:
        """Connect now rather than on the first call, and wait until READY."""
        while self.get_state(try_to_connect=True) is not ConnectivityState.READY:
            if self._state is ConnectivityState.SHUTDOWN:
                raise RuntimeError("the channel is closed")
            await self.wait_for_state_change(self._state)

    @property
    def subchannels(self) -> list:
        """The balancer's subchannels (address, state, calls picked), for the curious."""
        return list(self._balancer.subchannels)

    def _set_state(self, state: ConnectivityState) -> None:
        if state is self._state or self._state is ConnectivityState.SHUTDOWN:
            return
        self._state = state
        changed, self._state_changed = self._state_changed, asyncio.Event()
        changed.set()

    def _balancer_state(self, state: ConnectivityState) -> None:
        if self._resolution_error is None or state is ConnectivityState.READY:
            self._set_state(state)

    # --- resolution and connections ---------------------------------------------------

    def _exit_idle(self) -> None:
        if self._closed:
            return
        if self._resolving is None:
            self._resolving = asyncio.get_running_loop().create_task(self._resolve_loop())
        self._balancer.exit_idle()
        if self._state is ConnectivityState.IDLE:
            self._set_state(self._balancer.state if self._balancer.subchannels
                            else ConnectivityState.CONNECTING)

    async def _resolve_loop(self) -> None:
        """Resolve, hand the addresses to the balancer, and again when asked."""
        loop = asyncio.get_running_loop()
        self._resolver.watch(self._addresses)
        backoff = self._backoff.copy()
        while not self._closed:
            try:
                addresses = await self._resolver.resolve()
            except ResolutionError as error:
                self._resolution_failed(error)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._addresses(addresses)
            last = loop.time()
            await self._reresolve.wait()
            self._reresolve.clear()
            await asyncio.sleep(max(0.0, last + self._reresolution_interval - loop.time()))

    def _addresses(self, addresses: Sequence[Any]) -> None:
        if self._closed:
            return
        if not addresses:
            self._resolution_failed(ResolutionError(f"{self.target}: the resolver found no addresses"))
            return
        self._resolution_error = None
        self._balancer.update_addresses(list(addresses))
        if self._state is not ConnectivityState.IDLE or self._balancer.state is not ConnectivityState.IDLE:
            self._set_state(self._balancer.state)

    def _resolution_failed(self, error: BaseException) -> None:
        self._resolution_error = error
        if self._balancer.state is not ConnectivityState.READY:
            self._set_state(ConnectivityState.TRANSIENT_FAILURE)

    def _request_reresolution(self) -> None:
        self._reresolve.set()

    async def _connect(self, address: Any) -> driver.ClientTransport:
        """Open a connection to one backend (the balancer's connector).

        It counts as made once the server's SETTINGS arrive, not when the
        socket connects: a server may accept a socket (or a TLS 1.3
        handshake) and close it at once.
        """
        settings = self._settings
        learned = max((t.keepalive_time or 0 for t in self._transports), default=0)
        if learned > (settings.get("keepalive_time") or 0):
            # A server said "too_many_pings": the doubled time holds for the
            # channel's next connections too (gRFC A8).
            settings = self._settings = {**settings, "keepalive_time": learned}
        if address.kind == "unix":
            transport = await driver.connect_unix(
                address.host, ssl=self._ssl, authority=self._authority, **settings)
        else:
            transport = await driver.connect(
                address.host, address.port, ssl=self._ssl, server_hostname=self._server_hostname,
                authority=self._authority, **settings)
        try:
            await transport.wait_for_peer_settings()
        except BaseException:
            transport.abort()
            raise
        self._transports.add(transport)
        return transport

    async def _connection(self, wait_for_ready: bool | None = None) -> driver.ClientTransport:
        """A connection for one call: the balancer's pick, waiting while there is none.

        Without ``wait_for_ready`` a call fails UNAVAILABLE when the channel is
        in TRANSIENT_FAILURE; with it, it waits (its deadline bounds the wait).
        """
        subchannel = self._balancer.pick()
        if subchannel is None:
            subchannel = await self._wait_for_pick(bool(wait_for_ready))
        subchannel.calls += 1
        return subchannel.transport

    async def _wait_for_pick(self, wait_for_ready: bool) -> Any:
        while True:
            if self._closed:
                raise driver.StreamTerminated("the channel is closed", status=StatusCode.UNAVAILABLE)
            self._exit_idle()
            subchannel = self._balancer.pick()
            if subchannel is not None:
                return subchannel
            state = self._state
            if state is ConnectivityState.TRANSIENT_FAILURE and not wait_for_ready:
                raise driver.StreamTerminated(self._failure_reason(), status=StatusCode.UNAVAILABLE)
            await self.wait_for_state_change(state)

    def _failure_reason(self) -> str:
        if self._resolution_error is not None:
            return f"name resolution failed: {self._resolution_error}"
        errors = [s.last_error for s in self._balancer.subchannels if s.last_error is not None]
        last = f"; last error: {errors[-1]}" if errors else ""
        return f"failed to connect to all addresses of {self.target}{last}"

    async def _call_credentials(self, method: str, transport: driver.ClientTransport) -> tuple:
        """The metadata every call credential adds to a call of ``method``."""
        if not self._credentials:
            return ()
        scheme = "https" if self._ssl is not None else "http"
        context = AuthContext(method=method, service_url=service_url(scheme, transport.authority, method))
        return await gather_metadata(self._credentials, context)

    async def close(self, grace: float | None = None) -> None:
        """Close the connections; calls in flight get ``grace`` seconds, then are cancelled.

        As in grpc.aio, a call cancelled this way ends CANCELLED, and awaiting
        or reading it raises asyncio.CancelledError.
        """
        if self._closed:
            return
        self._closed = True
        pending = [call._done for call in self._calls if not call.done()]
        if grace and pending:
            await asyncio.wait(pending, timeout=grace)
        for call in list(self._calls):
            call.cancel()
        self._set_state(ConnectivityState.SHUTDOWN)
        if self._resolving is not None:
            self._resolving.cancel()
        await self._balancer.shutdown()
        if self._owns_resolver:
            await self._resolver.close()

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


def _host_of(authority: str) -> str:
    """The host part of an authority ("example.com:443" -> "example.com", "[::1]:50051" -> "::1")."""
    try:
        return split_host_port(authority)[0]
    except ValueError:           # not host[:port] (a name the user chose): use it whole
        return authority


def _consume_exception(task: asyncio.Task) -> None:
    """The exception reaches the caller through the call's methods; don't log it twice."""
    if not task.cancelled():
        task.exception()
