"""The proto3 JSON mapping of ordinary messages: names, scalars, enums,
repeated fields, maps, oneofs, presence, null, and the errors.

Rows quote "ProtoJSON Format", https://protobuf.dev/programming-guides/json/.
"""

import json
import math
from decimal import Decimal

import pytest

import wire
from wire import json as wjson
from wire.json import JsonError

Color = wire.enum("jt.Color", {"COLOR_UNSPECIFIED": 0, "RED": 1, "GREEN": 2})
Inner = wire.message("jt.Inner", [
    wire.field("id", 1, "int32"),
    wire.field("display_name", 2, "string"),
])
Scalars = wire.message("jt.Scalars", [
    wire.field("f_int32", 1, "int32"),
    wire.field("f_int64", 2, "int64"),
    wire.field("f_uint32", 3, "uint32"),
    wire.field("f_uint64", 4, "uint64"),
    wire.field("f_sint32", 5, "sint32"),
    wire.field("f_sint64", 6, "sint64"),
    wire.field("f_fixed32", 7, "fixed32"),
    wire.field("f_fixed64", 8, "fixed64"),
    wire.field("f_sfixed32", 9, "sfixed32"),
    wire.field("f_sfixed64", 10, "sfixed64"),
    wire.field("f_float", 11, "float"),
    wire.field("f_double", 12, "double"),
    wire.field("f_bool", 13, "bool"),
    wire.field("f_string", 14, "string"),
    wire.field("f_bytes", 15, "bytes"),
    wire.field("f_enum", 16, Color),
])
Shapes = wire.message("jt.Shapes", [
    wire.field("inner", 1, Inner),
    wire.field("items", 2, Inner, repeated=True),
    wire.field("numbers", 3, "int64", repeated=True),
    wire.field("colors", 4, Color, repeated=True),
    wire.field("by_name", 5, map=("string", "int32")),
    wire.field("by_id", 6, map=("int64", Inner)),
    wire.field("flags", 7, map=("bool", "string")),
    wire.field("colors_by_id", 8, map=("uint32", Color)),
    wire.field("o_name", 9, "string", oneof="choice"),
    wire.field("o_inner", 10, Inner, oneof="choice"),
    wire.field("o_count", 11, "int64", oneof="choice"),
    wire.field("opt_int", 12, "int32", optional=True),
    wire.field("opt_text", 13, "string", optional=True),
    wire.field("opt_color", 14, Color, optional=True),
    wire.field("plain", 15, "string"),
    wire.field("renamed_field", 16, "int32"),
])
Shapes._schema.field_named("renamed_field").json_name = "otherName"


def scalars_json(**fields) -> dict:
    return wjson.to_dict(Scalars(**fields))


# --- scalars: the spec's table, one row per type -----------------------------

WRITE_ROWS = [
    # int32, fixed32, uint32: "JSON value will be a decimal number."
    ("f_int32", -10, -10),
    ("f_uint32", 4294967295, 4294967295),
    ("f_fixed32", 7, 7),
    ("f_sint32", -2147483648, -2147483648),
    ("f_sfixed32", 2147483647, 2147483647),
    # int64, fixed64, uint64: "JSON value will be a decimal string."
    ("f_int64", 1, "1"),
    ("f_int64", -10, "-10"),
    ("f_uint64", 18446744073709551615, "18446744073709551615"),
    ("f_fixed64", 5, "5"),
    ("f_sint64", -9223372036854775808, "-9223372036854775808"),
    ("f_sfixed64", 9223372036854775807, "9223372036854775807"),
    # float, double: a number or one of "NaN", "Infinity", "-Infinity"
    ("f_double", 1.1, 1.1),
    ("f_double", -10.0, -10.0),
    ("f_double", math.nan, "NaN"),
    ("f_double", math.inf, "Infinity"),
    ("f_double", -math.inf, "-Infinity"),
    ("f_double", -0.0, -0.0),                 # -0.0 is not the default
    ("f_float", 0.1, 0.1),                    # the shortest decimal of the float32
    ("f_float", 0.10000000149011612, 0.1),    # float32(0.1), as decode() gives it
    ("f_float", 3.4028234663852886e38, 3.4028235e38),
    ("f_float", math.inf, "Infinity"),
    # bool, string
    ("f_bool", True, True),
    ("f_string", "Hello World!", "Hello World!"),
    ("f_string", "h\u00e9llo \U0001F600", "h\u00e9llo \U0001F600"),
    # bytes: "standard base64 encoding with paddings"; the spec's own example
    ("f_bytes", b"abc123!?$*&()'-=@~", "YWJjMTIzIT8kKiYoKSctPUB+"),
    ("f_bytes", b"\xfb\xff", "+/8="),
    # enum: "The name of the enum value as specified in proto is used."
    ("f_enum", Color.RED, "RED"),
    ("f_enum", 2, "GREEN"),
    ("f_enum", 7, 7),                          # open enum: unknown numbers stay numbers
]


