"""Subchannels and load balancing: which connection carries each call.

Specs (https://github.com/grpc/grpc/tree/master/doc):
connectivity-semantics-and-api.md for the five states, connection-backoff.md
for how often a lost backend is tried again, load-balancing.md for the two
policies here, pick_first and round_robin.

A channel resolves its target to addresses (rpc.resolver), and its balancer
keeps one ``Subchannel`` per address: one HTTP/2 connection to one backend,
with a state of its own:

    IDLE --connect--> CONNECTING --ok--> READY --lost or GOAWAY--> IDLE
                          |
                          +--failed--> TRANSIENT_FAILURE --backoff over--> IDLE

A subchannel only connects when its policy asks. ``round_robin`` asks for
every address, always, and spreads calls over the READY ones in turn;
``pick_first`` tries the addresses in order and sends every call to the first
that connects. The channel's own state is the policy's summary of its
subchannels'; once it is TRANSIENT_FAILURE it stays so until a subchannel is
READY again ("sticky" failure, as grpc does), so that calls that do not wait
for ready fail at once rather than each waiting for one more attempt.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from typing import Any, Awaitable, Callable, Sequence

__all__ = [
    "ConnectivityState",
    "Backoff",
    "Subchannel",
    "LoadBalancer",
    "PickFirst",
    "RoundRobin",
    "POLICIES",
]

logger = logging.getLogger(__name__)


class ConnectivityState(enum.Enum):
    """doc/connectivity-semantics-and-api.md, with grpc.ChannelConnectivity's names."""

    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    TRANSIENT_FAILURE = "transient failure"
    SHUTDOWN = "shutdown"


class Backoff:
    """The reconnection delays of doc/connection-backoff.md.

        first attempt:  INITIAL_BACKOFF (no jitter)
        each next one:  min(previous * MULTIPLIER, MAX_BACKOFF), +/- JITTER of it
        connect timeout of an attempt: max(its backoff, MIN_CONNECT_TIMEOUT)

    Defaults are the document's: 1 s, 1.6, 0.2, 120 s, 20 s.
    """

    def __init__(self, initial: float = 1.0, multiplier: float = 1.6, jitter: float = 0.2,
                 maximum: float = 120.0, min_connect_timeout: float = 20.0) -> None:
        if initial <= 0 or multiplier < 1 or not 0 <= jitter < 1 or maximum < initial:
            raise ValueError("backoff needs initial > 0, multiplier >= 1, 0 <= jitter < 1, "
                             "maximum >= initial")
        self.initial = initial
        self.multiplier = multiplier
        self.jitter = jitter
        self.maximum = maximum
        self.min_connect_timeout = min_connect_timeout
        self._current: float | None = None

    def reset(self) -> None:
        """A connection succeeded: the next failure starts the series again."""
        self._current = None

    def next_delay(self) -> float:
        """The backoff of the next attempt (the time from its start to the one after)."""
        if self._current is None:
            self._current = self.initial
            return self.initial
        self._current = min(self._current * self.multiplier, self.maximum)
        spread = self.jitter * self._current
        return self._current + random.uniform(-spread, spread)

    def connect_timeout(self, delay: float) -> float:
        return max(delay, self.min_connect_timeout)

    def copy(self) -> "Backoff":
        """The same settings, a series of its own (one per subchannel)."""
        return Backoff(self.initial, self.multiplier, self.jitter, self.maximum,
                       self.min_connect_timeout)


Connector = Callable[[Any], Awaitable[Any]]     # address -> an open driver.ClientTransport


