"""FileDescriptorProtos back into schemas (services.reflection.schemas), with
protoc's own descriptors as input and protobuf's codec as the judge."""

import importlib.resources

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from grpc_tools import protoc

import wire
from services.reflection import SchemaPool, SymbolKind, UnresolvedType
from wire import idl

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


def our_pool(descriptor_set):
    pool = SchemaPool()
    pool.add_file_descriptors(file.SerializeToString() for file in descriptor_set.file)
    assert pool.missing_dependencies() == []
    pool.resolve()
    return pool


def test_protoc_descriptors_make_classes_that_agree_with_protobuf(descriptor_set):
    Ours = our_pool(descriptor_set).message_class("shop.v1.Item")
    Theirs = protobuf_class(descriptor_set, "shop.v1.Item")
    ours = wire.json.from_dict(Ours, ITEM)
    theirs = Theirs.FromString(ours.encode())
    assert json_format.MessageToDict(theirs) == ITEM
    back = Ours.decode(theirs.SerializeToString())
    assert wire.json.to_dict(back) == ITEM
    assert back.on_sale is False and back.free_text is None      # presence survives


def test_proto2_presence_defaults_and_extensions(descriptor_set):
    pool = our_pool(descriptor_set)
    Old = pool.message_class("legacy.Old")
    Theirs = protobuf_class(descriptor_set, "legacy.Old")
    data = Theirs(a=0, b=[1, 2]).SerializeToString()
    old = Old.decode(data)
    assert old.a == 0 and old.b == [1, 2]           # explicit presence: a zero that was set
    assert old.encode() == data                     # proto2 repeated: not packed
    note = pool.find("legacy.note")
    assert note.kind is SymbolKind.EXTENSION and note.schema.extendee_type.full_name == "legacy.Old"
    assert note.schema.field.number == 100
    assert pool.find("legacy.Old").schema.fields[0].default_value == "7"


def test_services_methods_and_symbols(descriptor_set):
    pool = our_pool(descriptor_set)
    service, method = pool.method("shop.v1.Shop/Browse")
    assert (method.client_streaming, method.server_streaming) == (True, True)
    assert method.input_message is pool.find("shop.v1.Item").schema
    assert pool.find("shop.v1.Item.Kind.BOOK").kind is SymbolKind.ENUM_VALUE
    assert pool.find("shop.v1.BOOK") is None        # not a sibling: BOOK lives in Item
    assert pool.find("shop.v1.Item.BOOK").kind is SymbolKind.ENUM_VALUE
    assert pool.find("shop.v1.Item.price").kind is SymbolKind.ONEOF
    item = pool.find("shop.v1.Item").schema
    assert [o.synthetic for o in item.oneofs] == [False, True]    # price, _on_sale
    assert item.reserved_ranges == [(20, 26)]
    assert pool.find("shop.v1.Item.SizesEntry").schema.map_entry
    assert "shop.v1.Shop" in pool.service_names()


def test_our_own_descriptors_round_trip_through_the_pool():
    """wire.idl writes a file; the pool reads it back; messages still agree."""
    loaded = idl.load("services/ordermgmt/order_management.proto")
    pool = SchemaPool()
    pool.add_file_descriptors(idl.file_descriptor_proto(each) for each in loaded.files())
    pool.resolve()
    Shipment = pool.message_class("ecommerce.CombinedShipment")
    original = loaded.CombinedShipment(id="x", ordersList=[loaded.Order(id="1", items=["a"])])
    assert wire.json.to_dict(Shipment.decode(original.encode())) == wire.json.to_dict(original)


def test_a_missing_dependency_is_named_and_resolving_without_it_fails(descriptor_set):
    pool = SchemaPool()
    shop = next(f for f in descriptor_set.file if f.name == "shop.proto")
    pool.add_file_descriptor(shop.SerializeToString())
    assert pool.missing_dependencies() == ["google/protobuf/timestamp.proto"]
    with pytest.raises(UnresolvedType):
        pool.resolve()
