"""Test a socket group on a fake of the Durable Object runtime, on CPython.

    # conftest.py: the fixture, which closes every runtime it made
    from durable_effect.sockets.cloudflare.testing import cloudflare_runtime  # noqa: F401

    rt = cloudflare_runtime(config)   # or CloudflareTestRuntime(config), then rt.close()
    alice = await run_promise(rt.testing_connect(Chat, "room-1", opts))
    await run_promise(alice.receive(Say(text="hi")))
    await run_promise(rt.hibernate(Chat, "room-1"))   # a new DO instance on the next event
    await run_promise(rt.advance("30 seconds"))       # alarms, with the platform's retries

The runtime has the in-memory runtime's test API (`testing_connect`, `room`,
`advance`, `hibernate`, `clock`, `layer`), but every call goes the way it goes
on Cloudflare: the namespace client's `fetch` to the instance's Durable
Object (`socket_group.DO`, built over the fake `workers` module), the upgrade
through `WebSocketPair` and `acceptWebSocket`, frames through
`webSocketMessage`, closes through `webSocketClose`, alarms through `alarm()`.
Asyncio only (the fake delivers each event as an asyncio task of its own).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, Generic, Never, Protocol, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.effect.clock import Clock
from durable_effect.sockets.api import RoomHandle, SocketClientService, UpgradeOpts, _call
from durable_effect.sockets.cloudflare.client import NamespaceBackend, instance_name
from durable_effect.sockets.cloudflare.do import SocketGroup, make_socket_group_do
from durable_effect.sockets.cloudflare.fake import (
    OPEN,
    FakeCloudflare,
    FakeNamespace,
    FakeRequest,
    FakeResponse,
    FakeWebSocket,
    install_fake_modules,
    uninstall_fake_modules,
)
from durable_effect.sockets.engine import EngineOptions
from durable_effect.sockets.errors import RoomNotFoundError, UpgradeError
from durable_effect.sockets.memory import START_MS
from durable_effect.sockets.registry import SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

__all__ = [
    "CloudflareRuntimeFactory",
    "CloudflareTestConnection",
    "CloudflareTestRuntime",
    "WorkerConfigError",
    "check_worker",
    "cloudflare_runtime",
]

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
N = TypeVar("N", bound=str)
Rooms = TypeVar("Rooms")
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)


class CloudflareTestConnection(Generic[C, Ev, B]):
    """The client end of a WebSocket accepted by a (fake) Durable Object."""

    __test__ = False

    def __init__(
        self,
        runtime: CloudflareTestRuntime,
        room: WebSocketRoom[Any, C, Ev, B],
        client: FakeWebSocket,
    ) -> None:
        self._runtime = runtime
        self._room = room
        self.socket = client
        server = client.peer
        assert server is not None
        self.server = server
        self.id = server.tags[0]
        self.tags: tuple[str, ...] = tuple(server.tags[1:])
        self._decoded: list[B] = []

    @property
    def received(self) -> list[B]:
        """Server → client messages, decoded with the room's broadcast schema, in order."""
        for frame in self.socket.frames[len(self._decoded) :]:
            self._decoded.append(self._room.broadcast.validate_json(frame))
        return list(self._decoded)

    @property
    def raw_received(self) -> list[str]:
        return list(self.socket.frames)

    @property
    def close_code(self) -> int | None:
        return self.socket.close_code

    @property
    def close_reason(self) -> str:
        return self.socket.close_reason

    def is_open(self) -> bool:
        return self.socket.readyState == OPEN

    def fail_sends(self, on: bool = True) -> None:
        """Make the Durable Object's sends to this socket throw."""
        self.server.fail_sends = on

    def receive(self, event: Ev) -> Effect[None]:
        return self.receive_raw(event.to_json())

    def receive_raw(self, frame: object) -> Effect[None]:
        """A frame from this client: `str` and `bytes` verbatim, anything else as JSON."""
        data: str | bytes = frame if isinstance(frame, str | bytes) else json.dumps(frame)

        async def run() -> None:
            if self.is_open():
                await self._runtime.world.message_event(self.server, data)
                await self._runtime.world.settle()

        return cast(Effect[None], _call(run))

    def close(self, code: int = 1000, reason: str = "") -> Effect[None]:
        """Close from the client side: the Durable Object hears `webSocketClose`."""

        async def run() -> None:
            if self.is_open():
                self.socket.close(code, reason)
                await self._runtime.world.settle()

        return cast(Effect[None], _call(run))

    def __repr__(self) -> str:
        return f"CloudflareTestConnection(id={self.id!r}, open={self.is_open()})"


