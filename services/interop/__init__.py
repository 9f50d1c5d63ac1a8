"""The official gRPC interop tests: grpc.testing.TestService and its test cases.

Spec: doc/interop-test-descriptions.md
(https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md),
with the messages and services of grpc's src/proto/grpc/testing/{empty,
messages,test}.proto, written out here from their published names and field
numbers (grpc/testing/*.proto beside this file).

    server   TestService, every server feature the descriptions name
             (``python -m services.interop.server --port 10000``)
    cases    the client test cases, one coroutine each, by their official names
    client   the interop client (``python -m services.interop.client
             --server_host localhost --server_port 10000 --test_case all``)
    report   runs the interop matrix and writes RESULTS.md

Every implementation of gRPC ships a server and a client like these; running
one language's client against another's server is how gRPC checks that they
all speak the same protocol.
"""

import pathlib

import rpc

PROTO_ROOT = pathlib.Path(__file__).parent      # the include root: grpc/testing/*.proto
TEST_PROTO = PROTO_ROOT / "grpc" / "testing" / "test.proto"

testing = rpc.load(str(TEST_PROTO), include=[str(PROTO_ROOT)])

# The messages the test cases use, by their names in package grpc.testing.
Empty = testing.lookup("grpc.testing.Empty")
BoolValue = testing.lookup("grpc.testing.BoolValue")
Payload = testing.lookup("grpc.testing.Payload")
PayloadType = testing.lookup("grpc.testing.PayloadType")
EchoStatus = testing.lookup("grpc.testing.EchoStatus")
SimpleRequest = testing.lookup("grpc.testing.SimpleRequest")
SimpleResponse = testing.lookup("grpc.testing.SimpleResponse")
StreamingInputCallRequest = testing.lookup("grpc.testing.StreamingInputCallRequest")
StreamingInputCallResponse = testing.lookup("grpc.testing.StreamingInputCallResponse")
ResponseParameters = testing.lookup("grpc.testing.ResponseParameters")
StreamingOutputCallRequest = testing.lookup("grpc.testing.StreamingOutputCallRequest")
StreamingOutputCallResponse = testing.lookup("grpc.testing.StreamingOutputCallResponse")

# The metadata keys of the Echo Metadata server feature.
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"

__all__ = [
    "PROTO_ROOT", "TEST_PROTO", "testing",
    "Empty", "BoolValue", "Payload", "PayloadType", "EchoStatus",
    "SimpleRequest", "SimpleResponse",
    "StreamingInputCallRequest", "StreamingInputCallResponse",
    "ResponseParameters", "StreamingOutputCallRequest", "StreamingOutputCallResponse",
    "ECHO_INITIAL_KEY", "ECHO_TRAILING_KEY",
]
