"""Server reflection, both ways: grpcio's reflection client against our server,
and our reflection client against a grpcio server with grpcio-reflection.

doc/server-reflection.md: list_services, file_by_filename,
file_containing_symbol, the extension requests; answers carry the file and
its transitive dependencies; a miss is an in-band NOT_FOUND and the stream
stays open.
"""

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health as grpc_health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as grpc_reflection
from grpc_reflection.v1alpha import reflection_pb2 as alpha, reflection_pb2_grpc as alpha_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

import rpc
import wire
from services.ordermgmt import ecommerce as orders_pb
from services.ordermgmt.server import OrderManagement
from services.productinfo import ecommerce as products_pb
from services.productinfo.server import ProductInfo
from services.reflection import ReflectionClient, ReflectionError, enable_reflection
from services.standard import add_standard_services
from wire import idl

WAIT = 5.0
ECHO_PROTO = "services/echo/echo.proto"
HTTP_EXTENSION_NUMBER = 72295728       # google/api/annotations.proto: extend MethodOptions { http }


def run(coroutine):
    asyncio.run(asyncio.wait_for(coroutine, 30))


async def our_server(*extra_loaded):
    """ProductInfo and OrderManagement, with health and reflection (and more files indexed)."""
    server = rpc.Server()
    server.add_service(ProductInfo())
    server.add_service(OrderManagement())
    standard = add_standard_services(server, products_pb, orders_pb)
    for loaded in extra_loaded:
        standard.reflection.add(loaded, list_services=False)   # described, not served
    port = await server.start("127.0.0.1:0")
    return server, f"127.0.0.1:{port}"


# --- grpcio's client, our server --------------------------------------------------------


