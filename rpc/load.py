"""python -m rpc.load: the load-test tool (rpc.loadtest) under the name operators type.

    python -m rpc.load --plaintext localhost:50051 ecommerce.ProductInfo/addProduct \\
        -d '{"name": "book"}' -c 10 -n 1000

This file is a program only. In the library, ``rpc.load`` is the .proto
loader, ``rpc.load("x.proto")``; importing this file as a module would put a
module in that name's place, so it refuses to be imported: the tool's code
lives in rpc.loadtest, which is the one to import.
"""

if __name__ != "__main__":
    raise ImportError("rpc/load.py is the program behind `python -m rpc.load`; "
                      "import rpc.loadtest for the load tool, and rpc.load() loads .proto files")

import sys  # noqa: E402  (after the guard: a program, not a module)

from rpc.loadtest.__main__ import main  # noqa: E402

sys.exit(main())
