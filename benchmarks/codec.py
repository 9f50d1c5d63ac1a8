"""How fast is our codec? Encode and decode ops/s against Google's protobuf.

Run: .venv/bin/python benchmarks/codec.py            (about 20 s)
     .venv/bin/python benchmarks/codec.py --profile  (cProfile of our codec)

Three implementations, in one run:

    ours             wire/, pure Python
    upb              protobuf's default backend, written in C
    protobuf-python  protobuf with PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python

protobuf picks its backend once, when it is first imported, so each backend
runs in a child process (this script again, with --child BACKEND) that prints
its results as JSON.

Two messages: a realistic one (about 20 fields of mixed types, a 100-byte
bytes field, a packed repeated field, a map, a nested message) and a batch of
1,000 small nested messages. "encode" builds the message from Python values
and encodes it; "decode" decodes it and reads every field, recursively, so an
implementation that decodes lazily pays for what it put off. Each figure is
the best of several rounds, timed with time.perf_counter.

The target for our codec: at least 2x protobuf-python on every row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

BACKENDS = ("upb", "python")      # values of PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION
ROUNDS = 7                        # best of ROUNDS, each about ROUND_SECONDS long
ROUND_SECONDS = 0.2
TARGET_VS_PYTHON = 2.0
PACKAGE = "bench"
BATCH_SIZE = 1000

# --- the schema, written once for both codecs --------------------------------
#
# (name, number, type, label) with type a scalar type, "map<K,V>", or the name
# of a message or enum below; label "" or "repeated".

ENUMS = {"Status": {"STATUS_UNSPECIFIED": 0, "PENDING": 1, "SHIPPED": 2, "DELIVERED": 3}}

MESSAGES = {
    "Address": [
        ("street", 1, "string", ""),
        ("city", 2, "string", ""),
        ("postal_code", 3, "string", ""),
        ("country", 4, "string", ""),
        ("latitude", 5, "double", ""),
        ("longitude", 6, "double", ""),
    ],
    "Order": [
        ("id", 1, "uint64", ""),
        ("customer", 2, "string", ""),
        ("created_unix_ms", 3, "int64", ""),
        ("amount", 4, "double", ""),
        ("discount", 5, "float", ""),
        ("quantity", 6, "int32", ""),
        ("status", 7, "Status", ""),
        ("express", 8, "bool", ""),
        ("checksum", 9, "fixed32", ""),
        ("trace_id", 10, "fixed64", ""),
        ("balance_delta", 11, "sint32", ""),
        ("offset", 12, "sint64", ""),
        ("signature", 13, "bytes", ""),
        ("tags", 14, "string", "repeated"),
        ("item_ids", 15, "int64", "repeated"),          # packed (proto3 default)
        ("address", 16, "Address", ""),
        ("note", 17, "string", ""),
        ("priority", 18, "sfixed32", ""),
        ("labels", 19, "map<string,string>", ""),
        ("version", 20, "uint32", ""),
        ("ledger", 21, "sfixed64", ""),
    ],
    "Item": [
        ("id", 1, "int64", ""),
        ("name", 2, "string", ""),
        ("price", 3, "double", ""),
        ("count", 4, "int32", ""),
    ],
    "Batch": [
        ("items", 1, "Item", "repeated"),
    ],
}

# The values, as plain Python: message fields as dicts, lists of dicts.
ORDER = {
    "id": 9_007_199_254_740_993,
    "customer": "Ada Lovelace",
    "created_unix_ms": 1_732_000_000_123,
    "amount": 1234.5678,
    "discount": 0.125,
    "quantity": 42,
    "status": 2,
    "express": True,
    "checksum": 0xDEADBEEF,
    "trace_id": 0x0123456789ABCDEF,
    "balance_delta": -1500,
    "offset": -9_000_000_000,
    "signature": bytes(range(100)),
    "tags": ["gift", "fragile", "priority"],
    "item_ids": [1_000_000 + 37 * i for i in range(20)],
    "address": {"street": "12 Analytical Engine Way", "city": "London",
                "postal_code": "W1A 1AA", "country": "GB",
                "latitude": 51.5072, "longitude": -0.1276},
    "note": "Leave the parcel with the neighbour at number 14 if nobody is in.",
    "priority": -3,
    "labels": {"region": "eu-west", "team": "logistics", "tier": "gold"},
    "version": 7,
    "ledger": -123_456_789_012,
}
BATCH = {"items": [{"id": i, "name": f"item-{i}", "price": i * 0.25, "count": i % 17}
                   for i in range(BATCH_SIZE)]}
CASES = {"realistic": ("Order", ORDER), "1000 nested": ("Batch", BATCH)}


def _map_types(type_name: str) -> tuple[str, str] | None:
    if not type_name.startswith("map<"):
        return None
    key, value = type_name[4:-1].split(",")
    return key, value


# --- the same work, whichever codec ------------------------------------------
#
# Both codecs' messages are built and read by the same two functions, which
# follow a plan made once per message: (field name, kind, message type).

SCALAR, MESSAGE, MAP = "scalar", "message", "map"
REPEATED_SCALAR, REPEATED_MESSAGE = "repeated scalar", "repeated message"


def _plan(message_name: str) -> tuple[tuple[str, str, str], ...]:
    steps = []
    for name, _, type_name, label in MESSAGES[message_name]:
        if _map_types(type_name):
            kind = MAP
        elif type_name in MESSAGES:
            kind = REPEATED_MESSAGE if label == "repeated" else MESSAGE
        else:
            kind = REPEATED_SCALAR if label == "repeated" else SCALAR
        steps.append((name, kind, type_name))
    return tuple(steps)


PLANS = {name: _plan(name) for name in MESSAGES}


def build(classes: dict[str, type], message_name: str, values: dict) -> Any:
    """A message object from plain values, the way application code makes one."""
    kwargs = {}
    for name, kind, type_name in PLANS[message_name]:
        value = values[name]
        if kind == REPEATED_MESSAGE:
            value = [build(classes, type_name, v) for v in value]
        elif kind == MESSAGE:
            value = build(classes, type_name, value)
        kwargs[name] = value
    return classes[message_name](**kwargs)


def touch(message: Any, message_name: str) -> int:
    """Read every field, recursively; returns a count so nothing is optimised away."""
    seen = 0
    for name, kind, type_name in PLANS[message_name]:
        value = getattr(message, name)
        if kind == SCALAR:
            seen += 1
        elif kind == MESSAGE:
            seen += touch(value, type_name)
        elif kind == REPEATED_MESSAGE:
            for item in value:
                seen += touch(item, type_name)
        elif kind == MAP:
            for key, item in value.items():
                seen += 1
        else:
            for item in value:
                seen += 1
    return seen


def measure(classes: dict[str, type], encode: Callable, decode: Callable) -> dict:
    """{case: {"encode": ops/s, "decode": ops/s, "size": bytes}} for one codec."""
    results = {}
    for case, (message_name, values) in CASES.items():
        data = encode(build(classes, message_name, values))

        def encode_once():
            encode(build(classes, message_name, values))

        def decode_once():
            touch(decode(classes[message_name], data), message_name)

        results[case] = {"encode": best_rate(encode_once),
                         "decode": best_rate(decode_once),
                         "size": len(data)}
    return results


def best_rate(operation: Callable[[], None]) -> float:
    """Operations per second: the best of ROUNDS rounds of about ROUND_SECONDS."""
    number = _calibrate(operation)
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(number):
            operation()
        best = min(best, time.perf_counter() - start)
    return number / best


def _calibrate(operation: Callable[[], None]) -> int:
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            operation()
        elapsed = time.perf_counter() - start
        if elapsed >= ROUND_SECONDS / 4:
            return max(1, int(number * ROUND_SECONDS / elapsed))
        number *= 4


# --- our codec ---------------------------------------------------------------


def our_classes() -> dict[str, type]:
    import wire
    classes: dict[str, type] = {}
    for name, values in ENUMS.items():
        classes[name] = wire.enum(f"{PACKAGE}.{name}", values)
    for name, fields in MESSAGES.items():   # dependencies come first
        classes[name] = wire.message(f"{PACKAGE}.{name}", [
            _our_field(field, classes) for field in fields
        ])
    return classes


def _our_field(field: tuple, classes: dict[str, type]) -> dict:
    import wire
    name, number, type_name, label = field
    if _map_types(type_name):
        return wire.field(name, number, map=_map_types(type_name))
    return wire.field(name, number, classes.get(type_name, type_name),
                      repeated=label == "repeated")


def measure_ours() -> dict:
    return measure(our_classes(), lambda msg: msg.encode(), lambda cls, data: cls.decode(data))


# --- protobuf, in a child process per backend --------------------------------


def protobuf_classes() -> dict[str, type]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    file_proto = descriptor_pb2.FileDescriptorProto(
        name=f"{PACKAGE}.proto", package=PACKAGE, syntax="proto3")
    for name, values in ENUMS.items():
        enum_proto = file_proto.enum_type.add(name=name)
        for value_name, number in values.items():
            enum_proto.value.add(name=value_name, number=number)
    for name, fields in MESSAGES.items():
        message_proto = file_proto.message_type.add(name=name)
        for field in fields:
            _add_protobuf_field(message_proto, field)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in MESSAGES}


def _add_protobuf_field(message_proto, field: tuple) -> None:
    from google.protobuf import descriptor_pb2
    Field = descriptor_pb2.FieldDescriptorProto
    name, number, type_name, label = field
    proto = message_proto.field.add(name=name, number=number, label=Field.LABEL_OPTIONAL)
    if _map_types(type_name):
        entry = message_proto.nested_type.add(name=name.capitalize() + "Entry")
        entry.options.map_entry = True
        for entry_number, (entry_name, entry_type) in enumerate(
                zip(("key", "value"), _map_types(type_name)), 1):
            entry.field.add(name=entry_name, number=entry_number, label=Field.LABEL_OPTIONAL,
                            type=getattr(Field, f"TYPE_{entry_type.upper()}"))
        proto.label = Field.LABEL_REPEATED
        proto.type = Field.TYPE_MESSAGE
        proto.type_name = f".{PACKAGE}.{message_proto.name}.{entry.name}"
        return
    if label == "repeated":
        proto.label = Field.LABEL_REPEATED
    if type_name in MESSAGES:
        proto.type, proto.type_name = Field.TYPE_MESSAGE, f".{PACKAGE}.{type_name}"
    elif type_name in ENUMS:
        proto.type, proto.type_name = Field.TYPE_ENUM, f".{PACKAGE}.{type_name}"
    else:
        proto.type = getattr(Field, f"TYPE_{type_name.upper()}")


def measure_protobuf(expected_backend: str) -> dict:
    from google.protobuf.internal import api_implementation
    if api_implementation.Type() != expected_backend:
        raise SystemExit(f"asked for protobuf backend {expected_backend!r}, "
                         f"got {api_implementation.Type()!r}")
    return measure(protobuf_classes(), lambda msg: msg.SerializeToString(),
                   lambda cls, data: cls.FromString(data))


def run_child(backend: str) -> dict:
    """This script again, in a process whose protobuf uses ``backend``."""
    env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=backend)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", backend],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


# --- the report --------------------------------------------------------------

HEADER = ("case", "op", "ours ops/s", "upb ops/s", "protobuf-python ops/s",
          "ours/upb", "ours/python")


def table(ours: dict, upb: dict, python: dict) -> str:
    rows = [HEADER]
    for case in CASES:
        for op in ("encode", "decode"):
            a, b, c = ours[case][op], upb[case][op], python[case][op]
            mark = "" if a / c >= TARGET_VS_PYTHON else "  < target"
            rows.append((case, op, f"{a:,.0f}", f"{b:,.0f}", f"{c:,.0f}",
                         f"{a / b:.2f}x", f"{a / c:.2f}x{mark}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def check_sizes(ours: dict, *others: dict) -> None:
    """The three codecs must be measuring the same message."""
    for case in CASES:
        sizes = {results[case]["size"] for results in (ours, *others)}
        if len(sizes) != 1:
            raise SystemExit(f"{case}: encoded sizes differ between codecs: {sizes}")


def profile() -> None:
    """Where our codec spends its time on the realistic message."""
    import cProfile
    import pstats
    classes = our_classes()
    message_name, values = CASES["realistic"]
    data = build(classes, message_name, values).encode()
    cls = classes[message_name]
    for op, statement in [
        ("encode", lambda: build(classes, message_name, values).encode()),
        ("decode", lambda: touch(cls.decode(data), message_name)),
    ]:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20_000):
            statement()
        profiler.disable()
        print(f"\n=== ours, realistic, {op} x 20,000 (sorted by own time) ===")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true",
                        help="profile our encode and decode of the realistic message")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure_protobuf(args.child)))
        return
    if args.profile:
        profile()
        return
    print(f"Python {sys.version.split()[0]}; best of {ROUNDS} rounds of ~{ROUND_SECONDS}s")
    ours = measure_ours()
    upb, python = (run_child(backend) for backend in BACKENDS)
    check_sizes(ours, upb, python)
    sizes = ", ".join(f"{case} {ours[case]['size']:,} bytes" for case in CASES)
    print(f"encoded sizes: {sizes}\n")
    print(table(ours, upb, python))


if __name__ == "__main__":
    main()
