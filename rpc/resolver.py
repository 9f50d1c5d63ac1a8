"""Name resolution: from a channel's target to the addresses it can connect to.

Spec: gRPC Name Resolution, https://github.com/grpc/grpc/blob/master/doc/naming.md
(the target is a URI, RFC 3986: https://www.rfc-editor.org/rfc/rfc3986#section-3).

    target = scheme ":" [ "//" authority "/" ] endpoint      (or a bare host[:port])

    dns:[//authority/]host[:port]              every A and AAAA record of host
    ipv4:address[:port][,address[:port],...]   the IPv4 addresses as written
    ipv6:address[,...] | ipv6:[address]:port[,...]
                                               the IPv6 addresses as written; a port
                                               needs the address in brackets
    unix:path | unix:///absolute_path          a Unix domain socket
    unix-abstract:name                         a socket in Linux's abstract namespace
                                               (the leading NUL is ours to add)

    A port that is not written is 443 (naming.md).

naming.md: "If no scheme prefix is specified or the scheme is unknown, the dns
scheme is used by default." So "localhost:50051" is a DNS name even though it
reads like the URI scheme "localhost": text before the first colon is a scheme
only when it is a registered one, or when what follows the colon is not a port
number. A target such as "xds:///svc" therefore names scheme "xds", which
``resolver_for`` refuses with a ValueError unless someone registered it, rather
than asking DNS for a host called "xds".

The plug-in API (naming.md, "Resolver Plugins"): ``register_resolver(scheme,
factory)`` maps a scheme to a factory ``Target -> Resolver``. A ``Resolver``
answers ``resolve()`` once; one that learns of changes later (``StaticResolver.update``,
``FileResolver`` watching its file) calls the functions given to ``watch()``
with the new list, from the event loop. An empty list there means "no backends
now"; ``resolve()`` itself never returns an empty list, it raises ResolutionError.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import pathlib
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = [
    "Address",
    "Target",
    "ResolutionError",
    "Resolver",
    "DnsResolver",
    "StaticResolver",
    "FileResolver",
    "parse_target",
    "split_host_port",
    "register_resolver",
    "unregister_resolver",
    "resolver_for",
    "target_address",
    "DEFAULT_PORT",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 443            # naming.md: "If not specified, 443 is used."
MAX_PORT = 65535              # ports are 16 bits (RFC 793)
LOCAL_AUTHORITY = "localhost"  # grpc's :authority for a unix: target
ABSTRACT_PREFIX = "\0"        # naming.md: an abstract socket name starts with a NUL byte
DNS_TIMEOUT = 10.0            # seconds one resolve() waits for the system's resolver
MTIME_GRANULARITY = 2.0       # seconds: the coarsest file mtime clock (FAT); see FileResolver

# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), case-insensitive.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
# A port is decimal digits (RFC 3986 §3.2.3); five are enough for 65535.
_PORT = re.compile(r"[0-9]{1,5}")
# A host name: dot-separated labels of letters, digits, "-" and "_" (RFC 1123 §2.1,
# widened to Unicode letters for internationalised names), with an optional final dot.
_HOST_NAME = re.compile(r"[\w-]+(?:\.[\w-]+)*\.?")


class ResolutionError(Exception):
    """A name that cannot be resolved now; the message says which and why."""


# --- addresses and targets --------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One place a server listens."""

    host: str              # an IP address or host name ("tcp"); the socket path ("unix")
    port: int = 0
    kind: str = "tcp"      # "tcp" or "unix"

    def __post_init__(self) -> None:
        if self.kind == "unix":
            _check_socket_path(self.host)
        elif self.kind == "tcp":
            if not self.host:
                raise ValueError("an address needs a host")
        else:
            raise ValueError(f"address kind {self.kind!r}: must be 'tcp' or 'unix'")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= MAX_PORT:
            raise ValueError(f"port {self.port!r}: must be an integer 0..{MAX_PORT}")

    def __str__(self) -> str:
        if self.kind == "unix":
            if self.host.startswith(ABSTRACT_PREFIX):
                return "unix-abstract:" + self.host[len(ABSTRACT_PREFIX):]
            return "unix:" + self.host
        if ":" in self.host:                  # IPv6: RFC 3986 §3.2.2 brackets it
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, default_port: int = DEFAULT_PORT) -> "Address":
        """ "host:port", "[v6]:port", "v6", "unix:/path", "unix-abstract:name" -> Address.

        No DNS: a host name stays a host name. ValueError says what is wrong.
        """
        scheme, colon, rest = text.partition(":")
        if colon and scheme in ("unix", "unix-abstract"):
            return cls(_socket_path(_uri(scheme, rest)), 0, "unix")
        host, port = split_host_port(text, default_port)
        _check_host(host, text)
        return cls(host, port)


