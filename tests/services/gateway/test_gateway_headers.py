"""Headers <-> metadata, Grpc-Timeout, and the status table: pure functions, table-driven."""

import json

import pytest

from rpc import StatusCode
from services.gateway import HTTP_STATUS, GatewayError, error_json, http_status_of
from services.gateway.headers import (
    METADATA_HEADER_PREFIX,
    TRAILER_HEADER_PREFIX,
    metadata_headers,
    request_metadata,
    request_timeout,
)

# SPEC.md, "JSON transcoding": gRPC status -> HTTP, from google/rpc/code.proto.
SPEC_TABLE = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401, "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400,
    "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500,
    "UNAVAILABLE": 503, "DATA_LOSS": 500,
}


@pytest.mark.parametrize("name, status", SPEC_TABLE.items())
def test_status_table_row(name, status):
    assert HTTP_STATUS[StatusCode[name]] == status
    assert http_status_of(StatusCode[name].value) == status


def test_every_code_has_a_row_and_unknown_numbers_are_500():
    assert set(HTTP_STATUS) == set(StatusCode)
    assert http_status_of(42) == 500


def test_error_body():
    body = json.loads(error_json(StatusCode.NOT_FOUND, "no book é", [{"@type": "x"}]))
    assert body == {"code": 5, "message": "no book é", "details": [{"@type": "x"}]}
    assert GatewayError(StatusCode.NOT_FOUND, "x").http_status == 404


# request headers (lowercase, as h11 gives them), the client's address, the metadata
METADATA = [
    ([("grpc-metadata-x-user", "ann")], None, [("x-user", "ann")]),
    ([("grpc-metadata-x-user", "  ann ")], None, [("x-user", "ann")]),
    ([("grpc-metadata-x-a", "1"), ("grpc-metadata-x-a", "2")], None, [("x-a", "1"), ("x-a", "2")]),
    ([("grpc-metadata-trace-bin", "AAH/")], None, [("trace-bin", b"\x00\x01\xff")]),
    ([("grpc-metadata-trace-bin", "AAH")], None, [("trace-bin", b"\x00\x01")]),     # unpadded
    ([("authorization", "Bearer t")], None, [("authorization", "Bearer t")]),
    ([("host", "example.com:8080")], "10.0.0.7",
     [("x-forwarded-host", "example.com:8080"), ("x-forwarded-for", "10.0.0.7")]),
    ([("x-forwarded-for", "1.2.3.4")], "10.0.0.7", [("x-forwarded-for", "1.2.3.4, 10.0.0.7")]),
    ([("accept", "*/*"), ("content-type", "application/json"), ("user-agent", "curl/8")], None, []),
]


@pytest.mark.parametrize("headers, client, metadata", METADATA)
def test_request_metadata(headers, client, metadata):
    assert list(request_metadata(headers, client)) == metadata


@pytest.mark.parametrize("headers, words", [
    ([("grpc-metadata-grpc-status", "0")], "grpc-status"),        # reserved grpc- keys
    ([("grpc-metadata-x-bin", "@@@")], "must be base64"),
    ([("grpc-metadata-x", "caf\xe9")], "bad metadata header"),     # not ASCII
    ([("grpc-metadata-", "v")], "bad metadata header"),            # empty key
])
def test_bad_metadata_headers_are_400(headers, words):
    with pytest.raises(GatewayError) as error:
        request_metadata(headers)
    assert error.value.http_status == 400 and words in error.value.message


@pytest.mark.parametrize("value, seconds", [
    ("1S", 1.0), ("100m", 0.1), ("2M", 120.0), ("1H", 3600.0), ("5000u", 0.005), ("7n", 7e-9),
    (" 3S ", 3.0),
])
def test_grpc_timeout(value, seconds):
    assert request_timeout([("grpc-timeout", value)]) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["1", "S", "123456789S", "1.5S", "-1S", "1s", ""])
def test_bad_grpc_timeout_is_400(value):
    # PROTOCOL-HTTP2.md: TimeoutValue is at most 8 ASCII digits, TimeoutUnit one of H M S m u n.
    with pytest.raises(GatewayError) as error:
        request_timeout([("grpc-timeout", value)])
    assert error.value.http_status == 400 and "Grpc-Timeout" in error.value.message


def test_no_timeout_header():
    assert request_timeout([("accept", "*/*")]) is None


def test_response_metadata_headers():
    metadata = [("x-a", "1"), ("x-data-bin", b"\x00\xff"), ("grpc-status-details-bin", b"..")]
    assert metadata_headers(metadata, METADATA_HEADER_PREFIX) == [
        ("Grpc-Metadata-x-a", "1"), ("Grpc-Metadata-x-data-bin", "AP8")]
    assert metadata_headers([("x-t", "bye")], TRAILER_HEADER_PREFIX) == [("Grpc-Trailer-x-t", "bye")]