def grpcio_descriptor_client(target):
    """What a generic grpcio tool does: descriptors by reflection, then a call from them alone."""
    with grpc.insecure_channel(target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("ecommerce.ProductInfo")
        add, get = service.methods_by_name["addProduct"], service.methods_by_name["getProduct"]
        Product = message_factory.GetMessageClass(add.input_type)
        ProductID = message_factory.GetMessageClass(add.output_type)
        add_call = channel.unary_unary("/ecommerce.ProductInfo/addProduct",
                                       request_serializer=Product.SerializeToString,
                                       response_deserializer=ProductID.FromString)
        get_call = channel.unary_unary("/ecommerce.ProductInfo/getProduct",
                                       request_serializer=ProductID.SerializeToString,
                                       response_deserializer=Product.FromString)
        product_id = add_call(Product(name="book", price=9.5), timeout=WAIT)
        found = get_call(product_id, timeout=WAIT)

        orders = pool.FindServiceByName("ecommerce.OrderManagement")
        search = orders.methods_by_name["searchOrders"]
        Query = message_factory.GetMessageClass(search.input_type)
        Order = message_factory.GetMessageClass(search.output_type)
        search_call = channel.unary_stream("/ecommerce.OrderManagement/searchOrders",
                                           request_serializer=Query.SerializeToString,
                                           response_deserializer=Order.FromString)
        found_orders = [order.id for order in search_call(Query(value="Google"), timeout=WAIT)]
        with pytest.raises(KeyError):
            database.FindFileContainingSymbol("no.such.Symbol")
        return services, found, found_orders, search.client_streaming, orders.methods_by_name[
            "processOrders"].client_streaming


@pytest.mark.timeout(30)
def test_grpcio_reflection_database_lists_resolves_and_calls_our_server():
    async def main():
        server, target = await our_server()
        try:
            services, found, found_orders, search_streams_in, process_streams_in = \
                await asyncio.to_thread(grpcio_descriptor_client, target)
        finally:
            await server.stop(0)
        assert services == {"ecommerce.ProductInfo", "ecommerce.OrderManagement",
                            "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                            "grpc.reflection.v1alpha.ServerReflection"}
        assert (found.name, found.price, len(found.id)) == ("book", 9.5, 36)
        assert found_orders == ["102", "104"]
        assert (search_streams_in, process_streams_in) == (False, True)
    run(main())


class AlphaStream:
    """One grpcio v1alpha ServerReflectionInfo stream, one question at a time."""

    def __init__(self, channel):
        self.call = alpha_grpc.ServerReflectionStub(channel).ServerReflectionInfo(timeout=WAIT)

    async def ask(self, **question):
        request = alpha.ServerReflectionRequest(host="example.test", **question)
        await self.call.write(request)
        response = await asyncio.wait_for(self.call.read(), WAIT)
        assert response.original_request == request
        assert response.valid_host == "example.test"
        return response

    async def files(self, **question):
        response = await self.ask(**question)
        assert response.WhichOneof("message_response") == "file_descriptor_response"
        return [descriptor_pb2.FileDescriptorProto.FromString(data)
                for data in response.file_descriptor_response.file_descriptor_proto]


@pytest.mark.timeout(30)
def test_one_stream_many_questions_misses_in_band_files_once():
    echo = idl.load(ECHO_PROTO)

    async def main():
        server, target = await our_server(echo)
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stream = AlphaStream(channel)
                miss = await stream.ask(file_containing_symbol="no.such.Thing")
                assert miss.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]

                files = await stream.files(file_containing_symbol="ecommerce.OrderManagement")
                assert [f.name for f in files] == ["order_management.proto",
                                                   "google/protobuf/wrappers.proto"]
                ours = descriptor_pb2.FileDescriptorProto.FromString(
                    idl.file_descriptor_proto(orders_pb))
                assert files[0] == ours                       # the bytes wire.idl writes
                again = await stream.files(file_containing_symbol="ecommerce.Order.items")
                assert [f.name for f in again] == ["order_management.proto"]   # deps sent already

                for symbol, filename in [
                    ("ecommerce.ProductInfo.getProduct", "product_info.proto"),    # a method
                    (".ecommerce.Product", "product_info.proto"),
                    ("grpc.health.v1.HealthCheckResponse.ServingStatus", "health.proto"),
                    ("grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN", "health.proto"),
                    ("grpc.reflection.v1.ServerReflectionRequest.message_request",
                     "reflection.proto"),                                         # a oneof
                    ("google.api.HttpRule", "google/api/http.proto"),
                ]:
                    assert (await stream.files(file_containing_symbol=symbol))[0].name == filename

                by_name = await stream.files(file_by_filename="echo.proto")
                assert [f.name for f in by_name][0] == "echo.proto"
                missing = await stream.ask(file_by_filename="nope.proto")
                assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]

                numbers = await stream.ask(
                    all_extension_numbers_of_type="google.protobuf.MethodOptions")
                assert list(numbers.all_extension_numbers_response.extension_number) == [
                    HTTP_EXTENSION_NUMBER]
                extension = await stream.files(file_containing_extension=alpha.ExtensionRequest(
                    containing_type="google.protobuf.MethodOptions",
                    extension_number=HTTP_EXTENSION_NUMBER))
                assert extension[0].name == "google/api/annotations.proto"
                no_extension = await stream.ask(file_containing_extension=alpha.ExtensionRequest(
                    containing_type="google.protobuf.MethodOptions", extension_number=1))
                assert no_extension.WhichOneof("message_response") == "error_response"

                listed = await stream.ask(list_services="")
                assert "example.MyService" not in [
                    s.name for s in listed.list_services_response.service]   # indexed, not served
                await stream.call.done_writing()
                assert await stream.call.code() == grpc.StatusCode.OK
        finally:
            await server.stop(0)
    run(main())


# --- our client, our server (v1) ------------------------------------------------------------