@dataclass(frozen=True)
class Target:
    """A target split as naming.md's URI: scheme:[//authority/]endpoint."""

    scheme: str            # "dns", "ipv4", "ipv6", "unix", or a registered one
    authority: str         # the part after "//" (dns:[//authority/]host[:port]); usually ""
    endpoint: str          # the rest
    # The "//authority/" form was written (dns:///host): the URI path is "/" + endpoint.
    # unix: needs it to tell unix:///tmp/s (absolute) from unix:tmp/s (relative).
    has_authority: bool = False

    def __str__(self) -> str:
        middle = f"//{self.authority}/" if self.has_authority else ""
        return f"{self.scheme}:{middle}{self.endpoint}"


def parse_target(target: str) -> Target:
    """Split a target into scheme, authority and endpoint (URI syntax only).

    "localhost:50051" -> Target("dns", "", "localhost:50051");
    "dns:///localhost:50051" -> Target("dns", "", "localhost:50051", has_authority=True).
    What the endpoint must look like is the scheme's business: ``resolver_for``
    checks it. ValueError (naming the target) for an empty one.
    """
    if not isinstance(target, str):
        raise TypeError(f"a target is a string, not {type(target).__name__}")
    if not target:
        raise ValueError("bad target '': it is empty")
    scheme, colon, rest = target.partition(":")
    if not (colon and _names_a_scheme(scheme, rest)):
        return Target("dns", "", target)
    return _uri(scheme.lower(), rest)


def _uri(scheme: str, rest: str) -> Target:
    """RFC 3986 §3: hier-part = "//" authority path-abempty / path-absolute / path-rootless."""
    if rest.startswith("//"):
        authority, _, endpoint = rest[2:].partition("/")
        return Target(scheme, authority, endpoint, has_authority=True)
    return Target(scheme, "", rest)


def _names_a_scheme(scheme: str, rest: str) -> bool:
    """Whether "scheme:rest" has a URI scheme, or is a host and a port (naming.md's default)."""
    if not _SCHEME.fullmatch(scheme):
        return False
    return scheme.lower() in _factories or not _PORT.fullmatch(rest)


def split_host_port(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """ "host", "host:port", "[v6]", "[v6]:port" or a bare "v6" -> (host, port).

    A bare IPv6 address has no port (naming.md: "To use with a port the address
    must be enclosed in literal square brackets"). ValueError says what is wrong.
    """
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"{text!r}: '[' without ']'")
        host, after = text[1:close], text[close + 1:]
        if not _is_ip_literal(host, version=6):
            raise ValueError(f"{text!r}: brackets hold an IPv6 address, not {host!r}")
        if not after:
            return host, default_port
        if not after.startswith(":"):
            raise ValueError(f"{text!r}: {after!r} after the address")
        return host, _parse_port(after[1:], text)
    if text.count(":") > 1:
        if not _is_ip_literal(text, version=6):
            raise ValueError(f"{text!r}: too many colons for host:port, and not an IPv6 address")
        return text, default_port
    host, colon, port = text.partition(":")
    return host, (_parse_port(port, text) if colon else default_port)


def _parse_port(text: str, whole: str) -> int:
    if not _PORT.fullmatch(text):
        raise ValueError(f"{whole!r}: port {text!r} is not a number")
    port = int(text)
    if not 1 <= port <= MAX_PORT:
        raise ValueError(f"{whole!r}: port {port} is not in 1..{MAX_PORT}")
    return port


def _check_host(host: str, whole: str) -> None:
    if not host:
        raise ValueError(f"{whole!r}: the host is empty")
    if not (_is_ip_literal(host) or _HOST_NAME.fullmatch(host)):
        raise ValueError(f"{whole!r}: {host!r} is neither an IP address nor a host name")


def _is_ip_literal(host: str, version: int | None = None) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return version is None or address.version == version


