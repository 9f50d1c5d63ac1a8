"""Every HttpRule feature end to end: http.client -> gateway -> our gRPC server (Bookshelf).

Each test names the rule of bookshelf.proto it exercises.
"""

import socket

import pytest

from .gateway_harness import WAIT, send

BOOK_1 = {"name": "shelves/1/books/1", "title": "Dune", "author": "Frank Herbert",
          "genre": "FICTION", "tags": ["classic", "space"], "pageCount": "412", "published": True}


# --- GET with path variables ----------------------------------------------------------


def test_get_with_one_variable(shelf):                   # get: "/v1/shelves/{shelf_id}"
    reply = shelf.request("GET", "/v1/shelves/5")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"name": "shelves/5", "theme": "theme of 5"}


def test_additional_binding_without_variables(shelf):    # additional_bindings { get: "/v1/default-shelf" }
    assert shelf.request("GET", "/v1/default-shelf").json()["name"] == "shelves/default"


def test_get_with_a_multi_segment_variable(shelf):       # get: "/v1/{name=shelves/*/books/*}"
    reply = shelf.request("GET", "/v1/shelves/1/books/1")
    assert (reply.status, reply.json()) == (200, BOOK_1)


def test_additional_binding_with_nested_field_paths(shelf):   # {location.shelf}, {location.book}
    reply = shelf.request("GET", "/v1/shelves/1/books/1/details")
    assert reply.json() == BOOK_1


def test_percent_encoded_variable(shelf):                # a one-segment variable is fully decoded
    assert shelf.request("GET", "/v1/shelves/a%20b%2Fc").json()["name"] == "shelves/a b/c"


def test_double_star_keeps_encoded_slashes(shelf):       # get: "/v1/{path=files/**}"
    reply = shelf.request("GET", "/v1/files/docs/a%2Fb/readme.txt")
    assert reply.json()["path"] == "files/docs/a%2Fb/readme.txt"
    assert shelf.request("GET", "/v1/files").json()["path"] == "files"      # "**": zero segments


def test_bare_star_binds_nothing(shelf):                 # get: "/v1/mirrors/*/{path=files/**}"
    assert shelf.request("GET", "/v1/mirrors/eu/files/x").json() == {
        "path": "files/x", "content": "ZmlsZXMveA=="}     # bytes: base64


# --- query parameters ---------------------------------------------------------------------


def test_query_parameters_scalar_nested_repeated_enum(shelf):   # get: "/v1/{parent=shelves/*}/books"
    reply = shelf.request("GET", "/v1/shelves/1/books?page_size=1&filter.tags=space"
                                 "&genres=FICTION&genres=2")
    assert reply.status == 200
    assert reply.json() == {"books": [BOOK_1], "total": 2}


def test_query_parameters_json_names_and_wrappers(shelf):
    reply = shelf.request("GET", "/v1/shelves/1/books?filter.minPages=400&publishedOnly=true")
    assert [book["title"] for book in reply.json()["books"]] == ["Dune", "SPQR"]


def test_repeated_nested_query_parameter_narrows(shelf):
    reply = shelf.request("GET", "/v1/shelves/1/books?filter.tags=space&filter.tags=classic")
    assert reply.json()["total"] == 1


def test_unknown_query_parameter_is_400(shelf):
    reply = shelf.request("GET", "/v1/shelves/1/books?pagesize=1")
    assert reply.status == 400
    assert reply.json() == {"code": 3, "details": [],
                            "message": "query parameter 'pagesize': bookshelf.v1.ListBooksRequest "
                                       "has no field 'pagesize'"}


# --- bodies ------------------------------------------------------------------------------


def test_post_body_field_plus_query(shelf):              # post: ... body: "book"; ?book_id=
    reply = shelf.request("POST", "/v1/shelves/7/books?book_id=dune",
                          {"title": "Dune", "pageCount": 412, "genre": "FICTION"})
    assert reply.status == 200
    assert reply.json() == {"name": "shelves/7/books/dune", "title": "Dune", "genre": "FICTION",
                            "pageCount": "412"}
    again = shelf.request("POST", "/v1/shelves/7/books?book_id=dune", {"title": "x"})
    assert (again.status, again.json()["code"]) == (409, 6)             # ALREADY_EXISTS -> 409


def test_patch_nested_path_variable_wins_over_the_body(shelf):   # patch: "/v1/{book.name=...}"
    shelf.request("POST", "/v1/shelves/8/books?book_id=b", {"title": "Old", "author": "A"})
    reply = shelf.request("PATCH", "/v1/shelves/8/books/b?update_mask=title",
                          {"name": "shelves/0/books/elsewhere", "title": "New", "author": "B"})
    assert reply.status == 200
    assert reply.json() == {"name": "shelves/8/books/b", "title": "New", "author": "A"}


