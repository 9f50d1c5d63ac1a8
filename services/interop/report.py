"""The interop matrix, run and written down: ``python -m services.interop.report``.

Runs the interop tests (tests/services/interop/test_matrix.py and
test_raw_h2.py, with pytest, in this process) and writes what happened to
services/interop/RESULTS.md: one row per official test case, one column per
pairing of client and server, a table each for plaintext and TLS, and the
wire-level checks below them. Nothing in
the file is written by hand; run this again after a change.

A developer's tool, not part of the library: it needs the test extras
(pytest, grpcio, grpcio-tools), as the tests do.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests" / "services" / "interop"
RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")

COLUMNS = {   # test function -> column heading
    "test_our_client_our_server": "our client → our server",
    "test_our_client_grpcio_server": "our client → grpcio server",
    "test_grpcio_client_our_server": "grpcio client → our server",
}
SECURITIES = {   # the matrix's second parameter -> the table's title
    "plaintext": "Plaintext (h2c)",
    "tls": "TLS (ALPN h2, a test CA, server name overridden to foo.test.google.fr)",
}
SHOWN = {     # pytest outcome -> what the table says
    "passed": "pass",
    "failed": "**FAIL**",
    "skipped": "**skipped**",     # the suite has no skips: this would be news
    "left out": "— ¹",
}
NOTES = """\
¹ Left out of the matrix: grpcio's Python API cannot express this cell. A grpcio
  servicer cannot see whether a request arrived compressed, so a grpcio server
  cannot check expect_compressed (test_our_client_compresses_unary_requests_as_the_case_says
  and test_our_client_compresses_streamed_requests_per_message check our client
  against a strict raw server instead); a grpcio call cannot send one message of
  a compressed call uncompressed (test_our_server_checks_expect_compressed_per_streamed_message
  sends our server those flags from a raw client instead). Both below.

Cases out of scope: those that need Google production credentials
(compute_engine_creds, jwt_token_creds, oauth2_auth_token, per_rpc_creds,
google_default_credentials, compute_engine_channel_credentials) and
cacheable_unary (needs a caching proxy in front of the server).

server_compressed_*: our client checks each response's Compressed-Flag
(call.response_compressed()); grpcio's client cannot see it and checks the
payloads only, as the descriptions allow ("if supported by the implementation").
"""


class Collector:
    """A pytest plugin that keeps each test's outcome and reason, by node id."""

    def __init__(self) -> None:
        self.outcomes: dict[str, tuple[str, str]] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            reason = ""
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                reason = report.longrepr[2]
            if report.outcome == "failed":
                reason = report.longreprtext.strip().splitlines()[-1] if report.longreprtext else ""
            self.outcomes[report.nodeid] = (report.outcome, reason)


def run_tests() -> Collector:
    import pytest

    collector = Collector()
    os.chdir(ROOT)
    pytest.main([str(TESTS / "test_matrix.py"), str(TESTS / "test_raw_h2.py"),
                 "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}"], plugins=[collector])
    return collector


def matrix_table(outcomes: dict[str, tuple[str, str]], security: str) -> list[str]:
    from services.interop.cases import CASES

    lines = ["| case | " + " | ".join(COLUMNS.values()) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for case in CASES:
        cells = []
        for function in COLUMNS:
            node = f"{_relative('test_matrix.py')}::{function}[{case}-{security}]"
            outcome, _ = outcomes.get(node, ("left out", ""))
            cells.append(SHOWN.get(outcome, outcome))
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines


def matrix_tables(outcomes: dict[str, tuple[str, str]]) -> list[str]:
    lines = []
    for security, title in SECURITIES.items():
        lines += [f"### {title}", "", *matrix_table(outcomes, security), ""]
    return lines


def raw_table(outcomes: dict[str, tuple[str, str]]) -> list[str]:
    prefix = f"{_relative('test_raw_h2.py')}::"
    lines = ["| wire-level check (test_raw_h2.py) | result |", "|---|---|"]
    for node, (outcome, _) in outcomes.items():
        if node.startswith(prefix):
            lines.append(f"| {node[len(prefix):]} | {SHOWN.get(outcome, outcome)} |")
    return lines


def reasons(outcomes: dict[str, tuple[str, str]]) -> list[str]:
    """The reason of every cell that did not simply pass, each once."""
    seen: dict[str, list[str]] = {}
    for node, (outcome, reason) in outcomes.items():
        if outcome != "passed" and reason:
            seen.setdefault(f"{SHOWN.get(outcome, outcome)}: {reason}", []).append(node.split("::")[-1])
    return [f"- {text} ({', '.join(nodes)})" for text, nodes in seen.items()]


def _relative(name: str) -> str:
    return str((TESTS / name).relative_to(ROOT))


def render(outcomes: dict[str, tuple[str, str]]) -> str:
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "# Interop results",
        "",
        f"Written by `python -m services.interop.report` on {when} (Python "
        f"{sys.version.split()[0]}, grpcio {_grpcio_version()}); do not edit by hand.",
        "The official test cases of doc/interop-test-descriptions.md, each run for every "
        "pairing of client and server, in plaintext and over TLS "
        "(tests/services/interop/test_matrix.py).",
        "",
        *matrix_tables(outcomes),
        NOTES,
        "## Checked on the wire",
        "",
        "What grpcio cannot set or see (the per-message Compressed-Flag), checked with a "
        "hand-driven HTTP/2 peer on the other end.",
        "",
        *raw_table(outcomes),
        "",
        "## Why a cell did not simply pass",
        "",
        *(reasons(outcomes) or ["- every cell that ran passed"]),
        "",
    ])


README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
README_START = "<!-- interop results: written by python -m services.interop.report -->"
README_END = "<!-- end of interop results -->"


def update_readme(outcomes: dict[str, tuple[str, str]]) -> None:
    """Put the case tables between the README's markers (if it has them)."""
    text = README.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return
    tables = "\n".join(matrix_tables(outcomes)).replace("### ", "#### ")
    text = text[:start + len(README_START)] + "\n" + tables + "\n" + text[end:]
    README.write_text(text, encoding="utf-8")


def _grpcio_version() -> str:
    import grpc

    return grpc.__version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    collector = run_tests()
    args.output.write_text(render(collector.outcomes), encoding="utf-8")
    update_readme(collector.outcomes)
    failed = [node for node, (outcome, _) in collector.outcomes.items() if outcome == "failed"]
    print(f"wrote {args.output} ({len(collector.outcomes)} results, {len(failed)} failed)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
