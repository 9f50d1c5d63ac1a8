"""Fixtures for the rpc tests: both sides of a call, ours and grpcio's.

Every test of tests/rpc runs the same OrderManagement service
(services/ordermgmt/order_management.proto) on either implementation:

- ours: `rpc.load()` of the .proto, `rpc.Server`, `rpc.Channel`;
- grpcio's: grpc.aio, with stubs that grpcio-tools generates from the same
  .proto at test time and messages encoded by the `protobuf` package.

Both servers run one `Behaviour`, steered by the `x-cmd` request metadata
(see `Behaviour`), so a test names what the server should do and checks what
the client sees, in each direction:

    grpcio-to-ours   a grpcio client calls our server
    ours-to-grpcio   our client calls a grpcio server
    ours-to-ours     both sides are ours

Async tests need no plugin (tests/conftest.py runs them). Fixtures are
plain; a test opens its peers with `async with peers.session(...) as s`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import importlib
import importlib.resources
import pathlib
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import grpc.aio
import pytest

import rpc
from tcp_relay import TcpRelay

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORDERS_PROTO = ROOT / "services" / "ordermgmt" / "order_management.proto"
PRODUCTS_PROTO = ROOT / "services" / "productinfo" / "product_info.proto"
SERVICE = "ecommerce.OrderManagement"

DIRECTIONS = ["grpcio-to-ours", "ours-to-grpcio", "ours-to-ours"]
PATTERNS = ["unary_unary", "unary_stream", "stream_unary", "stream_stream"]
METHOD_OF = {
    "unary_unary": "getOrder",
    "unary_stream": "searchOrders",
    "stream_unary": "updateOrders",
    "stream_stream": "processOrders",
}

MIB = 1024 * 1024
BIG_LIMIT = 64 * MIB          # message limits for the large-message tests
# The interop special_status_message (doc/interop-test-descriptions.md).
SPECIAL_DETAILS = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
DETAILS = {
    "ascii": "plain details, 100% ASCII",
    "unicode": "détails: ☺ 😈 — 終わり",
    "special": SPECIAL_DETAILS,
    "empty": "",
}
SECRET = "secret-in-the-traceback-4711"  # a handler's exception text must never reach the client
TRAILING_ON_ABORT = (("t-why", "because"), ("t-why-bin", b"\x00\xff\x01"))


# --- the two implementations of the messages ----------------------------------------------


@pytest.fixture(scope="session")
def ours():
    """Our namespace for order_management.proto, with StringValue added."""
    loaded = rpc.load(ORDERS_PROTO)
    return SimpleNamespace(
        module=loaded,
        Order=loaded.Order,
        CombinedShipment=loaded.CombinedShipment,
        StringValue=loaded.lookup("google.protobuf.StringValue"),
        Servicer=loaded.OrderManagementServicer,
        Stub=loaded.OrderManagementStub,
        products=rpc.load(PRODUCTS_PROTO),
    )


@pytest.fixture(scope="session")
def theirs(tmp_path_factory):
    """grpcio's modules for order_management.proto, generated now by grpcio-tools."""
    from grpc_tools import protoc
    out = tmp_path_factory.mktemp("generated")
    include = importlib.resources.files("grpc_tools") / "_proto"
    status = protoc.main([
        "grpc_tools.protoc", f"-I{ORDERS_PROTO.parent}", f"-I{include}",
        f"--python_out={out}", f"--grpc_python_out={out}", str(ORDERS_PROTO),
    ])
    assert status == 0, "protoc failed"
    sys.path.insert(0, str(out))
    try:
        pb2 = importlib.import_module("order_management_pb2")
        pb2_grpc = importlib.import_module("order_management_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    from google.protobuf import wrappers_pb2
    return SimpleNamespace(
        Order=pb2.Order,
        CombinedShipment=pb2.CombinedShipment,
        StringValue=wrappers_pb2.StringValue,
        Servicer=pb2_grpc.OrderManagementServicer,
        Stub=pb2_grpc.OrderManagementStub,
        add_to_server=pb2_grpc.add_OrderManagementServicer_to_server,
    )


# --- what the servers do ---------------------------------------------------------------------


class Observations:
    """What the server handlers saw: named events a test can wait for, and values."""

    def __init__(self) -> None:
        self.seen: collections.deque[str] = collections.deque(maxlen=100)  # the latest, for messages
        self.counts: collections.Counter = collections.Counter()
        self.values: dict[str, Any] = {}
        self._events: dict[str, asyncio.Event] = {}

    def add(self, name: str, value: Any = None) -> None:
        self.seen.append(name)
        self.counts[name] += 1
        if value is not None:
            self.values[name] = value
        self._event(name).set()

    def _event(self, name: str) -> asyncio.Event:
        if name not in self._events:
            self._events[name] = asyncio.Event()
        return self._events[name]

    async def wait(self, name: str, timeout: float = 5.0) -> Any:
        """Wait for the event `name`; fail the test if it does not come in time."""
        try:
            await asyncio.wait_for(self._event(name).wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"the server never reported {name!r}; it saw {self.seen}") from None
        return self.values.get(name)

    def count(self, name: str) -> int:
        return self.counts[name]

    async def wait_count(self, name: str, count: int, timeout: float = 5.0) -> None:
        """Wait until the event `name` has happened `count` times (wait() only sees the first)."""
        for _ in range(int(timeout / 0.01)):
            if self.counts[name] >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"the server reported {name!r} {self.counts[name]} times, not {count}")


