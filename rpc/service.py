"""Services on both sides of the wire: method handlers, servicers and stubs.

Spec: doc/PROTOCOL-HTTP2.md, "Path → ':path' '/' Service-Name '/' {method name}"
(https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests), and
the four kinds of service method of https://grpc.io/docs/what-is-grpc/core-concepts/.

A .proto service becomes two classes, with the method names as written in the
.proto (``addProduct``, not ``add_product``):

- ``<Name>Servicer``: the server side. Subclass it and override the methods;
  each one not overridden answers UNIMPLEMENTED.
- ``<Name>Stub``: the client side. ``Stub(channel)`` has one attribute per
  method, made by the channel's ``unary_unary`` / ``unary_stream`` /
  ``stream_unary`` / ``stream_stream``, the same four factories grpcio's
  channels have, so a stub works over either kind of channel.

The server never sees classes: it sees ``MethodHandler``s, one per :path, each
naming the method's cardinality, how to turn request bytes into a request
and a response into bytes, and the function to call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import wire
from wire import idl
from wire.schema import MethodSchema, ServiceSchema

from .status import StatusCode

__all__ = [
    "Cardinality",
    "MethodHandler",
    "servicer_class",
    "stub_class",
    "method_handlers",
    "load",
]

UNIMPLEMENTED_DETAILS = "Method not implemented!"


class Cardinality(enum.Enum):
    """How many messages each side sends: the four call patterns."""

    UNARY_UNARY = "unary_unary"        # one request, one response
    UNARY_STREAM = "unary_stream"      # one request, a stream of responses
    STREAM_UNARY = "stream_unary"      # a stream of requests, one response
    STREAM_STREAM = "stream_stream"    # both streams, independent of each other

    @classmethod
    def of(cls, client_streaming: bool, server_streaming: bool) -> "Cardinality":
        return _CARDINALITIES[client_streaming, server_streaming]

    @property
    def client_streaming(self) -> bool:
        return self in (Cardinality.STREAM_UNARY, Cardinality.STREAM_STREAM)

    @property
    def server_streaming(self) -> bool:
        return self in (Cardinality.UNARY_STREAM, Cardinality.STREAM_STREAM)


_CARDINALITIES = {
    (False, False): Cardinality.UNARY_UNARY,
    (False, True): Cardinality.UNARY_STREAM,
    (True, False): Cardinality.STREAM_UNARY,
    (True, True): Cardinality.STREAM_STREAM,
}


@dataclass(frozen=True)
class MethodHandler:
    """What the server needs to run one method.

    ``behaviour`` is called as ``behaviour(request, context)`` for unary
    requests and ``behaviour(request_iterator, context)`` for streamed ones.
    It may be a coroutine function (unary responses, or streamed responses
    written with ``context.write``) or an async generator function (streamed
    responses yielded one by one). The (de)serializers default to bytes as is.
    """

    path: str
    cardinality: Cardinality
    behaviour: Callable[..., Any]
    request_deserializer: Callable[[bytes], Any] | None = None
    response_serializer: Callable[[Any], bytes] | None = None


def method_handlers(servicer: Any, service: ServiceSchema | None = None) -> dict[str, MethodHandler]:
    """The handlers of every method of ``service`` that ``servicer`` offers, by :path."""
    service = service or getattr(type(servicer), "_service", None)
    if service is None:
        raise TypeError(
            f"{type(servicer).__name__} is not a generated Servicer: pass its service schema"
        )
    handlers = {}
    for method in service.methods:
        path = service.method_path(method)
        handlers[path] = MethodHandler(
            path=path,
            cardinality=Cardinality.of(method.client_streaming, method.server_streaming),
            behaviour=getattr(servicer, method.name),
            request_deserializer=_message_class(method.input_message).decode,
            response_serializer=_message_class(method.output_message).encode,
        )
    return handlers


def servicer_class(service: ServiceSchema) -> type:
    """The base class servers subclass: every method answers UNIMPLEMENTED."""
    namespace: dict[str, Any] = {
        "__doc__": service.comments or f"Server side of {service.full_name}.",
        "_service": service,
    }
    for method in service.methods:
        namespace[method.name] = _unimplemented(service, method)
    return type(f"{service.name}Servicer", (), namespace)


def _unimplemented(service: ServiceSchema, method: MethodSchema) -> Callable[..., Any]:
    async def unimplemented(self, request, context):
        await context.abort(StatusCode.UNIMPLEMENTED, UNIMPLEMENTED_DETAILS)

    unimplemented.__name__ = unimplemented.__qualname__ = method.name
    unimplemented.__doc__ = method.comments or f"{service.method_path(method)}: not implemented."
    return unimplemented


def stub_class(service: ServiceSchema) -> type:
    """The client class: ``Stub(channel)`` gets one callable per method."""

    def __init__(self, channel: Any) -> None:
        for method in service.methods:
            setattr(self, method.name, _multi_callable(channel, service, method))

    return type(f"{service.name}Stub", (), {
        "__init__": __init__,
        "__doc__": service.comments or f"Client side of {service.full_name}.",
        "_service": service,
    })


def _multi_callable(channel: Any, service: ServiceSchema, method: MethodSchema) -> Any:
    cardinality = Cardinality.of(method.client_streaming, method.server_streaming)
    factory = getattr(channel, cardinality.value)
    return factory(
        service.method_path(method),
        request_serializer=_message_class(method.input_message).encode,
        response_deserializer=_message_class(method.output_message).decode,
    )


def _message_class(schema: wire.MessageSchema | None) -> type[wire.Message]:
    if schema is None:
        raise TypeError("method types are not resolved: load the .proto with wire.idl")
    return wire.message_class(schema)


def load(path: str, include: Sequence[str] = ()) -> Any:
    """A .proto file's messages and enums, plus ``<Name>Servicer`` and ``<Name>Stub``
    for each of its services (see wire.idl.load for the rest of the namespace)."""
    loaded = idl.load(path, include=include)
    for name, service in loaded.services.items():
        setattr(loaded, f"{name}Servicer", _cached(servicer_class, service.schema))
        setattr(loaded, f"{name}Stub", _cached(stub_class, service.schema))
    return loaded


_made: dict[tuple[Callable, int], tuple[ServiceSchema, type]] = {}


def _cached(make: Callable[[ServiceSchema], type], service: ServiceSchema) -> type:
    """One Servicer and one Stub class per service schema, however often it is loaded."""
    key = (make, id(service))
    entry = _made.get(key)
    if entry is None or entry[0] is not service:
        entry = _made[key] = (service, make(service))
    return entry[1]
