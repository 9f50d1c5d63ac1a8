"""gRPC header blocks: request headers, response headers, trailers, Trailers-Only.

Implements doc/PROTOCOL-HTTP2.md, sections "Requests" and "Responses"
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#requests
https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#responses
and doc/http-grpc-status-mapping.md for responses that carry no grpc-status
https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md

    Request-Headers → Call-Definition *Custom-Metadata
    Call-Definition → Method Scheme Path TE [Authority] [Timeout] Content-Type
                      [Message-Type] [Message-Encoding] [Message-Accept-Encoding]
                      [User-Agent]
    Response → (Response-Headers *Length-Prefixed-Message Trailers) / Trailers-Only
    Response-Headers → HTTP-Status [Message-Encoding] [Message-Accept-Encoding]
                       Content-Type *Custom-Metadata
    Trailers-Only → HTTP-Status Content-Type Trailers
    Trailers → Status [Status-Message] *Custom-Metadata
    HTTP-Status → ":status 200"
    Status → "grpc-status" 1*DIGIT ; 0-9
    Status-Message → "grpc-message" Percent-Encoded
    Percent-Encoded → 1*(Percent-Byte-Unencoded / Percent-Byte-Encoded)
    Percent-Byte-Unencoded → 1*( %x20-%x24 / %x26-%x7E ) ; space and VCHAR, except %
    Percent-Byte-Encoded → "%" 2HEXDIGIT ; 0-9 A-F

Builders return `[(name, value), ...]` lists of str, in the order the spec
asks for: pseudo-headers first, then grpc-timeout, then the other
Call-Definition headers, then custom metadata. Parsers take what h2 hands
over, names and values as bytes or str, and return frozen dataclasses.

A server's parser raises RequestRejected with the answer to give (see the
table `_REJECTIONS`). A client's parsers never raise for a response that is
merely wrong (a proxy's 503, an HTML error page): "Implementations must
synthesize a Status & Status-Message to propagate to the application layer".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .compression import SUPPORTED_ENCODINGS, accept_encoding_value, parse_accept_encoding
from .errors import ProtocolError, RequestRejected
from .metadata import (
    PREVIOUS_RPC_ATTEMPTS,
    TRAILER_KEYS,
    decode_binary_value,
    decode_metadata_fields,
    encode_binary_value,
    encode_metadata,
    normalize_headers,
)
from .status import StatusCode, status_from_http
from .timeout import decode_timeout, encode_timeout

__all__ = [
    "CONTENT_TYPE_GRPC",
    "DEFAULT_USER_AGENT",
    "DEFAULT_MAX_HEADER_LIST_SIZE",
    "RequestHead",
    "ResponseHead",
    "Trailers",
    "build_request_headers",
    "parse_request_headers",
    "build_response_headers",
    "build_trailers",
    "build_trailers_only",
    "build_rejection",
    "parse_response_headers",
    "status_for_bad_response",
    "parse_trailers",
    "encode_grpc_message",
    "decode_grpc_message",
    "header_list_size",
    "is_grpc_content_type",
]

Headers = Iterable[tuple[bytes | str, bytes | str]]

# --- Constants: names and values -----------------------------------------------

METHOD = ":method"
SCHEME = ":scheme"
PATH = ":path"
AUTHORITY = ":authority"
STATUS = ":status"
HOST = "host"  # the HTTP/1 spelling of :authority (RFC 9113 §8.3.1)
TE = "te"
CONTENT_TYPE = "content-type"
USER_AGENT = "user-agent"
GRPC_TIMEOUT = "grpc-timeout"
GRPC_ENCODING = "grpc-encoding"
GRPC_ACCEPT_ENCODING = "grpc-accept-encoding"
GRPC_STATUS = "grpc-status"
GRPC_MESSAGE = "grpc-message"
GRPC_STATUS_DETAILS = "grpc-status-details-bin"  # a serialized google.rpc.Status

METHOD_POST = "POST"  # Method → ":method POST"
SCHEMES = frozenset({"http", "https"})  # Scheme → ":scheme " ("http" / "https")
TE_TRAILERS = "trailers"  # TE → "te" "trailers"  # Used to detect incompatible proxies
HTTP_STATUS_OK = 200  # HTTP-Status → ":status 200"

# Content-Type → "content-type" "application/grpc" [("+proto" / "+json" / {custom})]
CONTENT_TYPE_GRPC = "application/grpc"
# What may follow the bare type: a "+subtype", or media-type parameters (";").
# Anything else (application/grpc-web, application/grpcx) is another protocol.
_CONTENT_TYPE_SUFFIX_STARTS = ("+", ";")

# "User-Agent → 'grpc-' Language ?('-' Variant) '/' Version" (section "User Agents")
_VERSION = "0.1.0"
DEFAULT_USER_AGENT = f"grpc-python-fromscratch/{_VERSION}"

# "Servers may limit the size of Request-Headers, with a default of 8 KiB
# suggested" (and clients likewise for responses and trailers), counted like
# SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32 per field (RFC 9113 §6.5.2).
DEFAULT_MAX_HEADER_LIST_SIZE = 8 * 1024
HEADER_FIELD_OVERHEAD = 32

# grpc-status: "a decimal-encoded integer as an ASCII string". More digits than
# this cannot be a status code; don't even hand them to int().
_GRPC_STATUS_MAX_DIGITS = 10
_ASCII_DIGITS = frozenset("0123456789")

# Percent-Byte-Unencoded → %x20-%x24 / %x26-%x7E: everything else is "%XX".
_PERCENT = 0x25  # "%"
_UNENCODED_FIRST = 0x20
_UNENCODED_LAST = 0x7E
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_HEX_DIGITS_PER_BYTE = 2
_PERCENT_ENCODED_LENGTH = 1 + _HEX_DIGITS_PER_BYTE  # "%" 2HEXDIGIT


# --- Header lists --------------------------------------------------------------


def header_list_size(headers: Headers) -> int:
    """The size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it."""
    size = 0
    for name, value in headers:
        size += _octet_length(name) + _octet_length(value) + HEADER_FIELD_OVERHEAD
    return size


def _octet_length(value: bytes | str) -> int:
    if isinstance(value, bytes):  # what h2 hands over
        return len(value)
    return len(_octets(value))


def _octets(value: bytes | str) -> bytes:
    """The octets behind a header name or value (undoing metadata.header_text)."""
    if not isinstance(value, str):
        return bytes(value)
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate header_text did not make
        return value.encode("utf-8", "replace")


class _HeaderBlock:
    """A peer's header block, names and values as str, read by name."""

    def __init__(self, headers: Headers) -> None:
        self.fields = normalize_headers(headers)
        # Built backwards, so that the first value of a repeated name wins.
        self._first: dict[str, str] = dict(reversed(self.fields))
        self._repeats = len(self._first) < len(self.fields)

    def get(self, name: str) -> str | None:
        return self._first.get(name)

    def count(self, name: str) -> int:
        if not self._repeats:
            return 1 if name in self._first else 0
        return sum(1 for field_name, _ in self.fields if field_name == name)

    def metadata(self) -> tuple:
        """The custom metadata among the fields (metadata.decode_metadata)."""
        return decode_metadata_fields(self.fields)