def parse_commands(metadata) -> dict[str, list[str]]:
    """x-cmd "echo;status:NOT_FOUND:ascii" -> {"echo": [], "status": ["NOT_FOUND", "ascii"]}."""
    commands: dict[str, list[str]] = {}
    for key, value in metadata:
        if key == "x-cmd":
            for command in value.split(";"):
                name, *args = command.split(":")
                commands[name] = args
    return commands


class Behaviour:
    """The OrderManagement handlers, written once for both servers.

    Commands (x-cmd, ";"-separated):
      echo                 initial metadata := the request's x-* metadata; trailing
                           metadata := the same, keys renamed t-*
      status:CODE:KEY      abort(CODE, DETAILS[KEY], TRAILING_ON_ABORT)
      setcode:CODE:KEY     set_code/set_details, then end normally
      rich:CODE            abort with a google.rpc.Status in grpc-status-details-bin
      raise                the handler raises RuntimeError(SECRET)
      sleep:S              sleep S seconds (records time_remaining first)
      size:N               responses carry N bytes (Order.description)
      count:N              searchOrders yields N orders (default 3)
      first:N              streaming responses: N messages before the commands above
      stopafter:N          streaming requests: stop reading after N messages
      noread               client-streaming: never read the requests, sleep
      hold                 streaming requests: sleep once the requests are read
      compress:NAME        context.set_compression(NAME)
      context              record what the context methods say
      done                 add_done_callback records "done:<method>"

    Each handler records "started:<method>", "cancelled:<method>" when
    asyncio.CancelledError reaches it, and "finished:<method>" on return.
    """

    def __init__(self, messages: Any, codes: Any, compressions: dict, obs: Observations) -> None:
        self.m = messages
        self.codes = codes
        self.compressions = compressions
        self.obs = obs

    async def _prologue(self, method: str, context) -> dict:
        self.obs.add(f"started:{method}")
        commands = parse_commands(context.invocation_metadata())
        if "echo" in commands:
            echoed = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
            await context.send_initial_metadata(echoed)
            context.set_trailing_metadata([("t-" + k[2:], v) for k, v in echoed])
        if "compress" in commands:
            context.set_compression(self.compressions[commands["compress"][0]])
        if "done" in commands:
            context.add_done_callback(lambda _: self.obs.add(f"done:{method}"))
        if "context" in commands:
            self.obs.add("context", {
                "metadata": tuple((k, v) for k, v in context.invocation_metadata()),
                "peer": context.peer(),
                "time_remaining": context.time_remaining(),
                "cancelled": context.cancelled(),
            })
        return commands

    async def _commands(self, method: str, commands: dict, context) -> None:
        if "sleep" in commands:
            self.obs.add(f"time_remaining:{method}", context.time_remaining() or -1.0)
            await asyncio.sleep(float(commands["sleep"][0]))
        if "status" in commands:
            code, key = commands["status"]
            await context.abort(self.codes[code], DETAILS[key], TRAILING_ON_ABORT)
        if "rich" in commands:
            code = self.codes[commands["rich"][0]]
            await context.abort(code, "rich", (("grpc-status-details-bin", rich_status_bytes(code)),))
        if "setcode" in commands:
            code, key = commands["setcode"]
            context.set_code(self.codes[code])
            context.set_details(DETAILS[key])
        if "raise" in commands:
            raise RuntimeError(SECRET)

    @contextlib.contextmanager
    def _watch(self, method: str):
        try:
            yield
        except asyncio.CancelledError:
            self.obs.add(f"cancelled:{method}")
            raise
        self.obs.add(f"finished:{method}")

    def _order(self, index: int, commands: dict, request_length: int = 0):
        size = int(commands.get("size", ["0"])[0])
        return self.m.Order(id=str(index), items=[str(request_length)], description="z" * size)

    async def getOrder(self, request, context):
        with self._watch("getOrder"):
            commands = await self._prologue("getOrder", context)
            await self._commands("getOrder", commands, context)
            if "setcode" in commands:
                return None
            return self._order(0, commands, len(request.value))

    async def searchOrders(self, request, context):
        with self._watch("searchOrders"):
            commands = await self._prologue("searchOrders", context)
            for index in range(int(commands.get("first", ["0"])[0])):
                yield self._order(index, commands, len(request.value))
            await self._commands("searchOrders", commands, context)
            for index in range(int(commands.get("count", ["3"])[0])):
                yield self._order(index, commands, len(request.value))

    async def updateOrders(self, request_iterator, context):
        with self._watch("updateOrders"):
            commands = await self._prologue("updateOrders", context)
            if "noread" in commands:
                await asyncio.sleep(3600)
            count = total = 0
            stop = int(commands.get("stopafter", ["0"])[0])
            async for order in request_iterator:
                count += 1
                total += len(order.description)
                if count == stop:
                    break
            await self._commands("updateOrders", commands, context)
            if "hold" in commands:
                await asyncio.sleep(3600)
            padding = int(commands.get("size", ["0"])[0])
            return self.m.StringValue(value=f"{count},{total}" + ("," + "z" * padding if padding else ""))

    async def processOrders(self, request_iterator, context):
        with self._watch("processOrders"):
            commands = await self._prologue("processOrders", context)
            first = int(commands.get("first", ["0"])[0])
            stop = int(commands.get("stopafter", ["0"])[0])
            size = int(commands.get("size", ["0"])[0])
            count = 0
            async for request in request_iterator:
                count += 1
                if count == first + 1:
                    await self._commands("processOrders", commands, context)
                orders = [self.m.Order(description="z" * size)] if size else []
                yield self.m.CombinedShipment(id=str(count), status=str(len(request.value)),
                                              ordersList=orders)
                if count == stop:
                    break
            if count <= first:
                await self._commands("processOrders", commands, context)
            if "hold" in commands:
                await asyncio.sleep(3600)


