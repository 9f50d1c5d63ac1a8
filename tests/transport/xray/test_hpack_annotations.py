"""HPACK representations, each named, checked against RFC 7541 Appendix C and the hpack library.

The hex blocks are the examples of RFC 7541 Appendix C (C.2 single
representations, C.3 a request sequence without Huffman coding, C.4 the same
with Huffman coding); every decoded header list is also compared with the
`hpack` library's own decoder, the reference the tracer must agree with.
"""

from __future__ import annotations

import hpack
import pytest
from hpack.hpack import encode_integer
from hyperframe.frame import HeadersFrame, SettingsFrame

from transport.xray import (
    INCREMENTAL_INDEXING,
    INDEXED,
    NEVER_INDEXED,
    WITHOUT_INDEXING,
    HeaderBlockDecoded,
    HeaderField,
    ParseFailed,
    TableSizeUpdate,
)
from transport.xray.hpack_reader import DynamicTable, HeaderBlockReader, decode_integer


def read(reader, hex_block):
    return reader.read(bytes.fromhex(hex_block.replace(" ", "")))


def reference(blocks):
    """What the hpack library decodes the same blocks to, one list per block."""
    decoder = hpack.Decoder()
    return [decoder.decode(bytes.fromhex(block.replace(" ", "")), raw=False) for block in blocks]


def pairs(decoded):
    return [(e.name, e.value) for e in decoded.entries if isinstance(e, HeaderField)]


# --- C.2: one representation each ----------------------------------------------


@pytest.mark.parametrize("hex_block, representation, name, value, index, table", [
    # C.2.1 Literal Header Field with Indexing (a new name)
    ("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
     INCREMENTAL_INDEXING, "custom-key", "custom-header", None, None),
    # C.2.2 Literal Header Field without Indexing (name from the static table)
    ("040c 2f73 616d 706c 652f 7061 7468", WITHOUT_INDEXING, ":path", "/sample/path", 4, "static"),
    # C.2.3 Literal Header Field Never Indexed (a new name)
    ("1008 7061 7373 776f 7264 0673 6563 7265 74", NEVER_INDEXED, "password", "secret", None, None),
    # C.2.4 Indexed Header Field
    ("82", INDEXED, ":method", "GET", 2, "static"),
])
def test_each_representation_is_named(hex_block, representation, name, value, index, table):
    decoded = read(HeaderBlockReader(), hex_block)
    field, = decoded.entries
    assert (field.representation, field.name, field.value) == (representation, name, value)
    assert (field.index, field.table) == (index, table)
    assert field.raw == bytes.fromhex(hex_block.replace(" ", ""))
    assert decoded.problems == () and decoded.complete


def test_only_incremental_indexing_adds_to_the_dynamic_table():
    reader = HeaderBlockReader()
    read(reader, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")
    assert (len(reader.table), reader.table.size) == (1, 55)  # C.2.1: "Dynamic Table (after decoding): [1] (s = 55)"
    read(reader, "040c 2f73 616d 706c 652f 7061 7468")
    read(reader, "1008 7061 7373 776f 7264 0673 6563 7265 74")
    read(reader, "82")
    assert (len(reader.table), reader.table.size) == (1, 55)


# --- C.3 / C.4: a sequence of requests, the dynamic table at work ---------------------

C3 = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
]
C4 = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]


@pytest.mark.parametrize("blocks, huffman", [(C3, False), (C4, True)])
def test_request_sequence_matches_the_reference(blocks, huffman):
    reader = HeaderBlockReader()
    decoded = [read(reader, block) for block in blocks]
    assert [pairs(d) for d in decoded] == reference(blocks)
    assert reader.table.size == 164  # C.3.3 / C.4.3: "Table size: 164"

    authority = decoded[0].entries[3]
    assert (authority.representation, authority.index, authority.table) == (INCREMENTAL_INDEXING, 1, "static")
    assert authority.name_huffman is None and authority.value_huffman is huffman

    again = decoded[1].entries[3]  # 0xbe = index 62: the newest dynamic entry
    assert (again.representation, again.index, again.table) == (INDEXED, 62, "dynamic")
    assert again.value == "www.example.com"

    older = decoded[2].entries[3]  # 0xbf = 63, pushed down by cache-control
    assert (older.index, older.table, older.value) == (63, "dynamic", "www.example.com")

    custom = decoded[2].entries[4]
    assert custom.index is None and custom.name_huffman is huffman and custom.value_huffman is huffman


# --- C.5 / dynamic table size updates, eviction ---------------------------------------


def size_update(max_size):
    encoded = encode_integer(max_size, 5)
    encoded[0] |= 0x20  # §6.3: 001xxxxx
    return bytes(encoded)


