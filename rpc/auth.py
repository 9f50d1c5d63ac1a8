"""Server-side authentication and authorisation, as an interceptor.

Specs: RFC 7617 (Basic), RFC 6750 (Bearer; its "invalid_token" is our
UNAUTHENTICATED), RFC 7519 (JWT, verified with PyJWT), and doc/statuscodes.md:

    no credentials, or credentials that do not check out   UNAUTHENTICATED
    a caller we know, who may not call this method           PERMISSION_DENIED

    server = rpc.Server(interceptors=[rpc.AuthInterceptor(
        rpc.BasicValidator({"admin": "s3cret"}),
        rpc.BearerValidator({"token-1": rpc.Principal("alice", roles=("reader",))}),
        rules={"/ecommerce.ProductInfo/addProduct": rpc.require_role("admin"),
               "/ecommerce.ProductInfo/*": rpc.authenticated},
        public=["/grpc.health.v1.Health/*"],
    )])

A handler finds the caller in ``context.principal`` (set by the interceptor)
and the TLS peer's certificate identity in ``context.auth_context()``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import hmac
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .credentials import AUTHORIZATION
from .interceptors import ServerInterceptor
from .service import MethodHandler
from .status import StatusCode

__all__ = [
    "Principal",
    "AuthError",
    "BasicValidator",
    "BearerValidator",
    "JWTValidator",
    "AuthInterceptor",
    "authenticated",
    "require_role",
]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name, the scheme that proved it, roles, and any claims."""

    name: str
    scheme: str = ""
    roles: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)


class AuthError(Exception):
    """Credentials are missing or do not check out (the call gets UNAUTHENTICATED)."""


Rule = Callable[[Principal], bool]


def authenticated(principal: Principal) -> bool:
    """The rule "any caller whose credentials check out"."""
    return True


def require_role(*roles: str) -> Rule:
    """The rule "a caller with one of ``roles``"."""
    wanted = frozenset(roles)

    def rule(principal: Principal) -> bool:
        return bool(wanted & set(principal.roles))
    rule.__name__ = f"require_role({', '.join(roles)})"
    return rule


class BasicValidator:
    """RFC 7617 Basic: ``users`` maps user names to passwords (or ``check(user, password)``)."""

    scheme = "basic"

    def __init__(self, users: Mapping[str, str] | None = None, *,
                 check: Callable[[str, str], Principal | None] | None = None,
                 roles: Mapping[str, Iterable[str]] | None = None) -> None:
        self._users = dict(users or {})
        self._check = check
        self._roles = {name: tuple(r) for name, r in (roles or {}).items()}

    def validate(self, credentials: str) -> Principal:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthError("malformed Basic credentials") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise AuthError("malformed Basic credentials: no ':'")
        if self._check is not None:
            principal = self._check(user, password)
            if principal is None:
                raise AuthError("wrong user name or password")
            return principal
        expected = self._users.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise AuthError("wrong user name or password")
        return Principal(user, "basic", self._roles.get(user, ()))


class BearerValidator:
    """RFC 6750 Bearer tokens: ``tokens`` maps each token to its Principal (or ``check(token)``)."""

    scheme = "bearer"

    def __init__(self, tokens: Mapping[str, Principal] | None = None, *,
                 check: Callable[[str], Principal | None] | None = None) -> None:
        self._tokens = dict(tokens or {})
        self._check = check

    def validate(self, credentials: str) -> Principal:
        principal = self._check(credentials) if self._check else self._lookup(credentials)
        if principal is None:
            raise AuthError("invalid token")
        return principal

    def _lookup(self, token: str) -> Principal | None:
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return principal
        return None


class JWTValidator:
    """RFC 7519 tokens sent as bearer tokens, verified with PyJWT.

    Tokens that are not JWTs are left to the next bearer validator; a JWT
    with a bad signature, a wrong audience or issuer, or past its expiry
    is refused. Roles come from the ``roles_claim`` claim.
    """

    scheme = "bearer"

    def __init__(self, key: str | bytes, *, algorithms: Iterable[str] = ("HS256",),
                 audience: str | None = None, issuer: str | None = None,
                 roles_claim: str = "roles") -> None:
        import jwt   # PyJWT
        self._jwt = jwt
        self._key = key
        self._algorithms = list(algorithms)
        self._audience = audience
        self._issuer = issuer
        self._roles_claim = roles_claim

    def validate(self, credentials: str) -> Principal:
        options = {"verify_aud": self._audience is not None}
        try:
            claims = self._jwt.decode(credentials, self._key, algorithms=self._algorithms,
                                      audience=self._audience, issuer=self._issuer,
                                      options=options)
        except self._jwt.PyJWTError as error:
            raise AuthError(f"invalid JWT: {error}") from None
        return Principal(str(claims.get("sub", "")), "jwt",
                         tuple(claims.get(self._roles_claim, ())), claims)


class AuthInterceptor(ServerInterceptor):
    """Checks each call's ``authorization`` metadata, then the method's rule.

    ``rules`` map method paths (``fnmatch`` patterns allowed, the most
    specific match wins) to a rule; a method no rule names only needs valid
    credentials. Methods matching ``public`` need none.
    """

    def __init__(self, *validators: Any, rules: Mapping[str, Rule] | None = None,
                 public: Iterable[str] = ()) -> None:
        self._validators = list(validators)
        self._rules = dict(rules or {})
        self._public = list(public)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or _matches(method, self._public):
            return handler
        try:
            principal = self._authenticate(handler_call_details.invocation_metadata)
        except AuthError as error:
            return _refusal(handler, StatusCode.UNAUTHENTICATED, str(error))
        rule = self._rule_for(method)
        if not rule(principal):
            return _refusal(handler, StatusCode.PERMISSION_DENIED,
                            f"{principal.name or 'caller'} may not call {method}")
        return dataclasses.replace(handler, behaviour=_with_principal(handler, principal))

    def _authenticate(self, metadata) -> Principal:
        values = [value for key, value in metadata if key == AUTHORIZATION]
        if not values:
            raise AuthError("missing credentials (no authorization metadata)")
        if len(values) > 1:
            raise AuthError("more than one authorization value")
        scheme, _, credentials = str(values[0]).partition(" ")
        errors = []
        for validator in self._validators:
            if validator.scheme != scheme.lower():
                continue
            try:
                return validator.validate(credentials.strip())
            except AuthError as error:
                errors.append(str(error))
        raise AuthError("; ".join(errors) or f"unsupported authorization scheme {scheme!r}")

    def _rule_for(self, method: str) -> Rule:
        if method in self._rules:
            return self._rules[method]
        patterns = [p for p in self._rules if fnmatch.fnmatchcase(method, p)]
        if not patterns:
            return authenticated
        return self._rules[max(patterns, key=len)]     # the most specific pattern


def _matches(method: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(method, pattern) for pattern in patterns)


def _refusal(handler: MethodHandler, code: StatusCode, details: str) -> MethodHandler:
    """The same method, answered with ``code`` before the handler runs."""
    async def refuse(request, context):
        await context.abort(code, details)
    return dataclasses.replace(handler, behaviour=refuse)


def _with_principal(handler: MethodHandler, principal: Principal) -> Callable[..., Any]:
    behaviour = handler.behaviour

    def with_principal(request, context):
        context.principal = principal
        return behaviour(request, context)
    return with_principal
