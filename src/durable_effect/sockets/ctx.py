"""`RoomCtx`: what a handler sees of its instance."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Never, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import DurationInput, Effect
from durable_effect.sockets.connection import Connection, Connections
from durable_effect.sockets.errors import BroadcastError, PurgeSignal, RoomError, SystemFailure
from durable_effect.sockets.schema import TaggedStruct

if TYPE_CHECKING:
    from durable_effect.sockets.api import RoomHandle
    from durable_effect.sockets.engine import Instance
    from durable_effect.sockets.room import WebSocketRoom

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
S2 = TypeVar("S2", bound=BaseModel)
C2 = TypeVar("C2", bound=BaseModel)
Ev2 = TypeVar("Ev2", bound=TaggedStruct)
B2 = TypeVar("B2", bound=TaggedStruct)
N2 = TypeVar("N2", bound=str)
Rooms = TypeVar("Rooms", covariant=True, default=object)

__all__ = ["RoomCtx"]


class RoomCtx(Generic[S, C, Ev, B, Rooms]):
    """The handler's view of one instance: its state, connections, alarm.

    `Rooms` are the rooms of the registry (a union of `WebSocketRoom`
    types); `registry.for_(...)` and `registry.handler(...)` give it. With the
    mypy plugin, `ctx.room(...)` refuses a room (or name) not among them; left
    at its default (`object`), any room is accepted.

    `connection` is the socket the event came from (None for direct-API
    calls and alarms). Every operation that touches storage, sockets or the
    alarm is an `Effect`; `connections` queries are plain values.
    """

    __slots__ = ("_connections", "_instance", "connection", "id", "name", "system_failure")

    def __init__(
        self,
        instance: Instance,
        connection: Connection[C, B] | None,
        system_failure: SystemFailure | None = None,
    ) -> None:
        self.id: str = instance.id
        self.name: str = instance.room.name
        self.connection = connection
        self.system_failure = system_failure
        self._instance = instance
        self._connections: Connections[C, B] | None = None

    @property
    def connections(self) -> Connections[C, B]:
        """The instance's open connections (plain values: no effect needed)."""
        conns = self._connections
        if conns is None:
            # The engine stores connections with erased schemas; they were validated against C.
            conns = self._connections = Connections(
                cast("Callable[[], list[Connection[C, B]]]", self._instance.live_connections)
            )
        return conns

    # -- room state ---------------------------------------------------------------

    def recall(self) -> Effect[S | None, RoomError]:
        """The room state, or None before the first `save`."""
        return self._instance.recall()

    def save(self, state: S) -> Effect[None, RoomError]:
        """Replace the room state (written when the handler completes)."""
        return self._instance.save(state)

    def update(self, f: Callable[[S], S]) -> Effect[None, RoomError]:
        """Replace the state with `f(state)`; does nothing while the state is None."""
        return self._instance.update(f)

    # -- broadcast ----------------------------------------------------------------

    def broadcast(
        self,
        msg: B,
        *,
        except_: Connection[C, B] | Sequence[Connection[C, B]] | None = None,
        tag: str | None = None,
        to: Sequence[Connection[C, B]] | None = None,
    ) -> Effect[None, BroadcastError]:
        """Send `msg` to the open connections: `to` (if given) ∩ `tag` (if given)
        minus `except_`. Encoded once; a failing socket never stops the rest."""
        return self._instance.broadcast(msg, except_=except_, tag=tag, to=to)

    # -- scheduling ---------------------------------------------------------------

    def schedule_in(self, duration: DurationInput) -> Effect[None, RoomError]:
        """Set the instance's alarm to fire after `duration`."""
        return self._instance.schedule_in(duration)

    def schedule_at(self, when: datetime | float) -> Effect[None, RoomError]:
        """Set the alarm to fire at a datetime or epoch milliseconds."""
        return self._instance.schedule_at(when)

    def cancel_schedule(self) -> Effect[None, RoomError]:
        return self._instance.cancel_schedule()

    def next_alarm(self) -> Effect[float | None, RoomError]:
        """The scheduled alarm time in epoch milliseconds, or None."""
        return self._instance.next_alarm()

    # -- siblings and lifecycle -----------------------------------------------------

    @overload
    def room(self, room: WebSocketRoom[S2, C2, Ev2, B2, N2]) -> RoomHandle[S2, C2, Ev2, B2]: ...
    @overload
    def room(self, room: str) -> RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]: ...
    def room(
        self, room: WebSocketRoom[S2, C2, Ev2, B2, N2] | str
    ) -> RoomHandle[S2, C2, Ev2, B2] | RoomHandle[BaseModel, BaseModel, TaggedStruct, TaggedStruct]:
        """Dispatch to an instance of another registered room (a declaration
        or its name; with the plugin a name is typed as the room it names)."""
        return self._instance.engine.client().room(room)

    def purge(self) -> Effect[Never, PurgeSignal]:
        """Delete all storage and the alarm of the instance and end the handler."""
        return self._instance.purge()

    def __repr__(self) -> str:
        return f"RoomCtx(name={self.name!r}, id={self.id!r}, connection={self.connection!r})"
