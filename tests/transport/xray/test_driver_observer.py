"""The tracer on our own connections: the driver's observer hook sees every byte
both ways, from the preface on, so a notebook can show what one call sent."""

import asyncio

import pytest

import rpc
from services.productinfo import ecommerce
from services.productinfo.server import ProductInfo
from transport.xray import FrameSeen, HeaderBlockDecoded, MessageReassembled, Tracer, schema_formatter

SCHEMA = schema_formatter({
    "/ecommerce.ProductInfo/addProduct": (ecommerce.Product.decode, ecommerce.ProductID.decode),
})


@pytest.mark.timeout(30)
def test_client_and_server_observers_trace_one_call():
    async def main():
        client_tracer = Tracer(body_formatter=SCHEMA, local_role="client")
        server_tracers = []

        def server_observer():
            tracer = Tracer(body_formatter=SCHEMA, local_role="server")
            server_tracers.append(tracer)
            return tracer.observe

        server = rpc.Server(observer_factory=server_observer)
        server.add_service(ProductInfo())
        port = await server.start("127.0.0.1:0")
        try:
            async with rpc.Channel(f"127.0.0.1:{port}", observer=client_tracer.observe) as channel:
                await ecommerce.ProductInfoStub(channel).addProduct(
                    ecommerce.Product(name="traced"), timeout=5)
        finally:
            await server.stop(0)
        return client_tracer.records, server_tracers

    client_records, server_tracers = asyncio.run(main())
    assert len(server_tracers) == 1
    for records in (client_records, server_tracers[0].records):
        kinds = {type(r).__name__ for r in records}
        assert {"PrefaceSeen", "FrameSeen", "HeaderBlockDecoded", "MessageReassembled"} <= kinds
        paths = [r.get(":path") for r in records if isinstance(r, HeaderBlockDecoded)]
        assert "/ecommerce.ProductInfo/addProduct" in paths
        bodies = [r.decoded for r in records if isinstance(r, MessageReassembled)]
        assert any("name='traced'" in (text or "") for text in bodies)
        assert any(isinstance(r, FrameSeen) and r.type_name == "DATA" for r in records)


@pytest.mark.timeout(30)
def test_an_observer_that_raises_is_dropped_and_the_call_still_works():
    async def main():
        def broken(direction, data):
            raise RuntimeError("observer bug")

        server = rpc.Server()
        server.add_service(ProductInfo())
        port = await server.start("127.0.0.1:0")
        try:
            async with rpc.Channel(f"127.0.0.1:{port}", observer=broken) as channel:
                return await ecommerce.ProductInfoStub(channel).addProduct(
                    ecommerce.Product(name="x"), timeout=5)
        finally:
            await server.stop(0)

    assert len(asyncio.run(main()).value) == 36
