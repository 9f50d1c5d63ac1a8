"""The book's services, served by us and called by our clients, in-process and
as the programs a reader runs (`python -m services.<name>.server/.client`)."""

import asyncio
import os
import subprocess
import sys

import pytest

import rpc
from services.ordermgmt import StringValue, ecommerce as orders_pb
from services.ordermgmt import client as order_client
from services.ordermgmt.server import OrderManagement
from services.productinfo import client as product_client, ecommerce as products_pb
from services.productinfo.server import ProductInfo

TIMEOUT = 5.0


async def serving(servicer):
    server = rpc.Server()
    server.add_service(servicer)
    port = await server.start("127.0.0.1:0")
    return server, f"127.0.0.1:{port}"


@pytest.mark.timeout(30)
def test_productinfo_adds_gets_and_answers_not_found():
    async def main():
        server, target = await serving(ProductInfo())
        try:
            async with rpc.Channel(target) as channel:
                stub = products_pb.ProductInfoStub(channel)
                product_id = await stub.addProduct(products_pb.Product(name="book", price=9.5),
                                                   timeout=TIMEOUT)
                other_id = await stub.addProduct(products_pb.Product(name="pen"), timeout=TIMEOUT)
                assert len(product_id.value) == 36 and product_id != other_id  # UUIDs
                found = await stub.getProduct(product_id, timeout=TIMEOUT)
                assert (found.id, found.name, found.price) == (product_id.value, "book", 9.5)
                with pytest.raises(rpc.RpcError) as error:
                    await stub.getProduct(products_pb.ProductID(value="nope"), timeout=TIMEOUT)
                assert error.value.code() == rpc.StatusCode.NOT_FOUND
            await product_client.run(target)   # the program's own checks
        finally:
            await server.stop(0)
    asyncio.run(main())


@pytest.mark.timeout(30)
def test_ordermgmt_all_four_patterns():
    async def main():
        server, target = await serving(OrderManagement())
        try:
            async with rpc.Channel(target) as channel:
                stub = orders_pb.OrderManagementStub(channel)
                with pytest.raises(rpc.RpcError) as error:
                    await stub.getOrder(StringValue(value="999"), timeout=TIMEOUT)
                assert error.value.code() == rpc.StatusCode.NOT_FOUND
                call = stub.processOrders(timeout=TIMEOUT)
                for order_id in ["102", "104", "106"]:     # three orders: one batch
                    await call.write(StringValue(value=order_id))
                first = await call.read()                   # shipped before we finish writing
                assert first.id == "cmb - Mountain View, CA"
                assert [o.id for o in first.ordersList] == ["102", "104", "106"]
                await call.done_writing()
                assert await call.read() is rpc.EOF
                assert await call.code() == rpc.StatusCode.OK
            await order_client.run(target)
        finally:
            await server.stop(0)
    asyncio.run(main())


def run_program(module, *args, timeout=20):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["productinfo", "ordermgmt"])
def test_server_and_client_programs(name):
    server = subprocess.Popen([sys.executable, "-m", f"services.{name}.server", "--port", "0"],
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()             # "... listening on 127.0.0.1:PORT"
        target = line.split()[-1]
        result = run_program(f"services.{name}.client", "--target", target)
        assert result.returncode == 0, result.stderr
        assert "->" in result.stdout
    finally:
        server.terminate()
        assert server.wait(timeout=10) == 0          # SIGTERM: a graceful stop


def test_client_program_fails_without_a_server():
    result = run_program("services.productinfo.client", "--target", "127.0.0.1:1")
    assert result.returncode != 0
    assert "UNAVAILABLE" in result.stderr
