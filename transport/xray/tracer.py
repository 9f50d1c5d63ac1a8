"""The tracer: both directions of one HTTP/2 connection in, annotated records out.

Reads a gRPC conversation the way RFC 9113 (https://www.rfc-editor.org/rfc/rfc9113)
and doc/PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md)
lay it out, and says what it saw:

    client: preface (§3.4), then frames          server: frames
    frame (§4.1) -> header, payload fields (§6) -> FrameSeen
    HEADERS/PUSH_PROMISE + CONTINUATION* (§4.3) -> HPACK (RFC 7541) -> HeaderBlockDecoded
    DATA of a stream -> Length-Prefixed-Messages -> (decompress) -> body formatter
                                                 -> MessageReassembled

It is sans-IO, like the protocol core: `feed(sender, data)` takes bytes as
they were sent, in any split, and returns the records they completed. A
proxy feeds it what it forwards; a connection of our own can feed it what it
sends and receives (`observe`); a notebook cell can feed it bytes by hand.

It must never fail on what peers send. Every rule a frame breaks is reported
in a ParseFailed record and the tracer reads on. Only when the bytes stop
being HTTP/2 at all (a wrong preface) does it stop reading that direction,
and says so; whoever forwards the bytes keeps forwarding.

The tracer keeps, per direction, its HPACK dynamic table and the header
block being assembled; per stream, its :path, each direction's grpc-encoding
and a message assembler. All of it is bounded: frames by their 24-bit
length, header blocks by MAX_HEADER_BLOCK, kept message bytes by the keep
limit, streams by MAX_TRACKED_STREAMS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..compression import IDENTITY, decompress
from ..errors import ProtocolError
from ..framing import COMPRESSED_FLAG_COMPRESSED, COMPRESSED_FLAG_NONE
from .bodies import REQUEST, RESPONSE, BodyFormatter
from .frames import (
    ACK,
    CONNECTION_PREFACE,
    END_HEADERS,
    END_STREAM,
    FRAME_HEADER_LENGTH,
    SETTINGS_HEADER_TABLE_SIZE,
    FrameHeader,
    FrameType,
    flag_names,
    parse_frame_header,
    type_name,
)
from .hints import hint_for
from .hpack_reader import HeaderBlockReader
from .messages import DEFAULT_KEEP_LIMIT, MessageAssembler, MessageRead, PrefixRead
from .payloads import Payload, read_payload
from .records import (
    CLIENT,
    SENDERS,
    SERVER,
    FrameSeen,
    HeaderBlockDecoded,
    HeaderField,
    MessageReassembled,
    ParseFailed,
    PrefaceSeen,
    Record,
)

__all__ = ["Tracer", "SENT", "RECEIVED", "MAX_HEADER_BLOCK", "MAX_TRACKED_STREAMS"]

SENT = "sent"  # observe(): bytes the local endpoint wrote
RECEIVED = "received"  # observe(): bytes the local endpoint read

MAX_HEADER_BLOCK = 1 << 20  # octets of one header block the tracer assembles (1 MiB)
MAX_TRACKED_STREAMS = 10_000  # streams whose state is kept; the oldest is dropped past that

# Header block roles, in PROTOCOL-HTTP2.md's words.
REQUEST_HEADERS = "request headers"  # Request-Headers
RESPONSE_HEADERS = "response headers"  # Response-Headers
TRAILERS = "trailers"  # Trailers
TRAILERS_ONLY = "trailers-only"  # Trailers-Only: a response that is only trailers
PUSH_PROMISE = "push promise"  # a server push (gRPC never uses it)

# What a client's first bytes look like when they are not HTTP/2 prior knowledge.
_NOT_A_PREFACE_HINTS = (
    (b"\x16\x03", "it looks like a TLS handshake; this tracer reads cleartext h2c only"),
    (b"GET ", "it looks like HTTP/1.1"),
    (b"POST ", "it looks like HTTP/1.1"),
    (b"PRI ", "it starts like the preface but differs"),
)


@dataclass
class _PendingBlock:
    """A header block between its HEADERS/PUSH_PROMISE and its END_HEADERS (§4.3)."""

    stream_id: int
    end_stream: bool
    push_promise: bool
    fragments: bytearray = field(default_factory=bytearray)


class _Direction:
    """What the tracer knows of the bytes one side sends."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.buffer = bytearray()
        self.awaiting_preface = sender == CLIENT  # RFC 9113 §3.4: the client's preface
        self.lost = False  # no longer HTTP/2: stop reading
        self.frames_seen = 0
        self.hpack = HeaderBlockReader()
        self.block: _PendingBlock | None = None


