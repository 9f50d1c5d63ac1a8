"""The Echo server: ``python -m services.echo.server [--host H] [--port N]``.

The seed's gServer.go, in Python: Echo answers with a StringMessage holding
the value it was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import rpc

from . import example

__all__ = ["Echo", "serve", "main", "DEFAULT_PORT"]

DEFAULT_PORT = 50051


class Echo(example.MyServiceServicer):
    async def Echo(self, request, context):
        return example.StringMessage(value=request.value)


async def serve(host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully."""
    server = rpc.Server()
    server.add_service(Echo())
    bound = await server.start(f"{host}:{port}")
    print(f"Echo server listening on {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    await server.stop(grace=1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
