"""How calls end when they do not end OK, in every direction.

Spec: doc/statuscodes.md (which codes the library itself produces, and when),
doc/PROTOCOL-HTTP2.md (grpc-status, grpc-message percent-encoded UTF-8,
Trailers-Only), google/rpc/status.proto for grpc-status-details-bin, and the
special_status_message case of doc/interop-test-descriptions.md.
"""

from types import SimpleNamespace

import grpc
import grpc.aio
import pytest

import rpc

pytestmark = pytest.mark.timeout(40)

PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
ERROR_CODES = [code.name for code in rpc.StatusCode if code.name != "OK"]


def test_every_code_is_known():
    assert len(ERROR_CODES) == 16


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_every_status_code_with_details(peers, helpers, pattern):
    """abort(code, details, trailing metadata) arrives whole, for all 16 codes."""
    # One request: a grpc.aio client still writing requests from an iterator when
    # the call ends sometimes reports INTERNAL "Failed execute_batch" itself
    # (grpc/grpc#36066, against a grpcio server too), so the servers here end
    # after the last request.
    async with peers.session() as s:
        for code in ERROR_CODES:
            failure = await s.fails(pattern, count=1, metadata=(("x-cmd", f"status:{code}:unicode"),))
            assert (failure.code, failure.details) == (code, helpers.DETAILS["unicode"])
            assert failure.trailing_metadata == list(helpers.TRAILING_ON_ABORT)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("key", ["ascii", "special", "empty"])
async def test_details_survive_percent_encoding(peers, helpers, pattern, key):
    async with peers.session() as s:
        failure = await s.fails(pattern, metadata=(("x-cmd", f"status:NOT_FOUND:{key}"),))
        assert failure.code == "NOT_FOUND"
        assert failure.details == helpers.DETAILS[key]


@pytest.mark.parametrize("pattern", ["unary_stream", "stream_stream"])
async def test_status_after_messages(peers, helpers, pattern):
    """A streamed response: the messages sent before the error still arrive."""
    async with peers.session() as s:
        failure = await s.fails(pattern, count=3,
                                metadata=(("x-cmd", "first:2;status:ABORTED:special"),))
        assert (failure.code, failure.details) == ("ABORTED", helpers.SPECIAL_DETAILS)
        assert len(failure.responses) == 2


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_rich_status_in_grpc_status_details_bin(peers, helpers, pattern):
    async with peers.session() as s:
        call = s.start(pattern, metadata=(("x-cmd", "rich:FAILED_PRECONDITION"),))
        try:
            if pattern.endswith("unary"):
                await call
            else:
                [r async for r in call]
        except helpers.RPC_ERRORS as error:
            caught = error
        else:
            raise AssertionError("the call succeeded")
        assert caught.code().name == "FAILED_PRECONDITION"
        expected = helpers.rich_status_bytes(rpc.StatusCode.FAILED_PRECONDITION)
        assert dict(caught.trailing_metadata())["grpc-status-details-bin"] == expected
        if s.kind == "ours":
            status = caught.status
            assert (status.code, status.message) == (rpc.StatusCode.FAILED_PRECONDITION, "rich")
            assert [(d.type_url, d.value) for d in status.details] == [
                ("type.googleapis.com/test.Detail", b"\x08\x2a")]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_set_code_without_abort(peers, helpers, pattern):
    async with peers.session() as s:
        failure = await s.fails(pattern, metadata=(("x-cmd", "setcode:OUT_OF_RANGE:ascii"),))
        assert (failure.code, failure.details) == ("OUT_OF_RANGE", helpers.DETAILS["ascii"])


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_handler_that_raises_is_unknown_without_the_traceback(peers, helpers, pattern):
    async with peers.session() as s:
        failure = await s.fails(pattern, metadata=(("x-cmd", "raise"),))
        assert failure.code == "UNKNOWN"
        if s.server_kind == "grpcio":
            return            # grpcio puts the exception's text in the details; we don't
        assert helpers.SECRET not in failure.details
        assert "Traceback" not in failure.details
        assert all(helpers.SECRET not in str(v) for _, v in failure.trailing_metadata)


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_unknown_method_and_service_are_unimplemented(peers, pattern):
    async with peers.session() as s:
        for path in ("/ecommerce.OrderManagement/noSuchMethod", "/no.Such/getOrder"):
            # grpc/grpc#36066: a grpc.aio client whose request write meets the
            # server's early answer reports INTERNAL itself; it sends no message.
            requests = iter([] if s.kind == "grpcio" else [b""])
            call = s.raw(pattern, path)(b"" if pattern.startswith("unary") else requests)
            failure = await _failure(s, pattern, call)
            assert failure.code == "UNIMPLEMENTED", path


