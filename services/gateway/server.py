"""The HTTP/1.1 side of the gateway: an asyncio server on h11, one task per connection.

Spec: RFC 9112 (HTTP/1.1: message framing, chunked transfer coding §7.1,
persistent connections §9.3) and RFC 9110 (Expect: 100-continue §10.1.1,
413 Content Too Large §15.5.14, 431 from RFC 6585 §5). h11
(https://h11.readthedocs.io/) does the parsing and keeps the state machine;
this module only moves bytes between it and a socket, in the sans-IO way:

    bytes from the socket -> conn.receive_data() -> conn.next_event() -> events
    events of ours        -> conn.send()         -> bytes to the socket

One connection serves its requests one after another (keep-alive), until the
client closes it, asks to (``Connection: close``), stays idle past
``Limits.idle_timeout``, or sends something we cannot read. Each request is
read whole, up to ``Limits.max_body_bytes``, before the handler sees it; the
handler (``Gateway.handle``) returns a response with a body, or a stream
sent chunked with its trailers (``Grpc-Trailer-*``) after the last chunk.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import h11

from rpc import StatusCode

from .errors import CLIENT_CLOSED_REQUEST, error_json
from .exchange import HttpRequest, HttpResponse

__all__ = ["Limits", "GatewayServer"]

logger = logging.getLogger(__name__)

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

READ_SIZE = 64 * 1024            # bytes asked of the socket at a time
CONTINUE = 100                   # RFC 9110 §15.2.1, the answer to "Expect: 100-continue"
CONTENT_TOO_LARGE = 413          # RFC 9110 §15.5.14
HEADERS_TOO_LARGE = 431          # RFC 6585 §5, Request Header Fields Too Large
HTTP_11 = b"1.1"                 # chunked coding, and so trailers, are HTTP/1.1 only
HEAD = "HEAD"                    # a HEAD response has headers and no body (RFC 9110 §9.3.2)
LINGER_SECONDS = 1.0             # RFC 9112 §9.6: after refusing, read (and drop) what is still coming
LINGER_BYTES = 1024 * 1024       # ... for at most this long, and at most this much
# Reason phrases http.HTTPStatus lacks (499) or names by an older RFC (413 in Python 3.11).
REASONS = {CONTINUE: "Continue", CONTENT_TOO_LARGE: "Content Too Large",
           CLIENT_CLOSED_REQUEST: "Client Closed Request"}


@dataclass(frozen=True)
class Limits:
    """What one client may make the gateway hold or wait for."""

    max_header_bytes: int = 16 * 1024          # request target + headers (h11's own default)
    max_body_bytes: int = 4 * 1024 * 1024      # gRPC's default receive limit, 4 MiB
    idle_timeout: float = 60.0                 # keep-alive: seconds between requests
    read_timeout: float = 30.0                 # seconds for the rest of a request once begun


class GatewayServer:
    """Serves ``handler`` (usually ``Gateway.handle``) over HTTP/1.1.

        server = GatewayServer(gateway.handle)
        port = await server.start("127.0.0.1", 0)
        ...
        await server.stop()
    """

    def __init__(self, handler: Handler, *, limits: Limits = Limits()) -> None:
        self.handler = handler
        self.limits = limits
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self, host: str | None = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (port 0: any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return self._server.sockets[0].getsockname()[1]

    @property
    def sockets(self) -> list:
        return list(self._server.sockets) if self._server is not None else []

    async def stop(self) -> None:
        """Stop listening and close every connection (requests in flight are dropped)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            await _Connection(self.handler, reader, writer, self.limits).run()
        finally:
            self._connections.discard(task)


class _Closed(Exception):
    """The connection is over: the peer left, timed out, or must not be read further."""


