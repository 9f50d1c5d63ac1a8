"""Our call credentials against a grpcio server that checks them, over TLS.

Each credential is request metadata (https://grpc.io/docs/guides/auth/):

    BasicAuth        authorization: Basic base64(user:password)       RFC 7617
    BearerToken      authorization: Bearer <token>, renewed by a hook  RFC 6750
    JWTCredentials   authorization: Bearer <JWT>, audience the
                     service URL, signed HS256 or RS256                RFC 7519

The grpcio side is a grpc.aio server interceptor written here: it decodes
Basic itself and verifies JWTs with PyJWT, as a server of any language would.
A channel refuses to send credentials in clear text unless told it may, and a
credential that cannot produce its metadata fails the call UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import base64
import time

import grpc
import grpc.aio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import rpc
from rpc.credentials import REFRESH_MARGIN_SECONDS, service_url
from transport import tls

pytestmark = pytest.mark.timeout(20)

HS256_KEY = "a shared secret for HS256, long enough for RFC 7518 §3.2"
USERS = {"admin": "s3cret"}
TOKENS = {"opaque-token"}


class Gatekeeper(grpc.aio.ServerInterceptor):
    """grpcio's side: lets a call through only with credentials it can check."""

    def __init__(self, *, rsa_public_key: bytes | None = None) -> None:
        self.rsa_public_key = rsa_public_key
        self.audience: str | None = None        # the service URL, once the port is known
        self.seen: list[str | None] = []
        self.claims: list[dict] = []

    async def intercept_service(self, continuation, handler_call_details):
        values = [value for key, value in handler_call_details.invocation_metadata
                  if key == "authorization"]
        self.seen.append(values[0] if values else None)
        problem = self.check(values)
        if problem is None:
            return await continuation(handler_call_details)
        return grpc.unary_unary_rpc_method_handler(_refuse(problem))

    def check(self, values: list[str]) -> str | None:
        if len(values) != 1:
            return f"{len(values)} authorization values"
        scheme, _, credentials = values[0].partition(" ")
        if scheme == "Basic":
            user, _, password = base64.b64decode(credentials).decode().partition(":")
            return None if USERS.get(user) == password else "wrong password"
        if scheme == "Bearer" and credentials in TOKENS:
            return None
        if scheme == "Bearer":
            return self.check_jwt(credentials)
        return f"scheme {scheme}"

    def check_jwt(self, token: str) -> str | None:
        algorithm = jwt.get_unverified_header(token)["alg"]
        key = self.rsa_public_key if algorithm == "RS256" else HS256_KEY
        try:
            self.claims.append(jwt.decode(token, key, algorithms=[algorithm],
                                          audience=self.audience, issuer="our-client"))
        except jwt.PyJWTError as error:
            return f"invalid JWT: {error}"
        return None


def _refuse(problem: str):
    async def refuse(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)
    return refuse


async def call_with(servers, calls, pki, credentials, *, gatekeeper=None, times=1):
    """Make ``times`` addProduct calls on one channel with ``credentials``; the gatekeeper."""
    gatekeeper = gatekeeper or Gatekeeper()
    async with servers.grpcio(credentials=servers.grpcio_credentials(),
                              interceptors=[gatekeeper]) as server:
        gatekeeper.audience = f"https://{server.localhost}/ecommerce.ProductInfo"
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                               credentials=credentials) as channel:
            for _ in range(times):
                assert await calls.our_add(channel) == "grpcio"
    return gatekeeper


# --- each kind of credential ------------------------------------------------------------------


async def test_basic_auth(servers, calls, pki):
    gatekeeper = await call_with(servers, calls, pki, [rpc.BasicAuth("admin", "s3cret")])
    assert gatekeeper.seen == ["Basic YWRtaW46czNjcmV0"]       # base64("admin:s3cret")


async def test_basic_auth_with_a_wrong_password_is_refused(servers, calls, pki):
    with pytest.raises(rpc.RpcError) as error:
        await call_with(servers, calls, pki, [rpc.BasicAuth("admin", "guess")])
    assert error.value.code() == rpc.StatusCode.UNAUTHENTICATED
    assert error.value.details() == "wrong password"


