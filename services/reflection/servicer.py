"""The ServerReflection service, v1 and v1alpha: one stream, many questions.

Spec: doc/server-reflection.md
(https://github.com/grpc/grpc/blob/master/doc/server-reflection.md) and the
comments of grpc/reflection/v1/reflection.proto:

    request (exactly one of)          answer
    list_services                     list_services_response: every service name
    file_by_filename                  file_descriptor_response: the file and
    file_containing_symbol              its transitive dependencies, as
    file_containing_extension           serialized FileDescriptorProtos
    all_extension_numbers_of_type     all_extension_numbers_response
    anything it cannot find           error_response {NOT_FOUND}, in band: the
                                      stream stays open for the next question

Each answer echoes the request (original_request) and its host (valid_host).
Within one stream a file goes out once: an answer carries the file asked
for, always, and then only the dependencies this stream has not had yet,
as grpc-go's server does (the client keeps what it was sent).

v1alpha is the same protocol under another package name; both servicers
share ``_Reflection`` and differ only in the message classes they build.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import rpc

from . import reflection_v1, reflection_v1alpha
from .index import DescriptorIndex

__all__ = ["ReflectionServicer", "ReflectionServicerV1Alpha"]


class _Missing(Exception):
    """A question without an answer: becomes an in-band error_response."""

    def __init__(self, code: rpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Reflection:
    """ServerReflectionInfo over a DescriptorIndex; ``_pb`` holds the message classes."""

    _pb: Any

    def __init__(self, *loaded_files: Any, index: DescriptorIndex | None = None) -> None:
        if index is None:
            index = DescriptorIndex(loaded_files)
            index.add(self._pb)            # a reflection server describes itself too
        self.index = index

    async def ServerReflectionInfo(self, request_iterator, context) -> AsyncIterator:
        sent: set[str] = set()             # file names this stream has been sent
        async for request in request_iterator:
            yield self.answer(request, sent)

    def answer(self, request: Any, sent: set[str]) -> Any:
        """The response to one request (``sent`` is updated with the files sent)."""
        pb = self._pb
        response = pb.ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.which_oneof("message_request")
        try:
            if kind is None:
                raise _Missing(rpc.StatusCode.INVALID_ARGUMENT, "the request asks for nothing")
            name, value = self._QUESTIONS[kind](self, getattr(request, kind), sent)
        except _Missing as missing:
            name, value = "error_response", pb.ErrorResponse(
                error_code=int(missing.code), error_message=missing.message)
        setattr(response, name, value)
        return response

    # --- one method per question --------------------------------------------------

    def _list_services(self, _: str, sent: set[str]) -> tuple[str, Any]:
        services = [self._pb.ServiceResponse(name=name) for name in self.index.service_names()]
        return "list_services_response", self._pb.ListServiceResponse(service=services)

    def _file_by_filename(self, filename: str, sent: set[str]) -> tuple[str, Any]:
        if not self.index.has_file(filename):
            raise _Missing(rpc.StatusCode.NOT_FOUND, f"file not found: {filename}")
        return self._files(filename, sent)

    def _file_containing_symbol(self, symbol: str, sent: set[str]) -> tuple[str, Any]:
        filename = self.index.file_containing_symbol(symbol)
        if filename is None:
            raise _Missing(rpc.StatusCode.NOT_FOUND, f"symbol not found: {symbol}")
        return self._files(filename, sent)

    def _file_containing_extension(self, request: Any, sent: set[str]) -> tuple[str, Any]:
        filename = self.index.file_containing_extension(request.containing_type,
                                                        request.extension_number)
        if filename is None:
            raise _Missing(rpc.StatusCode.NOT_FOUND,
                           f"extension not found: {request.containing_type} "
                           f"field {request.extension_number}")
        return self._files(filename, sent)

    def _all_extension_numbers_of_type(self, type_name: str, sent: set[str]) -> tuple[str, Any]:
        numbers = self.index.extension_numbers(type_name)
        if numbers is None:
            raise _Missing(rpc.StatusCode.NOT_FOUND, f"message type not found: {type_name}")
        return "all_extension_numbers_response", self._pb.ExtensionNumberResponse(
            base_type_name=type_name.lstrip("."), extension_number=numbers)

    def _files(self, filename: str, sent: set[str]) -> tuple[str, Any]:
        names = [name for index, name in enumerate(self.index.with_dependencies(filename))
                 if index == 0 or name not in sent]
        sent.update(names)
        return "file_descriptor_response", self._pb.FileDescriptorResponse(
            file_descriptor_proto=[self.index.encoded(name) for name in names])

    _QUESTIONS: dict[str, Callable[..., tuple[str, Any]]] = {
        "list_services": _list_services,
        "file_by_filename": _file_by_filename,
        "file_containing_symbol": _file_containing_symbol,
        "file_containing_extension": _file_containing_extension,
        "all_extension_numbers_of_type": _all_extension_numbers_of_type,
    }


class ReflectionServicer(_Reflection, reflection_v1.ServerReflectionServicer):
    """grpc.reflection.v1.ServerReflection."""

    _pb = reflection_v1


class ReflectionServicerV1Alpha(_Reflection, reflection_v1alpha.ServerReflectionServicer):
    """grpc.reflection.v1alpha.ServerReflection, for clients that predate v1."""

    _pb = reflection_v1alpha