def rich_status_bytes(code) -> bytes:
    """A google.rpc.Status, encoded by our codec (field for field status.proto)."""
    number = code.value[0] if isinstance(code.value, tuple) else int(code.value)
    return rpc.Status(
        code=number, message="rich",
        details=[rpc.status.Any(type_url="type.googleapis.com/test.Detail", value=b"\x08\x2a")],
    ).encode()


# --- peers ---------------------------------------------------------------------------------


OUR_COMPRESSIONS = {"gzip": "gzip", "deflate": "deflate", "none": None}
GRPC_COMPRESSIONS = {"gzip": grpc.Compression.Gzip, "deflate": grpc.Compression.Deflate,
                     "none": grpc.Compression.NoCompression}
RPC_ERRORS = (grpc.aio.AioRpcError, rpc.RpcError)


@dataclass
class Session:
    """One server and one channel to it, with helpers that hide which side is whose."""

    kind: str                        # "ours" or "grpcio": the client's kind
    server_kind: str
    msg: Any                         # the client's message classes
    stub: Any
    channel: Any
    server: Any
    port: int
    obs: Observations
    target: str
    proxy: Any = None
    extra: dict = field(default_factory=dict)

    def compression(self, name: str) -> Any:
        return (OUR_COMPRESSIONS if self.kind == "ours" else GRPC_COMPRESSIONS)[name]

    def method(self, pattern: str):
        return getattr(self.stub, METHOD_OF[pattern])

    def request(self, pattern: str, size: int = 0, index: int = 0):
        """A request message for ``pattern``, carrying ``size`` bytes."""
        if pattern in ("stream_unary",):
            return self.msg.Order(id=str(index), description="a" * size)
        return self.msg.StringValue(value="a" * size)

    def start(self, pattern: str, *, size: int = 0, count: int = 1, requests=None, **options):
        """Start a call of ``pattern``; streamed requests come from ``requests`` or ``count`` of them."""
        callable_ = self.method(pattern)
        if pattern.startswith("unary"):
            return callable_(self.request(pattern, size), **options)
        if requests is None:
            requests = [self.request(pattern, size, index) for index in range(count)]
        return callable_(iter(requests), **options)

    async def run(self, pattern: str, **options) -> tuple[list, Any]:
        """Make a call to its end: (responses, call)."""
        call = self.start(pattern, **options)
        if pattern.endswith("unary"):
            return [await call], call
        return [response async for response in call], call

    async def fails(self, pattern: str, **options) -> "Failure":
        """Make a call that must fail; what the client saw."""
        call = self.start(pattern, **options)
        return await failure_of(self, pattern, call)

    def raw(self, pattern: str, path: str):
        """A multi-callable for ``path`` without (de)serializers: bytes in, bytes out."""
        return getattr(self.channel, pattern)(path)


