"""What a gRPC header's value means, in a few words, for the trace.

Implements the reading of the headers of doc/PROTOCOL-HTTP2.md
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests
(grpc-timeout, grpc-encoding, grpc-status, grpc-message, "-bin" values) with
the transport's own parsers. A table from header name to a function; a
function that cannot read the value says so instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..errors import ProtocolError
from ..headers import decode_grpc_message
from ..metadata import decode_binary_value, is_binary_key
from ..status import StatusCode
from ..timeout import decode_timeout

__all__ = ["HINTS", "hint_for"]

_BINARY_PREVIEW_BYTES = 16


def _status(value: str) -> str:
    # PROTOCOL-HTTP2.md: Status → "grpc-status" 1*DIGIT ; 0-9
    if value.isascii() and value.isdigit():
        try:
            return StatusCode(int(value)).name
        except ValueError:
            pass
    return "not a known status code (a client reads it as UNKNOWN)"


def _message(value: str) -> str | None:
    decoded = decode_grpc_message(value)
    return f"percent-decoded: {decoded!r}" if decoded != value else None


def _timeout(value: str) -> str:
    try:
        return f"{decode_timeout(value):g} s"
    except ProtocolError as error:
        return f"invalid: {error}"


def _encoding(value: str) -> str:
    return f"messages with compressed-flag 1 are {value}-compressed"


def _binary(value: str) -> str:
    try:
        decoded = decode_binary_value(value)
    except (ProtocolError, ValueError) as error:
        return f"invalid base64: {error}"
    preview = decoded[:_BINARY_PREVIEW_BYTES].hex(" ")
    more = " ..." if len(decoded) > _BINARY_PREVIEW_BYTES else ""
    return f"base64 of {len(decoded)} bytes: {preview}{more}"


HINTS: Mapping[str, Callable[[str], str | None]] = MappingProxyType({
    "grpc-status": _status,  # Status → "grpc-status" 1*DIGIT
    "grpc-message": _message,  # Status-Message → "grpc-message" Percent-Encoded
    "grpc-timeout": _timeout,  # Timeout → "grpc-timeout" TimeoutValue TimeoutUnit
    "grpc-encoding": _encoding,  # Message-Encoding → "grpc-encoding" Content-Coding
})


def hint_for(name: str, value: str) -> str | None:
    """A short reading of `value`, or None when the header needs none."""
    hint = HINTS.get(name)
    if hint is None and is_binary_key(name):
        hint = _binary  # Binary-Header → {Header-Name "-bin" } {base64 encoded value}
    if hint is None:
        return None
    try:
        return hint(value)
    except Exception as error:  # peer data: a reading that fails is reported, not raised
        return f"could not read: {error}"
