"""Client calls: one object per call, for each of the four call patterns.

Spec: doc/PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
for the exchange, and its "Deadlines and cancellation" rules as SPEC.md
summarises them:

- the deadline travels as grpc-timeout, and when it passes the client resets
  the stream (RST_STREAM CANCEL) and reports DEADLINE_EXCEEDED itself, even if
  the server's own cancellation arrived first;
- ``cancel()`` resets the stream and the call ends CANCELLED;
- a unary response must be exactly one message: anything else is UNIMPLEMENTED
  (doc/statuscodes.md), and a response that does not parse is INTERNAL.

The call objects have grpc.aio's shapes: ``await call`` for a unary response,
``async for response in call`` (or ``await call.read()``) for a stream,
``await call.write(request)`` and ``await call.done_writing()`` for a request
stream, and ``await call.initial_metadata()``, ``trailing_metadata()``,
``code()``, ``details()``, ``cancel()`` on every one of them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterable, Callable, Iterable

from transport.driver import ClientStream, StreamTerminated
from transport.errors import ProtocolError
from transport.status import StatusCode

from .interceptors import ClientCallDetails
from .retry import RetryingStream
from .status import RpcError

__all__ = [
    "Call",
    "UnaryUnaryCall",
    "UnaryStreamCall",
    "StreamUnaryCall",
    "StreamStreamCall",
    "EOF",
]

logger = logging.getLogger(__name__)

CANCELLED_DETAILS = "Locally cancelled by application!"
DEADLINE_DETAILS = "Deadline Exceeded"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
MISSING_RESPONSE_DETAILS = "expected one response message, got none"
EXTRA_RESPONSE_DETAILS = "expected one response message, got more than one"
LOCAL_RETRIES = 5     # picks a call may try when connections cannot take it (never sent)


class _EndOfStream:
    """What ``read()`` returns once the server has sent its last message."""

    def __repr__(self) -> str:
        return "EOF"


EOF = _EndOfStream()


@dataclass(frozen=True)
class _Outcome:
    """How the call ended."""

    code: StatusCode
    details: str
    trailing_metadata: tuple = ()
    status_details: bytes | None = None
    locally_cancelled: bool = False
    abandoned: bool = False            # ended by this side, not by the server's trailers


class Call:
    """What every call shares: its stream, its deadline, and how it ended."""

    def __init__(self, channel: Any, details: ClientCallDetails,
                 serializer: Callable[[Any], bytes] | None,
                 deserializer: Callable[[bytes], Any] | None) -> None:
        self._channel = channel
        self._details = details
        self._serialize = serializer
        self._deserialize = deserializer
        self._loop = asyncio.get_running_loop()
        self._stream: ClientStream | None = None
        self._opened = asyncio.Event()    # set once the stream is open, or the call over
        self._compress_next = True
        self._outcome: _Outcome | None = None
        self._done = self._loop.create_future()
        self._headers = self._loop.create_future()   # initial metadata, once known
        self._receive_lock = asyncio.Lock()
        self._unread: collections.deque = collections.deque()  # responses read by code() & co.
        self._tasks: list[asyncio.Task] = []
        self._callbacks: list[Callable[[Call], None]] = []
        track = getattr(channel, "_track", None)
        if track is not None:
            track(self)
        timeout = details.timeout
        self._wait_for_ready = details.wait_for_ready
        self._retry_policy = None
        config = channel.service_config.method_config(details.method)
        if config is not None:                 # the channel's service config for this method
            if config.timeout is not None:
                timeout = config.timeout if timeout is None else min(timeout, config.timeout)
            if self._wait_for_ready is None:
                self._wait_for_ready = config.wait_for_ready
            self._retry_policy = config.retry_policy
        self._deadline = None if timeout is None else self._loop.time() + timeout
        self._timer = None if timeout is None else self._loop.call_later(timeout, self._expire)

    # --- the stream -----------------------------------------------------------

    async def _open(self, *, first_message: bytes | None = None) -> ClientStream:
        """Open the call's stream; with ``first_message``, send it and half-close."""
        try:
            attempt = await self._start_attempt(0)
        except (StreamTerminated, ProtocolError) as error:
            self._finish(_Outcome(error.status, error.message))
            raise self._error() from None
        except OSError as error:   # the connection could not be made
            self._finish(_Outcome(StatusCode.UNAVAILABLE, f"failed to connect: {error}"))
            raise self._error() from None
        stream = RetryingStream(attempt, self._start_attempt, self._committed,
                                self._retry_policy, self._channel._retry_throttle)
        self._stream = stream
        self._opened.set()
        if self._outcome is not None:    # cancelled or expired while opening
            stream.reset()
            raise self._error()
        if first_message is not None:
            await self._send(first_message, end=True)
        return stream

    async def _start_attempt(self, previous_attempts: int) -> ClientStream:
        """Open one attempt's stream on a connection the channel picks.

        A connection that turns out unable to take the call (lost, or GOAWAY
        arrived meanwhile) never saw it: the call tries the next pick at once
        (A6's transparent retry), a bounded number of times.
        """
        metadata = self._details.metadata
        for _ in range(LOCAL_RETRIES):
            transport = await self._channel._connection(self._wait_for_ready)
            call_metadata = metadata
            if self._channel._credentials:
                call_metadata = metadata + await self._credential_metadata(transport)
            try:
                return await transport.start_call(
                    self._details.method,
                    timeout=self._remaining(),
                    metadata=call_metadata,
                    encoding=self._details.compression or self._channel._compression,
                    previous_attempts=previous_attempts,
                )
            except StreamTerminated as error:
                if not error.unprocessed:
                    raise
                refused = error
        raise refused

    def _committed(self, stream: ClientStream) -> None:
        """No more retries: the call talks to its attempt's stream directly."""
        self._stream = stream

    async def _credential_metadata(self, transport: Any) -> tuple:
        try:
            return await self._channel._call_credentials(self._details.method, transport)
        except Exception as error:   # a token source that failed: the call cannot say who it is
            self._finish(_Outcome(StatusCode.UNAUTHENTICATED,
                                  f"getting call credentials failed: {error}"))
            raise self._error() from None

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._loop.time())

    async def _send(self, data: bytes, *, end: bool = False) -> None:
        compress, self._compress_next = self._compress_next, True
        try:
            await self._stream.send_message(data, end=end, compress=compress)
        except StreamTerminated:
            await self._collect_outcome()
            raise self._error() from None
        except ProtocolError as error:          # over the send limit
            self._abandon(error.status, error.message)
            raise self._error() from None

    def _serialize_request(self, request: Any) -> bytes:
        if self._serialize is None:
            return request
        try:
            return self._serialize(request)
        except Exception as error:
            self._abandon(StatusCode.INTERNAL, f"failed to serialize the request: {error}")
            raise self._error() from None

    async def _read_message(self, *, collect: bool = True) -> Any:
        """The next response, or EOF once there are no more.

        At EOF the call is over: with ``collect``, its outcome is recorded
        from the trailers here; otherwise the caller collects it.
        """
        stream = self._stream
        if not self._headers.done():
            head = await stream.receive_headers()
            self._set_headers(head.metadata if head is not None else ())
        data = await stream.receive_message()
        if data is None:
            if collect:
                await self._collect_outcome()
            return EOF
        if self._deserialize is None:
            return data
        try:
            return self._deserialize(data)
        except Exception as error:   # doc/statuscodes.md: a response that fails to parse -> INTERNAL
            self._abandon(StatusCode.INTERNAL, f"failed to parse the response: {error}")
            return EOF

    async def _collect_outcome(self, *, missing_response: bool = False) -> None:
        """Wait for the trailers (or the reset) and record how the call ended.

        ``missing_response``: a unary call got no response message, so OK
        from the server becomes UNIMPLEMENTED (doc/statuscodes.md).
        """
        trailers = await self._stream.receive_trailers()
        self._set_headers(())
        code, details = trailers.status, trailers.message
        if code == StatusCode.CANCELLED and self._deadline_passed():
            code, details = StatusCode.DEADLINE_EXCEEDED, DEADLINE_DETAILS
        if code == StatusCode.OK and missing_response:
            code, details = StatusCode.UNIMPLEMENTED, MISSING_RESPONSE_DETAILS
        metadata = trailers.metadata
        if trailers.status_details is not None:    # as grpcio shows it, for rpc_status helpers
            metadata = metadata + ((STATUS_DETAILS_KEY, trailers.status_details),)
        self._finish(_Outcome(code, details, metadata, trailers.status_details))

    def _deadline_passed(self) -> bool:
        return self._deadline is not None and self._loop.time() >= self._deadline

    # --- ending --------------------------------------------------------------------

    def _finish(self, outcome: _Outcome) -> None:
        """Record the outcome (the first one wins) and wake whoever waits for it."""
        if self._outcome is not None:
            return
        self._outcome = outcome
        self._opened.set()
        if self._timer is not None:
            self._timer.cancel()
        throttle = self._channel._retry_throttle
        if throttle is not None and outcome.code == StatusCode.OK:
            throttle.succeeded()
        self._set_headers(())
        self._done.set_result(outcome)
        for callback in self._callbacks:
            self._loop.call_soon(callback, self)

    def _abandon(self, code: StatusCode, details: str, *, locally_cancelled: bool = False) -> None:
        """End the call from this side: the status, RST_STREAM(CANCEL), stop our tasks."""
        self._finish(_Outcome(code, details, locally_cancelled=locally_cancelled, abandoned=True))
        if self._stream is not None:
            self._stream.reset()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self._stop_inline(current)

    def _stop_inline(self, current: asyncio.Task | None) -> None:
        """Hook: a unary call run by the task that awaits it is stopped there (UnaryUnaryCall)."""

    def _expire(self) -> None:
        self._timer = None
        if self._outcome is None:
            self._abandon(StatusCode.DEADLINE_EXCEEDED, DEADLINE_DETAILS)

    def _set_headers(self, metadata: tuple) -> None:
        if not self._headers.done():
            self._headers.set_result(tuple(metadata))

    def _error(self) -> BaseException:
        """The exception a caller gets for the call's outcome."""
        outcome = self._outcome
        if outcome.locally_cancelled:
            return asyncio.CancelledError()
        return RpcError(
            outcome.code, outcome.details,
            initial_metadata=self._headers.result() if self._headers.done() else (),
            trailing_metadata=outcome.trailing_metadata,
            status_details=outcome.status_details,
        )

    def _ended_here(self) -> bool:
        """Whether this side ended the call (cancel, deadline, a bad response)."""
        return self._outcome is not None and self._outcome.abandoned

    def _raise_if_failed(self) -> None:
        if self._outcome is not None and self._outcome.code != StatusCode.OK:
            raise self._error()

    # --- what the caller may ask -------------------------------------------------------

    def disable_next_message_compression(self) -> None:
        """Send the next request message uncompressed (Compressed-Flag 0)."""
        self._compress_next = False

    def response_compressed(self) -> bool | None:
        """Whether the response message read last arrived compressed (None before any)."""
        return None if self._stream is None else self._stream.last_message_compressed

    def cancel(self) -> bool:
        """Cancel the call (RST_STREAM CANCEL); False if it had already ended."""
        if self._outcome is not None:
            return False
        self._abandon(StatusCode.CANCELLED, CANCELLED_DETAILS, locally_cancelled=True)
        return True

    def cancelled(self) -> bool:
        return self._outcome is not None and self._outcome.code == StatusCode.CANCELLED

    def done(self) -> bool:
        return self._outcome is not None

    def time_remaining(self) -> float | None:
        return self._remaining()

    def add_done_callback(self, callback: Callable[[Call], None]) -> None:
        if self._outcome is not None:
            self._loop.call_soon(callback, self)
        else:
            self._callbacks.append(callback)

    async def initial_metadata(self) -> tuple:
        """The server's response-header metadata (empty for a Trailers-Only answer)."""
        return await asyncio.shield(self._headers)

    async def trailing_metadata(self) -> tuple:
        return (await self._wait_done()).trailing_metadata

    async def code(self) -> StatusCode:
        return (await self._wait_done()).code

    async def details(self) -> str:
        return (await self._wait_done()).details

    async def _wait_done(self) -> _Outcome:
        """How the call ended, once it has (unary responses: the call's task reads them)."""
        return await asyncio.shield(self._done)

    async def wait_for_connection(self) -> None:
        """Wait until the call's stream is open (or the call has ended)."""
        await self._opened.wait()

    async def _stream_ready(self) -> ClientStream:
        """The open stream of a call that opens it in a task (``_opening``)."""
        if self._stream is not None and self._opening.done():
            return self._stream          # open: no need to wait on the opening task
        try:
            return await asyncio.shield(self._opening)
        except asyncio.CancelledError:
            if self._outcome is not None:
                raise self._error() from None
            raise

    def _start(self, coroutine: Any) -> asyncio.Task:
        task = self._loop.create_task(coroutine)
        self._tasks.append(task)
        task.add_done_callback(_consume_exception)
        return task


