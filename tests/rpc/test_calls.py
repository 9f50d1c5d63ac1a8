"""The four call patterns end to end, in every direction: success and metadata.

Spec: doc/PROTOCOL-HTTP2.md (Request-Headers, Response-Headers, Trailers;
custom metadata, ASCII and "-bin" keys). Directions: a grpcio client against
our server, our client against a grpcio server, and ours against ours.
"""

import pytest

pytestmark = pytest.mark.timeout(30)

PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
ASCII_AND_BINARY = (
    ("x-ascii", "printable ASCII ~!@#$%^&*()"),
    ("x-trace-bin", bytes(range(256))),
    ("x-empty-bin", b""),
)


def check_responses(pattern, responses, msg):
    if pattern == "unary_unary":
        assert [r.id for r in responses] == ["0"]
    elif pattern == "unary_stream":
        assert [r.id for r in responses] == ["0", "1", "2"]
    elif pattern == "stream_unary":
        assert [r.value for r in responses] == ["3,15"]
    else:
        assert [(r.id, r.status) for r in responses] == [("1", "5"), ("2", "5"), ("3", "5")]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_each_pattern_succeeds(peers, pattern):
    async with peers.session() as s:
        responses, call = await s.run(pattern, size=5, count=3)
        check_responses(pattern, responses, s.msg)
        assert (await call.code()).name == "OK"
        assert await call.details() in ("", None)


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_metadata_travels_both_ways(peers, helpers, pattern):
    """Request metadata reaches the handler; it echoes it as initial and trailing metadata."""
    async with peers.session() as s:
        metadata = ASCII_AND_BINARY + (("x-cmd", "echo"),)
        responses, call = await s.run(pattern, size=5, count=3, metadata=metadata)
        check_responses(pattern, responses, s.msg)
        initial = helpers.metadata_list(await call.initial_metadata())
        trailing = helpers.metadata_list(await call.trailing_metadata())
        assert initial == list(metadata)
        assert trailing == [("t-" + k[2:], v) for k, v in metadata]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_repeated_metadata_keys_keep_their_order(peers, helpers, pattern):
    async with peers.session() as s:
        metadata = (("x-cmd", "echo"), ("x-k", "1"), ("x-k-bin", b"\x01"), ("x-k", "2"),
                    ("x-k-bin", b"\x02,\x03"))
        _, call = await s.run(pattern, metadata=metadata)
        initial = helpers.metadata_list(await call.initial_metadata())
        # Values of one key keep their order; different keys may be regrouped (grpcio does).
        for key in ("x-k", "x-k-bin"):
            assert [v for k, v in initial if k == key] == [v for k, v in metadata if k == key]


async def test_empty_messages_and_empty_streams(peers):
    """Zero-length messages, and request streams with no message at all."""
    async with peers.session() as s:
        responses, _ = await s.run("stream_unary", count=0)
        assert [r.value for r in responses] == ["0,0"]
        responses, _ = await s.run("stream_stream", count=0)
        assert responses == []
        responses, _ = await s.run("unary_stream", metadata=(("x-cmd", "count:0"),))
        assert responses == []
        responses, _ = await s.run("unary_unary", size=0)
        assert responses[0].items == ["0"]


async def test_bidi_interleaves_writes_and_reads(peers):
    """A bidirectional call is a conversation: each answer comes before the next request."""
    async with peers.session() as s:
        call = s.method("stream_stream")()
        for index in range(5):
            await call.write(s.msg.StringValue(value="q" * index))
            reply = await call.read()
            assert (reply.id, reply.status) == (str(index + 1), str(index))
        await call.done_writing()
        assert (await call.code()).name == "OK"


async def test_client_streaming_with_write_and_done_writing(peers):
    async with peers.session() as s:
        call = s.method("stream_unary")()
        for index in range(4):
            await call.write(s.msg.Order(id=str(index), description="ab"))
        await call.done_writing()
        response = await call
        assert response.value == "4,8"


async def test_several_services_on_one_server(make_peers, ours):
    """ProductInfo next to OrderManagement: each path reaches its own servicer."""
    products = ours.products

    class ProductInfo(products.ProductInfoServicer):
        async def addProduct(self, request, context):
            return products.ProductID(value="id-" + request.name)

        async def getProduct(self, request, context):
            return products.Product(id=request.value, name="book")

    peers = make_peers("ours-to-ours")
    async with peers.session(extra_servicers=[ProductInfo()]) as s:
        stub = products.ProductInfoStub(s.channel)
        assert (await stub.addProduct(products.Product(name="pen"))).value == "id-pen"
        assert (await stub.getProduct(products.ProductID(value="7"))).name == "book"
        responses, _ = await s.run("unary_unary")
        assert responses[0].id == "0"
        assert set(s.server.methods) >= {
            "/ecommerce.ProductInfo/addProduct", "/ecommerce.OrderManagement/getOrder"}


async def test_grpcio_client_reaches_both_services(make_peers, ours, theirs):
    """The same, called by grpcio through generic multi-callables encoding with protobuf."""
    products = ours.products

    class ProductInfo(products.ProductInfoServicer):
        async def addProduct(self, request, context):
            return products.ProductID(value="id-" + request.name)

    peers = make_peers("grpcio-to-ours")
    async with peers.session(extra_servicers=[ProductInfo()]) as s:
        add = s.channel.unary_unary("/ecommerce.ProductInfo/addProduct")
        reply = await add(products.Product(name="pen").encode())
        assert products.ProductID.decode(reply).value == "id-pen"
        responses, _ = await s.run("unary_unary")
        assert responses[0].id == "0"
