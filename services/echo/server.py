"""The Echo server: ``python -m services.echo.server [--host H] [--port N]``.

The seed's gServer.go, in Python: Echo answers with a StringMessage holding
the value it was sent.
"""

from __future__ import annotations

import asyncio


from ..standard import run_server_program, serve_until_stopped

from . import example

__all__ = ["Echo", "serve", "main", "DEFAULT_PORT"]

DEFAULT_PORT = 50051


class Echo(example.MyServiceServicer):
    async def Echo(self, request, context):
        return example.StringMessage(value=request.value)


async def serve(host: str, port: int, ready: asyncio.Event | None = None, **options) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully (``options``: see serve_until_stopped)."""
    await serve_until_stopped("Echo", [Echo()], [example], host, port, ready=ready, **options)


def main(argv: list[str] | None = None) -> None:
    run_server_program(serve, __doc__.splitlines()[0], DEFAULT_PORT, argv)


if __name__ == "__main__":
    main()
