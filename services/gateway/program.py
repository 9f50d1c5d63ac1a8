"""The gateway as a program: load .proto files, open a channel, serve until told to stop.

    python -m services.gateway --proto services/echo/echo.proto \\
        --backend localhost:50051 --port 8080

``serve`` is what the programs share (``python -m services.gateway`` and
``python -m services.echo.gateway``); it prints one line when it listens, so
a script or a test that starts it on port 0 can read the port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any, Sequence

import rpc

from .proxy import Gateway
from .server import GatewayServer, Limits

__all__ = ["serve", "main", "add_listen_arguments"]

DEFAULT_PORT = 8080          # the seed's: http.ListenAndServe(":8080", mux)
DEFAULT_HOST = "localhost"   # every loopback address, so curl's ::1 and 127.0.0.1 both work
DEFAULT_BACKEND = "localhost:50051"


async def serve(services: Sequence[Any], backend: str, host: str | None, port: int, *,
                limits: Limits = Limits(), ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Serve ``services`` (wire.idl Service objects) from ``backend`` until SIGINT/SIGTERM."""
    async with rpc.Channel(backend) as channel:
        gateway = Gateway(channel, services)
        server = GatewayServer(gateway.handle, limits=limits)
        bound = await server.start(host, port)
        routes = ", ".join(str(binding) for binding in gateway.router.bindings)
        print(f"gateway listening on {host}:{bound}, calling {backend}: {routes}", flush=True)
        stop = stop or _stop_on_signals()
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            await server.stop()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (0: any free)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, help="the gRPC server, host:port")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An HTTP/JSON gateway to any gRPC service "
                                                 "annotated with google.api.http.")
    parser.add_argument("--proto", action="append", required=True,
                        help=".proto file whose services to serve (repeatable)")
    parser.add_argument("--include", "-I", action="append", default=[],
                        help="import directory for the .proto files (repeatable)")
    add_listen_arguments(parser)
    args = parser.parse_args(argv)
    services = [service for path in args.proto
                for service in rpc.load(path, include=args.include).services.values()]
    try:
        asyncio.run(serve(services, args.backend, args.host, args.port))
    except KeyboardInterrupt:
        pass
