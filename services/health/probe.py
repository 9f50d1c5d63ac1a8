"""A health probe for orchestrators: ``python -m services.health.probe -addr HOST:PORT``.

Spec: doc/health-checking.md (https://github.com/grpc/grpc/blob/master/doc/health-checking.md),
with the command line and exit codes of the widely used grpc_health_probe
(https://github.com/grpc-ecosystem/grpc-health-probe, README "Exit codes"),
so that a Kubernetes exec probe written for it works with this one:

    0   the service is SERVING               status: SERVING
    1   bad arguments                        error: ...
    2   no connection within -connect-timeout  timeout: failed to connect service "ADDR" within 1s
                                              error: failed to connect service at "ADDR": ...
    3   the Check RPC failed                  error: health rpc failed: rpc error: code = NotFound ...
        (unknown service, no Health service,  error: this server does not implement the grpc
        the -rpc-timeout passed)                     health protocol (grpc.health.v1.Health): ...
                                              timeout: health rpc did not complete within 1s
    4   the service is not SERVING            service unhealthy (responded with "NOT_SERVING")

Flags take one dash, as Go's do (two work too); durations are Go's ("1s",
"250ms", "1m30s") or plain seconds ("0.5"). The messages go to stderr.

    python -m services.health.probe -addr localhost:50051 -service ecommerce.ProductInfo
    python -m services.health.probe -addr localhost:50051 -tls -tls-ca-cert ca.pem \\
        -tls-client-cert client.pem -tls-client-key client.key -tls-server-name products.example
"""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Sequence

import rpc
from transport import tls

from . import ServingStatus, health_v1

__all__ = ["ProbeError", "probe", "parse_arguments", "parse_duration", "format_duration", "main"]

SERVING_EXIT = 0            # grpc_health_probe's exit codes, README "Exit codes"
INVALID_ARGUMENTS_EXIT = 1
CONNECTION_FAILURE_EXIT = 2
RPC_FAILURE_EXIT = 3
UNHEALTHY_EXIT = 4
DEFAULT_TIMEOUT = 1.0       # seconds, both -connect-timeout and -rpc-timeout
HEALTH_SERVICE = "grpc.health.v1.Health"

# Go's time.ParseDuration units, in seconds.
DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class ProbeError(Exception):
    """The probe's verdict when it is not SERVING: the line to print and the exit code."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


# --- the command line ---------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Go's duration syntax ("1s", "1m30s", "250ms") or plain seconds, in seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    position, total = 0, 0.0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * DURATION_UNITS[match.group(2)]
        position = match.end()
    if not text:
        raise ValueError("invalid duration ''")
    return total


def format_duration(seconds: float) -> str:
    """Seconds as Go prints a duration: 1s, 1.5s, 250ms."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1e3:g}ms"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):            # argparse would exit 2: the probe says 1
        raise ProbeError(INVALID_ARGUMENTS_EXIT, f"error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m services.health.probe", allow_abbrev=False,
                     description="Check a gRPC server's health (grpc_health_probe's flags).")
    add = parser.add_argument
    add("-addr", "--addr", default="", help="address of the server (host:port)")
    add("-service", "--service", default="", help='service name to check ("" = the server)')
    add("-connect-timeout", "--connect-timeout", default="1s", help="connection timeout")
    add("-rpc-timeout", "--rpc-timeout", default="1s", help="timeout of the health RPC")
    add("-rpc-header", "--rpc-header", action="append", default=[], metavar="'KEY: VALUE'",
        help="metadata for the health RPC (repeatable)")
    add("-tls", "--tls", action="store_true", help="use TLS")
    add("-tls-no-verify", "--tls-no-verify", action="store_true",
        help="do not check the server's certificate (with -tls)")
    add("-tls-ca-cert", "--tls-ca-cert", default="", help="CA certificates to check the server with")
    add("-tls-client-cert", "--tls-client-cert", default="", help="client certificate (mutual TLS)")
    add("-tls-client-key", "--tls-client-key", default="", help="client private key (mutual TLS)")
    add("-tls-server-name", "--tls-server-name", default="",
        help="the name to check the server's certificate against")
    add("-v", "--v", action="store_true", dest="verbose", help="say what happens")
    return parser


@dataclass(frozen=True)
class ProbeOptions:
    addr: str
    service: str
    connect_timeout: float
    rpc_timeout: float
    metadata: tuple[tuple[str, str], ...]
    ssl: ssl.SSLContext | None
    server_name: str | None
    verbose: bool


def parse_arguments(argv: Sequence[str]) -> ProbeOptions:
    """The command line, checked as grpc_health_probe checks it (ProbeError, exit 1)."""
    args = build_parser().parse_args(list(argv))
    _check_flags(args)
    return ProbeOptions(
        addr=args.addr, service=args.service,
        connect_timeout=_positive_duration("-connect-timeout", args.connect_timeout),
        rpc_timeout=_positive_duration("-rpc-timeout", args.rpc_timeout),
        metadata=_headers(args.rpc_header),
        ssl=_ssl_context(args) if args.tls else None,
        server_name=args.tls_server_name or None,
        verbose=args.verbose,
    )


