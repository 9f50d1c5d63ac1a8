"""Keepalive, ping policing and connection age, between our peers and grpcio's.

doc/keepalive.md, gRFC A8 (client-side keepalive) and gRFC A9 (server-side
connection management), end to end: rpc.Channel and rpc.Server pass their
keepalive settings to transport.driver, and grpcio is on the other end of
the socket. What went over the wire is read with the xray tracer, one per
connection (the driver's observer hook), or from the connection's `goaway`.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import grpc.aio
import pytest

import rpc
from transport.keepalive import MAX_AGE, TOO_MANY_PINGS
from transport.status import Http2ErrorCode
from transport.xray.records import FrameSeen
from transport.xray.tracer import Tracer

from tcp_relay import TcpRelay
from waiting import wait_until

pytestmark = pytest.mark.timeout(30)

SERVICE = "test.Keepalive"
ECHO, HOLD = f"/{SERVICE}/Echo", f"/{SERVICE}/Hold"
WAIT = 5.0   # the most any condition below may take to come true


async def echo(request, context):
    return request


async def hold(request, context):
    """Answer after the number of seconds the request names."""
    await asyncio.sleep(float(request.decode()))
    return request


def our_server(**settings) -> rpc.Server:
    server = rpc.Server(**settings)
    server.add_method_handlers([
        rpc.MethodHandler(path=ECHO, cardinality=rpc.Cardinality.UNARY_UNARY, behaviour=echo),
        rpc.MethodHandler(path=HOLD, cardinality=rpc.Cardinality.UNARY_UNARY, behaviour=hold),
    ])
    return server


async def grpcio_server(options=()) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=list(options))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Hold": grpc.unary_unary_rpc_method_handler(hold),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


class Wire:
    """One xray tracer per connection: every frame each side sent, annotated."""

    def __init__(self, local_role: str) -> None:
        self.local_role = local_role
        self.tracers: list[Tracer] = []

    def observer(self):
        """A fresh observer for one connection (rpc.Server's observer_factory)."""
        tracer = Tracer(local_role=self.local_role)
        self.tracers.append(tracer)
        return tracer.observe

    def frames(self, sender: str, type_name: str, *, ack: bool = False) -> list[FrameSeen]:
        return [record for tracer in self.tracers for record in tracer.records
                if isinstance(record, FrameSeen) and record.sender == sender
                and record.type_name == type_name and ("ACK" in record.flag_names) == ack]

    def goaways(self, sender: str) -> list[tuple[str, str]]:
        return [(frame.details["error_name"], frame.details.get("debug_data", ""))
                for frame in self.frames(sender, "GOAWAY")]


def transport_of(channel: rpc.Channel):
    (subchannel,) = channel.subchannels
    return subchannel.transport


# --- our client, a grpcio server -------------------------------------------------------------


async def test_our_defaults_never_trip_a_grpcio_servers_policing():
    server, port = await grpcio_server()          # grpcio's defaults: 5 minutes between pings, 2 strikes
    wire = Wire("client")
    channel = rpc.Channel(f"127.0.0.1:{port}", observer=wire.observer())
    try:
        for _ in range(5):
            assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        transport = transport_of(channel)
        await asyncio.sleep(0.7)                  # used, then left idle
        assert transport.goaway is None and not transport.is_closed
        assert wire.frames("client", "PING") == []   # keepalive is off by default (doc/keepalive.md)
        assert await channel.unary_unary(ECHO)(b"again") == b"again"
        assert transport_of(channel) is transport
    finally:
        await channel.close()
        await server.stop(0)


async def test_we_answer_a_grpcio_servers_keepalive_pings():
    server, port = await grpcio_server([
        ("grpc.keepalive_time_ms", 100), ("grpc.keepalive_timeout_ms", 500),
        ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_ping_interval_without_data_ms", 100), ("grpc.http2.max_ping_strikes", 1),
    ])
    wire = Wire("client")
    channel = rpc.Channel(f"127.0.0.1:{port}", observer=wire.observer())
    try:
        assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        transport = transport_of(channel)
        await wait_until(lambda: len(wire.frames("server", "PING")) >= 5)
        assert len(wire.frames("client", "PING", ack=True)) >= 4
        assert transport.goaway is None and not transport.is_closed   # its 500 ms timeout never struck
        assert await channel.unary_unary(ECHO)(b"again") == b"again"
    finally:
        await channel.close()
        await server.stop(0)


async def test_pinging_a_grpcio_server_too_often_gets_goaway_and_doubles_keepalive_time():
    server, port = await grpcio_server()
    channel = rpc.Channel(f"127.0.0.1:{port}", keepalive_time=0.1, keepalive_timeout=1.0)
    try:
        assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        transport = transport_of(channel)
        call = channel.unary_unary(HOLD)(b"5")     # a call open: we ping every 0.1 s
        await wait_until(lambda: transport.goaway is not None)
        assert transport.goaway.error_code == Http2ErrorCode.ENHANCE_YOUR_CALM
        assert transport.goaway.additional_data == TOO_MANY_PINGS
        assert transport.keepalive_time == 0.2    # A8: doubled for new connections
        with pytest.raises(rpc.RpcError) as failure:
            await asyncio.wait_for(call, WAIT)
        assert failure.value.code() == rpc.StatusCode.UNAVAILABLE
        assert await channel.unary_unary(ECHO)(b"again") == b"again"   # over a new connection
    finally:
        await channel.close()
        await server.stop(0)


# --- a grpcio client, our server ---------------------------------------------------------------

# grpcio's client pings once a second at most, whatever its keepalive_time_ms says.
GRPCIO_PINGING_EVERY_SECOND = [
    ("grpc.keepalive_time_ms", 100), ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0),
]