class Subchannel:
    """One backend address and the one connection to it."""

    def __init__(self, address: Any, connect: Connector, backoff: Backoff,
                 on_change: Callable[["Subchannel"], None]) -> None:
        self.address = address
        self.state = ConnectivityState.IDLE
        self.transport: Any = None
        self.last_error: BaseException | None = None
        self.calls = 0                       # calls picked onto this subchannel, for the curious
        self._connect = connect
        self._backoff = backoff
        self._on_change = on_change
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Subchannel {self.address} {self.state.name}>"

    def _set(self, state: ConnectivityState) -> None:
        if state is self.state:
            return
        self.state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._on_change(self)

    async def wait_for_state_change(self, last_seen: ConnectivityState) -> ConnectivityState:
        while self.state is last_seen:
            await self._changed.wait()
        return self.state

    def usable(self) -> bool:
        """READY, and its connection can still take calls (no GOAWAY, not lost)."""
        if self.state is not ConnectivityState.READY:
            return False
        transport = self.transport
        if transport.is_closed or transport.goaway is not None:
            self._lost()
            return False
        return True

    def request_connection(self) -> None:
        """Connect if IDLE; otherwise nothing (it is busy, or waiting out a backoff)."""
        if self.state is ConnectivityState.IDLE and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._attempt())

    async def _attempt(self) -> None:
        """One connection attempt; after a failure, TRANSIENT_FAILURE until the backoff is over."""
        loop = asyncio.get_running_loop()
        delay = self._backoff.next_delay()
        started = loop.time()
        self._set(ConnectivityState.CONNECTING)
        try:
            transport = await asyncio.wait_for(self._connect(self.address),
                                               self._backoff.connect_timeout(delay))
        except asyncio.CancelledError:
            self._task = None
            raise
        except Exception as error:          # OSError, a timeout, TLS or ALPN refusal
            self.last_error = error
            logger.debug("connecting to %s failed: %r", self.address, error)
            self._set(ConnectivityState.TRANSIENT_FAILURE)
            await asyncio.sleep(max(0.0, started + delay - loop.time()))
            self._task = None
            if self.state is ConnectivityState.TRANSIENT_FAILURE:
                self._set(ConnectivityState.IDLE)
            return
        self._task = None
        self._backoff.reset()
        self.transport = transport
        self.last_error = None
        self._set(ConnectivityState.READY)
        self._task = loop.create_task(self._watch(transport))

    async def _watch(self, transport: Any) -> None:
        """READY until the connection is lost (a GOAWAY is noticed at the next pick)."""
        await transport.wait_closed()
        if self.transport is transport:
            self._task = None
            self._lost()

    def _lost(self) -> None:
        """The connection can take no more calls: IDLE (calls on it may still finish)."""
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None
        self.transport = None
        self._set(ConnectivityState.IDLE)

    def disconnect(self) -> None:
        """Not needed after all (another subchannel was chosen): close, back to IDLE."""
        transport = self.transport
        self._lost()
        if transport is not None:
            asyncio.get_running_loop().create_task(transport.close(None))

    async def shutdown(self, grace: float | None = None) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        transport, self.transport = self.transport, None
        self._set(ConnectivityState.SHUTDOWN)
        if transport is not None:
            await transport.close(grace)


class LoadBalancer:
    """What both policies share: subchannels by address, and the channel's state.

    ``pick()`` answers at once: a READY subchannel, or None (then the channel
    waits for its state to change, or fails the call, see rpc.channel).
    """

    name = ""

    def __init__(self, connect: Connector, backoff: Backoff,
                 on_state: Callable[[ConnectivityState], None],
                 on_lost: Callable[[], None] = lambda: None) -> None:
        self._connect = connect
        self._backoff = backoff
        self._on_state = on_state
        self._on_lost = on_lost       # ask the resolver again: a backend went away
        self.subchannels: list[Subchannel] = []
        self.state = ConnectivityState.IDLE
        self._ready: list[Subchannel] = []
        self._active = False          # asked to connect (exit_idle) and not IDLE since

    def update_addresses(self, addresses: Sequence[Any]) -> None:
        """A new list from the resolver: keep the subchannels still named, drop the rest."""
        known = {subchannel.address: subchannel for subchannel in self.subchannels}
        kept = []
        for address in dict.fromkeys(addresses):         # de-duplicated, in order
            subchannel = known.pop(address, None) or Subchannel(
                address, self._connect, self._backoff.copy(), self._subchannel_changed)
            kept.append(subchannel)
        self.subchannels = kept
        for gone in known.values():
            asyncio.get_running_loop().create_task(gone.shutdown(grace=None))
        self._addresses_changed()
        self._update_state()

    def exit_idle(self) -> None:
        """Start connecting (a call or channel_ready() wants a connection)."""
        self._active = True

    def pick(self) -> Subchannel | None:
        raise NotImplementedError

    def _addresses_changed(self) -> None:
        """Hook: the subchannel list changed."""

    def _subchannel_changed(self, subchannel: Subchannel) -> None:
        if subchannel.state is ConnectivityState.IDLE and subchannel.last_error is None:
            self._on_lost()       # a READY connection went away
        self._react(subchannel)
        self._update_state()

    def _react(self, subchannel: Subchannel) -> None:
        """Hook: what the policy does when one subchannel changes state."""

    def _update_state(self) -> None:
        self._ready = [s for s in self.subchannels if s.state is ConnectivityState.READY]
        state = self._summary()
        if state is not self.state:
            self.state = state
            self._on_state(state)

    def _summary(self) -> ConnectivityState:
        raise NotImplementedError

    async def shutdown(self) -> None:
        subchannels, self.subchannels = self.subchannels, []
        await asyncio.gather(*(s.shutdown(grace=None) for s in subchannels))
        self.state = ConnectivityState.SHUTDOWN