class _SettlingBackend(NamespaceBackend):
    """The namespace client of a test: after each call, the socket events it
    caused (a close's `webSocketClose`) are delivered before the call returns."""

    def __init__(self, runtime: CloudflareTestRuntime) -> None:
        super().__init__(runtime.config, runtime.namespace)
        self._world = runtime.world

    async def call(self, room: str, id: str, op: str, args: dict[str, object] | None = None) -> object:
        try:
            return await super().call(room, id, op, args)
        finally:
            await self._world.settle()

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        try:
            return await super().upgrade(room, id, request, opts)
        finally:
            await self._world.settle()


class CloudflareTestRuntime(Generic[Rooms_co]):
    """A socket group on the fake runtime, driven like the in-memory runtime."""

    def __init__(
        self,
        config: SocketConfig[Rooms_co, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
        *,
        binding: str = "ROOMS",
        class_name: str = "RoomsDO",
    ) -> None:
        install_fake_modules()
        self._installed = True
        self.config = config
        self.clock = TestClock(START_MS)
        self.world = FakeCloudflare(self.clock)
        clock_layer: Layer[object, object, object] = Layer.succeed(Clock, self.clock)
        layer = clock_layer if services is None else Layer.merge(clock_layer, services)
        self.group: SocketGroup[Rooms_co] = make_socket_group_do(
            config, class_name=class_name, services=layer, options=options, binding=binding
        )
        self.binding = binding
        self.namespace: FakeNamespace = self.world.bind(binding, self.group.DO)
        self.client: SocketClientService[Rooms_co] = SocketClientService(config, _SettlingBackend(self))

    async def aclose(self) -> None:
        """Deliver what is still queued, then `close()`."""
        await self.world.settle()
        self.close()

    def close(self) -> None:
        """Take the fake modules out of `sys.modules` again (events still queued are dropped)."""
        self.world.discard_pending()
        if self._installed:
            self._installed = False
            uninstall_fake_modules()

    # -- the client API ---------------------------------------------------------------------

    @overload
    def room(self, room: WebSocketRoom[S, C, Ev, B, N]) -> RoomHandle[S, C, Ev, B]: ...
    @overload
    def room(self, room: str) -> RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]: ...
    def room(
        self, room: WebSocketRoom[S, C, Ev, B, N] | str
    ) -> RoomHandle[S, C, Ev, B] | RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        return self.client.room(room)

    def layer(self) -> Layer[SocketClientService, Never, Never]:
        """Provides `SocketClientService` over the namespace (as `socket_group.layer(ns)` does)."""
        return Layer.succeed(SocketClientService, self.client)

    @overload
    def testing_connect(
        self, room: WebSocketRoom[S, C, Ev, B, N], id: str, opts: UpgradeOpts[C]
    ) -> Effect[CloudflareTestConnection[C, Ev, B], UpgradeError | RoomNotFoundError]: ...
    @overload
    def testing_connect(
        self, room: str, id: str, opts: UpgradeOpts[BaseModel]
    ) -> Effect[CloudflareTestConnection[BaseModel, TaggedStruct, TaggedStruct], UpgradeError | RoomNotFoundError]: ...
    def testing_connect(
        self, room: WebSocketRoom[S, C, Ev, B] | str, id: str, opts: UpgradeOpts[Any]
    ) -> Effect[Any, UpgradeError | RoomNotFoundError]:
        """Upgrade a WebSocket to instance `id` through the namespace, as a Worker would."""
        name = room if isinstance(room, str) else room.name

        async def run() -> CloudflareTestConnection[Any, Any, Any]:
            return await self._connect(name, id, opts)

        return _call(run)

    async def _connect(self, name: str, id: str, opts: UpgradeOpts[Any]) -> CloudflareTestConnection[Any, Any, Any]:
        room = self.config.room(name)
        request = FakeRequest(f"https://worker.test/ws/{name}/{id}", "GET", {"Upgrade": "websocket"})
        response = await _SettlingBackend(self).upgrade(name, id, request, opts)
        assert isinstance(response, FakeResponse) and isinstance(response.webSocket, FakeWebSocket)
        return CloudflareTestConnection(self, room, response.webSocket)

    def advance(self, duration: DurationInput) -> Effect[int]:
        """Move the test clock; run due alarms through `alarm()`, retried as Cloudflare does."""
        millis = Duration.decode(duration).millis

        async def run() -> int:
            return await self.world.advance(millis)

        return cast(Effect[int], _call(run))

    def hibernate(self, room: str | WebSocketRoom[Any, Any, Any, Any], id: str) -> Effect[None]:
        """Throw the instance's Durable Object away; sockets and storage stay."""
        name = room if isinstance(room, str) else room.name

        async def run() -> None:
            await self.world.settle()
            self.world.hibernate(self.binding, instance_name(name, id))

        return cast(Effect[None], _call(run))

    def fail_commits(self, room: str | WebSocketRoom[Any, Any, Any, Any], id: str, on: bool = True) -> None:
        """Make every storage write of the instance's Durable Object fail."""
        name = room if isinstance(room, str) else room.name
        self.world.object_data(self.binding, instance_name(name, id)).fail_writes = on

    def sockets(self, room: str, id: str) -> list[FakeWebSocket]:
        """The server ends the instance's Durable Object accepted (closed ones too)."""
        return list(self.world.object_data(self.binding, instance_name(room, id)).sockets)


