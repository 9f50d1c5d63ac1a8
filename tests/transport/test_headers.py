"""Tests for transport.headers: request headers, responses, trailers, grpc-message."""

import socket
import threading

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.errors import InvalidMetadata, ProtocolError, RequestRejected
from transport.framing import encode_message
from transport.headers import (
    DEFAULT_USER_AGENT,
    RequestHead,
    ResponseHead,
    Trailers,
    build_rejection,
    build_request_headers,
    build_response_headers,
    build_trailers,
    build_trailers_only,
    decode_grpc_message,
    encode_grpc_message,
    header_list_size,
    is_grpc_content_type,
    parse_request_headers,
    parse_response_headers,
    parse_trailers,
    status_for_bad_response,
)
from transport.status import StatusCode


def as_bytes(headers):
    """The header list as h2 delivers it by default: bytes."""
    return [(name.encode(), value.encode()) for name, value in headers]


# --- grpc-message ----------------------------------------------------------------

GRPC_MESSAGE_ROWS = [
    # Percent-Byte-Unencoded → 1*( %x20-%x24 / %x26-%x7E )
    ("plain text", "plain text"),
    (" !\"#$", " !\"#$"),  # 0x20-0x24 stay
    ("%", "%25"),  # "except %"
    ("&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", "&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"),
    ("\t\n\r", "%09%0A%0D"),  # controls are encoded
    ("\x7f", "%7F"),
    ("\x00", "%00"),
    ("☺", "%E2%98%BA"),  # UTF-8, then percent-encoded; "2HEXDIGIT ; 0-9 A-F" uppercase
    ("😈", "%F0%9F%98%88"),
    ("", ""),
]


@pytest.mark.parametrize("text, encoded", GRPC_MESSAGE_ROWS)
def test_encode_grpc_message(text, encoded):
    assert encode_grpc_message(text) == encoded
    assert decode_grpc_message(encoded) == text
    assert decode_grpc_message(encoded.encode()) == text


def test_the_whitespace_and_unicode_message_round_trips():
    # The message of the official "special_status_message" interop test.
    text = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
    encoded = encode_grpc_message(text)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    assert decode_grpc_message(encoded) == text


BAD_ESCAPES = [
    # "When decoding invalid values, implementations MUST NOT error or throw away the message."
    ("100%", "100%"),
    ("%", "%"),
    ("%4", "%4"),
    ("%zz", "%zz"),
    ("%g0 and %41", "%g0 and A"),  # good escapes around a bad one still decode
    ("%e2%98%ba", "☺"),  # lowercase hex is read too
    ("%FF", "\ufffd"),  # not UTF-8: replacement character
    ("%E2%98", "\ufffd"),
    ("unencoded ☺", "unencoded ☺"),  # a peer that did not encode at all
]


@pytest.mark.parametrize("value, expected", BAD_ESCAPES)
def test_decode_grpc_message_never_fails(value, expected):
    assert decode_grpc_message(value) == expected


@given(st.text())
def test_grpc_message_round_trip(text):
    encoded = encode_grpc_message(text)
    assert all(0x20 <= ord(c) <= 0x7E for c in encoded)
    # Lone surrogates are not Unicode text: they come back as "?".
    assert decode_grpc_message(encoded) == text.encode("utf-8", "replace").decode("utf-8")


@given(st.one_of(st.binary(), st.text()))
def test_decode_grpc_message_accepts_anything(value):
    assert isinstance(decode_grpc_message(value), str)


# --- requests ---------------------------------------------------------------------


