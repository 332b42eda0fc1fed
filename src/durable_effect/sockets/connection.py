"""Connections: a live socket of an instance with its id, tags and typed state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from durable_effect.effect import Effect
from durable_effect.sockets.errors import AttachmentTooLargeError, RoomValidationError, SendError
from durable_effect.sockets.schema import TaggedStruct

if TYPE_CHECKING:
    from durable_effect.sockets.engine import Instance
    from durable_effect.sockets.host import HostSocket

C = TypeVar("C", bound=BaseModel)
B = TypeVar("B", bound=TaggedStruct)
C_co = TypeVar("C_co", bound=BaseModel, covariant=True)

__all__ = ["Connection", "ConnectionInfo", "Connections"]


@dataclass(frozen=True, slots=True)
class ConnectionInfo(Generic[C_co]):
    """What the direct API reports about a connection."""

    id: str
    tags: tuple[str, ...]
    state: C_co

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "tags": list(self.tags), "state": self.state.model_dump(mode="json", by_alias=True)}


class Connection(Generic[C, B]):
    """A live WebSocket of an instance.

    `state` is the typed per-connection state kept in the socket attachment
    (it survives hibernation); `meta` is the upgrade's one-shot dict, set only
    while `on_connect` runs.
    """

    __slots__ = ("_instance", "id", "meta", "socket", "state", "tags")

    def __init__(
        self,
        id: str,
        tags: tuple[str, ...],
        state: C,
        socket: HostSocket,
        instance: Instance,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.tags = tags
        self.state = state
        self.meta = meta
        self.socket = socket
        self._instance = instance

    def send(self, msg: B) -> Effect[None, SendError]:
        """Send one broadcast-schema message to this connection only."""
        return self._instance.send_to(self, msg)

    def set_state(self, state: C) -> Effect[None, AttachmentTooLargeError | RoomValidationError]:
        """Replace the connection state (validated, size-capped; old state kept on error)."""
        return self._instance.set_connection_state(self, state)

    def close(self, code: int = 1000, reason: str = "") -> Effect[None]:
        """Close the socket; `on_close` runs once, after the current handler."""
        return self._instance.close_connection(self, code, reason)

    def is_open(self) -> bool:
        return self.socket.is_open()

    def info(self) -> ConnectionInfo[C]:
        return ConnectionInfo(self.id, self.tags, self.state)

    def __repr__(self) -> str:
        return f"Connection(id={self.id!r}, tags={self.tags!r})"


class Connections(Generic[C, B]):
    """The open connections of an instance (plain values, no effects)."""

    __slots__ = ("_source",)

    def __init__(self, source: Callable[[], Iterable[Connection[C, B]]]) -> None:
        self._source = source

    def all(self) -> list[Connection[C, B]]:
        return [c for c in self._source() if c.socket.is_open()]

    def by_tag(self, tag: str) -> list[Connection[C, B]]:
        return [c for c in self.all() if tag in c.tags]

    def by_id(self, id: str) -> Connection[C, B] | None:
        for c in self.all():
            if c.id == id:
                return c
        return None

    def filter(self, predicate: Callable[[Connection[C, B]], bool]) -> list[Connection[C, B]]:
        return [c for c in self.all() if predicate(c)]

    def count(self) -> int:
        return len(self.all())