def _check_socket_path(path: str) -> None:
    name = path[len(ABSTRACT_PREFIX):] if path.startswith(ABSTRACT_PREFIX) else path
    if not name:
        raise ValueError("a unix socket needs a path (or an abstract name)")
    if "\0" in name:
        raise ValueError(f"unix socket path {path!r}: NUL bytes are not allowed in it")


def _socket_path(target: Target) -> str:
    """unix:path, unix:///absolute_path and unix-abstract:name -> the path to connect to."""
    if target.authority:
        raise ValueError(f"{target.scheme}://path must be absolute: "
                         f"{target.scheme}:///tmp/socket (three slashes)")
    path = "/" + target.endpoint if target.has_authority else target.endpoint
    if target.scheme == "unix-abstract":
        if not path:
            raise ValueError("unix-abstract: needs a name")
        return ABSTRACT_PREFIX + path
    return path


# --- resolvers ---------------------------------------------------------------------------

OnUpdate = Callable[[list[Address]], None]


class Resolver:
    """Base class: turns a target into addresses."""

    authority: str = LOCAL_AUTHORITY   # what :authority should say for this target

    async def resolve(self) -> list[Address]:
        """One resolution: the addresses now, never empty; raises ResolutionError."""
        raise NotImplementedError

    def watch(self, on_update: OnUpdate) -> None:
        """Call ``on_update(addresses)`` when the list changes. Here: it never does."""

    async def close(self) -> None:
        """Stop watching; the resolver holds nothing else."""


def _notify(watchers: list[OnUpdate], addresses: list[Address]) -> None:
    """Give every watcher the new list; one that raises does not keep it from the others."""
    for on_update in list(watchers):
        try:
            on_update(list(addresses))
        except Exception:
            logger.exception("a resolver watcher raised on an address update")


