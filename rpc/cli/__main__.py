"""python -m rpc.cli: list, describe and call the services of a gRPC server.

Command line, in the spirit of grpcurl (https://github.com/fullstorydev/grpcurl,
README "Usage"): the verbs first, or grpcurl's order with the address first.

    rpc.cli [options] list     TARGET [SERVICE]      services, or a service's methods
    rpc.cli [options] describe TARGET [SYMBOL]       a symbol as .proto text
    rpc.cli [options] call     TARGET METHOD [JSON]  invoke METHOD ("pkg.Service/Method")
    rpc.cli [options] TARGET list|describe [SYMBOL]  grpcurl's word order
    rpc.cli [options] TARGET METHOD                  grpcurl's call, with -d

With ``--proto``, ``list`` and ``describe`` need no TARGET. Schemas come from
the server's reflection service (doc/server-reflection.md: v1, falling back
to v1alpha), or from ``--proto`` files. Requests are proto3 JSON; a method
with a request stream reads JSON values (JSON lines) from stdin, or from -d.
A unary request with no data is the empty message, as in grpcurl. Each
response is printed as one line of JSON.

Exit status, as grpcurl's: 0 when the call ends OK, 64 + the status code
when it does not (NOT_FOUND -> 69), 1 for any other failure, 2 for usage.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import ssl
import sys
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

import rpc
import wire
from rpc.cli.jsonio import JsonValues, json_values
from rpc.cli.render import render
from services.reflection import ReflectionClient, ReflectionError, SchemaPool, SymbolKind
from wire import idl

VERBS = ("list", "describe", "call")
STATUS_EXIT_OFFSET = 64      # grpcurl: "exit code is 64 + the gRPC status code"
FAILURE_EXIT = 1
USAGE_EXIT = 2
ALPN_H2 = "h2"               # doc/PROTOCOL-HTTP2.md: TLS with ALPN "h2"
STDIN_DATA = "@"             # grpcurl: -d @ reads the request data from stdin
KIND_ARTICLES = {SymbolKind.ENUM: "an enum", SymbolKind.ENUM_VALUE: "an enum value",
                 SymbolKind.EXTENSION: "an extension", SymbolKind.ONEOF: "a oneof"}


class CliError(Exception):
    """A failure to report as "Error: ..." with exit status 1."""

    exit_status = FAILURE_EXIT


class UsageError(CliError):
    """A command line that makes no sense: "Error: ..." with exit status 2."""

    exit_status = USAGE_EXIT


# --- the command line -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rpc.cli", allow_abbrev=False,
        description="List, describe and call gRPC services (like grpcurl).",
        epilog="Examples: list localhost:50051 | describe localhost:50051 pkg.Type | "
               "call localhost:50051 pkg.Service/Method '{\"field\": 1}'")
    parser.add_argument("words", nargs="*", metavar="WORD",
                        help="VERB TARGET [SYMBOL] [JSON], or TARGET VERB [SYMBOL]")
    add = parser.add_argument
    add("--plaintext", "-plaintext", action="store_true", help="no TLS (h2c)")
    add("--insecure", "-insecure", action="store_true",
        help="TLS without checking the server's certificate")
    add("--cacert", "-cacert", help="CA certificates (PEM) to check the server with")
    add("--cert", "-cert", help="client certificate (PEM), for mutual TLS")
    add("--key", "-key", help="client private key (PEM), for mutual TLS")
    add("--servername", "-servername", help="server name for TLS (SNI and checking)")
    add("--authority", "-authority", help=":authority of every request")
    add("-H", "--header", action="append", default=[], metavar="'KEY: VALUE'",
        help="metadata for the call and for reflection (repeatable)")
    add("--rpc-header", "-rpc-header", action="append", default=[], metavar="'KEY: VALUE'",
        help="metadata for the call only")
    add("--reflect-header", "-reflect-header", action="append", default=[],
        metavar="'KEY: VALUE'", help="metadata for reflection requests only")
    add("-d", "--data", help="request JSON; '@' reads it from stdin")
    add("--timeout", "-max-time", "--max-time", type=float, dest="timeout",
        help="deadline of each call, in seconds")
    add("--proto", "-proto", action="append", default=[],
        help=".proto file to take schemas from instead of reflection (repeatable)")
    add("--import-path", "-import-path", action="append", default=[],
        help="directory to find imports of --proto files in (repeatable)")
    add("--emit-defaults", "-emit-defaults", action="store_true",
        help="print fields at their default values too")
    add("--allow-unknown-fields", "-allow-unknown-fields", action="store_true",
        help="ignore request JSON fields the message does not have")
    add("--pretty", action="store_true", help="indent the JSON responses")
    add("-v", "--verbose", action="store_true",
        help="print response headers and trailers (to stderr)")
    return parser


@dataclass(frozen=True)
class Command:
    """What to do: verb, target, symbol and request data, from the positional words."""

    verb: str
    target: str | None
    symbol: str | None
    data: str | None


def parse_words(words: Sequence[str], data: str | None, have_protos: bool) -> Command:
    """Sort out both word orders; raise CliError on anything else."""
    words = list(words)
    if not words:
        raise UsageError("nothing to do: give list, describe or call")
    if words[0] in VERBS:
        verb, rest = words[0], words[1:]
        target = None
        if rest and (verb == "call" or not have_protos or _looks_like_target(rest[0])):
            target = rest.pop(0)
    elif len(words) > 1 and words[1] in VERBS[:2]:
        target, verb, rest = words[0], words[1], words[2:]
    else:                                    # grpcurl: TARGET METHOD
        target, verb, rest = words[0], "call", words[1:]
    symbol = rest.pop(0) if rest else None
    if verb == "call" and rest:
        if data is not None:
            raise UsageError("request data given twice (as -d and as an argument)")
        data = rest.pop(0)
    if rest:
        raise UsageError(f"too many arguments: {' '.join(rest)}")
    if verb == "call" and (target is None or symbol is None):
        raise UsageError("call needs TARGET and METHOD")
    if target is None and not have_protos:
        raise UsageError(f"{verb} needs a TARGET (or --proto files)")
    return Command(verb, target, symbol, data)


def _looks_like_target(word: str) -> bool:
    return ":" in word              # host:port, unix:/path, dns:///...: symbols have no colon


def parse_metadata(headers: Sequence[str]) -> list[tuple[str, str | bytes]]:
    """'key: value' -> (key, value); values of "-bin" keys are base64 (padded or not)."""
    metadata = []
    for header in headers:
        key, sep, value = header.partition(":")
        if not sep or not key.strip():
            raise UsageError(f"header {header!r} is not 'key: value'")
        key, value = key.strip().lower(), value.strip()
        metadata.append((key, _binary_value(value) if key.endswith("-bin") else value))
    return metadata


def _binary_value(value: str) -> bytes:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except binascii.Error:
        raise UsageError(f"binary header value {value!r} is not base64") from None


def ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """None for --plaintext; otherwise TLS with ALPN h2, checked unless --insecure."""
    tls_flags = [f for f in ("insecure", "cacert", "cert", "key") if getattr(args, f)]
    if args.plaintext:
        if tls_flags:
            raise UsageError(f"--plaintext cannot go with --{tls_flags[0]}")
        return None
    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")
    context = ssl.create_default_context(cafile=args.cacert)
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols([ALPN_H2])
    return context


# --- where schemas come from -------------------------------------------------------------


class ProtoSource:
    """Schemas from .proto files (--proto, --import-path)."""

    def __init__(self, protos: Sequence[str], import_paths: Sequence[str]) -> None:
        self.pool = SchemaPool()
        for path in protos:
            try:
                self.pool.add_loaded(idl.load(path, include=list(import_paths)))
            except (idl.IdlError, OSError) as error:
                raise CliError(str(error)) from None

    async def service_names(self) -> list[str]:
        return self.pool.service_names()

    async def pool_for(self, symbol: str) -> SchemaPool:
        if self.pool.find(symbol) is None:
            raise CliError(f"symbol not found: {symbol}")
        return self.pool

    async def close(self) -> None:
        pass


class ReflectionSource:
    """Schemas from the server's reflection service."""

    def __init__(self, channel: rpc.Channel, metadata: Sequence[tuple[str, Any]],
                 timeout: float | None) -> None:
        self.client = ReflectionClient(channel, metadata=metadata, timeout=timeout)

    async def service_names(self) -> list[str]:
        return await self._asking(self.client.list_services())

    async def pool_for(self, symbol: str) -> SchemaPool:
        return await self._asking(self.client.pool_for(symbol))

    async def _asking(self, question: Any) -> Any:
        try:
            return await question
        except ReflectionError as error:
            raise CliError(f"{error.message}") from None
        except rpc.RpcError as error:
            if error.code() == rpc.StatusCode.UNIMPLEMENTED:
                raise CliError("server does not support the reflection API "
                               "(give --proto files instead)") from None
            raise
        except wire.SchemaError as error:
            raise CliError(f"cannot use the server's descriptors: {error}") from None

    async def close(self) -> None:
        await self.client.close()


