"""`python -m transport.xray`: the wire tracer as a program.

    python -m transport.xray --listen 127.0.0.1:50052 --upstream localhost:50051 \\
        [--proto services/productinfo/product_info.proto ...] [--include DIR ...] \\
        [--json] [--no-color]

Then point any gRPC client at 127.0.0.1:50052 (cleartext): the calls reach
the server at localhost:50051 unchanged, and every frame of both directions
is printed, annotated (see transport/xray/__init__.py).

This module is a program, not library code. Programs sit on top of every
layer, so unlike the rest of transport/ it imports `wire`: its .proto loader
(wire.idl, https://protobuf.dev/reference/protobuf/proto3-spec/) supplies the
schemas and its schema-less decoder (like `protoc --decode_raw`,
https://protobuf.dev/programming-guides/encoding/) the fallback, and both
plug into the tracer through its body formatter hook.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import TextIO

import wire
import wire.idl

from .bodies import BodyFormatter, Decoder, schema_formatter
from .jsonl import format_json
from .proxy import XrayProxy
from .records import Record
from .text import format_record
from .tracer import Tracer

RAW_INDENT = "  "


# --- the body formatter, from .proto files --------------------------------------


def load_schema(protos: Sequence[str], include: Sequence[str] = ()) -> dict[str, tuple[Decoder, Decoder]]:
    """{":path": (request decoder, response decoder)} for every method of every file."""
    schema: dict[str, tuple[Decoder, Decoder]] = {}
    for proto in protos:
        loaded = wire.idl.load(proto, include=list(include))
        for each_file in loaded.files():
            for service in each_file.services.values():
                for method in service.methods.values():
                    schema[method.path] = (method.request_class.decode, method.response_class.decode)
    return schema


def wire_formatter(protos: Sequence[str] = (), include: Sequence[str] = ()) -> BodyFormatter:
    """Decode by the methods of `protos`; anything else raw, like protoc --decode_raw."""
    return schema_formatter(load_schema(protos, include), fallback=raw_text)


def raw_text(data: bytes) -> str:
    """A message without its schema: field numbers and what the wire types say."""
    try:
        fields = wire.decode_raw(data)
    except wire.DecodeError as error:
        return f"(not a protobuf message: {error}) {data[:32].hex(' ')}"
    if not fields:
        return "(empty message)"
    return "\n".join(_raw_lines(fields, 0))


def _raw_lines(fields, depth: int):
    pad = RAW_INDENT * depth
    for raw in fields:
        if isinstance(raw.value, tuple):
            yield f"{pad}{raw.field_number} {{"
            yield from _raw_lines(raw.value, depth + 1)
            yield f"{pad}}}"
        elif isinstance(raw.value, bytes):
            yield f"{pad}{raw.field_number}: {_quoted(raw.value)}"
        elif raw.wire_type == wire.WireType.VARINT:
            yield f"{pad}{raw.field_number}: {raw.value}"
        else:
            yield f"{pad}{raw.field_number}: {raw.value:#x} ({raw.wire_type.name})"


def _quoted(value: bytes) -> str:
    try:
        return '"' + value.decode("utf-8").encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    except UnicodeDecodeError:
        return repr(value)


# --- output ---------------------------------------------------------------------


def printer(*, as_json: bool, color: bool, out: TextIO):
    """The proxy's on_records: each record as text (or JSON), prefixed by its connection."""

    def on_records(number: int, records: list[Record]) -> None:
        for record in records:
            if as_json:
                out.write(format_json(record, connection=number) + "\n")
            else:
                text = format_record(record, color=color)
                out.write("\n".join(f"#{number} {line}" for line in text.splitlines()) + "\n")
        out.flush()

    return on_records


# --- the program ----------------------------------------------------------------------


def parse_address(text: str) -> tuple[str, int]:
    """"host:port" or "[v6 address]:port"."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m transport.xray",
        description="A transparent h2c proxy that prints every HTTP/2 frame, annotated.",
    )
    parser.add_argument("--listen", type=parse_address, required=True, metavar="HOST:PORT",
                        help="where clients connect (port 0 picks one)")
    parser.add_argument("--upstream", type=parse_address, required=True, metavar="HOST:PORT",
                        help="the gRPC server to forward to (cleartext HTTP/2)")
    parser.add_argument("--proto", action="append", default=[], metavar="FILE",
                        help="decode messages of these services by schema (repeatable)")
    parser.add_argument("--include", action="append", default=[], metavar="DIR",
                        help="where imports of the .proto files are looked up (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object per record per line")
    parser.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    return parser


async def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> None:
    formatter = wire_formatter(args.proto, args.include)
    color = out.isatty() and not args.no_color and not args.json
    proxy = XrayProxy(
        *args.upstream,
        on_records=printer(as_json=args.json, color=color, out=out),
        tracer_factory=lambda: Tracer(body_formatter=formatter),
    )
    host, port = args.listen
    bound = await proxy.start(host, port)
    print(f"xray: listening on {host}:{bound}, forwarding to {args.upstream[0]}:{args.upstream[1]}",
          file=sys.stderr, flush=True)
    try:
        await proxy.serve_forever()
    finally:
        await proxy.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    try:
        asyncio.run(run(args))
    except (wire.idl.IdlError, OSError) as error:
        print(f"xray: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
