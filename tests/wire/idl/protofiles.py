"""The .proto files of the project and the bundled ones, with their include roots."""

import os

from wire.idl import BUNDLED_INCLUDE

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SERVICES = os.path.join(ROOT, "services")

# (import name, include directory it is named relative to)
PROJECT_FILES = [
    ("product_info.proto", os.path.join(SERVICES, "productinfo")),
    ("order_management.proto", os.path.join(SERVICES, "ordermgmt")),
    ("echo.proto", os.path.join(SERVICES, "echo")),
    ("health.proto", os.path.join(SERVICES, "health")),
    ("reflection.proto", os.path.join(SERVICES, "reflection")),
    ("reflection_v1alpha.proto", os.path.join(SERVICES, "reflection")),
    ("grpc/testing/empty.proto", os.path.join(SERVICES, "interop")),
    ("grpc/testing/messages.proto", os.path.join(SERVICES, "interop")),
    ("grpc/testing/test.proto", os.path.join(SERVICES, "interop")),
]
BUNDLED_FILES = [
    (f"google/protobuf/{name}.proto", BUNDLED_INCLUDE)
    for name in ("any", "empty", "wrappers", "timestamp", "duration", "struct",
                 "field_mask", "descriptor")
] + [("google/api/http.proto", BUNDLED_INCLUDE), ("google/api/annotations.proto", BUNDLED_INCLUDE)]
ALL_FILES = PROJECT_FILES + BUNDLED_FILES


def path_of(name, include):
    return os.path.join(include, *name.split("/"))
