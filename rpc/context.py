"""The server side of one call, as a handler sees it: the ServicerContext.

Spec: doc/PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
for what each method puts on the wire (initial metadata in the response
headers, trailing metadata and the status in the trailers), and
doc/statuscodes.md for the codes.

The methods carry grpc.aio's names, so a handler written for one runs on the
other: ``invocation_metadata()``, ``send_initial_metadata()``,
``set_trailing_metadata()``, ``abort()``, ``set_code()``, ``set_details()``,
``time_remaining()``, ``cancelled()``, ``peer()``, ``set_compression()``,
``add_done_callback()``, and ``read()``/``write()`` for streams.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Sequence

from transport.driver import ServerStream
from transport.status import StatusCode
from transport.tls import peer_identity

__all__ = ["ServicerContext", "AbortError"]

logger = logging.getLogger(__name__)

# Trailing metadata with this key is the rich status (google.rpc.Status); the
# transport sends it as the grpc-status-details-bin trailer, not as metadata.
STATUS_DETAILS_KEY = "grpc-status-details-bin"


class AbortError(Exception):
    """Raised by ``context.abort()`` to end the handler; the server catches it."""


class ServicerContext:
    """Everything a handler can ask or say about its call."""

    def __init__(self, stream: ServerStream, *, deadline: float | None,
                 compression: str | None, response_serializer: Callable[[Any], bytes] | None,
                 request_deserializer: Callable[[bytes], Any] | None) -> None:
        self._stream = stream
        self._deadline = deadline            # loop.time() at which the call expires
        self._compression = compression
        self._serialize = response_serializer
        self._deserialize = request_deserializer
        self._code: StatusCode | None = None
        self._details: str | None = None
        self._trailing_metadata: tuple = ()
        self._headers_sent = False
        self._compress_next = True
        self._done_callbacks: list[Callable[[ServicerContext], None]] = []
        self.deadline_expired = False
        self.principal: Any = None     # set by rpc.auth.AuthInterceptor

    # --- what the client sent ------------------------------------------------

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        """The client's custom metadata, in the order it arrived."""
        return self._stream.head.metadata

    def auth_context(self) -> dict[str, Any]:
        """Who the peer is: its TLS certificate's identity (transport.tls.peer_identity),
        and the ``principal`` an auth interceptor established, if any."""
        identity = peer_identity(self._stream.get_extra_info("ssl_object"))
        if self.principal is not None:
            identity["principal"] = self.principal
        return identity

    def request_compressed(self) -> bool | None:
        """Whether the request message taken last arrived compressed (None before any)."""
        return self._stream.last_message_compressed

    def method(self) -> str:
        """The :path of the call, "/package.Service/Method"."""
        return self._stream.head.path

    def peer(self) -> str:
        """The client's address, spelled as gRPC spells it: "ipv4:127.0.0.1:5000"."""
        peer = self._stream.peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            host, port = peer[0], peer[1]
            return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"
        return f"unix:{peer}" if peer else "unknown"

    def time_remaining(self) -> float | None:
        """Seconds until the deadline (never negative), or None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def cancelled(self) -> bool:
        """Whether the call ended without this side's status: reset, lost, or expired."""
        return self._stream.cancelled or self.deadline_expired

    def done(self) -> bool:
        return self._stream.finished or self.cancelled()

    # --- what the server says ---------------------------------------------------

    async def send_initial_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        """Send the response headers now, with ``metadata``. Only once, before any message."""
        if self._headers_sent:
            raise RuntimeError("initial metadata was already sent")
        await self._send_headers(metadata)

    async def _send_headers(self, metadata: Sequence[tuple[str, str | bytes]] = ()) -> None:
        self._headers_sent = True
        await self._stream.send_headers(metadata=tuple(metadata), encoding=self._compression)

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        self._trailing_metadata = tuple(metadata)

    def trailing_metadata(self) -> tuple:
        return self._trailing_metadata

    def set_code(self, code: StatusCode) -> None:
        self._code = StatusCode(code)

    def code(self) -> StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:
        return self._details

    async def abort(self, code: StatusCode, details: str = "",
                    trailing_metadata: Sequence[tuple[str, str | bytes]] = ()) -> None:
        """End the call now with ``code`` and ``details``; never returns."""
        if StatusCode(code) == StatusCode.OK:
            raise ValueError("abort() needs a code other than OK")
        self._code = StatusCode(code)
        self._details = details
        if trailing_metadata:
            self._trailing_metadata = tuple(trailing_metadata)
        raise AbortError(f"{self._code.name}: {details}")

    def set_compression(self, compression: str | None) -> None:
        """Compress this call's responses ("gzip", "deflate"), if the client accepts it.

        Takes effect only before the response headers go out.
        """
        self._compression = compression

    def disable_next_message_compression(self) -> None:
        self._compress_next = False

    def add_done_callback(self, callback: Callable[[ServicerContext], None]) -> None:
        """Call ``callback(context)`` once the call is over, however it ended."""
        self._done_callbacks.append(callback)

    # --- streams --------------------------------------------------------------

    async def read(self) -> Any:
        """The next request message, or None once the client has half-closed."""
        data = await self._stream.receive_message()
        if data is None:
            return None
        return self._deserialize(data) if self._deserialize else data

    async def write(self, message: Any) -> None:
        """Send one response message (response headers first, if not sent yet)."""
        if not self._headers_sent:
            await self._send_headers()
        data = self._serialize(message) if self._serialize else message
        compress, self._compress_next = self._compress_next, True
        await self._stream.send_message(data, compress=compress)

    # --- the end ----------------------------------------------------------------

    def _status(self) -> tuple[StatusCode, str | None, tuple, bytes | None]:
        """(code, details, trailing metadata, status details) to end the call with."""
        metadata = []
        status_details = None
        for key, value in self._trailing_metadata:
            if key == STATUS_DETAILS_KEY:
                status_details = value
            else:
                metadata.append((key, value))
        return self._code or StatusCode.OK, self._details, tuple(metadata), status_details

    def _run_done_callbacks(self) -> None:
        callbacks, self._done_callbacks = self._done_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a callback's bug must not break the server
                logger.exception("done callback %r failed", callback)
