"""The OrderManagement client: ``python -m services.ordermgmt.client --target localhost:50052``.

One call of each pattern, each step printed; exits non-zero if a call fails or
answers something unexpected.
"""

from __future__ import annotations

import sys

import rpc

from ..standard import run_client_program
from . import StringValue, ecommerce

__all__ = ["run", "main"]

TIMEOUT_SECONDS = 5.0


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected answer: {what}")


async def run(target: str) -> None:
    async with rpc.Channel(target) as channel:
        stub = ecommerce.OrderManagementStub(channel)

        order = await stub.getOrder(StringValue(value="106"), timeout=TIMEOUT_SECONDS)
        print(f"getOrder(106) -> {order}")
        expect(order.id == "106", "getOrder answered another order")

        found = [o.id async for o in stub.searchOrders(StringValue(value="Google"),
                                                       timeout=TIMEOUT_SECONDS)]
        print(f"searchOrders('Google') -> orders {found}")
        expect(found == ["102", "104"], f"searchOrders found {found}")

        updates = [ecommerce.Order(id="102", items=["Google Pixel 3A", "Google Pixel Book"],
                                   destination="Mountain View, CA", price=1100.0),
                   ecommerce.Order(id="103", items=["Apple Watch S4", "Mac Book Pro"],
                                   destination="San Jose, CA", price=2800.0)]
        answer = await stub.updateOrders(updates, timeout=TIMEOUT_SECONDS)
        print(f"updateOrders(102, 103) -> {answer.value!r}")
        expect("102" in answer.value and "103" in answer.value, answer.value)

        call = stub.processOrders(timeout=TIMEOUT_SECONDS)
        for order_id in ["102", "103", "104", "105"]:
            await call.write(StringValue(value=order_id))
            print(f"processOrders <- {order_id}")
        await call.done_writing()
        shipments = [shipment async for shipment in call]
        for shipment in shipments:
            print(f"processOrders -> {shipment.id}: {[o.id for o in shipment.ordersList]}")
        shipped = sorted(o.id for s in shipments for o in s.ordersList)
        expect(shipped == ["102", "103", "104", "105"], f"shipped {shipped}")


def main(argv: list[str] | None = None) -> int:
    return run_client_program(run, __doc__.splitlines()[0], "localhost:50052", argv)


if __name__ == "__main__":
    sys.exit(main())