@pytest.mark.parametrize("name, value, expected", WRITE_ROWS)
def test_scalar_written(name, value, expected):
    key = wjson.json_name(Scalars._schema.field_named(name))
    written = scalars_json(**{name: value})
    assert written == {key: expected}
    assert type(written[key]) is type(expected)


READ_ROWS = [
    # "Either numbers or strings are accepted." Exponent notation too.
    ("fInt32", 1, 1),
    ("fInt32", "1", 1),
    ("fInt32", "-10", -10),
    ("fInt32", "1e2", 100),
    ("fInt32", 1.0, 1),
    ("fUint32", "4294967295", 4294967295),
    ("fInt64", "9223372036854775807", 9223372036854775807),
    ("fInt64", 9223372036854775807, 9223372036854775807),  # exact, never via float
    ("fInt64", "-1.5e1", -15),
    ("fUint64", 18446744073709551615, 18446744073709551615),
    ("fFixed64", "12", 12),
    ("fSint64", "-3", -3),
    ("fSfixed32", -5, -5),
    ("fDouble", 1.5, 1.5),
    ("fDouble", "1.5", 1.5),
    ("fDouble", "1e3", 1000.0),
    ("fDouble", 7, 7.0),
    ("fDouble", "Infinity", math.inf),
    ("fDouble", "-Infinity", -math.inf),
    ("fFloat", 0.1, 0.10000000149011612),     # kept as the float32 the field holds
    ("fFloat", "3.4028235e38", 3.4028234663852886e38),
    ("fBool", True, True),
    ("fBool", False, False),
    ("fString", "Hello World!", "Hello World!"),
    # bytes: "Either standard or URL-safe base64 encoding with/without paddings"
    ("fBytes", "YWJjMTIzIT8kKiYoKSctPUB+", b"abc123!?$*&()'-=@~"),
    ("fBytes", "YWJjMTIzIT8kKiYoKSctPUB-", b"abc123!?$*&()'-=@~"),
    ("fBytes", "+/8=", b"\xfb\xff"),
    ("fBytes", "-_8", b"\xfb\xff"),
    ("fBytes", "+/8", b"\xfb\xff"),
    ("fBytes", "", b""),
    # enum: "Parsers accept both enum names and integer values."
    ("fEnum", "GREEN", Color.GREEN),
    ("fEnum", 1, Color.RED),
    ("fEnum", 9, 9),
]


@pytest.mark.parametrize("key, value, expected", READ_ROWS)
def test_scalar_read(key, value, expected):
    msg = wjson.from_json(Scalars, json.dumps({key: value}))
    field = next(f for f in Scalars._schema.fields if wjson.json_name(f) == key)
    got = getattr(msg, field.name)
    assert got == expected
    assert type(got) is type(expected)