class _Connection:
    """One client connection: requests in, responses out, until it closes."""

    def __init__(self, handler: Handler, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, limits: Limits) -> None:
        self.handler = handler
        self.reader = reader
        self.writer = writer
        self.limits = limits
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        peer = writer.get_extra_info("peername")
        self.client_host = peer[0] if isinstance(peer, tuple) and peer else None
        self.linger = False      # we refused a request the client may still be sending

    async def run(self) -> None:
        try:
            await self._serve_requests()
        except h11.RemoteProtocolError as error:
            await self._refuse(error.error_status_hint, f"bad HTTP/1.1 request: {error}")
        except (_Closed, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            await self._close()

    async def _serve_requests(self) -> None:
        while True:
            request = await self._read_request()
            response = await self._respond_to(request)
            await self._send(response, head_only=request.method == HEAD)
            if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                return              # Connection: close, HTTP/1.0, or a body we did not read
            self.conn.start_next_cycle()

    async def _respond_to(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self.handler(request)
        except Exception as error:   # the handler should never raise; if it does, a 500
            logger.exception("handler failed on %s %s", request.method, request.target)
            return _error(500, StatusCode.INTERNAL, f"the gateway failed: {error}")

    # --- reading ------------------------------------------------------------------

    async def _read_request(self) -> HttpRequest:
        event = await self._next_event(self.limits.idle_timeout)
        if not isinstance(event, h11.Request):     # ConnectionClosed: the client is done
            raise _Closed()
        await self._check_sizes(event)
        if self.conn.they_are_waiting_for_100_continue:
            await self._write(self.conn.send(h11.InformationalResponse(
                status_code=CONTINUE, headers=[], reason=REASONS[CONTINUE])))
        body = await self._read_body()
        return HttpRequest(
            method=event.method.decode("ascii"),
            target=event.target.decode("ascii", "replace"),
            headers=tuple((name.decode("ascii"), value.decode("latin-1"))
                          for name, value in event.headers),
            body=body,
            client_host=self.client_host,
        )

    async def _check_sizes(self, request: h11.Request) -> None:
        """Refuse headers or a declared body over the limits, before reading any body.

        h11's max_incomplete_event_size only bounds what it buffers while a
        head is incomplete; a head that arrives whole in one read is measured here.
        """
        head_size = len(request.target) + sum(len(name) + len(value) for name, value in request.headers)
        if head_size > self.limits.max_header_bytes:
            await self._refuse(HEADERS_TOO_LARGE, f"the request's headers ({head_size} bytes) are "
                                                  f"over the limit of {self.limits.max_header_bytes}")
            raise _Closed()
        for name, value in request.headers:
            if name == b"content-length" and int(value) > self.limits.max_body_bytes:
                await self._refuse(CONTENT_TOO_LARGE, f"the request body ({int(value)} bytes) is "
                                                      f"over the limit of {self.limits.max_body_bytes} bytes")
                raise _Closed()

    async def _read_body(self) -> bytes:
        body = bytearray()
        while True:
            event = await self._next_event(self.limits.read_timeout)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.limits.max_body_bytes:   # chunked: no length said up front
                    await self._refuse(CONTENT_TOO_LARGE, f"the request body is over the limit "
                                                          f"of {self.limits.max_body_bytes} bytes")
                    raise _Closed()
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:                      # ConnectionClosed in the middle of a body
                raise _Closed()

    async def _next_event(self, timeout: float) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
            except asyncio.TimeoutError:
                raise _Closed() from None
            self.conn.receive_data(data)      # b"" is the end of the stream, as h11 wants it

    # --- writing --------------------------------------------------------------------

    async def _send(self, response: HttpResponse, *, head_only: bool = False) -> None:
        headers = list(response.headers)
        if response.stream is None:
            headers.append(("Content-Length", str(len(response.body))))
        await self._write(self.conn.send(h11.Response(
            status_code=response.status, headers=headers, reason=_reason(response.status))))
        if head_only:
            if response.stream is not None:
                response.stream.cancel()
            await self._write(self.conn.send(h11.EndOfMessage()))
        elif response.stream is None:
            if response.body:
                await self._write(self.conn.send(h11.Data(data=response.body)))
            await self._write(self.conn.send(h11.EndOfMessage()))
        else:
            await self._send_stream(response)

    async def _send_stream(self, response: HttpResponse) -> None:
        stream = response.stream
        try:
            async for chunk in stream:
                await self._write(self.conn.send(h11.Data(data=chunk)))
        except BaseException:          # the client went away, or we are stopping: end the call
            stream.cancel()
            raise
        trailers = stream.trailers if self.conn.their_http_version == HTTP_11 else []
        await self._write(self.conn.send(h11.EndOfMessage(headers=trailers)))

    async def _refuse(self, status: int, message: str) -> None:
        """Answer an unreadable request with an error, and close (when still allowed to)."""
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        code = StatusCode.RESOURCE_EXHAUSTED if status == CONTENT_TOO_LARGE else StatusCode.INVALID_ARGUMENT
        response = _error(status, code, message)
        response.headers.append(("Connection", "close"))
        try:
            await self._send(response)
        except (ConnectionError, h11.LocalProtocolError):
            return
        self.linger = True

    async def _write(self, data: bytes | None) -> None:
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def _close(self) -> None:
        try:
            if self.linger:
                await self._lingering_close()
            self.writer.close()
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def _lingering_close(self) -> None:
        """Half-close, then drain: closing with unread input would reset the connection,
        and the client might lose the error response we just sent (RFC 9112 §9.6)."""
        if self.writer.can_write_eof():
            self.writer.write_eof()
        drained = 0
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                while drained < LINGER_BYTES and (data := await self.reader.read(READ_SIZE)):
                    drained += len(data)
        except TimeoutError:
            pass


def _reason(status: int) -> str:
    if status in REASONS:
        return REASONS[status]
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _error(status: int, code: StatusCode, message: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], error_json(code, message))
