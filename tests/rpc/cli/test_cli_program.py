"""`python -m rpc.cli`, run as a program against our servers and a grpcio server.

Against ours: schemas by reflection (services.standard registers it), or by
--proto when a server has none. Against grpcio's: grpcio-reflection serves
only v1alpha, so the CLI's fallback from v1 is exercised too. Independent
runs go concurrently, to keep the wall time down.
"""

import asyncio
import importlib.resources
import json
import os
import pathlib
import sys

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection as grpc_reflection
from grpc_tools import protoc

import rpc
from services.ordermgmt import ecommerce as orders_pb
from services.ordermgmt.server import OrderManagement
from services.productinfo import PROTO as PRODUCTS_PROTO, ecommerce as products_pb
from services.productinfo.server import ProductInfo
from services.standard import add_standard_services

ROOT = pathlib.Path(__file__).resolve().parents[3]
ORDERS_PROTO = ROOT / "services" / "ordermgmt" / "order_management.proto"
RUN_LIMIT = 20.0        # seconds for one CLI run
CALL_TIMEOUT = "5"      # the CLI's own --timeout


def run(coroutine):
    asyncio.run(asyncio.wait_for(coroutine, 50))


async def cli(*args, stdin=None):
    """Run the CLI; (exit status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rpc.cli", "--timeout", CALL_TIMEOUT, *args, cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out, err = await asyncio.wait_for(
            process.communicate(stdin.encode() if stdin is not None else b""), RUN_LIMIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, out.decode(), err.decode()


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class RecordingProductInfo(ProductInfo):
    """ProductInfo that remembers the metadata of each addProduct."""

    def __init__(self):
        super().__init__()
        self.metadata = []

    async def addProduct(self, request, context):
        self.metadata.append(dict(context.invocation_metadata()))
        return await super().addProduct(request, context)


async def our_server(with_standard_services=True):
    server = rpc.Server()
    products = RecordingProductInfo()
    server.add_service(products)
    server.add_service(OrderManagement())
    if with_standard_services:
        add_standard_services(server, products_pb, orders_pb)
    port = await server.start("127.0.0.1:0")
    return server, products, f"127.0.0.1:{port}"


@pytest.mark.timeout(60)
def test_list_and_describe_by_reflection():
    async def main():
        server, _, target = await our_server()
        try:
            services, methods, service, message, method, missing = await asyncio.gather(
                cli("--plaintext", "list", target),
                cli("--plaintext", target, "list", "ecommerce.OrderManagement"),  # grpcurl order
                cli("--plaintext", "describe", target, "ecommerce.ProductInfo"),
                cli("--plaintext", "describe", target, ".ecommerce.Order"),
                cli("--plaintext", "describe", target, "ecommerce.OrderManagement.processOrders"),
                cli("--plaintext", "describe", target, "no.such.Thing"),
            )
        finally:
            await server.stop(0)
        assert services == (0, "ecommerce.OrderManagement\necommerce.ProductInfo\n"
                               "grpc.health.v1.Health\ngrpc.reflection.v1.ServerReflection\n"
                               "grpc.reflection.v1alpha.ServerReflection\n", "")
        assert methods[1].split() == [f"ecommerce.OrderManagement.{m}" for m in
                                      ("getOrder", "searchOrders", "updateOrders", "processOrders")]
        assert service[1] == (
            "ecommerce.ProductInfo is a service:\n"
            "service ProductInfo {\n"
            "  rpc addProduct ( .ecommerce.Product ) returns ( .ecommerce.ProductID );\n"
            "  rpc getProduct ( .ecommerce.ProductID ) returns ( .ecommerce.Product );\n"
            "}\n")
        assert message[1].splitlines()[:3] == ["ecommerce.Order is a message:",
                                               "message Order {", "  string id = 1;"]
        assert "  repeated string items = 2;" in message[1].splitlines()
        assert method[1].splitlines() == [
            "ecommerce.OrderManagement.processOrders is a method:",
            "rpc processOrders ( stream .google.protobuf.StringValue ) "
            "returns ( stream .ecommerce.CombinedShipment );"]
        assert missing[0] == 1 and "no.such.Thing" in missing[2]
    run(main())


@pytest.mark.timeout(60)
def test_calls_of_every_pattern_with_metadata_and_errors():
    async def main():
        server, products, target = await our_server()
        try:
            added = await cli("--plaintext", "-H", "x-user: ann", "-H", "x-trace-bin: AAEC",
                              "call", target, "ecommerce.ProductInfo/addProduct",
                              '{"name": "book", "price": 9.5}')
            assert added[0] == 0, added
            product_id = json_lines(added[1])[0]["value"]
            got, missing, searched, processed, updated, bad = await asyncio.gather(
                cli("--plaintext", "call", target, "ecommerce.ProductInfo.getProduct",
                    json.dumps({"value": product_id})),
                cli("--plaintext", "-d", '{"value": "nope"}', target,
                    "ecommerce.ProductInfo/getProduct"),                   # grpcurl order
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/searchOrders",
                    '"Google"'),                                           # StringValue's JSON
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/processOrders",
                    stdin='"102"\n"103"\n"104"\n"105"\n'),
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/updateOrders",
                    stdin='{"id": "200", "items": ["pen"]}\n{\n  "id": "201"\n}\n'),
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/processOrders",
                    stdin='"102"\n{"not": "a string"}\n'),
            )
        finally:
            await server.stop(0)
        assert products.metadata[0]["x-user"] == "ann"
        assert products.metadata[0]["x-trace-bin"] == b"\x00\x01\x02"
        assert json_lines(got[1]) == [{"id": product_id, "name": "book", "price": 9.5}]
        assert missing[0] == 64 + 5 and "Code: NOT_FOUND" in missing[2]   # grpcurl: 64 + code
        assert [order["id"] for order in json_lines(searched[1])] == ["102", "104"]
        shipments = json_lines(processed[1])
        assert processed[0] == 0
        assert [s["id"] for s in shipments] == ["cmb - Mountain View, CA", "cmb - San Jose, CA",
                                                "cmb - San Jose, CA"]
        assert [o["id"] for o in shipments[0]["ordersList"]] == ["102", "104"]
        assert json_lines(updated[1]) == ["Updated Order IDs: 200, 201"]
        assert bad[0] == 1 and "bad request" in bad[2]
    run(main())


@pytest.mark.timeout(60)
def test_proto_files_when_the_server_has_no_reflection():
    async def main():
        server, _, target = await our_server(with_standard_services=False)
        proto = ["--proto", str(PRODUCTS_PROTO)]
        try:
            no_reflection, listed, added = await asyncio.gather(
                cli("--plaintext", "list", target),
                cli(*proto, "list"),                       # no server needed
                cli("--plaintext", *proto, "call", target, "ecommerce.ProductInfo/addProduct",
                    '{"name": "pen"}'),
            )
        finally:
            await server.stop(0)
        assert no_reflection[0] == 1 and "reflection" in no_reflection[2]
        assert listed == (0, "ecommerce.ProductInfo\n", "")
        assert added[0] == 0 and len(json_lines(added[1])[0]["value"]) == 36
    run(main())


# --- a grpcio server with grpcio-reflection ----------------------------------------------------


def compiled_pool(tmp_path):
    """order_management.proto compiled by protoc into a private descriptor pool.

    Private, so that nothing lands in protobuf's default pool, which other tests
    fill with their own generated copy of the same file.
    """
    out = tmp_path / "set.pb"
    include = importlib.resources.files("grpc_tools") / "_proto"
    assert protoc.main(["protoc", f"-I{ORDERS_PROTO.parent}", f"-I{include}", "--include_imports",
                        f"--descriptor_set_out={out}", ORDERS_PROTO.name]) == 0
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    return pool


def grpcio_order_handler(pool):
    """OrderManagement's getOrder and processOrders as a grpcio generic handler."""
    def cls(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    Order, Shipment, StringValue = (cls("ecommerce.Order"), cls("ecommerce.CombinedShipment"),
                                    cls("google.protobuf.StringValue"))

    async def get_order(request, context):
        return Order(id=request.value, items=["grpcio"], price=1.0)

    async def process_orders(request_iterator, context):
        async for order_id in request_iterator:
            yield Shipment(id=f"shipped {order_id.value}", status="Processed!")

    return grpc.method_handlers_generic_handler("ecommerce.OrderManagement", {
        "getOrder": grpc.unary_unary_rpc_method_handler(
            get_order, request_deserializer=StringValue.FromString,
            response_serializer=Order.SerializeToString),
        "processOrders": grpc.stream_stream_rpc_method_handler(
            process_orders, request_deserializer=StringValue.FromString,
            response_serializer=Shipment.SerializeToString),
    })


@pytest.mark.timeout(60)
def test_against_a_grpcio_server_with_reflection(tmp_path):
    pool = compiled_pool(tmp_path)

    async def main():
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((grpcio_order_handler(pool),))
        names = ["ecommerce.OrderManagement", grpc_reflection.SERVICE_NAME]
        grpc_reflection.enable_server_reflection(names, server, pool=pool)
        target = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        try:
            listed, described, got, processed = await asyncio.gather(
                cli("--plaintext", "list", target),
                cli("--plaintext", "describe", target, "ecommerce.CombinedShipment"),
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/getOrder", '"7"'),
                cli("--plaintext", "call", target, "ecommerce.OrderManagement/processOrders",
                    stdin='"1"\n"2"\n'),
            )
        finally:
            await server.stop(0)
        assert listed == (0, "ecommerce.OrderManagement\n"
                             "grpc.reflection.v1alpha.ServerReflection\n", "")
        assert "  repeated .ecommerce.Order ordersList = 3;" in described[1].splitlines()
        assert json_lines(got[1]) == [{"id": "7", "items": ["grpcio"], "price": 1.0}]
        assert json_lines(processed[1]) == [{"id": "shipped 1", "status": "Processed!"},
                                            {"id": "shipped 2", "status": "Processed!"}]
    run(main())


@pytest.mark.timeout(30)
def test_usage_errors():
    async def main():
        results = await asyncio.gather(
            cli("--plaintext"),                                     # nothing to do
            cli("--plaintext", "call", "127.0.0.1:1"),              # no method
            cli("--plaintext", "--insecure", "list", "127.0.0.1:1"),
            cli("--plaintext", "-H", "no colon", "list", "127.0.0.1:1"),
        )
        for status, _, err in results:
            assert status == 2 and err.startswith("Error: ")     # usage errors, as grpcurl
    run(main())


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A certificate for localhost and 127.0.0.1 and its key, from a test CA (trustme)."""
    import trustme
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    where = tmp_path_factory.mktemp("tls")
    issued.private_key_pem.write_to_path(str(where / "key.pem"))
    issued.cert_chain_pems[0].write_to_path(str(where / "cert.pem"))
    authority.cert_pem.write_to_path(str(where / "ca.pem"))
    return str(where / "cert.pem"), str(where / "key.pem"), str(where / "ca.pem")


@pytest.mark.timeout(60)
def test_tls_and_mutual_tls(certificate):
    import ssl
    cert, key, ca = certificate

    async def main():
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(ca)            # clients must show a certificate of this CA
        context.verify_mode = ssl.CERT_REQUIRED
        context.set_alpn_protocols(["h2"])
        server = rpc.Server(ssl=context)
        server.add_service(ProductInfo())
        add_standard_services(server, products_pb)
        target = f"127.0.0.1:{await server.start('127.0.0.1:0')}"
        try:
            mutual, unchecked, no_client_cert, plaintext = await asyncio.gather(
                cli("--cacert", ca, "--cert", cert, "--key", key, "list", target),
                cli("--insecure", "--cert", cert, "--key", key, "list", target),
                cli("--cacert", ca, "list", target),
                cli("--plaintext", "list", target),
            )
        finally:
            await server.stop(0)
        assert mutual[0] == 0 and "ecommerce.ProductInfo" in mutual[1].split()
        assert unchecked[0] == 0
        assert no_client_cert[0] != 0 and plaintext[0] != 0
    run(main())
