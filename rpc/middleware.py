"""Server middleware: recovery, rate limiting, request validation and a call log.

Specs: doc/statuscodes.md (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md)
for the code each one answers with:

    a handler raised                         UNKNOWN (or INTERNAL), details say nothing
                                             of the error; the traceback goes to the log
    over the rate limit                      RESOURCE_EXHAUSTED ("Some resource has been
                                             exhausted, perhaps a per-user quota")
    a request a validator turns down         INVALID_ARGUMENT ("the client specified an
                                             invalid argument")

Each middleware is an ``rpc.ServerInterceptor`` and they compose like any
interceptors: the first in the list is the outermost. The order this module
is written for:

    server = rpc.Server(interceptors=[
        CallLogInterceptor(),                      1 sees every call, refused ones too
        RecoveryInterceptor(),                     2 catches what anything inside raises
        rpc.AuthInterceptor(...),                  3 who is calling (UNAUTHENTICATED,
                                                     PERMISSION_DENIED)
        RateLimitInterceptor(rate=100, burst=20),  4 only callers auth let in use tokens
        ValidationInterceptor({...}),              5 looks at each request message
    ])                                             then the handler

Why this order: the log goes first so that its line has the final code of
every call, whatever refused it; recovery next, so that a bug in auth, the
limiter, a validator or the handler still ends as a clean status; auth
before the limiter, so that strangers cannot spend the callers' tokens;
validation last, nearest to the handler whose requests it checks.

All the work happens when the call runs, inside the wrapped ``behaviour``,
never in ``intercept_service`` itself: ``rpc.AuthInterceptor`` asks its
continuation for the handler *before* it checks credentials, so a limiter
that took its token in ``intercept_service`` would charge refused calls.
Working in the behaviour, each middleware runs in list order when the call
starts, and a refusal (auth's, the limiter's) means nothing inside it runs.

Streams: validators see every message of a request stream, as the handler
takes it (from its ``request_iterator`` or from ``context.read()``); the
call log counts messages both ways, yielded or written with ``context.write()``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import inspect
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping

from transport.driver import StreamTerminated
from transport.errors import ProtocolError

from .context import AbortError
from .interceptors import ServerInterceptor
from .service import Cardinality, MethodHandler
from .status import StatusCode

__all__ = [
    "CallLogInterceptor",
    "RecoveryInterceptor",
    "RateLimitInterceptor",
    "TokenBucket",
    "ValidationInterceptor",
    "ValidationError",
    "CallRecord",
    "wrap_handler",
    "CALL_ENDINGS",
    "most_specific",
    "rejection",
    "ContextView",
    "streamed_responses",
    "final_code",
]

RECOVERY_CODES = (StatusCode.UNKNOWN, StatusCode.INTERNAL)   # statuscodes.md: server bugs
RECOVERY_DETAILS = "Internal server error"
RATE_LIMIT_DETAILS = "rate limit exceeded"
INVALID_REQUEST_DETAILS = "invalid request"

# Exceptions that are how a call ends, not bugs: context.abort(), the
# server's own failures (a request that does not parse) and the transport's.
CALL_ENDINGS: tuple[type[BaseException], ...] = (AbortError, ProtocolError, StreamTerminated)


# --- the shape every middleware shares -----------------------------------------------


Guard = Callable[[Any], contextlib.AbstractAsyncContextManager]


def wrap_handler(handler: MethodHandler, guard: Guard) -> MethodHandler:
    """``handler`` with every call run inside ``async with guard(context)``.

    ``guard`` sees the context the server made (or the one an outer
    middleware passes in) and may yield a different one for the handler.
    """
    behaviour = handler.behaviour
    if handler.cardinality.server_streaming:
        async def guarded_stream(request, context):
            async with guard(context) as inner:
                async for response in streamed_responses(behaviour(request, inner)):
                    yield response
        return dataclasses.replace(handler, behaviour=guarded_stream)

    async def guarded(request, context):
        async with guard(context) as inner:
            return await behaviour(request, inner)
    return dataclasses.replace(handler, behaviour=guarded)


async def streamed_responses(result: Any) -> AsyncIterator[Any]:
    """What a streaming behaviour yields; nothing if it is a coroutine (it writes itself)."""
    if hasattr(result, "__aiter__"):
        async with contextlib.aclosing(result):
            async for response in result:
                yield response
    else:
        await result


class ContextView:
    """A ServicerContext seen through a middleware: ``read`` and ``write`` pass
    through ``on_read``/``on_write``; everything else (attributes set too,
    such as auth's ``principal``) is the real context's."""

    def __init__(self, context: Any, *, on_read: Callable[[Any], Awaitable[Any]] | None = None,
                 on_write: Callable[[Any], None] | None = None) -> None:
        object.__setattr__(self, "_context", context)
        object.__setattr__(self, "_on_read", on_read)
        object.__setattr__(self, "_on_write", on_write)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._context, name, value)

    async def read(self) -> Any:
        message = await self._context.read()
        if message is not None and self._on_read is not None:
            await self._on_read(message)
        return message

    async def write(self, message: Any) -> None:
        if self._on_write is not None:
            self._on_write(message)
        await self._context.write(message)


# --- recovery --------------------------------------------------------------------------------


class RecoveryInterceptor(ServerInterceptor):
    """A crash anywhere inside becomes ``code`` (UNKNOWN or INTERNAL) with bland details.

    The exception and its traceback go to ``logger`` (``logging.exception``);
    the client learns only ``details``, never the exception's text.
    ``context.abort()`` and failures of the call itself pass through untouched.
    """

    def __init__(self, code: StatusCode = StatusCode.UNKNOWN, *,
                 details: str = RECOVERY_DETAILS, logger: logging.Logger | None = None) -> None:
        if StatusCode(code) not in RECOVERY_CODES:
            raise ValueError(f"recovery answers UNKNOWN or INTERNAL, not {StatusCode(code).name}")
        self.code = StatusCode(code)
        self.details = details
        self.logger = logger or logging.getLogger("rpc.middleware.recovery")

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        try:
            handler = await continuation(handler_call_details)
        except Exception:            # an inner interceptor crashed while choosing
            self.logger.exception("interceptor failed for %s", method)
            return self._failing(method)
        if handler is None:
            return None
        return wrap_handler(handler, lambda context: self._recovering(method, context))

    @contextlib.asynccontextmanager
    async def _recovering(self, method: str, context: Any):
        try:
            yield context
        except CALL_ENDINGS:
            raise
        except Exception:
            self.logger.exception("handler for %s raised", method)
            await context.abort(self.code, self.details)

    def _failing(self, method: str) -> MethodHandler:
        """A handler for any cardinality that ends the call with our status, unread."""
        async def fail(request, context):
            await context.abort(self.code, self.details)
        return MethodHandler(method, Cardinality.STREAM_STREAM, fail)


# --- rate limiting ---------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; a call takes one.

    The clock is a parameter (``time.monotonic`` by default) so that tests
    and notebooks can step time by hand.
    """

    def __init__(self, rate: float, burst: float | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def take(self) -> bool:
        """Take a token if there is one."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return max(0.0, (1 - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = now


class RateLimitInterceptor(ServerInterceptor):
    """Calls over the limit end RESOURCE_EXHAUSTED before the handler runs.

    ``rate``/``burst`` is the default limit, one bucket shared by every
    method (``per_method=False``) or one bucket per method; ``rate=None``
    leaves methods no pattern names unlimited. ``limits`` gives patterns
    (``fnmatch``, the most specific match wins) their own ``(rate, burst)``,
    one bucket per pattern. Methods matching ``exempt`` are never limited
    (health checks, say).
    """

    def __init__(self, rate: float | None = None, burst: float | None = None, *,
                 per_method: bool = False,
                 limits: Mapping[str, tuple[float, float | None]] | None = None,
                 exempt: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst = rate, burst
        self._per_method = per_method
        self._limits = dict(limits or {})
        self._exempt = list(exempt)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def bucket_for(self, method: str) -> TokenBucket | None:
        """The bucket a call of ``method`` draws from (None: unlimited)."""
        if any(fnmatch.fnmatchcase(method, pattern) for pattern in self._exempt):
            return None
        pattern = most_specific(method, self._limits)
        if pattern is not None:
            return self._bucket(f"pattern:{pattern}", *self._limits[pattern])
        if self._rate is None:
            return None
        key = f"method:{method}" if self._per_method else "global"
        return self._bucket(key, self._rate, self._burst)

    def _bucket(self, key: str, rate: float, burst: float | None) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, burst, clock=self._clock)
        return bucket

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler.path
        return wrap_handler(handler, lambda context: self._limiting(method, context))

    @contextlib.asynccontextmanager
    async def _limiting(self, method: str, context: Any):
        bucket = self.bucket_for(method)
        if bucket is not None and not bucket.take():
            await context.abort(StatusCode.RESOURCE_EXHAUSTED,
                                f"{RATE_LIMIT_DETAILS} for {method}: "
                                f"retry in {bucket.retry_after():.3f} s")
        yield context


def most_specific(method: str, patterns: Iterable[str]) -> str | None:
    """The pattern naming ``method`` itself, else the longest that matches it."""
    patterns = list(patterns)
    if method in patterns:
        return method
    matching = [p for p in patterns if fnmatch.fnmatchcase(method, p)]
    return max(matching, key=len) if matching else None


# --- request validation ----------------------------------------------------------------------


class ValidationError(ValueError):
    """Raised by a validator to turn a request down; its text is the reason."""


Validator = Callable[[Any], Any]


class ValidationInterceptor(ServerInterceptor):
    """Runs validators on request messages; a reason ends the call INVALID_ARGUMENT.

    ``validators`` maps method paths or ``fnmatch`` patterns to a callable
    (or a list of them); every entry that matches a method applies, in the
    order given. A validator gets one request message and may be async. It
    accepts the message by returning None or True; it turns it down by
    returning a reason (a string), returning False, or raising ValueError
    (``ValidationError`` is one) with the reason as its text. Any other
    exception is a bug in the validator, and propagates (to a
    RecoveryInterceptor, if there is one). For a request stream, each
    message is checked as the handler takes it; the reason names its number.
    """

    def __init__(self, validators: Mapping[str, Validator | Iterable[Validator]]) -> None:
        self._validators = {pattern: _as_list(v) for pattern, v in validators.items()}

    def validators_for(self, method: str) -> list[Validator]:
        found = []
        for pattern, validators in self._validators.items():
            if pattern == method or fnmatch.fnmatchcase(method, pattern):
                found.extend(validators)
        return found

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        validators = self.validators_for(handler.path)
        if not validators:
            return handler
        return _validated(handler, validators)


def _as_list(validators: Validator | Iterable[Validator]) -> list[Validator]:
    return [validators] if callable(validators) else list(validators)


async def rejection(validators: list[Validator], message: Any) -> str | None:
    """Why the first validator to turn ``message`` down did so, or None if all accept it."""
    for validator in validators:
        try:
            verdict = validator(message)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except ValueError as error:
            return str(error) or INVALID_REQUEST_DETAILS
        if verdict is False:
            return INVALID_REQUEST_DETAILS
        if isinstance(verdict, str):
            return verdict or INVALID_REQUEST_DETAILS
    return None


def _validated(handler: MethodHandler, validators: list[Validator]) -> MethodHandler:
    behaviour = handler.behaviour
    client_streaming = handler.cardinality.client_streaming

    async def check(message: Any, context: Any, number: int | None) -> None:
        reason = await rejection(validators, message)
        if reason is not None:
            where = f"request message #{number}: " if number is not None else ""
            await context.abort(StatusCode.INVALID_ARGUMENT, where + reason)

    async def checked_requests(requests: AsyncIterator[Any], context: Any, counter: list[int]):
        async for message in requests:
            counter[0] += 1
            await check(message, context, counter[0])
            yield message

    def validated(request, context):
        if not client_streaming:
            return _unary_checked(behaviour, handler.cardinality, request, context, check)
        counter = [0]
        view = ContextView(context, on_read=lambda m: _read_checked(m, context, counter, check))
        return behaviour(checked_requests(request, context, counter), view)

    return dataclasses.replace(handler, behaviour=validated)


async def _read_checked(message: Any, context: Any, counter: list[int], check: Callable) -> None:
    counter[0] += 1
    await check(message, context, counter[0])


def _unary_checked(behaviour: Callable, cardinality: Cardinality, request: Any, context: Any,
                   check: Callable) -> Any:
    """Check the one request first, then run the behaviour (a coroutine or a generator)."""
    if cardinality.server_streaming:
        async def stream():
            await check(request, context, None)
            async for response in streamed_responses(behaviour(request, context)):
                yield response
        return stream()

    async def single():
        await check(request, context, None)
        return await behaviour(request, context)
    return single()


# --- the call log ----------------------------------------------------------------------------


@dataclasses.dataclass
class CallRecord:
    """What the call log says about one call (also passed to ``logging`` as ``extra``)."""

    method: str
    peer: str
    code: str = "OK"
    duration_ms: float = 0.0
    requests: int = 0
    responses: int = 0

    def line(self) -> str:
        return (f"method={self.method} peer={self.peer} code={self.code} "
                f"duration_ms={self.duration_ms:.1f} "
                f"requests={self.requests} responses={self.responses}")


class CallLogInterceptor(ServerInterceptor):
    """One structured line per call, at INFO on ``logger`` ("rpc.calls" by default):

        method=/pkg.Svc/Method peer=ipv4:127.0.0.1:50312 code=OK duration_ms=1.3 requests=1 responses=1

    The record also travels as ``extra={"rpc_call": CallRecord}``, for a
    JSON log formatter. Calls ending other than OK log at ``failure_level``.
    """

    def __init__(self, logger: logging.Logger | None = None, *,
                 level: int = logging.INFO, failure_level: int = logging.INFO) -> None:
        self.logger = logger or logging.getLogger("rpc.calls")
        self.level = level
        self.failure_level = failure_level

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        return dataclasses.replace(handler, behaviour=self._logged(handler))

    def _logged(self, handler: MethodHandler) -> Callable[..., Any]:
        behaviour, cardinality = handler.behaviour, handler.cardinality

        if cardinality.server_streaming:
            async def logged_stream(request, context):
                record = CallRecord(handler.path, context.peer())
                async with self._recording(record, context, cardinality) as view:
                    requests = _counted(request, record) if cardinality.client_streaming else request
                    async for response in streamed_responses(behaviour(requests, view)):
                        record.responses += 1
                        yield response
            return logged_stream

        async def logged(request, context):
            record = CallRecord(handler.path, context.peer())
            async with self._recording(record, context, cardinality) as view:
                requests = _counted(request, record) if cardinality.client_streaming else request
                response = await behaviour(requests, view)
                if response is not None and context.code() in (None, StatusCode.OK):
                    record.responses += 1
                return response
        return logged

    @contextlib.asynccontextmanager
    async def _recording(self, record: CallRecord, context: Any, cardinality: Cardinality):
        """Time the call, count what goes through ``context``, and log it at the end."""
        if not cardinality.client_streaming:
            record.requests = 1
        started = time.perf_counter()

        async def on_read(message: Any) -> None:
            record.requests += 1

        def on_write(message: Any) -> None:
            record.responses += 1
        error: BaseException | None = None
        try:
            yield ContextView(context, on_read=on_read, on_write=on_write)
        except BaseException as raised:
            error = raised
            raise
        finally:
            record.code = final_code(context, error)
            record.duration_ms = (time.perf_counter() - started) * 1e3
            self._log(record)

    def _log(self, record: CallRecord) -> None:
        level = self.level if record.code == "OK" else self.failure_level
        self.logger.log(level, "rpc call %s", record.line(), extra={"rpc_call": record})


async def _counted(requests: AsyncIterator[Any], record: CallRecord) -> AsyncIterator[Any]:
    async for message in requests:
        record.requests += 1
        yield message


def final_code(context: Any, error: BaseException | None) -> str:
    """The code the server is about to send, as the log says it."""
    if isinstance(error, (AbortError, type(None))):
        code = context.code()
        return code.name if code is not None else "OK"
    if isinstance(error, StreamTerminated):
        return StatusCode.CANCELLED.name
    if isinstance(error, ProtocolError):
        return getattr(error, "status", StatusCode.INTERNAL).name
    if isinstance(error, BaseException) and not isinstance(error, Exception):
        expired = getattr(context, "deadline_expired", False)
        return (StatusCode.DEADLINE_EXCEEDED if expired else StatusCode.CANCELLED).name
    return StatusCode.UNKNOWN.name     # the server's answer to an exception it catches
