"""The interop client: ``python -m services.interop.client --server_port 10000 --test_case all``.

Spec: doc/interop-test-descriptions.md, "Client"
(https://github.com/grpc/grpc/blob/master/doc/interop-test-descriptions.md#client),
for the flags: --server_host, --server_port, --server_host_override,
--test_case, --use_tls, --use_test_ca (and the credential flags of the cases
that need Google production servers, accepted and unused).

TLS: ``--use_tls`` trusts the system's CAs, or the CA of ``--ca_file`` (this
project ships no test CA, so ``--use_test_ca`` needs ``--ca_file`` too: the
interop server prints where the CA it made is). ``--server_host_override``
names the host the certificate must hold, and the :authority, as in grpc's
clients.

One line per case, ``PASS name`` or ``FAIL name: reason``; the exit status is
0 when every case asked for passed, 1 otherwise, 2 for a usage error.
``--test_case all`` runs every case this client knows, each on a fresh channel.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys

import rpc
from transport import tls

from .cases import CASES, run_case
from .server import parse_bool

__all__ = ["run", "main"]

CASE_TIMEOUT = 30.0   # seconds for one whole case


async def run(host: str, port: int, test_case: str, *, authority: str | None = None,
              ssl: ssl.SSLContext | None = None, out=sys.stdout) -> bool:
    """Run ``test_case`` (or "all") against host:port; print one line per case; True if all passed.

    With ``ssl`` the calls go over TLS, and ``authority`` (--server_host_override)
    is also the name the server's certificate must hold.
    """
    names = list(CASES) if test_case == "all" else [test_case]
    passed = True
    for name in names:
        reason = await _run_one(host, port, name, authority, ssl)
        print(f"PASS {name}" if reason is None else f"FAIL {name}: {reason}", file=out, flush=True)
        passed = passed and reason is None
    return passed


async def _run_one(host: str, port: int, name: str, authority: str | None,
                   ssl: ssl.SSLContext | None) -> str | None:
    """None if the case passed, else the reason, on one line."""
    try:
        async with rpc.Channel(f"{host}:{port}", authority=authority, ssl=ssl,
                               server_hostname=authority if ssl else None) as channel:
            await asyncio.wait_for(run_case(name, channel), CASE_TIMEOUT)
    except AssertionError as failure:
        return _one_line(str(failure))
    except rpc.RpcError as error:
        return _one_line(f"unexpected status {error.code().name}: {error.details()!r}")
    except asyncio.TimeoutError:
        return f"did not finish within {CASE_TIMEOUT:g} s"
    except Exception as error:  # a case that crashes is a failed case, said in one line
        return _one_line(f"{type(error).__name__}: {error}")
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text else text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--server_host_override", default=None,
                        help="the :authority to claim, and with TLS the name to check "
                             "the server's certificate for")
    parser.add_argument("--test_case", default="large_unary",
                        help=f"one of: all, {', '.join(CASES)}")
    parser.add_argument("--use_tls", type=parse_bool, nargs="?", const=True, default=False)
    parser.add_argument("--use_test_ca", type=parse_bool, nargs="?", const=True, default=False,
                        help="trust the test CA of --ca_file rather than the system's")
    parser.add_argument("--ca_file", help="the CA certificate (PEM) to trust, with --use_tls")
    for unused in ("--default_service_account", "--oauth_scope", "--service_account_key_file",
                   "--service_config_json"):
        parser.add_argument(unused, help="(for the Google production cases, not run here)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.test_case != "all" and args.test_case not in CASES:
        print(f"interop client: unknown test case {args.test_case!r}; "
              f"known: all, {', '.join(CASES)}", file=sys.stderr)
        return 2
    if args.use_tls and args.use_test_ca and args.ca_file is None:
        print("interop client: --use_test_ca needs --ca_file (this project ships no test CA; "
              "the interop server prints where the CA it made is)", file=sys.stderr)
        return 2
    context = tls.client_context(ca=args.ca_file) if args.use_tls else None
    ok = asyncio.run(run(args.server_host, args.server_port, args.test_case,
                         authority=args.server_host_override, ssl=context))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