def test_size_update_evicts_and_is_reported():
    reader = HeaderBlockReader()
    read(reader, C3[0])
    read(reader, C3[1])
    assert len(reader.table) == 2
    block = size_update(0) + size_update(4096) + bytes.fromhex("82")
    decoded = reader.read(block)
    first, second, field = decoded.entries
    assert first == TableSizeUpdate(max_size=0, evicted=2, raw=b"\x20")
    assert second.max_size == 4096 and second.evicted == 0 and second.raw == b"\x3f\xe1\x1f"
    assert field.name == ":method" and decoded.problems == ()
    assert (len(reader.table), reader.table.size) == (0, 0)


def test_a_size_update_after_a_field_breaks_section_4_2():
    decoded = HeaderBlockReader().read(b"\x82" + size_update(100))
    assert any("§4.2" in problem for problem in decoded.problems)
    assert decoded.complete and decoded.entries[1].max_size == 100


def test_a_size_update_over_the_settings_limit_is_reported(started_tracer):
    # The client announces 256 octets for its decoder; the server's encoder may not exceed it.
    started_tracer.feed("client", SettingsFrame(0, settings={1: 256}).serialize())
    block = size_update(1000) + b"\x88"  # then :status 200
    records = started_tracer.feed("server", HeadersFrame(1, data=block, flags=["END_HEADERS"]).serialize())
    decoded = [r for r in records if isinstance(r, HeaderBlockDecoded)][0]
    assert decoded.headers == [(":status", "200")]
    problems = [r.what for r in records if isinstance(r, ParseFailed)]
    assert any("exceeds the SETTINGS_HEADER_TABLE_SIZE of 256" in p for p in problems)


def test_eviction_keeps_the_table_within_its_size():
    table = DynamicTable(max_size=100)
    assert table.add(b"a" * 10, b"b" * 10) == 0  # 52 octets
    assert table.add(b"c" * 10, b"d" * 10) == 1  # 104 > 100: the oldest goes
    assert table.get(1) == (b"c" * 10, b"d" * 10) and table.get(2) is None
    assert table.add(b"x" * 100, b"") == 1  # bigger than the table: it empties (§4.4)
    assert len(table) == 0 and table.size == 0


# --- integers and strings, §5 ---------------------------------------------------------------


@pytest.mark.parametrize("value, prefix_bits", [(10, 5), (1337, 5), (42, 8), (31, 5), (2**20, 7), (0, 4)])
def test_integers_match_the_reference_encoder(value, prefix_bits):
    encoded = bytes(encode_integer(value, prefix_bits))  # C.1 has 10, 1337 and 42
    assert decode_integer(encoded, 0, prefix_bits) == (value, len(encoded))


@pytest.mark.parametrize("hex_block, says", [
    ("80", "index 0"),  # §6.1: index 0 is an error
    ("ff ff ff ff ff ff ff 01", "continuation octets"),  # an integer that never ends
    ("c0", "past the end"),  # index 64, with an empty dynamic table
    ("400a 6375 7374", "only"),  # a string literal cut short
    ("40 81 ff 01 61", "Huffman"),  # name: a Huffman string that is all EOS padding and more
    ("ff", "ends inside"),  # a multi-octet integer cut short
])
def test_bad_blocks_are_reported_with_what_came_before(hex_block, says):
    reader = HeaderBlockReader()
    decoded = reader.read(b"\x82" + bytes.fromhex(hex_block.replace(" ", "")))
    assert not decoded.complete and reader.desynchronized
    assert pairs(decoded) == [(":method", "GET")]
    assert says in decoded.problems[0]


def test_grpc_headers_get_hints(started_tracer):
    encoder = hpack.Encoder()
    block = encoder.encode([(":status", "200"), ("grpc-status", "14"), ("grpc-message", "down%21"),
                            ("trace-bin", "AAEC")])
    records = started_tracer.feed("server", HeadersFrame(1, data=block, flags=["END_HEADERS", "END_STREAM"]).serialize())
    decoded = [r for r in records if isinstance(r, HeaderBlockDecoded)][0]
    assert decoded.role == "trailers-only"
    hints = {e.name: e.hint for e in decoded.entries}
    assert hints == {":status": None, "grpc-status": "UNAVAILABLE",
                     "grpc-message": "percent-decoded: 'down!'",
                     "trace-bin": "base64 of 3 bytes: 00 01 02"}


def test_never_indexed_from_the_reference_encoder(started_tracer):
    encoder = hpack.Encoder()
    block = encoder.encode([(":method", "POST"), hpack.NeverIndexedHeaderTuple("authorization", "Bearer x")])
    records = started_tracer.feed("client", HeadersFrame(1, data=block, flags=["END_HEADERS"]).serialize())
    decoded = [r for r in records if isinstance(r, HeaderBlockDecoded)][0]
    assert decoded.entries[1].representation == NEVER_INDEXED
    assert decoded.get("authorization") == "Bearer x" and decoded.role == "request headers"
