"""rpc.metrics: known traffic of every call pattern, then the /metrics page scraped
over HTTP and read series by series.

Server metrics are checked with a grpcio client and with ours calling our
server; client metrics with our client calling a grpcio server. The
services are conftest's OrderManagement, steered by x-cmd metadata.
"""

import asyncio
import subprocess
import sys
import urllib.error
import urllib.request

import grpc.aio
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import rpc
from rpc.metrics import (
    HANDLING_SECONDS_BUCKETS,
    MetricsClientInterceptor,
    MetricsServerInterceptor,
    ServerMetrics,
    code_name,
    serve_metrics,
)

SERVICE = "ecommerce.OrderManagement"
HTTP_TIMEOUT = 5.0


# --- reading the page --------------------------------------------------------------------


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
        return response.read().decode()


async def scrape(endpoint) -> "Samples":
    return Samples(await asyncio.to_thread(fetch, endpoint.url))


class Samples:
    """The samples of a scraped page, by name and labels."""

    def __init__(self, text: str) -> None:
        self.values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.values[sample.name, frozenset(sample.labels.items())] = sample.value

    def get(self, name: str, **labels) -> float | None:
        return self.values.get((name, frozenset(labels.items())))

    def labelled(self, **labels) -> list:
        """Every sample carrying all of ``labels``."""
        wanted = set(labels.items())
        return [key for key in self.values if wanted <= key[1]]


def method(grpc_type: str, name: str, service: str = SERVICE) -> dict:
    return {"grpc_type": grpc_type, "grpc_service": service, "grpc_method": name}


def check_method(samples: Samples, side: str, labels: dict, *, started: int, received: int,
                 sent: int, handled: dict) -> None:
    """Exact counts of one method's series, its histogram agreeing with them."""
    prefix = f"grpc_{side}"
    seen = {
        "started": samples.get(f"{prefix}_started_total", **labels),
        "received": samples.get(f"{prefix}_msg_received_total", **labels),
        "sent": samples.get(f"{prefix}_msg_sent_total", **labels),
        "handled": {dict(key[1])["grpc_code"]: samples.values[key]
                    for key in samples.labelled(**labels)
                    if key[0] == f"{prefix}_handled_total" and samples.values[key]},
    }
    assert seen == {"started": started, "received": received, "sent": sent, "handled": handled}
    count = samples.get(f"{prefix}_handling_seconds_count", **labels)
    assert count == sum(handled.values()) == started
    assert samples.get(f"{prefix}_handling_seconds_bucket", le="+Inf", **labels) == count
    assert samples.get(f"{prefix}_handling_seconds_sum", **labels) >= 0
    buckets = {dict(key[1])["le"] for key in samples.labelled(**labels)
               if key[0] == f"{prefix}_handling_seconds_bucket"}
    assert buckets == {str(float(b)) for b in HANDLING_SECONDS_BUCKETS} | {"+Inf"}


def cmd(value: str) -> dict:
    return {"metadata": [("x-cmd", value)]}


# --- the server ------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("direction", ["grpcio-to-ours", "ours-to-ours"])
async def test_server_metrics_count_known_traffic_exactly(make_peers, helpers, direction):
    registry = CollectorRegistry()
    metrics = MetricsServerInterceptor(registry=registry)
    peers = make_peers(direction)
    with serve_metrics(0, registry=registry) as endpoint:
        async with peers.session(server_interceptors=[metrics],
                                 extra_servicers=[peers.ours.products.ProductInfoServicer()]) as s:
            await s.run("unary_unary")
            await s.run("unary_unary")
            assert (await s.fails("unary_unary", **cmd("status:NOT_FOUND:ascii"))).code == "NOT_FOUND"
            assert (await s.fails("unary_unary", **cmd("raise"))).code == "UNKNOWN"

            responses, _ = await s.run("unary_stream", **cmd("count:4"))
            assert len(responses) == 4
            failure = await s.fails("unary_stream", **cmd("first:2;status:NOT_FOUND:ascii"))
            assert (failure.code, len(failure.responses)) == ("NOT_FOUND", 2)

            await s.run("stream_unary", count=5)
            await s.run("stream_stream", count=3)
            # Aborted after the last request, so that the abort does not race the
            # client's writes (this test is about counting, not early closure).
            failure = await s.fails("stream_stream", count=2, **cmd("first:5;status:NOT_FOUND:ascii"))
            assert (failure.code, len(failure.responses)) == ("NOT_FOUND", 2)

            # A served method the servicer leaves out: counted, UNIMPLEMENTED.
            # A method nobody serves: the server answers UNIMPLEMENTED, uncounted.
            for path in ("/ecommerce.ProductInfo/getProduct", f"/{SERVICE}/noSuchMethod"):
                with pytest.raises(helpers.RPC_ERRORS) as error:
                    await asyncio.wait_for(s.raw("unary_unary", path)(b"", timeout=5), 5)
                assert error.value.code().name == "UNIMPLEMENTED"

            samples = await scrape(endpoint)

    check_method(samples, "server", method("unary", "getOrder"), started=4, received=4, sent=2,
                 handled={"OK": 2, "NOT_FOUND": 1, "UNKNOWN": 1})
    check_method(samples, "server", method("server_stream", "searchOrders"), started=2,
                 received=2, sent=6, handled={"OK": 1, "NOT_FOUND": 1})
    check_method(samples, "server", method("client_stream", "updateOrders"), started=1,
                 received=5, sent=1, handled={"OK": 1})
    check_method(samples, "server", method("bidi_stream", "processOrders"), started=2,
                 received=3 + 2, sent=3 + 2, handled={"OK": 1, "NOT_FOUND": 1})
    check_method(samples, "server", method("unary", "getProduct", "ecommerce.ProductInfo"),
                 started=1, received=1, sent=0, handled={"UNIMPLEMENTED": 1})
    assert samples.labelled(grpc_method="noSuchMethod") == []


