"""The README's security example, ``python -m services.productinfo.secure_demo``, says what it should."""

import pytest

from services.productinfo import secure_demo

pytestmark = pytest.mark.timeout(20)


def test_the_secure_demo_shows_alpn_the_certificate_and_each_header(capsys):
    secure_demo.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ('BasicAuth("admin", "s3cret"): ALPN \'h2\', client certificate CN=demo-client')
    assert lines[1:3] == ["    authorization: Basic YWRtaW46czNjcmV0", "    caller: admin (basic)"]
    assert lines[4:6] == ["    authorization: Bearer opaque-1", "    caller: alice (bearer)"]
    assert lines[7].startswith("    authorization: Bearer eyJ") and lines[8] == "    caller: carol (jwt)"
    assert lines[9] == "no credentials: UNAUTHENTICATED: missing credentials (no authorization metadata)"
