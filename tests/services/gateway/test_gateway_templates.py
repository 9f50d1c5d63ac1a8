"""Path templates: the grammar of google/api/http.proto's HttpRule comment, row by row."""

import pytest

from services.gateway.templates import LITERAL, MULTI, SINGLE, PathError, TemplateError, parse_template

# template, request path, the variables it gives (None: no match)
MATCHES = [
    # Segment = LITERAL
    ("/v1/example/echo", "/v1/example/echo", {}),
    ("/v1/example/echo", "/v1/example/echo/", None),
    ("/v1/example/echo", "/v1/example", None),
    # "{var}" is equivalent to "{var=*}": one non-empty segment
    ("/v1/messages/{message_id}", "/v1/messages/123456", {"message_id": "123456"}),
    ("/v1/messages/{message_id}", "/v1/messages/", None),
    ("/v1/messages/{message_id}", "/v1/messages/1/2", None),
    ("/v1/messages/{message_id=*}", "/v1/messages/abc", {"message_id": "abc"}),
    # FieldPath = IDENT { "." IDENT }  (http.proto: `sub.subfield` is url-mapped)
    ("/v1/messages/{message_id}/{sub.subfield}", "/v1/messages/123456/foo",
     {"message_id": "123456", "sub.subfield": "foo"}),
    # Variable = "{" FieldPath "=" Segments "}": several segments, literals kept
    ("/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books/2", {"name": "shelves/1/books/2"}),
    ("/v1/{name=shelves/*/books/*}", "/v1/shelves/1/novels/2", None),
    # "**" matches zero or more segments
    ("/v1/{path=files/**}", "/v1/files/a/b/c", {"path": "files/a/b/c"}),
    ("/v1/{path=files/**}", "/v1/files", {"path": "files"}),
    ("/v1/{path=**}", "/v1/a/b", {"path": "a/b"}),
    ("/v1/static/**", "/v1/static/css/site.css", {}),
    # a bare "*" matches a segment and binds nothing
    ("/v1/mirrors/*/{path=files/**}", "/v1/mirrors/eu/files/x", {"path": "files/x"}),
    ("/v1/mirrors/*/{path=files/**}", "/v1/mirrors//files/x", None),
    # Verb = ":" LITERAL, after the last segment
    ("/v1/{name=shelves/*/books/*}:publish", "/v1/shelves/1/books/2:publish", {"name": "shelves/1/books/2"}),
    ("/v1/{name=shelves/*/books/*}:publish", "/v1/shelves/1/books/2", None),
    ("/v1/{name=shelves/*/books/*}:publish", "/v1/shelves/1/books/2:unpublish", None),
    ("/v1/books:search", "/v1/books:search", {}),
    ("/v1/{path=**}:undelete", "/v1/a/b:undelete", {"path": "a/b"}),
    # percent-decoding: a one-segment variable fully, a multi-segment one all but %2F
    ("/v1/messages/{id}", "/v1/messages/a%2Fb%20c", {"id": "a/b c"}),
    ("/v1/messages/{id}", "/v1/messages/%C3%A9t%C3%A9", {"id": "été"}),
    ("/v1/{path=files/**}", "/v1/files/a%2Fb/c%20d", {"path": "files/a%2Fb/c d"}),
    ("/v1/{path=files/**}", "/v1/files/a%2fb", {"path": "files/a%2fb"}),
    ("/v1/{name=shelves/*}", "/v1/shelves/x%3Ay", {"name": "shelves/x:y"}),
    # literals compare after decoding
    ("/v1/caf%C3%A9", "/v1/caf%c3%a9", {}),
    # not a path at all
    ("/v1/x", "v1/x", None),
]


@pytest.mark.parametrize("template, path, expected", MATCHES, ids=[f"{t} {p}" for t, p, _ in MATCHES])
def test_match(template, path, expected):
    assert parse_template(template).match(path) == expected


def test_the_parsed_form():
    template = parse_template("/v1/{name=shelves/*/books/*}:publish")
    assert [(s.kind, s.text) for s in template.segments] == [
        (LITERAL, "v1"), (LITERAL, "shelves"), (SINGLE, ""), (LITERAL, "books"), (SINGLE, "")]
    (variable,) = template.variables
    assert (variable.field_path, variable.start, variable.end) == ("name", 1, 5)
    assert variable.multi_segment and not variable.open_ended
    assert template.verb == "publish"
    assert parse_template("/v1/{path=**}").segments[-1].kind == MULTI


# template, the column (1-based) the error names, words of the reason
ERRORS = [
    ("v1/x", 1, "expected '/'"),                              # Template = "/" Segments
    ("/", 2, "expected a segment"),                           # at least one Segment
    ("/v1//x", 5, "expected a segment"),                      # no empty segment
    ("/v1/x/", 7, "expected a segment"),
    ("/v1/{a=**}/x", 8, "'**' must be the last segment"),     # "**" only last
    ("/v1/**/x", 5, "'**' must be the last segment"),
    ("/v1/{a={b}}", 8, "must not contain another variable"),  # no nested variables
    ("/v1/{1a}", 6, "expected a field name"),                 # IDENT
    ("/v1/{a.}", 8, "expected a field name"),
    ("/v1/{a", 7, "expected '}'"),
    ("/v1/{a}/{a}", 12, "bound twice"),
    ("/v1/x:", 7, "expected a verb"),                         # Verb = ":" LITERAL
    ("/v1/x:a:b", 8, "unexpected ':'"),
    ("/v1/x y", 6, "unexpected ' '"),
]


@pytest.mark.parametrize("template, column, reason", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_column(template, column, reason):
    with pytest.raises(TemplateError) as error:
        parse_template(template)
    assert reason in str(error.value)
    assert error.value.position + 1 == column, str(error.value)


def test_a_variable_that_is_not_utf8_is_a_path_error():
    with pytest.raises(PathError):
        parse_template("/v1/{id}").match("/v1/%FF")
    assert parse_template("/v1/{id}").match_segments("/v1/%FF")


def test_specificity_puts_literals_before_wildcards_and_verbs_first():
    texts = ["/v1/{path=**}", "/v1/{name=books/*}", "/v1/books/special", "/v1/{name=books/*}:get",
             "/v1/books/{id}"]
    ordered = sorted((parse_template(t) for t in texts), key=lambda t: t.specificity)
    assert [t.text for t in ordered] == [
        "/v1/books/special", "/v1/{name=books/*}:get", "/v1/{name=books/*}", "/v1/books/{id}",
        "/v1/{path=**}"]
