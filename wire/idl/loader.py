"""Loading: a .proto file and everything it imports, parsed, resolved and checked.

Spec: https://protobuf.dev/programming-guides/proto3/#importing and
https://protobuf.dev/programming-guides/proto3/#packages-and-name-resolution.

    load(file):
        parse it                                   (wire.idl.parser)
        load each import, depth first; a file already on the way is a cycle
        build the table of names it can see       (wire.idl.resolve)
        settle its type names against that table
        read its options against descriptor.proto (wire.idl.options)

google/protobuf/descriptor.proto is the one file every load needs, since it
defines what options mean: it is loaded first, by this same code, and reads its
own options with its own FieldOptions. Bundled files are compiled once per
process and shared, so ``google.protobuf.Empty`` is the same class for every
file that imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import FileSchema, MessageSchema
from .errors import IdlError, Position
from .files import find, name_in_include
from .options import interpret_options
from .parsed import Import, ParsedFile
from .parser import parse
from .resolve import Symbol, SymbolTable, file_symbols, resolve_types

__all__ = ["CompiledFile", "compile_path", "compile_source", "bundled_file", "DESCRIPTOR_PROTO"]

DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto"
OPTIONS_PACKAGE = "google.protobuf"
OPTION_TYPES = ("FileOptions", "MessageOptions", "FieldOptions", "OneofOptions",
                "EnumOptions", "EnumValueOptions", "ServiceOptions", "MethodOptions",
                "ExtensionRangeOptions")


@dataclass(eq=False)
class CompiledFile:
    """A file with every name settled, and the compiled files it imports."""

    schema: FileSchema
    parsed: ParsedFile
    imports: list["CompiledFile"]
    symbols: list[Symbol]
    bundled: bool = False
    namespace: object = field(default=None, repr=False)   # set by wire.idl.namespace

    def public_closure(self) -> list["CompiledFile"]:
        """This file and, transitively, the files it imports publicly."""
        seen = [self]
        for index in self.schema.public_dependencies:
            for dependency in self.imports[index].public_closure():
                if dependency not in seen:
                    seen.append(dependency)
        return seen


_bundled: dict[str, CompiledFile] = {}      # import path -> file, for the whole process


def compile_path(path: str, include: list[str]) -> CompiledFile:
    """Load the .proto file at ``path`` (a file system path)."""
    name, include = name_in_include(path, list(include))
    found = find(name, include)
    if found is None:
        raise IdlError(Position(path, 1, 1), f"cannot read {path!r}")
    return _Loader(include, {}).compile(name, found.text, found.bundled)


def compile_source(text: str, name: str, include: list[str],
                   sources: dict[str, str] | None = None) -> CompiledFile:
    """Load .proto text named ``name``; ``sources`` maps more import paths to text."""
    return _Loader(list(include), dict(sources or {})).compile(name, text, bundled=False)


class _Loader:
    def __init__(self, include: list[str], sources: dict[str, str]) -> None:
        self.include = include
        self.sources = sources
        self.done: dict[str, CompiledFile] = {}
        self.stack: list[str] = []

    def compile(self, name: str, text: str, bundled: bool) -> CompiledFile:
        if bundled and name in _bundled:
            return _bundled[name]
        self.stack.append(name)
        parsed = parse(text, name)
        imports = [self.load_import(item) for item in parsed.imports]
        compiled = CompiledFile(parsed.schema, parsed, imports, [], bundled)
        self.stack.pop()
        _settle(compiled, self.option_types(compiled), lambda: self.everything(compiled))
        self.done[name] = compiled
        if bundled:
            _bundled[name] = compiled
        return compiled

    def load_import(self, item: Import) -> CompiledFile:
        if item.path in self.stack:
            cycle = " -> ".join([*self.stack[self.stack.index(item.path):], item.path])
            raise IdlError(item.position, f"import cycle: {cycle}")
        if item.path in self.done:
            return self.done[item.path]
        if item.path in _bundled and item.path not in self.sources \
                and find(item.path, self.include).bundled:
            return _bundled[item.path]
        if item.path in self.sources:
            return self.compile(item.path, self.sources[item.path], bundled=False)
        found = find(item.path, self.include)
        if found is None:
            searched = ", ".join([*self.include, "(bundled)"])
            raise IdlError(item.position, f"import {item.path!r} was not found "
                                          f"(searched: {searched})")
        return self.compile(item.path, found.text, found.bundled)

    def option_types(self, compiled: CompiledFile) -> dict[str, MessageSchema] | None:
        """The *Options schemas: descriptor.proto's own, or the bundled one's."""
        if compiled.schema.name == DESCRIPTOR_PROTO:
            return None           # it reads its own options, once its names are settled
        return _bundled_option_types()

    def everything(self, compiled: CompiledFile) -> SymbolTable:
        table = SymbolTable()
        for other in [*self.done.values(), *_bundled.values()]:
            table.add_all(symbol for symbol, _ in file_symbols(other.parsed))
        return table


def _bundled_option_types() -> dict[str, MessageSchema]:
    descriptor = _bundled.get(DESCRIPTOR_PROTO)
    if descriptor is None:
        found = find(DESCRIPTOR_PROTO, [])
        descriptor = _Loader([], {}).compile(DESCRIPTOR_PROTO, found.text, bundled=True)
    return _option_types_of(descriptor)


def _option_types_of(compiled: CompiledFile) -> dict[str, MessageSchema]:
    by_name = {m.name: m for m in compiled.schema.message_types}
    return {name: by_name[name] for name in OPTION_TYPES}


def _settle(compiled: CompiledFile, option_types, everything) -> None:
    """Names, extension numbers and options of one file whose imports are done."""
    table = _visible_symbols(compiled)
    resolve_types(compiled.parsed, table, everything)
    _check_extensions(compiled)
    if option_types is None:
        option_types = _option_types_of(compiled)
    interpret_options(compiled.parsed, table, option_types)


def _visible_symbols(compiled: CompiledFile) -> SymbolTable:
    table = SymbolTable()
    for dependency in compiled.imports:
        for visible in dependency.public_closure():
            table.add_all(visible.symbols)
    own = file_symbols(compiled.parsed)
    for symbol, where in own:
        table.add(symbol, where or Position(compiled.schema.name, 1, 1))
    compiled.symbols = [symbol for symbol, _ in own]
    return table


def _check_extensions(compiled: CompiledFile) -> None:
    """An extension's number must lie in one of its message's extension ranges."""
    for extension in compiled.schema.extensions:
        target = extension.extendee_type
        number = extension.field.number
        if compiled.schema.syntax == "proto3" and not _is_options_message(target):
            where = compiled.parsed.positions.get(id(extension))
            raise IdlError(where, "extensions in proto3 are only allowed for custom options "
                                  f"(extending google.protobuf.*Options), not {target.full_name}")
        if not any(start <= number < end for start, end in target.extension_ranges):
            where = compiled.parsed.positions.get(id(extension))
            raise IdlError(where, f"{target.full_name} has no extension range holding "
                                  f"field number {number}")


def _is_options_message(message: MessageSchema) -> bool:
    package, _, name = message.full_name.rpartition(".")
    return package == OPTIONS_PACKAGE and name in OPTION_TYPES


def bundled_file(name: str) -> CompiledFile:
    """A bundled file (e.g. google/protobuf/descriptor.proto), compiled once."""
    if name not in _bundled:
        if name == DESCRIPTOR_PROTO:
            _bundled_option_types()
        else:
            found = find(name, [])
            if found is None or not found.bundled:
                raise KeyError(name)
            _Loader([], {}).compile(name, found.text, bundled=True)
    return _bundled[name]