async def test_a_fixed_bearer_token(servers, calls, pki):
    gatekeeper = await call_with(servers, calls, pki, [rpc.BearerToken("opaque-token")], times=2)
    assert gatekeeper.seen == ["Bearer opaque-token"] * 2


@pytest.mark.parametrize("kind", ["plain", "async"])
async def test_a_bearer_token_is_renewed_once_it_expires(servers, calls, pki, kind):
    """The hook runs on first use, and again only when the token it gave is about
    to expire (REFRESH_MARGIN_SECONDS early): here, a quarter second after issue."""
    issued = []
    lifetime = REFRESH_MARGIN_SECONDS + 0.25

    def fetch():
        issued.append(f"token-{len(issued) + 1}")
        TOKENS.add(issued[-1])
        return issued[-1], time.time() + lifetime

    async def fetch_async():
        return fetch()

    credentials = rpc.BearerToken(refresh=fetch if kind == "plain" else fetch_async)
    gatekeeper = Gatekeeper()
    try:
        async with servers.grpcio(credentials=servers.grpcio_credentials(),
                                  interceptors=[gatekeeper]) as server:
            async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                                   credentials=[credentials]) as channel:
                await calls.our_add(channel)
                await calls.our_add(channel)
                await asyncio.sleep(0.3)
                await calls.our_add(channel)
    finally:
        TOKENS.difference_update(issued)
    assert issued == ["token-1", "token-2"]
    assert gatekeeper.seen == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


async def test_jwt_hs256(servers, calls, pki):
    credentials = rpc.JWTCredentials(HS256_KEY, issuer="our-client", subject="alice",
                                     claims={"roles": ["reader"]})
    gatekeeper = await call_with(servers, calls, pki, [credentials], times=2)
    [claims, again] = gatekeeper.claims
    assert claims == again                                  # signed once, reused
    assert claims["sub"] == "alice" and claims["roles"] == ["reader"]
    assert claims["aud"] == gatekeeper.audience             # the service URL, by default
    assert claims["exp"] - claims["iat"] == 3600


async def test_jwt_rs256(servers, calls, pki):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    credentials = rpc.JWTCredentials(private_pem, algorithm="RS256", issuer="our-client",
                                     subject="svc-1")
    gatekeeper = await call_with(servers, calls, pki, [credentials],
                                 gatekeeper=Gatekeeper(rsa_public_key=public_pem))
    assert jwt.get_unverified_header(gatekeeper.seen[0].split()[1])["alg"] == "RS256"
    assert gatekeeper.claims[0]["sub"] == "svc-1"


async def test_jwt_for_another_audience_is_refused(servers, calls, pki):
    credentials = rpc.JWTCredentials(HS256_KEY, issuer="our-client", audience="https://elsewhere/")
    with pytest.raises(rpc.RpcError) as error:
        await call_with(servers, calls, pki, [credentials])
    assert error.value.code() == rpc.StatusCode.UNAUTHENTICATED
    assert error.value.details() == "invalid JWT: Audience doesn't match"


async def test_metadata_credentials_see_what_grpcio_plugins_see(servers, calls, pki):
    """Our plugin's service URL and grpcio's, for the same call: the same."""
    ours, theirs = [], []

    def our_plugin(context):
        ours.append(context.service_url)
        return [("x-api-key", "k-1")]

    def their_plugin(context, callback):
        theirs.append(context.service_url)
        callback((), None)

    async with servers.ours(ssl=servers.ssl()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                               credentials=[rpc.MetadataCredentials(our_plugin)]) as channel:
            await calls.our_add(channel)
        credentials = grpc.composite_channel_credentials(
            calls.grpcio_credentials(pki), grpc.metadata_call_credentials(their_plugin))
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            await calls.grpcio_add(channel)
    assert ours == theirs == [f"https://localhost:{server.port}/ecommerce.ProductInfo"]


