"""ProductInfo over mutual TLS, with each kind of call credential:
``python -m services.productinfo.secure_demo``.

The server asks for a client certificate (mutual TLS) and checks the
``authorization`` metadata with rpc.AuthInterceptor; the client calls once
per credential. For each call it prints what the server saw: the protocol
ALPN chose, the client certificate's name, the ``authorization`` header the
credential became, and who the interceptor decided the caller was.

The certificates come from a throwaway test CA made by trustme (a test
dependency): this project ships no keys.
"""

from __future__ import annotations

import asyncio
import pathlib
import tempfile

import rpc
from transport import tls

from . import ecommerce
from .server import ProductInfo

__all__ = ["main"]

JWT_KEY = "the demo's HS256 secret, long enough for RFC 7518"
HEADER_WIDTH = 60     # long JWTs are cut when printed


class Reporting(ProductInfo):
    """ProductInfo whose addProduct also notes what it knows about its caller."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def addProduct(self, request, context):
        identity = context.auth_context()
        authorization = dict(context.invocation_metadata())["authorization"]
        if len(authorization) > HEADER_WIDTH:
            authorization = authorization[:HEADER_WIDTH - 3] + "..."
        self.seen.append(
            f"ALPN {identity['alpn']!r}, client certificate CN={identity['x509_common_name'][0]}\n"
            f"    authorization: {authorization}\n"
            f"    caller: {context.principal.name} ({context.principal.scheme})")
        return await super().addProduct(request, context)


def make_certificates(folder: pathlib.Path) -> dict[str, str]:
    import trustme

    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    for name, leaf in (("server", authority.issue_cert("localhost")),
                       ("client", authority.issue_cert("client.example", common_name="demo-client"))):
        leaf.private_key_and_cert_chain_pem.write_to_path(str(folder / f"{name}.pem"))
    return {name: str(folder / f"{name}.pem") for name in ("ca", "server", "client")}


CREDENTIALS = {
    'BasicAuth("admin", "s3cret")': rpc.BasicAuth("admin", "s3cret"),
    'BearerToken("opaque-1")': rpc.BearerToken("opaque-1"),
    "JWTCredentials(HS256)": rpc.JWTCredentials(JWT_KEY, subject="carol"),
}


async def run(files: dict[str, str]) -> None:
    servicer = Reporting()
    server = rpc.Server(
        ssl=tls.server_context(files["server"], files["server"], client_ca=files["ca"]),
        interceptors=[rpc.AuthInterceptor(
            rpc.BasicValidator({"admin": "s3cret"}),
            rpc.JWTValidator(JWT_KEY),
            rpc.BearerValidator({"opaque-1": rpc.Principal("alice", "bearer")}))])
    server.add_service(servicer)
    port = await server.start("127.0.0.1:0")
    client_tls = tls.client_context(ca=files["ca"], certificate=files["client"])
    try:
        for name, credential in CREDENTIALS.items():
            async with rpc.Channel(f"localhost:{port}", ssl=client_tls,
                                   credentials=[credential]) as channel:
                await ecommerce.ProductInfoStub(channel).addProduct(
                    ecommerce.Product(name="demo"), timeout=5)
            print(f"{name}: {servicer.seen[-1]}")
        async with rpc.Channel(f"localhost:{port}", ssl=client_tls) as channel:
            try:
                await ecommerce.ProductInfoStub(channel).addProduct(ecommerce.Product(), timeout=5)
            except rpc.RpcError as error:
                print(f"no credentials: {error.code().name}: {error.details()}")
    finally:
        await server.stop(0)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="secure-demo-") as directory:
        asyncio.run(run(make_certificates(pathlib.Path(directory))))


if __name__ == "__main__":
    main()
