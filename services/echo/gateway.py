"""The Echo gateway: ``python -m services.echo.gateway --port 8080 --backend localhost:50051``.

The seed's main.go, in Python: an HTTP/1.1 server that turns
``POST /v1/example/echo`` with a JSON body into a call of
example.MyService/Echo on the backend, and its answer back into JSON.
"""

from __future__ import annotations

import argparse
import asyncio

from services.gateway.program import add_listen_arguments, serve

from . import example

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_listen_arguments(parser)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve([example.MyService], args.backend, args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
