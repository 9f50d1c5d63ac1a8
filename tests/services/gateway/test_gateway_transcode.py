"""Transcoding: path + query + body -> request message, response -> JSON.

The rules of google/api/http.proto ("Rules for HTTP mapping"), one row each;
values in the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/).
"""

import pytest

from rpc import StatusCode
from services.gateway import GatewayError, JsonOptions, bindings_of, request_message, response_json
from services.gateway.transcode import text_to_json
from wire import idl
from wire import json as wire_json

PROTO = """
syntax = "proto3";
package t;
import "google/api/annotations.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/duration.proto";
enum Color { COLOR_UNSPECIFIED = 0; RED = 1; BLUE = 2; }
message Sub { string subfield = 1; repeated int32 nums = 2; Color color = 3; }
message Req {
  string message_id = 1;
  int64 revision = 2;
  Sub sub = 3;
  repeated string tags = 4;
  bool flag = 5;
  Color color = 6;
  repeated Color colors = 7;
  bytes data = 8;
  double ratio = 9;
  google.protobuf.Timestamp when = 10;
  google.protobuf.BoolValue maybe = 11;
  google.protobuf.Duration ttl = 12;
  map<string, string> labels = 13;
  Sub other = 14;
  optional string note = 15;
}
message Resp { string text = 1; Sub sub = 2; repeated string items = 3; int64 count = 4;
               optional string note = 5; map<string, int32> counts = 6; }
service S {
  rpc Get(Req) returns (Resp) { option (google.api.http) = { get: "/v1/messages/{message_id}/{sub.subfield}" }; }
  rpc Query(Req) returns (Resp) { option (google.api.http) = { get: "/v1/messages/{message_id}" }; }
  rpc Star(Req) returns (Resp) { option (google.api.http) = { put: "/v1/messages/{message_id}" body: "*" }; }
  rpc Field(Req) returns (Resp) { option (google.api.http) = { put: "/v1/m/{sub.subfield}" body: "sub" }; }
  rpc Tags(Req) returns (Resp) { option (google.api.http) = { post: "/v1/tags" body: "tags" }; }
  rpc Text(Req) returns (Resp) { option (google.api.http) = { get: "/v1/text" response_body: "text" }; }
  rpc Inner(Req) returns (Resp) { option (google.api.http) = { get: "/v1/sub" response_body: "sub" }; }
  rpc Items(Req) returns (Resp) { option (google.api.http) = { get: "/v1/items" response_body: "items" }; }
  rpc Count(Req) returns (Resp) { option (google.api.http) = { get: "/v1/count" response_body: "count" }; }
  rpc Note(Req) returns (Resp) { option (google.api.http) = { get: "/v1/note" response_body: "note" }; }
  rpc Counts(Req) returns (Resp) { option (google.api.http) = { get: "/v1/counts" response_body: "counts" }; }
}
"""
t = idl.load_source(PROTO, "t.proto")
BINDINGS = {name: bindings_of(m)[0] for name, m in t.S.methods.items()}


def transcode(method, variables=None, query="", body=b"", **options):
    message = request_message(BINDINGS[method], variables or {}, query, body, JsonOptions(**options))
    return wire_json.to_dict(message, preserve_names=True)


# method, path variables, query string, body, the request (as ProtoJSON with .proto names)
REQUESTS = [
    # http.proto: GET /v1/messages/123456/foo -> message_id: "123456" sub {subfield: "foo"}
    ("Get", {"message_id": "123456", "sub.subfield": "foo"}, "", b"",
     {"message_id": "123456", "sub": {"subfield": "foo"}}),
    # GET /v1/messages/123456?revision=2&sub.subfield=foo
    ("Query", {"message_id": "123456"}, "revision=2&sub.subfield=foo", b"",
     {"message_id": "123456", "revision": "2", "sub": {"subfield": "foo"}}),
    # "In the case of a repeated type, the parameter can be repeated": ?param=A&param=B
    ("Query", {}, "tags=a&tags=b&sub.nums=1&sub.nums=2", b"",
     {"tags": ["a", "b"], "sub": {"nums": [1, 2]}}),
    # JSON names are accepted as well as .proto names
    ("Tags", {}, "messageId=x&sub.subfield=y", b"", {"message_id": "x", "sub": {"subfield": "y"}}),
    # each scalar's text form
    ("Query", {}, "flag=true&ratio=1.5&revision=-3&data=AAE%3D", b"",
     {"flag": True, "ratio": 1.5, "revision": "-3", "data": "AAE="}),
    ("Query", {}, "flag=0&ratio=NaN", b"", {"ratio": "NaN"}),
    # enums by name or number, repeated enums, a nested enum
    ("Query", {}, "color=BLUE&colors=RED&colors=2&sub.color=1", b"",
     {"color": "BLUE", "colors": ["RED", "BLUE"], "sub": {"color": "RED"}}),
    # well-known types with a string form, named whole
    ("Query", {}, "when=2024-01-02T03:04:05Z&maybe=true&ttl=1.5s", b"",
     {"when": "2024-01-02T03:04:05Z", "maybe": True, "ttl": "1.500s"}),
    # "+" and percent-escapes in the query: as in HTML forms
    ("Query", {}, "note=a+b%2Bc%20%C3%A9", b"", {"note": "a b+c é"}),
    ("Query", {}, "note=", b"", {"note": ""}),                 # proto3 optional: present, empty
    # body "*": every field not in the path; the path wins over the body
    ("Star", {"message_id": "7"}, "", b'{"revision": "5", "sub": {"subfield": "s"}}',
     {"message_id": "7", "revision": "5", "sub": {"subfield": "s"}}),
    ("Star", {"message_id": "7"}, "", b'{"messageId": "from body", "tags": ["t"]}',
     {"message_id": "7", "tags": ["t"]}),
    ("Star", {"message_id": "7"}, "", b"", {"message_id": "7"}),                # no body: {}
    ("Star", {"message_id": "7"}, "", b"  \r\n", {"message_id": "7"}),
    # body "sub": the JSON is the Sub message; the path fills a field inside it
    ("Field", {"sub.subfield": "p"}, "revision=3", b'{"subfield": "b", "nums": [4]}',
     {"revision": "3", "sub": {"subfield": "p", "nums": [4]}}),
    # body of a repeated field: a JSON array
    ("Tags", {}, "", b'["x", "y"]', {"tags": ["x", "y"]}),
    # unknown body fields and query parameters, when asked to ignore them
    ("Query", {}, "nope=1&revision=4", b"", {"revision": "4"}),
]
IGNORE_UNKNOWN = {len(REQUESTS) - 1}


