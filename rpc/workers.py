"""Serving on every core: N processes listening on one port with SO_REUSEPORT.

Spec: socket(7), SO_REUSEPORT (https://man7.org/linux/man-pages/man7/socket.7.html).
Sockets that all set SO_REUSEPORT, owned by one user, may bind the same
address and port; for TCP, Linux (3.9 and later) then spreads new connections
over the listening ones, by a hash of each connection's addresses and ports.
One Python process serves on one core (one event loop, one GIL); N of them
behind one port serve on N, and no client has to know.

Serving on every core
---------------------

Every example server takes ``--workers N``::

    python -m services.productinfo.server --port 50051 --workers 4

The process you started becomes the parent and serves nothing itself:

1. it reserves the port: a socket with SO_REUSEPORT, bound but never
   listening (the kernel gives connections to listening sockets only). With
   ``--port 0`` this is also where the one port for all workers is chosen;
2. it starts N workers, each the very same program run again with
   ``--port P --workers 1 --reuse-port``, and each given one end of a
   socketpair (its fd number in ``$RPC_WORKER_LINK_FD``);
3. each worker listens with SO_REUSEPORT, then writes its "listening on" line
   to the link instead of printing it; once all N have, the parent prints that
   line once, with the workers' pids;
4. it forwards SIGINT and SIGTERM to the workers. When a worker exits, the
   kernel closes its end of the link, the parent sees end-of-file, and stops the
   others (SIGTERM; SIGKILL after ``stop_timeout``), as it does when not
   every worker listens within ``ready_timeout``. It exits with the first
   non-zero status of a worker (128 + N for one killed by signal N, as a
   shell says it), else 0. When the parent dies, even by SIGKILL, each
   worker sees end-of-file on its own end and stops gracefully, so no worker
   outlives it.

Every worker gets every flag the parent got: ``--metrics-port 0`` gives each
its own metrics port, where a fixed one would be taken by the first.

Why subprocess and not multiprocessing: a worker is then nothing special, the
program a reader could type, shown as such by ``ps``, and nothing of the
parent's state crosses over. multiprocessing's "spawn" would start the same
fresh interpreters, plus pickling the server function and running a resource
tracker process beside them; "fork" would copy a parent mid-flight, and
forking a process with threads or a running event loop is unsafe.

Without the parent, the same recipe by hand (or under systemd) is N copies of
``python -m services.productinfo.server --port 50051 --reuse-port``.

Load is spread per connection, not per call: a client that keeps one
channel open talks to one worker for good. Many clients, or a proxy that
opens its own connections (below), spread well.

Behind nginx
------------

nginx (1.13.10 and later) proxies gRPC at layer 7: ``grpc_pass`` forwards
each call (one HTTP/2 stream) to a backend of an ``upstream`` group, round
robin by default, so even the calls of a single client channel spread over
every backend. Metadata travels as HTTP/2 headers and trailers both ways;
status, details and ``-bin`` metadata pass through untouched (all of the
official interop test cases pass through it). ``services/nginx/grpc.conf``
is a complete, ready-to-use configuration whose every path is relative to
nginx's prefix, so it runs without root (tests/services/test_nginx.py runs
this very file)::

    python -m services.ordermgmt.server --port 50051 &     # and 50052, 50053
    mkdir -p /tmp/grpc-nginx
    nginx -p /tmp/grpc-nginx -e error.log -c "$PWD/services/nginx/grpc.conf" &
    python -m services.ordermgmt.client --target 127.0.0.1:8080

The front door speaks cleartext HTTP/2 ("h2c", no TLS): nginx before 1.25.1
says so with ``listen ... http2;``, later versions with ``http2 on;``.
The backends may be the workers of one ``--workers N`` program, or programs on
other machines.

Balancing per call has a price: state kept in one backend's memory is not
in the others'. ProductInfo keeps its products so, and behind nginx a
``getProduct`` lands on a backend that never saw the ``addProduct`` before
it (NOT_FOUND). The OrderManagement client asks nothing that depends on
an earlier call, which is why the recipe uses it. Real services keep such
state in a store all backends share. (``--workers`` is gentler: a channel's
calls share one connection, so one worker, but two clients may still see
two different stores.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from typing import Callable, Iterator, Sequence

__all__ = ["serve_in_workers", "reserved_port", "report_listening", "LINK_VARIABLE",
           "READY_TIMEOUT", "STOP_TIMEOUT"]

LINK_VARIABLE = "RPC_WORKER_LINK_FD"   # a worker's end of its link to the parent
READY_TIMEOUT = 60.0     # seconds for every worker to listen (imports are slow on a loaded machine)
STOP_TIMEOUT = 10.0      # seconds a worker gets after SIGTERM before SIGKILL
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNAL_EXIT_BASE = 128   # a shell's exit status for "killed by signal N" is 128 + N
READ_SIZE = 4096


# --- the parent -------------------------------------------------------------------


def serve_in_workers(workers: int, worker_command: Callable[[int], Sequence[str]],
                     host: str = "127.0.0.1", port: int = 0, *,
                     announce: Callable[[str], None] | None = None,
                     ready_timeout: float = READY_TIMEOUT,
                     stop_timeout: float = STOP_TIMEOUT) -> int:
    """Run ``workers`` processes ``worker_command(port)`` sharing ``host:port``.

    Each worker must listen with SO_REUSEPORT on that port and then call
    ``report_listening``. Once all have, ``announce`` (default: print) gets
    the first worker's line with the pids added. Blocks until every worker
    has exited; returns the exit status for the parent (see the module
    docstring). Call it from the main thread: it handles SIGINT and SIGTERM.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    with reserved_port(host, port) as port, _signals_as_bytes() as signals:
        group = _start_workers(workers, worker_command(port))
        supervisor = _Supervisor(group, signals, announce or _print_line, stop_timeout)
        return supervisor.run(time.monotonic() + ready_timeout)


