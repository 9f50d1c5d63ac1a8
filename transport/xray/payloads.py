"""Frame payloads read into named fields, one function per frame type.

Implements the payload layouts of RFC 9113 §6, https://www.rfc-editor.org/rfc/rfc9113#section-6
(and of ALTSVC, RFC 7838 §4, and PRIORITY_UPDATE, RFC 9218 §7.1, by name only).
Pure functions of one frame: no state, no I/O. They never raise on what a
peer sent; a field that is missing or out of its range becomes a problem in
the result, worded with the rule it breaks, and the rest is still read.

    DATA          Pad Length? (8), Data (..), Padding (..)                 §6.1
    HEADERS       Pad Length? (8), [E (1), Stream Dependency (31),
                  Weight (8)]?, Field Block Fragment (..), Padding (..)    §6.2
    PRIORITY      E (1), Stream Dependency (31), Weight (8)                §6.3
    RST_STREAM    Error Code (32)                                          §6.4
    SETTINGS      (Identifier (16), Value (32))*                           §6.5.1
    PUSH_PROMISE  Pad Length? (8), R (1), Promised Stream ID (31),
                  Field Block Fragment (..), Padding (..)                  §6.6
    PING          Opaque Data (64)                                         §6.7
    GOAWAY        R (1), Last-Stream-ID (31), Error Code (32),
                  Additional Debug Data (..)                               §6.8
    WINDOW_UPDATE R (1), Window Size Increment (31)                        §6.9
    CONTINUATION  Field Block Fragment (..)                                §6.10
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .bodies import hex_preview
from .frames import (
    ACK,
    PADDED,
    PRIORITY_FLAG,
    RESERVED_BIT,
    STREAM_ID_MASK,
    FrameHeader,
    FrameType,
    error_name,
    setting_name,
)

__all__ = ["Payload", "read_payload", "STREAM_RULES"]

# --- Constants ----------------------------------------------------------------

PAD_LENGTH = struct.Struct(">B")  # §6.1 Pad Length (8)
PRIORITY_FIELDS = struct.Struct(">IB")  # §6.3 E + Stream Dependency (32), Weight (8)
ERROR_CODE = struct.Struct(">I")  # §6.4 Error Code (32)
SETTING = struct.Struct(">HI")  # §6.5.1 Identifier (16), Value (32)
PING_LENGTH = 8  # §6.7 Opaque Data (64)
STREAM_FIELD = struct.Struct(">I")  # R (1) + a 31-bit stream id or increment
GOAWAY_FIELDS = struct.Struct(">II")  # §6.8 R + Last-Stream-ID, Error Code
WEIGHT_OFFSET = 1  # §5.3.2: "Add one to the value to obtain a weight between 1 and 256"
DEBUG_PREVIEW_BYTES = 64  # GOAWAY debug data shown

# Which frames belong to a stream and which to the connection (stream 0).
STREAM = "stream"
CONNECTION = "connection"
EITHER = "either"
STREAM_RULES: Mapping[int, str] = MappingProxyType({
    FrameType.DATA: STREAM,  # §6.1 "If a DATA frame is received whose Stream Identifier field is 0x00 ..."
    FrameType.HEADERS: STREAM,  # §6.2
    FrameType.PRIORITY: STREAM,  # §6.3
    FrameType.RST_STREAM: STREAM,  # §6.4
    FrameType.SETTINGS: CONNECTION,  # §6.5 "The stream identifier for a SETTINGS frame MUST be zero"
    FrameType.PUSH_PROMISE: STREAM,  # §6.6
    FrameType.PING: CONNECTION,  # §6.7
    FrameType.GOAWAY: CONNECTION,  # §6.8
    FrameType.WINDOW_UPDATE: EITHER,  # §6.9 "can be specific to a stream or to the entire connection"
    FrameType.CONTINUATION: STREAM,  # §6.10
})


@dataclass(kw_only=True)
class Payload:
    """The fields of one frame's payload, and what was wrong with it."""

    details: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fragment: bytes | None = None  # a field block fragment (HEADERS, PUSH_PROMISE, CONTINUATION)
    data: bytes | None = None  # DATA's data, without padding


def read_payload(header: FrameHeader, payload: bytes) -> Payload:
    """Read `payload` as a frame of `header.frame_type` says; never raises."""
    result = Payload()
    _check_stream(header, result)
    if header.reserved:
        result.problems.append("the reserved bit of the stream identifier is set (§4.1: MUST remain unset)")
    reader = PAYLOAD_READERS.get(header.frame_type, _unknown)
    reader(header, payload, result)
    return result


def _check_stream(header: FrameHeader, result: Payload) -> None:
    rule = STREAM_RULES.get(header.frame_type, EITHER)
    if rule == STREAM and header.stream_id == 0:
        result.problems.append("sent on stream 0, but this frame type belongs to a stream (PROTOCOL_ERROR)")
    elif rule == CONNECTION and header.stream_id != 0:
        result.problems.append("sent on a stream, but this frame type belongs to stream 0 (PROTOCOL_ERROR)")


def _strip_padding(header: FrameHeader, payload: bytes, result: Payload) -> bytes | None:
    """§6.1: drop Pad Length and Padding; None if the padding does not fit."""
    if not header.flags & PADDED:
        return payload
    if not payload:
        result.problems.append("PADDED, but the payload has no Pad Length octet (FRAME_SIZE_ERROR)")
        return None
    (pad_length,) = PAD_LENGTH.unpack_from(payload)
    result.details["padding"] = pad_length
    body = payload[PAD_LENGTH.size:]
    if pad_length > len(body):
        # "If the length of the padding is the length of the frame payload or
        # greater, the recipient MUST treat this as a connection error"
        result.problems.append(f"Pad Length {pad_length} does not fit in the payload (PROTOCOL_ERROR)")
        return None
    return body[:len(body) - pad_length]