@pytest.mark.parametrize("index", range(len(REQUESTS)))
def test_request(index):
    method, variables, query, body, expected = REQUESTS[index]
    assert transcode(method, variables, query, body,
                     ignore_unknown=index in IGNORE_UNKNOWN) == expected


# method, path variables, query, body, words of the 400's message
BAD_REQUESTS = [
    ("Query", {}, "nope=1", b"", "query parameter 'nope': t.Req has no field 'nope'"),
    ("Query", {}, "revision=x", b"", "query parameter 'revision'"),
    ("Query", {}, "revision=1&revision=2", b"", "given 2 times, but revision is not repeated"),
    ("Query", {}, "message_id=1", b"", "bound by the URL path"),                # rule 3: (c) only
    ("Query", {}, "sub=x", b"", "sub is a message"),
    ("Query", {}, "labels=x", b"", "map field"),
    ("Query", {}, "flag=yes", b"", "expected true or false"),
    ("Query", {}, "color=GREEN", b"", "query parameter 'color'"),
    ("Query", {}, "tags.x=1", b"", "cannot go on into it"),
    ("Query", {}, "note=%FF", b"", "not UTF-8"),
    ("Field", {"sub.subfield": "p"}, "sub.nums=1", b"{}", "inside the body field 'sub'"),
    ("Star", {"message_id": "1"}, "revision=1", b"{}", 'not allowed here: body "*"'),   # rule 4
    ("Star", {"message_id": "1"}, "", b'{"revision": ', "invalid JSON body"),
    ("Star", {"message_id": "1"}, "", b'{"nope": 1}', "has no field 'nope'"),
    ("Star", {"message_id": "1"}, "", b'{"a": 1, "a": 2}', "appears twice"),
    ("Star", {"message_id": "1"}, "", b'{"ratio": NaN}', "bare NaN"),
    ("Star", {"message_id": "1"}, "", b'[1]', "invalid JSON body"),
    ("Star", {"message_id": "1"}, "", b"\xff\xfe{", "invalid JSON body"),
    ("Star", {"message_id": "1"}, "", b"[" * 100_000, "invalid JSON body"),
    ("Tags", {}, "", b'{"x": 1}', "invalid JSON body"),
]


@pytest.mark.parametrize("method, variables, query, body, reason", BAD_REQUESTS,
                         ids=[f"{m}-{q or b[:12]!r}" for m, _, q, b, _ in BAD_REQUESTS])
def test_bad_request_is_400_naming_the_part(method, variables, query, body, reason):
    with pytest.raises(GatewayError) as error:
        transcode(method, variables, query, body)
    assert (error.value.code, error.value.http_status) == (StatusCode.INVALID_ARGUMENT, 400)
    assert reason in error.value.message


def test_too_many_query_parameters():
    with pytest.raises(GatewayError, match="more than 1000 query parameters"):
        transcode("Query", {}, "&".join(["tags=x"] * 1001))


# field type, text, JSON value
TEXTS = [
    ("revision", "12", "12"), ("flag", "true", True), ("flag", "false", False),
    ("color", "RED", "RED"), ("color", "-1", -1), ("maybe", "1", True),
    ("when", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"), ("data", "AP8", "AP8"),
]


@pytest.mark.parametrize("name, text, value", TEXTS)
def test_text_to_json(name, text, value):
    field = t.Req._schema.field_named(name)
    assert text_to_json(field, text) == value


# method, response, JSON
RESPONSES = [
    ("Query", t.Resp(text="hi", count=3), {"text": "hi", "count": "3"}),
    ("Query", t.Resp(), {}),
    ("Text", t.Resp(text="hi", count=3), "hi"),               # response_body: a scalar field
    ("Text", t.Resp(), ""),                                    # ... at its default: still written
    ("Count", t.Resp(), "0"),
    ("Inner", t.Resp(sub=t.Sub(subfield="s")), {"subfield": "s"}),
    ("Inner", t.Resp(), {}),                                   # unset message: an empty one
    ("Items", t.Resp(items=["a", "b"]), ["a", "b"]),
    ("Items", t.Resp(), []),
    ("Counts", t.Resp(counts={"a": 1}), {"a": 1}),
    ("Counts", t.Resp(), {}),
    ("Note", t.Resp(), None),                                  # unset optional: null
    ("Note", t.Resp(note=""), ""),
]


@pytest.mark.parametrize("method, response, expected", RESPONSES,
                         ids=[f"{m}-{i}" for i, (m, *_) in enumerate(RESPONSES)])
def test_response(method, response, expected):
    assert response_json(BINDINGS[method], response) == expected


def test_response_options():
    options = JsonOptions(include_defaults=True, preserve_names=True)
    value = response_json(BINDINGS["Query"], t.Resp(text="x"), options)
    assert value == {"text": "x", "items": [], "count": "0", "counts": {}}
