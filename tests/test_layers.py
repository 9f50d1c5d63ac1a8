"""The layering rule of DESIGN.md, checked by walking every module's imports.

    services -> rpc -> transport -> (h2, hpack); rpc and services may use wire.
    wire imports nothing of ours; transport never imports wire or rpc;
    rpc never imports services.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUR_PACKAGES = {"wire", "transport", "rpc", "services"}
ALLOWED = {
    "wire": {"wire"},
    "transport": {"transport"},
    "rpc": {"rpc", "transport", "wire"},
    "services": {"services", "rpc", "transport", "wire"},
}


def imported_packages(path: pathlib.Path) -> set[str]:
    """Top-level names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(ROOT).parts[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.add(package)  # relative imports stay inside the package
            elif node.module:
                found.add(node.module.split(".")[0])
    return found


def modules():
    for package in sorted(OUR_PACKAGES):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield pytest.param(package, path, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize("package, path", list(modules()))
def test_imports_only_go_down(package, path):
    # A __main__ module is a program, not library code: programs sit on top of
    # every layer, so they may import any of them (`python -m transport.xray
    # --proto ...` builds its message decoder with wire.idl).
    allowed = OUR_PACKAGES if path.name == "__main__.py" else ALLOWED[package]
    ours = imported_packages(path) & OUR_PACKAGES
    upward = ours - allowed
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (a layer above {package})"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walker itself must catch a bad import, or the test above proves nothing."""
    fake = ROOT / "wire" / "_layer_probe_tmp.py"
    fake.write_text("import transport.framing\nfrom rpc import x\n")
    try:
        assert imported_packages(fake) & OUR_PACKAGES == {"transport", "rpc"}
    finally:
        fake.unlink()


def test_every_package_lists_public_names():
    for package in OUR_PACKAGES:
        tree = ast.parse((ROOT / package / "__init__.py").read_text())
        names = [t.id for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)]
        assert "__all__" in names, f"{package}/__init__.py has no __all__"