# --- the verbs ---------------------------------------------------------------------------


async def do_list(source: Any, service: str | None) -> None:
    if service is None:
        for name in sorted(await source.service_names()):
            print(name)
        return
    symbol = await find_symbol(source, service)
    if symbol.kind is not SymbolKind.SERVICE:
        raise CliError(f"{service} is not a service")
    for method in symbol.schema.methods:
        print(f"{symbol.full_name}.{method.name}")


async def find_symbol(source: Any, name: str) -> Any:
    symbol = (await source.pool_for(name)).find(name)
    if symbol is None:                   # the server sent a file that does not define it
        raise CliError(f"symbol not found: {name}")
    return symbol


async def do_describe(source: Any, name: str | None) -> None:
    names = [name] if name is not None else sorted(await source.service_names())
    for index, each in enumerate(names):
        symbol = await find_symbol(source, each)
        article = KIND_ARTICLES.get(symbol.kind, f"a {symbol.kind.value}")
        if index:
            print()
        print(f"{symbol.full_name} is {article}:")
        print(render(symbol.schema, symbol.parent))


async def do_call(source: Any, channel: rpc.Channel, command: Command,
                  args: argparse.Namespace, metadata: Sequence[tuple[str, Any]]) -> int:
    service_name = _service_of(command.symbol)
    pool = await source.pool_for(service_name)
    try:
        service, method = pool.method(command.symbol)
    except KeyError:
        raise CliError(f"method not found: {command.symbol}") from None
    invocation = Invocation(service, method, command.data, args)
    return await invocation.run(channel, metadata)