def _data(header: FrameHeader, payload: bytes, result: Payload) -> None:
    data = _strip_padding(header, payload, result)
    if data is not None:
        result.data = data
        result.details["data_length"] = len(data)


def _headers(header: FrameHeader, payload: bytes, result: Payload) -> None:
    body = _strip_padding(header, payload, result)
    if body is None:
        return
    if header.flags & PRIORITY_FLAG:
        if len(body) < PRIORITY_FIELDS.size:
            result.problems.append("PRIORITY flag, but no room for the priority fields (FRAME_SIZE_ERROR)")
            return
        result.details["priority"] = _priority_fields(body)
        body = body[PRIORITY_FIELDS.size:]
    result.fragment = body
    result.details["fragment_length"] = len(body)


def _priority_fields(body: bytes) -> dict[str, Any]:
    dependency, weight = PRIORITY_FIELDS.unpack_from(body)
    return {
        "exclusive": bool(dependency & RESERVED_BIT),
        "stream_dependency": dependency & STREAM_ID_MASK,
        "weight": weight + WEIGHT_OFFSET,
    }


def _priority(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if len(payload) != PRIORITY_FIELDS.size:
        result.problems.append(f"PRIORITY payload is {len(payload)} octets, not 5 (FRAME_SIZE_ERROR)")
        return
    result.details.update(_priority_fields(payload))


def _rst_stream(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if len(payload) != ERROR_CODE.size:
        result.problems.append(f"RST_STREAM payload is {len(payload)} octets, not 4 (FRAME_SIZE_ERROR)")
        return
    _error_code(ERROR_CODE.unpack(payload)[0], result)


def _error_code(code: int, result: Payload) -> None:
    result.details["error_code"] = code
    result.details["error_name"] = error_name(code)


def _settings(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if header.flags & ACK and payload:
        result.problems.append("a SETTINGS ACK must be empty (§6.5: FRAME_SIZE_ERROR)")
    whole, extra = divmod(len(payload), SETTING.size)
    if extra:
        result.problems.append(f"SETTINGS payload of {len(payload)} octets is not a multiple of 6 (FRAME_SIZE_ERROR)")
    result.details["settings"] = [
        {"id": identifier, "name": setting_name(identifier), "value": value}
        for identifier, value in SETTING.iter_unpack(payload[:whole * SETTING.size])
    ]


def _push_promise(header: FrameHeader, payload: bytes, result: Payload) -> None:
    body = _strip_padding(header, payload, result)
    if body is None:
        return
    if len(body) < STREAM_FIELD.size:
        result.problems.append("PUSH_PROMISE too short for its Promised Stream ID (FRAME_SIZE_ERROR)")
        return
    result.details["promised_stream_id"] = STREAM_FIELD.unpack_from(body)[0] & STREAM_ID_MASK
    result.fragment = body[STREAM_FIELD.size:]
    result.details["fragment_length"] = len(result.fragment)


def _ping(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if len(payload) != PING_LENGTH:
        result.problems.append(f"PING payload is {len(payload)} octets, not 8 (FRAME_SIZE_ERROR)")
    result.details["opaque_data"] = payload[:PING_LENGTH].hex()


def _goaway(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if len(payload) < GOAWAY_FIELDS.size:
        result.problems.append(f"GOAWAY payload is {len(payload)} octets, less than 8 (FRAME_SIZE_ERROR)")
        return
    last_stream, code = GOAWAY_FIELDS.unpack_from(payload)
    result.details["last_stream_id"] = last_stream & STREAM_ID_MASK
    _error_code(code, result)
    debug = payload[GOAWAY_FIELDS.size:]
    if debug:
        result.details["debug_data"] = debug[:DEBUG_PREVIEW_BYTES].decode("utf-8", "backslashreplace")


def _window_update(header: FrameHeader, payload: bytes, result: Payload) -> None:
    if len(payload) != STREAM_FIELD.size:
        result.problems.append(f"WINDOW_UPDATE payload is {len(payload)} octets, not 4 (FRAME_SIZE_ERROR)")
        return
    increment = STREAM_FIELD.unpack(payload)[0] & STREAM_ID_MASK
    result.details["window_size_increment"] = increment
    if increment == 0:
        result.problems.append("window size increment of 0 (§6.9: PROTOCOL_ERROR)")


def _continuation(header: FrameHeader, payload: bytes, result: Payload) -> None:
    result.fragment = payload
    result.details["fragment_length"] = len(payload)


def _unknown(header: FrameHeader, payload: bytes, result: Payload) -> None:
    # §4.1: "Implementations MUST ignore and discard frames of unknown types."
    result.details["payload"] = hex_preview(payload)


PAYLOAD_READERS: Mapping[int, Callable[[FrameHeader, bytes, Payload], None]] = MappingProxyType({
    FrameType.DATA: _data,
    FrameType.HEADERS: _headers,
    FrameType.PRIORITY: _priority,
    FrameType.RST_STREAM: _rst_stream,
    FrameType.SETTINGS: _settings,
    FrameType.PUSH_PROMISE: _push_promise,
    FrameType.PING: _ping,
    FrameType.GOAWAY: _goaway,
    FrameType.WINDOW_UPDATE: _window_update,
    FrameType.CONTINUATION: _continuation,
})
