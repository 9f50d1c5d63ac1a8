"""A unary call awaited as it is made runs in the awaiting task (rpc/call.py,
UnaryUnaryCall): the same outcomes as a call in a task of its own, and the
awaiting task is left as it was found (no cancellation left pending)."""

from __future__ import annotations

import asyncio

import pytest

import rpc

pytestmark = pytest.mark.timeout(30)


async def serve(ours, started: asyncio.Event | None = None, release: asyncio.Event | None = None):
    class Orders(ours.Servicer):
        async def getOrder(self, request, context):
            if started is not None:
                started.set()
            if release is not None:
                await release.wait()
            return ours.Order(id=request.value)

    server = rpc.Server()
    server.add_service(Orders())
    port = await server.start("127.0.0.1:0")
    return server, f"127.0.0.1:{port}"


def call_tasks() -> list[str]:
    """The tasks running a client call's coroutine (rpc/call.py), by name."""
    names = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]
    return [name for name in names if name.startswith("UnaryUnaryCall.")]


async def test_an_awaited_call_needs_no_task_of_its_own(ours):
    started, release = asyncio.Event(), asyncio.Event()
    server, target = await serve(ours, started, release)
    try:
        async with rpc.Channel(target) as channel:
            stub = ours.Stub(channel)
            async def caller():
                return await stub.getOrder(ours.StringValue(value="a"), timeout=5)

            awaited = asyncio.ensure_future(caller())
            await asyncio.wait_for(started.wait(), 5)
            assert call_tasks() == []                      # the awaiting task runs it
            release.set()
            assert (await awaited).id == "a"

            started.clear()
            release.clear()
            call = stub.getOrder(ours.StringValue(value="b"), timeout=5)     # not awaited
            await asyncio.wait_for(started.wait(), 5)
            assert call_tasks() == ["UnaryUnaryCall._run"]  # a task of its own
            release.set()
            assert (await call).id == "b"
            assert (await call).id == "b"                  # awaiting again: the same answer
            assert await call.code() == rpc.StatusCode.OK
    finally:
        await server.stop(0)


async def test_a_call_nobody_awaits_still_runs(ours):
    started = asyncio.Event()
    server, target = await serve(ours, started)
    try:
        async with rpc.Channel(target) as channel:
            call = ours.Stub(channel).getOrder(ours.StringValue(value="b"), timeout=5)
            await asyncio.wait_for(started.wait(), 5)      # it reached the server unawaited
            assert await call.code() == rpc.StatusCode.OK
            assert (await call).id == "b"
    finally:
        await server.stop(0)


async def test_cancel_from_another_task_stops_an_inline_call(ours):
    started, release = asyncio.Event(), asyncio.Event()
    server, target = await serve(ours, started, release)
    try:
        async with rpc.Channel(target) as channel:
            call = ours.Stub(channel).getOrder(ours.StringValue(value="c"), timeout=5)

            async def cancel_soon():
                await started.wait()
                assert call.cancel()

            canceller = asyncio.ensure_future(cancel_soon())
            with pytest.raises(asyncio.CancelledError):
                await call
            await canceller
            task = asyncio.current_task()
            assert task.cancelling() == 0                  # nothing left pending on this task
            await asyncio.sleep(0)                         # ...so it goes on awaiting freely
            assert await call.code() == rpc.StatusCode.CANCELLED
            release.set()
    finally:
        await server.stop(0)


async def test_a_deadline_ends_an_inline_call_with_deadline_exceeded(ours):
    release = asyncio.Event()
    server, target = await serve(ours, release=release)
    try:
        async with rpc.Channel(target) as channel:
            with pytest.raises(rpc.RpcError) as caught:
                await ours.Stub(channel).getOrder(ours.StringValue(value="d"), timeout=0.2)
            assert caught.value.code() == rpc.StatusCode.DEADLINE_EXCEEDED
            assert asyncio.current_task().cancelling() == 0
            await asyncio.sleep(0.01)
            release.set()
    finally:
        await server.stop(0)


async def test_cancelling_the_awaiting_task_cancels_the_call(ours):
    started, release = asyncio.Event(), asyncio.Event()
    server, target = await serve(ours, started, release)
    try:
        async with rpc.Channel(target) as channel:
            holder = {}

            async def caller():
                holder["call"] = call = ours.Stub(channel).getOrder(ours.StringValue(value="e"), timeout=5)
                return await call

            task = asyncio.ensure_future(caller())
            await asyncio.wait_for(started.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await holder["call"].code() == rpc.StatusCode.CANCELLED
            release.set()
    finally:
        await server.stop(0)