@pytest.mark.parametrize("scheme, authority, url", [
    ("https", "example.com:443", "https://example.com/pkg.Svc"),    # gRPC leaves out :443
    ("https", "example.com:8443", "https://example.com:8443/pkg.Svc"),
    ("http", "example.com:443", "http://example.com:443/pkg.Svc"),
    ("https", "[::1]:443", "https://[::1]/pkg.Svc"),
])
def test_service_url(scheme, authority, url):
    assert service_url(scheme, authority, "/pkg.Svc/Method") == url


# --- several credentials, and credentials that fail ----------------------------------------


async def test_credentials_add_up_in_order(servers, calls, pki):
    extra = rpc.MetadataCredentials(lambda context: [("x-request-origin", "tests")])
    async with servers.ours(ssl=servers.ssl()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                               credentials=[rpc.BearerToken("t-1"), extra]) as channel:
            await calls.our_add(channel, metadata=[("x-mine", "1")])
        [seen] = server.seen
    assert [pair for pair in seen.metadata if pair[0].startswith(("x-", "authorization"))] == [
        ("x-mine", "1"), ("authorization", "Bearer t-1"), ("x-request-origin", "tests")]


@pytest.mark.parametrize("kind", ["plain", "async"])
async def test_a_plugin_that_raises_fails_the_call_unauthenticated(servers, calls, pki, kind):
    def broken(context):
        raise RuntimeError("the token service is down")

    async def broken_async(context):
        broken(context)

    plugin = rpc.MetadataCredentials(broken if kind == "plain" else broken_async)
    async with servers.ours(ssl=servers.ssl()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                               credentials=[plugin]) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
        assert server.seen == []                     # the call never left
    assert error.value.code() == rpc.StatusCode.UNAUTHENTICATED
    assert "the token service is down" in error.value.details()


async def test_a_refresh_hook_that_raises_fails_the_call_unauthenticated(servers, calls, pki):
    def down():
        raise ConnectionError("no token today")

    async with servers.ours(ssl=servers.ssl()) as server:
        async with rpc.Channel(server.localhost, ssl=tls.client_context(ca=pki.ca),
                               credentials=[rpc.BearerToken(refresh=down)]) as channel:
            with pytest.raises(rpc.RpcError) as error:
                await calls.our_add(channel)
    assert error.value.code() == rpc.StatusCode.UNAUTHENTICATED


# --- plaintext ----------------------------------------------------------------------------


def test_credentials_on_a_plaintext_channel_are_refused():
    with pytest.raises(ValueError, match="plaintext"):
        rpc.Channel("127.0.0.1:1", credentials=[rpc.BearerToken("t")])


async def test_plaintext_credentials_when_allowed(servers, calls):
    gatekeeper = Gatekeeper()
    async with servers.grpcio(interceptors=[gatekeeper]) as server:
        async with rpc.Channel(server.loopback, credentials=[rpc.BasicAuth("admin", "s3cret")],
                               allow_insecure_credentials=True) as channel:
            assert await calls.our_add(channel) == "grpcio"
    assert gatekeeper.seen == ["Basic YWRtaW46czNjcmV0"]


# --- the credential classes on their own -----------------------------------------------------


def test_basic_auth_refuses_a_colon_in_the_user_name():
    with pytest.raises(ValueError, match="RFC 7617"):
        rpc.BasicAuth("a:b", "c")


@pytest.mark.parametrize("arguments", [{}, {"token": "t", "refresh": lambda: ("t", None)}])
def test_a_bearer_token_is_a_token_or_a_hook(arguments):
    with pytest.raises(ValueError):
        rpc.BearerToken(**arguments)


def test_jwt_audience_is_the_service_url_unless_given():
    signed = rpc.JWTCredentials(HS256_KEY).token_for("https://a.example/pkg.Svc")
    assert jwt.decode(signed, HS256_KEY, algorithms=["HS256"],
                      audience="https://a.example/pkg.Svc")["aud"] == "https://a.example/pkg.Svc"
    fixed = rpc.JWTCredentials(HS256_KEY, audience="api").token_for("https://a.example/pkg.Svc")
    assert jwt.decode(fixed, HS256_KEY, algorithms=["HS256"], audience="api")["aud"] == "api"