def test_request_headers_in_spec_order():
    headers = build_request_headers(
        path="/pkg.Service/Method", authority="example.com:443", scheme="https",
        timeout=1.0, encoding="gzip", metadata=[("authorization", "Bearer x"), ("k-bin", b"\x01")],
    )
    # Pseudo-headers first, then Timeout "immediately after the reserved
    # headers", then Call-Definition headers, then Custom-Metadata.
    assert headers == [
        (":method", "POST"),
        (":scheme", "https"),
        (":path", "/pkg.Service/Method"),
        (":authority", "example.com:443"),
        ("grpc-timeout", "1000000u"),
        ("te", "trailers"),
        ("content-type", "application/grpc"),
        ("grpc-encoding", "gzip"),
        ("grpc-accept-encoding", "identity,deflate,gzip"),
        ("user-agent", DEFAULT_USER_AGENT),
        ("authorization", "Bearer x"),
        ("k-bin", "AQ"),
    ]


def test_request_headers_minimal():
    headers = dict(build_request_headers(path="/s/m", authority="h", accept_encoding=()))
    assert headers[":scheme"] == "http"
    assert "grpc-timeout" not in headers  # "If Timeout is omitted ... infinite timeout"
    assert "grpc-encoding" not in headers
    assert "grpc-accept-encoding" not in headers


def test_default_user_agent_follows_the_recommended_structure():
    # User-Agent → "grpc-" Language ?("-" Variant) "/" Version
    name, _, version = DEFAULT_USER_AGENT.partition("/")
    assert name.startswith("grpc-python-") and version


def test_user_agent_in_metadata_is_merged_not_repeated():
    headers = build_request_headers(path="/s/m", authority="h", metadata=[("user-agent", "app/2")])
    user_agents = [value for name, value in headers if name == "user-agent"]
    assert user_agents == [f"app/2 {DEFAULT_USER_AGENT}"]


def test_request_metadata_is_validated():
    with pytest.raises(InvalidMetadata):
        build_request_headers(path="/s/m", authority="h", metadata=[("grpc-timeout", "1S")])


def test_request_round_trip():
    headers = build_request_headers(
        path="/pkg.Service/Method", authority="localhost:50051", timeout=0.25,
        encoding="gzip", user_agent="grpc-test/1", metadata=[("k", "v"), ("k-bin", b"\x00")],
    )
    head = parse_request_headers(as_bytes(headers))
    assert head == RequestHead(
        method="POST", scheme="http", path="/pkg.Service/Method", authority="localhost:50051",
        timeout=0.25, content_type="application/grpc", encoding="gzip",
        accept_encoding=("identity", "deflate", "gzip"), user_agent="grpc-test/1",
        metadata=(("user-agent", "grpc-test/1"), ("k", "v"), ("k-bin", b"\x00")),
    )


def test_request_from_a_grpcio_client():
    # The header block a grpcio 1.x client sends, as h2 hands it over.
    head = parse_request_headers([
        (b":scheme", b"http"), (b":method", b"POST"), (b":authority", b"localhost:50051"),
        (b":path", b"/ecommerce.ProductInfo/getProduct"), (b"te", b"trailers"),
        (b"content-type", b"application/grpc"), (b"user-agent", b"grpc-python/1.60.0 grpc-c/37.0.0"),
        (b"grpc-accept-encoding", b"identity, deflate, gzip"), (b"grpc-timeout", b"4999889u"),
    ])
    assert head.path == "/ecommerce.ProductInfo/getProduct"
    assert head.timeout == pytest.approx(4.999889)
    assert head.accept_encoding == ("identity", "deflate", "gzip")
    assert head.encoding is None


def test_authority_falls_back_to_host():
    base = [(":method", "POST"), (":scheme", "http"), (":path", "/s/m"), ("te", "trailers"),
            ("content-type", "application/grpc")]
    assert parse_request_headers(base + [("host", "h:1")]).authority == "h:1"
    assert parse_request_headers(base).authority is None


GOOD_REQUEST = [
    (":method", "POST"), (":scheme", "http"), (":path", "/s.S/M"), (":authority", "a"),
    ("te", "trailers"), ("content-type", "application/grpc"),
]


def replace(headers, name, value):
    """The request with `name` set to `value` (None: removed)."""
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else kept + [(name, value)]


