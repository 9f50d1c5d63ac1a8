"""Call credentials: what a client adds to each call to say who it is.

Specs: RFC 7617 (HTTP Basic: "authorization: Basic base64(user:password)"),
RFC 6750 (OAuth 2.0 bearer tokens: "authorization: Bearer <token>"), RFC 7519
(JSON Web Tokens, sent as bearer tokens), and gRPC's call credentials, which
travel as ordinary request metadata
(https://grpc.io/docs/guides/auth/#credential-types).

    channel = rpc.Channel(target, ssl=tls.client_context(ca="ca.pem"),
                          credentials=[rpc.BearerToken(refresh=fetch_token)])

Credentials are secrets: a channel refuses to send them in clear text unless
told ``allow_insecure_credentials=True`` (tests on loopback, say).
JWTs are signed with PyJWT (HS256 or RS256), never by hand.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence

__all__ = [
    "CallCredentials",
    "AuthContext",
    "BasicAuth",
    "BearerToken",
    "JWTCredentials",
    "MetadataCredentials",
    "AUTHORIZATION",
    "service_url",
]

AUTHORIZATION = "authorization"            # RFC 9110 §11.6.2, lower-case in HTTP/2
REFRESH_MARGIN_SECONDS = 30.0              # renew a token this long before it expires
DEFAULT_JWT_LIFETIME_SECONDS = 3600.0


@dataclass(frozen=True)
class AuthContext:
    """What credentials may want to know about the call they are for."""

    method: str          # "/package.Service/Method"
    service_url: str     # "https://authority/package.Service": the JWT audience gRPC uses


HTTPS_DEFAULT_PORT = ":443"                # left out of service URLs, as gRPC does


def service_url(scheme: str, authority: str, method: str) -> str:
    """The URL credentials are for: "https://authority/package.Service".

    gRPC builds it so (and uses it as the default JWT audience): the scheme,
    the call's :authority without a default ":443", and the method's path
    up to its last "/".
    """
    if scheme == "https" and authority.endswith(HTTPS_DEFAULT_PORT):
        authority = authority[: -len(HTTPS_DEFAULT_PORT)]
    return f"{scheme}://{authority}{method.rsplit('/', 1)[0]}"


class CallCredentials:
    """Base class: ``metadata(context)`` gives the pairs to add to one call."""

    async def metadata(self, context: AuthContext) -> Sequence[tuple[str, str]]:
        raise NotImplementedError


class BasicAuth(CallCredentials):
    """HTTP Basic authentication (RFC 7617)."""

    def __init__(self, username: str, password: str) -> None:
        if ":" in username:
            raise ValueError("RFC 7617: a user-id must not contain ':'")
        token = base64.b64encode(f"{username}:{password}".encode("utf-8")).decode("ascii")
        self._value = f"Basic {token}"

    async def metadata(self, context: AuthContext) -> Sequence[tuple[str, str]]:
        return [(AUTHORIZATION, self._value)]


TokenSource = Callable[[], "tuple[str, float | None] | Awaitable[tuple[str, float | None]]"]


class BearerToken(CallCredentials):
    """An OAuth 2.0 access token (RFC 6750), fixed or fetched by a refresh hook.

    ``refresh()`` (plain or async) returns ``(token, expires_at)`` with
    ``expires_at`` in ``time.time()`` seconds (or None for "does not expire");
    it is called on first use and again shortly before the token expires.
    """

    def __init__(self, token: str | None = None, *, refresh: TokenSource | None = None) -> None:
        if (token is None) == (refresh is None):
            raise ValueError("give a token or a refresh hook (one of them)")
        self._token = token
        self._expires_at: float | None = None
        self._refresh = refresh
        self._lock: asyncio.Lock | None = None

    async def metadata(self, context: AuthContext) -> Sequence[tuple[str, str]]:
        return [(AUTHORIZATION, f"Bearer {await self.token()}")]

    async def token(self) -> str:
        if self._refresh is not None and self._stale():
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._stale():
                    await self._renew()
        return self._token

    def _stale(self) -> bool:
        if self._token is None:
            return True
        return self._expires_at is not None and time.time() >= self._expires_at - REFRESH_MARGIN_SECONDS

    async def _renew(self) -> None:
        result = self._refresh()
        if inspect.isawaitable(result):
            result = await result
        self._token, self._expires_at = result


class JWTCredentials(CallCredentials):
    """A JSON Web Token signed per call (cached until near expiry), sent as a bearer token.

    ``key`` is the shared secret for HS256 or the PEM private key for RS256.
    The audience defaults to the call's service URL, as gRPC's JWT credentials do.
    """

    def __init__(self, key: str | bytes, *, algorithm: str = "HS256", issuer: str | None = None,
                 subject: str | None = None, audience: str | None = None,
                 claims: Mapping[str, Any] | None = None,
                 lifetime: float = DEFAULT_JWT_LIFETIME_SECONDS) -> None:
        import jwt   # PyJWT: signing is cryptography, not something to write by hand
        self._jwt = jwt
        self._key = key
        self._algorithm = algorithm
        self._claims = dict(claims or {})
        for name, value in (("iss", issuer), ("sub", subject), ("aud", audience)):
            if value is not None:
                self._claims[name] = value
        self._lifetime = lifetime
        self._cache: dict[str, tuple[str, float]] = {}

    async def metadata(self, context: AuthContext) -> Sequence[tuple[str, str]]:
        return [(AUTHORIZATION, f"Bearer {self.token_for(context.service_url)}")]

    def token_for(self, audience: str) -> str:
        audience = self._claims.get("aud", audience)
        cached = self._cache.get(audience)
        now = time.time()
        if cached is not None and now < cached[1] - REFRESH_MARGIN_SECONDS:
            return cached[0]
        expires = now + self._lifetime
        claims = {"aud": audience, "iat": int(now), "exp": int(expires), **self._claims}
        token = self._jwt.encode(claims, self._key, algorithm=self._algorithm)
        self._cache[audience] = (token, expires)
        return token


class MetadataCredentials(CallCredentials):
    """Any metadata from a plugin: ``plugin(context)`` (plain or async) returns the pairs."""

    def __init__(self, plugin: Callable[[AuthContext], Any]) -> None:
        self._plugin = plugin

    async def metadata(self, context: AuthContext) -> Sequence[tuple[str, str]]:
        result = self._plugin(context)
        if inspect.isawaitable(result):
            result = await result
        return list(result)


async def gather_metadata(credentials: Sequence[CallCredentials],
                          context: AuthContext) -> tuple[tuple[str, str], ...]:
    """The metadata of every credential, in order."""
    pairs: list[tuple[str, str]] = []
    for credential in credentials:
        pairs.extend(await credential.metadata(context))
    return tuple(pairs)
