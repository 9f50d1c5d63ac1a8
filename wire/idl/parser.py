"""The parser: tokens in, a file's schema (with its loose ends) out.

Spec: https://protobuf.dev/reference/protobuf/proto3-spec/ for the grammar,
with the proto2 parts of https://protobuf.dev/reference/protobuf/proto2-spec/
that google/protobuf/descriptor.proto needs (labels, ``default``,
``extensions``, ``extend``). Groups and editions are refused with a clear
error. Each production is written above the method that reads it.

It is a plain recursive-descent parser: one method per production, one token
of lookahead (two for ``map<``). Statements inside a body are chosen by their
first word from a table; a word that is not in the table starts a field,
since keywords are legal names (``string syntax = 12;`` is a fine field).

What one file cannot know alone (what a type name refers to, what an option
means) is recorded in the ParsedFile for wire.idl.resolve and
wire.idl.options; what it can check alone (field numbers, reserved names, map
keys) is checked as each body closes, by wire.idl.checks.
"""

from __future__ import annotations

from ..schema import (
    EnumSchema,
    EnumValueSchema,
    ExtensionSchema,
    FieldSchema,
    FieldType,
    FileSchema,
    Label,
    MessageSchema,
    MethodSchema,
    OneofSchema,
    ServiceSchema,
)
from . import checks
from .errors import Position, ProtoSyntaxError
from .lexer import Token, TokenKind, tokenize
from .parsed import (
    AggregateField,
    Constant,
    DefaultValue,
    Import,
    OptionName,
    OptionSite,
    ParsedFile,
    RawOption,
    TypeRef,
)

__all__ = ["parse", "SCALAR_TYPES", "json_name"]

SYNTAXES = ("proto2", "proto3")
DEFAULT_SYNTAX = "proto2"          # a file without a syntax statement is proto2

# The scalar type keywords and their FieldDescriptorProto.Type.
SCALAR_TYPES = {
    "double": FieldType.DOUBLE, "float": FieldType.FLOAT,
    "int64": FieldType.INT64, "uint64": FieldType.UINT64,
    "int32": FieldType.INT32, "fixed64": FieldType.FIXED64,
    "fixed32": FieldType.FIXED32, "bool": FieldType.BOOL,
    "string": FieldType.STRING, "bytes": FieldType.BYTES,
    "uint32": FieldType.UINT32, "sfixed32": FieldType.SFIXED32,
    "sfixed64": FieldType.SFIXED64, "sint32": FieldType.SINT32,
    "sint64": FieldType.SINT64,
}

LABELS = {"optional": Label.OPTIONAL, "required": Label.REQUIRED, "repeated": Label.REPEATED}

# "max" in ranges: the largest field number, and the largest enum number.
FIELD_NUMBER_MAX = (1 << 29) - 1
ENUM_NUMBER_MAX = (1 << 31) - 1
ENUM_NUMBER_MIN = -(1 << 31)

MAP_ENTRY_SUFFIX = "Entry"         # protoc names a map's entry message <Field>Entry
MAP_KEY_NUMBER, MAP_VALUE_NUMBER = 1, 2


def parse(text: str, name: str = "<string>") -> ParsedFile:
    """Parse the text of one .proto file named ``name`` (its import path)."""
    return _Parser(tokenize(text, name), name, text).parse_file()


def json_name(field_name: str) -> str:
    """protoc's default JSON name: drop each "_" and capitalise the letter after it."""
    out = []
    upper_next = False
    for char in field_name:
        if char == "_":
            upper_next = True
        elif upper_next:
            out.append(char.upper())
            upper_next = False
        else:
            out.append(char)
    return "".join(out)


def _map_entry_name(field_name: str) -> str:
    return json_name(field_name[:1].upper() + field_name[1:]) + MAP_ENTRY_SUFFIX


