"""Registry: the declared rooms, their handlers, and the built config.

The types carry what a user wires: a `SocketRegistry[Rooms]` knows its rooms
(a union of `WebSocketRoom` types), a `RoomHandlers[..., R]` the services its
handlers still need (`R`, the union of each handler's), and a
`SocketConfig[Rooms, R]` both. With the `durable_effect.mypy` plugin, a room
that is not registered, a string name that names none, and a host given a
config whose `R` its `services` layer does not cover are mypy errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeAlias, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Effect, Layer, provide
from durable_effect.sockets.ctx import RoomCtx
from durable_effect.sockets.errors import RoomNotFoundError, RoomValidationError
from durable_effect.sockets.room import WebSocketRoom
from durable_effect.sockets.schema import TaggedStruct

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
N = TypeVar("N", bound=str)
T = TypeVar("T")
P = ParamSpec("P")
CtxT = TypeVar("CtxT")
A = TypeVar("A")
E1 = TypeVar("E1")
R = TypeVar("R")
R1 = TypeVar("R1")
R2 = TypeVar("R2")
R3 = TypeVar("R3")
R4 = TypeVar("R4")
R5 = TypeVar("R5")
Rooms = TypeVar("Rooms")
T_co = TypeVar("T_co", covariant=True)
R_co = TypeVar("R_co", covariant=True, default=object)
N_co = TypeVar("N_co", bound=str, covariant=True, default=str)
Rooms_co = TypeVar("Rooms_co", covariant=True, default=object)
AnyRoom: TypeAlias = WebSocketRoom[Any, Any, Any, Any, str]  # a bound: rooms of any schemas
W1 = TypeVar("W1", bound=AnyRoom)
W2 = TypeVar("W2", bound=AnyRoom)
W3 = TypeVar("W3", bound=AnyRoom)
W4 = TypeVar("W4", bound=AnyRoom)
W5 = TypeVar("W5", bound=AnyRoom)
W6 = TypeVar("W6", bound=AnyRoom)

__all__ = ["Handler", "RoomBuilder", "RoomHandlers", "SocketConfig", "SocketRegistry", "with_services"]

HandlerResult: TypeAlias = Effect[object, object, object]
"""What a handler returns: any effect; its value is ignored."""

ConnectFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B, Rooms]], Effect[object, object, R]]
EventFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B, Rooms], Ev], Effect[object, object, R]]
DecodeErrorFn: TypeAlias = Callable[[RoomCtx[S, C, Ev, B, Rooms], str, RoomValidationError], Effect[object, object, R]]
"""`on_decode_error(ctx, raw, err)`: the raw frame (as text) and a `RoomValidationError`
whose `message` is the decoder's detail (the pydantic error is its `__cause__`)."""
Channel: TypeAlias = Callable[..., HandlerResult]
"""A handler as the engine calls it (its types were checked when it was given)."""


@dataclass(frozen=True, slots=True)
class Handler(Generic[T_co, R_co]):
    """A handler with its own error handler: `Handler(handler=f, on_error=g)`.

    `on_error(ctx, err)` receives the handler's typed error `E` (or the
    defect); `PurgeSignal` never reaches it. `R` is what both need.
    """

    handler: T_co
    on_error: Channel | None = None

    if TYPE_CHECKING:

        def __init__(
            self: Handler[Callable[Concatenate[CtxT, P], Effect[A, E1, R1]], R1 | R2],
            handler: Callable[Concatenate[CtxT, P], Effect[A, E1, R1]],
            on_error: Callable[[CtxT, E1], Effect[object, object, R2]] | None = None,
        ) -> None: ...


@dataclass(frozen=True, slots=True)
class RoomHandlers(Generic[S, C, Ev, B, R_co, N_co]):
    """The handler implementations of one room; `R` is the services they need."""

    room: WebSocketRoom[S, C, Ev, B, N_co]
    on_connect: Handler[Channel] | None = None
    on_event: Handler[Channel] | None = None
    on_close: Handler[Channel] | None = None
    on_alarm: Handler[Channel] | None = None
    on_decode_error: Channel | None = None
    services: Layer[object, object, object] | None = None

    def wrap(self, eff: HandlerResult) -> HandlerResult:
        """Apply `with_services` layers to a handler's effect."""
        return eff if self.services is None else eff.pipe(provide(self.services))