# --- grpc-message ----------------------------------------------------------------


def encode_grpc_message(text: str) -> str:
    """Percent-encode a status message: UTF-8, then %XX for all but 0x20-0x24, 0x26-0x7E.

    A str that is not valid Unicode (lone surrogates) has them replaced by "?".
    """
    octets = text.encode("utf-8", "replace")
    return "".join(_percent_encode_byte(byte) for byte in octets)


def _percent_encode_byte(byte: int) -> str:
    if _UNENCODED_FIRST <= byte <= _UNENCODED_LAST and byte != _PERCENT:
        return chr(byte)
    return f"%{byte:02X}"


def decode_grpc_message(value: str | bytes) -> str:
    """Undo encode_grpc_message. Never fails.

    PROTOCOL-HTTP2.md: "When decoding invalid values, implementations MUST
    NOT error or throw away the message." A "%" not followed by two hex
    digits stays as it is; bytes that are not UTF-8 become U+FFFD.
    """
    octets = _octets(value)
    decoded = bytearray()
    position = 0
    while position < len(octets):
        position = _percent_decode_at(octets, position, decoded)
    return decoded.decode("utf-8", "replace")


def _percent_decode_at(octets: bytes, position: int, decoded: bytearray) -> int:
    escape = octets[position:position + _PERCENT_ENCODED_LENGTH]
    hex_digits = escape[1:]
    if escape[0] == _PERCENT and len(hex_digits) == _HEX_DIGITS_PER_BYTE and _HEX_DIGITS.issuperset(hex_digits):
        decoded.append(int(hex_digits, 16))
        return position + _PERCENT_ENCODED_LENGTH
    decoded.append(octets[position])
    return position + 1


