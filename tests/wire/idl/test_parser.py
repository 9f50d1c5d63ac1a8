"""One test per grammar element of https://protobuf.dev/reference/protobuf/proto3-spec/
(and the proto2 parts descriptor.proto needs), through load_source."""

import math

import pytest

from wire import FieldType, Label
from wire.idl import IdlError, load_source, parse


def load(body, syntax="proto3", **kwargs):
    return load_source(f'syntax = "{syntax}";\n{body}', "t.proto", **kwargs)


def test_syntax_and_package():
    loaded = load("package a.b.c; message M {}")
    assert loaded.file.syntax == "proto3"
    assert loaded.file.package == "a.b.c"
    assert loaded.M._schema.full_name == "a.b.c.M"


def test_no_syntax_statement_means_proto2():
    assert parse("message M { optional int32 a = 1; }").schema.syntax == "proto2"


def test_import_public_and_weak():
    sources = {"a.proto": 'syntax = "proto3"; message A {}',
               "b.proto": 'syntax = "proto3"; message B {}'}
    loaded = load('import public "a.proto"; import weak "b.proto"; message M { A a = 1; B b = 2; }',
                  sources=sources)
    assert loaded.file.dependencies == ["a.proto", "b.proto"]
    assert loaded.file.public_dependencies == [0]
    assert loaded.file.weak_dependencies == [1]


def test_public_imports_are_seen_through():
    sources = {"a.proto": 'syntax = "proto3"; package pa; message A {}',
               "b.proto": 'syntax = "proto3"; import public "a.proto";'}
    loaded = load('import "b.proto"; message M { pa.A a = 1; }', sources=sources)
    assert loaded.M._schema.fields[0].type_name == ".pa.A"


def test_file_options_of_every_constant_kind():
    loaded = load('option java_package = "com.x" "y"; option optimize_for = CODE_SIZE;'
                  'option cc_enable_arenas = true;')
    options = loaded.file.options
    assert options["java_package"] == "com.xy"          # adjacent strings join
    assert options["optimize_for"].name == "CODE_SIZE"
    assert options["cc_enable_arenas"] is True


def test_field_enum_value_message_service_method_options():
    loaded = load("""
        message M { option deprecated = true; int32 a = 1 [deprecated = true, json_name = "A"];
                    repeated int32 r = 2 [packed = false]; }
        enum E { option allow_alias = true; X = 0; Y = 0 [deprecated = true]; }
        service S { option deprecated = true;
                    rpc F(M) returns (M) { option idempotency_level = NO_SIDE_EFFECTS; } }""")
    message = loaded.M._schema
    assert message.options == {"deprecated": True}
    assert message.fields[0].options == {"deprecated": True}
    assert message.fields[0].json_name == "A"
    assert message.fields[1].packed is False
    assert loaded.E._schema.values[1].options == {"deprecated": True}
    assert loaded.S.options == {"deprecated": True}
    assert loaded.S.methods["F"].options["idempotency_level"].name == "NO_SIDE_EFFECTS"


def test_aggregate_option_google_api_http():
    loaded = load("""import "google/api/annotations.proto";
        message M {}
        service S { rpc F(M) returns (M) {
            option (google.api.http) = { post: "/v1/f" body: "*"
                additional_bindings { get: "/v1/f/{id}" } additional_bindings: { get: "/v2" } };
        } }""")
    rule = loaded.S.methods["F"].options["google.api.http"]
    assert (rule.post, rule.body) == ("/v1/f", "*")
    assert [b.get for b in rule.additional_bindings] == ["/v1/f/{id}", "/v2"]


def test_custom_option_path_and_number_formats():
    loaded = load("""import "google/protobuf/descriptor.proto";
        message Limits { int32 i = 1; double d = 2; uint32 u = 3; repeated int32 list = 4; }
        extend google.protobuf.MessageOptions { Limits limits = 50000; }
        message M { option (limits).i = -0x10; option (limits).d = -inf;
                    option (limits).u = 017; option (limits).list = 1; }
        message N { option (limits) = { d: nan list: [1, 2] i: 3 }; }""")
    limits = loaded.M._schema.options["limits"]
    assert (limits.i, limits.d, limits.u, limits.list) == (-16, -math.inf, 15, [1])
    other = loaded.N._schema.options["limits"]
    assert math.isnan(other.d) and other.list == [1, 2] and other.i == 3


def test_nested_messages_and_enums():
    loaded = load("message A { message B { enum C { Z = 0; } C c = 1; } B b = 1; B.C c = 2; }")
    assert loaded.A.B.C.Z == 0
    assert loaded.A._schema.fields[1].type_name == ".A.B.C"
    assert loaded.A._schema.fields[1].type == FieldType.ENUM


def test_enum_allow_alias():
    loaded = load("enum E { option allow_alias = true; A = 0; B = 0; C = -1; }")
    assert [(v.name, v.number) for v in loaded.E._schema.values] == [("A", 0), ("B", 0), ("C", -1)]