@dataclass
class Failure:
    code: str
    details: str
    trailing_metadata: list
    responses: list


async def failure_of(session: Session | None, pattern: str, call) -> Failure:
    responses = []
    try:
        if pattern.endswith("unary"):
            responses.append(await call)
        else:
            async for response in call:
                responses.append(response)
    except RPC_ERRORS as error:
        return Failure(error.code().name, error.details(), metadata_list(error.trailing_metadata()),
                       responses)
    raise AssertionError(f"the call succeeded with {responses!r}")


def metadata_list(metadata) -> list:
    """Metadata of either library as a list of (key, value), without grpcio's own keys."""
    if metadata is None:
        return []
    return [(key, value) for key, value in metadata if not key.startswith(("grpc-", ":"))]


class Peers:
    """Makes sessions for one direction (grpcio-to-ours, ours-to-grpcio, ours-to-ours)."""

    def __init__(self, direction: str, ours, theirs) -> None:
        self.direction = direction
        self.client_kind, _, self.server_kind = direction.split("-")
        self.ours = ours
        self.theirs = theirs

    def __repr__(self) -> str:
        return f"Peers({self.direction})"

    @contextlib.asynccontextmanager
    async def session(self, *, server_compression: str | None = None,
                      client_compression: str | None = None,
                      server_max_receive: int | None = None, server_max_send: int | None = None,
                      client_max_receive: int | None = None, client_max_send: int | None = None,
                      server_interceptors=(), client_interceptors=(), extra_servicers=(),
                      proxy: bool = False):
        obs = Observations()
        server, port = await self._start_server(obs, server_compression, server_max_receive,
                                                server_max_send, server_interceptors, extra_servicers)
        relay = None
        try:
            if proxy:
                relay = await Proxy.start(port)
            target = f"127.0.0.1:{relay.port if relay else port}"
            channel, stub, msg = self._open_channel(target, client_compression, client_max_receive,
                                                    client_max_send, client_interceptors)
            try:
                yield Session(kind=self.client_kind, server_kind=self.server_kind, msg=msg,
                              stub=stub, channel=channel, server=server, port=port, obs=obs,
                              target=target, proxy=relay)
            finally:
                await asyncio.wait_for(channel.close(), 5)
        finally:
            if relay is not None:
                relay.close()
            await asyncio.wait_for(server.stop(0), 5)

    async def _start_server(self, obs, compression, max_receive, max_send, interceptors, extra):
        if self.server_kind == "ours":
            limits = {}
            if max_receive is not None:
                limits["max_receive_message_length"] = max_receive
            if max_send is not None:
                limits["max_send_message_length"] = max_send
            server = rpc.Server(interceptors=interceptors, compression=OUR_COMPRESSIONS.get(compression),
                                **limits)
            servicer_class = type("OurOrders", (Behaviour, self.ours.Servicer), {})
            server.add_service(servicer_class(self.ours, rpc.StatusCode.__members__,
                                              OUR_COMPRESSIONS, obs))
            server.add_method_handlers(our_raw_handlers())
            for servicer in extra:
                server.add_service(servicer)
            port = await server.start("127.0.0.1:0")
            return server, port
        options = []
        if max_receive is not None:
            options.append(("grpc.max_receive_message_length", max_receive))
        if max_send is not None:
            options.append(("grpc.max_send_message_length", max_send))
        server = grpc.aio.server(options=options, interceptors=interceptors,
                                 compression=GRPC_COMPRESSIONS.get(compression))
        servicer_class = type("GrpcioOrders", (Behaviour, self.theirs.Servicer), {})
        self.theirs.add_to_server(servicer_class(self.theirs, grpc.StatusCode.__members__,
                                                 GRPC_COMPRESSIONS, obs), server)
        server.add_generic_rpc_handlers((grpcio_raw_handlers(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    def _open_channel(self, target, compression, max_receive, max_send, interceptors):
        if self.client_kind == "ours":
            limits = {}
            if max_receive is not None:
                limits["max_receive_message_length"] = max_receive
            if max_send is not None:
                limits["max_send_message_length"] = max_send
            channel = rpc.Channel(target, compression=OUR_COMPRESSIONS.get(compression),
                                  interceptors=interceptors, **limits)
            return channel, self.ours.Stub(channel), self.ours
        options = []
        if max_receive is not None:
            options.append(("grpc.max_receive_message_length", max_receive))
        if max_send is not None:
            options.append(("grpc.max_send_message_length", max_send))
        channel = grpc.aio.insecure_channel(target, options=options, interceptors=interceptors or None,
                                            compression=GRPC_COMPRESSIONS.get(compression))
        return channel, self.theirs.Stub(channel), self.theirs


# A service of raw bytes, /test.Raw/<pattern>, answering bytes that are no
# protobuf message: field 1, LEN, then a length varint cut off.
GARBAGE = b"\x0a\xff\xff"
RAW_SERVICE = "test.Raw"


async def _garbage_unary(request, context):
    return GARBAGE


async def _garbage_stream(request, context):
    yield GARBAGE


def our_raw_handlers():
    return [
        rpc.MethodHandler(path=f"/{RAW_SERVICE}/{pattern}", cardinality=rpc.Cardinality(pattern),
                          behaviour=_garbage_stream if pattern.endswith("stream") else _garbage_unary)
        for pattern in PATTERNS
    ]


def grpcio_raw_handlers():
    return grpc.method_handlers_generic_handler(RAW_SERVICE, {
        "unary_unary": grpc.unary_unary_rpc_method_handler(_garbage_unary),
        "unary_stream": grpc.unary_stream_rpc_method_handler(_garbage_stream),
        "stream_unary": grpc.stream_unary_rpc_method_handler(_garbage_unary),
        "stream_stream": grpc.stream_stream_rpc_method_handler(_garbage_stream),
    })


@pytest.fixture(params=DIRECTIONS)
def peers(request, ours, theirs) -> Peers:
    """Both directions against grpcio, and ours against ours."""
    return Peers(request.param, ours, theirs)


@pytest.fixture
def make_peers(ours, theirs):
    """Peers for a direction the test names itself."""
    return lambda direction: Peers(direction, ours, theirs)


# --- a TCP relay: bytes counted, connections cut on demand -----------------------------------


Proxy = TcpRelay     # relays a session's calls, counting bytes; cut() drops them (tests/tcp_relay.py)


# --- shared helpers as fixtures (test files cannot import each other) ----------------------------


@pytest.fixture(scope="session")
def helpers():
    return SimpleNamespace(
        failure_of=failure_of, metadata_list=metadata_list, parse_commands=parse_commands,
        rich_status_bytes=rich_status_bytes, Proxy=Proxy, Observations=Observations,
        Behaviour=Behaviour, DETAILS=DETAILS, SECRET=SECRET, SPECIAL_DETAILS=SPECIAL_DETAILS,
        TRAILING_ON_ABORT=TRAILING_ON_ABORT, PATTERNS=PATTERNS, METHOD_OF=METHOD_OF,
        SERVICE=SERVICE, RAW_SERVICE=RAW_SERVICE, MIB=MIB, BIG_LIMIT=BIG_LIMIT, RPC_ERRORS=RPC_ERRORS,
        OUR_COMPRESSIONS=OUR_COMPRESSIONS, GRPC_COMPRESSIONS=GRPC_COMPRESSIONS,
    )
