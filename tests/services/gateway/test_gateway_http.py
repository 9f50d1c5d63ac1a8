"""The HTTP/1.1 side alone (GatewayServer on h11), with a stub handler and raw sockets.

Keep-alive and pipelining (RFC 9112 §9.3), Expect: 100-continue (RFC 9110
§10.1.1), the size limits (413, 431), bad requests, HTTP/1.0, HEAD, idle
connections, and input fed one byte at a time.
"""

import asyncio
import json
import socket
import time

import pytest

from services.gateway import HttpResponse, Limits

from .gateway_harness import WAIT, BackgroundServer

SMALL = Limits(max_header_bytes=1024, max_body_bytes=100, idle_timeout=0.5, read_timeout=0.5)


async def echo_handler(request):
    """Answers with what it was sent, as JSON."""
    if request.target == "/boom":
        raise RuntimeError("boom")
    if request.target == "/stream":
        return HttpResponse(200, [("Content-Type", "application/x-ndjson")], stream=Lines(3))
    if request.target == "/endless":
        return HttpResponse(200, [("Content-Type", "application/x-ndjson")], stream=Endless())
    body = {"method": request.method, "target": request.target, "body": request.body.decode(),
            "client": request.client_host, "headers": dict(request.headers)}
    return HttpResponse(200, [("Content-Type", "application/json")], json.dumps(body).encode())


class Lines:
    """A response stream of ``count`` lines, then a trailer."""

    cancelled = False

    def __init__(self, count):
        self.count = count
        self.trailers = []

    async def _lines(self):
        for number in range(self.count):
            yield f"{number}\n".encode()
            await asyncio.sleep(0)
        self.trailers = [("Grpc-Trailer-Done", "yes")]

    def __aiter__(self):
        return self._lines()

    def cancel(self):
        Lines.cancelled = True


class Endless:
    """A stream that never ends by itself: only a client leaving stops it."""

    def __init__(self):
        self.trailers = []
        Endless.cancelled = asyncio.Event()

    async def _lines(self):
        while True:
            yield b"x" * 4096 + b"\n"
            await asyncio.sleep(0.001)

    def __aiter__(self):
        return self._lines()

    def cancel(self):
        Endless.cancelled.set()


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(echo_handler, limits=SMALL) as background:
        yield background


def exchange(port, data: bytes, *, chunks=None) -> bytes:
    """Send ``data`` (in ``chunks`` pieces, if given), read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        if chunks:
            for index in range(0, len(data), chunks):
                sock.sendall(data[index:index + chunks])
        else:
            sock.sendall(data)
        received = b""
        while piece := sock.recv(65536):
            received += piece
    return received


def responses(data: bytes) -> list[tuple[bytes, bytes]]:
    """(status line, body) for each Content-Length response in ``data``."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines
                      if line.lower().startswith(b"content-length:"))
        found.append((lines[0], rest[:length]))
        data = rest[length:]
    return found


def test_a_request(server):
    reply = server.request("POST", "/v1/x?y=1", b'{"a": 1}', {"X-Test": "yes"})
    assert reply.status == 200
    seen = reply.json()
    assert (seen["method"], seen["target"], seen["body"]) == ("POST", "/v1/x?y=1", '{"a": 1}')
    assert seen["headers"]["x-test"] == "yes" and seen["client"] == "127.0.0.1"


def test_pipelined_requests_are_answered_in_order(server):
    data = (b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            b"GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answers = responses(exchange(server.port, data))
    assert [json.loads(body)["target"] for _, body in answers] == ["/one", "/two", "/three"]
    assert json.loads(answers[1][1])["body"] == "hi"


def test_input_one_byte_at_a_time(server):
    data = (b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    ((status, body),) = responses(exchange(server.port, data, chunks=1))
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["body"] == "abcde"


def test_expect_100_continue(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
                     b"Connection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(b"body")
        received = b""
        while piece := sock.recv(65536):
            received += piece
    assert json.loads(responses(received)[0][1])["body"] == "body"


def test_declared_body_over_the_limit_is_413_and_closes(server):
    data = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + b"x" * 101
    ((status, body),) = responses(exchange(server.port, data))
    assert status == b"HTTP/1.1 413 Content Too Large"
    assert json.loads(body)["code"] == 8 and "over the limit of 100 bytes" in json.loads(body)["message"]


def test_chunked_body_over_the_limit_is_413(server):
    chunk = b"40\r\n" + b"x" * 64 + b"\r\n"              # 64 bytes, twice: over 100
    data = b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n"
    ((status, _),) = responses(exchange(server.port, data))
    assert status == b"HTTP/1.1 413 Content Too Large"


def test_headers_over_the_limit_are_431(server):
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 2000 + b"\r\n\r\n"
    ((status, body),) = responses(exchange(server.port, data))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert json.loads(body)["code"] == 3


def test_a_head_arriving_in_pieces_over_the_limit_is_431(server):
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 2000 + b"\r\n\r\n"
    ((status, _),) = responses(exchange(server.port, data, chunks=100))
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"


@pytest.mark.parametrize("data", [
    b"NOT HTTP AT ALL\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
])
def test_malformed_requests_are_400(server, data):
    ((status, body),) = responses(exchange(server.port, data))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert json.loads(body)["message"].startswith("bad HTTP/1.1 request")


def test_http_10_gets_its_answer_and_the_connection_closes(server):
    ((status, body),) = responses(exchange(server.port, b"GET /old HTTP/1.0\r\n\r\n"))
    assert status == b"HTTP/1.1 200 OK" and json.loads(body)["target"] == "/old"


def test_head_gets_headers_only(server):
    received = exchange(server.port, b"HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length:" in head and body == b""


def test_idle_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""                     # the server hangs up after idle_timeout
        assert time.monotonic() - started < WAIT


def test_a_handler_that_raises_is_a_500_and_the_connection_lives_on(server):
    connection = server.connection()
    try:
        connection.request("GET", "/boom")
        response = connection.getresponse()
        assert response.status == 500
        assert json.loads(response.read())["message"] == "the gateway failed: boom"
        connection.request("GET", "/after")
        assert json.loads(connection.getresponse().read())["target"] == "/after"
    finally:
        connection.close()


def test_a_stream_is_chunked_with_trailers(server):
    received = exchange(server.port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"2\r\n0\n\r\n2\r\n1\n\r\n2\r\n2\n\r\n0\r\nGrpc-Trailer-Done: yes\r\n\r\n"


def test_a_stream_to_http_10_is_close_delimited_without_trailers(server):
    received = exchange(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert received.partition(b"\r\n\r\n")[2] == b"0\n1\n2\n"


def test_responses_have_reason_phrases():
    from services.gateway.server import _reason
    assert (_reason(200), _reason(499), _reason(504), _reason(599)) == (
        "OK", "Client Closed Request", "Gateway Timeout", "")


def test_a_client_leaving_mid_stream_cancels_the_stream(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.sendall(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    sock.close()
    server.run(asyncio.wait_for(Endless.cancelled.wait(), WAIT))