@contextlib.contextmanager
def reserved_port(host: str, port: int) -> Iterator[int]:
    """Hold ``host:port`` (port 0: a free one, chosen here) for SO_REUSEPORT listeners.

    The socket is bound, never listening, so the kernel gives it no
    connections; while it is open no program without SO_REUSEPORT can take
    the port. Yields the port number.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("SO_REUSEPORT is not available on this platform: one process per port")
    family, _, _, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, socket.SOCK_STREAM) as reservation:
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind(address)
        yield reservation.getsockname()[1]


class _Worker:
    """One worker process, the parent's end of its link, and what it reported."""

    def __init__(self, command: Sequence[str]) -> None:
        parent_end, worker_end = socket.socketpair()
        with worker_end:
            fd = worker_end.fileno()
            self.process = subprocess.Popen(list(command), pass_fds=(fd,),
                                            env={**os.environ, LINK_VARIABLE: str(fd)})
        self.link = parent_end
        self.report = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def listening(self) -> bool:
        return self.report.endswith(b"\n")

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def exit_status(self, timeout: float) -> int:
        """Reap the process (SIGKILL if it lingers); its status as a shell gives it."""
        try:
            returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            returncode = self.process.wait()
        return SIGNAL_EXIT_BASE - returncode if returncode < 0 else returncode


def _start_workers(count: int, command: Sequence[str]) -> list[_Worker]:
    """Start ``count`` workers; if one cannot start, stop those that did."""
    group: list[_Worker] = []
    try:
        for _ in range(count):
            group.append(_Worker(command))
    except BaseException:
        for worker in group:
            worker.process.kill()
            worker.process.wait()
            worker.link.close()
        raise
    return group


