"""Gateway.handle with no socket at all: an HttpRequest in, an HttpResponse out,
the backend a fake channel whose calls answer as told."""

import asyncio
import json

import rpc
from rpc import StatusCode
from rpc.status import Any as AnyMessage, Status
from services.gateway import Gateway, HttpRequest
from wire import idl

PROTO = """
syntax = "proto3";
package t;
import "google/api/annotations.proto";
import "google/protobuf/any.proto";
message Req { string id = 1; }
message Resp { string text = 1; google.protobuf.Any extra = 2; }
service S {
  rpc Get(Req) returns (Resp) { option (google.api.http) = { get: "/v1/{id}" }; }
  rpc Upload(stream Req) returns (Resp) { option (google.api.http) = { post: "/v1/upload" body: "*" }; }
}
"""
t = idl.load_source(PROTO, "t.proto")


class FakeCall:
    def __init__(self, outcome):
        self.outcome = outcome

    def __await__(self):
        return self._result().__await__()

    async def _result(self):
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    async def initial_metadata(self):
        return (("x-h", "1"),)

    async def trailing_metadata(self):
        return (("x-t", "2"),)


class FakeChannel:
    """Records each call; answers with ``outcome`` (a message, or an exception to raise)."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.calls = []

    def unary_unary(self, path, request_serializer, response_deserializer):
        def call(request, timeout=None, metadata=()):
            self.calls.append((path, request, timeout, metadata))
            return FakeCall(self.outcome)
        return call


def handle(outcome, method="GET", target="/v1/42", headers=(), **options):
    channel = FakeChannel(outcome)
    gateway = Gateway(channel, [t.S], **options)
    response = asyncio.run(gateway.handle(HttpRequest(method, target, tuple(headers))))
    return channel, response


def test_a_call_end_to_end_without_sockets():
    channel, response = handle(t.Resp(text="hi"), headers=[("grpc-timeout", "2S")])
    ((path, request, timeout, metadata),) = channel.calls
    assert (path, request, timeout, metadata) == ("/t.S/Get", t.Req(id="42"), 2.0, ())
    assert (response.status, response.body) == (200, b'{"text":"hi"}')
    assert response.headers == [("Content-Type", "application/json"),
                                ("Grpc-Metadata-x-h", "1"), ("Grpc-Trailer-x-t", "2")]


def test_default_timeout_applies_without_the_header():
    channel, _ = handle(t.Resp(), default_timeout=3.0)
    assert channel.calls[0][2] == 3.0


def test_client_streaming_methods_are_501():
    channel, response = handle(t.Resp(), method="POST", target="/v1/upload")
    assert response.status == 501 and channel.calls == []
    assert "streams its requests" in json.loads(response.body)["message"]


def test_rpc_error_details_of_an_unknown_type_are_shown_raw():
    detail = AnyMessage(type_url="type.googleapis.com/x.Unknown", value=b"\x01")
    status = Status(code=5, message="gone", details=[detail]).encode()
    error = rpc.RpcError(StatusCode.NOT_FOUND, "gone", status_details=status,
                         trailing_metadata=(("x-t", "2"),))
    _, response = handle(error)
    assert response.status == 404
    assert json.loads(response.body) == {"code": 5, "message": "gone", "details": [
        {"@type": "type.googleapis.com/x.Unknown", "value": "AQ=="}]}
    assert ("Grpc-Trailer-x-t", "2") in response.headers


def test_undecodable_status_details_are_left_out():
    error = rpc.RpcError(StatusCode.INTERNAL, "bad", status_details=b"\xff")
    _, response = handle(error)
    assert json.loads(response.body) == {"code": 13, "message": "bad", "details": []}


def test_a_response_that_cannot_be_json_is_500():
    unknown = AnyMessage(type_url="type.googleapis.com/x.Unknown", value=b"")
    _, response = handle(t.Resp(extra=t.lookup("google.protobuf.Any")(type_url=unknown.type_url)))
    assert response.status == 500
    assert "cannot be written as JSON" in json.loads(response.body)["message"]


def test_a_bug_in_the_backend_call_is_500_not_a_crash():
    _, response = handle(RuntimeError("oops"))
    assert response.status == 500
    assert json.loads(response.body)["message"] == "the gateway failed: RuntimeError: oops"


def test_for_files():
    gateway = Gateway.for_files(FakeChannel(None), [t])
    assert [str(b) for b in gateway.router.bindings] == [
        "POST /v1/upload -> /t.S/Upload", "GET /v1/{id} -> /t.S/Get"]


def test_absolute_form_targets():
    channel, response = handle(t.Resp(text="a"), target="http://example.com:8080/v1/7?x")
    assert response.status == 400 and "query parameter 'x'" in json.loads(response.body)["message"]
    channel, response = handle(t.Resp(text="a"), target="http://example.com/v1/7")
    assert response.status == 200 and channel.calls[0][1] == t.Req(id="7")
