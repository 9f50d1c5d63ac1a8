"""Per-message compression: identity, deflate and gzip.

Implements doc/compression.md
https://github.com/grpc/grpc/blob/master/doc/compression.md
and the Compressed-Flag and Message-Encoding rules of doc/PROTOCOL-HTTP2.md
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests

    Content-Coding → "identity" / "gzip" / "deflate" / "snappy" / {custom}
    Message-Encoding → "grpc-encoding" Content-Coding
    Message-Accept-Encoding →
        "grpc-accept-encoding" Content-Coding *("," Content-Coding)

Compression acts on each message alone ("Compression contexts are NOT
maintained over message boundaries"). The stream's grpc-encoding header names
the algorithm; each message's Compressed-Flag says whether it was applied,
so a sender may leave a message uncompressed when that is smaller.

The names follow HTTP's content codings: "gzip" is the gzip format (RFC
1952), "deflate" the zlib format (RFC 1950) around raw deflate data.

Inflating is where a peer can hurt us most: a few kilobytes of gzip can
inflate to gigabytes. `decompress` inflates with the receive limit as a hard
ceiling on what it produces, so a bomb costs at most the limit plus one byte.
"""

from __future__ import annotations

import functools
import sys
import zlib
from collections.abc import Sequence

from .errors import DecompressionError, MessageTooLarge, ProtocolError, UnsupportedEncoding
from .framing import (
    DEFAULT_MAX_SEND_MESSAGE_LENGTH,
    LengthPrefixedMessage,
    encode_message,
)

__all__ = [
    "IDENTITY",
    "GZIP",
    "DEFLATE",
    "SUPPORTED_ENCODINGS",
    "compress",
    "decompress",
    "accept_encoding_value",
    "parse_accept_encoding",
    "choose_encoding",
    "check_supported",
    "frame_message",
    "message_payload",
]

# --- Constants ------------------------------------------------------------------

IDENTITY = "identity"  # no compression
GZIP = "gzip"  # RFC 1952 gzip format
DEFLATE = "deflate"  # RFC 1950 zlib format (deflate data inside a zlib wrapper)

SUPPORTED_ENCODINGS: tuple[str, ...] = (IDENTITY, DEFLATE, GZIP)

# zlib's wbits selects window size and wrapper: 9..15 is the window's log2
# with a zlib wrapper; adding 16 writes and expects a gzip wrapper instead.
_MAX_WINDOW_BITS = 15  # a 32 KiB window, the largest deflate allows
_GZIP_WRAPPER = 16
_WBITS: dict[str, int] = {
    DEFLATE: _MAX_WINDOW_BITS,  # zlib wrapper
    GZIP: _GZIP_WRAPPER + _MAX_WINDOW_BITS,  # gzip wrapper
}

# zlib takes its output limit as a C ssize_t; one less leaves room for the +1.
_LARGEST_LIMIT = sys.maxsize - 1

# Message-Accept-Encoding separates codings with ","; HTTP lists allow
# optional whitespace around it (RFC 9110 §5.6.1).
_LIST_SEPARATOR = ","
# A peer sends the same grpc-accept-encoding on every call: the parsed lists
# of the last few distinct values are kept (a pure function of the value).
_PARSED_LISTS_KEPT = 32


# --- Algorithms -----------------------------------------------------------------