@pytest.mark.timeout(30)
def test_our_client_v1_builds_classes_and_calls_our_server():
    async def main():
        server, target = await our_server()
        try:
            async with rpc.Channel(target) as channel:
                async with ReflectionClient(channel, timeout=WAIT) as reflection:
                    assert "ecommerce.OrderManagement" in await reflection.list_services()
                    pool = await reflection.pool_for("ecommerce.OrderManagement")
                    assert reflection.version == "v1"
                    with pytest.raises(ReflectionError) as error:
                        await reflection.file_containing_symbol("no.such.Symbol")
                    assert error.value.code == rpc.StatusCode.NOT_FOUND
                    assert await reflection.list_services()     # the stream is still open
                service, method = pool.method("ecommerce.OrderManagement/getOrder")
                Request = wire.message_class(method.input_message)
                Order = wire.message_class(method.output_message)
                call = channel.unary_unary(service.method_path(method),
                                           request_serializer=Request.encode,
                                           response_deserializer=Order.decode)
                order = await call(Request(value="103"), timeout=WAIT)
                assert wire.json.to_dict(order) == {
                    "id": "103", "items": ["Apple Watch S4"], "price": 400.0,
                    "destination": "San Jose, CA"}
        finally:
            await server.stop(0)
    run(main())


# --- our client, grpcio's server (v1alpha only: the fallback) -----------------------------


@pytest.mark.timeout(30)
def test_our_client_against_grpcio_reflection_falls_back_to_v1alpha():
    async def main():
        server = grpc.aio.server()
        health = grpc_health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        await health.set("", health_pb2.HealthCheckResponse.SERVING)
        names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 grpc_reflection.SERVICE_NAME]
        grpc_reflection.enable_server_reflection(names, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with rpc.Channel(f"127.0.0.1:{port}") as channel:
                async with ReflectionClient(channel, timeout=WAIT) as reflection:
                    assert sorted(await reflection.list_services()) == sorted(names)
                    assert reflection.version == "v1alpha"
                    pool = await reflection.pool_for("grpc.health.v1.Health")
                    numbers = await reflection.all_extension_numbers(
                        "grpc.health.v1.HealthCheckRequest")
                    assert numbers == []
                service, check = pool.method("grpc.health.v1.Health.Check")
                Request = pool.message_class("grpc.health.v1.HealthCheckRequest")
                Response = pool.message_class("grpc.health.v1.HealthCheckResponse")
                call = channel.unary_unary(service.method_path(check),
                                           request_serializer=Request.encode,
                                           response_deserializer=Response.decode)
                response = await call(Request(service=""), timeout=WAIT)
                assert wire.json.to_dict(response) == {"status": "SERVING"}
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_a_server_without_reflection_answers_unimplemented():
    async def main():
        server = rpc.Server()
        server.add_service(ProductInfo())
        port = await server.start("127.0.0.1:0")
        try:
            async with rpc.Channel(f"127.0.0.1:{port}") as channel:
                reflection = ReflectionClient(channel, timeout=WAIT)
                with pytest.raises(rpc.RpcError) as error:
                    await reflection.list_services()
                assert error.value.code() == rpc.StatusCode.UNIMPLEMENTED
                await reflection.close()
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_enable_reflection_by_hand_serves_both_versions():
    async def main():
        server = rpc.Server()
        server.add_service(ProductInfo())
        index = enable_reflection(server, products_pb)
        assert index.service_names() == ["ecommerce.ProductInfo",
                                         "grpc.reflection.v1.ServerReflection",
                                         "grpc.reflection.v1alpha.ServerReflection"]
        port = await server.start("127.0.0.1:0")
        try:
            async with rpc.Channel(f"127.0.0.1:{port}") as channel:
                for versions in (["v1"], ["v1alpha"]):
                    async with ReflectionClient(channel, versions=versions) as reflection:
                        pool = await reflection.pool_for("ecommerce.ProductInfo.addProduct")
                        assert pool.find("ecommerce.Product").file.name == "product_info.proto"
        finally:
            await server.stop(0)
    run(main())
