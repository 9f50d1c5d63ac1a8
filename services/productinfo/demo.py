"""`make demo`: the book's ProductInfo service, from scratch, talking to grpcio.

1. starts our ProductInfo server (a separate process, as a reader would);
2. calls it from a real grpcio client, with stubs and messages that grpcio-tools
   and protobuf generate from the same product_info.proto;
3. calls it from our own client;
4. makes one call through the wire tracer and prints every HTTP/2 frame and
   byte that crossed the wire;
5. calls a grpcio server (grpc.aio, generated servicer) from our client.

Exits 0 when every step did what it should, and leaves no process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import subprocess
import sys
import tempfile

import grpc
from grpc_tools import protoc

import rpc
from transport.xray import Tracer, XrayProxy, format_records, schema_formatter

from . import PROTO, ecommerce
from . import client as our_client

TIMEOUT = 5.0
ADD_PRODUCT = "/ecommerce.ProductInfo/addProduct"
GET_PRODUCT = "/ecommerce.ProductInfo/getProduct"


def step(number: int, title: str) -> None:
    print(f"\n=== {number}. {title} " + "=" * max(0, 60 - len(title)), flush=True)


def generate_grpcio_modules(out_dir: str):
    """product_info_pb2 and product_info_pb2_grpc, made by grpcio-tools' protoc."""
    status = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", str(PROTO)])
    if status != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out_dir)
    return importlib.import_module("product_info_pb2"), importlib.import_module("product_info_pb2_grpc")


@contextlib.contextmanager
def our_server_process():
    """Our ProductInfo server as a program; yields its target."""
    server = subprocess.Popen(
        [sys.executable, "-m", "services.productinfo.server", "--port", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        print(f"$ python -m services.productinfo.server --port 0\n{line}")
        yield line.split()[-1]
    finally:
        server.terminate()
        server.wait(timeout=10)


def grpcio_client_calls(target: str, pb2, pb2_grpc) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = pb2_grpc.ProductInfoStub(channel)
        product_id = stub.addProduct(pb2.Product(name="Samsung S10", price=700.0), timeout=TIMEOUT)
        print(f"grpcio addProduct -> {product_id.value}")
        product = stub.getProduct(product_id, timeout=TIMEOUT)
        print(f"grpcio getProduct -> name={product.name!r} price={product.price}")
        if product.name != "Samsung S10":
            raise SystemExit("grpcio got another product back")


async def our_client_against_grpcio_server(pb2, pb2_grpc) -> None:
    class GrpcioProductInfo(pb2_grpc.ProductInfoServicer):
        def __init__(self):
            self.products = {}

        async def addProduct(self, request, context):
            product_id = f"grpcio-{len(self.products) + 1}"
            self.products[product_id] = request
            return pb2.ProductID(value=product_id)

        async def getProduct(self, request, context):
            if request.value not in self.products:
                await context.abort(grpc.StatusCode.NOT_FOUND, "no such product")
            return self.products[request.value]

    server = grpc.aio.server()
    pb2_grpc.add_ProductInfoServicer_to_server(GrpcioProductInfo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"grpcio (grpc.aio) ProductInfo server on 127.0.0.1:{port}")
    try:
        await our_client.run(f"127.0.0.1:{port}")
    finally:
        await server.stop(0)


async def traced_call(target: str) -> None:
    host, port = target.rsplit(":", 1)
    records = []
    formatter = schema_formatter({
        ADD_PRODUCT: (ecommerce.Product.decode, ecommerce.ProductID.decode),
        GET_PRODUCT: (ecommerce.ProductID.decode, ecommerce.Product.decode),
    })
    proxy = XrayProxy(host, int(port), on_records=lambda number, batch: records.extend(batch),
                      tracer_factory=lambda: Tracer(body_formatter=formatter))
    proxy_port = await proxy.start("127.0.0.1", 0)
    try:
        async with rpc.Channel(f"127.0.0.1:{proxy_port}") as channel:
            stub = ecommerce.ProductInfoStub(channel)
            product_id = await stub.addProduct(
                ecommerce.Product(name="book", description="gRPC: Up and Running", price=35.5),
                timeout=TIMEOUT, metadata=[("x-demo", "traced")])
        await asyncio.sleep(0.2)      # the proxy traces after forwarding: let it catch up
    finally:
        await proxy.close()
    print(f"our addProduct through the tracer -> {product_id.value}\n")
    print(format_records(records))


async def main() -> int:
    with tempfile.TemporaryDirectory() as generated:
        pb2, pb2_grpc = generate_grpcio_modules(generated)
        step(1, "our ProductInfo server")
        with our_server_process() as target:
            step(2, "a grpcio client calls our server")
            await asyncio.to_thread(grpcio_client_calls, target, pb2, pb2_grpc)
            step(3, "our client calls our server")
            await our_client.run(target)
            step(4, "one call, every frame on the wire")
            await traced_call(target)
        step(5, "our client calls a grpcio server")
        await our_client_against_grpcio_server(pb2, pb2_grpc)
    print("\nall steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
