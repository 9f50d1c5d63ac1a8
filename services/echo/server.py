"""The Echo server: ``python -m services.echo.server [--host H] [--port N]``.

The seed's gServer.go, in Python: Echo answers with a StringMessage holding
the value it was sent.
"""

from __future__ import annotations

import asyncio


from ..standard import serve_until_stopped, server_arguments

from . import example

__all__ = ["Echo", "serve", "main", "DEFAULT_PORT"]

DEFAULT_PORT = 50051


class Echo(example.MyServiceServicer):
    async def Echo(self, request, context):
        return example.StringMessage(value=request.value)


async def serve(host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully."""
    await serve_until_stopped("Echo", [Echo()], [example], host, port, ready=ready)


def main(argv: list[str] | None = None) -> None:
    args = server_arguments(__doc__.splitlines()[0], DEFAULT_PORT, argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
