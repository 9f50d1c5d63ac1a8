"""grpc.health.v1 served by us, checked with grpcio-health-checking's own stubs.

doc/health-checking.md: Check answers NOT_FOUND for an unknown service; Watch
answers SERVICE_UNKNOWN and stays open; "" is the whole server; every change
reaches the watchers; at shutdown everything is NOT_SERVING.
"""

import asyncio
import os
import signal
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import rpc
from services.health import HealthServicer, ServingStatus
from services.productinfo import ecommerce
from services.productinfo.server import ProductInfo
from services.standard import add_standard_services

WAIT = 5.0          # seconds: every wait in these tests is bounded by this
SERVICE = "ecommerce.ProductInfo"
PB = health_pb2.HealthCheckResponse


async def serving(health=None):
    server = rpc.Server()
    health = health or HealthServicer()
    server.add_service(health)
    port = await server.start("127.0.0.1:0")
    return server, health, f"127.0.0.1:{port}"


async def check(stub, service):
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=WAIT)
    return response.status


async def next_status(call):
    response = await asyncio.wait_for(call.read(), WAIT)
    return response.status


def run(coroutine):
    asyncio.run(asyncio.wait_for(coroutine, 30))


@pytest.mark.timeout(30)
def test_check_overall_known_and_unknown_services():
    async def main():
        server, health, target = await serving()
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                assert await check(stub, "") == PB.SERVING           # the server as a whole
                health.set(SERVICE, ServingStatus.SERVING)
                assert await check(stub, SERVICE) == PB.SERVING
                health.set(SERVICE, ServingStatus.NOT_SERVING)
                assert await check(stub, SERVICE) == PB.NOT_SERVING
                with pytest.raises(grpc.aio.AioRpcError) as error:
                    await check(stub, "no.such.Service")
                assert error.value.code() == grpc.StatusCode.NOT_FOUND
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_watch_unknown_service_stays_open_and_sees_every_change():
    async def main():
        server, health, target = await serving()
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                call = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
                assert await next_status(call) == PB.SERVICE_UNKNOWN
                assert not call.done()                            # the stream stays open
                health.set(SERVICE, ServingStatus.SERVING)
                assert await next_status(call) == PB.SERVING
                health.set(SERVICE, ServingStatus.SERVING)        # no change: nothing sent
                health.set(SERVICE, ServingStatus.NOT_SERVING)
                assert await next_status(call) == PB.NOT_SERVING
                health.set(SERVICE, ServingStatus.SERVING)
                assert await next_status(call) == PB.SERVING
                call.cancel()
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_two_watchers_both_hear_and_a_cancelled_watch_is_forgotten():
    async def main():
        server, health, target = await serving()
        health.set(SERVICE, ServingStatus.SERVING)
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                calls = [stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE)) for _ in range(2)]
                for call in calls:
                    assert await next_status(call) == PB.SERVING
                health.set(SERVICE, ServingStatus.NOT_SERVING)
                for call in calls:
                    assert await next_status(call) == PB.NOT_SERVING
                for call in calls:
                    call.cancel()
                for _ in range(int(WAIT / 0.01)):                 # the handlers end, bounded
                    if not health._watchers:
                        break
                    await asyncio.sleep(0.01)
                assert not health._watchers
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_graceful_shutdown_sets_everything_not_serving_for_good():
    async def main():
        server, health, target = await serving()
        health.set(SERVICE, ServingStatus.SERVING)
        try:
            async with grpc.aio.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                overall = stub.Watch(health_pb2.HealthCheckRequest(service=""))
                assert await next_status(overall) == PB.SERVING
                health.enter_graceful_shutdown()
                assert await next_status(overall) == PB.NOT_SERVING
                health.set(SERVICE, ServingStatus.SERVING)        # ignored from now on
                assert await check(stub, SERVICE) == PB.NOT_SERVING
                assert await check(stub, "") == PB.NOT_SERVING
                await server.stop(0.5)                            # the watch ends with the server
                with pytest.raises(grpc.aio.AioRpcError):
                    await asyncio.wait_for(overall.read(), WAIT)
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_standard_services_mark_each_service_serving():
    async def main():
        server = rpc.Server()
        server.add_service(ProductInfo())
        standard = add_standard_services(server, ecommerce)
        port = await server.start("127.0.0.1:0")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                assert await check(stub, SERVICE) == PB.SERVING
                assert await check(stub, "") == PB.SERVING
            assert standard.health.status(SERVICE) == ServingStatus.SERVING
        finally:
            await server.stop(0)
    run(main())


@pytest.mark.timeout(30)
def test_the_server_program_goes_not_serving_on_sigterm():
    """`python -m services.productinfo.server`: a watcher sees NOT_SERVING at SIGTERM."""
    async def main():
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.productinfo.server", "--port", "0",
            stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            line = (await asyncio.wait_for(process.stdout.readline(), 15)).decode()
            port = line.rsplit(":", 1)[1].strip()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                call = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
                assert await next_status(call) == PB.SERVING
                process.send_signal(signal.SIGTERM)
                assert await next_status(call) == PB.NOT_SERVING
            assert await asyncio.wait_for(process.wait(), 10) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    run(main())


@pytest.mark.timeout(30)
def test_the_probe_program_and_its_check_function():
    """`python -m services.health.client`: exit 0 for SERVING, 1 for unknown or not serving."""
    from services.health import client as probe

    async def main():
        server, health, target = await serving()
        health.set(SERVICE, ServingStatus.NOT_SERVING)
        try:
            async with rpc.Channel(target) as channel:
                assert await probe.check(channel, "", timeout=WAIT) == ServingStatus.SERVING
                statuses = probe.watch(channel, SERVICE, timeout=WAIT)
                assert await anext(statuses) == ServingStatus.NOT_SERVING
                await statuses.aclose()
            results = []
            for service in ("", SERVICE, "no.such.Service"):
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "services.health.client", "--target", target,
                    "--service", service, "--timeout", str(WAIT),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, _ = await asyncio.wait_for(process.communicate(), 20)
                results.append((process.returncode, out.decode().strip()))
        finally:
            await server.stop(0)
        assert results == [(0, "SERVING"), (1, "NOT_SERVING"), (1, "")]
    run(main())
