"""`Task`: a named pair of schemas (state, event)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from durable_effect.sockets.schema import TaggedStruct, UnionSchema

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)

__all__ = ["Task"]


@dataclass(frozen=True, eq=False)
class Task(Generic[S, Ev]):
    """A task type: its name, the state its instances keep, and the events they take."""

    name: str
    state: type[S]
    event: UnionSchema[Ev]

    @staticmethod
    def make(name: str, *, state: type[S], event: UnionSchema[Ev]) -> Task[S, Ev]:
        """Declare a task type. The name must be non-empty and have no `/` or `:`."""
        if not name or "/" in name or ":" in name:
            raise ValueError(f"a task name must be non-empty and contain no '/' or ':': {name!r}")
        if not (isinstance(state, type) and issubclass(state, BaseModel)):
            raise TypeError(f"state must be a pydantic model class, got {state!r}")
        if not isinstance(event, UnionSchema):
            raise TypeError(f"event must be a Schema.union(...) of TaggedStruct classes, got {event!r}")
        return Task(name, state, event)

    def __repr__(self) -> str:
        return f"Task({self.name!r})"
