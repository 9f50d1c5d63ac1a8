"""The gateway proper: an HTTP request in, a gRPC call to the backend, an HTTP response out.

Spec: googleapis google/api/http.proto (which request reaches which method
and how its parts fill the request message: rules.py, transcode.py), the
status table of google/rpc/code.proto (errors.py), and grpc-gateway's
conventions for metadata (headers.py) and for streams:

    a server-streaming method answers 200 with newline-delimited JSON,
    one object per line, sent chunked as the messages arrive:

        {"result": {...first message...}}
        {"result": {...second message...}}
        {"error": {"code": 8, "message": "...", "details": []}}   <- if it fails midway

If the stream fails before its first message, nothing has been sent yet, and
the answer is an ordinary error response with the status table's HTTP code.

``Gateway.handle`` never raises: every failure becomes a response.
"""

from __future__ import annotations

import base64
import logging
from typing import Any, AsyncIterator, Iterable
from urllib.parse import urlsplit

import rpc
from rpc import StatusCode
from wire import DecodeError, JsonError
from wire import json as wire_json
from wire.idl import LoadedFile

from . import transcode
from .errors import GatewayError, error_json, http_status_of
from .exchange import HttpRequest, HttpResponse
from .headers import (
    METADATA_HEADER_PREFIX,
    TRAILER_HEADER_PREFIX,
    metadata_headers,
    request_metadata,
    request_timeout,
)
from .rules import Binding, Router
from .transcode import DEFAULT_JSON_OPTIONS, JsonOptions, encode_json, response_json

__all__ = ["Gateway", "JSON_CONTENT_TYPE", "NDJSON_CONTENT_TYPE"]

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
NDJSON_CONTENT_TYPE = "application/x-ndjson"   # newline-delimited JSON, one message a line
LINE_END = b"\n"


class Gateway:
    """Serves the annotated methods of ``services`` by calling them on ``channel``.

    ``services`` are wire.idl Service objects (``rpc.load(path).MyService``);
    ``default_timeout`` is the deadline of calls whose request has no
    Grpc-Timeout header (None: no deadline).
    """

    def __init__(self, channel: Any, services: Iterable[Any], *,
                 json_options: JsonOptions = DEFAULT_JSON_OPTIONS,
                 default_timeout: float | None = None,
                 type_registry: Any = None) -> None:
        services = list(services)
        self.channel = channel
        self.router = Router.for_services(services)
        self.json_options = json_options
        self.default_timeout = default_timeout
        self.type_registry = type_registry if type_registry is not None else _registry(services)
        self._callables: dict[str, Any] = {}

    @classmethod
    def for_files(cls, channel: Any, files: Iterable[LoadedFile], **options: Any) -> "Gateway":
        """A gateway for every service of the given loaded .proto files."""
        return cls(channel, [service for loaded in files for service in loaded.services.values()],
                   **options)

    # --- one request ---------------------------------------------------------------

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """The response to ``request``; failures become error responses."""
        try:
            return await self._handle(request)
        except GatewayError as error:
            return _error_response(error.http_status, error.code, error.message,
                                   headers=list(error.headers))
        except rpc.RpcError as error:
            return self._rpc_error_response(error)
        except Exception as error:   # a bug of ours: say so, and keep serving
            logger.exception("gateway failed on %s %s", request.method, request.target)
            return _error_response(500, StatusCode.INTERNAL,
                                   f"the gateway failed: {type(error).__name__}: {error}")

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        path, query = _split_target(request.target)
        route = self.router.route(request.method, path)
        binding = route.binding
        if binding.method.client_streaming:
            raise GatewayError(StatusCode.UNIMPLEMENTED,
                               f"{binding.method.full_name} streams its requests, which "
                               f"this gateway cannot do over HTTP/1.1")
        message = transcode.request_message(binding, route.variables, query, request.body,
                                            self.json_options)
        metadata = request_metadata(request.headers, request.client_host)
        timeout = request_timeout(request.headers)
        if timeout is None:
            timeout = self.default_timeout
        call = self._callable(binding)(message, timeout=timeout, metadata=metadata)
        if binding.method.server_streaming:
            return await self._streamed(binding, call)
        return await self._unary(binding, call)

    def _callable(self, binding: Binding) -> Any:
        method = binding.method
        made = self._callables.get(method.path)
        if made is None:
            factory = self.channel.unary_stream if method.server_streaming else self.channel.unary_unary
            made = self._callables[method.path] = factory(
                method.path, request_serializer=method.request_class.encode,
                response_deserializer=method.response_class.decode)
        return made

    async def _unary(self, binding: Binding, call: Any) -> HttpResponse:
        response = await call
        body = encode_json(self.message_json(binding, response))
        headers = [("Content-Type", JSON_CONTENT_TYPE)]
        headers += metadata_headers(await call.initial_metadata(), METADATA_HEADER_PREFIX)
        headers += metadata_headers(await call.trailing_metadata(), TRAILER_HEADER_PREFIX)
        return HttpResponse(200, headers, body)

    async def _streamed(self, binding: Binding, call: Any) -> HttpResponse:
        try:
            first = await call.read()
        except BaseException:
            call.cancel()
            raise
        headers = [("Content-Type", NDJSON_CONTENT_TYPE)]
        headers += metadata_headers(await call.initial_metadata(), METADATA_HEADER_PREFIX)
        return HttpResponse(200, headers, stream=_ResponseLines(self, binding, call, first))

    def message_json(self, binding: Binding, response: Any) -> Any:
        """A response message as the JSON value its binding says (response_body)."""
        try:
            return response_json(binding, response, self.json_options, self.type_registry)
        except JsonError as error:
            raise GatewayError(StatusCode.INTERNAL,
                               f"the response cannot be written as JSON: {error}") from None

    # --- errors ----------------------------------------------------------------

    def _rpc_error_response(self, error: rpc.RpcError) -> HttpResponse:
        headers = metadata_headers(error.initial_metadata(), METADATA_HEADER_PREFIX)
        headers += metadata_headers(error.trailing_metadata(), TRAILER_HEADER_PREFIX)
        return _error_response(http_status_of(error.code()), error.code(), error.details() or "",
                               self.error_details(error), headers)

    def error_details(self, error: rpc.RpcError) -> list[Any]:
        """The ``details`` of the backend's google.rpc.Status, each Any as ProtoJSON."""
        try:
            status = error.status
        except DecodeError:
            return []
        if status is None:
            return []
        return [self._any_json(detail) for detail in status.details]

    def _any_json(self, detail: Any) -> Any:
        try:
            return wire_json.to_dict(detail, type_registry=self.type_registry)
        except JsonError:   # a type we have no schema for: say what we can
            return {"@type": detail.type_url,
                    "value": base64.b64encode(detail.value).decode("ascii")}

    def error_value(self, error: rpc.RpcError) -> dict:
        """``{"code", "message", "details"}`` for an error in the middle of a stream."""
        return {"code": int(error.code()), "message": error.details() or "",
                "details": self.error_details(error)}