async def echo_by_context(request_iterator, context):
    """A bidi handler that reads and writes through the context, not the iterator."""
    while (message := await context.read()) is not None:
        await context.write(message)


@pytest.mark.timeout(20)
async def test_server_counts_messages_read_and_written_through_the_context():
    registry = CollectorRegistry()
    server = rpc.Server(interceptors=[MetricsServerInterceptor(registry=registry)])
    server.add_method_handlers([rpc.MethodHandler("/test.Echo/Chat", rpc.Cardinality.STREAM_STREAM,
                                                  echo_by_context)])
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.stream_stream("/test.Echo/Chat")(iter([b"a", b"bb", b"ccc"]), timeout=5)
            assert [response async for response in call] == [b"a", b"bb", b"ccc"]
    finally:
        await server.stop(0)
    with serve_metrics(0, registry=registry) as endpoint:
        samples = await scrape(endpoint)
    check_method(samples, "server", method("bidi_stream", "Chat", "test.Echo"), started=1,
                 received=3, sent=3, handled={"OK": 1})


@pytest.mark.timeout(20)
async def test_initialize_puts_every_method_at_zero(ours):
    registry = CollectorRegistry()
    metrics = MetricsServerInterceptor(registry=registry)
    server = rpc.Server(interceptors=[metrics])
    server.add_service(ours.Servicer())
    metrics.initialize(server)
    with serve_metrics(0, registry=registry) as endpoint:
        samples = await scrape(endpoint)
    types = {"getOrder": "unary", "searchOrders": "server_stream",
             "updateOrders": "client_stream", "processOrders": "bidi_stream"}
    for name, grpc_type in types.items():
        labels = method(grpc_type, name)
        for series in ("started_total", "msg_received_total", "msg_sent_total",
                       "handling_seconds_count"):
            assert samples.get(f"grpc_server_{series}", **labels) == 0, (name, series)
        codes = {dict(key[1])["grpc_code"] for key in samples.labelled(**labels)
                 if key[0] == "grpc_server_handled_total"}
        assert codes == {code.name for code in rpc.StatusCode}
        assert all(samples.values[key] == 0 for key in samples.labelled(**labels)
                   if not key[0].endswith("_created"))     # those are timestamps


def test_one_registry_holds_one_set_of_server_metrics():
    registry = CollectorRegistry()
    ServerMetrics(registry)
    with pytest.raises(ValueError):
        ServerMetrics(registry)


