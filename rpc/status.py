"""How a call ends: the status code, its details, and the error a caller sees.

Spec: doc/statuscodes.md (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md)
for the codes, and google/rpc/status.proto for the rich error model carried in
the `grpc-status-details-bin` trailer
(https://github.com/googleapis/googleapis/blob/master/google/rpc/status.proto).

A call that does not end OK raises ``RpcError`` in the caller. Its methods
have the names grpc.aio gives them (``code()``, ``details()``,
``trailing_metadata()``), so code written against one reads the same against
the other; ``status`` decodes the rich google.rpc.Status when the server sent one.
"""

from __future__ import annotations

from typing import Sequence

import wire
from transport.status import StatusCode

__all__ = ["StatusCode", "RpcError", "Status", "Any"]

# google/protobuf/any.proto and google/rpc/status.proto, field for field.
Any = wire.message("google.protobuf.Any", [
    wire.field("type_url", 1, "string"),
    wire.field("value", 2, "bytes"),
])
Status = wire.message("google.rpc.Status", [
    wire.field("code", 1, "int32"),
    wire.field("message", 2, "string"),
    wire.field("details", 3, Any, repeated=True),
])

Metadata = Sequence[tuple[str, "str | bytes"]]


class RpcError(Exception):
    """A call ended with a status other than OK.

    ``status_details`` are the raw bytes of the `grpc-status-details-bin`
    trailer, when the server sent one; ``status`` decodes them.
    """

    def __init__(
        self,
        code: StatusCode,
        details: str = "",
        *,
        initial_metadata: Metadata = (),
        trailing_metadata: Metadata = (),
        status_details: bytes | None = None,
        debug_error_string: str = "",
    ) -> None:
        super().__init__(code, details)
        self._code = StatusCode(code) if code in StatusCode._value2member_map_ else code
        self._details = details
        self._initial_metadata = tuple(initial_metadata)
        self._trailing_metadata = tuple(trailing_metadata)
        self.status_details = status_details
        self._debug_error_string = debug_error_string

    def code(self) -> StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def initial_metadata(self) -> tuple:
        return self._initial_metadata

    def trailing_metadata(self) -> tuple:
        return self._trailing_metadata

    def debug_error_string(self) -> str:
        return self._debug_error_string

    @property
    def status(self) -> Status | None:
        """The google.rpc.Status of `grpc-status-details-bin`, decoded (None if absent)."""
        if self.status_details is None:
            return None
        return Status.decode(self.status_details)

    def __str__(self) -> str:
        name = getattr(self._code, "name", str(self._code))
        return f"RPC ended with status {name}: {self._details!r}"

    def __repr__(self) -> str:
        return f"RpcError({self._code!r}, {self._details!r})"
