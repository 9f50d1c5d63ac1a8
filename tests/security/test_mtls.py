"""Mutual TLS against grpcio, both directions, and what the server learns from it.

RFC 8446 §4.3.2 (CertificateRequest) and §4.4.2: with a client CA, the server
asks for a certificate and refuses a handshake without one it can verify. The
refused client fails (UNAVAILABLE) and the server goes on serving the others.
``context.auth_context()`` then shows the verified client's identity, under
the names grpcio's auth context uses.
"""

from __future__ import annotations

import grpc
import pytest

import rpc
from transport import tls

pytestmark = pytest.mark.timeout(20)

CLIENTS = ["with-our-ca", "without-certificate", "from-another-ca"]


def our_client_context(pki, who: str):
    identity = {"with-our-ca": pki.client, "from-another-ca": pki.intruder}.get(who)
    if identity is None:
        return tls.client_context(ca=pki.ca)
    return tls.client_context(ca=pki.ca, certificate=identity.certificate,
                              private_key=identity.private_key)


def grpcio_client_credentials(pki, calls, who: str):
    identity = {"with-our-ca": "client", "from-another-ca": "intruder"}.get(who)
    return calls.grpcio_credentials(pki, identity)


# --- grpcio clients, our server ------------------------------------------------------------------


async def test_our_mtls_server_accepts_grpcio_with_a_certificate_of_our_ca(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl(mutual=True)) as server:
        credentials = grpcio_client_credentials(pki, calls, "with-our-ca")
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            assert await calls.grpcio_get(channel) == calls.CLIENT_NAME


@pytest.mark.parametrize("who", CLIENTS[1:])
async def test_our_mtls_server_refuses_grpcio_and_serves_on(servers, calls, pki, who):
    async with servers.ours(ssl=servers.ssl(mutual=True)) as server:
        refused = grpcio_client_credentials(pki, calls, who)
        async with grpc.aio.secure_channel(server.localhost, refused) as channel:
            code, _ = await calls.grpcio_failure(calls.grpcio_add(channel))
        assert code == grpc.StatusCode.UNAVAILABLE
        assert server.seen == []                    # no handler ran for it
        welcome = grpcio_client_credentials(pki, calls, "with-our-ca")
        async with grpc.aio.secure_channel(server.localhost, welcome) as channel:
            assert await calls.grpcio_get(channel) == calls.CLIENT_NAME


# --- our clients, a grpcio server ----------------------------------------------------------------


async def test_our_client_shows_its_certificate_to_a_grpcio_mtls_server(servers, calls, pki):
    async with servers.grpcio(credentials=servers.grpcio_credentials(mutual=True)) as server:
        context = our_client_context(pki, "with-our-ca")
        async with rpc.Channel(server.localhost, ssl=context) as channel:
            assert await calls.our_get(channel) == calls.CLIENT_NAME


@pytest.mark.parametrize("who", CLIENTS[1:])
async def test_a_grpcio_mtls_server_refuses_our_client(servers, calls, pki, who):
    async with servers.grpcio(credentials=servers.grpcio_credentials(mutual=True)) as server:
        async with rpc.Channel(server.localhost, ssl=our_client_context(pki, who)) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
        assert error.value.code() == rpc.StatusCode.UNAVAILABLE
        assert server.seen == []
        async with rpc.Channel(server.localhost, ssl=our_client_context(pki, "with-our-ca")) as channel:
            assert await calls.our_add(channel) == "grpcio"


# --- ours on both ends -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", CLIENTS)
async def test_our_mtls_server_and_our_client(servers, calls, pki, who):
    async with servers.ours(ssl=servers.ssl(mutual=True)) as server:
        async with rpc.Channel(server.localhost, ssl=our_client_context(pki, who)) as channel:
            if who == "with-our-ca":
                assert await calls.our_get(channel) == calls.CLIENT_NAME
                return
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
        assert error.value.code() == rpc.StatusCode.UNAVAILABLE
        # With TLS 1.3 the client's handshake is over before the server has
        # checked its certificate: the refusal arrives as the connection closing.
        assert "did it want a client certificate" in error.value.details()


async def test_a_client_certificate_is_optional_when_the_server_says_so(servers, calls, pki):
    context = tls.server_context(pki.server.certificate, pki.server.private_key,
                                 client_ca=pki.ca, require_client_certificate=False)
    async with servers.ours(ssl=context) as server:
        for who, name in (("without-certificate", ""), ("with-our-ca", calls.CLIENT_NAME)):
            async with rpc.Channel(server.localhost, ssl=our_client_context(pki, who)) as channel:
                assert await calls.our_get(channel) == name


# --- context.auth_context() ------------------------------------------------------------------------


async def test_auth_context_shows_the_client_certificate(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl(mutual=True)) as server:
        credentials = grpcio_client_credentials(pki, calls, "with-our-ca")
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            await calls.grpcio_get(channel)
        [seen] = server.seen
    assert seen.identity == {
        "transport_security_type": "ssl",
        "alpn": "h2",
        "x509_common_name": [calls.CLIENT_NAME],
        "x509_subject_alternative_name": [calls.CLIENT_SAN],
        "x509_pem_cert": pki.client.certificate_pem.decode("ascii"),
    }


async def test_auth_context_names_the_peer_as_grpcio_does(servers, calls, pki):
    """The same client certificate, seen by both servers: the same names."""
    context = our_client_context(pki, "with-our-ca")
    async with servers.grpcio(credentials=servers.grpcio_credentials(mutual=True)) as theirs:
        async with rpc.Channel(theirs.localhost, ssl=context) as channel:
            await calls.our_get(channel)
    async with servers.ours(ssl=servers.ssl(mutual=True)) as ours:
        async with rpc.Channel(ours.localhost, ssl=context) as channel:
            await calls.our_get(channel)
    [grpcio_seen], [our_seen] = theirs.seen, ours.seen
    for key in ("transport_security_type", "x509_common_name", "x509_subject_alternative_name"):
        expected = [value.decode() for value in grpcio_seen.identity[key]]
        assert ([our_seen.identity[key]] if isinstance(our_seen.identity[key], str)
                else our_seen.identity[key]) == expected, key
    assert our_seen.identity["x509_pem_cert"].encode() == grpcio_seen.identity["x509_pem_cert"][0]


async def test_auth_context_without_tls_is_empty(servers, calls):
    async with servers.ours() as server:
        async with rpc.Channel(server.loopback) as channel:
            await calls.our_get(channel)
        [seen] = server.seen
    assert seen.identity == {}