def test_nan_read_from_its_string():
    assert math.isnan(wjson.from_json(Scalars, '{"fDouble": "NaN"}').f_double)
    assert math.isnan(wjson.from_json(Scalars, '{"fFloat": "NaN"}').f_float)


def test_exponent_forms_in_the_json_text():
    msg = wjson.from_json(Scalars, '{"fInt32": 1e2, "fInt64": 1.0e1, "fUint64": 18446744073709551615.0}')
    assert (msg.f_int32, msg.f_int64, msg.f_uint64) == (100, 10, 18446744073709551615)


def test_every_scalar_round_trips_through_text():
    msg = Scalars(f_int32=-1, f_int64=-2, f_uint32=3, f_uint64=4, f_sint32=-5, f_sint64=-6,
                  f_fixed32=7, f_fixed64=8, f_sfixed32=-9, f_sfixed64=-10, f_float=1.5,
                  f_double=-2.25, f_bool=True, f_string="s", f_bytes=b"\x00\xff", f_enum=Color.GREEN)
    assert wjson.from_json(Scalars, wjson.to_json(msg)) == msg
    assert wjson.from_dict(Scalars, wjson.to_dict(msg)) == msg


# --- names -------------------------------------------------------------------

JSON_NAME_ROWS = [
    # protoc: drop each underscore and capitalise the letter after it.
    ("foo_bar", "fooBar"),
    ("foo", "foo"),
    ("foo_bar_baz", "fooBarBaz"),
    ("foo_1", "foo1"),
    ("fooBar", "fooBar"),
    ("_foo", "Foo"),
    ("foo__bar", "fooBar"),
    ("foo_", "foo"),
    ("FooBar", "FooBar"),
]


@pytest.mark.parametrize("name, expected", JSON_NAME_ROWS)
def test_json_name_like_protoc(name, expected):
    assert wjson.json_name(wire.FieldSchema(name, 1, wire.FieldType.INT32)) == expected


def test_json_name_option_wins():
    field = wire.FieldSchema("foo_bar", 1, wire.FieldType.INT32, json_name="custom")
    assert wjson.json_name(field) == "custom"


def test_names_lower_camel_case_on_output_both_accepted_on_input():
    msg = Shapes(inner=Inner(id=1, display_name="x"), renamed_field=5)
    assert wjson.to_dict(msg) == {"inner": {"id": 1, "displayName": "x"}, "otherName": 5}
    assert wjson.to_dict(msg, preserve_names=True) == {
        "inner": {"id": 1, "display_name": "x"}, "renamed_field": 5}
    for text in ['{"inner": {"displayName": "x", "id": 1}, "otherName": 5}',
                 '{"inner": {"display_name": "x", "id": 1}, "renamed_field": 5}']:
        assert wjson.from_json(Shapes, text) == msg


# --- defaults and presence ---------------------------------------------------


def test_defaults_left_out():
    # "If a field has the default value in the protocol buffer, it will be
    # omitted in the JSON-encoded data by default to save space."
    assert wjson.to_dict(Scalars()) == {}
    assert wjson.to_dict(Shapes()) == {}
    assert wjson.to_json(Scalars()) == "{}"


def test_include_defaults_writes_fields_without_presence():
    written = wjson.to_dict(Shapes(), include_defaults=True)
    assert written == {"items": [], "numbers": [], "colors": [], "byName": {}, "byId": {},
                       "flags": {}, "colorsById": {}, "plain": "", "otherName": 0}
    assert wjson.to_dict(Scalars(), include_defaults=True) == {
        "fInt32": 0, "fInt64": "0", "fUint32": 0, "fUint64": "0", "fSint32": 0,
        "fSint64": "0", "fFixed32": 0, "fFixed64": "0", "fSfixed32": 0, "fSfixed64": "0",
        "fFloat": 0.0, "fDouble": 0.0, "fBool": False, "fString": "", "fBytes": "",
        "fEnum": "COLOR_UNSPECIFIED"}


