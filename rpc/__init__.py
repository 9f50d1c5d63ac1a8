"""rpc: the RPC model on top of the transport, in grpc.aio's shapes.

    ecommerce = rpc.load("services/productinfo/product_info.proto")
    server = rpc.Server(); server.add_service(MyProductInfo()); await server.start("127.0.0.1:0")
    async with rpc.Channel("localhost:50051") as channel:
        stub = ecommerce.ProductInfoStub(channel)
        await stub.addProduct(ecommerce.Product(name="book"), timeout=1.0)

Modules: service (Servicer/Stub classes, method handlers, load), server and
context (the server side of a call), channel and call (the client side),
interceptors, status (StatusCode, RpcError, google.rpc.Status), credentials
(what a client sends to say who it is) and auth (the server interceptor that checks it);
resolver (target names -> addresses), balancer (subchannels, pick_first,
round_robin, connectivity states, reconnection backoff), service_config and
retry (the channel's per-method settings and retries). Optional extras, imported
on their own: rpc.metrics (Prometheus), rpc.tracing (OpenTelemetry).
"""

from .auth import (
    AuthError,
    AuthInterceptor,
    BasicValidator,
    BearerValidator,
    JWTValidator,
    Principal,
    authenticated,
    require_role,
)
from .balancer import Backoff, ConnectivityState
from .call import EOF, StreamStreamCall, StreamUnaryCall, UnaryStreamCall, UnaryUnaryCall
from .channel import Channel
from .context import AbortError, ServicerContext
from .credentials import (
    BasicAuth,
    BearerToken,
    CallCredentials,
    JWTCredentials,
    MetadataCredentials,
)
from .interceptors import (
    ClientCallDetails,
    HandlerCallDetails,
    LoggingServerInterceptor,
    MetadataClientInterceptor,
    ServerInterceptor,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)
from .middleware import (
    CallLogInterceptor,
    RateLimitInterceptor,
    RecoveryInterceptor,
    ValidationInterceptor,
)
from .resolver import (
    Address,
    DnsResolver,
    FileResolver,
    ResolutionError,
    Resolver,
    StaticResolver,
    register_resolver,
)
from .server import Server
from .service_config import ServiceConfig
from .service import Cardinality, MethodHandler, load, method_handlers, servicer_class, stub_class
from .status import RpcError, Status, StatusCode

__all__ = [
    "load", "Server", "Channel",
    "ConnectivityState", "Backoff", "ServiceConfig",
    "Resolver", "Address", "ResolutionError", "DnsResolver", "StaticResolver", "FileResolver",
    "register_resolver",
    "ServicerContext", "AbortError",
    "RpcError", "StatusCode", "Status",
    "Cardinality", "MethodHandler", "method_handlers", "servicer_class", "stub_class",
    "UnaryUnaryCall", "UnaryStreamCall", "StreamUnaryCall", "StreamStreamCall", "EOF",
    "ServerInterceptor", "HandlerCallDetails", "ClientCallDetails",
    "UnaryUnaryClientInterceptor", "UnaryStreamClientInterceptor",
    "StreamUnaryClientInterceptor", "StreamStreamClientInterceptor",
    "LoggingServerInterceptor", "MetadataClientInterceptor",
    "CallCredentials", "BasicAuth", "BearerToken", "JWTCredentials", "MetadataCredentials",
    "AuthInterceptor", "Principal", "AuthError", "BasicValidator", "BearerValidator",
    "JWTValidator", "authenticated", "require_role",
    "CallLogInterceptor", "RecoveryInterceptor", "RateLimitInterceptor", "ValidationInterceptor",
]