class PickFirst(LoadBalancer):
    """Every call to the first address that connects, trying them in order.

    When the chosen connection is lost the channel goes IDLE, and the next
    call starts over from the first address.
    """

    name = "pick_first"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._trying = -1            # the index being tried; -1 when not connecting
        self._failed_pass = False    # every address failed at least once since the last READY
        self._selected: Subchannel | None = None

    def exit_idle(self) -> None:
        self._active = True
        if self._selected is None and self._trying < 0 and self.subchannels:
            self._trying = 0
            self.subchannels[0].request_connection()

    def _addresses_changed(self) -> None:
        if self._selected is not None and self._selected not in self.subchannels:
            self._selected = None
        self._trying = -1
        self._failed_pass = False
        if self._selected is None and self._active:
            self.exit_idle()

    def _react(self, subchannel: Subchannel) -> None:
        state = subchannel.state
        if state is ConnectivityState.READY:
            if self._selected is None:
                self._selected = subchannel
                self._trying = -1
                self._failed_pass = False
            elif subchannel is not self._selected:
                subchannel.disconnect()             # one connection is enough
            return
        if subchannel is self._selected:            # the connection was lost: IDLE
            self._selected = None
            self._active = False
            return
        if self._selected is not None or self._trying < 0:
            return
        if state is ConnectivityState.TRANSIENT_FAILURE and subchannel is self._current():
            self._trying += 1
            if self._trying >= len(self.subchannels):
                self._trying = 0
                self._failed_pass = True
            self._current().request_connection()
        elif state is ConnectivityState.IDLE and self._failed_pass:
            subchannel.request_connection()         # its backoff is over: try it again

    def _current(self) -> Subchannel:
        return self.subchannels[self._trying]

    def pick(self) -> Subchannel | None:
        selected = self._selected
        if selected is not None and selected.usable():
            return selected
        return None

    def _summary(self) -> ConnectivityState:
        if self._selected is not None and self._selected.state is ConnectivityState.READY:
            return ConnectivityState.READY
        if self._failed_pass or (self.state is ConnectivityState.TRANSIENT_FAILURE
                                 and self._trying >= 0):
            return ConnectivityState.TRANSIENT_FAILURE
        if self._trying >= 0 or (self._active and not self.subchannels):
            return ConnectivityState.CONNECTING
        return ConnectivityState.IDLE


class RoundRobin(LoadBalancer):
    """A connection to every address, kept up; calls go to the READY ones in turn."""

    name = "round_robin"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next = 0

    def exit_idle(self) -> None:
        self._active = True
        for subchannel in self.subchannels:
            subchannel.request_connection()

    def _addresses_changed(self) -> None:
        if self._active:
            self.exit_idle()

    def _react(self, subchannel: Subchannel) -> None:
        if self._active and subchannel.state is ConnectivityState.IDLE:
            subchannel.request_connection()     # lost, or its backoff is over: reconnect

    def pick(self) -> Subchannel | None:
        ready = self._ready
        for _ in range(len(ready)):
            index = self._next % len(ready)
            self._next = index + 1
            subchannel = ready[index]
            if subchannel.usable():
                return subchannel
            ready = self._ready                 # usable() may have changed the list
            if not ready:
                break
        return None

    def _summary(self) -> ConnectivityState:
        states = {s.state for s in self.subchannels}
        if ConnectivityState.READY in states:
            return ConnectivityState.READY
        if not self._active:
            return ConnectivityState.IDLE
        if self.state is ConnectivityState.TRANSIENT_FAILURE:
            return ConnectivityState.TRANSIENT_FAILURE     # sticky until READY
        if not self.subchannels:
            return ConnectivityState.CONNECTING          # the resolver has not answered yet
        if states == {ConnectivityState.TRANSIENT_FAILURE}:
            return ConnectivityState.TRANSIENT_FAILURE
        if ConnectivityState.CONNECTING in states or ConnectivityState.IDLE in states:
            return ConnectivityState.CONNECTING
        return ConnectivityState.TRANSIENT_FAILURE


POLICIES: dict[str, type[LoadBalancer]] = {
    PickFirst.name: PickFirst,
    RoundRobin.name: RoundRobin,
}
