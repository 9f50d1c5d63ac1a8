"""Options: reading ``option x = value;`` against the *Options messages.

Spec: https://protobuf.dev/programming-guides/proto3/#options and
"Custom Options" on https://protobuf.dev/programming-guides/proto2/#customoptions;
the option messages are those of google/protobuf/descriptor.proto.

    option java_package = "com.example";          a field of FileOptions
    int32 a = 1 [deprecated = true];             a field of FieldOptions
    option (google.api.http) = { post: "/v1/x" body: "*" };
                                                  an extension of MethodOptions,
                                                  with a text-format message value
    option (my.opt).sub.count = 3;                a path into a message option

Each element's ``options`` dict maps the option's name to its value, typed by
the option's field: a bool, int, float, str, bytes, an IntEnum member, a list
(repeated options), or a message object (message options, made with the
message classes of wire.message). Standard options use the field's name
("deprecated"); custom options use the extension's full name without the
parentheses ("google.api.http"). Two options are not options at all and go
to their own fields: ``packed`` also sets FieldSchema.packed, and proto2's
``default`` becomes FieldSchema.default_value (as text, like protoc writes it).
"""

from __future__ import annotations

import math
import struct
from typing import Any

from ..message import enum_class, message_class
from ..scalars import SCALARS
from ..schema import ExtensionSchema, FieldSchema, FieldType, Label, MessageSchema
from .errors import IdlError, Position
from .parsed import Constant, OptionSite, ParsedFile, RawOption
from .resolve import EXTENSION, SymbolTable

__all__ = ["interpret_options", "convert_value", "format_default"]

OPTIONS_PACKAGE = "google.protobuf"
BOOL_WORDS = {"true": True, "false": False}
# The text format inside { ... } is looser about booleans than .proto options.
AGGREGATE_BOOL_WORDS = {**BOOL_WORDS, "True": True, "False": False, "t": True, "f": False}
FLOAT_WORDS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}
INTEGER_TYPES = frozenset({
    FieldType.INT32, FieldType.INT64, FieldType.UINT32, FieldType.UINT64,
    FieldType.SINT32, FieldType.SINT64, FieldType.FIXED32, FieldType.FIXED64,
    FieldType.SFIXED32, FieldType.SFIXED64,
})
FLOAT_TYPES = frozenset({FieldType.FLOAT, FieldType.DOUBLE})
# Options that the language sets itself and a file may not set.
LANGUAGE_OWNED = {("MessageOptions", "map_entry"): "map_entry is set by the compiler for "
                                                   "map fields and may not be set by hand"}


def interpret_options(parsed: ParsedFile, table: SymbolTable,
                      option_types: dict[str, MessageSchema]) -> None:
    """Fill the ``options`` dict of every element of ``parsed``.

    ``option_types`` maps "FileOptions", "FieldOptions", ... to their schemas
    (from descriptor.proto); ``table`` is what the file can see, for custom
    options.
    """
    for site in parsed.option_sites:
        options_type = option_types[site.options_type]
        for option in site.options:
            _apply(site, option, options_type, table)
    for default in parsed.defaults:
        default.field.default_value = format_default(default.field, default.value)


def _apply(site: OptionSite, option: RawOption, options_type: MessageSchema,
           table: SymbolTable) -> None:
    first = option.name[0]
    if first.extension:
        field, key = _extension_field(first.name, site, options_type, table, option.position)
    else:
        field, key = _plain_field(first.name, site, options_type, option.position)
    path = option.name[1:]
    target = site.target
    if not path:
        value = convert_value(field, option.value, repeated_ok=True)
        _store(target.options, key, field, value, option)
    else:
        _store_path(target.options, key, field, path, option)
    if key == "packed":
        target.packed = target.options["packed"]


def _plain_field(name: str, site: OptionSite, options_type: MessageSchema,
                 where: Position) -> tuple[FieldSchema, str]:
    reason = LANGUAGE_OWNED.get((site.options_type, name))
    if reason:
        raise IdlError(where, reason)
    for field in options_type.fields:
        if field.name == name:
            return field, name
    raise IdlError(where, f"unknown option {name!r}: {site.options_type} has no such field "
                          "(custom options are written in parentheses)")


