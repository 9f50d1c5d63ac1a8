"""The sans-IO gRPC connection core: gRPC calls over h2's HTTP/2 state machine.

Implements the "HTTP2 Transport Mapping" of doc/PROTOCOL-HTTP2.md
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#http2-transport-mapping
on top of `h2.connection.H2Connection` (h2 >= 4.1), for both roles. Like h2
and h11 it never touches a socket:

    events = connection.receive_data(bytes_from_the_peer)   # -> transport.events
    connection.send_message(stream_id, b"...")               # actions are verbs
    socket.sendall(connection.data_to_send())

One HTTP/2 stream carries one call. What travels on it, and in which order:

    client                                              server
    HEADERS  (Request-Headers) ───────────────────────▶ RequestReceived
    DATA     (Length-Prefixed-Messages) ──────────────▶ MessageReceived ...
    DATA     END_STREAM (the request's EOS) ──────────▶ RequestEnded
    ResponseHeadersReceived ◀──────────────── HEADERS  (Response-Headers)
    MessageReceived ...     ◀──────────────── DATA     (Length-Prefixed-Messages)
    TrailersReceived        ◀──────────────── HEADERS  END_STREAM (Trailers)
                           (or a single HEADERS END_STREAM: Trailers-Only)

What this module adds to h2:

- gRPC meaning: header blocks become RequestHead / ResponseHead / Trailers
  (transport.headers), DATA becomes whole, decompressed messages
  (transport.framing, transport.compression).
- Per-stream failure. Whatever a peer sends on one stream (a malformed header
  block, a message over the limit, a compressed flag without grpc-encoding, a
  message cut short by END_STREAM) ends that call with the status
  doc/statuscodes.md gives, answered on the wire, and never the connection.
- Flow control in two halves. The connection window (RFC 9113 §6.9) is given
  back as soon as DATA arrives, so one stalled call cannot starve the others;
  a stream's window is given back only when the application acknowledges the
  messages it consumed (`acknowledge_received_data`), so a slow reader bounds
  what a fast writer can make us buffer.
- Outbound queues. Messages wait per stream while the peer's windows are
  shut, go out in frames no larger than the peer's SETTINGS_MAX_FRAME_SIZE,
  and streams take turns, one frame each, when a window opens.
- Graceful GOAWAY. h2 closes its whole state machine on a GOAWAY in either
  direction, which would kill the calls that RFC 9113 §6.8 lets finish. So
  GOAWAY frames are taken out of the inbound bytes before h2 sees them, and
  ours are written by this module, leaving h2 open for the calls in flight.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import struct
from collections.abc import Iterable, Sequence

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.stream
import h2.settings
from hyperframe.frame import GoAwayFrame

from . import events
from .compression import (
    SUPPORTED_ENCODINGS,
    choose_encoding,
    frame_message,
    message_payload,
)
from .errors import ProtocolError, RequestRejected, UnsupportedEncoding
from .framing import (
    DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    DEFAULT_MAX_SEND_MESSAGE_LENGTH,
    MESSAGE_PREFIX_LENGTH,
    LengthPrefixedMessage,
    MessageDecoder,
)
from .headers import (
    DEFAULT_MAX_HEADER_LIST_SIZE,
    GRPC_STATUS,
    HTTP_STATUS_OK,
    RequestHead,
    ResponseHead,
    Trailers,
    build_rejection,
    build_request_headers,
    build_response_headers,
    build_trailers,
    build_trailers_only,
    header_list_size,
    parse_request_headers,
    parse_response_headers,
    parse_trailers,
    status_for_bad_response,
)
from .hpack_blocks import RepeatingDecoder, RepeatingEncoder
from .status import Http2ErrorCode, StatusCode, status_from_reset

# h2 stream states in which no more DATA may be sent (RFC 9113 §5.1).
_NO_SENDING = frozenset({h2.stream.StreamState.HALF_CLOSED_LOCAL, h2.stream.StreamState.CLOSED})

__all__ = [
    "Connection",
    "ClientConnection",
    "ServerConnection",
    "StreamStateError",
    "DEFAULT_STREAM_WINDOW",
    "DEFAULT_CONNECTION_WINDOW",
    "DEFAULT_MAX_FRAME_SIZE",
    "DEFAULT_MAX_CONCURRENT_STREAMS",
]

# --- Constants ------------------------------------------------------------------

# RFC 9113 §3.4: the client connection preface starts with these 24 octets,
# "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", before its first SETTINGS frame.
CLIENT_PREFACE_LENGTH = 24

# RFC 9113 §4.1: every frame starts with a 9-octet header:
# Length (24 bits), Type (8), Flags (8), Reserved (1) + Stream Identifier (31).
FRAME_HEADER_LENGTH = 9
FRAME_HEADER = struct.Struct(">HBBBI")  # length high 16 bits, low 8 bits, type, flags, stream id
STREAM_ID_MASK = 0x7FFF_FFFF  # the reserved bit is ignored on receipt (§4.1)

# RFC 9113 §6.8: GOAWAY is type 0x07, on stream 0, with a payload of
# Reserved (1) + Last-Stream-ID (31), Error Code (32), Additional Debug Data.
GOAWAY_FRAME_TYPE = 0x07
GOAWAY_FIXED_PAYLOAD = struct.Struct(">II")  # last-stream-id, error code
HIGHEST_STREAM_ID = 2**31 - 1  # §5.1.1: stream identifiers are 31 bits

# RFC 9113 §6.7: a PING carries exactly 8 octets of opaque data.
PING_DATA_LENGTH = 8

# How many distinct header blocks a connection remembers as checked and
# parsed (a server's request heads, a client's response heads and trailers);
# a few per method used.
KNOWN_HEADS_LIMIT = 32

# RFC 9113 §6.9.2: the connection window starts at 65,535 octets and only
# WINDOW_UPDATE can change it; SETTINGS_INITIAL_WINDOW_SIZE covers streams only.
INITIAL_CONNECTION_WINDOW = 65_535

# Our defaults (each one a setting of `Connection`):
DEFAULT_STREAM_WINDOW = 1024 * 1024  # SETTINGS_INITIAL_WINDOW_SIZE we advertise
DEFAULT_CONNECTION_WINDOW = 16 * 1024 * 1024  # what we open the connection window to
DEFAULT_MAX_FRAME_SIZE = 64 * 1024  # SETTINGS_MAX_FRAME_SIZE (RFC minimum is 16,384)
DEFAULT_MAX_CONCURRENT_STREAMS = 256  # SETTINGS_MAX_CONCURRENT_STREAMS, servers

# A window is given back to the peer once this fraction of it has been
# consumed: often enough that a sender never waits on a half-empty window,
# rarely enough that WINDOW_UPDATE frames stay few (h2 uses the same rule).
WINDOW_UPDATE_DIVISOR = 2

# RFC 9113 §8.2.2: connection-specific fields have no place in HTTP/2; a
# message carrying one is malformed. TE is allowed with the value "trailers".
CONNECTION_SPECIFIC_FIELDS = frozenset({
    b"connection", b"proxy-connection", b"keep-alive", b"transfer-encoding", b"upgrade",
})
TE_FIELD = b"te"
TE_TRAILERS = b"trailers"
# PROTOCOL-HTTP2.md: Status -> "grpc-status"; trailers without it take
# their status from the response's HTTP status instead.
GRPC_STATUS_FIELD = GRPC_STATUS.encode("ascii")

# RFC 9113 §8.3.1 / §8.3.2: the pseudo-header fields each kind of header
# block may carry, and those it must carry. Trailers carry none (§8.1).
REQUEST_PSEUDO_FIELDS = frozenset({b":method", b":scheme", b":path", b":authority"})
REQUIRED_REQUEST_PSEUDO_FIELDS = frozenset({b":method", b":scheme", b":path"})
RESPONSE_PSEUDO_FIELDS = frozenset({b":status"})

# RFC 9113 §8.2.1 and RFC 9110 §5.1: a field name is a token in lowercase,
# "field names MUST be converted to lowercase"; pseudo-fields start with ":".
_FIELD_NAME = re.compile(rb":?[!#$%&'*+\-.^_`|~0-9a-z]+\Z")
# RFC 9113 §8.2.1: a value must not contain NUL, CR or LF, nor start or end
# with whitespace (SP, HTAB).
_FIELD_VALUE_FORBIDDEN = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
# How many distinct short fields keep their verdict (see _check_short_field),
# and how long a short field is (name + value octets): every gRPC header and
# most metadata, while what is kept stays under 64 KiB.
CHECKED_FIELDS_KEPT = 256
CHECKED_FIELD_MAX_LENGTH = 256

# `_Stream.end_after` value: half-close (client) once the queue drains.
_HALF_CLOSE = "half-close"


class StreamStateError(ProtocolError):
    """A local action the stream's state does not allow.

    Sending on a stream that is gone (reset, failed, finished) or half-closed,
    or sending response headers twice. The call itself ended for a reason
    that was (or will be) reported by an event; this error only says that the
    action came too late.
    """

    default_status = StatusCode.INTERNAL
    default_error_code = Http2ErrorCode.STREAM_CLOSED


# --- Inbound GOAWAY frames --------------------------------------------------------


class _GoAway:
    """A GOAWAY frame taken out of the inbound bytes (RFC 9113 §6.8)."""

    __slots__ = ("last_stream_id", "error_code", "additional_data")

    def __init__(self, payload: bytes) -> None:
        last_stream_id, error_code = GOAWAY_FIXED_PAYLOAD.unpack_from(payload)
        self.last_stream_id = last_stream_id & STREAM_ID_MASK
        self.error_code = error_code
        self.additional_data = bytes(payload[GOAWAY_FIXED_PAYLOAD.size:])


class _GoAwaySplitter:
    """Walks the inbound frame headers and lifts well-formed GOAWAY frames out.

    Everything else passes through untouched, in order, to h2, in runs as long
    as possible (usually the whole read). Only frame headers are looked at:
    9 octets per frame, whatever its length. A frame header cut by the end of
    a read is held back until its end arrives. A GOAWAY that is not
    well-formed (not on stream 0, shorter than its 8 fixed octets, longer
    than our SETTINGS_MAX_FRAME_SIZE) is left in for h2, which treats it as
    the connection error it is.
    """

    def __init__(self, *, preface_length: int, max_frame_size: int) -> None:
        self._unexamined = preface_length  # the client preface is not framed
        self._max_frame_size = max_frame_size
        self._header = bytearray()  # a frame header cut by the end of the last read
        self._remaining = 0  # payload octets of the current frame still to come
        self._goaway: bytearray | None = None  # payload of a GOAWAY being lifted out

    def split(self, data: bytes) -> list[bytes | _GoAway]:
        """Cut `data` into runs of bytes for h2 and the GOAWAY frames between them."""
        if not (self._unexamined or self._header or self._remaining) and self._goaway is None:
            plain = self._plain_frames(data)
            if plain is not None:
                return plain
        segments: list[bytes | _GoAway] = []
        view = memoryview(data)
        size = len(view)
        position = min(self._unexamined, size)
        self._unexamined -= position
        run_start = 0  # where the bytes for h2 not yet in `segments` start
        if self._header:  # (never while the preface is still arriving)
            position = run_start = self._complete_header(view, segments)
        elif self._goaway is not None:
            run_start = size  # in the middle of a GOAWAY: nothing for h2 yet
        while position < size:
            if self._remaining:
                step = min(self._remaining, size - position)
                self._remaining -= step
                if self._goaway is not None:
                    self._goaway += view[position:position + step]
                    if not self._remaining:
                        segments.append(self._finish_goaway())
                        run_start = position + step
                position += step
            elif size - position < FRAME_HEADER_LENGTH:
                self._header += view[position:]
                _append_run(segments, data, run_start, position)
                return segments
            else:
                if self._start_frame(view, position):
                    _append_run(segments, data, run_start, position)
                position += FRAME_HEADER_LENGTH
        if self._goaway is None:
            _append_run(segments, data, run_start, size)
        return segments

    def _plain_frames(self, data: bytes) -> list[bytes] | None:
        """The usual read, starting on a frame header: frames and no GOAWAY,
        the last frame perhaps cut short, all for h2 as one run. None for
        anything else (a GOAWAY, a frame header cut short), which split()'s
        general walk then takes from the start."""
        size = len(data)
        position = 0
        unpack_from = FRAME_HEADER.unpack_from
        while position + FRAME_HEADER_LENGTH <= size:
            length_high, length_low, frame_type, _flags, _stream_id = unpack_from(data, position)
            if frame_type == GOAWAY_FRAME_TYPE:
                return None
            position += FRAME_HEADER_LENGTH + ((length_high << 8) | length_low)
        if position < size:
            return None
        self._remaining = position - size
        return [data] if size else []

    def _complete_header(self, view: memoryview, segments: list) -> int:
        wanted = FRAME_HEADER_LENGTH - len(self._header)
        self._header += view[:wanted]
        if len(self._header) < FRAME_HEADER_LENGTH:
            return len(view)
        header, self._header = bytes(self._header), bytearray()
        if not self._start_frame(header, 0):
            segments.append(header)  # not a GOAWAY: h2 gets the header after all
        return wanted

    def _start_frame(self, buffer, offset: int) -> bool:
        """Read one frame header; True if it starts a GOAWAY to lift out."""
        length_high, length_low, frame_type, _flags, stream_id = FRAME_HEADER.unpack_from(buffer, offset)
        self._remaining = (length_high << 8) | length_low
        if (
            frame_type == GOAWAY_FRAME_TYPE
            and stream_id & STREAM_ID_MASK == 0
            and GOAWAY_FIXED_PAYLOAD.size <= self._remaining <= self._max_frame_size
        ):
            self._goaway = bytearray()
            return True
        return False

    def _finish_goaway(self) -> _GoAway:
        goaway = _GoAway(bytes(self._goaway))
        self._goaway = None
        return goaway


def _append_run(segments: list, data: bytes, start: int, end: int) -> None:
    if end > start:
        segments.append(data if start == 0 and end == len(data) else bytes(data[start:end]))


# --- HTTP/2 header blocks -------------------------------------------------------------


def malformed_field_section(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    allowed_pseudo: frozenset[bytes],
    required_pseudo: frozenset[bytes] = frozenset(),
) -> str | None:
    """Why a received header block is malformed HTTP/2, or None if it is not.

    RFC 9113 §8.1.1: "Malformed requests or responses that are detected MUST
    be treated as a stream error of type PROTOCOL_ERROR" -- a stream error,
    not a connection error. h2 would raise a connection error, so its inbound
    validation is off and this function does the HTTP/2 part (§8.2, §8.3);
    the gRPC part is transport.headers'.
    """
    seen_pseudo: set[bytes] = set()
    regular_seen = False
    for name, value in headers:
        problem = _field_problem(name, value)
        if problem:
            return problem
        if name[:1] == b":":
            if regular_seen:  # §8.3: pseudo-fields precede regular fields
                return f"pseudo-header {name!r} after a regular header"
            if name not in allowed_pseudo or name in seen_pseudo:  # §8.3
                return f"pseudo-header {name!r} is unknown, repeated or not allowed here"
            seen_pseudo.add(name)
        else:
            regular_seen = True
    missing = required_pseudo - seen_pseudo
    if missing:  # §8.3.1: requests carry exactly one :method, :scheme and :path
        return f"missing pseudo-header(s) {sorted(missing)!r}"
    return None


def _field_problem(name: bytes, value: bytes) -> str | None:
    if len(name) + len(value) > CHECKED_FIELD_MAX_LENGTH:
        return _check_field(name, value)
    return _check_short_field(name, value)


def _check_field(name: bytes, value: bytes) -> str | None:
    if not _FIELD_NAME.match(name):  # §8.2.1: lowercase token characters only
        return f"invalid header name {name!r}"
    if _FIELD_VALUE_FORBIDDEN.search(value):  # §8.2.1
        return f"invalid characters or whitespace in the value of {name!r}"
    if name in CONNECTION_SPECIFIC_FIELDS:  # §8.2.2
        return f"connection-specific header {name!r}"
    if name == TE_FIELD and value != TE_TRAILERS:  # §8.2.2
        return f"te: {value!r} (only 'trailers' is allowed)"
    return None


# _check_field is a pure function of one field, and HPACK exists because
# fields repeat verbatim call after call: the verdicts on recent short
# fields are kept, a few hundred of them.
_check_short_field = functools.lru_cache(maxsize=CHECKED_FIELDS_KEPT)(_check_field)


# --- Streams --------------------------------------------------------------------


class _SendQueue:
    """Bytes waiting for flow-control window, taken out in frame-sized pieces.

    Chunks are kept as they were queued; a piece that splits a chunk is cut
    with a memoryview, so a 16 MiB message is not copied once per frame.
    """

    __slots__ = ("_chunks", "size")

    def __init__(self) -> None:
        self._chunks: collections.deque[bytes | memoryview] = collections.deque()
        self.size = 0

    def append(self, data: bytes) -> None:
        self._chunks.append(data)
        self.size += len(data)

    def take(self, limit: int) -> bytes:
        """Remove and return up to `limit` bytes from the front, as one bytes object."""
        chunks = self._chunks
        if len(chunks) == 1 and self.size <= limit and isinstance(chunks[0], bytes):
            self.size = 0  # the usual case: one whole message, taken as it is
            return chunks.popleft()
        pieces: list[bytes | memoryview] = []
        taken = 0
        chunks = self._chunks
        while chunks and taken < limit:
            chunk = chunks[0]
            room = limit - taken
            if len(chunk) <= room:
                pieces.append(chunks.popleft())
                taken += len(chunk)
            else:
                view = chunk if isinstance(chunk, memoryview) else memoryview(chunk)
                pieces.append(view[:room])
                chunks[0] = view[room:]
                taken += room
        self.size -= taken
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    def clear(self) -> None:
        self._chunks.clear()
        self.size = 0


class _Stream:
    """What the core remembers about one call while it is open."""

    __slots__ = (
        "stream_id", "decoder", "max_receive_message_length", "receive_encoding",
        "send_encoding", "peer_accepts", "headers_sent", "response_head",
        "local_ended", "remote_ended", "send_queue", "end_after", "unacknowledged",
    )

    def __init__(self, stream_id: int, *, max_receive_message_length: int) -> None:
        self.stream_id = stream_id
        self.max_receive_message_length = max_receive_message_length
        self.decoder = MessageDecoder(max_message_length=max_receive_message_length)
        self.receive_encoding: str | None = None  # the peer's grpc-encoding
        self.send_encoding: str | None = None  # ours, None for identity
        self.peer_accepts: tuple[str, ...] | None = None  # the peer's grpc-accept-encoding
        self.headers_sent = False  # server: Response-Headers (or Trailers-Only) sent
        self.response_head = None  # client: the ResponseHead, once received
        self.local_ended = False  # END_STREAM sent or queued by this side
        self.remote_ended = False  # END_STREAM received
        self.send_queue = _SendQueue()
        self.end_after: object = None  # _HALF_CLOSE or a trailer block, sent once drained
        self.unacknowledged = 0  # consumed bytes not yet given back by WINDOW_UPDATE


# --- The core, both roles ---------------------------------------------------------------


class Connection:
    """The part of the gRPC connection core that both roles share.

    Use `ClientConnection` or `ServerConnection`. The connection preface (and
    our SETTINGS) is queued at construction: send `data_to_send()` first.
    """

    client_side: bool = False

    def __init__(
        self,
        *,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
        max_send_message_length: int = DEFAULT_MAX_SEND_MESSAGE_LENGTH,
        stream_window: int = DEFAULT_STREAM_WINDOW,
        connection_window: int = DEFAULT_CONNECTION_WINDOW,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
        max_header_list_size: int = DEFAULT_MAX_HEADER_LIST_SIZE,
    ) -> None:
        self.max_receive_message_length = max_receive_message_length
        self.max_header_list_size = max_header_list_size
        self.max_send_message_length = max_send_message_length
        self._stream_window = stream_window
        self._connection_window = max(connection_window, INITIAL_CONNECTION_WINDOW)
        self._streams: dict[int, _Stream] = {}
        self._blocked: dict[int, _Stream] = {}  # streams whose send queue waits for window
        self._corked: dict[int, _Stream] = {}  # streams holding less than a frame, until data_to_send()
        self._connection_unacknowledged = 0
        self._outbound = bytearray()  # frames written by this module, after h2's
        self._failed = False
        self.goaway_received: events.ConnectionTerminated | None = None
        self.goaway_sent_last_stream_id: int | None = None
        # HEADERS or DATA queued since a reader last cleared this: a server's
        # ping policing forgives the client's pings then (gRFC A8, "Server
        # Enforcement"; transport.keepalive.PingPolicer).
        self.headers_or_data_sent = False
        self._h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=self.client_side,
            header_encoding=None,  # bytes in, bytes out: decoding is transport.headers' job
            validate_inbound_headers=False,  # malformed_field_section(), per stream
            # Outbound blocks come from transport.headers' builders, which
            # check every name and value (metadata included); h2's second
            # pass over them would cost a fifth of a small call's CPU time.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        ))
        # Header blocks that repeat call after call are encoded and decoded
        # once (transport.hpack_blocks); h2's limits carry over.
        decoder = RepeatingDecoder(self._h2.decoder.max_header_list_size)
        decoder.max_allowed_table_size = self._h2.decoder.max_allowed_table_size
        self._h2.encoder, self._h2.decoder = RepeatingEncoder(), decoder
        self._h2.local_settings = h2.settings.Settings(
            client=self.client_side,
            initial_values=self._initial_settings(max_frame_size, max_concurrent_streams),
        )
        self._h2.max_inbound_frame_size = max_frame_size
        self._max_outbound_frame_size = self._h2.max_outbound_frame_size  # the peer's SETTINGS_MAX_FRAME_SIZE
        self._splitter = _GoAwaySplitter(
            preface_length=0 if self.client_side else CLIENT_PREFACE_LENGTH,
            max_frame_size=max_frame_size,
        )
        self._h2.initiate_connection()
        if self._connection_window > INITIAL_CONNECTION_WINDOW:
            self._h2.increment_flow_control_window(self._connection_window - INITIAL_CONNECTION_WINDOW)

    def _initial_settings(self, max_frame_size: int, max_concurrent_streams: int) -> dict[int, int]:
        settings = {
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self._stream_window,
            h2.settings.SettingCodes.MAX_FRAME_SIZE: max_frame_size,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: self.max_header_list_size,
        }
        if self.client_side:
            settings[h2.settings.SettingCodes.ENABLE_PUSH] = 0  # gRPC has no server push
        else:
            settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = max_concurrent_streams
        return settings

    # --- Bytes in, bytes out ---------------------------------------------------------

    def receive_data(self, data: bytes) -> list[events.Event]:
        """Feed bytes from the peer; return the events they caused, in order."""
        if self._failed:
            return []
        produced: list[events.Event] = []
        for segment in self._splitter.split(data):
            if type(segment) is _GoAway:
                self._receive_goaway(segment, produced)
            elif not self._receive_frames(segment, produced):
                break
        self._give_back_connection_window()
        answers = self._h2.data_to_send()    # h2's own: SETTINGS/PING ACKs, WINDOW_UPDATEs
        if answers:
            self._outbound += answers
        return produced

    @property
    def wants_to_write(self) -> bool:
        """Whether data_to_send() has anything since receive_data() (which
        takes what h2 queued while reading): a driver need not flush after a
        read that left nothing to answer."""
        return bool(self._outbound or self._corked)

    def data_to_send(self) -> bytes:
        """The bytes to write to the peer now (possibly empty).

        Messages smaller than a frame wait here until this call, so that a
        burst of small messages goes out in a few full DATA frames instead of
        one frame each: call it once per burst, not once per message.
        """
        if self._corked:
            self._uncork()
        if self._outbound:
            data = bytes(self._outbound) + self._h2.data_to_send()
            self._outbound.clear()
            return data
        return self._h2.data_to_send()

    def _uncork(self) -> None:
        corked, self._corked = self._corked, {}
        for stream in corked.values():
            self._flush_stream(stream)

    def _write_own_frame(self, frame_bytes: bytes) -> None:
        # Keep order: whatever h2 queued before this frame goes first.
        self._outbound += self._h2.data_to_send()
        self._outbound += frame_bytes

    def _receive_frames(self, data: bytes, produced: list[events.Event]) -> bool:
        try:
            h2_events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as error:
            self._fail_connection(error, produced)
            return False
        for h2_event in h2_events:
            handler = self._handlers.get(type(h2_event))
            if handler is not None:
                handler(self, h2_event, produced)
        return True

    def _fail_connection(self, error: h2.exceptions.ProtocolError, produced: list) -> None:
        # RFC 9113 §5.4.1: a connection error is answered with GOAWAY. h2
        # queues it itself, except for a bad client preface (§3.4), which it
        # rejects before its state machine runs.
        self._failed = True
        self._streams.clear()
        self._blocked.clear()
        self._corked.clear()
        error_code = int(getattr(error, "error_code", None) or Http2ErrorCode.PROTOCOL_ERROR)
        if self._h2.state_machine.state is not h2.connection.ConnectionState.CLOSED:
            self.goaway(error_code, last_stream_id=self._h2.highest_inbound_stream_id)
        produced.append(events.ConnectionFailed(error_code=error_code, message=str(error) or type(error).__name__))

    # --- Connection-wide actions and state ------------------------------------------------

    @property
    def open_streams(self) -> int:
        """Calls this core still tracks (neither finished nor reset)."""
        return len(self._streams)

    def stream_ids(self) -> list[int]:
        """The ids of the calls still open, oldest first."""
        return list(self._streams)

    def ping(self, data: bytes | None = None) -> bytes:
        """Send PING (RFC 9113 §6.7) with 8 octets of `data` (random if None); return them."""
        if data is None:
            data = os.urandom(PING_DATA_LENGTH)
        if len(data) != PING_DATA_LENGTH:
            raise ValueError(f"PING data must be {PING_DATA_LENGTH} bytes, got {len(data)}")
        self._h2.ping(data)
        return data

    def goaway(
        self,
        error_code: int = Http2ErrorCode.NO_ERROR,
        *,
        last_stream_id: int | None = None,
        additional_data: bytes = b"",
    ) -> None:
        """Send GOAWAY (RFC 9113 §6.8): the peer must start no new stream.

        Streams up to `last_stream_id` (default: the highest the peer opened)
        may still finish; a stream the peer opens above it is refused with
        RST_STREAM(REFUSED_STREAM). Send it more than once to lower
        `last_stream_id` (gRPC's two-step graceful shutdown). With an error
        code, close the socket once `data_to_send()` is written.
        """
        if last_stream_id is None:
            last_stream_id = self._h2.highest_inbound_stream_id
        frame = GoAwayFrame(
            stream_id=0, last_stream_id=last_stream_id,
            error_code=int(error_code), additional_data=additional_data,
        )
        self._write_own_frame(frame.serialize())
        self.goaway_sent_last_stream_id = last_stream_id

    def reset_stream(self, stream_id: int, error_code: int = Http2ErrorCode.CANCEL) -> None:
        """Abandon a call with RST_STREAM (RFC 9113 §6.4). Nothing happens if it is over already."""
        stream = self._forget(stream_id)
        if stream is not None:
            self._reset_h2_stream(stream_id, error_code)

    def _reset_h2_stream(self, stream_id: int, error_code: int) -> None:
        try:
            self._h2.reset_stream(stream_id, error_code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass  # h2 saw the stream close already: there is nothing to reset

    def _forget(self, stream_id: int) -> _Stream | None:
        self._blocked.pop(stream_id, None)
        self._corked.pop(stream_id, None)
        return self._streams.pop(stream_id, None)

    # --- Sending messages -----------------------------------------------------------------

    def send_message(self, stream_id: int, message: bytes, *, compress: bool = True,
                     cork: bool = True) -> None:
        """Queue one message: the 5-byte prefix, compressed with the stream's encoding.

        `compress=False` sends this one uncompressed (Compressed-Flag 0); so does
        a stream without an encoding, and a message compression would not shrink.
        Whole frames go out as far as the peer's windows allow; what is left
        waits for the window (`send_blocked`) or, if less than a frame and
        `cork` is true, for `data_to_send()`, in case more messages come to
        share its frame (`cork=False`: data_to_send() is called next anyway).
        Raises MessageTooLarge over `max_send_message_length`.
        """
        stream = self._sendable_stream(stream_id)
        self._before_first_message(stream)
        framed = frame_message(
            message,
            encoding=stream.send_encoding if compress else None,
            max_message_length=self.max_send_message_length,
        )
        if (not cork and not stream.send_queue.size and len(framed) <= self._max_outbound_frame_size
                and len(framed) <= self._h2.local_flow_control_window(stream_id)):
            # The usual answer: one frame, nothing queued before it, window enough.
            try:
                self._h2.send_data(stream_id, framed)
            except h2.exceptions.StreamClosedError:
                pass   # h2 closed it under us: the queue's path below abandons it
            else:
                self.headers_or_data_sent = True
                return
        stream.send_queue.append(framed)
        self._flush_stream(stream, whole_frames_only=cork)

    def _before_first_message(self, stream: _Stream) -> None:
        """Hook: a server sends its Response-Headers before the first message."""

    def pending_send(self, stream_id: int) -> int:
        """Bytes queued on the stream and not yet framed."""
        stream = self._streams.get(stream_id)
        return stream.send_queue.size if stream is not None else 0

    def send_blocked(self, stream_id: int) -> bool:
        """Whether the stream's queued bytes wait for the peer's flow-control window.

        A writer should wait for `SendQueueDrained` before queueing more.
        """
        return stream_id in self._blocked

    def _sendable_stream(self, stream_id: int) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamStateError(f"stream {stream_id} is not open")
        if stream.local_ended or stream.end_after is not None:
            raise StreamStateError(f"stream {stream_id} is already closed for sending")
        return stream

    def _flush_stream(self, stream: _Stream, *, whole_frames_only: bool = False) -> None:
        """Send what the windows allow, then any queued end of the stream."""
        queue = stream.send_queue
        while queue.size:
            # Less than a frame waits for more (corked), but only while the
            # window could take all of it: short of window, what fits goes
            # now and the writer waits for the rest.
            if (whole_frames_only and queue.size < self._max_outbound_frame_size
                    and self._h2.local_flow_control_window(stream.stream_id) >= queue.size):
                self._corked[stream.stream_id] = stream
                return
            if not self._send_one_frame(stream):
                self._corked.pop(stream.stream_id, None)
                self._blocked[stream.stream_id] = stream
                return
        self._blocked.pop(stream.stream_id, None)
        self._corked.pop(stream.stream_id, None)
        if stream.end_after is not None:
            self._send_queued_end(stream)

    def _send_one_frame(self, stream: _Stream) -> int:
        if self._closed_by_h2(stream):
            # One read can hold both a WINDOW_UPDATE and the frames that close
            # the stream (trailers, RST_STREAM): h2 has closed it by the time
            # the window is handled. Nothing more may be sent on it (RFC 9113
            # §5.1); its end arrives as its own event.
            self._abandon_queue(stream)
            return 0
        window = self._h2.local_flow_control_window(stream.stream_id)
        size = min(window, self._max_outbound_frame_size, stream.send_queue.size)
        if size <= 0:
            return 0
        data = stream.send_queue.take(size)
        last = not stream.send_queue.size and stream.end_after is _HALF_CLOSE
        self._h2.send_data(stream.stream_id, data, end_stream=last)
        self.headers_or_data_sent = True
        if last:  # END_STREAM rode on the last DATA frame
            stream.end_after = None
            self._half_closed(stream)
        return size

    def _closed_by_h2(self, stream: _Stream) -> bool:
        h2_stream = self._h2.streams.get(stream.stream_id)
        return h2_stream is None or h2_stream.state_machine.state in _NO_SENDING

    def _abandon_queue(self, stream: _Stream) -> None:
        stream.send_queue.clear()
        stream.end_after = None
        self._blocked.pop(stream.stream_id, None)
        self._corked.pop(stream.stream_id, None)

    def _flush_blocked(self, produced: list[events.Event]) -> None:
        """A window opened: streams with queued data take turns, one frame each."""
        while self._blocked and self._h2.outbound_flow_control_window > 0:
            progressed = False
            for stream in list(self._blocked.values()):
                if stream.send_queue.size:
                    progressed |= bool(self._send_one_frame(stream))
                if not stream.send_queue.size:
                    self._drained(stream, produced)
            if not progressed:
                return

    def _drained(self, stream: _Stream, produced: list[events.Event]) -> None:
        self._blocked.pop(stream.stream_id, None)
        produced.append(events.SendQueueDrained(stream_id=stream.stream_id))
        if stream.end_after is not None:
            self._send_queued_end(stream)

    def _send_queued_end(self, stream: _Stream) -> None:
        raise NotImplementedError

    def _half_closed(self, stream: _Stream) -> None:
        stream.local_ended = True

    def _check_header_list_size(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        # PROTOCOL-HTTP2.md: "Servers may limit the size of Request-Headers,
        # with a default of 8 KiB suggested" (clients likewise for responses),
        # counted like SETTINGS_MAX_HEADER_LIST_SIZE, which we advertise.
        size = header_list_size(headers)
        if size > self.max_header_list_size:
            raise ProtocolError(
                f"header list of {size} bytes is over the limit of {self.max_header_list_size}",
                status=StatusCode.RESOURCE_EXHAUSTED, error_code=Http2ErrorCode.CANCEL,
            )

    # --- Receive-side flow control -------------------------------------------------------

    def acknowledge_received_data(self, stream_id: int, flow_controlled_length: int) -> bool:
        """The application consumed a message: give its bytes back to the peer.

        Pass `MessageReceived.flow_controlled_length`. The stream's window
        (RFC 9113 §6.9) reopens in batches of half a window. Returns whether
        that queued a WINDOW_UPDATE (bytes for `data_to_send()`).
        """
        stream = self._streams.get(stream_id)
        if stream is None or stream.remote_ended or flow_controlled_length <= 0:
            return False  # no more DATA can come on this stream: no window to give back
        stream.unacknowledged += flow_controlled_length
        if stream.unacknowledged < self._stream_window // WINDOW_UPDATE_DIVISOR:
            return False
        increment, stream.unacknowledged = stream.unacknowledged, 0
        try:
            self._h2.increment_flow_control_window(increment, stream_id=stream_id)
        except h2.exceptions.StreamClosedError:
            return False  # closed under us: no more DATA will come
        return True

    def _give_back_connection_window(self) -> None:
        if self._failed:
            return
        if self._connection_unacknowledged >= self._connection_window // WINDOW_UPDATE_DIVISOR:
            self._h2.increment_flow_control_window(self._connection_unacknowledged)
            self._connection_unacknowledged = 0

    # --- h2 events ---------------------------------------------------------------------------

    def _on_data(self, event: h2.events.DataReceived, produced: list) -> None:
        # The connection window comes back at once, whatever happens to the
        # stream: one stalled call must not starve the others.
        self._connection_unacknowledged += event.flow_controlled_length
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return  # a call we already finished or abandoned: drop the bytes
        padding = event.flow_controlled_length - len(event.data)
        try:
            self._decode_messages(stream, event.data, padding, produced)
        except ProtocolError as error:
            self._fail_stream(stream, error, produced)

    def _decode_messages(self, stream: _Stream, data: bytes, padding: int, produced: list) -> None:
        # Bytes of a message not yet complete are given back at once (the
        # decoder must hold them anyway, up to the message size limit, so a
        # message larger than the window can still arrive). Bytes of complete
        # messages are given back when the application acknowledges them.
        decoder = stream.decoder
        decoded = decoder.feed(data)
        if not decoded:
            self.acknowledge_received_data(stream.stream_id, padding + len(data))
            return
        buffered = decoder.buffered
        if padding or buffered:
            self.acknowledge_received_data(stream.stream_id, padding + buffered)
        held = len(data) - buffered  # this frame's bytes that completed messages
        if len(decoded) == 1:  # the usual case
            produced.append(self._message_received(stream, decoded[0], held))
            return
        costs = [MESSAGE_PREFIX_LENGTH + len(item.message) for item in decoded]
        costs[0] = held - sum(costs[1:])  # the first one may have started earlier
        for item, cost in zip(decoded, costs):
            produced.append(self._message_received(stream, item, cost))

    @staticmethod
    def _message_received(stream: _Stream, item: LengthPrefixedMessage,
                          flow_controlled_length: int) -> events.MessageReceived:
        message = item.message if not item.compressed else message_payload(
            item, encoding=stream.receive_encoding, max_length=stream.max_receive_message_length,
        )
        return events.MessageReceived(
            stream_id=stream.stream_id, message=message,
            compressed=item.compressed, flow_controlled_length=flow_controlled_length,
        )

    def _on_stream_ended(self, event: h2.events.StreamEnded, produced: list) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        stream.remote_ended = True
        try:
            stream.decoder.close()
        except ProtocolError as error:  # a message cut short by END_STREAM
            self._fail_stream(stream, error, produced)
            return
        self._remote_ended(stream, produced)

    def _remote_ended(self, stream: _Stream, produced: list) -> None:
        raise NotImplementedError

    def _on_stream_reset(self, event: h2.events.StreamReset, produced: list) -> None:
        stream = self._forget(event.stream_id)
        if stream is None:
            return
        if event.remote_reset:
            produced.append(events.StreamReset(
                stream_id=event.stream_id, error_code=int(event.error_code),
                status=status_from_reset(event.error_code),
            ))
        else:  # h2 reset the stream itself, for a stream error it detected
            produced.append(events.StreamFailed(
                stream_id=event.stream_id, status=StatusCode.INTERNAL,
                message=f"stream error {int(event.error_code)}: the peer broke HTTP/2 on this stream",
            ))

    def _on_window_updated(self, event: h2.events.WindowUpdated, produced: list) -> None:
        if self._blocked:
            self._flush_blocked(produced)

    def _on_settings_changed(self, event: h2.events.RemoteSettingsChanged, produced: list) -> None:
        changed = {int(code): setting.new_value for code, setting in event.changed_settings.items()}
        produced.append(events.RemoteSettingsChanged(changed=changed))
        self._max_outbound_frame_size = self._h2.max_outbound_frame_size
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in changed and self._blocked:
            self._flush_blocked(produced)

    def _on_ping(self, event: h2.events.PingReceived, produced: list) -> None:
        produced.append(events.PingReceived(data=event.ping_data))  # h2 queued the ACK

    def _on_ping_ack(self, event: h2.events.PingAckReceived, produced: list) -> None:
        produced.append(events.PingAcknowledged(data=event.ping_data))

    def _on_h2_goaway(self, event: h2.events.ConnectionTerminated, produced: list) -> None:
        # Only a GOAWAY the splitter let through reaches h2, and h2 rejects
        # those; kept for completeness.
        self._failed = True
        produced.append(events.ConnectionTerminated(
            error_code=int(event.error_code), last_stream_id=event.last_stream_id or 0,
            additional_data=event.additional_data or b"",
        ))

    def _receive_goaway(self, goaway: _GoAway, produced: list) -> None:
        terminated = events.ConnectionTerminated(
            error_code=goaway.error_code, last_stream_id=goaway.last_stream_id,
            additional_data=goaway.additional_data,
        )
        self.goaway_received = terminated
        self._refuse_unprocessed(goaway.last_stream_id, produced)
        produced.append(terminated)

    def _refuse_unprocessed(self, last_stream_id: int, produced: list) -> None:
        """Hook: a client fails the calls the server never processed."""

    # --- Failing one stream -------------------------------------------------------------------

    def _fail_stream(self, stream: _Stream, error: ProtocolError, produced: list) -> None:
        raise NotImplementedError

    _handlers: dict = {}


def _keep_parsed(known: dict, block: tuple, parsed) -> None:
    """Remember a header block checked and parsed, up to KNOWN_HEADS_LIMIT of them."""
    if len(known) < KNOWN_HEADS_LIMIT:
        known[block] = parsed


def _has_grpc_status(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    return any(name == GRPC_STATUS_FIELD for name, _ in headers)


def _shared_handlers(cls: type[Connection]) -> dict:
    """h2 event type -> handler, for the events both roles treat alike."""
    return {
        h2.events.DataReceived: cls._on_data,
        h2.events.StreamEnded: cls._on_stream_ended,
        h2.events.StreamReset: cls._on_stream_reset,
        h2.events.WindowUpdated: cls._on_window_updated,
        h2.events.RemoteSettingsChanged: cls._on_settings_changed,
        h2.events.PingReceived: cls._on_ping,
        h2.events.PingAckReceived: cls._on_ping_ack,
        h2.events.ConnectionTerminated: cls._on_h2_goaway,
    }


# --- Client role ------------------------------------------------------------------------------


class ClientConnection(Connection):
    """The client side: starts calls, sends requests, reads responses."""

    client_side = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Response heads and trailers already checked and parsed, by their
        # exact fields: a server answers call after call with the same blocks
        # (`:status: 200` ... and `grpc-status: 0`).
        self._known_responses: dict[tuple, ResponseHead] = {}
        self._known_trailers: dict[tuple, Trailers] = {}

    @property
    def available_streams(self) -> int:
        """How many more calls may start now under the server's SETTINGS_MAX_CONCURRENT_STREAMS.

        The calls this core tracks are exactly the streams open in h2: it
        forgets a call only once h2 has closed its stream (trailers, a reset
        either way), so their number is h2's count of open streams without
        h2's walk over all of them.
        """
        limit = self._h2.remote_settings.max_concurrent_streams
        return max(0, limit - len(self._streams))

    def start_call(
        self,
        path: str,
        *,
        authority: str,
        scheme: str = "http",
        timeout: float | None = None,
        metadata: Iterable[tuple[str, str | bytes]] = (),
        encoding: str | None = None,
        max_receive_message_length: int | None = None,
        end_stream: bool = False,
        **header_options,
    ) -> int:
        """Open a stream with Request-Headers; return its stream id.

        `encoding` compresses the request messages (it is sent as
        grpc-encoding). `end_stream=True` sends no messages at all.
        `header_options` go to `headers.build_request_headers` (content_type,
        accept_encoding, user_agent). Raises ProtocolError(UNAVAILABLE) once the
        server sent GOAWAY: the call should go to another connection.
        """
        if self.goaway_received is not None or self._failed:
            raise ProtocolError(
                "the connection is going away: no new calls on it",
                status=StatusCode.UNAVAILABLE, error_code=Http2ErrorCode.REFUSED_STREAM,
            )
        if encoding is not None and encoding not in SUPPORTED_ENCODINGS:
            raise ValueError(f"unsupported encoding {encoding!r}")
        encoding = choose_encoding(encoding, None)
        headers = build_request_headers(
            path=path, authority=authority, scheme=scheme, timeout=timeout,
            encoding=encoding, metadata=metadata, **header_options,
        )
        stream_id = self._h2.get_next_available_stream_id()
        try:
            self._h2.send_headers(stream_id, headers, end_stream=end_stream)
        except h2.exceptions.TooManyStreamsError:
            raise ProtocolError(
                "the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached",
                status=StatusCode.UNAVAILABLE, error_code=Http2ErrorCode.REFUSED_STREAM,
            ) from None
        stream = _Stream(stream_id, max_receive_message_length=(
            max_receive_message_length or self.max_receive_message_length))
        stream.send_encoding = encoding
        stream.headers_sent = True
        stream.local_ended = end_stream
        self._streams[stream_id] = stream
        return stream_id

    def send_message(self, stream_id: int, message: bytes, *, compress: bool = True,
                     end_stream: bool = False, cork: bool = True) -> None:
        """Queue one request message; `end_stream=True` half-closes after it, in the same frame
        (so keep `cork`: uncorked, the message would leave before the end could join it)."""
        super().send_message(stream_id, message, compress=compress, cork=cork)
        if end_stream:
            self.end_stream(stream_id)

    def end_stream(self, stream_id: int) -> None:
        """Half-close: no more request messages (the request's EOS).

        END_STREAM rides on the last DATA frame if messages are still queued,
        otherwise an empty DATA frame carries it (PROTOCOL-HTTP2.md: "MUST send
        an empty DATA frame with this flag set").
        """
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_ended or stream.end_after is not None:
            return  # over, or half-closed already: nothing more to close
        stream.end_after = _HALF_CLOSE
        if not stream.send_queue.size:
            self._send_queued_end(stream)

    def _send_queued_end(self, stream: _Stream) -> None:
        stream.end_after = None
        self._h2.end_stream(stream.stream_id)
        self._half_closed(stream)

    def _refuse_unprocessed(self, last_stream_id: int, produced: list) -> None:
        # PROTOCOL-HTTP2.md, "GOAWAY Frame": "Clients should consider any
        # stream initiated after the last successfully accepted stream as
        # UNAVAILABLE and retry the call elsewhere."
        for stream_id in [sid for sid in self._streams if sid > last_stream_id]:
            self.reset_stream(stream_id, Http2ErrorCode.CANCEL)
            produced.append(events.StreamFailed(
                stream_id=stream_id, status=StatusCode.UNAVAILABLE,
                message=f"the server sent GOAWAY (last stream {last_stream_id}) without processing this call",
                unprocessed=True,
            ))

    # --- Responses ---

    def _on_response(self, event: h2.events.ResponseReceived, produced: list) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        if not event.stream_ended:
            head = self._known_responses.get(tuple(event.headers))
            if head is not None:   # a block seen before: checked and parsed already
                self._headers_received(stream, head, produced)
                return
        problem = malformed_field_section(
            event.headers, allowed_pseudo=RESPONSE_PSEUDO_FIELDS, required_pseudo=RESPONSE_PSEUDO_FIELDS,
        )
        if problem:
            self._fail_malformed(stream, problem, produced)
        elif event.stream_ended:
            self._trailers_only(stream, event.headers, produced)
        else:
            self._response_headers(stream, event.headers, produced)

    def _response_headers(self, stream: _Stream, headers: list, produced: list) -> None:
        try:
            self._check_header_list_size(headers)
            head = parse_response_headers(headers)
            bad = status_for_bad_response(head)
            if bad is not None:
                status, message = bad
                raise ProtocolError(message, status=status, error_code=Http2ErrorCode.CANCEL)
            if head.encoding is not None and head.encoding not in SUPPORTED_ENCODINGS:
                # doc/compression.md: an unsupported response encoding is INTERNAL.
                raise UnsupportedEncoding(
                    f"the server compressed with {head.encoding!r}, which is not supported",
                    status=StatusCode.INTERNAL,
                )
        except ProtocolError as error:
            self._fail_stream(stream, error, produced)
            return
        _keep_parsed(self._known_responses, tuple(headers), head)
        self._headers_received(stream, head, produced)

    def _headers_received(self, stream: _Stream, head: ResponseHead, produced: list) -> None:
        stream.response_head = head
        stream.receive_encoding = head.encoding
        produced.append(events.ResponseHeadersReceived(stream_id=stream.stream_id, head=head))

    def _trailers_only(self, stream: _Stream, headers: list, produced: list) -> None:
        try:
            self._check_header_list_size(headers)
            head = parse_response_headers(headers)
            trailers = parse_trailers(headers, response=head)
        except ProtocolError as error:
            self._fail_stream(stream, error, produced)
            return
        self._finish(stream, trailers, produced)

    def _on_trailers(self, event: h2.events.TrailersReceived, produced: list) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        block = tuple(event.headers)
        trailers = self._known_trailers.get(block) or self._new_trailers(stream, block, produced)
        if trailers is None:
            return
        if trailers.status == StatusCode.OK:
            try:
                stream.decoder.close()  # a message cut short is INTERNAL, not OK
            except ProtocolError as error:
                self._fail_stream(stream, error, produced)
                return
        self._finish(stream, trailers, produced)

    def _new_trailers(self, stream: _Stream, block: tuple, produced: list) -> Trailers | None:
        """Check and parse a trailer block not seen before; None if it failed the stream."""
        problem = malformed_field_section(block, allowed_pseudo=frozenset())
        if problem:
            self._fail_malformed(stream, problem, produced)
            return None
        try:
            self._check_header_list_size(block)
            trailers = parse_trailers(block, response=stream.response_head)
        except ProtocolError as error:
            self._fail_stream(stream, error, produced)
            return None
        if _has_grpc_status(block):   # (without it, the result depends on the head)
            _keep_parsed(self._known_trailers, block, trailers)
        return trailers

    def _on_informational(self, event, produced: list) -> None:
        """1xx responses are not final (RFC 9113 §8.1): skip them."""

    def _finish(self, stream: _Stream, trailers, produced: list) -> None:
        self._forget(stream.stream_id)
        stream.remote_ended = True
        if not stream.local_ended:
            # PROTOCOL-HTTP2.md, "Early Server Closure": a client that gets
            # Trailers before its own END_STREAM sends RST_STREAM(NO_ERROR).
            self._reset_h2_stream(stream.stream_id, Http2ErrorCode.NO_ERROR)
        produced.append(events.TrailersReceived(stream_id=stream.stream_id, trailers=trailers))

    def _on_data(self, event: h2.events.DataReceived, produced: list) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None and stream.response_head is None:
            self._connection_unacknowledged += event.flow_controlled_length
            self._fail_stream(stream, ProtocolError(
                "DATA before the response headers"), produced)
            return
        super()._on_data(event, produced)

    def _remote_ended(self, stream: _Stream, produced: list) -> None:
        # END_STREAM on DATA: the server ended the response without Trailers.
        self._fail_stream(stream, ProtocolError(
            "the server ended the stream without sending trailers (no grpc-status)"), produced)

    def _fail_malformed(self, stream: _Stream, problem: str, produced: list) -> None:
        self._fail_stream(stream, ProtocolError(
            f"malformed response: {problem}", error_code=Http2ErrorCode.PROTOCOL_ERROR), produced)

    def _fail_stream(self, stream: _Stream, error: ProtocolError, produced: list) -> None:
        """The client abandons the call: RST_STREAM to the server, the status to the application."""
        self._forget(stream.stream_id)
        self._reset_h2_stream(stream.stream_id, error.error_code or Http2ErrorCode.CANCEL)
        produced.append(events.StreamFailed(
            stream_id=stream.stream_id, status=error.status, message=error.message,
        ))


ClientConnection._handlers = {
    **_shared_handlers(ClientConnection),
    h2.events.ResponseReceived: ClientConnection._on_response,
    h2.events.TrailersReceived: ClientConnection._on_trailers,
    h2.events.InformationalResponseReceived: ClientConnection._on_informational,
}


# --- Server role ------------------------------------------------------------------------------


class ServerConnection(Connection):
    """The server side: accepts calls, reads requests, sends responses."""

    client_side = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Request header blocks already checked and parsed, by their exact
        # fields: a client repeats the same block call after call (a deadline
        # makes each one different, and then this is simply never hit).
        self._known_heads: dict[tuple, RequestHead] = {}

    def send_response_headers(
        self,
        stream_id: int,
        *,
        metadata: Iterable[tuple[str, str | bytes]] = (),
        encoding: str | None = None,
    ) -> None:
        """Send Response-Headers: `:status 200`, content-type, grpc-encoding, metadata.

        `encoding` is used only if the client listed it in grpc-accept-encoding
        (doc/compression.md); otherwise messages go uncompressed.
        """
        stream = self._sendable_stream(stream_id)
        if stream.headers_sent:
            raise StreamStateError(f"response headers were already sent on stream {stream_id}")
        chosen = choose_encoding(encoding, stream.peer_accepts)
        headers = build_response_headers(encoding=chosen, metadata=metadata)
        self._h2.send_headers(stream_id, headers)
        self.headers_or_data_sent = True
        stream.send_encoding = chosen
        stream.headers_sent = True

    def _before_first_message(self, stream: _Stream) -> None:
        if not stream.headers_sent:
            self.send_response_headers(stream.stream_id)

    def send_trailers(
        self,
        stream_id: int,
        *,
        status: StatusCode = StatusCode.OK,
        message: str | None = None,
        metadata: Iterable[tuple[str, str | bytes]] = (),
        status_details: bytes | None = None,
    ) -> None:
        """End the call with its status: Trailers, or Trailers-Only if no headers went out.

        Trailers wait behind queued messages. If the client has not finished
        its request, RST_STREAM(NO_ERROR) follows them (PROTOCOL-HTTP2.md,
        "Early Server Closure"). Nothing happens if the call is already over.
        """
        stream = self._streams.get(stream_id)
        if stream is None or stream.local_ended or stream.end_after is not None:
            return
        if not stream.headers_sent:
            stream.headers_sent = True
            self._send_end_of_call(stream, build_trailers_only(
                status=status, message=message, metadata=metadata, status_details=status_details,
            ))
            return
        stream.end_after = build_trailers(
            status=status, message=message, metadata=metadata, status_details=status_details,
        )
        if not stream.send_queue.size:
            self._send_queued_end(stream)

    def _send_queued_end(self, stream: _Stream) -> None:
        trailers, stream.end_after = stream.end_after, None
        self._send_end_of_call(stream, trailers)

    def _send_end_of_call(self, stream: _Stream, headers: list) -> None:
        self._forget(stream.stream_id)
        stream.local_ended = True
        self._h2.send_headers(stream.stream_id, headers, end_stream=True)
        self.headers_or_data_sent = True
        if not stream.remote_ended:
            self._reset_h2_stream(stream.stream_id, Http2ErrorCode.NO_ERROR)

    # --- Requests ---

    def _on_request(self, event: h2.events.RequestReceived, produced: list) -> None:
        stream_id = event.stream_id
        if self.goaway_sent_last_stream_id is not None and stream_id > self.goaway_sent_last_stream_id:
            # RFC 9113 §6.8: streams above our GOAWAY's last-stream-id are not processed.
            self._reset_h2_stream(stream_id, Http2ErrorCode.REFUSED_STREAM)
            return
        stream = _Stream(stream_id, max_receive_message_length=self.max_receive_message_length)
        stream.remote_ended = bool(event.stream_ended)
        self._streams[stream_id] = stream
        block = tuple(event.headers)
        head = self._known_heads.get(block)
        if head is not None:       # a header block seen before: checked and parsed already
            stream.receive_encoding = head.encoding
            stream.peer_accepts = head.accept_encoding
            produced.append(events.RequestReceived(stream_id=stream_id, head=head))
            return
        problem = malformed_field_section(
            event.headers, allowed_pseudo=REQUEST_PSEUDO_FIELDS, required_pseudo=REQUIRED_REQUEST_PSEUDO_FIELDS,
        )
        if problem:
            # RFC 9113 §8.1.1: a malformed request is a stream error, PROTOCOL_ERROR.
            self._forget(stream_id)
            self._reset_h2_stream(stream_id, Http2ErrorCode.PROTOCOL_ERROR)
            produced.append(events.StreamFailed(
                stream_id=stream_id, status=StatusCode.INTERNAL, message=f"malformed request: {problem}",
            ))
            return
        try:
            self._check_header_list_size(event.headers)
            head = parse_request_headers(event.headers)
            self._check_request_encoding(head)
        except ProtocolError as error:
            self._reject(stream, error, produced)
            return
        _keep_parsed(self._known_heads, block, head)
        stream.receive_encoding = head.encoding
        stream.peer_accepts = head.accept_encoding
        produced.append(events.RequestReceived(stream_id=stream_id, head=head))

    @staticmethod
    def _check_request_encoding(head) -> None:
        if head.encoding is not None and head.encoding not in SUPPORTED_ENCODINGS:
            # doc/compression.md: UNIMPLEMENTED, with grpc-accept-encoding
            # listing what we support (added by _reject).
            raise UnsupportedEncoding(
                f"grpc-encoding {head.encoding!r} is not supported "
                f"(supported: {', '.join(SUPPORTED_ENCODINGS)})"
            )

    def _reject(self, stream: _Stream, error: ProtocolError, produced: list) -> None:
        """Answer a request that never reaches a handler, and report it."""
        if isinstance(error, RequestRejected) and error.http_status != HTTP_STATUS_OK:
            headers = build_rejection(error)  # an HTTP error (415, 405, ...) plus grpc-status
        elif isinstance(error, UnsupportedEncoding):
            headers = build_trailers_only(  # doc/compression.md: list what we do support
                status=error.status, message=error.message, accept_encoding=SUPPORTED_ENCODINGS,
            )
        else:
            headers = build_trailers_only(status=error.status, message=error.message)
        stream.headers_sent = True
        self._send_end_of_call(stream, headers)
        produced.append(events.StreamFailed(
            stream_id=stream.stream_id, status=error.status, message=error.message,
        ))

    def _on_client_trailers(self, event: h2.events.TrailersReceived, produced: list) -> None:
        """gRPC requests have no trailers; StreamEnded follows and ends the request."""

    def _remote_ended(self, stream: _Stream, produced: list) -> None:
        produced.append(events.RequestEnded(stream_id=stream.stream_id))

    def _fail_stream(self, stream: _Stream, error: ProtocolError, produced: list) -> None:
        """The server ends the call with the error's status, dropping anything still queued."""
        stream.send_queue.clear()
        stream.end_after = None
        trailer_args = {"status": error.status, "message": error.message}
        if stream.headers_sent:
            headers = build_trailers(**trailer_args)
        else:
            headers = build_trailers_only(**trailer_args)
            stream.headers_sent = True
        self._send_end_of_call(stream, headers)
        produced.append(events.StreamFailed(
            stream_id=stream.stream_id, status=error.status, message=error.message,
        ))


ServerConnection._handlers = {
    **_shared_handlers(ServerConnection),
    h2.events.RequestReceived: ServerConnection._on_request,
    h2.events.TrailersReceived: ServerConnection._on_client_trailers,
}