class DnsResolver(Resolver):
    """dns:host[:port]: every A and AAAA record of host, from the system's resolver.

    ``loop.getaddrinfo`` gives the records in the order the system prefers (RFC
    6724's, with glibc); duplicates are dropped and the order kept. A literal IP
    address is its own answer, without asking.
    """

    def __init__(self, name: str, *, default_port: int = DEFAULT_PORT,
                 timeout: float = DNS_TIMEOUT) -> None:
        host, port = split_host_port(name, default_port)
        _check_host(host, name)
        self.host = host
        self.port = port
        self.timeout = timeout
        self.authority = name          # grpc's default :authority is the name as written

    def __repr__(self) -> str:
        return f"DnsResolver({self.authority!r})"

    async def resolve(self) -> list[Address]:
        if _is_ip_literal(self.host):
            return [Address(self.host, self.port)]
        records = await self._getaddrinfo()
        addresses = list(dict.fromkeys(
            Address(sockaddr[0], self.port)
            for family, _type, _proto, _name, sockaddr in records
            if family in (socket.AF_INET, socket.AF_INET6)))
        if not addresses:
            raise ResolutionError(f"DNS has no A or AAAA record for {self.host!r}")
        return addresses

    async def _getaddrinfo(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        lookup = loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        try:
            return await asyncio.wait_for(lookup, self.timeout)
        except asyncio.TimeoutError:      # before OSError: it is one in Python 3.11
            raise ResolutionError(
                f"cannot resolve {self.host!r}: no answer within {self.timeout} s") from None
        except (OSError, UnicodeError) as error:   # gaierror; a label the IDNA codec refuses
            reason = getattr(error, "strerror", None) or error
            raise ResolutionError(f"cannot resolve {self.host!r}: {reason}") from error


class StaticResolver(Resolver):
    """A list of addresses that changes only when told: ``update(addresses)``.

    ``StaticResolver(["127.0.0.1:50051", "[::1]:50051", "unix:/tmp/s"])``. It
    serves the ipv4:, ipv6:, unix: and unix-abstract: schemes, and lets a
    program or a test add and remove backends while a channel runs.
    """

    def __init__(self, addresses: Iterable[Address | str] = (), *,
                 default_port: int = DEFAULT_PORT, authority: str | None = None) -> None:
        self.default_port = default_port
        self._addresses = self._addresses_of(addresses)
        self._watchers: list[OnUpdate] = []
        self.authority = authority if authority is not None else _authority_of(self._addresses)

    def __repr__(self) -> str:
        return f"StaticResolver({[str(address) for address in self._addresses]})"

    @property
    def addresses(self) -> list[Address]:
        return list(self._addresses)

    async def resolve(self) -> list[Address]:
        if not self._addresses:
            raise ResolutionError("the static resolver holds no addresses")
        return list(self._addresses)

    def watch(self, on_update: OnUpdate) -> None:
        self._watchers.append(on_update)

    def update(self, addresses: Iterable[Address | str]) -> None:
        """Replace the list and tell every watcher (an empty list: no backends now)."""
        self._addresses = self._addresses_of(addresses)
        _notify(self._watchers, self._addresses)

    async def close(self) -> None:
        self._watchers.clear()

    def _addresses_of(self, addresses: Iterable[Address | str]) -> list[Address]:
        if isinstance(addresses, (str, Address)):
            raise TypeError("StaticResolver takes a list of addresses, not one")
        return [address if isinstance(address, Address) else Address.parse(address, self.default_port)
                for address in addresses]


def _authority_of(addresses: list[Address]) -> str:
    """The first TCP address as :authority (grpc's choice for ipv4:/ipv6:), else "localhost"."""
    if addresses and addresses[0].kind == "tcp":
        return str(addresses[0])
    return LOCAL_AUTHORITY


class FileResolver(Resolver):
    """Addresses read from a file, one a line, watched for changes.

        # backends of the order service
        10.0.0.7:50051
        [2001:db8::7]:50051      # a comment may follow an address
        unix:/run/orders.sock

    ``watch()`` starts a task that looks at the file every ``poll_interval``
    seconds and calls the watchers when the list it holds changes. A file that
    cannot be read or parsed for a while (being replaced, a bad line) keeps the
    last good list; the error is logged once and kept in ``last_error``.
    Write the file whole and rename it into place, so no poll sees half of it.

    The file is read again when its (inode, size, mtime) changes, and also
    while its mtime is within MTIME_GRANULARITY of the last read: a rewrite in
    the same clock tick of a coarse filesystem leaves the three unchanged
    (git calls such a file "racily clean").
    """

    def __init__(self, path: str | os.PathLike, poll_interval: float = 1.0, *,
                 default_port: int = DEFAULT_PORT, authority: str = LOCAL_AUTHORITY) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval {poll_interval!r}: must be > 0 seconds")
        self.path = pathlib.Path(path)
        self.poll_interval = poll_interval
        self.default_port = default_port
        self.authority = authority
        self.last_error: Exception | None = None
        self._addresses: list[Address] | None = None     # the last good list
        self._signature: tuple[int, int, int] | None = None
        self._racy = True
        self._content: bytes | None = None
        self._watchers: list[OnUpdate] = []
        self._task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return f"FileResolver({str(self.path)!r})"

    async def resolve(self) -> list[Address]:
        try:
            self._addresses = await self._load()
            self.last_error = None
        except (OSError, ValueError) as error:
            if self._addresses is None:
                raise ResolutionError(f"{self.path}: {error}") from error
            self._failed(error)
        if not self._addresses:
            raise ResolutionError(f"{self.path} lists no addresses")
        return list(self._addresses)

    def watch(self, on_update: OnUpdate) -> None:
        """Also start polling the file (this needs a running event loop)."""
        self._watchers.append(on_update)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def close(self) -> None:
        self._watchers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self._poll_once()

    async def _poll_once(self) -> None:
        try:
            addresses = await self._load(only_if_changed=True)
        except (OSError, ValueError) as error:
            self._failed(error)
            return
        self.last_error = None
        if addresses is None or addresses == self._addresses:
            return
        self._addresses = addresses
        _notify(self._watchers, addresses)

    def _failed(self, error: Exception) -> None:
        if str(error) != str(self.last_error):
            logger.warning("%s: %s; keeping the last good address list", self.path, error)
        self.last_error = error

    async def _load(self, only_if_changed: bool = False) -> list[Address] | None:
        """The file's addresses; None if ``only_if_changed`` and its content is unchanged."""
        stat = await asyncio.to_thread(os.stat, self.path)
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if only_if_changed and signature == self._signature and not self._racy:
            return None
        read_at = time.time()
        content = await asyncio.to_thread(self.path.read_bytes)
        unchanged = only_if_changed and content == self._content
        addresses = None if unchanged else self._parse(content)
        self._signature, self._racy = signature, read_at - stat.st_mtime < MTIME_GRANULARITY
        self._content = content
        return addresses

    def _parse(self, content: bytes) -> list[Address]:
        addresses = []
        for number, line in enumerate(content.decode("utf-8").splitlines(), start=1):
            words = line.split(maxsplit=1)
            if not words or words[0].startswith("#"):
                continue
            if len(words) > 1 and not words[1].startswith("#"):
                raise ValueError(f"line {number}: {line.strip()!r}: one address a line")
            try:
                addresses.append(Address.parse(words[0], self.default_port))
            except ValueError as error:
                raise ValueError(f"line {number}: {error}") from None
        return addresses


# --- the schemes -------------------------------------------------------------------------

ResolverFactory = Callable[[Target], Resolver]


def _dns(target: Target) -> Resolver:
    if target.authority:
        raise ValueError(
            f"dns://{target.authority}/ names a DNS server, which this resolver cannot ask "
            "(it uses the system's); write dns:///host:port")
    return DnsResolver(target.endpoint)


def _ip_list(version: int) -> ResolverFactory:
    """ipv4:/ipv6: comma-separated literal addresses, each with an optional port."""
    def factory(target: Target) -> Resolver:
        if target.authority:
            raise ValueError(f"ipv{version}: takes no authority, found {target.authority!r}")
        addresses = []
        for item in target.endpoint.split(","):
            host, port = split_host_port(item)
            if not _is_ip_literal(host, version):
                raise ValueError(f"{item!r} is not an IPv{version} address")
            addresses.append(Address(host, port))
        return StaticResolver(addresses)
    return factory


def _unix(target: Target) -> Resolver:
    """unix:path, unix:///absolute_path, unix-abstract:name: one socket."""
    return StaticResolver([Address(_socket_path(target), 0, "unix")])


_factories: dict[str, ResolverFactory] = {
    "dns": _dns,
    "ipv4": _ip_list(4),
    "ipv6": _ip_list(6),
    "unix": _unix,
    "unix-abstract": _unix,
}


def register_resolver(scheme: str, factory: ResolverFactory) -> None:
    """Resolve targets "scheme:..." with ``factory(Target)``, replacing any earlier one.

    As in grpc, a registered scheme wins over a host name that looks the same:
    after registering "orders", "orders:50051" is no longer a DNS name.
    """
    if not isinstance(scheme, str) or not _SCHEME.fullmatch(scheme):
        raise ValueError(f"scheme {scheme!r}: RFC 3986 wants a letter, then letters, digits, '+-.'")
    if not callable(factory):
        raise TypeError(f"a resolver factory is a callable Target -> Resolver, not {factory!r}")
    _factories[scheme.lower()] = factory


def unregister_resolver(scheme: str) -> None:
    """Forget a scheme (no error if it was not registered)."""
    _factories.pop(scheme.lower(), None)


def resolver_for(target: str | Resolver) -> Resolver:
    """The resolver for a target; a Resolver passes through as it is.

    ValueError naming the target for an unknown scheme or a malformed endpoint.
    """
    if isinstance(target, Resolver):
        return target
    parsed = parse_target(target)
    factory = _factories.get(parsed.scheme)
    if factory is None:
        raise ValueError(
            f"bad target {target!r}: unknown scheme {parsed.scheme!r} "
            f"(known: {', '.join(sorted(_factories))}); a host:port target needs a port number")
    try:
        resolver = factory(parsed)
    except ValueError as error:
        reason = str(error).removeprefix(f"{target!r}: ")     # say the target once
        raise ValueError(f"bad target {target!r}: {reason}") from error
    if not isinstance(resolver, Resolver):
        raise TypeError(f"the resolver factory for {parsed.scheme!r} gave {resolver!r}, not a Resolver")
    return resolver


def target_address(target: str) -> tuple[str, Any]:
    """The first address a target names, without asking DNS, in the shape of the
    channel's old ``parse_target``: ("tcp", (host, port)) or ("unix", path).

    For dns: targets the host is the name as written. ValueError as ``resolver_for``,
    and for a registered scheme whose addresses are not known without resolving.
    """
    resolver = resolver_for(target)
    if isinstance(resolver, DnsResolver):
        return "tcp", (resolver.host, resolver.port)
    if isinstance(resolver, StaticResolver) and resolver.addresses:
        address = resolver.addresses[0]
        return ("unix", address.host) if address.kind == "unix" else ("tcp", (address.host, address.port))
    raise ValueError(f"target {target!r}: its addresses are only known by resolving it")