def _extension_field(name: str, site: OptionSite, options_type: MessageSchema,
                     table: SymbolTable, where: Position) -> tuple[FieldSchema, str]:
    symbol = table.lookup(name, site.scope, (EXTENSION,))
    if symbol is None or symbol.kind != EXTENSION:
        raise IdlError(where, f"unknown custom option ({name}): no extension of that name "
                              "is defined or imported")
    extension: ExtensionSchema = symbol.schema
    wanted = f".{OPTIONS_PACKAGE}.{site.options_type}"
    if extension.extendee != wanted:
        raise IdlError(where, f"({name}) extends {extension.extendee.lstrip('.')}, "
                              f"not {wanted.lstrip('.')}: it cannot be used here")
    return extension.field, extension.full_name


def _store(options: dict, key: str, field: FieldSchema, value: Any, option: RawOption) -> None:
    if field.label == Label.REPEATED:
        options.setdefault(key, []).extend(value if isinstance(value, list) else [value])
        return
    if key in options:
        raise IdlError(option.position, f"option {option.dotted} is set twice")
    options[key] = value


def _store_path(options: dict, key: str, field: FieldSchema, path, option: RawOption) -> None:
    """``option (a).b.c = v;``: set a field deep inside a message option."""
    if field.type != FieldType.MESSAGE or field.label == Label.REPEATED:
        raise IdlError(option.position, f"option {option.dotted}: only a singular message "
                                        "option has fields to set")
    if key not in options:
        options[key] = message_class(field.message_type)()
    message = options[key]
    for index, part in enumerate(path):
        if part.extension:
            raise IdlError(option.position, f"option {option.dotted}: extensions inside "
                                            "option paths are not supported")
        inner = _field_named(message._schema, part.name, option.position)
        last = index == len(path) - 1
        if last:
            _set_field(message, inner, option.value, option.position, aggregate=False)
        else:
            if inner.type != FieldType.MESSAGE or inner.label == Label.REPEATED:
                raise IdlError(option.position, f"option {option.dotted}: {part.name} "
                                                "is not a singular message field")
            if getattr(message, inner.name) is None:
                setattr(message, inner.name, message_class(inner.message_type)())
            message = getattr(message, inner.name)


def _field_named(schema: MessageSchema, name: str, where: Position) -> FieldSchema:
    for field in schema.fields:
        if field.name == name:
            return field
    raise IdlError(where, f"{schema.full_name} has no field {name!r}")


# -- values ------------------------------------------------------------------


def convert_value(field: FieldSchema, constant: Constant, repeated_ok: bool = False,
                  aggregate: bool = False) -> Any:
    """The Python value of ``constant`` for ``field``, or IdlError saying why not."""
    if constant.kind == "list":
        if field.label != Label.REPEATED or not (repeated_ok or aggregate):
            raise IdlError(constant.position, "a list is only allowed for a repeated field")
        return [convert_value(field, item, aggregate=aggregate) for item in constant.value]
    if field.is_map:
        raise IdlError(constant.position, "map fields cannot be set in options")
    if field.type == FieldType.MESSAGE:
        return _message_value(field, constant)
    if field.type == FieldType.ENUM:
        return _enum_value(field, constant, aggregate)
    if field.type == FieldType.BOOL:
        return _bool_value(constant, aggregate)
    if field.type in INTEGER_TYPES:
        return _integer_value(field, constant)
    if field.type in FLOAT_TYPES:
        return _float_value(field, constant)
    if field.type == FieldType.STRING:
        return _string_value(constant)
    if field.type == FieldType.BYTES:
        return _expect(constant, "string", "a quoted string").value
    raise IdlError(constant.position, f"options of type {field.type.name.lower()} "
                                      "are not supported")


def _expect(constant: Constant, kind: str, what: str) -> Constant:
    if constant.kind != kind:
        raise IdlError(constant.position, f"expected {what}, found {constant.text!r}")
    return constant


def _message_value(field: FieldSchema, constant: Constant):
    _expect(constant, "aggregate", f"a message value {{ ... }} for {field.name}")
    message = message_class(field.message_type)()
    for entry in constant.value:
        if entry.extension:
            raise IdlError(entry.position, "extensions inside option values are not supported")
        inner = _field_named(field.message_type, entry.name, entry.position)
        _set_field(message, inner, entry.value, entry.position, aggregate=True)
    return message


