"""Transcoding: an HTTP request into a request message, a response message into JSON.

Spec: googleapis google/api/http.proto, HttpRule, "Rules for HTTP mapping":

    1. The `body` field specifies either `*` or a field path, or is omitted.
       If omitted, it indicates there is no HTTP request body.
    2. Leaf fields (recursive expansion nested messages in the request message)
       are classified into three categories:
       (a) Matched in the URL template.
       (b) Covered by body (if body is `*`, everything except (a) fields;
           else everything under the body field)
       (c) All other fields.
    3. URL query parameters found in the HTTP request are mapped to (c) fields.
    4. Any body sent with an HTTP request can contain only (b) fields.

and the proto3 JSON mapping (https://protobuf.dev/programming-guides/json/),
which wire.json implements, for the body and the response.

How a request message is put together
-------------------------------------
Each part of the HTTP request becomes a small message of the request type:
the body, each query parameter, each path variable. The request is their
concatenation, decoded once:

    request = Request.decode(body.encode() + query_1.encode() + ... + path_n.encode())

which is protobuf's own merge ("Last One Wins" for scalars, concatenation for
repeated fields: https://protobuf.dev/programming-guides/encoding/#last-one-wins).
So a repeated query parameter (``?tag=a&tag=b``) appends, and a path variable,
coming last, wins over the same field in the body: ``PATCH /v1/{book.name=...}``
with ``body: "book"`` takes the name from the URL, whatever the JSON says.

Query parameter values are text; each is turned into the JSON value its
field's ProtoJSON form takes (numbers and bytes are accepted as strings
there already; ``true``/``false`` and enum numbers need a word), so that one
parser, wire.json, checks every value the same way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from rpc import StatusCode
from wire import FieldSchema, FieldType, JsonError, Message, message_class
from wire import json as wire_json

from . import fieldpaths
from .errors import GatewayError
from .rules import BODY_ALL, Binding

__all__ = [
    "JsonOptions",
    "MAX_QUERY_PARAMETERS",
    "request_message",
    "response_json",
    "encode_json",
    "text_to_json",
]

# At most this many name=value pairs in one query string (urllib's max_num_fields).
MAX_QUERY_PARAMETERS = 1000

# Messages whose ProtoJSON form is a string (or a scalar), so a query
# parameter or path variable may name the message field itself:
# ?start_time=2024-01-01T00:00:00Z, ?ttl=1.5s, ?update_mask=title,author, ?count=3.
STRING_FORM_MESSAGES = frozenset({
    "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
    "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
    "google.protobuf.Int64Value", "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
})
BOOL_VALUE_MESSAGE = "google.protobuf.BoolValue"
BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False}
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class JsonOptions:
    """How strictly JSON is read and how fully it is written.

    ``ignore_unknown``: drop body fields and query parameters the request
    type does not have, instead of a 400. ``include_defaults`` and
    ``preserve_names`` are wire.json.to_dict's options for responses.
    """

    ignore_unknown: bool = False
    include_defaults: bool = False
    preserve_names: bool = False


DEFAULT_JSON_OPTIONS = JsonOptions()


def _bad_request(message: str) -> GatewayError:
    return GatewayError(StatusCode.INVALID_ARGUMENT, message)


# --- the request -----------------------------------------------------------------


def request_message(binding: Binding, variables: dict[str, str], query: str, body: bytes,
                    options: JsonOptions = DEFAULT_JSON_OPTIONS) -> Message:
    """The request message for one HTTP request, or GatewayError (400) naming the bad part."""
    cls = binding.method.request_class
    pieces: list[Message] = []
    if binding.body:
        pieces.append(_body_message(binding, body, options))
    pieces.extend(_query_messages(binding, query, options))
    pieces.extend(_path_messages(binding, variables))
    return cls.decode(b"".join(piece.encode() for piece in pieces))


def _body_message(binding: Binding, body: bytes, options: JsonOptions) -> Message:
    """The body, as a request message: rule 4, only (b) fields."""
    cls = binding.method.request_class
    if not body.strip():
        return cls()            # no body at all: nothing set, as an empty JSON object would
    try:
        value = wire_json.loads(body)
    except JsonError as error:
        raise _bad_request(f"invalid JSON body: {error.reason}") from None
    if binding.body != BODY_ALL:
        value = {binding.body_field.name: value}
    try:
        message = wire_json.from_dict(cls, value, ignore_unknown=options.ignore_unknown)
    except JsonError as error:
        raise _bad_request(f"invalid JSON body: {error}") from None
    for fields in binding.path_fields.values():
        _clear(message, fields)   # the URL wins: its value, even a default one, stands
    return message


def _clear(message: Message, fields: tuple[FieldSchema, ...]) -> None:
    """Set the field at the end of ``fields`` back to its default, if the path is there."""
    for field in fields[:-1]:
        message = getattr(message, field.name)
        if message is None:
            return
    leaf = fields[-1].name
    setattr(message, leaf, getattr(type(message)(), leaf))


def _query_messages(binding: Binding, query: str, options: JsonOptions) -> list[Message]:
    """One message per query parameter name: rule 3, only (c) fields."""
    grouped = _parse_query(query)
    if grouped and binding.body == BODY_ALL:
        names = ", ".join(grouped)
        raise _bad_request(f"query parameters ({names}) are not allowed here: "
                           f"body \"*\" maps every field not in the path to the body")
    schema = binding.method.request_class._schema
    messages = []
    for name, values in grouped.items():
        try:
            fields = fieldpaths.resolve(schema, name, json_names=True)
        except fieldpaths.FieldPathError as error:
            if options.ignore_unknown:
                continue
            raise _bad_request(f"query parameter {name!r}: {error}") from None
        _check_query_field(binding, name, fields, len(values))
        messages.append(_leaf_message(binding, fields, values, f"query parameter {name!r}"))
    return messages


def _parse_query(query: str) -> dict[str, list[str]]:
    """name -> values, in order; "+" is a space, as in HTML forms."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_QUERY_PARAMETERS)
    except UnicodeDecodeError:
        raise _bad_request("the query string is not UTF-8 once percent-decoded") from None
    except ValueError:
        raise _bad_request(f"more than {MAX_QUERY_PARAMETERS} query parameters") from None
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _check_query_field(binding: Binding, name: str, fields: tuple[FieldSchema, ...],
                       count: int) -> None:
    if binding.body_field is not None and fields[0] is binding.body_field:
        raise _bad_request(f"query parameter {name!r} is inside the body field "
                           f"{binding.body_field.name!r}: send it in the body")
    names = tuple(field.name for field in fields)
    for bound in binding.path_fields.values():
        if tuple(field.name for field in bound) == names:
            raise _bad_request(f"query parameter {name!r} is bound by the URL path")
    leaf = fields[-1]
    if leaf.is_map:
        raise _bad_request(f"query parameter {name!r} names a map field, which a query "
                           f"string cannot set")
    if count > 1 and not leaf.repeated:
        raise _bad_request(f"query parameter {name!r} is given {count} times, "
                           f"but {leaf.name} is not repeated")


