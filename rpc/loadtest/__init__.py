"""``python -m rpc.loadtest``: a load-testing tool in the spirit of ghz (https://ghz.sh).

    python -m rpc.loadtest --plaintext localhost:50051 ecommerce.ProductInfo/addProduct \\
        -d '{"name": "book"}' -c 10 -n 1000

Modules: runner (``run_load``: calls at a fixed concurrency, for a count or
a time; rpc only), stats (``summarize``, percentiles, the text and JSON
reports; pure), and the program, __main__, which finds the method the way
``python -m rpc.cli`` does (reflection or --proto) and so sits above every
layer, as rpc.cli does.
"""

from .runner import DEFAULT_CALL_TIMEOUT, Progress, run_load
from .stats import PERCENTILES, Result, Summary, percentile, render_json, render_text, summarize

__all__ = ["run_load", "Progress", "DEFAULT_CALL_TIMEOUT", "Result", "Summary", "summarize",
           "percentile", "render_text", "render_json", "PERCENTILES"]