class _Supervisor:
    """The parent's loop: worker links and signals in, one selector, no threads.

    A link carries a worker's "listening" report, then end-of-file when the
    worker exits; a signal arrives as a byte on ``signals``.
    """

    def __init__(self, group: list[_Worker], signals: socket.socket,
                 announce: Callable[[str], None], stop_timeout: float) -> None:
        self.group = group
        self.signals = signals
        self.announce = announce
        self.stop_timeout = stop_timeout
        self.announced = False
        self.failed = False
        self.stopping = False
        self.kill_deadline: float | None = None   # while stopping, until SIGKILL is sent
        self.exited: list[_Worker] = []          # in the order their links closed

    def run(self, ready_deadline: float) -> int:
        with selectors.DefaultSelector() as selector:
            selector.register(self.signals, selectors.EVENT_READ)
            for worker in self.group:
                selector.register(worker.link, selectors.EVENT_READ, worker)
            while len(self.exited) < len(self.group):
                for key, _ in selector.select(self._timeout(ready_deadline)):
                    if key.data is None:
                        self._on_signals(self.signals.recv(READ_SIZE))
                    else:
                        self._on_link(key.data, selector)
                self._check_deadlines(ready_deadline)
        return self._exit_status()

    def _timeout(self, ready_deadline: float) -> float | None:
        deadlines = [self.kill_deadline] if self.kill_deadline is not None else []
        if not self.announced and not self.stopping:
            deadlines.append(ready_deadline)
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _on_signals(self, signal_numbers: bytes) -> None:
        for signum in signal_numbers:
            for worker in self.group:
                worker.signal(signum)
        self._begin_stopping()

    def _on_link(self, worker: _Worker, selector: selectors.BaseSelector) -> None:
        data = worker.link.recv(READ_SIZE)
        if data:
            worker.report += data
            self._announce_when_all_listen()
            return
        selector.unregister(worker.link)
        worker.link.close()
        self.exited.append(worker)
        if not self.stopping:
            when = "while serving" if worker.listening else "before listening"
            self._stop(f"worker {worker.pid} exited {when}; stopping the others")

    def _announce_when_all_listen(self) -> None:
        if self.announced or not all(worker.listening for worker in self.group):
            return
        self.announced = True
        line = self.group[0].report.decode("utf-8", "replace").splitlines()[0]
        pids = " ".join(str(worker.pid) for worker in self.group)
        self.announce(f"{line} ({len(self.group)} workers, pids {pids})")

    def _check_deadlines(self, ready_deadline: float) -> None:
        now = time.monotonic()
        if not self.stopping and not self.announced and now >= ready_deadline:
            self.failed = True
            self._stop("not every worker was listening in time; stopping them")
        elif self.kill_deadline is not None and now >= self.kill_deadline:
            for worker in self.group:
                worker.signal(signal.SIGKILL)
            self.kill_deadline = None            # nothing left to escalate to

    def _stop(self, reason: str) -> None:
        print(f"workers: {reason}", file=sys.stderr, flush=True)
        for worker in self.group:
            worker.signal(signal.SIGTERM)
        self._begin_stopping()

    def _begin_stopping(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.kill_deadline = time.monotonic() + self.stop_timeout

    def _exit_status(self) -> int:
        statuses = [worker.exit_status(self.stop_timeout) for worker in self.exited]
        failures = [status for status in statuses if status != 0]
        return failures[0] if failures else int(self.failed)


@contextlib.contextmanager
def _signals_as_bytes() -> Iterator[socket.socket]:
    """SIGINT and SIGTERM as bytes (the signal numbers) on a socket, for a selector.

    Python's signal module writes each signal's number to the wakeup fd; the
    handlers themselves do nothing, so the signals no longer end the parent.
    """
    receiver, sender = socket.socketpair()
    sender.setblocking(False)
    previous = {signum: signal.signal(signum, _ignore) for signum in FORWARDED_SIGNALS}
    previous_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
    try:
        yield receiver
    finally:
        signal.set_wakeup_fd(previous_fd)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        receiver.close()
        sender.close()


def _ignore(signum: int, frame: object) -> None:
    """A handler that leaves the work to the wakeup fd."""


def _print_line(line: str) -> None:
    print(line, flush=True)


# --- the worker -------------------------------------------------------------------


_links: list[socket.socket] = []   # kept open for the worker's life: their closing says it ended


def report_listening(line: str, on_parent_gone: Callable[[], None]) -> bool:
    """In a worker, once listening: send ``line`` to the parent to announce.

    Afterwards ``on_parent_gone`` is called (on the running event loop) if
    the parent exits first. Returns False, doing nothing, in a process that
    ``serve_in_workers`` did not start (the caller prints ``line`` itself).
    """
    fd = os.environ.pop(LINK_VARIABLE, None)
    if fd is None:
        return False
    link = socket.socket(fileno=int(fd))
    link.set_inheritable(False)
    link.sendall(line.encode("utf-8") + b"\n")
    _links.append(link)
    asyncio.get_running_loop().add_reader(link.fileno(), _on_parent_readable, link, on_parent_gone)
    return True


def _on_parent_readable(link: socket.socket, on_parent_gone: Callable[[], None]) -> None:
    """The parent never writes: a readable link means end-of-file, the parent is gone."""
    asyncio.get_running_loop().remove_reader(link.fileno())
    on_parent_gone()
