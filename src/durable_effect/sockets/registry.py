"""Registry: the declared rooms, their handlers, and the built config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeAlias, TypeVar, overload

from pydantic import BaseModel

from durable_effect.effect import Layer, provide
from durable_effect.platform.instance import Handler, HandlerResult, channel
from durable_effect.sockets.ctx import RoomCtx
from durable_effect.sockets.errors import RoomNotFoundError
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
Ctx = TypeVar("Ctx")
T = TypeVar("T")

__all__ = ["Handler", "RoomHandlers", "SocketConfig", "SocketRegistry", "with_services"]

ConnectFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B]], HandlerResult]
EventFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B], Ev], HandlerResult]
DecodeErrorFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B], str, Exception], HandlerResult]


@dataclass(frozen=True, slots=True)
class RoomHandlers(Generic[S, C, Ev, B]):
    """The handler implementations of one room."""

    room: WebSocketRoom[S, C, Ev, B]
    on_connect: Handler[ConnectFn[S, C, Ev, B]] | None = None
    on_event: Handler[EventFn[S, C, Ev, B]] | None = None
    on_close: Handler[ConnectFn[S, C, Ev, B]] | None = None
    on_alarm: Handler[ConnectFn[S, C, Ev, B]] | None = None
    on_decode_error: DecodeErrorFn[S, C, Ev, B] | None = None
    services: Layer[object, object, object] | None = None

    def wrap(self, eff: HandlerResult) -> HandlerResult:
        """Apply `with_services` layers to a handler's effect."""
        return eff if self.services is None else eff.pipe(provide(self.services))


class RoomBuilder(Generic[S, C, Ev, B]):
    """Typed identity builders for one room's handlers (`registry.for_(Chat)`)."""

    def on_connect(self, f: ConnectFn[S, C, Ev, B]) -> ConnectFn[S, C, Ev, B]:
        return f

    def on_event(self, f: EventFn[S, C, Ev, B]) -> EventFn[S, C, Ev, B]:
        return f

    def on_close(self, f: ConnectFn[S, C, Ev, B]) -> ConnectFn[S, C, Ev, B]:
        return f

    def on_alarm(self, f: ConnectFn[S, C, Ev, B]) -> ConnectFn[S, C, Ev, B]:
        return f

    def on_decode_error(self, f: DecodeErrorFn[S, C, Ev, B]) -> DecodeErrorFn[S, C, Ev, B]:
        return f


@dataclass(frozen=True, slots=True)
class SocketConfig:
    """A registry with every room's handlers: what a runtime is made from."""

    rooms: Mapping[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]
    handlers: Mapping[str, RoomHandlers[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]

    def room(self, name: str) -> WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        try:
            return self.rooms[name]
        except KeyError:
            raise RoomNotFoundError(name) from None


class SocketRegistry:
    """The set of declared rooms."""

    __slots__ = ("rooms",)

    def __init__(self, rooms: Mapping[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]) -> None:
        self.rooms = rooms

    @staticmethod
    def make(*rooms: WebSocketRoom[Any, Any, Any, Any]) -> SocketRegistry:
        """Register room declarations; names must be unique. (Any: rooms of
        different schemas go in one registry; each is typed again by `for_`.)"""
        by_name: dict[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]] = {}
        for room in rooms:
            if room.name in by_name:
                raise ValueError(f"two rooms are named {room.name!r}")
            by_name[room.name] = room  # stored with its schemas erased to their bounds
        return SocketRegistry(by_name)

    def _lookup(
        self, room: WebSocketRoom[S, C, Ev, B] | str
    ) -> WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        name = room if isinstance(room, str) else room.name
        if name not in self.rooms:
            raise RoomNotFoundError(name)
        found = self.rooms[name]
        if not isinstance(room, str) and found is not room:
            raise ValueError(f"room {name!r} is registered with other schemas")
        return found

    @overload
    def for_(self, room: WebSocketRoom[S, C, Ev, B]) -> RoomBuilder[S, C, Ev, B]: ...
    @overload
    def for_(self, room: str) -> RoomBuilder[BaseModel, BaseModel, TaggedStruct, TaggedStruct]: ...
    def for_(
        self, room: WebSocketRoom[S, C, Ev, B] | str
    ) -> RoomBuilder[S, C, Ev, B] | RoomBuilder[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        """Typed builders for the handlers of `room` (untyped for a name)."""
        self._lookup(room)
        return RoomBuilder()

    def handler(
        self,
        room: WebSocketRoom[S, C, Ev, B],
        *,
        on_connect: ConnectFn[S, C, Ev, B] | Handler[ConnectFn[S, C, Ev, B]] | None = None,
        on_event: EventFn[S, C, Ev, B] | Handler[EventFn[S, C, Ev, B]] | None = None,
        on_close: ConnectFn[S, C, Ev, B] | Handler[ConnectFn[S, C, Ev, B]] | None = None,
        on_alarm: ConnectFn[S, C, Ev, B] | Handler[ConnectFn[S, C, Ev, B]] | None = None,
        on_decode_error: DecodeErrorFn[S, C, Ev, B] | None = None,
    ) -> RoomHandlers[S, C, Ev, B]:
        """Bundle a room's handlers. Each channel takes a function or a `Handler`."""
        self._lookup(room)
        return RoomHandlers(
            room,
            on_connect=channel(on_connect),
            on_event=channel(on_event),
            on_close=channel(on_close),
            on_alarm=channel(on_alarm),
            on_decode_error=on_decode_error,
        )

    def build(self, handlers: Mapping[str, RoomHandlers[Any, Any, Any, Any]]) -> SocketConfig:
        """The config a runtime is made from. Every room needs its handlers."""
        missing = sorted(set(self.rooms) - set(handlers))
        if missing:
            raise ValueError(f"no handlers given for room(s): {', '.join(missing)}")
        unknown = sorted(set(handlers) - set(self.rooms))
        if unknown:
            raise ValueError(f"handlers given for unknown room(s): {', '.join(unknown)}")
        for name, bundle in handlers.items():
            if bundle.room.name != name:
                raise ValueError(f"handlers for {bundle.room.name!r} were given under the name {name!r}")
        return SocketConfig(self.rooms, dict(handlers))  # schemas erased to their bounds


def with_services(
    handlers: RoomHandlers[S, C, Ev, B], layer: Layer[object, object, object]
) -> RoomHandlers[S, C, Ev, B]:
    """Provide `layer` to every handler of the bundle (layers stack: the last one given is outermost)."""
    combined = layer if handlers.services is None else Layer.merge(handlers.services, layer)
    return replace(handlers, services=combined)
