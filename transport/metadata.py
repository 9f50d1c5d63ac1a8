"""Custom metadata: the application's own headers and trailers.

Implements doc/PROTOCOL-HTTP2.md, section "Requests", the productions below
and the paragraphs after them
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests

    Custom-Metadata → Binary-Header / ASCII-Header
    Binary-Header → {Header-Name "-bin" } {base64 encoded value}
    ASCII-Header → Header-Name ASCII-Value
    Header-Name → 1*( %x30-39 / %x61-7A / "_" / "-" / ".") ; 0-9 a-z _ - .
    ASCII-Value → 1*( %x20-%x7E ) ; space and printable ASCII

In Python, metadata is a sequence of `(key, value)` pairs. A key ending in
`-bin` carries bytes, which travel as base64 (RFC 4648 §4, the standard
alphabet); any other key carries a str of printable ASCII. Keys may repeat.

Two directions, two attitudes:

- `encode_metadata` checks what the *application* passes and refuses anything
  that cannot go on the wire as given, with InvalidMetadata naming the key.
  It never fixes things up silently: an uppercase key is an error, not a key
  quietly lowercased into a different one.
- `decode_metadata` reads what a *peer* sent. Headers that are not custom
  metadata are left out (see `TRANSPORT_HEADERS`), and so are values the
  spec lets us throw away: "Implementations must not error due to receiving
  an invalid ASCII-Value that's a valid field-value in HTTP ... they may
  throw the value away or accept the value. If accepted, care must be taken
  to make sure that the application is permitted to echo the value back."
  Every pair it returns is one `encode_metadata` accepts, so an application
  can always echo what it received. Only a `-bin` value that is not base64
  is an error (ProtocolError, status INTERNAL): that call fails cleanly, the
  connection lives on.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

from .errors import InvalidMetadata, ProtocolError

__all__ = [
    "BINARY_SUFFIX",
    "RESERVED_PREFIX",
    "CONNECTION_SPECIFIC_HEADERS",
    "TRANSPORT_HEADERS",
    "encode_metadata",
    "decode_metadata",
    "decode_metadata_fields",
    "encode_binary_value",
    "decode_binary_value",
    "is_binary_key",
    "header_text",
    "normalize_headers",
]

Metadata = tuple[tuple[str, "str | bytes"], ...]

# --- Constants ------------------------------------------------------------------

# "Applications define binary headers by having their names end with '-bin'."
BINARY_SUFFIX = "-bin"

# "Header names starting with 'grpc-' but not listed here are reserved for
# future GRPC use and should not be used by applications as Custom-Metadata."
RESERVED_PREFIX = "grpc-"

# HTTP/2 pseudo-headers (RFC 9113 §8.3) start with a colon.
PSEUDO_HEADER_PREFIX = ":"
_NOT_METADATA_PREFIXES = (PSEUDO_HEADER_PREFIX, RESERVED_PREFIX)

# Two reserved headers of gRFC A6 (client retries) the applications see in
# their metadata, as grpcio shows them: how many attempts of a call came
# before (only the transport sends it), and the delay a server asks of a
# client before its next attempt (a server application may set it in its
# trailing metadata; negative or malformed means "do not retry").
PREVIOUS_RPC_ATTEMPTS = "grpc-previous-rpc-attempts"
RETRY_PUSHBACK_MS = "grpc-retry-pushback-ms"
_VISIBLE_RESERVED = frozenset({PREVIOUS_RPC_ATTEMPTS, RETRY_PUSHBACK_MS})
TRAILER_KEYS = frozenset({RETRY_PUSHBACK_MS})    # reserved keys a server may put in its trailers

# Header-Name → 1*( %x30-39 / %x61-7A / "_" / "-" / ".")
_HEADER_NAME_CHARACTERS = frozenset("0123456789abcdefghijklmnopqrstuvwxyz_-.")
# ASCII-Value → 1*( %x20-%x7E )
_ASCII_VALUE_FIRST = 0x20  # space
_ASCII_VALUE_LAST = 0x7E  # "~"
# "ASCII-Value should not have leading or trailing whitespace. If it contains
# leading or trailing whitespace, it may be stripped."
_SURROUNDING_WHITESPACE = " \t"

# RFC 9113 §8.2.2: "An endpoint MUST NOT generate an HTTP/2 message containing
# connection-specific header fields." (te is allowed only as "te: trailers",
# which the transport sends itself.)
CONNECTION_SPECIFIC_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
})

# Headers without the grpc- prefix that belong to the transport, not to the
# application (PROTOCOL-HTTP2.md, Call-Definition and Response-Headers), plus
# the connection-specific ones. user-agent is *not* among them: it is a
# Call-Definition header, but applications read it, and it is handed to them
# as metadata (so it can be forwarded); see headers.build_request_headers.
TRANSPORT_HEADERS = frozenset({"content-type", "te"}) | CONNECTION_SPECIFIC_HEADERS


# --- Header text ---------------------------------------------------------------


def header_text(value: bytes | str) -> str:
    """A header name or value as str, whether h2 gave bytes or str.

    Bytes are read as UTF-8 with surrogateescape, which loses nothing: bytes
    that are not UTF-8 come back as lone surrogates (and fail every ASCII
    check), and `.encode("utf-8", "surrogateescape")` restores them exactly.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # what h2 hands over: decode without a copy first
        return value.decode("utf-8", "surrogateescape")
    return bytes(value).decode("utf-8", "surrogateescape")