# --- Requests ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestHead:
    """What a server learns from a request's header block."""

    method: str
    scheme: str
    path: str
    authority: str | None
    timeout: float | None  # seconds; None: no deadline
    content_type: str
    encoding: str | None  # grpc-encoding
    accept_encoding: tuple[str, ...]  # grpc-accept-encoding
    user_agent: str | None
    metadata: tuple  # ((key, str | bytes), ...)


def build_request_headers(
    *,
    path: str,
    authority: str,
    scheme: str = "http",
    timeout: float | None = None,
    content_type: str = CONTENT_TYPE_GRPC,
    encoding: str | None = None,
    accept_encoding: Sequence[str] = SUPPORTED_ENCODINGS,
    user_agent: str = DEFAULT_USER_AGENT,
    metadata: Iterable[tuple[str, str | bytes]] = (),
    previous_attempts: int = 0,
) -> list[tuple[str, str]]:
    """The header block that opens a call.

    A `user-agent` in `metadata` is not sent twice: it is put in front of
    `user_agent` ("theirs ours"), so metadata received by a server can be
    forwarded on a new call as is. `previous_attempts` > 0 (a retried call)
    adds grpc-previous-rpc-attempts (gRFC A6).
    """
    custom = encode_metadata(metadata)
    user_agent = _merge_user_agent(custom, user_agent)
    headers = [(METHOD, METHOD_POST), (SCHEME, scheme), (PATH, path), (AUTHORITY, authority)]
    if timeout is not None:
        headers.append((GRPC_TIMEOUT, encode_timeout(timeout)))
    headers += [(TE, TE_TRAILERS), (CONTENT_TYPE, content_type)]
    headers += _encoding_headers(encoding, accept_encoding)
    if previous_attempts:
        headers.append((PREVIOUS_RPC_ATTEMPTS, str(previous_attempts)))
    headers.append((USER_AGENT, user_agent))
    return headers + [(name, value) for name, value in custom if name != USER_AGENT]


def _merge_user_agent(custom: list[tuple[str, str]], user_agent: str) -> str:
    theirs = [value for name, value in custom if name == USER_AGENT]
    return " ".join([*theirs, user_agent])


def _encoding_headers(encoding: str | None, accept_encoding: Sequence[str]) -> list[tuple[str, str]]:
    headers = []
    if encoding is not None:
        headers.append((GRPC_ENCODING, encoding))
    if accept_encoding:
        headers.append((GRPC_ACCEPT_ENCODING, accept_encoding_value(accept_encoding)))
    return headers


@dataclass(frozen=True)
class _Answer:
    """How a server answers one kind of bad request, and why."""

    http_status: int
    status: StatusCode
    source: str


