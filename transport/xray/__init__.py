"""xray: the wire tracer. Every HTTP/2 frame of a gRPC conversation, annotated.

Reads a connection as RFC 9113 (HTTP/2, https://www.rfc-editor.org/rfc/rfc9113),
RFC 7541 (HPACK, https://www.rfc-editor.org/rfc/rfc7541) and doc/PROTOCOL-HTTP2.md
(https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md) describe it:

    frames        the preface, frame headers, the names of types/flags/settings/errors
    payloads      each frame type's payload read into named fields
    hpack_reader  header blocks, representation by representation, own dynamic tables
    messages      Length-Prefixed-Messages reassembled across DATA frames
    hints         what gRPC header values mean (grpc-status, grpc-timeout, ...)
    bodies        the hook that lets a schema (from above this layer) decode messages
    records       what the tracer reports
    tracer        Tracer: sans-IO, feed(sender, bytes) -> records
    text, jsonl   records as readable text (colour optional) or JSON Lines
    proxy         XrayProxy: a transparent h2c proxy that traces what it forwards
    __main__      python -m transport.xray --listen ... --upstream ... [--proto ...]

In a notebook, or on a connection of our own:

    tracer = Tracer(body_formatter=schema_formatter({path: (Req.decode, Resp.decode)}))
    records = tracer.feed("client", data_the_client_sent)
    print(format_records(records))
"""

from .bodies import REQUEST, RESPONSE, BodyFormatter, hex_preview, schema_formatter
from .frames import CONNECTION_PREFACE, FrameType
from .hpack_reader import (
    INCREMENTAL_INDEXING,
    INDEXED,
    NEVER_INDEXED,
    SIZE_UPDATE,
    WITHOUT_INDEXING,
)
from .jsonl import format_json, record_to_json
from .proxy import XrayProxy
from .records import (
    CLIENT,
    PROXY,
    SERVER,
    ConnectionNoted,
    FrameSeen,
    HeaderBlockDecoded,
    HeaderField,
    MessageReassembled,
    ParseFailed,
    PrefaceSeen,
    Record,
    TableSizeUpdate,
)
from .text import format_record, format_records
from .tracer import RECEIVED, SENT, Tracer

__all__ = [
    "Tracer", "SENT", "RECEIVED", "CLIENT", "SERVER", "PROXY",
    "Record", "PrefaceSeen", "FrameSeen", "HeaderBlockDecoded", "HeaderField",
    "TableSizeUpdate", "MessageReassembled", "ParseFailed", "ConnectionNoted",
    "INDEXED", "INCREMENTAL_INDEXING", "WITHOUT_INDEXING", "NEVER_INDEXED", "SIZE_UPDATE",
    "BodyFormatter", "schema_formatter", "hex_preview", "REQUEST", "RESPONSE",
    "format_record", "format_records", "format_json", "record_to_json",
    "XrayProxy", "CONNECTION_PREFACE", "FrameType",
]
