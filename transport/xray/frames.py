"""HTTP/2 framing as the tracer reads it: the preface, frame headers, names.

Implements RFC 9113 §3.4 (the connection preface), §4.1 (frame format),
§6 (frame definitions: types and flags), §6.5.2 (defined settings) and §7
(error codes), https://www.rfc-editor.org/rfc/rfc9113 — plus the frame types
and settings that later RFCs and gRPC's own transport registered.

    HTTP Frame {
      Length (24),
      Type (8),
      Flags (8),
      Reserved (1),
      Stream Identifier (31),
      Frame Payload (..),
    }

Everything here is a table or a lookup into one. A name that is not in a
table is not an error: RFC 9113 §4.1 says "Implementations MUST ignore and
discard frames of unknown types" and §6.5.2 that "an endpoint that receives
a SETTINGS frame with any unknown or unsupported identifier MUST ignore that
setting", so the tracer names such things by number and moves on.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..status import Http2ErrorCode

__all__ = [
    "CONNECTION_PREFACE",
    "FRAME_HEADER",
    "FRAME_HEADER_LENGTH",
    "MAX_FRAME_LENGTH",
    "FrameType",
    "FrameHeader",
    "FRAME_TYPE_NAMES",
    "FRAME_FLAGS",
    "SETTING_NAMES",
    "parse_frame_header",
    "type_name",
    "flag_names",
    "setting_name",
    "error_name",
]

# --- Constants ----------------------------------------------------------------

# RFC 9113 §3.4: "the connection preface starts with the string
# PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 octets), sent by the client only,
# followed by a SETTINGS frame. The server's preface is just that SETTINGS frame.
CONNECTION_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §4.1: a 9-octet header. struct has no 24-bit integer, so the length
# is read as one byte and two bytes: length_high (8), length_low (16).
FRAME_HEADER = struct.Struct(">BHBBI")  # length_high, length_low, type, flags, stream
FRAME_HEADER_LENGTH = FRAME_HEADER.size  # 9
_LENGTH_LOW_BITS = 16
MAX_FRAME_LENGTH = (1 << 24) - 1  # the 24-bit Length field's largest value
RESERVED_BIT = 1 << 31  # §4.1: "Reserved: A reserved 1-bit field ... MUST remain unset"
STREAM_ID_MASK = RESERVED_BIT - 1  # the 31-bit Stream Identifier


class FrameType:
    """Frame type numbers: RFC 9113 §6, RFC 7838 §4 (ALTSVC), RFC 9218 §7.1."""

    DATA = 0x0
    HEADERS = 0x1
    PRIORITY = 0x2
    RST_STREAM = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    PING = 0x6
    GOAWAY = 0x7
    WINDOW_UPDATE = 0x8
    CONTINUATION = 0x9
    ALTSVC = 0xA
    PRIORITY_UPDATE = 0x10


FRAME_TYPE_NAMES: Mapping[int, str] = MappingProxyType({
    number: name for name, number in vars(FrameType).items() if name.isupper()
})

# Flag bits by frame type, as data. Each row is the "Flags" list of the
# frame's definition in RFC 9113 §6.x; types without flags are not listed.
END_STREAM = 0x01
ACK = 0x01
END_HEADERS = 0x04
PADDED = 0x08
PRIORITY_FLAG = 0x20

FRAME_FLAGS: Mapping[int, tuple[tuple[int, str], ...]] = MappingProxyType({
    FrameType.DATA: ((END_STREAM, "END_STREAM"), (PADDED, "PADDED")),  # §6.1
    FrameType.HEADERS: (  # §6.2
        (END_STREAM, "END_STREAM"), (END_HEADERS, "END_HEADERS"),
        (PADDED, "PADDED"), (PRIORITY_FLAG, "PRIORITY"),
    ),
    FrameType.SETTINGS: ((ACK, "ACK"),),  # §6.5
    FrameType.PUSH_PROMISE: ((END_HEADERS, "END_HEADERS"), (PADDED, "PADDED")),  # §6.6
    FrameType.PING: ((ACK, "ACK"),),  # §6.7
    FrameType.CONTINUATION: ((END_HEADERS, "END_HEADERS"),),  # §6.10
})

# Setting identifiers, one row per registered setting, with its source.
SETTING_NAMES: Mapping[int, str] = MappingProxyType({
    0x1: "SETTINGS_HEADER_TABLE_SIZE",  # RFC 9113 §6.5.2
    0x2: "SETTINGS_ENABLE_PUSH",  # RFC 9113 §6.5.2
    0x3: "SETTINGS_MAX_CONCURRENT_STREAMS",  # RFC 9113 §6.5.2
    0x4: "SETTINGS_INITIAL_WINDOW_SIZE",  # RFC 9113 §6.5.2
    0x5: "SETTINGS_MAX_FRAME_SIZE",  # RFC 9113 §6.5.2
    0x6: "SETTINGS_MAX_HEADER_LIST_SIZE",  # RFC 9113 §6.5.2
    0x8: "SETTINGS_ENABLE_CONNECT_PROTOCOL",  # RFC 8441 §3
    0x9: "SETTINGS_NO_RFC7540_PRIORITIES",  # RFC 9218 §2.1
    # gRPC core's own (chttp2 transport), sent by grpcio; in no RFC.
    0xFE03: "GRPC_ALLOW_TRUE_BINARY_METADATA",
    0xFE04: "GRPC_PREFERRED_RECEIVE_CRYPTO_FRAME_SIZE",
})
SETTINGS_HEADER_TABLE_SIZE = 0x1


# --- Frame header -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameHeader:
    """The nine octets in front of every frame, unpacked."""

    length: int
    frame_type: int
    flags: int
    stream_id: int
    reserved: bool  # the reserved bit was set (senders must leave it unset)


def parse_frame_header(header: bytes) -> FrameHeader:
    """Unpack a 9-byte frame header. `header` must be exactly 9 bytes long."""
    length_high, length_low, frame_type, flags, stream = FRAME_HEADER.unpack(header)
    return FrameHeader(
        length=(length_high << _LENGTH_LOW_BITS) | length_low,
        frame_type=frame_type,
        flags=flags,
        stream_id=stream & STREAM_ID_MASK,
        reserved=bool(stream & RESERVED_BIT),
    )


# --- Names ----------------------------------------------------------------------


def type_name(frame_type: int) -> str:
    """"HEADERS", or "UNKNOWN_0xfa" for a type no table lists."""
    return FRAME_TYPE_NAMES.get(frame_type, f"UNKNOWN_{frame_type:#04x}")


def flag_names(frame_type: int, flags: int) -> tuple[str, ...]:
    """The names of the flags set, in bit order; undefined bits by value.

    §4.1: "Flags that have no defined semantics for a particular frame type
    MUST be ignored" -- so they are shown, not judged.
    """
    names = []
    defined = 0
    for bit, name in FRAME_FLAGS.get(frame_type, ()):
        defined |= bit
        if flags & bit:
            names.append(name)
    undefined = flags & ~defined
    if undefined:
        names.append(f"{undefined:#04x}")
    return tuple(names)


def setting_name(identifier: int) -> str:
    return SETTING_NAMES.get(identifier, f"UNKNOWN_SETTING_{identifier:#06x}")


def error_name(error_code: int) -> str:
    """RFC 9113 §7 name of an error code; unknown codes by number (§7 allows them)."""
    try:
        return Http2ErrorCode(error_code).name
    except ValueError:
        return f"UNKNOWN_ERROR_{error_code:#x}"
