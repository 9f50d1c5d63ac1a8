"""Serving on every core: ``--workers N`` runs N processes on one port (rpc/workers.py).

The programs run for real: a parent, its workers, and clients (ours and
grpcio) that each open a new connection per call over loopback, so that the
kernel's SO_REUSEPORT balancing picks a worker for each. Processes are
watched through pidfds (readable once the process has exited), so "no worker
left behind" is waited for, not slept on.
"""

import asyncio
import errno
import os
import pathlib
import re
import signal
import socket
import sys

import grpc
import pytest

import rpc
from rpc.workers import LINK_VARIABLE, report_listening, reserved_port, serve_in_workers
from services.interop import SimpleRequest, SimpleResponse, testing
from services.productinfo import ecommerce
from services.standard import server_arguments

ROOT = pathlib.Path(__file__).resolve().parents[2]
WHO_SERVES = pathlib.Path(__file__).with_name("who_serves.py")
LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+) \((\d+) workers, pids ([\d ]+)\)")
START_TIMEOUT = 60.0     # a parent and its workers each import the project: slow on a loaded CI machine
EXIT_TIMEOUT = 20.0
CALL_TIMEOUT = 10.0
CONNECTIONS = 16         # per client kind: all 32 on one of two workers has odds 2**-31
UNARY_CALL = "/grpc.testing.TestService/UnaryCall"


class Program:
    """A server program with ``--workers``, its pids, and its output."""

    def __init__(self, process, port, pids, pidfds):
        self.process, self.port, self.pids, self.pidfds = process, port, pids, pidfds

    @classmethod
    async def start(cls, *args):
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        found = LISTENING.search(line)
        if found is None:
            process.kill()
            _, stderr = await asyncio.wait_for(process.communicate(), EXIT_TIMEOUT)
            pytest.fail(f"no listening line, got {line!r}; stderr:\n{stderr.decode()}")
        pids = [int(pid) for pid in found[3].split()]
        return cls(process, int(found[1]), pids, [os.pidfd_open(pid) for pid in pids])

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    async def finish(self):
        """Wait for the parent to exit; its status, and the rest of its output."""
        stdout, stderr = await asyncio.wait_for(self.process.communicate(), EXIT_TIMEOUT)
        return self.process.returncode, stdout.decode(), stderr.decode()

    async def cleanup(self):
        """Whatever happened in the test, leave no process behind."""
        if self.process.returncode is None:      # the workers are still its unreaped children
            for pid in self.pids:
                _kill(pid)
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), EXIT_TIMEOUT)
        await workers_exited(self.pidfds)
        for fd in self.pidfds:
            os.close(fd)


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def workers_exited(pidfds, timeout=EXIT_TIMEOUT):
    """Wait until every process behind ``pidfds`` has exited (a pidfd turns readable)."""
    loop = asyncio.get_running_loop()
    for fd in pidfds:
        exited = loop.create_future()
        loop.add_reader(fd, lambda future=exited: future.done() or future.set_result(None))
        try:
            await asyncio.wait_for(exited, timeout)
        finally:
            loop.remove_reader(fd)


async def who_serves_ours(target):
    async with rpc.Channel(target) as channel:       # a new channel: a new connection
        stub = testing.TestServiceStub(channel)
        response = await stub.UnaryCall(SimpleRequest(fill_server_id=True), timeout=CALL_TIMEOUT)
    return int(response.server_id)


async def who_serves_grpcio(target):
    # A local subchannel pool: otherwise grpcio's channels to one target share a connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(UNARY_CALL, request_serializer=SimpleRequest.encode,
                                   response_deserializer=SimpleResponse.decode)
        response = await call(SimpleRequest(fill_server_id=True), timeout=CALL_TIMEOUT)
    return int(response.server_id)


@pytest.mark.timeout(120)
def test_two_workers_share_one_port_and_stop_together_on_sigterm():
    async def main():
        program = await Program.start(str(WHO_SERVES), "--port", "0", "--workers", "2")
        try:
            assert len(set(program.pids)) == 2 and program.process.pid not in program.pids
            ours = [await who_serves_ours(program.target) for _ in range(CONNECTIONS)]
            theirs = [await who_serves_grpcio(program.target) for _ in range(CONNECTIONS)]
            assert set(ours) | set(theirs) == set(program.pids)    # the kernel used both
            program.process.send_signal(signal.SIGTERM)
            status, stdout, stderr = await program.finish()
            assert status == 0, stderr
            await workers_exited(program.pidfds)                  # and they are gone too
            assert "listening" not in stdout                      # workers did not print theirs
        finally:
            await program.cleanup()
    asyncio.run(main())


@pytest.mark.timeout(120)
def test_the_example_server_takes_workers_and_stops_on_sigint():
    async def main():
        program = await Program.start("-m", "services.productinfo.server", "--port", "0",
                                      "--workers", "2")
        try:
            async with rpc.Channel(program.target) as channel:
                stub = ecommerce.ProductInfoStub(channel)
                product_id = await stub.addProduct(ecommerce.Product(name="book"), timeout=CALL_TIMEOUT)
                assert len(product_id.value) == 36
            program.process.send_signal(signal.SIGINT)
            status, _, stderr = await program.finish()
            assert status == 0, stderr
            await workers_exited(program.pidfds)
        finally:
            await program.cleanup()
    asyncio.run(main())


def test_a_taken_port_fails_before_any_worker_starts():
    with socket.socket() as taken:                                # no SO_REUSEPORT: nobody may share
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError) as error:
            serve_in_workers(2, pytest.fail, port=taken.getsockname()[1])
    assert error.value.errno == errno.EADDRINUSE


