"""Tests of keepalive, ping policing and connection management.

transport/keepalive.py (the rules, table-driven, no clock) and the driver's
timer that runs them on real sockets: doc/keepalive.md, gRFC A8 (client-side
keepalive) and gRFC A9 (server-side connection management). Each socket test
watches the frames on the wire through the driver's observer hook, with
intervals of a few tenths of a second.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from dataclasses import dataclass

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from transport.driver import ServerStream, connect, start_server
from transport.keepalive import (
    MAX_AGE,
    MAX_CONNECTION_AGE_JITTER,
    MAX_IDLE,
    PING_INTERVAL_WITHOUT_CALLS,
    TOO_MANY_PINGS,
    ClientKeepaliveSettings,
    KeepaliveAction,
    KeepalivePinger,
    PingPolicer,
    ServerKeepaliveSettings,
    jittered_age,
)
from transport.status import Http2ErrorCode, StatusCode

from tcp_relay import TcpRelay
from waiting import wait_until

pytestmark = pytest.mark.timeout(60)

PATH = "/test.Keepalive/Hold"
WAIT = 5.0          # the most any condition below may take to come true
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"   # RFC 9113 §3.4
FRAME_HEADER_LENGTH = 9                       # RFC 9113 §4.1
PING, GOAWAY, HEADERS, DATA = 0x6, 0x7, 0x1, 0x0   # RFC 9113 §6: frame types
ACK = 0x1                                     # §6.7: the PING flag
QUIET_SERVER = dict(keepalive_time=None, keepalive_min_time=None)   # never pings, never polices


def run(coroutine_function):
    """Run an async test body on a fresh event loop, bounded in time."""
    @functools.wraps(coroutine_function)
    def wrapper(*args, **kwargs):
        asyncio.run(asyncio.wait_for(coroutine_function(*args, **kwargs), 30))
    return wrapper


# --- the rules, without a clock -------------------------------------------------------


@pytest.mark.parametrize("settings, problem", [
    # doc/keepalive.md: times are durations; None switches a feature off where it can be off.
    (dict(keepalive_time=0), "keepalive_time"),
    (dict(keepalive_time=-1.0), "keepalive_time"),
    (dict(keepalive_time=math.inf), "keepalive_time"),
    (dict(keepalive_time="10"), "keepalive_time"),
    (dict(keepalive_timeout=None), "keepalive_timeout"),   # a PING without a timeout proves nothing
    (dict(keepalive_timeout=0.0), "keepalive_timeout"),
    (dict(keepalive_permit_without_calls=1), "keepalive_permit_without_calls"),
])
def test_client_settings_are_checked(settings, problem):
    with pytest.raises(ValueError, match=problem):
        ClientKeepaliveSettings(**settings)


@pytest.mark.parametrize("settings, problem", [
    (dict(keepalive_min_time=-5), "keepalive_min_time"),
    (dict(max_ping_strikes=-1), "max_ping_strikes"),
    (dict(max_ping_strikes=1.5), "max_ping_strikes"),
    (dict(max_ping_strikes=True), "max_ping_strikes"),
    (dict(max_connection_idle=0), "max_connection_idle"),
    (dict(max_connection_age=float("nan")), "max_connection_age"),
    (dict(max_connection_age_grace=-0.1), "max_connection_age_grace"),
])
def test_server_settings_are_checked(settings, problem):
    with pytest.raises(ValueError, match=problem):
        ServerKeepaliveSettings(**settings)


def test_defaults_are_those_of_doc_keepalive_md():
    client, server = ClientKeepaliveSettings(), ServerKeepaliveSettings()
    assert (client.keepalive_time, client.keepalive_timeout, client.keepalive_permit_without_calls) == \
        (None, 20.0, False)
    assert (server.keepalive_time, server.keepalive_timeout, server.keepalive_min_time,
            server.keepalive_permit_without_calls, server.max_ping_strikes) == (7200.0, 20.0, 300.0, False, 2)
    assert (server.max_connection_idle, server.max_connection_age, server.max_connection_age_grace) == \
        (None, None, None)   # A9: "defaulting to infinite"
    assert server.polices_pings
    assert not ServerKeepaliveSettings(max_ping_strikes=0).polices_pings   # "accept any number"
    assert not ServerKeepaliveSettings(keepalive_min_time=None).polices_pings


def test_take_lifts_its_settings_out_and_leaves_the_rest():
    given = dict(keepalive_time=1.0, max_frame_size=16384)
    settings, rest = ClientKeepaliveSettings.take(given)
    assert settings.keepalive_time == 1.0 and rest == dict(max_frame_size=16384)
    assert given == dict(keepalive_time=1.0, max_frame_size=16384)   # the caller's dict is untouched


def test_pinger_pings_after_time_quiet_and_closes_after_timeout():
    pinger = KeepalivePinger(time=10.0, timeout=2.0, permit_without_calls=False, now=0.0)
    assert pinger.deadline(calls_open=True) == 10.0
    assert pinger.poll(9.9, calls_open=True) is KeepaliveAction.NOTHING
    assert pinger.poll(10.0, calls_open=True) is KeepaliveAction.SEND_PING
    assert pinger.deadline(calls_open=True) == 12.0          # waiting for the answer
    assert pinger.poll(11.9, calls_open=True) is KeepaliveAction.NOTHING
    assert pinger.poll(12.0, calls_open=True) is KeepaliveAction.CLOSE


def test_pinger_counts_time_from_the_last_byte_read():
    pinger = KeepalivePinger(time=10.0, timeout=2.0, permit_without_calls=False, now=0.0)
    pinger.last_read = 7.0                                   # the peer spoke: no PING needed yet
    assert pinger.poll(10.0, calls_open=True) is KeepaliveAction.NOTHING
    assert pinger.deadline(calls_open=True) == 17.0
    assert pinger.poll(17.0, calls_open=True) is KeepaliveAction.SEND_PING
    pinger.last_read = 17.5                                  # any byte after the PING answers it
    assert pinger.poll(19.0, calls_open=True) is KeepaliveAction.NOTHING
    assert pinger.deadline(calls_open=True) == 27.5          # A8: from the read, not from the PING


def test_pinger_without_calls_waits_unless_permitted():
    idle = KeepalivePinger(time=1.0, timeout=1.0, permit_without_calls=False, now=0.0)
    assert idle.deadline(calls_open=False) is None
    assert idle.poll(100.0, calls_open=False) is KeepaliveAction.NOTHING
    assert idle.poll(100.0, calls_open=True) is KeepaliveAction.SEND_PING   # a call opens: ping first
    permitted = KeepalivePinger(time=1.0, timeout=1.0, permit_without_calls=True, now=0.0)
    assert permitted.poll(1.0, calls_open=False) is KeepaliveAction.SEND_PING


def test_pinger_backs_off_by_doubling():
    pinger = KeepalivePinger(time=0.5, timeout=1.0, permit_without_calls=False, now=0.0)
    pinger.back_off()
    pinger.back_off()
    assert pinger.time == 2.0


@dataclass
class Ping:
    at: float
    calls_open: bool = True
    data_sent_before: bool = False


# A8, "Server Enforcement", with PERMIT_KEEPALIVE_TIME = 10 and MAX_PING_STRIKES = 2.
POLICING_CASES = {
    "pings at the allowed interval": ([Ping(0), Ping(10), Ping(20), Ping(30), Ping(40)], [False] * 5),
    "the third strike is one too many": ([Ping(0), Ping(1), Ping(2), Ping(3)], [False, False, False, True]),
    "strikes add up across good pings": (
        [Ping(0), Ping(1), Ping(10), Ping(11), Ping(12)], [False, False, False, False, True]),
    "data sent forgives": (
        [Ping(0), Ping(1), Ping(2), Ping(3, data_sent_before=True), Ping(4), Ping(5), Ping(6)],
        [False, False, False, False, False, False, True]),
    "without calls, every 2 hours": (
        [Ping(0, False), Ping(PING_INTERVAL_WITHOUT_CALLS, False),
         Ping(2 * PING_INTERVAL_WITHOUT_CALLS, False)],
        [False, False, False]),
    "without calls, sooner is a strike": (
        [Ping(0, False), Ping(60, False), Ping(3600, False), Ping(7199, False)], [False, False, False, True]),
}


@pytest.mark.parametrize("name", POLICING_CASES)
def test_ping_policing(name):
    pings, verdicts = POLICING_CASES[name]
    policer = PingPolicer(min_time=10.0, permit_without_calls=False, max_strikes=2)
    seen = []
    for ping in pings:
        if ping.data_sent_before:
            policer.data_sent()
        seen.append(policer.ping_received(ping.at, calls_open=ping.calls_open))
    assert seen == verdicts


def test_permit_without_calls_applies_the_min_time_without_calls():
    policer = PingPolicer(min_time=10.0, permit_without_calls=True, max_strikes=1)
    assert [policer.ping_received(at, calls_open=False) for at in (0, 10, 20, 21)] == [False] * 4
    assert policer.ping_received(22, calls_open=False)


def test_jittered_age_is_within_ten_percent():
    assert MAX_CONNECTION_AGE_JITTER == 0.1
    assert jittered_age(100.0, 0.0) == pytest.approx(90.0)
    assert jittered_age(100.0, 0.5) == pytest.approx(100.0)
    assert jittered_age(100.0, 0.999999) == pytest.approx(110.0)


# --- watching the wire ---------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    at: float
    type: int
    flags: int
    stream_id: int
    payload: bytes


class FrameLog:
    """The frames of one connection, both ways, from the driver's observer hook."""

    def __init__(self, *, client_side: bool) -> None:
        self.frames: dict[str, list[Frame]] = {"sent": [], "received": []}
        self._buffers = {"sent": bytearray(), "received": bytearray()}
        self._preface = {"sent": client_side, "received": not client_side}
        self._changed = asyncio.Event()

    def __call__(self, direction: str, data: bytes) -> None:
        buffer = self._buffers[direction]
        buffer += data
        if self._preface[direction]:
            if len(buffer) < len(PREFACE):
                return
            del buffer[:len(PREFACE)]
            self._preface[direction] = False
        while len(buffer) >= FRAME_HEADER_LENGTH:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < FRAME_HEADER_LENGTH + length:
                break
            stream_id = int.from_bytes(buffer[5:9], "big") & 0x7FFF_FFFF
            payload = bytes(buffer[FRAME_HEADER_LENGTH:FRAME_HEADER_LENGTH + length])
            self.frames[direction].append(Frame(time.monotonic(), buffer[3], buffer[4], stream_id, payload))
            del buffer[:FRAME_HEADER_LENGTH + length]
        self._changed.set()

    def pings(self, direction: str) -> list[Frame]:
        return [f for f in self.frames[direction] if f.type == PING and not f.flags & ACK]

    def acks(self, direction: str) -> list[Frame]:
        return [f for f in self.frames[direction] if f.type == PING and f.flags & ACK]

    def goaways(self, direction: str) -> list[tuple[int, bytes]]:
        """(error code, debug data) of each GOAWAY."""
        return [(int.from_bytes(f.payload[4:8], "big"), f.payload[8:])
                for f in self.frames[direction] if f.type == GOAWAY]

    async def wait(self, condition, timeout: float = WAIT) -> None:
        """Wait until `condition()` holds, re-checked on every frame; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not seen within {timeout} s; frames: {self.frames}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


class Holder:
    """A handler that holds each call open until released, then answers it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()
        self.streams: list[ServerStream] = []

    async def __call__(self, stream: ServerStream) -> None:
        self.streams.append(stream)
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        await stream.send_message(b"done")
        await stream.send_trailers(StatusCode.OK)


