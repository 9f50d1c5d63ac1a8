"""Records as readable text, one block of lines per record, in colour if asked.

The layout (no spec behind it; it is for people):

    C->S  HEADERS  stream 1  length 226  flags END_HEADERS
    C->S    request headers (stream 1; dynamic table now 7 entries, 427 octets)
              :path: /demo.Greeter/Hello      literal with incremental indexing, name plain, value plain
              :method: POST                   indexed, static[3]
              grpc-timeout: 10S               literal with incremental indexing, name plain, value plain
                  = 10 s
    C->S  DATA  stream 1  length 12  flags END_STREAM
              gRPC prefix 00 00 00 00 07 at +0: compressed-flag 0 (not compressed), message-length 7
    C->S    request message (stream 1, /demo.Greeter/Hello): 7 bytes
              Req(name='ada', count=3)
    S->C  !! could not parse (stream 1): ...

"C->S" is the client's direction, "S->C" the server's. Colour is ANSI SGR
(ECMA-48 §8.3.117): on only when asked (the CLI asks when stdout is a tty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .bodies import hex_preview
from .hpack_reader import INDEXED, STATIC_TABLE_LENGTH
from .records import (
    CLIENT,
    PROXY,
    SERVER,
    ConnectionNoted,
    FrameSeen,
    HeaderBlockDecoded,
    HeaderField,
    MessageReassembled,
    ParseFailed,
    PrefaceSeen,
    Record,
    TableSizeUpdate,
)

__all__ = ["format_record", "format_records", "ARROWS"]

ARROWS = {CLIENT: "C->S", SERVER: "S->C", PROXY: "----"}
INDENT = " " * 10  # payload lines sit under the frame's name
NAME_COLUMN = 30  # width of "name: value" before the HPACK annotation

# ANSI SGR parameters.
_RESET = "\x1b[0m"
_STYLES = {
    CLIENT: "36",  # cyan
    SERVER: "35",  # magenta
    PROXY: "2",  # faint
    "frame": "1",  # bold
    "problem": "1;31",  # bold red
    "note": "2",  # faint
    "name": "33",  # yellow
}


def _paint(color: bool) -> Callable[[str, str], str]:
    def paint(style: str, text: str) -> str:
        return f"\x1b[{_STYLES[style]}m{text}{_RESET}" if color else text

    return paint


def format_records(records: Iterable[Record], *, color: bool = False) -> str:
    """All the records, one after another."""
    return "\n".join(format_record(record, color=color) for record in records)


def format_record(record: Record, *, color: bool = False) -> str:
    """One record as one or more lines of text."""
    paint = _paint(color)
    formatter = _FORMATTERS[type(record)]
    lines = formatter(record, paint)
    arrow = paint(record.sender, ARROWS.get(record.sender, record.sender))
    return "\n".join(f"{arrow}  {lines[0]}" if i == 0 else line for i, line in enumerate(lines))


def _preface(record: PrefaceSeen, paint) -> list[str]:
    if record.valid:
        return [f"{paint('frame', 'PREFACE')}  {record.data!r}  ({len(record.data)} octets, RFC 9113 §3.4)"]
    return [f"{paint('problem', 'NOT A PREFACE')}  {record.data!r}"]


def _frame(record: FrameSeen, paint) -> list[str]:
    flags = " ".join(record.flag_names) or "-"
    head = (f"{paint('frame', record.type_name)}  stream {record.stream_id}  "
            f"length {record.length}  flags {flags}")
    return [head, *(INDENT + line for line in _frame_details(record))]


def _frame_details(record: FrameSeen) -> list[str]:
    """The payload's fields in the order the frame carries them."""
    lines: list[str] = []
    for key, value in record.details.items():
        if key in _DETAIL_LINES:
            lines.extend(_DETAIL_LINES[key](value, record.details))
        elif key not in _IMPLIED_DETAILS:
            lines.append(f"{key.replace('_', ' ')}: {value}")
    return lines


def _settings_lines(settings: list[dict], details: dict) -> list[str]:
    return [f"{s['name']} ({s['id']:#x}) = {s['value']}" for s in settings]


