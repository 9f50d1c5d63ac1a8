"""The channel over several backends: round_robin, pick_first, states, wait_for_ready.

Specs: doc/load-balancing.md, doc/connectivity-semantics-and-api.md and
doc/connection-backoff.md (https://github.com/grpc/grpc/tree/master/doc).
Every backend is a real server on loopback: three of ours and one grpcio
server, each answering getOrder with its own name, so a test can count
where the calls went.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import grpc
import pytest

import rpc
from rpc import ConnectivityState
from rpc.balancer import Backoff

from waiting import wait_until

pytestmark = pytest.mark.timeout(60)

FAST = dict(initial=0.05, multiplier=1.6, jitter=0.2, maximum=0.2, min_connect_timeout=1.0)


def fast_backoff() -> Backoff:
    return Backoff(**FAST)


class Backend:
    """One server answering getOrder with its name; stop() and start() again on its port."""

    def __init__(self, name: str, kind: str, ours, theirs) -> None:
        self.name, self.kind, self.ours, self.theirs = name, kind, ours, theirs
        self.port = 0
        self.server = None
        self.seen = 0

    async def start(self) -> "Backend":
        address = f"127.0.0.1:{self.port}"
        if self.kind == "ours":
            backend = self

            class Orders(self.ours.Servicer):
                async def getOrder(self, request, context):
                    backend.seen += 1
                    return backend.ours.Order(id=backend.name)

            self.server = rpc.Server()
            self.server.add_service(Orders())
            self.port = await self.server.start(address)
        else:
            backend = self

            class GrpcioOrders(self.theirs.Servicer):
                async def getOrder(self, request, context):
                    backend.seen += 1
                    return backend.theirs.Order(id=backend.name)

            self.server = grpc.aio.server()
            self.theirs.add_to_server(GrpcioOrders(), self.server)
            self.port = self.server.add_insecure_port(address)
            await self.server.start()
        return self

    async def stop(self, grace: float | None = 0) -> None:
        if self.server is not None:
            await self.server.stop(grace)
            self.server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def backends(ours, theirs, kinds=("ours", "ours", "ours", "grpcio")):
    started = [await Backend(f"b{i}", kind, ours, theirs).start() for i, kind in enumerate(kinds)]
    try:
        yield started
    finally:
        for backend in started:
            await backend.stop()


def ipv4_target(servers) -> str:
    return "ipv4:" + ",".join(server.address for server in servers)


async def names_of(stub, msg, count: int, **options) -> collections.Counter:
    counts = collections.Counter()
    for _ in range(count):
        counts[(await stub.getOrder(msg.StringValue(), timeout=5, **options)).id] += 1
    return counts


# --- round_robin ----------------------------------------------------------------------------


async def test_round_robin_spreads_calls_evenly_over_ours_and_grpcio(ours, theirs):
    async with backends(ours, theirs) as servers:
        async with rpc.Channel(ipv4_target(servers), load_balancing_policy="round_robin") as channel:
            await asyncio.wait_for(channel.channel_ready(), 5)
            await wait_until(lambda: all(s.state is ConnectivityState.READY for s in channel.subchannels))
            counts = await names_of(ours.Stub(channel), ours, 400)
    assert counts == {"b0": 100, "b1": 100, "b2": 100, "b3": 100}


async def test_round_robin_by_service_config(ours, theirs):
    config = '{"loadBalancingConfig": [{"weighted_fair_queueing": {}}, {"round_robin": {}}]}'
    async with backends(ours, theirs, kinds=("ours", "ours")) as servers:
        async with rpc.Channel(ipv4_target(servers), service_config=config) as channel:
            await asyncio.wait_for(channel.channel_ready(), 5)
            await wait_until(lambda: all(s.state is ConnectivityState.READY for s in channel.subchannels))
            counts = await names_of(ours.Stub(channel), ours, 10)
    assert counts == {"b0": 5, "b1": 5}


async def test_a_stopped_backend_loses_no_call_and_is_used_again_when_back(ours, theirs):
    async with backends(ours, theirs) as servers:
        async with rpc.Channel(ipv4_target(servers), load_balancing_policy="round_robin",
                               backoff=fast_backoff()) as channel:
            stub = ours.Stub(channel)
            await asyncio.wait_for(channel.channel_ready(), 5)
            await wait_until(lambda: all(s.state is ConnectivityState.READY for s in channel.subchannels))
            counts = collections.Counter()
            failures = []

            async def caller(n: int) -> None:
                for _ in range(n):
                    try:
                        counts[(await stub.getOrder(ours.StringValue(), timeout=5)).id] += 1
                    except rpc.RpcError as error:
                        failures.append(error)

            running = asyncio.ensure_future(asyncio.gather(*(caller(150) for _ in range(4))))
            await wait_until(lambda: sum(counts.values()) >= 100)
            await servers[1].stop(grace=1)              # mid-run
            await asyncio.wait_for(running, 30)
            assert failures == []                        # every call went somewhere
            assert sum(counts.values()) == 600
            before = servers[1].seen
            assert counts["b1"] == before                # ...and b1 took none after it stopped

            await servers[1].start()                     # same port again
            await wait_until(lambda: all(s.state is ConnectivityState.READY for s in channel.subchannels))
            again = await names_of(stub, ours, 40)
    assert again["b1"] == 10 and sum(again.values()) == 40


async def test_round_robin_state_is_ready_with_one_backend_up(ours, theirs):
    async with backends(ours, theirs, kinds=("ours",)) as servers:
        dead = Backend("dead", "ours", ours, theirs)
        await dead.start()
        await dead.stop()                                 # a port with nobody listening
        target = ipv4_target([dead, servers[0]])
        async with rpc.Channel(target, load_balancing_policy="round_robin",
                               backoff=fast_backoff()) as channel:
            await asyncio.wait_for(channel.channel_ready(), 5)
            counts = await names_of(ours.Stub(channel), ours, 6)
            states = {str(s.address): s.state for s in channel.subchannels}
    assert counts == {"b0": 6}
    assert states[servers[0].address] is ConnectivityState.READY
    assert states[dead.address] in (ConnectivityState.TRANSIENT_FAILURE, ConnectivityState.CONNECTING,
                                    ConnectivityState.IDLE)


# --- pick_first -------------------------------------------------------------------------------


async def test_pick_first_uses_the_first_address_and_fails_over(ours, theirs):
    async with backends(ours, theirs, kinds=("ours", "grpcio")) as servers:
        async with rpc.Channel(ipv4_target(servers), backoff=fast_backoff()) as channel:
            stub = ours.Stub(channel)
            assert await names_of(stub, ours, 5) == {"b0": 5}
            await servers[0].stop(grace=1)
            # the lost connection takes the channel to IDLE; the next call connects anew,
            # finds b0 refusing, and fails over to b1
            await wait_until(lambda: channel.get_state() is not ConnectivityState.READY)
            counts = await names_of(stub, ours, 5, wait_for_ready=True)
    assert counts == {"b1": 5}


async def test_pick_first_skips_an_address_that_refuses(ours, theirs):
    async with backends(ours, theirs, kinds=("ours",)) as servers:
        dead = Backend("dead", "ours", ours, theirs)
        await dead.start()
        await dead.stop()
        async with rpc.Channel(ipv4_target([dead, servers[0]]), backoff=fast_backoff()) as channel:
            counts = await names_of(ours.Stub(channel), ours, 3)
    assert counts == {"b0": 3}


# --- states, fail fast, wait_for_ready -----------------------------------------------------


async def test_states_idle_connecting_ready_shutdown(ours, theirs):
    async with backends(ours, theirs, kinds=("ours",)) as servers:
        channel = rpc.Channel(servers[0].address)
        seen = [channel.get_state()]
        assert seen == [ConnectivityState.IDLE]
        assert channel.get_state(try_to_connect=True) is ConnectivityState.CONNECTING
        while seen[-1] is not ConnectivityState.READY:
            await asyncio.wait_for(channel.wait_for_state_change(channel.get_state()), 5)
            seen.append(channel.get_state())
        await channel.close()
        assert channel.get_state() is ConnectivityState.SHUTDOWN
    assert seen[0] is ConnectivityState.IDLE and seen[-1] is ConnectivityState.READY


async def test_nothing_listening_is_transient_failure_and_calls_fail_fast(ours, theirs):
    dead = Backend("dead", "ours", ours, theirs)
    await dead.start()
    await dead.stop()
    async with rpc.Channel(dead.address, backoff=Backoff(initial=5.0, maximum=5.0)) as channel:
        stub = ours.Stub(channel)
        with pytest.raises(rpc.RpcError) as first:
            await stub.getOrder(ours.StringValue(), timeout=5)
        assert first.value.code() == rpc.StatusCode.UNAVAILABLE
        assert "failed to connect to all addresses" in first.value.details()
        assert channel.get_state() is ConnectivityState.TRANSIENT_FAILURE
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(rpc.RpcError) as second:    # inside the 5 s backoff: at once
            await stub.getOrder(ours.StringValue(), timeout=5)
        assert second.value.code() == rpc.StatusCode.UNAVAILABLE
        assert loop.time() - started < 1.0


async def test_wait_for_ready_waits_for_a_server_that_comes_up(ours, theirs):
    late = Backend("late", "ours", ours, theirs)
    await late.start()
    await late.stop()                                   # learn a free port, then leave it empty
    async with rpc.Channel(late.address, backoff=fast_backoff()) as channel:
        stub = ours.Stub(channel)
        waiting = asyncio.ensure_future(
            stub.getOrder(ours.StringValue(), timeout=10, wait_for_ready=True))
        await wait_until(lambda: channel.get_state() is ConnectivityState.TRANSIENT_FAILURE)
        assert not waiting.done()
        await late.start()
        try:
            assert (await asyncio.wait_for(waiting, 10)).id == "late"
        finally:
            await late.stop()


async def test_wait_for_ready_is_bounded_by_the_deadline(ours, theirs):
    dead = Backend("dead", "ours", ours, theirs)
    await dead.start()
    await dead.stop()
    async with rpc.Channel(dead.address, backoff=fast_backoff()) as channel:
        with pytest.raises(rpc.RpcError) as caught:
            await ours.Stub(channel).getOrder(ours.StringValue(), timeout=0.5, wait_for_ready=True)
    assert caught.value.code() == rpc.StatusCode.DEADLINE_EXCEEDED


async def test_wait_for_ready_from_the_service_config(ours, theirs):
    late = Backend("late", "ours", ours, theirs)
    await late.start()
    await late.stop()
    config = {"methodConfig": [{"name": [{"service": "ecommerce.OrderManagement"}],
                                "waitForReady": True}]}
    async with rpc.Channel(late.address, backoff=fast_backoff(), service_config=config) as channel:
        waiting = asyncio.ensure_future(ours.Stub(channel).getOrder(ours.StringValue(), timeout=10))
        await wait_until(lambda: channel.get_state() is ConnectivityState.TRANSIENT_FAILURE)
        await late.start()
        try:
            assert (await asyncio.wait_for(waiting, 10)).id == "late"
        finally:
            await late.stop()


async def test_reconnection_follows_the_backoff(ours, theirs):
    dead = Backend("dead", "ours", ours, theirs)
    await dead.start()
    await dead.stop()
    attempts = []
    backoff = Backoff(initial=0.1, multiplier=2.0, jitter=0.0, maximum=0.4, min_connect_timeout=1.0)
    async with rpc.Channel(dead.address, backoff=backoff, load_balancing_policy="round_robin") as channel:
        loop = asyncio.get_running_loop()
        channel.get_state(try_to_connect=True)
        subchannel = None
        while len(attempts) < 5:
            await wait_until(lambda: channel.subchannels)
            subchannel = channel.subchannels[0]
            await asyncio.wait_for(subchannel.wait_for_state_change(subchannel.state), 5)
            if subchannel.state is ConnectivityState.CONNECTING:
                attempts.append(loop.time())
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:])]
    # 0.1, 0.2, 0.4, 0.4 (capped): each gap at least its backoff, and not far over it
    for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.4]):
        assert expected - 0.02 <= gap < expected + 0.5, gaps


def test_backoff_follows_connection_backoff_md():
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(12)]
    assert delays[0] == 1.0
    expected = 1.0
    for delay in delays[1:]:
        expected = min(expected * 1.6, 120.0)
        assert expected * 0.8 <= delay <= expected * 1.2
    assert backoff.connect_timeout(delays[0]) == 20.0
    backoff.reset()
    assert backoff.next_delay() == 1.0
    with pytest.raises(ValueError):
        Backoff(initial=0)


async def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown load balancing policy"):
        rpc.Channel("127.0.0.1:1", load_balancing_policy="grpclb")


async def test_resolver_updates_reach_the_balancer(ours, theirs):
    async with backends(ours, theirs, kinds=("ours", "ours")) as servers:
        resolver = rpc.StaticResolver([servers[0].address])
        async with rpc.Channel(resolver, load_balancing_policy="round_robin") as channel:
            stub = ours.Stub(channel)
            assert await names_of(stub, ours, 4) == {"b0": 4}
            resolver.update([servers[0].address, servers[1].address])
            await wait_until(lambda: len(channel.subchannels) == 2 and all(
                s.state is ConnectivityState.READY for s in channel.subchannels))
            assert await names_of(stub, ours, 4) == {"b0": 2, "b1": 2}
            resolver.update([servers[1].address])
            await wait_until(lambda: len(channel.subchannels) == 1)
            assert await names_of(stub, ours, 4) == {"b1": 4}


# --- the other target forms, end to end ------------------------------------------------------


async def test_unix_socket_targets_reach_ours_and_grpcio(ours, theirs, tmp_path):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            return ours.Order(id="ours-unix")

    class GrpcioOrders(theirs.Servicer):
        async def getOrder(self, request, context):
            return theirs.Order(id="grpcio-unix")

    server = rpc.Server()
    server.add_service(Orders())
    await server.start(f"unix:{tmp_path}/ours.sock")
    grpcio_server = grpc.aio.server()
    theirs.add_to_server(GrpcioOrders(), grpcio_server)
    grpcio_server.add_insecure_port(f"unix:{tmp_path}/grpcio.sock")
    await grpcio_server.start()
    try:
        for target, name in [(f"unix:{tmp_path}/ours.sock", "ours-unix"),
                             (f"unix://{tmp_path}/grpcio.sock", "grpcio-unix")]:
            async with rpc.Channel(target) as channel:
                assert await names_of(ours.Stub(channel), ours, 2) == {name: 2}
    finally:
        await server.stop(0)
        await grpcio_server.stop(0)


async def test_ipv6_and_dns_targets(ours, theirs):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            return ours.Order(id=context.peer().split(":")[0])

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("[::1]:0")
    try:
        async with rpc.Channel(f"ipv6:[::1]:{port}") as channel:
            assert await names_of(ours.Stub(channel), ours, 2) == {"ipv6": 2}
        async with rpc.Channel(f"dns:///[::1]:{port}") as channel:
            assert await names_of(ours.Stub(channel), ours, 1) == {"ipv6": 1}
    finally:
        await server.stop(0)


async def test_a_resolver_shared_by_two_channels_outlives_either(ours, theirs):
    async with backends(ours, theirs, kinds=("ours", "ours")) as servers:
        resolver = rpc.StaticResolver([servers[0].address])
        first = rpc.Channel(resolver)
        async with rpc.Channel(resolver) as second:
            assert await names_of(ours.Stub(first), ours, 1) == {"b0": 1}
            await first.close()                          # the resolver is not the channel's to close
            assert await names_of(ours.Stub(second), ours, 1) == {"b0": 1}
            resolver.update([servers[1].address])        # still heard by the channel left open
            await wait_until(lambda: [str(s.address) for s in second.subchannels] == [servers[1].address])
            assert await names_of(ours.Stub(second), ours, 2) == {"b1": 2}


async def test_pick_first_keeps_one_connection_when_several_come_up_at_once(ours, theirs):
    # Both backends down: every address fails once (TRANSIENT_FAILURE), then each
    # is tried again as its backoff ends. Both may connect; pick_first keeps one.
    first = Backend("first", "ours", ours, theirs)
    second = Backend("second", "ours", ours, theirs)
    for backend in (first, second):
        await backend.start()
        await backend.stop()
    async with rpc.Channel(ipv4_target([first, second]), backoff=fast_backoff()) as channel:
        channel.get_state(try_to_connect=True)
        await wait_until(lambda: channel.get_state() is ConnectivityState.TRANSIENT_FAILURE)
        await first.start()
        await second.start()
        try:
            await asyncio.wait_for(channel.channel_ready(), 5)
            await asyncio.sleep(0.5)                  # time for a second connection to come up
            ready = [s for s in channel.subchannels if s.state is ConnectivityState.READY]
            assert len(ready) == 1
            chosen = ready[0]
            open_connections = {b.name: len(b.server._listener.connections) for b in (first, second)}
            assert sum(open_connections.values()) == 1, open_connections
            counts = await names_of(ours.Stub(channel), ours, 4)
            assert len(counts) == 1 and str(chosen.address) in (first.address, second.address)
        finally:
            await first.stop()
            await second.stop()
