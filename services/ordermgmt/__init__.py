"""OrderManagement, the book's service with one method per call pattern.

    getOrder      unary             an order by ID
    searchOrders  server streaming  every order whose items match a query
    updateOrders  client streaming  a stream of orders updated, one answer at the end
    processOrders bidirectional     order IDs in, shipments (orders grouped by destination) out
"""

import pathlib

import rpc

PROTO = pathlib.Path(__file__).with_name("order_management.proto")
ecommerce = rpc.load(str(PROTO))
StringValue = ecommerce.lookup("google.protobuf.StringValue")

__all__ = ["PROTO", "ecommerce", "StringValue"]
