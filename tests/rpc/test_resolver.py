"""rpc.resolver: targets as doc/naming.md writes them, and the resolvers behind them.

Table-driven parsing (every form naming.md lists, each row saying what the
document says about it), real DNS for "localhost" checked against the
system's own getaddrinfo, the reserved ".invalid" TLD (RFC 6761 §6.4) for a
name that cannot resolve, live updates of the static and file resolvers, a
scheme registered by a user, and hypothesis for what random text may raise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpc.resolver import (
    Address,
    DnsResolver,
    FileResolver,
    ResolutionError,
    Resolver,
    StaticResolver,
    Target,
    parse_target,
    register_resolver,
    resolver_for,
    target_address,
    unregister_resolver,
)

from waiting import wait_until

pytestmark = pytest.mark.timeout(30)

WAIT = 5.0            # generous bound for anything a test waits for (CI is a loaded machine)
POLL = 0.02           # the file resolver's poll interval in these tests


def write_atomically(path, text: str) -> None:
    """Write a new version of a file the way FileResolver asks: whole, then renamed."""
    scratch = path.with_name(path.name + ".new")
    scratch.write_text(text)
    os.replace(scratch, path)


# --- target syntax -----------------------------------------------------------------------

# target, its Target, its addresses when they are known without DNS (else None), :authority
GOOD_TARGETS = [
    # naming.md: "If no scheme prefix is specified ... the dns scheme is used by default."
    ("localhost:50051", Target("dns", "", "localhost:50051"), None, "localhost:50051"),
    # naming.md: port "If not specified, 443 is used."
    ("localhost", Target("dns", "", "localhost"), None, "localhost"),
    ("example.com.", Target("dns", "", "example.com."), None, "example.com."),
    ("127.0.0.1:50051", Target("dns", "", "127.0.0.1:50051"), ["127.0.0.1:50051"], "127.0.0.1:50051"),
    ("127.0.0.1", Target("dns", "", "127.0.0.1"), ["127.0.0.1:443"], "127.0.0.1"),
    ("[::1]:50051", Target("dns", "", "[::1]:50051"), ["[::1]:50051"], "[::1]:50051"),
    ("[::1]", Target("dns", "", "[::1]"), ["[::1]:443"], "[::1]"),
    # a bare IPv6 address has no port: every colon belongs to the address
    ("::1", Target("dns", "", "::1"), ["[::1]:443"], "::1"),
    # naming.md: dns:[//authority/]host[:port]
    ("dns:///127.0.0.1:50051", Target("dns", "", "127.0.0.1:50051", has_authority=True),
     ["127.0.0.1:50051"], "127.0.0.1:50051"),
    ("dns:127.0.0.1:50051", Target("dns", "", "127.0.0.1:50051"), ["127.0.0.1:50051"], "127.0.0.1:50051"),
    ("dns:///example.com", Target("dns", "", "example.com", has_authority=True), None, "example.com"),
    # RFC 3986 §3.1: schemes are case-insensitive
    ("DNS:///[::1]:7", Target("dns", "", "[::1]:7", has_authority=True), ["[::1]:7"], "[::1]:7"),
    # naming.md: ipv4:address[:port][,address[:port],...]
    ("ipv4:127.0.0.1:50051", Target("ipv4", "", "127.0.0.1:50051"), ["127.0.0.1:50051"], "127.0.0.1:50051"),
    ("ipv4:127.0.0.1:1,10.0.0.2", Target("ipv4", "", "127.0.0.1:1,10.0.0.2"),
     ["127.0.0.1:1", "10.0.0.2:443"], "127.0.0.1:1"),
    ("ipv4:///127.0.0.1:5", Target("ipv4", "", "127.0.0.1:5", has_authority=True), ["127.0.0.1:5"], "127.0.0.1:5"),
    # naming.md's own examples: ipv6:[2607:f8b0:400e:c00::ef]:443 and ipv6:[::]:1234
    ("ipv6:[2607:f8b0:400e:c00::ef]:443", Target("ipv6", "", "[2607:f8b0:400e:c00::ef]:443"),
     ["[2607:f8b0:400e:c00::ef]:443"], "[2607:f8b0:400e:c00::ef]:443"),
    ("ipv6:[::]:1234", Target("ipv6", "", "[::]:1234"), ["[::]:1234"], "[::]:1234"),
    ("ipv6:::1,[::2]:5", Target("ipv6", "", "::1,[::2]:5"), ["[::1]:443", "[::2]:5"], "[::1]:443"),
    # naming.md: "To use with a port the address must be enclosed in literal square
    # brackets": unbracketed, ::1:80 is one address, 0:0:0:0:0:0:1:80
    ("ipv6:::1:80", Target("ipv6", "", "::1:80"), ["[::1:80]:443"], "[::1:80]:443"),
    # naming.md: unix:path (relative or absolute), unix://absolute_path (three slashes)
    ("unix:/tmp/s.sock", Target("unix", "", "/tmp/s.sock"), ["unix:/tmp/s.sock"], "localhost"),
    ("unix:///tmp/s.sock", Target("unix", "", "tmp/s.sock", has_authority=True),
     ["unix:/tmp/s.sock"], "localhost"),
    ("unix:run/s.sock", Target("unix", "", "run/s.sock"), ["unix:run/s.sock"], "localhost"),
    # naming.md: unix-abstract:abstract_path, "the implementation will prepend this null"
    ("unix-abstract:orders", Target("unix-abstract", "", "orders"), ["unix-abstract:orders"], "localhost"),
]


@pytest.mark.parametrize("target, parsed, addresses, authority", GOOD_TARGETS,
                         ids=[row[0] for row in GOOD_TARGETS])
async def test_every_target_form_of_naming_md(target, parsed, addresses, authority):
    assert parse_target(target) == parsed
    resolver = resolver_for(target)
    assert resolver.authority == authority
    if addresses is not None:                  # known without asking DNS
        resolved = await asyncio.wait_for(resolver.resolve(), WAIT)
        assert [str(address) for address in resolved] == addresses


# target, what the message says besides the target
BAD_TARGETS = [
    ("", "empty"),
    ("localhost:", "port number"),               # an empty port (grpc-go refuses it too)
    ("localhost:http", "port number"),           # ports are numbers: "localhost" is no scheme
    ("localhost:0", "not in 1..65535"),
    ("localhost:65536", "not in 1..65535"),
    ("dns:///localhost:99999", "not in 1..65535"),
    ("dns:///localhost:5x", "is not a number"),
    ("localhost:50051/extra", "port number"),    # trailing garbage
    ("localhost:50051 ", "port number"),
    ("127.0.0.1:50051x", "is not a number"),
    ("[::1]:50051x", "is not a number"),
    ("[::1]x", "after the address"),
    ("[::1", "without ']'"),
    ("[localhost]:80", "IPv6 address"),
    ("[]:80", "IPv6 address"),
    (":50051", "host is empty"),
    ("dns:///:50051", "host is empty"),
    ("dns:///", "host is empty"),
    ("dns:", "host is empty"),
    ("local host:50051", "neither an IP address nor a host name"),
    ("dns:///a..b:1", "neither an IP address nor a host name"),
    ("1:2:3", "not an IPv6 address"),
    # naming.md: the authority names a DNS server, "only supported by some implementations"
    ("dns://8.8.8.8:53/localhost:50051", "names a DNS server"),
    ("dns://localhost:50051", "names a DNS server"),     # two slashes where three were meant
    ("ipv4:", "not an IPv4 address"),
    ("ipv4:::1", "not an IPv4 address"),
    ("ipv4:localhost:80", "not an IPv4 address"),
    ("ipv4:127.0.0.1:1,", "not an IPv4 address"),       # an empty element
    ("ipv4:1.2.3.4:99999", "not in 1..65535"),
    ("ipv4://host/1.2.3.4", "takes no authority"),
    ("ipv6:127.0.0.1", "not an IPv6 address"),
    ("ipv6:[::1]:", "is not a number"),
    ("unix:", "needs a path"),
    ("unix://tmp/s.sock", "three slashes"),             # naming.md: the second form is absolute
    ("unix:/tmp/a\0b", "NUL"),
    ("unix-abstract:", "needs a name"),
    ("xds:///orders", "unknown scheme 'xds'"),
]


@pytest.mark.parametrize("target, reason", BAD_TARGETS, ids=[repr(row[0]) for row in BAD_TARGETS])
def test_malformed_targets_are_a_value_error_naming_the_target(target, reason):
    with pytest.raises(ValueError) as caught:
        resolver_for(target)
    assert repr(target) in str(caught.value)
    assert reason in str(caught.value)


def test_a_target_must_be_a_string():
    with pytest.raises(TypeError):
        parse_target(b"localhost:50051")


@pytest.mark.parametrize("target, expected", [
    ("localhost:50051", ("tcp", ("localhost", 50051))),
    ("dns:///example.com", ("tcp", ("example.com", 443))),
    ("[::1]:50051", ("tcp", ("::1", 50051))),
    ("ipv4:10.0.0.1:5,10.0.0.2:6", ("tcp", ("10.0.0.1", 5))),
    ("ipv6:[::1]:7", ("tcp", ("::1", 7))),
    ("unix:///tmp/s.sock", ("unix", "/tmp/s.sock")),
    ("unix-abstract:orders", ("unix", "\0orders")),
])
def test_target_address_keeps_the_shape_of_the_old_parse_target(target, expected):
    assert target_address(target) == expected


# --- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize("address, text", [
    (Address("127.0.0.1", 50051), "127.0.0.1:50051"),
    (Address("::1", 50051), "[::1]:50051"),                  # RFC 3986 §3.2.2: IPv6 in brackets
    (Address("example.com", 443), "example.com:443"),
    (Address("/tmp/s.sock", 0, "unix"), "unix:/tmp/s.sock"),
    (Address("\0orders", 0, "unix"), "unix-abstract:orders"),
])
def test_an_address_prints_as_a_target_would_name_it(address, text):
    assert str(address) == text
    assert Address.parse(text) == address


@pytest.mark.parametrize("arguments", [
    ("", 1), ("127.0.0.1", 65536), ("127.0.0.1", -1), ("127.0.0.1", True), ("127.0.0.1", "80"),
    ("/tmp/s", 0, "udp"), ("", 0, "unix"), ("\0", 0, "unix"), ("/a\0b", 0, "unix"),
])
def test_an_address_checks_its_fields(arguments):
    with pytest.raises(ValueError):
        Address(*arguments)


@settings(max_examples=200, deadline=None)
@given(host=st.ip_addresses(), port=st.integers(1, 65535))
def test_an_ip_address_survives_printing_and_parsing(host, port):
    address = Address(str(host), port)
    assert Address.parse(str(address)) == address


# --- DNS ---------------------------------------------------------------------------------


async def test_localhost_resolves_to_what_the_system_says():
    resolved = await asyncio.wait_for(resolver_for("localhost:50051").resolve(), WAIT)
    records = socket.getaddrinfo("localhost", 50051, type=socket.SOCK_STREAM)
    expected = list(dict.fromkeys(
        record[4][0] for record in records if record[0] in (socket.AF_INET, socket.AF_INET6)))
    assert [address.host for address in resolved] == expected
    assert {"127.0.0.1", "::1"} & set(expected)
    assert {(address.port, address.kind) for address in resolved} == {(50051, "tcp")}


async def test_a_literal_ip_address_is_its_own_answer_even_with_dns_out_of_reach():
    resolver = DnsResolver("[::1]:9", timeout=0.0)     # any lookup would time out at once
    assert await resolver.resolve() == [Address("::1", 9)]


async def test_an_invalid_name_is_a_resolution_error_soon():
    # RFC 6761 §6.4: names in .invalid never resolve. Whether the system answers at
    # once or not at all, the resolver's own timeout bounds the wait.
    resolver = DnsResolver("no-such-host.invalid:50051", timeout=3.0)
    with pytest.raises(ResolutionError, match="no-such-host.invalid"):
        await asyncio.wait_for(resolver.resolve(), WAIT)


# --- static ------------------------------------------------------------------------------


async def test_static_update_replaces_the_list_and_tells_every_watcher(caplog):
    resolver = StaticResolver(["127.0.0.1:1"])
    assert resolver.authority == "127.0.0.1:1"
    seen_first, seen_second = [], []

    def broken_watcher(addresses):
        raise RuntimeError("a watcher with a bug")

    resolver.watch(seen_first.append)
    resolver.watch(broken_watcher)
    resolver.watch(seen_second.append)
    with caplog.at_level(logging.ERROR, logger="rpc.resolver"):
        resolver.update(["127.0.0.1:2", Address("::1", 3), "unix:/tmp/s.sock"])
    expected = [Address("127.0.0.1", 2), Address("::1", 3), Address("/tmp/s.sock", 0, "unix")]
    assert seen_first == seen_second == [expected]
    assert "a resolver watcher raised" in caplog.text
    assert await resolver.resolve() == expected

    resolver.update([])                        # every backend gone: watchers hear of it
    assert seen_first[-1] == []
    with pytest.raises(ResolutionError):       # but resolve() never answers with nothing
        await resolver.resolve()

    await resolver.close()
    resolver.update(["127.0.0.1:4"])
    assert len(seen_first) == 2                # closed: no watchers left


def test_static_refuses_a_single_string_and_bad_addresses():
    with pytest.raises(TypeError):
        StaticResolver("127.0.0.1:1")
    with pytest.raises(ValueError, match="not a number"):
        StaticResolver(["127.0.0.1:x"])


# --- file --------------------------------------------------------------------------------


async def test_file_resolver_reads_lines_and_notices_a_change(tmp_path):
    path = tmp_path / "backends"
    path.write_text("# the order service\n127.0.0.1:1\n\n  [::1]:2   # the backup\nunix:/tmp/o.sock\n")
    resolver = FileResolver(path, poll_interval=POLL)
    assert await resolver.resolve() == [
        Address("127.0.0.1", 1), Address("::1", 2), Address("/tmp/o.sock", 0, "unix")]
    updates: asyncio.Queue = asyncio.Queue()
    tasks_before = asyncio.all_tasks()
    resolver.watch(updates.put_nowait)

    write_atomically(path, "127.0.0.1:3\n")
    assert await asyncio.wait_for(updates.get(), WAIT) == [Address("127.0.0.1", 3)]

    write_atomically(path, "# a comment changes nothing\n127.0.0.1:3\n")
    write_atomically(path, "127.0.0.1:4\n127.0.0.1:5\n")
    assert await asyncio.wait_for(updates.get(), WAIT) == [Address("127.0.0.1", 4), Address("127.0.0.1", 5)]

    await resolver.close()
    assert asyncio.all_tasks() == tasks_before                # the poller is gone


async def test_file_resolver_keeps_the_last_good_list_while_the_file_is_unreadable(tmp_path, caplog):
    path = tmp_path / "backends"
    path.write_text("127.0.0.1:1\n")
    resolver = FileResolver(path, poll_interval=POLL)
    good = await resolver.resolve()
    updates: asyncio.Queue = asyncio.Queue()
    resolver.watch(updates.put_nowait)

    with caplog.at_level(logging.WARNING, logger="rpc.resolver"):
        path.unlink()                                          # being replaced, say
        await wait_until(lambda: isinstance(resolver.last_error, FileNotFoundError))
        assert await resolver.resolve() == good                # the last good list

        write_atomically(path, "127.0.0.1:1\nnot an address!\n")  # half-edited
        await wait_until(lambda: "line 2" in str(resolver.last_error))
        assert updates.empty()
    assert caplog.text.count("keeping the last good address list") == 2   # once per error

    write_atomically(path, "127.0.0.1:2\n")
    assert await asyncio.wait_for(updates.get(), WAIT) == [Address("127.0.0.1", 2)]
    assert resolver.last_error is None
    await resolver.close()


async def test_file_resolver_sees_a_rewrite_that_keeps_size_and_mtime(tmp_path):
    # A coarse mtime clock can leave (inode, size, mtime) unchanged by a quick
    # rewrite; a file modified that recently is read again anyway.
    path = tmp_path / "backends"
    path.write_text("127.0.0.1:1\n")
    resolver = FileResolver(path, poll_interval=POLL)
    await resolver.resolve()
    updates: asyncio.Queue = asyncio.Queue()
    resolver.watch(updates.put_nowait)
    before = os.stat(path)
    with open(path, "r+b") as file:                            # same inode, same size,
        file.write(b"127.0.0.1:2\n")                           # never seen half-written
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
    assert await asyncio.wait_for(updates.get(), WAIT) == [Address("127.0.0.1", 2)]
    await resolver.close()


async def test_file_resolver_without_a_good_list_is_a_resolution_error(tmp_path):
    with pytest.raises(ResolutionError, match="No such file"):
        await FileResolver(tmp_path / "missing").resolve()
    (tmp_path / "bad").write_text("127.0.0.1:1 127.0.0.1:2\n")
    with pytest.raises(ResolutionError, match="line 1: .*one address a line"):
        await FileResolver(tmp_path / "bad").resolve()
    (tmp_path / "empty").write_text("# nobody\n")
    with pytest.raises(ResolutionError, match="no addresses"):
        await FileResolver(tmp_path / "empty").resolve()
    with pytest.raises(ValueError):
        FileResolver(tmp_path / "bad", poll_interval=0)


# --- plugging in ---------------------------------------------------------------------------


class Inventory(Resolver):
    """A user's resolver: services by name from a table of its own."""

    BACKENDS = {"orders": ["127.0.0.1:7001", "127.0.0.1:7002"]}

    def __init__(self, target: Target) -> None:
        if target.endpoint not in self.BACKENDS:
            raise ValueError(f"no service {target.endpoint!r} in the inventory")
        self.service = target.endpoint
        self.authority = target.endpoint

    async def resolve(self) -> list[Address]:
        return [Address.parse(text) for text in self.BACKENDS[self.service]]