class _Stream:
    """What the tracer knows of one stream (RFC 9113 §5)."""

    def __init__(self, keep_limit: int) -> None:
        self.path: str | None = None
        self.encodings: dict[str, str | None] = {CLIENT: None, SERVER: None}
        self.assemblers = {sender: MessageAssembler(keep_limit=keep_limit) for sender in SENDERS}
        self.blocks = {CLIENT: 0, SERVER: 0}  # header blocks seen from each side
        self.ended: set[str] = set()


class Tracer:
    """Annotates one HTTP/2 connection, both directions.

    `body_formatter` (see transport.xray.bodies) turns message bytes into
    text: fields by schema, or raw. Without one, messages are shown in hex.
    `local_role` is the side whose bytes `observe` calls "sent".
    `sink`, when given, receives every record that `observe` produces.
    """

    def __init__(
        self,
        *,
        body_formatter: BodyFormatter | None = None,
        local_role: str = CLIENT,
        sink: Callable[[Record], None] | None = None,
        keep_limit: int = DEFAULT_KEEP_LIMIT,
    ) -> None:
        _check_sender(local_role)
        self.body_formatter = body_formatter
        self.local_role = local_role
        self.sink = sink
        self.keep_limit = keep_limit
        self.records: list[Record] = []  # what observe() produced, in order
        self._directions = {sender: _Direction(sender) for sender in SENDERS}
        self._streams: dict[int, _Stream] = {}

    # --- input ------------------------------------------------------------------

    def feed(self, sender: str, data: bytes) -> list[Record]:
        """Take bytes `sender` ("client" or "server") wrote; return the records completed."""
        _check_sender(sender)
        records: list[Record] = []
        direction = self._directions[sender]
        try:
            self._feed(direction, bytes(data), records)
        except Exception as error:  # the last line of defence: a tracer bug must not stop a proxy
            direction.lost = True
            direction.buffer.clear()
            records.append(ParseFailed(
                sender=sender,
                what=f"the tracer failed ({type(error).__name__}: {error}); "
                     f"the rest of what the {sender} sends is forwarded untraced",
            ))
        return records

    def observe(self, direction: str, data: bytes) -> list[Record]:
        """The driver's hook: bytes this endpoint "sent" or "received".

        ("client" and "server" are accepted too, naming the sender directly.)
        The records are kept in `self.records`, given to `sink`, and returned.
        """
        records = self.feed(self._sender_of(direction), data)
        self.records.extend(records)
        if self.sink is not None:
            for record in records:
                self.sink(record)
        return records

    def _sender_of(self, direction: str) -> str:
        if direction in SENDERS:
            return direction
        remote = SERVER if self.local_role == CLIENT else CLIENT
        if direction == SENT:
            return self.local_role
        if direction == RECEIVED:
            return remote
        raise ValueError(f"direction must be 'sent', 'received', 'client' or 'server', not {direction!r}")

    def _feed(self, direction: _Direction, data: bytes, records: list[Record]) -> None:
        if direction.lost:
            return
        direction.buffer += data
        if direction.awaiting_preface:
            self._read_preface(direction, records)
        offset = 0
        while not direction.lost and not direction.awaiting_preface:
            frame = _frame_at(direction.buffer, offset)
            if frame is None:
                break
            header, payload, offset = frame
            self._on_frame(direction, header, payload, records)
        del direction.buffer[:offset]  # once per feed: many small frames cost linear time

    # --- the preface, RFC 9113 §3.4 --------------------------------------------

    def _read_preface(self, direction: _Direction, records: list[Record]) -> None:
        seen = bytes(direction.buffer[:len(CONNECTION_PREFACE)])
        if not CONNECTION_PREFACE.startswith(seen):
            direction.lost = True
            direction.buffer.clear()
            records.append(PrefaceSeen(sender=direction.sender, data=seen, valid=False))
            records.append(ParseFailed(sender=direction.sender, data=seen, what=_not_a_preface(seen)))
            return
        if len(seen) == len(CONNECTION_PREFACE):
            del direction.buffer[:len(CONNECTION_PREFACE)]
            direction.awaiting_preface = False
            records.append(PrefaceSeen(sender=direction.sender, data=seen, valid=True))

    # --- frames, RFC 9113 §4.1 and §6 -------------------------------------------

    def _on_frame(self, direction: _Direction, header: FrameHeader, payload: bytes,
                  records: list[Record]) -> None:
        sender = direction.sender
        name = type_name(header.frame_type)
        parsed = read_payload(header, payload)
        if direction.frames_seen == 0 and header.frame_type != FrameType.SETTINGS:
            # §3.4: each side's preface ends with (server: is) a SETTINGS frame
            parsed.problems.append("the first frame of a connection preface must be SETTINGS (§3.4)")
        direction.frames_seen += 1
        self._check_block_order(direction, header, parsed)
        handler = _HANDLERS.get(header.frame_type)
        followups = handler(self, direction, header, parsed) if handler else []
        records.append(FrameSeen(
            sender=sender, frame_type=header.frame_type, type_name=name,
            flags=header.flags, flag_names=flag_names(header.frame_type, header.flags),
            stream_id=header.stream_id, length=header.length, details=parsed.details,
        ))
        records.extend(
            ParseFailed(sender=sender, stream_id=header.stream_id, what=f"{name}: {problem}")
            for problem in parsed.problems
        )
        records.extend(followups)

    def _check_block_order(self, direction: _Direction, header: FrameHeader, parsed: Payload) -> None:
        """§4.3: a header block's frames come back to back, on one stream."""
        block = direction.block
        if block is None:
            if header.frame_type == FrameType.CONTINUATION:
                parsed.problems.append("CONTINUATION with no header block open (§6.10: PROTOCOL_ERROR)")
            return
        if header.frame_type == FrameType.CONTINUATION and header.stream_id == block.stream_id:
            return
        parsed.problems.append(
            f"header block of stream {block.stream_id} interrupted before END_HEADERS "
            f"(§4.3: PROTOCOL_ERROR); the block is dropped and later blocks may decode wrongly"
        )
        direction.block = None
        direction.hpack.desynchronized = True

    def _on_settings(self, direction: _Direction, header: FrameHeader, parsed: Payload) -> list[Record]:
        if header.flags & ACK:
            return []
        for setting in parsed.details.get("settings", ()):
            if setting["id"] == SETTINGS_HEADER_TABLE_SIZE:
                # The announcer decodes; the *other* side's encoder must fit it.
                self._directions[_other(direction.sender)].hpack.size_limit = setting["value"]
        return []

    def _on_header_fragment(self, direction: _Direction, header: FrameHeader, parsed: Payload) -> list[Record]:
        if parsed.fragment is None:
            return []
        if header.frame_type != FrameType.CONTINUATION:
            direction.block = _PendingBlock(
                stream_id=header.stream_id,
                end_stream=bool(header.flags & END_STREAM) and header.frame_type == FrameType.HEADERS,
                push_promise=header.frame_type == FrameType.PUSH_PROMISE,
            )
        block = direction.block
        if block is None:
            return []
        if len(block.fragments) + len(parsed.fragment) > MAX_HEADER_BLOCK:
            parsed.problems.append(f"header block over {MAX_HEADER_BLOCK} octets: not decoded")
            direction.block = None
            direction.hpack.desynchronized = True
            return []
        block.fragments += parsed.fragment
        if not header.flags & END_HEADERS:
            return []
        direction.block = None
        return self._decode_block(direction, block)

    def _on_data(self, direction: _Direction, header: FrameHeader, parsed: Payload) -> list[Record]:
        if parsed.data is None or header.stream_id == 0:
            return []
        stream = self._stream(header.stream_id)
        records: list[Record] = []
        prefixes = []
        for read in stream.assemblers[direction.sender].feed(parsed.data):
            if isinstance(read, PrefixRead):
                prefixes.append(self._prefix_details(read, parsed))
            else:
                records.extend(self._message(direction.sender, header.stream_id, stream, read))
        if prefixes:
            parsed.details["prefixes"] = prefixes
        if header.flags & END_STREAM:
            records.extend(self._end_stream(direction.sender, header.stream_id))
        return records

    def _on_rst_stream(self, direction: _Direction, header: FrameHeader, parsed: Payload) -> list[Record]:
        self._streams.pop(header.stream_id, None)  # §6.4: the stream is closed, both ways
        return []

    # --- header blocks, RFC 7541 -------------------------------------------------

    def _decode_block(self, direction: _Direction, block: _PendingBlock) -> list[Record]:
        sender = direction.sender
        stale = direction.hpack.desynchronized
        decoded = direction.hpack.read(bytes(block.fragments))
        entries = tuple(_with_hint(entry) for entry in decoded.entries)
        role = PUSH_PROMISE if block.push_promise else self._role(sender, block)
        records: list[Record] = [HeaderBlockDecoded(
            sender=sender, stream_id=block.stream_id, role=role, entries=entries,
            complete=decoded.complete, dynamic_table_size=direction.hpack.table.size,
            dynamic_table_entries=len(direction.hpack.table),
        )]
        problems = list(decoded.problems)
        if stale:
            problems.append("an earlier header block failed, so this one may be decoded against a stale table")
        records.extend(ParseFailed(sender=sender, stream_id=block.stream_id, what=p) for p in problems)
        if not block.push_promise:
            self._learn_from_headers(sender, block, records[0])
            if block.end_stream:
                records.extend(self._end_stream(sender, block.stream_id))
        return records

    def _role(self, sender: str, block: _PendingBlock) -> str:
        seen_before = self._stream(block.stream_id).blocks[sender]
        if seen_before:
            return TRAILERS
        if sender == CLIENT:
            return REQUEST_HEADERS
        return TRAILERS_ONLY if block.end_stream else RESPONSE_HEADERS

    def _learn_from_headers(self, sender: str, block: _PendingBlock, decoded: HeaderBlockDecoded) -> None:
        stream = self._stream(block.stream_id)
        if stream.blocks[sender] == 0:
            if sender == CLIENT:
                stream.path = decoded.get(":path")
            stream.encodings[sender] = decoded.get("grpc-encoding")
        stream.blocks[sender] += 1

    # --- messages, PROTOCOL-HTTP2.md ---------------------------------------------

    def _prefix_details(self, read: PrefixRead, parsed: Payload) -> dict:
        if read.compressed_flag not in (COMPRESSED_FLAG_NONE, COMPRESSED_FLAG_COMPRESSED):
            parsed.problems.append(
                f"invalid compressed-flag {read.compressed_flag:#04x} "
                f"(PROTOCOL-HTTP2.md: Compressed-Flag → 0 / 1); reading on by the length"
            )
        return {"offset": read.offset, "compressed_flag": read.compressed_flag,
                "message_length": read.message_length, "raw": read.raw.hex(" ")}

    def _message(self, sender: str, stream_id: int, stream: _Stream, read: MessageRead) -> list[Record]:
        problems: list[str] = []
        encoding = stream.encodings[sender]
        body = self._plain_body(read, encoding, problems)
        kind = REQUEST if sender == CLIENT else RESPONSE
        decoded = None
        if body is not None and self.body_formatter is not None:
            decoded = self._format_body(stream.path, kind, body, problems)
        record = MessageReassembled(
            sender=sender, stream_id=stream_id, path=stream.path, kind=kind,
            compressed_flag=read.compressed_flag, message_length=read.message_length,
            encoding=encoding, body=read.body if body is None else body,
            decoded=decoded, frames=read.frames, shown_length=len(read.body),
        )
        return [record, *(ParseFailed(sender=sender, stream_id=stream_id, what=p) for p in problems)]

    def _plain_body(self, read: MessageRead, encoding: str | None, problems: list[str]) -> bytes | None:
        """The message as its sender wrote it before compressing; None if that cannot be had."""
        if not read.complete_body:
            problems.append(f"message of {read.message_length} bytes: only the first "
                            f"{len(read.body)} were kept, so it is not decoded")
            return None
        if read.compressed_flag != COMPRESSED_FLAG_COMPRESSED:
            return read.body
        if encoding in (None, IDENTITY):
            # PROTOCOL-HTTP2.md: a Compressed-Flag of 1 means compressed "using the
            # mechanism declared by the Message-Encoding header".
            problems.append("compressed-flag is 1 but the stream declared no grpc-encoding")
            return None
        try:
            return decompress(encoding, read.body, max_length=self.keep_limit)
        except ProtocolError as error:
            problems.append(f"could not decompress ({encoding}): {error}")
            return None

    def _format_body(self, path: str | None, kind: str, body: bytes, problems: list[str]) -> str | None:
        try:
            return self.body_formatter(path, kind, body)
        except Exception as error:  # the formatter reads peer bytes; its failure is reported
            problems.append(f"the body formatter failed: {type(error).__name__}: {error}")
            return None

    # --- streams ------------------------------------------------------------------

    def _stream(self, stream_id: int) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            if len(self._streams) >= MAX_TRACKED_STREAMS:
                del self._streams[next(iter(self._streams))]
            stream = self._streams[stream_id] = _Stream(self.keep_limit)
        return stream

    def _end_stream(self, sender: str, stream_id: int) -> list[Record]:
        """END_STREAM from `sender`: nothing more comes that way (§5.1, half-closed)."""
        stream = self._stream(stream_id)
        records: list[Record] = []
        partial = stream.assemblers[sender].partial
        if partial is not None:
            records.append(ParseFailed(
                sender=sender, stream_id=stream_id,
                what=f"END_STREAM inside a message: the stream ended after {partial}",
            ))
        stream.ended.add(sender)
        if stream.ended == set(SENDERS):
            del self._streams[stream_id]
        return records


