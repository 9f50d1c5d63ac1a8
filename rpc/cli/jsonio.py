"""Reading a stream of JSON values: JSON lines, or JSON values one after another.

Spec: RFC 8259 (JSON text) and the JSON Lines convention (one value per line).
A request stream on stdin may be written either way, and pretty-printed
values may span lines, so values are cut out of the text as they complete,
not line by line:

    {"value": "102"}                    {"value":
    {"value": "103"}                       "102"} {"value": "103"}

``JsonValues`` is fed text as it arrives and hands back each value that is
complete; ``finish()`` at the end of the input fails on anything left over.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsonValues", "json_values"]


class JsonValues:
    """Incremental splitter: ``feed(text) -> [values]``, then ``finish()``."""

    def __init__(self) -> None:
        self._buffer = ""
        self._decoder = json.JSONDecoder()

    def feed(self, text: str) -> list[Any]:
        self._buffer += text
        values = []
        while True:
            rest = self._buffer.lstrip()
            if not rest:
                self._buffer = ""
                return values
            try:
                value, end = self._decoder.raw_decode(rest)
            except json.JSONDecodeError:
                self._buffer = rest        # incomplete (or bad): wait for more text
                return values
            values.append(value)
            self._buffer = rest[end:]

    def finish(self) -> None:
        """The input has ended: whatever is left is not a JSON value (ValueError)."""
        rest = self._buffer.strip()
        if rest:
            self._decoder.decode(rest)     # raises json.JSONDecodeError (a ValueError)


def json_values(text: str) -> list[Any]:
    """Every JSON value in ``text``, in order."""
    splitter = JsonValues()
    values = splitter.feed(text)
    splitter.finish()
    return values
