"""grpcio's call credentials against our AuthInterceptor, over TLS.

grpcio's ``access_token_call_credentials`` (RFC 6750 "Bearer"), and its
``metadata_call_credentials`` plugin sending RFC 7617 "Basic", meet one
server with per-method rules and a public service. doc/statuscodes.md:

    no credentials, or credentials that do not check out   UNAUTHENTICATED
    a caller we know, who may not call this method           PERMISSION_DENIED
"""

from __future__ import annotations

import base64
import time

import grpc
import jwt
import pytest

import rpc
from services.health import health_v1

pytestmark = pytest.mark.timeout(20)

JWT_KEY = "a shared secret for HS256, long enough for RFC 7518 §3.2"
ISSUER = "tests.security"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
UNAUTHENTICATED, PERMISSION_DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


def auth_interceptor() -> rpc.AuthInterceptor:
    return rpc.AuthInterceptor(
        rpc.BasicValidator({"admin": "s3cret", "bob": "hunter2"}, roles={"admin": ["admin"]}),
        rpc.JWTValidator(JWT_KEY, issuer=ISSUER),
        rpc.BearerValidator({"reader-token": rpc.Principal("alice", "bearer", ("reader",))}),
        rules={"/ecommerce.ProductInfo/add*": rpc.require_role("admin"),    # the longer pattern wins
               "/ecommerce.ProductInfo/*": rpc.require_role("reader", "admin")},
        public=["/grpc.health.v1.Health/*"],
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def a_jwt(key: str = JWT_KEY, **claims) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "sub": "carol", "roles": ["admin"], "iat": now,
                       "exp": now + 60, **claims}, key, algorithm="HS256")


def token(value: str):
    return grpc.access_token_call_credentials(value)


def plugin(*pairs):
    """grpcio's metadata plugin, adding ``pairs`` to each call."""
    def give(context, callback):
        callback(pairs, None)
    return grpc.metadata_call_credentials(give, name="test-plugin")


# (what grpcio sends, made at test time, method, the status or the principal our handler saw)
ROWS = [
    ("no credentials", lambda: None, "add", UNAUTHENTICATED),
    ("no credentials", lambda: None, "get", UNAUTHENTICATED),
    ("unknown token", lambda: token("who-knows"), "get", UNAUTHENTICATED),
    ("reader token", lambda: token("reader-token"), "get", "alice"),
    ("reader token, admin method", lambda: token("reader-token"), "add", PERMISSION_DENIED),
    ("basic admin", lambda: plugin(("authorization", basic("admin", "s3cret"))), "add", "admin"),
    ("basic admin", lambda: plugin(("authorization", basic("admin", "s3cret"))), "get", "admin"),
    ("basic, wrong password", lambda: plugin(("authorization", basic("admin", "guess"))), "add",
     UNAUTHENTICATED),
    ("basic, no role", lambda: plugin(("authorization", basic("bob", "hunter2"))), "get",
     PERMISSION_DENIED),
    ("basic, not base64", lambda: plugin(("authorization", "Basic !!!")), "get", UNAUTHENTICATED),
    ("unknown scheme", lambda: plugin(("authorization", "Digest username=x")), "get",
     UNAUTHENTICATED),
    ("jwt with the admin role", lambda: token(a_jwt()), "add", "carol"),
    ("jwt without roles", lambda: token(a_jwt(roles=[])), "get", PERMISSION_DENIED),
    ("jwt, wrong key", lambda: token(a_jwt(key="another secret, just as long as the first")), "get",
     UNAUTHENTICATED),
    ("jwt, expired", lambda: token(a_jwt(exp=int(time.time()) - 3600)), "get", UNAUTHENTICATED),
    ("jwt, wrong issuer", lambda: token(a_jwt(iss="elsewhere")), "get", UNAUTHENTICATED),
    ("two authorization values", lambda: grpc.composite_call_credentials(
        token("reader-token"), plugin(("authorization", basic("admin", "s3cret")))), "get",
     UNAUTHENTICATED),
]


@pytest.mark.parametrize("what, make_credentials, method, outcome", ROWS,
                         ids=[f"{row[0]}-{row[2]}" for row in ROWS])
async def test_grpcio_call_credentials_meet_our_auth_interceptor(servers, calls, pki, what,
                                                                make_credentials, method, outcome):
    credentials = make_credentials()
    async with servers.ours(ssl=servers.ssl(), interceptors=[auth_interceptor()]) as server:
        channel_credentials = calls.grpcio_credentials(pki)
        if credentials is not None:
            channel_credentials = grpc.composite_channel_credentials(channel_credentials, credentials)
        async with grpc.aio.secure_channel(server.localhost, channel_credentials) as channel:
            call = calls.grpcio_add if method == "add" else calls.grpcio_get
            if isinstance(outcome, grpc.StatusCode):
                code, details = await calls.grpcio_failure(call(channel))
                assert code == outcome, details
                assert server.seen == []                       # the handler never ran
                return
            await call(channel)
        [seen] = server.seen
        assert seen.principal.name == outcome


async def test_public_methods_need_no_credentials(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl(), interceptors=[auth_interceptor()]) as server:
        async with grpc.aio.secure_channel(server.localhost, calls.grpcio_credentials(pki)) as channel:
            check = channel.unary_unary(
                HEALTH_CHECK, request_serializer=health_v1.HealthCheckRequest.encode,
                response_deserializer=health_v1.HealthCheckResponse.decode)
            response = await check(health_v1.HealthCheckRequest(), timeout=calls.timeout)
    assert response.status == health_v1.HealthCheckResponse.ServingStatus.SERVING


async def test_the_refusal_says_why(servers, calls, pki):
    async with servers.ours(ssl=servers.ssl(), interceptors=[auth_interceptor()]) as server:
        credentials = grpc.composite_channel_credentials(calls.grpcio_credentials(pki),
                                                         token("reader-token"))
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            denied = await calls.grpcio_failure(calls.grpcio_add(channel))
        async with grpc.aio.secure_channel(server.localhost, calls.grpcio_credentials(pki)) as channel:
            missing = await calls.grpcio_failure(calls.grpcio_add(channel))
    assert denied == (PERMISSION_DENIED, f"alice may not call {calls.ADD}")
    assert missing == (UNAUTHENTICATED, "missing credentials (no authorization metadata)")


async def test_the_principal_and_the_certificate_together(servers, calls, pki):
    """Mutual TLS and a token on one call: auth_context() has both."""
    ssl = servers.ssl(mutual=True)
    async with servers.ours(ssl=ssl, interceptors=[auth_interceptor()]) as server:
        credentials = grpc.composite_channel_credentials(
            calls.grpcio_credentials(pki, "client"), token("reader-token"))
        async with grpc.aio.secure_channel(server.localhost, credentials) as channel:
            assert await calls.grpcio_get(channel) == calls.CLIENT_NAME
        [seen] = server.seen
    assert seen.identity["principal"] == rpc.Principal("alice", "bearer", ("reader",))
    assert seen.identity["x509_common_name"] == [calls.CLIENT_NAME]