class WorkerConfigError(ValueError):
    """What `check_worker` found: each problem on a line of its own."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def check_worker(main: ModuleType, wrangler: Mapping[str, Any]) -> None:
    """Check a Worker's main module against its wrangler config the way the runtime
    resolves Durable Object classes, on CPython (import `main` with the fake or the
    real `workers` module installed; parse `wrangler.jsonc` with e.g. `json5`).

    The runtime exports each `workers.DurableObject` subclass among the main
    module's public names (or its `__all__`) under the class's own `__name__`,
    and constructs it by looking that name up in the main module. Raises
    `WorkerConfigError` when a class is bound under another name than its own,
    two classes share a name, a binding's `class_name` is not exported, a socket
    group's `binding` is not the binding of its class, or a bound class has no
    migration that creates it."""
    workers = sys.modules.get("workers")
    if workers is None:
        raise WorkerConfigError(["import the main module first, with the `workers` module (or the fake) installed"])
    base: type = workers.DurableObject
    keys = list(getattr(main, "__all__", None) or (k for k in dir(main) if not k.startswith("_")))
    problems: list[str] = []
    exported: dict[str, type] = {}
    for key in keys:
        value = getattr(main, key, None)
        if not (isinstance(value, type) and issubclass(value, base) and value is not base):
            continue
        name = value.__name__
        if name in exported and exported[name] is not value:
            problems.append(f"two Durable Object classes are named {name!r}: give each socket group its own class_name")
        exported[name] = value
        if getattr(main, name, None) is not value:
            problems.append(
                f"{main.__name__}.{key} is a Durable Object class named {name!r}: the runtime exports it as "
                f"{name!r} and looks up {main.__name__}.{name}; export it as `{name} = ...`"
            )
    durable_objects = cast(Mapping[str, Any], wrangler.get("durable_objects") or {})
    bindings = [b for b in durable_objects.get("bindings") or () if not b.get("script_name")]
    created = {
        str(c)
        for m in wrangler.get("migrations") or ()
        for c in [*(m.get("new_sqlite_classes") or ()), *(m.get("new_classes") or ())]
    } | {str(r.get("to")) for m in wrangler.get("migrations") or () for r in m.get("renamed_classes") or ()}
    for b in bindings:
        class_name = str(b.get("class_name"))
        if class_name not in exported:
            problems.append(
                f"binding {b.get('name')!r}: no Durable Object class named {class_name!r} is exported from "
                f"{main.__name__} (exported: {sorted(exported)})"
            )
        if class_name not in created:
            problems.append(f"binding {b.get('name')!r}: no migration creates class {class_name!r}")
    for name, cls in exported.items():
        group = getattr(cls, "_socket_group", None)
        if not isinstance(group, SocketGroup):
            continue
        matching = [b for b in bindings if b.get("name") == group.binding]
        if not matching or any(b.get("class_name") != name for b in matching):
            problems.append(
                f"class {name!r} is bound to binding={group.binding!r} in make_socket_group_do, but wrangler has "
                f"no binding named {group.binding!r} with class_name {name!r}"
            )
    if problems:
        raise WorkerConfigError(problems)


class CloudflareRuntimeFactory(Protocol):
    """`cloudflare_runtime(config, services=None, options=None)` -> a fresh runtime on the fake.

    With the mypy plugin, `services` must provide what the config's handlers need.
    """

    def __call__(
        self,
        config: SocketConfig[Rooms, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
    ) -> CloudflareTestRuntime[Rooms]: ...


def _factory() -> Iterator[CloudflareRuntimeFactory]:
    made: list[CloudflareTestRuntime] = []

    def make(
        config: SocketConfig[Rooms, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
    ) -> CloudflareTestRuntime[Rooms]:
        rt = CloudflareTestRuntime(config, services, options)
        made.append(rt)
        return rt

    try:
        yield make
    finally:
        for rt in reversed(made):
            rt.close()


try:
    import pytest
except ImportError:  # pytest is only needed for the fixture
    pass
else:
    cloudflare_runtime = pytest.fixture(_factory, name="cloudflare_runtime")