def _check_flags(args: argparse.Namespace) -> None:
    problem = None
    if not args.addr:
        problem = "-addr not specified"
    elif not args.tls:
        for flag in ("tls_no_verify", "tls_ca_cert", "tls_client_cert", "tls_client_key",
                     "tls_server_name"):
            if getattr(args, flag):
                problem = f"specified -{flag.replace('_', '-')} without specifying -tls"
                break
    elif args.tls_no_verify and args.tls_ca_cert:
        problem = "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)"
    elif bool(args.tls_client_cert) != bool(args.tls_client_key):
        problem = "specify both -tls-client-cert and -tls-client-key"
    if problem is not None:
        raise ProbeError(INVALID_ARGUMENTS_EXIT, f"error: {problem}")


def _positive_duration(flag: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise ProbeError(INVALID_ARGUMENTS_EXIT, f"error: {flag}: {error}") from None
    if seconds <= 0:
        raise ProbeError(INVALID_ARGUMENTS_EXIT,
                         f"error: {flag} must be greater than zero (specified: {text})")
    return seconds


def _headers(headers: Sequence[str]) -> tuple[tuple[str, str], ...]:
    metadata = []
    for header in headers:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise ProbeError(INVALID_ARGUMENTS_EXIT, f"error: -rpc-header {header!r} is not 'key: value'")
        metadata.append((key.strip().lower(), value.strip()))
    return tuple(metadata)


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext:
    try:
        context = tls.client_context(ca=args.tls_ca_cert or None,
                                     certificate=args.tls_client_cert or None,
                                     private_key=args.tls_client_key or None,
                                     check_hostname=not args.tls_no_verify)
    except (OSError, ssl.SSLError) as error:
        raise ProbeError(INVALID_ARGUMENTS_EXIT, f"error: failed to load TLS files: {error}") from None
    if args.tls_no_verify:
        context.verify_mode = ssl.CERT_NONE
    return context


# --- the probe ---------------------------------------------------------------------------------


async def probe(options: ProbeOptions) -> ServingStatus:
    """Connect, ask Check once, and return SERVING; anything else raises ProbeError."""
    channel = rpc.Channel(options.addr, ssl=options.ssl, server_hostname=options.server_name)
    try:
        await _connect(channel, options)
        status = await _check(channel, options)
    finally:
        await channel.close()
    if status != ServingStatus.SERVING:
        raise ProbeError(UNHEALTHY_EXIT, f'service unhealthy (responded with "{status.name}")')
    return status


async def _connect(channel: rpc.Channel, options: ProbeOptions) -> None:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(channel.channel_ready(), options.connect_timeout)
    except asyncio.TimeoutError:
        raise ProbeError(CONNECTION_FAILURE_EXIT,
                         f'timeout: failed to connect service "{options.addr}" within '
                         f"{format_duration(options.connect_timeout)}") from None
    except (OSError, ssl.SSLError, rpc.RpcError, ConnectionError, ValueError) as error:
        raise ProbeError(CONNECTION_FAILURE_EXIT,
                         f'error: failed to connect service at "{options.addr}": {error}') from None
    if options.verbose:
        _say(f"connection established (took {format_duration(time.perf_counter() - started)})")


async def _check(channel: rpc.Channel, options: ProbeOptions) -> ServingStatus:
    stub = health_v1.HealthStub(channel)
    request = health_v1.HealthCheckRequest(service=options.service)
    started = time.perf_counter()
    try:
        response = await stub.Check(request, timeout=options.rpc_timeout, metadata=options.metadata)
    except rpc.RpcError as error:
        raise ProbeError(RPC_FAILURE_EXIT, _rpc_failure(error, options)) from None
    except Exception as error:      # the transport failed under the call
        raise ProbeError(RPC_FAILURE_EXIT, f"error: health rpc failed: {error}") from None
    if options.verbose:
        _say(f"time elapsed: connect + rpc took {format_duration(time.perf_counter() - started)}")
    return ServingStatus(response.status)


def _rpc_failure(error: rpc.RpcError, options: ProbeOptions) -> str:
    code = error.code()
    if code == rpc.StatusCode.UNIMPLEMENTED:
        return ("error: this server does not implement the grpc health protocol "
                f"({HEALTH_SERVICE}): {_go_error(error)}")
    if code == rpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timeout: health rpc did not complete within {format_duration(options.rpc_timeout)}"
    return f"error: health rpc failed: {_go_error(error)}"


def _go_error(error: rpc.RpcError) -> str:
    """How grpc-go prints a status error: "rpc error: code = NotFound desc = ..."."""
    name = "".join(part.capitalize() for part in error.code().name.split("_"))
    return f"rpc error: code = {name} desc = {error.details()}"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_arguments(sys.argv[1:] if argv is None else argv)
        status = asyncio.run(probe(options))
    except ProbeError as verdict:
        _say(verdict.message)
        return verdict.exit_code
    except KeyboardInterrupt:
        return RPC_FAILURE_EXIT
    _say(f"status: {status.name}")
    return SERVING_EXIT


if __name__ == "__main__":
    sys.exit(main())

