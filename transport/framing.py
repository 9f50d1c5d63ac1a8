"""Message framing: the Length-Prefixed-Message of gRPC over HTTP/2.

Implements doc/PROTOCOL-HTTP2.md, section "Requests", the productions below
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests

    Length-Prefixed-Message → Compressed-Flag Message-Length Message
    Compressed-Flag → 0 / 1      # encoded as 1 byte unsigned integer
    Message-Length → {length of Message}
                                 # encoded as 4 byte unsigned integer (big endian)
    Message → *{binary octet}

The messages of a stream travel in its DATA frames, and "DATA frame boundaries
have no relation to Length-Prefixed-Message boundaries" (section "Data
Frames"): one frame may hold half a prefix, or the end of one message and the
start of three more. `MessageDecoder` takes the bytes as they come, in any
split, and hands back whole messages.

A peer's length prefix is a claim, not a fact: the decoder checks it against
the receive limit as soon as the 5-byte prefix is complete, before it keeps a
single byte of the message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import MessageTooLarge, ProtocolError

__all__ = [
    "MESSAGE_PREFIX",
    "MESSAGE_PREFIX_LENGTH",
    "COMPRESSED_FLAG_NONE",
    "COMPRESSED_FLAG_COMPRESSED",
    "MAX_MESSAGE_LENGTH_FIELD",
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "DEFAULT_MAX_SEND_MESSAGE_LENGTH",
    "LengthPrefixedMessage",
    "MessageDecoder",
    "encode_message",
    "explain",
]

# --- Constants ----------------------------------------------------------------

MESSAGE_PREFIX = struct.Struct(">BI")  # compressed-flag, message-length
MESSAGE_PREFIX_LENGTH = MESSAGE_PREFIX.size  # 5: 1 flag byte + 4 length bytes

# Compressed-Flag: "A value of 1 indicates that the binary octet sequence of
# Message is compressed using the mechanism declared by the Message-Encoding
# header. A value of 0 indicates that no encoding of Message bytes has occurred."
COMPRESSED_FLAG_NONE = 0
COMPRESSED_FLAG_COMPRESSED = 1
_VALID_COMPRESSED_FLAGS = frozenset({COMPRESSED_FLAG_NONE, COMPRESSED_FLAG_COMPRESSED})

# Message-Length is a 4-byte unsigned integer: no message can be longer.
MAX_MESSAGE_LENGTH_FIELD = 2**32 - 1  # 0xFFFFFFFF

# The customary defaults of gRPC implementations: 4 MiB for what we accept,
# and the largest length a signed 32-bit int can hold for what we send.
DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024
DEFAULT_MAX_SEND_MESSAGE_LENGTH = 2**31 - 1

# How many bytes of a message explain() shows.
_EXPLAIN_PREVIEW_BYTES = 16


# --- Encoding -------------------------------------------------------------------


def encode_message(
    message: bytes,
    *,
    compressed: bool = False,
    max_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
) -> bytes:
    """Frame one message: compressed-flag, 4-byte big-endian length, message.

    `message` is already compressed when `compressed` is true; this function
    only sets the flag. A message over `max_message_length` (or over what the
    4-byte length can say) raises MessageTooLarge, which doc/statuscodes.md
    maps to RESOURCE_EXHAUSTED for sent messages too.
    """
    limit = min(max_message_length, MAX_MESSAGE_LENGTH_FIELD)
    message_length = len(message)
    if message_length > limit:
        raise MessageTooLarge(
            f"message to send is {message_length} bytes, over the limit of {limit}"
        )
    compressed_flag = COMPRESSED_FLAG_COMPRESSED if compressed else COMPRESSED_FLAG_NONE
    return MESSAGE_PREFIX.pack(compressed_flag, message_length) + bytes(message)


# --- Decoding -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LengthPrefixedMessage:
    """One message as framed on the wire, still compressed if `compressed`."""

    compressed: bool
    message: bytes


class MessageDecoder:
    """Incremental decoder for a stream of Length-Prefixed-Messages.

    Feed it the payload of each DATA frame as it arrives; it returns the
    messages that became complete. At END_STREAM call `close()`, which fails
    if a message was cut short.

    It is a two-state machine: reading a 5-byte prefix, then reading the
    `message_length` bytes the prefix announced, then back. A message that
    arrives whole in one piece of data is sliced out of it, a single copy;
    one split across pieces is built up in a buffer (each byte copied once
    into it, once out), so a large message costs time linear in its size
    however it is split.

    After an error the decoder stays failed: the stream's framing is lost, and
    every later `feed` raises the same error again.
    """

    def __init__(self, *, max_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH) -> None:
        self.max_message_length = max_message_length
        self._prefix = bytearray()  # the part of the 5-byte prefix seen so far
        self._compressed = False  # the flag of the message being read
        self._message_length: int | None = None  # None while reading a prefix
        self._message = bytearray()  # the part of the message seen so far
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held of a message that is not complete yet (prefix included)."""
        return len(self._prefix) + len(self._message) + (
            MESSAGE_PREFIX_LENGTH if self._message_length is not None else 0
        )

    def feed(self, data: bytes) -> list[LengthPrefixedMessage]:
        """Take the next bytes of the stream; return the messages now complete."""
        if self._error is not None:
            raise self._error
        if self._message_length is None and not self._prefix and len(data) >= MESSAGE_PREFIX_LENGTH:
            # The usual case, a piece holding exactly one whole message: no
            # state to keep, one slice.
            compressed_flag, message_length = MESSAGE_PREFIX.unpack_from(data)
            if (message_length == len(data) - MESSAGE_PREFIX_LENGTH
                    and message_length <= self.max_message_length
                    and compressed_flag in _VALID_COMPRESSED_FLAGS):
                return [LengthPrefixedMessage(compressed=compressed_flag == COMPRESSED_FLAG_COMPRESSED,
                                              message=bytes(data[MESSAGE_PREFIX_LENGTH:]))]
        view = memoryview(data).cast("B")
        messages: list[LengthPrefixedMessage] = []
        position = 0
        try:
            while True:
                if self._message_length is None:
                    if position == len(view):
                        return messages
                    position = self._read_prefix(view, position)
                else:
                    position = self._read_message(view, position, messages)
                    if self._message_length is not None:
                        return messages  # the rest of this message is still to come
        except ProtocolError as error:
            self._error = error
            raise

    def close(self) -> None:
        """The stream ended (END_STREAM): fail if a message was cut short."""
        if self._error is not None:
            raise self._error
        if self._message_length is not None:
            raise ProtocolError(
                f"message truncated: the stream ended after {len(self._message)} of "
                f"{self._message_length} message bytes"
            )
        if self._prefix:
            raise ProtocolError(
                f"message truncated: the stream ended after {len(self._prefix)} of "
                f"the {MESSAGE_PREFIX_LENGTH} prefix bytes"
            )

    def _read_prefix(self, view: memoryview, position: int) -> int:
        if not self._prefix and len(view) - position >= MESSAGE_PREFIX_LENGTH:
            # The usual case: the whole prefix is here; read it in place.
            self._start_message(*MESSAGE_PREFIX.unpack_from(view, position))
            return position + MESSAGE_PREFIX_LENGTH
        wanted = MESSAGE_PREFIX_LENGTH - len(self._prefix)
        chunk = view[position:position + wanted]
        self._prefix += chunk
        if len(self._prefix) == MESSAGE_PREFIX_LENGTH:
            self._start_message(*MESSAGE_PREFIX.unpack(self._prefix))
            self._prefix.clear()
        return position + len(chunk)

    def _start_message(self, compressed_flag: int, message_length: int) -> None:
        if compressed_flag not in _VALID_COMPRESSED_FLAGS:
            # PROTOCOL-HTTP2.md: Compressed-Flag → 0 / 1
            raise ProtocolError(
                f"invalid compressed-flag {compressed_flag:#04x}: must be 0 or 1"
            )
        if message_length > self.max_message_length:
            raise MessageTooLarge(
                f"received message length {message_length} exceeds the limit "
                f"of {self.max_message_length} bytes"
            )
        self._compressed = compressed_flag == COMPRESSED_FLAG_COMPRESSED
        self._message_length = message_length

    def _read_message(self, view: memoryview, position: int, messages: list) -> int:
        """Take what `view` holds of the message; once it is complete, append it to `messages`."""
        wanted = self._message_length - len(self._message)
        chunk = view[position:position + wanted]
        if len(chunk) < wanted:
            self._message += chunk
        elif not self._message:
            messages.append(self._finish_message(bytes(chunk)))  # the usual case: all of it is here
        else:
            self._message += chunk
            messages.append(self._finish_message(bytes(self._message)))
            self._message = bytearray()
        return position + len(chunk)

    def _finish_message(self, message: bytes) -> LengthPrefixedMessage:
        finished = LengthPrefixedMessage(compressed=self._compressed, message=message)
        self._message_length = None
        self._compressed = False
        return finished


