"""gRPC messages put back together from DATA frames, for display.

Implements the reading side of doc/PROTOCOL-HTTP2.md, sections "Requests"
and "Data Frames",
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests

    Length-Prefixed-Message → Compressed-Flag Message-Length Message
    Compressed-Flag → 0 / 1      # encoded as 1 byte unsigned integer
    Message-Length → {length of Message}
                                 # encoded as 4 byte unsigned integer (big endian)

"DATA frame boundaries have no relation to Length-Prefixed-Message
boundaries": a prefix may be split across two frames, and one frame may end
one message and start the next. `MessageAssembler` follows one direction of
one stream and reports each prefix where it completes and each message when
its last byte arrives.

It differs from `transport.framing.MessageDecoder` on purpose. The decoder
guards an endpoint and stops at the first bad prefix; the tracer must keep
following the stream whatever it carries, so it reports a bad flag and reads
on, and of a message longer than `keep_limit` it keeps only the first
`keep_limit` bytes and counts the rest, so a peer's length claim never makes
it buffer more than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..framing import MESSAGE_PREFIX, MESSAGE_PREFIX_LENGTH

__all__ = ["DEFAULT_KEEP_LIMIT", "PrefixRead", "MessageRead", "MessageAssembler"]

DEFAULT_KEEP_LIMIT = 4 * 1024 * 1024  # bytes of one message kept for display (4 MiB)


@dataclass(frozen=True, kw_only=True, slots=True)
class PrefixRead:
    """A 5-byte prefix completed; `offset` is where it started in the bytes fed
    (negative when it started in an earlier DATA frame)."""

    offset: int
    compressed_flag: int
    message_length: int
    raw: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageRead:
    """A whole message; `body` holds its first `keep_limit` bytes."""

    compressed_flag: int
    message_length: int
    body: bytes
    frames: int  # how many feed() calls (DATA frames) carried some of it

    @property
    def complete_body(self) -> bool:
        return len(self.body) == self.message_length


Read = Union[PrefixRead, MessageRead]


class MessageAssembler:
    """Length-Prefixed-Messages of one stream direction, from bytes in any split."""

    def __init__(self, *, keep_limit: int = DEFAULT_KEEP_LIMIT) -> None:
        self.keep_limit = keep_limit
        self._prefix = bytearray()
        self._compressed_flag = 0
        self._message_length: int | None = None  # None while reading a prefix
        self._body = bytearray()
        self._received = 0  # message bytes seen, kept or not
        self._frames = 0

    @property
    def partial(self) -> str | None:
        """What is left unfinished, in words; None between messages."""
        if self._message_length is not None:
            return f"{self._received} of {self._message_length} message bytes"
        if self._prefix:
            return f"{len(self._prefix)} of the {MESSAGE_PREFIX_LENGTH} prefix bytes"
        return None

    def feed(self, data: bytes) -> list[Read]:
        """Take one DATA frame's payload; return the prefixes and messages it completed."""
        reads: list[Read] = []
        position = 0
        if self.partial is not None:
            self._frames += 1
        while position < len(data):
            started = position
            if self._message_length is None:
                position = self._read_prefix(data, position, reads)
            else:
                position = self._read_message(data, position)
            self._finish_if_complete(reads)
            if position == started:  # cannot happen; a guard against looping forever
                break
        return reads

    def _read_prefix(self, data: bytes, position: int, reads: list[Read]) -> int:
        chunk = data[position:position + MESSAGE_PREFIX_LENGTH - len(self._prefix)]
        started_at = position - len(self._prefix)
        if not self._prefix:
            self._frames = 1  # a new message starts in this frame
        self._prefix += chunk
        if len(self._prefix) == MESSAGE_PREFIX_LENGTH:
            compressed_flag, message_length = MESSAGE_PREFIX.unpack(self._prefix)
            reads.append(PrefixRead(offset=started_at, compressed_flag=compressed_flag,
                                    message_length=message_length, raw=bytes(self._prefix)))
            self._prefix.clear()
            self._compressed_flag = compressed_flag
            self._message_length = message_length
        return position + len(chunk)

    def _read_message(self, data: bytes, position: int) -> int:
        wanted = self._message_length - self._received
        chunk = data[position:position + wanted]
        room = self.keep_limit - len(self._body)
        if room > 0:
            self._body += chunk[:room]
        self._received += len(chunk)
        return position + len(chunk)

    def _finish_if_complete(self, reads: list[Read]) -> None:
        if self._message_length is None or self._received < self._message_length:
            return
        reads.append(MessageRead(compressed_flag=self._compressed_flag,
                                 message_length=self._message_length,
                                 body=bytes(self._body), frames=max(self._frames, 1)))
        self._message_length = None
        self._body = bytearray()
        self._received = 0
        self._frames = 0
