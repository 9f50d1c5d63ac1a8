"""ProductInfo, the first service of the book (seeds/: product_info.proto).

    service ProductInfo {
        rpc addProduct(Product) returns (ProductID);
        rpc getProduct(ProductID) returns (Product);
    }

``server`` holds products in memory, giving each a UUID; ``client`` adds one
and reads it back. Both run as programs: ``python -m services.productinfo.server``.
"""

import pathlib

import rpc

PROTO = pathlib.Path(__file__).with_name("product_info.proto")
ecommerce = rpc.load(str(PROTO))

__all__ = ["PROTO", "ecommerce"]
