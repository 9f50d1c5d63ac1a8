"""The exceptions of the transport layer.

Implements the error side of doc/PROTOCOL-HTTP2.md ("Errors")
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#errors
and the library-generated cases of doc/statuscodes.md
https://github.com/grpc/grpc/blob/master/doc/statuscodes.md

One root, `ProtocolError`: whatever a peer sends, the transport answers with
one of these and never with IndexError, struct.error, KeyError or
AssertionError. Each error carries the two things its catcher needs to act:

- `status`, the gRPC status the failed call ends with (doc/statuscodes.md);
- `error_code`, the HTTP/2 error code (RFC 9113 §7) to reset the stream with
  if this side has to abandon it.

`InvalidMetadata` stands apart: it is a *caller's* mistake (a bad key or value
passed in by the application), so it is a ValueError, not a protocol error.
"""

from __future__ import annotations

from .status import Http2ErrorCode, StatusCode

__all__ = [
    "ProtocolError",
    "MessageTooLarge",
    "DecompressionError",
    "UnsupportedEncoding",
    "RequestRejected",
    "InvalidMetadata",
]


class ProtocolError(Exception):
    """A peer broke the gRPC-over-HTTP/2 protocol, or a call cannot go on.

    `status` defaults to the class's `default_status` (INTERNAL here: the
    code doc/statuscodes.md gives to protocol violations); `error_code`
    defaults to the class's `default_error_code` (PROTOCOL_ERROR here).
    """

    default_status: StatusCode = StatusCode.INTERNAL
    default_error_code: int = Http2ErrorCode.PROTOCOL_ERROR

    def __init__(
        self,
        message: str,
        *,
        status: StatusCode | None = None,
        error_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
        self.error_code = self.default_error_code if error_code is None else error_code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status.name}, "
            f"error_code={self.error_code!r})"
        )


class MessageTooLarge(ProtocolError):
    """A message is over the configured size limit.

    doc/statuscodes.md: "Sent or received message was larger than configured
    limit | RESOURCE_EXHAUSTED | Both". The HTTP/2 stream itself is sound, so
    a side that abandons it resets with CANCEL, the code a client cancels with.
    """

    default_status = StatusCode.RESOURCE_EXHAUSTED
    default_error_code = Http2ErrorCode.CANCEL


class DecompressionError(ProtocolError):
    """A compressed message could not be inflated with its declared encoding.

    doc/statuscodes.md: "Could not decompress, but compression algorithm
    supported | INTERNAL | Both".
    """

    default_status = StatusCode.INTERNAL
    default_error_code = Http2ErrorCode.CANCEL


class UnsupportedEncoding(ProtocolError):
    """The peer used a `grpc-encoding` this side does not implement.

    doc/compression.md: a server answers UNIMPLEMENTED (listing what it
    accepts in grpc-accept-encoding); a client seeing an unsupported response
    encoding fails the call with INTERNAL, and passes `status=INTERNAL`.
    """

    default_status = StatusCode.UNIMPLEMENTED
    default_error_code = Http2ErrorCode.CANCEL


class RequestRejected(ProtocolError):
    """A server turns a request away before the handler sees it.

    `http_status` is the `:status` to answer with: 200 when the answer is a
    gRPC status in a Trailers-Only response, or an HTTP error such as 415
    (content-type is not gRPC, PROTOCOL-HTTP2.md) or 405 (method is not POST).
    `status` is the grpc-status to put in that answer.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        status: StatusCode | None = None,
        error_code: int | None = None,
    ) -> None:
        super().__init__(message, status=status, error_code=error_code)
        self.http_status = http_status

    def __repr__(self) -> str:
        return (
            f"RequestRejected({self.message!r}, http_status={self.http_status}, "
            f"status={self.status.name}, error_code={self.error_code!r})"
        )


class InvalidMetadata(ValueError):
    """An application passed metadata that cannot go on the wire.

    The message names the offending key and says what rule it broke
    (PROTOCOL-HTTP2.md, "Custom-Metadata").
    """
