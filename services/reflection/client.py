"""A reflection client: ask a server what it serves, and get classes to call it with.

Spec: doc/server-reflection.md (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md).

One client holds one ServerReflectionInfo stream and asks its questions on
it one at a time (one request, one response). It speaks v1 and falls back
to v1alpha when the server answers UNIMPLEMENTED, as grpcurl does: older
servers only have v1alpha.

Every file the server sends goes into ``client.pool`` (a SchemaPool), so
that after ``await client.pool_for("pkg.Service")`` the pool has the
service, its methods' message types, and every file those need:

    async with rpc.Channel(target) as channel, ReflectionClient(channel) as reflection:
        pool = await reflection.pool_for("ecommerce.ProductInfo")
        service, method = pool.method("ecommerce.ProductInfo/getProduct")
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Sequence

import rpc

from . import reflection_v1, reflection_v1alpha
from .pool import SchemaPool

__all__ = ["ReflectionClient", "ReflectionError"]

VERSIONS = {"v1": reflection_v1, "v1alpha": reflection_v1alpha}
METHOD = "ServerReflectionInfo"
CLOSE_TIMEOUT = 1.0          # seconds to let the server end the stream after our half-close


class ReflectionError(LookupError):
    """The server answered with an error_response (NOT_FOUND for a name it does not know)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = rpc.StatusCode(code) if code in rpc.StatusCode._value2member_map_ else code
        self.message = message

    def __str__(self) -> str:
        name = getattr(self.code, "name", self.code)
        return f"{name}: {self.message}"


class ReflectionClient:
    """Questions to a server's reflection service, over one stream."""

    def __init__(self, channel: Any, *, metadata: Sequence[tuple[str, Any]] = (),
                 timeout: float | None = None, versions: Sequence[str] = ("v1", "v1alpha")) -> None:
        self._channel = channel
        self._metadata = tuple(metadata)
        self._timeout = timeout
        self._versions = list(versions)
        self._call: Any = None
        self._answered = False             # once the server has answered, no more fallback
        self.pool = SchemaPool()

    @property
    def version(self) -> str:
        """The protocol version in use: "v1", or "v1alpha" after a fallback."""
        return self._versions[0]

    # --- the questions ------------------------------------------------------------

    async def list_services(self) -> list[str]:
        response = await self._ask(lambda pb: pb.ServerReflectionRequest(list_services=""))
        return [service.name for service in response.list_services_response.service]

    async def file_by_filename(self, filename: str) -> list[bytes]:
        return await self._files(lambda pb: pb.ServerReflectionRequest(file_by_filename=filename))

    async def file_containing_symbol(self, symbol: str) -> list[bytes]:
        return await self._files(
            lambda pb: pb.ServerReflectionRequest(file_containing_symbol=symbol))

    async def file_containing_extension(self, containing_type: str, number: int) -> list[bytes]:
        return await self._files(lambda pb: pb.ServerReflectionRequest(
            file_containing_extension=pb.ExtensionRequest(
                containing_type=containing_type, extension_number=number)))

    async def all_extension_numbers(self, containing_type: str) -> list[int]:
        response = await self._ask(lambda pb: pb.ServerReflectionRequest(
            all_extension_numbers_of_type=containing_type))
        return list(response.all_extension_numbers_response.extension_number)

    async def pool_for(self, symbol: str) -> SchemaPool:
        """The pool, holding ``symbol``'s file and everything it imports, resolved."""
        if self.pool.find(symbol) is None:
            await self.file_containing_symbol(symbol.lstrip("."))
        await self._complete()
        return self.pool

    async def _complete(self) -> None:
        """Ask for every imported file the pool lacks, then resolve the type names."""
        missing = self.pool.missing_dependencies()
        while missing:
            for filename in missing:
                await self.file_by_filename(filename)
            missing = self.pool.missing_dependencies()
        self.pool.resolve()

    async def _files(self, make_request: Callable[[Any], Any]) -> list[bytes]:
        response = await self._ask(make_request)
        files = list(response.file_descriptor_response.file_descriptor_proto)
        self.pool.add_file_descriptors(files)
        return files

    # --- the stream ----------------------------------------------------------------

    async def _ask(self, make_request: Callable[[Any], Any]) -> Any:
        """Send one request and read its response; fall back to v1alpha if need be."""
        while True:
            pb = VERSIONS[self._versions[0]]
            if self._call is None:
                self._call = self._open(pb)
            try:
                await self._call.write(make_request(pb))
                response = await self._call.read()
            except rpc.RpcError as error:
                self._call = None
                if self._may_fall_back(error):
                    self._versions.pop(0)
                    continue
                raise
            return self._checked(response)

    def _open(self, pb: Any) -> Any:
        service = pb.ServerReflection
        path = service.methods[METHOD].path
        method = self._channel.stream_stream(
            path, request_serializer=pb.ServerReflectionRequest.encode,
            response_deserializer=pb.ServerReflectionResponse.decode)
        return method(metadata=self._metadata, timeout=self._timeout)

    def _may_fall_back(self, error: rpc.RpcError) -> bool:
        return (not self._answered and len(self._versions) > 1
                and error.code() == rpc.StatusCode.UNIMPLEMENTED)

    def _checked(self, response: Any) -> Any:
        if response is rpc.EOF:
            self._call = None
            raise rpc.RpcError(rpc.StatusCode.INTERNAL,
                               "the reflection stream ended without an answer")
        self._answered = True
        if response.which_oneof("message_response") == "error_response":
            error = response.error_response
            raise ReflectionError(error.error_code, error.error_message)
        return response

    async def close(self) -> None:
        """Half-close the stream and let the server end it (cancel it if it dawdles)."""
        call, self._call = self._call, None
        if call is None:
            return
        try:
            await call.done_writing()
            while await _read_with_timeout(call) is not rpc.EOF:
                pass
        except (rpc.RpcError, TimeoutError):
            call.cancel()

    async def __aenter__(self) -> "ReflectionClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()


async def _read_with_timeout(call: Any) -> Any:
    return await asyncio.wait_for(call.read(), CLOSE_TIMEOUT)
