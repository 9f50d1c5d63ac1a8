"""The grpc-timeout header: a deadline, relative to now, in at most 8 digits.

Implements doc/PROTOCOL-HTTP2.md, section "Requests", the productions below
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests

    Timeout → "grpc-timeout" TimeoutValue TimeoutUnit
    TimeoutValue → {positive integer as ASCII string of at most 8 digits}
    TimeoutUnit → Hour / Minute / Second / Millisecond / Microsecond / Nanosecond
    Hour → "H"   Minute → "M"   Second → "S"
    Millisecond → "m"   Microsecond → "u"   Nanosecond → "n"

"If Timeout is omitted a server should assume an infinite timeout."

Eight digits of nanoseconds only reach 0.1 s, so the encoder walks the units
from finest to coarsest and takes the first in which the timeout fits, rounding
up: a deadline may come out a hair later than asked, never earlier.
"""

from __future__ import annotations

import math

from .errors import ProtocolError

__all__ = [
    "TIMEOUT_MAX_DIGITS",
    "TIMEOUT_MAX_VALUE",
    "TIMEOUT_UNITS",
    "MIN_TIMEOUT",
    "MAX_TIMEOUT",
    "encode_timeout",
    "decode_timeout",
]

NANOSECONDS_PER_SECOND = 1_000_000_000

# TimeoutValue: "positive integer as ASCII string of at most 8 digits".
TIMEOUT_MAX_DIGITS = 8
TIMEOUT_MAX_VALUE = 10**TIMEOUT_MAX_DIGITS - 1  # 99999999

# TimeoutUnit, finest first: the unit letter and its length in nanoseconds.
TIMEOUT_UNITS: tuple[tuple[str, int], ...] = (
    ("n", 1),                                # Nanosecond
    ("u", 1_000),                            # Microsecond
    ("m", 1_000_000),                        # Millisecond
    ("S", NANOSECONDS_PER_SECOND),           # Second
    ("M", 60 * NANOSECONDS_PER_SECOND),      # Minute
    ("H", 3_600 * NANOSECONDS_PER_SECOND),   # Hour
)
_UNIT_NANOSECONDS = dict(TIMEOUT_UNITS)

# The two ends of what the header can say. A deadline that has already passed
# still has to be written as a positive integer: it becomes the smallest
# timeout there is, and the server gives up at once. A deadline longer than
# the largest value (about 11,400 years) is, for all purposes, no deadline.
MIN_TIMEOUT = "1n"
MAX_TIMEOUT = f"{TIMEOUT_MAX_VALUE}H"
_MAX_TIMEOUT_SECONDS = TIMEOUT_MAX_VALUE * _UNIT_NANOSECONDS["H"] // NANOSECONDS_PER_SECOND

_ASCII_DIGITS = frozenset("0123456789")


def encode_timeout(seconds: float) -> str:
    """The grpc-timeout value for a deadline `seconds` from now.

    The finest unit whose count fits in 8 digits, the count rounded up. The
    float is first taken to the nearest nanosecond, the protocol's finest unit
    (float noise lives below it). Zero or negative -> "1n"; beyond what fits
    (infinity included) -> "99999999H". NaN is a caller's bug: ValueError.
    """
    if math.isnan(seconds):
        raise ValueError("a timeout cannot be NaN")
    if seconds > _MAX_TIMEOUT_SECONDS:  # infinity too
        return MAX_TIMEOUT
    nanoseconds = round(seconds * NANOSECONDS_PER_SECOND) if seconds > 0 else 0
    if nanoseconds <= 0:
        return MIN_TIMEOUT
    for unit, unit_nanoseconds in TIMEOUT_UNITS:
        count = -(-nanoseconds // unit_nanoseconds)  # ceiling division
        if count <= TIMEOUT_MAX_VALUE:
            return f"{count}{unit}"
    return MAX_TIMEOUT


def decode_timeout(value: str | bytes) -> float:
    """The timeout, in seconds, that a grpc-timeout value says.

    Strict about the grammar (ProtocolError, status INTERNAL, for anything
    else): 1 to 8 ASCII digits, then one of H M S m u n. Lenient about one
    thing: a value of zero is accepted and means the deadline has passed,
    since a peer writing "0n" for an expired deadline should see
    DEADLINE_EXCEEDED, not a protocol error.
    """
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii", "replace")
    digits, unit = value[:-1], value[-1:]
    _check_timeout(value, digits, unit)
    count = int(digits)
    unit_nanoseconds = _UNIT_NANOSECONDS[unit]
    if unit_nanoseconds < NANOSECONDS_PER_SECOND:
        return count / (NANOSECONDS_PER_SECOND // unit_nanoseconds)
    return float(count * (unit_nanoseconds // NANOSECONDS_PER_SECOND))


def _check_timeout(value: str, digits: str, unit: str) -> None:
    if unit not in _UNIT_NANOSECONDS:
        raise ProtocolError(
            f"malformed grpc-timeout {value!r}: the unit must be one of H M S m u n"
        )
    if not digits or not _ASCII_DIGITS.issuperset(digits):
        raise ProtocolError(
            f"malformed grpc-timeout {value!r}: the value must be ASCII digits"
        )
    if len(digits) > TIMEOUT_MAX_DIGITS:
        raise ProtocolError(
            f"malformed grpc-timeout {value!r}: at most {TIMEOUT_MAX_DIGITS} digits allowed"
        )