def _channel(fn: Channel | Handler[Channel] | None) -> Handler[Channel] | None:
    if fn is None or isinstance(fn, Handler):
        return fn
    return Handler(fn)


class RoomBuilder(Generic[S, C, Ev, B, Rooms_co]):
    """Typed identity builders for one room's handlers (`registry.for_(Chat)`).

    Each returns the function it is given, typed by the room: its context is
    a `RoomCtx` of this room in this registry.
    """

    def on_connect(
        self, f: Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]
    ) -> Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]:
        return f

    def on_event(
        self, f: Callable[[RoomCtx[S, C, Ev, B, Rooms_co], Ev], Effect[A, E1, R1]]
    ) -> Callable[[RoomCtx[S, C, Ev, B, Rooms_co], Ev], Effect[A, E1, R1]]:
        return f

    def on_close(
        self, f: Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]
    ) -> Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]:
        return f

    def on_alarm(
        self, f: Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]
    ) -> Callable[[RoomCtx[S, C, Ev, B, Rooms_co]], Effect[A, E1, R1]]:
        return f

    def on_decode_error(
        self, f: Callable[[RoomCtx[S, C, Ev, B, Rooms_co], str, RoomValidationError], Effect[A, E1, R1]]
    ) -> Callable[[RoomCtx[S, C, Ev, B, Rooms_co], str, RoomValidationError], Effect[A, E1, R1]]:
        return f


