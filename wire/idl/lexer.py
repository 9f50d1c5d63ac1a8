"""The lexer: .proto text in, tokens out.

Spec: https://protobuf.dev/reference/protobuf/proto3-spec/#lexical-elements
(and the same section of the proto2 spec, which adds nothing new).

    ident      = letter { letter | decimalDigit | "_" }
    intLit     = decimalLit | octalLit | hexLit
    decimalLit = ( "1" ... "9" ) { decimalDigit }
    octalLit   = "0" { octalDigit }
    hexLit     = "0" ( "x" | "X" ) hexDigit { hexDigit }
    floatLit   = ( decimals "." [ decimals ] [ exponent ] | decimals exponent
                 | "." decimals [ exponent ] ) | "inf" | "nan"
    exponent   = ( "e" | "E" ) [ "+" | "-" ] decimals
    strLit     = ( "'" { charValue } "'" ) | ( '"' { charValue } '"' )
    charValue  = hexEscape | octEscape | charEscape | unicodeEscape
               | unicodeLongEscape | /[^\\0\\n\\\\]/

The spec's letter includes "_" at the start of a name, as protoc does. The
sign of a number is a token of its own ("-"), and so are "inf" and "nan"
(identifiers): the parser puts them together, since only it knows whether a
constant is expected. Keywords are identifiers too: ``syntax``, ``package``
and ``message`` are legal field names, so the parser decides by context.

Comments are not thrown away. Each token carries the comment block written
just above it (``leading_comments``), the rule protoc uses for the comments it
keeps in SourceCodeInfo: the comments after the previous token's line, with a
blank line cutting off anything above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Position, ProtoSyntaxError

__all__ = ["Token", "TokenKind", "tokenize"]


class TokenKind:
    """The kinds of token; plain strings so that a token prints readably."""

    IDENT = "identifier"
    INT = "integer"
    FLOAT = "number"
    STRING = "string"
    SYMBOL = "symbol"
    EOF = "end of file"


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``value`` is the int, float or bytes a literal stands for."""

    kind: str
    text: str
    value: object
    line: int
    column: int
    leading_comments: str = ""

    def describe(self) -> str:
        """How an error message shows this token."""
        if self.kind == TokenKind.EOF:
            return "end of file"
        return repr(self.text)


SYMBOLS = frozenset("{}[]()<>;,.=-+:/")
LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
DIGITS = frozenset("0123456789")
OCTAL_DIGITS = frozenset("01234567")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
IDENT_CHARS = LETTERS | DIGITS
WHITESPACE = frozenset(" \t\r\n\f\v")

# charEscape = '\' ( "a" | "b" | "f" | "n" | "r" | "t" | "v" | '\' | "'" | '"' )
# protoc also takes "\?" (from C).
SIMPLE_ESCAPES = {
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09,
    "v": 0x0B, "\\": 0x5C, "'": 0x27, '"': 0x22, "?": 0x3F,
}
HEX_ESCAPE_MAX_DIGITS = 2          # hexEscape = '\' ("x"|"X") hexDigit [hexDigit]
OCTAL_ESCAPE_MAX_DIGITS = 3        # octEscape = '\' octalDigit [octalDigit [octalDigit]]
UNICODE_ESCAPE_DIGITS = {"u": 4, "U": 8}   # \uXXXX and \UXXXXXXXX
MAX_CODE_POINT = 0x10FFFF
SURROGATES = range(0xD800, 0xE000)
MAX_OCTAL_BYTE = 0o377


def tokenize(text: str, file: str = "<string>") -> list[Token]:
    """All tokens of ``text``, ending with an EOF token; ProtoSyntaxError if bad."""
    return _Lexer(text, file).run()


