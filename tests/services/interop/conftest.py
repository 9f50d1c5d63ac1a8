"""The interop tests' helpers (grpcio_peer, raw_h2) are plain modules
beside the tests: put this folder on sys.path so the tests can import them."""

import pathlib
import sys

HERE = str(pathlib.Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
