"""rpc: the RPC model on top of the transport, in grpc.aio's shapes.

    ecommerce = rpc.load("services/productinfo/product_info.proto")
    server = rpc.Server(); server.add_service(MyProductInfo()); await server.start("127.0.0.1:0")
    async with rpc.Channel("localhost:50051") as channel:
        stub = ecommerce.ProductInfoStub(channel)
        await stub.addProduct(ecommerce.Product(name="book"), timeout=1.0)

Modules: service (Servicer/Stub classes, method handlers, load), server and
context (the server side of a call), channel and call (the client side),
interceptors, status (StatusCode, RpcError, google.rpc.Status), credentials
(what a client sends to say who it is) and auth (the server interceptor that checks it).
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
from .call import EOF, StreamStreamCall, StreamUnaryCall, UnaryStreamCall, UnaryUnaryCall
from .channel import Channel, parse_target
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
from .server import Server
from .service import Cardinality, MethodHandler, load, method_handlers, servicer_class, stub_class
from .status import RpcError, Status, StatusCode

__all__ = [
    "load", "Server", "Channel", "parse_target",
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