def _consume_exception(task: asyncio.Task) -> None:
    """Exceptions of our tasks reach the caller another way; don't log them twice."""
    if not task.cancelled():
        task.exception()


# --- request streams ------------------------------------------------------------------


class _RequestStreamMixin:
    """``write``/``done_writing``, or a request iterator sent by a task of the call's own."""

    def _start_requests(self, request_iterator: Iterable | AsyncIterable | None) -> None:
        self._opening = self._start(self._open())
        self._writer = None if request_iterator is None else self._start(
            _write_all(self, request_iterator))

    async def write(self, request: Any) -> None:
        """Send one request message (waits while the server's window is full)."""
        await self._stream_ready()
        self._raise_if_failed()
        await self._send(self._serialize_request(request))

    async def done_writing(self) -> None:
        """Half-close: no more requests."""
        stream = await self._stream_ready()
        stream.end()


async def _write_all(call: Any, requests: Iterable | AsyncIterable) -> None:
    """Send every request of an iterator, then half-close."""
    try:
        if hasattr(requests, "__aiter__"):
            async for request in requests:
                await call.write(request)
        else:
            for request in requests:
                await call.write(request)
        await call.done_writing()
    except (RpcError, asyncio.CancelledError):
        raise
    except Exception as error:   # the application's iterator failed: the call cannot go on
        logger.exception("request iterator raised")
        call._abandon(StatusCode.CANCELLED, f"request iterator raised {type(error).__name__}")


