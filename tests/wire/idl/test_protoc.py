"""Our descriptors against protoc's, the reference compiler.

For every .proto of the project and every bundled one, protoc (from
grpcio-tools) writes ``--include_imports --descriptor_set_out`` with our
include directory first, so it reads the same bundled files we do; both sets
are decoded by the ``protobuf`` package and compared element by element
(messages, fields, enums, services, methods, streaming flags, options), then
byte for byte. A second test holds the bundled well-known types against the
descriptors compiled into the protobuf package itself.
"""

import os
import subprocess
import sys

import grpc_tools  # protoc, the oracle (a test dependency)
import pytest
from google.protobuf import descriptor_pb2

import wire.idl
from wire.idl import BUNDLED_INCLUDE

from .protofiles import ALL_FILES, PROJECT_FILES, path_of

FIELD_ATTRIBUTES = ("name", "number", "type", "type_name", "label", "oneof_index",
                    "json_name", "proto3_optional", "extendee", "default_value")


@pytest.fixture(scope="module")
def protoc_sets(tmp_path_factory):
    """One protoc run for all files: name -> FileDescriptorProto, per include root."""
    out = tmp_path_factory.mktemp("protoc")
    results = {}
    by_root = {}
    for name, include in ALL_FILES:
        by_root.setdefault(include, []).append(name)
    for index, (include, names) in enumerate(by_root.items()):
        target = out / f"set{index}.pb"
        command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{BUNDLED_INCLUDE}",
                   f"-I{include}", "--include_imports", f"--descriptor_set_out={target}", *names]
        run = subprocess.run(command, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        for proto in descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes()).file:
            results[(include, proto.name)] = proto
    return results


def ours(name, include):
    loaded = wire.idl.load(path_of(name, include), include=[include])
    return descriptor_pb2.FileDescriptorSet.FromString(wire.idl.descriptor_set(loaded))


@pytest.mark.parametrize("name, include", ALL_FILES, ids=[n for n, _ in ALL_FILES])
def test_same_descriptors_as_protoc(name, include, protoc_sets):
    our_set = ours(name, include)
    assert our_set.file[-1].name == name
    for our_file in our_set.file:
        root = include if (include, our_file.name) in protoc_sets else BUNDLED_INCLUDE
        theirs = protoc_sets.get((include, our_file.name)) or protoc_sets[(root, our_file.name)]
        compare_files(our_file, theirs)
        assert our_file.SerializeToString(deterministic=True) == \
            theirs.SerializeToString(deterministic=True)


def test_dependencies_come_first():
    include = dict((n, i) for n, i in ALL_FILES)["grpc/testing/test.proto"]
    order = [f.name for f in ours("grpc/testing/test.proto", include).file]
    assert order == ["grpc/testing/empty.proto", "grpc/testing/messages.proto",
                     "grpc/testing/test.proto"]


@pytest.mark.parametrize("name, include", PROJECT_FILES, ids=[n for n, _ in PROJECT_FILES])
def test_project_files_against_protoc_with_its_own_well_known_types(name, include, tmp_path):
    """protoc reading grpcio-tools' google/protobuf copies (ours only for google/api)."""
    theirs_include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    target = tmp_path / "set.pb"
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", f"-I{theirs_include}",
               f"-I{BUNDLED_INCLUDE}", f"--descriptor_set_out={target}", name]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    theirs = descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes()).file[-1]
    mine = ours(name, include).file[-1]
    compare_files(mine, theirs)


def compare_files(ours_, theirs):
    where = ours_.name
    assert (ours_.package, ours_.syntax, list(ours_.dependency)) == \
        (theirs.package, theirs.syntax, list(theirs.dependency)), where
    assert list(ours_.public_dependency) == list(theirs.public_dependency), where
    compare_options(ours_.options, theirs.options, where)
    compare_list(ours_.message_type, theirs.message_type, compare_messages, where)
    compare_list(ours_.enum_type, theirs.enum_type, compare_enums, where)
    compare_list(ours_.extension, theirs.extension, compare_fields, where)
    compare_list(ours_.service, theirs.service, compare_services, where)


def compare_list(mine, theirs, compare, where):
    assert [m.name for m in mine] == [t.name for t in theirs], where
    for a, b in zip(mine, theirs):
        compare(a, b, f"{where}/{a.name}")


