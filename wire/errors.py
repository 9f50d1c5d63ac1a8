"""The exceptions of the wire layer.

Everything this package raises about bad bytes or bad values derives from
``WireError``: ``DecodeError`` when bytes from a peer do not follow the
Protocol Buffers encoding (https://protobuf.dev/programming-guides/encoding/),
``EncodeError`` when a value cannot be written (wrong type, out of range). Bytes
from a peer never surface as IndexError, struct.error or RecursionError.
"""

__all__ = ["WireError", "DecodeError", "EncodeError", "SchemaError"]


class WireError(ValueError):
    """Root of the wire layer's errors."""


class DecodeError(WireError):
    """The input is not a valid Protocol Buffers encoding of the expected message."""


class EncodeError(WireError):
    """A value cannot be encoded: wrong type, out of range, or conflicting fields."""


class SchemaError(WireError):
    """A schema cannot describe a message: duplicate numbers, unresolved types, ..."""
