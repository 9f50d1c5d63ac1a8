"""Path templates of google.api.HttpRule: parsed once, matched against request paths.

Spec: googleapis google/api/http.proto, the HttpRule comment
(https://github.com/googleapis/googleapis/blob/master/google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

"The syntax `*` matches a single path segment. The syntax `**` matches zero
or more path segments, which must be the last part of the path except the
`Verb`." "A variable template must not contain other variables. If a
variable matches a single path segment, its template may be omitted, e.g.
`{var}` is equivalent to `{var=*}`."

A parsed template is a flat tuple of segments (literal, ``*`` or ``**``) and
the variables as spans over it, so that

    /v1/{name=shelves/*/books/*}:publish

is the segments ``v1 shelves * books *``, the variable ``name`` over
segments 1..5, and the verb ``publish``. Matching ``/v1/shelves/1/books/2:publish``
gives ``{"name": "shelves/1/books/2"}``.

Percent-decoding follows the same comment: a variable of one segment is
decoded completely ("the server side does the reverse decoding"); a variable
of several segments is decoded except ``%2F``, which stays as it is, so that
a slash inside a name is never confused with a slash between segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

__all__ = [
    "LITERAL",
    "SINGLE",
    "MULTI",
    "Segment",
    "Variable",
    "PathTemplate",
    "TemplateError",
    "PathError",
    "parse_template",
]

# The three kinds of segment.
LITERAL = "literal"     # matches itself (after percent-decoding the request's segment)
SINGLE = "*"            # matches exactly one segment, which must not be empty
MULTI = "**"            # matches zero or more segments: only as the last segment

SEPARATOR = "/"
VERB_SEPARATOR = ":"

# IDENT of FieldPath: a protobuf identifier.
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# LITERAL = *UriPchar (RFC 3986 pchar: unreserved / pct-encoded / sub-delims / ":" / "@"),
# less the characters the template grammar itself uses: "/", "*", "{", "}", "=" and ":".
_LITERAL = re.compile(r"[A-Za-z0-9\-._~%!$&'()+,;@]+")
# "%2F" stays encoded inside a multi-segment variable.
_ENCODED_SLASH = re.compile(r"%2[Ff]")


class TemplateError(ValueError):
    """A template that does not follow the grammar; names the column."""

    def __init__(self, template: str, position: int, reason: str) -> None:
        super().__init__(f"path template {template!r}, column {position + 1}: {reason}")
        self.template = template
        self.position = position
        self.reason = reason


class PathError(ValueError):
    """A request path that matched, but whose variable text is not UTF-8 once decoded."""


@dataclass(frozen=True)
class Segment:
    kind: str            # LITERAL, SINGLE or MULTI
    text: str = ""       # the literal's text


@dataclass(frozen=True)
class Variable:
    """A field path bound to segments ``start`` up to (not including) ``end``."""

    field_path: str
    start: int
    end: int
    multi_segment: bool  # more than one segment, or "**": "%2F" stays encoded
    open_ended: bool     # ends in "**": takes every remaining segment


@dataclass(frozen=True)
class PathTemplate:
    text: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None = None

    @property
    def field_paths(self) -> tuple[str, ...]:
        return tuple(variable.field_path for variable in self.variables)

    @property
    def specificity(self) -> tuple:
        """A sort key: templates that match fewer paths come first.

        Segment by segment, a literal beats ``*`` and ``*`` beats ``**``; so
        ``/v1/books:search`` is tried before ``/v1/{name=books/*}`` would
        swallow it, and ``/v1/files/readme`` before ``/v1/files/**``.
        """
        rank = {LITERAL: 0, SINGLE: 1, MULTI: 2}
        return tuple(rank[segment.kind] for segment in self.segments), self.verb is None

    def match(self, path: str) -> dict[str, str] | None:
        """The variables' values if ``path`` (percent-encoded, no query) matches, else None.

        Raises PathError if a variable's decoded bytes are not UTF-8.
        """
        if not self.match_segments(path):
            return None
        parts = self._path_segments(path)
        return {variable.field_path: _variable_value(variable, parts)
                for variable in self.variables}

    def match_segments(self, path: str) -> bool:
        """Whether ``path`` matches, without decoding the variables (never raises)."""
        parts = self._path_segments(path)
        return parts is not None and self._segments_match(parts)

    def _path_segments(self, path: str) -> list[str] | None:
        """The request path split into segments, the verb (if ours) cut off."""
        if not path.startswith(SEPARATOR):
            return None
        path = path[len(SEPARATOR):]
        if self.verb is not None:
            suffix = VERB_SEPARATOR + self.verb
            if not path.endswith(suffix):
                return None
            path = path[:-len(suffix)]
        return path.split(SEPARATOR)

    def _segments_match(self, parts: list[str]) -> bool:
        segments = self.segments
        open_ended = segments[-1].kind == MULTI
        fixed = segments[:-1] if open_ended else segments
        if len(parts) < len(fixed) or (not open_ended and len(parts) != len(fixed)):
            return False
        return all(_segment_matches(segment, part) for segment, part in zip(fixed, parts))

    def __str__(self) -> str:
        return self.text


def _segment_matches(segment: Segment, part: str) -> bool:
    if segment.kind == SINGLE:
        return part != ""
    return _decode(part, keep_slash=False, strict=False) == segment.text


def _variable_value(variable: Variable, parts: list[str]) -> str:
    end = len(parts) if variable.open_ended else variable.end   # "**" takes the rest
    raw = SEPARATOR.join(parts[variable.start:end])
    return _decode(raw, keep_slash=variable.multi_segment, strict=True)


def _decode(raw: str, *, keep_slash: bool, strict: bool) -> str:
    """Percent-decode ``raw`` (UTF-8); with ``keep_slash``, "%2F" is left encoded."""
    if keep_slash:
        pieces = _ENCODED_SLASH.split(raw)
        slashes = _ENCODED_SLASH.findall(raw)
        decoded = [_decode(piece, keep_slash=False, strict=strict) for piece in pieces]
        return "".join(piece + slash for piece, slash in zip(decoded, slashes + [""]))
    data = unquote_to_bytes(raw)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if strict:
            raise PathError(f"path segment {raw!r} is not UTF-8 once percent-decoded") from None
        return data.decode("utf-8", "replace")


# --- the parser ---------------------------------------------------------------


def parse_template(text: str) -> PathTemplate:
    """A PathTemplate from its text, or TemplateError naming the column."""
    return _Parser(text).template()


class _Parser:
    """Recursive descent, one method per production of the grammar above."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.segments: list[Segment] = []
        self.variables: list[Variable] = []

    def fail(self, reason: str) -> TemplateError:
        return TemplateError(self.text, self.pos, reason)

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def expect(self, token: str) -> None:
        if not self.peek(token):
            found = self.text[self.pos:self.pos + 1] or "the end"
            raise self.fail(f"expected {token!r}, found {found!r}")
        self.pos += len(token)

    # Template = "/" Segments [ Verb ] ;
    def template(self) -> PathTemplate:
        self.expect(SEPARATOR)
        self.segments_(inside_variable=False)
        verb = None
        if self.peek(VERB_SEPARATOR):
            self.pos += len(VERB_SEPARATOR)
            verb = self.literal("verb")
        if self.pos != len(self.text):
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        self.check_multi_is_last()
        return PathTemplate(self.text, tuple(self.segments), tuple(self.variables), verb)

    # Segments = Segment { "/" Segment } ;
    def segments_(self, *, inside_variable: bool) -> None:
        self.segment(inside_variable=inside_variable)
        while self.peek(SEPARATOR):
            self.pos += len(SEPARATOR)
            self.segment(inside_variable=inside_variable)

    # Segment = "*" | "**" | LITERAL | Variable ;
    def segment(self, *, inside_variable: bool) -> None:
        if self.peek(MULTI):
            self.pos += len(MULTI)
            self.segments.append(Segment(MULTI))
        elif self.peek(SINGLE):
            self.pos += len(SINGLE)
            self.segments.append(Segment(SINGLE))
        elif self.peek("{"):
            if inside_variable:
                raise self.fail("a variable's template must not contain another variable")
            self.variable()
        else:
            self.segments.append(Segment(LITERAL, _decode(self.literal("segment"),
                                                          keep_slash=False, strict=False)))

    # Variable = "{" FieldPath [ "=" Segments ] "}" ;
    def variable(self) -> None:
        self.expect("{")
        field_path = self.field_path()
        start = len(self.segments)
        if self.peek("="):
            self.pos += 1
            self.segments_(inside_variable=True)
        else:
            self.segments.append(Segment(SINGLE))     # {var} is {var=*}
        self.expect("}")
        end = len(self.segments)
        open_ended = self.segments[end - 1].kind == MULTI
        if field_path in (variable.field_path for variable in self.variables):
            raise self.fail(f"field {field_path!r} is bound twice")
        self.variables.append(Variable(field_path, start, end, end - start > 1 or open_ended,
                                       open_ended))

    # FieldPath = IDENT { "." IDENT } ;
    def field_path(self) -> str:
        names = [self.ident()]
        while self.peek("."):
            self.pos += 1
            names.append(self.ident())
        return ".".join(names)

    def ident(self) -> str:
        found = _IDENT.match(self.text, self.pos)
        if found is None:
            raise self.fail("expected a field name")
        self.pos = found.end()
        return found.group()

    def literal(self, what: str) -> str:
        found = _LITERAL.match(self.text, self.pos)
        if found is None:
            shown = self.text[self.pos:self.pos + 1] or "the end"
            raise self.fail(f"expected a {what} (letters, digits, -._~ and the like), found {shown!r}")
        self.pos = found.end()
        return found.group()

    def check_multi_is_last(self) -> None:
        if any(segment.kind == MULTI for segment in self.segments[:-1]):
            raise TemplateError(self.text, self.text.find(MULTI),
                                "'**' must be the last segment (only a verb may follow it)")
