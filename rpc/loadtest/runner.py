"""Running a load: many calls at a fixed concurrency, for a count or a time.

In the spirit of ghz (https://ghz.sh/docs/options): ``concurrency`` workers
share one connection and each makes calls one after another until
``total`` calls have started (-n) or ``duration`` seconds have passed (-z);
calls in flight when the time is up may finish, bounded by their own
timeout. Every loop here is bounded: by the count, or by the clock.

    async def one_call(timeout):            raises rpc.RpcError to fail
        await stub.getOrder(request, timeout=timeout)
    results, elapsed = await run_load(one_call, concurrency=10, total=1000)
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from ..status import RpcError
from .stats import Result

__all__ = ["run_load", "Progress", "DEFAULT_CALL_TIMEOUT"]

DEFAULT_CALL_TIMEOUT = 20.0      # seconds, ghz's default --timeout
UNAVAILABLE = "UNAVAILABLE"      # what a call that never reached the server counts as

Call = Callable[[float | None], Awaitable[object]]


class Progress:
    """How far the run is: calls finished of ``total``, or seconds of ``duration``."""

    def __init__(self, total: int | None, duration: float | None) -> None:
        self.total = total
        self.duration = duration
        self.done = 0
        self.started = time.perf_counter()

    def fraction(self) -> float:
        if self.total:
            return min(1.0, self.done / self.total)
        if self.duration:
            return min(1.0, (time.perf_counter() - self.started) / self.duration)
        return 0.0


async def run_load(call: Call, *, concurrency: int, total: int | None = None,
                   duration: float | None = None, timeout: float | None = DEFAULT_CALL_TIMEOUT,
                   progress: Progress | None = None) -> tuple[list[Result], float]:
    """Make calls until ``total`` have started or ``duration`` has passed; (results, seconds)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if total is None and duration is None:
        raise ValueError("give a total number of calls, a duration, or both")
    if total is not None and total < 0:
        raise ValueError("total must not be negative")
    progress = progress or Progress(total, duration)
    started = time.perf_counter()
    stop_at = None if duration is None else started + duration
    budget = _Budget(total)
    results: list[Result] = []
    workers = [_worker(call, timeout, budget, stop_at, results, progress)
               for _ in range(min(concurrency, total) if total is not None else concurrency)]
    await asyncio.gather(*workers)
    return results, time.perf_counter() - started


class _Budget:
    """How many calls may still start (None: no limit but the clock)."""

    def __init__(self, total: int | None) -> None:
        self.left = total

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


async def _worker(call: Call, timeout: float | None, budget: _Budget, stop_at: float | None,
                  results: list[Result], progress: Progress) -> None:
    while (stop_at is None or time.perf_counter() < stop_at) and budget.take():
        results.append(await _timed(call, timeout))
        progress.done += 1


async def _timed(call: Call, timeout: float | None) -> Result:
    started = time.perf_counter()
    try:
        await call(timeout)
    except RpcError as error:
        return Result(time.perf_counter() - started, error.code().name, error.details() or "")
    except (OSError, ConnectionError) as error:
        return Result(time.perf_counter() - started, UNAVAILABLE, str(error))
    return Result(time.perf_counter() - started, "OK")
