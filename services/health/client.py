"""A health probe: ``python -m services.health.client --target HOST:PORT [--service NAME] [--watch]``.

Spec: doc/health-checking.md (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).
Like grpc_health_probe: prints the status, and exits 0 when it is SERVING,
1 when it is anything else or the service is unknown (NOT_FOUND), 2 when
the call fails. With ``--watch``, prints every status the server pushes
until interrupted or until ``--timeout`` passes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import AsyncIterator

import rpc

from . import ServingStatus, health_v1

__all__ = ["check", "watch", "main"]

SERVING_EXIT, NOT_SERVING_EXIT, FAILED_EXIT = 0, 1, 2


async def check(channel: rpc.Channel, service: str = "", timeout: float | None = None) -> ServingStatus:
    """The service's status now (rpc.RpcError NOT_FOUND if the server does not know it)."""
    stub = health_v1.HealthStub(channel)
    response = await stub.Check(health_v1.HealthCheckRequest(service=service), timeout=timeout)
    return response.status


async def watch(channel: rpc.Channel, service: str = "",
                timeout: float | None = None) -> AsyncIterator[ServingStatus]:
    """Each status the server sends: the current one, then every change."""
    stub = health_v1.HealthStub(channel)
    async for response in stub.Watch(health_v1.HealthCheckRequest(service=service),
                                     timeout=timeout):
        yield response.status


async def run(args: argparse.Namespace) -> int:
    async with rpc.Channel(args.target) as channel:
        if args.watch:
            async for status in watch(channel, args.service, args.timeout):
                print(status.name, flush=True)
            return SERVING_EXIT
        status = await check(channel, args.service, args.timeout)
        print(status.name)
        return SERVING_EXIT if status == ServingStatus.SERVING else NOT_SERVING_EXIT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--service", default="", help='service name; "" is the whole server')
    parser.add_argument("--watch", action="store_true", help="print every status change")
    parser.add_argument("--timeout", type=float, default=None, help="seconds")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except rpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        if error.code() == rpc.StatusCode.NOT_FOUND:
            return NOT_SERVING_EXIT
        if args.watch and error.code() == rpc.StatusCode.DEADLINE_EXCEEDED:
            return SERVING_EXIT
        return FAILED_EXIT
    except KeyboardInterrupt:
        return SERVING_EXIT


if __name__ == "__main__":
    sys.exit(main())
