"""python -m rpc.loadtest: load-test one method of a gRPC server, in the spirit of ghz.

    python -m rpc.loadtest --plaintext localhost:50051 ecommerce.ProductInfo/addProduct \\
        -d '{"name": "book", "price": 9.5}' -c 10 -n 1000
    python -m rpc.loadtest --plaintext localhost:50051 ecommerce.ProductInfo/getProduct \\
        -d '{"value": "x"}' -c 4 -z 5s --format json

Options follow ghz (https://ghz.sh/docs/options) where they can: -c workers,
-n calls in all, -z how long (Go durations: 10s, 1m, 500ms), --timeout per
call, -d the request as proto3 JSON, --format summary|json. Connection
flags are rpc.cli's (--plaintext, --cacert, --cert, --key, --insecure), and
so is finding the method: through the server's reflection service, or in
``--proto`` files. Unary and server-streaming methods (a server-streaming
call counts once, when its stream ends).

While it runs, a progress bar is drawn on stderr; the summary (count, total
time, requests/s, fastest/slowest/average, the latency distribution, the
status code distribution) goes to stdout. The exit status is 0 when the run
is over, whatever the calls' statuses; 1 if it cannot run; 2 for usage.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from types import SimpleNamespace
from typing import Any, Sequence, TextIO

import rpc
from rpc.cli.__main__ import (
    CliError,
    Invocation,
    ProtoSource,
    ReflectionSource,
    UsageError,
    parse_metadata,
    ssl_context,
)
from rpc.loadtest.runner import DEFAULT_CALL_TIMEOUT, Progress, run_load
from rpc.loadtest.stats import render_json, render_text, summarize
from services.health.probe import parse_duration

FAILURE_EXIT = 1
USAGE_EXIT = 2
PROGRESS_INTERVAL = 0.1       # seconds between redraws of the progress bar
PROGRESS_WIDTH = 40           # characters of bar
DEFAULT_CONCURRENCY = 50      # ghz's -c default
DEFAULT_TOTAL = 200           # ghz's -n default, when neither -n nor -z is given


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rpc.loadtest", allow_abbrev=False,
                     description="Load-test one gRPC method (like ghz).")
    add = parser.add_argument
    add("target", help="host:port of the server")
    add("method", help="pkg.Service/Method")
    add("-d", "--data", help="request JSON; '@' reads it from stdin")
    add("-c", "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="workers")
    add("-n", "--total", type=int, help="number of calls in all")
    add("-z", "--duration", help="run for this long (10s, 1m, 500ms); with -n, whichever ends first")
    add("-t", "--timeout", default=f"{DEFAULT_CALL_TIMEOUT:g}s", help="deadline of each call")
    add("--format", "-O", choices=("summary", "json"), default="summary")
    add("--no-progress", action="store_true", help="no progress bar on stderr")
    add("--proto", action="append", default=[], help=".proto file instead of reflection")
    add("--import-path", action="append", default=[], help="directory for --proto imports")
    add("--plaintext", action="store_true", help="no TLS (h2c)")
    add("--insecure", action="store_true", help="TLS without checking the certificate")
    add("--cacert", help="CA certificates (PEM)")
    add("--cert", help="client certificate (PEM)")
    add("--key", help="client private key (PEM)")
    add("--servername", help="server name for TLS")
    add("-H", "--header", action="append", default=[], metavar="'KEY: VALUE'",
        help="metadata for every call (repeatable)")
    return parser


def load_plan(args: argparse.Namespace) -> SimpleNamespace:
    """The run's numbers from the flags: (concurrency, total, duration, timeout)."""
    try:
        duration = parse_duration(args.duration) if args.duration else None
        timeout = parse_duration(args.timeout) if args.timeout else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    total = args.total
    if total is None and duration is None:
        total = DEFAULT_TOTAL
    if args.concurrency < 1:
        raise UsageError("-c must be at least 1")
    if total is not None and total < 1:
        raise UsageError("-n must be at least 1")
    if duration is not None and duration <= 0:
        raise UsageError("-z must be positive")
    return SimpleNamespace(concurrency=args.concurrency, total=total, duration=duration,
                           timeout=timeout)


