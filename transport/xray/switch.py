"""RPC_TRACE: frame-level debug logging, switched on from the environment.

In the spirit of gRPC's GRPC_TRACE (doc/environment_variables.md,
https://github.com/grpc/grpc/blob/master/doc/environment_variables.md), a
comma-separated list of what to trace:

    RPC_TRACE=http2 python -m services.productinfo.server
    RPC_TRACE=all   python -m services.productinfo.client

``http2`` (or ``all``) gives every connection the driver opens or accepts a
Tracer whose records go, annotated as ``python -m transport.xray`` prints
them and prefixed with whose view it is ("client#1", "server#3": role and
connection number), to the logger ``transport.trace`` at DEBUG: frames, decoded headers,
message prefixes, messages in hex. With no handler configured for that logger,
one writing to stderr is added, so that the switch alone is enough to see the
frames. The name is not GRPC_TRACE itself, so that a grpcio peer in the same
process does not start tracing too.

The tracer here keeps nothing: each record is logged and dropped.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from typing import Callable

from ..driver import TRACE_VARIABLE as ENVIRONMENT_VARIABLE
from .records import CLIENT, SERVER
from .text import format_record
from .tracer import RECEIVED, SENT, Tracer

__all__ = ["ENVIRONMENT_VARIABLE", "LOGGER_NAME", "TRACERS", "traced", "trace_observer"]

LOGGER_NAME = "transport.trace"
TRACERS = frozenset({"http2"})       # what RPC_TRACE may name (besides "all")

logger = logging.getLogger(LOGGER_NAME)
_connections = {CLIENT: itertools.count(1), SERVER: itertools.count(1)}   # numbered per role


def traced(name: str, environ=os.environ) -> bool:
    """Whether RPC_TRACE turns on the tracer ``name`` ("http2")."""
    wanted = {part.strip().lower() for part in environ.get(ENVIRONMENT_VARIABLE, "").split(",")}
    return name in wanted or "all" in wanted


def trace_observer(local_role: str, environ=os.environ) -> Callable[[str, bytes], None] | None:
    """A driver observer that logs every frame of one connection, or None when
    RPC_TRACE does not ask for ``http2``. ``local_role``: "client" or "server"."""
    if not traced("http2", environ):
        return None
    _ensure_handler()
    tracer = Tracer(local_role=local_role)
    senders = {SENT: local_role, RECEIVED: SERVER if local_role == CLIENT else CLIENT}
    prefix = f"{local_role}#{next(_connections[local_role])} "      # whose view, which connection

    def observe(direction: str, data: bytes) -> None:
        for record in tracer.feed(senders[direction], data):
            text = format_record(record)
            logger.debug("%s", "\n".join(prefix + line for line in text.splitlines()))
    return observe


def _ensure_handler() -> None:
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