class _Lexer:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.comments: list[str] = []       # the block being gathered for the next token
        self.last_token_line = 0

    # -- helpers -----------------------------------------------------------

    def fail(self, reason: str, pos: int | None = None) -> ProtoSyntaxError:
        pos = self.pos if pos is None else pos
        line_start = self.text.rfind("\n", 0, pos) + 1
        line = self.text.count("\n", 0, pos) + 1
        return ProtoSyntaxError(Position(self.file, line, pos - line_start + 1), reason)

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def column(self, pos: int) -> int:
        return pos - self.line_start + 1

    def newline(self) -> None:
        self.line += 1
        self.line_start = self.pos

    # -- the main loop -----------------------------------------------------

    def run(self) -> list[Token]:
        if self.text.startswith("\ufeff"):      # a UTF-8 byte order mark
            self.pos = 1
            self.line_start = 1
        while True:
            self.skip_space_and_comments()
            if self.pos >= len(self.text):
                self.emit(TokenKind.EOF, "", None, self.pos)
                return self.tokens
            self.read_token()

    def emit(self, kind: str, text: str, value: object, start: int) -> None:
        comments = "".join(self.comments)
        self.tokens.append(Token(kind, text, value, self.line, self.column(start), comments))
        self.comments = []
        self.last_token_line = self.line

    def read_token(self) -> None:
        char = self.text[self.pos]
        if char in LETTERS:
            self.read_identifier()
        elif char in DIGITS or (char == "." and self.peek(1) in DIGITS and self.peek(1)):
            self.read_number()
        elif char in "\"'":
            self.read_string()
        elif char in SYMBOLS:
            self.pos += 1
            self.emit(TokenKind.SYMBOL, char, None, self.pos - 1)
        else:
            raise self.fail(f"unexpected character {char!r}")

    # -- whitespace and comments -------------------------------------------

    def skip_space_and_comments(self) -> None:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\n":
                self.pos += 1
                self.blank_line_check()
                self.newline()
            elif char in WHITESPACE:
                self.pos += 1
            elif text.startswith("//", self.pos):
                self.read_line_comment()
            elif text.startswith("/*", self.pos):
                self.read_block_comment()
            else:
                return

    def blank_line_check(self) -> None:
        """A blank line detaches the comments above it from the next token."""
        rest_of_line = self.text[self.line_start:self.pos - 1]
        if not rest_of_line.strip():
            self.comments = []

    def read_line_comment(self) -> None:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        body = self.text[self.pos + 2:end]
        self.pos = end
        self.keep_comment(body + "\n")

    def read_block_comment(self) -> None:
        end = self.text.find("*/", self.pos + 2)
        if end < 0:
            raise self.fail("block comment /* is never closed")
        body = self.text[self.pos + 2:end]
        for _ in range(body.count("\n")):
            self.line += 1
        if "\n" in body:
            self.line_start = self.pos + 2 + body.rfind("\n") + 1
        self.pos = end + 2
        lines = [line.strip().removeprefix("*").removeprefix(" ") for line in body.split("\n")]
        self.keep_comment("\n".join(lines).strip("\n") + "\n")

    def keep_comment(self, body: str) -> None:
        """Gather a comment, unless it trails the previous token on its line."""
        if self.tokens and self.last_token_line == self.line and not self.comments:
            return
        self.comments.append(body[1:] if body.startswith(" ") else body)

    # -- identifiers and numbers -------------------------------------------

    def read_identifier(self) -> None:
        start = self.pos
        while self.peek() and self.peek() in IDENT_CHARS:
            self.pos += 1
        word = self.text[start:self.pos]
        self.emit(TokenKind.IDENT, word, word, start)

    def read_number(self) -> None:
        start = self.pos
        if self.text.startswith(("0x", "0X"), self.pos):
            kind, value = self.read_hex()
        else:
            kind, value = self.read_decimal_or_octal(start)
        if self.peek() and (self.peek() in IDENT_CHARS or self.peek() == "."):
            raise self.fail("a number must be followed by a space or a symbol, "
                            f"not {self.peek()!r}")
        self.emit(kind, self.text[start:self.pos], value, start)

    def read_hex(self) -> tuple[str, int]:
        self.pos += 2
        start = self.pos
        while self.peek() and self.peek() in HEX_DIGITS:
            self.pos += 1
        if self.pos == start:
            raise self.fail("'0x' must be followed by hex digits")
        return TokenKind.INT, int(self.text[start:self.pos], 16)

    def read_decimal_or_octal(self, start: int) -> tuple[str, object]:
        self.skip_digits()
        is_float = False
        if self.peek() == ".":
            is_float = True
            self.pos += 1
            self.skip_digits()
        if self.peek() and self.peek() in "eE":
            is_float = True
            self.read_exponent()
        text = self.text[start:self.pos]
        if is_float:
            return TokenKind.FLOAT, float(text)
        if len(text) > 1 and text[0] == "0":
            if not set(text) <= OCTAL_DIGITS:
                raise self.fail(f"{text!r}: a number with a leading zero is octal, "
                                "and may only use the digits 0-7", start)
            return TokenKind.INT, int(text, 8)
        return TokenKind.INT, int(text)

    def skip_digits(self) -> None:
        while self.peek() and self.peek() in DIGITS:
            self.pos += 1

    def read_exponent(self) -> None:
        self.pos += 1
        if self.peek() and self.peek() in "+-":
            self.pos += 1
        if not (self.peek() and self.peek() in DIGITS):
            raise self.fail("an exponent needs digits after 'e'")
        self.skip_digits()

    # -- strings -----------------------------------------------------------

    def read_string(self) -> None:
        start = self.pos
        quote = self.text[self.pos]
        self.pos += 1
        out = bytearray()
        while True:
            char = self.peek()
            if char == "" or char == "\n":
                raise self.fail("string literal is not closed on its line", start)
            if char == "\0":
                raise self.fail("a string may not hold a NUL character (write \\0)")
            self.pos += 1
            if char == quote:
                break
            if char == "\\":
                self.read_escape(out)
            else:
                out += char.encode("utf-8", "surrogatepass")
        self.emit(TokenKind.STRING, self.text[start:self.pos], bytes(out), start)

    def read_escape(self, out: bytearray) -> None:
        char = self.peek()
        if char in SIMPLE_ESCAPES:
            self.pos += 1
            out.append(SIMPLE_ESCAPES[char])
        elif char in ("x", "X"):
            self.pos += 1
            out.append(self.read_digits(HEX_DIGITS, HEX_ESCAPE_MAX_DIGITS, 16, "\\x"))
        elif char and char in OCTAL_DIGITS:
            value = self.read_digits(OCTAL_DIGITS, OCTAL_ESCAPE_MAX_DIGITS, 8, "\\")
            if value > MAX_OCTAL_BYTE:
                raise self.fail(f"octal escape \\{value:o} is larger than a byte")
            out.append(value)
        elif char in UNICODE_ESCAPE_DIGITS:
            self.pos += 1
            out += self.read_unicode_escape(UNICODE_ESCAPE_DIGITS[char])
        else:
            raise self.fail(f"invalid escape sequence \\{char}")

    def read_digits(self, allowed: frozenset, most: int, base: int, what: str) -> int:
        start = self.pos
        while self.pos - start < most and self.peek() and self.peek() in allowed:
            self.pos += 1
        if self.pos == start:
            raise self.fail(f"escape {what} needs at least one digit")
        return int(self.text[start:self.pos], base)

    def read_unicode_escape(self, count: int) -> bytes:
        digits = self.text[self.pos:self.pos + count]
        if len(digits) != count or not set(digits) <= HEX_DIGITS:
            raise self.fail(f"a unicode escape needs exactly {count} hex digits")
        self.pos += count
        code_point = int(digits, 16)
        if code_point > MAX_CODE_POINT or code_point in SURROGATES:
            raise self.fail(f"\\u escape {digits} is not a valid code point")
        return chr(code_point).encode("utf-8")
