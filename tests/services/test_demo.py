"""`make demo` works: every step passes, and no server process is left behind."""

import subprocess
import sys

import pytest


@pytest.mark.timeout(120)
def test_demo_runs_every_step_and_cleans_up():
    result = subprocess.run([sys.executable, "-m", "services.productinfo.demo"],
                            capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert "grpcio getProduct -> name='Samsung S10'" in out
    assert "NOT_FOUND" in out
    for frame in ["PREFACE", "SETTINGS", "HEADERS", "DATA", "grpc-status: 0"]:
        assert frame in out
    assert "Product(name='book', description='gRPC: Up and Running', price=35.5)" in out
    assert out.rstrip().endswith("all steps passed")
    leftover = subprocess.run(["pgrep", "-f", "services.productinfo.server --port 0"],
                              capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