def service_name(method: str) -> str:
    """"pkg.Service/Method" or "pkg.Service.Method" -> "pkg.Service"."""
    name = method.lstrip("/")
    return name.rpartition("/")[0] if "/" in name else name.rpartition(".")[0]


async def resolve(source: Any, method_name: str, data: str | None) -> Invocation:
    """The method and its request, as rpc.cli finds and builds them."""
    pool = await source.pool_for(service_name(method_name))
    try:
        service, method = pool.method(method_name)
    except KeyError:
        raise CliError(f"method not found: {method_name}") from None
    if method.client_streaming:
        raise CliError(f"{method.name} takes a request stream: only unary and "
                       "server-streaming methods can be load-tested")
    return Invocation(service, method, data, SimpleNamespace(allow_unknown_fields=False))


def call_maker(channel: rpc.Channel, invocation: Invocation, metadata: Sequence[tuple[str, Any]]):
    """``async call(timeout)``: one call of the method with the one request."""
    request = invocation.single_request()
    server_streaming = invocation.method.server_streaming
    factory = channel.unary_stream if server_streaming else channel.unary_unary
    multi = factory(invocation.path, request_serializer=invocation.request_class.encode,
                    response_deserializer=invocation.response_class.decode)

    async def call(timeout: float | None) -> None:
        if server_streaming:
            async for _ in multi(request, timeout=timeout, metadata=metadata):
                pass
        else:
            await multi(request, timeout=timeout, metadata=metadata)
    return call


def draw(progress: Progress, stream: TextIO) -> None:
    done = int(progress.fraction() * PROGRESS_WIDTH)
    bar = "=" * done + ">" * (done < PROGRESS_WIDTH) + " " * (PROGRESS_WIDTH - done - 1)
    count = f"{progress.done}/{progress.total}" if progress.total else f"{progress.done}"
    stream.write(f"\r[{bar[:PROGRESS_WIDTH]}] {progress.fraction():4.0%} {count} calls")
    stream.flush()


async def _show_progress(progress: Progress, finished: asyncio.Event, stream: TextIO) -> None:
    while not finished.is_set():              # ends with the run
        draw(progress, stream)
        try:
            await asyncio.wait_for(finished.wait(), PROGRESS_INTERVAL)
        except asyncio.TimeoutError:
            pass
    draw(progress, stream)
    stream.write("\n")


async def run(args: argparse.Namespace) -> int:
    plan = load_plan(args)
    metadata = parse_metadata(args.header)
    channel = rpc.Channel(args.target, ssl=ssl_context(args), server_hostname=args.servername)
    source: Any = (ProtoSource(args.proto, args.import_path) if args.proto
                   else ReflectionSource(channel, metadata, plan.timeout))
    try:
        invocation = await resolve(source, args.method, args.data)
        call = call_maker(channel, invocation, metadata)
        progress = Progress(plan.total, plan.duration)
        finished = asyncio.Event()
        bar = None if args.no_progress else asyncio.create_task(
            _show_progress(progress, finished, sys.stderr))
        try:
            results, elapsed = await run_load(call, concurrency=plan.concurrency, total=plan.total,
                                              duration=plan.duration, timeout=plan.timeout,
                                              progress=progress)
        finally:
            finished.set()
            if bar is not None:
                await bar
    finally:
        await source.close()
        await channel.close()
    summary = summarize(results, elapsed)
    print(render_json(summary) if args.format == "json" else render_text(summary))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return asyncio.run(run(args))
    except UsageError as error:
        print(f"Error: {error}", file=sys.stderr)
        return USAGE_EXIT
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        return FAILURE_EXIT
    except rpc.RpcError as error:
        print(f"Error: {error.code().name}: {error.details()}", file=sys.stderr)
        return FAILURE_EXIT
    except (OSError, ssl.SSLError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return FAILURE_EXIT
    except KeyboardInterrupt:
        return FAILURE_EXIT


if __name__ == "__main__":
    sys.exit(main())