class _Parser:
    def __init__(self, tokens: list[Token], name: str, text: str) -> None:
        self.tokens = tokens
        self.index = 0
        self.file = ParsedFile(FileSchema(name=name, syntax=DEFAULT_SYNTAX), text=text)
        self.name = name

    # -- token cursor --------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        if token.kind != TokenKind.EOF:
            self.index += 1
        return token

    def where(self, token: Token | None = None) -> Position:
        token = token or self.token
        return Position(self.name, token.line, token.column)

    def fail(self, reason: str, token: Token | None = None) -> ProtoSyntaxError:
        return ProtoSyntaxError(self.where(token), reason)

    def at(self, symbol: str) -> bool:
        return self.token.kind == TokenKind.SYMBOL and self.token.text == symbol

    def at_word(self, word: str) -> bool:
        return self.token.kind == TokenKind.IDENT and self.token.text == word

    def accept(self, symbol: str) -> bool:
        if self.at(symbol):
            self.advance()
            return True
        return False

    def accept_word(self, word: str) -> bool:
        if self.at_word(word):
            self.advance()
            return True
        return False

    def expect(self, symbol: str, context: str = "") -> Token:
        if not self.at(symbol):
            where = f" {context}" if context else ""
            raise self.fail(f"expected {symbol!r}{where}, found {self.token.describe()}")
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.fail(f"expected {word!r}, found {self.token.describe()}")
        return self.advance()

    def expect_ident(self, what: str) -> Token:
        if self.token.kind != TokenKind.IDENT:
            raise self.fail(f"expected {what}, found {self.token.describe()}")
        return self.advance()

    def expect_string(self, what: str) -> tuple[str, Token]:
        """strLit = strLitSingle { strLitSingle }: adjacent literals join up."""
        first = self.token
        if first.kind != TokenKind.STRING:
            raise self.fail(f"expected {what} (a quoted string), found {first.describe()}")
        raw = b""
        while self.token.kind == TokenKind.STRING:
            raw += self.advance().value
        try:
            return raw.decode("utf-8"), first
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8", first) from None

    def expect_int(self, what: str, allow_sign: bool = False) -> int:
        """intLit, with a leading "-" where the grammar allows one."""
        negative = allow_sign and self.accept("-")
        if self.token.kind != TokenKind.INT:
            raise self.fail(f"expected {what} (an integer), found {self.token.describe()}")
        value = self.advance().value
        return -value if negative else value

    # -- the file ------------------------------------------------------------

    # proto = [ syntax ] { import | package | option | topLevelDef | emptyStatement }
    # topLevelDef = message | enum | extend | service
    def parse_file(self) -> ParsedFile:
        schema = self.file.schema
        schema.comments = self.token.leading_comments
        if self.at_word("syntax"):
            self.parse_syntax()
        elif self.at_word("edition"):
            raise self.fail("editions are not supported: use syntax = \"proto3\" or \"proto2\"")
        file_options: list[RawOption] = []
        package_seen = False
        while self.token.kind != TokenKind.EOF:
            word = self.token.text if self.token.kind == TokenKind.IDENT else ""
            if self.accept(";"):
                continue
            if word == "import":
                self.parse_import()
            elif word == "package":
                if package_seen:
                    raise self.fail("a file may have only one package statement")
                package_seen = True
                self.parse_package()
            elif word == "option":
                file_options.append(self.parse_option_statement())
            elif word == "message":
                schema.message_types.append(self.parse_message(schema.package))
            elif word == "enum":
                schema.enum_types.append(self.parse_enum(schema.package))
            elif word == "service":
                schema.services.append(self.parse_service())
            elif word == "extend":
                self.parse_extend(schema.package, schema.extensions)
            elif word == "syntax":
                raise self.fail("the syntax statement must come first in the file")
            else:
                raise self.fail("expected a top-level statement (message, enum, service, "
                                f"extend, import, package or option), found "
                                f"{self.token.describe()}")
        self.add_site(schema, "FileOptions", file_options, schema.package)
        return self.file

    # syntax = "syntax" "=" ( "'proto3'" | '"proto3"' | "'proto2'" | '"proto2"' ) ";"
    def parse_syntax(self) -> None:
        self.expect_word("syntax")
        self.expect("=")
        value, token = self.expect_string("the syntax")
        if value not in SYNTAXES:
            raise self.fail(f"unknown syntax {value!r}: expected \"proto3\" or \"proto2\"", token)
        self.expect(";", "after the syntax statement")
        self.file.schema.syntax = value

    # import = "import" [ "weak" | "public" ] strLit ";"
    def parse_import(self) -> None:
        start = self.expect_word("import")
        kind = ""
        if self.at_word("public") or self.at_word("weak"):
            kind = self.advance().text
        path, _ = self.expect_string("the file to import")
        self.expect(";", "after the import")
        schema = self.file.schema
        if path in schema.dependencies:
            raise self.fail(f"{path!r} is imported twice", start)
        if kind == "public":
            schema.public_dependencies.append(len(schema.dependencies))
        elif kind == "weak":
            schema.weak_dependencies.append(len(schema.dependencies))
        schema.dependencies.append(path)
        self.file.imports.append(Import(path, kind, self.where(start)))

    # package = "package" fullIdent ";"
    def parse_package(self) -> None:
        self.expect_word("package")
        package = self.parse_full_ident("a package name")
        self.expect(";", "after the package name")
        self.file.schema.package = package

    # fullIdent = ident { "." ident }
    def parse_full_ident(self, what: str) -> str:
        parts = [self.expect_ident(what).text]
        while self.accept("."):
            parts.append(self.expect_ident(what).text)
        return ".".join(parts)

    # messageType = [ "." ] { ident "." } messageName
    def parse_type_name(self) -> tuple[str, Token]:
        first = self.token
        leading_dot = "." if self.accept(".") else ""
        return leading_dot + self.parse_full_ident("a type name"), first

    # -- options -------------------------------------------------------------

    # option = "option" optionName "=" constant ";"
    def parse_option_statement(self) -> RawOption:
        self.expect_word("option")
        option = self.parse_option()
        self.expect(";", "after the option")
        return option

    # optionName = ( ident | "(" ["."] fullIdent ")" ) { "." ( ident | "(" ["."] fullIdent ")" ) }
    def parse_option(self) -> RawOption:
        start = self.token
        name = [self.parse_option_name_part()]
        while self.accept("."):
            name.append(self.parse_option_name_part())
        self.expect("=", f"after the option name {'.'.join(map(str, name))}")
        return RawOption(name, self.parse_constant(), self.where(start))

    def parse_option_name_part(self) -> OptionName:
        if self.accept("("):
            name, _ = self.parse_type_name()
            self.expect(")", "to close the extension name")
            return OptionName(name, extension=True)
        return OptionName(self.expect_ident("an option name").text)

    # fieldOptions = fieldOption { ","  fieldOption }
    # fieldOption = optionName "=" constant
    def parse_option_list(self) -> list[RawOption]:
        """The ``[a = 1, (b) = 2]`` after a field, enum value or extension range."""
        options = []
        if not self.accept("["):
            return options
        options.append(self.parse_option())
        while self.accept(","):
            options.append(self.parse_option())
        self.expect("]", "to close the option list")
        return options

    # constant = fullIdent | ( [ "-" | "+" ] intLit ) | ( [ "-" | "+" ] floatLit )
    #          | strLit | boolLit | MessageValue
    def parse_constant(self) -> Constant:
        token = self.token
        where = self.where(token)
        if self.at("{") or self.at("<"):
            return self.parse_aggregate()
        if token.kind == TokenKind.STRING:
            raw = b""
            while self.token.kind == TokenKind.STRING:
                raw += self.advance().value
            return Constant("string", raw, where, token.text)
        if token.kind == TokenKind.IDENT:
            return Constant("ident", self.parse_full_ident("a value"), where, token.text)
        return self.parse_signed_number(where)

    def parse_signed_number(self, where: Position) -> Constant:
        sign = ""
        if self.at("-") or self.at("+"):
            sign = self.advance().text
        token = self.token
        negate = sign == "-"
        if token.kind == TokenKind.INT:
            self.advance()
            return Constant("int", -token.value if negate else token.value, where, sign + token.text)
        if token.kind == TokenKind.FLOAT:
            self.advance()
            return Constant("float", -token.value if negate else token.value, where, sign + token.text)
        if token.kind == TokenKind.IDENT and token.text in ("inf", "nan") and sign:
            self.advance()
            value = float(token.text)
            return Constant("float", -value if negate else value, where, sign + token.text)
        raise self.fail(f"expected a value, found {token.describe()}")

    # MessageValue = "{" { fieldName [ ":" ] value [ "," | ";" ] } "}"      (text format)
    # value        = constant | "[" [ constant { "," constant } ] "]"
    def parse_aggregate(self) -> Constant:
        opening = self.advance()
        closing = "}" if opening.text == "{" else ">"
        fields: list[AggregateField] = []
        while not self.accept(closing):
            if self.token.kind == TokenKind.EOF:
                raise self.fail(f"the value opened with {opening.text!r} is never closed", opening)
            fields.append(self.parse_aggregate_field())
            if not self.accept(","):
                self.accept(";")
        return Constant("aggregate", fields, self.where(opening), opening.text)

    def parse_aggregate_field(self) -> AggregateField:
        start = self.token
        extension = self.accept("[")
        if extension:
            name, _ = self.parse_type_name()
            self.expect("]", "to close the extension name")
        else:
            name = self.expect_ident("a field name").text
        has_colon = self.accept(":")
        if not has_colon and not (self.at("{") or self.at("<")):
            raise self.fail(f"expected ':' after the field name {name!r}")
        value = self.parse_list_value() if self.at("[") else self.parse_constant()
        return AggregateField(name, value, self.where(start), extension)

    def parse_list_value(self) -> Constant:
        opening = self.expect("[")
        items: list[Constant] = []
        if not self.accept("]"):
            items.append(self.parse_constant())
            while self.accept(","):
                items.append(self.parse_constant())
            self.expect("]", "to close the list")
        return Constant("list", items, self.where(opening), "[")

    def add_site(self, target, options_type: str, options: list[RawOption], scope: str) -> None:
        if options:
            self.file.option_sites.append(OptionSite(target, options_type, options, scope))

    # -- messages ------------------------------------------------------------

    # message = "message" messageName messageBody
    # messageBody = "{" { field | enum | message | extend | extensions | option
    #               | oneof | mapField | reserved | emptyStatement } "}"
    def parse_message(self, scope: str) -> MessageSchema:
        start = self.expect_word("message")
        name = self.expect_ident("a message name").text
        full_name = f"{scope}.{name}" if scope else name
        message = MessageSchema(name=name, full_name=full_name,
                                syntax=self.file.schema.syntax,
                                comments=start.leading_comments)
        self.file.positions[id(message)] = self.where(start)
        body = _Body(message, self.where(start))
        self.expect("{", f"to open message {name}")
        while not self.accept("}"):
            self.parse_message_statement(body)
        body.finish()
        checks.check_message(message, body.field_positions, body.reserved_positions)
        self.add_site(message, "MessageOptions", body.options, full_name)
        return message

    def parse_message_statement(self, body: "_Body") -> None:
        message = body.message
        word = self.token.text if self.token.kind == TokenKind.IDENT else ""
        if self.token.kind == TokenKind.EOF:
            raise self.fail(f"message {message.name} is never closed with '}}'")
        if self.accept(";"):
            return
        if word == "message":
            message.nested_types.append(self.parse_message(message.full_name))
        elif word == "enum":
            message.enum_types.append(self.parse_enum(message.full_name))
        elif word == "option":
            body.options.append(self.parse_option_statement())
        elif word == "oneof":
            self.parse_oneof(body)
        elif word == "reserved":
            self.parse_reserved(body, FIELD_NUMBER_MAX)
        elif word == "extensions":
            self.parse_extensions(body)
        elif word == "extend":
            self.parse_extend(message.full_name, self.file.schema.extensions)
        elif word == "map" and self.peek().text == "<":
            self.parse_map_field(body)
        else:
            self.parse_field(body)

    # field = [ "repeated" | "optional" | "required" ] type fieldName "=" fieldNumber
    #         [ "[" fieldOptions "]" ] ";"
    # type = "double" | "float" | "int32" | ... | "bytes" | messageType | enumType
    def parse_field(self, body: "_Body", oneof_index: int | None = None) -> FieldSchema:
        start = self.token
        label = self.parse_label(oneof_index)
        if self.at_word("group"):
            raise self.fail("groups are not supported (a proto2 feature that is deprecated); "
                            "use a nested message field instead")
        field, type_token = self.parse_field_type(body.message.full_name)
        field.label = label if label is not None else Label.OPTIONAL
        field.comments = start.leading_comments
        field.oneof_index = oneof_index
        self.finish_field(field, body, start)
        if label == Label.OPTIONAL and self.file.schema.syntax == "proto3":
            field.proto3_optional = True
            body.synthetic_oneof_fields.append(field)
        return field

    def parse_label(self, oneof_index: int | None) -> Label | None:
        token = self.token
        if token.kind != TokenKind.IDENT or token.text not in LABELS:
            if self.file.schema.syntax == "proto2" and oneof_index is None:
                raise self.fail("expected \"required\", \"optional\" or \"repeated\": "
                                "proto2 fields need a label")
            return None
        if oneof_index is not None:
            raise self.fail(f"fields in a oneof may not have a label ({token.text!r})")
        label = LABELS[token.text]
        if label == Label.REQUIRED and self.file.schema.syntax == "proto3":
            raise self.fail("required fields are not allowed in proto3")
        self.advance()
        return label

    def parse_field_type(self, scope: str) -> tuple[FieldSchema, Token]:
        token = self.token
        if token.kind == TokenKind.IDENT and token.text in SCALAR_TYPES and self.peek().text != ".":
            self.advance()
            return FieldSchema(name="", number=0, type=SCALAR_TYPES[token.text]), token
        type_name, token = self.parse_type_name()
        field = FieldSchema(name="", number=0, type=FieldType.MESSAGE, type_name=type_name)
        self.file.type_refs.append(TypeRef(
            type_name, scope, self.where(token), ("message", "enum"), _field_type_setter(field)))
        return field, token

    def finish_field(self, field: FieldSchema, body: "_Body", start: Token) -> None:
        """fieldName "=" fieldNumber [ "[" fieldOptions "]" ] ";" """
        name_token = self.expect_ident("a field name")
        field.name = name_token.text
        self.expect("=", f"after the field name {field.name}")
        number_token = self.token
        field.number = self.expect_int("a field number", allow_sign=True)
        options = self.parse_option_list()
        self.expect(";", f"after field {field.name}")
        field.json_name = json_name(field.name)
        options = self.take_pseudo_options(field, options)
        body.add_field(field, self.where(name_token), self.where(number_token))
        self.add_site(field, "FieldOptions", options, body.message.full_name)

    def take_pseudo_options(self, field: FieldSchema, options: list[RawOption]) -> list[RawOption]:
        """``json_name`` and ``default`` are fields of FieldDescriptorProto, not options."""
        kept = []
        for option in options:
            name = option.dotted
            if name == "json_name":
                if option.value.kind != "string":
                    raise ProtoSyntaxError(option.position, "json_name must be a string")
                field.json_name = option.value.value.decode("utf-8", "replace")
            elif name == "default":
                if self.file.schema.syntax == "proto3":
                    raise ProtoSyntaxError(option.position,
                                           "explicit default values are not allowed in proto3")
                self.file.defaults.append(DefaultValue(field, option.value))
            else:
                kept.append(option)
        return kept

    # oneof = "oneof" oneofName "{" { option | oneofField | emptyStatement } "}"
    # oneofField = type fieldName "=" fieldNumber [ "[" fieldOptions "]" ] ";"
    def parse_oneof(self, body: "_Body") -> None:
        start = self.expect_word("oneof")
        name = self.expect_ident("a oneof name").text
        oneof = OneofSchema(name=name)
        index = len(body.message.oneofs)
        body.message.oneofs.append(oneof)
        options: list[RawOption] = []
        self.expect("{", f"to open oneof {name}")
        count = 0
        while not self.accept("}"):
            if self.token.kind == TokenKind.EOF:
                raise self.fail(f"oneof {name} is never closed with '}}'")
            if self.accept(";"):
                continue
            if self.at_word("option"):
                options.append(self.parse_option_statement())
                continue
            if self.at_word("map") and self.peek().text == "<":
                raise self.fail("map fields are not allowed in a oneof")
            self.parse_field(body, oneof_index=index)
            count += 1
        if count == 0:
            raise self.fail(f"oneof {name} must have at least one field", start)
        self.add_site(oneof, "OneofOptions", options, body.message.full_name)

    # mapField = "map" "<" keyType "," type ">" mapName "=" fieldNumber
    #            [ "[" fieldOptions "]" ] ";"
    # keyType = "int32" | "int64" | "uint32" | "uint64" | "sint32" | "sint64"
    #         | "fixed32" | "fixed64" | "sfixed32" | "sfixed64" | "bool" | "string"
    def parse_map_field(self, body: "_Body") -> None:
        start = self.expect_word("map")
        self.expect("<")
        key_token = self.token
        owner = body.message
        key, _ = self.parse_field_type(owner.full_name)
        checks.check_map_key(key, self.where(key_token))
        self.expect(",", "between the map's key and value types")
        value, _ = self.parse_field_type(owner.full_name)
        self.expect(">", "to close the map type")
        field = FieldSchema(name="", number=0, type=FieldType.MESSAGE, label=Label.REPEATED,
                            comments=start.leading_comments)
        name_token = self.token
        self.finish_field(field, body, start)
        entry = self.map_entry(field, key, value, owner, name_token)
        field.message_type = entry
        field.type_name = "." + entry.full_name

    def map_entry(self, field: FieldSchema, key: FieldSchema, value: FieldSchema,
                  owner: MessageSchema, name_token: Token) -> MessageSchema:
        entry_name = _map_entry_name(field.name)
        entry = MessageSchema(name=entry_name, full_name=f"{owner.full_name}.{entry_name}",
                              map_entry=True, syntax=owner.syntax, options={"map_entry": True})
        key.name, key.number, key.json_name = "key", MAP_KEY_NUMBER, "key"
        value.name, value.number, value.json_name = "value", MAP_VALUE_NUMBER, "value"
        entry.fields = [key, value]
        for nested in owner.nested_types:
            if nested.name == entry_name:
                raise ProtoSyntaxError(self.where(name_token), f"map entry {entry_name} "
                                       f"clashes with a nested message of the same name")
        owner.nested_types.append(entry)
        return entry

    # reserved = "reserved" ( ranges | strFieldNames ) ";"
    # ranges = range { "," range }
    # range = intLit [ "to" ( intLit | "max" ) ]
    # strFieldNames = strFieldName { "," strFieldName }
    def parse_reserved(self, body: "_Body | _EnumBody", max_value: int) -> None:
        self.expect_word("reserved")
        if self.token.kind == TokenKind.STRING:
            self.parse_reserved_names(body)
        else:
            for start, end, where in self.parse_ranges(max_value, "reserved"):
                body.reserve_range(start, end, where)
        self.expect(";", "after the reserved list")

    def parse_reserved_names(self, body) -> None:
        while True:
            token = self.token
            name, _ = self.expect_string("a reserved name")
            body.reserve_name(name, self.where(token))
            if not self.accept(","):
                return

    def parse_ranges(self, max_value: int, what: str) -> list[tuple[int, int, Position]]:
        """Ranges as written: both ends inclusive."""
        ranges = []
        while True:
            token = self.token
            allow_sign = max_value == ENUM_NUMBER_MAX
            start = self.expect_int(f"a {what} number", allow_sign)
            end = start
            if self.accept_word("to"):
                end = max_value if self.accept_word("max") else self.expect_int(
                    f"the end of the {what} range", allow_sign)
            if end < start:
                raise self.fail(f"{what} range {start} to {end}: the end is before the start", token)
            ranges.append((start, end, self.where(token)))
            if not self.accept(","):
                return ranges

    # extensions = "extensions" ranges [ "[" options "]" ] ";"            (proto2)
    def parse_extensions(self, body: "_Body") -> None:
        self.expect_word("extensions")
        if self.file.schema.syntax == "proto3":
            raise self.fail("extension ranges are not allowed in proto3")
        for start, end, where in self.parse_ranges(FIELD_NUMBER_MAX, "extension"):
            body.add_extension_range(start, end, where)
        self.parse_option_list()    # e.g. declarations: source-only, not kept
        self.expect(";", "after the extension range")

    # extend = "extend" messageType "{" { field | group | emptyStatement } "}"
    def parse_extend(self, scope: str, extensions: list[ExtensionSchema]) -> None:
        self.expect_word("extend")
        extendee, extendee_token = self.parse_type_name()
        self.expect("{", f"to open extend {extendee}")
        body = _Body(MessageSchema(name=extendee, full_name=scope), self.where(extendee_token))
        while not self.accept("}"):
            if self.token.kind == TokenKind.EOF:
                raise self.fail(f"extend {extendee} is never closed with '}}'")
            if self.accept(";"):
                continue
            if self.at_word("map") and self.peek().text == "<":
                raise self.fail("map fields cannot be extensions")
            start = self.token
            field = self.parse_field(body)
            if field.proto3_optional:
                field.proto3_optional = False     # extensions always track presence
            extension = ExtensionSchema(
                field=field, extendee=extendee, scope=scope,
                full_name=f"{scope}.{field.name}" if scope else field.name,
                comments=start.leading_comments)
            self.file.positions[id(extension)] = self.where(start)
            self.file.type_refs.append(TypeRef(
                extendee, scope, self.where(extendee_token), ("message",),
                _extendee_setter(extension)))
            extensions.append(extension)

    # -- enums ---------------------------------------------------------------

    # enum = "enum" enumName enumBody
    # enumBody = "{" { option | enumField | reserved | emptyStatement } "}"
    def parse_enum(self, scope: str) -> EnumSchema:
        start = self.expect_word("enum")
        name = self.expect_ident("an enum name").text
        enum = EnumSchema(name=name, full_name=f"{scope}.{name}" if scope else name,
                          syntax=self.file.schema.syntax, comments=start.leading_comments)
        self.file.positions[id(enum)] = self.where(start)
        body = _EnumBody(enum)
        self.expect("{", f"to open enum {name}")
        while not self.accept("}"):
            self.parse_enum_statement(body)
        checks.check_enum(enum, body, self.where(start))
        self.add_site(enum, "EnumOptions", body.options, scope)
        return enum

    def parse_enum_statement(self, body: "_EnumBody") -> None:
        if self.token.kind == TokenKind.EOF:
            raise self.fail(f"enum {body.enum.name} is never closed with '}}'")
        if self.accept(";"):
            return
        if self.at_word("option"):
            body.options.append(self.parse_option_statement())
        elif self.at_word("reserved"):
            self.parse_reserved(body, ENUM_NUMBER_MAX)
        else:
            self.parse_enum_value(body)

    # enumField = ident "=" [ "-" ] intLit [ "[" enumValueOption { "," enumValueOption } "]" ] ";"
    def parse_enum_value(self, body: "_EnumBody") -> None:
        name_token = self.expect_ident("an enum value name")
        self.expect("=", f"after the enum value name {name_token.text}")
        number_token = self.token
        number = self.expect_int("an enum value number", allow_sign=True)
        if not ENUM_NUMBER_MIN <= number <= ENUM_NUMBER_MAX:
            raise self.fail(f"enum value {number} is outside the int32 range", number_token)
        options = self.parse_option_list()
        self.expect(";", f"after enum value {name_token.text}")
        value = EnumValueSchema(name=name_token.text, number=number,
                                comments=name_token.leading_comments)
        body.add_value(value, self.where(name_token), self.where(number_token))
        self.file.positions[id(value)] = self.where(name_token)
        scope = body.enum.full_name.rpartition(".")[0]
        self.add_site(value, "EnumValueOptions", options, scope)

    # -- services ------------------------------------------------------------

    # service = "service" serviceName "{" { option | rpc | emptyStatement } "}"
    def parse_service(self) -> ServiceSchema:
        start = self.expect_word("service")
        name = self.expect_ident("a service name").text
        package = self.file.schema.package
        service = ServiceSchema(name=name, full_name=f"{package}.{name}" if package else name,
                                comments=start.leading_comments)
        self.file.positions[id(service)] = self.where(start)
        options: list[RawOption] = []
        self.expect("{", f"to open service {name}")
        while not self.accept("}"):
            if self.token.kind == TokenKind.EOF:
                raise self.fail(f"service {name} is never closed with '}}'")
            if self.accept(";"):
                continue
            if self.at_word("option"):
                options.append(self.parse_option_statement())
            elif self.at_word("rpc"):
                service.methods.append(self.parse_rpc(service))
            else:
                raise self.fail(f"expected 'rpc' or 'option' in service {name}, "
                                f"found {self.token.describe()}")
        checks.check_service(service, self.where(start))
        self.add_site(service, "ServiceOptions", options, package)
        return service

    # rpc = "rpc" rpcName "(" [ "stream" ] messageType ")"
    #       "returns" "(" [ "stream" ] messageType ")"
    #       ( ( "{" { option | emptyStatement } "}" ) | ";" )
    def parse_rpc(self, service: ServiceSchema) -> MethodSchema:
        start = self.expect_word("rpc")
        name = self.expect_ident("a method name").text
        method = MethodSchema(name=name, input_type="", output_type="",
                              comments=start.leading_comments)
        self.file.positions[id(method)] = self.where(start)
        method.client_streaming, method.input_type = self.parse_rpc_type(method, "input")
        self.expect_word("returns")
        method.server_streaming, method.output_type = self.parse_rpc_type(method, "output")
        options: list[RawOption] = []
        if self.accept("{"):
            method.options_block = True
            while not self.accept("}"):
                if self.accept(";"):
                    continue
                if not self.at_word("option"):
                    raise self.fail(f"expected 'option' or '}}' in rpc {name}, "
                                    f"found {self.token.describe()}")
                options.append(self.parse_option_statement())
        else:
            self.expect(";", f"after rpc {name}")
        self.add_site(method, "MethodOptions", options, self.file.schema.package)
        return method

    def parse_rpc_type(self, method: MethodSchema, which: str) -> tuple[bool, str]:
        self.expect("(", f"before the {which} type of rpc {method.name}")
        stream = self.at_word("stream") and self.peek().text != ")"
        if stream:
            self.advance()
        type_name, token = self.parse_type_name()
        self.expect(")", f"after the {which} type of rpc {method.name}")
        self.file.type_refs.append(TypeRef(
            type_name, self.file.schema.package, self.where(token), ("message",),
            _method_setter(method, which)))
        return stream, type_name