# --- client keepalive (A8) -------------------------------------------------------------------


@run
async def test_client_pings_at_the_interval_while_a_call_is_open_and_not_after():
    holder = Holder()
    server = await start_server(holder, keepalive_min_time=0.05)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log, keepalive_time=0.2, keepalive_timeout=2.0)
    try:
        await asyncio.sleep(0.3)
        assert log.pings("sent") == []          # no call, no permit_without_calls: no PING
        call = await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        await log.wait(lambda: len(log.acks("received")) >= 3)
        times = [frame.at for frame in log.pings("sent")]
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert min(gaps) >= 0.19, gaps          # keepalive_time after the last read (the ACK)
        holder.release.set()
        call.end()
        assert (await asyncio.wait_for(call.receive_trailers(), WAIT)).status == StatusCode.OK
        count = len(log.pings("sent"))
        await asyncio.sleep(0.5)                # 2.5 intervals without a call
        assert len(log.pings("sent")) == count
        assert not client.is_closed and client.goaway is None
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_a_call_after_a_quiet_spell_sends_its_ping_first():
    server = await start_server(Holder(), keepalive_min_time=0.05)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log, keepalive_time=0.2)
    try:
        await asyncio.sleep(0.3)                # quiet for longer than keepalive_time
        await client.start_call(PATH)
        await log.wait(lambda: any(f.type == HEADERS for f in log.frames["sent"]))
        kinds = [f.type for f in log.frames["sent"] if f.type in (PING, HEADERS)]
        assert kinds[:2] == [PING, HEADERS]     # A8: "a keepalive PING ... before the HEADERS frame"
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_permit_without_calls_pings_an_idle_connection():
    server = await start_server(Holder(), keepalive_min_time=0.1, keepalive_permit_without_calls=True)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log, keepalive_time=0.15,
                           keepalive_permit_without_calls=True)
    try:
        await log.wait(lambda: len(log.acks("received")) >= 3)
        assert client.goaway is None and not client.is_closed
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_a_silently_dead_server_is_detected_within_time_plus_timeout():
    holder = Holder()
    server = await start_server(holder, **QUIET_SERVER)
    relay = await TcpRelay.start(server.port)
    keepalive_time, keepalive_timeout = 0.3, 0.3
    client = await connect("127.0.0.1", relay.port, keepalive_time=keepalive_time,
                           keepalive_timeout=keepalive_timeout)
    try:
        call = await client.start_call(PATH)
        await call.send_message(b"hello")
        await asyncio.wait_for(holder.started.wait(), WAIT)
        relay.freeze()
        frozen = time.monotonic()
        trailers = await asyncio.wait_for(call.receive_trailers(), WAIT)
        elapsed = time.monotonic() - frozen
        assert trailers.status == StatusCode.UNAVAILABLE
        assert "keepalive" in trailers.message
        assert elapsed <= keepalive_time + keepalive_timeout + 1.0, elapsed
        assert client.is_closed
    finally:
        await client.close()
        relay.close()
        await server.close(grace=0)


