"""What every test folder shares.

- tests/ goes on sys.path, so that test folders can share helper modules
  (tests/tcp_relay.py): test files themselves cannot import each other.
- Async tests need no plugin: `pytest_pyfunc_call` runs an `async def` test
  on a fresh event loop, bounded a little under its timeout mark.
"""

import asyncio
import inspect
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

ASYNC_TEST_TIMEOUT = 30.0   # seconds, for an async test without a timeout mark


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests with asyncio.run, bounded a little under the timeout mark."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    marker = pyfuncitem.get_closest_marker("timeout")
    limit = (marker.args[0] - 2) if marker else ASYNC_TEST_TIMEOUT
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(_bounded(function(**arguments), limit))
    return True


async def _bounded(coroutine, limit: float) -> None:
    try:
        await asyncio.wait_for(coroutine, limit)
    except asyncio.TimeoutError:
        raise AssertionError(f"the test did not finish within {limit} s") from None