def test_optional_fields_written_when_set_even_at_zero():
    msg = Shapes(opt_int=0, opt_text="", opt_color=Color.COLOR_UNSPECIFIED)
    assert wjson.to_dict(msg) == {"optInt": 0, "optText": "", "optColor": "COLOR_UNSPECIFIED"}
    back = wjson.from_json(Shapes, wjson.to_json(msg))
    assert (back.opt_int, back.opt_text, back.opt_color) == (0, "", Color.COLOR_UNSPECIFIED)
    assert wjson.from_json(Shapes, "{}").opt_int is None


def test_empty_message_field_is_written():
    assert wjson.to_dict(Shapes(inner=Inner())) == {"inner": {}}
    assert wjson.from_json(Shapes, '{"inner": {}}').inner == Inner()


# --- null ----------------------------------------------------------------------

NULL_ROWS = [
    # "null is an accepted value for all field types and treated as the
    # default value of the corresponding field type."
    ('{"plain": null}', Shapes()),
    ('{"inner": null}', Shapes()),
    ('{"optInt": null}', Shapes()),
    ('{"oName": null}', Shapes()),
    # repeated: "null is accepted as the empty list []"; maps likewise
    ('{"items": null, "numbers": null}', Shapes()),
    ('{"byName": null}', Shapes()),
    # a null member does not count towards the oneof
    ('{"oName": null, "oCount": "3"}', Shapes(o_count=3)),
]


@pytest.mark.parametrize("text, expected", NULL_ROWS)
def test_null_means_default(text, expected):
    assert wjson.from_json(Shapes, text) == expected


# --- repeated, maps, oneofs --------------------------------------------------


def test_repeated_fields_are_arrays():
    msg = Shapes(items=[Inner(id=1), Inner()], numbers=[1, -2], colors=[Color.RED, 5])
    written = wjson.to_dict(msg)
    assert written == {"items": [{"id": 1}, {}], "numbers": ["1", "-2"], "colors": ["RED", 5]}
    assert wjson.from_dict(Shapes, written) == msg


def test_map_keys_are_strings():
    # "map<K,V>: object; all keys are converted to strings."
    msg = Shapes(by_name={"a": 1, "": 0}, by_id={-5: Inner(id=2), 0: Inner()},
                 flags={True: "yes", False: "no"}, colors_by_id={7: Color.GREEN, 8: 9})
    written = wjson.to_dict(msg)
    assert written == {
        "byName": {"a": 1, "": 0},
        "byId": {"-5": {"id": 2}, "0": {}},
        "flags": {"true": "yes", "false": "no"},
        "colorsById": {"7": "GREEN", "8": 9},
    }
    assert wjson.from_json(Shapes, json.dumps(written)) == msg


@pytest.mark.parametrize("member, value, expected", [
    ("o_name", "", {"oName": ""}),              # a set member is written even at zero
    ("o_inner", Inner(), {"oInner": {}}),
    ("o_count", 0, {"oCount": "0"}),
])
def test_oneof_member_written_when_set(member, value, expected):
    msg = Shapes(**{member: value})
    assert wjson.to_dict(msg) == expected
    back = wjson.from_dict(Shapes, expected)
    assert back.which_oneof("choice") == member
    assert back == msg


def test_unknown_fields_ignored_on_request():
    text = '{"plain": "x", "nosuch": {"deep": [1]}, "fEnum": 1}'
    assert wjson.from_json(Shapes, text, ignore_unknown=True) == Shapes(plain="x")


def test_unknown_enum_names_ignored_on_request():
    # singular: the field keeps its default; repeated and maps: the element is dropped
    text = '{"optColor": "PURPLE", "colors": ["RED", "PURPLE", "GREEN"], "colorsById": {"1": "PURPLE", "2": "RED"}}'
    msg = wjson.from_json(Shapes, text, ignore_unknown=True)
    assert msg == Shapes(colors=[Color.RED, Color.GREEN], colors_by_id={2: Color.RED})


