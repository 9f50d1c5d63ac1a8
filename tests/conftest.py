"""Put tests/ on sys.path, so that test folders can share helper modules
(tests/tcp_relay.py): test files themselves cannot import each other."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