# -- bodies: what a message or enum has seen so far ---------------------------


class _Body:
    """The fields, numbers and names of a message while its body is read."""

    def __init__(self, message: MessageSchema, position: Position) -> None:
        self.message = message
        self.position = position
        self.options: list[RawOption] = []
        self.field_positions: dict[int, tuple[Position, Position]] = {}
        self.reserved_positions: list[Position] = []
        self.synthetic_oneof_fields: list[FieldSchema] = []

    def add_field(self, field: FieldSchema, name_at: Position, number_at: Position) -> None:
        self.message.fields.append(field)
        self.field_positions[id(field)] = (name_at, number_at)

    def reserve_range(self, start: int, end: int, where: Position) -> None:
        self.message.reserved_ranges.append((start, end + 1))   # stored half-open
        self.reserved_positions.append(where)

    def reserve_name(self, name: str, where: Position) -> None:
        self.message.reserved_names.append(name)

    def add_extension_range(self, start: int, end: int, where: Position) -> None:
        self.message.extension_ranges.append((start, end + 1))

    def finish(self) -> None:
        """proto3 optional: one synthetic oneof per field, after the real ones."""
        for field in self.synthetic_oneof_fields:
            field.oneof_index = len(self.message.oneofs)
            self.message.oneofs.append(OneofSchema(name=_synthetic_oneof_name(
                field.name, self.message), synthetic=True))