def test_binary_unknown_fields_are_not_json():
    msg = Inner.decode(bytes([0x08, 0x01, 0xF8, 0x01, 0x05]))   # id=1, field 31 = 5
    assert wjson.to_dict(msg) == {"id": 1}


def test_to_json_text_options():
    msg = Inner(id=1, display_name="\u00e9")
    assert wjson.to_json(msg) == '{"id": 1, "displayName": "\u00e9"}'
    assert wjson.to_json(msg, indent=2) == '{\n  "id": 1,\n  "displayName": "\u00e9"\n}'
    assert wjson.from_json(Inner, wjson.to_json(msg).encode("utf-8")) == msg


# --- errors --------------------------------------------------------------------

READ_ERRORS = [
    # (JSON text, the path the error names, a fragment of its reason)
    ("{", "jt.Shapes", "not valid JSON"),
    ("", "jt.Shapes", "not valid JSON"),
    ("[]", "jt.Shapes", "expected an object"),
    ('"x"', "jt.Shapes", "expected an object"),
    ('{"plain": 1, "plain": 2}', "jt.Shapes", "twice"),
    ('{"nosuch": 1}', "jt.Shapes.nosuch", "no field"),
    ('{"plain": "a", "plain": "b"}', "jt.Shapes", "twice"),
    ('{"otherName": 1, "renamed_field": 2}', "jt.Shapes.renamed_field", "field given twice"),
    ('{"oName": "a", "oCount": 1}', "jt.Shapes.oCount", "two members"),
    ('{"oName": "a", "o_inner": {}}', "jt.Shapes.o_inner", "two members"),
    ('{"plain": 1}', "jt.Shapes.plain", "expected a string"),
    ('{"plain": "\\ud800"}', "jt.Shapes.plain", "surrogate"),
    ('{"optInt": "abc"}', "jt.Shapes.optInt", "not a number"),
    ('{"optInt": 2147483648}', "jt.Shapes.optInt", "out of range"),
    ('{"optInt": "-2147483649"}', "jt.Shapes.optInt", "out of range"),
    ('{"optInt": 1.5}', "jt.Shapes.optInt", "not an integer"),
    ('{"optInt": "1.5"}', "jt.Shapes.optInt", "not an integer"),
    ('{"optInt": " 1"}', "jt.Shapes.optInt", "not a number"),
    ('{"optInt": ""}', "jt.Shapes.optInt", "not a number"),
    ('{"optInt": true}', "jt.Shapes.optInt", "boolean"),
    ('{"optInt": 1e999999999}', "jt.Shapes.optInt", "out of range"),
    ('{"optInt": NaN}', "jt.Shapes", "bare NaN"),
    ('{"numbers": ["18446744073709551616"]}', "jt.Shapes.numbers[0]", "out of range"),
    ('{"numbers": [null]}', "jt.Shapes.numbers[0]", "null"),
    ('{"numbers": 1}', "jt.Shapes.numbers", "expected an array"),
    ('{"items": [{"id": "x"}]}', "jt.Shapes.items[0].id", "not a number"),
    ('{"items": [null]}', "jt.Shapes.items[0]", "null"),
    ('{"inner": []}', "jt.Shapes.inner", "expected an object"),
    ('{"byName": {"a": null}}', "jt.Shapes.byName['a']", "null"),
    ('{"byName": []}', "jt.Shapes.byName", "expected an object"),
    ('{"byId": {"x": {}}}', "jt.Shapes.byId['x']", "not a number"),
    ('{"byId": {"1": {}, "1e0": {}}}', "jt.Shapes.byId['1e0']", "given twice"),
    ('{"flags": {"yes": "x"}}', "jt.Shapes.flags['yes']", "not true or false"),
    ('{"colorsById": {"-1": "RED"}}', "jt.Shapes.colorsById['-1']", "out of range"),
    ('{"optColor": "PURPLE"}', "jt.Shapes.optColor", "not a name in jt.Color"),
    ('{"optColor": true}', "jt.Shapes.optColor", "boolean"),
]

