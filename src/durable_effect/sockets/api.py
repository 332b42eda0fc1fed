"""The client side of rooms: `rooms.room(Chat).send(id, event)` and friends.

`SocketClientService` is host-agnostic: every host provides one (a layer on
Cloudflare, `rt.layer()` in memory, `server.layer()` self-hosted), so code
that dispatches to rooms is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Effect, Service
from durable_effect.platform.instance import direct_call
from durable_effect.sockets.connection import ConnectionInfo
from durable_effect.sockets.errors import (
    BroadcastError,
    RoomError,
    RoomExecutionError,
    RoomNotFoundError,
    RoomValidationError,
    UpgradeError,
)
from durable_effect.sockets.registry import SocketConfig
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
C_co = TypeVar("C_co", bound=BaseModel, covariant=True)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
T = TypeVar("T")
N = TypeVar("N", bound=str)
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)

__all__ = [
    "ConnectionInit",
    "OnDuplicate",
    "RoomBackend",
    "RoomHandle",
    "SendFailure",
    "SocketClient",
    "SocketClientService",
    "UpgradeOpts",
]

OnDuplicate = Literal["allow", "replace", "reject"]


@dataclass(frozen=True, slots=True)
class ConnectionInit(Generic[C_co]):
    """The new connection: id (random when None), tags, one-shot meta, initial state."""

    initial_state: C_co
    id: str | None = None
    tags: Sequence[str] = ()
    meta: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class UpgradeOpts(Generic[C_co]):
    """How to accept a WebSocket: the connection and the duplicate-id policy."""

    connection: ConnectionInit[C_co]
    on_duplicate: OnDuplicate = field(default="allow")


SendFailure = RoomError | RoomValidationError | RoomExecutionError | RoomNotFoundError
"""What a direct-API `send` or `fire_alarm` can fail with."""


class RoomBackend(Protocol):
    """What a host implements so a `SocketClientService` can reach its instances."""

    async def send(self, room: str, id: str, event: object) -> None: ...
    async def get_state(self, room: str, id: str) -> BaseModel | None: ...
    async def get_connections(self, room: str, id: str, tag: str | None) -> list[ConnectionInfo[BaseModel]]: ...
    async def broadcast(self, room: str, id: str, msg: object) -> None: ...
    async def fire_alarm(self, room: str, id: str) -> None: ...
    async def upgrade(self, room: str, id: str, request: object, opts: UpgradeOpts[BaseModel]) -> object: ...


def _call(run: Callable[[], Awaitable[T]]) -> Effect[T, Any]:
    return direct_call(run, RoomError)


class RoomHandle(Generic[S, C, Ev, B]):
    """The direct API of one room type; every call names the instance id."""

    __slots__ = ("_backend", "_known", "_name")

    def __init__(self, backend: RoomBackend, name: str, known: bool) -> None:
        self._backend = backend
        self._name = name
        self._known = known

    def _go(self, run: Callable[[], Awaitable[T]]) -> Effect[T, Any]:
        return direct_call(run, RoomError, None if self._known else RoomNotFoundError(self._name))

    def send(self, id: str, event: Ev) -> Effect[None, SendFailure]:
        """Run `on_event` with no connection; its failure is the caller's."""
        return self._go(lambda: self._backend.send(self._name, id, event))

    def get_state(self, id: str) -> Effect[S | None, RoomError | RoomNotFoundError]:
        # The backend validated the state against this room's schema S.
        return self._go(lambda: cast(Awaitable[S | None], self._backend.get_state(self._name, id)))

    def get_connections(
        self, id: str, tag: str | None = None
    ) -> Effect[list[ConnectionInfo[C]], RoomError | RoomNotFoundError]:
        infos = lambda: cast(Awaitable[list[ConnectionInfo[C]]], self._backend.get_connections(self._name, id, tag))  # noqa: E731
        return self._go(infos)

    def broadcast(self, id: str, msg: B) -> Effect[None, BroadcastError | RoomValidationError | RoomNotFoundError]:
        return self._go(lambda: self._backend.broadcast(self._name, id, msg))

    def fire_alarm(self, id: str) -> Effect[None, SendFailure]:
        """Run `on_alarm` now (whether or not one is scheduled)."""
        return self._go(lambda: self._backend.fire_alarm(self._name, id))

    def upgrade(
        self, id: str, request: object, opts: UpgradeOpts[C]
    ) -> Effect[object, UpgradeError | RoomNotFoundError]:
        """Accept a WebSocket for instance `id`; the host's response on success."""
        return self._go(lambda: self._backend.upgrade(self._name, id, request, opts))


AnyRoomHandle = RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]


class SocketClientService(Service, Generic[Rooms_co]):
    """The rooms client, as a service: `rooms = yield from SocketClientService`.

    A host's `client` is a `SocketClientService[Rooms]` of its config's rooms:
    with the mypy plugin, `room(...)` refuses a room (or name) not among them.
    """

    __slots__ = ("_backend", "_config")

    def __init__(self, config: SocketConfig[Rooms_co, object], backend: RoomBackend) -> None:
        self._config = config
        self._backend = backend

    @overload
    def room(self, room: WebSocketRoom[S, C, Ev, B, N]) -> RoomHandle[S, C, Ev, B]: ...
    @overload
    def room(self, room: str) -> AnyRoomHandle: ...
    def room(self, room: WebSocketRoom[S, C, Ev, B, N] | str) -> RoomHandle[S, C, Ev, B] | AnyRoomHandle:
        """The direct API of a registered room; an unknown name fails each call
        with `RoomNotFoundError`."""
        name = room if isinstance(room, str) else room.name
        return RoomHandle(self._backend, name, name in self._config.rooms)


SocketClient = SocketClientService
