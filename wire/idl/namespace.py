"""What ``wire.idl.load`` returns: a loaded .proto file as a module-like object.

Spec: https://protobuf.dev/programming-guides/proto3/#services for services,
and https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md ("Path →
":path" "/" Service-Name "/" {method name}") for the path of a method.

    ecommerce = wire.idl.load("services/productinfo/product_info.proto")
    ecommerce.Product(name="book")              top-level messages and enums
    ecommerce.ProductInfo.methods["addProduct"] services, with their methods:
        .path                 "/ecommerce.ProductInfo/addProduct"
        .request_class, .response_class
        .client_streaming, .server_streaming
        .options              {"google.api.http": HttpRule(post=..., body=...)}
    ecommerce.file                              the FileSchema
    ecommerce.dependencies                      the imported files, loaded too

Message classes come from wire.message_class and enums from wire.enum_class,
so nested types are attributes (``Outer.Inner``) and a type imported by two
files is the same class in both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ..message import Message, enum_class, message_class
from ..errors import SchemaError
from ..schema import FileSchema, MethodSchema, ServiceSchema
from .errors import IdlError, Position
from .loader import CompiledFile

__all__ = ["LoadedFile", "Service", "Method", "namespace_of"]


@dataclass(frozen=True, eq=False)
class Method:
    """One rpc of a service, ready to call or serve."""

    name: str
    full_name: str                    # "ecommerce.ProductInfo.addProduct"
    path: str                         # "/ecommerce.ProductInfo/addProduct"
    request_class: type[Message]
    response_class: type[Message]
    client_streaming: bool
    server_streaming: bool
    options: dict[str, Any]
    comments: str
    schema: MethodSchema

    @property
    def kind(self) -> str:
        """"unary_unary", "unary_stream", "stream_unary" or "stream_stream" (grpcio's words)."""
        request = "stream" if self.client_streaming else "unary"
        response = "stream" if self.server_streaming else "unary"
        return f"{request}_{response}"


@dataclass(frozen=True, eq=False)
class Service:
    """A service of a loaded file: its methods by name, in .proto order."""

    name: str
    full_name: str
    methods: dict[str, Method]
    options: dict[str, Any]
    comments: str
    schema: ServiceSchema


class LoadedFile:
    """A loaded .proto file. Its messages, enums and services are attributes."""

    def __init__(self, compiled: CompiledFile) -> None:
        schema = compiled.schema
        self.file: FileSchema = schema
        self.name: str = schema.name
        self.package: str = schema.package
        self.dependencies: tuple[LoadedFile, ...] = tuple(
            namespace_of(dependency) for dependency in compiled.imports)
        self.messages: dict[str, type[Message]] = {}
        self.enums: dict[str, type[enum.IntEnum]] = {}
        self.services: dict[str, Service] = {}
        self._compiled = compiled
        for message in schema.message_types:
            self.messages[message.name] = _build(message_class, message, compiled)
        for enum_schema in schema.enum_types:
            self.enums[enum_schema.name] = _build(enum_class, enum_schema, compiled)
        for service in schema.services:
            self.services[service.name] = _service(service)
        for table in (self.messages, self.enums, self.services):
            for name, value in table.items():
                setattr(self, name, value)

    def lookup(self, full_name: str) -> Any:
        """A message class, enum class or service by full name, here or in an import."""
        for loaded in self.files():
            prefix = f"{loaded.package}." if loaded.package else ""
            if not full_name.startswith(prefix):
                continue
            found = _walk(loaded, full_name[len(prefix):].split("."))
            if found is not None:
                return found
        raise KeyError(full_name)

    def files(self) -> list["LoadedFile"]:
        """This file and everything it imports, dependencies first (each once)."""
        order: list[LoadedFile] = []
        _postorder(self, order)
        return order

    def __repr__(self) -> str:
        names = [*self.messages, *self.enums, *self.services]
        return f"<loaded {self.name!r}: {', '.join(names)}>"


def namespace_of(compiled: CompiledFile) -> LoadedFile:
    """The LoadedFile of a compiled file, made once."""
    if compiled.namespace is None:
        compiled.namespace = LoadedFile(compiled)
    return compiled.namespace


def _build(make, schema, compiled: CompiledFile):
    """A class for ``schema``; names Python cannot take become an IdlError here.

    The .proto language allows a few names that the Python classes cannot
    have: a field called ``encode`` (a method of every message) or an enum
    value called ``mro`` or ``_sunder_`` (reserved by Python's enum module).
    """
    try:
        return make(schema)
    except IdlError:
        raise
    except (SchemaError, ValueError, TypeError) as exc:
        where = compiled.parsed.positions.get(id(schema), Position(compiled.schema.name, 1, 1))
        raise IdlError(where, f"{schema.full_name} cannot be made into a Python class: {exc}") from None


def _service(service: ServiceSchema) -> Service:
    methods = {}
    for method in service.methods:
        methods[method.name] = Method(
            name=method.name,
            full_name=f"{service.full_name}.{method.name}",
            path=service.method_path(method),
            request_class=message_class(method.input_message),
            response_class=message_class(method.output_message),
            client_streaming=method.client_streaming,
            server_streaming=method.server_streaming,
            options=method.options,
            comments=method.comments,
            schema=method,
        )
    return Service(service.name, service.full_name, methods, service.options,
                   service.comments, service)


def _walk(loaded: LoadedFile, parts: list[str]) -> Any:
    first, rest = parts[0], parts[1:]
    found = loaded.messages.get(first) or loaded.enums.get(first) or loaded.services.get(first)
    for part in rest:
        found = getattr(found, part, None) if isinstance(found, type) else None
    return found


def _postorder(loaded: LoadedFile, order: list[LoadedFile]) -> None:
    if loaded in order:
        return
    for dependency in loaded.dependencies:
        _postorder(dependency, order)
    order.append(loaded)
