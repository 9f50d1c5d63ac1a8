"""wire.idl: the .proto language, read by hand.

Spec: https://protobuf.dev/reference/protobuf/proto3-spec/ (grammar),
https://protobuf.dev/programming-guides/proto3/ (meaning) and
google/protobuf/descriptor.proto (what a parsed file becomes).

    lexer      text -> tokens, comments kept for the element below them
    parser     tokens -> schemas (wire.schema), with type names and options pending
    checks     field numbers, reserved names and numbers, map keys, enum rules
    resolve    scoping rules: which type a name refers to
    options    option statements -> values typed by descriptor.proto's *Options
    loader     imports, include paths, cycles; the bundled well-known types
    namespace  the module-like object load() returns
    descriptors  a loaded file -> FileDescriptorProto / FileDescriptorSet bytes
    from_descriptors  and back: FileDescriptorProto bytes -> loaded files

    >>> shop = load("services/productinfo/product_info.proto")
    >>> shop.Product(name="book").encode()
    b'\\x12\\x04book'
"""

from __future__ import annotations

import os

from .descriptors import descriptor_classes, descriptor_set, file_descriptor, file_descriptor_proto
from .errors import DescriptorError, IdlError, Position, ProtoSyntaxError
from .files import BUNDLED_INCLUDE
from .from_descriptors import load_descriptor_set, load_file_descriptors
from .loader import compile_path, compile_source
from .namespace import LoadedFile, Method, Service, namespace_of
from .parser import parse

__all__ = [
    "load", "load_source", "parse",
    "descriptor_set", "file_descriptor", "file_descriptor_proto", "descriptor_classes",
    "load_descriptor_set", "load_file_descriptors",
    "LoadedFile", "Service", "Method",
    "IdlError", "ProtoSyntaxError", "DescriptorError", "Position", "BUNDLED_INCLUDE",
]


def load(path: str | os.PathLike, include: list[str] | tuple[str, ...] = ()) -> LoadedFile:
    """Load the .proto file at ``path`` and everything it imports.

    Imports are looked up in ``include`` in order, then in the bundled
    directory (google/protobuf/*.proto, google/api/*.proto). A file outside
    every include directory is named by its base name, and its own directory
    is searched first.
    """
    return namespace_of(compile_path(os.fspath(path), [os.fspath(d) for d in include]))


def load_source(text: str, name: str = "source.proto",
                include: list[str] | tuple[str, ...] = (),
                sources: dict[str, str] | None = None) -> LoadedFile:
    """Load .proto text; ``sources`` maps further import paths to their text."""
    return namespace_of(compile_source(text, name, [os.fspath(d) for d in include], sources))
