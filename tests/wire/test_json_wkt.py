"""The well-known types' JSON forms: Timestamp, Duration, FieldMask, the
wrappers, Struct/Value/ListValue, Any and Empty.

Rows quote "ProtoJSON Format" (https://protobuf.dev/programming-guides/json/)
and the types' .proto files (https://protobuf.dev/reference/protobuf/google.protobuf/).
"""

import calendar
import json
import math

import pytest

import wire
from wire import json as wjson
from wire.json import JsonError

from .well_known_types import (
    REGISTRY,
    WRAPPERS,
    Any,
    BoolValue,
    BytesValue,
    DoubleValue,
    Duration,
    Empty,
    FieldMask,
    FloatValue,
    Int32Value,
    Int64Value,
    ListValue,
    NullValue,
    StringValue,
    Struct,
    Timestamp,
    UInt32Value,
    UInt64Value,
    Value,
    pack,
    type_url,
)

Inner = wire.message("wk.Inner", [
    wire.field("id", 1, "int32"),
    wire.field("big", 2, "int64"),
    wire.field("display_name", 3, "string"),
])
Holder = wire.message("wk.Holder", [
    wire.field("when", 1, Timestamp),
    wire.field("timeout", 2, Duration),
    wire.field("mask", 3, FieldMask),
    wire.field("details", 4, Struct),
    wire.field("value", 5, Value),
    wire.field("values", 6, ListValue),
    wire.field("payload", 7, Any),
    wire.field("nothing", 8, Empty),
    wire.field("count", 9, Int32Value),
    wire.field("name", 10, StringValue),
    wire.field("many_values", 11, Value, repeated=True),
    wire.field("when_list", 12, Timestamp, repeated=True),
])
TYPES = {**REGISTRY, "wk.Inner": Inner, "wk.Holder": Holder}


def utc_seconds(*fields) -> int:
    return calendar.timegm(fields + (0,) * (6 - len(fields)))


# --- Timestamp ---------------------------------------------------------------

