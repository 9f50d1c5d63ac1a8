"""The client's pool: files a reflection server sent, gathered until they can be used.

Spec: doc/server-reflection.md
(https://github.com/grpc/grpc/blob/master/doc/server-reflection.md). A
server answers with FileDescriptorProtos, and a file's imports may arrive
in later answers; so the pool holds files until every import is there,
then has ``wire.idl.load_file_descriptors`` turn them into loaded files
(schemas, message classes, services), and indexes their symbols.

    pool = SchemaPool()
    pool.add_file_descriptor(data)          keep one file (not usable yet)
    pool.missing_dependencies()             imports not in the pool yet: fetch them
    pool.resolve()                          load what was kept
    pool.message_class("pkg.Type")          a class that encodes and decodes
    pool.method("pkg.Service/Method")       a service and one of its methods

Files loaded from .proto text (``wire.idl.load``) can go in too, with
``add_loaded``: the command-line client takes its schemas from either.
"""

from __future__ import annotations

from typing import Any, Iterable

import wire
from wire import idl
from wire.idl import LoadedFile
from wire.schema import MethodSchema, ServiceSchema

from .symbols import Symbol, SymbolKind, file_symbols

__all__ = ["SchemaPool"]


class SchemaPool:
    """Loaded files by name and their symbols by full name."""

    def __init__(self) -> None:
        self.files: dict[str, LoadedFile] = {}
        self._symbols: dict[str, Symbol] = {}
        self._pending: dict[str, Any] = {}      # name -> FileDescriptorProto, not loaded yet

    # --- filling it -----------------------------------------------------------------

    def add_file_descriptor(self, data: bytes) -> None:
        """Keep one encoded FileDescriptorProto (a file already here is kept as it was)."""
        proto = idl.descriptor_classes().FileDescriptorProto.decode(data)
        if proto.name not in self.files:
            self._pending.setdefault(proto.name, proto)

    def add_file_descriptors(self, files: Iterable[bytes]) -> None:
        for data in files:
            self.add_file_descriptor(data)

    def add_loaded(self, loaded: LoadedFile) -> None:
        """Add a loaded file and everything it imports."""
        for each in loaded.files():
            if each.name not in self.files:
                self._index(each)

    def _index(self, loaded: LoadedFile) -> None:
        self.files[loaded.name] = loaded
        for symbol in file_symbols(loaded.file):
            self._symbols.setdefault(symbol.full_name, symbol)

    def missing_dependencies(self) -> list[str]:
        """Files imported by files kept in the pool that are not in the pool."""
        missing = []
        for proto in self._pending.values():
            for name in proto.dependency:
                if name not in self.files and name not in self._pending and name not in missing:
                    missing.append(name)
        return missing

    def resolve(self) -> None:
        """Load every kept file; wire.idl.DescriptorError names the first import or type
        that is missing (the files stay kept, so the pool can be completed and tried again)."""
        loaded = idl.load_file_descriptors(self._pending.values(), known=self.files.values())
        self._pending.clear()
        for each in loaded.values():
            self._index(each)

    # --- asking it ------------------------------------------------------------------

    def find(self, full_name: str) -> Symbol | None:
        """The symbol called ``full_name`` (a leading dot is allowed), or None."""
        return self._symbols.get(full_name.lstrip("."))

    def service_names(self) -> list[str]:
        return [service.full_name for loaded in self.files.values()
                for service in loaded.services.values()]

    def message_class(self, full_name: str) -> type[wire.Message]:
        symbol = self.find(full_name)
        if symbol is None or symbol.kind is not SymbolKind.MESSAGE:
            raise KeyError(full_name)
        return wire.message_class(symbol.schema)

    def method(self, name: str) -> tuple[ServiceSchema, MethodSchema]:
        """A method by "pkg.Service/Method" or "pkg.Service.Method" (KeyError if unknown)."""
        service_name, sep, method_name = name.lstrip("/").rpartition("/")
        if not sep:
            service_name, _, method_name = name.rpartition(".")
        symbol = self.find(service_name)
        if symbol is None or symbol.kind is not SymbolKind.SERVICE:
            raise KeyError(name)
        for method in symbol.schema.methods:
            if method.name == method_name:
                return symbol.schema, method
        raise KeyError(name)