@run
async def test_a_silently_dead_client_is_detected_by_the_server_keepalive():
    holder = Holder()
    server = await start_server(holder, keepalive_time=0.3, keepalive_timeout=0.3)
    relay = await TcpRelay.start(server.port)
    client = await connect("127.0.0.1", relay.port)
    try:
        await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        relay.freeze()
        frozen = time.monotonic()
        await asyncio.wait_for(holder.cancelled.wait(), WAIT)   # the handler is cancelled
        assert time.monotonic() - frozen <= 0.3 + 0.3 + 1.0
        assert holder.streams[0].terminal.status == StatusCode.CANCELLED
        await wait_until(lambda: not server.connections)
    finally:
        await client.close()
        relay.close()
        await server.close(grace=0)


@run
async def test_the_server_pings_an_idle_client_which_answers():
    log = FrameLog(client_side=True)
    server = await start_server(Holder(), keepalive_time=0.15, keepalive_timeout=1.0)
    client = await connect("127.0.0.1", server.port, observer=log)
    try:
        await log.wait(lambda: len(log.pings("received")) >= 3)   # A9: with no call open too
        assert len(log.acks("sent")) >= 2 and not client.is_closed
        assert len(server.connections) == 1
    finally:
        await client.close()
        await server.close(grace=0)


