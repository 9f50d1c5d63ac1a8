"""The interop matrix: every official test case, for each pairing of client and server,
in plaintext (h2c) and over TLS.

    our client  -> our server
    our client  -> a grpcio (grpc.aio) TestService server
    grpcio client (grpc.aio) -> our server

Servers run in-process, on the test's event loop, on 127.0.0.1 with a port
the system picks. Over TLS, the server certificate is the one the interop
server makes when given no files (services.interop.server.generated_certificate:
a fresh test CA), and clients connect as grpc's interop runners do, to
127.0.0.1 with the server name overridden to foo.test.google.fr; grpcio's
sides use ssl_server_credentials / ssl_channel_credentials.

Cells grpcio's Python API cannot express are left out of the parametrization
(see LEFT_OUT); test_raw_h2.py checks that behaviour on the wire instead.
services/interop/report.py runs this file and turns the outcomes into RESULTS.md.
"""

from __future__ import annotations

import asyncio
import pathlib

import grpc
import pytest

import grpcio_peer
import rpc
from services.interop.cases import CASES, run_case
from services.interop.server import generated_certificate, make_server
from transport import tls

pytestmark = pytest.mark.timeout(60)

CASE_BOUND = 30.0   # seconds for one cell, servers included
SECURITIES = ("plaintext", "tls")
SERVER_HOST_OVERRIDE = "foo.test.google.fr"   # what grpc's interop clients are run with

# Cells left out, because grpcio's Python API cannot express them, and the
# raw-HTTP/2 tests (test_raw_h2.py) that check the same behaviour on the wire:
LEFT_OUT = {
    # A grpcio servicer cannot see whether a request arrived compressed, so it
    # cannot check expect_compressed: test_our_client_compresses_unary_requests_as_the_case_says
    # and test_our_client_compresses_streamed_requests_per_message hold our
    # client to it against a strict raw server instead.
    "test_our_client_grpcio_server": grpcio_peer.SERVER_CANNOT,
    # A grpcio call cannot send one message of a compressed call uncompressed:
    # test_our_server_checks_expect_compressed_per_streamed_message sends our
    # server those flags from a raw client instead.
    "test_grpcio_client_our_server": grpcio_peer.CLIENT_CANNOT,
}


def cells(test: str) -> list:
    """One param per (case, security) that ``test`` can run."""
    left_out = LEFT_OUT.get(test, {})
    return [pytest.param(case, security, id=f"{case}-{security}")
            for security in SECURITIES for case in CASES if case not in left_out]


def run(main) -> None:
    asyncio.run(asyncio.wait_for(main(), CASE_BOUND))


class Security:
    """How each side sets up one connection, in plaintext or over TLS."""

    def __init__(self, files: tuple[str, str, str] | None) -> None:
        self.files = files

    @property
    def tls(self) -> bool:
        return self.files is not None

    def our_server(self) -> rpc.Server:
        if not self.tls:
            return make_server()
        certificate, private_key, _ = self.files
        return make_server(ssl=tls.server_context(certificate, private_key))

    def our_channel(self, port: int) -> rpc.Channel:
        if not self.tls:
            return rpc.Channel(f"127.0.0.1:{port}")
        return rpc.Channel(f"127.0.0.1:{port}", ssl=tls.client_context(ca=self.files[2]),
                           server_hostname=SERVER_HOST_OVERRIDE, authority=SERVER_HOST_OVERRIDE)

    def grpcio_server_credentials(self) -> grpc.ServerCredentials | None:
        if not self.tls:
            return None
        certificate, private_key, _ = (pathlib.Path(name).read_bytes() for name in self.files)
        return grpc.ssl_server_credentials([(private_key, certificate)])

    def grpcio_channel(self) -> dict:
        """run_client_case's keyword arguments."""
        if not self.tls:
            return {}
        return {"credentials": grpc.ssl_channel_credentials(pathlib.Path(self.files[2]).read_bytes()),
                "options": (("grpc.ssl_target_name_override", SERVER_HOST_OVERRIDE),)}


@pytest.fixture(scope="module")
def certificate_files():
    with generated_certificate() as files:
        yield files


@pytest.fixture
def security(kind, certificate_files) -> Security:
    return Security(certificate_files if kind == "tls" else None)


@pytest.mark.parametrize("case, kind", cells("test_our_client_our_server"))
def test_our_client_our_server(case, kind, security):
    async def main():
        server = security.our_server()
        port = await server.start("127.0.0.1:0")
        try:
            async with security.our_channel(port) as channel:
                await run_case(case, channel)
        finally:
            await server.stop(0)
    run(main)


@pytest.mark.parametrize("case, kind", cells("test_our_client_grpcio_server"))
def test_our_client_grpcio_server(case, kind, security):
    async def main():
        server, port = await grpcio_peer.start_server(security.grpcio_server_credentials())
        try:
            async with security.our_channel(port) as channel:
                await run_case(case, channel)
        finally:
            await server.stop(None)
    run(main)


@pytest.mark.parametrize("case, kind", cells("test_grpcio_client_our_server"))
def test_grpcio_client_our_server(case, kind, security):
    async def main():
        server = security.our_server()
        port = await server.start("127.0.0.1:0")
        try:
            await grpcio_peer.run_client_case(case, f"127.0.0.1:{port}", **security.grpcio_channel())
        finally:
            await server.stop(0)
    run(main)


def test_the_grpcio_client_knows_every_case():
    """The matrix's third column runs the same cases as the first two, but those
    grpcio cannot express."""
    missing = [case for case in CASES
               if case not in grpcio_peer.CLIENT_CANNOT and not hasattr(grpcio_peer.Client, case)]
    assert missing == []


def test_every_case_is_in_every_column_but_those_left_out():
    for test, left_out in LEFT_OUT.items():
        assert set(left_out) <= set(CASES), test
    assert len(cells("test_our_client_our_server")) == 2 * len(CASES)
