"""rpc.middleware's pure parts: the token bucket, pattern choice, validator verdicts."""

import asyncio

import pytest

import rpc
from rpc.middleware import (
    RateLimitInterceptor,
    RecoveryInterceptor,
    TokenBucket,
    ValidationError,
    most_specific,
    rejection,
)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    clock.now += 0.5                     # one token back at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60                      # never more than the burst saved up
    assert sum(bucket.take() for _ in range(10)) == 3


@pytest.mark.parametrize("rate, burst", [(0, None), (-1, 5), (1, 0.5)])
def test_a_bucket_that_could_never_give_a_token_is_refused(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@pytest.mark.parametrize("method, expected", [
    ("/a.S/M", "/a.S/M"),                # the exact path beats every pattern
    ("/a.S/N", "/a.S/*"),                # the longest matching pattern
    ("/b.T/M", "*"),
])
def test_the_most_specific_pattern_wins(method, expected):
    assert most_specific(method, ["*", "/a.S/*", "/a.S/M"]) == expected


def test_buckets_are_global_per_method_or_per_pattern():
    clock = Clock()
    shared = RateLimitInterceptor(1, 1, clock=clock)
    assert shared.bucket_for("/a.S/M") is shared.bucket_for("/a.S/N")
    separate = RateLimitInterceptor(1, 1, per_method=True, clock=clock)
    assert separate.bucket_for("/a.S/M") is not separate.bucket_for("/a.S/N")
    patterned = RateLimitInterceptor(limits={"/a.S/*": (5, 5)}, exempt=["/a.S/Free"])
    assert patterned.bucket_for("/a.S/M") is patterned.bucket_for("/a.S/N")
    assert patterned.bucket_for("/b.T/M") is None            # no default rate: unlimited
    assert patterned.bucket_for("/a.S/Free") is None


def _raises_value_error(message):
    raise ValidationError("too long")


async def _async_reason(message):
    return "async says no"


@pytest.mark.parametrize("validator, reason", [
    (lambda m: None, None),
    (lambda m: True, None),
    (lambda m: "no name", "no name"),
    (lambda m: False, "invalid request"),
    (_raises_value_error, "too long"),
    (_async_reason, "async says no"),
])
def test_what_a_validator_says(validator, reason):
    assert asyncio.run(rejection([validator], object())) == reason


def test_a_validator_bug_is_not_the_clients_fault():
    def buggy(message):
        raise KeyError("oops")
    with pytest.raises(KeyError):
        asyncio.run(rejection([buggy], object()))


@pytest.mark.parametrize("code", [rpc.StatusCode.OK, rpc.StatusCode.NOT_FOUND])
def test_recovery_only_answers_unknown_or_internal(code):
    with pytest.raises(ValueError):
        RecoveryInterceptor(code)