SCALAR_READ_ERRORS = [
    ('{"fBool": "true"}', "jt.Scalars.fBool", "expected true or false"),
    ('{"fBool": 1}', "jt.Scalars.fBool", "expected true or false"),
    ('{"fDouble": "nan"}', "jt.Scalars.fDouble", "not a number"),
    ('{"fDouble": 1e400}', "jt.Scalars.fDouble", "out of range"),
    ('{"fDouble": "-1e400"}', "jt.Scalars.fDouble", "out of range"),
    ('{"fFloat": 3.5e38}', "jt.Scalars.fFloat", "out of range for float"),
    ('{"fFloat": -1e39}', "jt.Scalars.fFloat", "out of range for float"),
    ('{"fBytes": "a"}', "jt.Scalars.fBytes", "not valid base64"),
    ('{"fBytes": "YW Jj"}', "jt.Scalars.fBytes", "not valid base64"),
    ('{"fBytes": "*"}', "jt.Scalars.fBytes", "not valid base64"),
    ('{"fBytes": 12}', "jt.Scalars.fBytes", "expected a base64 string"),
    ('{"fUint32": -1}', "jt.Scalars.fUint32", "out of range"),
    ('{"fSfixed64": 9223372036854775808}', "jt.Scalars.fSfixed64", "out of range"),
    ('{"fInt32": "0x10"}', "jt.Scalars.fInt32", "not a number"),
    ('{"fInt32": "+1"}', "jt.Scalars.fInt32", "not a number"),
]


@pytest.mark.parametrize("text, path, reason", READ_ERRORS)
def test_read_errors_name_the_field(text, path, reason):
    with pytest.raises(JsonError) as caught:
        wjson.from_json(Shapes, text)
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(caught.value).startswith(path + ": ")


@pytest.mark.parametrize("text, path, reason", SCALAR_READ_ERRORS)
def test_scalar_read_errors(text, path, reason):
    with pytest.raises(JsonError) as caught:
        wjson.from_json(Scalars, text)
    assert (caught.value.path, reason in caught.value.reason) == (path, True)


LOADS_CASES = [
    # (JSON text, the value wire.json.loads gives, or None and a fragment of its error)
    ('{"a": 1.5, "b": [1, "x", null]}', {"a": Decimal("1.5"), "b": [1, "x", None]}, ""),
    (b'{"big": 1e400}', {"big": Decimal("1e400")}, ""),     # exact: never a float inf
    ('{"a": 1, "a": 2}', None, "appears twice"),
    ('[NaN]', None, "bare NaN"),
    ('-Infinity', None, "bare -Infinity"),
    ('{"a": ', None, "not valid JSON"),
    (b"\xff\xfe{", None, "not valid JSON"),
    ("[" * 100_000, None, "nested too deeply"),
]


@pytest.mark.parametrize("text, value, reason", LOADS_CASES)
def test_loads_is_strict_json(text, value, reason):
    if value is not None:
        assert wjson.loads(text) == value
        return
    with pytest.raises(JsonError) as caught:
        wjson.loads(text, "body")
    assert caught.value.path == "body"
    assert reason in caught.value.reason


def test_from_dict_map_keys_must_be_strings():
    # JSON object keys are strings; from_dict holds Python dicts to the same rule.
    with pytest.raises(JsonError, match="not a string"):
        wjson.from_dict(Shapes, {"byId": {1: {}}})


def test_json_error_is_a_wire_error():
    assert issubclass(JsonError, wire.WireError)
    assert issubclass(JsonError, ValueError)


def _set(msg, **fields):
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