def _synthetic_oneof_name(field_name: str, message: MessageSchema) -> str:
    """"_" + the field's name, with "X" in front until it clashes with nothing (as protoc)."""
    taken = {f.name for f in message.fields} | {o.name for o in message.oneofs}
    name = "_" + field_name
    while name in taken:
        name = "X" + name
    return name


class _EnumBody:
    """The values, numbers and names of an enum while its body is read."""

    def __init__(self, enum: EnumSchema) -> None:
        self.enum = enum
        self.options: list[RawOption] = []
        self.value_positions: dict[int, tuple[Position, Position]] = {}
        self.reserved_positions: list[Position] = []

    def add_value(self, value: EnumValueSchema, name_at: Position, number_at: Position) -> None:
        self.enum.values.append(value)
        self.value_positions[id(value)] = (name_at, number_at)

    def reserve_range(self, start: int, end: int, where: Position) -> None:
        self.enum.reserved_ranges.append((start, end))          # inclusive, as descriptor.proto
        self.reserved_positions.append(where)

    def reserve_name(self, name: str, where: Position) -> None:
        self.enum.reserved_names.append(name)


# -- settling type references --------------------------------------------------


def _field_type_setter(field: FieldSchema):
    def settle(kind: str, full_name: str, schema) -> None:
        field.type_name = "." + full_name
        if kind == "enum":
            field.type = FieldType.ENUM
            field.enum_type = schema
        else:
            field.type = FieldType.MESSAGE
            field.message_type = schema
    return settle


def _extendee_setter(extension: ExtensionSchema):
    def settle(kind: str, full_name: str, schema) -> None:
        extension.extendee = "." + full_name
        extension.extendee_type = schema
    return settle


def _method_setter(method: MethodSchema, which: str):
    def settle(kind: str, full_name: str, schema) -> None:
        setattr(method, f"{which}_type", "." + full_name)
        setattr(method, f"{which}_message", schema)
    return settle