def _service_of(method: str) -> str:
    name = method.lstrip("/")
    if "/" in name:
        return name.rpartition("/")[0]
    return name.rpartition(".")[0]


class Invocation:
    """One call of one method, with JSON in and JSON out."""

    def __init__(self, service: Any, method: Any, data: str | None,
                 args: argparse.Namespace) -> None:
        self.method = method
        self.path = service.method_path(method)
        self.request_class = wire.message_class(method.input_message)
        self.response_class = wire.message_class(method.output_message)
        self.data = data
        self.args = args
        self.bad_input: CliError | None = None
        self.call: Any = None

    async def run(self, channel: rpc.Channel, metadata: Sequence[tuple[str, Any]]) -> int:
        kind = rpc.Cardinality.of(self.method.client_streaming, self.method.server_streaming)
        multi = getattr(channel, kind.value)(
            self.path, request_serializer=self.request_class.encode,
            response_deserializer=self.response_class.decode)
        if self.method.client_streaming:
            request: Any = self.requests()
        else:
            request = self.single_request()
        self.call = multi(request, metadata=metadata, timeout=self.args.timeout)
        try:
            if self.method.server_streaming:
                async for response in self.call:
                    self.show(response)
            else:
                self.show(await self.call)
        except asyncio.CancelledError:
            if self.bad_input is None:
                raise
            raise self.bad_input from None
        if self.args.verbose:
            await self.show_metadata()
        return 0

    def single_request(self) -> wire.Message:
        text = _read_stdin() if self.data == STDIN_DATA else self.data
        values = _parse_values(text) if text is not None else [{}]
        if len(values) != 1:
            raise CliError(f"{self.method.name} takes one request, the data has {len(values)}")
        return self.message(values[0])

    def message(self, value: Any) -> wire.Message:
        try:
            return wire.json.from_dict(self.request_class, value,
                                       ignore_unknown=self.args.allow_unknown_fields)
        except wire.JsonError as error:
            raise CliError(f"bad request: {error}") from None

    async def requests(self) -> AsyncIterator[wire.Message]:
        """The request stream: from -d, or JSON values read from stdin as they come."""
        try:
            if self.data is not None and self.data != STDIN_DATA:
                for value in _parse_values(self.data):
                    yield self.message(value)
                return
            async for value in _stdin_values():
                yield self.message(value)
        except CliError as error:     # bad JSON: cancel the call rather than half-close it
            self.bad_input = error
            self.call.cancel()

    def show(self, response: wire.Message) -> None:
        text = wire.json.to_json(response, include_defaults=self.args.emit_defaults,
                                 indent=2 if self.args.pretty else None)
        print(text, flush=True)

    async def show_metadata(self) -> None:
        for title, metadata in (("Response headers", await self.call.initial_metadata()),
                                ("Response trailers", await self.call.trailing_metadata())):
            print(f"{title}:", file=sys.stderr)
            for key, value in metadata:
                print(f"  {key}: {value!r}" if isinstance(value, bytes) else f"  {key}: {value}",
                      file=sys.stderr)


