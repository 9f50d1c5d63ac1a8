"""The ProductInfo server: ``python -m services.productinfo.server --port 50051``.

addProduct stores a product under a new UUID and answers with it; getProduct
answers NOT_FOUND for an ID it has never given out.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid

import rpc
from services.standard import add_standard_services

from . import ecommerce

__all__ = ["ProductInfo", "serve", "main"]


class ProductInfo(ecommerce.ProductInfoServicer):
    """Products in memory, by ID."""

    def __init__(self) -> None:
        self.products: dict[str, ecommerce.Product] = {}

    async def addProduct(self, request, context):
        product_id = str(uuid.uuid4())
        request.id = product_id
        self.products[product_id] = request
        return ecommerce.ProductID(value=product_id)

    async def getProduct(self, request, context):
        product = self.products.get(request.value)
        if product is None:
            await context.abort(rpc.StatusCode.NOT_FOUND, f"Product does not exist: {request.value}")
        return product


async def serve(host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully."""
    server = rpc.Server()
    server.add_service(ProductInfo())
    standard = add_standard_services(server, ecommerce)   # health and reflection
    bound = await server.start(f"{host}:{port}")
    print(f"ProductInfo server listening on {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    standard.health.enter_graceful_shutdown()
    await server.stop(grace=1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50051)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
