"""The services every server here offers besides its own: health and reflection.

Specs: doc/health-checking.md and doc/server-reflection.md
(https://github.com/grpc/grpc/tree/master/doc). With both, the standard tools
work against any of our servers with no .proto file in hand: grpcurl and
``python -m rpc.cli`` (reflection), grpc_health_probe and load balancers (health).

    server.add_service(ProductInfo())
    standard = add_standard_services(server, ecommerce)
    ...
    standard.health.enter_graceful_shutdown()     before server.stop(grace)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any, NamedTuple, Sequence

import rpc

from .health import HealthServicer, ServingStatus, health_v1
from .reflection import DescriptorIndex, enable_reflection

__all__ = ["StandardServices", "add_standard_services", "serve_until_stopped", "run_until_signalled",
           "server_arguments", "run_server_program", "run_client_program"]


class StandardServices(NamedTuple):
    health: HealthServicer          # set(service, status), enter_graceful_shutdown()
    reflection: DescriptorIndex     # add(loaded) to describe more files


def add_standard_services(server: rpc.Server, *loaded_files: Any) -> StandardServices:
    """Serve grpc.health.v1 and reflection (v1, v1alpha) for ``loaded_files``' services.

    Every service of ``loaded_files`` starts SERVING, as does "" (the server
    as a whole); reflection lists them, Health, and itself.
    """
    health = HealthServicer()
    for loaded in loaded_files:
        for service in loaded.services.values():
            health.set(service.full_name, ServingStatus.SERVING)
    server.add_service(health)
    index = enable_reflection(server, *loaded_files, health_v1)
    return StandardServices(health, index)


async def serve_until_stopped(name: str, servicers: Sequence[Any], loaded_files: Sequence[Any],
                              host: str, port: int, *, server: rpc.Server | None = None,
                              ready: asyncio.Event | None = None, grace: float = 1.0) -> None:
    """Run an example server as a program, with health and reflection.

    On SIGINT/SIGTERM health turns NOT_SERVING before calls in flight get
    ``grace`` seconds (see ``run_until_signalled``).
    """
    server = server or rpc.Server()
    for servicer in servicers:
        server.add_service(servicer)
    standard = add_standard_services(server, *loaded_files)
    await run_until_signalled(server, name, host, port, ready=ready, grace=grace,
                              before_stop=standard.health.enter_graceful_shutdown)


async def run_until_signalled(server: rpc.Server, name: str, host: str, port: int, *,
                              ready: asyncio.Event | None = None, grace: float = 1.0,
                              before_stop: Any = None, note: str = "") -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully.

    Prints "<name> server listening on host:port<note>" once listening (port 0
    picks one; the programs' tests read the port from that line).
    """
    bound = await server.start(f"{host}:{port}")
    print(f"{name} server listening on {host}:{bound}{note}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    if before_stop is not None:
        before_stop()
    await server.stop(grace=grace)


def server_arguments(description: str, default_port: int,
                     argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags every example server takes: --host (127.0.0.1) and --port."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    return parser.parse_args(argv)


def run_server_program(serve: Any, description: str, default_port: int,
                       argv: Sequence[str] | None = None) -> None:
    """An example server as a program: parse its flags, then ``serve(host, port, **options)``.

    ``options`` are the flags other than --host and --port, by their
    argparse names; ``serve`` passes them on to ``serve_until_stopped``.
    """
    args = vars(server_arguments(description, default_port, argv))
    host, port = args.pop("host"), args.pop("port")
    asyncio.run(serve(host, port, **args))


def run_client_program(run: Any, description: str, default_target: str,
                       argv: Sequence[str] | None = None) -> int:
    """An example client as a program: ``--target``, then ``run(target)``.

    Exit status 0 when every call did what it should; 1, with the status on
    stderr, when a call failed (the clients raise SystemExit themselves for an
    unexpected answer).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--target", default=default_target)
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.target))
    except rpc.RpcError as error:
        print(f"call failed: {error}", file=sys.stderr)
        return 1
    return 0
