"""What the tracer reports: one record per thing it saw on the wire.

The records follow the order of the bytes: the preface, then each frame as
it completes, then what that frame completed -- a header block (after the
frame with END_HEADERS), a gRPC message (after the DATA frame holding its
last byte) -- then anything the tracer could not make sense of. Every record
names its `sender`: "client" or "server", whoever wrote those bytes.

They are frozen, keyword-only dataclasses named in the past tense, like the
events of the protocol core. `details` of a FrameSeen holds the fields of that
frame's payload (RFC 9113 §6), already JSON-able: numbers, strings, lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "CLIENT",
    "SERVER",
    "SENDERS",
    "PROXY",
    "PrefaceSeen",
    "FrameSeen",
    "HeaderField",
    "TableSizeUpdate",
    "HeaderBlockDecoded",
    "MessageReassembled",
    "ParseFailed",
    "ConnectionNoted",
    "Record",
]

CLIENT = "client"  # bytes the client wrote (requests travel this way)
SERVER = "server"  # bytes the server wrote (responses travel this way)
SENDERS = (CLIENT, SERVER)
PROXY = "proxy"  # not on the wire: what the proxy itself did


@dataclass(frozen=True, kw_only=True)
class PrefaceSeen:
    """The client's connection preface (RFC 9113 §3.4), or what came instead."""

    sender: str
    data: bytes
    valid: bool


@dataclass(frozen=True, kw_only=True)
class FrameSeen:
    """One whole frame: its header (RFC 9113 §4.1) and its payload's fields."""

    sender: str
    frame_type: int
    type_name: str  # "DATA", "HEADERS", ..., or "UNKNOWN_0x.." for extensions
    flags: int
    flag_names: tuple[str, ...]
    stream_id: int
    length: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class HeaderField:
    """One field of a header block, with how HPACK carried it (RFC 7541 §6).

    representation: "indexed" (§6.1), "literal with incremental indexing"
    (§6.2.1), "literal without indexing" (§6.2.2) or "literal never indexed"
    (§6.2.3). `index` is the table index of the whole field (indexed) or of
    its name (a literal with an indexed name), and `table` says which table
    that index fell in: "static" or "dynamic"; both are None for a literal
    name. `name_huffman` / `value_huffman` say whether each literal string was
    Huffman-coded (§5.2), None where the string came from a table.
    """

    representation: str
    name: str
    value: str
    index: int | None = None
    table: str | None = None
    name_huffman: bool | None = None
    value_huffman: bool | None = None
    raw: bytes = b""
    hint: str | None = None  # what the value means to gRPC, when it says something


@dataclass(frozen=True, kw_only=True)
class TableSizeUpdate:
    """A dynamic table size update (RFC 7541 §6.3) inside a header block."""

    max_size: int
    evicted: int  # entries dropped to fit the new size
    raw: bytes = b""


HeaderEntry = Union[HeaderField, TableSizeUpdate]


@dataclass(frozen=True, kw_only=True)
class HeaderBlockDecoded:
    """A complete header block (HEADERS or PUSH_PROMISE + CONTINUATIONs), decoded.

    `role` is what the block is to gRPC (PROTOCOL-HTTP2.md): "request
    headers", "response headers", "trailers", "trailers-only", or "push
    promise". `complete` is false when decoding stopped at a problem, reported
    in a ParseFailed record that follows.
    """

    sender: str
    stream_id: int
    role: str
    entries: tuple[HeaderEntry, ...]
    complete: bool = True
    dynamic_table_size: int = 0  # the sender's table after this block, in octets
    dynamic_table_entries: int = 0

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The (name, value) pairs, in order, without the HPACK bookkeeping."""
        return [(e.name, e.value) for e in self.entries if isinstance(e, HeaderField)]

    def get(self, name: str) -> str | None:
        """The last value of header `name`, or None."""
        values = [value for key, value in self.headers if key == name]
        return values[-1] if values else None


@dataclass(frozen=True, kw_only=True)
class MessageReassembled:
    """One gRPC Length-Prefixed-Message, reassembled from a stream's DATA frames.

    `message_length` is what the 5-byte prefix said; `body` is the message as
    shown: decompressed when the prefix said compressed and the stream's
    grpc-encoding was one the tracer knows. `decoded` is the text a body
    formatter made of it (fields by schema, or raw), None when there was none.
    `kind` is "request" (client to server) or "response".
    """

    sender: str
    stream_id: int
    path: str | None
    kind: str
    compressed_flag: int
    message_length: int
    encoding: str | None
    body: bytes
    decoded: str | None = None
    frames: int = 1  # how many DATA frames carried it
    shown_length: int = 0  # bytes of the message kept (less than message_length if too big to keep)


@dataclass(frozen=True, kw_only=True)
class ParseFailed:
    """Something the tracer could not parse; the bytes were forwarded anyway."""

    sender: str
    what: str
    stream_id: int | None = None
    data: bytes = b""


@dataclass(frozen=True, kw_only=True)
class ConnectionNoted:
    """Something the proxy did with a connection: accepted it, reached upstream, closed it."""

    what: str
    sender: str = PROXY


Record = Union[PrefaceSeen, FrameSeen, HeaderBlockDecoded, MessageReassembled, ParseFailed,
               ConnectionNoted]