# The answers to bad requests, one row per problem, each with its source.
# http_status 200 means "a gRPC status in a Trailers-Only response", which
# every gRPC client reads; an HTTP error status is for clients that may not
# speak gRPC at all.
_REJECTIONS: dict[str, _Answer] = {
    "missing-pseudo-header": _Answer(
        400, StatusCode.INTERNAL,
        "RFC 9113 §8.3.1: a request without exactly one :method, :scheme and "
        ":path is malformed; 400 -> INTERNAL in http-grpc-status-mapping.md"),
    "method": _Answer(
        405, StatusCode.INTERNAL,
        "PROTOCOL-HTTP2.md: Method → ':method POST'; RFC 9110 §15.5.6 405 Method Not Allowed"),
    "content-type": _Answer(
        415, StatusCode.INTERNAL,
        "PROTOCOL-HTTP2.md: 'If Content-Type does not begin with \"application/grpc\", "
        "gRPC servers SHOULD respond with HTTP status of 415'"),
    "te": _Answer(
        200, StatusCode.INTERNAL,
        "PROTOCOL-HTTP2.md: TE → 'te' 'trailers' (required, 'used to detect incompatible "
        "proxies'); Trailers-Only needs no trailers, so the answer gets through such a proxy"),
    "path": _Answer(
        200, StatusCode.UNIMPLEMENTED,
        "PROTOCOL-HTTP2.md: Path → ':path' '/' Service-Name '/' {method name}; "
        "statuscodes.md: 'Method not found at server | UNIMPLEMENTED'"),
    "timeout": _Answer(
        200, StatusCode.INTERNAL,
        "PROTOCOL-HTTP2.md: TimeoutValue is at most 8 digits, TimeoutUnit one of H M S m u n; "
        "a request breaking the grammar is a protocol error: INTERNAL"),
    "metadata": _Answer(
        200, StatusCode.INTERNAL,
        "PROTOCOL-HTTP2.md: Binary-Header values are base64; one that is not cannot be "
        "decoded: INTERNAL"),
}


def _reject(problem: str, message: str) -> RequestRejected:
    answer = _REJECTIONS[problem]
    return RequestRejected(message, http_status=answer.http_status, status=answer.status)


def parse_request_headers(headers: Headers) -> RequestHead:
    """Read and check a request's header block (server side).

    Raises RequestRejected, carrying the HTTP status and gRPC status to
    answer with (see `_REJECTIONS`), when the request is not a gRPC call this
    server can take.
    """
    block = _HeaderBlock(headers)
    _check_pseudo_headers(block)
    _check_call_definition(block)
    return RequestHead(
        method=block.get(METHOD),
        scheme=block.get(SCHEME),
        path=block.get(PATH),
        authority=block.get(AUTHORITY) or block.get(HOST),
        timeout=_request_timeout(block),
        content_type=block.get(CONTENT_TYPE),
        encoding=block.get(GRPC_ENCODING),
        accept_encoding=parse_accept_encoding(block.get(GRPC_ACCEPT_ENCODING)),
        user_agent=block.get(USER_AGENT),
        metadata=_request_metadata(block),
    )


def _check_pseudo_headers(block: _HeaderBlock) -> None:
    for name in (METHOD, SCHEME, PATH):
        if block.count(name) != 1:
            raise _reject("missing-pseudo-header", f"request needs exactly one {name} header")
    if block.get(METHOD) != METHOD_POST:
        raise _reject("method", f"method {block.get(METHOD)!r} not allowed: gRPC requests use POST")


def _check_call_definition(block: _HeaderBlock) -> None:
    content_type = block.get(CONTENT_TYPE)
    if not is_grpc_content_type(content_type):
        raise _reject("content-type", f"content-type {content_type!r} is not application/grpc")
    if block.get(TE) != TE_TRAILERS:
        raise _reject("te", f"te header is {block.get(TE)!r}, not 'trailers': "
                            "an intermediary may have dropped it")
    if not _is_grpc_path(block.get(PATH)):
        raise _reject("path", f"malformed method name {block.get(PATH)!r}: expected /Service/Method")


def is_grpc_content_type(content_type: str | None) -> bool:
    """Whether a content-type is application/grpc, with or without a suffix."""
    if content_type is None:
        return False
    lowered = content_type.lower()
    if not lowered.startswith(CONTENT_TYPE_GRPC):
        return False
    rest = lowered[len(CONTENT_TYPE_GRPC):]
    return not rest or rest.startswith(_CONTENT_TYPE_SUFFIX_STARTS)


def _is_grpc_path(path: str) -> bool:
    service, slash, method = path[1:].partition("/")
    return path.startswith("/") and bool(service) and bool(slash) and bool(method) and "/" not in method


