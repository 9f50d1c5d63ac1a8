"""The asyncio driver: the sans-IO connection core on real sockets.

This is the only module of the transport that does I/O. It runs a
`transport.connection` core over TCP or Unix sockets (TLS too, given an
`ssl.SSLContext` with ALPN "h2") and gives the RPC layer a stream-level API:

    async def handler(stream: ServerStream) -> None:          # one task per call
        async for request in stream:                           # request messages
            await stream.send_message(request)                 # waits for window
        await stream.send_trailers(status=StatusCode.OK)

    server = await start_server(handler, "127.0.0.1", 0)
    client = await connect("127.0.0.1", server.port)
    call = await client.start_call("/pkg.Service/Method", timeout=1.0)
    await call.send_message(b"ping", end=True)                 # request + EOS
    reply = await call.receive_message()                       # b"ping"
    trailers = await call.receive_trailers()                   # status OK
    await client.close(); await server.close(grace=1.0)

What it adds to the core, each from doc/PROTOCOL-HTTP2.md ("Connection
Management") or RFC 9113:

- Flow control end to end: `send_message` returns once the message left the
  stream's queue, so a writer can never be more than one message ahead of the
  peer's window; `receive` acknowledges a message's bytes as the application
  takes it, so a slow reader slows the writer instead of filling memory. The
  socket's own write buffer pauses writers too (asyncio's pause_writing).
- Write batching: a lone message is written at once; the rest of what one
  turn of the event loop produces goes out in one socket write, or a few
  with many calls in flight (FLUSH_EVERY_CALLS).
- Concurrency: calls beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS wait
  for a free stream instead of failing.
- Shutdown: `close(grace)` sends GOAWAY, lets calls in flight finish within
  the grace period, then resets the rest. A GOAWAY received fails the calls
  the server never processed with UNAVAILABLE; a lost connection ends client
  calls with UNAVAILABLE and cancels server handlers (CANCELLED).

And, from doc/keepalive.md and gRFCs A8 (client-side keepalive) and A9
(server-side connection management), with the rules in transport.keepalive
and one timer per connection, these settings (seconds; None is off):

    connect(..., keepalive_time=None, keepalive_timeout=20.0,
            keepalive_permit_without_calls=False)
    start_server(..., keepalive_time=7200.0, keepalive_timeout=20.0,
                 keepalive_min_time=300.0, keepalive_permit_without_calls=False,
                 max_ping_strikes=2, max_connection_idle=None,
                 max_connection_age=None, max_connection_age_grace=None)

- Keepalive: a PING once the peer has been quiet for keepalive_time (a
  client only while calls are open, unless keepalive_permit_without_calls); no
  byte back within keepalive_timeout and the connection is dropped: client
  calls end UNAVAILABLE, server handlers are cancelled.
- Ping policing (server): a client pinging more often than keepalive_min_time
  while no HEADERS or DATA go its way (2 hours without calls, unless
  keepalive_permit_without_calls) gets max_ping_strikes of grace, then GOAWAY
  ENHANCE_YOUR_CALM "too_many_pings" and the connection closes. A client told
  so doubles its keepalive_time (`ClientTransport.keepalive_time`: what the
  next connection should use).
- Connection age and idleness (server): after max_connection_age (+/-10%)
  or max_connection_idle without calls, GOAWAY "max_age" / "max_idle" and a
  graceful close; calls in flight get max_connection_age_grace.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable

from . import events
from .connection import HIGHEST_STREAM_ID, ClientConnection, Connection, ServerConnection, StreamStateError
from .errors import ProtocolError
from .headers import RequestHead, ResponseHead, Trailers
from .keepalive import (
    MAX_AGE,
    MAX_IDLE,
    TOO_MANY_PINGS,
    ClientKeepaliveSettings,
    KeepaliveAction,
    KeepalivePinger,
    PingPolicer,
    ServerKeepaliveSettings,
    jittered_age,
)
from .status import Http2ErrorCode, StatusCode
from .tls import check_alpn

__all__ = [
    "ClientStream",
    "ServerStream",
    "ClientTransport",
    "ServerTransport",
    "Server",
    "StreamTerminated",
    "connect",
    "connect_unix",
    "start_server",
    "start_unix_server",
]

logger = logging.getLogger(__name__)

# How long close() waits, by default, for calls in flight to finish.
DEFAULT_CLOSE_GRACE = 5.0
TRACE_VARIABLE = "RPC_TRACE"   # frame logging for every connection (transport.xray.switch)
# Graceful shutdown in two steps (the way gRPC servers do it): a first GOAWAY
# with the highest stream id and a PING; once the PING comes back, every
# stream the client had opened before the GOAWAY has reached us, and a second
# GOAWAY names the real last stream. This bounds the wait for that PING.
GOAWAY_PING_TIMEOUT = 1.0
# Reads go into one buffer per thread (every connection of an event loop is
# read in turn, and each read is copied out before the next), this size: what
# asyncio's own transports read at once. A plain asyncio.Protocol gets a new
# bytes object of this size for every read; with glibc's malloc that is an
# mmap and munmap of 256 KiB, page faults included, until the first free of
# a large block raises malloc's mmap threshold: 15 us more per read, for a
# process that never happens to free one.
READ_BUFFER_SIZE = 256 * 1024
# asyncio's socket write buffer: writers pause above HIGH and resume below LOW.
WRITE_BUFFER_HIGH = 1024 * 1024
WRITE_BUFFER_LOW = 256 * 1024
# Write batching with many calls in flight. Everything produced in one turn of
# the event loop goes out in one write, but when a turn completes many calls
# (a burst of 64 unary calls answered together), the socket is written every
# FLUSH_EVERY_CALLS of them: the peer starts on the first calls while this
# side prepares the rest, and the two processes work at once instead of
# taking turns with the whole burst (which halves the throughput). A few more
# writes per burst is the price.
FLUSH_EVERY_CALLS = 8
# Closing a TLS connection, asyncio sends close_notify (RFC 8446 §6.1) and
# waits for the peer's before it closes the socket, 30 s by default. grpc's
# core never answers one: it waits for the TCP FIN, which asyncio only sends
# once that wait is over, so every close facing a grpcio peer that kept its
# end open stalled for 30 s. GOAWAY has said all there is to say by then:
# a client waits briefly.
TLS_CLIENT_SHUTDOWN_TIMEOUT = 0.1
# The same on the server side: a client that never completes the TLS close
# (one that stopped reading, or keeps its socket) held each connection of
# Server.close() for those 30 s. The GOAWAY and trailers went out before; the
# wait is a little longer than the client's, since it includes the last
# responses draining to a slow reader (cut off after it).
TLS_SERVER_SHUTDOWN_TIMEOUT = 1.0

Handler = Callable[["ServerStream"], Awaitable[None]]
Observer = Callable[[str, bytes], None]


class StreamTerminated(ProtocolError):
    """The call ended (reset, failed, connection lost) before the operation could complete.

    `status` and `message` say how the call ended. `unprocessed` is True when
    the server never saw the call or said it did not process it (the call was
    refused by GOAWAY or RST_STREAM REFUSED_STREAM, or the connection could
    not take it): such a call may be retried as it is (the "transparent
    retry" of the gRPC retry design, gRFC A6).
    """

    default_error_code = Http2ErrorCode.CANCEL
    unprocessed = False

    @classmethod
    def unprocessed_call(cls, message: str) -> "StreamTerminated":
        """A call the server never processed: UNAVAILABLE, and safe to retry."""
        error = cls(message, status=StatusCode.UNAVAILABLE)
        error.unprocessed = True
        return error


# --- Streams -------------------------------------------------------------------


class _Waiter(asyncio.Future):
    """A future a stream's reader awaits, which a read can resume at once.

    asyncio resumes the task waiting on a future at the next turn of the
    event loop, after one more poll of the sockets (a future's callbacks go
    through call_soon). A call answered message by message would pay that
    turn for every message on each side. So when a read delivers events,
    the driver resumes the waiting tasks right after handling that read,
    from the protocol callback, where no task is running: the task's step
    runs there as it would have one turn later (Python 3.12's eager tasks
    run a new task's first step the same way). The callback that resumes a
    task is kept here rather than handed to asyncio; everything else
    (cancellation, other callbacks) is scheduled as asyncio would.
    """

    _held: list[tuple] | tuple = ()   # (callback, context) pairs, not yet run

    def add_done_callback(self, callback, *, context=None) -> None:
        if self.done():
            super().add_done_callback(callback, context=context)
        elif self._held:
            self._held.append((callback, context))
        else:
            self._held = [(callback, context)]

    def remove_done_callback(self, callback) -> int:
        kept = [entry for entry in self._held if entry[0] != callback]
        removed = len(self._held) - len(kept)
        self._held = kept
        return removed + super().remove_done_callback(callback)

    def set_result(self, result) -> None:
        super().set_result(result)
        self._schedule_callbacks()

    def cancel(self, msg=None) -> bool:
        if not super().cancel(msg=msg):
            return False
        self._schedule_callbacks()
        return True

    def resume(self) -> None:
        """Complete the future and run a waiting task's step now, not at the next turn.

        Only from a protocol callback, where no task is running (asyncio
        refuses to step a task inside another's step).
        """
        super().set_result(None)
        callbacks, self._held = self._held, []
        for callback, context in callbacks:
            if isinstance(getattr(callback, "__self__", None), asyncio.Task):
                if context is None:
                    callback(self)
                else:
                    context.run(callback, self)    # a task's wakeup: it handles its own errors
            else:
                self.get_loop().call_soon(callback, self, context=context)

    def _schedule_callbacks(self) -> None:
        callbacks, self._held = self._held, []
        for callback, context in callbacks:
            self.get_loop().call_soon(callback, self, context=context)


class _Stream:
    """One call as the application sees it: an inbox of events, and actions."""

    def __init__(self, transport: _Transport, stream_id: int) -> None:
        self._transport = transport
        self._core = transport._core
        self.stream_id = stream_id
        self._inbox: collections.deque[events.Event] = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._drain_waiter: asyncio.Future | None = None
        self.terminal: events.Event | None = None  # how the call ended, once it has
        self.last_message_compressed: bool | None = None  # the flag of the last message taken
        self._finished_here = False  # (server) ended by our trailers

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.stream_id} {'ended' if self.terminal else 'open'}>"

    @property
    def done(self) -> bool:
        """Whether the call is over (nothing more will arrive)."""
        return self.terminal is not None

    # --- inbound ---

    def _deliver(self, event: events.Event) -> None:
        self._inbox.append(event)
        self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            resuming = self._transport._resuming
            if resuming is None:
                waiter.set_result(None)
            else:
                resuming[waiter] = None   # resumed once the read is handled (once, in order)

    def _terminate(self, event: events.Event) -> None:
        if self.terminal is not None or self._finished_here:
            return
        self.terminal = event
        self._deliver(event)
        self._wake_drain_waiter()
        self._transport._stream_finished(self)

    def _wake_waiters(self) -> None:
        self._wake_reader()
        self._wake_drain_waiter()

    async def receive(self) -> events.Event | None:
        """The next event of this call: a message, headers, the end.

        Once the call is over, returns its terminal event (TrailersReceived,
        StreamReset or StreamFailed) every time; None on a server stream
        whose trailers went out. Taking a MessageReceived gives its bytes back
        to the peer's flow-control window.
        """
        while not self._inbox:
            if self.terminal is not None or self._finished_here:
                return self.terminal
            self._waiter = _Waiter(loop=self._transport._loop)
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._inbox.popleft()
        kind = type(event)
        if kind is events.MessageReceived:
            if self._core.acknowledge_received_data(self.stream_id, event.flow_controlled_length):
                self._transport._schedule_flush()  # the WINDOW_UPDATE it queued
        elif kind is events.ResponseHeadersReceived:
            self.head = event.head   # (a client's stream: the response headers)
        return event

    # --- outbound ---

    async def send_message(self, message: bytes, *, compress: bool = True) -> None:
        """Send one message; return once it has left the stream's queue.

        Raises StreamTerminated if the call is over, MessageTooLarge if the
        message is over the send limit.
        """
        transport = self._transport
        if transport._write_paused:
            await transport._wait_writable()
        self._check_open()
        now = self._answers_now()
        try:
            self._core.send_message(self.stream_id, message, compress=compress, cork=not now)
        except StreamStateError as error:
            raise self._terminated_error(error.message) from None
        if now:
            transport._answer()
        else:
            transport._schedule_flush()
        if self._core.send_blocked(self.stream_id):
            await self._wait_drained()

    def _answers_now(self) -> bool:
        """Whether a message sent now goes out at once (see _Transport._answers_now)."""
        return self._transport._answers_now()

    async def _wait_drained(self) -> None:
        while self._core.send_blocked(self.stream_id) and self.terminal is None and not self._finished_here:
            self._drain_waiter = self._transport._loop.create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None
        self._check_open()

    def _wake_drain_waiter(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def reset(self, error_code: int = Http2ErrorCode.CANCEL) -> None:
        """Abandon the call with RST_STREAM (CANCEL by default)."""
        if self.terminal is not None or self._finished_here:
            return
        self._core.reset_stream(self.stream_id, error_code)
        self._transport._schedule_flush()
        self._terminate(events.StreamFailed(
            stream_id=self.stream_id, status=StatusCode.CANCELLED,
            message=f"reset locally with error code {int(error_code)}",
        ))

    def _check_open(self) -> None:
        if self.terminal is not None or self._finished_here:
            raise self._terminated_error()

    def _terminated_error(self, detail: str | None = None) -> StreamTerminated:
        if self.terminal is None:
            return StreamTerminated(detail or "the call is over", status=StatusCode.INTERNAL)
        status, message = _outcome(self.terminal)
        error = StreamTerminated(message or detail or "the call is over", status=status)
        error.unprocessed = unprocessed(self.terminal)
        return error

    def get_extra_info(self, name: str, default=None):
        """The connection's socket details (see _Transport.get_extra_info)."""
        return self._transport.get_extra_info(name, default)

    def _abort(self, status: StatusCode, message: str) -> None:
        """The connection went away under the call."""
        self._terminate(events.StreamFailed(stream_id=self.stream_id, status=status, message=message))


def unprocessed(event: events.Event) -> bool:
    """Whether the server said it never processed the stream (RFC 9113 §8.7)."""
    if isinstance(event, events.StreamReset):
        return event.error_code == Http2ErrorCode.REFUSED_STREAM
    return isinstance(event, events.StreamFailed) and event.unprocessed


def _outcome(event: events.Event) -> tuple[StatusCode, str]:
    """The (status, message) a terminal event ends its call with."""
    if isinstance(event, events.TrailersReceived):
        return event.trailers.status, event.trailers.message
    if isinstance(event, events.StreamReset):
        return event.status, f"stream reset by the peer with error code {event.error_code}"
    if isinstance(event, events.StreamFailed):
        return event.status, event.message
    return StatusCode.OK, ""


class ClientStream(_Stream):
    """One call on the client side."""

    def __init__(self, transport: ClientTransport, stream_id: int) -> None:
        super().__init__(transport, stream_id)
        self.head: ResponseHead | None = None  # the response headers, once received
        self._ended = False

    async def send_message(self, message: bytes, *, compress: bool = True, end: bool = False) -> None:
        """Send one request message; `end=True` half-closes in the same DATA frame."""
        if not end:
            await super().send_message(message, compress=compress)
            return
        transport = self._transport
        if transport._write_paused:
            await transport._wait_writable()
        self._check_open()
        try:
            self._core.send_message(self.stream_id, message, compress=compress, end_stream=True)
        except StreamStateError as error:
            raise self._terminated_error(error.message) from None
        self._ended = True
        transport._call_side_done()
        if self._core.send_blocked(self.stream_id):
            await self._wait_drained()

    def end(self) -> None:
        """Half-close: the request has no more messages (its EOS)."""
        if self._ended or self.terminal is not None:
            return
        self._ended = True
        self._core.end_stream(self.stream_id)
        self._transport._call_side_done()

    async def receive_headers(self) -> ResponseHead | None:
        """The response headers; None if the call ended without any (Trailers-Only, failure)."""
        while self.head is None:
            if await self.receive() is self.terminal:
                return None
        return self.head

    async def receive_message(self) -> bytes | None:
        """The next response message; None once there are no more (then see receive_trailers)."""
        while True:
            event = await self.receive()
            kind = type(event)
            if kind is events.MessageReceived:
                self.last_message_compressed = event.compressed
                return event.message
            if event is self.terminal:
                return None

    async def receive_trailers(self) -> Trailers:
        """How the call ended, waiting for it; unread messages are dropped.

        Always a Trailers: a reset, a local failure or a lost connection are
        turned into one with the status they map to.
        """
        while self.terminal is None or self._inbox:
            await self.receive()
        if type(self.terminal) is events.TrailersReceived:
            return self.terminal.trailers
        status, message = _outcome(self.terminal)
        return Trailers(status=status, message=message, metadata=(), status_details=None)

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        message = await self.receive_message()
        if message is None:
            raise StopAsyncIteration
        return message


class ServerStream(_Stream):
    """One call on the server side, handed to the handler."""

    def __init__(self, transport: ServerTransport, stream_id: int, head: RequestHead) -> None:
        super().__init__(transport, stream_id)
        self.head = head
        self.request_ended = False  # the client half-closed
        self._task: asyncio.Task | None = None

    @property
    def peer(self):
        """The client's socket address."""
        return self._transport.peer

    def _answers_now(self) -> bool:
        # While the client still sends, a response message answers it (a
        # conversation): out at once. Once the request is over (unary,
        # server streaming), the response goes out whole, at the call's end
        # or the end of the turn.
        return not self.request_ended and self._transport._answers_now()

    @property
    def finished(self) -> bool:
        """Whether our trailers went out: the call is over, as we said."""
        return self._finished_here

    @property
    def cancelled(self) -> bool:
        """Whether the call ended without our trailers (client reset, connection lost, failure)."""
        return self.terminal is not None

    async def receive_message(self) -> bytes | None:
        """The next request message; None after the client half-closed.

        Raises StreamTerminated if the call was reset or the connection lost.
        """
        if self.request_ended:
            return None
        while True:
            event = await self.receive()
            if event is None:  # our trailers went out: nothing more to read
                return None
            kind = type(event)
            if kind is events.MessageReceived:
                self.last_message_compressed = event.compressed
                return event.message
            if kind is events.RequestEnded:
                self.request_ended = True
                return None
            if event is self.terminal:
                raise self._terminated_error()

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        message = await self.receive_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def send_headers(self, *, metadata: Iterable[tuple[str, str | bytes]] = (),
                           encoding: str | None = None) -> None:
        """Send the response headers (done for you before the first message otherwise)."""
        self._check_open()
        try:
            self._core.send_response_headers(self.stream_id, metadata=metadata, encoding=encoding)
        except StreamStateError as error:
            raise self._terminated_error(error.message) from None
        self._transport._schedule_flush()

    async def send_trailers(
        self,
        status: StatusCode = StatusCode.OK,
        message: str | None = None,
        *,
        metadata: Iterable[tuple[str, str | bytes]] = (),
        status_details: bytes | None = None,
    ) -> None:
        """End the call with its status; return once the trailers have left the queue.

        Without response headers sent first, this is a Trailers-Only response.
        Does nothing if the call is already over.
        """
        if self.terminal is not None or self._finished_here:
            return
        self._core.send_trailers(
            self.stream_id, status=status, message=message,
            metadata=metadata, status_details=status_details,
        )
        self._transport._finishing.append(self)
        self._transport._call_side_done()
        if self._core.send_blocked(self.stream_id):
            await self._wait_drained()

    def _check_finished(self) -> bool:
        """After a flush: did our trailers go out? Then the call is over."""
        if self.terminal is None and not self._finished_here:
            if self._transport._core_has(self.stream_id):
                return False
            self._finished_here = True
            self._wake_waiters()
            self._transport._stream_finished(self)
        return True


# --- Connections -------------------------------------------------------------------


_read_buffers = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer (see READ_BUFFER_SIZE)."""
    buffer = getattr(_read_buffers, "view", None)
    if buffer is None:
        buffer = _read_buffers.view = memoryview(bytearray(READ_BUFFER_SIZE))
    return buffer


class _Transport(asyncio.BufferedProtocol):
    """One HTTP/2 connection: the core, its socket, and the streams on it."""

    def __init__(self, core: Connection) -> None:
        self._core = core
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._read_view = _read_buffer()  # where the socket is read into (this loop's thread)
        self._streams: dict[int, _Stream] = {}
        self._resuming: dict[_Waiter, None] | None = None  # while a read's events are handed out
        self._flush_scheduled = False  # an _end_turn is coming
        self._answered_read = False  # a message or call end went out since the last read
        self._calls_unwritten = 0  # calls completed since the last write (see FLUSH_EVERY_CALLS)
        self._finishing: list[ServerStream] = []  # trailers queued, not yet known to be out
        self._write_paused = False
        self._writable_waiters: list[asyncio.Future] = []
        self._pings: dict[bytes, asyncio.Future] = {}
        self._closed = self._loop.create_future()
        self._peer_settings = self._loop.create_future()  # the peer's first SETTINGS arrived
        self._idle_waiter: asyncio.Future | None = None
        self.peer = None
        self.goaway: events.ConnectionTerminated | None = None  # the peer's GOAWAY
        self.refused: ProtocolError | None = None  # why connection_made refused the peer (TLS without h2)
        # Sees every byte: observer("sent" | "received", data), e.g. transport.xray's
        # Tracer.observe, so a notebook can show what one call put on the wire.
        self.observer: Observer | None = None
        self._tls = False             # the connection is TLS
        self._heard_from_peer = False  # any bytes arrived (over TLS: the handshake was accepted)
        # Keepalive and connection management: one timer, moved only to fire sooner.
        self._keepalive: KeepalivePinger | None = None  # set by the role, if it pings
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._failure: str | None = None  # why we dropped the connection, if we did
        self._handlers = {
            events.MessageReceived: self._on_stream_event,
            events.ResponseHeadersReceived: self._on_stream_event,
            events.RequestEnded: self._on_stream_event,
            events.TrailersReceived: self._on_stream_end,
            events.StreamReset: self._on_stream_end,
            events.StreamFailed: self._on_stream_end,
            events.SendQueueDrained: self._on_drained,
            events.PingAcknowledged: self._on_ping_ack,
            events.ConnectionTerminated: self._on_goaway,
            events.ConnectionFailed: self._on_connection_failed,
            events.RemoteSettingsChanged: self._on_remote_settings,
        }

    # --- asyncio.Protocol ---

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.peer = transport.get_extra_info("peername")
        self._tls = transport.get_extra_info("ssl_object") is not None
        try:
            check_alpn(transport.get_extra_info("ssl_object"))
        except ProtocolError as error:   # TLS without "h2": not a gRPC peer
            logger.warning("refusing connection from %s: %s", self.peer, error.message)
            self.refused = error
            transport.abort()
            return
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        self._write(self._core.data_to_send())
        self._start_timers()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read_view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        if self.observer is not None:
            self._observe("received", data)
        keepalive = self._keepalive
        if keepalive is not None and keepalive.read(self._loop.time()):
            self._arm_timer(keepalive.deadline(calls_open=bool(self._streams)))  # a PING answered
        self._answered_read = False
        self._heard_from_peer = True
        self._resuming = resuming = {}
        try:
            produced = self._core.receive_data(data)
            handlers = self._handlers
            for event in produced:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(event)
        except Exception:  # a bug of ours must not leave the connection hanging
            self._resuming = None
            logger.exception("error while handling data from %s", self.peer)
            self._abort_streams("internal error in the transport")
            self._transport.abort()
            for waiter in resuming:   # woken before the failure: their calls are over too
                if not waiter.done():
                    waiter.set_result(None)
            return
        self._resuming = None
        if resuming:
            self._resume(resuming)
        self._after_events()
        if self._core.wants_to_write or self._finishing:
            self._schedule_flush()

    def _resume(self, waiters: dict[_Waiter, None]) -> None:
        """Resume the readers a read woke: at once, unless a task is running (see _Waiter)."""
        now = asyncio.current_task(self._loop) is None
        for waiter in waiters:
            if waiter.done():
                continue
            if now:
                waiter.resume()
            else:
                waiter.set_result(None)

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._abort_streams(self._lost_reason(exc))
        for waiter in self._writable_waiters:
            if not waiter.done():
                waiter.set_result(None)
        for future in self._pings.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))
        if not self._closed.done():
            self._closed.set_result(None)
        if not self._peer_settings.done():
            self._peer_settings.set_exception(ConnectionError(
                f"the connection closed before the peer's HTTP/2 SETTINGS arrived "
                f"({self._lost_reason(exc)})"))
            self._peer_settings.exception()      # retrieved here: nobody may be waiting
        self._wake_idle()

    def _lost_reason(self, exc: Exception | None) -> str:
        if self._failure is not None:
            return self._failure
        reason = f"connection lost{f': {exc}' if exc else ''}"
        goaway = self.goaway
        if goaway is not None and goaway.error_code != Http2ErrorCode.NO_ERROR:
            debug = goaway.additional_data.decode("ascii", "replace")[:100]
            reason += f" after the peer's GOAWAY with error code {goaway.error_code}"
            reason += f" ({debug})" if debug else ""
        if self._tls and not self._heard_from_peer:
            # TLS 1.3 ends the client's handshake before the server has checked
            # the client's certificate (RFC 8446 §4.4.2): a refusal shows as this.
            reason += (" (the TLS peer closed before HTTP/2 began: did it want a client "
                       "certificate it could verify?)")
        return reason

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._writable_waiters = self._writable_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait_writable(self) -> None:
        while self._write_paused and self._transport is not None:
            waiter = self._loop.create_future()
            self._writable_waiters.append(waiter)
            await waiter

    # --- writing ---
    #
    # When the socket is written. A "turn" of the event loop is the
    # callbacks and task steps it runs between two polls of the sockets.
    #
    # - With one call open, the first message or call end after each read
    #   goes out at once: an answer (a ping-pong, one call at a time) waits
    #   for nothing. With many calls open, writing at once would break
    #   their batches into pieces too small to keep both ends busy.
    # - Anything else goes out in one write at the end of the turn, so a
    #   burst of small messages shares a few full DATA frames.
    # - Except that every FLUSH_EVERY_CALLS completed calls are written
    #   without waiting for the end of the turn (many calls in flight).
    # - A server's response messages count as answers only while the
    #   client is still sending (a conversation); after the request's end
    #   the response goes out whole, with its trailers (ServerStream).
    #
    # Headers, window updates, resets and whatever handling a read produced
    # wait for the end of the turn. (Writing a read's window updates at once
    # cost 1 MiB messages a sixth of their CPU budget: many tiny writes, and
    # as many wakeups of the sender.)

    def _schedule_flush(self) -> None:
        """Write what is queued at the end of this turn."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._end_turn)

    def _answers_now(self) -> bool:
        """Whether what is queued now answers a read on a lone call, and goes out at once."""
        return not self._answered_read and len(self._streams) <= 1

    def _answer(self) -> None:
        """Write what answers the last read, now."""
        self._answered_read = True
        self._flush()

    def _write_soon(self) -> None:
        """A message or a call end was queued: write now if it answers a read on a lone call."""
        if self._answers_now():
            self._answer()
        else:
            self._schedule_flush()

    def _call_side_done(self) -> None:
        """Our side of one call is complete (a request half-closed, a response's trailers queued)."""
        self._calls_unwritten += 1
        if self._calls_unwritten >= FLUSH_EVERY_CALLS:
            self._flush()
        self._write_soon()

    def _write(self, data: bytes) -> None:
        self._transport.write(data)
        if self.observer is not None:
            self._observe("sent", data)

    def _observe(self, direction: str, data: bytes) -> None:
        try:
            self.observer(direction, data)
        except Exception:   # an observer's bug must not touch the connection
            logger.exception("connection observer failed; it is removed")
            self.observer = None

    def _end_turn(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        self._calls_unwritten = 0
        data = self._core.data_to_send()
        if data and self._transport is not None:
            self._write(data)
        if self._finishing:
            self._finishing = [stream for stream in self._finishing if not stream._check_finished()]

    # --- events ---

    def _on_stream_event(self, event: events.StreamEvent) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._deliver(event)

    def _on_stream_end(self, event: events.StreamEvent) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._terminate(event)

    def _on_drained(self, event: events.SendQueueDrained) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream._wake_drain_waiter()

    def _on_ping_ack(self, event: events.PingAcknowledged) -> None:
        future = self._pings.pop(event.data, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_goaway(self, event: events.ConnectionTerminated) -> None:
        self.goaway = event

    def _on_connection_failed(self, event: events.ConnectionFailed) -> None:
        logger.warning("HTTP/2 connection error with %s: %s", self.peer, event.message)
        self._abort_streams(f"connection error: {event.message}")
        self._flush()  # the GOAWAY h2 queued
        if self._transport is not None:
            self._transport.close()

    def _after_events(self) -> None:
        """Hook run after each batch of events."""

    def _stream_finished(self, stream: _Stream) -> None:
        self._streams.pop(stream.stream_id, None)
        if not self._streams:
            self._wake_idle()

    def _core_has(self, stream_id: int) -> bool:
        return stream_id in self._core._streams

    def _abort_streams(self, reason: str) -> None:
        for stream in list(self._streams.values()):
            stream._abort(self._lost_status, reason)

    _lost_status = StatusCode.UNAVAILABLE

    # --- the timer: keepalive, connection age and idleness ---
    #
    # One asyncio timer per connection, at the earliest thing due. Reads note
    # the time (KeepalivePinger.read); when the timer fires it does what is
    # due and sets itself for the next deadline. Nothing else moves it, and
    # then only sooner (_arm_timer): for the next PING once one is answered,
    # for a client's first call on a quiet connection, for a server's idleness.

    def _start_timers(self) -> None:
        """The connection is up (after the TLS handshake, if any): start the clock."""
        if self._keepalive is not None:
            self._keepalive.last_read = self._loop.time()
        self._arm_timer(self._next_deadline())

    def _arm_timer(self, at: float | None) -> None:
        """Run `_on_timer` at `at`, unless it is due sooner already."""
        if at is None or at >= self._timer_at or self._transport is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(at, self._on_timer)
        self._timer_at = at

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        if self._transport is None or self._transport.is_closing():
            return
        self._check_timers(self._loop.time())
        if self._transport is not None and not self._transport.is_closing():
            self._arm_timer(self._next_deadline())

    def _next_deadline(self) -> float | None:
        """When the timer should run next; None: not until something changes."""
        if self._keepalive is None:
            return None
        return self._keepalive.deadline(calls_open=bool(self._streams))

    def _check_timers(self, now: float) -> None:
        """Do what is due at `now`."""
        if self._keepalive is not None:
            self._check_keepalive(now, calls_open=bool(self._streams))

    def _check_keepalive(self, now: float, *, calls_open: bool) -> None:
        keepalive = self._keepalive
        action = keepalive.poll(now, calls_open=calls_open)
        if action is KeepaliveAction.SEND_PING:
            self._core.ping()
            self._flush()
        elif action is KeepaliveAction.CLOSE:
            self._drop(f"no answer to a keepalive PING within {keepalive.timeout:g} s: "
                       f"the connection is dead")

    def _drop(self, reason: str) -> None:
        """Close at once, on our own decision: the calls end as if the network failed, with `reason`."""
        logger.warning("dropping the connection with %s: %s", self.peer, reason)
        self._failure = reason
        self._transport.abort()

    # --- connection actions ---

    @property
    def is_closed(self) -> bool:
        return self._transport is None

    def get_extra_info(self, name: str, default=None):
        """The socket's details (asyncio's names: "peername", "ssl_object", "peercert", ...)."""
        if self._transport is None:
            return default
        return self._transport.get_extra_info(name, default)

    async def ping(self, timeout: float | None = None) -> float:
        """Send PING and wait for its ACK; return the round-trip time in seconds."""
        if self._transport is None:
            raise ConnectionError("connection is closed")
        started = time.monotonic()
        data = self._core.ping()
        future = self._pings[data] = self._loop.create_future()
        self._flush()
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            self._pings.pop(data, None)
        return time.monotonic() - started

    async def _wait_idle(self, timeout: float | None) -> bool:
        """Wait until no stream is open (or the connection is gone); False on timeout."""
        deadline = None if timeout is None else self._loop.time() + timeout
        while self._streams and self._transport is not None:
            if self._idle_waiter is None or self._idle_waiter.done():  # shared by concurrent closes
                self._idle_waiter = self._loop.create_future()
            remaining = None if deadline is None else deadline - self._loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(asyncio.shield(self._idle_waiter), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    def _wake_idle(self) -> None:
        waiter = self._idle_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        await asyncio.shield(self._closed)

    def _on_remote_settings(self, event: events.RemoteSettingsChanged) -> None:
        if not self._peer_settings.done():
            self._peer_settings.set_result(None)

    async def wait_for_peer_settings(self) -> None:
        """Wait for the peer's first SETTINGS frame: the HTTP/2 connection is up.

        A TCP (or TLS 1.3) connection can be accepted and then dropped, by a
        server refusing a client certificate for instance; a channel counts
        a connection as READY only once the server's preface has arrived, as
        grpc does. Raises ConnectionError if the connection closes first.
        """
        await asyncio.shield(self._peer_settings)

    def abort(self) -> None:
        """Drop the connection at once: every call ends as if the network failed."""
        if self._transport is not None:
            self._transport.abort()

    def _close_transport(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()


class ClientTransport(_Transport):
    """A client connection: starts calls (`start_call`) and carries them."""

    def __init__(self, core: ClientConnection, *, authority: str, scheme: str,
                 keepalive: ClientKeepaliveSettings | None = None) -> None:
        super().__init__(core)
        self.authority = authority
        self.scheme = scheme
        self._slot_waiters: collections.deque[asyncio.Future] = collections.deque()
        settings = keepalive or ClientKeepaliveSettings()
        if settings.keepalive_time is not None:
            self._keepalive = KeepalivePinger(
                time=settings.keepalive_time, timeout=settings.keepalive_timeout,
                permit_without_calls=settings.keepalive_permit_without_calls, now=self._loop.time())

    @property
    def keepalive_time(self) -> float | None:
        """The keepalive interval in use, doubled each time the server said "too_many_pings".

        A8: new connections of the same channel should use it.
        """
        return None if self._keepalive is None else self._keepalive.time

    async def start_call(
        self,
        path: str,
        *,
        timeout: float | None = None,
        metadata: Iterable[tuple[str, str | bytes]] = (),
        encoding: str | None = None,
        authority: str | None = None,
        max_receive_message_length: int | None = None,
        **header_options,
    ) -> ClientStream:
        """Open a stream with the Request-Headers of one call.

        Waits while the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
        Raises StreamTerminated (UNAVAILABLE) if the connection is closed or
        going away: the call may be retried on another connection.
        """
        core: ClientConnection = self._core
        while core.available_streams <= 0:
            await self._wait_for_slot()
        self._check_usable()
        if self._write_paused:
            await self._wait_writable()
            self._check_usable()
        if self._timer is None and self._keepalive is not None:
            self._resume_keepalive()
        try:
            stream_id = core.start_call(
                path, authority=authority or self.authority, scheme=self.scheme,
                timeout=timeout, metadata=metadata, encoding=encoding,
                max_receive_message_length=max_receive_message_length, **header_options,
            )
        except ProtocolError as error:
            raise StreamTerminated(error.message, status=error.status) from None
        stream = self._streams[stream_id] = ClientStream(self, stream_id)
        self._schedule_flush()
        return stream

    def _resume_keepalive(self) -> None:
        """The first call on a quiet connection: the keepalive timer runs again.

        A8: if the connection has been quiet for keepalive_time already, a
        PING goes first, ahead of the call's HEADERS.
        """
        self._check_keepalive(self._loop.time(), calls_open=True)
        self._arm_timer(self._keepalive.deadline(calls_open=True))

    def _on_goaway(self, event: events.ConnectionTerminated) -> None:
        super()._on_goaway(event)
        if event.error_code == Http2ErrorCode.ENHANCE_YOUR_CALM and event.additional_data == TOO_MANY_PINGS:
            # A8: "log the occurrence at a log level that is enabled by
            # default and double the configured KEEPALIVE_TIME".
            if self._keepalive is not None:
                self._keepalive.back_off()
            logger.warning("%s says we ping too often (GOAWAY ENHANCE_YOUR_CALM too_many_pings); "
                           "keepalive_time for new connections: %s s", self.peer, self.keepalive_time)

    def _check_usable(self) -> None:
        if self._transport is None:
            raise StreamTerminated.unprocessed_call("the connection is closed")
        if self.goaway is not None:
            raise StreamTerminated.unprocessed_call(
                "the server sent GOAWAY: no new calls on this connection")

    async def _wait_for_slot(self) -> None:
        self._check_usable()
        waiter = self._loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done() or waiter.cancelled():
                try:
                    self._slot_waiters.remove(waiter)
                except ValueError:
                    pass
        self._check_usable()

    def _wake_slot_waiters(self) -> None:
        available = self._core.available_streams
        if self._transport is None or self.goaway is not None:
            available = len(self._slot_waiters)  # wake them all: they will fail
        while available > 0 and self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                available -= 1

    def _after_events(self) -> None:
        if self._slot_waiters:
            self._wake_slot_waiters()
        if self.goaway is not None and not self._streams:
            self._close_transport()

    def _stream_finished(self, stream: _Stream) -> None:
        super()._stream_finished(stream)
        if self._slot_waiters:
            self._loop.call_soon(self._wake_slot_waiters)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wake_slot_waiters()

    _lost_status = StatusCode.UNAVAILABLE  # PROTOCOL-HTTP2.md, "Connection failure"

    async def close(self, grace: float | None = None) -> None:
        """Close the connection: GOAWAY, then the socket.

        With `grace`, calls in flight get that many seconds to finish first;
        calls still open after it are cancelled (RST_STREAM CANCEL).
        """
        if self._transport is not None and grace:
            await self._wait_idle(grace)
        for stream in list(self._streams.values()):
            stream.reset()
        if self._transport is not None:
            self._core.goaway(Http2ErrorCode.NO_ERROR, last_stream_id=0)
            self._close_transport()
        await self.wait_closed()

    async def __aenter__(self) -> ClientTransport:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


class ServerTransport(_Transport):
    """One accepted connection on the server: runs the handler once per call."""

    _lost_status = StatusCode.CANCELLED  # PROTOCOL-HTTP2.md, "Connection failure"

    def __init__(self, core: ServerConnection, handler: Handler, server: Server | None = None,
                 settings: ServerKeepaliveSettings | None = None) -> None:
        super().__init__(core)
        self._handler = handler
        self._server = server
        self._handlers[events.RequestReceived] = self._on_request
        self._closing = False
        self._shutdown: asyncio.Task | None = None  # a close of our own (age, idleness)
        self._settings = settings = settings or ServerKeepaliveSettings()
        if settings.keepalive_time is not None:   # A9: with or without calls
            self._keepalive = KeepalivePinger(
                time=settings.keepalive_time, timeout=settings.keepalive_timeout,
                permit_without_calls=True, now=self._loop.time())
        if settings.polices_pings:
            self._policer = PingPolicer(
                min_time=settings.keepalive_min_time, max_strikes=settings.max_ping_strikes,
                permit_without_calls=settings.keepalive_permit_without_calls)
            self._handlers[events.PingReceived] = self._on_ping
        self._age_deadline: float | None = None
        self._idle_since = self._loop.time()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        if self._server is not None:
            self._server._transports.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._server is not None:
            self._server._transports.discard(self)

    def _on_request(self, event: events.RequestReceived) -> None:
        stream = ServerStream(self, event.stream_id, event.head)
        self._streams[event.stream_id] = stream
        task = self._loop.create_task(self._run_handler(stream))
        stream._task = task

    async def _run_handler(self, stream: ServerStream) -> None:
        try:
            await self._handler(stream)
        except asyncio.CancelledError:
            if stream.terminal is None:  # cancelled from outside, not by the peer
                stream.reset()
            return
        except StreamTerminated:
            return  # the call ended under the handler: nothing left to answer
        except Exception as error:  # doc/statuscodes.md: "Application throws an exception" -> UNKNOWN
            logger.exception("handler failed on stream %d", stream.stream_id)
            await stream.send_trailers(StatusCode.UNKNOWN, f"handler failed: {type(error).__name__}")
            return
        await stream.send_trailers(StatusCode.OK)  # a handler that returned said nothing else

    def _on_stream_end(self, event: events.StreamEvent) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        stream._terminate(event)
        task = stream._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # the client cancelled, or the call failed: stop the handler

    def _abort_streams(self, reason: str) -> None:
        for stream in list(self._streams.values()):
            stream._abort(self._lost_status, reason)
            task = stream._task
            if task is not None and not task.done():
                task.cancel()

    def _after_events(self) -> None:
        if self._closing and not self._streams:
            self._close_transport()

    def _stream_finished(self, stream: _Stream) -> None:
        super()._stream_finished(stream)
        max_idle = self._settings.max_connection_idle
        if max_idle is not None and not self._streams and not self._closing:
            self._idle_since = self._loop.time()
            self._arm_timer(self._idle_since + max_idle)

    # --- ping policing (gRFC A8, "Server Enforcement") ---

    def _on_ping(self, event: events.PingReceived) -> None:
        policer = self._policer
        if self._core.headers_or_data_sent:   # since the last PING: all is forgiven
            self._core.headers_or_data_sent = False
            policer.data_sent()
        if policer.ping_received(self._loop.time(), calls_open=bool(self._streams)):
            self._refuse_pings()

    def _refuse_pings(self) -> None:
        """GOAWAY ENHANCE_YOUR_CALM "too_many_pings", and close at once (A8)."""
        if self._failure is not None:
            return
        self._failure = "the client sent too many pings (GOAWAY ENHANCE_YOUR_CALM too_many_pings)"
        logger.warning("closing the connection with %s: %s", self.peer, self._failure)
        self._core.goaway(Http2ErrorCode.ENHANCE_YOUR_CALM, additional_data=TOO_MANY_PINGS)
        self._close_transport()

    # --- connection age and idleness (gRFC A9) ---

    def _start_timers(self) -> None:
        now = self._idle_since = self._loop.time()
        if self._settings.max_connection_age is not None:
            self._age_deadline = now + jittered_age(self._settings.max_connection_age, random.random())
        super()._start_timers()

    def _idle_deadline(self) -> float | None:
        max_idle = self._settings.max_connection_idle
        if max_idle is None or self._streams or self._closing:
            return None
        return self._idle_since + max_idle

    def _next_deadline(self) -> float | None:
        deadlines = [at for at in (super()._next_deadline(), self._age_deadline, self._idle_deadline())
                     if at is not None]
        return min(deadlines, default=None)

    def _check_timers(self, now: float) -> None:
        super()._check_timers(now)
        if self._closing or self._failure is not None:
            return
        idle_deadline = self._idle_deadline()
        if self._age_deadline is not None and now >= self._age_deadline:
            self._shut_down_soon(MAX_AGE)
        elif idle_deadline is not None and now >= idle_deadline:
            self._shut_down_soon(MAX_IDLE)

    def _shut_down_soon(self, reason: bytes) -> None:
        """Start a graceful close of our own; calls in flight get max_connection_age_grace."""
        logger.info("closing the connection with %s: %s", self.peer, reason.decode())
        self._age_deadline = None
        self._shutdown = self._loop.create_task(
            self._shut_down(self._settings.max_connection_age_grace, reason))

    # --- graceful shutdown ---

    async def close(self, grace: float | None = DEFAULT_CLOSE_GRACE) -> None:
        """Graceful shutdown: GOAWAY, calls in flight finish within `grace`, then close."""
        await self._shut_down(grace, b"")

    async def _shut_down(self, grace: float | None, reason: bytes) -> None:
        """Close gracefully, GOAWAY carrying `reason` as its debug data.

        A second close while one runs (Server.close during a max_age close)
        sends nothing more: it waits its own `grace`, then ends what is left.
        """
        if self._transport is None:
            return
        if not self._closing:
            self._closing = True
            await self._send_goaways(grace, reason)
        if self._transport is not None:
            await self._wait_idle(grace)
        for stream in list(self._streams.values()):   # the grace is over: RST_STREAM(CANCEL)
            stream.reset()
            if stream._task is not None and not stream._task.done():
                stream._task.cancel()
        self._close_transport()
        await self.wait_closed()

    async def _send_goaways(self, grace: float | None, reason: bytes) -> None:
        """GOAWAY(last stream 2^31-1), a PING, and once it returns GOAWAY(the real last stream)."""
        self._core.goaway(Http2ErrorCode.NO_ERROR, last_stream_id=HIGHEST_STREAM_ID, additional_data=reason)
        try:
            await self.ping(timeout=min(GOAWAY_PING_TIMEOUT, grace or GOAWAY_PING_TIMEOUT))
        except (asyncio.TimeoutError, ConnectionError):
            pass
        if self._transport is not None:
            self._core.goaway(Http2ErrorCode.NO_ERROR, additional_data=reason)
            self._flush()


# --- Servers -------------------------------------------------------------------------


class Server:
    """A listening socket whose connections run `handler` once per call."""

    def __init__(self, handler: Handler, core_settings: dict,
                 observer_factory: Callable[[], Observer] | None = None) -> None:
        self._handler = handler
        self._settings, self._core_settings = ServerKeepaliveSettings.take(core_settings)
        self._observer_factory = observer_factory
        self._transports: set[ServerTransport] = set()
        self._server: asyncio.AbstractServer | None = None

    def _protocol(self) -> ServerTransport:
        transport = ServerTransport(ServerConnection(**self._core_settings), self._handler, self,
                                    self._settings)
        if self._observer_factory is not None:   # one observer per connection
            transport.observer = self._observer_factory()
        else:
            transport.observer = _switched_on_observer("server")
        return transport

    @property
    def sockets(self):
        return self._server.sockets if self._server is not None else ()

    @property
    def port(self) -> int:
        """The TCP port listened on (handy with port 0)."""
        return self.sockets[0].getsockname()[1]

    @property
    def connections(self) -> frozenset[ServerTransport]:
        return frozenset(self._transports)

    async def close(self, grace: float | None = DEFAULT_CLOSE_GRACE) -> None:
        """Stop accepting, then shut every connection down gracefully."""
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(transport.close(grace) for transport in list(self._transports)))
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()


async def start_server(handler: Handler, host: str | None = "127.0.0.1", port: int = 0, *,
                       ssl=None, observer_factory: Callable[[], Observer] | None = None,
                       reuse_port: bool = False, **core_settings) -> Server:
    """Listen on TCP; `core_settings` go to `ServerConnection` (limits, windows);
    `observer_factory()` gives each accepted connection its observer.

    `reuse_port` sets SO_REUSEPORT, so that several processes can listen on
    one port and the kernel spreads new connections over them (rpc/workers.py).
    """
    server = Server(handler, core_settings, observer_factory)
    loop = asyncio.get_running_loop()
    server._server = await loop.create_server(server._protocol, host, port, ssl=ssl,
                                              reuse_port=reuse_port,
                                              **_tls_options(ssl, TLS_SERVER_SHUTDOWN_TIMEOUT))
    return server


async def start_unix_server(handler: Handler, path: str, *, ssl=None,
                            observer_factory: Callable[[], Observer] | None = None,
                            **core_settings) -> Server:
    """Listen on a Unix socket at `path`."""
    server = Server(handler, core_settings, observer_factory)
    loop = asyncio.get_running_loop()
    server._server = await loop.create_unix_server(server._protocol, path, ssl=ssl,
                                                   **_tls_options(ssl, TLS_SERVER_SHUTDOWN_TIMEOUT))
    return server


# --- Clients -------------------------------------------------------------------------


async def connect(host: str, port: int, *, ssl=None, server_hostname: str | None = None,
                  authority: str | None = None, observer: Observer | None = None,
                  **core_settings) -> ClientTransport:
    """Open a client connection over TCP (TLS if `ssl` is an SSLContext with ALPN h2).

    The keepalive settings (keepalive_time, keepalive_timeout,
    keepalive_permit_without_calls; see the module's docstring) are taken out
    of `core_settings`; the rest go to `ClientConnection` (limits, windows).
    """
    loop = asyncio.get_running_loop()
    authority = authority or (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    scheme = "https" if ssl else "http"
    keepalive, core_settings = ClientKeepaliveSettings.take(core_settings)
    _, transport = await loop.create_connection(
        lambda: _observed(ClientTransport(ClientConnection(**core_settings), authority=authority,
                                          scheme=scheme, keepalive=keepalive), observer),
        host, port, ssl=ssl, server_hostname=server_hostname if ssl else None,
        **_tls_options(ssl, TLS_CLIENT_SHUTDOWN_TIMEOUT),
    )
    if transport.refused is not None:    # TLS that did not agree on "h2"
        raise transport.refused
    return transport


async def connect_unix(path: str, *, authority: str = "localhost", ssl=None,
                       observer: Observer | None = None, **core_settings) -> ClientTransport:
    """Open a client connection over a Unix socket."""
    loop = asyncio.get_running_loop()
    keepalive, core_settings = ClientKeepaliveSettings.take(core_settings)
    _, transport = await loop.create_unix_connection(
        lambda: _observed(ClientTransport(ClientConnection(**core_settings), authority=authority,
                                          scheme="https" if ssl else "http", keepalive=keepalive), observer),
        path, ssl=ssl, **_tls_options(ssl, TLS_CLIENT_SHUTDOWN_TIMEOUT),
    )
    if transport.refused is not None:
        raise transport.refused
    return transport


def _tls_options(ssl, shutdown_timeout: float) -> dict:
    """asyncio's TLS-only settings (none without TLS: asyncio refuses them then)."""
    return {"ssl_shutdown_timeout": shutdown_timeout} if ssl else {}


def _observed(transport: ClientTransport, observer: Observer | None) -> ClientTransport:
    """Set the observer before connection_made, so it sees the preface too."""
    transport.observer = observer if observer is not None else _switched_on_observer("client")
    return transport


def _switched_on_observer(role: str) -> Observer | None:
    """The frame logger RPC_TRACE=http2 asks for (see transport.xray.switch), or None."""
    if TRACE_VARIABLE not in os.environ:
        return None
    from .xray.switch import trace_observer     # only when asked: the tracer is not small
    return trace_observer(role)
