"""python -m rpc.loadtest and its parts, against a server that fails some calls on purpose.

The server is our OrderManagement with health and reflection: getOrder fails
every FAIL_EVERY-th call it receives (FAILED_PRECONDITION), whatever the
concurrency, so a run of -n N has exactly N // FAIL_EVERY failures;
searchOrders streams three orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import pathlib
import subprocess
import sys
import threading
import time

import pytest

import rpc
from rpc.loadtest import Result, percentile, render_text, run_load, summarize
from services.standard import add_standard_services

ROOT = pathlib.Path(__file__).resolve().parents[3]
ORDERS_PROTO = ROOT / "services" / "ordermgmt" / "order_management.proto"
FAIL_EVERY = 4
WAIT = 20.0


def make_servicer(ours):
    class Orders(ours.Servicer):
        def __init__(self):
            self.calls = 0

        async def getOrder(self, request, context):
            self.calls += 1
            if self.calls % FAIL_EVERY == 0:
                await context.abort(rpc.StatusCode.FAILED_PRECONDITION, "every fourth call fails")
            return ours.Order(id=request.value)

        async def searchOrders(self, request, context):
            for number in range(3):
                yield ours.Order(id=f"{request.value}-{number}")
    return Orders()


@contextlib.contextmanager
def serving_in_a_thread(ours):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        server = rpc.Server()
        server.add_service(make_servicer(ours))
        add_standard_services(server, ours.module)
        return server, await server.start("127.0.0.1:0")
    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(WAIT)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


def loadtest(*flags: str, program: str = "rpc.loadtest") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", program, "--plaintext", *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=WAIT)


# --- the program -----------------------------------------------------------------------------


@pytest.mark.parametrize("program", ["rpc.load", "rpc.loadtest"])
def test_count_and_status_distribution_through_reflection(ours, program):
    with serving_in_a_thread(ours) as address:
        done = loadtest(address, "ecommerce.OrderManagement/getOrder", "-d", '"7"',
                        "-c", "4", "-n", "40", "--format", "json", program=program)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["count"] == 40
    assert report["status_code_distribution"] == {"OK": 30, "FAILED_PRECONDITION": 10}
    assert report["error_distribution"] == {"FAILED_PRECONDITION: every fourth call fails": 10}
    assert report["fastest_ms"] <= report["average_ms"] <= report["slowest_ms"]
    assert [row["percentage"] for row in report["latency_distribution"]][2:5] == [50, 75, 90]
    assert "40/40 calls" in done.stderr            # the progress bar's last state


def test_server_streaming_from_a_proto_file_and_the_text_summary(ours):
    with serving_in_a_thread(ours) as address:
        done = loadtest(address, "ecommerce.OrderManagement/searchOrders", "-d", '"a"',
                        "-c", "3", "-n", "10", "--proto", str(ORDERS_PROTO), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "  Count:\t10" in done.stdout
    assert "  [OK]\t10 responses" in done.stdout
    assert "Requests/sec:" in done.stdout and "50 % in" in done.stdout and "99 % in" in done.stdout
    assert done.stderr == ""


def test_a_duration_bounds_the_run(ours):
    with serving_in_a_thread(ours) as address:
        started = time.perf_counter()
        done = loadtest(address, "ecommerce.OrderManagement/getOrder", "-d", '"x"',
                        "-c", "2", "-z", "400ms", "--format", "json", "--no-progress")
        wall = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert 400 <= report["total_ms"] < 1500
    assert report["count"] > 0 and sum(report["status_code_distribution"].values()) == report["count"]
    assert wall < 10


@pytest.mark.parametrize("flags, status, message", [
    (["ecommerce.OrderManagement/getOrder", "-c", "0"], 2, "-c must be at least 1"),
    (["ecommerce.OrderManagement/getOrder", "-z", "soon"], 2, "invalid duration"),
    (["ecommerce.OrderManagement/nothing"], 1, "method not found"),
    (["ecommerce.OrderManagement/updateOrders"], 1, "only unary and server-streaming"),
    (["ecommerce.OrderManagement/getOrder", "-d", "{nope"], 1, "not JSON"),
])
def test_what_cannot_run(ours, flags, status, message):
    with serving_in_a_thread(ours) as address:
        done = loadtest(address, *flags, "-n", "1", "--no-progress")
    assert done.returncode == status, done.stderr
    assert message in done.stderr


# --- the functions ---------------------------------------------------------------------------


async def test_run_load_makes_exactly_total_calls_at_most_concurrency_at_once():
    in_flight, most = 0, 0

    async def call(timeout):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
    results, elapsed = await run_load(call, concurrency=8, total=50)
    assert len(results) == 50 and most == 8 and elapsed > 0
    results, _ = await run_load(call, concurrency=100, total=3)
    assert len(results) == 3


async def test_run_load_counts_statuses_and_stops_at_the_duration():
    calls = 0

    async def call(timeout):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.005)
        if calls % 2:
            raise rpc.RpcError(rpc.StatusCode.UNAVAILABLE, "down")
    results, elapsed = await run_load(call, concurrency=3, duration=0.2)
    assert 0.2 <= elapsed < 1.0
    codes = {result.code for result in results}
    assert codes == {"OK", "UNAVAILABLE"}


@pytest.mark.parametrize("options", [dict(concurrency=0, total=1), dict(concurrency=1)])
async def test_run_load_refuses_an_unbounded_or_empty_plan(options):
    async def call(timeout):
        pass
    with pytest.raises(ValueError):
        await run_load(call, **options)


@pytest.mark.parametrize("percent, expected", [(10, 1), (50, 5), (90, 9), (99, 10), (100, 10)])
def test_nearest_rank_percentiles(percent, expected):
    assert percentile(list(range(1, 11)), percent) == expected


def test_summary_numbers_and_text():
    results = [Result(0.001 * n, "OK") for n in range(1, 9)] + [Result(0.5, "INTERNAL", "boom")] * 2
    summary = summarize(results, total=2.0)
    assert summary.count == 10 and summary.requests_per_second == 5.0
    assert summary.fastest == 0.001 and summary.slowest == 0.5
    assert summary.status_codes == {"OK": 8, "INTERNAL": 2}
    text = render_text(summary)
    assert "  [INTERNAL]\t2 responses" in text and "  [2]\tINTERNAL: boom" in text


def test_equal_counts_are_reported_by_name_whatever_the_order_calls_ended_in():
    ended = [Result(0.1, "UNKNOWN", "x"), Result(0.1, "NOT_FOUND", "y"), Result(0.1, "OK")] * 2
    for results in (ended, list(reversed(ended))):
        summary = summarize(results, total=1.0)
        assert list(summary.status_codes) == ["NOT_FOUND", "OK", "UNKNOWN"]
        assert list(summary.errors) == ["NOT_FOUND: y", "UNKNOWN: x"]


def test_rpc_load_stays_the_proto_loader():
    """`python -m rpc.load` is the tool; `import rpc.load` is refused, so that
    rpc.load remains the .proto loader."""
    with pytest.raises(ImportError, match="python -m rpc.load"):
        importlib.import_module("rpc.load")
    assert callable(rpc.load) and rpc.load.__module__ == "rpc.service"