# --- ping policing, against a raw h2 client (A8, "Server Enforcement") ----------------------------


class RawClient:
    """An HTTP/2 client made of the h2 library and nothing of ours: it pings when told."""

    def __init__(self, reader, writer) -> None:
        self.reader, self.writer = reader, writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.acks = 0
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.data = bytearray()
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls, port: int) -> "RawClient":
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        client.h2.initiate_connection()
        client.flush()
        client._task = asyncio.get_running_loop().create_task(client._pump())
        return client

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    async def _pump(self) -> None:
        try:
            while data := await self.reader.read(65536):
                for event in self.h2.receive_data(data):
                    if isinstance(event, h2.events.PingAckReceived):
                        self.acks += 1
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.goaway = event
                    elif isinstance(event, h2.events.DataReceived):
                        self.data += event.data
                        self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.flush()
                self._changed.set()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def wait(self, condition) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer in time")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                pass

    async def ping(self) -> None:
        """Send one PING; wait for its ACK, or for the GOAWAY that refuses it."""
        expected = self.acks + 1
        self.h2.ping(b"12345678")
        self.flush()
        await self.wait(lambda: self.acks >= expected or self.goaway is not None)

    def start_call(self) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [
            (":method", "POST"), (":scheme", "http"), (":path", PATH), (":authority", "localhost"),
            ("content-type", "application/grpc"), ("te", "trailers"),
        ])
        self.flush()
        return stream_id

    async def close(self) -> None:
        self.writer.close()
        await asyncio.wait_for(self._task, WAIT)


