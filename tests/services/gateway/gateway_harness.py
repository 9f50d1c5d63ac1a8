"""What the gateway's tests share: a backend and the gateway in front of it, on a
background event loop, so that tests can talk to it with blocking clients
(http.client, curl, raw sockets) the way a reader would."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from dataclasses import dataclass

import rpc
from services.gateway import Gateway, GatewayServer, Limits

WAIT = 10.0   # seconds: the longest any test waits for the stack or an answer


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self):
        return json.loads(self.body)

    def lines(self):
        return [json.loads(line) for line in self.body.splitlines()]


class BackgroundLoop:
    """An event loop on a thread, running whatever ``_start`` starts until ``_stop``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(WAIT)
            self.loop.close()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)

    def request(self, method: str, target: str, body=None, headers=None) -> Reply:
        """One request on a fresh connection."""
        connection = self.connection()
        try:
            return send(connection, method, target, body, headers)
        finally:
            connection.close()


class BackgroundServer(BackgroundLoop):
    """A GatewayServer with any handler: the HTTP/1.1 side alone."""

    def __init__(self, handler, *, limits: Limits = Limits()) -> None:
        super().__init__()
        self.handler = handler
        self.limits = limits

    async def _start(self) -> None:
        self.server = GatewayServer(self.handler, limits=self.limits)
        self.port = await self.server.start("127.0.0.1", 0)

    async def _stop(self) -> None:
        await self.server.stop()


class BackgroundGateway(BackgroundLoop):
    """rpc.Server(servicer) <- rpc.Channel <- Gateway <- GatewayServer, on a thread's loop."""

    def __init__(self, servicer, services, *, limits: Limits = Limits(), **gateway_options):
        super().__init__()
        self.servicer = servicer
        self.services = list(services)
        self.limits = limits
        self.gateway_options = gateway_options

    async def _start(self) -> None:
        self.backend = rpc.Server()
        self.backend.add_service(self.servicer)
        self.backend_port = await self.backend.start("127.0.0.1:0")
        self.channel = rpc.Channel(f"127.0.0.1:{self.backend_port}")
        self.gateway = Gateway(self.channel, self.services, **self.gateway_options)
        self.server = GatewayServer(self.gateway.handle, limits=self.limits)
        self.port = await self.server.start("127.0.0.1", 0)

    async def _stop(self) -> None:
        await self.server.stop()
        await self.channel.close()
        await self.backend.stop(0)


def send(connection: http.client.HTTPConnection, method: str, target: str, body=None,
         headers=None) -> Reply:
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    connection.request(method, target, body=body, headers=headers or {})
    response = connection.getresponse()
    return Reply(response.status, response.headers, response.read())
