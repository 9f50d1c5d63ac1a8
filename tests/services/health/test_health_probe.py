"""python -m services.health.probe, run as a program against live servers.

grpc_health_probe's exit codes: 0 SERVING, 1 bad arguments, 2 no connection,
3 the RPC failed (NOT_FOUND for an unknown service, no Health service, its
deadline), 4 not SERVING. Servers: our ProductInfo program, our rpc.Server
in a thread (for NOT_SERVING, slow and TLS), and grpcio with
grpcio-health-checking's servicer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import threading
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc

import rpc
from services.health import HealthServicer, ServingStatus
from services.health.probe import format_duration, parse_duration
from transport import tls

ROOT = pathlib.Path(__file__).resolve().parents[3]
WAIT = 10.0


def run_probe(*flags: str) -> tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", "services.health.probe", *flags],
                            cwd=ROOT, capture_output=True, text=True, timeout=WAIT)
    return result.returncode, result.stderr.strip()


# --- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def productinfo_server():
    """python -m services.productinfo.server on a free port, for the module."""
    process = subprocess.Popen([sys.executable, "-m", "services.productinfo.server", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()          # "ProductInfo server listening on host:port"
        assert "listening on" in line, line
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=WAIT)


@contextlib.contextmanager
def our_server(health: HealthServicer | None = None, ssl=None):
    """Our rpc.Server with ``health`` on a loop of its own, in a thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        server = rpc.Server(ssl=ssl)
        server.add_service(health or HealthServicer())
        return server, await server.start("127.0.0.1:0")
    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(WAIT)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


@contextlib.contextmanager
def grpcio_server(with_health: bool = True):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health = grpc_health.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", health
    finally:
        server.stop(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- against our servers -----------------------------------------------------------------------


def test_our_productinfo_program_is_serving(productinfo_server):
    assert run_probe("-addr", productinfo_server) == (0, "status: SERVING")
    assert run_probe("-addr", productinfo_server, "-service", "ecommerce.ProductInfo") == \
        (0, "status: SERVING")


def test_an_unknown_service_is_an_rpc_failure(productinfo_server):
    code, message = run_probe("-addr", productinfo_server, "-service", "no.Such")
    assert code == 3
    assert message.startswith("error: health rpc failed: rpc error: code = NotFound desc = ")


def test_not_serving_exits_4():
    health = HealthServicer()
    health.set("ecommerce.ProductInfo", ServingStatus.NOT_SERVING)
    with our_server(health) as address:
        assert run_probe("-addr", address, "-service", "ecommerce.ProductInfo") == \
            (4, 'service unhealthy (responded with "NOT_SERVING")')
        assert run_probe("-addr", address)[0] == 0


class SlowHealth(HealthServicer):
    async def Check(self, request, context):
        await asyncio.sleep(3)
        return await super().Check(request, context)


def test_a_slow_check_times_out_as_an_rpc_failure():
    with our_server(SlowHealth()) as address:
        assert run_probe("-addr", address, "-rpc-timeout", "200ms") == \
            (3, "timeout: health rpc did not complete within 200ms")


def test_tls_and_mutual_tls(tmp_path):
    import trustme   # a test dependency: certificates made for the test
    ca = trustme.CA()
    server_cert = ca.issue_cert("probe.test.example")
    client_cert = ca.issue_cert("client-1")
    paths = {}
    for name, blob in [("ca.pem", ca.cert_pem), ("server.pem", server_cert.cert_chain_pems[0]),
                       ("server.key", server_cert.private_key_pem),
                       ("client.pem", client_cert.cert_chain_pems[0]),
                       ("client.key", client_cert.private_key_pem)]:
        paths[name] = str(tmp_path / name)
        blob.write_to_path(paths[name])
    context = tls.server_context(paths["server.pem"], paths["server.key"], client_ca=paths["ca.pem"])
    with our_server(ssl=context) as address:
        tls_flags = ["-tls", "-tls-ca-cert", paths["ca.pem"],
                     "-tls-server-name", "probe.test.example"]
        client_flags = ["-tls-client-cert", paths["client.pem"], "-tls-client-key", paths["client.key"]]
        assert run_probe("-addr", address, *tls_flags, *client_flags) == (0, "status: SERVING")
        code, message = run_probe("-addr", address, *tls_flags)       # no client certificate
        assert code in (2, 3), message
        code, message = run_probe("-addr", address, "-tls", *client_flags)  # the system CAs
        assert (code, message.split(":")[0]) == (2, "timeout")     # the handshake never succeeds


# --- against grpcio ---------------------------------------------------------------------------------


def test_grpcio_health_servicer_each_verdict():
    with grpcio_server() as (address, health):
        health.set("svc.Up", health_pb2.HealthCheckResponse.SERVING)
        health.set("svc.Down", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert run_probe("-addr", address, "-service", "svc.Up") == (0, "status: SERVING")
        assert run_probe("-addr", address, "-service", "svc.Down") == \
            (4, 'service unhealthy (responded with "NOT_SERVING")')
        code, message = run_probe("-addr", address, "-service", "svc.Unknown")
        assert code == 3 and "code = NotFound" in message


def test_a_server_without_health_is_an_rpc_failure():
    with grpcio_server(with_health=False) as (address, _):
        code, message = run_probe("-addr", address)
        assert code == 3
        assert message.startswith("error: this server does not implement the grpc health "
                                  "protocol (grpc.health.v1.Health): rpc error: code = Unimplemented")


# --- no server, bad flags ------------------------------------------------------------------------------


def test_nothing_listening_is_a_connection_failure():
    # The channel keeps trying (with backoff) until the connect timeout, as a
    # blocking dial does: a refused connection is a timeout, exit status 2.
    address = f"127.0.0.1:{free_port()}"
    code, message = run_probe("-addr", address, "-connect-timeout", "2s")
    assert (code, message) == (2, f'timeout: failed to connect service "{address}" within 2s')


@pytest.mark.parametrize("flags, message", [
    ([], "error: -addr not specified"),
    (["-addr", "x:1", "-connect-timeout", "0s"],
     "error: -connect-timeout must be greater than zero (specified: 0s)"),
    (["-addr", "x:1", "-rpc-timeout", "soon"], "error: -rpc-timeout: invalid duration 'soon'"),
    (["-addr", "x:1", "-tls-ca-cert", "ca.pem"], "error: specified -tls-ca-cert without specifying -tls"),
    (["-addr", "x:1", "-tls", "-tls-client-cert", "c.pem"],
     "error: specify both -tls-client-cert and -tls-client-key"),
    (["-addr", "x:1", "-tls", "-tls-no-verify", "-tls-ca-cert", "ca.pem"],
     "error: cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)"),
    (["-addr", "x:1", "-no-such-flag"], "error: unrecognized arguments: -no-such-flag"),
])
def test_bad_flags_exit_1(flags, message):
    assert run_probe(*flags) == (1, message)


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("250ms", 0.25), ("1m30s", 90.0), ("1.5h", 5400.0), ("0.5", 0.5), ("100us", 1e-4),
])
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds, text", [(1.0, "1s"), (1.5, "1.5s"), (0.2, "200ms")])
def test_durations_print_as_go_prints_them(seconds, text):
    assert format_duration(seconds) == text
