"""HPACK read aloud: each representation of a header block, and where it came from.

Implements the decoding side of RFC 7541, https://www.rfc-editor.org/rfc/rfc7541:
§2.3 (the static and dynamic tables, one index space), §4 (dynamic table
size and eviction), §5.1 (integers), §5.2 (string literals and the Huffman
flag) and §6 (the binary format). The Huffman code itself (Appendix B) and
the static table (Appendix A) are taken from the `hpack` library; everything
else is read here, so the tracer can say how each field travelled, which a
decoder that only returns (name, value) pairs cannot.

The first bits of a representation say what it is (§6):

      0   1   2   3   4   5   6   7
    +---+---+---+---+---+---+---+---+
    | 1 |        Index (7+)         |   §6.1   indexed header field
    | 0 | 1 |      Index (6+)       |   §6.2.1 literal, incremental indexing
    | 0 | 0 | 1 |   Max size (5+)   |   §6.3   dynamic table size update
    | 0 | 0 | 0 | 1 |  Index (4+)   |   §6.2.3 literal, never indexed
    | 0 | 0 | 0 | 0 |  Index (4+)   |   §6.2.2 literal, without indexing
    +---+---+---+---+---+---+---+---+

A literal's name is a table index, or, when that index is 0, a string
literal right after the first octet; its value is always a string literal:

    | H |    String Length (7+)     |   H: Huffman-coded (§5.2)
    |  String Data (Length octets)  |

Each direction of a connection has its own dynamic table (§2.2: "the request
and response dynamic tables are separate"), so the tracer keeps one
`HeaderBlockReader` per sender.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hpack.exceptions import HPACKDecodingError
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

from ..errors import ProtocolError
from ..status import Http2ErrorCode
from .records import HeaderEntry, HeaderField, TableSizeUpdate

__all__ = [
    "STATIC_TABLE",
    "STATIC_TABLE_LENGTH",
    "ENTRY_OVERHEAD",
    "DEFAULT_TABLE_SIZE",
    "INDEXED",
    "INCREMENTAL_INDEXING",
    "WITHOUT_INDEXING",
    "NEVER_INDEXED",
    "SIZE_UPDATE",
    "HpackError",
    "DynamicTable",
    "HeaderBlockReader",
    "DecodedBlock",
    "decode_integer",
    "decode_string",
]

# --- Constants ----------------------------------------------------------------

STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = tuple(HeaderTable.STATIC_TABLE)  # Appendix A
STATIC_TABLE_LENGTH = len(STATIC_TABLE)  # 61: indices 1..61; 62 is the newest dynamic entry
ENTRY_OVERHEAD = 32  # §4.1: an entry's size is name + value + 32 octets
DEFAULT_TABLE_SIZE = 4096  # RFC 9113 §6.5.2: initial SETTINGS_HEADER_TABLE_SIZE

# How far the tracer follows a table size update, whatever the peers agreed:
# the tracer's own memory bound (a size update past it is still reported).
TABLE_SIZE_CEILING = 1 << 20  # 1 MiB

# §5.1: an N-bit prefix integer continues in 7-bit groups after an all-ones
# prefix. Four more octets reach past 2^28 already; anything longer is garbage.
MAX_INTEGER_CONTINUATION = 4
CONTINUATION_BIT = 0x80  # "more octets follow"
CONTINUATION_VALUE_MASK = 0x7F
CONTINUATION_BITS = 7

HUFFMAN_FLAG = 0x80  # §5.2: the H bit of a string literal
STRING_LENGTH_PREFIX_BITS = 7

INDEXED = "indexed"
INCREMENTAL_INDEXING = "literal with incremental indexing"
WITHOUT_INDEXING = "literal without indexing"
NEVER_INDEXED = "literal never indexed"
SIZE_UPDATE = "dynamic table size update"

# §6, as data: (mask, pattern, prefix bits, representation). Order matters:
# the first row whose pattern matches the first octet wins.
REPRESENTATIONS: tuple[tuple[int, int, int, str], ...] = (
    (0x80, 0x80, 7, INDEXED),  # 1xxxxxxx §6.1
    (0xC0, 0x40, 6, INCREMENTAL_INDEXING),  # 01xxxxxx §6.2.1
    (0xE0, 0x20, 5, SIZE_UPDATE),  # 001xxxxx §6.3
    (0xF0, 0x10, 4, NEVER_INDEXED),  # 0001xxxx §6.2.3
    (0xF0, 0x00, 4, WITHOUT_INDEXING),  # 0000xxxx §6.2.2
)


class HpackError(ProtocolError):
    """A header block that does not decode; a real peer would answer COMPRESSION_ERROR."""

    default_error_code = Http2ErrorCode.COMPRESSION_ERROR


# --- §5.1 integers, §5.2 strings --------------------------------------------------


def decode_integer(data: bytes, position: int, prefix_bits: int) -> tuple[int, int]:
    """Read an integer with an N-bit prefix at `position`; return (value, next position).

        decode I from the next N bits
        if I < 2^N - 1, return I
        else
            M = 0
            repeat
                B = next octet
                I = I + (B & 127) * 2^M
                M = M + 7
            while B & 128 == 128
            return I
    """
    if position >= len(data):
        raise HpackError("header block ends where an integer should start")
    prefix_max = (1 << prefix_bits) - 1
    value = data[position] & prefix_max
    position += 1
    if value < prefix_max:
        return value, position
    for shift in range(0, CONTINUATION_BITS * (MAX_INTEGER_CONTINUATION + 1), CONTINUATION_BITS):
        if position >= len(data):
            raise HpackError("header block ends inside a multi-octet integer")
        octet = data[position]
        position += 1
        value += (octet & CONTINUATION_VALUE_MASK) << shift
        if not octet & CONTINUATION_BIT:
            return value, position
    raise HpackError(f"integer longer than {MAX_INTEGER_CONTINUATION + 1} continuation octets")


def decode_string(data: bytes, position: int) -> tuple[bytes, bool, int]:
    """Read a string literal; return (octets, was Huffman-coded, next position)."""
    if position >= len(data):
        raise HpackError("header block ends where a string literal should start")
    huffman = bool(data[position] & HUFFMAN_FLAG)
    length, position = decode_integer(data, position, STRING_LENGTH_PREFIX_BITS)
    if length > len(data) - position:
        raise HpackError(
            f"string literal of {length} octets, but only {len(data) - position} left in the block"
        )
    octets = data[position:position + length]
    if huffman:
        try:
            octets = decode_huffman(octets)
        except HPACKDecodingError as error:
            raise HpackError(f"bad Huffman code: {error}") from None
    return octets, huffman, position + length


def _text(octets: bytes) -> str:
    """Header octets as text: ASCII in practice; anything else escaped, never lost."""
    return octets.decode("utf-8", "backslashreplace")


# --- §2.3.2, §4 the dynamic table -----------------------------------------------------


class DynamicTable:
    """A FIFO of (name, value): new entries at index 1, evicted from the end (§2.3.2)."""

    def __init__(self, max_size: int = DEFAULT_TABLE_SIZE) -> None:
        self.max_size = max_size
        self.size = 0  # §4.1: the sum of the entries' sizes
        self._entries: deque[tuple[bytes, bytes]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, dynamic_index: int) -> tuple[bytes, bytes] | None:
        """Entry 1 is the newest; None when there is no such entry."""
        if 1 <= dynamic_index <= len(self._entries):
            return self._entries[dynamic_index - 1]
        return None

    def add(self, name: bytes, value: bytes) -> int:
        """§4.4: evict until the entry fits, then add it (an entry too big empties the table).

        Returns how many entries were evicted.
        """
        entry_size = len(name) + len(value) + ENTRY_OVERHEAD
        evicted = self._evict_to(self.max_size - entry_size)
        if entry_size <= self.max_size:
            self._entries.appendleft((name, value))
            self.size += entry_size
        else:
            evicted += self._evict_to(0)
        return evicted

    def resize(self, max_size: int) -> int:
        """§4.3: a new maximum size; evict until the table fits. Returns evictions."""
        self.max_size = max_size
        return self._evict_to(max_size)

    def _evict_to(self, target: int) -> int:
        evicted = 0
        while self._entries and self.size > max(target, 0):
            name, value = self._entries.pop()
            self.size -= len(name) + len(value) + ENTRY_OVERHEAD
            evicted += 1
        return evicted


# --- §6 representations ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DecodedBlock:
    """What one header block decoded to.

    `problems` lists what broke the rules; `complete` is false when one of
    them stopped the decoding (the entries are those read before it).
    """

    entries: tuple[HeaderEntry, ...]
    problems: tuple[str, ...] = ()
    complete: bool = True


class HeaderBlockReader:
    """Decodes the header blocks of one sender, keeping that sender's dynamic table.

    `size_limit` is the SETTINGS_HEADER_TABLE_SIZE the *other* side announced
    (RFC 9113 §6.5.2): the most this sender's table may be resized to.
    After a problem the table may no longer match the peers' own; later
    blocks are still decoded as well as they can be, and `desynchronized` says so.
    """

    def __init__(self) -> None:
        self.table = DynamicTable()
        self.size_limit = DEFAULT_TABLE_SIZE
        self.desynchronized = False
        self._problems: list[str] = []

    def read(self, block: bytes) -> DecodedBlock:
        """Decode one complete header block; never raises."""
        entries: list[HeaderEntry] = []
        self._problems: list[str] = []
        position = 0
        try:
            while position < len(block):
                entry, position = self._read_one(block, position, first=_only_size_updates(entries))
                entries.append(entry)
        except HpackError as error:
            self.desynchronized = True
            self._problems.append(f"HPACK, at octet {position} of the block: {error}")
            return DecodedBlock(entries=tuple(entries), problems=tuple(self._problems), complete=False)
        return DecodedBlock(entries=tuple(entries), problems=tuple(self._problems))

    def _read_one(self, block: bytes, position: int, *, first: bool) -> tuple[HeaderEntry, int]:
        prefix_bits, representation = _representation_of(block[position])
        if representation == INDEXED:
            return self._read_indexed(block, position, prefix_bits)
        if representation == SIZE_UPDATE:
            return self._read_size_update(block, position, prefix_bits, first=first)
        return self._read_literal(block, position, prefix_bits, representation)

    def _read_indexed(self, block: bytes, start: int, prefix_bits: int) -> tuple[HeaderField, int]:
        index, position = decode_integer(block, start, prefix_bits)
        if index == 0:
            raise HpackError("indexed header field with index 0 (§6.1: a decoding error)")
        name, value, table = self._lookup(index)
        field = HeaderField(
            representation=INDEXED, name=_text(name), value=_text(value),
            index=index, table=table, raw=block[start:position],
        )
        return field, position

    def _read_literal(
        self, block: bytes, start: int, prefix_bits: int, representation: str
    ) -> tuple[HeaderField, int]:
        index, position = decode_integer(block, start, prefix_bits)
        name_huffman = table = None
        if index:
            name, _, table = self._lookup(index)
        else:
            name, name_huffman, position = decode_string(block, position)
        value, value_huffman, position = decode_string(block, position)
        if representation == INCREMENTAL_INDEXING:
            self.table.add(name, value)
        field = HeaderField(
            representation=representation, name=_text(name), value=_text(value),
            index=index or None, table=table, name_huffman=name_huffman,
            value_huffman=value_huffman, raw=block[start:position],
        )
        return field, position

    def _read_size_update(
        self, block: bytes, start: int, prefix_bits: int, *, first: bool
    ) -> tuple[TableSizeUpdate, int]:
        max_size, position = decode_integer(block, start, prefix_bits)
        # Both rules below are errors to a peer; the tracer reports them and
        # follows the update anyway, as the sender's table did.
        if max_size > self.size_limit:
            # §6.3: "The new maximum size MUST be lower than or equal to the
            # limit determined by the protocol using HPACK."
            self._problems.append(
                f"dynamic table size update to {max_size} exceeds the "
                f"SETTINGS_HEADER_TABLE_SIZE of {self.size_limit} (§6.3)"
            )
        if not first:
            # §4.2: "This dynamic table size update MUST occur at the
            # beginning of the first header block following the change".
            self._problems.append("dynamic table size update after a header field (§4.2)")
        evicted = self.table.resize(min(max_size, TABLE_SIZE_CEILING))
        return TableSizeUpdate(max_size=max_size, evicted=evicted, raw=block[start:position]), position

    def _lookup(self, index: int) -> tuple[bytes, bytes, str]:
        """§2.3.3: 1..61 is the static table, 62 and up the dynamic table."""
        if 1 <= index <= STATIC_TABLE_LENGTH:
            name, value = STATIC_TABLE[index - 1]
            return name, value, "static"
        entry = self.table.get(index - STATIC_TABLE_LENGTH)
        if entry is None:
            raise HpackError(
                f"index {index} is past the end of both tables "
                f"({STATIC_TABLE_LENGTH} static + {len(self.table)} dynamic entries)"
            )
        return entry[0], entry[1], "dynamic"


def _representation_of(octet: int) -> tuple[int, str]:
    """(prefix bits, representation) for a representation's first octet (§6)."""
    for mask, pattern, prefix_bits, representation in REPRESENTATIONS:
        if octet & mask == pattern:
            return prefix_bits, representation
    raise AssertionError("unreachable: the last row matches every octet left")  # not peer-dependent


def _only_size_updates(entries: list[HeaderEntry]) -> bool:
    """True at the start of a block, where §4.2 allows size updates (one or two)."""
    return all(isinstance(entry, TableSizeUpdate) for entry in entries)
