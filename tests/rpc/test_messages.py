"""Message sizes, size limits, compression, and HTTP/2 flow control, every direction.

Spec: doc/PROTOCOL-HTTP2.md (Length-Prefixed-Message), doc/compression.md,
doc/statuscodes.md (RESOURCE_EXHAUSTED for a message over the limit, either
side) and SPEC.md's "Known failure modes in other pure-Python peers":
messages over the flow-control window both ways (64 KiB, 4 MiB, 16 MiB), a
handler that never reads its request must not exhaust the connection window
for other calls, RST_STREAM arriving mid-send.
"""

import asyncio

import pytest

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024
LIMIT = 64 * MIB
SIZES = [0, 64 * 1024, 4 * MIB, 16 * MIB]
PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
RAISED = dict(server_max_receive=LIMIT, server_max_send=LIMIT,
              client_max_receive=LIMIT, client_max_send=LIMIT)


def received_sizes(pattern, responses):
    """(what the server received, what the client received) in bytes, per message."""
    if pattern == "unary_unary":
        return [int(responses[0].items[0])], [len(responses[0].description)]
    if pattern == "unary_stream":
        return [int(r.items[0]) for r in responses], [len(r.description) for r in responses]
    if pattern == "stream_unary":
        count, total, *padding = responses[0].value.split(",")
        count, total = int(count), int(total)
        return [total // max(count, 1)] * count, [len(p) for p in padding] or [0]
    return [int(r.status) for r in responses], [len(r.ordersList[0].description) if r.ordersList
                                                else 0 for r in responses]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_message_sizes_both_ways(peers, pattern):
    """0 B, 64 KiB, 4 MiB and 16 MiB requests and responses, limits raised."""
    async with peers.session(**RAISED) as s:
        for size in SIZES:
            count = 1 if size >= 4 * MIB else 2
            responses, _ = await s.run(pattern, size=size, count=count,
                                       metadata=(("x-cmd", f"size:{size};count:{count}"),))
            to_server, to_client = received_sizes(pattern, responses)
            assert to_server == [size] * (1 if pattern == "unary_unary" else count), size
            assert to_client == [size] * (1 if pattern.endswith("unary") else count), size


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_request_over_the_servers_limit_is_resource_exhausted(peers, pattern):
    async with peers.session(server_max_receive=MIB, client_max_send=LIMIT) as s:
        failure = await s.fails(pattern, size=MIB + 1, count=1)
        assert failure.code == "RESOURCE_EXHAUSTED"
        responses, _ = await s.run("unary_unary", size=MIB - 16)     # the connection lives on
        assert responses[0].items == [str(MIB - 16)]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_response_over_the_clients_limit_is_resource_exhausted(peers, pattern):
    async with peers.session(client_max_receive=MIB, server_max_send=LIMIT) as s:
        failure = await s.fails(pattern, count=1, metadata=(("x-cmd", f"size:{MIB + 1}"),))
        assert failure.code == "RESOURCE_EXHAUSTED"
        responses, _ = await s.run("unary_unary", metadata=(("x-cmd", f"size:{MIB - 16}"),))
        assert len(responses[0].description) == MIB - 16


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_default_receive_limit_is_4_mib(peers, pattern):
    """Without raised limits, 4 MiB + 1 is refused on either side (the default of both)."""
    async with peers.session(client_max_send=LIMIT, server_max_send=LIMIT) as s:
        assert (await s.fails(pattern, size=4 * MIB + 1)).code == "RESOURCE_EXHAUSTED"
        failure = await s.fails(pattern, metadata=(("x-cmd", f"size:{4 * MIB + 1}"),))
        assert failure.code == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_request_over_our_send_limit_fails_before_sending(make_peers, direction, pattern):
    async with make_peers(direction).session(client_max_send=MIB) as s:
        failure = await s.fails(pattern, size=MIB + 1)
        assert failure.code == "RESOURCE_EXHAUSTED"
        assert s.obs.count(f"finished:{_method(pattern)}") == 0


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_response_over_our_send_limit(make_peers, direction, pattern):
    async with make_peers(direction).session(server_max_send=MIB, client_max_receive=LIMIT) as s:
        failure = await s.fails(pattern, metadata=(("x-cmd", f"size:{MIB + 1}"),))
        assert failure.code == "RESOURCE_EXHAUSTED"


def _method(pattern):
    return {"unary_unary": "getOrder", "unary_stream": "searchOrders",
            "stream_unary": "updateOrders", "stream_stream": "processOrders"}[pattern]


# --- compression ------------------------------------------------------------------------


COMPRESSIBLE = MIB          # a MiB of one letter: gzip and deflate make it ~1 KiB


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_compression_per_call(peers, pattern, encoding):
    """compression= on the call squeezes the requests; set_compression() the responses."""
    async with peers.session(proxy=True) as s:
        await s.run("unary_unary")                       # connect, so counts are of one call
        s.proxy.reset_counts()
        responses, _ = await s.run(pattern, size=COMPRESSIBLE, compression=s.compression(encoding),
                                   metadata=(("x-cmd", f"compress:{encoding};size:{COMPRESSIBLE};count:1"),))
        to_server, to_client = received_sizes(pattern, responses)
        assert to_server == [COMPRESSIBLE]
        assert to_client == [COMPRESSIBLE]
        assert s.proxy.upstream_bytes < COMPRESSIBLE // 20
        if s.server_kind == "grpcio" and pattern.endswith("unary"):
            # grpc.aio ignores set_compression() for a unary response (to
            # grpcio clients as well); streamed responses honour it.
            assert s.proxy.downstream_bytes > COMPRESSIBLE
        else:
            assert s.proxy.downstream_bytes < COMPRESSIBLE // 20


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_compression_per_channel_and_per_server(peers, pattern, encoding):
    async with peers.session(proxy=True, client_compression=encoding,
                             server_compression=encoding) as s:
        await s.run("unary_unary")
        s.proxy.reset_counts()
        responses, _ = await s.run(pattern, size=COMPRESSIBLE,
                                   metadata=(("x-cmd", f"size:{COMPRESSIBLE};count:1"),))
        to_server, to_client = received_sizes(pattern, responses)
        assert to_server == [COMPRESSIBLE]
        assert to_client == [COMPRESSIBLE]
        assert s.proxy.upstream_bytes < COMPRESSIBLE // 20
        assert s.proxy.downstream_bytes < COMPRESSIBLE // 20


async def test_no_compression_unless_asked(peers):
    async with peers.session(proxy=True) as s:
        await s.run("unary_unary")
        s.proxy.reset_counts()
        await s.run("unary_unary", size=COMPRESSIBLE, metadata=(("x-cmd", f"size:{COMPRESSIBLE}"),))
        assert s.proxy.upstream_bytes > COMPRESSIBLE
        assert s.proxy.downstream_bytes > COMPRESSIBLE


# --- flow control ---------------------------------------------------------------------------


async def test_handler_that_never_reads_does_not_block_other_calls(peers):
    """A stalled call fills its own stream window, never the connection's."""
    async with peers.session(server_max_receive=LIMIT, client_max_send=LIMIT) as s:
        stalled = s.method("stream_unary")(metadata=(("x-cmd", "noread"),))
        writes_done = asyncio.Event()

        async def write_forever():
            for index in range(64):                       # 64 MiB: far past any window
                await stalled.write(s.msg.Order(id=str(index), description="w" * MIB))
            writes_done.set()

        writer = asyncio.get_running_loop().create_task(write_forever())
        await s.obs.wait("started:updateOrders")
        await asyncio.sleep(0.3)                          # let it fill every window it can
        for size in (0, 64 * 1024, 2 * MIB):
            responses, _ = await asyncio.wait_for(
                s.run("unary_unary", size=size, metadata=(("x-cmd", f"size:{size}"),)), 5)
            assert responses[0].items == [str(size)]
            responses, _ = await asyncio.wait_for(s.run("stream_stream", size=size, count=2), 5)
            assert [r.status for r in responses] == [str(size)] * 2
        assert not writes_done.is_set()                   # the stalled writer was held back
        stalled.cancel()
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


@pytest.mark.parametrize("pattern", ["stream_unary", "stream_stream"])
async def test_server_ends_the_call_while_the_client_is_still_sending(make_peers, pattern):
    """Trailers then RST_STREAM(NO_ERROR) in the middle of a long upload: the client
    reports the server's status, and the connection carries on."""
    for direction in ("ours-to-ours", "ours-to-grpcio"):
        async with make_peers(direction).session(server_max_receive=LIMIT,
                                                 client_max_send=LIMIT) as s:
            call = s.method(pattern)(metadata=(("x-cmd", "stopafter:1;status:ABORTED:ascii"),))

            async def upload():
                for index in range(32):
                    await call.write(s.msg.Order(id=str(index), description="u" * MIB)
                                     if pattern == "stream_unary"
                                     else s.msg.StringValue(value="u" * MIB))

            uploading = asyncio.get_running_loop().create_task(upload())
            failure = await _wait_failure(s, pattern, call)
            assert (failure.code().name, failure.details()) == ("ABORTED", "plain details, 100% ASCII")
            await asyncio.wait_for(asyncio.gather(uploading, return_exceptions=True), 5)
            with pytest.raises(Exception) as caught:
                await call.write(s.msg.Order() if pattern == "stream_unary" else s.msg.StringValue())
            assert caught.value.code().name == "ABORTED"
            responses, _ = await s.run("unary_unary", size=MIB)
            assert responses[0].items == [str(MIB)]


async def _wait_failure(s, pattern, call):
    try:
        if pattern.endswith("unary"):
            await asyncio.wait_for(call, 10)
        else:
            async for _ in call:
                pass
    except Exception as error:         # RpcError of either library
        return error
    raise AssertionError("the call succeeded")
