"""gRPC server reflection, v1 and v1alpha: a server describes its own services.

Spec: doc/server-reflection.md (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md).

Server side: the index of what the server serves, and the two servicers.

    enable_reflection(server, ecommerce)        serves v1 and v1alpha over ecommerce's files
    ReflectionServicer(ecommerce)               or just v1, by hand

Client side: ask a server what it serves, and build message classes and
stubs from the FileDescriptorProtos it answers with.

    async with ReflectionClient(channel) as reflection:
        await reflection.list_services()        ["ecommerce.ProductInfo", ...]
        pool = await reflection.pool_for("ecommerce.ProductInfo")
        Product = pool.message_class("ecommerce.Product")

Modules: symbols (every name a file defines), index (the server's view),
servicer (ServerReflectionInfo), pool (the files a client was sent, loaded
with wire.idl.load_file_descriptors: the SchemaPool) and client (ReflectionClient).
"""

import pathlib

import rpc

PROTO_V1 = pathlib.Path(__file__).with_name("reflection.proto")
PROTO_V1ALPHA = pathlib.Path(__file__).with_name("reflection_v1alpha.proto")
reflection_v1 = rpc.load(str(PROTO_V1))
reflection_v1alpha = rpc.load(str(PROTO_V1ALPHA))

from .client import ReflectionClient, ReflectionError  # noqa: E402  (the protos come first)
from .index import DescriptorIndex  # noqa: E402
from .pool import SchemaPool  # noqa: E402
from .servicer import ReflectionServicer, ReflectionServicerV1Alpha  # noqa: E402
from .symbols import Symbol, SymbolKind  # noqa: E402


def enable_reflection(server: rpc.Server, *loaded_files) -> DescriptorIndex:
    """Serve reflection v1 and v1alpha on ``server``, describing ``loaded_files``.

    Both versions share one index, which lists the services of ``loaded_files``
    and the two reflection services. Add more files with ``index.add(loaded)``.
    """
    index = DescriptorIndex(loaded_files)
    index.add(reflection_v1)
    index.add(reflection_v1alpha)
    server.add_service(ReflectionServicer(index=index))
    server.add_service(ReflectionServicerV1Alpha(index=index))
    return index


__all__ = [
    "PROTO_V1", "PROTO_V1ALPHA", "reflection_v1", "reflection_v1alpha",
    "enable_reflection", "ReflectionServicer", "ReflectionServicerV1Alpha", "DescriptorIndex",
    "ReflectionClient", "ReflectionError", "SchemaPool",
    "Symbol", "SymbolKind",
]
