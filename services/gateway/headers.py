"""HTTP headers to gRPC metadata and back, and the Grpc-Timeout header.

Conventions of grpc-gateway's runtime (the gateway of the seed's walk-through),
kept so that its clients work here unchanged:

    request header                    gRPC metadata
    Grpc-Metadata-<key>: v       ->   <key>: v          (base64-decoded for <key>-bin)
    Authorization: v             ->   authorization: v
    (the client's address)       ->   x-forwarded-for: <earlier hops>, <address>
    Host: h                      ->   x-forwarded-host: h
    Grpc-Timeout: 100m           ->   the call's deadline (doc/PROTOCOL-HTTP2.md's grammar)

    response header metadata     ->   Grpc-Metadata-<key>: v
    trailer metadata             ->   Grpc-Trailer-<key>: v   (HTTP trailers when streaming)

Metadata keys and values follow doc/PROTOCOL-HTTP2.md ("Custom-Metadata"):
keys [0-9a-z_.-] not starting "grpc-", ASCII values 0x20-0x7E, "-bin" keys
carry base64. A request header breaking those rules is the client's mistake:
400, naming the header.
"""

from __future__ import annotations

from typing import Iterable

from rpc import StatusCode
from transport.errors import InvalidMetadata, ProtocolError
from transport.metadata import decode_binary_value, encode_binary_value, encode_metadata, is_binary_key
from transport.timeout import decode_timeout

from .errors import GatewayError

__all__ = [
    "METADATA_HEADER_PREFIX",
    "TRAILER_HEADER_PREFIX",
    "TIMEOUT_HEADER",
    "request_metadata",
    "request_timeout",
    "metadata_headers",
]

METADATA_HEADER_PREFIX = "grpc-metadata-"
TRAILER_HEADER_PREFIX = "grpc-trailer-"
TIMEOUT_HEADER = "grpc-timeout"
FORWARDED_AS_IS = ("authorization",)
FORWARDED_FOR = "x-forwarded-for"
FORWARDED_HOST = "x-forwarded-host"
HOST = "host"
# Written by the transport into the trailers of a failed call; the gateway puts
# its google.rpc.Status into the error body's "details", not into a header.
STATUS_DETAILS_KEY = "grpc-status-details-bin"

Headers = Iterable[tuple[str, str]]


def request_metadata(headers: Headers, client_host: str | None = None) -> tuple:
    """The metadata to send with the call, from the request's (lowercase) headers."""
    metadata: list[tuple[str, str | bytes]] = []
    forwarded_for = []
    for name, value in headers:
        if name.startswith(METADATA_HEADER_PREFIX):
            key = name[len(METADATA_HEADER_PREFIX):]
            metadata.append((key, _metadata_value(name, key, value)))
        elif name in FORWARDED_AS_IS:
            metadata.append((name, value))
        elif name == FORWARDED_FOR:
            forwarded_for.append(value)
        elif name == HOST:
            metadata.append((FORWARDED_HOST, value))
    if client_host:
        forwarded_for.append(client_host)
    if forwarded_for:
        metadata.append((FORWARDED_FOR, ", ".join(forwarded_for)))
    _check(metadata)
    return tuple(metadata)


def _metadata_value(name: str, key: str, value: str) -> str | bytes:
    if not is_binary_key(key):
        return value.strip()
    try:
        return decode_binary_value(value)
    except ProtocolError:
        raise GatewayError(StatusCode.INVALID_ARGUMENT,
                           f"header {name}: a -bin metadata value must be base64") from None


def _check(metadata: list[tuple[str, str | bytes]]) -> None:
    try:
        encode_metadata(metadata)
    except InvalidMetadata as error:
        raise GatewayError(StatusCode.INVALID_ARGUMENT, f"bad metadata header: {error}") from None


def request_timeout(headers: Headers) -> float | None:
    """Seconds from the Grpc-Timeout header ("100m", "5S"), or None without one."""
    for name, value in headers:
        if name == TIMEOUT_HEADER:
            try:
                return decode_timeout(value.strip())
            except ProtocolError as error:
                raise GatewayError(StatusCode.INVALID_ARGUMENT,
                                   f"header Grpc-Timeout: {error}") from None
    return None


def metadata_headers(metadata: Iterable[tuple[str, str | bytes]], prefix: str) -> list[tuple[str, str]]:
    """Response metadata as HTTP headers: "Grpc-Metadata-<key>" or "Grpc-Trailer-<key>"."""
    shown = prefix.title()
    headers = []
    for key, value in metadata:
        if key == STATUS_DETAILS_KEY:
            continue
        text = encode_binary_value(value) if isinstance(value, (bytes, bytearray)) else value
        headers.append((shown + key, text))
    return headers
