"""Tests for transport.errors: one root, with a status and an HTTP/2 error code."""

import pytest

from transport.errors import (
    DecompressionError,
    InvalidMetadata,
    MessageTooLarge,
    ProtocolError,
    RequestRejected,
    UnsupportedEncoding,
)
from transport.status import Http2ErrorCode, StatusCode

PROTOCOL_ERROR = 0x1  # RFC 9113 §7
CANCEL = 0x8  # RFC 9113 §7

# class, default status (doc/statuscodes.md), default HTTP/2 error code
DEFAULTS = [
    (ProtocolError, StatusCode.INTERNAL, PROTOCOL_ERROR),
    # "Sent or received message was larger than configured limit | RESOURCE_EXHAUSTED"
    (MessageTooLarge, StatusCode.RESOURCE_EXHAUSTED, CANCEL),
    # "Could not decompress, but compression algorithm supported | INTERNAL"
    (DecompressionError, StatusCode.INTERNAL, CANCEL),
    # "Compression mechanism used by client not supported at server | UNIMPLEMENTED"
    (UnsupportedEncoding, StatusCode.UNIMPLEMENTED, CANCEL),
]


@pytest.mark.parametrize("cls, status, error_code", DEFAULTS)
def test_defaults(cls, status, error_code):
    error = cls("what went wrong")
    assert error.status is status
    assert error.error_code == error_code
    assert error.message == "what went wrong"
    assert str(error) == "what went wrong"
    assert isinstance(error, ProtocolError)


@pytest.mark.parametrize("cls, status, error_code", DEFAULTS)
def test_overrides(cls, status, error_code):
    error = cls("x", status=StatusCode.UNAVAILABLE, error_code=Http2ErrorCode.REFUSED_STREAM)
    assert error.status is StatusCode.UNAVAILABLE
    assert error.error_code == 0x7


def test_status_and_error_code_are_keyword_only():
    with pytest.raises(TypeError):
        ProtocolError("x", StatusCode.INTERNAL)


def test_request_rejected_carries_the_http_status():
    error = RequestRejected("not gRPC", http_status=415)
    assert error.http_status == 415
    assert error.status is StatusCode.INTERNAL
    assert isinstance(error, ProtocolError)
    trailers_only = RequestRejected("bad path", http_status=200, status=StatusCode.UNIMPLEMENTED)
    assert (trailers_only.http_status, trailers_only.status) == (200, StatusCode.UNIMPLEMENTED)


def test_request_rejected_needs_an_http_status():
    with pytest.raises(TypeError):
        RequestRejected("x")


def test_repr_names_the_status():
    assert "RESOURCE_EXHAUSTED" in repr(MessageTooLarge("big"))
    assert "http_status=405" in repr(RequestRejected("GET", http_status=405))


def test_invalid_metadata_is_a_caller_error_not_a_protocol_error():
    error = InvalidMetadata("metadata key 'A' has uppercase letters")
    assert isinstance(error, ValueError)
    assert not isinstance(error, ProtocolError)
