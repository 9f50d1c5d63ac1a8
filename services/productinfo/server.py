"""The ProductInfo server: ``python -m services.productinfo.server --port 50051``.

addProduct stores a product under a new UUID and answers with it; getProduct
answers NOT_FOUND for an ID it has never given out.
"""

from __future__ import annotations

import asyncio
import uuid

import rpc

from ..standard import run_server_program, serve_until_stopped

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


async def serve(host: str, port: int, ready: asyncio.Event | None = None, **options) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully (``options``: see serve_until_stopped)."""
    await serve_until_stopped("ProductInfo", [ProductInfo()], [ecommerce], host, port, ready=ready, **options)


def main(argv: list[str] | None = None) -> None:
    run_server_program(serve, __doc__.splitlines()[0], 50051, argv)


if __name__ == "__main__":
    main()
