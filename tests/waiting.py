"""Waiting, bounded, for a condition that no event announces (shared by the test folders)."""

import asyncio

WAIT = 10.0    # seconds: generous, for CI is a loaded machine
POLL = 0.01    # seconds between two looks


async def wait_until(condition, timeout: float = WAIT) -> None:
    """Look at `condition()` every POLL seconds until it is true; fail after `timeout`."""
    for _ in range(int(timeout / POLL)):
        if condition():
            return
        await asyncio.sleep(POLL)
    raise AssertionError(f"the condition did not come true within {timeout} s")