def compare_messages(a, b, where):
    compare_list(a.field, b.field, compare_fields, where)
    compare_list(a.nested_type, b.nested_type, compare_messages, where)
    compare_list(a.enum_type, b.enum_type, compare_enums, where)
    compare_list(a.extension, b.extension, compare_fields, where)
    assert [o.name for o in a.oneof_decl] == [o.name for o in b.oneof_decl], where
    assert [(r.start, r.end) for r in a.reserved_range] == [(r.start, r.end) for r in b.reserved_range]
    assert [(r.start, r.end) for r in a.extension_range] == \
        [(r.start, r.end) for r in b.extension_range], where
    assert list(a.reserved_name) == list(b.reserved_name), where
    compare_options(a.options, b.options, where)


def compare_fields(a, b, where):
    for attribute in FIELD_ATTRIBUTES:
        assert (a.HasField(attribute), getattr(a, attribute)) == \
            (b.HasField(attribute), getattr(b, attribute)), f"{where}.{attribute}"
    compare_options(a.options, b.options, where)


def compare_enums(a, b, where):
    assert [(v.name, v.number) for v in a.value] == [(v.name, v.number) for v in b.value], where
    for x, y in zip(a.value, b.value):
        compare_options(x.options, y.options, f"{where}.{x.name}")
    assert [(r.start, r.end) for r in a.reserved_range] == [(r.start, r.end) for r in b.reserved_range]
    compare_options(a.options, b.options, where)


def compare_services(a, b, where):
    compare_options(a.options, b.options, where)
    assert [m.name for m in a.method] == [m.name for m in b.method], where
    for x, y in zip(a.method, b.method):
        assert (x.input_type, x.output_type, x.client_streaming, x.server_streaming) == \
            (y.input_type, y.output_type, y.client_streaming, y.server_streaming), x.name
        assert x.HasField("options") == y.HasField("options"), x.name
        compare_options(x.options, y.options, f"{where}.{x.name}")


def compare_options(a, b, where):
    """Known option fields and custom ones (extension records, kept as unknown fields)."""
    assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True), where


# -- the bundled well-known types against the protobuf package's own ---------------

WELL_KNOWN = ["any", "empty", "wrappers", "timestamp", "duration", "struct", "field_mask",
              "descriptor"]


@pytest.mark.parametrize("module", WELL_KNOWN)
def test_bundled_types_match_the_published_ones(module):
    compiled = __import__(f"google.protobuf.{module}_pb2", fromlist=["DESCRIPTOR"])
    published = descriptor_pb2.FileDescriptorProto.FromString(compiled.DESCRIPTOR.serialized_pb)
    mine = ours(f"google/protobuf/{module}.proto", BUNDLED_INCLUDE).file[-1]
    assert mine.package == published.package
    compare_list(mine.message_type, published.message_type, compare_shapes, module)
    compare_list(mine.enum_type, published.enum_type, compare_enum_shapes, module)


def compare_shapes(a, b, where):
    """Names, numbers, types and labels: the wire contract (options may differ)."""
    shape = lambda f: (f.name, f.number, f.type, f.type_name, f.label, f.oneof_index,  # noqa: E731
                       f.proto3_optional, f.default_value)
    assert [shape(f) for f in a.field] == [shape(f) for f in b.field], where
    compare_list(a.nested_type, b.nested_type, compare_shapes, where)
    compare_list(a.enum_type, b.enum_type, compare_enum_shapes, where)
    assert [o.name for o in a.oneof_decl] == [o.name for o in b.oneof_decl], where


def compare_enum_shapes(a, b, where):
    assert [(v.name, v.number) for v in a.value] == [(v.name, v.number) for v in b.value], where


def test_protobuf_runtime_accepts_our_descriptors():
    """The protobuf package builds working classes from our FileDescriptorSet."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    include = dict(ALL_FILES)["echo.proto"]
    for proto in ours("echo.proto", include).file:
        pool.Add(proto)
    method = pool.FindServiceByName("example.MyService").methods_by_name["Echo"]
    assert method.input_type.full_name == "example.StringMessage"
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("example.StringMessage"))
    assert cls.FromString(b"\x0a\x02hi").value == "hi"
