"""The client side of tasks: `tasks.task(Reminders).send(id, event)` and friends.

`TaskClientService` is host-agnostic: every host provides one (`rt.layer()`
in memory, the server's layer self-hosted, `.layer(namespace)` on
Cloudflare), so code that dispatches to tasks, a room handler's included, is
the same everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from pydantic import BaseModel

from durable_effect.effect import Effect, Service
from durable_effect.platform.instance import direct_call
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.errors import TaskError, TaskExecutionError, TaskNotFoundError, TaskValidationError
from durable_effect.task.task import Task

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)
T = TypeVar("T")

__all__ = ["TaskBackend", "TaskClient", "TaskClientService", "TaskFailure", "TaskHandle"]

TaskFailure = TaskError | TaskValidationError | TaskExecutionError | TaskNotFoundError
"""What a `send` or `fire_alarm` can fail with."""


class TaskBackend(Protocol):
    """What a host implements so a `TaskClientService` can reach its task instances."""

    async def send(self, task: str, id: str, event: object) -> None: ...
    async def get_state(self, task: str, id: str) -> BaseModel | None: ...
    async def fire_alarm(self, task: str, id: str) -> None: ...


def _call(run: Callable[[], Awaitable[T]]) -> Effect[T, Any]:
    return direct_call(run, TaskError)


class TaskHandle(Generic[S, Ev]):
    """The direct API of one task type; every call names the instance id."""

    __slots__ = ("_backend", "_known", "_name")

    def __init__(self, backend: TaskBackend, name: str, known: bool) -> None:
        self._backend = backend
        self._name = name
        self._known = known

    def _go(self, run: Callable[[], Awaitable[T]]) -> Effect[T, Any]:
        return direct_call(run, TaskError, None if self._known else TaskNotFoundError(self._name))

    def send(self, id: str, event: Ev) -> Effect[None, TaskFailure]:
        """Validate `event`, then run `on_event` of instance `id`; its failure is the caller's."""
        return self._go(lambda: self._backend.send(self._name, id, event))

    def get_state(self, id: str) -> Effect[S | None, TaskError | TaskNotFoundError]:
        """The stored state of instance `id`, or None."""
        # The backend validated the state against this task's schema S.
        return self._go(lambda: cast(Awaitable[S | None], self._backend.get_state(self._name, id)))

    def fire_alarm(self, id: str) -> Effect[None, TaskFailure]:
        """Run `on_alarm` of instance `id` now (whether or not one is scheduled)."""
        return self._go(lambda: self._backend.fire_alarm(self._name, id))


AnyTaskHandle = TaskHandle[BaseModel, TaggedStruct]


class TaskClientService(Service):
    """The tasks client, as a service: `tasks = yield from TaskClientService`."""

    __slots__ = ("_backend", "_names")

    def __init__(self, names: frozenset[str], backend: TaskBackend) -> None:
        self._names = names
        self._backend = backend

    @overload
    def task(self, task: Task[S, Ev]) -> TaskHandle[S, Ev]: ...
    @overload
    def task(self, task: str) -> AnyTaskHandle: ...
    def task(self, task: Task[S, Ev] | str) -> TaskHandle[S, Ev] | AnyTaskHandle:
        """The direct API of a registered task; an unknown name fails each call
        with `TaskNotFoundError`."""
        name = task if isinstance(task, str) else task.name
        return TaskHandle(self._backend, name, name in self._names)


TaskClient = TaskClientService
