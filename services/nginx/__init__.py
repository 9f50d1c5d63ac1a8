"""Our servers behind nginx: the example configuration and its addresses.

Spec: nginx's ngx_http_grpc_module (https://nginx.org/en/docs/http/ngx_http_grpc_module.html)
and ngx_http_upstream_module (https://nginx.org/en/docs/http/ngx_http_upstream_module.html).
``grpc.conf`` beside this file is a complete configuration, ready to use as
it is (its header says how, and rpc/workers.py's docstring why). The only
things that change from one setup to the next are where nginx listens and
where the backends are; ``render_config`` puts those in, so that a test runs
the very file a reader runs.

    text = render_config("127.0.0.1:8443", ["10.0.0.1:50051", "10.0.0.2:50051"])
    (prefix / "grpc.conf").write_text(text)
    subprocess.Popen(nginx_command(prefix, prefix / "grpc.conf"))
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Sequence

__all__ = ["CONFIG", "NGINX", "render_config", "nginx_command"]

CONFIG = pathlib.Path(__file__).with_name("grpc.conf")
NGINX = "/usr/sbin/nginx"        # where Debian's nginx packages put it
LISTEN = re.compile(r"^(\s*listen )\S+( http2;)$", re.MULTILINE)
BACKENDS = re.compile(r"^(\s*upstream grpc_backends \{\n)((?:\s*server \S+;\n)+)", re.MULTILINE)
BACKEND_INDENT = " " * 8


def render_config(listen: str, backends: Sequence[str], template: str | None = None) -> str:
    """grpc.conf with nginx listening on ``listen`` ("host:port") in front of ``backends``."""
    if not backends:
        raise ValueError("nginx needs at least one backend")
    text = CONFIG.read_text(encoding="utf-8") if template is None else template
    text, listens = LISTEN.subn(lambda found: f"{found[1]}{listen}{found[2]}", text)
    servers = "".join(f"{BACKEND_INDENT}server {backend};\n" for backend in backends)
    text, upstreams = BACKENDS.subn(lambda found: f"{found[1]}{servers}", text)
    if (listens, upstreams) != (1, 1):
        raise ValueError("the template needs one 'listen ... http2;' line and one "
                         "'upstream grpc_backends' block of 'server' lines")
    return text


def nginx_command(prefix: str | os.PathLike, config: str | os.PathLike, *,
                  nginx: str = NGINX) -> list[str]:
    """The command that runs nginx in the foreground with every file under ``prefix``.

    ``-e`` names the error log nginx uses before it has read ``config``.
    """
    return [nginx, "-p", f"{prefix}/", "-e", "error.log", "-c", str(config)]
