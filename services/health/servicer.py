"""The Health service: Check answers once, Watch keeps answering.

Spec: doc/health-checking.md (https://github.com/grpc/grpc/blob/master/doc/health-checking.md):

    Check(service)   the service's status now; a service the server does not
                     know fails the call with NOT_FOUND
    Watch(service)   the status now, then a message each time it changes; a
                     service the server does not know is SERVICE_UNKNOWN, and
                     the stream stays open, so that a later ``set`` reaches it
    ""               the name of the server as a whole

Each Watch call is a ``_Watcher``: the latest status and an event that
``set`` fires. A watcher that is slow to send sees only the latest status,
never a backlog: a health stream says how things are, not how they were.
Both ``set`` and ``enter_graceful_shutdown`` must be called on the event
loop's thread (they touch asyncio events).
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import rpc

from . import ServingStatus, health_v1

__all__ = ["HealthServicer", "OVERALL_HEALTH"]

OVERALL_HEALTH = ""   # health-checking.md: "The empty string ... the overall health of the server"
UNKNOWN_SERVICE_DETAILS = "unknown service"


class _Watcher:
    """One Watch call: the status to send next, and a wake-up call for its handler."""

    def __init__(self, status: ServingStatus) -> None:
        self.status = status
        self.changed = asyncio.Event()

    def update(self, status: ServingStatus) -> None:
        self.status = status
        self.changed.set()


class HealthServicer(health_v1.HealthServicer):
    """Serving statuses by service name, told to Check and Watch callers."""

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {OVERALL_HEALTH: ServingStatus.SERVING}
        self._watchers: dict[str, set[_Watcher]] = {}
        self._shutting_down = False

    # --- the server's side --------------------------------------------------------

    def set(self, service: str, status: ServingStatus | int) -> None:
        """Record ``service``'s status and tell its watchers (ignored once shutting down)."""
        if self._shutting_down:
            return
        self._update(service, ServingStatus(status))

    def status(self, service: str) -> ServingStatus | None:
        """The status recorded for ``service``, or None if it was never set."""
        return self._statuses.get(service)

    def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING, for good: later ``set`` calls are ignored."""
        self._shutting_down = True
        for service in list(self._statuses):
            self._update(service, ServingStatus.NOT_SERVING)

    def _update(self, service: str, status: ServingStatus) -> None:
        self._statuses[service] = status
        for watcher in self._watchers.get(service, ()):
            watcher.update(status)

    # --- the two methods ----------------------------------------------------------

    async def Check(self, request, context):
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(rpc.StatusCode.NOT_FOUND,
                                f"{UNKNOWN_SERVICE_DETAILS}: {request.service!r}")
        return health_v1.HealthCheckResponse(status=status)

    async def Watch(self, request, context) -> AsyncIterator:
        service = request.service
        watcher = _Watcher(self._statuses.get(service, ServingStatus.SERVICE_UNKNOWN))
        self._watchers.setdefault(service, set()).add(watcher)
        try:
            sent = None
            while True:
                watcher.changed.clear()
                if watcher.status != sent:
                    sent = watcher.status
                    yield health_v1.HealthCheckResponse(status=sent)
                await watcher.changed.wait()
        finally:
            self._forget(service, watcher)

    def _forget(self, service: str, watcher: _Watcher) -> None:
        watchers = self._watchers.get(service)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[service]