def _request_timeout(block: _HeaderBlock) -> float | None:
    value = block.get(GRPC_TIMEOUT)
    if value is None:
        return None  # "If Timeout is omitted a server should assume an infinite timeout."
    try:
        return decode_timeout(value)
    except ProtocolError as error:
        raise _reject("timeout", error.message) from None


def _request_metadata(block: _HeaderBlock) -> tuple:
    try:
        return block.metadata()
    except ProtocolError as error:
        raise _reject("metadata", error.message) from None


# --- Responses: building (server side) ------------------------------------------


def build_response_headers(
    *,
    content_type: str = CONTENT_TYPE_GRPC,
    encoding: str | None = None,
    accept_encoding: Sequence[str] = SUPPORTED_ENCODINGS,
    metadata: Iterable[tuple[str, str | bytes]] = (),
) -> list[tuple[str, str]]:
    """The header block that starts a response (before its first message)."""
    headers = [(STATUS, str(HTTP_STATUS_OK)), (CONTENT_TYPE, content_type)]
    headers += _encoding_headers(encoding, accept_encoding)
    return headers + encode_metadata(metadata)


def build_trailers(
    *,
    status: int,
    message: str | None = None,
    metadata: Iterable[tuple[str, str | bytes]] = (),
    status_details: bytes | None = None,
) -> list[tuple[str, str]]:
    """The trailers that end a response: grpc-status always ("Status must be
    sent in Trailers even if the status code is OK"), grpc-message when there
    is a message, grpc-status-details-bin when there are details."""
    if int(status) < 0:
        raise ValueError(f"grpc-status must be a non-negative integer, got {status!r}")
    trailers = [(GRPC_STATUS, str(int(status)))]
    if message:
        trailers.append((GRPC_MESSAGE, encode_grpc_message(message)))
    if status_details is not None:
        trailers.append((GRPC_STATUS_DETAILS, encode_binary_value(status_details)))
    return trailers + encode_metadata(metadata, reserved_allowed=TRAILER_KEYS)


