"""The JSON gateway: HTTP/1.1 and JSON in front, gRPC behind, driven by google.api.http.

Spec: googleapis google/api/http.proto (HttpRule: path templates, body,
response_body, additional_bindings, query parameters), the proto3 JSON
mapping (https://protobuf.dev/programming-guides/json/, in wire.json), and
the status table of google/rpc/code.proto. It does what grpc-gateway does for
the seed's walk-through, without generating code: the rules are read from the
.proto at start-up.

    example = rpc.load("services/echo/echo.proto")
    channel = rpc.Channel("localhost:50051")
    gateway = Gateway(channel, [example.MyService])
    server = GatewayServer(gateway.handle)
    port = await server.start("127.0.0.1", 8080)

    $ curl -X POST localhost:8080/v1/example/echo -d '{"value": "hi"}'
    {"value":"hi"}

Modules, in the order a request meets them:

    server      HTTP/1.1 on h11: connections, keep-alive, size limits
    exchange    HttpRequest / HttpResponse, the data between server and proxy
    rules       HttpRule -> Binding; the Router (404, 405)
    templates   path templates: parse, match, percent-decode
    fieldpaths  dotted field paths over message schemas
    transcode   body + query + path -> request message; response -> JSON
    headers     Grpc-Metadata-*, Grpc-Timeout <-> metadata and deadline
    proxy       Gateway: the call to the backend, unary or streamed (NDJSON)
    errors      gRPC status -> HTTP status, and the JSON error body

Run one in front of any annotated service: ``python -m services.gateway
--proto path/to/service.proto --backend localhost:50051 --port 8080``.
"""

from .errors import HTTP_STATUS, GatewayError, error_json, http_status_of
from .exchange import HttpRequest, HttpResponse
from .proxy import JSON_CONTENT_TYPE, NDJSON_CONTENT_TYPE, Gateway
from .rules import Binding, Route, Router, RuleError, bindings_of
from .server import GatewayServer, Limits
from .templates import PathTemplate, TemplateError, parse_template
from .transcode import JsonOptions, request_message, response_json

__all__ = [
    "Gateway", "GatewayServer", "Limits", "JsonOptions",
    "HttpRequest", "HttpResponse", "JSON_CONTENT_TYPE", "NDJSON_CONTENT_TYPE",
    "Binding", "Route", "Router", "RuleError", "bindings_of",
    "PathTemplate", "TemplateError", "parse_template",
    "request_message", "response_json",
    "HTTP_STATUS", "GatewayError", "error_json", "http_status_of",
]