# --- unary responses ------------------------------------------------------------------


class _UnaryResponseMixin:
    async def _unary_response(self) -> Any:
        """Exactly one response message, then the trailers."""
        async with self._receive_lock:
            response = await self._read_message(collect=False)
            if response is EOF:
                if self._outcome is None:
                    await self._collect_outcome(missing_response=True)
                raise self._error()
            extra = await self._read_message()
            if extra is not EOF:
                self._abandon(StatusCode.UNIMPLEMENTED, EXTRA_RESPONSE_DETAILS)
            self._raise_if_failed()
            return response

    async def _await_task(self) -> Any:
        # Awaited directly, not through asyncio.shield (one loop turn less per
        # call): a caller cancelled while waiting cancels the call's task too,
        # and the task then cancels the call (_cancel_on_exit), as grpc.aio does.
        try:
            return await self._task
        except asyncio.CancelledError:
            if self._outcome is not None and not self._outcome.locally_cancelled \
                    and self._task.cancelled():
                raise self._error() from None
            raise

    def __await__(self):
        return self._await_task().__await__()

    @contextlib.asynccontextmanager
    async def _cancel_on_exit(self):
        """The call's task was cancelled from outside (its awaiter was): cancel the call."""
        try:
            yield
        except asyncio.CancelledError:
            if self._outcome is None:
                self._abandon(StatusCode.CANCELLED, CANCELLED_DETAILS, locally_cancelled=True)
            raise


