"""`python -m transport.xray`: the program, run for real, and its helpers."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import threading
import time

import grpc
import pytest

from transport.xray.__main__ import load_schema, parse_address, raw_text

WAIT = 10.0  # seconds: the bound on every wait
ROOT = pathlib.Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("text, address", [
    ("127.0.0.1:50051", ("127.0.0.1", 50051)),
    ("localhost:0", ("localhost", 0)),
    ("[::1]:8080", ("::1", 8080)),
])
def test_addresses(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["50051", "host:", ":80", "host:http"])
def test_bad_addresses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_address(text)


def test_raw_text_reads_like_protoc_decode_raw():
    assert raw_text(b"\x08\x96\x01\x12\x02hi\x1d\x00\x00\x80\x3f") == '1: 150\n2: "hi"\n3: 0x3f800000 (I32)'
    assert raw_text(b"") == "(empty message)"
    assert raw_text(b"\x0a\x05ab").startswith("(not a protobuf message")


def test_load_schema_maps_paths_to_decoders(greeter):
    module, path = greeter
    schema = load_schema([str(path)])
    assert set(schema) == {"/demo.Greeter/Hello", "/demo.Greeter/Many",
                           "/demo.Greeter/Collect", "/demo.Greeter/Chat"}
    decode_request, decode_response = schema["/demo.Greeter/Hello"]
    # load_schema loads the file again: classes of their own, equal by what they show
    assert repr(decode_request(module.Req(name="a").encode())) == "Req(name='a')"
    assert repr(decode_response(module.Resp(greeting="b").encode())) == "Resp(greeting='b')"


def test_the_program_traces_a_call_as_json_lines(grpc_server, greeter):
    module, proto = greeter
    program = subprocess.Popen(
        [sys.executable, "-m", "transport.xray", "--listen", "127.0.0.1:0",
         "--upstream", f"127.0.0.1:{grpc_server}", "--proto", str(proto), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: list[str] = []

    def read_lines():
        for line in program.stdout:
            lines.append(line)

    reader = threading.Thread(target=read_lines, daemon=True)
    try:
        banner = program.stderr.readline()  # "xray: listening on 127.0.0.1:PORT, ..."
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", banner).group(1))
        reader.start()
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.enable_http_proxy", 0)]) as channel:
            hello = channel.unary_unary("/demo.Greeter/Hello", request_serializer=lambda m: m.encode(),
                                        response_deserializer=module.Resp.decode)
            assert hello(module.Req(name="cli", count=2), timeout=WAIT).greeting == "hello cli"
        # The proxy forwards first and traces after: wait for the trailers' line.
        deadline = time.monotonic() + WAIT
        while not any("grpc-status" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        program.terminate()
        program.wait(WAIT)
        reader.join(WAIT)
        program.stdout.close()
        program.stderr.close()
    objects = [json.loads(line) for line in lines]
    assert {o["event"] for o in objects} >= {"connection", "preface", "frame", "headers", "message"}
    assert all(o["connection"] == 1 for o in objects)
    messages = {o["kind"]: o["decoded"] for o in objects if o["event"] == "message"}
    assert messages == {"request": "Req(name='cli', count=2)",
                        "response": "Resp(greeting='hello cli', numbers=[2])"}
    paths = [o for o in objects if o["event"] == "headers" and o["role"] == "request headers"]
    assert any(e["name"] == ":path" and e["value"] == "/demo.Greeter/Hello" for e in paths[0]["entries"])


def test_a_bad_proto_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.proto"
    bad.write_text('syntax = "proto3";\nmessage {')
    result = subprocess.run(
        [sys.executable, "-m", "transport.xray", "--listen", "127.0.0.1:0",
         "--upstream", "127.0.0.1:1", "--proto", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=WAIT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("xray: ") and "bad.proto" in result.stderr


def test_the_text_printer_prefixes_each_line_with_its_connection():
    import io

    from transport.xray import ConnectionNoted, ParseFailed
    from transport.xray.__main__ import printer

    out = io.StringIO()
    printer(as_json=False, color=False, out=out)(
        3, [ConnectionNoted(what="connection 3 accepted"), ParseFailed(sender="server", what="odd")])
    assert out.getvalue() == "#3 ----  connection 3 accepted\n#3 S->C  !! could not parse: odd\n"
