"""Registry: the declared tasks, their handlers, and the built config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeAlias, TypeVar, overload

from pydantic import BaseModel

from durable_effect.effect import Layer, provide
from durable_effect.platform.instance import HandlerResult
from durable_effect.sockets.registry import Handler
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.ctx import TaskCtx
from durable_effect.task.errors import TaskNotFoundError
from durable_effect.task.task import Task

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)

__all__ = ["TaskBuilder", "TaskConfig", "TaskHandlers", "TaskRegistry", "with_services"]

EventFn: TypeAlias = Callable[[TaskCtx[S, Ev], Ev], HandlerResult]
AlarmFn: TypeAlias = Callable[[TaskCtx[S, Ev]], HandlerResult]
AnyTask = Task[BaseModel, TaggedStruct]


@dataclass(frozen=True, slots=True)
class TaskHandlers(Generic[S, Ev]):
    """The handler implementations of one task."""

    task: Task[S, Ev]
    on_event: Handler[EventFn[S, Ev]]
    on_alarm: Handler[AlarmFn[S, Ev]] | None = None
    services: Layer[object, object, object] | None = None

    def wrap(self, eff: HandlerResult) -> HandlerResult:
        """Apply `with_services` layers to a handler's effect."""
        return eff if self.services is None else eff.pipe(provide(self.services))


def _channel(fn: Callable[..., HandlerResult] | Handler[Callable[..., HandlerResult]] | None) -> Any:
    """A channel as given (a function or a `Handler`), as a `Handler`."""
    if fn is None or isinstance(fn, Handler):
        return fn
    return Handler(fn)


class TaskBuilder(Generic[S, Ev]):
    """Typed identity builders for one task's handlers (`registry.for_(Reminders)`)."""

    def on_event(self, f: EventFn[S, Ev]) -> EventFn[S, Ev]:
        return f

    def on_alarm(self, f: AlarmFn[S, Ev]) -> AlarmFn[S, Ev]:
        return f


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """A registry with every task's handlers: what a task runtime is made from."""

    tasks: Mapping[str, AnyTask]
    handlers: Mapping[str, TaskHandlers[BaseModel, TaggedStruct]]

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
        on_event: EventFn[S, Ev] | Handler[EventFn[S, Ev]],
        on_alarm: AlarmFn[S, Ev] | Handler[AlarmFn[S, Ev]] | None = None,
    ) -> TaskHandlers[S, Ev]: ...
    @overload
    def handler(
        self,
        task: str,
        *,
        on_event: EventFn[BaseModel, TaggedStruct] | Handler[EventFn[BaseModel, TaggedStruct]],
        on_alarm: AlarmFn[BaseModel, TaggedStruct] | Handler[AlarmFn[BaseModel, TaggedStruct]] | None = None,
    ) -> TaskHandlers[BaseModel, TaggedStruct]: ...
    def handler(
        self,
        task: Task[S, Ev] | str,
        *,
        on_event: Any,
        on_alarm: Any = None,
    ) -> TaskHandlers[Any, Any]:
        """Bundle a task's handlers. Each channel takes a function or a `Handler`
        (a function with its own `on_error`)."""
        found = self._lookup(task)
        event = _channel(on_event)
        if event is None:
            raise ValueError(f"task {found.name!r} needs an on_event handler")
        return TaskHandlers(found, on_event=event, on_alarm=_channel(on_alarm))

    def build(self, handlers: Mapping[str, TaskHandlers[Any, Any]]) -> TaskConfig:
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


def with_services(handlers: TaskHandlers[S, Ev], layer: Layer[object, object, object]) -> TaskHandlers[S, Ev]:
    """Provide `layer` to every handler of the bundle (layers stack: the last one given is outermost)."""
    combined = layer if handlers.services is None else Layer.merge(handlers.services, layer)
    return replace(handlers, services=combined)
