"""FileDescriptorProtos back into loaded files (wire.idl.from_descriptors), with
protoc's own descriptors as input and protobuf's codec as the judge, and our
own descriptors read back and written again, byte for byte."""

import importlib.resources

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_tools import protoc

import wire
from wire import idl

from .protofiles import ALL_FILES, path_of

SHOP = """
syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";

message Item {
  enum Kind { KIND_UNSPECIFIED = 0; BOOK = 1; PEN = 2; }
  message Dimensions { double width = 1; double height = 2; }
  string name = 1;
  Kind kind = 2;
  repeated int32 counts = 3;
  map<string, Dimensions> sizes = 4;
  oneof price { int64 cents = 5; string free_text = 6; }
  optional bool on_sale = 7;
  google.protobuf.Timestamp added = 8;
  bytes blob = 9;
  repeated Dimensions boxes = 10;
  sint64 delta = 11;
  reserved 20 to 25;
}

service Shop { rpc Browse(stream Item) returns (stream Item); }
"""

LEGACY = """
syntax = "proto2";
package legacy;
message Old {
  optional int32 a = 1 [default = 7];
  repeated int32 b = 2;
  extensions 100 to 199;
}
extend Old { optional string note = 100; }
"""

ITEM = {
    "name": "book", "kind": "BOOK", "counts": [1, 2, 300],
    "sizes": {"a4": {"width": 21.0, "height": 29.7}},
    "cents": "1999", "onSale": False, "added": "2024-01-02T03:04:05Z",
    "blob": "AAEC", "boxes": [{"width": 1.5}, {}], "delta": "-5",
}


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("protos")
    (root / "shop.proto").write_text(SHOP)
    (root / "legacy.proto").write_text(LEGACY)
    out = root / "set.pb"
    include = importlib.resources.files("grpc_tools") / "_proto"
    assert protoc.main(["protoc", f"-I{root}", f"-I{include}", "--include_imports",
                        f"--descriptor_set_out={out}", "shop.proto", "legacy.proto"]) == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def protobuf_class(descriptor_set, name):
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set.file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


@pytest.fixture(scope="module")
def ours(descriptor_set):
    return idl.load_descriptor_set(descriptor_set.SerializeToString())


def test_protoc_descriptors_make_classes_that_agree_with_protobuf(descriptor_set, ours):
    Ours = ours["shop.proto"].Item
    Theirs = protobuf_class(descriptor_set, "shop.v1.Item")
    item = wire.json.from_dict(Ours, ITEM)
    theirs = Theirs.FromString(item.encode())
    assert json_format.MessageToDict(theirs) == ITEM
    back = Ours.decode(theirs.SerializeToString())
    assert wire.json.to_dict(back) == ITEM
    assert back.on_sale is False and back.free_text is None      # presence survives


def test_proto2_presence_defaults_and_extensions(descriptor_set, ours):
    legacy = ours["legacy.proto"]
    Theirs = protobuf_class(descriptor_set, "legacy.Old")
    data = Theirs(a=0, b=[1, 2]).SerializeToString()
    old = legacy.Old.decode(data)
    assert old.a == 0 and old.b == [1, 2]           # explicit presence: a zero that was set
    assert old.encode() == data                     # proto2 repeated: not packed
    [note] = legacy.file.extensions
    assert note.full_name == "legacy.note" and note.extendee_type is legacy.Old._schema
    assert note.field.number == 100
    assert legacy.Old._schema.fields[0].default_value == "7"


def test_services_methods_oneofs_and_maps(ours):
    shop = ours["shop.proto"]
    browse = shop.Shop.methods["Browse"]
    assert (browse.client_streaming, browse.server_streaming) == (True, True)
    assert browse.path == "/shop.v1.Shop/Browse"
    assert browse.request_class is shop.Item and browse.response_class is shop.Item
    assert shop.lookup("shop.v1.Item.Kind").BOOK == 1
    item = shop.Item._schema
    assert [o.synthetic for o in item.oneofs] == [False, True]    # price, _on_sale
    assert item.reserved_ranges == [(20, 26)]
    assert shop.Item.SizesEntry._schema.map_entry
    assert item.field_named("sizes").is_map


def test_files_come_dependencies_first_as_namespaces(ours):
    assert list(ours) == ["google/protobuf/timestamp.proto", "shop.proto", "legacy.proto"]
    shop = ours["shop.proto"]
    assert shop.dependencies == (ours["google/protobuf/timestamp.proto"],)
    assert shop.Item._schema.field_named("added").message_type is \
        ours["google/protobuf/timestamp.proto"].Timestamp._schema


def test_our_own_descriptors_round_trip():
    """wire.idl writes a file; wire.idl reads it back; messages still agree."""
    loaded = idl.load("services/ordermgmt/order_management.proto")
    files = idl.load_file_descriptors(idl.file_descriptor_proto(each) for each in loaded.files())
    Shipment = files["order_management.proto"].CombinedShipment
    original = loaded.CombinedShipment(id="x", ordersList=[loaded.Order(id="1", items=["a"])])
    assert wire.json.to_dict(Shipment.decode(original.encode())) == wire.json.to_dict(original)


@pytest.mark.parametrize("name, include", ALL_FILES, ids=[n for n, _ in ALL_FILES])
def test_descriptor_set_read_back_and_written_again_is_the_same(name, include):
    data = idl.descriptor_set(idl.load(path_of(name, include), include=[include]))
    files = idl.load_descriptor_set(data)
    assert list(files)[-1] == name
    assert idl.descriptor_set(files[name]) == data


def test_options_come_back_as_the_parser_makes_them():
    echo = idl.load("services/echo/echo.proto")
    again = idl.load_descriptor_set(idl.descriptor_set(echo))["echo.proto"]
    for service in echo.services.values():
        for method in service.methods.values():
            other = again.lookup(service.full_name).methods[method.name]
            assert wire.json.to_dict(other.options["google.api.http"]) == \
                wire.json.to_dict(method.options["google.api.http"])
    assert again.file.options == echo.file.options


def test_known_files_serve_as_imports():
    loaded = idl.load("services/ordermgmt/order_management.proto")
    [dependency, main] = loaded.files()
    files = idl.load_file_descriptors([idl.file_descriptor_proto(main)], known=[dependency])
    assert list(files) == ["order_management.proto"]
    assert files["order_management.proto"].dependencies == (dependency,)


def test_a_missing_dependency_is_named(descriptor_set):
    shop = next(f for f in descriptor_set.file if f.name == "shop.proto")
    with pytest.raises(idl.DescriptorError, match="google/protobuf/timestamp.proto"):
        idl.load_file_descriptors([shop.SerializeToString()])


def test_an_unknown_type_is_named():
    loaded = idl.load_source('syntax = "proto3"; message A { B b = 1; } message B {}')
    proto = idl.file_descriptor(loaded)
    proto.message_type.pop()
    with pytest.raises(idl.DescriptorError, match="'.B'"):
        idl.load_file_descriptors([proto])


def test_an_import_cycle_is_an_error():
    d = idl.descriptor_classes()
    a = d.FileDescriptorProto(name="a.proto", dependency=["b.proto"])
    b = d.FileDescriptorProto(name="b.proto", dependency=["a.proto"])
    with pytest.raises(idl.DescriptorError, match="a.proto -> b.proto -> a.proto"):
        idl.load_file_descriptors([a, b])


def test_bad_bytes_are_a_decode_error():
    with pytest.raises(wire.DecodeError):
        idl.load_descriptor_set(b"\x0a\x05ab")
