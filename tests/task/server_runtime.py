"""The task contract suite on the self-hosted server: a `SocketServer` that
serves the tasks, with SQLite storage in a temporary file and its alarm
scheduler's own `fire_stored_alarm`, driven like the in-memory runtime."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Never, cast

from durable_effect.effect import Duration, DurationInput, Effect, Layer, TestClock
from durable_effect.platform.instance import SystemFailure
from durable_effect.platform.memory import START_MS
from durable_effect.sockets import SocketRegistry
from durable_effect.sockets.server import SocketServer
from durable_effect.sockets.server.storage import SQLiteStorage
from durable_effect.task import Task, TaskClientService, TaskConfig, TaskHandle
from durable_effect.task.client import _call
from durable_effect.task.server import ServerTasks

NO_ROOMS = SocketRegistry.make().build({})


class ServerTaskTestRuntime:
    """Tasks on a `SocketServer` (no rooms) over SQLite, on a test clock."""

    def __init__(self, config: TaskConfig, *, services: Layer[Any, Any, Any] | None = None) -> None:
        self.clock = TestClock(START_MS)
        self._dir = tempfile.TemporaryDirectory()
        self.path = Path(self._dir.name) / "server.db"
        self.storage = SQLiteStorage(self.path)
        self.server = SocketServer(NO_ROOMS, storage=self.storage, services=services, clock=self.clock, tasks=config)
        assert self.server.tasks is not None
        self.tasks: ServerTasks = self.server.tasks

    def task(self, task: Task[Any, Any] | str) -> TaskHandle[Any, Any]:
        return self.tasks.client.task(task)

    def layer(self) -> Layer[TaskClientService, Never, Never]:
        return Layer.succeed(TaskClientService, self.tasks.client)

    def advance(self, duration: DurationInput) -> Effect[int]:
        """Move the test clock, firing stored alarms as they come due (as the scheduler does)."""
        millis = Duration.decode(duration).millis

        async def run() -> int:
            target = self.clock.now_ms() + millis
            fired = 0
            while (due := self.storage.next_alarm()) is not None and due.at_ms <= target:
                self.clock.set_time(max(due.at_ms, self.clock.now_ms()))
                await self.server.fire_stored_alarm(due)
                fired += 1
            self.clock.set_time(target)
            return fired

        return cast(Effect[int], _call(run))

    def tick(self) -> Effect[int]:
        return self.advance(0)

    def inject_system_failure(self, task: Task[Any, Any] | str, id: str, failure: SystemFailure) -> None:
        name = task if isinstance(task, str) else task.name
        self.tasks.task_instance(name, id).injected_failure = failure

    def hibernate(self, task: Task[Any, Any] | str, id: str) -> Effect[None]:
        name = task if isinstance(task, str) else task.name

        async def run() -> None:
            assert self.tasks.hibernate(name, id)

        return cast(Effect[None], _call(run))

    async def aclose(self) -> None:
        self.storage.close()
        self._dir.cleanup()
