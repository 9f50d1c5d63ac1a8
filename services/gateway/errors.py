"""How the gateway says that something went wrong: an HTTP status and a JSON body.

Spec: the "HTTP Mapping" column of googleapis google/rpc/code.proto
(https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto),
which SPEC.md's "JSON transcoding" section repeats, and the error body of
google/rpc/status.proto written in proto3 JSON:

    {"code": 5, "message": "no book shelves/1/books/9", "details": [ ...Any... ]}

``code`` is the gRPC status number, ``message`` the status message, and
``details`` the google.protobuf.Any messages of the rich error model (the
`grpc-status-details-bin` trailer), each as ProtoJSON ``{"@type": ...}``.

Errors come from two places and look the same to an HTTP client:

- the backend ended the call with a status other than OK (an ``rpc.RpcError``);
- the gateway refused the request itself (``GatewayError``): a path no rule
  matches, JSON that does not parse, a query parameter with no field, a
  body over the size limit. Those carry the status code that fits the problem
  and, where HTTP has a sharper word than the table (404 for an unknown
  path, 405 for a known path with another verb, 413 for a body too large),
  that HTTP status.
"""

from __future__ import annotations

import json
from typing import Any

from rpc import StatusCode

__all__ = [
    "HTTP_STATUS",
    "CLIENT_CLOSED_REQUEST",
    "GatewayError",
    "http_status_of",
    "error_json",
]

# nginx's non-standard 499 "Client Closed Request", which code.proto gives CANCELLED.
CLIENT_CLOSED_REQUEST = 499

# gRPC status -> HTTP status. Each row: google/rpc/code.proto, "HTTP Mapping: ...".
HTTP_STATUS: dict[StatusCode, int] = {
    StatusCode.OK: 200,                        # 200 OK
    StatusCode.CANCELLED: CLIENT_CLOSED_REQUEST,  # 499 Client Closed Request
    StatusCode.UNKNOWN: 500,                   # 500 Internal Server Error
    StatusCode.INVALID_ARGUMENT: 400,          # 400 Bad Request
    StatusCode.DEADLINE_EXCEEDED: 504,         # 504 Gateway Timeout
    StatusCode.NOT_FOUND: 404,                 # 404 Not Found
    StatusCode.ALREADY_EXISTS: 409,            # 409 Conflict
    StatusCode.PERMISSION_DENIED: 403,         # 403 Forbidden
    StatusCode.UNAUTHENTICATED: 401,           # 401 Unauthorized
    StatusCode.RESOURCE_EXHAUSTED: 429,        # 429 Too Many Requests
    StatusCode.FAILED_PRECONDITION: 400,       # 400 Bad Request
    StatusCode.ABORTED: 409,                   # 409 Conflict
    StatusCode.OUT_OF_RANGE: 400,              # 400 Bad Request
    StatusCode.UNIMPLEMENTED: 501,             # 501 Not Implemented
    StatusCode.INTERNAL: 500,                  # 500 Internal Server Error
    StatusCode.UNAVAILABLE: 503,               # 503 Service Unavailable
    StatusCode.DATA_LOSS: 500,                 # 500 Internal Server Error
}

# A status number outside the 17 codes is UNKNOWN (doc/statuscodes.md), so 500.
HTTP_STATUS_OF_UNKNOWN_CODE = HTTP_STATUS[StatusCode.UNKNOWN]


def http_status_of(code: Any) -> int:
    """The HTTP status for a gRPC status code (a StatusCode or a bare number)."""
    try:
        return HTTP_STATUS[StatusCode(code)]
    except ValueError:
        return HTTP_STATUS_OF_UNKNOWN_CODE


class GatewayError(Exception):
    """A request the gateway answers itself, without calling the backend.

    ``http_status`` defaults to the table's row for ``code``; ``headers``
    are extra response headers (``Allow`` for a 405).
    """

    def __init__(self, code: StatusCode, message: str, *, http_status: int | None = None,
                 headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.code = StatusCode(code)
        self.message = message
        self.http_status = http_status if http_status is not None else http_status_of(code)
        self.headers = tuple(headers)

    def __repr__(self) -> str:
        return f"GatewayError({self.code.name}, {self.message!r}, http_status={self.http_status})"


def error_json(code: Any, message: str, details: list[Any] | None = None) -> bytes:
    """The JSON error body: ``{"code": 5, "message": "...", "details": [...]}``."""
    number = code.value if isinstance(code, StatusCode) else int(code)
    body = {"code": number, "message": message, "details": list(details or [])}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