class UnaryUnaryCall(_UnaryResponseMixin, Call):
    """One request, one response: ``response = await call``.

    The call starts when it is made, as in grpc.aio. Most calls are awaited
    in the very turn that makes them (``await stub.Method(request)``): such a
    call runs in the awaiting task itself rather than in a task of its own,
    which spares two turns of the event loop per call (starting the task, and
    waking the awaiter when it ends). A call nobody awaits by the next turn
    gets its own task and runs anyway. Cancelling, or a passing deadline, stops
    an inline call by cancelling the awaiting task, which then ends with the
    call's status (see ``_run_inline``).
    """

    def __init__(self, channel, details, serializer, deserializer, request: Any) -> None:
        super().__init__(channel, details, serializer, deserializer)
        self._request = request
        self._task: asyncio.Task | None = None
        self._inline: asyncio.Task | None = None     # the awaiting task, while it runs the call
        self._inline_started = False
        self._stopping_inline = False                # we cancelled the awaiting task
        self._response: Any = None
        self._loop.call_soon(self._start_unawaited)

    def _start_unawaited(self) -> None:
        if self._task is None and not self._inline_started:
            self._task = self._start(self._run(self._request))

    def __await__(self):
        if self._task is None and not self._inline_started:
            return self._run_inline().__await__()
        if self._task is None:
            return self._awaited_again().__await__()
        return self._await_task().__await__()

    async def _run_inline(self) -> Any:
        self._inline_started = True
        task = self._inline = asyncio.current_task()
        try:
            self._response = await self._run(self._request)
            return self._response
        except asyncio.CancelledError:
            if not self._stopping_inline:
                raise                           # the caller was cancelled: _run cancelled the call
            self._stopping_inline = False
            if task.uncancel() > 0:
                raise                           # and someone else cancels the caller too
            raise self._error() from None
        finally:
            self._inline = None

    async def _awaited_again(self) -> Any:
        """A second await of a call that ran inline: its outcome again."""
        await self._wait_done()
        self._raise_if_failed()
        return self._response

    def _stop_inline(self, current: asyncio.Task | None) -> None:
        inline = self._inline
        if inline is not None and inline is not current and not self._stopping_inline:
            self._stopping_inline = True
            inline.cancel()

    async def _run(self, request: Any) -> Any:
        async with self._cancel_on_exit():
            await self._open(first_message=self._serialize_request(request))
            return await self._unary_response()


