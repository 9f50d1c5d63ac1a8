"""Retries: one call, as many attempts as the retry policy allows.

Spec: the gRPC retry design, gRFC A6
(https://github.com/grpc/proposal/blob/master/A6-client-retries.md):

- a call may be retried until it is *committed*: once the server has sent
  response headers (or a message), what it said stands, whatever its status;
- an attempt that ends Trailers-Only with a code of the policy's
  ``retryableStatusCodes`` is retried after
  ``random(0, min(initialBackoff * backoffMultiplier**(n-1), maxBackoff))``,
  up to ``maxAttempts`` attempts in all; the server may ask for a delay of
  its own with ``grpc-retry-pushback-ms`` (or for none at all: a negative or
  malformed value);
- an attempt the server never processed (refused by GOAWAY, RST_STREAM
  REFUSED_STREAM) is retried at once, whatever the policy: a "transparent"
  retry. One that never left the client is retried by the call itself (see
  rpc.call);
- every attempt after the first carries ``grpc-previous-rpc-attempts``;
- the request messages sent so far are kept to be sent again, up to a buffer
  limit (256 KiB by default); past it, the call commits.

``RetryingStream`` looks like one transport ClientStream to the call that uses
it. When the call commits, it hands the call the attempt's own stream
(``on_commit``), so a committed call runs at full speed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from transport.driver import ClientStream, StreamTerminated, unprocessed
from transport.metadata import RETRY_PUSHBACK_MS

from .service_config import RetryPolicy, RetryThrottle

__all__ = ["RetryingStream", "PREVIOUS_ATTEMPTS_KEY", "PUSHBACK_KEY", "DEFAULT_BUFFER_LIMIT"]

PREVIOUS_ATTEMPTS_KEY = "grpc-previous-rpc-attempts"
PUSHBACK_KEY = RETRY_PUSHBACK_MS
DEFAULT_BUFFER_LIMIT = 256 * 1024      # A6's default per-call buffer
TRANSPARENT_RETRIES = 1                 # A6: a refused call is retried transparently once


class RetryingStream:
    """The stream of a call that may still be retried (see the module docstring)."""

    def __init__(self, first: ClientStream, start_attempt: Callable[[int], Awaitable[ClientStream]],
                 on_commit: Callable[[ClientStream], None], policy: RetryPolicy | None,
                 throttle: RetryThrottle | None, buffer_limit: int = DEFAULT_BUFFER_LIMIT) -> None:
        self._attempt = first
        self._start_attempt = start_attempt      # previous attempts -> a new attempt's stream
        self._on_commit = on_commit
        self._policy = policy
        self._throttle = throttle
        self._buffer_limit = buffer_limit
        self._buffer: list[tuple[bytes, bool]] = []
        self._buffered = 0
        self._ended = False
        self._committed = False
        self._reset = False
        # Made only when a retry happens: most calls never need them.
        self._interrupt: asyncio.Event | None = None    # wakes a backoff wait when reset
        self._switching: asyncio.Lock | None = None     # one task switches attempts at a time
        self.attempts = 1                 # attempts started, transparent ones included
        self._policy_attempts = 1         # attempts that count against maxAttempts
        self._transparent_left = TRANSPARENT_RETRIES

    # --- what the call sees ---

    @property
    def last_message_compressed(self) -> bool | None:
        return self._attempt.last_message_compressed

    async def send_message(self, message: bytes, *, compress: bool = True, end: bool = False) -> None:
        if self._committed:
            await self._attempt.send_message(message, compress=compress, end=end)
            return
        self._buffer.append((message, compress))
        self._buffered += len(message)
        if end:
            self._ended = True
        if self._buffered > self._buffer_limit:
            self._commit()
        while True:
            attempt = self._attempt
            try:
                await attempt.send_message(message, compress=compress, end=end)
                return
            except StreamTerminated:
                if self._committed or not await self._after_failure(attempt):
                    raise
                return        # the new attempt was sent the whole buffer, this message included

    def end(self) -> None:
        self._ended = True
        self._attempt.end()

    def reset(self) -> None:
        self._reset = True
        if self._interrupt is not None:
            self._interrupt.set()
        self._attempt.reset()

    async def receive_headers(self) -> Any:
        while True:
            attempt = self._attempt
            head = await attempt.receive_headers()
            if head is not None:
                self._commit()
                return head
            if self._committed or not await self._after_failure(attempt):
                self._commit()
                return None

    async def receive_message(self) -> bytes | None:
        if not self._committed and await self.receive_headers() is None:
            return None
        return await self._attempt.receive_message()

    async def receive_trailers(self) -> Any:
        if not self._committed:
            await self.receive_headers()
        return await self._attempt.receive_trailers()

    # --- retrying ---

    def _commit(self) -> None:
        if not self._committed:
            self._committed = True
            self._buffer = []
            self._on_commit(self._attempt)

    async def _after_failure(self, failed: ClientStream) -> bool:
        """``failed`` ended before the call committed: retry if allowed.

        True when a newer attempt now carries the call (started here, or by
        another task of the call that saw the failure first).
        """
        if self._switching is None:
            self._switching, self._interrupt = asyncio.Lock(), asyncio.Event()
        async with self._switching:
            if self._attempt is not failed:
                return not self._committed
            while True:
                delay = await self._retry_delay(failed)
                if delay is None:
                    return False
                if delay > 0:
                    try:
                        await asyncio.wait_for(self._interrupt.wait(), delay)
                    except asyncio.TimeoutError:
                        pass
                if self._reset:
                    return False
                attempt = await self._start_attempt(self.attempts)
                self.attempts += 1
                if await self._replay(attempt):
                    self._attempt = attempt
                    return True
                failed = attempt          # it failed while we sent it the buffer

    async def _replay(self, attempt: ClientStream) -> bool:
        index = 0
        try:
            while index < len(self._buffer):         # messages written meanwhile go too
                message, compress = self._buffer[index]
                index += 1
                last = self._ended and index == len(self._buffer)
                await attempt.send_message(message, compress=compress, end=last)
            if self._ended and not self._buffer:
                attempt.end()
        except StreamTerminated:
            return False
        return True

    async def _retry_delay(self, failed: ClientStream) -> float | None:
        """Seconds to wait before the next attempt, or None for no retry."""
        if self._reset or self._committed:
            return None
        trailers = await failed.receive_trailers()
        if unprocessed(failed.terminal) and self._transparent_left > 0:
            self._transparent_left -= 1
            return 0.0
        policy = self._policy
        if policy is None or trailers.status not in policy.retryable_status_codes:
            return None
        throttle = self._throttle
        if throttle is not None:
            throttle.failed()
            if not throttle.allows_retry():
                return None
        if self._policy_attempts >= policy.max_attempts:
            return None
        pushback = dict(trailers.metadata).get(PUSHBACK_KEY)
        if pushback is not None:
            if not (isinstance(pushback, str) and pushback.isdigit()):
                return None                     # the server asked for no retry
            delay = int(pushback) / 1000
        else:
            delay = policy.backoff(self._policy_attempts)
        self._policy_attempts += 1
        return delay
