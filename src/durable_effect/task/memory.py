"""The in-memory task host: deterministic tasks for tests.

Storage is a dict per instance, time is a `TestClock` moved by
`rt.advance(...)` (or fired as it stands by `rt.tick()`), and failed alarms
are retried with backoff, as on every host. `rt.hibernate(task, id)` drops
an instance's in-memory object while its storage and alarm stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Never, TypeVar, cast, overload

from pydantic import BaseModel

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.effect.clock import Clock
from durable_effect.platform.instance import SystemFailure
from durable_effect.platform.memory import START_MS, MemoryStore, fire_due_alarms
from durable_effect.sockets.schema import TaggedStruct
from durable_effect.task.client import TaskClientService, TaskHandle, _call
from durable_effect.task.engine import TaskEngine, TaskInstance, TaskInstanceBackend
from durable_effect.task.registry import TaskConfig
from durable_effect.task.task import Task

S = TypeVar("S", bound=BaseModel)
Ev = TypeVar("Ev", bound=TaggedStruct)

__all__ = ["InMemoryTaskRuntime", "make_in_memory_task_runtime"]


def _name(task: Task[Any, Any] | str) -> str:
    return task if isinstance(task, str) else task.name


class InMemoryTaskRuntime(TaskInstanceBackend):
    """Tasks in memory: the same engine as every host, with a test clock."""

    def __init__(
        self,
        config: TaskConfig,
        services: Layer[object, object, object] | None = None,
        clock: TestClock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock if clock is not None else TestClock(START_MS)
        self.client = TaskClientService(frozenset(config.tasks), self)
        base: dict[type, object] = {Clock: self.clock, TaskClientService: self.client}
        self.engine = TaskEngine(config, client=lambda: self.client, services=base, layer=services)
        self._stores: dict[tuple[str, str], MemoryStore] = {}
        self._instances: dict[tuple[str, str], TaskInstance] = {}

    # -- instances -----------------------------------------------------------------

    def store(self, task: Task[Any, Any] | str, id: str) -> MemoryStore:
        """The storage and alarm of instance `id` (to inspect in tests)."""
        key = (_name(task), id)
        store = self._stores.get(key)
        if store is None:
            self.config.task(key[0])
            store = self._stores[key] = MemoryStore(self.clock)
        return store

    def task_instance(self, task: str, id: str) -> TaskInstance:
        key = (task, id)
        inst = self._instances.get(key)
        if inst is None:
            inst = self._instances[key] = self.engine.instance(task, id, self.store(task, id))
        return inst

    # -- the client API ---------------------------------------------------------------

    @overload
    def task(self, task: Task[S, Ev]) -> TaskHandle[S, Ev]: ...
    @overload
    def task(self, task: str) -> TaskHandle[BaseModel, TaggedStruct]: ...
    def task(self, task: Task[S, Ev] | str) -> TaskHandle[S, Ev] | TaskHandle[BaseModel, TaggedStruct]:
        """The direct API of a task: `send`, `get_state`, `fire_alarm`."""
        return self.client.task(task)

    def layer(self) -> Layer[TaskClientService, Never, Never]:
        """Provides `TaskClientService` backed by this runtime (to rooms, say)."""
        return Layer.succeed(TaskClientService, self.client)

    # -- time ------------------------------------------------------------------------

    def advance(self, duration: DurationInput) -> Effect[int]:
        """Move the test clock; fire every alarm that comes due (retrying failed
        ones with backoff). Gives the number of alarm runs."""
        millis = Duration.decode(duration).millis

        async def run() -> int:
            return await fire_due_alarms(self.clock, self.clock.now_ms() + millis, self._stores, self._fire)

        return cast(Effect[int], _call(run))

    def tick(self) -> Effect[int]:
        """Fire the alarms that are due now (the clock stays where it is)."""
        return self.advance(0)

    async def _fire(self, key: tuple[str, str], retries: int) -> bool:
        return await self.task_instance(*key).fire_alarm(retries, consume=True)

    def scheduled(self) -> Mapping[tuple[str, str], float]:
        """Every scheduled alarm: (task, id) -> epoch ms."""
        return {key: store.alarm for key, store in self._stores.items() if store.alarm is not None}

    def close(self) -> Effect[None]:
        """Stop the runtime: release the resources of the `services` layer's
        `Layer.scoped` services, last acquired first."""
        return cast(Effect[None], _call(self.engine.aclose))

    # -- faults ------------------------------------------------------------------------

    def inject_system_failure(self, task: Task[Any, Any] | str, id: str, failure: SystemFailure) -> None:
        """Give the next run of instance `id` this `ctx.system_failure`, as a host
        does when it restarts an instance after an infrastructure failure."""
        self.task_instance(_name(task), id).injected_failure = failure

    def fail_commits(self, task: Task[Any, Any] | str, id: str, on: bool = True) -> None:
        """Make every commit of the instance fail (as when its storage is unavailable)."""
        self.store(task, id).fail_commits = on

    def hibernate(self, task: Task[Any, Any] | str, id: str) -> Effect[None]:
        """Drop the instance's in-memory object; storage and alarm stay."""
        key = (_name(task), id)

        async def run() -> None:
            self._instances.pop(key, None)

        return cast(Effect[None], _call(run))


def make_in_memory_task_runtime(
    config: TaskConfig,
    services: Layer[object, object, object] | None = None,
    clock: TestClock | None = None,
) -> InMemoryTaskRuntime:
    """An in-memory runtime for `config`: the same handlers as every host.

    `services` is a layer provided to every handler run; `clock` shares a
    test clock with another runtime (a rooms runtime, say).
    """
    return InMemoryTaskRuntime(config, services, clock)