def check_supported(encoding: str) -> None:
    """Raise UnsupportedEncoding (UNIMPLEMENTED) unless `encoding` is supported.

    The message names the supported ones, as doc/compression.md's test cases
    ask ("its associated description indicating the unsupported condition as
    well as the supported ones").
    """
    if encoding not in SUPPORTED_ENCODINGS:
        raise UnsupportedEncoding(
            f"grpc-encoding {encoding!r} is not supported "
            f"(supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )


def compress(encoding: str, data: bytes) -> bytes:
    """Compress one message with `encoding` (identity returns it unchanged)."""
    check_supported(encoding)
    if encoding == IDENTITY:
        return bytes(data)
    compressor = zlib.compressobj(wbits=_WBITS[encoding])
    return compressor.compress(data) + compressor.flush()


def decompress(encoding: str, data: bytes, *, max_length: int) -> bytes:
    """Inflate one message, refusing to produce more than `max_length` bytes.

    Raises UnsupportedEncoding for an unknown encoding, MessageTooLarge
    (RESOURCE_EXHAUSTED) when the output would pass `max_length`, and
    DecompressionError (INTERNAL) for corrupt, truncated or trailing data.
    """
    check_supported(encoding)
    if encoding == IDENTITY:
        return _check_length(bytes(data), max_length)
    decompressor = zlib.decompressobj(wbits=_WBITS[encoding])
    try:
        # One byte more than allowed is enough to know the limit is passed;
        # zlib stops there, whatever the input would inflate to.
        output = decompressor.decompress(data, min(max_length, _LARGEST_LIMIT) + 1)
    except zlib.error as error:
        raise DecompressionError(f"corrupt {encoding} data: {error}") from None
    _check_length(output, max_length)
    _check_stream_ended(encoding, decompressor)
    return output


def _check_length(output: bytes, max_length: int) -> bytes:
    if len(output) > max_length:
        raise MessageTooLarge(
            f"decompressed message exceeds the limit of {max_length} bytes"
        )
    return output


def _check_stream_ended(encoding: str, decompressor) -> None:
    if not decompressor.eof:
        raise DecompressionError(f"truncated {encoding} data: the compressed stream does not end")
    if decompressor.unused_data:
        raise DecompressionError(
            f"{len(decompressor.unused_data)} bytes of trailing data after the {encoding} stream"
        )


# --- Messages -------------------------------------------------------------------


def frame_message(
    message: bytes,
    *,
    encoding: str | None = None,
    max_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
) -> bytes:
    """Compress (if `encoding` says so) and frame one message for sending.

    The compressed form is used only when it is smaller; otherwise the
    message goes uncompressed with Compressed-Flag 0, which doc/compression.md
    allows ("if compression would result in small or negative gains").
    """
    if encoding is not None and encoding != IDENTITY:
        compressed = compress(encoding, message)
        if len(compressed) < len(message):
            return encode_message(compressed, compressed=True, max_message_length=max_message_length)
    return encode_message(message, max_message_length=max_message_length)


def message_payload(message: LengthPrefixedMessage, *, encoding: str | None, max_length: int) -> bytes:
    """The bytes of a received message, inflated if its Compressed-Flag is set.

    `encoding` is the stream's grpc-encoding (None if absent). A message
    flagged compressed on a stream without one, or with identity, is an
    error: doc/compression.md, "An ill-constructed message with its
    Compressed-Flag bit set but lacking a grpc-encoding entry different from
    identity in its metadata MUST fail with INTERNAL status".
    """
    if not message.compressed:
        return message.message
    if encoding is None or encoding == IDENTITY:
        raise ProtocolError(
            "compressed-flag is set but the stream's grpc-encoding is "
            f"{'absent' if encoding is None else encoding!r}: nothing to decompress with"
        )
    return decompress(encoding, message.message, max_length=max_length)


# --- Negotiation ----------------------------------------------------------------


def accept_encoding_value(encodings: Sequence[str] = SUPPORTED_ENCODINGS) -> str:
    """The grpc-accept-encoding header value for `encodings`."""
    return _LIST_SEPARATOR.join(encodings)


def parse_accept_encoding(value: str | bytes | None) -> tuple[str, ...]:
    """The codings a grpc-accept-encoding value lists (None -> none listed).

    Spaces around the commas are dropped, as are empty items; coding names
    are compared case-insensitively in HTTP, so they come back lowercased.
    """
    if value is None:
        return ()
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii", "replace")
    return _parse_coding_list(value)


@functools.lru_cache(maxsize=_PARSED_LISTS_KEPT)
def _parse_coding_list(value: str) -> tuple[str, ...]:
    items = (item.strip(" \t").lower() for item in value.split(_LIST_SEPARATOR))
    return tuple(item for item in items if item)


def choose_encoding(wanted: str | None, peer_accepts: Sequence[str] | None) -> str | None:
    """The encoding to compress with: `wanted`, if the peer can read it.

    None (send uncompressed) when nothing is wanted, when identity is wanted,
    or when the peer's grpc-accept-encoding does not list `wanted`: "For
    every message a server is requested to compress using an algorithm it
    knows the client doesn't support ... it SHALL send the message
    uncompressed." `peer_accepts=None` means the peer has not said yet (a
    client's first request; "A client doesn't a priori know which algorithms
    a server supports"), and `wanted` is used as is.
    """
    if wanted is None or wanted == IDENTITY:
        return None
    check_supported(wanted)
    if peer_accepts is not None and wanted not in peer_accepts:
        return None
    return wanted
