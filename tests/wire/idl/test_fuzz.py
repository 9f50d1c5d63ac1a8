"""Random and truncated text into the parser: only the typed error comes out."""

from hypothesis import HealthCheck, given, settings, strategies as st

from wire.idl import IdlError, load_source

from .protofiles import SERVICES

SAMPLES = [
    open(f"{SERVICES}/echo/echo.proto").read(),
    open(f"{SERVICES}/interop/grpc/testing/messages.proto").read(),
    'syntax = "proto2"; package p; message M { optional int32 a = 1 [default = -0x1f];'
    ' extensions 10 to max; oneof o { string s = 2; } map<string, M> m = 3; }'
    ' enum E { option allow_alias = true; A = 0; B = 0; } extend M { optional string x = 10; }',
]
PROTO_WORDS = st.sampled_from([
    "syntax", "=", '"proto3"', '"proto2"', ";", "message", "M", "{", "}", "int32", "a", "1",
    "enum", "E", "A", "0", "map", "<", ",", ">", "oneof", "optional", "repeated", "reserved",
    "to", "max", "service", "S", "rpc", "(", ")", "returns", "stream", "option", "[", "]",
    "deprecated", "true", ".", "-", "0x10", "1e5", "inf", "'s'", "extend", "import",
    '"google/protobuf/empty.proto"', "package", "p", "//c\n", "/*c*/", "\n",
])


def parses_or_fails_cleanly(text):
    try:
        load_source(text, "fuzz.proto")
    except IdlError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_truncated_and_mutated_files(sample, data):
    cut = data.draw(st.integers(0, len(sample)))
    insert = data.draw(st.text(max_size=5))
    parses_or_fails_cleanly(sample[:cut] + insert + sample[cut + data.draw(st.integers(0, 3)):])


@settings(max_examples=300, deadline=None)
@given(st.lists(PROTO_WORDS, max_size=40))
def test_random_token_soup(words):
    parses_or_fails_cleanly(" ".join(words))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text(text):
    parses_or_fails_cleanly(text)
