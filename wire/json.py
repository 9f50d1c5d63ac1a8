"""The proto3 JSON mapping ("ProtoJSON"): messages to JSON and back.

Spec: "ProtoJSON Format", https://protobuf.dev/programming-guides/json/.

    to_json(msg) -> str                     from_json(Cls, text) -> msg
    to_dict(msg) -> JSON value              from_dict(Cls, value) -> msg
                                            loads(text) -> JSON value, read strictly

A message is a JSON object. Its keys are the fields' JSON names (the
``json_name`` option, or the field name in lowerCamelCase, as protoc computes
it); a parser takes the JSON name and the original field name alike. The
rules this module keeps, in the order the spec gives them:

- A field at its default value is left out, unless ``include_defaults``;
  fields with presence (messages, oneof members, proto3 ``optional``) are
  written exactly when they are set, whatever the option says.
- ``null`` is accepted for every field and means its default value, except
  for google.protobuf.Value (where it is the JSON null) and NullValue. Inside
  an array or a map, null is an error.
- Repeated fields are arrays, maps are objects with string keys, a oneof is
  whichever member is present (two members in one object is an error).
- Scalars and enums follow json_scalars; the well-known types (Timestamp,
  Duration, Struct, Any, ...) have forms of their own, in json_wkt.

Everything that goes wrong raises ``JsonError`` with the path of the value
("shop.Order.items[2].price: ..."): bad JSON text, a value of the wrong kind,
a number out of range, an unknown field (unless ``ignore_unknown``), a message
holding a value its field cannot take.
"""

from __future__ import annotations

import json as _json  # the standard library: absolute imports never find this module
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Callable, Union

from .json_scalars import (
    NULL_VALUE_ENUM,
    JsonError,
    UnknownEnumName,
    item_path,
    json_kind,
    read_enum,
    read_map_key,
    read_scalar,
    write_enum,
    write_map_key,
    write_scalar,
)
from .json_wkt import WELL_KNOWN_TYPES
from .message import DEFAULT_RECURSION_LIMIT, Message, message_class
from .scalars import SCALARS
from .schema import FieldSchema, FieldType, MessageSchema

__all__ = [
    "JsonError",
    "TypeRegistry",
    "to_json",
    "to_dict",
    "from_json",
    "from_dict",
    "loads",
    "json_name",
    "make_type_registry",
]

# What google.protobuf.Any needs to find the class of a packed message: a
# mapping from full names ("google.protobuf.Duration") to classes, or a
# function from a full name to a class (or None).
TypeRegistry = Union[Mapping[str, type[Message]], Callable[[str], Union[type[Message], None]]]

MESSAGE_TYPES = (FieldType.MESSAGE, FieldType.GROUP)
VALUE_MESSAGE = "google.protobuf.Value"   # its JSON null is a value, not "unset"
TYPE_URL_SEPARATOR = "/"                   # type.googleapis.com/pkg.Name


# --- the public functions ----------------------------------------------------


def to_dict(msg: Message, *, include_defaults: bool = False, preserve_names: bool = False,
            type_registry: TypeRegistry | None = None) -> Any:
    """``msg`` as a JSON value: a dict for most messages, a str for a Timestamp, ...

    ``include_defaults`` writes fields without presence even at their default
    value (0, "", [], {}); ``preserve_names`` uses the .proto field names
    instead of lowerCamelCase; ``type_registry`` resolves the types inside Any.
    """
    printer = _Printer(include_defaults, preserve_names, type_registry)
    return printer.message(msg, _root_path(type(msg)), 0)


def to_json(msg: Message, *, include_defaults: bool = False, preserve_names: bool = False,
            indent: int | None = None, type_registry: TypeRegistry | None = None) -> str:
    """``msg`` as JSON text (UTF-8 safe: non-ASCII characters are kept as they are)."""
    value = to_dict(msg, include_defaults=include_defaults, preserve_names=preserve_names,
                    type_registry=type_registry)
    return _json.dumps(value, indent=indent, ensure_ascii=False, allow_nan=False)


def from_dict(cls: type[Message], value: Any, *, ignore_unknown: bool = False,
              type_registry: TypeRegistry | None = None) -> Message:
    """A ``cls`` message from a JSON value (what ``json.loads`` returns).

    ``ignore_unknown`` skips fields the schema does not have and enum names it
    does not know, instead of raising JsonError.
    """
    parser = _Parser(ignore_unknown, type_registry)
    return parser.message(cls, value, _root_path(cls), 0)


