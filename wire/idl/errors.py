"""The errors of the .proto language front end, each with a place in a file.

Spec: https://protobuf.dev/reference/protobuf/proto3-spec/ (what is legal)
and https://protobuf.dev/programming-guides/proto3/ (the rules on field
numbers, reserved names and numbers, map keys, imports and name scopes).

Every error names the file, line and column it is about, the way compilers
do (``order.proto:12:3: field number 5 is already used by "id"``), so that
an editor can jump to it. ``IdlError`` is a ``wire.SchemaError``: a caller
that only cares that a schema is wrong can catch the wire layer's error.
"""

from __future__ import annotations

from ..errors import SchemaError

__all__ = ["IdlError", "ProtoSyntaxError", "Position", "DescriptorError"]


class Position:
    """A place in a .proto file: 1-based line and column, as editors count."""

    __slots__ = ("file", "line", "column")

    def __init__(self, file: str, line: int, column: int) -> None:
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def __repr__(self) -> str:
        return f"Position({self.file!r}, {self.line}, {self.column})"


class IdlError(SchemaError):
    """A .proto file is wrong: a bad name, number, type, import or option.

    ``file``, ``line`` and ``column`` say where; ``reason`` says what, without
    the place; ``str(error)`` has both.
    """

    def __init__(self, position: Position, reason: str) -> None:
        super().__init__(f"{position}: {reason}")
        self.position = position
        self.file = position.file
        self.line = position.line
        self.column = position.column
        self.reason = reason


class ProtoSyntaxError(IdlError):
    """The text does not follow the grammar: a stray character, a missing ';'."""


class DescriptorError(SchemaError):
    """FileDescriptorProtos that cannot be loaded: an import or a type name not among them.

    A descriptor has no line and column to point at, so this is not an
    IdlError; it names the file and the name instead.
    """
