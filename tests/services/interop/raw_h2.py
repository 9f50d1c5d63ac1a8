"""gRPC by hand over the h2 library: enough to see and set each message's Compressed-Flag.

grpcio's API hides the Compressed-Flag of the Length-Prefixed-Message
(doc/PROTOCOL-HTTP2.md), so the interop behaviours that turn on it are checked
here, with nothing of ours on the other end of the wire: h2 for HTTP/2,
zlib for gzip, grpcio-generated protobuf classes for the messages.

    RawClient: one call with chosen flags per message; gives back the headers,
               each response message with its flag, and the trailers.
    RawServer: a strict TestService subset (UnaryCall, StreamingInputCall,
               StreamingOutputCall) that checks expect_compressed against the
               flag each request really carried, as grpc's reference server
               does, and sets each response's flag as asked.
"""

from __future__ import annotations

import asyncio
import struct
import urllib.parse
import zlib
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions

PREFIX = struct.Struct(">?I")   # Compressed-Flag, Message-Length
GZIP_WBITS = 16 + zlib.MAX_WBITS
READ_SIZE = 65536


def frame(message: bytes, compressed: bool) -> bytes:
    """One Length-Prefixed-Message, gzip-compressed when ``compressed``."""
    if compressed:
        packer = zlib.compressobj(wbits=GZIP_WBITS)
        message = packer.compress(message) + packer.flush()
    return PREFIX.pack(compressed, len(message)) + message


def unframe(data: bytes) -> list[tuple[bool, bytes]]:
    """Every (Compressed-Flag, decompressed message) in a complete body."""
    messages, offset = [], 0
    while offset < len(data):
        compressed, length = PREFIX.unpack_from(data, offset)
        body = data[offset + PREFIX.size: offset + PREFIX.size + length]
        offset += PREFIX.size + length
        messages.append((compressed, zlib.decompress(body, GZIP_WBITS) if compressed else body))
    return messages


@dataclass
class _Stream:
    headers: dict = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    trailers: dict = field(default_factory=dict)
    reset: int | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class _Peer:
    """One HTTP/2 connection driven by h2 over asyncio streams, either role."""

    def __init__(self, reader, writer, client_side: bool) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=client_side, header_encoding="utf-8"))
        self.streams: dict[int, _Stream] = {}
        self.window_opened = asyncio.Event()
        self.on_request = None

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    async def pump(self) -> None:
        """Read and dispatch frames until the connection closes."""
        try:
            while data := await self.reader.read(READ_SIZE):
                for event in self.h2.receive_data(data):
                    self._dispatch(event)
                self.flush()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            for stream in self.streams.values():
                stream.ended.set()
            self.window_opened.set()

    def _dispatch(self, event) -> None:
        stream = self.streams.setdefault(getattr(event, "stream_id", 0) or 0, _Stream())
        if isinstance(event, (h2.events.RequestReceived, h2.events.ResponseReceived)):
            stream.headers = dict(event.headers)
            if isinstance(event, h2.events.RequestReceived) and self.on_request:
                asyncio.get_running_loop().create_task(self.on_request(event.stream_id, stream))
        elif isinstance(event, h2.events.TrailersReceived):
            stream.trailers = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            stream.body += event.data
            self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            stream.ended.set()
        elif isinstance(event, h2.events.StreamReset):
            stream.reset = event.error_code
            stream.ended.set()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self.window_opened.set()

    async def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Send ``data`` as the flow-control windows allow."""
        view = memoryview(data)
        while view:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.window_opened.clear()
                await self.window_opened.wait()
                continue
            chunk, view = view[:window], view[window:]
            self.h2.send_data(stream_id, bytes(chunk))
            self.flush()
        if end_stream:
            self.h2.end_stream(stream_id)
            self.flush()


# --- the client ------------------------------------------------------------------------------


@dataclass
class RawResponse:
    headers: dict
    messages: list[tuple[bool, bytes]]     # (Compressed-Flag, message)
    trailers: dict
    reset: int | None

    @property
    def status(self) -> int | None:
        fields = self.trailers or self.headers    # Trailers-Only puts the status in the headers
        return int(fields["grpc-status"]) if "grpc-status" in fields else None

    @property
    def message(self) -> str:
        fields = self.trailers or self.headers
        return urllib.parse.unquote(fields.get("grpc-message", ""))


async def call(port: int, path: str, messages: list[tuple[bytes, bool]], *,
               encoding: str | None = "gzip", timeout: str | None = None,
               half_close: bool = True, wait: float = 10.0) -> RawResponse:
    """One call to 127.0.0.1:port; ``messages`` are (bytes, compressed) pairs."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    peer = _Peer(reader, writer, client_side=True)
    peer.h2.initiate_connection()
    peer.flush()
    pump = asyncio.get_running_loop().create_task(peer.pump())
    try:
        stream_id = peer.h2.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path),
                   (":authority", f"127.0.0.1:{port}"), ("te", "trailers"),
                   ("content-type", "application/grpc"), ("grpc-accept-encoding", "gzip")]
        if timeout is not None:
            headers.append(("grpc-timeout", timeout))
        if encoding is not None:
            headers.append(("grpc-encoding", encoding))
        peer.h2.send_headers(stream_id, headers)
        peer.flush()
        stream = peer.streams.setdefault(stream_id, _Stream())
        body = b"".join(frame(message, compressed) for message, compressed in messages)
        await peer.send_data(stream_id, body, end_stream=half_close)
        await asyncio.wait_for(stream.ended.wait(), wait)
        return RawResponse(stream.headers, unframe(bytes(stream.body)), stream.trailers, stream.reset)
    finally:
        pump.cancel()
        writer.close()


# --- the server ------------------------------------------------------------------------------


class RawServer:
    """A strict TestService subset on h2 (see the module docstring).

    ``handlers`` maps a method name to ``handler(requests) -> (status, message,
    [(response bytes, compressed)])``, where requests are (flag, bytes) pairs.
    """

    def __init__(self, handlers) -> None:
        self.handlers = handlers
        self.requests: list[tuple[str, dict, list[tuple[bool, bytes]]]] = []   # what arrived
        self.server = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _connection(self, reader, writer) -> None:
        peer = _Peer(reader, writer, client_side=False)
        peer.h2.initiate_connection()
        peer.flush()
        peer.on_request = lambda stream_id, stream: self._serve(peer, stream_id, stream)
        try:
            await peer.pump()
        finally:
            writer.close()

    async def _serve(self, peer: _Peer, stream_id: int, stream: _Stream) -> None:
        await stream.ended.wait()
        if stream.reset is not None:
            return
        method = stream.headers[":path"].rsplit("/", 1)[-1]
        requests = unframe(bytes(stream.body))
        self.requests.append((method, stream.headers, requests))
        handler = self.handlers.get(method)
        if handler is None:
            status, message, responses = 12, "unknown method", []
        else:
            status, message, responses = handler(requests)
        peer.h2.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc"),
                                         ("grpc-encoding", "gzip")])
        body = b"".join(frame(response, compressed) for response, compressed in responses)
        await peer.send_data(stream_id, body, end_stream=False)
        peer.h2.send_headers(stream_id, [("grpc-status", str(status)),
                                         ("grpc-message", urllib.parse.quote(message))],
                             end_stream=True)
        peer.flush()