def from_json(cls: type[Message], text: str | bytes | bytearray, *, ignore_unknown: bool = False,
              type_registry: TypeRegistry | None = None) -> Message:
    """A ``cls`` message from JSON text (str, or bytes in UTF-8/16/32)."""
    value = loads(text, _root_path(cls))
    return from_dict(cls, value, ignore_unknown=ignore_unknown, type_registry=type_registry)


def json_name(field: FieldSchema) -> str:
    """The field's JSON name: its json_name option, or lowerCamelCase as protoc makes it.

    protoc drops each underscore and upper-cases the letter after it, and
    changes nothing else: "foo_bar" -> "fooBar", "foo_1" -> "foo1", "_x" -> "X".
    """
    if field.json_name:
        return field.json_name
    parts = field.name.split("_")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


def make_type_registry(*classes: type[Message]) -> dict[str, type[Message]]:
    """{full name: class} for ``classes`` and every message type their fields reach."""
    registry: dict[str, type[Message]] = {}
    pending = list(classes)
    while pending:
        cls = pending.pop()
        full_name = cls._schema.full_name
        if full_name in registry:
            continue
        registry[full_name] = cls
        pending.extend(message_class(field.message_type) for field in cls._schema.fields
                       if field.message_type is not None)
    return registry


# --- JSON text ---------------------------------------------------------------


