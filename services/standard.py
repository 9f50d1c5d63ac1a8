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
import contextlib
import signal
import sys
from typing import Any, NamedTuple, Sequence

import rpc
from rpc.workers import report_listening, serve_in_workers

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
                              ready: asyncio.Event | None = None, grace: float = 1.0,
                              reuse_port: bool = False, metrics_port: int | None = None) -> None:
    """Run an example server as a program, with health and reflection.

    On SIGINT/SIGTERM health turns NOT_SERVING before calls in flight get
    ``grace`` seconds (see ``run_until_signalled``). With ``metrics_port``
    (0 picks one) the server counts its calls (rpc.metrics) and serves them
    at http://host:metrics_port/metrics, printing "metrics on <url>"; the
    server is then built here, so ``server`` must be None.
    """
    metrics = _metrics_interceptor(metrics_port, server)
    server = server or rpc.Server(interceptors=[metrics] if metrics else [])
    for servicer in servicers:
        server.add_service(servicer)
    standard = add_standard_services(server, *loaded_files)
    with _metrics_endpoint(metrics, server, host, metrics_port):
        await run_until_signalled(server, name, host, port, ready=ready, grace=grace,
                                  before_stop=standard.health.enter_graceful_shutdown,
                                  reuse_port=reuse_port)


def _metrics_interceptor(metrics_port: int | None, server: rpc.Server | None) -> Any:
    """A MetricsServerInterceptor on a registry of its own, if ``metrics_port`` asks for one."""
    if metrics_port is None:
        return None
    if server is not None:
        raise ValueError("metrics_port needs a server built here: pass no server, or put "
                         "rpc.metrics.MetricsServerInterceptor on yours and call serve_metrics()")
    from rpc.metrics import MetricsServerInterceptor, new_registry   # the optional "metrics" extra
    return MetricsServerInterceptor(new_registry())


@contextlib.contextmanager
def _metrics_endpoint(metrics: Any, server: rpc.Server, host: str, metrics_port: int | None):
    """Every method at zero, then /metrics served while the body runs."""
    if metrics is None:
        yield
        return
    from rpc.metrics import serve_metrics
    metrics.initialize(server)
    with serve_metrics(metrics_port, host, metrics.metrics.registry) as endpoint:
        print(f"metrics on {endpoint.url}", flush=True)
        yield


async def run_until_signalled(server: rpc.Server, name: str, host: str, port: int, *,
                              ready: asyncio.Event | None = None, grace: float = 1.0,
                              before_stop: Any = None, note: str = "",
                              reuse_port: bool = False) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully.

    Prints "<name> server listening on host:port<note>" once listening (port 0
    picks one; the programs' tests read the port from that line). A worker
    of ``--workers N`` hands the line to its parent instead, and also stops
    when the parent is gone (rpc/workers.py).
    """
    bound = await server.start(f"{host}:{port}", reuse_port=reuse_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    line = f"{name} server listening on {host}:{bound}{note}"    # said once signals stop it cleanly
    if not report_listening(line, on_parent_gone=stop.set):
        print(line, flush=True)
    if ready is not None:
        ready.set()
    await stop.wait()
    if before_stop is not None:
        before_stop()
    await server.stop(grace=grace)


def server_arguments(description: str, default_port: int,
                     argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags every example server takes: --host (127.0.0.1), --port, --workers, --reuse-port,
    --metrics-port."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--workers", type=_positive, default=1,
                        help="serve from this many processes sharing the port (SO_REUSEPORT)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="listen with SO_REUSEPORT, so that copies of this program share the port")
    parser.add_argument("--metrics-port", type=int, default=None,
                        help="serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a port)")
    return parser.parse_args(argv)


def run_server_program(serve: Any, description: str, default_port: int,
                       argv: Sequence[str] | None = None) -> None:
    """An example server as a program: parse its flags, then ``serve(host, port, **options)``.

    ``options`` are the flags other than --host and --port, by their
    argparse names; ``serve`` passes them on to ``serve_until_stopped``.
    With ``--workers N`` (N > 1) this process starts N copies of the program
    sharing the port instead, and exits with their status (rpc/workers.py).
    """
    args = vars(server_arguments(description, default_port, argv))
    host, port, workers = args.pop("host"), args.pop("port"), args.pop("workers")
    if workers > 1:
        sys.exit(serve_in_workers(workers, _worker_command(serve, argv), host, port))
    asyncio.run(serve(host, port, **args))


def _worker_command(serve: Any, argv: Sequence[str] | None) -> Any:
    """The command line of one worker of ``--workers N``, given the shared port.

    The program itself again, with its own flags, and after them the ones
    that make it a worker: argparse keeps the last of a repeated flag.
    """
    main = sys.modules["__main__"]
    module = serve.__module__ if serve.__module__ != "__main__" else getattr(main.__spec__, "name", None)
    program = [sys.executable, "-m", module] if module else [sys.executable, sys.argv[0]]
    flags = list(sys.argv[1:] if argv is None else argv)
    return lambda port: [*program, *flags, "--port", str(port), "--workers", "1", "--reuse-port"]


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


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