def normalize_headers(headers: Iterable[tuple[bytes | str, bytes | str]]) -> list[tuple[str, str]]:
    """A peer's header list with every name and value as str (see header_text)."""
    return [(header_text(name), header_text(value)) for name, value in headers]


def is_binary_key(key: str) -> bool:
    """Whether a metadata key names a binary (base64) header."""
    return key.endswith(BINARY_SUFFIX)


# --- Binary values --------------------------------------------------------------

_BASE64_QUANTUM = 4  # base64 writes 3 bytes as 4 characters (RFC 4648 §4)
_BASE64_PAD = "="


def encode_binary_value(value: bytes) -> str:
    """Base64 (standard alphabet), unpadded: "should emit un-padded values"."""
    return base64.b64encode(bytes(value)).decode("ascii").rstrip(_BASE64_PAD)


def decode_binary_value(value: str | bytes) -> bytes:
    """Base64, padded or not: "Implementations MUST accept padded and un-padded values".

    Raises ProtocolError (status INTERNAL) when `value` is not base64.
    """
    text = header_text(value).strip(_SURROUNDING_WHITESPACE)
    padding = _BASE64_PAD * (-len(text) % _BASE64_QUANTUM)
    try:
        return base64.b64decode(text + padding, validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        raise ProtocolError(f"binary metadata value is not valid base64: {text[:40]!r}") from None


def _split_binary_values(value: str) -> list[bytes]:
    # "Implementations must split Binary-Headers on ',' before decoding the
    # Base64-encoded values." (',' is not in the base64 alphabet.)
    return [decode_binary_value(part) for part in value.split(",")]


# --- Encoding (application -> wire) ---------------------------------------------


def encode_metadata(metadata: Iterable[tuple[str, str | bytes]], *,
                    reserved_allowed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Check an application's metadata and turn it into header fields.

    Raises InvalidMetadata, naming the key and the rule, for anything that
    cannot go on the wire as given. ``reserved_allowed``: the grpc-* keys an
    application may set in this block (the trailers' TRAILER_KEYS).
    """
    fields = []
    for pair in metadata:
        key, value = _unpack_pair(pair)
        _check_key(key, reserved_allowed)
        fields.append((key, _encode_value(key, value)))
    return fields


def _unpack_pair(pair: object) -> tuple[object, object]:
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise InvalidMetadata(f"metadata must be (key, value) pairs, got {pair!r}")
    return pair


def _check_key(key: object, reserved_allowed: frozenset[str] = frozenset()) -> None:
    if not isinstance(key, str):
        raise InvalidMetadata(f"metadata key {key!r} must be a str")
    if not key:
        raise InvalidMetadata("metadata key '' is empty: Header-Name needs at least one character")
    if key.startswith(PSEUDO_HEADER_PREFIX):
        raise InvalidMetadata(f"metadata key {key!r} is an HTTP/2 pseudo-header, set by the transport")
    if key != key.lower() and _HEADER_NAME_CHARACTERS.issuperset(key.lower()):
        raise InvalidMetadata(
            f"metadata key {key!r} has uppercase letters; keys must be lowercase "
            f"(HTTP/2 header names are), so write {key.lower()!r}"
        )
    if not _HEADER_NAME_CHARACTERS.issuperset(key):
        raise InvalidMetadata(f"metadata key {key!r} may only contain 0-9 a-z _ - .")
    _check_key_not_reserved(key, reserved_allowed)


def _check_key_not_reserved(key: str, reserved_allowed: frozenset[str] = frozenset()) -> None:
    if key.startswith(RESERVED_PREFIX) and key not in reserved_allowed:
        raise InvalidMetadata(f"metadata key {key!r}: keys starting with 'grpc-' are reserved for gRPC")
    if key in CONNECTION_SPECIFIC_HEADERS:
        raise InvalidMetadata(
            f"metadata key {key!r} is a connection-specific header, forbidden in HTTP/2 (RFC 9113 §8.2.2)"
        )
    if key in TRANSPORT_HEADERS:
        raise InvalidMetadata(f"metadata key {key!r} is set by the transport, not by metadata")


def _encode_value(key: str, value: object) -> str:
    if is_binary_key(key):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidMetadata(
                f"metadata key {key!r} ends in '-bin', so its value must be bytes, "
                f"got {type(value).__name__}"
            )
        return encode_binary_value(value)
    if not isinstance(value, str):
        raise InvalidMetadata(
            f"metadata key {key!r} has a {type(value).__name__} value; "
            f"only '-bin' keys carry bytes, others need str"
        )
    _check_ascii_value(key, value)
    return value


def _is_ascii_value(value: str) -> bool:
    """Whether every character is in 0x20-0x7E: ASCII, and printable (which
    among ASCII characters excludes exactly the controls 0x00-0x1F and 0x7F)."""
    return value.isascii() and value.isprintable()


def _check_ascii_value(key: str, value: str) -> None:
    if not _is_ascii_value(value):
        character = next(c for c in value if not _ASCII_VALUE_FIRST <= ord(c) <= _ASCII_VALUE_LAST)
        raise InvalidMetadata(
            f"metadata key {key!r}: value has {character!r}; ASCII values may only hold "
            f"printable ASCII (0x20-0x7E). Use a '-bin' key for anything else"
        )
    if value != value.strip(_SURROUNDING_WHITESPACE):
        raise InvalidMetadata(
            f"metadata key {key!r}: value has leading or trailing whitespace, which the "
            f"receiver may strip (PROTOCOL-HTTP2.md)"
        )


# --- Decoding (wire -> application) ---------------------------------------------


def decode_metadata(headers: Iterable[tuple[bytes | str, bytes | str]]) -> Metadata:
    """The custom metadata in a peer's header block, in order.

    Left out: pseudo-headers, reserved `grpc-*` headers but the two of
    retries (the transport reads the others itself), content-type, te, connection-specific headers, names that
    are not a Header-Name, and ASCII values outside 0x20-0x7E (leading and
    trailing whitespace is stripped first). `-bin` values are split on ","
    and base64-decoded, each part becoming one pair. user-agent is kept.
    """
    return decode_metadata_fields(normalize_headers(headers))


def decode_metadata_fields(fields: Iterable[tuple[str, str]]) -> Metadata:
    """decode_metadata, for a header block already normalized to str."""
    metadata: list[tuple[str, str | bytes]] = []
    for name, value in fields:
        if not _is_custom_metadata(name):
            continue
        if is_binary_key(name):
            metadata.extend((name, part) for part in _split_binary_values(value))
        else:
            _keep_ascii_value(metadata, name, value)
    return tuple(metadata)


def _is_custom_metadata(name: str) -> bool:
    # Cheapest tests first: most names in a block are pseudo-headers,
    # grpc-* or transport headers.
    if name.startswith(_NOT_METADATA_PREFIXES):
        return name in _VISIBLE_RESERVED
    return (
        name not in TRANSPORT_HEADERS
        and bool(name)
        and _HEADER_NAME_CHARACTERS.issuperset(name)
    )


def _keep_ascii_value(metadata: list, name: str, value: str) -> None:
    value = value.strip(_SURROUNDING_WHITESPACE)
    if _is_ascii_value(value):
        metadata.append((name, value))
