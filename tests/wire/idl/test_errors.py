"""Every kind of mistake gives an IdlError (a wire.SchemaError) naming file:line:col.

Rows quote the rule they check, from https://protobuf.dev/programming-guides/proto3/
unless said otherwise.
"""

import pytest

import wire
from wire.idl import IdlError, ProtoSyntaxError, load_source

P3 = 'syntax = "proto3";\n'
P2 = 'syntax = "proto2";\n'

# (id, source, expected words in the reason, line, column, syntax error?)
CASES = [
    # grammar (proto3-spec)
    ("missing semicolon", P3 + "message M { int32 a = 1 }", "expected ';'", 2, 25, True),
    ("unclosed message", P3 + "message M { int32 a = 1;", "never closed", 2, 25, True),
    ("bad syntax name", 'syntax = "proto4";', "unknown syntax", 1, 10, True),
    ("syntax not first", P3 + 'syntax = "proto3";', "must come first", 2, 1, True),
    ("editions refused", 'edition = "2023";', "editions are not supported", 1, 1, True),
    ("groups refused", P2 + "message M { optional group G = 1 { } }", "groups are not supported", 2, 22, True),
    ("stray token", P3 + "messag M {}", "expected a top-level statement", 2, 1, True),
    ("proto2 needs labels", P2 + "message M { int32 a = 1; }", "need a label", 2, 13, True),
    ("no required in proto3", P3 + "message M { required int32 a = 1; }", "not allowed in proto3", 2, 13, True),
    ("label in oneof", P3 + "message M { oneof o { repeated int32 a = 1; } }", "may not have a label", 2, 23, True),
    ("empty oneof", P3 + "message M { oneof o { } }", "at least one field", 2, 13, True),
    ("no defaults in proto3", P3 + "message M { int32 a = 1 [default = 2]; }", "not allowed in proto3", 2, 26, True),
    ("unclosed aggregate", P3 + "option (x) = { a: 1 ", "never closed", 2, 14, True),
    ("two packages", P3 + "package a; package b;", "only one package", 2, 12, True),
    # field numbers ("Assigning Field Numbers")
    ("field number zero", P3 + "message M { int32 a = 0; }", "out of range", 2, 23, False),
    ("field number too big", P3 + "message M { int32 a = 536870912; }", "out of range", 2, 23, False),
    ("field number negative", P3 + "message M { int32 a = -1; }", "out of range", 2, 23, False),
    ("implementation range", P3 + "message M { int32 a = 19500; }", "19000 to 19999", 2, 23, False),
    ("duplicate number", P3 + "message M { int32 a = 1; int32 b = 1; }", "already used by 'a'", 2, 36, False),
    ("duplicate name", P3 + "message M { int32 a = 1; string a = 2; }", "already used", 2, 33, False),
    ("json name clash", P3 + "message M { int32 a_b = 1; int32 aB = 2; }", "JSON name", 2, 34, False),
    # reserved ("Reserved Fields")
    ("reserved number", P3 + "message M { reserved 2 to 4; int32 a = 3; }", "reserved", 2, 40, False),
    ("reserved name", P3 + 'message M { reserved "a"; int32 a = 1; }', "reserved", 2, 33, False),
    ("reserved overlap", P3 + "message M { reserved 1 to 5; reserved 3; }", "overlaps", 2, 39, False),
    ("enum reserved number", P3 + "enum E { reserved 1; Z = 0; A = 1; }", "reserved", 2, 33, False),
    ("enum reserved name", P3 + 'enum E { reserved "A"; Z = 0; A = 1; }', "reserved", 2, 31, False),
    # maps ("Maps": any integral or string type as key)
    ("float map key", P3 + "message M { map<float, int32> m = 1; }", "map key cannot be float", 2, 17, False),
    ("bytes map key", P3 + "message M { map<bytes, int32> m = 1; }", "map key cannot be bytes", 2, 17, False),
    ("message map key", P3 + "message M { map<M, int32> m = 1; }", "message or enum", 2, 17, False),
    # enums ("Enumerations")
    ("proto3 enum starts at 0", P3 + "enum E { A = 1; }", "must be 0", 2, 14, False),
    ("alias without allow_alias", P3 + "enum E { A = 0; B = 0; }", "allow_alias", 2, 21, False),
    ("allow_alias with no alias", P3 + "enum E { option allow_alias = true; A = 0; }", "no aliases", 2, 1, False),
    ("duplicate enum value", P3 + "enum E { A = 0; A = 1; }", "already defined", 2, 17, False),
    ("empty enum", P3 + "enum E { }", "at least one value", 2, 1, False),
    # names ("Packages and Name Resolution")
    ("unknown type", P3 + "message M { Nope n = 1; }", "unknown type 'Nope'", 2, 13, False),
    ("inner scope wins", P3 + "package p; message A { message B {} } message C { message A {} A.B x = 1; }",
     "innermost scope", 2, 64, False),
    ("service as a type", P3 + "message M { S s = 1; } service S {}", "unknown type", 2, 13, False),
    ("enum as rpc input", P3 + "enum E { Z = 0; } service S { rpc F(E) returns (E); }", "not a message", 2, 37, False),
    ("duplicate symbol", P3 + "message M {} enum M { Z = 0; }", "already defined", 2, 14, False),
    ("duplicate method", P3 + "message M {} service S { rpc F(M) returns (M); rpc F(M) returns (M); }",
     "defined twice", 2, 14, False),
    # options ("Options", "Custom Options")
    ("unknown option", P3 + "option no_such_option = 1;", "unknown option", 2, 8, False),
    ("unknown custom option", P3 + "option (no.such) = 1;", "unknown custom option", 2, 8, False),
    ("option of wrong type", P3 + "option java_package = 5;", "expected a quoted string", 2, 23, False),
    ("option bool", P3 + 'message M { option deprecated = "yes"; }', "true or false", 2, 33, False),
    ("unknown enum option value", P3 + "option optimize_for = FAST;", "no value named 'FAST'", 2, 23, False),
    ("option out of range", P3 + 'import "google/protobuf/descriptor.proto"; extend google.protobuf.FileOptions '
     "{ int32 small = 50000; } option (small) = 3000000000;", "out of range", 2, 121, False),
    ("option set twice", P3 + "option java_package = 'a'; option java_package = 'b';", "set twice", 2, 35, False),
    ("map_entry is the compiler's", P3 + "message M { option map_entry = true; }", "map_entry", 2, 20, False),
    ("wrong options type", P3 + 'import "google/api/annotations.proto"; option (google.api.http) = {};',
     "cannot be used here", 2, 47, False),
    ("proto3 extension of a plain message", P3 + "message M {} extend M { int32 x = 1; }",
     "only allowed for custom options", 2, 25, False),
    ("extension outside range", P2 + "message M { extensions 10 to 20; } extend M { optional int32 x = 30; }",
     "no extension range", 2, 47, False),
    ("field in extension range", P2 + "message M { extensions 10 to 20; optional int32 x = 15; }",
     "extension range", 2, 53, False),
]