TIMESTAMP_ROWS = [
    # "Uses RFC 3339, where generated output will always be Z-normalized and
    # uses 0, 3, 6 or 9 fractional digits."
    (0, 0, "1970-01-01T00:00:00Z"),
    (utc_seconds(1972, 1, 1, 10, 0, 20), 21_000_000, "1972-01-01T10:00:20.021Z"),
    (0, 500_000_000, "1970-01-01T00:00:00.500Z"),
    (0, 1_000, "1970-01-01T00:00:00.000001Z"),
    (0, 1_010_000, "1970-01-01T00:00:00.001010Z"),
    (0, 1, "1970-01-01T00:00:00.000000001Z"),
    (-1, 0, "1969-12-31T23:59:59Z"),
    (utc_seconds(2000, 2, 29), 0, "2000-02-29T00:00:00Z"),
    # the range of timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z
    (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
    (253_402_300_799, 999_999_999, "9999-12-31T23:59:59.999999999Z"),
]


@pytest.mark.parametrize("seconds, nanos, text", TIMESTAMP_ROWS)
def test_timestamp_both_ways(seconds, nanos, text):
    msg = Timestamp(seconds=seconds, nanos=nanos)
    assert wjson.to_dict(msg) == text
    assert wjson.from_dict(Timestamp, text) == msg


@pytest.mark.parametrize("text, seconds, nanos", [
    # "Offsets other than "Z" are also accepted."
    ("1970-01-01T01:00:00+01:00", 0, 0),
    ("1969-12-31T19:00:00-05:00", 0, 0),
    ("1970-01-01T00:00:00+00:00", 0, 0),
    ("1972-01-01T10:00:20.021+05:30", utc_seconds(1972, 1, 1, 4, 30, 20), 21_000_000),
    ("1970-01-01T00:00:00.5Z", 0, 500_000_000),
    ("1970-01-01T00:00:00.12345Z", 0, 123_450_000),
    ("0001-01-01T01:00:00+01:00", -62_135_596_800, 0),
    ("9999-12-31T22:59:59.999999999-01:00", 253_402_300_799, 999_999_999),
])
def test_timestamp_read_forms(text, seconds, nanos):
    assert wjson.from_dict(Timestamp, text) == Timestamp(seconds=seconds, nanos=nanos)


@pytest.mark.parametrize("value", [
    "1970-01-01t00:00:00Z",               # RFC 3339 allows it; timestamp.proto does not
    "1970-01-01T00:00:00z",
    "1970-01-01T00:00:00",                # no offset
    "1970-01-01 00:00:00Z",
    "1970-01-01T00:00:00.1234567890Z",    # ten fractional digits
    "1970-01-01T00:00:00.Z",
    "0000-12-31T23:59:59Z",               # year 0 does not exist
    "2001-02-29T00:00:00Z",               # not a leap year
    "2000-13-01T00:00:00Z",
    "2000-01-01T24:00:00Z",
    "2000-01-01T23:60:00Z",
    "2000-01-01T23:59:60Z",               # no leap seconds
    "2000-01-01T00:00:00+24:00",
    "0001-01-01T00:00:00+00:01",          # before 0001-01-01T00:00:00Z
    "9999-12-31T23:59:59-00:01",          # after 9999-12-31T23:59:59Z
    "197-01-01T00:00:00Z",
    "\u0661\u0669\u0667\u0660-01-01T00:00:00Z",  # Arabic-Indic digits are not ASCII digits
    "",
    0,
    None,
])
def test_timestamp_read_errors(value):
    with pytest.raises(JsonError) as caught:
        wjson.from_dict(Holder, {"when": value} if value is not None else {"when": []})
    assert caught.value.path == "wk.Holder.when"


@pytest.mark.parametrize("seconds, nanos", [
    (-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000), ("0", 0),
])
def test_timestamp_write_errors(seconds, nanos):
    with pytest.raises(JsonError, match="wk.Holder.when"):
        wjson.to_json(Holder(when=Timestamp(seconds=seconds, nanos=nanos)))


# --- Duration ----------------------------------------------------------------

DURATION_ROWS = [
    # "Generated output always contains 0, 3, 6, or 9 fractional digits,
    # depending on required precision, followed by the suffix "s"."
    (1, 0, "1s"),
    (1, 340_012, "1.000340012s"),
    (1, 10_000_000, "1.010s"),
    (0, 0, "0s"),
    (0, -500_000_000, "-0.500s"),
    (-1, -500_000_000, "-1.500s"),
    (-3, 0, "-3s"),
    (0, 1_000, "0.000001s"),
    (315_576_000_000, 999_999_999, "315576000000.999999999s"),
    (-315_576_000_000, -999_999_999, "-315576000000.999999999s"),
]


@pytest.mark.parametrize("seconds, nanos, text", DURATION_ROWS)
def test_duration_both_ways(seconds, nanos, text):
    msg = Duration(seconds=seconds, nanos=nanos)
    assert wjson.to_dict(msg) == text
    assert wjson.from_dict(Duration, text) == msg


@pytest.mark.parametrize("text, seconds, nanos", [
    # "Accepted are any fractional digits (also none) as long as they fit
    # into nano-seconds precision and the suffix "s" is required."
    ("1.5s", 1, 500_000_000),
    ("1.1234s", 1, 123_400_000),
    ("0.000000001s", 0, 1),
    ("-0s", 0, 0),
    ("007s", 7, 0),
    ("-0.1s", 0, -100_000_000),
])
def test_duration_read_forms(text, seconds, nanos):
    assert wjson.from_dict(Duration, text) == Duration(seconds=seconds, nanos=nanos)


@pytest.mark.parametrize("value", [
    "1", "1.5", "s", "1.0000000001s", "315576000001s", "-315576000001s", "- 1s", "+1s",
    "1.s", ".5s", "1e3s", "1S", "", "9" * 5000 + "s", 1, None,
])
def test_duration_read_errors(value):
    with pytest.raises(JsonError) as caught:
        wjson.from_dict(Holder, {"timeout": value if value is not None else {}})
    assert caught.value.path == "wk.Holder.timeout"


@pytest.mark.parametrize("seconds, nanos", [
    (315_576_000_001, 0), (-315_576_000_001, 0), (1, -1), (-1, 1),
    (0, 1_000_000_000), (0, -1_000_000_000),
])
def test_duration_write_errors(seconds, nanos):
    with pytest.raises(JsonError, match="wk.Holder.timeout"):
        wjson.to_json(Holder(timeout=Duration(seconds=seconds, nanos=nanos)))


# --- FieldMask ---------------------------------------------------------------

@pytest.mark.parametrize("paths, text", [
    (["foo_bar.baz", "qux"], "fooBar.baz,qux"),
    (["user.display_name", "photo"], "user.displayName,photo"),
    (["a1.b2_c"], "a1.b2C"),
    ([], ""),
])
def test_field_mask_both_ways(paths, text):
    msg = FieldMask(paths=paths)
    assert wjson.to_dict(msg) == text
    assert wjson.from_dict(FieldMask, text) == msg


@pytest.mark.parametrize("paths", [["fooBar"], ["foo__bar"], ["foo_1"], ["foo_"], ["a,b"]])
def test_field_mask_paths_without_a_camel_case_form(paths):
    with pytest.raises(JsonError, match="lowerCamelCase"):
        wjson.to_json(FieldMask(paths=paths))


@pytest.mark.parametrize("value", ["foo_bar", "a b", ["a"], 1])
def test_field_mask_read_errors(value):
    with pytest.raises(JsonError, match="wk.Holder.mask"):
        wjson.from_dict(Holder, {"mask": value})


# --- wrappers ----------------------------------------------------------------

WRAPPER_ROWS = [
    # "Wrappers use the same representation in JSON as the wrapped primitive type"
    (DoubleValue(value=1.5), 1.5),
    (DoubleValue(value=math.inf), "Infinity"),
    (FloatValue(value=0.10000000149011612), 0.1),
    (Int64Value(value=-5), "-5"),
    (UInt64Value(value=18446744073709551615), "18446744073709551615"),
    (Int32Value(value=-1), -1),
    (UInt32Value(value=4294967295), 4294967295),
    (BoolValue(value=True), True),
    (StringValue(value="foo"), "foo"),
    (BytesValue(value=b"abc"), "YWJj"),
    # a wrapper at its zero value is still a value: that is what wrappers are for
    (Int32Value(), 0),
    (BoolValue(), False),
    (StringValue(), ""),
    (Int64Value(), "0"),
]


@pytest.mark.parametrize("msg, expected", WRAPPER_ROWS)
def test_wrappers_are_their_value(msg, expected):
    assert wjson.to_dict(msg) == expected
    assert wjson.from_dict(type(msg), expected) == msg


def test_every_wrapper_is_covered():
    assert {type(msg) for msg, _ in WRAPPER_ROWS} == set(WRAPPERS.values())


def test_wrapper_fields():
    assert wjson.to_dict(Holder(count=Int32Value(), name=StringValue(value="x"))) == {
        "count": 0, "name": "x"}
    assert wjson.from_json(Holder, '{"count": "7", "name": null}') == Holder(count=Int32Value(value=7))
    assert wjson.from_json(Holder, '{"count": 0}').count == Int32Value()


@pytest.mark.parametrize("cls, value", [
    (Int32Value, "x"), (Int32Value, {"value": 1}), (UInt32Value, -1), (BoolValue, "true"),
    (BytesValue, "!"), (Int32Value, None),
])
def test_wrapper_errors(cls, value):
    with pytest.raises(JsonError):
        wjson.from_dict(cls, value)


# --- Struct, Value, ListValue ------------------------------------------------

DOCUMENT = {"a": [1.5, "x", None, True, {"b": -2.0}], "c": {}, "d": [], "e": "", "f": 0.0}


def test_struct_is_a_json_object():
    msg = wjson.from_dict(Struct, DOCUMENT)
    assert set(msg.fields) == set(DOCUMENT)
    listed = msg.fields["a"].list_value.values
    assert [v.which_oneof("kind") for v in listed] == [
        "number_value", "string_value", "null_value", "bool_value", "struct_value"]
    assert listed[2].null_value is NullValue.NULL_VALUE
    assert wjson.to_dict(msg) == DOCUMENT
    assert wjson.from_json(Struct, json.dumps(DOCUMENT)) == msg


@pytest.mark.parametrize("value, kind", [
    (None, "null_value"), (1.5, "number_value"), (3, "number_value"), ("s", "string_value"),
    (False, "bool_value"), ({"k": 1.0}, "struct_value"), ([1.0, None], "list_value"),
])
def test_value_is_any_json_value(value, kind):
    msg = wjson.from_dict(Value, value)
    assert msg.which_oneof("kind") == kind
    assert wjson.to_dict(msg) == value


def test_list_value_is_a_json_array():
    msg = wjson.from_json(ListValue, '[1, "two", [3], {"four": 4}]')
    assert len(msg.values) == 4
    assert wjson.to_dict(msg) == [1.0, "two", [3.0], {"four": 4.0}]


def test_null_is_a_value_for_value_fields():
    # For google.protobuf.Value, null is the null_value, not "unset".
    msg = wjson.from_json(Holder, '{"value": null, "many_values": [null, 1]}')
    assert msg.value == Value(null_value=NullValue.NULL_VALUE)
    assert msg.many_values == [Value(null_value=NullValue.NULL_VALUE), Value(number_value=1.0)]
    assert wjson.to_dict(msg) == {"value": None, "manyValues": [None, 1.0]}
    assert wjson.from_json(Holder, '{"details": null, "values": null}') == Holder()


@pytest.mark.parametrize("msg, reason", [
    (Value(), "no kind"),
    (Value(number_value=math.nan), "no JSON number form"),
    (Value(number_value=math.inf), "no JSON number form"),
    (Struct(fields={"k": Value()}), "no kind"),
    (ListValue(values=[Value(list_value=ListValue(values=[Value()]))]), "no kind"),
    (Struct(fields={"\udfff": Value(bool_value=True)}), "surrogate"),
    (Struct(fields={1: Value(bool_value=True)}), "expected str"),
])
def test_value_write_errors(msg, reason):
    with pytest.raises(JsonError, match=reason):
        wjson.to_json(msg)


@pytest.mark.parametrize("cls, text", [
    (Struct, "[]"), (Struct, "1"), (ListValue, "{}"), (Value, "1e400"), (Struct, '{"a": "\\udfff"}'),
    (Struct, '{"\\udfff": 1}'), (Value, "NaN"), (Value, '{"a": [1, {"b": NaN}]}'),
])
def test_struct_read_errors(cls, text):
    with pytest.raises(JsonError):
        wjson.from_json(cls, text)


def test_struct_keys_from_dict_must_be_strings():
    with pytest.raises(JsonError, match="not a string"):
        wjson.from_dict(Struct, {1: None})


def test_struct_nesting_is_bounded():
    deep = "[" * 200 + "]" * 200
    with pytest.raises(JsonError, match="nested deeper"):
        wjson.from_json(Value, deep)


# --- Any ---------------------------------------------------------------------

ANY_ROWS = [
    # "If the Any contains a value that has a special JSON mapping, it will be
    # converted as follows: {"@type": xxx, "value": yyy}. Otherwise, the value
    # will be converted into a JSON object, and the "@type" field will be
    # inserted to indicate the actual data type."
    (pack(Inner(id=1, big=2, display_name="x")),
     {"@type": "type.googleapis.com/wk.Inner", "id": 1, "big": "2", "displayName": "x"}),
    (pack(Inner()), {"@type": "type.googleapis.com/wk.Inner"}),
    (pack(Duration(seconds=1, nanos=500_000_000)),
     {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.500s"}),
    (pack(Timestamp()),
     {"@type": "type.googleapis.com/google.protobuf.Timestamp", "value": "1970-01-01T00:00:00Z"}),
    (pack(Int64Value(value=3)),
     {"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "3"}),
    (pack(Struct(fields={"a": Value(bool_value=True)})),
     {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {"a": True}}),
    (pack(Value(null_value=NullValue.NULL_VALUE)),
     {"@type": "type.googleapis.com/google.protobuf.Value", "value": None}),
    (pack(FieldMask(paths=["a_b"])),
     {"@type": "type.googleapis.com/google.protobuf.FieldMask", "value": "aB"}),
    (pack(Empty()), {"@type": "type.googleapis.com/google.protobuf.Empty"}),
    (pack(pack(Inner(id=5))),
     {"@type": "type.googleapis.com/google.protobuf.Any",
      "value": {"@type": "type.googleapis.com/wk.Inner", "id": 5}}),
    (Any(), {}),
]


@pytest.mark.parametrize("msg, expected", ANY_ROWS)
def test_any_both_ways(msg, expected):
    written = wjson.to_dict(msg, type_registry=TYPES)
    assert written == expected
    assert next(iter(written), "@type") == "@type"          # "@type" comes first
    assert wjson.from_dict(Any, expected, type_registry=TYPES) == msg


def test_any_field_and_type_url_kept_as_written():
    msg = Holder(payload=Any(type_url="example.com/x/wk.Inner", value=Inner(id=1).encode()))
    text = wjson.to_json(msg, type_registry=TYPES)
    assert text == '{"payload": {"@type": "example.com/x/wk.Inner", "id": 1}}'
    assert wjson.from_json(Holder, text, type_registry=TYPES) == msg


def test_any_type_registry_forms():
    text = '{"@type": "type.googleapis.com/wk.Inner", "id": 1}'
    expected = pack(Inner(id=1))
    assert wjson.from_json(Any, text, type_registry=TYPES.get) == expected
    assert wjson.from_json(Any, text, type_registry=wjson.make_type_registry(Inner)) == expected


def test_make_type_registry_follows_fields():
    registry = wjson.make_type_registry(Holder)
    assert registry["wk.Holder"] is Holder
    for name in ["google.protobuf.Timestamp", "google.protobuf.Struct",
                 "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any"]:
        assert registry[name] is REGISTRY[name]


def test_any_with_preserve_names_and_defaults():
    msg = pack(Inner(id=1))
    assert wjson.to_dict(msg, type_registry=TYPES, preserve_names=True, include_defaults=True) == {
        "@type": "type.googleapis.com/wk.Inner", "id": 1, "big": "0", "display_name": ""}


ANY_READ_ERRORS = [
    ({"id": 1}, "needs an \"@type\""),
    ({"@type": 5}, "needs an \"@type\""),
    ({"@type": "wk.Inner"}, "not of the form"),
    ({"@type": "type.googleapis.com/"}, "not of the form"),
    ({"@type": "type.googleapis.com/wk.Missing"}, "not in the type registry"),
    ({"@type": "type.googleapis.com/wk.Inner", "nosuch": 1}, "no field"),
    ({"@type": "type.googleapis.com/wk.Inner", "id": "x"}, "not a number"),
    ({"@type": "type.googleapis.com/google.protobuf.Duration"}, "needs \"value\""),
    ({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1s", "x": 1},
     "takes only"),
    ({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1"}, "duration"),
    ([], "expected an object"),
]


@pytest.mark.parametrize("value, reason", ANY_READ_ERRORS)
def test_any_read_errors(value, reason):
    with pytest.raises(JsonError) as caught:
        wjson.from_dict(Holder, {"payload": value}, type_registry=TYPES)
    assert caught.value.path.startswith("wk.Holder.payload")
    assert reason in caught.value.reason


def test_any_unknown_field_ignored_on_request():
    value = {"payload": {"@type": "type.googleapis.com/wk.Inner", "id": 1, "nosuch": 2}}
    msg = wjson.from_dict(Holder, value, type_registry=TYPES, ignore_unknown=True)
    assert msg.payload == pack(Inner(id=1))


@pytest.mark.parametrize("msg, reason", [
    (pack(Inner(id=1)), None),                          # no registry at all
    (Any(type_url=type_url(Inner), value=b"\xff"), "does not decode"),
    (Any(value=b"\x08\x01"), "no type_url"),
    (Any(type_url="nourl", value=b""), "not of the form"),
])
def test_any_write_errors(msg, reason):
    registry = TYPES if reason else None
    with pytest.raises(JsonError, match=reason or "type registry"):
        wjson.to_json(msg, type_registry=registry)


def test_registry_giving_the_wrong_class():
    with pytest.raises(JsonError, match="gave"):
        wjson.to_json(pack(Inner()), type_registry={"wk.Inner": Holder})


# --- Empty -------------------------------------------------------------------


def test_empty_is_an_empty_object():
    assert wjson.to_dict(Empty()) == {}
    assert wjson.from_json(Empty, "{}") == Empty()
    assert wjson.to_dict(Holder(nothing=Empty())) == {"nothing": {}}
    with pytest.raises(JsonError):
        wjson.from_json(Empty, '{"x": 1}')


# --- all together, in a field ------------------------------------------------


def test_holder_round_trip():
    msg = Holder(
        when=Timestamp(seconds=1, nanos=2), timeout=Duration(seconds=-4),
        mask=FieldMask(paths=["a.b_c"]), details=wjson.from_dict(Struct, {"k": [1.0]}),
        value=Value(string_value="v"), values=ListValue(values=[Value(bool_value=True)]),
        payload=pack(Duration(seconds=3)), nothing=Empty(), count=Int32Value(value=9),
        name=StringValue(value=""), when_list=[Timestamp(), Timestamp(seconds=60)],
    )
    written = wjson.to_dict(msg, type_registry=TYPES)
    assert written == {
        "when": "1970-01-01T00:00:01.000000002Z", "timeout": "-4s", "mask": "a.bC",
        "details": {"k": [1.0]}, "value": "v", "values": [True],
        "payload": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"},
        "nothing": {}, "count": 9, "name": "",
        "whenList": ["1970-01-01T00:00:00Z", "1970-01-01T00:01:00Z"],
    }
    assert wjson.from_dict(Holder, written, type_registry=TYPES) == msg
