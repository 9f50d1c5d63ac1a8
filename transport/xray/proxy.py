"""A transparent h2c proxy that traces what it forwards.

Point a client at it instead of at the server ("prior knowledge" cleartext
HTTP/2, RFC 9113 §3.3, which is what grpcio speaks without TLS): every byte
goes on unchanged, in both directions, and a copy of it goes through a
`Tracer` of that connection. The proxy never answers anything itself and
never waits on the tracer's opinion, so a client sees the server exactly as
it is -- only a little further away.

This is the one module of the tracer that does I/O (asyncio streams). One
upstream connection per accepted connection; each connection gets a number
and its own Tracer, and the records go to `on_records(number, records)`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from .records import CLIENT, SERVER, ConnectionNoted, Record
from .tracer import Tracer

__all__ = ["XrayProxy", "READ_SIZE", "CONNECT_TIMEOUT"]

READ_SIZE = 64 * 1024  # bytes read at a time from either side
CONNECT_TIMEOUT = 10.0  # seconds to reach the upstream server

RecordsCallback = Callable[[int, list[Record]], None]


class XrayProxy:
    """Accepts h2c connections, forwards each to `upstream`, traces both ways."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        on_records: RecordsCallback,
        tracer_factory: Callable[[], Tracer] = Tracer,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.on_records = on_records
        self.tracer_factory = tracer_factory
        self.connect_timeout = connect_timeout
        self.port: int | None = None
        self._server: asyncio.base_events.Server | None = None
        self._numbers = itertools.count(1)
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 picks a free port); return the port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and drop every connection still open."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        number = next(self._numbers)
        task = asyncio.current_task()
        self._tasks.add(task)
        self._writers.add(client_writer)
        peer = client_writer.get_extra_info("peername")
        self._note(number, f"connection {number} accepted from {_address(peer)}")
        try:
            upstream = await self._connect_upstream(number)
            if upstream is not None:
                await self._relay(number, client_reader, client_writer, *upstream)
        except asyncio.CancelledError:
            # close() cancels connections still open. asyncio's stream server
            # asks this task for its exception when it ends, and a cancelled
            # task answers by raising: end normally instead.
            pass
        finally:
            self._writers.discard(client_writer)
            self._tasks.discard(task)
            client_writer.close()
            self._note(number, f"connection {number} closed")

    async def _connect_upstream(self, number: int):
        host, port = self.upstream
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            self._note(number, f"could not reach upstream {host}:{port}: {error or 'timed out'}")
            return None

    async def _relay(self, number, client_reader, client_writer, upstream_reader, upstream_writer) -> None:
        self._writers.add(upstream_writer)
        tracer = self.tracer_factory()
        try:
            await asyncio.gather(
                self._pump(number, tracer, CLIENT, client_reader, upstream_writer),
                self._pump(number, tracer, SERVER, upstream_reader, client_writer),
            )
        finally:
            self._writers.discard(upstream_writer)
            upstream_writer.close()

    async def _pump(self, number: int, tracer: Tracer, sender: str,
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy one direction until it ends; the bytes first, the trace after."""
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
                await writer.drain()
                self._trace(number, tracer, sender, data)
        except (ConnectionError, OSError) as error:
            self._note(number, f"{sender} side: {type(error).__name__}: {error}")
            writer.close()  # the other direction ends too
            return
        _pass_eof(writer)

    def _trace(self, number: int, tracer: Tracer, sender: str, data: bytes) -> None:
        records = tracer.feed(sender, data)
        if records:
            self._emit(number, records)

    def _note(self, number: int, what: str) -> None:
        self._emit(number, [ConnectionNoted(what=what)])

    def _emit(self, number: int, records: list[Record]) -> None:
        try:
            self.on_records(number, records)
        except Exception:  # the output is gone (a closed pipe, say): the bytes still flow
            pass


def _pass_eof(writer: asyncio.StreamWriter) -> None:
    """Pass a half-close on (TCP FIN); a peer that is already gone needs none."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


def _address(peer) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
