"""Records as JSON Lines: one JSON object per record, for programs to read.

Format: JSON Lines (https://jsonlines.org/), each line an RFC 8259 object.
Every object has "event" ("preface", "frame", "headers", "message",
"problem") and "sender" ("client"/"server"); the other keys are the
record's fields by name. Bytes are written as lowercase hex strings, since
JSON has no bytes; text stays text.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .records import (
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

__all__ = ["EVENT_NAMES", "record_to_json", "format_json"]

EVENT_NAMES = {
    PrefaceSeen: "preface",
    FrameSeen: "frame",
    HeaderBlockDecoded: "headers",
    MessageReassembled: "message",
    ParseFailed: "problem",
    ConnectionNoted: "connection",
}
_ENTRY_KINDS = {HeaderField: "field", TableSizeUpdate: "size_update"}


def record_to_json(record: Record, **extra: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict; `extra` keys (a connection number, say) go first."""
    fields = {f.name: _jsonable(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, HeaderBlockDecoded):
        fields["entries"] = [_entry(entry) for entry in record.entries]
    return {**extra, "event": EVENT_NAMES[type(record)], **fields}


def format_json(record: Record, **extra: Any) -> str:
    """One line of JSON, no newline at the end."""
    return json.dumps(record_to_json(record, **extra), ensure_ascii=False, separators=(",", ":"))


def _entry(entry: HeaderField | TableSizeUpdate) -> dict[str, Any]:
    fields = {f.name: _jsonable(getattr(entry, f.name)) for f in dataclasses.fields(entry)}
    return {"kind": _ENTRY_KINDS[type(entry)], **fields}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
