"""What a reflection server knows: files by name, symbols, extensions, services.

Spec: doc/server-reflection.md
(https://github.com/grpc/grpc/blob/master/doc/server-reflection.md). Every
answer about a file carries "the FileDescriptorProto of the file and its
transitive dependencies", so the index keeps, for each file, its
dependencies by name, and writes each file's FileDescriptorProto bytes
(wire.idl.file_descriptor_proto, byte for byte what protoc writes) once,
the first time a client asks.

The index is built from the LoadedFiles the server's services come from
(``wire.idl.load`` / ``rpc.load``); everything they import is indexed too,
so that a client can follow every type name to its definition.
"""

from __future__ import annotations

from typing import Iterable

from wire import idl
from wire.idl import LoadedFile

from .symbols import Symbol, SymbolKind, file_symbols

__all__ = ["DescriptorIndex"]


class DescriptorIndex:
    """The files, symbols and services a reflection server answers about."""

    def __init__(self, loaded_files: Iterable[LoadedFile] = ()) -> None:
        self._files: dict[str, LoadedFile] = {}
        self._symbols: dict[str, Symbol] = {}
        self._extensions: dict[str, dict[int, str]] = {}   # extendee -> number -> file name
        self._services: list[str] = []
        self._encoded: dict[str, bytes] = {}
        for loaded in loaded_files:
            self.add(loaded)

    def add(self, loaded: LoadedFile, *, list_services: bool = True) -> None:
        """Index ``loaded`` and its imports; list its own services unless told not to."""
        for each in loaded.files():
            self._add_file(each)
        if list_services:
            for service in loaded.services.values():
                if service.full_name not in self._services:
                    self._services.append(service.full_name)

    def _add_file(self, loaded: LoadedFile) -> None:
        if loaded.name in self._files:
            return
        self._files[loaded.name] = loaded
        for symbol in file_symbols(loaded.file):
            self._symbols.setdefault(symbol.full_name, symbol)
            if symbol.kind is SymbolKind.EXTENSION:
                extension = symbol.schema
                numbers = self._extensions.setdefault(extension.extendee.lstrip("."), {})
                numbers.setdefault(extension.field.number, loaded.name)

    # --- questions ----------------------------------------------------------------

    def service_names(self) -> list[str]:
        return list(self._services)

    def has_file(self, name: str) -> bool:
        return name in self._files

    def file_containing_symbol(self, symbol: str) -> str | None:
        found = self._symbols.get(symbol.lstrip("."))
        return None if found is None else found.file.name

    def file_containing_extension(self, containing_type: str, number: int) -> str | None:
        return self._extensions.get(containing_type.lstrip("."), {}).get(number)

    def extension_numbers(self, containing_type: str) -> list[int] | None:
        """The numbers of every known extension of a message type; None if no such message."""
        name = containing_type.lstrip(".")
        found = self._symbols.get(name)
        if found is None or found.kind is not SymbolKind.MESSAGE:
            return None
        return sorted(self._extensions.get(name, {}))

    # --- answers ------------------------------------------------------------------

    def encoded(self, name: str) -> bytes:
        """The FileDescriptorProto of file ``name``, encoded (made once)."""
        data = self._encoded.get(name)
        if data is None:
            data = self._encoded[name] = idl.file_descriptor_proto(self._files[name])
        return data

    def with_dependencies(self, name: str) -> list[str]:
        """``name`` first, then every file it imports, transitively, each once."""
        order = [name]
        for current in order:               # grows as it goes: a breadth-first walk
            for dependency in self._files[current].dependencies:
                if dependency.name not in order:
                    order.append(dependency.name)
        return order
