"""Name resolution: which message, enum or extension a written name refers to.

Spec: https://protobuf.dev/programming-guides/proto3/#packages-and-name-resolution
and "Importing Definitions" on the same page.

    ".pkg.Outer.Inner"   a leading dot: fully qualified, looked up as is
    "Inner", "Outer.Inner"
                         relative: the first part is looked up in the
                         innermost scope, then each enclosing scope out to
                         the root (C++ rules); once the first part is found
                         as a message or package, the rest must be inside it

A file sees what it defines, what its imports define, and what their
``import public`` files define (transitively); a name defined only in a file
it did not import is an error that says which import is missing.

The table of symbols is built per file. Packages are symbols too ("google"
and "google.protobuf" for package google.protobuf), which is what lets
"protobuf.Empty" resolve from inside package google.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..schema import EnumSchema, FileSchema, MessageSchema
from .errors import IdlError, Position
from .parsed import ParsedFile

__all__ = ["Symbol", "SymbolTable", "file_symbols", "resolve_types"]

# Kinds of symbol. Messages and packages are scopes: a dotted name continues
# inside them. Enum values live in the enum's enclosing scope (C++ rules).
PACKAGE, MESSAGE, ENUM, ENUM_VALUE, SERVICE, METHOD, EXTENSION = (
    "package", "message", "enum", "enum value", "service", "method", "extension")
SCOPES = frozenset({PACKAGE, MESSAGE})
TYPE_KINDS = frozenset({MESSAGE, ENUM})


@dataclass(frozen=True)
class Symbol:
    kind: str
    full_name: str
    schema: Any
    file: str


class SymbolTable:
    """Full name -> Symbol, for the names one file can see."""

    def __init__(self) -> None:
        self.symbols: dict[str, Symbol] = {}

    def add(self, symbol: Symbol, where: Position | None = None) -> None:
        existing = self.symbols.get(symbol.full_name)
        if existing is None:
            self.symbols[symbol.full_name] = symbol
            return
        if existing.kind == PACKAGE and symbol.kind == PACKAGE:
            return
        if existing.schema is symbol.schema:
            return
        if where is not None:
            other = "" if existing.file == where.file else f" (in {existing.file})"
            raise IdlError(where, f"{symbol.full_name!r} is already defined as a "
                                  f"{existing.kind}{other}")

    def add_all(self, symbols: Iterable[Symbol]) -> None:
        for symbol in symbols:
            self.symbols.setdefault(symbol.full_name, symbol)

    def get(self, full_name: str) -> Symbol | None:
        return self.symbols.get(full_name)

    def lookup(self, name: str, scope: str, kinds: frozenset | tuple) -> Symbol | None:
        """Find ``name`` as written in ``scope``, or None; see the module docstring."""
        if name.startswith("."):
            return self.get(name[1:])
        first, _, rest = name.partition(".")
        scope_parts = scope.split(".") if scope else []
        while True:
            prefix = ".".join(scope_parts)
            candidate = f"{prefix}.{first}" if prefix else first
            found = self.get(candidate)
            if found is not None:
                if rest and found.kind in SCOPES:
                    return self.get(f"{candidate}.{rest}")
                if not rest and found.kind in kinds:
                    return found
            if not scope_parts:
                return None
            scope_parts.pop()


def file_symbols(parsed: ParsedFile) -> list[tuple[Symbol, Position | None]]:
    """Every name ``parsed`` defines, with where it is defined."""
    schema = parsed.schema
    out: list[tuple[Symbol, Position | None]] = []
    parts = schema.package.split(".") if schema.package else []
    for index in range(len(parts)):
        out.append((Symbol(PACKAGE, ".".join(parts[:index + 1]), None, schema.name), None))
    for message in schema.message_types:
        _message_symbols(message, schema, parsed, out)
    for enum in schema.enum_types:
        _enum_symbols(enum, schema.package, schema, parsed, out)
    for service in schema.services:
        out.append((Symbol(SERVICE, service.full_name, service, schema.name),
                    parsed.positions.get(id(service))))
        for method in service.methods:
            out.append((Symbol(METHOD, f"{service.full_name}.{method.name}", method, schema.name),
                        parsed.positions.get(id(method))))
    for extension in schema.extensions:
        out.append((Symbol(EXTENSION, extension.full_name, extension, schema.name),
                    parsed.positions.get(id(extension))))
    return out


def _message_symbols(message: MessageSchema, file: FileSchema, parsed: ParsedFile, out) -> None:
    out.append((Symbol(MESSAGE, message.full_name, message, file.name),
                parsed.positions.get(id(message))))
    for nested in message.nested_types:
        _message_symbols(nested, file, parsed, out)
    for enum in message.enum_types:
        _enum_symbols(enum, message.full_name, file, parsed, out)


def _enum_symbols(enum: EnumSchema, scope: str, file: FileSchema, parsed: ParsedFile, out) -> None:
    out.append((Symbol(ENUM, enum.full_name, enum, file.name), parsed.positions.get(id(enum))))
    for value in enum.values:
        full_name = f"{scope}.{value.name}" if scope else value.name
        out.append((Symbol(ENUM_VALUE, full_name, value, file.name),
                    parsed.positions.get(id(value))))


def resolve_types(parsed: ParsedFile, table: SymbolTable,
                  everything: Callable[[], SymbolTable]) -> None:
    """Settle every TypeRef of ``parsed``; ``everything()`` knows all loaded files,
    so that a missing import can be named in the error."""
    for ref in parsed.type_refs:
        found = table.lookup(ref.name, ref.scope, TYPE_KINDS)
        if found is None:
            raise IdlError(ref.position, _not_found(ref.name, ref.scope, table, everything()))
        if found.kind not in ref.kinds:
            wanted = " or ".join(ref.kinds)
            raise IdlError(ref.position, f"{ref.name!r} is a {found.kind}, not a {wanted}")
        ref.settle(found.kind, found.full_name, found.schema)


def _not_found(name: str, scope: str, table: SymbolTable, everything: SymbolTable) -> str:
    elsewhere = everything.lookup(name, scope, TYPE_KINDS)
    if elsewhere is not None:
        return (f"{name!r} is defined in {elsewhere.file!r}, which is not imported "
                f"(add: import \"{elsewhere.file}\";)")
    first = name.lstrip(".").partition(".")[0]
    partial = table.lookup(first, scope, SCOPES | TYPE_KINDS) if "." in name.lstrip(".") else None
    if partial is not None and not name.startswith("."):
        return (f"{name!r} is not defined: {first!r} resolved to {partial.full_name!r}, "
                f"which has no {name.partition('.')[2]!r} (the innermost scope is searched "
                "first; a leading '.' names a type from the root)")
    return f"unknown type {name!r}"