class _ResponseLines:
    """The NDJSON body of a server-streaming call: one line per message."""

    def __init__(self, gateway: Gateway, binding: Binding, call: Any, first: Any) -> None:
        self.gateway = gateway
        self.binding = binding
        self.call = call
        self.first = first
        self.trailers: list[tuple[str, str]] = []

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[bytes]:
        message = self.first
        try:
            while message is not rpc.EOF:
                yield self._line({"result": self.gateway.message_json(self.binding, message)})
                message = await self.call.read()
        except rpc.RpcError as error:
            yield self._line({"error": self.gateway.error_value(error)})
            self.trailers = metadata_headers(error.trailing_metadata(), TRAILER_HEADER_PREFIX)
            return
        except GatewayError as error:     # a message that cannot be written as JSON
            self.call.cancel()
            yield self._line({"error": {"code": int(error.code), "message": error.message,
                                        "details": []}})
            return
        self.trailers = metadata_headers(await self.call.trailing_metadata(), TRAILER_HEADER_PREFIX)

    @staticmethod
    def _line(value: Any) -> bytes:
        return encode_json(value) + LINE_END

    def cancel(self) -> None:
        self.call.cancel()


def _split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request-target: origin-form "/p?q", or absolute-form
    "http://host/p?q", which a server must accept too (RFC 9112 §3.2.2)."""
    if not target.startswith("/") and "://" in target:
        parts = urlsplit(target)
        return parts.path or "/", parts.query
    path, _, query = target.partition("?")
    return path, query


def _error_response(http_status: int, code: Any, message: str, details: list | None = None,
                    headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(http_status, [("Content-Type", JSON_CONTENT_TYPE), *(headers or [])],
                        error_json(code, message, details))


def _registry(services: list[Any]) -> dict:
    """Every message type the services' methods can reach, for google.protobuf.Any."""
    classes = [cls for service in services for method in service.methods.values()
               for cls in (method.request_class, method.response_class)]
    return wire_json.make_type_registry(*classes)