def test_delete_answers_empty_object(shelf):             # delete: ..., returns google.protobuf.Empty
    shelf.request("POST", "/v1/shelves/9/books?book_id=gone", {"title": "Gone"})
    reply = shelf.request("DELETE", "/v1/shelves/9/books/gone")
    assert (reply.status, reply.body) == (200, b"{}")
    assert shelf.request("GET", "/v1/shelves/9/books/gone").status == 404


def test_custom_verb_with_body_star(shelf):              # post: "...:publish" body: "*"
    reply = shelf.request("POST", "/v1/shelves/1/books/2:publish",
                          {"edition": "2nd", "publishTime": "2020-01-01T00:00:00Z"})
    book = reply.json()
    assert (book["published"], book["publishTime"]) == (True, "2020-01-01T00:00:00Z")
    assert book["tags"][-1] == "edition:2nd"


def test_custom_http_method(shelf):                      # custom { kind: "SEARCH" path: "/v1/books" }
    reply = shelf.request("SEARCH", "/v1/books", {"query": "SPQR", "genres": ["HISTORY"]})
    assert [book["title"] for book in reply.json()["books"]] == ["SPQR"]


def test_response_body_field(shelf):                     # response_body: "tags"
    reply = shelf.request("GET", "/v1/shelves/1/books/1/tags")
    assert (reply.status, reply.json()) == (200, ["classic", "space"])


def test_bad_json_body_is_400(shelf):
    reply = shelf.request("POST", "/v1/shelves/7/books?book_id=x", b'{"title": ')
    assert reply.status == 400 and reply.json()["code"] == 3
    assert reply.json()["message"].startswith("invalid JSON body")


def test_wrong_json_type_is_400_naming_the_field(shelf):
    reply = shelf.request("POST", "/v1/shelves/7/books?book_id=x", {"pageCount": "many"})
    assert reply.status == 400
    assert "bookshelf.v1.CreateBookRequest.book.pageCount" in reply.json()["message"]


# --- routing errors --------------------------------------------------------------------


def test_unknown_path_is_404(shelf):
    reply = shelf.request("GET", "/v2/nothing/here")
    assert reply.status == 404
    assert reply.json() == {"code": 5, "message": "no rule matches GET /v2/nothing/here", "details": []}


def test_wrong_verb_is_405(shelf):
    reply = shelf.request("PUT", "/v1/shelves/1/books/1", {})
    assert reply.status == 405 and reply.headers["Allow"] == "GET, PATCH, DELETE"


# --- errors from the backend -------------------------------------------------------------


@pytest.mark.parametrize("code, status", [(3, 400), (5, 404), (7, 403), (8, 429), (9, 400),
                                          (10, 409), (12, 501), (13, 500), (14, 503), (16, 401),
                                          (2, 500), (1, 499)])
def test_backend_status_becomes_http_status(shelf, code, status):
    reply = shelf.request("POST", "/v1/errors:raise", {"code": code, "message": f"code {code}"})
    assert reply.status == status
    assert reply.json() == {"code": code, "message": f"code {code}", "details": []}


def test_error_details_are_protojson_any(shelf):
    reply = shelf.request("POST", "/v1/errors:raise",
                          {"code": 9, "message": "shelf full", "withDetails": True})
    assert reply.status == 400
    assert reply.json() == {"code": 9, "message": "shelf full", "details": [
        {"@type": "type.googleapis.com/bookshelf.v1.Shelf", "name": "shelves/9"}]}


def test_backend_not_found(shelf):
    reply = shelf.request("GET", "/v1/shelves/1/books/404")
    assert (reply.status, reply.json()["message"]) == (404, "no book shelves/1/books/404")


# --- metadata and deadlines ----------------------------------------------------------------


def test_metadata_both_ways(shelf):
    reply = shelf.request("GET", "/v1/metadata", headers={
        "Grpc-Metadata-X-User": "ann", "Grpc-Metadata-Trace-Bin": "AAH/", "Authorization": "Bearer t"})
    received = {entry["key"]: entry["value"] for entry in reply.json()["received"]}
    assert received["x-user"] == "ann"
    assert received["trace-bin"] == "0001ff"              # base64 decoded to bytes on the way in
    assert received["authorization"] == "Bearer t"
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert received["x-forwarded-host"] == f"127.0.0.1:{shelf.port}"
    assert reply.headers["Grpc-Metadata-X-Initial"] == "hello"
    assert reply.headers["Grpc-Metadata-X-Data-Bin"] == "AP8"
    assert reply.headers["Grpc-Trailer-X-Trailing"] == "bye"