WRITE_ERRORS = [
    # (a message holding what its fields cannot take, path, reason fragment)
    (_set(Scalars(), f_int32=2**31), "jt.Scalars.fInt32", "out of range"),
    (_set(Scalars(), f_int64="7"), "jt.Scalars.fInt64", "expected int"),
    (_set(Scalars(), f_string=b"x"), "jt.Scalars.fString", "expected str"),
    (_set(Scalars(), f_string="\udc00"), "jt.Scalars.fString", "surrogate"),
    (_set(Scalars(), f_float=1e39), "jt.Scalars.fFloat", "float32"),
    (_set(Scalars(), f_enum="RED"), "jt.Scalars.fEnum", "expected int"),
    (_set(Scalars(), f_int32=True), "jt.Scalars.fInt32", "got a bool"),
    (_set(Scalars(), f_uint64=False), "jt.Scalars.fUint64", "got a bool"),
    (_set(Scalars(), f_double=True), "jt.Scalars.fDouble", "got a bool"),
    (_set(Scalars(), f_enum=True), "jt.Scalars.fEnum", "got a bool"),
    (_set(Shapes(), inner=Scalars()), "jt.Shapes.inner", "expected Inner"),
    (_set(Shapes(), items=[Inner(), None]), "jt.Shapes.items[1]", "expected Inner"),
    (_set(Shapes(), numbers=(1, "2")), "jt.Shapes.numbers[1]", "expected int"),
    (_set(Shapes(), by_name={1: 1}), "jt.Shapes.byName[1]", "expected str"),
    (_set(Shapes(), by_name={"a": None}), "jt.Shapes.byName['a']", "expected int"),
    (_set(Shapes(), o_name="a", o_count=1), "jt.Shapes", "more than one member"),
    (_set(Shapes(), inner=_set(Inner(), id=None)), "jt.Shapes.inner.id", "expected int"),
]


@pytest.mark.parametrize("msg, path, reason", WRITE_ERRORS)
def test_write_errors_name_the_field(msg, path, reason):
    with pytest.raises(JsonError) as caught:
        wjson.to_json(msg)
    assert caught.value.path == path
    assert reason in caught.value.reason


# --- depth ---------------------------------------------------------------------


def _node_class():
    node = wire.MessageSchema("Node", "jt.Node")
    node.fields = [wire.FieldSchema("child", 1, wire.FieldType.MESSAGE,
                                    type_name=".jt.Node", message_type=node)]
    return wire.message_class(node)


Node = _node_class()


def _chain(levels):
    msg = Node()
    for _ in range(levels):
        msg = Node(child=msg)
    return msg


def test_nesting_up_to_the_limit():
    msg = _chain(wire.DEFAULT_RECURSION_LIMIT)
    assert wjson.from_json(Node, wjson.to_json(msg)) == msg


def test_nesting_past_the_limit_is_an_error_both_ways():
    with pytest.raises(JsonError, match="nested deeper"):
        wjson.to_json(_chain(wire.DEFAULT_RECURSION_LIMIT + 1))
    text = '{"child": ' * (wire.DEFAULT_RECURSION_LIMIT + 1) + "{}" + "}" * (wire.DEFAULT_RECURSION_LIMIT + 1)
    with pytest.raises(JsonError, match="nested deeper"):
        wjson.from_json(Node, text)


def test_hostile_nesting_is_a_json_error():
    with pytest.raises(JsonError):
        wjson.from_json(Node, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(JsonError):
        wjson.from_json(Node, '{"child": ' * 100_000 + "{}" + "}" * 100_000)


def test_hostile_numbers_are_json_errors():
    with pytest.raises(JsonError):
        wjson.from_json(Scalars, '{"fInt64": ' + "9" * 10_000 + "}")
    with pytest.raises(JsonError, match="out of range"):
        wjson.from_json(Scalars, '{"fInt64": "1e99999999999999"}')