async def echo(stream: ServerStream) -> None:
    async for message in stream:
        await stream.send_message(message)
    await stream.send_trailers(StatusCode.OK)


@pytest.mark.parametrize("max_ping_strikes", [1, 2])
@run
async def test_too_many_pings_get_goaway_enhance_your_calm(max_ping_strikes):
    server = await start_server(echo, max_ping_strikes=max_ping_strikes)
    raw = await RawClient.open(server.port)
    try:
        for _ in range(1 + max_ping_strikes):   # the first is good; then the strikes forgiven
            await raw.ping()
        assert raw.goaway is None and raw.acks == 1 + max_ping_strikes
        await raw.ping()                         # one strike too many
        await asyncio.wait_for(raw.closed.wait(), WAIT)   # "followed by immediately closing"
        assert raw.goaway is not None
        assert raw.goaway.error_code == Http2ErrorCode.ENHANCE_YOUR_CALM
        assert raw.goaway.additional_data == TOO_MANY_PINGS
        # The server goes on serving everyone else.
        other = await connect("127.0.0.1", server.port)
        call = await other.start_call(PATH)
        await call.send_message(b"still here", end=True)
        assert await call.receive_message() == b"still here"
        await other.close()
    finally:
        await raw.close()
        await server.close(grace=0)


@run
async def test_pings_at_the_allowed_interval_are_fine():
    server = await start_server(echo, keepalive_min_time=0.15, keepalive_permit_without_calls=True,
                                max_ping_strikes=1)
    raw = await RawClient.open(server.port)
    try:
        for _ in range(3):                       # two strikes, one too many, if they came too soon
            await raw.ping()
            await asyncio.sleep(0.2)
        assert raw.goaway is None and raw.acks == 3
    finally:
        await raw.close()
        await server.close(grace=0)


@run
async def test_pings_with_data_flowing_are_fine():
    server = await start_server(echo)            # the defaults: one PING per 5 minutes, 2 strikes
    raw = await RawClient.open(server.port)
    try:
        stream_id = raw.start_call()
        for round_ in range(1, 7):
            raw.h2.send_data(stream_id, b"\x00\x00\x00\x00\x01x")   # one 1-byte message
            raw.flush()
            await raw.wait(lambda: len(raw.data) >= round_ * 6)    # its echo: DATA from the server
            await raw.ping()
        assert raw.goaway is None and raw.acks == 6
    finally:
        await raw.close()
        await server.close(grace=0)


@run
async def test_our_client_told_too_many_pings_doubles_its_keepalive_time():
    holder = Holder()
    server = await start_server(holder, keepalive_min_time=10.0)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log, keepalive_time=0.05)
    try:
        call = await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        await log.wait(lambda: client.goaway is not None)
        assert (client.goaway.error_code, client.goaway.additional_data) == \
            (Http2ErrorCode.ENHANCE_YOUR_CALM, TOO_MANY_PINGS)
        assert len(log.pings("sent")) == 4       # a good one, two forgiven, one too many
        assert client.keepalive_time == 0.1      # A8: doubled, for the next connection
        trailers = await asyncio.wait_for(call.receive_trailers(), WAIT)
        assert trailers.status == StatusCode.UNAVAILABLE   # the server closed at once
        assert "too_many_pings" in trailers.message
        await asyncio.wait_for(holder.cancelled.wait(), WAIT)
    finally:
        await client.close()
        await server.close(grace=0)


