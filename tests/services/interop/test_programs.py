"""The interop programs as a user runs them: the server and client CLIs as subprocesses,
in plaintext and over TLS (the server making its own test CA)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from services.interop.cases import CASES

pytestmark = pytest.mark.timeout(60)

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def client(*args: str, timeout: float = 40) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.interop.client", *args],
                          capture_output=True, text=True, timeout=timeout, env=ENV)


class Running:
    """A server program: its process, port, and (over TLS) the CA it says it made."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.interop.server", "--port", "0", *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        line = self.process.stdout.readline()     # "interop server listening on 127.0.0.1:PORT"
        assert "listening on" in line, line + self.stop()
        address = line.split("listening on ", 1)[1].split()[0]      # "(TLS)" may follow
        self.port = int(address.rsplit(":", 1)[1])

    def ca_file(self) -> str:
        """Over TLS with no files: "... trust it with --ca_file=PATH" on stderr, before listening."""
        line = self.process.stderr.readline()
        assert "--ca_file=" in line, line
        return line.strip().rsplit("--ca_file=", 1)[1]

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(10)
        return self.process.stderr.read()


@pytest.fixture
def server_port():
    """``python -m services.interop.server --port 0``; the port it prints."""
    server = Running()
    try:
        yield server.port
    finally:
        errors = server.stop()
        assert server.process.returncode == 0, errors      # SIGTERM stops it gracefully


def test_the_client_runs_every_case_against_the_server(server_port):
    result = client("--server_host", "127.0.0.1", "--server_port", str(server_port),
                    "--test_case", "all")
    lines = result.stdout.splitlines()
    assert lines == [f"PASS {case}" for case in CASES], result.stdout + result.stderr
    assert result.returncode == 0


def test_every_case_over_tls_with_the_certificate_the_server_made():
    server = Running("--use_tls=true")
    try:
        ca_file = server.ca_file()
        result = client("--server_host=127.0.0.1", f"--server_port={server.port}", "--use_tls=true",
                        "--use_test_ca=true", f"--ca_file={ca_file}",
                        "--server_host_override=foo.test.google.fr", "--test_case=all")
        assert result.stdout.splitlines() == [f"PASS {case}" for case in CASES], \
            result.stdout + result.stderr
        assert result.returncode == 0
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert not pathlib.Path(ca_file).exists()            # the test CA goes with the server


def test_tls_with_certificate_files(pki_files):
    certificate, private_key, ca_file = pki_files
    server = Running("--use_tls", "--tls_cert_file", certificate, "--tls_key_file", private_key)
    try:
        result = client("--server_host", "localhost", "--server_port", str(server.port),
                        "--use_tls", "--ca_file", ca_file, "--test_case", "large_unary")
        assert (result.returncode, result.stdout) == (0, "PASS large_unary\n"), result.stderr
        untrusted = client("--server_host", "localhost", "--server_port", str(server.port),
                           "--use_tls", "--test_case", "empty_unary")    # the system's CAs
        assert untrusted.returncode == 1
        assert "certificate verify failed" in untrusted.stdout
    finally:
        server.stop()


@pytest.fixture
def pki_files(tmp_path):
    """A certificate for localhost from a test CA, as the files a user would have."""
    import trustme
    authority = trustme.CA()
    leaf = authority.issue_cert("localhost")
    paths = [str(tmp_path / name) for name in ("server.pem", "server.key", "ca.pem")]
    leaf.cert_chain_pems[0].write_to_path(paths[0])
    leaf.private_key_pem.write_to_path(paths[1])
    authority.cert_pem.write_to_path(paths[2])
    return paths


def test_one_case_by_name_with_the_official_flag_spelling(server_port):
    result = client("--server_host=127.0.0.1", f"--server_port={server_port}",
                    "--test_case=large_unary", "--use_tls=false",
                    "--server_host_override=foo.test.google.fr")
    assert (result.returncode, result.stdout) == (0, "PASS large_unary\n"), result.stderr


def test_a_failing_case_is_one_line_and_exit_status_1():
    result = client("--server_host", "127.0.0.1", "--server_port", "1", "--test_case", "empty_unary")
    assert result.returncode == 1
    [line] = result.stdout.splitlines()
    assert line.startswith("FAIL empty_unary: unexpected status UNAVAILABLE")


@pytest.mark.parametrize("args", [
    ["--server_port", "1", "--test_case", "no_such_case"],
    ["--server_port", "1", "--use_tls", "true", "--use_test_ca", "true"],   # which test CA?
])
def test_usage_errors_exit_2(args):
    assert client(*args).returncode == 2


def test_the_server_wants_a_certificate_and_its_key_together():
    result = subprocess.run([sys.executable, "-m", "services.interop.server", "--port", "0",
                             "--use_tls=true", "--tls_cert_file=server.pem"],
                            capture_output=True, text=True, timeout=20, env=ENV)
    assert result.returncode == 2
    assert "--tls_key_file" in result.stderr
