"""gRPC status codes, and the tables that turn HTTP outcomes into them.

Implements:

- the status codes of doc/statuscodes.md
  https://github.com/grpc/grpc/blob/master/doc/statuscodes.md
  (the numbers are those of google.rpc.Code, google/rpc/code.proto);
- the HTTP-status table of doc/http-grpc-status-mapping.md
  https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
- the RST_STREAM table of doc/PROTOCOL-HTTP2.md, section "Errors"
  https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#errors

Every call ends with one of seventeen status codes. Most of the time the peer
says which one in the `grpc-status` trailer; when it cannot (an intermediary
answered instead of a gRPC server, or the stream was reset) the client makes one
up from what it did see, using the two tables below. They are data, one row per
rule, each with its source.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "StatusCode",
    "Http2ErrorCode",
    "HTTP_TO_GRPC_STATUS",
    "RST_STREAM_TO_STATUS",
    "status_from_http",
    "status_from_reset",
]


class StatusCode(enum.IntEnum):
    """The gRPC status codes (doc/statuscodes.md; google/rpc/code.proto).

    The number is what travels in `grpc-status`. doc/statuscodes.md lists the
    cases in which the library produces a code itself; INVALID_ARGUMENT,
    NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE and
    DATA_LOSS are never among them: those belong to applications.
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class Http2ErrorCode(enum.IntEnum):
    """HTTP/2 error codes, RFC 9113 §7 (https://www.rfc-editor.org/rfc/rfc9113#section-7).

    Carried by RST_STREAM and GOAWAY. An IntEnum, so its members compare equal
    to h2's own `h2.errors.ErrorCodes` and to the plain integers on the wire.
    """

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


# --- HTTP status -> gRPC status ----------------------------------------------
#
# doc/http-grpc-status-mapping.md: used *only* by a client that received a
# response without grpc-status (if grpc-status is there, it wins). Servers must
# not read it backwards. Every row below is a row of that document's table.

HTTP_TO_GRPC_STATUS: Mapping[int, StatusCode] = MappingProxyType({
    400: StatusCode.INTERNAL,           # 400 Bad Request
    401: StatusCode.UNAUTHENTICATED,    # 401 Unauthorized
    403: StatusCode.PERMISSION_DENIED,  # 403 Forbidden
    404: StatusCode.UNIMPLEMENTED,      # 404 Not Found
    429: StatusCode.UNAVAILABLE,        # 429 Too Many Requests
    431: StatusCode.INTERNAL,           # 431 Request Header Fields Too Large
    502: StatusCode.UNAVAILABLE,        # 502 Bad Gateway
    503: StatusCode.UNAVAILABLE,        # 503 Service Unavailable
    504: StatusCode.UNAVAILABLE,        # 504 Gateway Timeout
})

# "All other codes -> UNKNOWN". That includes 200: a truly OK response would
# have carried grpc-status, so a 200 without one is not known to be OK.
HTTP_STATUS_FALLBACK = StatusCode.UNKNOWN


def status_from_http(http_status: int) -> StatusCode:
    """The status a client makes up for an HTTP response with no grpc-status.

    1xx responses are not final (RFC 9113 §8.1): the caller skips them and
    waits for the next header block instead of asking here.
    """
    return HTTP_TO_GRPC_STATUS.get(http_status, HTTP_STATUS_FALLBACK)


# --- RST_STREAM error code -> gRPC status ------------------------------------
#
# PROTOCOL-HTTP2.md, "Errors": "The following mapping from RST_STREAM error
# codes to GRPC error codes is applied." One row per row of that table.

RST_STREAM_TO_STATUS: Mapping[int, StatusCode] = MappingProxyType({
    # "NO_ERROR(0) | INTERNAL - An explicit GRPC status of OK should have been
    # sent but this might be used to aggressively lameduck"
    Http2ErrorCode.NO_ERROR: StatusCode.INTERNAL,
    Http2ErrorCode.PROTOCOL_ERROR: StatusCode.INTERNAL,
    Http2ErrorCode.INTERNAL_ERROR: StatusCode.INTERNAL,
    Http2ErrorCode.FLOW_CONTROL_ERROR: StatusCode.INTERNAL,
    Http2ErrorCode.SETTINGS_TIMEOUT: StatusCode.INTERNAL,
    # STREAM_CLOSED: "No mapping as there is no open stream to propagate to.
    # Implementations should log." Left out: it falls to the fallback below.
    Http2ErrorCode.FRAME_SIZE_ERROR: StatusCode.INTERNAL,
    # "REFUSED_STREAM | UNAVAILABLE - Indicates that no processing occurred
    # and the request can be retried, possibly elsewhere."
    Http2ErrorCode.REFUSED_STREAM: StatusCode.UNAVAILABLE,
    # "CANCEL(8) | Mapped to call cancellation when sent by a client. Mapped
    # to CANCELLED when sent by a server." Both ends see CANCELLED.
    Http2ErrorCode.CANCEL: StatusCode.CANCELLED,
    Http2ErrorCode.COMPRESSION_ERROR: StatusCode.INTERNAL,
    Http2ErrorCode.CONNECT_ERROR: StatusCode.INTERNAL,
    # "ENHANCE_YOUR_CALM | RESOURCE_EXHAUSTED ... the exhausted resource is bandwidth."
    Http2ErrorCode.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    # "INADEQUATE_SECURITY | PERMISSION_DENIED ... protocol is not secure enough"
    Http2ErrorCode.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
})

# Codes the table does not list (STREAM_CLOSED, HTTP_1_1_REQUIRED, and codes
# from extensions, which RFC 9113 §7 says must not trigger special behaviour)
# are a broken stream all the same: INTERNAL.
RST_STREAM_FALLBACK = StatusCode.INTERNAL


def status_from_reset(error_code: int) -> StatusCode:
    """The status of a call whose stream was reset with `error_code`."""
    return RST_STREAM_TO_STATUS.get(error_code, RST_STREAM_FALLBACK)
