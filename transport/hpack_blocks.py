"""HPACK header blocks that repeat: encode and decode them once.

RFC 7541 (HPACK), https://www.rfc-editor.org/rfc/rfc7541

A gRPC connection sends the same header blocks over and over: every call of
one method has the same request headers, and every successful response the
same `:status: 200`, `content-type: application/grpc` and `grpc-status: 0`.
After the first call, every one of those fields sits in the static or the
dynamic table (§2.3), so the block is nothing but index references (§6.1):

    first call:   0x83 0x86 0x44 <path, Huffman-coded> ...  (literals, added to the table)
    later calls:  0x83 0x86 0xbf 0xbe 0xbd ...              (one byte per field)

A block made only of references changes neither table, so while the dynamic
table stays as it is, the same headers always encode to the same bytes, and
the same bytes always decode to the same headers. Both classes here keep
such blocks in a small dictionary and skip the field-by-field work:

- the key of an entry is the input itself (the headers, or the block);
- an entry is kept only if the work that produced it left the dynamic table
  untouched (no insertion §4.4, eviction or size update §6.3);
- any change to the dynamic table empties the dictionary, since every index
  into it (§2.3.3) may now point elsewhere.

h2 keeps one Encoder and one Decoder per connection (`H2Connection.encoder`,
`.decoder`); transport.connection puts these in their place. Everything else
(limits, table sizes, errors) is hpack's own behaviour, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

import hpack

# Entries per cache: a connection uses a few header blocks per method, and a
# peer sending endless distinct blocks must not grow memory without bound.
BLOCK_CACHE_LIMIT = 64

# RFC 7541 §6.3: a "Dynamic Table Size Update" starts with the bits 001.
SIZE_UPDATE_MASK = 0xE0
SIZE_UPDATE_PATTERN = 0x20

# RFC 7541 §4.1: a field's size is its name's and value's lengths plus 32,
# which is also how SETTINGS_MAX_HEADER_LIST_SIZE counts (RFC 9113 §6.5.2).
ENTRY_OVERHEAD = 32


def _table_state(table) -> tuple:
    """What an insertion, eviction or resize of the dynamic table would change.

    Insertions go to the front of `dynamic_entries` (§4.4), so its first entry
    (kept alive by this tuple, so no new entry can take its identity) changes
    with every insertion; evictions change its length; a resize its maxsize.
    """
    entries = table.dynamic_entries
    return len(entries), entries[0] if entries else None, table.maxsize


def _same_table(table, before: tuple) -> bool:
    length, first, maxsize = before
    entries = table.dynamic_entries
    return (len(entries) == length and table.maxsize == maxsize
            and (entries[0] if entries else None) is first)


def _remember(blocks: dict, key, value) -> None:
    if len(blocks) >= BLOCK_CACHE_LIMIT:
        blocks.clear()
    blocks[key] = value


class _KeptBlocks:
    """What both coders share: the blocks kept, forgotten when the table is resized."""

    _blocks: dict
    _hpack_class: type   # the hpack coder this one extends

    @property
    def blocks_kept(self) -> int:
        """How many blocks this coder would write or read again without HPACK's work."""
        return len(self._blocks)

    @property
    def header_table_size(self) -> int:
        return self.header_table.maxsize

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._blocks.clear()   # a smaller table evicts entries the blocks point to
        self._hpack_class.header_table_size.fset(self, value)


class RepeatingEncoder(_KeptBlocks, hpack.Encoder):
    """An hpack Encoder that remembers blocks made only of index references."""

    _hpack_class = hpack.Encoder

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple, bytes] = {}

    def encode(self, headers: Iterable, huffman: bool = True) -> bytes:
        key = self._key(headers, huffman)
        if key is not None:
            block = self._blocks.get(key)
            if block is not None:
                return block
        table = self.header_table
        before = _table_state(table)
        block = super().encode(headers, huffman)
        if not _same_table(table, before):
            self._blocks.clear()
        elif key is not None:
            _remember(self._blocks, key, block)
        return block

    def _key(self, headers: Iterable, huffman: bool) -> tuple | None:
        """The headers as a dictionary key; None if this block must not be cached."""
        if self.header_table.resized or not huffman or type(headers) is not list:
            return None   # a size update goes first (§4.2); the rest is hpack's usual path
        for header in headers:
            if type(header) is not tuple or len(header) != 2:
                # NeverIndexedHeaderTuple or (name, value, sensitive) ask for a
                # representation (§6.2.3) that an equal plain tuple does not.
                return None
        return tuple(headers)


class RepeatingDecoder(_KeptBlocks, hpack.Decoder):
    """An hpack Decoder that remembers blocks made only of index references.

    A remembered block still meets the checks hpack makes after decoding:
    the header list size against max_header_list_size, and the table size
    against max_allowed_table_size (both may have been lowered since).
    """

    _hpack_class = hpack.Decoder

    def __init__(self, max_header_list_size: int = hpack.hpack.DEFAULT_MAX_HEADER_LIST_SIZE) -> None:
        super().__init__(max_header_list_size)
        self._blocks: dict[bytes, tuple[list, int]] = {}

    def decode(self, data: bytes, raw: bool = False) -> list:
        if not raw:
            return super().decode(data, raw)   # h2 asks for raw bytes; text is not cached
        key = bytes(data)
        known = self._blocks.get(key)
        if known is not None:
            headers, size = known
            if size <= self.max_header_list_size and self.header_table.maxsize <= self.max_allowed_table_size:
                return list(headers)
        table = self.header_table
        before = _table_state(table)
        headers = super().decode(data, raw)
        if not _same_table(table, before):
            self._blocks.clear()
        elif key and key[0] & SIZE_UPDATE_MASK != SIZE_UPDATE_PATTERN:
            size = sum(len(name) + len(value) + ENTRY_OVERHEAD for name, value in headers)
            _remember(self._blocks, key, (headers, size))
            headers = list(headers)
        return headers
