"""`TaskCtx`: what a task handler sees of its instance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Never, TypeVar, overload

from pydantic import BaseModel

from durable_effect.effect import DurationInput, Effect
from durable_effect.platform.instance import PurgeSignal, SystemFailure
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.errors import TaskError

if TYPE_CHECKING:
    from durable_effect.task.client import AnyTaskHandle, TaskHandle
    from durable_effect.task.engine import TaskInstance
    from durable_effect.task.task import Task

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
S2 = TypeVar("S2", bound=BaseModel)
Ev2 = TypeVar("Ev2", bound=TaggedStruct)

__all__ = ["TaskCtx"]


class TaskCtx(Generic[S, Ev]):
    """The handler's view of one task instance: its state and its alarm.

    Every operation that touches storage or the alarm is an `Effect`, and
    joins the run's transaction: it is committed when the run succeeds.
    `system_failure` is set when an alarm runs again after a failure.
    """

    __slots__ = ("_instance", "id", "name", "system_failure")

    def __init__(self, instance: TaskInstance, system_failure: SystemFailure | None = None) -> None:
        self.id: str = instance.id
        self.name: str = instance.task.name
        self.system_failure = system_failure
        self._instance = instance

    # -- state ---------------------------------------------------------------------

    def recall(self) -> Effect[S | None, TaskError]:
        """The task state, or None before the first `save`."""
        return self._instance.recall()

    def save(self, state: S) -> Effect[None, TaskError]:
        """Replace the task state (written when the run commits)."""
        return self._instance.save(state)

    def update(self, f: Callable[[S], S]) -> Effect[None, TaskError]:
        """Replace the state with `f(state)`; does nothing while the state is None."""
        return self._instance.update(f)

    # -- scheduling ---------------------------------------------------------------

    def schedule_in(self, duration: DurationInput) -> Effect[None, TaskError]:
        """Set the instance's alarm to fire after `duration`."""
        return self._instance.schedule_in(duration)

    def schedule_at(self, when: datetime | float) -> Effect[None, TaskError]:
        """Set the alarm to fire at a datetime or epoch milliseconds."""
        return self._instance.schedule_at(when)

    def cancel_schedule(self) -> Effect[None, TaskError]:
        return self._instance.cancel_schedule()

    def next_alarm(self) -> Effect[float | None, TaskError]:
        """The scheduled alarm time in epoch milliseconds, or None."""
        return self._instance.next_alarm()

    # -- siblings and lifecycle -----------------------------------------------------

    @overload
    def task(self, task: Task[S2, Ev2]) -> TaskHandle[S2, Ev2]: ...
    @overload
    def task(self, task: str) -> AnyTaskHandle: ...
    def task(self, task: Task[S2, Ev2] | str) -> TaskHandle[S2, Ev2] | AnyTaskHandle:
        """Dispatch to an instance of another registered task (or another instance of this one)."""
        return self._instance.engine.client().task(task)

    def purge(self) -> Effect[Never, PurgeSignal]:
        """Delete all storage and the alarm of the instance and end the handler
        (the run's other writes are dropped; `on_error` does not run)."""
        return self._instance.purge()

    def __repr__(self) -> str:
        return f"TaskCtx(name={self.name!r}, id={self.id!r})"
