"""The lexer against the lexical elements of the proto3 spec
(https://protobuf.dev/reference/protobuf/proto3-spec/#lexical-elements)."""


import pytest

from wire.idl import ProtoSyntaxError
from wire.idl.lexer import TokenKind, tokenize


def values(text):
    return [(t.kind, t.value) for t in tokenize(text)[:-1]]


@pytest.mark.parametrize("text, kind, value", [
    ("0", TokenKind.INT, 0),
    ("42", TokenKind.INT, 42),            # decimalLit
    ("0x1F", TokenKind.INT, 31),          # hexLit
    ("0XfF", TokenKind.INT, 255),
    ("017", TokenKind.INT, 15),           # octalLit
    ("1.5", TokenKind.FLOAT, 1.5),        # decimals "." decimals
    ("1.", TokenKind.FLOAT, 1.0),         # decimals "." (no fraction)
    (".5", TokenKind.FLOAT, 0.5),         # "." decimals
    ("1e3", TokenKind.FLOAT, 1000.0),     # decimals exponent
    ("2.5E-2", TokenKind.FLOAT, 0.025),
    ("1e+2", TokenKind.FLOAT, 100.0),
])
def test_numbers(text, kind, value):
    assert values(text) == [(kind, value)]


def test_inf_and_nan_are_identifiers_for_the_parser():
    assert values("inf nan") == [(TokenKind.IDENT, "inf"), (TokenKind.IDENT, "nan")]


def test_sign_is_its_own_token():
    assert values("-5") == [(TokenKind.SYMBOL, None), (TokenKind.INT, 5)]


@pytest.mark.parametrize("text, raw", [
    (r'"plain"', b"plain"),
    (r"'single'", b"single"),
    (r'"\a\b\f\n\r\t\v\\\'\"\?"', b"\a\b\f\n\r\t\v\\'\"?"),   # charEscape
    (r'"\x41\x4"', b"A\x04"),                                 # hexEscape, 1 or 2 digits
    (r'"\101\0\12"', b"A\x00\n"),                             # octEscape, 1 to 3 digits
    (r'"\u00e9"', "é".encode()),                              # unicodeEscape
    (r'"\U0001F600"', "😀".encode()),                         # unicodeLongEscape
    ('"é"', "é".encode()),                                    # UTF-8 as is
])
def test_string_escapes(text, raw):
    assert values(text) == [(TokenKind.STRING, raw)]


def test_positions_are_one_based_lines_and_columns():
    tokens = tokenize("syntax\n  = 'x';")
    assert [(t.text, t.line, t.column) for t in tokens[:3]] == [
        ("syntax", 1, 1), ("=", 2, 3), ("'x'", 2, 5)]


def test_leading_comments_attach_to_the_next_token():
    tokens = tokenize("// detached\n\n// one\n/* two */\nmessage // trailing\nM")
    assert tokens[0].leading_comments == "one\ntwo\n"
    assert tokens[1].leading_comments == ""      # the trailing comment is not leading


@pytest.mark.parametrize("text, reason", [
    ('"open', "not closed"),
    ('"a\nb"', "not closed"),
    ("/* never", "never closed"),
    ("0x", "hex digits"),
    ("09", "octal"),
    ("1e", "exponent"),
    ("12abc", "followed by"),
    (r'"\q"', "invalid escape"),
    (r'"\777"', "larger than a byte"),
    (r'"\ud800"', "not a valid code point"),
    (r'"\u12"', "4 hex digits"),
    ("@", "unexpected character"),
])
def test_lexical_errors(text, reason):
    with pytest.raises(ProtoSyntaxError) as caught:
        tokenize(text, "bad.proto")
    assert reason in caught.value.reason
    assert caught.value.file == "bad.proto"


