"""HttpRule -> bindings: what google/api/http.proto allows, what it refuses, and routing."""

import pytest

from rpc import StatusCode
from services.gateway import GatewayError, Router, RuleError, bindings_of
from services.gateway.testdata.bookshelf import bookshelf
from wire import idl

HEADER = """
syntax = "proto3";
package t;
import "google/api/annotations.proto";
message Sub { string leaf = 1; }
message Req { string id = 1; Sub sub = 2; repeated string ids = 3; int32 n = 4;
              map<string, string> labels = 5; }
message Resp { string text = 1; Sub sub = 2; }
"""


def method(rule: str, rpc_line: str = "rpc M(Req) returns (Resp)"):
    source = HEADER + f"service S {{ {rpc_line} {{ option (google.api.http) = {{ {rule} }}; }} }}"
    return idl.load_source(source, "t.proto").S.methods["M"]


def test_one_binding_per_pattern_and_per_additional_binding():
    bindings = bindings_of(method('get: "/v1/{id}" additional_bindings { post: "/v1/x" body: "*" } '
                                  'additional_bindings { custom { kind: "HEAD" path: "/v1/h" } }'))
    assert [(b.verb, b.template.text, b.body) for b in bindings] == [
        ("GET", "/v1/{id}", ""), ("POST", "/v1/x", "*"), ("HEAD", "/v1/h", "")]


def test_fields_are_resolved_once():
    (binding,) = bindings_of(method('put: "/v1/{sub.leaf}" body: "sub" response_body: "text"'))
    assert [f.name for f in binding.path_fields["sub.leaf"]] == ["sub", "leaf"]
    assert binding.body_field.name == "sub" and binding.response_field.name == "text"


def test_a_method_without_the_option_has_no_binding():
    source = HEADER + "service S { rpc M(Req) returns (Resp); }"
    assert bindings_of(idl.load_source(source, "t.proto").S.methods["M"]) == []


# rule, words of the RuleError
REFUSED = [
    ('body: "*"', "sets none of get, put, post, delete, patch or custom"),
    ('get: "v1/x"', "expected '/'"),
    ('get: "/v1/{nope}"', "has no field 'nope'"),
    ('get: "/v1/{ids}"', "must name a singular field of primitive type"),        # repeated
    ('get: "/v1/{sub}"', "must name a singular field of primitive type"),        # a message
    ('get: "/v1/{n.x}"', "is not a message"),
    ('get: "/v1/{labels.x}"', "is a map"),
    ('post: "/v1/x" body: "sub.leaf"', "not a top-level field"),                 # body: top level
    ('post: "/v1/x" body: "nope"', "not a top-level field"),
    ('get: "/v1/x" response_body: "nope"', "response_body 'nope'"),
    ('get: "/v1/x" body: "*"', "a GET rule cannot have a body"),
    ('custom { path: "/v1/x" }', "needs a kind"),
    ('get: "/v1/x" additional_bindings { get: "/v1/y" additional_bindings { get: "/v1/z" } }',
     "nest only one level deep"),
]


@pytest.mark.parametrize("rule, reason", REFUSED, ids=[r for r, _ in REFUSED])
def test_rules_the_gateway_refuses_at_start(rule, reason):
    with pytest.raises(RuleError) as error:
        bindings_of(method(rule))
    assert reason in str(error.value)
    assert "t.S.M" in str(error.value)


def test_two_methods_on_one_route_are_refused():
    source = HEADER + """service S {
        rpc A(Req) returns (Resp) { option (google.api.http) = { get: "/v1/x" }; }
        rpc B(Req) returns (Resp) { option (google.api.http) = { get: "/v1/x" }; } }"""
    with pytest.raises(RuleError, match="both bind GET /v1/x"):
        Router.for_services(idl.load_source(source, "t.proto").services.values())


ROUTER = Router.for_services(bookshelf.services.values())

# verb, path, the method it reaches, its variables
ROUTES = [
    ("GET", "/v1/shelves/1", "GetShelf", {"shelf_id": "1"}),
    ("GET", "/v1/shelves/1:watch", "WatchShelf", {"shelf": "shelves/1"}),        # verb first
    ("GET", "/v1/shelves/1/books/2", "GetBook", {"name": "shelves/1/books/2"}),
    ("GET", "/v1/shelves/1/books/2/details", "GetBook", {"location.shelf": "1", "location.book": "2"}),
    ("GET", "/v1/shelves/1/books/2/tags", "GetBookTags", {"name": "shelves/1/books/2"}),
    ("POST", "/v1/shelves/1/books/2:publish", "PublishBook", {"name": "shelves/1/books/2"}),
    ("PATCH", "/v1/shelves/1/books/2", "UpdateBook", {"book.name": "shelves/1/books/2"}),
    ("DELETE", "/v1/shelves/1/books/2", "DeleteBook", {"name": "shelves/1/books/2"}),
    ("SEARCH", "/v1/books", "SearchBooks", {}),
    ("GET", "/v1/mirrors/eu/files/a/b", "GetFile", {"path": "files/a/b"}),
]


@pytest.mark.parametrize("verb, path, name, variables", ROUTES, ids=[f"{v} {p}" for v, p, *_ in ROUTES])
def test_route(verb, path, name, variables):
    route = ROUTER.route(verb, path)
    assert (route.binding.method.name, route.variables) == (name, variables)


def test_an_unknown_path_is_404():
    with pytest.raises(GatewayError) as error:
        ROUTER.route("GET", "/v2/shelves/1")
    assert (error.value.http_status, error.value.code) == (404, StatusCode.NOT_FOUND)
    assert "GET /v2/shelves/1" in error.value.message


def test_a_known_path_with_another_verb_is_405_with_allow():
    with pytest.raises(GatewayError) as error:
        ROUTER.route("PUT", "/v1/shelves/1/books/2")
    assert error.value.http_status == 405
    assert error.value.headers == (("Allow", "GET, PATCH, DELETE"),)


def test_bad_utf8_in_a_variable_is_400():
    with pytest.raises(GatewayError) as error:
        ROUTER.route("GET", "/v1/shelves/%FF")
    assert (error.value.http_status, error.value.code) == (400, StatusCode.INVALID_ARGUMENT)
