"""``python -m rpc.cli``: a command-line gRPC client, in the spirit of grpcurl.

    python -m rpc.cli --plaintext list localhost:50051
    python -m rpc.cli --plaintext list localhost:50051 ecommerce.ProductInfo
    python -m rpc.cli --plaintext describe localhost:50051 ecommerce.Product
    python -m rpc.cli --plaintext call localhost:50051 ecommerce.ProductInfo/addProduct '{"name": "book"}'
    echo '{"value": "102"}' | python -m rpc.cli --plaintext call localhost:50052 ecommerce.OrderManagement/processOrders

grpcurl's own word order works too (``TARGET list``, ``TARGET describe X``,
``-d '{...}' TARGET pkg.Service/Method``). What a method looks like comes
from the server's reflection service, or from ``--proto FILE`` (with
``--import-path DIR``) when the server has none. Requests are JSON (the
proto3 JSON mapping, wire.json); responses are printed one JSON object per
line. See ``python -m rpc.cli --help``.

The program is rpc/cli/__main__.py. It is a program on top of every layer:
it uses the reflection client of services.reflection, which the rpc layer
itself must not import (DESIGN.md: imports only go down). The modules here
that are not the program (render: schemas as .proto text; jsonio: reading
a stream of JSON values) use wire only.
"""

__all__: list[str] = []
