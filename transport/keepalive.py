"""Keepalive and connection management: when to ping, when a peer is dead, when to close.

Implements, for the asyncio driver (transport.driver), the rules of

- doc/keepalive.md, https://github.com/grpc/grpc/blob/master/doc/keepalive.md
- gRFC A8, "Client-side Keepalive",
  https://github.com/grpc/proposal/blob/master/A8-client-side-keepalive.md
- gRFC A9, "Server-side Connection Management",
  https://github.com/grpc/proposal/blob/master/A9-server-side-conn-mgt.md

Like the connection core, nothing here has a clock or a socket: every method
is given `now`, in seconds of a monotonic clock, and says what to do; the
driver does it, with one timer per connection.

A keepalive, seen from the side that pings (`KeepalivePinger`):

    last byte read      + time            + timeout
    ──────┼──────────────────┼─────────────────┼──────▶
          │   (quiet)        PING sent         no byte read since the PING:
          │                  (any byte read    the peer is dead, close
          │                   after it answers)

`time` counts from the last byte read, never from the last PING sent (A8),
so a PING's ACK starts the next interval and a server whose limit equals our
interval is never pinged faster than it allows.

Server side, the pings a client sends are policed (`PingPolicer`, A8 "Server
Enforcement"), the server pings its clients too, with or without calls (A9),
and a connection may be closed gracefully once it is too old (max_connection_age,
with a +/-10% jitter, `jittered_age`) or idle too long (max_connection_idle).
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass, fields

__all__ = [
    "ClientKeepaliveSettings",
    "ServerKeepaliveSettings",
    "KeepaliveAction",
    "KeepalivePinger",
    "PingPolicer",
    "jittered_age",
    "TOO_MANY_PINGS",
    "MAX_AGE",
    "MAX_IDLE",
]

# --- Constants ---------------------------------------------------------------------

# doc/keepalive.md, "Defaults Values" (client | server), in seconds:
DEFAULT_CLIENT_KEEPALIVE_TIME = None     # GRPC_ARG_KEEPALIVE_TIME_MS: INT_MAX, i.e. off
DEFAULT_SERVER_KEEPALIVE_TIME = 7200.0   # GRPC_ARG_KEEPALIVE_TIME_MS: 2 hours
DEFAULT_KEEPALIVE_TIMEOUT = 20.0         # GRPC_ARG_KEEPALIVE_TIMEOUT_MS, both sides
DEFAULT_KEEPALIVE_MIN_TIME = 300.0       # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS
                                         # (A8's PERMIT_KEEPALIVE_TIME): 5 minutes
DEFAULT_MAX_PING_STRIKES = 2             # GRPC_ARG_HTTP2_MAX_PING_STRIKES

# A8, "Server Enforcement": with no call open (and permit_without_calls off),
# a client may ping once every 2 hours, what TCP keep-alive allows
# (RFC 1122 §4.2.3.6: "MUST default to no less than two hours").
PING_INTERVAL_WITHOUT_CALLS = 7200.0

# A8: the debug data of the GOAWAY(ENHANCE_YOUR_CALM) a policing server sends,
# and a client that receives it doubles its keepalive time.
TOO_MANY_PINGS = b"too_many_pings"
KEEPALIVE_BACKOFF = 2

# A9: the debug data of the GOAWAY(NO_ERROR) that starts a graceful close of an
# old or idle connection, and the jitter of max_connection_age: "a
# per-connection random jitter of +/-10%", so connections opened together do
# not all close together.
MAX_AGE = b"max_age"
MAX_IDLE = b"max_idle"
MAX_CONNECTION_AGE_JITTER = 0.1


# --- Settings ----------------------------------------------------------------------


def _check_duration(name: str, value, *, optional: bool) -> None:
    if value is None and optional:
        return
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value <= 0):
        allowed = "a positive number of seconds" + (" or None (off)" if optional else "")
        raise ValueError(f"{name} must be {allowed}, not {value!r}")


class _Settings:
    """Keyword settings of the driver, checked when made; `take` lifts them out of a dict."""

    _optional: frozenset[str] = frozenset()  # durations that may be None (off)

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"{field.name} must be True or False, not {value!r}")
            elif field.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{field.name} must be a whole number >= 0, not {value!r}")
            else:
                _check_duration(field.name, value, optional=field.name in self._optional)

    @classmethod
    def take(cls, settings: dict):
        """(these settings, the rest): the names this class knows are taken out of `settings`."""
        rest = dict(settings)
        mine = {field.name: rest.pop(field.name) for field in fields(cls) if field.name in rest}
        return cls(**mine), rest


@dataclass(frozen=True, kw_only=True)
class ClientKeepaliveSettings(_Settings):
    """A client's keepalive (A8), in seconds.

    keepalive_time                  PING after this long without a byte from
                                    the server; None: never (the default)
    keepalive_timeout               the connection is dead if no byte follows
                                    a PING within this long
    keepalive_permit_without_calls  ping even with no call open
    """

    keepalive_time: float | None = DEFAULT_CLIENT_KEEPALIVE_TIME
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    keepalive_permit_without_calls: bool = False

    _optional = frozenset({"keepalive_time"})


@dataclass(frozen=True, kw_only=True)
class ServerKeepaliveSettings(_Settings):
    """A server's keepalive, ping policing (A8) and connection management (A9), in seconds.

    keepalive_time                  PING a client after this long without a
                                    byte from it, calls or not; None: never
    keepalive_timeout               close if no byte follows within this long
    keepalive_min_time              the least interval at which a client may
                                    ping (unless data went out in between);
                                    None: any
    keepalive_permit_without_calls  allow that interval with no call open
                                    (otherwise 2 hours)
    max_ping_strikes                pings sooner than allowed that are
                                    forgiven; one more and GOAWAY
                                    ENHANCE_YOUR_CALM "too_many_pings";
                                    0: forgive every one (doc/keepalive.md)
    max_connection_idle             close (gracefully) a connection that has
                                    had no call for this long; None: never
    max_connection_age              close (gracefully) a connection this old,
                                    +/-10%; None: never
    max_connection_age_grace        how long the calls in flight then have;
                                    None: as long as they take
    """

    keepalive_time: float | None = DEFAULT_SERVER_KEEPALIVE_TIME
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    keepalive_min_time: float | None = DEFAULT_KEEPALIVE_MIN_TIME
    keepalive_permit_without_calls: bool = False
    max_ping_strikes: int = DEFAULT_MAX_PING_STRIKES
    max_connection_idle: float | None = None
    max_connection_age: float | None = None
    max_connection_age_grace: float | None = None

    _optional = frozenset({"keepalive_time", "keepalive_min_time", "max_connection_idle",
                           "max_connection_age", "max_connection_age_grace"})

    @property
    def polices_pings(self) -> bool:
        return self.keepalive_min_time is not None and self.max_ping_strikes > 0


# --- Sending keepalive pings -----------------------------------------------------------


class KeepaliveAction(enum.Enum):
    """What `KeepalivePinger.poll` asks of the driver."""

    NOTHING = "nothing"
    SEND_PING = "send a PING"
    CLOSE = "close: the peer is dead"


class KeepalivePinger:
    """When to send a keepalive PING, and when the peer is dead (A8, "Basic Keepalive").

    The driver calls `read` on every read, and `poll` at `deadline()`.
    A client pings only while calls are open, unless `permit_without_calls`;
    a server pings regardless (A9), so it passes `permit_without_calls=True`.
    """

    def __init__(self, *, time: float, timeout: float, permit_without_calls: bool, now: float) -> None:
        self.time = time
        self.timeout = timeout
        self.permit_without_calls = permit_without_calls
        self.last_read = now                      # when the peer was last heard from
        self.ping_sent_at: float | None = None    # a keepalive PING waits for an answer

    def read(self, now: float) -> bool:
        """Bytes arrived at `now`. True if they answer a PING: the deadline moved sooner."""
        self.last_read = now
        if self.ping_sent_at is None:
            return False
        self.ping_sent_at = None
        return True

    def deadline(self, *, calls_open: bool) -> float | None:
        """When `poll` may next have something to do; None: not until a call opens."""
        if self.ping_sent_at is not None:
            return self.ping_sent_at + self.timeout
        if calls_open or self.permit_without_calls:
            return self.last_read + self.time
        return None

    def poll(self, now: float, *, calls_open: bool) -> KeepaliveAction:
        """What to do now: nothing, send a PING (then call again at `deadline()`), or close."""
        if self.ping_sent_at is not None:
            if self.last_read <= self.ping_sent_at:
                if now >= self.ping_sent_at + self.timeout:
                    return KeepaliveAction.CLOSE
                return KeepaliveAction.NOTHING
            self.ping_sent_at = None              # a byte came after the PING: alive
        if (calls_open or self.permit_without_calls) and now >= self.last_read + self.time:
            self.ping_sent_at = now
            return KeepaliveAction.SEND_PING
        return KeepaliveAction.NOTHING

    def back_off(self) -> None:
        """The server said "too_many_pings": ping half as often (A8)."""
        self.time *= KEEPALIVE_BACKOFF


# --- Policing the pings received ---------------------------------------------------------


class PingPolicer:
    """A server's watch on the pings its client sends (A8, "Server Enforcement").

    A PING sooner than `min_time` after the last good one (2 hours if no call
    is open and not `permit_without_calls`) is a strike; one strike more than
    `max_strikes` and the client is misbehaving. Sending HEADERS or DATA
    forgives everything (`data_sent`): pings have other uses than keepalive,
    measuring latency or bandwidth, while data flows.
    """

    def __init__(self, *, min_time: float, permit_without_calls: bool, max_strikes: int) -> None:
        self.min_time = min_time
        self.permit_without_calls = permit_without_calls
        self.max_strikes = max_strikes
        self.last_valid_ping = -math.inf
        self.strikes = 0

    def data_sent(self) -> None:
        """HEADERS or DATA went to the client since the last PING."""
        self.last_valid_ping = -math.inf
        self.strikes = 0

    def ping_received(self, now: float, *, calls_open: bool) -> bool:
        """Count one PING; True if the client now pings too often (answer: GOAWAY)."""
        allowed = self.min_time if calls_open or self.permit_without_calls else PING_INTERVAL_WITHOUT_CALLS
        if now >= self.last_valid_ping + allowed:
            self.last_valid_ping = now
            return False
        self.strikes += 1
        return self.strikes > self.max_strikes


# --- Connection age -------------------------------------------------------------------------


def jittered_age(max_connection_age: float, random_fraction: float) -> float:
    """max_connection_age with A9's +/-10% jitter; `random_fraction` is uniform in [0, 1)."""
    return max_connection_age * (1 + MAX_CONNECTION_AGE_JITTER * (2 * random_fraction - 1))
