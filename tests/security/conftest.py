"""Fixtures for the security tests: a test PKI, and one service on both implementations.

The PKI is made afresh by trustme for each test session (the project ships no
keys): a CA, a server certificate for "localhost" and 127.0.0.1, a second
one that names only "products.test.example" (for the server name override),
a client certificate from the same CA, and an intruder's client certificate
from another CA. ``pki`` has their files and bytes.

The service is ecommerce.ProductInfo, answered by ``Who``: each call records
what the server learnt about its caller (the ``authorization`` value, the TLS
identity, the principal), so a test can look at it from the client's side.
Our server serves it as a servicer; grpcio's serves it through a generic
handler, with our message classes as (de)serializers.

    async with servers.ours(ssl=...) as server:        server.port, server.seen
    async with servers.grpcio(credentials=...) as server:

Async tests need no plugin (tests/conftest.py runs them).
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme

import rpc
from services.health import HealthServicer
from services.productinfo import ecommerce
from transport import tls

CALL_TIMEOUT = 5.0
OVERRIDE_NAME = "products.test.example"     # the name only the "named" server certificate holds
CLIENT_NAME = "client-1"                    # the client certificate's common name
CLIENT_SAN = "client-1.test.example"        # ... and its subject alternative name
ADD = "/ecommerce.ProductInfo/addProduct"
GET = "/ecommerce.ProductInfo/getProduct"


# --- the test PKI -----------------------------------------------------------------------------


@dataclass
class Identity:
    """A certificate and its key, as files and as bytes."""

    certificate: str
    private_key: str
    certificate_pem: bytes
    private_key_pem: bytes


def _identity(directory, name: str, leaf: trustme.LeafCert) -> Identity:
    certificate, key = directory / f"{name}.pem", directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(certificate))
    leaf.private_key_pem.write_to_path(str(key))
    return Identity(str(certificate), str(key), leaf.cert_chain_pems[0].bytes(),
                    leaf.private_key_pem.bytes())


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(directory / "other-ca.pem"))
    return SimpleNamespace(
        ca=str(directory / "ca.pem"),
        ca_pem=ca.cert_pem.bytes(),
        other_ca=str(directory / "other-ca.pem"),
        other_ca_pem=other_ca.cert_pem.bytes(),
        server=_identity(directory, "server", ca.issue_cert("localhost", "127.0.0.1")),
        named=_identity(directory, "named", ca.issue_cert(OVERRIDE_NAME)),
        client=_identity(directory, "client", ca.issue_cert(CLIENT_SAN, common_name=CLIENT_NAME)),
        intruder=_identity(directory, "intruder", other_ca.issue_cert("intruder.test.example",
                                                                       common_name="intruder")),
    )


# --- the service, on both implementations -------------------------------------------------------


@dataclass
class Seen:
    """What a server learnt about one call's caller."""

    method: str
    metadata: list
    identity: dict = field(default_factory=dict)      # ours: context.auth_context()
    principal: Any = None

    @property
    def authorization(self) -> str | None:
        values = [value for key, value in self.metadata if key == "authorization"]
        return values[0] if values else None


class Who(ecommerce.ProductInfoServicer):
    """addProduct answers the caller's principal name; getProduct its certificate's CN."""

    def __init__(self, seen: list[Seen]) -> None:
        self.seen = seen

    def _record(self, context, method: str) -> Seen:
        seen = Seen(method, list(context.invocation_metadata()), context.auth_context(),
                    context.principal)
        self.seen.append(seen)
        return seen

    async def addProduct(self, request, context):
        seen = self._record(context, ADD)
        return ecommerce.ProductID(value=seen.principal.name if seen.principal else "")

    async def getProduct(self, request, context):
        seen = self._record(context, GET)
        return ecommerce.Product(name=",".join(seen.identity.get("x509_common_name", ())))


def grpcio_handlers(seen: list[Seen]) -> grpc.GenericRpcHandler:
    """The same service for a grpc.aio server; the identity is grpcio's auth_context()."""
    def record(context, method):
        seen.append(Seen(method, list(context.invocation_metadata()), context.auth_context()))

    async def add(request, context):
        record(context, ADD)
        return ecommerce.ProductID(value="grpcio")

    async def get(request, context):
        record(context, GET)
        names = context.auth_context().get("x509_common_name", ())
        return ecommerce.Product(name=",".join(name.decode() for name in names))

    return grpc.method_handlers_generic_handler("ecommerce.ProductInfo", {
        "addProduct": grpc.unary_unary_rpc_method_handler(
            add, request_deserializer=ecommerce.Product.decode,
            response_serializer=ecommerce.ProductID.encode),
        "getProduct": grpc.unary_unary_rpc_method_handler(
            get, request_deserializer=ecommerce.ProductID.decode,
            response_serializer=ecommerce.Product.encode),
    })


