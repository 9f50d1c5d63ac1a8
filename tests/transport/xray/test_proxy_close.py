"""Closing the proxy while a connection is still open ends quietly: no error
reaches the event loop's exception handler (asyncio logs those to stderr)."""

import asyncio

import pytest

import rpc
from services.productinfo import ecommerce
from services.productinfo.server import ProductInfo
from transport.xray import XrayProxy


@pytest.mark.timeout(30)
def test_close_with_a_connection_open_reports_nothing_to_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        server = rpc.Server()
        server.add_service(ProductInfo())
        port = await server.start("127.0.0.1:0")
        proxy = XrayProxy("127.0.0.1", port, on_records=lambda number, records: None)
        proxy_port = await proxy.start()
        channel = rpc.Channel(f"127.0.0.1:{proxy_port}")
        try:
            await ecommerce.ProductInfoStub(channel).addProduct(ecommerce.Product(name="x"),
                                                                timeout=5)
            await proxy.close()                      # the channel's connection is still open
            await asyncio.sleep(0.1)
        finally:
            await channel.close()
            await server.stop(0)
        assert reported == []
    asyncio.run(main())