# --- the client ------------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_client_metrics_count_known_traffic_exactly(make_peers, helpers):
    registry = CollectorRegistry()
    peers = make_peers("ours-to-grpcio")
    with serve_metrics(0, registry=registry) as endpoint:
        async with peers.session(client_interceptors=[MetricsClientInterceptor(registry)]) as s:
            await s.run("unary_unary")
            await s.run("unary_unary")
            assert (await s.fails("unary_unary", **cmd("status:NOT_FOUND:ascii"))).code == "NOT_FOUND"
            assert (await s.fails("unary_unary", **cmd("raise"))).code == "UNKNOWN"
            late = await s.fails("unary_unary", timeout=0.2, **cmd("sleep:10"))
            assert late.code == "DEADLINE_EXCEEDED"

            await s.run("unary_stream", **cmd("count:4"))
            failure = await s.fails("unary_stream", **cmd("first:2;status:NOT_FOUND:ascii"))
            assert (failure.code, len(failure.responses)) == ("NOT_FOUND", 2)
            call = s.start("unary_stream", **cmd("sleep:10"))
            await asyncio.wait_for(call.wait_for_connection(), 5)
            call.cancel()
            assert await asyncio.wait_for(call.code(), 5) == rpc.StatusCode.CANCELLED

            await s.run("stream_unary", count=5)                    # from a list's iterator
            summary = await s.stub.updateOrders(orders(s, 2), timeout=5)   # an async generator
            assert summary.value == "2,0"
            await bidi_by_hand(s, 3, registry)

            with pytest.raises(rpc.RpcError) as error:
                await asyncio.wait_for(s.raw("unary_unary", f"/{SERVICE}/noSuchMethod")(b"", timeout=5), 5)
            assert error.value.code() == rpc.StatusCode.UNIMPLEMENTED
            with pytest.raises(rpc.RpcError) as error:      # no call: the request cannot be encoded
                async for _ in s.stub.searchOrders(object(), timeout=5):
                    pass
            assert error.value.code() == rpc.StatusCode.INTERNAL

            samples = await scrape(endpoint)

    check_method(samples, "client", method("unary", "getOrder"), started=5, received=2, sent=5,
                 handled={"OK": 2, "NOT_FOUND": 1, "UNKNOWN": 1, "DEADLINE_EXCEEDED": 1})
    check_method(samples, "client", method("server_stream", "searchOrders"), started=4,
                 received=4 + 2, sent=4,
                 handled={"OK": 1, "NOT_FOUND": 1, "CANCELLED": 1, "INTERNAL": 1})
    check_method(samples, "client", method("client_stream", "updateOrders"), started=2,
                 received=2, sent=5 + 2, handled={"OK": 2})
    check_method(samples, "client", method("bidi_stream", "processOrders"), started=1,
                 received=3, sent=3, handled={"OK": 1})
    check_method(samples, "client", method("unary", "noSuchMethod"), started=1, received=0,
                 sent=1, handled={"UNIMPLEMENTED": 1})


async def orders(s, count: int):
    for index in range(count):
        yield s.msg.Order(id=str(index))


async def bidi_by_hand(s, count: int, registry) -> None:
    """processOrders with write()/read(), not iterators: one shipment per order.

    The call's deadline bounds the reads. Once a read has returned the end
    of the stream, the call counts as handled: no loop turn needed.
    """
    call = s.stub.processOrders(timeout=5)
    for index in range(count):
        await call.write(s.msg.StringValue(value=str(index)))
        shipment = await call.read()
        assert shipment.id == str(index + 1)
    await call.done_writing()
    assert await call.read() is rpc.EOF
    handled = registry.get_sample_value(
        "grpc_client_handled_total", {**method("bidi_stream", "processOrders"), "grpc_code": "OK"})
    assert handled == 1
    assert await call.code() == rpc.StatusCode.OK


# --- the parts --------------------------------------------------------------------------------


@pytest.mark.parametrize("code, name", [
    (rpc.StatusCode.OK, "OK"),
    (rpc.StatusCode.NOT_FOUND, "NOT_FOUND"),
    (16, "UNAUTHENTICATED"),
    (17, "UNKNOWN"),          # statuscodes.md: a code a client does not know is UNKNOWN
    (-1, "UNKNOWN"),
])
def test_code_label_names(code, name):
    assert code_name(code) == name


@pytest.mark.timeout(20)
def test_the_endpoint_closes_its_port_and_thread():
    registry = CollectorRegistry()
    endpoint = serve_metrics(0, registry=registry)
    assert endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
    assert "python_info" not in fetch(endpoint.url)      # this registry, not the default one
    endpoint.close()
    assert not endpoint._thread.is_alive()
    with pytest.raises(urllib.error.URLError):
        fetch(endpoint.url)
    endpoint.close()                                      # twice is harmless


@pytest.mark.timeout(30)
def test_import_rpc_leaves_prometheus_out():
    probe = "import sys, rpc; print('rpc.metrics' in sys.modules, 'prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=20)
    assert result.stdout.split() == ["False", "False"], result.stderr
