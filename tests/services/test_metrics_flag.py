"""--metrics-port on the example servers: the program serves /metrics, and the
page counts the calls made to it, exactly."""

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import rpc
from services.productinfo import ecommerce

TIMEOUT = 5.0
MAX_BANNER_LINES = 10     # the program prints two lines before serving; allow for more


def start_server(*flags):
    return subprocess.Popen(
        [sys.executable, "-m", "services.productinfo.server", "--port", "0", *flags],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_banner(server) -> dict:
    """The gRPC target and the metrics URL, from the program's first lines."""
    found = {}
    for _ in range(MAX_BANNER_LINES):
        line = server.stdout.readline()
        if not line:
            break
        if "listening on" in line:
            found["target"] = line.split()[-1]
        if line.startswith("metrics on "):
            found["metrics"] = line.split()[-1]
        if len(found) == 2:
            break
    return found


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def labels(method: str, service: str = "ecommerce.ProductInfo", **more) -> frozenset:
    return frozenset({"grpc_type": "unary", "grpc_service": service, "grpc_method": method,
                      **more}.items())


async def traffic(target: str) -> None:
    """Two products added, one found, one not."""
    async with rpc.Channel(target) as channel:
        stub = ecommerce.ProductInfoStub(channel)
        product_id = await stub.addProduct(ecommerce.Product(name="book"), timeout=TIMEOUT)
        await stub.addProduct(ecommerce.Product(name="pen"), timeout=TIMEOUT)
        await stub.getProduct(product_id, timeout=TIMEOUT)
        with pytest.raises(rpc.RpcError) as error:
            await stub.getProduct(ecommerce.ProductID(value="nope"), timeout=TIMEOUT)
        assert error.value.code() == rpc.StatusCode.NOT_FOUND


@pytest.mark.timeout(60)
def test_metrics_port_serves_exact_counts_of_the_calls_made():
    server = start_server("--metrics-port", "0")
    try:
        banner = read_banner(server)
        assert set(banner) == {"target", "metrics"}, banner
        assert banner["metrics"].startswith("http://127.0.0.1:") and banner["metrics"].endswith("/metrics")

        before = scrape(banner["metrics"])         # every method is there before any call
        assert before[("grpc_server_started_total", labels("addProduct"))] == 0
        assert before[("grpc_server_handled_total",
                       labels("Check", "grpc.health.v1.Health", grpc_code="OK"))] == 0
        assert ("process_cpu_seconds_total", frozenset()) in before   # the process collector too

        asyncio.run(traffic(banner["target"]))
        samples = scrape(banner["metrics"])
        expected = {
            ("grpc_server_started_total", labels("addProduct")): 2,
            ("grpc_server_handled_total", labels("addProduct", grpc_code="OK")): 2,
            ("grpc_server_msg_received_total", labels("addProduct")): 2,
            ("grpc_server_msg_sent_total", labels("addProduct")): 2,
            ("grpc_server_handling_seconds_count", labels("addProduct")): 2,
            ("grpc_server_started_total", labels("getProduct")): 2,
            ("grpc_server_handled_total", labels("getProduct", grpc_code="OK")): 1,
            ("grpc_server_handled_total", labels("getProduct", grpc_code="NOT_FOUND")): 1,
            ("grpc_server_msg_received_total", labels("getProduct")): 2,
            ("grpc_server_msg_sent_total", labels("getProduct")): 1,
            ("grpc_server_handling_seconds_count", labels("getProduct")): 2,
            ("grpc_server_started_total", labels("Check", "grpc.health.v1.Health")): 0,
        }
        assert {key: samples.get(key) for key in expected} == expected
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0          # a graceful stop, endpoint closed
        server.stdout.close()

