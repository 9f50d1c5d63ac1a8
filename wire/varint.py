"""Base 128 varints and ZigZag, the integer encodings of Protocol Buffers.

Spec: https://protobuf.dev/programming-guides/encoding/#varints

    varint   := byte* ; each byte carries 7 payload bits, least significant
                        group first; the high bit (0x80) says "more follows"
    at most 10 bytes, enough for 64 bits (ceil(64 / 7) = 10)

Signed integers: int32 and int64 are written as their two's complement in 64
bits, so every negative number takes all 10 bytes. sint32 and sint64 first map
the number through ZigZag, (n << 1) ^ (n >> 63), which sends small magnitudes
of either sign to small unsigned numbers: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3.
"""

from .errors import DecodeError, EncodeError

__all__ = [
    "MAX_VARINT_LENGTH",
    "encode_varint",
    "decode_varint",
    "encode_zigzag",
    "decode_zigzag",
    "signed_to_uint64",
    "uint64_to_signed",
]

PAYLOAD_BITS = 7            # bits of the number carried by one varint byte
PAYLOAD_MASK = 0x7F         # (1 << PAYLOAD_BITS) - 1
CONTINUATION_BIT = 0x80     # set on every byte but the last
MAX_VARINT_LENGTH = 10      # ceil(64 / PAYLOAD_BITS): a uint64 needs at most 10 bytes
UINT64_LIMIT = 1 << 64      # varints carry unsigned 64-bit values
UINT64_MASK = UINT64_LIMIT - 1
INT64_SIGN_BIT = 1 << 63

# One-byte varints are by far the most common (tags, small lengths, small
# numbers): keep them ready-made.
_ONE_BYTE = [bytes((n,)) for n in range(CONTINUATION_BIT)]


def encode_varint(value: int) -> bytes:
    """Encode an unsigned 64-bit integer as a varint.

    >>> encode_varint(150).hex(" ")
    '96 01'
    """
    if 0 <= value < CONTINUATION_BIT:
        return _ONE_BYTE[value]
    if not 0 <= value < UINT64_LIMIT:
        raise EncodeError(f"varint out of range [0, 2**64): {value}")
    out = bytearray()
    while value >= CONTINUATION_BIT:
        out.append((value & PAYLOAD_MASK) | CONTINUATION_BIT)
        value >>= PAYLOAD_BITS
    out.append(value)
    return bytes(out)


def decode_varint(data, pos: int = 0, end: int | None = None) -> tuple[int, int]:
    """Read a varint from ``data`` at ``pos``; return ``(value, next_pos)``.

    ``end`` bounds it (the end of an enclosing message; the end of ``data`` by
    default). Raises DecodeError when the input ends inside the varint or when
    it runs past MAX_VARINT_LENGTH bytes. Bits beyond 64 in the tenth byte are
    dropped, as protobuf's own parsers do.
    """
    if end is None:
        end = len(data)
    value = shift = 0
    stop = min(end, pos + MAX_VARINT_LENGTH)
    for index in range(pos, stop):
        byte = data[index]
        value |= (byte & PAYLOAD_MASK) << shift
        if byte < CONTINUATION_BIT:
            return value & UINT64_MASK, index + 1
        shift += PAYLOAD_BITS
    if stop - pos == MAX_VARINT_LENGTH:
        raise DecodeError(f"varint longer than {MAX_VARINT_LENGTH} bytes at offset {pos}")
    raise DecodeError(f"truncated varint at offset {pos}")


def signed_to_uint64(value: int) -> int:
    """Two's complement in 64 bits: how int32 and int64 put negatives on the wire."""
    return value & UINT64_MASK


def uint64_to_signed(value: int) -> int:
    """Read 64 bits back as a signed int64."""
    return value - UINT64_LIMIT if value & INT64_SIGN_BIT else value


def encode_zigzag(value: int) -> int:
    """ZigZag-map a signed 64-bit integer: (n << 1) ^ (n >> 63)."""
    return ((value << 1) ^ (value >> 63)) & UINT64_MASK


def decode_zigzag(value: int) -> int:
    """Invert ZigZag: (n >> 1) ^ -(n & 1)."""
    return (value >> 1) ^ -(value & 1)