@pytest.fixture
def inventory_scheme():
    register_resolver("inventory", Inventory)
    yield "inventory"
    unregister_resolver("inventory")


async def test_a_scheme_registered_by_a_user(inventory_scheme):
    resolver = resolver_for("inventory:orders")
    assert isinstance(resolver, Inventory) and resolver.authority == "orders"
    assert [str(a) for a in await resolver.resolve()] == ["127.0.0.1:7001", "127.0.0.1:7002"]
    assert isinstance(resolver_for("INVENTORY:///orders"), Inventory)
    # a registered scheme wins over a host name that reads the same (as in grpc)
    assert parse_target("inventory:50051") == Target("inventory", "", "50051")
    with pytest.raises(ValueError, match="'inventory:payments': no service 'payments'"):
        resolver_for("inventory:payments")


def test_an_unregistered_scheme_name_is_a_host_again(inventory_scheme):
    unregister_resolver(inventory_scheme)
    assert parse_target("inventory:50051") == Target("dns", "", "inventory:50051")
    with pytest.raises(ValueError, match="unknown scheme 'inventory'"):
        resolver_for("inventory:orders")


def test_a_resolver_passes_through_and_registration_is_checked():
    resolver = StaticResolver(["127.0.0.1:1"])
    assert resolver_for(resolver) is resolver
    with pytest.raises(ValueError, match="RFC 3986"):
        register_resolver("no spaces", Inventory)
    with pytest.raises(ValueError, match="RFC 3986"):
        register_resolver("1st", Inventory)
    with pytest.raises(TypeError):
        register_resolver("fine", "not callable")
    register_resolver("liar", lambda target: "not a resolver")
    try:
        with pytest.raises(TypeError, match="not a Resolver"):
            resolver_for("liar:x")
    finally:
        unregister_resolver("liar")


async def test_the_base_resolver_watches_nothing_and_closes_quietly():
    resolver = Resolver()
    resolver.watch(lambda addresses: None)
    await resolver.close()
    assert resolver.authority == "localhost"
    with pytest.raises(NotImplementedError):
        await resolver.resolve()


# --- random text ---------------------------------------------------------------------------

PREFIXES = ["", "dns:", "dns:///", "dns://", "ipv4:", "ipv6:", "ipv6:[", "unix:", "unix://",
            "unix:///", "unix-abstract:", "[", "localhost:", "x:"]
TARGET_CHARACTERS = "abcdlnsuxv46:/[],.%-_ 0123456789\0é"
target_like = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(PREFIXES),
                        st.text(alphabet=TARGET_CHARACTERS, max_size=30))


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(), target_like))
def test_random_text_is_a_target_or_a_value_error(text):
    try:
        parsed = parse_target(text)
    except ValueError:
        return
    assert isinstance(parsed, Target)
    try:
        resolver = resolver_for(text)
    except ValueError:
        return
    assert isinstance(resolver, Resolver) and isinstance(resolver.authority, str)
