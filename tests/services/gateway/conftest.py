"""Fixtures of the gateway's tests (the harness itself is gateway_harness.py)."""

import pytest

from services.gateway.testdata.bookshelf import Bookshelf, bookshelf

from .gateway_harness import BackgroundGateway


@pytest.fixture(scope="module")
def shelf():
    """The Bookshelf service behind the gateway, shared by a module's tests."""
    with BackgroundGateway(Bookshelf(), bookshelf.services.values()) as stack:
        yield stack