def test_map_field():
    loaded = load("message M { map<string, M> children = 1; map<int64, bytes> blobs = 2; }")
    field = loaded.M._schema.fields[0]
    assert field.is_map and field.label == Label.REPEATED
    entry = field.message_type
    assert entry.name == "ChildrenEntry" and entry.map_entry
    assert [(f.name, f.number) for f in entry.fields] == [("key", 1), ("value", 2)]
    message = loaded.M(children={"x": loaded.M()}, blobs={7: b"\x00"})
    assert loaded.M.decode(message.encode()) == message


def test_oneof_and_proto3_optional():
    loaded = load("message M { optional int32 a = 1; oneof pick { string s = 2; int32 n = 3; } }")
    schema = loaded.M._schema
    assert [(o.name, o.synthetic) for o in schema.oneofs] == [("pick", False), ("_a", True)]
    assert [f.oneof_index for f in schema.fields] == [1, 0, 0]
    assert schema.fields[0].proto3_optional
    assert loaded.M(a=0).encode() == b"\x08\x00"      # presence: zero is written


def test_reserved_ranges_and_names():
    loaded = load('message M { reserved 2, 5 to 7, 100 to max; reserved "x", "y"; int32 a = 1; }'
                  'enum E { reserved 1 to 3, -5; reserved "Q"; Z = 0; }')
    schema = loaded.M._schema
    assert schema.reserved_ranges == [(2, 3), (5, 8), (100, 1 << 29)]
    assert schema.reserved_names == ["x", "y"]
    assert loaded.E._schema.reserved_ranges == [(1, 3), (-5, -5)]


def test_service_with_stream_on_either_side():
    loaded = load("""message Q {} service S {
        rpc U(Q) returns (Q); rpc SS(Q) returns (stream Q);
        rpc CS(stream Q) returns (Q); rpc B(stream .Q) returns (stream Q) {} }""")
    flags = {n: (m.client_streaming, m.server_streaming) for n, m in loaded.S.methods.items()}
    assert flags == {"U": (False, False), "SS": (False, True), "CS": (True, False), "B": (True, True)}
    assert loaded.S.methods["B"].path == "/S/B"


def test_comments_are_kept():
    loaded = load("""
// The message.
message M {
  // The field.
  int32 a = 1;  // trailing, not kept
}
/* The service. */
service S {
  // The method.
  rpc F(M) returns (M);
}""")
    assert loaded.M.__doc__ == "The message.\n"
    assert loaded.M._schema.fields[0].comments == "The field.\n"
    assert loaded.S.comments == "The service.\n"
    assert loaded.S.methods["F"].comments == "The method.\n"


def test_keywords_are_legal_names():
    loaded = load("message message { string syntax = 1; int32 package = 2; bool option = 3;"
                  " message stream { } stream rpc = 4; }")
    assert [f.name for f in loaded.message._schema.fields] == ["syntax", "package", "option", "rpc"]


def test_scoping_inner_first_then_outward_and_leading_dot():
    loaded = load("""package p;
        message T { int32 outer = 1; }
        message A {
          message T { int32 inner = 1; }
          T near = 1;      // A.T, the innermost
          .p.T far = 2;    // fully qualified
          p.T also_far = 3;
        }""")
    fields = loaded.A._schema.fields
    assert [f.type_name for f in fields] == [".p.A.T", ".p.T", ".p.T"]


def test_proto2_labels_defaults_extensions_and_extend():
    loaded = load("""package p;
        message M { required int32 a = 1; optional string s = 2 [default = "hi\\n"];
                    optional double d = 3 [default = -1.5]; optional E e = 4 [default = B];
                    optional bytes b = 5 [default = "\\001x"]; optional float f = 6 [default = 0.1];
                    extensions 100 to 199, 1000 to max; }
        enum E { A = 1; B = 2; }
        extend M { optional int32 ext = 100; }
        message Holder { extend M { repeated string inner = 101; } }""", syntax="proto2")
    fields = loaded.M._schema.fields
    assert fields[0].label == Label.REQUIRED
    assert [f.default_value for f in fields[1:]] == ["hi\n", "-1.5", "B", "\\001x", "0.1"]
    assert loaded.M._schema.extension_ranges == [(100, 200), (1000, 1 << 29)]
    extensions = {x.full_name: x for x in loaded.file.extensions}
    assert extensions["p.ext"].extendee == ".p.M"
    assert extensions["p.Holder.inner"].scope == "p.Holder"


def test_empty_statements_are_allowed():
    load(";message M { ; int32 a = 1; ; } ; enum E { ; Z = 0; } service S { ; }")


def test_parse_alone_leaves_names_unresolved():
    parsed = parse('syntax = "proto3"; message M { Other o = 1; }', "x.proto")
    assert [ref.name for ref in parsed.type_refs] == ["Other"]
    with pytest.raises(IdlError):
        load("message M { Other o = 1; }")
