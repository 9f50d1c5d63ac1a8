"""A TCP relay for tests: what a network between a client and a server can do to them.

It forwards bytes both ways between its own port and 127.0.0.1:<target>,
counting them, and can fail the way networks fail: ``cut()`` drops every
relayed connection at once (both ends see it closed), ``freeze()`` stops
forwarding on the connections open now while their sockets stay open, like a
peer whose host vanished (what keepalive is for). Connections made after a
freeze flow again.

    relay = await TcpRelay.start(server_port)
    channel = rpc.Channel(f"127.0.0.1:{relay.port}")
    ...
    relay.close()
"""

from __future__ import annotations

import asyncio

__all__ = ["TcpRelay"]


class TcpRelay:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.upstream_bytes = 0       # client -> server
        self.downstream_bytes = 0     # server -> client
        self._writers: list[asyncio.StreamWriter] = []
        self._flows: list[asyncio.Event] = []      # one per connection: set while it flows
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.AbstractServer | None = None

    @classmethod
    async def start(cls, target_port: int) -> "TcpRelay":
        relay = cls(target_port)
        relay._server = await asyncio.start_server(relay._accept, "127.0.0.1", 0)
        relay.port = relay._server.sockets[0].getsockname()[1]
        return relay

    async def _accept(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        flowing = asyncio.Event()
        flowing.set()
        self._flows.append(flowing)
        for pipe in (self._pipe(reader, up_writer, flowing, "upstream_bytes"),
                     self._pipe(up_reader, writer, flowing, "downstream_bytes")):
            task = asyncio.get_running_loop().create_task(pipe)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, reader, writer, flowing: asyncio.Event, counter: str) -> None:
        try:
            while data := await reader.read(65536):
                await flowing.wait()
                setattr(self, counter, getattr(self, counter) + len(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if flowing.is_set():     # a frozen connection keeps its sockets open
                writer.close()

    def reset_counts(self) -> None:
        self.upstream_bytes = self.downstream_bytes = 0

    def freeze(self) -> None:
        """Stop forwarding on the connections open now, both ways; their sockets stay open."""
        for flowing in self._flows:
            flowing.clear()

    def cut(self) -> None:
        """Drop every relayed connection at once, both ends (as a dead network would)."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def close(self) -> None:
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
