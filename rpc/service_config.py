"""Service config: how a channel should treat a service's calls.

Specs: doc/service_config.md (https://github.com/grpc/grpc/blob/master/doc/service_config.md),
its JSON form (grpc/service_config/service_config.proto, JSON field names),
and the retry design, gRFC A6 (https://github.com/grpc/proposal/blob/master/A6-client-retries.md):

    {
      "loadBalancingConfig": [{"round_robin": {}}],
      "methodConfig": [{
        "name": [{"service": "ecommerce.ProductInfo", "method": "getProduct"}],
        "waitForReady": true,
        "timeout": "1.5s",
        "retryPolicy": {
          "maxAttempts": 4,
          "initialBackoff": "0.1s",
          "maxBackoff": "1s",
          "backoffMultiplier": 2,
          "retryableStatusCodes": ["UNAVAILABLE"]
        }
      }],
      "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1}
    }

A name with a service and no method applies to every method of the service;
an empty name ``{}`` to every method of every service; the most specific one
wins. A config that breaks the rules of A6 is refused with ValueError rather
than half applied.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from transport.status import StatusCode

from .balancer import POLICIES

__all__ = ["ServiceConfig", "MethodConfig", "RetryPolicy", "RetryThrottle", "parse_duration"]

MAX_ATTEMPTS_LIMIT = 5        # A6: "maxAttempts ... values greater than 5 are treated as 5"

_DURATION = re.compile(r"^(\d+)(?:\.(\d{1,9}))?s$")


def parse_duration(text: Any, what: str) -> float:
    """A google.protobuf.Duration in its JSON form ("1.5s") -> seconds."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{what}: {text!r} is not a duration like \"0.5s\"")
    whole, fraction = match.groups()
    return int(whole) + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def _status_code(value: Any, what: str) -> StatusCode:
    if isinstance(value, str) and value in StatusCode.__members__:
        return StatusCode[value]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return StatusCode(value)
        except ValueError:
            pass
    raise ValueError(f"{what}: {value!r} is not a status code")