@dataclass(frozen=True, slots=True)
class SocketConfig(Generic[Rooms_co, R_co]):
    """A registry with every room's handlers: what a runtime is made from.

    `Rooms` are the registered rooms; `R` the services the handlers still
    need, which a host's `services=` layer must provide.
    """

    rooms: Mapping[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]
    handlers: Mapping[str, RoomHandlers[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]

    def room(self, name: str) -> WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        try:
            return self.rooms[name]
        except KeyError:
            raise RoomNotFoundError(name) from None


class SocketRegistry(Generic[Rooms_co]):
    """The set of declared rooms; `Rooms` is the union of their types."""

    __slots__ = ("rooms",)

    def __init__(self, rooms: Mapping[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]]) -> None:
        self.rooms = rooms

    @overload
    @staticmethod
    def make(r1: W1, /) -> SocketRegistry[W1]: ...
    @overload
    @staticmethod
    def make(r1: W1, r2: W2, /) -> SocketRegistry[W1 | W2]: ...
    @overload
    @staticmethod
    def make(r1: W1, r2: W2, r3: W3, /) -> SocketRegistry[W1 | W2 | W3]: ...
    @overload
    @staticmethod
    def make(r1: W1, r2: W2, r3: W3, r4: W4, /) -> SocketRegistry[W1 | W2 | W3 | W4]: ...
    @overload
    @staticmethod
    def make(r1: W1, r2: W2, r3: W3, r4: W4, r5: W5, /) -> SocketRegistry[W1 | W2 | W3 | W4 | W5]: ...
    @overload
    @staticmethod
    def make(r1: W1, r2: W2, r3: W3, r4: W4, r5: W5, r6: W6, /) -> SocketRegistry[W1 | W2 | W3 | W4 | W5 | W6]: ...
    @overload
    @staticmethod
    def make(*rooms: AnyRoom) -> SocketRegistry[AnyRoom]: ...
    @staticmethod
    def make(*rooms: AnyRoom) -> SocketRegistry[AnyRoom]:
        """Register room declarations; names must be unique."""
        by_name: dict[str, WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]] = {}
        for room in rooms:
            if room.name in by_name:
                raise ValueError(f"two rooms are named {room.name!r}")
            by_name[room.name] = room  # stored with its schemas erased to their bounds
        return SocketRegistry(by_name)

    def _lookup(self, room: AnyRoom | str) -> WebSocketRoom[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        name = room if isinstance(room, str) else room.name
        if name not in self.rooms:
            raise RoomNotFoundError(name)
        found = self.rooms[name]
        if not isinstance(room, str) and found is not room:
            raise ValueError(f"room {name!r} is registered with other schemas")
        return found

    # With the plugin, a name is typed as the room it names (`for_("chat")`
    # is `for_(Chat)`), and a room or name not in `Rooms` is an error.
    @overload
    def for_(self, room: WebSocketRoom[S, C, Ev, B, N]) -> RoomBuilder[S, C, Ev, B, Rooms_co]: ...
    @overload
    def for_(self, room: str) -> RoomBuilder[BaseModel, BaseModel, TaggedStruct, TaggedStruct, Rooms_co]: ...
    def for_(self, room: AnyRoom | str) -> RoomBuilder[Any, Any, Any, Any, Rooms_co]:
        """Typed builders for the handlers of `room` (a declaration or its name)."""
        self._lookup(room)
        return RoomBuilder()

    @overload
    def handler(
        self,
        room: WebSocketRoom[S, C, Ev, B, N],
        *,
        on_connect: ConnectFn[S, C, Ev, B, Rooms_co, R1]
        | Handler[ConnectFn[S, C, Ev, B, Rooms_co, object], R1]
        | None = None,
        on_event: EventFn[S, C, Ev, B, Rooms_co, R2]
        | Handler[EventFn[S, C, Ev, B, Rooms_co, object], R2]
        | None = None,
        on_close: ConnectFn[S, C, Ev, B, Rooms_co, R3]
        | Handler[ConnectFn[S, C, Ev, B, Rooms_co, object], R3]
        | None = None,
        on_alarm: ConnectFn[S, C, Ev, B, Rooms_co, R4]
        | Handler[ConnectFn[S, C, Ev, B, Rooms_co, object], R4]
        | None = None,
        on_decode_error: DecodeErrorFn[S, C, Ev, B, Rooms_co, R5] | None = None,
    ) -> RoomHandlers[S, C, Ev, B, R1 | R2 | R3 | R4 | R5, N]: ...
    @overload
    def handler(
        self,
        room: str,
        *,
        on_connect: Channel | Handler[Channel] | None = None,
        on_event: Channel | Handler[Channel] | None = None,
        on_close: Channel | Handler[Channel] | None = None,
        on_alarm: Channel | Handler[Channel] | None = None,
        on_decode_error: Channel | None = None,
    ) -> RoomHandlers[BaseModel, BaseModel, TaggedStruct, TaggedStruct, object, str]: ...
    def handler(
        self,
        room: AnyRoom | str,
        *,
        on_connect: Channel | Handler[Channel] | None = None,
        on_event: Channel | Handler[Channel] | None = None,
        on_close: Channel | Handler[Channel] | None = None,
        on_alarm: Channel | Handler[Channel] | None = None,
        on_decode_error: Channel | None = None,
    ) -> RoomHandlers[Any, Any, Any, Any, object, str]:
        """Bundle a room's handlers (the room by declaration or by name). Each
        channel takes a function or a `Handler`."""
        return RoomHandlers(
            self._lookup(room),
            on_connect=_channel(on_connect),
            on_event=_channel(on_event),
            on_close=_channel(on_close),
            on_alarm=_channel(on_alarm),
            on_decode_error=on_decode_error,
        )

    def build(self, handlers: Mapping[str, RoomHandlers[Any, Any, Any, Any, object, str]]) -> SocketConfig[Rooms_co]:
        """The config a runtime is made from. Every room needs its handlers.

        (Any: each bundle was typed against its room by `handler`.) With the
        plugin, the config's `R` is the union of what the bundles need, and
        the keys are checked against the registered names; without it, `R`
        is left unknown (`object`).
        """
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
    handlers: RoomHandlers[S, C, Ev, B, object, N], layer: Layer[object, object, R]
) -> RoomHandlers[S, C, Ev, B, R, N]:
    """Provide `layer` to every handler of the bundle (layers stack: the last one given is outermost).

    With the plugin the result needs exactly what the layer does not provide
    (plus what the layer itself needs); without it, mypy takes the layer to
    provide everything.
    """
    combined = layer if handlers.services is None else Layer.merge(handlers.services, layer)
    return cast("RoomHandlers[S, C, Ev, B, R, N]", replace(handlers, services=combined))
