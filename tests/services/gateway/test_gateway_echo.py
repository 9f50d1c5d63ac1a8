"""The seed's walk-through, reproduced: the Echo server, the gateway in front of it,
and the seed's own curl command line.

    curl -X POST -k localhost:8080/v1/example/echo -d '{"value": "this is vlaue"}'
    {"value":"this is vlaue"}
"""

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from services.echo import example
from services.echo.server import Echo

from .gateway_harness import WAIT, BackgroundGateway

SEED_BODY = '{"value": "this is vlaue"}'
SEED_ANSWER = '{"value":"this is vlaue"}'


@pytest.fixture(scope="module")
def echo():
    with BackgroundGateway(Echo(), [example.MyService]) as stack:
        yield stack


def test_echo_through_http_client(echo):
    reply = echo.request("POST", "/v1/example/echo", SEED_BODY)
    assert (reply.status, reply.body.decode()) == (200, SEED_ANSWER)
    assert reply.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("body, answer", [
    ('{"value": "héllo ☺ 😈"}', '{"value":"héllo ☺ 😈"}'),  # UTF-8 both ways, unescaped
    ('{"value": ""}', "{}"),                                  # a default value is left out
    ("", "{}"),                                               # no body: an empty message
    ('{"value": null}', "{}"),                                # null: the default
    ('{"value": "a\\nb\\"c"}', '{"value":"a\\nb\\"c"}'),
])
def test_echo_values(echo, body, answer):
    reply = echo.request("POST", "/v1/example/echo", body.encode())
    assert (reply.status, reply.body.decode()) == (200, answer)


@pytest.mark.parametrize("body, status, words", [
    ('{"value": 1}', 400, "example.StringMessage.value"),
    ('{"valeu": "x"}', 400, "has no field 'valeu'"),
    ('{"value": "x"', 400, "invalid JSON body"),
    ("value=x", 400, "invalid JSON body"),                    # what curl -d sends is form-encoded text
])
def test_echo_bad_bodies(echo, body, status, words):
    reply = echo.request("POST", "/v1/example/echo", body)
    assert reply.status == status and words in reply.json()["message"]


def test_echo_unknown_path_and_verb(echo):
    assert echo.request("POST", "/v1/example/echoo", SEED_BODY).status == 404
    assert echo.request("GET", "/v1/example/echo").status == 405
    assert echo.request("POST", "/v1/example/echo?x=1", SEED_BODY).status == 400   # body "*"


def test_echo_with_the_backend_down():
    with BackgroundGateway(Echo(), [example.MyService]) as stack:
        stack.run(stack.backend.stop(0))
        reply = stack.request("POST", "/v1/example/echo", SEED_BODY)
    assert reply.status == 503 and reply.json()["code"] == 14     # UNAVAILABLE


# --- the programs, as the seed runs them -----------------------------------------------


def start(*args):
    process = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = process.stdout.readline()              # "... listening on HOST:PORT ..."
    if not line:
        process.kill()
        raise AssertionError(f"{args[0]} did not start: {process.stderr.read()}")
    address = line.split(" listening on ")[1].split(",")[0].strip()
    return process, int(address.rsplit(":", 1)[1])


def stop(process):
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(WAIT)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("gateway", [
    ["services.echo.gateway"],
    ["services.gateway", "--proto", "services/echo/echo.proto"],
], ids=["echo.gateway", "generic"])
def test_the_seed_demo_as_programs(gateway):
    server, server_port = start("services.echo.server", "--host", "127.0.0.1", "--port", "0")
    try:
        proxy, port = start(*gateway, "--host", "127.0.0.1", "--port", "0",
                            "--backend", f"127.0.0.1:{server_port}")
        try:
            if shutil.which("curl"):
                done = subprocess.run(["curl", "-sS", "-X", "POST", "-k",
                                       f"localhost:{port}/v1/example/echo", "-d", SEED_BODY],
                                      capture_output=True, text=True, timeout=WAIT)
                assert (done.returncode, done.stdout, done.stderr) == (0, SEED_ANSWER, "")
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            connection.request("POST", "/v1/example/echo", body=SEED_BODY)
            answer = connection.getresponse()
            assert (answer.status, json.loads(answer.read())) == (200, {"value": "this is vlaue"})
            connection.close()
        finally:
            assert stop(proxy) == 0
    finally:
        assert stop(server) == 0
