"""Finding .proto files on disk: the one place wire.idl touches the file system.

Spec: https://protobuf.dev/programming-guides/proto3/#importing ("the protocol
compiler searches for imported files in a set of directories specified on the
protocol compiler command line using the -I/--proto_path flag").

An import path is always written with "/" and is relative to an include
directory. The directories are searched in order, and the bundled include
directory (google/protobuf's well-known types, google/api's annotations)
comes last, so a project can bring its own copies. Everything else in
wire.idl works on text, so that tests and notebooks can load .proto files
that never touch the disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["BUNDLED_INCLUDE", "Found", "find", "name_in_include"]

BUNDLED_INCLUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include")
PROTO_ENCODING = "utf-8"


@dataclass(frozen=True)
class Found:
    """A file found for an import path: its text, where it is, and whether it is ours."""

    name: str
    text: str
    path: str
    bundled: bool


def find(name: str, include: list[str]) -> Found | None:
    """Look for import path ``name`` in ``include``, then in the bundled directory."""
    if name.startswith("/") or ".." in name.split("/"):
        return None
    for directory in [*include, BUNDLED_INCLUDE]:
        path = os.path.join(directory, *name.split("/"))
        if os.path.isfile(path):
            with open(path, encoding=PROTO_ENCODING) as handle:
                text = handle.read()
            return Found(name, text, path, directory == BUNDLED_INCLUDE)
    return None


def name_in_include(path: str, include: list[str]) -> tuple[str, list[str]]:
    """The import path of the file at ``path``, and the include list to use.

    A file inside an include directory is named relative to it (as protoc
    names it); any other file is named by its base name, and its directory is
    searched first.
    """
    absolute = os.path.abspath(path)
    for directory in [*include, BUNDLED_INCLUDE]:
        root = os.path.abspath(directory)
        if absolute.startswith(root + os.sep):
            return os.path.relpath(absolute, root).replace(os.sep, "/"), list(include)
    return os.path.basename(absolute), [os.path.dirname(absolute), *include]
