"""A test-only server program whose answers say which process served them.

grpc.testing.TestService (services/interop) with UnaryCall's ``server_id``
set to the serving process's pid, run by path as
``python tests/services/who_serves.py --port 0 --workers 2``, so that a test
can count the workers that answered.
"""

import asyncio
import os

from services.interop import testing
from services.interop.server import TestService
from services.standard import run_server_program, serve_until_stopped


class WhoServes(TestService):
    async def UnaryCall(self, request, context):
        response = await TestService.UnaryCall(self, request, context)
        response.server_id = str(os.getpid())
        return response


async def serve(host: str, port: int, ready: asyncio.Event | None = None, **options) -> None:
    await serve_until_stopped("WhoServes", [WhoServes()], [testing], host, port, ready=ready, **options)


if __name__ == "__main__":
    run_server_program(serve, __doc__.splitlines()[0], 0)
