"""`WebSocketRoom`: a named tuple of schemas (state, connection, event, broadcast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.sockets.schema import TaggedStruct, UnionSchema

S = TypeVar("S", bound=BaseModel)
C = TypeVar("C", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
B = TypeVar("B", bound=TaggedStruct)
N = TypeVar("N", bound=str, covariant=True, default=str)
N2 = TypeVar("N2", bound=str)

__all__ = ["WebSocketRoom"]


@dataclass(frozen=True, eq=False)
class WebSocketRoom(Generic[S, C, Ev, B, N]):
    """A room type: its name and the four schemas of its instances.

    `N` is the type of the name: with the `durable_effect.mypy` plugin,
    `WebSocketRoom.make("chat", ...)` has `N = Literal["chat"]`, which is how
    a registry, a context and a runtime know their rooms by name.

    `state` is the persistent shared state of an instance, `connection` the
    per-connection state kept in the socket attachment, `event` the inbound
    messages (from sockets and from the direct API), `broadcast` the
    outbound messages.
    """

    name: N
    state: type[S]
    connection: type[C]
    event: UnionSchema[Ev]
    broadcast: UnionSchema[B]

    @staticmethod
    def make(
        name: N2,
        *,
        state: type[S],
        connection: type[C],
        event: UnionSchema[Ev],
        broadcast: UnionSchema[B],
    ) -> WebSocketRoom[S, C, Ev, B, N2]:
        """Declare a room type. The name must be non-empty and have no `/` or `:`."""
        if not name or "/" in name or ":" in name:
            raise ValueError(f"a room name must be non-empty and contain no '/' or ':': {name!r}")
        for label, model in (("state", state), ("connection", connection)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise TypeError(f"{label} must be a pydantic model class, got {model!r}")
        for label, schema in (("event", event), ("broadcast", broadcast)):
            if not isinstance(schema, UnionSchema):
                raise TypeError(f"{label} must be a Schema.union(...) of TaggedStruct classes, got {schema!r}")
        return WebSocketRoom(name, state, connection, event, broadcast)

    def __repr__(self) -> str:
        return f"WebSocketRoom({self.name!r})"
