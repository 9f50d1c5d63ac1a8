"""grpc.health.v1: is this server (or one of its services) able to take calls?

Spec: doc/health-checking.md (https://github.com/grpc/grpc/blob/master/doc/health-checking.md).

    health = HealthServicer()              "" (the whole server) starts SERVING
    health.set("ecommerce.ProductInfo", ServingStatus.SERVING)
    server.add_service(health)
    ...
    health.enter_graceful_shutdown()       everything NOT_SERVING, for good
    await server.stop(grace)

Any health client works against it: grpcio's ``grpc_health.v1`` stubs, a
load balancer's health checker, ``grpc_health_probe``, or our own probe,
``python -m services.health.client --target HOST:PORT --service NAME``.

Modules: servicer (HealthServicer: Check and Watch) and client (check,
watch, and the probe program).
"""

import pathlib

import rpc

PROTO = pathlib.Path(__file__).with_name("health.proto")
health_v1 = rpc.load(str(PROTO))
ServingStatus = health_v1.HealthCheckResponse.ServingStatus

from .servicer import OVERALL_HEALTH, HealthServicer  # noqa: E402  (needs health_v1)

__all__ = ["PROTO", "health_v1", "ServingStatus", "HealthServicer", "OVERALL_HEALTH"]
