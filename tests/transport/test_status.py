"""Tests for transport.status: the codes and the two mapping tables."""

import h2.errors
import pytest

from transport.status import (
    HTTP_TO_GRPC_STATUS,
    RST_STREAM_TO_STATUS,
    Http2ErrorCode,
    StatusCode,
    status_from_http,
    status_from_reset,
)

# doc/statuscodes.md / google/rpc/code.proto: name and number of every code.
STATUS_CODES = [
    ("OK", 0),
    ("CANCELLED", 1),
    ("UNKNOWN", 2),
    ("INVALID_ARGUMENT", 3),
    ("DEADLINE_EXCEEDED", 4),
    ("NOT_FOUND", 5),
    ("ALREADY_EXISTS", 6),
    ("PERMISSION_DENIED", 7),
    ("RESOURCE_EXHAUSTED", 8),
    ("FAILED_PRECONDITION", 9),
    ("ABORTED", 10),
    ("OUT_OF_RANGE", 11),
    ("UNIMPLEMENTED", 12),
    ("INTERNAL", 13),
    ("UNAVAILABLE", 14),
    ("DATA_LOSS", 15),
    ("UNAUTHENTICATED", 16),
]


@pytest.mark.parametrize("name, number", STATUS_CODES)
def test_status_code_numbers(name, number):
    assert StatusCode[name] == number
    assert StatusCode(number).name == name


def test_there_are_exactly_seventeen_codes():
    assert [(code.name, code.value) for code in StatusCode] == STATUS_CODES


# doc/http-grpc-status-mapping.md, one row per row of its table.
HTTP_ROWS = [
    (400, StatusCode.INTERNAL),  # 400 Bad Request
    (401, StatusCode.UNAUTHENTICATED),  # 401 Unauthorized
    (403, StatusCode.PERMISSION_DENIED),  # 403 Forbidden
    (404, StatusCode.UNIMPLEMENTED),  # 404 Not Found
    (429, StatusCode.UNAVAILABLE),  # 429 Too Many Requests
    (431, StatusCode.INTERNAL),  # 431 Request Header Fields Too Large
    (502, StatusCode.UNAVAILABLE),  # 502 Bad Gateway
    (503, StatusCode.UNAVAILABLE),  # 503 Service Unavailable
    (504, StatusCode.UNAVAILABLE),  # 504 Gateway Timeout
    # "All other codes | UNKNOWN"
    (200, StatusCode.UNKNOWN),  # "200 is UNKNOWN because there should be a grpc-status"
    (405, StatusCode.UNKNOWN),
    (415, StatusCode.UNKNOWN),
    (500, StatusCode.UNKNOWN),
    (302, StatusCode.UNKNOWN),
    (0, StatusCode.UNKNOWN),
]


@pytest.mark.parametrize("http_status, expected", HTTP_ROWS)
def test_status_from_http(http_status, expected):
    assert status_from_http(http_status) is expected


def test_http_table_has_exactly_the_documented_rows():
    assert sorted(HTTP_TO_GRPC_STATUS) == [400, 401, 403, 404, 429, 431, 502, 503, 504]


# PROTOCOL-HTTP2.md "Errors": RST_STREAM error code -> gRPC status.
RESET_ROWS = [
    (h2.errors.ErrorCodes.NO_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.PROTOCOL_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.INTERNAL_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.FLOW_CONTROL_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.SETTINGS_TIMEOUT, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.FRAME_SIZE_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.REFUSED_STREAM, StatusCode.UNAVAILABLE),  # "can be retried"
    (h2.errors.ErrorCodes.CANCEL, StatusCode.CANCELLED),
    (h2.errors.ErrorCodes.COMPRESSION_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.CONNECT_ERROR, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, StatusCode.RESOURCE_EXHAUSTED),
    (h2.errors.ErrorCodes.INADEQUATE_SECURITY, StatusCode.PERMISSION_DENIED),
    # Not in the table: "STREAM_CLOSED | No mapping", and codes it does not list.
    (h2.errors.ErrorCodes.STREAM_CLOSED, StatusCode.INTERNAL),
    (h2.errors.ErrorCodes.HTTP_1_1_REQUIRED, StatusCode.INTERNAL),
    (0xFF, StatusCode.INTERNAL),
    (2**32 - 1, StatusCode.INTERNAL),
]


@pytest.mark.parametrize("error_code, expected", RESET_ROWS)
def test_status_from_reset(error_code, expected):
    assert status_from_reset(error_code) is expected
    assert status_from_reset(int(error_code)) is expected


def test_reset_table_leaves_out_stream_closed():
    # "STREAM_CLOSED | No mapping as there is no open stream to propagate to."
    assert Http2ErrorCode.STREAM_CLOSED not in RST_STREAM_TO_STATUS
    assert len(RST_STREAM_TO_STATUS) == 12


@pytest.mark.parametrize("code", list(h2.errors.ErrorCodes))
def test_http2_error_codes_match_h2(code):
    # RFC 9113 §7: our names and numbers are the ones h2 uses.
    assert Http2ErrorCode[code.name] == code


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        HTTP_TO_GRPC_STATUS[500] = StatusCode.INTERNAL
    with pytest.raises(TypeError):
        RST_STREAM_TO_STATUS[0] = StatusCode.OK
