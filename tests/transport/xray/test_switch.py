"""RPC_TRACE=http2: every connection's frames logged through the tracer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from transport.xray.switch import traced

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

PROGRAM = textwrap.dedent("""
    import asyncio
    import rpc

    async def main():
        async def echo(request, context):
            return request
        server = rpc.Server()
        server.add_method_handlers([rpc.MethodHandler("/t.S/Echo", rpc.Cardinality.UNARY_UNARY, echo)])
        port = await server.start("127.0.0.1:0")
        async with rpc.Channel(f"127.0.0.1:{port}") as channel:
            print(await channel.unary_unary("/t.S/Echo")(b"hi", timeout=5))
        await server.stop(0)

    asyncio.run(main())
""")


def run(environment: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RPC_TRACE"} | environment
    return subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_rpc_trace_http2_logs_both_sides_frames_to_stderr():
    result = run({"RPC_TRACE": "http2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "b'hi'"
    log = result.stderr
    # the client's view and the server's view of the same call
    assert log.count("HEADERS  stream 1") >= 4          # request and response headers, both sides
    assert "client#1 C->S  HEADERS  stream 1" in log and "server#1 C->S  HEADERS  stream 1" in log
    assert ":path: /t.S/Echo" in log
    assert "gRPC prefix 00 00 00 00 02" in log
    assert "grpc-status: 0" in log


def test_without_the_switch_nothing_is_logged():
    result = run({})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("value, http2", [("http2", True), ("all", True), ("api,HTTP2", True),
                                          ("", False), ("api", False), ("http", False)])
def test_which_values_turn_it_on(value, http2):
    assert traced("http2", {"RPC_TRACE": value}) is http2