@dataclass
class Running:
    port: int
    seen: list[Seen]

    @property
    def localhost(self) -> str:
        return f"localhost:{self.port}"

    @property
    def loopback(self) -> str:
        return f"127.0.0.1:{self.port}"


class Servers:
    """Starts a ProductInfo server on either implementation, on 127.0.0.1 port 0."""

    def __init__(self, pki) -> None:
        self.pki = pki

    def ssl(self, identity: str = "server", *, mutual: bool = False):
        """Our server's SSL context; ``mutual`` asks clients for a certificate of our CA."""
        chosen = getattr(self.pki, identity)
        return tls.server_context(chosen.certificate, chosen.private_key,
                                  client_ca=self.pki.ca if mutual else None)

    def grpcio_credentials(self, identity: str = "server", *, mutual: bool = False):
        chosen = getattr(self.pki, identity)
        return grpc.ssl_server_credentials(
            [(chosen.private_key_pem, chosen.certificate_pem)],
            root_certificates=self.pki.ca_pem if mutual else None, require_client_auth=mutual)

    @contextlib.asynccontextmanager
    async def ours(self, *, ssl=None, interceptors=()):
        seen: list[Seen] = []
        server = rpc.Server(ssl=ssl, interceptors=list(interceptors))
        server.add_service(Who(seen))
        server.add_service(HealthServicer())
        port = await server.start("127.0.0.1:0")
        try:
            yield Running(port, seen)
        finally:
            # A failed grpc.aio call sits in a reference cycle (its error's
            # traceback) that keeps its connection open, even after its channel
            # is closed, until the cycle collector runs; then stop() would wait
            # out the GOAWAY PING on a connection nobody reads.
            gc.collect()
            await server.stop(0)

    @contextlib.asynccontextmanager
    async def grpcio(self, *, credentials=None, interceptors=()):
        seen: list[Seen] = []
        server = grpc.aio.server(interceptors=list(interceptors))
        server.add_generic_rpc_handlers((grpcio_handlers(seen),))
        if credentials is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        try:
            yield Running(port, seen)
        finally:
            await server.stop(None)


@pytest.fixture
def servers(pki) -> Servers:
    return Servers(pki)


# --- clients ------------------------------------------------------------------------------------


def grpcio_client_credentials(pki, identity: str | None = None, *, ca: bytes | None = None):
    """grpcio's ssl_channel_credentials trusting our CA, showing ``identity``'s certificate."""
    chosen = getattr(pki, identity) if identity else None
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca_pem if ca is None else ca,
        private_key=chosen.private_key_pem if chosen else None,
        certificate_chain=chosen.certificate_pem if chosen else None)


async def grpcio_add(channel: grpc.aio.Channel, **call_options) -> str:
    """addProduct on a grpcio channel, with our message classes; the ProductID's value."""
    method = channel.unary_unary(ADD, request_serializer=ecommerce.Product.encode,
                                 response_deserializer=ecommerce.ProductID.decode)
    response = await method(ecommerce.Product(name="widget"), timeout=CALL_TIMEOUT, **call_options)
    return response.value


async def grpcio_get(channel: grpc.aio.Channel, **call_options) -> str:
    method = channel.unary_unary(GET, request_serializer=ecommerce.ProductID.encode,
                                 response_deserializer=ecommerce.Product.decode)
    response = await method(ecommerce.ProductID(value="1"), timeout=CALL_TIMEOUT, **call_options)
    return response.name


async def grpcio_failure(awaitable) -> tuple[grpc.StatusCode, str]:
    """The status of a grpcio call that must fail, as plain values: holding the
    AioRpcError would hold its connection open (see Servers.ours)."""
    try:
        await awaitable
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded")


async def our_add(channel: rpc.Channel, **call_options) -> str:
    stub = ecommerce.ProductInfoStub(channel)
    response = await stub.addProduct(ecommerce.Product(name="widget"), timeout=CALL_TIMEOUT,
                                     **call_options)
    return response.value


async def our_get(channel: rpc.Channel) -> str:
    stub = ecommerce.ProductInfoStub(channel)
    response = await stub.getProduct(ecommerce.ProductID(value="1"), timeout=CALL_TIMEOUT)
    return response.name


@pytest.fixture(scope="session")
def calls():
    """The client helpers (test files cannot import each other or this conftest)."""
    return SimpleNamespace(
        grpcio_credentials=grpcio_client_credentials, grpcio_add=grpcio_add,
        grpcio_get=grpcio_get, grpcio_failure=grpcio_failure, our_add=our_add, our_get=our_get, timeout=CALL_TIMEOUT,
        ADD=ADD, GET=GET, OVERRIDE_NAME=OVERRIDE_NAME, CLIENT_NAME=CLIENT_NAME,
        CLIENT_SAN=CLIENT_SAN)