def _prefix_lines(prefixes: list[dict], details: dict) -> list[str]:
    return [_prefix_line(prefix) for prefix in prefixes]


def _error_lines(code: int, details: dict) -> list[str]:
    return [f"error code {details['error_name']} ({code:#x})"]


_DETAIL_LINES = {"settings": _settings_lines, "prefixes": _prefix_lines, "error_code": _error_lines}
_IMPLIED_DETAILS = {"error_name", "data_length", "fragment_length"}  # said by another line


def _prefix_line(prefix: dict) -> str:
    flag = prefix["compressed_flag"]
    meaning = {0: "not compressed", 1: "compressed"}.get(flag, "INVALID")
    where = f"+{prefix['offset']}" if prefix["offset"] >= 0 else "the end of an earlier frame"
    return (f"gRPC prefix {prefix['raw']} at {where}: compressed-flag {flag} ({meaning}), "
            f"message-length {prefix['message_length']}")


def _header_block(record: HeaderBlockDecoded, paint) -> list[str]:
    count = record.dynamic_table_entries
    table = f"dynamic table now {count} {'entry' if count == 1 else 'entries'}, {record.dynamic_table_size} octets"
    lines = [f"  {record.role} (stream {record.stream_id}; {paint('note', table)})"]
    for entry in record.entries:
        lines.append(INDENT + _entry_line(entry, paint))
    return lines


def _entry_line(entry: HeaderField | TableSizeUpdate, paint) -> str:
    if isinstance(entry, TableSizeUpdate):
        return paint("note", f"[dynamic table size update: max {entry.max_size}, {entry.evicted} evicted]")
    pair = f"{paint('name', entry.name)}: {entry.value}"
    width = NAME_COLUMN + (len(pair) - len(f"{entry.name}: {entry.value}"))
    line = f"{pair:<{width}}  {paint('note', how_carried(entry))}"
    if entry.hint:
        line += f"\n{INDENT}    = {entry.hint}"
    return line


def how_carried(entry: HeaderField) -> str:
    """'indexed, static[2]' or 'literal without indexing, name dynamic[62], value Huffman'."""
    if entry.representation == INDEXED:
        return f"{INDEXED}, {_where(entry)}"
    if entry.index is not None:
        name = f"name {_where(entry)}"
    else:
        name = "name Huffman" if entry.name_huffman else "name plain"
    value = "value Huffman" if entry.value_huffman else "value plain"
    return f"{entry.representation}, {name}, {value}"


def _where(entry: HeaderField) -> str:
    """'static[3]', or 'dynamic[63] (entry 2)': RFC 7541 §2.3.3 puts the dynamic
    table right after the 61 static entries in one index space."""
    if entry.table == "dynamic":
        return f"dynamic[{entry.index}] (entry {entry.index - STATIC_TABLE_LENGTH})"
    return f"{entry.table}[{entry.index}]"


def _message(record: MessageReassembled, paint) -> list[str]:
    where = f"stream {record.stream_id}" + (f", {record.path}" if record.path else "")
    compressed = (f", {record.encoding}-compressed on the wire, {len(record.body)} bytes inflated"
                  if record.compressed_flag == 1 and record.encoding else "")
    head = f"  {record.kind} message ({where}): {record.message_length} bytes{compressed}"
    if record.frames > 1:
        head += f", reassembled from {record.frames} DATA frames"
    body = record.decoded if record.decoded is not None else hex_preview(record.body)
    return [head, *(INDENT + line for line in body.splitlines() or [""])]


def _problem(record: ParseFailed, paint) -> list[str]:
    where = f" (stream {record.stream_id})" if record.stream_id else ""
    return [paint("problem", f"!! could not parse{where}: {record.what}")]


def _connection(record: ConnectionNoted, paint) -> list[str]:
    return [paint("note", record.what)]


_FORMATTERS = {
    ConnectionNoted: _connection,
    PrefaceSeen: _preface,
    FrameSeen: _frame,
    HeaderBlockDecoded: _header_block,
    MessageReassembled: _message,
    ParseFailed: _problem,
}