# --- Teaching hook ----------------------------------------------------------------


def explain(data: bytes) -> str:
    """Describe, byte by byte, the Length-Prefixed-Messages in `data`.

    Meant for notebooks and debugging: it never raises, whatever the bytes,
    and says where the data stops making sense.

    >>> print(explain(b"\\x00\\x00\\x00\\x00\\x02\\x08\\x01"))
    message 1 at offset 0
      compressed-flag  00           = 0 (not compressed)
      message-length   00 00 00 02  = 2 bytes
      message          08 01
    """
    data = bytes(data)
    lines: list[str] = []
    offset = 0
    number = 1
    while offset < len(data):
        offset = _explain_one(data, offset, number, lines)
        number += 1
    if not lines:
        lines.append("(no bytes)")
    return "\n".join(lines)


def _explain_one(data: bytes, offset: int, number: int, lines: list[str]) -> int:
    lines.append(f"message {number} at offset {offset}")
    prefix = data[offset:offset + MESSAGE_PREFIX_LENGTH]
    if len(prefix) < MESSAGE_PREFIX_LENGTH:
        lines.append(
            f"  incomplete prefix {_hex(prefix)}: {len(prefix)} of "
            f"{MESSAGE_PREFIX_LENGTH} bytes"
        )
        return len(data)
    compressed_flag, message_length = MESSAGE_PREFIX.unpack(prefix)
    lines.append(f"  compressed-flag  {_hex(prefix[:1]):<12} = {_describe_flag(compressed_flag)}")
    lines.append(f"  message-length   {_hex(prefix[1:]):<12} = {message_length} bytes")
    start = offset + MESSAGE_PREFIX_LENGTH
    message = data[start:start + min(message_length, _EXPLAIN_PREVIEW_BYTES)]
    available = min(message_length, len(data) - start)
    lines.append(f"  message          {_hex(message)}{_describe_rest(message_length, available)}")
    return start + message_length


def _describe_flag(compressed_flag: int) -> str:
    if compressed_flag == COMPRESSED_FLAG_NONE:
        return "0 (not compressed)"
    if compressed_flag == COMPRESSED_FLAG_COMPRESSED:
        return "1 (compressed with the stream's grpc-encoding)"
    return f"{compressed_flag} (INVALID: must be 0 or 1)"


def _describe_rest(message_length: int, available: int) -> str:
    if available < message_length:
        return f" ... TRUNCATED: only {available} of {message_length} bytes present"
    if message_length > _EXPLAIN_PREVIEW_BYTES:
        return f" ... ({message_length - _EXPLAIN_PREVIEW_BYTES} more bytes)"
    return ""


def _hex(data: bytes) -> str:
    return data.hex(" ") if data else "(empty)"
