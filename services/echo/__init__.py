"""Echo, the service of the seed's grpc-gateway walk-through (echo.proto).

    service MyService {
      rpc Echo(StringMessage) returns (StringMessage) {
        option (google.api.http) = { post: "/v1/example/echo" body: "*" };
      }
    }

``server`` answers every Echo with the value it was sent; ``gateway`` puts
the JSON gateway in front of it, so that both run as programs:

    python -m services.echo.server --port 50051
    python -m services.echo.gateway --port 8080 --backend localhost:50051
    curl -X POST -k localhost:8080/v1/example/echo -d '{"value": "this is vlaue"}'
    {"value":"this is vlaue"}
"""

import pathlib

import rpc

PROTO = pathlib.Path(__file__).with_name("echo.proto")
example = rpc.load(str(PROTO))

__all__ = ["PROTO", "example"]
