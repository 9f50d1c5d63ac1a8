"""Bindings: which HTTP verb and path reach which method, and the router over them.

Spec: googleapis google/api/http.proto, HttpRule
(https://github.com/googleapis/googleapis/blob/master/google/api/http.proto).
One ``option (google.api.http)`` gives a method one binding, and one more per
entry of ``additional_bindings`` ("Nested bindings must not contain an
`additional_bindings` field themselves"). A binding is

    verb       get/put/post/delete/patch, or custom {kind, path} ("*" = any verb)
    template   the path template (templates.py)
    body       "" (no body: the rest comes from the query), "*" (every field not
               in the path), or a top-level request field
    response_body  "" (the whole response) or a top-level response field

Everything a rule says is checked when the gateway starts (``RuleError``),
not when the first request arrives: template variables must name singular
fields of primitive type ("Fields mapped to the path pattern cannot be
repeated and must have a primitive (non-message) type"), ``body`` and
``response_body`` top-level fields ("must be present at the top-level").

The router tries the bindings from the most specific template to the least
(``PathTemplate.specificity``). A path that no template matches is a 404; a
path that some template matches, but only for other verbs, is a 405 with an
``Allow`` header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from rpc import StatusCode
from wire import FieldSchema, MessageSchema

from . import fieldpaths
from .errors import GatewayError
from .templates import PathError, PathTemplate, TemplateError, parse_template

__all__ = [
    "HTTP_RULE_OPTION",
    "ANY_VERB",
    "BODY_ALL",
    "Binding",
    "Route",
    "Router",
    "RuleError",
    "bindings_of",
]

HTTP_RULE_OPTION = "google.api.http"   # the MethodOptions extension, google/api/annotations.proto
ANY_VERB = "*"                          # custom { kind: "*" }: "leave the HTTP method unspecified"
BODY_ALL = "*"                          # body: "*": every field not bound by the path
PATTERN_VERBS = ("get", "put", "post", "delete", "patch")   # the oneof pattern, less custom
VERBS_WITHOUT_BODY = ("GET",)           # RFC 9110 §9.3.1: a GET body has no defined meaning


class RuleError(ValueError):
    """An HttpRule the gateway cannot serve: says which method and why."""


@dataclass(frozen=True, eq=False)
class Binding:
    """One (verb, template) pair of a method, with the fields it names resolved."""

    verb: str
    template: PathTemplate
    body: str
    response_body: str
    method: Any                                   # wire.idl Method
    path_fields: dict[str, tuple[FieldSchema, ...]] = field(default_factory=dict)
    body_field: FieldSchema | None = None
    response_field: FieldSchema | None = None

    def __str__(self) -> str:
        return f"{self.verb} {self.template} -> {self.method.path}"


@dataclass(frozen=True)
class Route:
    """What the router found: the binding and the text of its path variables."""

    binding: Binding
    variables: dict[str, str]


def bindings_of(method: Any) -> list[Binding]:
    """The bindings a method's ``google.api.http`` option gives it (none without one)."""
    rule = method.options.get(HTTP_RULE_OPTION)
    if rule is None:
        return []
    bindings = [_binding(method, rule)]
    for extra in rule.additional_bindings:
        if extra.additional_bindings:
            raise RuleError(f"{method.full_name}: additional_bindings nest only one level deep")
        bindings.append(_binding(method, extra))
    return bindings


def _binding(method: Any, rule: Any) -> Binding:
    verb, text = _pattern(method, rule)
    try:
        template = parse_template(text)
    except TemplateError as error:
        raise RuleError(f"{method.full_name}: {error}") from None
    request = method.request_class._schema
    if rule.body and verb in VERBS_WITHOUT_BODY:
        raise RuleError(f"{method.full_name}: a {verb} rule cannot have a body")
    return Binding(
        verb=verb, template=template, body=rule.body, response_body=rule.response_body,
        method=method,
        path_fields={path: _path_field(method, request, path) for path in template.field_paths},
        body_field=_top_level(method, request, rule.body, "body") if rule.body != BODY_ALL else None,
        response_field=_top_level(method, method.response_class._schema, rule.response_body,
                                  "response_body"),
    )


def _pattern(method: Any, rule: Any) -> tuple[str, str]:
    """(verb, template text) from the rule's ``pattern`` oneof."""
    for verb in PATTERN_VERBS:
        text = getattr(rule, verb)
        if text is not None:
            return verb.upper(), text
    if rule.custom is not None:
        if not rule.custom.kind:
            raise RuleError(f"{method.full_name}: a custom pattern needs a kind")
        return rule.custom.kind, rule.custom.path    # as written: methods are case-sensitive
    raise RuleError(f"{method.full_name}: the HttpRule sets none of get, put, post, delete, "
                    f"patch or custom")


def _path_field(method: Any, request: MessageSchema, path: str) -> tuple[FieldSchema, ...]:
    try:
        fields = fieldpaths.resolve(request, path)
    except fieldpaths.FieldPathError as error:
        raise RuleError(f"{method.full_name}: path variable {{{path}}}: {error}") from None
    leaf = fields[-1]
    if leaf.repeated or fieldpaths.is_message(leaf):
        raise RuleError(f"{method.full_name}: path variable {{{path}}} must name a singular "
                        f"field of primitive type, and {leaf.name} is not one")
    return fields


def _top_level(method: Any, schema: MessageSchema, name: str, what: str) -> FieldSchema | None:
    if not name:
        return None
    for candidate in schema.fields:
        if candidate.name == name:
            return candidate
    raise RuleError(f"{method.full_name}: {what} {name!r} is not a top-level field of "
                    f"{schema.full_name}")


class Router:
    """The bindings of every method, searched most specific template first."""

    def __init__(self, bindings: Iterable[Binding]) -> None:
        self.bindings = sorted(bindings, key=lambda binding: binding.template.specificity)
        _refuse_duplicates(self.bindings)

    @classmethod
    def for_services(cls, services: Iterable[Any]) -> "Router":
        """A router over every annotated method of ``services`` (wire.idl Service objects)."""
        return cls(binding for service in services for method in service.methods.values()
                   for binding in bindings_of(method))

    def route(self, verb: str, path: str) -> Route:
        """The binding for ``verb path``, or GatewayError (404, 405, or 400 for bad UTF-8)."""
        allowed = []
        for binding in self.bindings:
            if binding.verb not in (verb, ANY_VERB):
                if binding.template.match_segments(path):
                    allowed.append(binding.verb)
                continue
            try:
                variables = binding.template.match(path)
            except PathError as error:
                raise GatewayError(StatusCode.INVALID_ARGUMENT, str(error)) from None
            if variables is not None:
                return Route(binding, variables)
        if allowed:
            allow = ", ".join(dict.fromkeys(allowed))
            raise GatewayError(StatusCode.UNIMPLEMENTED,
                               f"method {verb} is not allowed on {path} (allowed: {allow})",
                               http_status=405, headers=(("Allow", allow),))
        raise GatewayError(StatusCode.NOT_FOUND, f"no rule matches {verb} {path}",
                           http_status=404)


def _refuse_duplicates(bindings: list[Binding]) -> None:
    seen: dict[tuple[str, str], Binding] = {}
    for binding in bindings:
        key = (binding.verb, binding.template.text)
        if key in seen:
            raise RuleError(f"{binding.method.full_name} and {seen[key].method.full_name} "
                            f"both bind {binding.verb} {binding.template}")
        seen[key] = binding
