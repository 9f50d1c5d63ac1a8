"""Tests for transport.timeout: grpc-timeout, at most 8 digits, units H M S m u n."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.errors import ProtocolError
from transport.status import StatusCode
from transport.timeout import TIMEOUT_MAX_DIGITS, decode_timeout, encode_timeout

ENCODE_ROWS = [
    # seconds, grpc-timeout: the finest unit whose count fits in 8 digits, rounded up
    (1e-9, "1n"),
    (0.099999999, "99999999n"),  # the most nanoseconds 8 digits hold
    (0.1, "100000u"),  # 100000000n would be 9 digits
    (0.0000015, "1500n"),
    (0.1000001, "100001u"),  # 100000100n does not fit: round UP to whole microseconds
    (1, "1000000u"),
    (1.5, "1500000u"),
    (99.999999, "99999999u"),
    (100, "100000m"),
    (100.0000001, "100001m"),  # never shortened: up to the next millisecond
    (99999.999, "99999999m"),
    (100000, "100000S"),
    (99999999, "99999999S"),
    (100000000, "1666667M"),  # 1666666.67 minutes, rounded up
    (99999999 * 60, "99999999M"),
    (99999999 * 60 + 1, "1666667H"),
    (99999999 * 3600, "99999999H"),
    # Out of range: clamped
    (99999999 * 3600 + 1, "99999999H"),
    (1e300, "99999999H"),
    (math.inf, "99999999H"),
    # "TimeoutValue → positive integer": a deadline already passed is 1n
    (0, "1n"),
    (-5, "1n"),
    (-math.inf, "1n"),
    (1e-12, "1n"),  # below a nanosecond: still positive
]


@pytest.mark.parametrize("seconds, expected", ENCODE_ROWS)
def test_encode_timeout(seconds, expected):
    assert encode_timeout(seconds) == expected


def test_encode_nan_is_a_caller_error():
    with pytest.raises(ValueError):
        encode_timeout(math.nan)


DECODE_ROWS = [
    ("1H", 3600.0),  # Hour → "H"
    ("2M", 120.0),  # Minute → "M"
    ("1S", 1.0),  # Second → "S" (PROTOCOL-HTTP2.md example: grpc-timeout = 1S)
    ("250m", 0.25),  # Millisecond → "m"
    ("1500u", 0.0015),  # Microsecond → "u"
    ("7n", 7e-9),  # Nanosecond → "n"
    ("99999999H", 99999999 * 3600.0),  # "at most 8 digits"
    ("00000010S", 10.0),  # leading zeros: still at most 8 digits
    ("0n", 0.0),  # zero: accepted, the deadline has passed
]


@pytest.mark.parametrize("value, expected", DECODE_ROWS)
def test_decode_timeout(value, expected):
    assert decode_timeout(value) == pytest.approx(expected, rel=1e-12)
    assert decode_timeout(value.encode()) == pytest.approx(expected, rel=1e-12)


BAD_VALUES = [
    "",  # TimeoutValue TimeoutUnit: both required
    "S",  # no digits
    "10",  # no unit
    "123456789S",  # "positive integer as ASCII string of at most 8 digits"
    "1s",  # units are case-sensitive: "s" is not Second
    "1h",
    "1x",
    "1.5S",  # an integer
    "-1S",
    "+1S",
    " 1S",
    "1 S",
    "1S ",
    "1SS",
    "１S",  # FULLWIDTH DIGIT ONE: "ASCII string"
    "٣S",  # ARABIC-INDIC DIGIT THREE
]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_decode_rejects_malformed_values(value):
    with pytest.raises(ProtocolError) as caught:
        decode_timeout(value)
    assert caught.value.status is StatusCode.INTERNAL
    assert repr(value) in str(caught.value)


@given(st.floats(min_value=1e-9, max_value=99999999 * 3600.0))
def test_round_trip_never_shortens_and_stays_close(seconds):
    encoded = encode_timeout(seconds)
    digits = encoded[:-1]
    assert 1 <= len(digits) <= TIMEOUT_MAX_DIGITS and digits.isdigit()
    assert encoded[-1] in "HMSmun"
    decoded = decode_timeout(encoded)
    # Never shorter (up to the half nanosecond of float rounding) ...
    assert decoded >= seconds - 0.5e-9 - seconds * 1e-15
    # ... and the finest fitting unit keeps the overshoot tiny: a coarser unit
    # is only chosen when the count is at least 99999999/3600 ~ 27778.
    assert decoded - seconds <= max(seconds / 27000, 1e-9)


@given(st.floats(allow_nan=False))
def test_encode_always_gives_a_valid_value(seconds):
    encoded = encode_timeout(seconds)
    assert decode_timeout(encoded) >= 0
    assert len(encoded) <= TIMEOUT_MAX_DIGITS + 1


@given(st.text(max_size=12))
def test_decode_raises_only_protocol_errors(value):
    try:
        assert decode_timeout(value) >= 0
    except ProtocolError:
        pass


@given(st.binary(max_size=12))
def test_decode_bytes_raises_only_protocol_errors(value):
    try:
        decode_timeout(value)
    except ProtocolError:
        pass
