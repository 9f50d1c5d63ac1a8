"""The ProductInfo client: ``python -m services.productinfo.client --target localhost:50051``.

Adds a product, reads it back, and asks for one that does not exist; prints
each step and exits non-zero if a call does not do what it should.
"""

from __future__ import annotations

import sys

import rpc

from ..standard import run_client_program
from . import ecommerce

__all__ = ["run", "main"]

TIMEOUT_SECONDS = 5.0


async def run(target: str) -> None:
    async with rpc.Channel(target) as channel:
        stub = ecommerce.ProductInfoStub(channel)
        product = ecommerce.Product(name="Apple iPhone 11",
                                    description="Meet Apple iPhone 11.", price=699.0)
        product_id = await stub.addProduct(product, timeout=TIMEOUT_SECONDS)
        print(f"addProduct({product.name!r}) -> {product_id.value}")
        found = await stub.getProduct(product_id, timeout=TIMEOUT_SECONDS)
        print(f"getProduct({product_id.value}) -> {found}")
        if (found.name, found.price) != (product.name, product.price):
            raise SystemExit("getProduct answered another product")
        try:
            await stub.getProduct(ecommerce.ProductID(value="no-such-id"), timeout=TIMEOUT_SECONDS)
        except rpc.RpcError as error:
            print(f"getProduct('no-such-id') -> {error.code().name}: {error.details()}")
            if error.code() != rpc.StatusCode.NOT_FOUND:
                raise
        else:
            raise SystemExit("getProduct found a product that does not exist")


def main(argv: list[str] | None = None) -> int:
    return run_client_program(run, __doc__.splitlines()[0], "localhost:50051", argv)


if __name__ == "__main__":
    sys.exit(main())
