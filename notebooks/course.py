"""Tools the course's notebooks share (notebooks 4 and 5 borrow them; notebook 6 explains them).

A notebook that wants to see a call on the wire puts an `XrayProxy` between
the client and the server (both may be ours or grpcio's), and prints what
the tracer made of the bytes. Three small helpers make that a one-liner and
keep the printed traces the same from one run to the next, so that the
committed notebooks diff cleanly:

    async with wiretap(server_port, schema) as tap:      # an XrayProxy in-process
        ... call f"127.0.0.1:{tap.port}" ...
    show(tap.records)                                     # the call's frames, as text

`show` leaves out what belongs to the connection rather than to the calls
(SETTINGS, WINDOW_UPDATE, PING: grpcio sends some of those on timers of its
own, so they change from run to run), and masks what is random: port numbers
and the UUIDs the ProductInfo server gives its products.

`grpcio_modules` runs protoc (grpcio-tools) on .proto files and imports
the `_pb2` and `_pb2_grpc` modules it writes: what a grpcio user would check
into their project, made fresh for the notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pathlib
import re
import subprocess
import sys

from transport.xray import (
    ConnectionNoted,
    FrameSeen,
    HeaderBlockDecoded,
    MessageReassembled,
    ParseFailed,
    Tracer,
    XrayProxy,
    format_record,
    schema_formatter,
)

AUTHORITY = "localhost"  # what both clients put in :authority, instead of 127.0.0.1:<port>
WAIT = 5.0  # seconds: the bound on every wait of the notebooks

# Frames that belong to calls; the rest (SETTINGS, WINDOW_UPDATE, PING) keep the
# connection itself going and are left out unless asked for.
CALL_FRAMES = ("HEADERS", "CONTINUATION", "DATA", "RST_STREAM", "GOAWAY")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")


class Tap:
    """What went through a wiretap: the records, and the raw bytes per sender
    (one connection's bytes after another's, if there were several)."""

    def __init__(self) -> None:
        self.records: list = []
        self.raw = {"client": bytearray(), "server": bytearray()}
        self.port: int | None = None


class _RecordingTracer(Tracer):
    """A Tracer that also keeps every byte it is fed, by sender."""

    def __init__(self, tap: Tap, **options) -> None:
        super().__init__(**options)
        self._tap = tap

    def feed(self, sender: str, data: bytes):
        self._tap.raw[sender] += data
        return super().feed(sender, data)


@contextlib.asynccontextmanager
async def wiretap(upstream_port: int, schema: dict | None = None):
    """An XrayProxy on 127.0.0.1 in front of `upstream_port`, for the block's duration.

    `schema` maps a method's path to (request decode, response decode), so the
    trace shows messages field by field.
    """
    tap = Tap()
    formatter = schema_formatter(schema or {}, render=short_repr)
    proxy = XrayProxy(
        "127.0.0.1", upstream_port,
        on_records=lambda number, records: tap.records.extend(records),
        tracer_factory=lambda: _RecordingTracer(tap, body_formatter=formatter),
    )
    tap.port = await proxy.start("127.0.0.1", 0)
    try:
        yield tap
    finally:
        await _connections_closed(tap)
        await asyncio.wait_for(proxy.close(), WAIT)


async def _connections_closed(tap: Tap, timeout: float = WAIT) -> None:
    """Wait (boundedly) until every connection the proxy accepted has ended.

    The clients are closed by now; their servers close the other half soon
    after. Closing the proxy first would cut those connections instead, and
    XrayProxy.close() cancelling a connection's task makes asyncio (3.11) log
    "Exception in callback ... CancelledError" on stderr.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        notes = [r.what for r in tap.records if isinstance(r, ConnectionNoted)]
        accepted = sum(" accepted " in note for note in notes)
        closed = sum(note.endswith(" closed") for note in notes)
        if closed >= accepted:
            break
        await asyncio.sleep(0.01)
    await settle()


