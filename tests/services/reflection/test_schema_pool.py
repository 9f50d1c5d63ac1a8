"""The reflection client's pool (services.reflection.pool): files kept until their
imports arrive, then loaded, and every symbol a reflection client may ask for."""

import pytest

from services.reflection import SchemaPool, SymbolKind
from wire import idl

SHOP = """
syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";

message Item {
  enum Kind { KIND_UNSPECIFIED = 0; BOOK = 1; }
  string name = 1;
  Kind kind = 2;
  oneof price { int64 cents = 3; string free_text = 4; }
  google.protobuf.Timestamp added = 5;
}

service Shop { rpc Browse(stream Item) returns (stream Item); }
"""


@pytest.fixture(scope="module")
def shop_files():
    """name -> encoded FileDescriptorProto, as a reflection server sends them."""
    loaded = idl.load_source(SHOP, "shop.proto")
    return {each.name: idl.file_descriptor_proto(each) for each in loaded.files()}


def test_files_wait_for_their_imports(shop_files):
    pool = SchemaPool()
    pool.add_file_descriptor(shop_files["shop.proto"])
    assert pool.missing_dependencies() == ["google/protobuf/timestamp.proto"]
    with pytest.raises(idl.DescriptorError):
        pool.resolve()
    assert pool.find("shop.v1.Item") is None
    pool.add_file_descriptor(shop_files["google/protobuf/timestamp.proto"])
    assert pool.missing_dependencies() == []
    pool.resolve()
    assert pool.find("shop.v1.Item").file.name == "shop.proto"


def test_symbols_methods_and_classes(shop_files):
    pool = SchemaPool()
    pool.add_file_descriptors(shop_files.values())
    pool.resolve()
    service, method = pool.method("shop.v1.Shop/Browse")
    assert pool.method("shop.v1.Shop.Browse") == (service, method)
    assert (method.client_streaming, method.server_streaming) == (True, True)
    assert method.input_message is pool.find("shop.v1.Item").schema
    assert pool.find("shop.v1.Item.Kind.BOOK").kind is SymbolKind.ENUM_VALUE
    assert pool.find("shop.v1.BOOK") is None        # not a sibling: BOOK lives in Item
    assert pool.find("shop.v1.Item.BOOK").kind is SymbolKind.ENUM_VALUE
    assert pool.find("shop.v1.Item.price").kind is SymbolKind.ONEOF
    assert pool.service_names() == ["shop.v1.Shop"]
    Item = pool.message_class(".shop.v1.Item")
    assert Item.decode(Item(name="pen", cents=5).encode()).cents == 5
    with pytest.raises(KeyError):
        pool.message_class("shop.v1.Shop")


def test_files_sent_twice_or_loaded_already_are_kept_once(shop_files):
    pool = SchemaPool()
    pool.add_loaded(idl.load_source(SHOP, "shop.proto"))
    kept = pool.files["shop.proto"]
    pool.add_file_descriptors(shop_files.values())
    assert pool.missing_dependencies() == []
    pool.resolve()
    assert pool.files["shop.proto"] is kept
