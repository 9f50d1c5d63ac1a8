"""The services every server here offers besides its own: health and reflection.

Specs: doc/health-checking.md and doc/server-reflection.md
(https://github.com/grpc/grpc/tree/master/doc). With both, the standard tools
work against any of our servers with no .proto file in hand: grpcurl and
``python -m rpc.cli`` (reflection), grpc_health_probe and load balancers (health).

    server.add_service(ProductInfo())
    standard = add_standard_services(server, ecommerce)
    ...
    standard.health.enter_graceful_shutdown()     before server.stop(grace)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import rpc

from .health import HealthServicer, ServingStatus, health_v1
from .reflection import DescriptorIndex, enable_reflection

__all__ = ["StandardServices", "add_standard_services"]


class StandardServices(NamedTuple):
    health: HealthServicer          # set(service, status), enter_graceful_shutdown()
    reflection: DescriptorIndex     # add(loaded) to describe more files


def add_standard_services(server: rpc.Server, *loaded_files: Any) -> StandardServices:
    """Serve grpc.health.v1 and reflection (v1, v1alpha) for ``loaded_files``' services.

    Every service of ``loaded_files`` starts SERVING, as does "" (the server
    as a whole); reflection lists them, Health, and itself.
    """
    health = HealthServicer()
    for loaded in loaded_files:
        for service in loaded.services.values():
            health.set(service.full_name, ServingStatus.SERVING)
    server.add_service(health)
    index = enable_reflection(server, *loaded_files, health_v1)
    return StandardServices(health, index)