SHOWN_CHARACTERS = 240  # of a decoded message, in a trace


def short_repr(message) -> str:
    """repr(message), cut short if it is long."""
    text = repr(message)
    if len(text) <= SHOWN_CHARACTERS:
        return text
    return f"{text[:SHOWN_CHARACTERS]}... ({len(text) - SHOWN_CHARACTERS} more characters)"


async def settle(seconds: float = 0.05) -> None:
    """Let bytes in flight reach the proxy's tracer before reading its records."""
    await asyncio.sleep(seconds)


def call_records(records, frames=CALL_FRAMES, stream_id: int | None = None) -> list:
    """The records of calls: frames of the kinds in `frames` and what they completed."""
    kept, keep_following = [], False
    for record in records:
        if isinstance(record, ConnectionNoted):
            continue
        if isinstance(record, FrameSeen):
            keep_following = record.type_name in frames and (
                stream_id is None or record.stream_id in (0, stream_id))
            if keep_following:
                kept.append(record)
        elif isinstance(record, (HeaderBlockDecoded, MessageReassembled, ParseFailed)):
            if keep_following or isinstance(record, ParseFailed):
                kept.append(record)
        elif stream_id is None:  # the preface belongs to the connection as a whole
            kept.append(record)
    return kept


def mask(text: str) -> str:
    """Random things out: UUIDs and port numbers."""
    return _PORT.sub(r"\1:<port>", _UUID.sub("<uuid>", text))


# A grpc-timeout counts down: its digits (and so the length of the HEADERS frame
# and the size of the HPACK table that holds it) change from run to run.
_TIMEOUT = re.compile(r"grpc-timeout: \S+ *")
_TIMEOUT_HINT = re.compile(r"= ([0-9.e+-]+) s$")
_LENGTH = re.compile(r"length \d+")
_TABLE_OCTETS = re.compile(r"\d+ octets\)")


def mask_timeouts(texts: list[str]) -> list[str]:
    """Mask grpc-timeout values, their hints, and the sizes that depend on them."""
    masked = []
    for text in texts:
        if "grpc-timeout:" in text:
            text = _TIMEOUT.sub(lambda m: "grpc-timeout: <n><unit>".ljust(len(m[0])), text)
            text = "\n".join(_TIMEOUT_HINT.sub(lambda m: f"= about {float(m[1]):.1f} s", line)
                             for line in text.splitlines())
            if masked:
                masked[-1] = _LENGTH.sub("length <n>", masked[-1], count=1)
        masked.append(_TABLE_OCTETS.sub("<n> octets)", text))
    return masked


def show(records, frames=CALL_FRAMES, stream_id: int | None = None, timeouts: bool = False) -> None:
    """Print the calls' frames of a trace, masked (grpc-timeout values too, if `timeouts`)."""
    texts = [format_record(record) for record in call_records(records, frames, stream_id)]
    if timeouts:
        texts = mask_timeouts(texts)
    print(mask("\n".join(texts)))


def grpcio_modules(*protos: pathlib.Path, out: pathlib.Path) -> dict:
    """protoc --python_out --grpc_python_out for `protos`, into `out`; the modules, imported.

    Returns {"product_info_pb2": module, "product_info_pb2_grpc": module, ...}.
    """
    includes = sorted({f"-I{pathlib.Path(p).parent}" for p in protos})
    command = [sys.executable, "-m", "grpc_tools.protoc", *includes,
               f"--python_out={out}", f"--grpc_python_out={out}",
               *(pathlib.Path(p).name for p in protos)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))
    modules = {}
    for proto in protos:
        stem = pathlib.Path(proto).stem
        for name in (f"{stem}_pb2", f"{stem}_pb2_grpc"):
            modules[name] = importlib.import_module(name)
    return modules


def forget_modules(out: pathlib.Path) -> None:
    """Undo grpcio_modules: `out` off sys.path."""
    with contextlib.suppress(ValueError):
        sys.path.remove(str(out))