class _Refused(ValueError):
    """Raised inside json.loads by our hooks; loads adds the path."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"bare {name} is not JSON (write the string \"{name}\")")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Refused(f"key {key!r} appears twice in one object")
        obj[key] = value
    return obj


def loads(text: str | bytes | bytearray, path: str = "JSON text") -> Any:
    """JSON text -> a JSON value, read as ProtoJSON needs it (what from_json reads with).

    Stricter than json.loads: bare NaN and Infinity are refused (ProtoJSON
    writes them as strings), and so is a key twice in one object; numbers
    with a fraction or exponent come back as Decimal, so that a 64-bit
    value is never rounded through a float. Errors are JsonError naming
    ``path``, with ``reason`` saying what is wrong.
    """
    try:
        return _json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant,
                           object_pairs_hook=_refuse_duplicates)
    except _Refused as exc:
        raise JsonError(path, str(exc)) from None
    except RecursionError:
        raise JsonError(path, "JSON nested too deeply") from None
    except ValueError as exc:   # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise JsonError(path, f"not valid JSON: {exc}") from None


# --- shared by both directions -----------------------------------------------


def _root_path(cls: type[Message]) -> str:
    return cls._schema.full_name


def _has_presence(field: FieldSchema, schema: MessageSchema) -> bool:
    """Field presence (https://protobuf.dev/programming-guides/field_presence/)."""
    if field.repeated:
        return False
    return (field.type in MESSAGE_TYPES or field.oneof_index is not None
            or field.proto3_optional or schema.syntax == "proto2")


def _real_oneof(field: FieldSchema, schema: MessageSchema) -> int | None:
    """The field's oneof index, unless the oneof is a proto3 optional's synthetic one."""
    index = field.oneof_index
    if index is None or index >= len(schema.oneofs) or schema.oneofs[index].synthetic:
        return None
    return index


def _takes_null(field: FieldSchema) -> bool:
    """Whether JSON null is a value of the field, not "use the default"."""
    if field.message_type is not None:
        return field.message_type.full_name == VALUE_MESSAGE
    return field.enum_type is not None and field.enum_type.full_name == NULL_VALUE_ENUM


def _map_fields(field: FieldSchema) -> tuple[FieldSchema, FieldSchema]:
    entry = field.message_type
    return entry.field_named("key"), entry.field_named("value")


class _Walker:
    """What the printer and the parser share: the depth limit and Any's registry."""

    def __init__(self, type_registry: TypeRegistry | None) -> None:
        if type_registry is None:
            self.lookup: Callable[[str], type[Message] | None] = lambda name: None
        elif isinstance(type_registry, Mapping):
            self.lookup = type_registry.get
        else:
            self.lookup = type_registry

    @staticmethod
    def check_depth(depth: int, where: str) -> None:
        if depth > DEFAULT_RECURSION_LIMIT:
            raise JsonError(where, f"messages nested deeper than {DEFAULT_RECURSION_LIMIT} levels")

    def resolve(self, type_url: str, where: str) -> type[Message]:
        """The class of an Any's packed message, from its type URL."""
        _, separator, full_name = type_url.rpartition(TYPE_URL_SEPARATOR)
        if not separator or not full_name:
            raise JsonError(where, f"type URL {type_url!r} is not of the form "
                                   "\"type.googleapis.com/package.Message\"")
        cls = self.lookup(full_name)
        if cls is None:
            raise JsonError(where, f"type {full_name!r} of an Any is not in the type registry")
        if not (isinstance(cls, type) and issubclass(cls, Message)
                and cls._schema.full_name == full_name):
            raise JsonError(where, f"the type registry gave {cls!r} for {full_name!r}")
        return cls


# --- writing -----------------------------------------------------------------


class _Printer(_Walker):
    """Message -> JSON value."""

    def __init__(self, include_defaults: bool, preserve_names: bool,
                 type_registry: TypeRegistry | None) -> None:
        super().__init__(type_registry)
        self.include_defaults = include_defaults
        self.preserve_names = preserve_names

    def message(self, msg: Message, where: str, depth: int) -> Any:
        self.check_depth(depth, where)
        if not isinstance(msg, Message):
            raise JsonError(where, f"expected a message, got {type(msg).__name__}")
        special = WELL_KNOWN_TYPES.get(msg._schema.full_name)
        if special is not None:
            return special.write(self, msg, where, depth)
        return self.fields(msg, where, depth)

    def fields(self, msg: Message, where: str, depth: int) -> dict:
        """A message as the JSON object of its fields, in field-number order."""
        schema = msg._schema
        _check_one_member_set(msg, schema, where)
        out: dict[str, Any] = {}
        for field in sorted(schema.fields, key=lambda f: f.number):
            value = getattr(msg, field.name)
            if self.is_written(field, value, schema):
                key = field.name if self.preserve_names else json_name(field)
                out[key] = self.field_value(field, value, f"{where}.{key}", depth)
        return out

    def is_written(self, field: FieldSchema, value: Any, schema: MessageSchema) -> bool:
        if _has_presence(field, schema):
            return value is not None
        if self.include_defaults:
            return True
        if field.repeated:
            return value is not None and len(value) > 0
        return not _is_zero(field, value)

    def field_value(self, field: FieldSchema, value: Any, where: str, depth: int) -> Any:
        if field.is_map:
            return self.map(field, value, where, depth)
        if field.repeated:
            if not isinstance(value, (list, tuple)):
                raise JsonError(where, f"expected a list, got {type(value).__name__}")
            return [self.single(field, item, item_path(where, index), depth)
                    for index, item in enumerate(value)]
        return self.single(field, value, where, depth)

    def map(self, field: FieldSchema, value: Any, where: str, depth: int) -> dict:
        if not isinstance(value, dict):
            raise JsonError(where, f"expected a dict, got {type(value).__name__}")
        key_field, value_field = _map_fields(field)
        out = {}
        for key, item in value.items():
            path = item_path(where, key)
            out[write_map_key(key, key_field.type, path)] = self.single(value_field, item, path, depth)
        return out

    def single(self, field: FieldSchema, value: Any, where: str, depth: int) -> Any:
        """One value of a field: a message, an enum or a scalar."""
        if field.type in MESSAGE_TYPES:
            expected = message_class(field.message_type)
            if not isinstance(value, expected):
                raise JsonError(where, f"expected {expected.__name__}, got {type(value).__name__}")
            return self.message(value, where, depth + 1)
        if field.type == FieldType.ENUM:
            return write_enum(value, field.enum_type, where)
        return write_scalar(value, field.type, where)


def _is_zero(field: FieldSchema, value: Any) -> bool:
    """The default of a field without presence; -0.0 is not zero (its sign bit is set)."""
    if field.type in (FieldType.FLOAT, FieldType.DOUBLE):
        return isinstance(value, (int, float)) and value == 0 and math.copysign(1.0, value) > 0
    if field.type == FieldType.ENUM:
        return isinstance(value, int) and value == 0
    default = SCALARS[field.type].default
    return type(value) is type(default) and value == default


def _check_one_member_set(msg: Message, schema: MessageSchema, where: str) -> None:
    members: dict[int, list[str]] = {}
    for field in schema.fields:
        index = _real_oneof(field, schema)
        if index is not None and getattr(msg, field.name) is not None:
            members.setdefault(index, []).append(field.name)
    for index, names in members.items():
        if len(names) > 1:
            raise JsonError(where, f"oneof {schema.oneofs[index].name!r} has more than one "
                                   f"member set: {', '.join(names)}")


# --- reading -----------------------------------------------------------------

_SKIP = object()   # an unknown enum name under ignore_unknown: leave the value out


class _Parser(_Walker):
    """JSON value -> message."""

    def __init__(self, ignore_unknown: bool, type_registry: TypeRegistry | None) -> None:
        super().__init__(type_registry)
        self.ignore_unknown = ignore_unknown

    def message(self, cls: type[Message], value: Any, where: str, depth: int) -> Message:
        self.check_depth(depth, where)
        special = WELL_KNOWN_TYPES.get(cls._schema.full_name)
        if special is not None:
            return special.read(self, cls, value, where, depth)
        if not isinstance(value, dict):
            raise JsonError(where, f"expected an object for {cls._schema.full_name}, "
                                   f"got {json_kind(value)}")
        return self.fields(cls, value, where, depth)

    def fields(self, cls: type[Message], obj: dict, where: str, depth: int,
               skip: frozenset[str] = frozenset()) -> Message:
        """A message from the JSON object of its fields (less the keys in ``skip``)."""
        schema = cls._schema
        by_key = _fields_by_key(schema)
        msg = cls()
        claimed: dict[str, str] = {}       # field name or oneof name -> the key that set it
        for key, value in obj.items():
            if key in skip:
                continue
            path = f"{where}.{key}"
            field = by_key.get(key)
            if field is None:
                if self.ignore_unknown:
                    continue
                raise JsonError(path, f"{schema.full_name} has no field {key!r}")
            _claim(claimed, field.name, key, path, "field")
            oneof = _real_oneof(field, schema)
            if oneof is not None and (value is not None or _takes_null(field)):
                _claim(claimed, f"oneof {schema.oneofs[oneof].name}", key, path, "oneof")
            self.read_field(msg, field, value, path, depth)
        return msg

    def read_field(self, msg: Message, field: FieldSchema, value: Any, where: str,
                   depth: int) -> None:
        if value is None and (field.repeated or not _takes_null(field)):
            return     # null: the field keeps its default
        if field.is_map:
            setattr(msg, field.name, self.map(field, value, where, depth))
        elif field.repeated:
            setattr(msg, field.name, self.list(field, value, where, depth))
        else:
            item = self.single(field, value, where, depth)
            if item is not _SKIP:
                setattr(msg, field.name, item)

    def list(self, field: FieldSchema, value: Any, where: str, depth: int) -> list:
        if not isinstance(value, (list, tuple)):
            raise JsonError(where, f"expected an array, got {json_kind(value)}")
        items = (self.single(field, item, item_path(where, index), depth)
                 for index, item in enumerate(value))
        return [item for item in items if item is not _SKIP]

    def map(self, field: FieldSchema, value: Any, where: str, depth: int) -> dict:
        if not isinstance(value, dict):
            raise JsonError(where, f"expected an object, got {json_kind(value)}")
        key_field, value_field = _map_fields(field)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            path = item_path(where, key)
            map_key = read_map_key(key, key_field.type, path)
            if map_key in out:
                raise JsonError(path, f"map key {map_key!r} given twice")
            map_value = self.single(value_field, item, path, depth)
            if map_value is not _SKIP:
                out[map_key] = map_value
        return out

    def single(self, field: FieldSchema, value: Any, where: str, depth: int) -> Any:
        """One value of a field, or _SKIP for an enum name ignore_unknown lets pass."""
        if value is None and not _takes_null(field):
            raise JsonError(where, "null is not allowed inside an array or a map")
        if field.type in MESSAGE_TYPES:
            return self.message(message_class(field.message_type), value, where, depth + 1)
        if field.type == FieldType.ENUM:
            try:
                return read_enum(value, field.enum_type, where)
            except UnknownEnumName:
                if self.ignore_unknown:
                    return _SKIP
                raise
        return read_scalar(value, field.type, where)


def _fields_by_key(schema: MessageSchema) -> dict[str, FieldSchema]:
    """Every key that names a field: its JSON name and its .proto name."""
    by_key = {json_name(field): field for field in schema.fields}
    for field in schema.fields:
        by_key.setdefault(field.name, field)
    return by_key


def _claim(claimed: dict[str, str], what: str, key: str, where: str, kind: str) -> None:
    """A field (or a oneof) may be set by one key of an object only."""
    earlier = claimed.setdefault(what, key)
    if earlier != key:
        if kind == "field":
            raise JsonError(where, f"field given twice, as {earlier!r} and {key!r}")
        raise JsonError(where, f"{what} has two members set: {earlier!r} and {key!r}")
