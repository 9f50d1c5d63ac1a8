"""House rules that a machine can check, run in CI so that they hold.

- pyflakes finds nothing in the source (unused imports, undefined names, ...);
- no `assert` in library code: peer data is checked with typed errors, and
  asserts vanish under `python -O` (STYLE.md, "Anti-patterns");
- every module opens with a docstring (STYLE.md: each module names the spec it implements).
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["wire", "transport", "rpc", "services"]


def source_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_pyflakes_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "pyflakes", *PACKAGES, "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout == "" and result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", list(source_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_code_has_no_assert_and_opens_with_a_docstring(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    assert not asserts, f"assert at lines {asserts}: use a typed error"
    if path.stat().st_size > 0:
        assert ast.get_docstring(tree), "a module opens with a docstring naming what it implements"