def build_trailers_only(
    *,
    status: int,
    message: str | None = None,
    metadata: Iterable[tuple[str, str | bytes]] = (),
    status_details: bytes | None = None,
    content_type: str = CONTENT_TYPE_GRPC,
    accept_encoding: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """A whole response in one header block, for a call that fails at once.

    Trailers-Only → HTTP-Status Content-Type Trailers. Pass `accept_encoding`
    when refusing a request's compression: doc/compression.md has the server
    "include in its response a grpc-accept-encoding header".
    """
    headers = [(STATUS, str(HTTP_STATUS_OK)), (CONTENT_TYPE, content_type)]
    if accept_encoding:
        headers.append((GRPC_ACCEPT_ENCODING, accept_encoding_value(accept_encoding)))
    return headers + build_trailers(
        status=status, message=message, metadata=metadata, status_details=status_details
    )


def build_rejection(rejected: RequestRejected) -> list[tuple[str, str]]:
    """The single header block (sent with END_STREAM) answering a rejected request.

    The HTTP status from the rejection, plus grpc-status and grpc-message so
    that a gRPC client reports the real reason and not a status made up from
    the HTTP one.
    """
    return [
        (STATUS, str(rejected.http_status)),
        (CONTENT_TYPE, CONTENT_TYPE_GRPC),
    ] + build_trailers(status=rejected.status, message=rejected.message)


# --- Responses: parsing (client side) --------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResponseHead:
    """What a client learns from a response's first header block.

    `http_status` is 0 when :status is missing or not a number.
    """

    http_status: int
    content_type: str | None
    encoding: str | None  # grpc-encoding
    accept_encoding: tuple[str, ...]  # grpc-accept-encoding
    metadata: tuple  # ((key, str | bytes), ...)

    @property
    def informational(self) -> bool:
        """A 1xx head: not the response yet; skip it and read the next one."""
        return 100 <= self.http_status < HTTP_STATUS_OK


def parse_response_headers(headers: Headers) -> ResponseHead:
    """Read a response's first header block (client side).

    Does not judge it: see status_for_bad_response. Raises ProtocolError
    (INTERNAL) only for a `-bin` metadata value that is not base64.
    """
    block = _HeaderBlock(headers)
    return ResponseHead(
        http_status=_http_status(block),
        content_type=block.get(CONTENT_TYPE),
        encoding=block.get(GRPC_ENCODING),
        accept_encoding=parse_accept_encoding(block.get(GRPC_ACCEPT_ENCODING)),
        metadata=block.metadata(),
    )


def _http_status(block: _HeaderBlock) -> int:
    value = block.get(STATUS)
    if value is None or len(value) != 3 or not _ASCII_DIGITS.issuperset(value):
        return 0  # RFC 9113 §8.3.2: a three-digit status code, or malformed
    return int(value)


def status_for_bad_response(head: ResponseHead) -> tuple[StatusCode, str] | None:
    """The status a client makes up for a head that is not a gRPC response.

    None when the head is fine (200, gRPC content-type) or informational.
    For a head that does not end the stream; a head with END_STREAM is a
    Trailers-Only block, which goes to parse_trailers: a grpc-status in it
    wins over anything made up from the HTTP status.
    """
    if head.informational:
        return None
    if head.http_status == 0:
        return StatusCode.INTERNAL, "malformed response: missing or invalid :status"
    if head.http_status != HTTP_STATUS_OK:
        status = status_from_http(head.http_status)
        return status, f"unexpected HTTP status code {head.http_status} (mapped to {status.name})"
    if not is_grpc_content_type(head.content_type):
        # doc/http-grpc-status-mapping.md: "200 is UNKNOWN"
        return StatusCode.UNKNOWN, f"unexpected content-type {head.content_type!r}"
    return None


# --- Trailers (client side) --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Trailers:
    """How a call ended, as the server (or what stood in for it) said.

    `status` is always a StatusCode: a number outside the seventeen is
    UNKNOWN, as is an unparsable grpc-status (doc/statuscodes.md: "Error
    parsing returned status | UNKNOWN"). `status_details` is None when absent
    or not base64 (the details are extra; losing them must not change the
    status).
    """

    status: StatusCode
    message: str
    metadata: tuple  # ((key, str | bytes), ...)
    status_details: bytes | None


def parse_trailers(headers: Headers, *, response: ResponseHead | None = None) -> Trailers:
    """Read the header block that ends a response: Trailers, or Trailers-Only.

    `response` is the head received before (None for Trailers-Only). Without
    grpc-status, the status is made up from the HTTP status (the block's own
    :status, else the head's) per doc/http-grpc-status-mapping.md: UNKNOWN
    for 200. Raises ProtocolError (INTERNAL) only for a `-bin` metadata value
    that is not base64.
    """
    block = _HeaderBlock(headers)
    value = block.get(GRPC_STATUS)
    if value is None:
        status, message = _status_without_grpc_status(block, response)
    else:
        status, message = _grpc_status(value), decode_grpc_message(block.get(GRPC_MESSAGE) or "")
    return Trailers(
        status=status,
        message=message,
        metadata=block.metadata(),
        status_details=_status_details(block.get(GRPC_STATUS_DETAILS)),
    )


def _grpc_status(value: str) -> StatusCode:
    if not value or len(value) > _GRPC_STATUS_MAX_DIGITS or not _ASCII_DIGITS.issuperset(value):
        return StatusCode.UNKNOWN
    try:
        return StatusCode(int(value))
    except ValueError:  # a number, but not one of the seventeen
        return StatusCode.UNKNOWN


def _status_without_grpc_status(
    block: _HeaderBlock, response: ResponseHead | None
) -> tuple[StatusCode, str]:
    http_status = _http_status(block) if block.get(STATUS) is not None else None
    if http_status is None and response is not None:
        http_status = response.http_status
    if http_status is None:
        http_status = HTTP_STATUS_OK  # plain trailers after a head we were not shown
    status = status_from_http(http_status)
    return status, f"missing grpc-status in response (HTTP status {http_status}, mapped to {status.name})"


def _status_details(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        return decode_binary_value(value)
    except ProtocolError:
        return None