_HANDLERS: dict[int, Callable[..., list[Record]]] = {
    FrameType.DATA: Tracer._on_data,
    FrameType.HEADERS: Tracer._on_header_fragment,
    FrameType.PUSH_PROMISE: Tracer._on_header_fragment,
    FrameType.CONTINUATION: Tracer._on_header_fragment,
    FrameType.SETTINGS: Tracer._on_settings,
    FrameType.RST_STREAM: Tracer._on_rst_stream,
}


def _frame_at(buffer: bytearray, offset: int) -> tuple[FrameHeader, bytes, int] | None:
    """The whole frame at `offset` and the offset after it; None if it has not all arrived."""
    payload_start = offset + FRAME_HEADER_LENGTH
    if len(buffer) < payload_start:
        return None
    header = parse_frame_header(bytes(buffer[offset:payload_start]))
    end = payload_start + header.length
    if len(buffer) < end:
        return None
    return header, bytes(buffer[payload_start:end]), end


def _with_hint(entry):
    if isinstance(entry, HeaderField):
        hint = hint_for(entry.name, entry.value)
        if hint is not None:
            return replace(entry, hint=hint)
    return entry


def _not_a_preface(seen: bytes) -> str:
    for start, hint in _NOT_A_PREFACE_HINTS:
        if seen.startswith(start):
            break
    else:
        hint = "it is something else"
    return (f"the client did not start with the HTTP/2 connection preface "
            f"(RFC 9113 §3.4): {hint}. The rest of what it sends is forwarded untraced")


def _other(sender: str) -> str:
    return SERVER if sender == CLIENT else CLIENT


def _check_sender(sender: str) -> None:
    if sender not in SENDERS:
        raise ValueError(f"sender must be 'client' or 'server', not {sender!r}")
