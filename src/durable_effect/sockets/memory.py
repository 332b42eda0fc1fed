"""The in-memory host: deterministic rooms for tests.

Storage is a dict per instance, time is a `TestClock` moved by
`rt.advance(...)`, sockets are `TestConnection`s that record what the server
sent. `rt.hibernate(room, id)` drops every in-memory object of an instance
(its connection map, its lock) while storage and sockets stay, exactly like
a Durable Object that hibernated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Never, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.effect.clock import Clock
from durable_effect.platform.memory import START_MS, MemoryStore, fire_due_alarms
from durable_effect.sockets.api import RoomHandle, SocketClientService, UpgradeOpts, _call
from durable_effect.sockets.engine import Engine, EngineOptions, Instance, InstanceBackend
from durable_effect.sockets.errors import RoomNotFoundError, UpgradeError
from durable_effect.sockets.host import HostSocket
from durable_effect.sockets.registry import SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
N = TypeVar("N", bound=str)
Rooms = TypeVar("Rooms")
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)

__all__ = [
    "START_MS",
    "InMemorySocketRuntime",
    "TestConnection",
    "UpgradeResponse",
    "make_in_memory_socket_runtime",
]

class MemorySocket:
    """A socket whose peer is a `TestConnection`."""

    __slots__ = ("_attachment", "_fail_sends", "close_code", "close_reason", "frames", "open", "tags")

    changes = 0
    """Counts closes and send-failure switches of every socket: a host's
    cached fan-out (see `MemoryInstanceHost.send_all`) is valid while it holds."""

    def __init__(self, tags: list[str]) -> None:
        self.tags = tags
        self._attachment: str | None = None
        self.frames: list[str] = []
        self.open = True
        self.close_code: int | None = None
        self.close_reason = ""
        self._fail_sends = False

    @property
    def fail_sends(self) -> bool:
        """Sends to this socket raise (a test's simulated failure)."""
        return self._fail_sends

    @fail_sends.setter
    def fail_sends(self, on: bool) -> None:
        MemorySocket.changes += 1
        self._fail_sends = on

    def is_open(self) -> bool:
        return self.open

    def send(self, frame: str) -> None:
        if not self.open:
            raise ConnectionError("socket is closed")
        if self._fail_sends:
            raise ConnectionError("simulated send failure")
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        if self.open:
            MemorySocket.changes += 1
            self.open = False
            self.close_code = code
            self.close_reason = reason

    def attachment(self) -> str | None:
        return self._attachment

    def set_attachment(self, data: str) -> None:
        self._attachment = data


class MemoryInstanceHost(MemoryStore):
    """Storage, alarm and sockets of one instance, in memory."""

    def __init__(self, clock: TestClock) -> None:
        super().__init__(clock)
        self.socket_list: list[MemorySocket] = []
        self._seen: Sequence[HostSocket] | None = None
        self._fast: tuple[Sequence[HostSocket], list[Callable[[str], None]], int] | None = None

    def send_all(self, sockets: Sequence[HostSocket], frame: str) -> tuple[int, list[tuple[int, Exception]]]:
        # The engine hands the same list for every broadcast to everyone: once it
        # has come twice with every socket open and sending, its appends are
        # kept, and reused while no socket anywhere closes or changes `fail_sends`.
        fast = self._fast
        if fast is not None and fast[0] is sockets and len(fast[1]) == len(sockets) and fast[2] == MemorySocket.changes:
            for deliver in fast[1]:
                deliver(frame)
            return len(sockets), []
        changes = MemorySocket.changes
        delivered = 0
        failed: list[tuple[int, Exception]] = []
        memory_sockets = cast("Sequence[MemorySocket]", sockets)
        for i, socket in enumerate(memory_sockets):
            if socket.open:
                if socket._fail_sends:
                    failed.append((i, ConnectionError("simulated send failure")))
                else:
                    socket.frames.append(frame)
                    delivered += 1
        if delivered == len(sockets) and changes == MemorySocket.changes:
            if self._seen is sockets:
                self._fast = (sockets, [s.frames.append for s in memory_sockets], changes)
            self._seen = sockets
        return delivered, failed

    def sockets(self) -> Sequence[MemorySocket]:
        self.socket_list = [s for s in self.socket_list if s.open]
        return self.socket_list


class TestConnection(Generic[C, Ev, B]):
    """The client end of an in-memory socket."""

    __test__ = False  # not a pytest test class

    def __init__(self, runtime: InMemorySocketRuntime, room: WebSocketRoom[Any, C, Ev, B], instance_id: str) -> None:
        self._runtime = runtime
        self._room = room
        self._instance_id = instance_id
        self._socket: MemorySocket = MemorySocket([])
        self._decoded: list[B] = []
        self.id = ""
        self.tags: tuple[str, ...] = ()

    @property
    def received(self) -> list[B]:
        """Server → client messages, decoded with the room's broadcast schema, in order."""
        frames = self._socket.frames
        for frame in frames[len(self._decoded) :]:
            self._decoded.append(self._room.broadcast.validate_json(frame))
        return list(self._decoded)

    @property
    def raw_received(self) -> list[str]:
        """The frames exactly as sent."""
        return list(self._socket.frames)

    @property
    def close_code(self) -> int | None:
        return self._socket.close_code

    @property
    def close_reason(self) -> str:
        return self._socket.close_reason

    def is_open(self) -> bool:
        return self._socket.open

    def fail_sends(self, on: bool = True) -> None:
        """Make server sends to this connection raise (to test send failures)."""
        self._socket.fail_sends = on

    def receive(self, event: Ev) -> Effect[None]:
        """Deliver a typed event from this client."""
        return self.receive_raw(event.to_json())

    def receive_raw(self, frame: object) -> Effect[None]:
        """Deliver a frame verbatim (`str`/`bytes`) or JSON-encode any other value."""
        data: str | bytes = frame if isinstance(frame, str | bytes) else json.dumps(frame)

        async def run() -> None:
            if self._socket.open:
                await self._runtime.instance(self._room.name, self._instance_id).message(self._socket, data)

        return _call(run)

    def close(self, code: int = 1000, reason: str = "") -> Effect[None]:
        """Close from the client side; `on_close` runs."""

        async def run() -> None:
            if not self._socket.open:
                return
            await self._runtime.instance(self._room.name, self._instance_id).closed(self._socket, code, reason)
            self._socket.close(code, reason)

        return _call(run)

    def __repr__(self) -> str:
        return f"TestConnection(id={self.id!r}, open={self._socket.open})"


@dataclass(frozen=True, slots=True)
class UpgradeResponse:
    """What `upgrade` gives in memory: the status and the client end."""

    status: int
    connection: TestConnection[Any, Any, Any]


class InMemorySocketRuntime(InstanceBackend, Generic[Rooms_co]):
    """Rooms in memory: the same engine as every host, with a test clock.

    `Rooms` are the config's rooms: with the mypy plugin, `room(...)` and
    `testing_connect(...)` refuse one that is not registered."""

    def __init__(
        self,
        config: SocketConfig[Rooms_co, object],
        services: Layer[object, object, object] | None = None,
        options: EngineOptions | None = None,
    ) -> None:
        self.config = config
        self.clock = TestClock(START_MS)
        self.client: SocketClientService[Rooms_co] = SocketClientService(config, self)
        base: dict[type, object] = {Clock: self.clock, SocketClientService: self.client}
        self.engine = Engine(config, client=lambda: self.client, services=base, options=options, layer=services)
        self._hosts: dict[tuple[str, str], MemoryInstanceHost] = {}
        self._instances: dict[tuple[str, str], Instance] = {}

    # -- instances -----------------------------------------------------------------

    def host(self, room: str, id: str) -> MemoryInstanceHost:
        key = (room, id)
        host = self._hosts.get(key)
        if host is None:
            self.config.room(room)
            host = self._hosts[key] = MemoryInstanceHost(self.clock)
        return host

    def instance(self, room: str, id: str) -> Instance:
        key = (room, id)
        inst = self._instances.get(key)
        if inst is None:
            inst = self._instances[key] = self.engine.instance(room, id, self.host(room, id))
        return inst

    # -- the client API ---------------------------------------------------------------

    @overload
    def room(self, room: WebSocketRoom[S, C, Ev, B, N]) -> RoomHandle[S, C, Ev, B]: ...
    @overload
    def room(self, room: str) -> RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]: ...
    def room(
        self, room: WebSocketRoom[S, C, Ev, B, N] | str
    ) -> RoomHandle[S, C, Ev, B] | RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        return self.client.room(room)

    def layer(self) -> Layer[SocketClientService, Never, Never]:
        """Provides `SocketClientService` backed by this runtime."""
        return Layer.succeed(SocketClientService, self.client)

    @overload
    def testing_connect(
        self, room: WebSocketRoom[S, C, Ev, B, N], id: str, opts: UpgradeOpts[C]
    ) -> Effect[TestConnection[C, Ev, B], UpgradeError | RoomNotFoundError]: ...
    @overload
    def testing_connect(
        self, room: str, id: str, opts: UpgradeOpts[BaseModel]
    ) -> Effect[TestConnection[BaseModel, TaggedStruct, TaggedStruct], UpgradeError | RoomNotFoundError]: ...
    def testing_connect(
        self, room: WebSocketRoom[S, C, Ev, B] | str, id: str, opts: UpgradeOpts[Any]
    ) -> Effect[Any, UpgradeError | RoomNotFoundError]:
        """Open a test WebSocket to instance `id` of `room` (runs on_connect)."""
        name = room if isinstance(room, str) else room.name

        async def run() -> TestConnection[Any, Any, Any]:
            return await self._connect(name, id, opts)

        return _call(run)

    async def _connect(self, name: str, id: str, opts: UpgradeOpts[Any]) -> TestConnection[Any, Any, Any]:
        room = self.config.room(name)
        conn: TestConnection[Any, Any, Any] = TestConnection(self, room, id)
        host = self.host(name, id)

        def accept(tags: list[str]) -> MemorySocket:
            socket = MemorySocket(tags)
            conn._socket = socket
            host.socket_list.append(socket)
            return socket

        accepted = await self.instance(name, id).upgrade(opts, accept)
        conn.id = accepted.id
        conn.tags = accepted.tags
        return conn

    def advance(self, duration: DurationInput) -> Effect[int]:
        """Move the test clock; fire every alarm that comes due (retrying failed
        ones with backoff, as Cloudflare does). Gives the number of alarm runs."""
        millis = Duration.decode(duration).millis

        async def run() -> int:
            async def fire(key: tuple[str, str], retries: int) -> bool:
                return await self.instance(*key).fire_alarm(retries, consume=True)

            return await fire_due_alarms(self.clock, self.clock.now_ms() + millis, self._hosts, fire)

        return cast(Effect[int], _call(run))

    def close(self) -> Effect[None]:
        """Stop the runtime: release the resources of the `services` layer's
        `Layer.scoped` services, last acquired first (as a server does when it stops)."""
        return cast(Effect[None], _call(self.engine.aclose))

    def fail_commits(self, room: str | WebSocketRoom[Any, Any, Any, Any], id: str, on: bool = True) -> None:
        """Make every commit of the instance fail (as when its storage is
        unavailable), to test what a failed commit leaves behind."""
        self.host(room if isinstance(room, str) else room.name, id).fail_commits = on

    def hibernate(self, room: str | WebSocketRoom[Any, Any, Any, Any], id: str) -> Effect[None]:
        """Drop every in-memory object of the instance; storage and sockets stay."""
        name = room if isinstance(room, str) else room.name

        async def run() -> None:
            self._instances.pop((name, id), None)

        return cast(Effect[None], _call(run))

    # -- RoomBackend ------------------------------------------------------------------

    async def fire_alarm(self, room: str, id: str) -> None:
        await self.instance(room, id).fire_alarm(direct=True, consume=True)

    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object:
        return UpgradeResponse(101, await self._connect(room, id, opts))


def make_in_memory_socket_runtime(
    config: SocketConfig[Rooms, object],
    services: Layer[object, object, object] | None = None,
    options: EngineOptions | None = None,
) -> InMemorySocketRuntime[Rooms]:
    """An in-memory runtime for `config`: same handlers, no Cloudflare needed.

    `services` is a layer provided to every handler run. With the mypy
    plugin it must provide every service the config's handlers still need.
    """
    return InMemorySocketRuntime(config, services, options)