REJECTIONS = [
    # (header, value, HTTP status to answer, grpc-status)
    (":method", "GET", 405, StatusCode.INTERNAL),  # Method → ":method POST"
    (":method", "PUT", 405, StatusCode.INTERNAL),
    (":method", None, 400, StatusCode.INTERNAL),  # RFC 9113 §8.3.1: malformed
    (":scheme", None, 400, StatusCode.INTERNAL),
    (":path", None, 400, StatusCode.INTERNAL),
    # "If Content-Type does not begin with 'application/grpc', gRPC servers
    # SHOULD respond with HTTP status of 415 (Unsupported Media Type)."
    ("content-type", "application/json", 415, StatusCode.INTERNAL),
    ("content-type", "text/html", 415, StatusCode.INTERNAL),
    ("content-type", "application/grpc-web", 415, StatusCode.INTERNAL),
    ("content-type", "application/grpcx", 415, StatusCode.INTERNAL),
    ("content-type", None, 415, StatusCode.INTERNAL),
    # TE → "te" "trailers"  # Used to detect incompatible proxies
    ("te", None, 200, StatusCode.INTERNAL),
    ("te", "gzip", 200, StatusCode.INTERNAL),
    # Path → ":path" "/" Service-Name "/" {method name}
    (":path", "/", 200, StatusCode.UNIMPLEMENTED),
    (":path", "/s.S", 200, StatusCode.UNIMPLEMENTED),
    (":path", "/s.S/", 200, StatusCode.UNIMPLEMENTED),
    (":path", "//M", 200, StatusCode.UNIMPLEMENTED),
    (":path", "/a/b/c", 200, StatusCode.UNIMPLEMENTED),
    (":path", "s.S/M", 200, StatusCode.UNIMPLEMENTED),
    # TimeoutValue: "positive integer as ASCII string of at most 8 digits"
    ("grpc-timeout", "123456789S", 200, StatusCode.INTERNAL),
    ("grpc-timeout", "1x", 200, StatusCode.INTERNAL),
    ("grpc-timeout", "", 200, StatusCode.INTERNAL),
    # Binary-Header values are base64
    ("k-bin", "!!!", 200, StatusCode.INTERNAL),
]


@pytest.mark.parametrize("name, value, http_status, status", REJECTIONS)
def test_request_rejections(name, value, http_status, status):
    with pytest.raises(RequestRejected) as caught:
        parse_request_headers(replace(GOOD_REQUEST, name, value))
    assert caught.value.http_status == http_status
    assert caught.value.status is status
    assert str(caught.value)


def test_duplicate_pseudo_header_is_rejected():
    with pytest.raises(RequestRejected) as caught:
        parse_request_headers(GOOD_REQUEST + [(":path", "/other/M")])
    assert caught.value.http_status == 400


@pytest.mark.parametrize("content_type", [
    "application/grpc", "application/grpc+proto", "application/grpc+json",
    "application/grpc+custom", "application/grpc; charset=utf-8", "Application/GRPC",
])
def test_grpc_content_types_are_accepted(content_type):
    # Content-Type → "content-type" "application/grpc" [("+proto" / "+json" / {custom})]
    assert is_grpc_content_type(content_type)
    head = parse_request_headers(replace(GOOD_REQUEST, "content-type", content_type))
    assert head.content_type == content_type


def test_build_rejection():
    rejected = RequestRejected("no", http_status=415, status=StatusCode.INTERNAL)
    assert build_rejection(rejected) == [
        (":status", "415"), ("content-type", "application/grpc"),
        ("grpc-status", "13"), ("grpc-message", "no"),
    ]


# --- responses --------------------------------------------------------------------


