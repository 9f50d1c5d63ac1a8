"""The CLI's pieces, without a server: word orders, headers, JSON streams, .proto text."""

import pytest

from rpc.cli import __main__ as program
from rpc.cli.jsonio import JsonValues, json_values
from rpc.cli.render import render
from services.reflection import SchemaPool
from wire import idl


@pytest.mark.parametrize("words, protos, expected", [
    # verb first (ours)                                    verb, target, symbol, data
    (["list", "h:1"], False, ("list", "h:1", None, None)),
    (["list", "h:1", "pkg.S"], False, ("list", "h:1", "pkg.S", None)),
    (["call", "h:1", "pkg.S/M", "{}"], False, ("call", "h:1", "pkg.S/M", "{}")),
    # grpcurl's order: TARGET list|describe [SYMBOL], TARGET METHOD
    (["h:1", "describe", "pkg.T"], False, ("describe", "h:1", "pkg.T", None)),
    (["h:1", "pkg.S/M"], False, ("call", "h:1", "pkg.S/M", None)),
    # with --proto, list and describe need no target; a symbol has no colon
    (["list"], True, ("list", None, None, None)),
    (["describe", "pkg.T"], True, ("describe", None, "pkg.T", None)),
    (["describe", "h:1", "pkg.T"], True, ("describe", "h:1", "pkg.T", None)),
])
def test_both_word_orders(words, protos, expected):
    command = program.parse_words(words, None, protos)
    assert (command.verb, command.target, command.symbol, command.data) == expected


@pytest.mark.parametrize("words, data", [
    ([], None),                                   # nothing to do
    (["list"], None),                             # no target, no --proto
    (["call", "h:1"], None),                      # no method
    (["call", "h:1", "pkg.S/M", "{}"], "{}"),     # data twice
    (["list", "h:1", "pkg.S", "extra"], None),
])
def test_bad_word_lists(words, data):
    with pytest.raises(program.CliError):
        program.parse_words(words, data, False)


def test_headers_lowercase_keys_and_base64_binary_values():
    assert program.parse_metadata(["X-User: ann", "trace-bin: AAEC", "k:v:w"]) == [
        ("x-user", "ann"), ("trace-bin", b"\x00\x01\x02"), ("k", "v:w")]
    with pytest.raises(program.CliError):
        program.parse_metadata(["trace-bin: ***"])


def test_json_values_split_as_they_complete():
    splitter = JsonValues()
    assert splitter.feed('{"a": 1}\n{"b":') == [{"a": 1}]
    assert splitter.feed(' 2}  "x"\n') == [{"b": 2}, "x"]
    splitter.finish()
    assert json_values('{"a": 1} {"b": 2}\n[3]') == [{"a": 1}, {"b": 2}, [3]]
    with pytest.raises(ValueError):
        json_values('{"a": 1} {"b": ')


def test_render_maps_oneofs_optionals_nested_types_and_reserved():
    loaded = idl.load_source("""
        syntax = "proto3";
        package demo;
        message Outer {
          message Inner { int32 x = 1; }
          enum Color { RED = 0; BLUE = 1; }
          map<string, Inner> inners = 1;
          oneof choice { string a = 2; Color c = 3; }
          optional int64 n = 4;
          reserved 10 to 12, 15;
          reserved "old";
        }
    """, "demo.proto")
    pool = SchemaPool()
    pool.add_loaded(loaded)
    assert render(pool.find("demo.Outer").schema) == "\n".join([
        "message Outer {",
        "  map<string, .demo.Outer.Inner> inners = 1;",
        "  oneof choice {",
        "    string a = 2;",
        "    .demo.Outer.Color c = 3;",
        "  }",
        "  optional int64 n = 4;",
        "  message Inner {",
        "    int32 x = 1;",
        "  }",
        "  enum Color {",
        "    RED = 0;",
        "    BLUE = 1;",
        "  }",
        "  reserved 10 to 12, 15;",
        '  reserved "old";',
        "}",
    ])
    field = pool.find("demo.Outer.n")
    assert render(field.schema, field.parent) == "optional int64 n = 4;"
