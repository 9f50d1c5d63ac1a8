"""The events of the gRPC connection core: what a peer's bytes turned into.

Implements the event side of the sans-IO core in `transport.connection`, in
the style of h2's and h11's event modules: `Connection.receive_data(bytes)`
returns a list of these, in the order the peer's frames caused them.

The grammar they stand for is doc/PROTOCOL-HTTP2.md ("Outline"),
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#outline

    Request  → Request-Headers *Length-Prefixed-Message EOS
    Response → (Response-Headers *Length-Prefixed-Message Trailers) / Trailers-Only

so a server sees `RequestReceived`, any number of `MessageReceived`, then
`RequestEnded`; a client sees `ResponseHeadersReceived`, any number of
`MessageReceived`, then `TrailersReceived` (a Trailers-Only response is just
`TrailersReceived`). Either side may instead see the stream end early with
`StreamReset` (the peer sent RST_STREAM) or `StreamFailed` (this side found
the peer breaking the protocol on that stream and has already answered it).

Every event is a frozen, keyword-only dataclass named in the past tense: a
record of something that happened, never a request to do something.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: events.py sits below every other module
    from .headers import RequestHead, ResponseHead, Trailers
    from .status import StatusCode

__all__ = [
    "Event",
    "StreamEvent",
    "RequestReceived",
    "ResponseHeadersReceived",
    "MessageReceived",
    "RequestEnded",
    "TrailersReceived",
    "StreamReset",
    "StreamFailed",
    "SendQueueDrained",
    "PingReceived",
    "PingAcknowledged",
    "RemoteSettingsChanged",
    "ConnectionTerminated",
    "ConnectionFailed",
    "TERMINAL_STREAM_EVENTS",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """Base class of every event of the connection core."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamEvent(Event):
    """An event that belongs to one stream, that is, to one call."""

    stream_id: int


# --- Stream events --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestReceived(StreamEvent):
    """(Server) A client opened a stream with valid gRPC request headers.

    Request headers that are not valid never become this event: the core
    answers them itself (HTTP 415, a Trailers-Only status, or RST_STREAM) and
    reports `StreamFailed`.
    """

    head: RequestHead


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseHeadersReceived(StreamEvent):
    """(Client) The server sent its Response-Headers (`:status 200`, gRPC content-type)."""

    head: ResponseHead


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageReceived(StreamEvent):
    """One complete Length-Prefixed-Message arrived, already decompressed.

    `compressed` is the Compressed-Flag it travelled with. `flow_controlled_length`
    is how many bytes of the stream's HTTP/2 receive window the message still
    holds: pass it to `Connection.acknowledge_received_data` once the
    application has consumed the message, and only then may the peer send more.
    That is what lets a slow reader bound a fast sender.
    """

    message: bytes
    compressed: bool
    flow_controlled_length: int


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestEnded(StreamEvent):
    """(Server) The client half-closed: END_STREAM, no more request messages."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TrailersReceived(StreamEvent):
    """(Client) The call is over: Trailers, or a Trailers-Only response.

    For Trailers-Only no `ResponseHeadersReceived` comes first, and all the
    metadata the server sent is in `trailers.metadata`.
    """

    trailers: Trailers


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamReset(StreamEvent):
    """The peer reset the stream with RST_STREAM.

    `status` is what the call ends with, from the table of PROTOCOL-HTTP2.md
    "Errors" (for instance CANCEL -> CANCELLED, REFUSED_STREAM -> UNAVAILABLE).
    """

    error_code: int
    status: StatusCode


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamFailed(StreamEvent):
    """This side abandoned one stream because of what the peer sent on it.

    The core has already told the peer: a server sends the status in trailers
    (or an HTTP error for a request that is not gRPC at all); a client resets
    the stream. The call ends with `status` and `message`; other streams of
    the connection carry on. `unprocessed`: the server said (by GOAWAY) that
    it never processed the stream, so the call may be retried as it is.
    """

    status: StatusCode
    message: str
    unprocessed: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SendQueueDrained(StreamEvent):
    """Everything queued on the stream went out, now that a window opened.

    Outbound DATA waits in a per-stream queue while the peer's HTTP/2
    flow-control windows are shut (RFC 9113 §5.2); a window update from the
    peer releases it. A writer that waited for room may go on.
    """


# Events after which nothing more arrives on the stream.
TERMINAL_STREAM_EVENTS = (TrailersReceived, StreamReset, StreamFailed)


# --- Connection events -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PingReceived(Event):
    """The peer sent PING; the core has already queued the PING ACK (RFC 9113 §6.7)."""

    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class PingAcknowledged(Event):
    """The peer answered one of our PINGs, echoing its 8 bytes of `data`."""

    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class RemoteSettingsChanged(Event):
    """The peer's SETTINGS arrived (and were acknowledged). Keys are RFC 9113 §6.5.2 codes."""

    changed: Mapping[int, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionTerminated(Event):
    """The peer sent GOAWAY (RFC 9113 §6.8).

    No new stream may start on this connection. Streams up to `last_stream_id`
    may still finish; those above it were never processed and have already
    been failed with UNAVAILABLE (each got its own `StreamFailed`), so the
    caller may retry them elsewhere (PROTOCOL-HTTP2.md, "GOAWAY Frame").
    """

    error_code: int
    last_stream_id: int
    additional_data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionFailed(Event):
    """This side found a connection error (RFC 9113 §5.4.1) and gave up.

    A GOAWAY carrying `error_code` is queued in `data_to_send()`; send it, then
    close the socket. Every stream still open is over.
    """

    error_code: int
    message: str
