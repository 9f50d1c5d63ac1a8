"""What the parser hands on: a file's schema, plus what it could not settle alone.

Spec: https://protobuf.dev/programming-guides/proto3/ ("Importing
Definitions", "Packages and Name Resolution", "Options", "Custom Options").

The parser reads one file with no knowledge of any other. It builds the
schema objects of wire.schema straight away, and writes down three kinds of
loose ends, each with the place in the file it came from:

- ``TypeRef``: a type name as written ("Order", ".google.protobuf.Empty"),
  to be looked up from a scope once the imports are loaded (wire.idl.resolve);
- ``OptionSite``: the ``option`` statements and ``[...]`` lists of one element,
  to be read against google/protobuf/descriptor.proto and any custom option
  extensions (wire.idl.options);
- ``Import``: an import statement, for the loader.

Option values are kept as ``Constant`` trees until then: only the option's
field says whether ``1`` is an int32, a double or an enum number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..schema import FileSchema
from .errors import Position

__all__ = [
    "Constant", "AggregateField", "OptionName", "RawOption", "OptionSite",
    "TypeRef", "Import", "ParsedFile",
]


@dataclass
class Constant:
    """An option value as written.

    ``kind`` is "ident" (enum names, true/false, inf/nan), "int", "float",
    "string" (``value`` holds bytes), "aggregate" (``value`` is a list of
    AggregateField) or "list" (``value`` is a list of Constant).
    """

    kind: str
    value: Any
    position: Position
    text: str = ""


@dataclass
class AggregateField:
    """``name: value`` inside ``{ ... }``; ``extension`` for ``[pkg.ext]: value``."""

    name: str
    value: Constant
    position: Position
    extension: bool = False


@dataclass
class OptionName:
    """One part of an option name: ``java_package`` or ``(google.api.http)``."""

    name: str
    extension: bool = False

    def __str__(self) -> str:
        return f"({self.name})" if self.extension else self.name


@dataclass
class RawOption:
    """``option a.(b).c = value;`` or one entry of a ``[...]`` list."""

    name: list[OptionName]
    value: Constant
    position: Position

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.name)


@dataclass
class OptionSite:
    """The options of one element: whose, which *Options message, from where."""

    target: Any                  # a schema object with an ``options`` dict
    options_type: str            # "FileOptions", "FieldOptions", ...
    options: list[RawOption]
    scope: str                   # where names in the options are looked up from


@dataclass
class TypeRef:
    """A type name waiting to be looked up.

    ``kinds`` says what it may name ("message", "enum"); ``settle`` is called
    with (kind, full_name, schema) once it is found.
    """

    name: str
    scope: str
    position: Position
    kinds: tuple[str, ...]
    settle: Callable[[str, str, Any], None]


@dataclass
class Import:
    """``import [public|weak] "path";``."""

    path: str
    kind: str                    # "", "public" or "weak"
    position: Position


@dataclass
class DefaultValue:
    """A proto2 ``[default = ...]``, turned into text once the type is known."""

    field: Any
    value: Constant


@dataclass
class ParsedFile:
    """One parsed .proto file, with its loose ends."""

    schema: FileSchema
    imports: list[Import] = field(default_factory=list)
    type_refs: list[TypeRef] = field(default_factory=list)
    option_sites: list[OptionSite] = field(default_factory=list)
    defaults: list[DefaultValue] = field(default_factory=list)
    positions: dict[int, Position] = field(default_factory=dict)   # id(schema object) -> where
    text: str = ""

    def position(self, line: int, column: int) -> Position:
        return Position(self.schema.name, line, column)