@dataclass(frozen=True)
class RetryPolicy:
    """A6's retryPolicy: how many attempts, how long between them, and for which codes."""

    max_attempts: int
    initial_backoff: float
    max_backoff: float
    backoff_multiplier: float
    retryable_status_codes: frozenset[StatusCode]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> "RetryPolicy":
        where = "retryPolicy"
        if not isinstance(config, Mapping):
            raise ValueError(f"{where} must be an object")
        attempts = config.get("maxAttempts")
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 2:
            raise ValueError(f"{where}.maxAttempts must be an integer of at least 2, got {attempts!r}")
        initial = parse_duration(config.get("initialBackoff"), f"{where}.initialBackoff")
        maximum = parse_duration(config.get("maxBackoff"), f"{where}.maxBackoff")
        if initial <= 0 or maximum <= 0:
            raise ValueError(f"{where}: initialBackoff and maxBackoff must be above zero")
        multiplier = config.get("backoffMultiplier")
        if not isinstance(multiplier, (int, float)) or isinstance(multiplier, bool) or multiplier <= 0:
            raise ValueError(f"{where}.backoffMultiplier must be a number above zero, got {multiplier!r}")
        codes = config.get("retryableStatusCodes")
        if not isinstance(codes, list) or not codes:
            raise ValueError(f"{where}.retryableStatusCodes must be a non-empty list")
        return cls(
            max_attempts=min(attempts, MAX_ATTEMPTS_LIMIT),
            initial_backoff=initial,
            max_backoff=maximum,
            backoff_multiplier=float(multiplier),
            retryable_status_codes=frozenset(
                _status_code(code, f"{where}.retryableStatusCodes") for code in codes),
        )

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first), as A6 says:
        random(0, min(initialBackoff * backoffMultiplier**(retry-1), maxBackoff))."""
        ceiling = min(self.initial_backoff * self.backoff_multiplier ** (retry - 1), self.max_backoff)
        return random.uniform(0, ceiling)


@dataclass(frozen=True)
class MethodConfig:
    wait_for_ready: bool | None = None
    timeout: float | None = None
    retry_policy: RetryPolicy | None = None


class RetryThrottle:
    """A6's retry throttling, one per channel: failures spend tokens, successes earn
    ``token_ratio`` back; retries stop while the tokens are at or below half."""

    def __init__(self, max_tokens: float, token_ratio: float) -> None:
        if not 0 < max_tokens <= 1000 or token_ratio <= 0:
            raise ValueError("retryThrottling needs 0 < maxTokens <= 1000 and tokenRatio > 0")
        self.max_tokens = float(max_tokens)
        self.token_ratio = round(float(token_ratio), 3)   # A6: three decimal places
        self.tokens = self.max_tokens

    def failed(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)

    def succeeded(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2


@dataclass(frozen=True)
class ServiceConfig:
    load_balancing_policy: str | None = None
    methods: Mapping[tuple[str, str], MethodConfig] = field(default_factory=dict)
    retry_throttling: tuple[float, float] | None = None    # (maxTokens, tokenRatio)

    @classmethod
    def parse(cls, config: str | Mapping[str, Any] | None) -> "ServiceConfig":
        """A service config from its JSON text or the decoded object; None -> the empty one."""
        if config is None:
            return cls()
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except json.JSONDecodeError as error:
                raise ValueError(f"service config is not JSON: {error}") from None
        if not isinstance(config, Mapping):
            raise ValueError("a service config is a JSON object")
        methods: dict[tuple[str, str], MethodConfig] = {}
        for entry in config.get("methodConfig", []):
            method_config = _method_config(entry)
            for name in entry.get("name", []):
                key = _method_name(name)
                if key in methods:
                    raise ValueError(f"methodConfig: {key} is named twice")
                methods[key] = method_config
        throttling = config.get("retryThrottling")
        if throttling is not None:
            if not isinstance(throttling, Mapping):
                raise ValueError("retryThrottling must be an object")
            RetryThrottle(throttling.get("maxTokens", 0), throttling.get("tokenRatio", 0))  # checks
            throttling = (throttling["maxTokens"], throttling["tokenRatio"])
        return cls(_policy(config), methods, throttling)

    def method_config(self, path: str) -> MethodConfig | None:
        """The config for a call of ``path`` ("/package.Service/Method"), most specific first."""
        if not self.methods:
            return None
        service, _, method = path.lstrip("/").partition("/")
        methods = self.methods
        return methods.get((service, method)) or methods.get((service, "")) or methods.get(("", ""))

    def throttle(self) -> RetryThrottle | None:
        return None if self.retry_throttling is None else RetryThrottle(*self.retry_throttling)


def _policy(config: Mapping[str, Any]) -> str | None:
    """The first load balancing policy of the list that this library knows."""
    choices = config.get("loadBalancingConfig")
    if choices is None:
        legacy = config.get("loadBalancingPolicy")           # the older, deprecated field
        if legacy is None:
            return None
        choices = [{str(legacy).lower(): {}}]
    if not isinstance(choices, list):
        raise ValueError("loadBalancingConfig must be a list")
    for choice in choices:
        if not isinstance(choice, Mapping) or len(choice) != 1:
            raise ValueError("each loadBalancingConfig entry names exactly one policy")
        (name,) = choice
        if name in POLICIES:
            return name
    raise ValueError(f"loadBalancingConfig: none of {[next(iter(c)) for c in choices]} is known "
                     f"(known: {', '.join(sorted(POLICIES))})")


def _method_name(name: Any) -> tuple[str, str]:
    if not isinstance(name, Mapping):
        raise ValueError("methodConfig.name entries are objects")
    service, method = name.get("service", ""), name.get("method", "")
    if not isinstance(service, str) or not isinstance(method, str):
        raise ValueError("methodConfig.name: service and method are strings")
    if method and not service:
        raise ValueError("methodConfig.name: a method needs its service")
    return service, method


def _method_config(entry: Any) -> MethodConfig:
    if not isinstance(entry, Mapping):
        raise ValueError("methodConfig entries are objects")
    wait_for_ready = entry.get("waitForReady")
    if wait_for_ready is not None and not isinstance(wait_for_ready, bool):
        raise ValueError("methodConfig.waitForReady must be true or false")
    timeout = entry.get("timeout")
    retry = entry.get("retryPolicy")
    if retry is not None and entry.get("hedgingPolicy") is not None:
        raise ValueError("methodConfig: retryPolicy and hedgingPolicy are exclusive")
    return MethodConfig(
        wait_for_ready=wait_for_ready,
        timeout=None if timeout is None else parse_duration(timeout, "methodConfig.timeout"),
        retry_policy=None if retry is None else RetryPolicy.parse(retry),
    )