# --- connection age and idleness (A9) ---------------------------------------------------------


@run
async def test_max_connection_idle_closes_a_connection_without_calls():
    holder = Holder()
    holder.release.set()
    server = await start_server(holder, max_connection_idle=0.3)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log)
    try:
        call = await client.start_call(PATH)
        call.end()
        assert (await call.receive_trailers()).status == StatusCode.OK
        finished = time.monotonic()
        await log.wait(lambda: log.goaways("received"))
        assert time.monotonic() - finished >= 0.25
        assert log.goaways("received")[0] == (Http2ErrorCode.NO_ERROR, MAX_IDLE)
        await asyncio.wait_for(client.wait_closed(), WAIT)
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_max_connection_idle_waits_while_a_call_is_open():
    holder = Holder()
    server = await start_server(holder, max_connection_idle=0.2)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log)
    try:
        call = await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        await asyncio.sleep(0.4)                  # longer than max_connection_idle, with a call open
        assert log.goaways("received") == []
        holder.release.set()
        call.end()
        assert (await call.receive_trailers()).status == StatusCode.OK
        await log.wait(lambda: log.goaways("received"))
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_max_connection_age_lets_calls_in_flight_finish_then_closes():
    holder = Holder()
    server = await start_server(holder, max_connection_age=0.3, max_connection_age_grace=5.0)
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log)
    opened = time.monotonic()
    try:
        call = await client.start_call(PATH)
        await call.send_message(b"x", end=True)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        await log.wait(lambda: len(log.goaways("received")) >= 2)   # A9: GOAWAY, PING, GOAWAY
        first, second = log.goaways("received")[:2]
        assert first == second == (Http2ErrorCode.NO_ERROR, MAX_AGE)
        goaway_at = next(f.at for f in log.frames["received"] if f.type == GOAWAY)
        assert 0.25 <= goaway_at - opened <= 0.33 + 1.0   # 0.3 s +/-10%, and a loaded machine's margin
        assert client.goaway is not None        # no new calls here: the channel opens another connection
        holder.release.set()
        assert await call.receive_message() == b"done"
        assert (await call.receive_trailers()).status == StatusCode.OK
        await asyncio.wait_for(client.wait_closed(), WAIT)
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_max_connection_age_grace_ends_calls_that_take_too_long():
    holder = Holder()
    server = await start_server(holder, max_connection_age=0.2, max_connection_age_grace=0.3)
    client = await connect("127.0.0.1", server.port)
    try:
        call = await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        trailers = await asyncio.wait_for(call.receive_trailers(), WAIT)
        assert trailers.status == StatusCode.CANCELLED     # RST_STREAM(CANCEL) after the grace
        await asyncio.wait_for(holder.cancelled.wait(), WAIT)
        await wait_until(lambda: not server.connections)
    finally:
        await client.close()
        await server.close(grace=0)


@run
async def test_server_close_during_an_endless_max_age_close_keeps_its_own_grace():
    holder = Holder()
    server = await start_server(holder, max_connection_age=0.1)   # the grace: as long as calls take
    log = FrameLog(client_side=True)
    client = await connect("127.0.0.1", server.port, observer=log)
    try:
        call = await client.start_call(PATH)
        await asyncio.wait_for(holder.started.wait(), WAIT)
        await log.wait(lambda: len(log.goaways("received")) >= 2)
        await asyncio.wait_for(server.close(grace=0.2), WAIT)
        assert (await asyncio.wait_for(call.receive_trailers(), WAIT)).status == StatusCode.CANCELLED
        assert len(log.goaways("received")) == 2   # nothing more was announced
    finally:
        await client.close()
        await server.close(grace=0)


def test_bad_settings_fail_before_listening():
    async def body():
        with pytest.raises(ValueError, match="max_connection_age"):
            await start_server(echo, max_connection_age=-1)
        with pytest.raises(ValueError, match="keepalive_time"):
            await connect("127.0.0.1", 1, keepalive_time=0)
    asyncio.run(asyncio.wait_for(body(), 10))