async def _failure(s, pattern, call):
    responses = []
    try:
        if pattern.endswith("unary"):
            responses.append(await call)
        else:
            async for response in call:
                responses.append(response)
    except (rpc.RpcError, grpc.aio.AioRpcError) as error:
        return SimpleNamespace(code=error.code().name, details=error.details(), responses=responses)
    raise AssertionError(f"the call succeeded: {responses}")


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_unimplemented_servicer_method(ours, pattern):
    """A Servicer subclass that does not override a method answers UNIMPLEMENTED."""
    class Nothing(ours.Servicer):
        pass

    server = rpc.Server()
    server.add_service(Nothing())
    port = await server.start("127.0.0.1:0")
    try:
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            stub = ours.Stub(channel)
            method = getattr(stub, {"unary_unary": "getOrder", "unary_stream": "searchOrders",
                                    "stream_unary": "updateOrders",
                                    "stream_stream": "processOrders"}[pattern])
            request = ours.StringValue() if pattern.startswith("unary") else iter([])
            failure = await _failure(None, pattern, method(request, timeout=5))
            assert failure.code == "UNIMPLEMENTED"
    finally:
        await server.stop(0)


@pytest.mark.parametrize("count", [0, 2])
@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
async def test_wrong_number_of_requests_to_a_unary_method(make_peers, direction, count):
    """doc/statuscodes.md: the server answers UNIMPLEMENTED."""
    async with make_peers(direction).session() as s:
        for path in ("/ecommerce.OrderManagement/getOrder", "/ecommerce.OrderManagement/searchOrders"):
            call = s.raw("stream_stream", path)(iter([b""] * count))
            failure = await _failure(s, "stream_stream", call)
            assert failure.code == "UNIMPLEMENTED", path
            assert failure.responses == []


@pytest.mark.parametrize("count", ["0", "3"])
@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
async def test_wrong_number_of_responses_to_a_unary_call(make_peers, direction, count):
    """doc/statuscodes.md: the client reports UNIMPLEMENTED (a streaming method called as unary)."""
    async with make_peers(direction).session() as s:
        call = s.channel.unary_unary("/ecommerce.OrderManagement/searchOrders")(
            s.msg.StringValue().encode(), metadata=(("x-cmd", f"count:{count}"),), timeout=5)
        failure = await _failure(s, "unary_unary", call)
        assert failure.code == "UNIMPLEMENTED"


@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_request_that_does_not_parse_is_internal(make_peers, direction, pattern):
    async with make_peers(direction).session() as s:
        path = "/ecommerce.OrderManagement/" + {
            "unary_unary": "getOrder", "unary_stream": "searchOrders",
            "stream_unary": "updateOrders", "stream_stream": "processOrders"}[pattern]
        garbage = b"\x0a\xff\xff"          # field 1, LEN, a length past the end
        request = garbage if pattern.startswith("unary") else iter([garbage])
        failure = await _failure(s, pattern, s.raw(pattern, path)(request, timeout=5))
        assert failure.code == "INTERNAL"


@pytest.mark.parametrize("direction", ["ours-to-grpcio", "ours-to-ours"])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_response_that_does_not_parse_is_internal(make_peers, helpers, direction, pattern):
    """/test.Raw answers bytes that are no message; decoded as an Order they fail: INTERNAL."""
    async with make_peers(direction).session() as s:
        multi = getattr(s.channel, pattern)(f"/{helpers.RAW_SERVICE}/{pattern}",
                                            response_deserializer=s.msg.Order.decode)
        call = multi(b"" if pattern.startswith("unary") else iter([b""]), timeout=5)
        failure = await _failure(s, pattern, call)
        assert failure.code == "INTERNAL"
        assert failure.responses == []