async def test_grpcio_client_pings_are_accepted_when_allowed_and_policed_when_not():
    allowing, policing = Wire("server"), Wire("server")
    servers = [
        our_server(keepalive_min_time=0.5, keepalive_permit_without_calls=True,
                   observer_factory=allowing.observer),
        our_server(max_ping_strikes=1, observer_factory=policing.observer),   # 5 minutes between pings
    ]
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{await server.start('127.0.0.1:0')}",
                                          options=GRPCIO_PINGING_EVERY_SECOND) for server in servers]
    try:
        for channel in channels:
            assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        await wait_until(lambda: len(allowing.frames("client", "PING")) >= 3 and policing.goaways("server"))
        assert allowing.goaways("server") == [] and len(allowing.tracers) == 1
        # A good PING, a strike forgiven, then one strike too many (one PING more
        # if the first came before our response, which forgives it).
        assert policing.goaways("server") == [("ENHANCE_YOUR_CALM", TOO_MANY_PINGS.decode())]
        assert len(policing.frames("client", "PING")) in (3, 4)
        for channel in channels:                  # grpcio connects again where it was sent away
            assert await channel.unary_unary(ECHO)(b"again") == b"again"
        assert len(allowing.tracers) == 1 and len(policing.tracers) == 2
    finally:
        for channel in channels:
            await channel.close()
        for server in servers:
            await server.stop(0)


async def test_our_server_keepalive_pings_are_answered_by_a_grpcio_client():
    wire = Wire("server")
    server = our_server(keepalive_time=0.1, keepalive_timeout=0.5, observer_factory=wire.observer)
    port = await server.start("127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        await wait_until(lambda: len(wire.frames("server", "PING")) >= 5)   # A9: without calls too
        assert len(wire.frames("client", "PING", ack=True)) >= 4
        assert wire.goaways("server") == wire.goaways("client") == []
        assert await channel.unary_unary(ECHO)(b"again") == b"again"
        assert len(wire.tracers) == 1             # the 500 ms timeout never struck
    finally:
        await channel.close()
        await server.stop(0)


# --- a silently dead connection ------------------------------------------------------------


async def test_a_dead_connection_fails_its_calls_unavailable_and_the_channel_reconnects():
    server = our_server(keepalive_time=None)       # only the client's keepalive watches
    relay = await TcpRelay.start(await server.start("127.0.0.1:0"))
    channel = rpc.Channel(f"127.0.0.1:{relay.port}", keepalive_time=0.2, keepalive_timeout=0.2)
    try:
        assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        first = transport_of(channel)
        in_flight = channel.unary_unary(HOLD)(b"10")
        await asyncio.sleep(0.1)                  # on its way (there or not, it must fail UNAVAILABLE)
        relay.freeze()
        frozen = time.monotonic()
        with pytest.raises(rpc.RpcError) as failure:
            await asyncio.wait_for(in_flight, WAIT)
        assert failure.value.code() == rpc.StatusCode.UNAVAILABLE
        assert "keepalive" in failure.value.details()
        assert time.monotonic() - frozen <= 0.2 + 0.2 + 1.0
        assert first.is_closed
        assert await channel.unary_unary(ECHO)(b"again") == b"again"   # a new connection
        assert transport_of(channel) is not first
    finally:
        await channel.close()
        relay.close()
        await server.stop(0)


# --- max_connection_age (A9) ------------------------------------------------------------------


@pytest.mark.parametrize("client", ["ours", "grpcio"])
async def test_max_connection_age_ends_connections_gracefully(client):
    wire = Wire("server")
    server = our_server(max_connection_age=0.2, max_connection_age_grace=5.0, observer_factory=wire.observer)
    port = await server.start("127.0.0.1:0")
    target = f"127.0.0.1:{port}"
    channel = rpc.Channel(target) if client == "ours" else grpc.aio.insecure_channel(target)
    try:
        started = time.monotonic()
        assert await channel.unary_unary(ECHO)(b"hi") == b"hi"
        in_flight = channel.unary_unary(HOLD)(b"0.5")     # outlives the connection's age
        await wait_until(lambda: wire.goaways("server"))
        assert time.monotonic() - started >= 0.17         # 0.2 s, -10% at most
        assert wire.goaways("server")[0] == ("NO_ERROR", MAX_AGE.decode())
        assert await asyncio.wait_for(in_flight, WAIT) == b"0.5"   # finished within the grace
        assert await channel.unary_unary(ECHO)(b"next") == b"next"
        assert len(wire.tracers) >= 2             # the next call went over a new connection
    finally:
        await channel.close()
        await server.stop(0)
