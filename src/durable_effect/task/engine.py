"""The task engine: the instance core (`durable_effect.platform.instance`)
with a task's channels, `on_event` and `on_alarm`, for every host.

A `TaskInstance` is one (task, id). Its entry points run one at a time;
each run is one storage transaction; an event is validated against the
task's schema before any handler runs.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from durable_effect.effect import Failure, Layer, Success, TaggedError
from durable_effect.platform.instance import (
    HandlerResult,
    InstanceCore,
    RuntimeServices,
    StoreHost,
    SystemFailure,
    Tx,
)
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.ctx import TaskCtx
from durable_effect.task.errors import TaskError, TaskExecutionError, TaskValidationError
from durable_effect.task.registry import AnyTask, TaskConfig, TaskHandlers

if TYPE_CHECKING:
    from durable_effect.task.client import TaskClientService

__all__ = ["TASK_NAMESPACE", "TaskEngine", "TaskInstance", "TaskInstanceBackend"]

TASK_NAMESPACE = "task:"
"""Where a host that stores rooms and tasks side by side keeps a task's
instances: under `task:<name>` (a room name never has a `:`)."""


class TaskEngine:
    """The tasks of one config, with the services handlers run with."""

    def __init__(
        self,
        config: TaskConfig,
        *,
        client: Callable[[], TaskClientService],
        services: Mapping[type, object] | None = None,
        layer: Layer[object, object, object] | None = None,
        shared: Callable[[], Awaitable[Success[Mapping[type, object]] | Failure[object]]] | None = None,
    ) -> None:
        """`shared` gives the services of a room engine in the same process
        (its runtime layer built once for both); otherwise `services` and
        `layer` make the tasks' own."""
        self.config = config
        self._services = RuntimeServices(services, layer)
        self._shared = shared
        self._client = client

    async def handler_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        if self._shared is not None:
            return await self._shared()
        return await self._services.get()

    async def aclose(self) -> None:
        """Release the scoped resources of the tasks' own runtime layer (a shared
        one is closed by its room engine)."""
        await self._services.aclose()

    def client(self) -> TaskClientService:
        return self._client()

    def instance(self, name: str, id: str, host: StoreHost) -> TaskInstance:
        task = self.config.task(name)
        return TaskInstance(self, task, self.config.handlers[name], id, host)


class TaskInstance(InstanceCore[TaskError, Tx]):
    """One (task, id): its serialized, transactional handler runs."""

    kind = "task"
    log = logging.getLogger("durable_effect.task")

    def __init__(
        self,
        engine: TaskEngine,
        task: AnyTask,
        handlers: TaskHandlers[BaseModel, TaggedStruct],
        id: str,
        host: StoreHost,
    ) -> None:
        super().__init__(task.name, id, task.state, host)
        self.engine = engine
        self.task = task
        self.handlers = handlers
        self.injected_failure: SystemFailure | None = None
        """Given to the next run's `ctx.system_failure` (a host's report, or a test's)."""

    # -- entry points (called by hosts) --------------------------------------------------

    async def send_event(self, value: object) -> None:
        """Validate the event, then run on_event; raise its failure."""
        try:
            event = self.task.event.validate(value)
        except ValidationError as exc:
            raise TaskValidationError(
                f"not a valid event for task {self.task.name!r}: {exc}", repr(value)[:200]
            ) from None
        async with self._direct():
            await self._prepare()
            outcome = await self._execute(self.handlers.on_event, (self._ctx(None), event))
            self._raise_outcome(outcome)

    async def fire_alarm(self, retry_count: int = 0, *, direct: bool = False, consume: bool = False) -> bool:
        """Run on_alarm (see `InstanceCore._fire_alarm`); True on success."""
        return await self._fire_alarm(self.handlers.on_alarm, self._ctx, retry_count, direct=direct, consume=consume)

    def _ctx(self, failure: SystemFailure | None) -> TaskCtx[BaseModel, TaggedStruct]:
        if failure is None:
            failure, self.injected_failure = self.injected_failure, None
        return TaskCtx(self, failure)

    # -- the core's hooks ------------------------------------------------------------------

    def _new_run(self, consumes_alarm: bool) -> Tx:
        return Tx(consumes_alarm)

    def _error(self, message: str) -> TaskError:
        return TaskError(message)

    def _execution_error(self, message: str, cause: BaseException | None) -> TaggedError:
        return TaskExecutionError(message, cause)

    def _passes_through(self, err: object) -> bool:
        return isinstance(err, TaskError | TaskValidationError | TaskExecutionError)

    def _wrap(self, eff: HandlerResult) -> HandlerResult:
        return self.handlers.wrap(eff)

    async def _base_services(self) -> Success[Mapping[type, object]] | Failure[object]:
        return await self.engine.handler_services()


class TaskInstanceBackend(ABC):
    """The direct API (a `TaskBackend`) for a host whose task instances run in this process."""

    @abstractmethod
    def task_instance(self, task: str, id: str) -> TaskInstance: ...

    async def send(self, task: str, id: str, event: object) -> None:
        await self.task_instance(task, id).send_event(event)

    async def get_state(self, task: str, id: str) -> BaseModel | None:
        return await self.task_instance(task, id).get_state()

    async def fire_alarm(self, task: str, id: str) -> None:
        await self.task_instance(task, id).fire_alarm(direct=True, consume=True)