def _parse_values(text: str) -> list[Any]:
    try:
        return json_values(text)
    except ValueError as error:
        raise CliError(f"request data is not JSON: {error}") from None


def _read_stdin() -> str:
    return sys.stdin.read()


async def _stdin_values() -> AsyncIterator[Any]:
    """JSON values from stdin, each as soon as it is complete (for bidi streams).

    A daemon thread reads the lines, so that a call the server ends early
    does not leave the program waiting on a read that will never return.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    splitter = JsonValues()
    while (line := await lines.get()) is not None:
        for value in splitter.feed(line):
            yield value
    try:
        splitter.finish()
    except ValueError as error:
        raise CliError(f"request data is not JSON: {error}") from None


# --- the program -------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    command = parse_words(args.words, args.data, bool(args.proto))
    headers = parse_metadata(args.header)
    rpc_metadata = headers + parse_metadata(args.rpc_header)
    reflect_metadata = headers + parse_metadata(args.reflect_header)
    channel = None
    if command.target is not None:
        channel = rpc.Channel(command.target, ssl=ssl_context(args),
                              server_hostname=args.servername, authority=args.authority)
    if args.proto:
        source: Any = ProtoSource(args.proto, args.import_path)
    else:
        source = ReflectionSource(channel, reflect_metadata, args.timeout)
    try:
        if command.verb == "list":
            await do_list(source, command.symbol)
        elif command.verb == "describe":
            await do_describe(source, command.symbol)
        else:
            return await do_call(source, channel, command, args, rpc_metadata)
        return 0
    finally:
        await source.close()
        if channel is not None:
            await channel.close()


def report(error: rpc.RpcError) -> int:
    """grpcurl's error block on stderr; the exit status is 64 + the code."""
    code = error.code()
    print(f"ERROR:\n  Code: {getattr(code, 'name', code)}\n  Message: {error.details()}",
          file=sys.stderr)
    return STATUS_EXIT_OFFSET + int(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    try:
        return asyncio.run(run(args))
    except rpc.RpcError as error:
        return report(error)
    except CliError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_status
    except (OSError, ssl.SSLError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return FAILURE_EXIT
    except KeyboardInterrupt:
        return FAILURE_EXIT


if __name__ == "__main__":
    sys.exit(main())