def test_bad_metadata_header_is_400(shelf):
    reply = shelf.request("GET", "/v1/metadata", headers={"Grpc-Metadata-Grpc-Status": "0"})
    assert reply.status == 400


@pytest.mark.timeout(30)
def test_grpc_timeout_header_sets_the_deadline(shelf):
    reply = shelf.request("POST", "/v1/sleep", {"seconds": 0}, headers={"Grpc-Timeout": "5S"})
    assert 4.0 < reply.json()["timeRemaining"] <= 5.0
    assert shelf.request("POST", "/v1/sleep", {"seconds": 0}).json() == {"timeRemaining": -1}


@pytest.mark.timeout(30)
def test_grpc_timeout_running_out_is_504(shelf):
    reply = shelf.request("POST", "/v1/sleep", {"seconds": 5}, headers={"Grpc-Timeout": "200m"})
    assert reply.status == 504
    assert reply.json()["code"] == 4                      # DEADLINE_EXCEEDED


def test_bad_grpc_timeout_is_400(shelf):
    reply = shelf.request("POST", "/v1/sleep", {"seconds": 0}, headers={"Grpc-Timeout": "soon"})
    assert reply.status == 400 and "Grpc-Timeout" in reply.json()["message"]


# --- server streaming ------------------------------------------------------------------------


def test_server_streaming_is_ndjson(shelf):              # get: "/v1/{shelf=shelves/*}:watch"
    reply = shelf.request("GET", "/v1/shelves/1:watch?count=4")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/x-ndjson"
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.headers["Grpc-Metadata-X-Watch"] == "shelves/1"
    lines = reply.lines()
    assert [line["result"]["sequence"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["result"]["book"]["name"] == "shelves/1/books/1"


def test_stream_failing_midway_ends_with_an_error_line(shelf):
    lines = shelf.request("GET", "/v1/shelves/1:watch?count=5&fail_after=2").lines()
    assert [line.get("result", {}).get("sequence") for line in lines[:2]] == [1, 2]
    assert lines[2] == {"error": {"code": 10, "message": "stopped after 2", "details": []}}
    assert len(lines) == 3


def test_stream_failing_before_its_first_message_is_an_ordinary_error(shelf):
    reply = shelf.request("GET", "/v1/shelves/1:watch?count=3&fail_after=-1")
    assert reply.status == 409                            # ABORTED, and nothing was sent before it
    assert reply.json() == {"code": 10, "message": "stopped after -1", "details": []}


def test_empty_stream(shelf):
    reply = shelf.request("GET", "/v1/shelves/1:watch?count=0")
    assert (reply.status, reply.body) == (200, b"")


def test_stream_trailers_are_http_trailers(shelf):
    """The backend's trailing metadata follows the last chunk (RFC 9112 §7.1.2)."""
    with socket.create_connection(("127.0.0.1", shelf.port), timeout=WAIT) as sock:
        sock.sendall(b"GET /v1/shelves/1:watch?count=1 HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body.endswith(b"\r\n0\r\nGrpc-Trailer-x-events: 1\r\n\r\n")


def test_keep_alive_serves_many_requests_on_one_connection(shelf):
    connection = shelf.connection()
    try:
        for shelf_id in range(5):
            reply = send(connection, "GET", f"/v1/shelves/{shelf_id}")
            assert reply.json()["name"] == f"shelves/{shelf_id}"
        assert send(connection, "GET", "/v1/shelves/1:watch?count=2").lines()[1]["result"]["sequence"] == 2
        assert send(connection, "GET", "/nope").status == 404
        assert send(connection, "GET", "/v1/shelves/x").status == 200    # still the same socket
        local = connection.sock.getsockname()
        assert send(connection, "GET", "/v1/shelves/y").status == 200
        assert connection.sock.getsockname() == local
    finally:
        connection.close()


def test_concurrent_clients_share_one_backend_channel(shelf):
    """20 keep-alive connections at once: their calls are streams of one HTTP/2 connection."""
    from concurrent.futures import ThreadPoolExecutor

    def client(number):
        connection = shelf.connection()
        try:
            return [send(connection, "GET", f"/v1/shelves/{number}-{i}").json()["name"]
                    for i in range(5)]
        finally:
            connection.close()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))
    assert results == [[f"shelves/{n}-{i}" for i in range(5)] for n in range(20)]
