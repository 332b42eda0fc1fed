"""Registry: the declared tasks, their handlers, and the built config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeAlias, cast, overload

from pydantic import BaseModel
from typing_extensions import TypeVar

from durable_effect.effect import Effect, Layer, provide
from durable_effect.platform.instance import HandlerResult
from durable_effect.sockets.registry import Channel, Handler, _channel
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.ctx import TaskCtx
from durable_effect.task.errors import TaskNotFoundError
from durable_effect.task.task import Task

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
A = TypeVar("A")
E1 = TypeVar("E1")
R = TypeVar("R")
R1 = TypeVar("R1")
R2 = TypeVar("R2")
R_co = TypeVar("R_co", covariant=True, default=object)

__all__ = ["TaskBuilder", "TaskConfig", "TaskHandlers", "TaskRegistry", "with_services"]

EventFn: TypeAlias = Callable[[TaskCtx[S, Ev], Ev], Effect[object, object, R]]
AlarmFn: TypeAlias = Callable[[TaskCtx[S, Ev]], Effect[object, object, R]]
AnyTask = Task[BaseModel, TaggedStruct]


@dataclass(frozen=True, slots=True)
class TaskHandlers(Generic[S, Ev, R_co]):
    """The handler implementations of one task; `R` is the services they need."""

    task: Task[S, Ev]
    on_event: Handler[Channel]
    on_alarm: Handler[Channel] | None = None
    services: Layer[object, object, object] | None = None

    def wrap(self, eff: HandlerResult) -> HandlerResult:
        """Apply `with_services` layers to a handler's effect."""
        return eff if self.services is None else eff.pipe(provide(self.services))


class TaskBuilder(Generic[S, Ev]):
    """Typed identity builders for one task's handlers (`registry.for_(Reminders)`)."""

    def on_event(
        self, f: Callable[[TaskCtx[S, Ev], Ev], Effect[A, E1, R1]]
    ) -> Callable[[TaskCtx[S, Ev], Ev], Effect[A, E1, R1]]:
        return f

    def on_alarm(
        self, f: Callable[[TaskCtx[S, Ev]], Effect[A, E1, R1]]
    ) -> Callable[[TaskCtx[S, Ev]], Effect[A, E1, R1]]:
        return f


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """A registry with every task's handlers: what a task runtime is made from."""

    tasks: Mapping[str, AnyTask]
    handlers: Mapping[str, TaskHandlers[BaseModel, TaggedStruct, object]]

    def task(self, name: str) -> AnyTask:
        try:
            return self.tasks[name]
        except KeyError:
            raise TaskNotFoundError(name) from None


class TaskRegistry:
    """The set of declared tasks."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: Mapping[str, AnyTask]) -> None:
        self.tasks = tasks

    @staticmethod
    def make(*tasks: Task[Any, Any]) -> TaskRegistry:
        """Register task declarations; names must be unique. (Any: tasks of
        different schemas go in one registry; each is typed again by `for_`.)"""
        by_name: dict[str, AnyTask] = {}
        for task in tasks:
            if task.name in by_name:
                raise ValueError(f"two tasks are named {task.name!r}")
            by_name[task.name] = task  # stored with its schemas erased to their bounds
        return TaskRegistry(by_name)

    def _lookup(self, task: Task[S, Ev] | str) -> AnyTask:
        name = task if isinstance(task, str) else task.name
        if name not in self.tasks:
            raise TaskNotFoundError(name)
        found = self.tasks[name]
        if not isinstance(task, str) and found is not task:
            raise ValueError(f"task {name!r} is registered with other schemas")
        return found

    @overload
    def for_(self, task: Task[S, Ev]) -> TaskBuilder[S, Ev]: ...
    @overload
    def for_(self, task: str) -> TaskBuilder[BaseModel, TaggedStruct]: ...
    def for_(self, task: Task[S, Ev] | str) -> TaskBuilder[S, Ev] | TaskBuilder[BaseModel, TaggedStruct]:
        """Typed builders for the handlers of `task` (untyped for a name)."""
        self._lookup(task)
        return TaskBuilder()

    @overload
    def handler(
        self,
        task: Task[S, Ev],
        *,
        on_event: EventFn[S, Ev, R1] | Handler[EventFn[S, Ev, object], R1],
        on_alarm: AlarmFn[S, Ev, R2] | Handler[AlarmFn[S, Ev, object], R2] | None = None,
    ) -> TaskHandlers[S, Ev, R1 | R2]: ...
    @overload
    def handler(
        self,
        task: str,
        *,
        on_event: Channel | Handler[Channel],
        on_alarm: Channel | Handler[Channel] | None = None,
    ) -> TaskHandlers[BaseModel, TaggedStruct, object]: ...
    def handler(
        self,
        task: Task[S, Ev] | str,
        *,
        on_event: Channel | Handler[Channel],
        on_alarm: Channel | Handler[Channel] | None = None,
    ) -> TaskHandlers[Any, Any, object]:
        """Bundle a task's handlers. Each channel takes a function or a `Handler`
        (a function with its own `on_error`)."""
        found = self._lookup(task)
        event = _channel(on_event)
        if event is None:
            raise ValueError(f"task {found.name!r} needs an on_event handler")
        return TaskHandlers(found, on_event=event, on_alarm=_channel(on_alarm))

    def build(self, handlers: Mapping[str, TaskHandlers[Any, Any, object]]) -> TaskConfig:
        """The config a runtime is made from. Every task needs its handlers."""
        missing = sorted(set(self.tasks) - set(handlers))
        if missing:
            raise ValueError(f"no handlers given for task(s): {', '.join(missing)}")
        unknown = sorted(set(handlers) - set(self.tasks))
        if unknown:
            raise ValueError(f"handlers given for unknown task(s): {', '.join(unknown)}")
        for name, bundle in handlers.items():
            if bundle.task.name != name:
                raise ValueError(f"handlers for {bundle.task.name!r} were given under the name {name!r}")
        return TaskConfig(self.tasks, dict(handlers))  # schemas erased to their bounds


def with_services(handlers: TaskHandlers[S, Ev, object], layer: Layer[object, object, R]) -> TaskHandlers[S, Ev, R]:
    """Provide `layer` to every handler of the bundle (layers stack: the last one given is outermost).

    As for rooms without the mypy plugin: the result needs what the layer
    needs, and the layer is taken to provide everything the handlers need."""
    combined = layer if handlers.services is None else Layer.merge(handlers.services, layer)
    return cast("TaskHandlers[S, Ev, R]", replace(handlers, services=combined))
