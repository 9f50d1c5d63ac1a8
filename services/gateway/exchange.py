"""One HTTP exchange as plain data: what the server hands the proxy, and gets back.

The HTTP/1.1 server (server.py, on h11) turns bytes into an ``HttpRequest``
and an ``HttpResponse`` into bytes; the proxy (proxy.py) turns one into the
other by calling the backend. Neither sees the other's machinery, so tests
and notebooks can drive the proxy with a dataclass and no socket.

A response has either a ``body`` (sent with Content-Length) or a ``stream``
(sent chunked, for server-streaming methods): an async iterable of byte
chunks, with ``trailers`` to send after the last one and ``cancel()`` for a
client that went away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

__all__ = ["HttpRequest", "HttpResponse", "ResponseStream"]

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HttpRequest:
    """A whole request: the body has been read. Header names are lowercase."""

    method: str                     # "GET", "POST", ...
    target: str                     # the request-target as sent: "/v1/books?page_size=2"
    headers: Headers = ()
    body: bytes = b""
    client_host: str | None = None  # the peer's address, for x-forwarded-for


class ResponseStream(Protocol):
    """The body of a streamed response."""

    trailers: list[tuple[str, str]]   # complete once iteration has ended

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def cancel(self) -> None: ...


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: ResponseStream | None = None