def _set_field(message, field: FieldSchema, constant: Constant, where: Position,
               aggregate: bool) -> None:
    value = convert_value(field, constant, aggregate=aggregate, repeated_ok=True)
    if field.label == Label.REPEATED:
        getattr(message, field.name).extend(value if isinstance(value, list) else [value])
        return
    if field.oneof_index is not None:
        for other in message._schema.fields:
            if other.oneof_index == field.oneof_index and other is not field \
                    and getattr(message, other.name) is not None:
                raise IdlError(where, f"{field.name} and {other.name} are in the same oneof: "
                                      "only one may be set")
    setattr(message, field.name, value)


def _enum_value(field: FieldSchema, constant: Constant, aggregate: bool):
    cls = enum_class(field.enum_type)
    if constant.kind == "int" and aggregate:
        return cls(constant.value) if constant.value in cls._value2member_map_ else constant.value
    name = _expect(constant, "ident", f"a value of enum {field.enum_type.full_name}").value
    try:
        return cls[name]
    except KeyError:
        raise IdlError(constant.position, f"enum {field.enum_type.full_name} has no "
                                          f"value named {name!r}") from None


def _bool_value(constant: Constant, aggregate: bool) -> bool:
    words = AGGREGATE_BOOL_WORDS if aggregate else BOOL_WORDS
    if constant.kind == "ident" and constant.value in words:
        return words[constant.value]
    if aggregate and constant.kind == "int" and constant.value in (0, 1):
        return bool(constant.value)
    raise IdlError(constant.position, f"expected true or false, found {constant.text!r}")


def _integer_value(field: FieldSchema, constant: Constant) -> int:
    value = _expect(constant, "int", f"an integer for {field.type.name.lower()}").value
    try:
        return SCALARS[field.type].check(value)
    except (TypeError, ValueError, OverflowError):
        raise IdlError(constant.position, f"{value} is out of range for "
                                          f"{field.type.name.lower()}") from None


def _float_value(field: FieldSchema, constant: Constant) -> float:
    if constant.kind in ("int", "float"):
        return float(constant.value)
    if constant.kind == "ident" and constant.value.lower() in FLOAT_WORDS:
        return FLOAT_WORDS[constant.value.lower()]
    raise IdlError(constant.position, f"expected a number, found {constant.text!r}")


def _string_value(constant: Constant) -> str:
    raw = _expect(constant, "string", "a quoted string").value
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise IdlError(constant.position, "string value is not valid UTF-8") from None


# -- proto2 defaults, written as protoc writes FieldDescriptorProto.default_value ---

FLOAT_DIGITS = (6, 9)       # shortest "%g" that survives a float32 round trip
DOUBLE_DIGITS = (15, 17)    # and a float64 one
FLOAT32 = struct.Struct("<f")


def format_default(field: FieldSchema, constant: Constant) -> str:
    """The text protoc stores for ``[default = ...]``: numbers in decimal, enums
    and bools by name, strings as they are and bytes C-escaped."""
    if field.label == Label.REPEATED:
        raise IdlError(constant.position, "repeated fields cannot have default values")
    if field.type == FieldType.MESSAGE:
        raise IdlError(constant.position, "message fields cannot have default values")
    value = convert_value(field, constant)
    if field.type == FieldType.ENUM:
        return value.name if hasattr(value, "name") else str(value)
    if field.type == FieldType.BOOL:
        return "true" if value else "false"
    if field.type in FLOAT_TYPES:
        return _format_float(value, field.type == FieldType.FLOAT)
    if field.type == FieldType.BYTES:
        return _c_escape(value)
    return str(value)


def _format_float(value: float, single: bool) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    short, full = FLOAT_DIGITS if single else DOUBLE_DIGITS
    text = f"{value:.{short}g}"
    target = FLOAT32.unpack(FLOAT32.pack(value))[0] if single else value
    if float(text) != target:
        text = f"{value:.{full}g}"
    return text


C_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
PRINTABLE = range(0x20, 0x7F)


def _c_escape(raw: bytes) -> str:
    return "".join(
        C_ESCAPES.get(byte) or (chr(byte) if byte in PRINTABLE else f"\\{byte:03o}")
        for byte in raw
    )