@pytest.mark.parametrize("source, words, line, column, syntax", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_error_table(source, words, line, column, syntax):
    with pytest.raises(IdlError) as caught:
        load_source(source, "bad.proto")
    error = caught.value
    assert words in error.reason
    assert (error.file, error.line, error.column) == ("bad.proto", line, column), str(error)
    assert str(error).startswith(f"bad.proto:{line}:{column}: ")
    assert isinstance(error, wire.SchemaError)
    assert isinstance(error, ProtoSyntaxError) == syntax


def test_missing_import():
    with pytest.raises(IdlError) as caught:
        load_source(P3 + 'import "nowhere.proto";', "bad.proto")
    assert "'nowhere.proto' was not found" in caught.value.reason
    assert (caught.value.line, caught.value.column) == (2, 1)


def test_import_cycle():
    sources = {"a.proto": P3 + 'import "b.proto";', "b.proto": P3 + 'import "a.proto";'}
    with pytest.raises(IdlError) as caught:
        load_source(P3 + 'import "a.proto";', "main.proto", sources=sources)
    assert caught.value.file == "b.proto"
    assert "import cycle: a.proto -> b.proto -> a.proto" in caught.value.reason


def test_defined_but_not_imported():
    sources = {"a.proto": P3 + "package pa; message A {}",
               "b.proto": P3 + 'import "a.proto"; message B {}'}
    with pytest.raises(IdlError) as caught:
        load_source(P3 + 'import "b.proto"; message M { pa.A a = 1; }', "main.proto", sources=sources)
    assert "defined in 'a.proto', which is not imported" in caught.value.reason


def test_import_twice():
    with pytest.raises(ProtoSyntaxError, match="imported twice"):
        load_source(P3 + 'import "google/protobuf/empty.proto"; import "google/protobuf/empty.proto";')


@pytest.mark.parametrize("source", [
    "message M { int32 encode = 1; }",      # a method of every message class
    "enum E { mro = 0; }",                  # Python's enum module keeps these names
    "enum E { _sunder_ = 0; }",
])
def test_names_python_classes_cannot_take(source):
    with pytest.raises(IdlError, match="cannot be made into a Python class") as caught:
        load_source(P3 + source, "bad.proto")
    assert caught.value.line == 2
