"""The OrderManagement server: ``python -m services.ordermgmt.server --port 50052``.

It starts with the book's sample orders. processOrders groups the orders it is
sent by destination and ships every ORDER_BATCH_SIZE orders, as the book does.
"""

from __future__ import annotations

import asyncio

import rpc

from ..standard import run_server_program, serve_until_stopped

from . import StringValue, ecommerce

__all__ = ["OrderManagement", "sample_orders", "serve", "main"]

ORDER_BATCH_SIZE = 3   # processOrders ships its shipments after this many orders


def sample_orders() -> dict[str, "ecommerce.Order"]:
    orders = [
        ecommerce.Order(id="102", items=["Google Pixel 3A", "Mac Book Pro"],
                        destination="Mountain View, CA", price=1800.0),
        ecommerce.Order(id="103", items=["Apple Watch S4"],
                        destination="San Jose, CA", price=400.0),
        ecommerce.Order(id="104", items=["Google Home Mini", "Google Nest Hub"],
                        destination="Mountain View, CA", price=400.0),
        ecommerce.Order(id="105", items=["Amazon Echo"],
                        destination="San Jose, CA", price=30.0),
        ecommerce.Order(id="106", items=["Amazon Echo", "Apple iPhone XS"],
                        destination="Mountain View, CA", price=300.0),
    ]
    return {order.id: order for order in orders}


class OrderManagement(ecommerce.OrderManagementServicer):
    def __init__(self) -> None:
        self.orders = sample_orders()

    async def getOrder(self, request, context):
        order = self.orders.get(request.value)
        if order is None:
            await context.abort(rpc.StatusCode.NOT_FOUND, f"Order does not exist: {request.value}")
        return order

    async def searchOrders(self, request, context):
        for order in self.orders.values():
            if any(request.value in item for item in order.items):
                yield order

    async def updateOrders(self, request_iterator, context):
        updated = []
        async for order in request_iterator:
            self.orders[order.id] = order
            updated.append(order.id)
        return StringValue(value="Updated Order IDs: " + ", ".join(updated))

    async def processOrders(self, request_iterator, context):
        shipments: dict[str, ecommerce.CombinedShipment] = {}
        count = 0
        async for order_id in request_iterator:
            order = self.orders.get(order_id.value)
            if order is None:
                continue
            shipment = shipments.setdefault(order.destination, ecommerce.CombinedShipment(
                id=f"cmb - {order.destination}", status="Processed!"))
            shipment.ordersList.append(order)
            count += 1
            if count == ORDER_BATCH_SIZE:
                for ready in shipments.values():
                    yield ready
                shipments, count = {}, 0
        for ready in shipments.values():
            yield ready


async def serve(host: str, port: int, ready: asyncio.Event | None = None, **options) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully (``options``: see serve_until_stopped)."""
    await serve_until_stopped("OrderManagement", [OrderManagement()], [ecommerce], host, port, ready=ready, **options)


def main(argv: list[str] | None = None) -> None:
    run_server_program(serve, __doc__.splitlines()[0], 50052, argv)


if __name__ == "__main__":
    main()
