"""transport: gRPC over HTTP/2.

The pieces of doc/PROTOCOL-HTTP2.md (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md),
one idea per module: the 5-byte message prefix (framing), request/response
headers and trailers (headers, metadata, timeout), per-message compression
(compression), the status tables (status), a sans-IO connection core over
h2 for both roles (connection, events), and the asyncio driver that runs it on
sockets (driver). Only the driver does I/O. Nothing here imports wire: the
transport moves bytes; the codec plugs in above it.
"""

from .compression import SUPPORTED_ENCODINGS, compress, decompress
from .connection import ClientConnection, ServerConnection, StreamStateError
from .driver import (
    ClientStream,
    ClientTransport,
    Server,
    ServerStream,
    ServerTransport,
    StreamTerminated,
    connect,
    connect_unix,
    start_server,
    start_unix_server,
)
from .errors import (
    DecompressionError,
    InvalidMetadata,
    MessageTooLarge,
    ProtocolError,
    RequestRejected,
    UnsupportedEncoding,
)
from .framing import LengthPrefixedMessage, MessageDecoder, encode_message
from .headers import RequestHead, ResponseHead, Trailers
from .status import StatusCode
from .timeout import decode_timeout, encode_timeout

__all__ = [
    "SUPPORTED_ENCODINGS", "compress", "decompress",
    "ClientConnection", "ServerConnection", "StreamStateError",
    "ClientStream", "ClientTransport", "Server", "ServerStream", "ServerTransport",
    "StreamTerminated", "connect", "connect_unix", "start_server", "start_unix_server",
    "ProtocolError", "MessageTooLarge", "DecompressionError", "UnsupportedEncoding",
    "RequestRejected", "InvalidMetadata",
    "LengthPrefixedMessage", "MessageDecoder", "encode_message",
    "RequestHead", "ResponseHead", "Trailers",
    "StatusCode", "encode_timeout", "decode_timeout",
]
