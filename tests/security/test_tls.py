"""TLS (one way) against grpcio, both directions: RFC 9113 §3.2 and §9.2, RFC 7301 (ALPN).

    grpcio ssl_channel_credentials  ->  our server with tls.server_context
    our tls.client_context          ->  grpcio server with ssl_server_credentials

plus the server name override, a CA given as a file or in memory, the
failures a client must report (an unknown CA, a name the certificate does not
hold), and the refusal of a TLS peer that does not choose "h2" by ALPN.
"""

from __future__ import annotations

import asyncio
import ssl

import grpc
import pytest

import rpc
from transport import ProtocolError, tls

pytestmark = pytest.mark.timeout(20)


# --- a grpcio client, our server ----------------------------------------------------------------


async def test_grpcio_client_calls_our_tls_server(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl()) as server:
        credentials = calls.grpcio_credentials(pki)
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            assert await calls.grpcio_add(channel) == ""
        [seen] = server.seen
        assert seen.identity == {"transport_security_type": "ssl", "alpn": "h2"}  # no client cert


async def test_grpcio_client_with_a_server_name_override(servers, calls, pki):
    """grpc.ssl_target_name_override: connect to 127.0.0.1, check the certificate for another name."""
    async with servers.ours(ssl=servers.ssl("named")) as server:
        credentials = calls.grpcio_credentials(pki)
        options = [("grpc.ssl_target_name_override", calls.OVERRIDE_NAME)]
        async with grpc.aio.secure_channel(server.loopback, credentials, options) as channel:
            assert await calls.grpcio_add(channel) == ""


async def test_grpcio_client_refuses_our_server_with_an_unknown_ca(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl()) as server:
        credentials = calls.grpcio_credentials(pki, ca=pki.other_ca_pem)
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            code, _ = await calls.grpcio_failure(calls.grpcio_add(channel))
        assert code == grpc.StatusCode.UNAVAILABLE


# --- our client, a grpcio server ----------------------------------------------------------------


async def test_our_client_calls_a_grpcio_tls_server(servers, calls, pki):
    async with servers.grpcio(credentials=servers.grpcio_credentials()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca)) as channel:
            assert await calls.our_add(channel) == "grpcio"
        [seen] = server.seen
        assert seen.identity["transport_security_type"] == [b"ssl"]


async def test_our_client_trusts_a_ca_given_in_memory(servers, calls, pki):
    context = tls.client_context(ca_data=pki.ca_pem.decode("ascii"))
    async with servers.grpcio(credentials=servers.grpcio_credentials()) as server:
        async with rpc.Channel(server.loopback, ssl=context) as channel:
            assert await calls.our_add(channel) == "grpcio"


async def test_our_client_with_a_server_name_override(servers, calls, pki):
    async with servers.grpcio(credentials=servers.grpcio_credentials("named")) as server:
        context = tls.client_context(ca=pki.ca)
        async with rpc.Channel(server.loopback, ssl=context,
                               server_hostname=calls.OVERRIDE_NAME) as channel:
            assert await calls.our_add(channel) == "grpcio"


@pytest.mark.parametrize("why, context, hostname, says", [
    ("unknown CA", lambda pki: tls.client_context(ca=pki.other_ca), None,
     "certificate verify failed"),
    ("system CAs", lambda pki: tls.client_context(), None, "certificate verify failed"),
    ("wrong name", lambda pki: tls.client_context(ca=pki.ca), "elsewhere.test.example",
     "Hostname mismatch"),
], ids=["unknown-ca", "system-cas-only", "wrong-name"])
async def test_our_client_refuses_a_server_it_cannot_verify(servers, calls, pki, why, context,
                                                             hostname, says):
    async with servers.grpcio(credentials=servers.grpcio_credentials()) as server:
        async with rpc.Channel(server.loopback, ssl=context(pki), server_hostname=hostname) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
    assert error.value.code() == rpc.StatusCode.UNAVAILABLE
    assert says in error.value.details()


# --- ours on both ends, and what check_hostname=False means ---------------------------------------


async def test_our_client_calls_our_tls_server(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca)) as channel:
            assert await calls.our_add(channel) == ""


async def test_check_hostname_false_still_checks_the_ca(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl("named")) as server:
        lax = tls.client_context(ca=pki.ca, check_hostname=False)
        async with rpc.Channel(server.loopback, ssl=lax) as channel:
            assert await calls.our_add(channel) == ""
        untrusted = tls.client_context(ca=pki.other_ca, check_hostname=False)
        async with rpc.Channel(server.loopback, ssl=untrusted) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
        assert error.value.code() == rpc.StatusCode.UNAVAILABLE


def test_contexts_offer_h2_and_nothing_older_than_tls_1_2(pki):
    for context in (tls.server_context(pki.server.certificate, pki.server.private_key),
                    tls.client_context(ca=pki.ca)):
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2       # RFC 9113 §9.2
        assert context.options & ssl.OP_NO_COMPRESSION                # RFC 9113 §9.2.1


# --- ALPN: a TLS peer that does not choose "h2" is not a gRPC peer ----------------------------------


async def plain_tls_server(pki, alpn: list[str] | None):
    """An HTTPS server of the old kind: TLS, ALPN ``alpn`` (or none), never a byte of HTTP/2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.certificate, pki.server.private_key)
    if alpn is not None:
        context.set_alpn_protocols(alpn)

    async def answer(reader, writer):
        await reader.read(1)
        writer.close()
    return await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)


@pytest.mark.parametrize("alpn", [["http/1.1"], None], ids=["http1.1-only", "no-alpn"])
async def test_our_client_refuses_a_server_without_h2(pki, calls, alpn):
    """We offer only "h2"; a server that cannot take it agrees on nothing (RFC 7301 §3.2
    lets it go on without ALPN), and the client refuses the connection."""
    server = await plain_tls_server(pki, alpn)
    port = server.sockets[0].getsockname()[1]
    try:
        async with rpc.Channel(f"localhost:{port}", ssl=tls.client_context(ca=pki.ca)) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
    finally:
        server.close()
        await server.wait_closed()
    assert error.value.code() == rpc.StatusCode.UNAVAILABLE
    assert "ALPN chose None, gRPC needs 'h2'" in error.value.details()


@pytest.mark.parametrize("alpn", [["http/1.1"], None], ids=["http1.1-only", "no-alpn"])
async def test_our_server_closes_a_tls_client_without_h2_and_serves_on(servers, calls, pki, alpn):
    async with servers.ours(ssl=servers.ssl()) as server:
        context = ssl.create_default_context(cafile=pki.ca)
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        reader, writer = await asyncio.open_connection("localhost", server.port, ssl=context)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() is None
        assert await asyncio.wait_for(reader.read(), calls.timeout) == b""   # closed, no SETTINGS
        writer.close()
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca)) as channel:
            assert await calls.our_add(channel) == ""


def test_check_alpn_names_what_was_chosen():
    class Negotiated:
        def __init__(self, protocol):
            self.protocol = protocol

        def selected_alpn_protocol(self):
            return self.protocol

    tls.check_alpn(None)                       # plaintext: nothing to check
    tls.check_alpn(Negotiated("h2"))
    with pytest.raises(ProtocolError) as error:
        tls.check_alpn(Negotiated("http/1.1"))
    assert error.value.status == rpc.StatusCode.UNAVAILABLE