def test_response_headers():
    # Response-Headers → HTTP-Status [Message-Encoding] [Message-Accept-Encoding]
    #                    Content-Type *Custom-Metadata
    headers = build_response_headers(encoding="gzip", metadata=[("k", "v")])
    assert headers == [
        (":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "gzip"),
        ("grpc-accept-encoding", "identity,deflate,gzip"), ("k", "v"),
    ]
    head = parse_response_headers(as_bytes(headers))
    assert head == ResponseHead(
        http_status=200, content_type="application/grpc", encoding="gzip",
        accept_encoding=("identity", "deflate", "gzip"), metadata=(("k", "v"),),
    )
    assert status_for_bad_response(head) is None


BAD_RESPONSES = [
    # doc/http-grpc-status-mapping.md, for responses without grpc-status
    ([(":status", "503"), ("content-type", "text/html")], StatusCode.UNAVAILABLE, "503"),
    ([(":status", "404"), ("content-type", "application/grpc")], StatusCode.UNIMPLEMENTED, "404"),
    ([(":status", "401")], StatusCode.UNAUTHENTICATED, "401"),
    ([(":status", "500")], StatusCode.UNKNOWN, "500"),
    # "200 is UNKNOWN": a 200 that is not gRPC
    ([(":status", "200"), ("content-type", "text/html")], StatusCode.UNKNOWN, "text/html"),
    ([(":status", "200")], StatusCode.UNKNOWN, "content-type"),
    # No valid :status at all (RFC 9113 §8.3.2: malformed)
    ([("content-type", "application/grpc")], StatusCode.INTERNAL, ":status"),
    ([(":status", "2OO")], StatusCode.INTERNAL, ":status"),
]


@pytest.mark.parametrize("headers, status, word", BAD_RESPONSES)
def test_status_for_bad_response(headers, status, word):
    head = parse_response_headers(headers)
    made_up = status_for_bad_response(head)
    assert made_up is not None
    assert made_up[0] is status
    assert word in made_up[1]


def test_informational_heads_are_skipped():
    # "Technically, 1xx should have the entire header skipped and a subsequent header be read."
    head = parse_response_headers([(":status", "100")])
    assert head.informational
    assert status_for_bad_response(head) is None


def test_response_metadata_bad_base64_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        parse_response_headers([(":status", "200"), ("k-bin", "!")])


# --- trailers -----------------------------------------------------------------------


def test_trailers_ok_always_carry_grpc_status():
    # "Status must be sent in Trailers even if the status code is OK."
    assert build_trailers(status=StatusCode.OK) == [("grpc-status", "0")]


def test_trailers_round_trip():
    headers = build_trailers(
        status=StatusCode.INVALID_ARGUMENT, message="bad ☺ 100%", metadata=[("k", "v")],
        status_details=b"\x08\x03\x12\x03bad",
    )
    assert headers == [
        ("grpc-status", "3"), ("grpc-message", "bad %E2%98%BA 100%25"),
        ("grpc-status-details-bin", "CAMSA2JhZA"), ("k", "v"),
    ]
    assert parse_trailers(as_bytes(headers)) == Trailers(
        status=StatusCode.INVALID_ARGUMENT, message="bad ☺ 100%", metadata=(("k", "v"),),
        status_details=b"\x08\x03\x12\x03bad",
    )


def test_trailers_refuse_reserved_metadata():
    with pytest.raises(InvalidMetadata):
        build_trailers(status=0, metadata=[("grpc-status", "1")])


def test_trailers_only_carries_status_200_and_content_type():
    # Trailers-Only → HTTP-Status Content-Type Trailers (SPEC.md: "Trailers-Only
    # responses carry content-type")
    headers = build_trailers_only(status=StatusCode.UNIMPLEMENTED, message="no such method",
                                  accept_encoding=("identity", "gzip"))
    assert headers == [
        (":status", "200"), ("content-type", "application/grpc"),
        ("grpc-accept-encoding", "identity,gzip"),
        ("grpc-status", "12"), ("grpc-message", "no such method"),
    ]
    trailers = parse_trailers(as_bytes(headers))
    assert (trailers.status, trailers.message, trailers.metadata) == (
        StatusCode.UNIMPLEMENTED, "no such method", ())
    head = parse_response_headers(headers)
    assert head.http_status == 200 and head.content_type == "application/grpc"


MISSING_STATUS = [
    # (block, response head's :status or None, expected): http-grpc-status-mapping.md
    ([(":status", "503"), ("content-type", "text/plain")], None, StatusCode.UNAVAILABLE),
    ([(":status", "429")], None, StatusCode.UNAVAILABLE),
    ([(":status", "403")], None, StatusCode.PERMISSION_DENIED),
    ([(":status", "400")], None, StatusCode.INTERNAL),
    ([(":status", "200")], None, StatusCode.UNKNOWN),  # "200 is UNKNOWN"
    ([], 200, StatusCode.UNKNOWN),
    ([], 502, StatusCode.UNAVAILABLE),  # trailers after a 502 head
    ([], None, StatusCode.UNKNOWN),
    ([("grpc-message", "ignored")], None, StatusCode.UNKNOWN),
]


@pytest.mark.parametrize("headers, head_status, expected", MISSING_STATUS)
def test_missing_grpc_status_is_made_up(headers, head_status, expected):
    response = None
    if head_status is not None:
        response = parse_response_headers([(":status", str(head_status))])
    trailers = parse_trailers(headers, response=response)
    assert trailers.status is expected
    assert "missing grpc-status" in trailers.message  # "synthesize a Status & Status-Message"


def test_grpc_status_wins_over_the_http_status():
    # "If grpc-status was provided, it _must_ be used."
    trailers = parse_trailers([(":status", "503"), ("grpc-status", "5"), ("grpc-message", "gone")])
    assert (trailers.status, trailers.message) == (StatusCode.NOT_FOUND, "gone")


@pytest.mark.parametrize("value", ["", "abc", "-1", "+1", " 1", "1.0", "17", "99", "12345678901", "٣"])
def test_unparsable_grpc_status_is_unknown(value):
    # statuscodes.md: "Error parsing returned status | UNKNOWN | Client"
    trailers = parse_trailers([("grpc-status", value), ("grpc-message", "m")])
    assert trailers.status is StatusCode.UNKNOWN
    assert trailers.message == "m"


@pytest.mark.parametrize("code", list(StatusCode))
def test_every_status_code_round_trips(code):
    assert parse_trailers(build_trailers(status=code)).status is code


def test_bad_status_details_do_not_change_the_status():
    trailers = parse_trailers([("grpc-status", "3"), ("grpc-status-details-bin", "!!")])
    assert trailers.status is StatusCode.INVALID_ARGUMENT
    assert trailers.status_details is None


def test_header_list_size_counts_like_settings_max_header_list_size():
    # name + value + 32 per field (RFC 9113 §6.5.2)
    assert header_list_size([("ab", "cde"), (b"x", b"")]) == (2 + 3 + 32) + (1 + 0 + 32)


# --- properties -------------------------------------------------------------------

header_blocks = st.lists(
    st.tuples(
        st.one_of(st.sampled_from([":status", ":method", ":path", ":scheme", "te", "content-type",
                                   "grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding",
                                   "grpc-accept-encoding", "grpc-status-details-bin", "k-bin"]),
                  st.text(max_size=8)),
        st.one_of(st.text(max_size=12), st.binary(max_size=12)),
    ),
    max_size=8,
)


@given(header_blocks)
def test_parsers_raise_only_protocol_errors(headers):
    for parse in (parse_request_headers, parse_response_headers, parse_trailers):
        try:
            parse(headers)
        except ProtocolError:
            pass


@given(header_blocks)
def test_parse_trailers_always_gives_a_status_code(headers):
    try:
        trailers = parse_trailers(headers)
    except ProtocolError:
        return
    assert isinstance(trailers.status, StatusCode)
    assert isinstance(trailers.message, str)


# --- against a real grpcio client ----------------------------------------------------
#
# The final word on header blocks is what grpcio makes of them. A bare h2
# server on a loopback socket answers a grpcio client's call with blocks built
# here, and records the request block grpcio sent.

SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"


def _serve_one_connection(listener, answer, seen):
    """Answer every call on one connection with `answer(request_headers)`."""
    sock, _ = listener.accept()
    sock.settimeout(10)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    connection.initiate_connection()
    sock.sendall(connection.data_to_send())
    with sock:
        while data := sock.recv(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    seen.append(event.headers)
                    for block, end_stream in answer(event.headers):
                        if isinstance(block, bytes):
                            connection.send_data(event.stream_id, block, end_stream=end_stream)
                        else:
                            connection.send_headers(event.stream_id, block, end_stream=end_stream)
            sock.sendall(connection.data_to_send())


def _call_grpcio(answer, **call_options):
    """Make one unary call from grpcio; return (seen request headers, outcome)."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen = []
    server = threading.Thread(target=_serve_one_connection, args=(listener, answer, seen), daemon=True)
    server.start()
    port = listener.getsockname()[1]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary("/pkg.Service/Method")
        try:
            outcome = call.with_call(b"request", timeout=5, **call_options)
        except grpc.RpcError as error:
            outcome = error
    server.join(timeout=5)
    listener.close()
    return seen[0], outcome


def test_grpcio_request_is_accepted():
    def answer(request):
        return [(build_response_headers(), False), (encode_message(b"reply"), False),
                (build_trailers(status=StatusCode.OK), True)]

    request, (reply, call) = _call_grpcio(answer, metadata=[("k", "v"), ("k-bin", b"\x00\xff")])
    head = parse_request_headers(request)
    assert (head.method, head.path) == ("POST", "/pkg.Service/Method")
    assert 4 < head.timeout <= 5.05  # grpcio may round the timeout it sends up (never down)
    assert ("k", "v") in head.metadata and ("k-bin", b"\x00\xff") in head.metadata
    assert reply == b"reply"
    assert call.code() == grpc.StatusCode.OK


def test_grpcio_reads_our_trailers():
    def answer(request):
        return [
            (build_response_headers(metadata=[("initial", "yes")]), False),
            (build_trailers(status=StatusCode.INVALID_ARGUMENT, message=SPECIAL_MESSAGE,
                            metadata=[("t-bin", b"\x00\x01\xfe"), ("t", "text")]), True),
        ]

    _, error = _call_grpcio(answer)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == SPECIAL_MESSAGE
    assert ("initial", "yes") in error.initial_metadata()
    assert ("t-bin", b"\x00\x01\xfe") in error.trailing_metadata()
    assert ("t", "text") in error.trailing_metadata()


def test_grpcio_reads_our_trailers_only_response():
    def answer(request):
        return [(build_trailers_only(status=StatusCode.UNIMPLEMENTED, message="no such method 100%"), True)]

    _, error = _call_grpcio(answer)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert error.details() == "no such method 100%"


def test_only_trailers_may_carry_the_retry_pushback_and_only_the_transport_previous_attempts():
    # gRFC A6: a server application asks for a delay in its trailers; the
    # attempts header is the transport's own (previous_attempts=).
    trailers = build_trailers(status=StatusCode.UNAVAILABLE, metadata=[("grpc-retry-pushback-ms", "50")])
    assert ("grpc-retry-pushback-ms", "50") in trailers
    for key in ("grpc-retry-pushback-ms", "grpc-previous-rpc-attempts"):
        with pytest.raises(InvalidMetadata, match="reserved"):
            build_request_headers(path="/a.S/M", authority="x", metadata=[(key, "1")])
        with pytest.raises(InvalidMetadata, match="reserved"):
            build_response_headers(metadata=[(key, "1")])
    with pytest.raises(InvalidMetadata, match="reserved"):
        build_trailers(status=StatusCode.OK, metadata=[("grpc-previous-rpc-attempts", "1")])
    headers = build_request_headers(path="/a.S/M", authority="x", previous_attempts=2)
    assert ("grpc-previous-rpc-attempts", "2") in headers