class StreamUnaryCall(_RequestStreamMixin, _UnaryResponseMixin, Call):
    """A request stream, one response: ``write``/``done_writing``, then ``await call``."""

    def __init__(self, channel, details, serializer, deserializer,
                 request_iterator: Iterable | AsyncIterable | None) -> None:
        super().__init__(channel, details, serializer, deserializer)
        self._start_requests(request_iterator)
        self._task = self._start(self._run())

    async def _run(self) -> Any:
        async with self._cancel_on_exit():
            await self._opening
            return await self._unary_response()


# --- streamed responses -----------------------------------------------------------------


class _StreamResponseMixin:
    async def read(self) -> Any:
        """The next response message, or ``rpc.EOF`` after the last one."""
        if self._outcome is not None and self._stream is None:
            raise self._error()
        await self._stream_ready()
        async with self._receive_lock:
            if self._unread and not self._ended_here():
                return self._unread.popleft()
            if self._outcome is not None and self._outcome.code != StatusCode.OK:
                raise self._error()
            response = await self._read_message()
        if response is EOF:
            self._raise_if_failed()
        return response

    async def initial_metadata(self) -> tuple:
        """The server's response-header metadata (empty for a Trailers-Only answer).

        Nobody may be reading the responses yet: then the headers are read here.
        """
        if not self._headers.done():
            try:
                await self._stream_ready()
            except (RpcError, asyncio.CancelledError):
                if self._outcome is None:
                    raise
            if not self._headers.done() and not self._receive_lock.locked():
                async with self._receive_lock:
                    if not self._headers.done():
                        head = await self._stream.receive_headers()
                        self._set_headers(head.metadata if head is not None else ())
        return await asyncio.shield(self._headers)

    async def _wait_done(self) -> _Outcome:
        """How the call ended. Nobody may be reading the responses: read them
        here, keeping them for ``read()``, until the trailers come."""
        if self._outcome is None:
            try:
                await self._stream_ready()
            except (RpcError, asyncio.CancelledError):
                if self._outcome is None:
                    raise
        while self._outcome is None:
            async with self._receive_lock:
                if self._outcome is None:
                    response = await self._read_message()
                    if response is not EOF:
                        self._unread.append(response)
        return await asyncio.shield(self._done)

    def __aiter__(self):
        return self

    async def __anext__(self) -> Any:
        response = await self.read()
        if response is EOF:
            raise StopAsyncIteration
        return response



class UnaryStreamCall(_StreamResponseMixin, Call):
    """One request, a stream of responses: ``async for response in call``."""

    def __init__(self, channel, details, serializer, deserializer, request: Any) -> None:
        super().__init__(channel, details, serializer, deserializer)
        self._opening = self._start(self._open(first_message=self._serialize_request(request)))


class StreamStreamCall(_RequestStreamMixin, _StreamResponseMixin, Call):
    """Both streams: ``write``/``done_writing`` and ``read``/``async for``, independently."""

    def __init__(self, channel, details, serializer, deserializer,
                 request_iterator: Iterable | AsyncIterable | None) -> None:
        super().__init__(channel, details, serializer, deserializer)
        self._start_requests(request_iterator)