def _path_messages(binding: Binding, variables: dict[str, str]) -> list[Message]:
    """One message per path variable: the (a) fields."""
    return [_leaf_message(binding, binding.path_fields[path], [text], f"path variable {{{path}}}")
            for path, text in variables.items()]


def _leaf_message(binding: Binding, fields: tuple[FieldSchema, ...], texts: list[str],
                  what: str) -> Message:
    """A request message with only the field at the end of ``fields`` set, from text."""
    leaf = fields[-1]
    try:
        values = [text_to_json(leaf, text) for text in texts]
    except ValueError as error:
        raise _bad_request(f"{what}: {error}") from None
    value: Any = values if leaf.repeated else values[0]
    for field in reversed(fields):
        value = {field.name: value}
    try:
        return wire_json.from_dict(binding.method.request_class, value)
    except JsonError as error:
        raise _bad_request(f"{what}: {error.reason}") from None


def text_to_json(field: FieldSchema, text: str) -> Any:
    """The JSON value that ``text``, from a URL, stands for in ``field``'s ProtoJSON form."""
    if field.type == FieldType.BOOL:
        return _bool(text)
    if field.type == FieldType.ENUM:
        return int(text) if _INTEGER.fullmatch(text) else text   # a number or a name
    if fieldpaths.is_message(field):
        type_name = field.message_type.full_name
        if type_name == BOOL_VALUE_MESSAGE:
            return _bool(text)
        if type_name not in STRING_FORM_MESSAGES:
            raise ValueError(f"{field.name} is a message ({type_name}): name one of its "
                             f"fields instead ({field.name}.<field>=...)")
    return text   # strings as they are; numbers and base64 bytes are ProtoJSON strings too


def _bool(text: str) -> bool:
    try:
        return BOOL_WORDS[text]
    except KeyError:
        raise ValueError(f"expected true or false, got {text!r}") from None


# --- the response ----------------------------------------------------------------


def response_json(binding: Binding, response: Message, options: JsonOptions = DEFAULT_JSON_OPTIONS,
                  type_registry: Any = None) -> Any:
    """The JSON value of the response, or of its ``response_body`` field.

    The field's value is written even at its default (an empty list, 0, ""),
    since a body must say something: an unset message field is written as
    its default, the JSON of an empty message.
    """
    field = binding.response_field
    if field is None:
        return _to_dict(response, options, type_registry)
    value = getattr(response, field.name)
    if fieldpaths.is_message(field) and not field.repeated:
        message = value if value is not None else message_class(field.message_type)()
        return _to_dict(message, options, type_registry)
    alone = type(response)(**{field.name: value})
    if field.repeated:       # a list or a map, of messages perhaps: keep the caller's options
        written = wire_json.to_dict(alone, include_defaults=options.include_defaults,
                                    preserve_names=True, type_registry=type_registry)
        return written.get(field.name, {} if field.is_map else [])
    written = wire_json.to_dict(alone, include_defaults=True, preserve_names=True)
    return written.get(field.name)     # None (JSON null) for an unset proto3 optional


def _to_dict(message: Message, options: JsonOptions, type_registry: Any) -> Any:
    return wire_json.to_dict(message, include_defaults=options.include_defaults,
                             preserve_names=options.preserve_names, type_registry=type_registry)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as grpc-gateway writes it: ``{"value":"hi"}``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")