def test_workers_must_be_a_positive_count(capsys):
    with pytest.raises(ValueError, match="at least 1"):
        serve_in_workers(0, lambda port: [sys.executable, "-c", "pass"])
    for flag, error in [("0", "must be at least 1, not 0"), ("many", "not a whole number: 'many'")]:
        with pytest.raises(SystemExit):
            server_arguments("a server", 0, ["--workers", flag])
        assert f"argument --workers: {error}" in capsys.readouterr().err
    assert server_arguments("a server", 0, ["--workers", "3"]).workers == 3


# --- the supervisor, with stand-in workers -----------------------------------------------

# A stand-in worker: reports "listening" on its link as report_listening does, then waits.
STAND_IN = """
import os, signal, socket, sys, time
if "--ignore-sigterm" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
link = socket.socket(fileno=int(os.environ["RPC_WORKER_LINK_FD"]))
link.sendall(f"stand-in listening on port {sys.argv[1]}\\n".encode())
time.sleep(60)
"""


def stand_ins(port, *flags):
    return [sys.executable, "-c", STAND_IN, str(port), *flags]


@pytest.mark.timeout(60)
def test_the_parent_announces_once_every_worker_listens_and_forwards_sigint():
    def announce(line):
        lines.append(line)
        os.kill(os.getpid(), signal.SIGINT)               # as Ctrl-C would, to the parent only
    lines = []
    status = serve_in_workers(2, stand_ins, announce=announce)
    assert len(lines) == 1 and status == 128 + signal.SIGINT    # the stand-ins died of it
    assert re.fullmatch(r"stand-in listening on port (\d+) \(2 workers, pids \d+ \d+\)", lines[0])


@pytest.mark.timeout(60)
def test_a_worker_that_dies_stops_the_others_and_gives_the_parent_its_status(capfd):
    def announce(line):
        pids.extend(int(pid) for pid in line.partition("pids ")[2].rstrip(")").split())
        os.kill(pids[0], signal.SIGKILL)
    pids = []
    status = serve_in_workers(2, stand_ins, announce=announce)
    assert status == 128 + signal.SIGKILL                 # the first failure, as a shell says it
    assert f"worker {pids[0]} exited while serving; stopping the others" in capfd.readouterr().err
    with pytest.raises(ProcessLookupError):               # reaped: the pid names no process
        os.kill(pids[1], 0)


@pytest.mark.timeout(60)
def test_a_worker_that_ignores_sigterm_is_killed_after_the_stop_timeout():
    status = serve_in_workers(1, lambda port: stand_ins(port, "--ignore-sigterm"), stop_timeout=0.2,
                              announce=lambda line: os.kill(os.getpid(), signal.SIGTERM))
    assert status == 128 + signal.SIGKILL


@pytest.mark.timeout(60)
def test_a_worker_that_exits_before_listening_gives_its_status():
    status = serve_in_workers(2, lambda port: [sys.executable, "-c", "raise SystemExit(3)"],
                              announce=pytest.fail)
    assert status == 3


@pytest.mark.timeout(60)
def test_workers_that_never_listen_are_stopped_after_the_ready_timeout():
    lines = []
    status = serve_in_workers(1, lambda port: [sys.executable, "-c", "import time; time.sleep(60)"],
                              announce=lines.append, ready_timeout=0.2)
    assert status == 128 + signal.SIGTERM and lines == []


@pytest.mark.timeout(30)
def test_a_worker_stops_when_its_parent_is_gone(monkeypatch):
    # The worker's half, in this process: the link's other end closing is the parent exiting.
    async def main():
        parent_end, worker_end = socket.socketpair()
        monkeypatch.setenv(LINK_VARIABLE, str(worker_end.detach()))
        stop = asyncio.Event()
        assert report_listening("X server listening on 127.0.0.1:1", on_parent_gone=stop.set)
        assert LINK_VARIABLE not in os.environ                 # not passed on to its own children
        assert parent_end.recv(100) == b"X server listening on 127.0.0.1:1\n"
        assert not stop.is_set()
        parent_end.close()
        await asyncio.wait_for(stop.wait(), CALL_TIMEOUT)
    asyncio.run(main())


def test_outside_a_worker_report_listening_does_nothing(monkeypatch):
    monkeypatch.delenv(LINK_VARIABLE, raising=False)
    assert report_listening("a line", on_parent_gone=pytest.fail) is False


# --- SO_REUSEPORT itself -----------------------------------------------------------------


@pytest.mark.timeout(30)
def test_servers_with_reuse_port_share_a_reserved_port():
    async def main():
        with reserved_port("127.0.0.1", 0) as port:
            with pytest.raises(OSError):                          # held against ordinary binds
                socket.create_server(("127.0.0.1", port)).close()
            first, second = rpc.Server(), rpc.Server()
            first.add_service(testing.TestServiceServicer())
            second.add_service(testing.TestServiceServicer())
            try:
                assert await first.start(f"127.0.0.1:{port}", reuse_port=True) == port
                assert await second.start(f"127.0.0.1:{port}", reuse_port=True) == port
                async with rpc.Channel(f"127.0.0.1:{port}") as channel:
                    with pytest.raises(rpc.RpcError) as error:    # a base Servicer: UNIMPLEMENTED
                        await testing.TestServiceStub(channel).UnaryCall(SimpleRequest(),
                                                                         timeout=CALL_TIMEOUT)
                    assert error.value.code() == rpc.StatusCode.UNIMPLEMENTED
            finally:
                await first.stop(None)
                await second.stop(None)
    asyncio.run(main())
